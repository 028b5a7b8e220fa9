package routerlog_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/relwatch/relwatch/metrics/routerlog"
)

func rline(sec int64, client string, status int) string {
	return fmt.Sprintf(`%s heroku[router]: at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="%s" dyno=web.1 connect=1ms service=2ms status=%d bytes=1 protocol=https`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339), client, status)
}

// timedRequests is how many of a second's requests had a response time, -1
// when its Latency is nil.
func timedRequests(p metrics.Point) int64 {
	if p.Latency == nil {
		return -1
	}
	return p.Latency.Count()
}

// within3ms reports whether d is in 3 ms's latency bucket, [2^1.5, 2^2) ms.
func within3ms(d time.Duration) bool { return d >= 2828*time.Microsecond && d <= 4*time.Millisecond }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time     { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)    { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) At(sec int64) int64 { c.Set(time.Unix(sec, 0)); return sec }

// gate is a backoff that waits until the test lets the reader reconnect, so
// the test decides what the clock says in between; closing it lets every
// wait through.
type gate chan struct{}

func (g gate) backoff() retry.Backoff {
	return retry.BackoffFunc(func() (time.Duration, bool) { <-g; return 0, false })
}

// tailRig runs a Session against herokusim until the test ends.
type tailRig struct {
	fake  *herokusim.Server
	agg   *routerlog.Aggregator
	route routerlog.Route
	clock *clock
	gate  gate
	t0    int64
}

func startTail(t *testing.T, stall time.Duration, opts ...herokusim.Option) *tailRig {
	t.Helper()
	fake := herokusim.New("tok", opts...)
	fake.AddApp("crates-io")
	route, _ := routerlog.ParseRoute("GET /api/v1/crates/{crate}/{version}/download")
	r := &tailRig{fake: fake, agg: routerlog.NewAggregator(route, time.Hour, 0), route: route,
		clock: &clock{now: time.Unix(1_700_000_000, 0)}, gate: make(gate), t0: 1_700_000_000}
	s := &routerlog.Session{Agg: r.agg, Starter: heroku.New(fake.URL(), "tok"), App: "crates-io",
		Now: r.clock.Now, StallTimeout: stall, Backoff: r.gate.backoff}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		close(r.gate)
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		fake.Close()
	})
	return r
}

func (r *tailRig) counts(t *testing.T, from, to int64) []metrics.Point {
	t.Helper()
	s, err := r.agg.Counts(context.Background(), r.route.String(), time.Unix(from, 0), time.Unix(to, 0))
	if err != nil {
		t.Fatal(err)
	}
	return s.Points
}

