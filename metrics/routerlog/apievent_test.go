package routerlog_test

import (
	"context"
	"fmt"
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

// Lines as Heroku writes them (real logs; see herokusim/events.go), as a
// session sends them and as a drain frame carries them.
func TestParseAPIEvent(t *testing.T) {
	for _, tt := range []struct {
		line    string
		ok      bool
		kind    routerlog.APIEventKind
		version int
	}{
		{"2020-01-05T03:45:50.244579+00:00 app[api]: Release v24 created by user ana@example.com", true, routerlog.APIRelease, 24},
		{"2020-01-05T03:45:50.244579+00:00 app[api]: Deploy 399e1c85 by user ana@example.com", true, routerlog.APIDeploy, 0},
		{"2021-05-24T04:33:45.708633+00:00 app[api]: Running release v3 commands by user ana@example.com", true, routerlog.APIRelease, 3},
		{"2021-05-24T04:33:56.193673+00:00 app[api]: Release v3 command failed by user ana@example.com", true, routerlog.APIRelease, 3},
		{"2010-09-16T15:13:46Z app[api]: Rollback to v41 by user ana@example.com", true, routerlog.APIRollback, 41},
		{"2010-09-16T15:13:46Z app[api]: Promote crates-io-staging v118 by user ana@example.com", true, routerlog.APIPromote, 0},
		{"2010-09-16T15:13:46Z app[api]: Set FOO, BAR config vars by user ana@example.com", true, routerlog.APIConfig, 0},
		{"2010-09-16T15:13:46Z app[api]: Release v42 created by ana@example.com\r\n", true, routerlog.APIRelease, 42}, // the older "by EMAIL"
		{"2018-01-11T11:09:57.400453+00:00 app[api]: Starting process with command `bundle exec rake db:migrate` by user ana@example.com", true, routerlog.APIOther, 0},
		{"2020-05-30T15:20:45.000000+00:00 app[api]: Build succeeded", true, routerlog.APIOther, 0},
		{"<190>1 2020-01-05T03:45:50.244579+00:00 host app api - Release v24 created by user ana@example.com", true, routerlog.APIRelease, 24},
		{"<190>1 2020-01-05T03:45:50+00:00 d.0123-4567 app api - Rollback to v7 by user ana@example.com", true, routerlog.APIRollback, 7},
		// Not API events.
		{`2023-07-20T12:30:31Z heroku[router]: at=info method=GET path="/" status=200`, false, 0, 0},
		{"2023-07-20T12:30:31Z app[web.1]: Release v24 created by a log line of the app", false, 0, 0},
		{"2023-07-20T12:30:31Z app[api.1]: Release v24 created by an api process", false, 0, 0},
		{"2023-07-20T12:30:31Z heroku[api]: Release v24 created", false, 0, 0},
		{"<190>1 2020-01-05T03:45:50Z host app api.1 - Release v24 created", false, 0, 0},
		{"<158>1 2020-01-05T03:45:50Z host heroku router - at=info", false, 0, 0},
		{"<190>1 2020-01-05T03:45:50Z host app web.1 - quoting app api - Release v24 created", false, 0, 0},
		{"2020-01-05T03:45:50Z app[web.1]: app[api]: Release v24 created", false, 0, 0},
		{"yesterday app[api]: Release v24 created by user ana@example.com", false, 0, 0},
		{"app[api]: Release v24", false, 0, 0},
		{"", false, 0, 0},
	} {
		ev, ok := routerlog.ParseAPIEvent([]byte(tt.line))
		if ok != tt.ok || ev.Kind != tt.kind || ev.Version != tt.version {
			t.Errorf("%q: %+v %v, want kind %s v%d %v", tt.line, ev, ok, tt.kind, tt.version, tt.ok)
		}
		if ok && ev.Unix == 0 {
			t.Errorf("%q: no timestamp", tt.line)
		}
	}
	line := []byte("2020-01-05T03:45:50.244579+00:00 app[api]: Release v24 created by user ana@example.com")
	if n := testing.AllocsPerRun(100, func() { routerlog.ParseAPIEvent(line) }); n != 0 {
		t.Fatalf("ParseAPIEvent allocates %v times", n)
	}
}

func FuzzParseAPIEvent(f *testing.F) {
	for _, s := range []string{
		"2020-01-05T03:45:50.244579+00:00 app[api]: Release v24 created by user ana@example.com",
		"<190>1 2020-01-05T03:45:50+00:00 host app api - Rollback to v7 by user ana@example.com",
		"2010-09-16T15:13:46Z app[api]: Set FOO config vars by user x",
		`2023-07-20T12:30:31Z heroku[router]: at=info method=GET path="/" status=200`,
		"<190>1 ", "app[api]:", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok := routerlog.ParseAPIEvent(b)
		if !ok && ev != (routerlog.APIEvent{}) {
			t.Fatalf("not an event, but %+v", ev)
		}
		if ok && (ev.Version < 0 || ev.Kind > routerlog.APIConfig || (ev.Kind != routerlog.APIOther) != ev.MayRelease()) {
			t.Fatalf("event %+v", ev)
		}
	})
}

