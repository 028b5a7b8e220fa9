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
)

// recentFake is a Heroku whose v41 went live ago before now, with the
// crates.io recording as the app's metrics up to now (v41 in its healthy
// stretch, 600 s into the recording), and its config.
func recentFake(t *testing.T, ago time.Duration) (*herokusim.Server, string) {
	t.Helper()
	start := time.Now().Add(-ago - 600*time.Second).Truncate(time.Second)
	fake := herokusim.New("tok")
	t.Cleanup(fake.Close)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 40, Description: "Deploy a", CreatedAt: start.Add(-90000 * time.Second)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy b", CreatedAt: start.Add(600 * time.Second)})
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	cfg := fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q, start = %q }\n",
		fake.URL(), abs, start.Format(time.RFC3339))
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEROKU_API_KEY", "tok")
	return fake, p
}

// A release whose watch (20 min) is still under way the morning after is
// not judged: the minutes still to come are not "no data". Judged, it
// read "looks healthy after 20m" 15 minutes after it went live, and "the
// watch ended without enough data" 5 minutes after.
func TestBacktestDoesNotJudgeAReleaseStillUnderWatch(t *testing.T) {
	for _, ago := range []time.Duration{5 * time.Minute, 15 * time.Minute} {
		_, cfg := recentFake(t, ago)
		code, out, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--since", "1d", "--format", "json")
		if code != 0 {
			t.Fatalf("live %s ago: backtest exit %d: %s", ago, code, errOut)
		}
		var o struct {
			Version         int
			Verdict, Reason string
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &o); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if o.Version != 41 || o.Verdict != "inconclusive" || !strings.Contains(o.Reason, "its watch runs until") {
			t.Errorf("live %s ago: %+v; want v41 not judged, its watch under way", ago, o)
		}
	}
	// Once its watch has ended, it is judged.
	_, cfg := recentFake(t, 30*time.Minute)
	code, out, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--since", "1d")
	if code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("live 30m ago: exit %d\n%s%s", code, out, errOut)
	}
}

// export writes a release's whole watch or nothing: a release still in its
// release phase was written as a scenario without it (its series without a
// row, refused by replay), and one under watch as a scenario whose last
// minutes have no data.
func TestExportRefusesAReleaseWhosePastIsNotWhole(t *testing.T) {
	// v42's release phase has run for two hours (a stuck migration).
	pending, pendingCfg := recentFake(t, 3*time.Hour)
	pending.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy c", CreatedAt: time.Now().Add(-2 * time.Hour), PendingFor: 10 * time.Hour})
	_, watchedCfg := recentFake(t, 5*time.Minute)
	for _, c := range []struct{ cfg, v, want string }{
		{pendingCfg, "42", "release phase (pending)"},
		{watchedCfg, "41", "still under watch"},
	} {
		dir := filepath.Join(t.TempDir(), "v"+c.v)
		code, out, errOut := runMain(t, context.Background(), "export", "crates-io", "--config", c.cfg, "--release", c.v, "--out", dir)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("export v%s: exit %d %q %q; want refused: %s", c.v, code, out, errOut, c.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("export v%s wrote %s", c.v, dir)
		}
	}
	// v41 of three hours ago is whole.
	dir := filepath.Join(t.TempDir(), "v41")
	if code, _, errOut := runMain(t, context.Background(), "export", "crates-io", "--config", pendingCfg, "--release", "41", "--out", dir); code != 0 {
		t.Fatalf("export of a release whose watch ended: exit %d %s", code, errOut)
	}
}
