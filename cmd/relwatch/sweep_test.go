package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// alertOnlyConfig is a config whose app never rolls back on its own: a
// sweep under it misses every bad release and rolls back no healthy one,
// whatever the judgement says.
func alertOnlyConfig(t *testing.T) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	cfg := fmt.Sprintf(`
[watch]
auto_rollback = false
[[apps]]
name = "crates-io"
route = "download"
[apps.metrics]
source = "series"
path = %q
start = "2023-07-20T12:00:00Z"
`, abs)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSweepUsage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sweep", "--shape", "nope"}, `no shape "nope"`},
		{[]string{"sweep", "--out", t.TempDir()}, "--out needs --seed"},
		{[]string{"sweep", "--format", "yaml"}, "yaml"},
		{[]string{"sweep", "--seeds", "0"}, "--seeds: 0"},
		{[]string{"sweep", "--seed", "1", "--seeds", "3"}, "--seed S replays one seed: it takes no --seeds or --first"},
		{[]string{"sweep", "--first", "7", "--seed", "1"}, "--seed S replays one seed: it takes no --seeds or --first"},
		{[]string{"sweep", "crates-io"}, `takes no arguments, got "crates-io"`},
	} {
		if code, _, errOut := runMain(t, ctx, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	code, out, _ := runMain(t, ctx, "sweep", "--list")
	if code != 0 || !strings.Contains(out, "recovery-after-incident (healthy: no rollback)") || !strings.Contains(out, "crates-io (bad: miss<=30s p50<=15s p95<=20s)") {
		t.Errorf("sweep --list: exit %d\n%s", code, out)
	}
}

func TestSweepWritesScenariosReplayRuns(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "one")
	code, out, errOut := runMain(t, ctx, "sweep", "--shape", "low-traffic-bad", "--seed", "3", "--out", dir)
	if code != 0 || !strings.Contains(out, "wrote "+dir) {
		t.Fatalf("sweep --out: exit %d, %q %q", code, out, errOut)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "scenario.toml"))
	if !strings.HasPrefix(string(raw), "# Synthesized by relwatch: shape low-traffic-bad, seed 3 ") || !strings.Contains(string(raw), `verdict = "rollback"`) {
		t.Errorf("scenario.toml:\n%s", raw)
	}
	code, out, errOut = runMain(t, ctx, "replay", "--format", "json", dir)
	var res struct {
		Scenario string `json:"scenario"`
		App      string `json:"app"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Scenario != "low-traffic-bad-seed3" || res.App != "tiny-registry" {
		t.Fatalf("replay of the written scenario: exit %d, %q %q", code, out, errOut)
	}

	many := t.TempDir()
	if code, _, errOut := runMain(t, ctx, "sweep", "--shape", "healthy-promotion, crates-io", "--seed", "0", "--out", many); code != 0 {
		t.Fatalf("sweep --out with two shapes: exit %d, %s", code, errOut)
	}
	for _, name := range []string{"healthy-promotion-seed0", "crates-io-seed0"} {
		if _, err := os.Stat(filepath.Join(many, name, "series.csv")); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
}

// TestSweepExitCodes runs sweeps whose outcome does not depend on the
// judgement: with automatic rollback off, a healthy shape meets its target
// (exit 0) and a bad one misses every release (exit 1).
func TestSweepExitCodes(t *testing.T) {
	ctx := context.Background()
	cfg := alertOnlyConfig(t)
	code, out, errOut := runMain(t, ctx, "sweep", "--config", cfg, "--shape", "healthy-promotion", "--seeds", "2")
	if code != 0 || !strings.Contains(out, "seeds 1-2") || !strings.Contains(out, "targets met on 1 of 1 shapes") {
		t.Errorf("healthy sweep: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "sweep", "--config", cfg, "--shape", "rate-collapse", "--seed", "5", "--format", "json")
	var rep struct {
		Seeds  []uint64 `json:"seeds"`
		Shapes []struct {
			Shape  string   `json:"shape"`
			Misses int      `json:"misses"`
			Never  int      `json:"never"`
			P50    *float64 `json:"delay_p50_s"`
			Failed []string `json:"failed"`
			Worst  struct {
				Seed uint64 `json:"seed"`
			} `json:"worst"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sweep --format json: %v\n%s", err, out)
	}
	if code != 1 || !strings.Contains(errOut, "1 of 1 shapes missed their targets") || len(rep.Shapes) != 1 ||
		rep.Shapes[0].Misses != 1 || rep.Shapes[0].Never != 1 || rep.Shapes[0].P50 != nil || rep.Shapes[0].Worst.Seed != 5 || len(rep.Seeds) != 1 {
		t.Errorf("bad sweep without rollbacks: exit %d, stderr %q, report %+v", code, errOut, rep)
	}
}
