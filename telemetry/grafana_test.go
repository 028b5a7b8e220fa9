package telemetry_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// dashboardPath is the Grafana dashboard the repository ships for the
// worker's /metrics.
const dashboardPath = "../docs/grafana/relwatch.json"

// promMetricName finds the metric names in a PromQL expression: the worker's
// own and its runtime's.
var promMetricName = regexp.MustCompile(`\b(?:relwatch|go|process)_[a-z0-9_]+\b`)

// Every query of the dashboard names metrics the worker exports, so a
// renamed metric breaks this test, not the dashboard a team looks at in
// an incident.
func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	exported := exportedNames(t)
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			names := promMetricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no relwatch_, go_ or process_ metric", p.Title, q.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("panel %q: query %q reads %s, which the worker does not export", p.Title, q.Expr, n)
				}
			}
		}
	}
	if queries == 0 {
		t.Fatalf("%s has no queries", dashboardPath)
	}
}

// exportedNames gathers the worker's registry after one of everything it
// counts (a vector shows no family until it has a series), with the
// series names a histogram adds.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	tel := telemetry.New(telemetry.Options{})
	tel.Chat("slack")
	tel.RouterLog("crates-io", func() routerlog.Stats { return routerlog.Stats{} })
	tel.Drains(func() routerlog.DrainStats { return routerlog.DrainStats{} })
	tel.HerokuExchange("releases.list", 200, 80*time.Millisecond, 4321)
	tel.Announced("slack", notify.Anomaly)
	tel.CallFailed("slack", "reply", "timeout")
	tel.GaveUp("slack", notify.Anomaly, "rejected")
	for _, k := range []notify.Kind{notify.Anomaly, notify.RollbackSucceeded} {
		if err := tel.Notify(context.Background(), notify.Event{Header: notify.Header{Kind: k, App: "crates-io", Release: 42}}); err != nil {
			t.Fatal(err)
		}
	}
	tel.AfterTick(time.Now(), []watcher.Watch{watchOf("crates-io", 42,
		analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Baseline: 0.05, Current: 0.93})})
	mfs, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		if strings.HasSuffix(mf.GetType().String(), "HISTOGRAM") {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}
