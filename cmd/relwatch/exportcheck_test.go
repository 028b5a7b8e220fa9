package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/scenario"
)

// An exported release of an app guarding several routes, given the
// [expect] its source scenario has (moved to the export's clock), passes
// replay --check: the export keeps what the verdict was made on, so the
// round trip judges the same.
func TestExportOfSeveralRoutesPassesReplayCheck(t *testing.T) {
	for _, dir := range []string{"../../scenarios/small-route-broken-seed1", "../../scenarios/routes-12-one-broken-seed1", "../../scenarios/routes-10-healthy-seed1"} {
		t.Run(filepath.Base(dir), func(t *testing.T) { exportPassesReplayCheck(t, dir) })
	}
}

func exportPassesReplayCheck(t *testing.T, dir string) {
	sc, cfg := scenarioWorker(t, dir)

	exported := filepath.Join(t.TempDir(), "exported")
	if code, _, errOut := runMain(t, context.Background(), "export", "--config", cfg, "--app", "crates-io", "--release", "42", "--out", exported); code != 0 {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	back, err := scenario.Load(exported)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s *scenario.Scenario, v int) int {
		for _, r := range s.Releases {
			if r.Version == v {
				return r.AtS
			}
		}
		t.Fatalf("%s: no v%d", s.Name, v)
		return 0
	}
	shift := at(back, 42) - at(sc, 42)
	e := sc.Expect
	raw, _ := os.ReadFile(filepath.Join(exported, "scenario.toml"))
	if e.Verdict == "rollback" {
		raw = append(raw, fmt.Sprintf("\n[expect]\nverdict = %q\nrelease = %d\nbad_from_s = %d\nmax_delay_s = %d\nroute = %q\n",
			e.Verdict, e.Release, e.BadFromS+shift, e.MaxDelayS, e.Route)...)
	} else {
		raw = append(raw, fmt.Sprintf("\n[expect]\nverdict = %q\nrelease = %d\n", e.Verdict, e.Release)...)
	}
	os.WriteFile(filepath.Join(exported, "scenario.toml"), raw, 0o644)

	code, out, errOut := runMain(t, context.Background(), "replay", "--check", exported)
	if code != 0 || !strings.Contains(out, "PASS") {
		t.Errorf("replay --check of the export: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, context.Background(), "replay", "--check", dir)
	if code != 0 {
		t.Errorf("replay --check of the source: exit %d\n%s\n%s", code, out, errOut)
	}
}
