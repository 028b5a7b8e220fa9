package telemetry_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// A path with bytes that are not UTF-8 (a scanner's raw request line, as
// the router logs it) grouped by all_routes into a route whose error
// share is anomalous: its name is a label of the signal gauges, which
// client_golang refuses with a panic for a value that is not UTF-8. The
// worker's tick must not die of what a client put in a path.
func TestARouteFromOddBytesIsALabel(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	agg := routerlog.New(routerlog.Options{Templates: 50, Retain: time.Hour})
	agg.Listening(t0.Add(-time.Second))
	for i := range 100 {
		line := fmt.Sprintf("%s heroku[router]: at=info method=GET path=\"/caf\xe9\xff/menu\" host=a.herokuapp.com fwd=\"10.0.0.%d\" dyno=web.1 connect=1ms service=5ms status=500 bytes=10",
			t0.Add(time.Duration(i)*time.Second/10).UTC().Format(time.RFC3339), i)
		if _, err := agg.AddLine([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	routes := agg.Routes(t0, t0.Add(time.Minute), 0)
	if len(routes) != 1 {
		t.Fatalf("routes %q, want the one template", routes)
	}
	route := routes[0]
	if !utf8.ValidString(route) || strings.ContainsFunc(route, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("the route is named %q: not text a label, a chat or a terminal takes", route)
	}
	tel := telemetry.New(telemetry.Options{})
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("AfterTick panicked on route %q: %v", route, p)
		}
	}()
	tel.AfterTick(t0.Add(time.Minute), []watcher.Watch{watchOf("crates-io", 42,
		analysis.Finding{Signal: analysis.ErrorShare, Route: route, Mode: analysis.Relative, Status: analysis.Anomalous, Trigger: true, Baseline: 0.001, Current: 1})})
	if got := counter(t, tel, "relwatch_signal_current", map[string]string{"app": "crates-io", "route": route, "signal": "error_share"}); got != 1 {
		t.Errorf("relwatch_signal_current of %q = %v, want 1", route, got)
	}
}