// The reader asks for server-sent events and gets them; a stream that
// ends is reconnected to the same session URL, whose history (sent again
// from Last-Event-ID) is not counted twice; seconds between the streams
// are no data.
func TestLogSessionEndToEnd(t *testing.T) {
	r := startTail(t, time.Minute)
	t0 := r.t0
	waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io",
		rline(t0+1, "1.1.1.1", 302), rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 503),
		"this is not a router line", `2023-07-20T12:30:31Z heroku[router]: at=info path="/broken`,
		time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 17 messages since "+time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+".",
		rline(t0+4, "3.3.3.3", 302),
	)
	waitFor(t, "lines counted", func() bool { return r.agg.Stats().Matched == 4 })

	// The stream drops; seconds until the next one are no data.
	r.clock.At(t0 + 5)
	r.fake.EndLogStreams("crates-io")
	waitFor(t, "no stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 0 })
	// The session has seen the end (at t0+5) before the clock moves on:
	// else it may stamp the end later, and seconds 5..7 look listened to.
	waitFor(t, "the session saw the stream end", func() bool { return !r.agg.Connected() })
	r.clock.At(t0 + 8)
	r.gate <- struct{}{}
	waitFor(t, "a new stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+9, "1.1.1.1", 302))
	waitFor(t, "the line after reconnecting", func() bool { return r.agg.Stats().Matched == 5 })
	r.clock.At(t0 + 11)

	p := r.counts(t, t0+1, t0+10)
	if p[0].Requests != 2 || p[0].Repeats != 1 || p[1].Errors != 1 || p[2].OK || p[3].Requests != 1 {
		t.Fatalf("seconds 1..4: %+v", p[:4])
	}
	if timedRequests(p[0]) != 2 || timedRequests(p[1]) != 1 || p[2].Latency != nil || timedRequests(p[3]) != 1 {
		t.Fatalf("seconds 1..4: %+v, want every request's response time but where lines were lost", p[:4])
	}
	for sec := 5; sec <= 8; sec++ {
		if p[sec-1].OK {
			t.Errorf("second %d, between streams, has data: %+v", sec, p[sec-1])
		}
	}
	if !p[8].OK || p[8].Requests != 1 || p[8].Repeats != 1 {
		t.Fatalf("second 9: %+v (1.1.1.1 repeats after 8 s: should count)", p[8])
	}
	st := r.agg.Stats()
	if st.NotRouter != 1 || st.Malformed != 1 || st.Dropped != 17 {
		t.Fatalf("stats %+v", st)
	}
	sessions := r.fake.LogSessions("crates-io")
	if len(sessions) != 1 || sessions[0]["source"] != "heroku" || sessions[0]["dyno"] != "router" || sessions[0]["tail"] != true {
		t.Fatalf("log sessions %+v: want one tail session of the router, its URL reused", sessions)
	}
	if n := r.fake.LogStreamConnections("crates-io"); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// A logplex that answers plain lines whatever the client asks: the same
// story, and the history it sends again on reconnecting (no Last-Event-ID
// with plain lines) is skipped by its timestamps.
func TestLogSessionPlainLines(t *testing.T) {
	r := startTail(t, time.Minute, herokusim.WithPlainLogStreams())
	t0 := r.t0
	waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 503))
	waitFor(t, "lines counted", func() bool { return r.agg.Stats().Matched == 2 })
	r.clock.At(t0 + 3)
	r.fake.EndLogStreams("crates-io")
	waitFor(t, "no stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 0 })
	r.gate <- struct{}{}
	waitFor(t, "a new stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+4, "3.3.3.3", 302))
	// The history comes before the new line: once that is counted, so is
	// whatever the history did.
	waitFor(t, "the line after reconnecting", func() bool { return r.counts(t, t0+4, t0+5)[0].Requests == 1 })
	if st := r.agg.Stats(); st.Matched != 3 {
		t.Fatalf("stats %+v: the 2 lines sent again must not count twice", st)
	}
	if p := r.counts(t, t0+1, t0+3); p[0].Requests != 1 || p[1].Errors != 1 {
		t.Fatalf("seconds 1..2: %+v", p)
	}
}

// An expired session URL answers 404: the reader opens a new session.
func TestLogSessionExpired(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   []herokusim.Option
		expire func(*herokusim.Server)
	}{
		{"expired by the simulator", nil, func(f *herokusim.Server) { f.ExpireLogSessions("crates-io") }},
		// "about one hour after connecting", shortened: the stream ends
		// when the session does, and its URL is no good after.
		{"session lifetime over", []herokusim.Option{herokusim.WithLogSessionTTL(time.Minute, 300*time.Millisecond)}, func(*herokusim.Server) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startTail(t, time.Minute, tt.opts...)
			waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
			r.fake.EmitLog("crates-io", rline(r.t0+1, "1.1.1.1", 302))
			waitFor(t, "the first line", func() bool { return r.agg.Stats().Matched == 1 })
			tt.expire(r.fake)
			waitFor(t, "the stream's end", func() bool { return r.fake.OpenLogStreams("crates-io") == 0 })
			r.gate <- struct{}{} // reconnect to the old URL: 404
			r.gate <- struct{}{} // then a new session
			waitFor(t, "a stream of a new session", func() bool {
				return len(r.fake.LogSessions("crates-io")) == 2 && r.fake.OpenLogStreams("crates-io") == 1
			})
			r.fake.EmitLog("crates-io", rline(r.t0+2, "2.2.2.2", 302))
			waitFor(t, "the line of the new session", func() bool { return r.agg.Stats().Matched == 2 })
			if n := r.fake.LogStreamConnections("crates-io"); n != 2 {
				t.Fatalf("%d streams answered 200, want 2", n)
			}
		})
	}
}

