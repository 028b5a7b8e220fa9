package watcher_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// The release discovery measurements: many apps on one simulated Heroku
// with its request counters (and, where said, Heroku's rate limit), the
// real heroku-go client and the real watcher, on a virtual clock. Each
// test asserts the goals of issue 10 and logs its figures (go test -v -run
// Discovery ./watcher/): the README's "Measured" table quotes them.

// fleet is n apps watched by one watcher.
type fleet struct {
	mu     sync.Mutex
	now    time.Time
	fake   *herokusim.Server
	client *heroku.Client
	rec    *notify.Recorder
	w      *watcher.Watcher
	apps   []string
	// push: a release's API event reaches the watcher (Nudge) before the
	// first tick after it is made, as a log source delivers it.
	push bool
	// healthy is what the apps' push source says of itself
	// (App.PushHealthy); silent drops its pushes all the same (a source
	// broken without knowing it).
	healthy   atomic.Bool
	silent    bool
	scheduled []scheduled
	jitter    func() time.Duration // the tick's lateness (wall clock): zero by default
}

type scheduled struct {
	app string
	at  time.Time
	v   int
}

// healthy and broken are per-second traffic of the guarded route from an
// hour before t0: 200 requests a second, 0.1% errors; broken has 20%
// errors from brokenFrom on.
var (
	healthyPts = traffic(0)
	brokenFrom = 2*time.Hour - 20*time.Minute // after t0
	brokenPts  = traffic(int(time.Hour/time.Second + brokenFrom/time.Second + 30))
)

func traffic(badFromS int) []metrics.Point {
	pts := make([]metrics.Point, 4*3600)
	for i := range pts {
		pts[i] = metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
		if badFromS > 0 && i >= badFromS {
			pts[i].Errors = 40
		}
	}
	return pts
}

func (f *fleet) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func newFleet(t *testing.T, n int, push bool, broken map[string]bool, conf func(*watcher.Config), opts ...herokusim.Option) *fleet {
	t.Helper()
	f := &fleet{now: t0, push: push, rec: &notify.Recorder{}}
	f.fake = herokusim.New("tok", append([]herokusim.Option{herokusim.WithClock(f.clock)}, opts...)...)
	t.Cleanup(f.fake.Close)
	f.client = heroku.New(f.fake.URL(), "tok")
	var apps []watcher.App
	f.apps, apps = fleetApps(f.fake, "app-%03d", n, push, broken, f.healthy.Load, f.clock)
	cfg := watcher.Config{
		Apps: apps, Heroku: f.client, Notifier: f.rec,
		Roller:       &rollback.Roller{Heroku: f.client, Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) }},
		PollInterval: 5 * time.Second, IdleInterval: time.Minute, Tick: 5 * time.Second,
	}
	if conf != nil {
		conf(&cfg)
	}
	f.w = watcher.New(cfg)
	return f
}

// fleetApps makes n apps (named by format) on fake, each with a release
// from two hours before t0 and the download route's traffic (broken
// apps' breaking at brokenFrom); push and healthy are their push source.
func fleetApps(fake *herokusim.Server, format string, n int, push bool, broken map[string]bool, healthy func() bool, clock func() time.Time) ([]string, []watcher.App) {
	policy := watcher.Policy{WatchFor: 10 * time.Minute, Baseline: 20 * time.Minute,
		RestartGrace: 30 * time.Second, SettleGrace: 30 * time.Second, AutoRollback: true, Thresholds: analysis.DefaultThresholds()}
	var names []string
	var apps []watcher.App
	for i := range n {
		name := fmt.Sprintf(format, i)
		names = append(names, name)
		fake.AddRelease(name, herokusim.ReleaseSpec{Version: 1, Description: "Deploy first", CreatedAt: t0.Add(-2 * time.Hour)})
		pts := healthyPts
		if broken[name] {
			pts = brokenPts
		}
		apps = append(apps, watcher.App{Name: name, Route: "download", Policy: policy, Push: push, PushHealthy: healthy,
			Source: series.New(series.Recording{Start: t0.Add(-time.Hour), Routes: map[string][]metrics.Point{"download": pts}}, clock)})
	}
	return names, apps
}

// release makes release v of app at at (a future time: the simulator
// shows it from then on).
func (f *fleet) release(app string, v int, at time.Time) {
	f.fake.AddRelease(app, herokusim.ReleaseSpec{Version: v, Description: fmt.Sprintf("Deploy v%d", v), CreatedAt: at})
	f.scheduled = append(f.scheduled, scheduled{app, at, v})
}

