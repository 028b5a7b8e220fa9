package watcher_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// Several workers on one token (issue 19): each a real watcher with its
// own heroku-go client, all on one simulated Heroku with its rate limit
// and one state store (a SQLite file each opens), sharing the apps by
// leases and, when shared is set, the token's budget; on a virtual clock.

// crew is n apps watched by several workers.
type crew struct {
	mu        sync.Mutex
	now       time.Time
	fake      *herokusim.Server
	apps      []string
	workers   []*crewWorker
	push      bool
	healthy   atomic.Bool
	scheduled []scheduled
	pushes    int
}

type crewWorker struct {
	w      *watcher.Watcher
	rec    *notify.Recorder
	client *heroku.Client
	leases *heldLeases
	dead   bool
}

// heldLeases are a worker's leases, with the apps the last Hold gave it.
type heldLeases struct {
	watcher.Leases
	mu   sync.Mutex
	last map[string]bool
}

func (h *heldLeases) Hold(ctx context.Context, apps []string) (map[string]bool, error) {
	held, err := h.Leases.Hold(ctx, apps)
	if err == nil {
		h.mu.Lock()
		h.last = held
		h.mu.Unlock()
	}
	return held, err
}

func (h *heldLeases) held() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for app, ok := range h.last {
		if ok {
			out = append(out, app)
		}
	}
	sort.Strings(out)
	return out
}

const (
	crewReserve  = watcher.DefaultReserve
	crewLeaseTTL = 30 * time.Second
)

func (c *crew) clock() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// newCrew starts workers watchers over n apps; broken apps' traffic breaks
// at brokenFrom (their release then is bad).
func newCrew(t *testing.T, n, workers int, push, shared bool, broken map[string]bool) *crew {
	t.Helper()
	c := &crew{now: t0, push: push}
	c.fake = herokusim.New("tok", herokusim.WithClock(c.clock), herokusim.WithHerokuRateLimit())
	t.Cleanup(c.fake.Close)
	var apps []watcher.App
	c.apps, apps = fleetApps(c.fake, "app-%04d", n, push, broken, c.healthy.Load, c.clock)
	path := filepath.Join(t.TempDir(), "state.db")
	for i := range workers {
		db, err := store.Open(context.Background(), path, store.WithClock(c.clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		cw := &crewWorker{rec: &notify.Recorder{}, client: heroku.New(c.fake.URL(), "tok"),
			leases: &heldLeases{Leases: store.NewLeases(db, fmt.Sprintf("worker-%d", i), crewLeaseTTL, nil)}}
		cfg := watcher.Config{
			Apps: apps, Heroku: cw.client, Notifier: cw.rec,
			Roller:       &rollback.Roller{Heroku: cw.client, Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) }},
			PollInterval: 5 * time.Second, IdleInterval: time.Minute, Tick: 5 * time.Second, Seed: uint64(i + 1),
			Leases: cw.leases, Handoff: db,
		}
		if shared {
			cfg.Budget, cfg.TokenDigest = db, "sha256:0123456789abcdef"
		}
		cw.w = watcher.New(cfg)
		c.workers = append(c.workers, cw)
	}
	return c
}

func (c *crew) release(app string, v int, at time.Time) {
	c.fake.AddRelease(app, herokusim.ReleaseSpec{Version: v, Description: fmt.Sprintf("Deploy v%d", v), CreatedAt: at})
	c.scheduled = append(c.scheduled, scheduled{app, at, v})
}

