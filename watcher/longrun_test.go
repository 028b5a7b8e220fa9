package watcher

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
)

// steadySource is a healthy route at 200 req/s, whatever is asked of it.
type steadySource struct{}

func (steadySource) Counts(_ context.Context, _ string, from, to time.Time) (metrics.Series, error) {
	pts := make([]metrics.Point, max(0, int(to.Sub(from)/time.Second)))
	for i := range pts {
		pts[i] = metrics.Point{OK: true, Requests: 200, Repeats: 20}
	}
	return metrics.Series{Start: from, Points: pts, HasRepeats: true}, nil
}

// countingNotifier keeps nothing: a worker's chat, counted.
type countingNotifier struct{ n atomic.Int64 }

func (c *countingNotifier) Notify(_ context.Context, e notify.Event) error {
	c.n.Add(1)
	return e.Check()
}

// TestHistoryKeepsOnlyReachableVerdicts runs a worker through 600
// releases made one after another (each replacing the one under watch, as
// a busy app's deploys do over weeks) on a virtual clock: what the watcher
// keeps of past verdicts must not grow with them. A verdict is read only
// for a release among the newest rollback.ListDepth (a rollback's deepest
// read; the polls and the baseline's exclusions read fewer).
func TestHistoryKeepsOnlyReachableVerdicts(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	fake := herokusim.New("tok", herokusim.WithClock(clock))
	t.Cleanup(fake.Close)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 1, Description: "Deploy first", CreatedAt: t0.Add(-time.Hour)})
	client := heroku.New(fake.URL(), "tok")
	th := analysis.DefaultThresholds()
	th.QuickWindow = 0
	w := New(Config{
		Apps: []App{{Name: "crates-io", Route: "download", Policy: Policy{
			WatchFor: 10 * time.Minute, Baseline: 5 * time.Minute,
			RestartGrace: 30 * time.Second, SettleGrace: 30 * time.Second, AutoRollback: true,
			Thresholds: th,
		}, Source: steadySource{}}},
		Heroku: client, Roller: &rollback.Roller{Heroku: client}, Notifier: &countingNotifier{}, PollInterval: time.Minute,
	})
	ctx := context.Background()
	const every = 2 * time.Minute
	run := func(from, to int) {
		for v := from; v <= to; v++ {
			at := t0.Add(time.Duration(v) * every)
			fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: v, Description: "Deploy", CreatedAt: at})
			for s := time.Duration(0); s < every; s += time.Minute {
				now = at.Add(s)
				if err := w.Tick(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	a := w.apps[0]
	run(2, 100)
	at100 := len(a.history)
	run(101, 600)
	at600 := len(a.history)
	t.Logf("verdicts kept: %d after 100 releases, %d after 600", at100, at600)
	if at600 > rollback.ListDepth+1 {
		t.Errorf("after 600 releases the watcher keeps %d verdicts (%d after 100): more than the newest %d a rollback can reach", at600, at100, rollback.ListDepth)
	}
	if a.watch == nil || a.watch.Release.Version != 600 {
		t.Fatalf("watch %+v, want v600's", a.watch)
	}
	// The verdicts a target search still reads are all there.
	for v := 600 - rollback.ListDepth + 1; v < 600; v++ {
		if _, ok := a.history[v]; !ok {
			t.Errorf("v%d's verdict is gone, within the newest %d releases", v, rollback.ListDepth)
		}
	}
}

// hangingChat answers no call: each waits until its time is up.
type hangingChat struct{}

func (hangingChat) Name() string { return "test" }
func (hangingChat) Open(ctx context.Context, _ notify.Message) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}
func (hangingChat) Reply(ctx context.Context, _ string, _ notify.Message) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hangingChat) Edit(ctx context.Context, _ string, _ notify.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestTicksWithAChatThatTimesOutLeaveNoGoroutines runs a worker through
// 300 releases (a tick every 30 s of virtual time) announcing to a chat
// that answers no call, each call timed out: no goroutine is left behind
// per tick, per release or per timed-out call.
func TestTicksWithAChatThatTimesOutLeaveNoGoroutines(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	fake := herokusim.New("tok", herokusim.WithClock(clock))
	t.Cleanup(fake.Close)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 1, Description: "Deploy first", CreatedAt: t0.Add(-time.Hour)})
	client := heroku.New(fake.URL(), "tok")
	th := analysis.DefaultThresholds()
	th.QuickWindow = 0
	chat := notify.NewThreads(context.Background(), hangingChat{}, notify.ThreadOptions{CallTimeout: time.Millisecond, GiveUp: 2 * time.Millisecond, Queue: 100000})
	w := New(Config{
		Apps: []App{{Name: "crates-io", Route: "download", Policy: Policy{
			WatchFor: 10 * time.Minute, Baseline: 5 * time.Minute,
			RestartGrace: 30 * time.Second, SettleGrace: 30 * time.Second, AutoRollback: true,
			Thresholds: th,
		}, Source: steadySource{}}},
		Heroku: client, Roller: &rollback.Roller{Heroku: client}, Notifier: chat, PollInterval: 30 * time.Second,
	})
	ctx := context.Background()
	const every = 2 * time.Minute
	run := func(from, to int) {
		for v := from; v <= to; v++ {
			at := t0.Add(time.Duration(v) * every)
			fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: v, Description: "Deploy", CreatedAt: at})
			for s := time.Duration(0); s < every; s += 30 * time.Second {
				now = at.Add(s)
				if err := w.Tick(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	run(2, 30)
	before := testenv.SettledGoroutines()
	run(31, 300)
	after := testenv.SettledGoroutines()
	t.Logf("goroutines: %d after 30 releases, %d after 300", before, after)
	if after > before+10 {
		t.Errorf("%d goroutines after 300 releases announced to a chat that times out, %d after 30", after, before)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chat.Close(cctx) // what the chat never took is dropped: nothing to check
}
