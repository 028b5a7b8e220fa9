package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/scenario"
)

// An app that guards several routes is backtested and exported on every
// one of them, as the worker watches it: a release that broke a small
// route (small-route-broken: the download route is fine) is one the
// worker rolls back, and so must the backtest say, and the exported
// scenario replay.
func TestBacktestAndExportGuardEveryRoute(t *testing.T) {
	const dir = "../../scenarios/small-route-broken-seed1"
	sc, cfg := scenarioWorker(t, dir)

	code, out, errOut := runMain(t, context.Background(), "backtest", "--config", cfg, "--app", "crates-io", "--since", "5000d", "--format", "json")
	if code != 0 {
		t.Fatalf("backtest exit %d: %s", code, errOut)
	}
	var v42 map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if o["version"] == float64(42) {
			v42 = o
		}
	}
	if v42 == nil || v42["verdict"] != "rollback" || !strings.Contains(fmt.Sprint(v42["reason"]), sc.Expect.Route) {
		t.Errorf("v42 backtested as %v; want a rollback on %s, as the worker does\n%s", v42, sc.Expect.Route, out)
	}

	exported := filepath.Join(t.TempDir(), "exported")
	if code, _, errOut := runMain(t, context.Background(), "export", "--config", cfg, "--app", "crates-io", "--release", "42", "--out", exported); code != 0 {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	back, err := scenario.Load(exported)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Routes(); strings.Join(got, "|") != strings.Join(sc.Routes(), "|") {
		t.Errorf("exported routes %q, want %q", got, sc.Routes())
	}
	code, out, errOut = runMain(t, context.Background(), "replay", exported)
	if code != 0 || !strings.Contains(out, "rolled back v42 to v41") {
		t.Errorf("replay of the export: exit %d\n%s\n%s", code, out, errOut)
	}
}

// scenarioWorker makes what a worker would have for the scenario in dir:
// its releases on a fake Heroku (as crates-io) and a configuration
// guarding every route of its series.csv; it returns the scenario and the
// configuration's path.
func scenarioWorker(t *testing.T, dir string) (*scenario.Scenario, string) {
	t.Helper()
	sc, err := scenario.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fake := herokusim.New("tok")
	t.Cleanup(fake.Close)
	for _, r := range sc.Releases {
		fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: r.Version, Description: r.Description, Status: r.Status,
			CreatedAt: scenario.Epoch.Add(time.Duration(r.AtS) * time.Second)})
	}
	abs, _ := filepath.Abs(filepath.Join(dir, "series.csv"))
	var routes []string
	for _, r := range sc.Routes() {
		routes = append(routes, fmt.Sprintf("%q", r))
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
routes = [%s]
metrics = { source = "series", path = %q, start = %q }
`, fake.URL(), strings.Join(routes, ", "), abs, scenario.Epoch.Format(time.RFC3339))), 0o644)
	t.Setenv("HEROKU_API_KEY", "tok")
	return sc, cfg
}
