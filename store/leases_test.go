package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/store"
)

// eachDB runs f on a fresh SQLite file and on a fresh PostgreSQL schema
// (skipped without RELWATCH_POSTGRES_URL, failed without it under
// RELWATCH_INTEGRATION=1).
func eachDB(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "state.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, testenv.Postgres(t)) })
}

func openAt(t *testing.T, dsn string, opts ...store.Option) *store.DB {
	t.Helper()
	d, err := store.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// logLines is a slog handler that keeps the messages with their app.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	app := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "app" {
			app = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message+" app="+app)
	return nil
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func heldApps(m map[string]bool) []string {
	var out []string
	for app, ok := range m {
		if ok {
			out = append(out, app)
		}
	}
	slices.Sort(out)
	return out
}

func TestLeasesShareTheApps(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		d := openAt(t, dsn, store.WithClock(clk.Now))
		apps := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6"}
		const ttl = 10 * time.Second
		logA, logB := &logLines{}, &logLines{}
		a := store.NewLeases(d, "worker-a", ttl, slog.New(logA))
		b := store.NewLeases(d, "worker-b", ttl, slog.New(logB))
		hold := func(l *store.Leases) []string {
			t.Helper()
			m, err := l.Hold(ctx, apps)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != len(apps) {
				t.Fatalf("Hold answered for %d apps, want %d", len(m), len(apps))
			}
			return heldApps(m)
		}
		holder := func(app string) string {
			h, _, err := d.Lease(ctx, app)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}

		// Alone, a worker holds every app.
		if got := hold(a); len(got) != 7 {
			t.Fatalf("the only worker holds %v, want all 7", got)
		}
		// A second worker finds them taken, and says so once per app.
		if got := hold(b); len(got) != 0 {
			t.Fatalf("worker b took %v from a live worker", got)
		}
		clk.Add(time.Second)
		hold(b)
		wantLine := "INFO another worker holds the app"
		if !d.Postgres() {
			wantLine = "WARN another relwatch worker uses this SQLite state and holds the app: with SQLite, run one worker"
		}
		if n := logB.count(wantLine); n != 7 {
			t.Fatalf("%d lines %q after two ticks, want one per app (7):\n%s", n, wantLine, strings.Join(logB.lines, "\n"))
		}
		// The first gives back what is beyond its share, ceil(7/2) = 4;
		// the second takes the rest.
		gotA := hold(a)
		if len(gotA) != 4 || logA.count("giving an app back") != 3 {
			t.Fatalf("worker a holds %v after b came, want 4 (and 3 given back):\n%s", gotA, strings.Join(logA.lines, "\n"))
		}
		gotB := hold(b)
		if len(gotB) != 3 {
			t.Fatalf("worker b holds %v, want the 3 a gave back", gotB)
		}
		for _, app := range apps {
			want := "worker-a"
			if slices.Contains(gotB, app) {
				want = "worker-b"
			}
			if slices.Contains(gotA, app) == slices.Contains(gotB, app) {
				t.Fatalf("%s held by both or neither: a %v, b %v", app, gotA, gotB)
			}
			if h := holder(app); h != want {
				t.Fatalf("%s is leased to %q, Hold said %s", app, h, want)
			}
		}
		// Renewed every tick, nothing moves.
		for range 5 {
			clk.Add(4 * time.Second)
			if a2, b2 := hold(a), hold(b); !slices.Equal(a2, gotA) || !slices.Equal(b2, gotB) {
				t.Fatalf("leases moved while both workers renew: a %v -> %v, b %v -> %v", gotA, a2, gotB, b2)
			}
		}
		// b stops. Until its leases expire, they stay b's.
		clk.Add(4 * time.Second)
		if got := hold(a); !slices.Equal(got, gotA) {
			t.Fatalf("a holds %v before b's leases expired, want %v", got, gotA)
		}
		// Then a takes them over: b is no longer alive, the share is all.
		clk.Add(ttl)
		if got := hold(a); len(got) != 7 {
			t.Fatalf("a holds %v after b's leases expired, want all 7", got)
		}
		for _, app := range apps {
			if h := holder(app); h != "worker-a" {
				t.Fatalf("%s is leased to %q after the takeover", app, h)
			}
		}
		// On SIGTERM a worker gives everything back at once.
		if err := d.ReleaseLeases(ctx, "worker-a"); err != nil {
			t.Fatal(err)
		}
		if h := holder("a3"); h != "" {
			t.Fatalf("a3 still leased to %q after ReleaseLeases", h)
		}
	})
}

// A settled worker renews everything it holds in one statement a tick,
// with a heartbeat every quarter of the lease time.
func TestLeasesSettledTickIsOneStatement(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		counts := &store.Counts{}
		d := openAt(t, dsn, store.WithClock(clk.Now), store.CountStatements(counts))
		apps := make([]string, 200)
		for i := range apps {
			apps[i] = fmt.Sprintf("app-%03d", i)
		}
		l := store.NewLeases(d, "w", 30*time.Second, nil)
		if _, err := l.Hold(ctx, apps); err != nil {
			t.Fatal(err)
		}
		clk.Add(5 * time.Second)
		before, _, _ := counts.Snapshot()
		m, err := l.Hold(ctx, apps)
		if err != nil {
			t.Fatal(err)
		}
		if n, _, _ := counts.Snapshot(); n-before != 1 || len(heldApps(m)) != 200 {
			t.Fatalf("a settled tick of 200 apps: %d statements, %d apps held; want 1 statement, 200 apps", n-before, len(heldApps(m)))
		}
		clk.Add(5 * time.Second) // 10 s since the last heartbeat: one is due
		before, _, _ = counts.Snapshot()
		if _, err := l.Hold(ctx, apps); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := counts.Snapshot(); n-before != 2 {
			t.Fatalf("a tick with a heartbeat due: %d statements, want 2", n-before)
		}
		// The renewal moved the expiry: the lease is ttl past this tick.
		if _, exp, _ := d.Lease(ctx, "app-199"); !exp.Equal(clk.Now().Add(30 * time.Second)) {
			t.Fatalf("app-199 expires %s, want %s", exp, clk.Now().Add(30*time.Second))
		}
	})
}

func TestLeasesUnderContention(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := openAt(t, dsn)
		apps := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"}
		workers := make([]*store.Leases, 6)
		for i := range workers {
			workers[i] = store.NewLeases(d, fmt.Sprintf("w%d", i), time.Minute, nil)
		}
		for round := range 4 {
			held := make([]map[string]bool, len(workers))
			var wg sync.WaitGroup
			errs := make(chan error, len(workers))
			for i, l := range workers {
				wg.Go(func() {
					m, err := l.Hold(ctx, apps)
					if err != nil {
						errs <- err
					}
					held[i] = m
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: %v", round, err)
			}
			for _, app := range apps {
				var by []int
				for i, m := range held {
					if m[app] {
						by = append(by, i)
					}
				}
				if len(by) > 1 {
					t.Fatalf("round %d: %s held by workers %v at once", round, app, by)
				}
				if len(by) == 1 {
					if h, _, _ := d.Lease(ctx, app); h != fmt.Sprintf("w%d", by[0]) {
						t.Fatalf("round %d: %s leased to %q, Hold said w%d", round, app, h, by[0])
					}
				}
			}
		}
	})
}