// A stream that goes silent is taken for dead after the stall timeout and
// reconnected; the lines it missed come from the session's history; the
// seconds from its last line to the new stream are no data.
func TestLogSessionStalls(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []herokusim.Option
	}{{"events", nil}, {"plain lines", []herokusim.Option{herokusim.WithPlainLogStreams()}}} {
		t.Run(tt.name, func(t *testing.T) {
			r := startTail(t, 200*time.Millisecond, tt.opts...)
			t0 := r.t0
			waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
			r.clock.At(t0 + 2)
			r.fake.EmitLog("crates-io", rline(t0+1, "1.1.1.1", 302))
			waitFor(t, "the first line", func() bool { return r.agg.Stats().Matched == 1 })
			r.fake.StallLogStreams("crates-io")
			r.clock.At(t0 + 7)
			r.fake.EmitLog("crates-io", rline(t0+6, "2.2.2.2", 302)) // into the history only
			// The reader gives up on the silent stream and waits to
			// reconnect (the gate): the stalled stream is gone.
			waitFor(t, "the stalled stream dropped", func() bool { return r.fake.OpenLogStreams("crates-io") == 0 })
			r.clock.At(t0 + 8)
			r.gate <- struct{}{}
			waitFor(t, "the missed line, from the history", func() bool { return r.agg.Stats().Matched == 2 })
			r.fake.EmitLog("crates-io", rline(t0+9, "3.3.3.3", 302))
			waitFor(t, "a line on the new stream", func() bool { return r.agg.Stats().Matched == 3 })
			r.clock.At(t0 + 11)
			if len(r.fake.LogSessions("crates-io")) != 1 || r.fake.LogStreamConnections("crates-io") != 2 {
				t.Fatalf("sessions %d, connections %d: want the same URL reconnected", len(r.fake.LogSessions("crates-io")), r.fake.LogStreamConnections("crates-io"))
			}
			p := r.counts(t, t0+1, t0+10)
			if !p[0].OK || p[0].Requests != 1 {
				t.Fatalf("second 1: %+v", p[0])
			}
			for sec := 2; sec <= 8; sec++ {
				if p[sec-1].OK {
					t.Errorf("second %d, after the stream's last line and before the next stream, has data: %+v", sec, p[sec-1])
				}
			}
			if !p[8].OK || p[8].Requests != 1 {
				t.Fatalf("second 9: %+v", p[8])
			}
		})
	}
}

// A non-tail session sends the last lines and ends; the reader returns
// then, without reconnecting.
func TestReadRecent(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	t0 := int64(1_700_000_000)
	fake.EmitLog("crates-io", rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 302), rline(t0+3, "3.3.3.3", 503))
	route, _ := routerlog.ParseRoute("GET /api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	n, err := routerlog.ReadRecent(context.Background(), agg, heroku.New(fake.URL(), "tok"), "crates-io", 2, nil)
	if err != nil || n != 2 {
		t.Fatalf("ReadRecent = %d, %v; want the last 2 lines", n, err)
	}
	if st := agg.Stats(); st.Matched != 2 {
		t.Fatalf("stats %+v", st)
	}
	sessions := fake.LogSessions("crates-io")
	if len(sessions) != 1 || sessions[0]["tail"] != false || sessions[0]["lines"] != float64(2) || fake.LogStreamConnections("crates-io") != 1 {
		t.Fatalf("sessions %+v, %d connections: want one non-tail session read once", sessions, fake.LogStreamConnections("crates-io"))
	}
}

