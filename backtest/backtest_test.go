package backtest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relwatch/relwatch/backtest"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/scenario"
)

// With all_routes and a control route, a release's scenario holds the
// routes the worker would judge (the named first, then the busiest the
// source lists, up to max_routes) and the control, as the replay's
// "other": a small route broken is a rollback announced for it.
func TestScenarioRecordsAllRoutesAndTheControl(t *testing.T) {
	sc, err := scenario.Load("../scenarios/small-route-broken-seed1")
	if err != nil {
		t.Fatal(err)
	}
	var history []heroku.Release
	for _, r := range sc.Releases {
		at := scenario.Epoch.Add(time.Duration(r.AtS) * time.Second)
		history = append(history, heroku.Release{Version: r.Version, Description: r.Description, Status: r.Status, CreatedAt: at, UpdatedAt: at})
	}
	target := history[len(history)-1]
	src := series.Serve(scenario.Epoch, sc.Series, func() time.Time { return scenario.Epoch.Add(time.Duration(sc.DurationS) * time.Second) })
	st := scenario.DefaultSettings()
	got, epoch, err := backtest.Scenario(context.Background(), history, target, src, sc.App,
		backtest.Guarded{Routes: []string{"download"}, AllRoutes: 4, Control: "other"}, st.Policy)
	if err != nil {
		t.Fatal(err)
	}
	routes := got.Routes()
	if len(routes) != 4 || routes[0] != "download" || !slices.Contains(routes, sc.Expect.Route) || slices.Contains(routes, "other") {
		t.Errorf("routes %q: want download first, then the 3 others, %s among them, never other", routes, sc.Expect.Route)
	}
	if got.ControlRoute() != "other" {
		t.Errorf("control %q, want other recorded", got.ControlRoute())
	}
	out, err := backtest.Run(context.Background(), got, epoch, target, st)
	if err != nil {
		t.Fatal(err)
	}
	if out.Verdict != "rollback" {
		t.Errorf("verdict %s (%s), want a rollback", out.Verdict, out.Reason)
	}
}
