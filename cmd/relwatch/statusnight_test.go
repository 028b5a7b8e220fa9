package main

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// The night a deploy goes wrong, the table's STATE said "watching, 9m55s
// left" for docs-rs v7 while relwatch's rollback of it to v6 was under way
// (Heroku's rollback release v8 in its release phase, the journal saying
// "pending" further down), and "watching" for crates-io v42, which
// relwatch judged bad and holds back only for a pause. The state says what
// the chats' opening messages say: rolling back to v6, looks bad.
func TestStatusSaysARollbackUnderWay(t *testing.T) {
	path := freshState(t)
	end := time.Now().Truncate(time.Second)
	virtual := end.Add(-11 * time.Minute)
	clock := func() time.Time { return virtual }
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Heroku's rollback release stays in its release phase past the end.
	fake := herokusim.New("tok", herokusim.WithClock(clock), herokusim.WithRollbackReleasePhase(time.Hour))
	defer fake.Close()
	start := end.Add(-time.Hour)
	badFrom := end.Add(-10*time.Minute + 30*time.Second)
	traffic := func() *series.Source {
		pts := make([]metrics.Point, 3600)
		for i := range pts {
			pts[i] = metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
			if !start.Add(time.Duration(i) * time.Second).Before(badFrom) {
				pts[i].Errors = 40
			}
		}
		return series.New(series.Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, clock)
	}
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 6, Description: "Deploy good", CreatedAt: start})
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 7, Description: "Deploy 3f1c2aa", CreatedAt: end.Add(-10 * time.Minute)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: start})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy 4e47375", CreatedAt: end.Add(-10 * time.Minute)})
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", Until: end.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	policy := watcher.DefaultPolicy()
	policy.Baseline = 20 * time.Minute
	client := heroku.New(fake.URL(), "tok")
	w := watcher.New(watcher.Config{
		Apps: []watcher.App{
			{Name: "docs-rs", Route: "download", Policy: policy, Source: traffic()},
			{Name: "crates-io", Route: "download", Policy: policy, Source: traffic()},
		},
		Heroku: client, Roller: &rollback.Roller{Heroku: client},
		History: db, Journal: db, Overrides: db, Quarantine: db,
	})
	for ; !virtual.After(end); virtual = virtual.Add(5 * time.Second) {
		if err := w.Tick(ctx, virtual); err != nil {
			t.Fatal(err)
		}
	}
	j, err := db.Journal(ctx, "docs-rs", false, 5)
	if err != nil || len(j) != 1 || j[0].Outcome != store.JournalPending {
		t.Fatalf("docs-rs's journal %+v (%v): want its rollback pending", j, err)
	}

	code, out, errOut := runMain(t, ctx, "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	t.Logf("relwatch status:\n%s", out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^docs-rs +v7 +rolling back to v6 \(v8 pending\) +\d\d:\d\d:\d\d UTC \(10m ago\) +on$`),
		regexp.MustCompile(`(?m)^crates-io +v42 +looks bad, 9m\d+s left +\d\d:\d\d:\d\d UTC \(10m ago\) +paused by ana until \d\d:\d\d UTC$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks %s", want)
		}
	}

	// Its answer lost (or the worker stopped before it): open, how it
	// ended unknown until the next read of Heroku's releases says.
	if err := db.FinishRollback(ctx, j[0].ID, store.JournalInterrupted, 6, 0, "read tcp: connection reset by peer"); err != nil {
		t.Fatal(err)
	}
	if _, out, _ = runMain(t, ctx, "status"); !regexp.MustCompile(`(?m)^docs-rs +v7 +rolling back to v6 \(unconfirmed\) `).MatchString(out) {
		t.Errorf("a rollback whose end is not known yet:\n%s", out)
	}
}
