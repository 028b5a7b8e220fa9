package main

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/config"
)

// The router log's retain is config's when it says one; else main passes
// the app's baseline and watch_for and the source makes its default
// (routerlog.DefaultRetain). The lines are held against the wall clock.
func TestRouterOptionsPassWhatConfigSays(t *testing.T) {
	a := config.ResolvedApp{Name: "crates-io", Route: "GET /api/v1/crates/{name}/{version}/download"}
	a.Baseline, a.WatchFor = 30*time.Minute, 20*time.Minute
	o, err := routerOptions(a)
	if err != nil {
		t.Fatal(err)
	}
	if o.Retain != 0 || o.Baseline != a.Baseline || o.WatchFor != a.WatchFor {
		t.Fatalf("retain unset: Retain %s, Baseline %s, WatchFor %s", o.Retain, o.Baseline, o.WatchFor)
	}
	if o.Now == nil {
		t.Fatal("no clock: a line stamped far ahead would be counted (routerlog.MaxAhead)")
	}
	a.Metrics.Retain = &config.Duration{Duration: 3 * time.Hour}
	if o, err = routerOptions(a); err != nil || o.Retain != 3*time.Hour {
		t.Fatalf("retain 3h: Retain %s, %v", o.Retain, err)
	}
}
