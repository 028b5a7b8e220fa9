package watcher_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// noTraffic is a source the test never needs: no release of its apps goes
// live while it runs.
type noTraffic struct{}

func (noTraffic) Counts(context.Context, string, time.Time, time.Time) (metrics.Series, error) {
	return metrics.Series{}, nil
}

// An app Heroku does not know (404) is asked about less and less often,
// said once (one log line, one decision in the store, which `status`
// shows), and watched as soon as Heroku knows it; another app's polls go on
// as before.
func TestUnknownAppBacksOff(t *testing.T) {
	ctx := context.Background()
	now := t0
	fake := herokusim.New("tok", herokusim.WithClock(func() time.Time { return now }))
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: t0.Add(-2 * time.Hour)})
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs testenv.Buffer
	app := func(name string) watcher.App {
		return watcher.App{Name: name, Route: "download", Policy: watcher.DefaultPolicy(), Source: noTraffic{}}
	}
	w := watcher.New(watcher.Config{
		Apps:         []watcher.App{app("crates-io"), app("crates-iox")},
		Heroku:       heroku.New(fake.URL(), "tok"),
		Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		PollInterval: 5 * time.Second,
		History:      db,
	})
	polls := func(app string) int {
		n := 0
		for _, r := range fake.Requests() {
			if r.Path == "/apps/"+app+"/releases" {
				n++
			}
		}
		return n
	}
	tick := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); now = now.Add(5 * time.Second) {
			if err := w.Tick(ctx, now); err != nil {
				t.Fatalf("tick at %s: %v", now.Sub(t0), err)
			}
		}
	}

	tick(time.Hour)
	known, unknown := polls("crates-io"), polls("crates-iox")
	// 5 s, then doubling to 10 min: 10 s, 20 s, ..., 5m20s, then 10 min
	// each: 11 polls in the hour, not 720.
	if known != 720 || unknown < 8 || unknown > 14 {
		t.Errorf("in an hour: %d polls of the known app (want 720), %d of the unknown one (want about 11)", known, unknown)
	}
	out := logs.String()
	if n := strings.Count(out, "Heroku does not know the app"); n != 1 || strings.Contains(out, "release poll failed") {
		t.Errorf("said %d times that Heroku does not know the app (want once), log:\n%s", n, out)
	}
	decisions, err := db.Decisions(ctx, "crates-iox", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(decisions) != 1 || decisions[0].Action != "app.unknown" || !strings.Contains(decisions[0].Reason, "404") ||
		!strings.Contains(decisions[0].Reason, "heroku apps:info -a crates-iox") {
		t.Fatalf("decisions of the unknown app: %+v", decisions)
	}

	// The app is created: within the longest wait it is watched, and
	// polled as often as any other.
	fake.AddRelease("crates-iox", herokusim.ReleaseSpec{Version: 1, Description: "Deploy a", CreatedAt: now.Add(-time.Hour)})
	tick(10 * time.Minute)
	before := polls("crates-iox")
	tick(time.Minute)
	if got := polls("crates-iox") - before; got != 12 || strings.Count(logs.String(), "Heroku knows the app now") != 1 {
		t.Fatalf("after the app exists: %d polls in a minute (want 12); log:\n%s", got, logs.String())
	}
}
