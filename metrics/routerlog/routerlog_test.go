package routerlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"

	"github.com/relwatch/relwatch/metrics"
)

const (
	okLine    = `2023-07-20T12:30:31.123456+00:00 heroku[router]: at=info method=GET path="/api/v1/crates/serde/1.0.188/download" host=crates.io request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="203.0.113.9" dyno=web.1 connect=1ms service=14ms status=302 bytes=568 protocol=https`
	errLine   = `2023-07-20T12:30:32Z heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/api/v1/crates/rand/0.8.5/download?x=1" host=crates.io request_id=c1 fwd="198.51.100.4, 10.0.0.1" dyno=web.2 connect=0ms service=30000ms status=503 bytes=0 protocol=https`
	drainLine = `<158>1 2023-07-20T12:30:33.000000+00:00 host heroku router - at=info method=GET path=/api/v1/crates/tokio/1.0.0/download host=crates.io request_id=d2 fwd="192.0.2.1" dyno=web.1 connect=1ms service=3ms status=500 bytes= protocol=https`
	otherLine = `2023-07-20T12:30:31+00:00 heroku[router]: at=info method=GET path="/api/v1/summary" host=crates.io request_id=e3 fwd="203.0.113.9" dyno=web.1 connect=1ms service=40ms status=200 bytes=9001 protocol=https`
	appLine   = `2023-07-20T12:30:31+00:00 app[web.1]: Started GET "/api/v1/summary"`
)

func TestParseLine(t *testing.T) {
	var l Line
	if err := ParseLine([]byte(okLine), &l); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2023, 7, 20, 12, 30, 31, 0, time.UTC).Unix()
	if l.Unix != want || l.Error || string(l.Method) != "GET" || string(l.Path) != "/api/v1/crates/serde/1.0.188/download" ||
		string(l.Fwd) != "203.0.113.9" || l.Status != 302 || l.Service != 14 || l.Connect != 1 || l.Bytes != 568 || l.Failed() {
		t.Fatalf("ok line: %+v", l)
	}
	if err := ParseLine([]byte(errLine), &l); err != nil {
		t.Fatal(err)
	}
	if !l.Error || string(l.Code) != "H12" || l.Status != 503 || string(l.Fwd) != "198.51.100.4" || l.Service != 30000 || !l.Failed() || l.Unix != want+1 {
		t.Fatalf("error line: %+v", l)
	}
	if err := ParseLine([]byte(drainLine), &l); err != nil {
		t.Fatal(err)
	}
	if l.Unix != want+2 || l.Status != 500 || string(l.Path) != "/api/v1/crates/tokio/1.0.0/download" || l.Bytes != 0 || !l.Failed() {
		t.Fatalf("drain line: %+v", l)
	}
	if err := ParseLine([]byte(`2023-07-20T14:30:31+02:00 heroku[router]: at=info path=/ status=200`), &l); err != nil || l.Unix != want {
		t.Fatalf("offset timestamp: %v %d, want %d", err, l.Unix, want)
	}
	for in, wantErr := range map[string]error{
		appLine: ErrNotRouter,
		"":      ErrNotRouter,
		`2023-13-20T12:30:31Z heroku[router]: at=info`:                 ErrBadTimestamp,
		`yesterday heroku[router]: at=info`:                            ErrBadTimestamp,
		`2023-07-20T12:30:31Z heroku[router]: at=info path="/unclosed`: ErrMalformed,
		`2023-07-20T12:30:31Z heroku[router]: at=info =oops`:           ErrMalformed,
		`2023-07-20T12:30:31Z heroku[router]: method=GET`:              ErrNotRouter,
		// An app's own line that quotes the router's words is not the
		// router's: the source and process are read where they stand.
		`<190>1 2023-07-20T12:30:31+00:00 host app web.1 - proxied by heroku router - at=info method=GET path="/dl/a" status=500`: ErrNotRouter,
		`2023-07-20T12:30:31Z app[web.1]: heroku[router]: at=info method=GET path="/dl/a" status=500`:                             ErrNotRouter,
		`<158>1 2023-07-20T12:30:31+00:00 host heroku web.1 - at=info method=GET path="/dl/a" status=500`:                         ErrNotRouter,
	} {
		if err := ParseLine([]byte(in), &l); err != wantErr {
			t.Errorf("ParseLine(%q) = %v, want %v", in, err, wantErr)
		}
	}
}

