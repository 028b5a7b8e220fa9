package telemetry_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// The signal gauges follow the open watches: set while a release is
// watched (the baseline only when it is judged against one), gone once
// its watch ends, so a dashboard never shows a stale value.
func TestSignalGaugesFollowTheWatches(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	now := time.Now()
	tel.AfterTick(now, []watcher.Watch{watchOf("crates-io", 42,
		analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Baseline: 0.05, Current: 0.93},
		analysis.Finding{Signal: analysis.ErrorShare, Mode: analysis.Absolute, Baseline: 0.05, Current: 0.01})})
	crates := func(sig analysis.Signal) map[string]string {
		return map[string]string{"app": "crates-io", "signal": string(sig)}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"relwatch_watches_open", nil, 1},
		{"relwatch_signal_current", crates(analysis.RepeatShare), 0.93},
		{"relwatch_signal_baseline", crates(analysis.RepeatShare), 0.05},
		{"relwatch_signal_current", crates(analysis.ErrorShare), 0.01},
	} {
		if got := counter(t, tel, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if series(t, tel, "relwatch_signal_baseline") != 1 {
		t.Error("a guardrail's ceiling is shown as a baseline")
	}
	tel.AfterTick(now.Add(5*time.Second), nil)
	if n := series(t, tel, "relwatch_signal_current") + series(t, tel, "relwatch_signal_baseline"); n != 0 {
		t.Errorf("%d signal series left after the watch ended", n)
	}
	if got := counter(t, tel, "relwatch_watches_open", nil); got != 0 {
		t.Errorf("relwatch_watches_open = %v after the watch ended", got)
	}
}

func series(t *testing.T, tel *telemetry.Telemetry, name string) int {
	t.Helper()
	mfs, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// Rollbacks by outcome and trigger, and verdicts, counted from the
// watcher's announcements; what a restarted worker says again is not
// counted twice.
func TestRollbacksAndVerdictsFromAnnouncements(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	for _, e := range []notify.Event{
		{Header: notify.Header{Kind: notify.WatchStarted, App: "crates-io", Release: 42}},
		{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42}},
		{Header: notify.Header{Kind: notify.RollbackStarted, App: "crates-io", Release: 42}},
		{Header: notify.Header{Kind: notify.RollbackSucceeded, App: "crates-io", Release: 42}},
		{Header: notify.Header{Kind: notify.RollbackSucceeded, App: "crates-io", Release: 42, Restated: true}},
		{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42, Restated: true}},
		{Header: notify.Header{Kind: notify.RollbackFailed, App: "crates-io", Release: 44}, Fact: notify.RollbackStep{By: "relwatch"}},
		{Header: notify.Header{Kind: notify.RollbackSkipped, App: "docs-rs", Release: 9}, Fact: notify.RollbackStep{By: "ana"}},
		{Header: notify.Header{Kind: notify.WatchHealthy, App: "docs-rs", Release: 8}},
		{Header: notify.Header{Kind: notify.WatchInconclusive, App: "play", Release: 3}},
		{Header: notify.Header{Kind: notify.Paused, App: "play"}, Fact: notify.Request{By: "ana"}},
	} {
		if err := tel.Notify(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"relwatch_rollbacks_total", map[string]string{"outcome": "succeeded", "trigger": "automatic"}, 1},
		{"relwatch_rollbacks_total", map[string]string{"outcome": "failed", "trigger": "automatic"}, 1},
		{"relwatch_rollbacks_total", map[string]string{"outcome": "skipped", "trigger": "manual"}, 1},
		{"relwatch_rollbacks_total", map[string]string{"outcome": "succeeded", "trigger": "manual"}, 0},
		{"relwatch_verdicts_total", map[string]string{"status": "anomalous"}, 1},
		{"relwatch_verdicts_total", map[string]string{"status": "healthy"}, 1},
		{"relwatch_verdicts_total", map[string]string{"status": "inconclusive"}, 1},
	} {
		if got := counter(t, tel, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// With a token, /metrics answers a bearer of it only.
func TestHandlerToken(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	srv := httptest.NewServer(tel.Handler("m3trics-t0ken"))
	defer srv.Close()
	get := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic bTN0cmljcy10MGtlbg==", "m3trics-t0ken"} {
		if code, body := get(auth); code != http.StatusUnauthorized || strings.Contains(body, "relwatch_") {
			t.Errorf("Authorization %q: %d", auth, code)
		}
	}
	if code, body := get("Bearer m3trics-t0ken"); code != http.StatusOK || !strings.Contains(body, "relwatch_rollbacks_total") {
		t.Errorf("the bearer: %d\n%s", code, body)
	}
}

// A scrape is a GET (or HEAD); any other method is refused, with or
// without a token, naming the methods served.
func TestHandlerServesGetOnly(t *testing.T) {
	for _, token := range []string{"", "m3trics-t0ken"} {
		srv := httptest.NewServer(telemetry.New(telemetry.Options{}).Handler(token))
		for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "GET", "HEAD"} {
			req, _ := http.NewRequest(m, srv.URL, nil)
			req.Header.Set("Authorization", "Bearer m3trics-t0ken")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusMethodNotAllowed
			if m == "GET" || m == "HEAD" {
				want = http.StatusOK
			}
			if resp.StatusCode != want || (want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD") {
				t.Errorf("token %q, %s /metrics: %d (Allow %q), want %d", token, m, resp.StatusCode, resp.Header.Get("Allow"), want)
			}
		}
		srv.Close()
	}
}

// An app that guards several routes has its signals by route: a gauge a
// route (route=""  for an app that guards one), and a log line a route
// that says which.
func TestSignalsByRoute(t *testing.T) {
	var buf strings.Builder
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Source: "worker.1"})
	tel.AfterTick(time.Now(), []watcher.Watch{watchOf("crates-io", 42,
		analysis.Finding{Signal: analysis.ErrorShare, Route: "GET /download", Mode: analysis.Relative, Baseline: 0.001, Current: 0.002},
		analysis.Finding{Signal: analysis.ErrorShare, Route: "POST /login", Mode: analysis.Relative, Baseline: 0.01, Current: 0.8})})
	for route, want := range map[string]float64{"GET /download": 0.002, "POST /login": 0.8} {
		labels := map[string]string{"app": "crates-io", "route": route, "signal": "error_share"}
		if got := counter(t, tel, "relwatch_signal_current", labels); got != want {
			t.Errorf("relwatch_signal_current%v = %v, want %v", labels, got, want)
		}
	}
	lines := 0
	for _, l := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(l, "sample#relwatch.signal.error_share.current") {
			continue
		}
		lines++
		if strings.Contains(l, `route="POST /login"`) != strings.Contains(l, "current=0.8") {
			t.Errorf("a line's values are not its route's: %s", l)
		}
	}
	if lines != 2 {
		t.Errorf("%d signal lines, want one a route:\n%s", lines, buf.String())
	}
}
