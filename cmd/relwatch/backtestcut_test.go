package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// backtest reads an app's newest 1000 releases: a --since reaching past
// the oldest of them must say that the window was cut, and where, not
// pass over the older releases in silence ("no release went live in the
// last 400d" while one did).
func TestBacktestSaysWhereALongSinceIsCut(t *testing.T) {
	fake := herokusim.New("tok")
	t.Cleanup(fake.Close)
	now := time.Now().UTC()
	// v1 went live 390 days ago; 1100 failed deploys since, one every 8 h:
	// the newest 1000 reach back about 333 days, to v102.
	fake.AddRelease("big-app", herokusim.ReleaseSpec{Version: 1, Description: "Deploy 0000001", CreatedAt: now.Add(-390 * 24 * time.Hour)})
	for v := 2; v <= 1101; v++ {
		fake.AddRelease("big-app", herokusim.ReleaseSpec{Version: v, Description: fmt.Sprintf("Deploy %07d", v), Status: "failed",
			CreatedAt: now.Add(-time.Duration(1101-v+1) * 8 * time.Hour)})
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	series := filepath.Join(t.TempDir(), "series.csv")
	os.WriteFile(series, []byte("t_s,route,requests,errors,repeats\n0,download,1,0,0\n"), 0o644)
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "big-app"
route = "download"
metrics = { source = "series", path = %q, start = %q }
`, fake.URL(), series, now.Format(time.RFC3339))), 0o644)
	t.Setenv("HEROKU_API_KEY", "tok")

	for _, format := range []string{"text", "json"} {
		code, out, errOut := runMain(t, context.Background(), "backtest", "big-app", "--config", cfg, "--since", "400d", "--format", format)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		t.Logf("%s: stdout %q, stderr %q", format, out, errOut)
		said := out + errOut
		if !strings.Contains(said, "1000") || !strings.Contains(said, "v102") {
			t.Errorf("%s: stdout %q, stderr %q: want the cut said, with the oldest release read (v102) and when", format, out, errOut)
		}
		if format == "json" && strings.TrimSpace(out) != "" {
			t.Errorf("json: stdout %q: want no lines (no release judged), the note on stderr", out)
		}
		if format == "text" && strings.Contains(out, "no release went live in the last 400d") {
			t.Errorf("text: %q: the history read does not reach back 400d", out)
		}
	}
	// A window within the history read is not cut.
	if code, out, errOut := runMain(t, context.Background(), "backtest", "big-app", "--config", cfg, "--since", "300d"); code != 0 || strings.Contains(out+errOut, "cut") {
		t.Errorf("--since 300d: exit %d, stdout %q, stderr %q: want no cut said", code, out, errOut)
	}
}