// timed is a router line of second sec whose timing fields are timing
// ("connect=1ms service=2ms", "connect= service=", ...).
func timed(sec int64, timing string) string {
	ts := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	return ts + ` heroku[router]: at=info method=GET path="/dl/a" host=h fwd="1.1.1.1" dyno=web.1 ` + timing + ` status=200 bytes=1 protocol=https`
}

func TestParseLineResponseTime(t *testing.T) {
	const h10 = `2020-03-11T22:11:43.929173+00:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/" host=radiant-meadow-79425.herokuapp.com request_id=26fbf0fe fwd="72.20.67.198" dyno= connect= service= status=503 bytes= protocol=https`
	for _, tt := range []struct {
		name string
		in   string
		ms   int
		ok   bool
	}{
		{"connect + service", okLine, 15, true},
		{"an H12 with both", errLine, 30000, true},
		{"a drain frame", drainLine, 4, true},
		{"an H12 as Heroku documents it: connect empty", timed(0, "connect= service=30000ms"), 30000, true},
		{"quoted", timed(0, `connect="2ms" service="40ms"`), 42, true},
		{"zero", timed(0, "connect=0ms service=0ms"), 0, true},
		{"an hour each, the most", timed(0, "connect=3600000ms service=3600000ms"), 7_200_000, true},
		{"an H10 reaches no dyno: both empty", h10, 0, false},
		{"service empty", timed(0, "connect=1ms service="), 0, false},
		{"neither field", `2023-07-20T12:30:31Z heroku[router]: at=info method=GET path=/ status=200`, 0, false},
	} {
		var l Line
		if err := ParseLine([]byte(tt.in), &l); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if ms, ok := l.ResponseTime(); ms != tt.ms || ok != tt.ok {
			t.Errorf("%s: ResponseTime() = %d, %v; want %d, %v", tt.name, ms, ok, tt.ms, tt.ok)
		}
	}
	for _, tt := range []struct {
		timing string
		want   error
	}{
		{"connect=1ms service=abcms", ErrBadService},
		{"connect=1ms service=-5ms", ErrBadService},
		{"connect=1ms service=3600001ms", ErrBadService},
		{"connect=1ms service=12", ErrBadService},
		{"connect=1ms service=1.5ms", ErrBadService},
		{"connect=1ms service=2s", ErrBadService},
		{"connect=1ms service=ms", ErrBadService},
		{"connect=1ms service=99999999999999999999ms", ErrBadService},
		{"connect=abcms service=2ms", ErrBadConnect},
		{"connect=-1ms service=2ms", ErrBadConnect},
		{"connect=3600001ms service=2ms", ErrBadConnect},
		{"connect=7 service=2ms", ErrBadConnect},
		{"connect=x service=", ErrBadConnect},
	} {
		// An unread time leaves the line a request, untimed: never lost
		// traffic.
		var l Line
		in := timed(0, tt.timing)
		if err := ParseLine([]byte(in), &l); err != nil || l.TimeErr != tt.want {
			t.Errorf("ParseLine(%q) = %v, TimeErr %v; want nil, %v", in, err, l.TimeErr, tt.want)
		}
		if ms, ok := l.ResponseTime(); ok {
			t.Errorf("ParseLine(%q): a response time of %d ms", in, ms)
		}
		if l.Status != 200 {
			t.Errorf("ParseLine(%q): status %d, want the line's 200", in, l.Status)
		}
	}
	for err, field := range map[error]string{ErrBadConnect: "connect=", ErrBadService: "service="} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%q does not name %s", err, field)
		}
	}
}

