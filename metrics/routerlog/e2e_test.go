package routerlog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics/routerlog"
)

func rline(sec int64, client string, status int) string {
	return fmt.Sprintf(`%s heroku[router]: at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="%s" dyno=web.1 connect=1ms service=2ms status=%d bytes=1 protocol=https`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339), client, status)
}

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

func TestLogSessionEndToEnd(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddApp("crates-io")
	route, _ := routerlog.ParseRoute("GET /api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- routerlog.Tail(ctx, agg, heroku.New(fake.URL(), "tok"), "crates-io", nil, clock, slog.New(slog.DiscardHandler))
	}()
	t0 := now.Unix()
	waitFor(t, "the first stream", func() bool { return fake.OpenLogStreams("crates-io") == 1 })
	fake.EmitLog("crates-io",
		rline(t0+1, "1.1.1.1", 302), rline(t0+1, "1.1.1.1", 302), rline(t0+2, "2.2.2.2", 503),
		"this is not a router line", `2023-07-20T12:30:31Z heroku[router]: at=info path="/broken`,
		time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 17 messages since "+time.Unix(t0+3, 0).UTC().Format(time.RFC3339)+".",
		rline(t0+4, "3.3.3.3", 302),
	)
	waitFor(t, "lines counted", func() bool { return agg.Stats().Matched == 4 })

	// The stream drops; seconds until the next one are no data.
	setNow(time.Unix(t0+5, 0))
	fake.EndLogStreams("crates-io")
	waitFor(t, "no stream", func() bool { return fake.OpenLogStreams("crates-io") == 0 })
	// Tail waits at least 500 ms before it reconnects; the client sees the
	// end well within that.
	time.Sleep(100 * time.Millisecond)
	setNow(time.Unix(t0+8, 0))
	waitFor(t, "a new stream", func() bool { return fake.OpenLogStreams("crates-io") == 1 })
	fake.EmitLog("crates-io", rline(t0+9, "1.1.1.1", 302))
	waitFor(t, "the line after reconnecting", func() bool { return agg.Stats().Matched == 5 })
	setNow(time.Unix(t0+11, 0))
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Tail returned %v", err)
	}

	s, err := agg.Counts(context.Background(), route.String(), time.Unix(t0+1, 0), time.Unix(t0+10, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Points
	if p[0].Requests != 2 || p[0].Repeats != 1 || p[1].Errors != 1 || p[2].OK || p[3].Requests != 1 {
		t.Fatalf("seconds 1..4: %+v", p[:4])
	}
	for sec := 5; sec <= 8; sec++ {
		if p[sec-1].OK {
			t.Errorf("second %d, between streams, has data: %+v", sec, p[sec-1])
		}
	}
	if !p[8].OK || p[8].Requests != 1 || p[8].Repeats != 1 {
		t.Fatalf("second 9: %+v (1.1.1.1 repeats after 8 s: should count)", p[8])
	}
	st := agg.Stats()
	if st.NotRouter != 1 || st.Malformed != 1 || st.Dropped != 17 {
		t.Fatalf("stats %+v", st)
	}
	sessions := fake.LogSessions("crates-io")
	if len(sessions) < 2 || sessions[0]["source"] != "heroku" || sessions[0]["dyno"] != "router" || sessions[0]["tail"] != true {
		t.Fatalf("log sessions %+v", sessions)
	}
}

func TestDrainEndToEnd(t *testing.T) {
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	t0 := int64(1_700_000_000)
	drain := &routerlog.Drain{Agg: agg, User: "drain", Password: "pw"}
	srv := httptest.NewServer(drain)
	defer srv.Close()

	frame := func(s string) string { return fmt.Sprintf("%d %s", len(s)+1, s+"\n") }
	syslog := func(sec int64, client string, status int) string {
		return fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="%s" dyno=web.1 connect=1ms service=2ms status=%d bytes=1 protocol=https`,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), client, status)
	}
	post := func(body, user, pass, ctype string, count int) int {
		req, _ := http.NewRequest("POST", srv.URL+"/drain", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Logplex-Msg-Count", fmt.Sprint(count))
		req.Header.Set("Logplex-Frame-Id", "f1")
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
	if st := agg.Stats(); st.Matched != 4 || st.Dropped != 9 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}