// run ticks every 5 s of virtual time from from to to (after t0).
func (f *fleet) run(t *testing.T, from, to time.Duration) {
	t.Helper()
	for at := from; at <= to; at += 5 * time.Second {
		now := t0.Add(at)
		if f.jitter != nil {
			now = now.Add(f.jitter())
		}
		if f.push && !f.silent {
			for _, s := range f.scheduled {
				if !s.at.After(now) && s.at.After(now.Add(-5*time.Second)) {
					f.w.Nudge(s.app)
				}
			}
		}
		f.mu.Lock()
		f.now = now
		f.mu.Unlock()
		if err := f.w.Tick(context.Background(), now); err != nil {
			t.Fatalf("tick at %s: %v", at, err)
		}
	}
}

// opened is when each scheduled release's watch opened, as the delay after
// the release was made (missing: never).
func (f *fleet) opened() map[scheduled]time.Duration {
	out := map[scheduled]time.Duration{}
	for _, e := range f.rec.Events() {
		if e.Kind != notify.WatchStarted {
			continue
		}
		for _, s := range f.scheduled {
			if s.app == e.App && s.v == e.Release {
				out[s] = e.At.Sub(s.at)
			}
		}
	}
	return out
}

// perApp is the requests per app the simulator answered since before.
func (f *fleet) perApp(before herokusim.Counts) []int {
	now := f.fake.Counts()
	var out []int
	for _, a := range f.apps {
		out = append(out, now.ByApp[a]-before.ByApp[a])
	}
	return out
}

func stats(xs []int) (lo, mean, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	lo, hi = float64(xs[0]), float64(xs[0])
	sum := 0
	for _, x := range xs {
		sum += x
		lo, hi = min(lo, float64(x)), max(hi, float64(x))
	}
	return lo, float64(sum) / float64(len(xs)), hi
}

func durStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return fmt.Sprintf("mean %s, median %s, max %s (n=%d)", (sum / time.Duration(len(ds))).Round(100*time.Millisecond), ds[len(ds)/2], ds[len(ds)-1], len(ds))
}

// A tick a little early or late (the wall clock's ticker, after a slow
// tick) never pushes a poll to the tick after: a 5 s poll interval runs
// at 5 s (it ran at 8.3 s when the due check compared exactly).
func TestDiscoveryPollsKeepTheirIntervalWhenTicksJitter(t *testing.T) {
	f := newFleet(t, 1, false, nil, func(c *watcher.Config) { c.IdleInterval = 5 * time.Second })
	rnd := rand.New(rand.NewPCG(7, 7))
	f.jitter = func() time.Duration { return time.Duration(rnd.IntN(401)-200) * time.Millisecond }
	f.run(t, 0, time.Hour-time.Second)
	n := f.fake.Counts().ByApp["app-000"]
	t.Logf("a 5 s poll interval, ticks ±200 ms off the grid: %d polls in an hour, every %.2f s", n, 3600/float64(n))
	if n < 719 || n > 721 {
		t.Fatalf("%d polls in an hour at a 5 s interval with jittery ticks, want 720", n)
	}
}

// Idle apps cost at most 60 requests an hour, 30 with a push source (the
// polls; a log session adds its own request an hour); an app under watch
// is polled every tick.
func TestDiscoveryRequestsPerAppHour(t *testing.T) {
	for _, push := range []bool{false, true} {
		t.Run(fmt.Sprintf("push=%v", push), func(t *testing.T) {
			f := newFleet(t, 20, push, nil, nil, herokusim.WithHerokuRateLimit())
			f.run(t, 0, time.Hour-time.Second) // the first hour spreads the apps
			before := f.fake.Counts()
			f.run(t, time.Hour, 2*time.Hour-time.Second)
			lo, mean, hi := stats(f.perApp(before))
			t.Logf("idle, push %v: requests per app-hour min %.0f, mean %.1f, max %.0f", push, lo, mean, hi)
			limit := 60.0
			if push {
				limit = 30
			}
			if hi > limit {
				t.Fatalf("idle apps made up to %.0f requests in an hour, want at most %.0f", hi, limit)
			}
			if c := f.fake.Counts(); float64(c.ByStatus[304]) < 0.9*float64(c.Total) {
				t.Fatalf("counts %+v: quiet polls should be 304s", c)
			}
		})
	}
	t.Run("watching", func(t *testing.T) {
		f := newFleet(t, 1, true, nil, nil) // pushed: the watch opens at the next tick
		f.run(t, 0, time.Hour)
		f.release("app-000", 2, t0.Add(time.Hour+2*time.Second))
		before := f.fake.Counts()
		f.run(t, time.Hour+5*time.Second, time.Hour+10*time.Minute) // the watch lasts 10 min from going live
		n := f.perApp(before)[0]
		t.Logf("watching: %d polls in the 10 min of the watch, %d per app-hour", n, n*6)
		if n < 119 || n > 121 {
			t.Fatalf("%d polls in 10 min of watching, want every 5 s tick (120)", n)
		}
	})
}