// The parser allocates nothing, on good lines and bad.
func TestParseLineAllocatesNothing(t *testing.T) {
	lines := append(mix(), []byte(timed(0, "connect= service=")), []byte(timed(0, "connect=1ms service=abcms")), []byte(appLine))
	var l Line
	if n := testing.AllocsPerRun(100, func() {
		for _, raw := range lines {
			_ = ParseLine(raw, &l)
		}
	}); n != 0 {
		t.Fatalf("%v allocations for %d lines", n, len(lines))
	}
}

func TestRouteMatch(t *testing.T) {
	r, err := ParseRoute("GET /api/v1/crates/{crate}/{version}/download")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/api/v1/crates/serde/1.0.0/download":         true,
		"/api/v1/crates/serde/1.0.0/download?x=1":     true,
		"/api/v1/crates/serde/1.0.0/download/":        false,
		"/api/v1/crates/serde/download":               false,
		"/api/v1/crates//1.0.0/download":              false,
		"/api/v1/crates/serde/1.0.0/download/extra":   false,
		"/api/v1/crates/serde/1.0.0/readme":           false,
		"api/v1/crates/serde/1.0.0/download":          false,
		"/api/v1/crates/serde/1.0.0/download#section": true,
	} {
		if got := r.Match([]byte("GET"), []byte(path)); got != want {
			t.Errorf("Match(GET %q) = %v, want %v", path, got, want)
		}
	}
	if r.Match([]byte("POST"), []byte("/api/v1/crates/serde/1.0.0/download")) {
		t.Error("method ignored")
	}
	// An empty segment is a literal: the root, a trailing slash.
	for pattern, paths := range map[string]map[string]bool{
		"GET /":         {"/": true, "/a": false, "": false},
		"GET /a/":       {"/a/": true, "/a": false, "/a/b": false},
		"GET /a/{b}/":   {"/a/x/": true, "/a//": false, "/a/x": false},
		"GET /a//{b}":   {"/a//x": true, "/a/y/x": false},
		"GET /{a}/{b}/": {"/x/y/": true, "/x//": false},
	} {
		r, err := ParseRoute(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range paths {
			if got := r.Match([]byte("GET"), []byte(path)); got != want {
				t.Errorf("%q: Match(GET %q) = %v, want %v", pattern, path, got, want)
			}
		}
	}
	for _, bad := range []string{"download", "/a/{b", "/a/x?y"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) accepted", bad)
		}
	}
}

func line(sec int64, client, path string, status int) []byte {
	ts := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	return []byte(fmt.Sprintf(`%s heroku[router]: at=info method=GET path="%s" host=h fwd="%s" dyno=web.1 connect=1ms service=2ms status=%d bytes=1 protocol=https`, ts, path, client, status))
}

