package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// TestWatchRollsBackAnAppWhileAnothersRollbackHangs: two apps on one
// worker. slow-app's release breaks first, and Heroku holds every request
// about slow-app past the client's timeout, so its rollback round takes
// the whole rollback_timeout (60 s); crates-io's release breaks 15 s
// later. crates-io is rolled back within 30 s of the start all the same:
// the tick does not wait for slow-app's round. Before, each tick waited
// for every app, and crates-io's rollback came after slow-app's round.
func TestWatchRollsBackAnAppWhileAnothersRollbackHangs(t *testing.T) {
	freshState(t)
	fake := herokusim.New("live-token")
	defer fake.Close()
	start := time.Now()
	for _, app := range []string{"slow-app", "crates-io"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: start.Add(-2 * time.Hour)})
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: start})
	}
	// The demo series' retry storm starts at t_s 1830: 2 s after the
	// releases for slow-app, 17 s after for crates-io.
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	app := func(name string, storm time.Time) string {
		return fmt.Sprintf("[[apps]]\nname = %q\nroute = \"download\"\n[apps.metrics]\nsource = \"series\"\npath = %q\nstart = %q\n",
			name, abs, storm.Add(-1830*time.Second).UTC().Format(time.RFC3339Nano))
	}
	cfg := fmt.Sprintf(`
tick = "200ms"
rollback_timeout = "60s"
[heroku]
api_url = %q
poll_interval = "200ms"
idle_poll_interval = "200ms"
timeout = "2s"
[watch]
restart_grace = "2s"
settle_grace = "2s"
[thresholds]
sustain = "5s"
[[notifiers]]
type = "console"
%s%s`, fake.URL(), app("slow-app", start.Add(2*time.Second)), app("crates-io", start.Add(17*time.Second)))
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEROKU_API_KEY", "live-token")

	w := startWatch(cfgPath)
	deadline := time.After(45 * time.Second)
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-deadline:
				w.stop()
				t.Fatalf("%s: not within 45 s\nstdout:\n%s\nstderr:\n%s", what, w.out.String(), w.errOut.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Once slow-app's release is read, Heroku stops answering about it.
	wait("slow-app's releases read", func() bool {
		for _, r := range fake.Requests() {
			if r.Path == "/apps/slow-app/releases" && r.Status == 200 {
				return true
			}
		}
		return false
	})
	fake.InjectFault(herokusim.Fault{Path: "/apps/slow-app/", Delay: time.Hour, Times: 1 << 30})
	rolledBack := func(app string) (time.Time, bool) {
		for _, r := range fake.Releases(app) {
			if strings.HasPrefix(r.Description, "Rollback") {
				return r.CreatedAt, true
			}
		}
		return time.Time{}, false
	}
	wait("slow-app's rollback under way", func() bool {
		for _, r := range fake.Requests() {
			// The rollback's look reads afresh (a poll sends its ETag).
			if r.Path == "/apps/slow-app/releases" && r.Status == 0 && r.IfNoneMatch == "" {
				return true
			}
		}
		return false
	})
	var at time.Time
	wait("crates-io's rollback", func() bool {
		var ok bool
		at, ok = rolledBack("crates-io")
		return ok
	})
	w.stop()
	if _, ok := rolledBack("slow-app"); ok {
		t.Fatal("slow-app rolled back through a Heroku that never answered")
	}
	late := at.Sub(start.Add(17 * time.Second))
	t.Logf("crates-io rolled back %s after its errors began", late.Round(100*time.Millisecond))
	if late > 13*time.Second { // 5 s sustain, a few ticks; slow-app's round lasts 60 s
		t.Fatalf("crates-io rolled back %s after its errors began: it waited for slow-app's rollback", late)
	}
}
