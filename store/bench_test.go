package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// The benchmarks of the tick, with 200 apps:
//
//	go test -run XXX -bench . -benchmem ./store/
//
// The PostgreSQL runs need RELWATCH_POSTGRES_URL (they skip without it,
// and fail under RELWATCH_INTEGRATION=1). Each reports, per tick, the
// statements the store ran (counted by a wrapper around the database
// driver: store.CountStatements), the statements it prepared, the
// transactions it began, and the CPU time of this process (the benchmark,
// the store and SQLite, the simulated Heroku; not PostgreSQL's server).
//
// The databases: sqlite and postgres are the store as it runs;
// -unprepared is the same store with its statements of the tick not
// prepared (store.Unprepared), to measure what preparing them saves.

// BenchmarkTick runs the real watcher's Tick over 200 apps with the real
// store and the real Heroku client against the simulated Heroku, a tick
// every 5 s of virtual time (every app is polled every tick). quiet: every
// poll is a 304 and no watch is open; watching: every app has a release
// under watch, judged every tick against a steady, healthy series. nostore
// is the same tick with no store at all: what the tick costs without it.
func BenchmarkTick(b *testing.B) {
	for _, kind := range append([]string{"nostore"}, benchKinds...) {
		for _, shape := range []string{"quiet", "watching"} {
			b.Run(kind+"/"+shape, func(b *testing.B) {
				benchTick(b, kind, shape == "watching")
			})
		}
	}
}

// BenchmarkStoreTick is what the store does in a tick of 200 apps, alone:
// the watcher's two calls, Leases.Hold and Overrides (quiet: no release
// under watch; watching: each app has one, so its approval is read too).
func BenchmarkStoreTick(b *testing.B) {
	for _, kind := range benchKinds {
		for _, shape := range []string{"quiet", "watching"} {
			b.Run(kind+"/"+shape, func(b *testing.B) {
				benchStoreTick(b, kind, shape == "watching")
			})
		}
	}
}

const (
	benchApps = 200
	tickEvery = 5 * time.Second
	// benchSegment is how many ticks run on one rig: a watch lasts 20 min,
	// so a long run starts over on a fresh rig (set up off the clock).
	benchSegment = 200
)

var benchT0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func benchStore(b *testing.B, kind string, clock func() time.Time, counts *store.Counts) *store.DB {
	b.Helper()
	var dsn string
	switch strings.TrimSuffix(kind, "-unprepared") {
	case "sqlite":
		dsn = filepath.Join(b.TempDir(), "state.db")
	case "postgres":
		dsn = testenv.Postgres(b)
	default:
		return nil
	}
	opts := []store.Option{store.WithClock(clock), store.CountStatements(counts)}
	if strings.HasSuffix(kind, "-unprepared") {
		opts = append(opts, benchUnprepared())
	}
	db, err := store.Open(context.Background(), dsn, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

type tickRig struct {
	now    time.Time
	fake   *herokusim.Server
	counts *store.Counts
	w      *watcher.Watcher
}

func newTickRig(b *testing.B, kind string, watching bool) *tickRig {
	b.Helper()
	r := &tickRig{now: benchT0, counts: &store.Counts{}}
	clock := func() time.Time { return r.now }
	r.fake = herokusim.New("tok", herokusim.WithClock(clock))
	b.Cleanup(r.fake.Close)

	src := steadySource(clock)

	client := heroku.New(r.fake.URL(), "tok")
	cfg := watcher.Config{
		Heroku:       client,
		Roller:       &rollback.Roller{Heroku: client},
		PollInterval: tickEvery,
	}
	for i := range benchApps {
		app := fmt.Sprintf("app-%03d", i)
		r.fake.AddRelease(app, herokusim.ReleaseSpec{Version: 1, Description: "Deploy old", CreatedAt: benchT0.Add(-48 * time.Hour)})
		if watching {
			r.fake.AddRelease(app, herokusim.ReleaseSpec{Version: 2, Description: "Deploy new", CreatedAt: benchT0.Add(-time.Minute)})
		}
		cfg.Apps = append(cfg.Apps, watcher.App{Name: app, Route: "download", Policy: watcher.DefaultPolicy(), Source: src})
	}
	if db := benchStore(b, kind, clock, r.counts); db != nil {
		cfg.History, cfg.Journal, cfg.Overrides, cfg.Quarantine = db, db, db, db
		cfg.Leases = benchLeases(db, "bench/1", 30*time.Second)
	}
	r.w = watcher.New(cfg)
	// Warm up: the first tick polls every app and reads its stored state
	// (and opens the watches); the next ones are the steady state.
	for range 3 {
		r.tick(b)
	}
	if watching && len(r.w.Watches()) != benchApps {
		b.Fatalf("%d watches open, want %d", len(r.w.Watches()), benchApps)
	}
	return r
}

// steadySource is a steady, healthy route: 200 req/s, an error every
// 10 s, 10% repeats, from an hour before benchT0 to two hours after.
func steadySource(clock func() time.Time) *series.Source {
	pts := make([]metrics.Point, 3*3600)
	for i := range pts {
		pts[i] = metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
	}
	return series.New(series.Recording{Start: benchT0.Add(-time.Hour), Routes: map[string][]metrics.Point{"download": pts}}, clock)
}

func (r *tickRig) tick(b *testing.B) {
	r.now = r.now.Add(tickEvery)
	if err := r.w.Tick(context.Background(), r.now); err != nil {
		b.Fatal(err)
	}
}

func benchTick(b *testing.B, kind string, watching bool) {
	var m meter
	var r *tickRig
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%benchSegment == 0 {
			if r != nil {
				m.stop(r.counts)
			}
			b.StopTimer()
			r = newTickRig(b, kind, watching)
			b.StartTimer()
			m.start(r.counts)
		}
		r.tick(b)
	}
	m.stop(r.counts)
	b.StopTimer()
	if watching && len(r.w.Watches()) != benchApps {
		b.Fatalf("%d watches open at the end, want %d", len(r.w.Watches()), benchApps)
	}
	m.report(b)
}

func benchStoreTick(b *testing.B, kind string, watching bool) {
	now := benchT0
	counts := &store.Counts{}
	db := benchStore(b, kind, func() time.Time { return now }, counts)
	ctx := context.Background()
	apps := make([]string, benchApps)
	watched := make(map[string]int, benchApps)
	for i := range apps {
		apps[i] = fmt.Sprintf("app-%03d", i)
		watched[apps[i]] = 0
		if watching {
			watched[apps[i]] = 2
		}
	}
	leases := benchLeases(db, "bench/1", 30*time.Second)
	tick := func() {
		now = now.Add(tickEvery)
		held, err := leases.Hold(ctx, apps)
		if err != nil {
			b.Fatal(err)
		}
		if len(held) != benchApps {
			b.Fatalf("Hold answered for %d apps", len(held))
		}
		if _, err := db.Overrides(ctx, watched); err != nil {
			b.Fatal(err)
		}
	}
	for range 3 {
		tick()
	}
	measureTicks(b, counts, tick)
}

// meter sums the store's counts and this process's CPU time over the
// measured stretches of a benchmark.
type meter struct {
	statements, prepares, txs int64
	cpu                       time.Duration
}

func (m *meter) start(c *store.Counts) {
	s, p, t := c.Snapshot()
	m.statements, m.prepares, m.txs = m.statements-s, m.prepares-p, m.txs-t
	m.cpu -= cpuTime()
}

func (m *meter) stop(c *store.Counts) {
	s, p, t := c.Snapshot()
	m.statements, m.prepares, m.txs = m.statements+s, m.prepares+p, m.txs+t
	m.cpu += cpuTime()
}

func (m *meter) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(m.statements)/n, "stmts/tick")
	b.ReportMetric(float64(m.prepares)/n, "prepares/tick")
	b.ReportMetric(float64(m.txs)/n, "txs/tick")
	b.ReportMetric(float64(m.cpu.Microseconds())/n, "cpu-µs/tick")
}