func TestAggregatorCountsRepeatsExactly(t *testing.T) {
	route, _ := ParseRoute("/dl/{crate}")
	agg := NewAggregator(route, time.Hour, 0)
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	agg.Add(line(t0, "1.1.1.1", "/dl/a", 302))     // new
	agg.Add(line(t0, "1.1.1.1", "/dl/a", 302))     // repeat
	agg.Add(line(t0, "1.1.1.1", "/dl/b", 302))     // other path: new
	agg.Add(line(t0, "2.2.2.2", "/dl/a", 503))     // other client: new, error
	agg.Add(line(t0+60, "1.1.1.1", "/dl/a", 302))  // 60 s later: repeat
	agg.Add(line(t0+121, "1.1.1.1", "/dl/a", 302)) // 61 s after: new
	agg.Add(line(t0+130, "1.1.1.1", "/other", 200))
	// A retry is the same request, query and all: a client paging a
	// route asks new things; a retry of a page repeats it.
	agg.Add(line(t0+5, "4.4.4.4", "/dl/c?page=1", 200)) // new
	agg.Add(line(t0+5, "4.4.4.4", "/dl/c?page=2", 200)) // another page: new
	agg.Add(line(t0+6, "4.4.4.4", "/dl/c?page=2", 200)) // retried: repeat
	agg.Add([]byte(appLine))
	agg.Add([]byte("garbage"))
	s, err := agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0, 0), time.Unix(t0+122, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Points
	if !p[0].OK || p[0].Requests != 4 || p[0].Errors != 1 || p[0].Repeats != 1 {
		t.Fatalf("second 0: %+v", p[0])
	}
	if p[60].Repeats != 1 || p[121].Repeats != 0 || p[121].Requests != 1 {
		t.Fatalf("second 60 %+v, second 121 %+v", p[60], p[121])
	}
	if !p[30].OK || p[30].Requests != 0 {
		t.Fatalf("a quiet second while listening is zero traffic: %+v", p[30])
	}
	st := agg.Stats()
	if p[5].Repeats != 0 || p[5].Requests != 2 || p[6].Repeats != 1 {
		t.Fatalf("pages 1 and 2 at second 5 %+v, page 2 again at second 6 %+v; want no repeat, then one", p[5], p[6])
	}
	if st.Lines != 12 || st.Matched != 9 || st.NotRouter != 2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := agg.Counts(context.Background(), "/other", time.Unix(t0, 0), time.Unix(t0+1, 0)); err == nil {
		t.Fatal("another route must be an error")
	}

	// Lines out of order across seconds (several routers write an app's
	// lines; a batch interleaves them): a retry at t1+1 delivered before
	// the first attempt at t1 is still one repeat, and a request 60 s
	// after the retry repeats it.
	t1 := t0 + 1000
	agg.Add(line(t1+1, "3.3.3.3", "/dl/a", 302))
	agg.Add(line(t1, "3.3.3.3", "/dl/a", 302))
	agg.Add(line(t1+61, "3.3.3.3", "/dl/a", 302))
	s, err = agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t1, 0), time.Unix(t1+62, 0))
	if err != nil {
		t.Fatal(err)
	}
	var requests, repeats int64
	for _, p := range s.Points {
		requests, repeats = requests+p.Requests, repeats+p.Repeats
	}
	if requests != 3 || repeats != 2 {
		t.Fatalf("one client at t1+1, t1 (delivered late), t1+61: %d requests, %d repeats; want 3 and 2", requests, repeats)
	}
}

func TestAggregatorNoDataOutsideListeningAndForLostLines(t *testing.T) {
	route, _ := ParseRoute("/dl/{crate}")
	agg := NewAggregator(route, time.Hour, 0)
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0, 0))
	agg.Add(line(t0+2, "1.1.1.1", "/dl/a", 302))
	agg.Stopped(time.Unix(t0+10, 0))
	lostLine(agg, []byte(time.Unix(t0+6, 0).UTC().Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since "+time.Unix(t0+4, 0).UTC().Format(time.RFC3339)+"."))
	s, _ := agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0-2, 0), time.Unix(t0+14, 0))
	for i, p := range s.Points {
		sec := int64(i) - 2
		want := sec >= 1 && sec < 10 && !(sec >= 4 && sec <= 6)
		if p.OK != want {
			t.Errorf("second %d: OK=%v, want %v", sec, p.OK, want)
		}
	}
	if agg.Stats().Dropped != 1101 {
		t.Errorf("dropped %d, want 1101", agg.Stats().Dropped)
	}
}

// TestALineStampedFarAheadIsNotCounted: one router line whose stamp is an
// hour ahead of the clock must not move the newest second the rings hold:
// counted, it made every second of the last hour read as no data (the
// watch inconclusive) until the clock caught up with it.
func TestALineStampedFarAheadIsNotCounted(t *testing.T) {
	route, _ := ParseRoute("/dl/{crate}")
	t0 := int64(1_700_000_000)
	now := time.Unix(t0+10, 0)
	agg := New(Options{Routes: []Route{route}, Retain: 30 * time.Minute, Now: func() time.Time { return now }})
	agg.Listening(time.Unix(t0-1, 0))
	for sec := t0; sec < t0+10; sec++ {
		agg.Add(line(sec, "1.1.1.1", "/dl/a", 302))
	}
	if sec := agg.Add(line(t0+3600, "2.2.2.2", "/dl/b", 302)); sec != 0 {
		t.Errorf("a line an hour ahead returned second %d, want 0 (no second heard)", sec)
	}
	if sec := agg.Add(line(t0+60, "3.3.3.3", "/dl/c", 302)); sec != t0+60 {
		t.Errorf("a line a minute ahead (within MaxAhead) returned second %d, want %d", sec, t0+60)
	}
	s, err := agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0, 0), time.Unix(t0+10, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Points {
		if !p.OK || p.Requests != 1 {
			t.Errorf("second %d: %+v, want one request counted", i, p)
		}
	}
	if st := agg.Stats(); st.Future != 1 || st.Matched != 11 {
		t.Errorf("stats %+v, want Future 1 and Matched 11", st)
	}
}

