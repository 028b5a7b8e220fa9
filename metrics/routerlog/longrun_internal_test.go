package routerlog

import (
	"fmt"
	"testing"
	"time"
)

// TestAllRoutesMemoryStaysBounded sends 10,000 distinct paths a second
// apart, and 10,000 more of new shapes, through an aggregator grouping
// all_routes: the templates, the route table and the templater's prefixes
// must stay within their bounds whatever paths arrive.
func TestAllRoutesMemoryStaysBounded(t *testing.T) {
	route, _ := ParseRoute("/api/v1/crates/{name}/{version}/download")
	a := New(Options{Routes: []Route{route}, Templates: 50, Retain: 10 * time.Minute})
	t0 := int64(1_700_000_000)
	sizes := func() (int, int, int) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.tmpls), len(a.byName), len(a.templater.nodes)
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			// A new shape every 7 paths: a scanner's or a crawler's.
			p := fmt.Sprintf("/s%d/x%d/y%d/z%d", i/7, i, i%13, i%29)
			a.Add(line(t0+int64(i), fmt.Sprintf("10.0.%d.%d", i/250%250, i%250), p, 200))
		}
	}
	send(0, 10_000)
	t1, b1, n1 := sizes()
	send(10_000, 20_000)
	t2, b2, n2 := sizes()
	t.Logf("templates %d -> %d, route table %d -> %d, templater prefixes %d -> %d", t1, t2, b1, b2, n1, n2)
	if t2 > 50 || b2 > 50+2 || n2 > maxNodes {
		t.Errorf("after 20,000 paths: %d templates, %d routes, %d prefixes; bounds 50, 52, %d", t2, b2, n2, maxNodes)
	}
}