func TestDrainEndToEnd(t *testing.T) {
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	t0 := int64(1_700_000_000)
	drains, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{
		"crates-io": {Agg: agg, DrainCredentials: routerlog.DrainCredentials{User: "drain", Password: "pw"}},
	}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(drains)
	defer srv.Close()

	frame := func(s string) string { return fmt.Sprintf("%d %s", len(s)+1, s+"\n") }
	syslog := func(sec int64, client string, status int) string {
		return fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="%s" dyno=web.1 connect=1ms service=2ms status=%d bytes=1 protocol=https`,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), client, status)
	}
	batches := 0
	post := func(body, user, pass, ctype string, count int) int {
		req, _ := http.NewRequest("POST", srv.URL+"/drain/crates-io", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Logplex-Msg-Count", fmt.Sprint(count))
		batches++
		req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("f%d", batches)) // one a batch, as Logplex's
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := frame(syslog(t0, "1.1.1.1", 302)) + frame(syslog(t0, "1.1.1.1", 500)) + frame(syslog(t0+1, "2.2.2.2", 302)) +
		frame("<172>1 "+time.Unix(t0+2, 0).UTC().Format(time.RFC3339)+" host heroku logplex - Error L10 (output buffer overflow): 9 messages dropped since "+time.Unix(t0+2, 0).UTC().Format(time.RFC3339)+".")
	if code := post(body, "drain", "pw", "application/logplex-1", 4); code != http.StatusNoContent {
		t.Fatalf("good batch: %d", code)
	}
	if code := post(body, "drain", "wrong", "application/logplex-1", 4); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := post(body, "drain", "pw", "text/plain", 4); code != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong content type: %d", code)
	}
	// Garbage after a good frame: the good one counts, the rest is skipped,
	// and Logplex is not asked to send it again.
	if code := post(frame(syslog(t0+3, "3.3.3.3", 302))+"garbage that is no frame", "drain", "pw", "application/logplex-1", 2); code != http.StatusNoContent {
		t.Fatalf("garbage batch: %d", code)
	}
	s, _ := agg.Counts(context.Background(), route.String(), time.Unix(t0, 0), time.Unix(t0+4, 0))
	p := s.Points
	if p[0].Requests != 2 || p[0].Errors != 1 || p[0].Repeats != 1 || p[1].Requests != 1 || p[2].OK || p[3].Requests != 1 {
		t.Fatalf("counts %+v", p)
	}
	if !s.HasLatency || timedRequests(p[0]) != 2 || !within3ms(p[0].Latency.Quantile(0.5)) || timedRequests(p[1]) != 1 || p[2].Latency != nil || timedRequests(p[3]) != 1 {
		t.Fatalf("response times %+v (HasLatency %v): want each request's 3 ms but where lines were lost", p, s.HasLatency)
	}
	if st := agg.Stats(); st.Matched != 4 || st.Dropped != 9 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A stream that is open but behind (Logplex a few seconds late, or
// silent for less than the stall timeout) has not told of the seconds
// after its newest line: they are not known yet, never zero traffic; the
// lines that come late fill them in.
func TestLogSessionBehindIsNotZeroTraffic(t *testing.T) {
	r := startTail(t, time.Minute)
	t0 := r.t0
	waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 302), rline(t0+3, "3.3.3.3", 302))
	waitFor(t, "lines counted", func() bool { return r.agg.Stats().Matched == 3 })
	r.clock.At(t0 + 10) // the stream is still open, and has sent nothing since t0+3
	p := r.counts(t, t0+1, t0+10)
	for sec := 1; sec <= 3; sec++ {
		if !p[sec-1].OK || p[sec-1].Requests != 1 {
			t.Errorf("second %d: %+v, want its one request", sec, p[sec-1])
		}
	}
	for sec := 4; sec <= 9; sec++ {
		if p[sec-1].OK {
			t.Errorf("second %d, after the newest line the open stream sent: %+v, want no data yet", sec, p[sec-1])
		}
	}
	// The lines arrive late: their seconds are data, a quiet one zero
	// traffic.
	r.fake.EmitLog("crates-io", rline(t0+5, "5.5.5.5", 302), rline(t0+9, "9.9.9.9", 302))
	waitFor(t, "the late lines counted", func() bool { return r.agg.Stats().Matched == 5 })
	p = r.counts(t, t0+1, t0+10)
	for sec := 4; sec <= 9; sec++ {
		want := int64(0)
		if sec == 5 || sec == 9 {
			want = 1
		}
		if !p[sec-1].OK || p[sec-1].Requests != want {
			t.Errorf("second %d, once lines after it came: %+v, want %d requests", sec, p[sec-1], want)
		}
	}
}

// A stream that goes quiet and then ends (Logplex closes it 40 s after
// its last line, before the stall timeout) told nothing of the seconds
// after its newest line: they stay no data once it has ended, and the
// new stream's history (the last lines only) does not make them zero
// traffic either.
func TestLogSessionQuietThenEndedIsNoData(t *testing.T) {
	r := startTail(t, time.Minute)
	t0 := r.t0
	waitFor(t, "the first stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 302), rline(t0+3, "3.3.3.3", 302))
	waitFor(t, "lines counted", func() bool { return r.agg.Stats().Matched == 3 })
	r.clock.At(t0 + 40)
	r.fake.EndLogStreams("crates-io")
	waitFor(t, "the session saw the stream end", func() bool { return !r.agg.Connected() })
	r.clock.At(t0 + 41)
	r.gate <- struct{}{}
	waitFor(t, "a new stream", func() bool { return r.fake.OpenLogStreams("crates-io") == 1 })
	r.fake.EmitLog("crates-io", rline(t0+42, "4.4.4.4", 302))
	waitFor(t, "the line after reconnecting", func() bool { return r.agg.Stats().Matched == 4 })
	r.clock.At(t0 + 43)
	p := r.counts(t, t0+1, t0+43)
	for sec := 1; sec <= 3; sec++ {
		if !p[sec-1].OK || p[sec-1].Requests != 1 {
			t.Errorf("second %d: %+v, want its one request", sec, p[sec-1])
		}
	}
	for sec := 4; sec <= 41; sec++ {
		if p[sec-1].OK {
			t.Errorf("second %d, after the ended stream's newest line and before the next stream: %+v, want no data", sec, p[sec-1])
		}
	}
	if !p[41].OK || p[41].Requests != 1 {
		t.Errorf("second 42: %+v, want its one request", p[41])
	}
}