// TestLostReportsAreLogplexsAlone: only heroku logplex's own line marks
// seconds as lost; an app's line that quotes one is counted as what it is.
func TestLostReportsAreLogplexsAlone(t *testing.T) {
	ts := time.Unix(1_700_000_006, 0).UTC().Format(time.RFC3339)
	for line, want := range map[string]bool{
		ts + " heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since " + ts + ".": true,
		"<172>1 " + ts + " host heroku logplex - Error L10 (output buffer overflow): 9 messages dropped since " + ts + ".":  true,
		ts + " app[web.1]: heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages":       false,
		ts + " app[web.1]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since " + ts + ".":      false,
		"<190>1 " + ts + " host app web.1 - Error L10 (output buffer overflow): 9 messages dropped since " + ts + ".":       false,
		ts + " heroku[logplex]: Warning: not an error":                                                                      false,
	} {
		route, _ := ParseRoute("/dl/{crate}")
		agg := NewAggregator(route, time.Hour, 0)
		if got := lostLine(agg, []byte(line)); got != want {
			t.Errorf("lostLine(%q) = %v, want %v", line, got, want)
		}
		if got := isLostReport([]byte(line)); got != want {
			t.Errorf("isLostReport(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestAggregatorLatency(t *testing.T) {
	route, _ := ParseRoute("/dl/{crate}")
	agg := NewAggregator(route, 2*time.Minute, 0)
	t0 := int64(1_700_000_000)
	agg.Listening(time.Unix(t0-1, 0))
	for range 9 {
		agg.Add([]byte(timed(t0, "connect=5ms service=5ms"))) // 10 ms
	}
	agg.Add([]byte(timed(t0, "connect=500ms service=500ms"))) // 1 s
	agg.Add([]byte(timed(t0, "connect= service=")))           // an H10's: a request, no time
	agg.Add([]byte(timed(t0+1, "connect= service=")))
	agg.Add([]byte(timed(t0+1, "connect=1ms service=1.5ms"))) // an unread time: a request all the same
	agg.Add([]byte(timed(t0+3, "connect=0ms service=4ms")))
	lostLine(agg, []byte(time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 1 messages since "+time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+"."))
	s, err := agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0, 0), time.Unix(t0+4, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasLatency {
		t.Fatal("HasLatency false: the router log always has response times")
	}
	p := s.Points
	if p[0].Requests != 11 || p[0].Latency == nil || p[0].Latency.Count() != 10 {
		t.Fatalf("second 0: %+v, want 11 requests, 10 of them timed", p[0])
	}
	inBucket := func(d time.Duration, ms float64) bool {
		lo, hi := metrics.LatencyBucketBounds(int(math.Floor(2*math.Log2(ms))) + 1)
		return d >= time.Duration(lo*float64(time.Millisecond)) && d <= time.Duration(hi*float64(time.Millisecond))
	}
	if q := p[0].Latency.Quantile(0.5); !inBucket(q, 10) {
		t.Errorf("median %s, want 10 ms's bucket", q)
	}
	if q := p[0].Latency.Quantile(0.99); !inBucket(q, 1000) {
		t.Errorf("p99 %s, want 1 s's bucket", q)
	}
	if !p[1].OK || p[1].Requests != 2 || p[1].Latency != nil {
		t.Errorf("second 1, two untimed requests: %+v, want 2 requests, Latency nil", p[1])
	}
	if st := agg.Stats(); st.BadTimes != 1 || st.Malformed != 0 {
		t.Errorf("stats %+v: want 1 bad time, no malformed line", st)
	}
	if !p[2].OK || p[2].Requests != 0 || p[2].Latency != nil {
		t.Errorf("second 2, no requests: %+v, want Latency nil", p[2])
	}
	if p[3].OK || p[3].Latency != nil {
		t.Errorf("second 3, lines lost: %+v, want no data", p[3])
	}

	// What Counts gave is a copy: a late line does not change it.
	agg.Add([]byte(timed(t0, "connect=0ms service=10ms")))
	if n := p[0].Latency.Count(); n != 10 {
		t.Errorf("a late line changed the histogram Counts gave: %d", n)
	}
	// A slot taken by a second 2 min later holds that second's times only.
	agg.Add([]byte(timed(t0+120, "connect=0ms service=10ms")))
	s, _ = agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0+120, 0), time.Unix(t0+121, 0))
	if l := s.Points[0].Latency; l == nil || l.Count() != 1 {
		t.Errorf("the slot's next second: %+v, want 1 response time", s.Points[0])
	}
	agg.Add([]byte(timed(t0+240, "connect= service=")))
	s, _ = agg.Counts(context.Background(), "/dl/{crate}", time.Unix(t0+240, 0), time.Unix(t0+241, 0))
	if s.Points[0].Requests != 1 || s.Points[0].Latency != nil {
		t.Errorf("an untimed second in a slot that had times: %+v, want Latency nil", s.Points[0])
	}
}

func TestAggregatorMemoryIsBounded(t *testing.T) {
	route, _ := ParseRoute("/dl/{crate}")
	agg := NewAggregator(route, time.Hour, 1000)
	t0 := int64(1_700_000_000)
	for i := range 5000 {
		agg.Add(line(t0, fmt.Sprintf("10.0.%d.%d", i/256, i%256), "/dl/a", 302))
	}
	if n := len(agg.gens[0]); n != 1000 {
		t.Fatalf("generation holds %d pairs, cap 1000", n)
	}
	if agg.Stats().PairsDropped != 4000 {
		t.Fatalf("pairs dropped %d", agg.Stats().PairsDropped)
	}
	agg.Add(line(t0+61, "1.1.1.1", "/dl/a", 302))
	agg.Add(line(t0+122, "1.1.1.1", "/dl/a", 302))
	if len(agg.gens[1]) != 1 || len(agg.gens[0]) != 1 {
		t.Fatalf("after two rotations: %d and %d pairs", len(agg.gens[0]), len(agg.gens[1]))
	}

	// Response times cost 16-bit histogram counts (64 bytes) per slot of
	// the ring that had one, allocated once: the slot's later seconds reuse it. With the
	// default retain, a timed request every second fills every slot.
	retain := DefaultRetain(30*time.Minute, 20*time.Minute)
	slots := uint64(retain / time.Second)
	lines := make([][]byte, 2*slots)
	for i := range lines {
		lines[i] = line(t0+int64(i), "1.1.1.1", "/dl/a", 302)
	}
	var timedAgg *Aggregator
	ring := allocated(func() { timedAgg = NewAggregator(route, retain, 1000) })
	firstLap := allocated(func() {
		for _, l := range lines[:slots] {
			timedAgg.Add(l)
		}
	})
	secondLap := allocated(func() {
		for _, l := range lines[slots:] {
			timedAgg.Add(l)
		}
	})
	t.Logf("%s of seconds (%d): the ring %d bytes; response times %d bytes the first time round, %d bytes after",
		retain, slots, ring, firstLap, secondLap)
	const histogram = 2 * metrics.LatencyBuckets // 16-bit counts
	if firstLap < slots*histogram || firstLap > slots*histogram+64<<10 {
		t.Errorf("the first %d seconds allocated %d bytes, want a %d-byte histogram each", slots, firstLap, histogram)
	}
	if secondLap > 64<<10 {
		t.Errorf("the next %d seconds allocated %d bytes: the slots' histograms must be reused", slots, secondLap)
	}
}

// allocated returns the bytes fn allocates on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestSplitFrames(t *testing.T) {
	body := []byte("83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n" +
		"119 <40>1 2012-11-30T06:45:26+00:00 host app web.3 - Starting process with command `bundle exec rackup config.ru -p 24405`\n")
	var got []string
	n, err := SplitFrames(body, func(f []byte) { got = append(got, string(f)) })
	if err != nil || n != 2 || !strings.HasPrefix(got[1], "<40>1 2012-11-30T06:45:26") || !strings.HasSuffix(got[1], "24405`\n") {
		t.Fatalf("n %d err %v frames %q", n, err, got)
	}
	for _, bad := range []string{"x <40>1", "99 short", "5", "-3 abc", "0 x"} {
		if _, err := SplitFrames([]byte(bad), func([]byte) {}); !errors.Is(err, ErrFrame) {
			t.Errorf("SplitFrames(%q) = %v, want ErrFrame", bad, err)
		}
	}
}

// mix is a realistic run of router lines: mostly downloads, some errors,
// some other routes, some drain-framed.
func mix() [][]byte {
	var out [][]byte
	for i := range 100 {
		switch {
		case i%20 == 0:
			out = append(out, []byte(errLine))
		case i%10 == 0:
			out = append(out, []byte(drainLine))
		case i%7 == 0:
			out = append(out, []byte(otherLine))
		default:
			out = append(out, []byte(strings.Replace(okLine, "serde", fmt.Sprintf("crate%d", i), 1)))
		}
	}
	return out
}

func BenchmarkRouterLine(b *testing.B) {
	lines := mix()
	var l Line
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = ParseLine(lines[i%len(lines)], &l)
		i++
	}
}

// BenchmarkRouterLineLogfmt decodes the same lines into the same fields
// with github.com/go-logfmt/logfmt, for comparison.
func BenchmarkRouterLineLogfmt(b *testing.B) {
	lines := mix()
	var l Line
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		parseLogfmt(lines[i%len(lines)], &l)
		i++
	}
}