// measureTicks is a benchmark's one measured stretch: tick b.N times,
// metered.
func measureTicks(b *testing.B, c *store.Counts, tick func()) {
	var m meter
	b.ReportAllocs()
	b.ResetTimer()
	m.start(c)
	for range b.N {
		tick()
	}
	m.stop(c)
	b.StopTimer()
	m.report(b)
}

// BenchmarkTickThousandIdleApps is one worker's tick over 1,000 idle apps
// whose push source is healthy (issue 19's fleet): the leases, the shared
// budget and the handed pushes in the real store, the polls the 15 min
// safety net makes against the simulated Heroku with its rate limit, a
// tick every 5 s of virtual time after 20 min of warming up (every app
// polled once and spread). It reports the statements a tick and the CPU
// of a tick (this process: the watcher, the store, SQLite and the
// simulated Heroku), and the heap the worker holds, in MB.
func BenchmarkTickThousandIdleApps(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			const apps = 1000
			now := benchT0
			clock := func() time.Time { return now }
			fake := herokusim.New("tok", herokusim.WithClock(clock), herokusim.WithHerokuRateLimit())
			b.Cleanup(fake.Close)
			src := steadySource(clock)
			counts := &store.Counts{}
			db := benchStore(b, kind, clock, counts)
			client := heroku.New(fake.URL(), "tok")
			cfg := watcher.Config{Heroku: client, Roller: &rollback.Roller{Heroku: client}, PollInterval: tickEvery, Tick: tickEvery,
				History: db, Journal: db, Overrides: db, Quarantine: db, Leases: benchLeases(db, "bench/1", 30*time.Second),
				Budget: db, TokenDigest: "sha256:bench", Handoff: db}
			healthy := func() bool { return true }
			for i := range apps {
				app := fmt.Sprintf("app-%04d", i)
				fake.AddRelease(app, herokusim.ReleaseSpec{Version: 1, Description: "Deploy old", CreatedAt: benchT0.Add(-48 * time.Hour)})
				cfg.Apps = append(cfg.Apps, watcher.App{Name: app, Route: "download", Policy: watcher.DefaultPolicy(), Source: src,
					Push: true, PushHealthy: healthy})
			}
			w := watcher.New(cfg)
			tick := func() {
				now = now.Add(tickEvery)
				if err := w.Tick(context.Background(), now); err != nil {
					b.Fatal(err)
				}
			}
			for range int(20 * time.Minute / tickEvery) {
				tick()
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			measureTicks(b, counts, tick)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
			if c := fake.Counts(); c.ByStatus[429] != 0 {
				b.Fatalf("%d answers 429", c.ByStatus[429])
			}
		})
	}
}