// events collects what an EventTail or a drain reports.
type events struct {
	mu  sync.Mutex
	got []routerlog.APIEvent
}

func (e *events) add(ev routerlog.APIEvent) { e.mu.Lock(); e.got = append(e.got, ev); e.mu.Unlock() }
func (e *events) kinds() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		s := ev.Kind.String()
		if ev.Version != 0 {
			s += fmt.Sprintf(" v%d", ev.Version)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// The API event tail asks for source app, dyno api, and reports each
// release event the simulator's API writes (a release added, a rollback
// made through the API), logplex's reports of lost lines, and nothing else;
// an expired session URL opens a new session, whose history does not
// report the same events again.
func TestEventTailEndToEnd(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	fake := herokusim.New("tok", herokusim.WithClock(func() time.Time { return now }))
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy old", CreatedAt: now.Add(-time.Hour)})
	// Written before the tail starts: not news.
	fake.EmitLog("crates-io", now.Add(-time.Minute).Format(time.RFC3339)+" app[api]: Release v40 created by user x@example.com")
	now = now.Add(time.Minute)
	var ev events
	g := make(gate)
	tail := &routerlog.EventTail{Starter: heroku.New(fake.URL(), "tok"), App: "crates-io", OnEvent: ev.add,
		Now: func() time.Time { return now }, Backoff: g.backoff}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tail.Run(ctx) }()
	defer func() {
		cancel()
		close(g)
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v", err)
		}
	}()
	waitFor(t, "the stream", func() bool { return fake.OpenLogStreams("crates-io") == 1 && tail.Connected() })
	if s := fake.LogSessions("crates-io"); len(s) != 1 || s[0]["source"] != "app" || s[0]["dyno"] != "api" || s[0]["tail"] != true {
		t.Fatalf("sessions %+v: want one tail of source app, dyno api", s)
	}
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy 3f1c2aa", CreatedAt: now})
	fake.EmitLog("crates-io",
		rline(now.Unix(), "1.1.1.1", 200),
		now.Format(time.RFC3339)+" app[api]: Scaled to web@2:Standard-1X by user x@example.com",
		now.Format(time.RFC3339)+" heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 4 messages since "+now.Format(time.RFC3339)+".")
	waitFor(t, "the events", func() bool { return tail.Events() == 3 })
	if got := ev.kinds(); got != "deploy, release v42, lines lost" {
		t.Fatalf("events %q", got)
	}
	// The session expires; a new one sends its history: nothing twice.
	now = now.Add(time.Second)
	fake.ExpireLogSessions("crates-io")
	g <- struct{}{} // back to the URL: 404
	g <- struct{}{} // a new session
	waitFor(t, "a new session", func() bool {
		return len(fake.LogSessions("crates-io")) == 2 && fake.OpenLogStreams("crates-io") == 1 && tail.Connected()
	})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", CreatedAt: now})
	waitFor(t, "the rollback's events", func() bool { return tail.Events() == 5 })
	if got := ev.kinds(); got != "deploy, release v42, lines lost, rollback v41, release v43" {
		t.Fatalf("events %q", got)
	}
}

// A drain gets every line of the app: its API events are reported, its
// router lines still counted.
func TestDrainReportsAPIEvents(t *testing.T) {
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	var ev events
	drains, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{
		"crates-io": {Agg: agg, DrainCredentials: routerlog.DrainCredentials{Token: "d.tok"}, OnAPIEvent: ev.add},
	}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(drains)
	defer srv.Close()
	frame := func(s string) string { return fmt.Sprintf("%d %s", len(s)+1, s+"\n") }
	ts := time.Unix(1_700_000_000, 0).UTC().Format(time.RFC3339)
	body := frame("<158>1 "+ts+` host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="1.1.1.1" dyno=web.1 connect=1ms service=2ms status=302 bytes=1`) +
		frame("<190>1 "+ts+" host app api - Deploy 3f1c2aa by user ana@example.com") +
		frame("<190>1 "+ts+" host app api - Release v42 created by user ana@example.com") +
		frame("<190>1 "+ts+" host app web.1 - Release v43 created, says the app") +
		frame("<190>1 "+ts+" host app api - Scaled to web@2:Standard-1X by user ana@example.com")
	req, _ := http.NewRequest("POST", srv.URL+"/drain/crates-io", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/logplex-1")
	req.Header.Set("Logplex-Drain-Token", "d.tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || ev.kinds() != "deploy, release v42" || agg.Stats().Matched != 1 {
		t.Fatalf("status %d, events %q, stats %+v", resp.StatusCode, ev.kinds(), agg.Stats())
	}
}