func parseLogfmt(raw []byte, out *Line) {
	*out = Line{}
	h, _ := header(raw) // the same header; logfmt decodes the fields
	out.Unix, _ = parseTimeStd(h.ts)
	msg := h.msg
	d := logfmt.NewDecoder(bytes.NewReader(msg))
	for d.ScanRecord() {
		for d.ScanKeyval() {
			v := d.Value()
			switch string(d.Key()) {
			case "at":
				out.Error = string(v) == "error"
			case "code":
				out.Code = append([]byte(nil), v...)
			case "method":
				out.Method = append([]byte(nil), v...)
			case "path":
				out.Path = append([]byte(nil), v...)
			case "host":
				out.Host = append([]byte(nil), v...)
			case "fwd":
				if c := bytes.IndexByte(v, ','); c >= 0 {
					v = v[:c]
				}
				out.Fwd = append([]byte(nil), v...)
			case "status":
				out.Status, _ = atoi(v)
			case "connect":
				out.Connect, _ = atoi(bytes.TrimSuffix(v, []byte("ms")))
			case "service":
				out.Service, _ = atoi(bytes.TrimSuffix(v, []byte("ms")))
			case "bytes":
				n, _ := atoi(v)
				out.Bytes = int64(n)
			}
		}
	}
}

func parseTimeStd(b []byte) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t.Unix(), err
}

