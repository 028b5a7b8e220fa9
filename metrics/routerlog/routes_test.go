package routerlog

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// req is a router line of method and path from client, answered with
// status in ms milliseconds.
func req(sec int64, method, client, path string, status, ms int) []byte {
	ts := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	return fmt.Appendf(nil, `%s heroku[router]: at=info method=%s path="%s" host=h fwd="%s" dyno=web.1 connect=0ms service=%dms status=%d bytes=1 protocol=https`,
		ts, method, path, client, ms, status)
}

func mustRoutes(t testing.TB, patterns ...string) []Route {
	t.Helper()
	var out []Route
	for _, p := range patterns {
		r, err := ParseRoute(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func counts(t *testing.T, agg *Aggregator, route string, from int64, n int) []metrics.Point {
	t.Helper()
	s, err := agg.Counts(context.Background(), route, time.Unix(from, 0), time.Unix(from+int64(n), 0))
	if err != nil {
		t.Fatalf("Counts(%q): %v", route, err)
	}
	return s.Points
}

// Each guarded route has its own seconds; a line counts toward the first
// route that matches it, in the order given; the rest toward "other".
// What the stream covered, and repeats, are the app's.
func TestAggregatorCountsEachRoute(t *testing.T) {
	const (
		download = "GET /api/v1/crates/{crate}/{version}/download"
		crate    = "GET /api/v1/crates/{crate}"
		serde    = "GET /api/v1/crates/serde" // after {crate}: never takes a line
		login    = "POST /login"
	)
	agg := New(Options{Routes: mustRoutes(t, download, crate, serde, login), Retain: time.Hour})
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	agg.Add(req(t0, "GET", "1.1.1.1", "/api/v1/crates/serde/1.0.0/download?x", 302, 10)) // the route, its query aside
	agg.Add(req(t0, "GET", "1.1.1.1", "/api/v1/crates/serde/1.0.0/download?x", 302, 10)) // a repeat, query and all
	agg.Add(req(t0, "GET", "2.2.2.2", "/api/v1/crates/rand/0.8.5/download", 503, 30000))
	agg.Add(req(t0, "GET", "1.1.1.1", "/api/v1/crates/serde", 200, 40)) // the same client, another path: new
	agg.Add(req(t0, "POST", "3.3.3.3", "/login", 200, 100))
	agg.Add(req(t0, "GET", "3.3.3.3", "/login", 200, 100))  // another method: other
	agg.Add(req(t0, "GET", "3.3.3.3", "/health", 500, 1))   // other
	agg.Add(req(t0+1, "GET", "3.3.3.3", "/health", 200, 1)) // other, a repeat
	agg.Add(req(t0+2, "POST", "3.3.3.3", "/login", 200, 100))
	lostLine(agg, []byte(time.Unix(t0+2, 0).UTC().Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 5 messages since "+time.Unix(t0+2, 0).UTC().Format(time.RFC3339)+"."))

	want := map[string][2]metrics.Point{
		download: {{OK: true, Requests: 3, Errors: 1, Repeats: 1}, {OK: true}},
		crate:    {{OK: true, Requests: 1}, {OK: true}},
		serde:    {{OK: true}, {OK: true}},
		login:    {{OK: true, Requests: 1}, {OK: true}},
		// GET /login after POST /login by one client is a repeat: the pair
		// is (client, path), whatever the method.
		Control: {{OK: true, Requests: 2, Errors: 1, Repeats: 1}, {OK: true, Requests: 1, Repeats: 1}},
	}
	for route, w := range want {
		p := counts(t, agg, route, t0, 3)
		for i := range w {
			got := p[i]
			got.Latency = nil
			if got != w[i] {
				t.Errorf("%s, second %d: %+v, want %+v", route, i, got, w[i])
			}
		}
		if p[2].OK {
			t.Errorf("%s, second 2: lines were lost then, for every route: %+v", route, p[2])
		}
	}
	if l := counts(t, agg, download, t0, 1)[0].Latency; l == nil || l.Count() != 3 || l.Quantile(0.99) < 20*time.Second {
		t.Errorf("download latency %v: want its 3 response times, 30 s among them", l)
	}
	if l := counts(t, agg, login, t0, 1)[0].Latency; l == nil || l.Count() != 1 {
		t.Errorf("login latency %v: want its one response time", l)
	}
	if st := agg.Stats(); st.Matched != 6 || st.Other != 3 {
		t.Errorf("stats %+v: want 6 lines matched, 3 other", st)
	}
	if _, err := agg.Counts(context.Background(), "GET /nope", time.Unix(t0, 0), time.Unix(t0+1, 0)); err == nil {
		t.Error("a route not counted must be an error")
	}
	if got := agg.Routes(time.Unix(t0, 0), time.Unix(t0+3, 0), 0); fmt.Sprint(got) != fmt.Sprint([]string{download, login, crate}) {
		t.Errorf("Routes = %q, want the routes with traffic, busiest first, never other", got)
	}
	if got := agg.Routes(time.Unix(t0, 0), time.Unix(t0+3, 0), 1); len(got) != 1 || got[0] != download {
		t.Errorf("Routes limited to 1 = %q", got)
	}
}

// A second past what the ring holds is no data for a quiet route too: its
// slot still says an older second, which is not zero traffic.
func TestAggregatorForgetsPastTheRing(t *testing.T) {
	agg := New(Options{Routes: mustRoutes(t, "GET /a", "GET /b"), Retain: 2 * time.Minute})
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	agg.Add(req(t0, "GET", "1.1.1.1", "/b", 200, 1))
	agg.Add(req(t0+300, "GET", "1.1.1.1", "/a", 200, 1))
	for _, route := range []string{"GET /a", "GET /b"} {
		if p := counts(t, agg, route, t0+100, 1)[0]; p.OK {
			t.Errorf("%s, 200 s before the newest line with a 120 s ring: %+v, want no data", route, p)
		}
		if p := counts(t, agg, route, t0+250, 1)[0]; !p.OK {
			t.Errorf("%s, 50 s before the newest line: %+v, want zero traffic", route, p)
		}
	}
}

// The 16-bit counts hold what a histogram holds: a second past 65,535
// responses in one bucket moves to a full histogram, exactly.
func TestAggregatorLatencyPast16Bits(t *testing.T) {
	agg := New(Options{Routes: mustRoutes(t, "GET /a"), Retain: 2 * time.Minute})
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	r := agg.guarded[0].ring
	b := agg.bucketLocked(r, t0)
	var want metrics.Histogram
	for _, ms := range []float64{3, 3, 700} {
		r.addLatency(b, latencyBucket(ms), 40_000)
		want.AddMillis(ms, 40_000)
	}
	b.requests = 120_000
	got := counts(t, agg, "GET /a", t0, 1)[0].Latency
	if got == nil || *got != want {
		t.Fatalf("latency %v, want %v", got, want)
	}
	// The slot's next second starts empty, and in 16 bits again.
	agg.Add(req(t0+120, "GET", "1.1.1.1", "/a", 200, 5))
	if l := counts(t, agg, "GET /a", t0+120, 1)[0].Latency; l == nil || l.Count() != 1 || len(r.wide) != 0 {
		t.Fatalf("the next second: %v, %d wide seconds kept", l, len(r.wide))
	}
}

// latencyBucket puts a response time where metrics.Histogram does.
func TestLatencyBucketIsTheHistograms(t *testing.T) {
	for ms := 0.0; ms < 40_000; ms += 0.5 {
		var h metrics.Histogram
		h.AddMillis(ms, 1)
		if i := latencyBucket(ms); h[i] != 1 {
			t.Fatalf("%v ms: bucket %d, the histogram's is another", ms, i)
		}
	}
}

// Templates in a benchmark: the same lines as BenchmarkAggregatorAdd,
// every route templated.
func BenchmarkAggregatorAddTemplates(b *testing.B) {
	agg := New(Options{Routes: mustRoutes(b, "GET /api/v1/crates/{crate}/{version}/download"), Templates: 50, Retain: time.Hour})
	agg.Listening(time.Unix(1689856200, 0))
	lines := mix()
	for i := range lines {
		lines[i] = append([]byte(nil), lines[i]...)
		if i%3 == 0 { // a third of them templated
			lines[i] = []byte(fmt.Sprintf(`2023-07-20T12:30:31Z heroku[router]: at=info method=GET path="/api/v1/crates/c%d/owners" host=h fwd="1.1.1.%d" dyno=web.1 connect=1ms service=3ms status=200 bytes=1 protocol=https`, i, i))
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		agg.Add(lines[i%len(lines)])
		i++
	}
}

// The figure: 50 routes with a response time every second of the
// default retain (1 h 40 min) stay under 64 MB.
func TestAggregatorMemoryFor50Routes(t *testing.T) {
	if testing.Short() {
		t.Skip("300,000 lines")
	}
	const routes = 50
	retain := DefaultRetain(30*time.Minute, 20*time.Minute)
	seconds := int64(retain / time.Second)
	var patterns []string
	for i := range routes {
		patterns = append(patterns, fmt.Sprintf("GET /api/r%02d/{id}", i))
	}
	rs := mustRoutes(t, patterns...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	agg := New(Options{Routes: rs, Retain: retain})
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	for sec := range seconds {
		for r := range int64(routes) {
			// Response times from 1 ms to 8 s, a client per route.
			agg.Add(req(t0+sec, "GET", fmt.Sprintf("10.0.0.%d", r), fmt.Sprintf("/api/r%02d/%d", r, sec%97), 200, int(1+(sec*7+r*13)%8000)))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	t.Logf("%d routes x %s (%d s) of per-second latency: %.1f MB held", routes, retain, seconds, held)
	for _, p := range patterns[:3] {
		s := counts(t, agg, p, t0+seconds-600, 600)
		for i, pt := range s {
			if pt.Requests != 1 || pt.Latency == nil || pt.Latency.Count() != 1 {
				t.Fatalf("%s, second %d: %+v, want one timed request", p, i, pt)
			}
		}
	}
	if held > 64 {
		t.Errorf("%.1f MB held, want under 64 MB", held)
	}
	runtime.KeepAlive(agg)
}

// A zero Retain is the router log's default for the app (DefaultRetain:
// twice its baseline and watch); a set one is kept; under 2 min is 2 min.
func TestAggregatorRetainDefault(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want int64
	}{
		{"default", Options{Baseline: 30 * time.Minute, WatchFor: 20 * time.Minute}, 6000},
		{"set", Options{Retain: 3 * time.Hour, Baseline: 30 * time.Minute, WatchFor: 20 * time.Minute}, 10800},
		{"nothing said", Options{}, 120},
		{"short", Options{Retain: time.Minute}, 120},
	} {
		if got := New(tt.o).retain; got != tt.want {
			t.Errorf("%s: retain %d s, want %d", tt.name, got, tt.want)
		}
	}
}
