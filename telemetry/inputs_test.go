package telemetry_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/webhook"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/telemetry"
)

// What relwatch reads is counted where a team looks: a drain refusing
// Logplex (wrong credentials), lines lost or unreadable, lines stamped
// ahead. A real aggregator behind a real drain server takes batches; the
// counters in /metrics and in the log metrics are theirs, and a log line
// says what came since the last one.
func TestRouterLinesAndDrainAnswersAreCounted(t *testing.T) {
	now := time.Unix(1_700_000_100, 0)
	route, err := routerlog.ParseRoute("GET /api/v1/crates/{crate}/{version}/download")
	if err != nil {
		t.Fatal(err)
	}
	agg := routerlog.New(routerlog.Options{Routes: []routerlog.Route{route}, Retain: time.Hour, Now: func() time.Time { return now }})
	creds := routerlog.DrainCredentials{User: "logplex", Password: "drain-pw-0123"}
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: agg, DrainCredentials: creds}}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Source: "web.1"})
	tel.RouterLog("crates-io", agg.Stats)
	tel.Drains(srv.Stats)

	stamp := func(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
	router := func(sec int64, path string) string {
		return fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="%s" host=crates.io fwd="1.2.3.4" dyno=web.1 connect=1ms service=2ms status=302 bytes=1 protocol=https`, stamp(sec), path)
	}
	frames := func(msgs ...string) string {
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "%d %s", len(m), m)
		}
		return b.String()
	}
	post := func(body, password string, want int) {
		t.Helper()
		req := httptest.NewRequest("POST", "/drain/crates-io", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/logplex-1")
		req.SetBasicAuth(creds.User, password)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("drain answered %d, want %d", rec.Code, want)
		}
	}
	download := "/api/v1/crates/serde/1.0.0/download"
	t0 := now.Unix() - 10
	untimed := strings.Replace(router(t0+1, download), "service=2ms", "service=2xs", 1)
	post(frames(router(t0, download), router(t0+1, download), router(t0+1, "/api/v1/crates"), untimed,
		"<158>1 Tuesday host heroku router - at=info method=GET", // no timestamp
		router(now.Unix()+3600, download),                        // an hour ahead
		"<172>1 "+stamp(t0+2)+" host heroku logplex - Error L10 (output buffer overflow): 7 messages dropped since "+stamp(t0+1)+"."),
		creds.Password, http.StatusNoContent)
	post(frames(router(t0+3, download)), "a-mistyped-pw", http.StatusUnauthorized)

	lines := func(outcome string) float64 {
		return counter(t, tel, "relwatch_router_lines_total", map[string]string{"app": "crates-io", "outcome": outcome})
	}
	for outcome, want := range map[string]float64{"guarded": 3, "other": 1, "malformed": 1, "ahead": 1, "late": 0, "not_router": 0} {
		if got := lines(outcome); got != want {
			t.Errorf("relwatch_router_lines_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if got := counter(t, tel, "relwatch_router_lines_lost_total", map[string]string{"app": "crates-io"}); got != 7 {
		t.Errorf("relwatch_router_lines_lost_total = %v, want 7 (Logplex's L10)", got)
	}
	if got := counter(t, tel, "relwatch_router_lines_untimed_total", map[string]string{"app": "crates-io"}); got != 1 {
		t.Errorf("relwatch_router_lines_untimed_total = %v, want 1 (service=2xs)", got)
	}
	// Webhooks beside the drain are counted apart: a stranger's requests
	// to /webhooks/ raise no drain alert, and a wrong secret shows.
	if err := srv.ServeWebhooks(routerlog.Webhooks{Secret: "0123456789abcdef-webhook", Apps: map[string]bool{"crates-io": true}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/webhooks/crates-io", "/webhooks/nobody"} {
		req := httptest.NewRequest("POST", path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.SignatureHeader, webhook.Sign("not the secret", []byte("{}")))
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	for answer, want := range map[string]float64{"accepted": 1, "unauthorized": 1, "too_large": 0, "unknown_app": 0} {
		if got := counter(t, tel, "relwatch_drain_requests_total", map[string]string{"answer": answer}); got != want {
			t.Errorf("relwatch_drain_requests_total{answer=%q} = %v, want %v", answer, got, want)
		}
	}
	for answer, want := range map[string]float64{"refused": 1, "unknown_app": 1, "taken": 0} {
		if got := counter(t, tel, "relwatch_webhook_requests_total", map[string]string{"answer": answer}); got != want {
			t.Errorf("relwatch_webhook_requests_total{answer=%q} = %v, want %v", answer, got, want)
		}
	}

	// The log metrics: what came since the last line.
	tel.Flush(now)
	first := parseLogMetrics(t, buf.String())
	buf.Reset()
	post(frames(router(t0+4, download)), creds.Password, http.StatusNoContent)
	post(frames(router(t0+5, download)), "a-mistyped-pw", http.StatusUnauthorized)
	post(frames(router(t0+5, download)), "a-mistyped-pw", http.StatusUnauthorized)
	tel.Flush(now.Add(time.Minute))
	second := parseLogMetrics(t, buf.String())
	for _, c := range []struct {
		ms           []logMetric
		source, name string
		want         string
	}{
		{first, "crates-io", "relwatch.router.lines", "6"}, // the L10 report is not a line read
		{first, "crates-io", "relwatch.router.guarded", "3"},
		{first, "crates-io", "relwatch.router.untimed", "1"},
		{first, "crates-io", "relwatch.router.malformed", "1"},
		{first, "crates-io", "relwatch.router.ahead", "1"},
		{first, "crates-io", "relwatch.router.lost", "7"},
		{first, "web.1", "relwatch.drain.accepted", "1"},
		{first, "web.1", "relwatch.drain.unauthorized", "1"},
		{first, "web.1", "relwatch.webhook.refused", "1"},
		{second, "crates-io", "relwatch.router.lines", "1"},
		{second, "crates-io", "relwatch.router.guarded", "1"},
		{second, "crates-io", "relwatch.router.lost", "0"},
		{second, "crates-io", "relwatch.router.untimed", "0"},
		{second, "web.1", "relwatch.drain.accepted", "1"},
		{second, "web.1", "relwatch.drain.unauthorized", "2"},
	} {
		m, n := find(c.ms, c.source, "count", c.name)
		if n != 1 || m.value != c.want {
			t.Errorf("source=%s count#%s: %d lines, value %q; want one, %s", c.source, c.name, n, m.value, c.want)
		}
	}
}

// A guarded route that matches none of the app's router lines (a typo in
// the route) left only relwatch_router_lines_total{outcome="guarded"} at 0
// to tell: every release was then watched as no data, and the worker's
// log said nothing. Once UnmatchedAfter lines went to other routes and
// none to a guarded one, the worker warns, once for the app.
func TestAGuardedRouteMatchingNothingIsSaidOnce(t *testing.T) {
	var buf bytes.Buffer
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Source: "worker.1"})
	typo := routerlog.Stats{Lines: 10, Other: 10}
	tel.RouterLog("crates-io", func() routerlog.Stats { return typo })
	tel.RouterLog("docs-rs", func() routerlog.Stats {
		return routerlog.Stats{Lines: 2 * telemetry.UnmatchedAfter, Matched: 1, Other: 2*telemetry.UnmatchedAfter - 1}
	})
	now := time.Unix(1_700_000_000, 0)
	tel.Flush(now)
	if strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("warned after 10 lines:\n%s", buf.String())
	}
	typo = routerlog.Stats{Lines: telemetry.UnmatchedAfter, Other: telemetry.UnmatchedAfter}
	tel.Flush(now.Add(time.Minute))
	tel.Flush(now.Add(2 * time.Minute))
	var warns []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `msg="no router line matched a guarded route"`) || !strings.Contains(warns[0], "app=crates-io") ||
		!strings.Contains(warns[0], "other_lines=1000") {
		t.Fatalf("want one warning, for crates-io; got %q", warns)
	}
}