// A release is noticed within 10 s with a log source (the API event's
// push), within the idle interval without one.
func TestDiscoveryReleaseNoticed(t *testing.T) {
	for _, push := range []bool{false, true} {
		t.Run(fmt.Sprintf("push=%v", push), func(t *testing.T) {
			f := newFleet(t, 30, push, nil, nil)
			rnd := rand.New(rand.NewPCG(10, 20))
			for _, app := range f.apps {
				// Anywhere in the second hour, at any fraction of a second.
				f.release(app, 2, t0.Add(time.Hour+time.Duration(rnd.Int64N(int64(time.Hour)))))
			}
			f.run(t, 0, 2*time.Hour+3*time.Minute)
			var delays []time.Duration
			for _, s := range f.scheduled {
				d, ok := f.opened()[s]
				if !ok {
					t.Fatalf("%s v%d, made at %s, was never watched", s.app, s.v, s.at.Sub(t0))
				}
				delays = append(delays, d)
			}
			t.Logf("release made -> watch opened, push %v: %s", push, durStats(delays))
			limit := time.Minute
			if push {
				limit = 10 * time.Second
			}
			if max := delays[len(delays)-1]; max > limit {
				t.Fatalf("a release noticed %s after it was made, want at most %s", max, limit)
			}
		})
	}
}