func TestLogfmtBaselineAgrees(t *testing.T) {
	for _, raw := range mix() {
		var a, b Line
		if err := ParseLine(raw, &a); err != nil {
			t.Fatal(err)
		}
		parseLogfmt(raw, &b)
		if a.String() != b.String() || a.Unix != b.Unix || a.Failed() != b.Failed() || string(a.Fwd) != string(b.Fwd) || a.Service != b.Service {
			t.Fatalf("ours %+v\nlogfmt %+v\nfor %s", a, b, raw)
		}
	}
}

func BenchmarkAggregatorAdd(b *testing.B) {
	route, _ := ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := NewAggregator(route, time.Hour, 0)
	agg.Listening(time.Unix(1689856200, 0))
	lines := mix()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		agg.Add(lines[i%len(lines)])
		i++
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range []string{okLine, errLine, drainLine, otherLine, appLine, `2023-07-20T12:30:31Z heroku[router]: at=info path="a\"b" x= y=""`,
		timed(0, "connect= service=30000ms"), timed(0, "connect= service="), timed(0, `connect="2ms" service="40ms"`),
		timed(0, "connect=1ms service=abcms"), timed(0, "connect=-1ms service=2ms"), timed(0, "connect=0ms service=3600001ms"),
		timed(0, "connect=3600000ms service=3600000ms"), timed(0, "connect=1ms service=1.5ms"), timed(0, "service=2ms service=")} {
		f.Add([]byte(l))
	}
	// with is in followed by one more field: a later key overrides.
	with := func(in []byte, field string) []byte { return append(in[:len(in):len(in)], " "+field...) }
	f.Fuzz(func(t *testing.T, in []byte) {
		var l Line
		if err := ParseLine(in, &l); err != nil {
			return
		}
		for _, field := range [][]byte{l.Method, l.Path, l.Fwd, l.Code, l.Host} {
			if len(field) > len(in) {
				t.Fatal("a field longer than its line")
			}
		}
		if l.Status < 0 || l.Service < 0 || l.Bytes < 0 || l.Connect < 0 {
			t.Fatalf("negative number from %q: %+v", in, l)
		}
		if l.Connect > maxMillis || l.Service > maxMillis {
			t.Fatalf("a time over an hour from %q: %+v", in, l)
		}
		if ms, ok := l.ResponseTime(); (ok && ms != l.Connect+l.Service) || (!ok && ms != 0) {
			t.Fatalf("ResponseTime() = %d, %v for %+v", ms, ok, l)
		}
		// The line's last timing fields decide, whatever came before.
		if err := ParseLine(with(in, "connect=5ms service=7ms"), &l); err != nil {
			t.Fatalf("%q with good times: %v", in, err)
		}
		if ms, ok := l.ResponseTime(); ms != 12 || !ok {
			t.Fatalf("%q with connect=5ms service=7ms: ResponseTime() = %d, %v", in, ms, ok)
		}
		if err := ParseLine(with(in, "service="), &l); err != nil {
			t.Fatalf("%q with an empty service=: %v", in, err)
		}
		if _, ok := l.ResponseTime(); ok {
			t.Fatalf("%q with an empty service= has a response time", in)
		}
		// An unread time: still a line (a request), untimed.
		if err := ParseLine(with(in, "service=abcms"), &l); err != nil || l.TimeErr == nil {
			t.Fatalf("%q with service=abcms: %v, TimeErr %v; want nil and an error", in, err, l.TimeErr)
		}
		if _, ok := l.ResponseTime(); ok {
			t.Fatalf("%q with service=abcms has a response time", in)
		}
		if err := ParseLine(with(in, "connect=-1ms"), &l); err != nil || l.TimeErr != ErrBadConnect {
			t.Fatalf("%q with connect=-1ms: %v, TimeErr %v; want nil, %v", in, err, l.TimeErr, ErrBadConnect)
		}
	})
}

func FuzzSplitFrames(f *testing.F) {
	f.Add([]byte("5 hello6 world!"))
	f.Add([]byte("83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n"))
	f.Add([]byte("99999999 x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		total := 0
		n, _ := SplitFrames(in, func(fr []byte) {
			if len(fr) == 0 {
				t.Fatal("an empty frame")
			}
			total += len(fr)
		})
		if total > len(in) || n > len(in) {
			t.Fatalf("%d frames, %d bytes out of %d", n, total, len(in))
		}
	})
}
