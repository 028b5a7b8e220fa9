package watcher_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// holScale is how much faster than the wall the head-of-line rig runs
// the I/O: every wall-clock bound in the path (Heroku's answers and
// timeout, Prometheus', the rollback's deadline and backoff) is divided
// by it, and the virtual clock runs holScale times the wall while a tick
// is under way.
const holScale = 50

func holWall(d time.Duration) time.Duration { return d / holScale }

// holRig runs a worker as `relwatch watch` does (runLoop): a tick every
// tick of the wall, the next one at once when a tick took longer. The
// clock runs holScale times the wall from fromS on (run), and Heroku dates
// a rollback by it.
type holRig struct {
	fake *herokusim.Server
	rec  *notify.Recorder
	w    *watcher.Watcher
	cfg  watcher.Config

	mu     sync.Mutex
	base   time.Time // the virtual time at wallAt
	wallAt time.Time
}

func (h *holRig) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.wallAt.IsZero() {
		return h.base
	}
	return h.base.Add(time.Since(h.wallAt) * holScale)
}

// holApp is one app of the rig: its traffic (200 req/s, 0.5% errors,
// 20% from badFromS on when it is > 0), and how the rig reaches it.
type holApp struct {
	name     string
	badFromS int
	source   func(h *holRig, pts []metrics.Point) metrics.Source // nil: the series
}

// newHolRig makes the rig: every app has v41 from an hour before t0 and
// v42 made at releaseS, on one token.
func newHolRig(t *testing.T, apps []holApp, releaseS int, opts ...func(*watcher.Config)) *holRig {
	t.Helper()
	h := &holRig{base: t0}
	h.fake = herokusim.New("tok", herokusim.WithClock(h.now))
	t.Cleanup(h.fake.Close)
	h.rec = &notify.Recorder{}
	client := heroku.New(h.fake.URL(), "tok", heroku.WithTimeout(holWall(15*time.Second)))
	cfg := watcher.Config{
		Heroku: client,
		Roller: &rollback.Roller{Heroku: client, Timeout: holWall(2 * time.Minute), Backoff: func() retry.Backoff {
			return retry.WithCappedDuration(holWall(10*time.Second), retry.NewExponential(holWall(500*time.Millisecond)))
		}},
		Notifier: h.rec,
		Tick:     5 * time.Second,
		TickWait: holWall(5 * time.Second), // as `relwatch watch` sets it: its tick
	}
	for _, a := range apps {
		pts := make([]metrics.Point, 6000)
		for i := range pts {
			p := metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
			if a.badFromS > 0 && i >= a.badFromS {
				p.Errors = 40
			}
			pts[i] = p
		}
		var src metrics.Source = series.New(series.Recording{Start: t0, Routes: map[string][]metrics.Point{"download": pts}}, h.now)
		if a.source != nil {
			src = a.source(h, pts)
		}
		h.fake.AddRelease(a.name, herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: t0.Add(-time.Hour)})
		h.fake.AddRelease(a.name, herokusim.ReleaseSpec{Version: 42, Description: "Deploy " + a.name, CreatedAt: t0.Add(time.Duration(releaseS) * time.Second)})
		cfg.Apps = append(cfg.Apps, watcher.App{Name: a.name, Route: "download", Policy: watcher.DefaultPolicy(), Source: src})
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.cfg = cfg
	h.w = watcher.New(cfg)
	return h
}

// rebuildHol makes h's watcher again with notifier n.
func rebuildHol(h *holRig, n notify.Notifier) *watcher.Watcher {
	cfg := h.cfg
	cfg.Notifier = n
	return watcher.New(cfg)
}