// The push is the API event line in the app's log: the log session's
// reader (routerlog.EventTail, over HTTP from the simulator) nudges the
// watcher, whose next tick polls the app. Each release is made at a
// random moment between two ticks.
func TestDiscoveryFromTheLogStream(t *testing.T) {
	f := newFleet(t, 10, true, nil, nil)
	f.run(t, 0, time.Hour)
	var (
		mu      sync.Mutex
		arrived = make(chan string, 100)
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, app := range f.apps {
		tail := &routerlog.EventTail{Starter: f.client, App: app, Now: f.clock, OnEvent: func(ev routerlog.APIEvent) {
			f.w.Nudge(app)
			if ev.Kind == routerlog.APIRelease {
				arrived <- app
			}
		}}
		wg.Go(func() { _ = tail.Run(ctx) })
	}
	waitUntil(t, "the API event streams", func() bool {
		for _, app := range f.apps {
			if f.fake.OpenLogStreams(app) != 1 {
				return false
			}
		}
		return true
	})
	rnd := rand.New(rand.NewPCG(3, 4))
	at := time.Hour
	for _, app := range f.apps {
		at += 5 * time.Minute
		f.run(t, at-5*time.Minute+5*time.Second, at)
		// Made at a random moment before the next tick: the simulator
		// writes "Release v2 created" into the app's log then.
		created := t0.Add(at + time.Duration(rnd.Int64N(int64(5*time.Second))))
		mu.Lock()
		f.now = created
		mu.Unlock()
		f.release(app, 2, created)
		select {
		case got := <-arrived:
			if got != app {
				t.Fatalf("event of %s, want %s", got, app)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the release event of %s never arrived", app)
		}
	}
	f.run(t, at+5*time.Second, at+time.Minute)
	var delays []time.Duration
	for _, s := range f.scheduled {
		d, ok := f.opened()[s]
		if !ok {
			t.Fatalf("%s v%d never watched", s.app, s.v)
		}
		delays = append(delays, d)
	}
	t.Logf("release made -> watch opened, through the log session: %s", durStats(delays))
	if max := delays[len(delays)-1]; max > 10*time.Second {
		t.Fatalf("noticed %s after it was made, want at most 10 s", max)
	}
	if c := f.fake.Counts(); c.ByStatus[201] != len(f.apps) {
		t.Fatalf("log sessions made: %d, want one per app", c.ByStatus[201])
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// 150 apps on one token under Heroku's rate limit, for two hours (the
// first drains the full pool Heroku starts with): no 429; every release
// watched; a bad release rolled back at the low of the budget, its
// rollback never held up by polls.
func TestDiscovery150AppsOneToken(t *testing.T) {
	if testing.Short() {
		t.Skip("two virtual hours of 150 apps")
	}
	for _, push := range []bool{false, true} {
		t.Run(fmt.Sprintf("push=%v", push), func(t *testing.T) {
			f := newFleet(t, 150, push, map[string]bool{"app-149": true}, nil, herokusim.WithHerokuRateLimit())
			rnd := rand.New(rand.NewPCG(150, 1))
			for i := range 20 {
				f.release(f.apps[i*7], 2, t0.Add(30*time.Minute+time.Duration(rnd.Int64N(int64(80*time.Minute)))))
			}
			f.release("app-149", 2, t0.Add(brokenFrom))
			low := herokusim.HerokuRateLimit
			var firstHour herokusim.Counts
			for at := time.Duration(0); at < 2*time.Hour; at += 10 * time.Minute {
				if at == time.Hour {
					firstHour = f.fake.Counts()
				}
				f.run(t, at, at+10*time.Minute-time.Second)
				if r, ok := f.client.RateLimitRemaining(); ok {
					low = min(low, r)
				}
			}
			lo2, mean2, hi2 := stats(f.perApp(firstHour))
			c := f.fake.Counts()
			var delays []time.Duration
			opened := f.opened()
			for _, s := range f.scheduled {
				d, ok := opened[s]
				if !ok {
					t.Fatalf("%s v%d, made at %s, was never watched", s.app, s.v, s.at.Sub(t0))
				}
				delays = append(delays, d)
			}
			var rollbackAt time.Time
			for _, r := range f.fake.Releases("app-149") {
				if strings.HasPrefix(r.Description, "Rollback") {
					rollbackAt = r.CreatedAt
				}
			}
			lo, mean, hi := stats(f.perApp(herokusim.Counts{ByApp: map[string]int{}}))
			t.Logf("150 apps, push %v, 2 h: %d requests (%d 304, %d 429), per app-hour min %.1f mean %.1f max %.1f (the second hour: %.0f / %.1f / %.0f); budget low %d; release -> watch %s; bad traffic -> rollback %s",
				push, c.Total, c.ByStatus[304], c.ByStatus[429], lo/2, mean/2, hi/2, lo2, mean2, hi2, low, durStats(delays), rollbackAt.Sub(t0.Add(brokenFrom+30*time.Second)))
			if c.ByStatus[429] != 0 {
				t.Fatalf("%d answers 429 (of %d)", c.ByStatus[429], c.Total)
			}
			if rollbackAt.IsZero() {
				t.Fatalf("the bad release was not rolled back; events %d", len(f.rec.Events()))
			}
			if d := rollbackAt.Sub(t0.Add(brokenFrom + 30*time.Second)); d > 2*time.Minute {
				t.Fatalf("rolled back %s after the bad traffic began", d)
			}
			if push {
				if max := delays[len(delays)-1]; max > 10*time.Second {
					t.Fatalf("with a push source, a release noticed %s after it was made", max)
				}
			}
		})
	}
}

// `relwatch promote` notes the promotion in the state store; the worker
// polls the target app every tick for 10 min from its next tick, says
// nothing of it, and goes back to idle polls after.
func TestDiscoveryPromotedAppsPollFast(t *testing.T) {
	var f *fleet
	db, err := store.Open(context.Background(), sqliteState(t), store.WithClock(func() time.Time { return f.clock() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f = newFleet(t, 2, false, nil, func(c *watcher.Config) { c.Overrides = db })
	f.run(t, 0, time.Hour)
	if _, err := db.NotePromotion(context.Background(), "app-000", "ana", "crates-io-staging v118"); err != nil {
		t.Fatal(err)
	}
	before := f.fake.Counts()
	f.run(t, time.Hour+5*time.Second, time.Hour+10*time.Minute)
	fast := f.perApp(before)
	before = f.fake.Counts()
	f.run(t, time.Hour+10*time.Minute+5*time.Second, time.Hour+20*time.Minute)
	after := f.perApp(before)
	if fast[0] != 120 || fast[1] > 10 || after[0] > 11 {
		t.Fatalf("polls in the 10 min after the promotion: %d (the other app %d), in the 10 min after that %d; want 120, then idle", fast[0], fast[1], after[0])
	}
	if n := len(f.rec.Events()); n != 0 {
		t.Fatalf("%d announcements: promote announces, the worker does not", n)
	}
	reqs, err := db.PendingRequests(context.Background(), "app-000")
	if err != nil || len(reqs) != 0 {
		t.Fatalf("pending requests %+v, %v: the promotion should be finished", reqs, err)
	}
	// A nudge for an app this worker does not watch is nothing.
	f.w.Nudge("someone-elses-app")
	f.run(t, time.Hour+20*time.Minute+5*time.Second, time.Hour+20*time.Minute+5*time.Second)
}

// Push first (issue 19): while the push source says it works, an idle app
// is polled every 15 min (4 requests an app-hour), and its releases are
// noticed at the next tick all the same. A source that stops is polled
// around at once; one that says it works and misses a release is caught
// by the safety net, and distrusted: every idle interval again.
func TestDiscoveryPushFirst(t *testing.T) {
	f := newFleet(t, 40, true, nil, nil, herokusim.WithHerokuRateLimit())
	f.healthy.Store(true)
	f.run(t, 0, time.Hour-time.Second) // the first hour spreads the apps
	before := f.fake.Counts()
	for i, app := range f.apps[:10] {
		f.release(app, 2, t0.Add(time.Hour+time.Duration(i)*97*time.Second))
	}
	f.run(t, time.Hour, 2*time.Hour-time.Second)
	per := f.perApp(before)
	lo, mean, hi := stats(per[10:])
	t.Logf("idle, push healthy: requests per app-hour min %.0f, mean %.1f, max %.0f", lo, mean, hi)
	if hi > 4 {
		t.Fatalf("idle apps with a healthy push source made up to %.0f requests in an hour, want at most 4 (the 15 min safety net)", hi)
	}
	var slowest time.Duration
	for s, d := range f.opened() {
		slowest = max(slowest, d)
		if d > 5*time.Second {
			t.Errorf("%s v%d: watched %s after it was made, want within 5 s", s.app, s.v, d)
		}
	}
	if len(f.opened()) != 10 {
		t.Fatalf("%d of 10 pushed releases watched", len(f.opened()))
	}
	t.Logf("pushed releases watched at most %s after they were made", slowest)

	// The source stops: every app is polled at the next tick.
	f.healthy.Store(false)
	before = f.fake.Counts()
	f.run(t, 2*time.Hour, 2*time.Hour)
	if polled := f.fake.Counts().Total - before.Total; polled < len(f.apps)-10 {
		t.Errorf("%d polls at the tick after the push source stopped, want every idle app (%d)", polled, len(f.apps)-10)
	}
	f.run(t, 2*time.Hour+5*time.Second, 3*time.Hour-time.Second)

	// It says it works again, and misses a release: found within the
	// safety net, then polled every idle interval (twice it: push).
	f.healthy.Store(true)
	f.run(t, 3*time.Hour, 4*time.Hour-time.Second)
	f.silent = true
	missed := f.apps[20]
	f.release(missed, 3, t0.Add(4*time.Hour+30*time.Second))
	b4 := f.fake.Counts()
	f.run(t, 4*time.Hour, 4*time.Hour+16*time.Minute)
	// The release is found by the safety net's poll (past the fleet's
	// 10 min watch, it opens none: the pushes are what keep a watch whole).
	if n := f.fake.Counts().ByApp[missed] - b4.ByApp[missed]; n < 1 {
		t.Fatalf("no poll of %s in the 16 min after a release the push source missed", missed)
	}
	f.run(t, 4*time.Hour+16*time.Minute+5*time.Second, 4*time.Hour+20*time.Minute-time.Second)
	before = f.fake.Counts()
	f.run(t, 4*time.Hour+20*time.Minute, 4*time.Hour+50*time.Minute-time.Second)
	if n := f.fake.Counts().ByApp[missed] - before.ByApp[missed]; n < 14 || n > 16 {
		t.Errorf("after missing a release: %d polls in 30 min, want every 2 min (15): the push source is not trusted", n)
	}
	if n := f.fake.Counts().ByApp[f.apps[21]] - before.ByApp[f.apps[21]]; n > 2 {
		t.Errorf("%s, whose push missed nothing: %d polls in 30 min, want the safety net's 2", f.apps[21], n)
	}
}