// run ticks every live worker every 5 s of virtual time from from to to
// (after t0), the workers at once as separate dynos would; a release's
// push reaches one live worker, in turn, whichever holds the app.
func (c *crew) run(t *testing.T, from, to time.Duration) {
	t.Helper()
	for at := from; at <= to; at += 5 * time.Second {
		now := t0.Add(at)
		c.mu.Lock()
		c.now = now
		c.mu.Unlock()
		if c.push {
			// Heroku delivers a push to one web dyno, any of them.
			for _, s := range c.scheduled {
				if !s.at.After(now) && s.at.After(now.Add(-5*time.Second)) {
					c.pushes++
					for k := range len(c.workers) {
						if cw := c.workers[(c.pushes+k)%len(c.workers)]; !cw.dead {
							cw.w.Nudge(s.app)
							break
						}
					}
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(c.workers))
		for i, cw := range c.workers {
			if cw.dead {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = cw.w.Tick(context.Background(), now)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("worker %d, tick at %s: %v", i, at, err)
			}
		}
	}
}

// opened is when each scheduled release's watch first opened, on any
// worker, as the delay after the release was made (missing: never).
func (c *crew) opened() map[scheduled]time.Duration {
	out := map[scheduled]time.Duration{}
	for _, cw := range c.workers {
		for _, e := range cw.rec.Events() {
			if e.Kind != notify.WatchStarted {
				continue
			}
			for _, s := range c.scheduled {
				if d, seen := out[s]; s.app == e.App && s.v == e.Release && (!seen || e.At.Sub(s.at) < d) {
					out[s] = e.At.Sub(s.at)
				}
			}
		}
	}
	return out
}

// crewRun is one measured run: n apps, 2 hours, releases on 60 apps at
// random times in the second half hour to the end, one of them bad (its
// traffic breaks at brokenFrom); kill stops the last worker at 1 h.
type crewRun struct {
	requests, status429 int
	idlePerAppHour      float64 // the second hour, per app without a release
	lowest              int
	delays              []time.Duration
	rolledBack          time.Duration
	// orphans: when the killed worker's apps' releases were watched.
	orphans []time.Duration
}

func runCrew(t *testing.T, n, workers int, push, shared, kill bool) crewRun {
	t.Helper()
	bad := fmt.Sprintf("app-%04d", n-1)
	c := newCrew(t, n, workers, push, shared, map[string]bool{bad: true})
	c.healthy.Store(push)
	rnd := rand.New(rand.NewPCG(uint64(n), 19))
	for i := range 60 {
		c.release(c.apps[i*n/61], 2, t0.Add(30*time.Minute+time.Duration(rnd.Int64N(int64(85*time.Minute)))))
	}
	c.release(bad, 2, t0.Add(brokenFrom))
	c.run(t, 0, time.Hour-time.Second)
	var orphans []scheduled
	if kill {
		// The worker dies; releases of its apps come 10 s later (while
		// its leases still hold) and 5 min later.
		victim := c.workers[len(c.workers)-1]
		victim.dead = true
		// Of its apps, ones with no release scheduled: a v2 made after
		// these v3s would be older than the app's newest, never watched.
		scheduled := map[string]bool{}
		for _, s := range c.scheduled {
			scheduled[s.app] = true
		}
		var held []string
		for _, app := range victim.leases.held() {
			if !scheduled[app] {
				held = append(held, app)
			}
		}
		if len(held) < 2 {
			t.Fatalf("the worker killed held %d apps without a release", len(held))
		}
		for i, after := range []time.Duration{10 * time.Second, 5 * time.Minute} {
			c.release(held[i], 2, t0.Add(time.Hour+after))
			orphans = append(orphans, c.scheduled[len(c.scheduled)-1])
		}
	}
	before := c.fake.Counts()
	c.run(t, time.Hour, 2*time.Hour)
	out := crewRun{}
	counts := c.fake.Counts()
	out.requests, out.status429 = counts.Total, counts.ByStatus[429]
	released := map[string]bool{}
	for _, s := range c.scheduled {
		released[s.app] = true
	}
	idle := 0
	for _, app := range c.apps {
		if !released[app] {
			out.idlePerAppHour += float64(counts.ByApp[app] - before.ByApp[app])
			idle++
		}
	}
	out.idlePerAppHour /= float64(idle)
	out.lowest, _ = c.fake.LowestBudget()
	opened := c.opened()
	for _, s := range c.scheduled {
		d, ok := opened[s]
		if !ok {
			t.Errorf("%s v%d, made at %s, was never watched", s.app, s.v, s.at.Sub(t0))
			continue
		}
		out.delays = append(out.delays, d)
	}
	for _, r := range c.fake.Releases(bad) {
		if strings.HasPrefix(r.Description, "Rollback") {
			out.rolledBack = r.CreatedAt.Sub(t0.Add(brokenFrom + 30*time.Second))
		}
	}
	for _, s := range orphans {
		d, ok := opened[s]
		if !ok {
			d = -1 // never
		}
		out.orphans = append(out.orphans, d)
	}
	sort.Slice(out.delays, func(i, j int) bool { return out.delays[i] < out.delays[j] })
	return out
}

func (r crewRun) p95() time.Duration { return r.delays[len(r.delays)*95/100] }

// 1,000 apps on one token, three workers, push healthy, two hours, the
// third worker killed at one hour (its apps' releases, 10 s and 5 min
// after, watched once its leases ran out): no 429, the pool never under
// the rollback reserve, every release watched (p95 within 5 s of being made),
// the bad one rolled back; the idle apps cost under 5 requests an
// app-hour; and the three spend no more than 1.1 times what one worker
// alone spends on the same apps.
func TestCrewThousandAppsOneToken(t *testing.T) {
	if testing.Short() {
		t.Skip("two virtual hours of 1,000 apps, three workers")
	}
	if testenv.Race {
		// Ten times slower under the race detector: past go test's 10
		// min. The race detector sees the same code in
		// TestCrewSharesTheBudget; go test ./... (no -race) measures this.
		t.Skip("a measurement: run without -race")
	}
	one := runCrew(t, 1000, 1, true, true, false)
	three := runCrew(t, 1000, 3, true, true, true)
	for _, r := range []struct {
		name string
		crewRun
	}{{"one worker", one}, {"three workers, one killed at 1 h", three}} {
		t.Logf("1,000 apps, push, 2 h, %s: %d requests (%d 429), the second hour %.2f an idle app; pool low %d; release -> watch %s, p95 %s; bad traffic -> rollback %s",
			r.name, r.requests, r.status429, r.idlePerAppHour, r.lowest, durStats(r.delays), r.p95(), r.rolledBack)
		if r.status429 != 0 {
			t.Errorf("%s: %d answers 429", r.name, r.status429)
		}
		if r.lowest < crewReserve {
			t.Errorf("%s: the pool fell to %d, under the reserve of %d", r.name, r.lowest, crewReserve)
		}
		if r.p95() > 5*time.Second {
			t.Errorf("%s: releases watched %s (p95) after they were made, want within 5 s", r.name, r.p95())
		}
		if r.idlePerAppHour > 5 {
			t.Errorf("%s: %.2f requests an idle app-hour, want at most 5", r.name, r.idlePerAppHour)
		}
		if r.rolledBack <= 0 || r.rolledBack > 2*time.Minute {
			t.Errorf("%s: the bad release rolled back %s after its traffic broke", r.name, r.rolledBack)
		}
	}
	// The killed worker's apps: its leases run out (30 s), and the
	// others take them and find the release made meanwhile.
	t.Logf("releases of the killed worker's apps, 10 s and 5 min after it died, watched %s after they were made", three.orphans)
	if len(three.orphans) != 2 || three.orphans[0] < 0 || three.orphans[0] > crewLeaseTTL+10*time.Second || three.orphans[1] < 0 || three.orphans[1] > 5*time.Second {
		t.Errorf("the killed worker's apps' releases watched %s after they were made, want within the lease (30 s) and 10 s, then 5 s", three.orphans)
	}
	if ratio := float64(three.requests) / float64(one.requests); ratio > 1.1 {
		t.Errorf("three workers made %d requests, one %d: x%.2f, want at most x1.1", three.requests, one.requests, ratio)
	}
}

// 150 apps without push, three workers, the third killed at one hour:
// idle polls alone would spend twice Heroku's refill, so the budget runs
// low; shared through the store,
// the three together never poll it under the rollback reserve, no answer
// is a 429, and releases are noticed (p95) within the idle interval the
// budget allows (what check tells such a configuration), as one worker
// notices them: the workers' idle polls are granted the longest waiting
// first, whichever worker holds them.
func TestCrewSharesTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("two virtual hours of 150 apps, three workers")
	}
	r := runCrew(t, 150, 3, false, true, true)
	t.Logf("150 apps, no push, 2 h, three workers sharing the budget: %d requests (%d 429), the second hour %.1f an idle app; pool low %d; release -> watch %s, p95 %s; bad traffic -> rollback %s",
		r.requests, r.status429, r.idlePerAppHour, r.lowest, durStats(r.delays), r.p95(), r.rolledBack)
	if r.status429 != 0 {
		t.Errorf("%d answers 429", r.status429)
	}
	if r.lowest < crewReserve {
		t.Errorf("the pool fell to %d, under the reserve of %d", r.lowest, crewReserve)
	}
	if r.rolledBack <= 0 || r.rolledBack > 2*time.Minute {
		t.Errorf("the bad release rolled back %s after its traffic broke", r.rolledBack)
	}
	// Polls fall on the 5 s tick: the interval the budget allows, on it.
	const tick = 5 * time.Second
	every := (watcher.IdleEvery(time.Minute, 150*60, crewReserve) + tick - 1) / tick * tick
	if r.p95() > every {
		t.Errorf("releases noticed %s (p95) after they were made, want within the idle interval the budget allows, %s on the 5 s tick", r.p95(), every)
	}
	// The killed worker's apps: the others take them when its leases run
	// out (30 s) and find the releases made meanwhile by their idle polls.
	// One release is bounded as the slowest of all are, not as the p95:
	// within two idle intervals.
	t.Logf("releases of the killed worker's apps, 10 s and 5 min after it died, watched %s after they were made", r.orphans)
	if len(r.orphans) != 2 || r.orphans[0] < 0 || r.orphans[0] > crewLeaseTTL+2*every || r.orphans[1] < 0 || r.orphans[1] > 2*every {
		t.Errorf("the killed worker's apps' releases watched %s after they were made, want within the lease (30 s) and %s, then %s", r.orphans, 2*every, 2*every)
	}
}