// run starts the clock at fromS and ticks every 5 s of it, as the default
// tick, until untilS, calling before(now) ahead of each tick; then it
// waits for the app ticks left under way.
func (h *holRig) run(t *testing.T, fromS, untilS int, before func(time.Time)) {
	t.Helper()
	h.mu.Lock()
	h.base, h.wallAt = t0.Add(time.Duration(fromS)*time.Second), time.Now()
	h.mu.Unlock()
	end := t0.Add(time.Duration(untilS) * time.Second)
	ticker := time.NewTicker(holWall(5 * time.Second))
	defer ticker.Stop()
	for {
		now := h.now()
		if !now.Before(end) {
			break
		}
		if before != nil {
			before(now)
		}
		if err := h.w.Tick(context.Background(), now); err != nil {
			t.Logf("tick at %s: %v", now.Sub(t0), err)
		}
		h.w.Watches() // as the worker's telemetry reads them after each tick
		<-ticker.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.w.Settle(ctx); err != nil {
		t.Fatalf("the app ticks under way did not end: %v", err)
	}
}

// rolledBackAt is when Heroku made app's first rollback release.
func (h *holRig) rolledBackAt(app string) (time.Time, bool) {
	for _, rel := range h.fake.Releases(app) {
		if strings.HasPrefix(rel.Description, "Rollback") {
			return rel.CreatedAt, true
		}
	}
	return time.Time{}, false
}

// slowPrometheus is a Prometheus on loopback that answers every query
// after delay (wall), with no series.
func slowPrometheus(t *testing.T, delay time.Duration) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// slowChat is a chat that takes delay (wall) to answer every call about
// app.
type slowChat struct {
	app   string
	delay time.Duration
}

func (c *slowChat) Name() string { return "slow" }

func (c *slowChat) call(ctx context.Context, m notify.Message) error {
	if m.Event.App == c.app {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *slowChat) Open(ctx context.Context, m notify.Message) (string, error) {
	return m.Event.App, c.call(ctx, m)
}
func (c *slowChat) Reply(ctx context.Context, _ string, m notify.Message) error {
	return c.call(ctx, m)
}
func (c *slowChat) Edit(ctx context.Context, _ string, m notify.Message) error { return c.call(ctx, m) }

// TestAnotherAppsTroubleDoesNotHoldUpARollback: app B's release breaks
// while app A has trouble (Heroku answers A after 25 s, A's token gets
// 429s, A's Prometheus answers after 20 s or 9 s, A's own rollback against
// a Heroku that answers A after 25 s). B is rolled back within a minute
// of its traffic breaking, as with no trouble at all. Before, a Tick
// waited for every app: A's two-minute rollback round held B's judgement
// back, and B was rolled back 1 min 50 s after its traffic broke.
func TestAnotherAppsTroubleDoesNotHoldUpARollback(t *testing.T) {
	const releaseS, badS = 2000, 2100
	var many []holApp
	for i := range 19 {
		many = append(many, holApp{name: fmt.Sprintf("app-%c", 'c'+i)})
	}
	many = append(many, holApp{name: "app-b", badFromS: badS})
	cases := []struct {
		name  string
		apps  []holApp
		setup func(t *testing.T, h *holRig) func(time.Time)
	}{
		{name: "20 apps, one bad", apps: many},
		{name: "the store's tables locked by another writer", apps: []holApp{{name: "app-a", badFromS: badS - 40}, {name: "app-b", badFromS: badS}},
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				path := sqliteState(t)
				db, err := store.Open(context.Background(), path, store.WithClock(h.now))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				cfg := h.cfg
				cfg.History, cfg.Journal, cfg.Overrides, cfg.Quarantine = db, db, db, db
				cfg.Leases = store.NewLeases(db, "worker.1", time.Minute, nil)
				cfg.Budget, cfg.TokenDigest, cfg.Handoff = db, "sha256:test", db
				cfg.StoreTimeout = holWall(2 * time.Second)
				h.w = watcher.New(cfg)
				locker, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { locker.Close() })
				locked := false
				return func(now time.Time) {
					if locked || now.Sub(t0) < (badS-20)*time.Second {
						return
					}
					locked = true
					conn, err := locker.Conn(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
						t.Error(err)
					}
					t.Cleanup(func() { conn.ExecContext(context.Background(), "ROLLBACK"); conn.Close() })
				}
			}},
		{name: "20 apps, one bad, 19 answered after 25 s", apps: many,
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				for _, a := range many[:19] {
					h.fake.InjectFault(herokusim.Fault{Path: "/apps/" + a.name + "/", Delay: holWall(25 * time.Second), Times: 1 << 30})
				}
				return nil
			}},
		{name: "A bad too, its chat answers after 30 s", apps: []holApp{{name: "app-a", badFromS: badS - 40}, {name: "app-b", badFromS: badS}},
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				c := &slowChat{app: "app-a", delay: holWall(30 * time.Second)}
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				th := notify.NewThreads(ctx, c, notify.ThreadOptions{CallTimeout: holWall(10 * time.Second), GiveUp: holWall(5 * time.Minute)})
				h.w = rebuildHol(h, notify.Multi{h.rec, th})
				return nil
			}},
		{name: "no trouble", apps: []holApp{{name: "app-a"}, {name: "app-b", badFromS: badS}}},
		{name: "A's releases answered after 25 s", apps: []holApp{{name: "app-a"}, {name: "app-b", badFromS: badS}},
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				h.fake.InjectFault(herokusim.Fault{Path: "/apps/app-a/", Delay: holWall(25 * time.Second), Times: 1 << 30})
				return nil
			}},
		{name: "A's token 429", apps: []holApp{{name: "app-a"}, {name: "app-b", badFromS: badS}},
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				h.fake.InjectFault(herokusim.Fault{Path: "/apps/app-a/", Status: 429, ID: "rate_limit", Message: "Your account reached the API rate limit", Times: 1 << 30})
				return nil
			}},
		{name: "A's Prometheus answers after 20 s", apps: []holApp{{name: "app-a", source: func(h *holRig, _ []metrics.Point) metrics.Source {
			s, err := prometheus.New(slowPrometheus(t, holWall(20*time.Second)), "app-a", prometheus.Queries{}, prometheus.Options{Timeout: holWall(10 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}}, {name: "app-b", badFromS: badS}}},
		{name: "A's Prometheus answers after 9 s", apps: []holApp{{name: "app-a", source: func(h *holRig, _ []metrics.Point) metrics.Source {
			s, err := prometheus.New(slowPrometheus(t, holWall(9*time.Second)), "app-a", prometheus.Queries{}, prometheus.Options{Timeout: holWall(10 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}}, {name: "app-b", badFromS: badS}}},
		{name: "A rolling back while Heroku answers A after 25 s", apps: []holApp{{name: "app-a", badFromS: badS - 40}, {name: "app-b", badFromS: badS}},
			setup: func(t *testing.T, h *holRig) func(time.Time) {
				slow := false
				return func(now time.Time) {
					if !slow && now.Sub(t0) >= (releaseS+60)*time.Second {
						slow = true
						h.fake.InjectFault(herokusim.Fault{Path: "/apps/app-a/", Delay: holWall(25 * time.Second), Times: 1 << 30})
					}
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHolRig(t, c.apps, releaseS)
			var before func(time.Time)
			if c.setup != nil {
				before = c.setup(t, h)
			}
			h.run(t, releaseS-10, badS+100, before)
			at, ok := h.rolledBackAt("app-b")
			if !ok {
				t.Errorf("app-b never rolled back: %v", h.rec.Events())
				return
			}
			late := at.Sub(t0.Add(badS * time.Second))
			t.Logf("app-b rolled back %s after its traffic broke", late.Round(100*time.Millisecond))
			if late > time.Minute {
				for _, e := range h.rec.Events() {
					t.Logf("%s %s v%d at %s", e.App, e.Kind, e.Release, e.At.Sub(t0))
				}
				t.Errorf("app-b rolled back %s after its traffic broke, past a minute", late.Round(100*time.Millisecond))
			}
		})
	}
}
