package herokusim_test

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// history reads a non-tail session with body's filter to its end.
func history(t *testing.T, sim *herokusim.Server, body string) []string {
	t.Helper()
	resp := stream(t, logSession(t, sim, body), "")
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// messages drops the timestamps.
func messages(lines []string) string {
	var out []string
	for _, l := range lines {
		_, m, _ := strings.Cut(l, " ")
		out = append(out, m)
	}
	return strings.Join(out, "\n")
}

// Heroku writes its API events into the app's log (source app, dyno api):
// a release created now, its release phase's end when it comes due on the
// clock, and a rollback made through the API; releases from before the
// simulator started are history the log no longer holds.
func TestAPIEventLines(t *testing.T) {
	sim, clock := seeded(t) // v1..v3 in the past, v4 pending for an hour
	const api = `{"source": "app", "dyno": "api", "tail": false, "lines": 100}`
	if got := history(t, sim, api); len(got) != 0 {
		t.Fatalf("lines of releases older than the simulator: %q", got)
	}
	now := clock.Now()
	sim.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 5, Description: "Deploy 3f1c2aa", User: "ana@example.com"})
	sim.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 6, Description: "Set FOO config vars", User: "ana@example.com", PendingFor: 30 * time.Second, CreatedAt: now.Add(10 * time.Second)})
	want := "app[api]: Deploy 3f1c2aa by user ana@example.com\napp[api]: Release v5 created by user ana@example.com"
	got := history(t, sim, api)
	if messages(got) != want || !strings.HasPrefix(got[0], now.UTC().Format("2006-01-02T15:04:05.000000+00:00 ")) {
		t.Fatalf("API lines:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	// v6 comes due at 10 s (its phase runs until 40 s); v4's phase ends
	// at 59 min.
	clock.Advance(15 * time.Second)
	sim.PublishEvents()
	clock.Advance(30 * time.Second)
	sim.PublishEvents()
	want += "\napp[api]: Set FOO config vars by user ana@example.com\napp[api]: Running release v6 commands by user ana@example.com" +
		"\napp[api]: Release v6 created by user ana@example.com"
	if got := messages(history(t, sim, api)); got != want {
		t.Fatalf("API lines:\n%s\nwant\n%s", got, want)
	}
	// A rollback through the API writes its lines when it is made: a tail
	// open then has them before any other call.
	tail := bufio.NewReader(stream(t, logSession(t, sim, `{"source": "app", "dyno": "api", "tail": true, "lines": 0}`), "").Body)
	for sim.OpenLogStreams("crates-io") != 1 {
		time.Sleep(time.Millisecond)
	}
	var rel struct{ ID string }
	decode(t, call(t, sim, "GET", "/apps/crates-io/releases/5", "", nil).body, &rel)
	if a := call(t, sim, "POST", "/apps/crates-io/releases", `{"release": "`+rel.ID+`"}`, nil); a.status != 201 {
		t.Fatalf("rollback: %d %s", a.status, a.body)
	}
	read := make(chan string, 1)
	go func() {
		var got []string
		for range 2 {
			l, err := tail.ReadString('\n')
			if err != nil {
				break
			}
			got = append(got, strings.TrimSpace(l))
		}
		read <- messages(got)
	}()
	select {
	case m := <-read:
		if m != "app[api]: Rollback to v5 by user "+herokusim.Account+"\napp[api]: Running release v7 commands by user "+herokusim.Account {
			t.Fatalf("rollback lines: %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rollback's lines never reached the tail")
	}
	// The router's session does not get them.
	sim.EmitLog("crates-io", now.UTC().Format(time.RFC3339)+" heroku[router]: at=info method=GET path=\"/\" status=200")
	if got := history(t, sim, `{"source": "heroku", "dyno": "router", "tail": false}`); len(got) != 1 || !strings.Contains(got[0], "heroku[router]") {
		t.Fatalf("router session: %q", got)
	}
}

// A session's filter is logplex's: source exactly, dyno exactly or as the
// prefix of "dyno.N"; history and tail alike.
func TestLogSessionFilters(t *testing.T) {
	sim, _ := seeded(t)
	sim.EmitLog("crates-io",
		"2026-11-01T12:00:00Z app[web.1]: hello",
		"2026-11-01T12:00:01Z app[web.2]: hello",
		"2026-11-01T12:00:02Z app[webhook.1]: not web",
		"2026-11-01T12:00:03Z heroku[web.1]: State changed from starting to up",
		"2026-11-01T12:00:04Z heroku[router]: at=info method=GET path=\"/\"",
		"2026-11-01T12:00:05Z heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since 2026-11-01T12:00:04Z.",
		"an odd line",
	)
	for _, tt := range []struct{ body, want string }{
		{`{"dyno": "web"}`, "app[web.1]: hello\napp[web.2]: hello\nheroku[web.1]: State changed from starting to up\nheroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since 2026-11-01T12:00:04Z.\nodd line"},
		{`{"source": "app", "dyno": "web"}`, "app[web.1]: hello\napp[web.2]: hello\nheroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since 2026-11-01T12:00:04Z.\nodd line"},
		{`{"source": "heroku", "dyno": "router", "lines": 1}`, "odd line"},
		{`{"source": "heroku", "dyno": "router", "lines": 3}`, "heroku[router]: at=info method=GET path=\"/\"\nheroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since 2026-11-01T12:00:04Z.\nodd line"},
		{`{"dyno": "web.2"}`, "app[web.2]: hello\nheroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 3 messages since 2026-11-01T12:00:04Z.\nodd line"},
	} {
		if got := messages(history(t, sim, tt.body)); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.body, got, tt.want)
		}
	}
	// A tail gets only what its filter takes.
	url := logSession(t, sim, `{"source": "app", "dyno": "api", "tail": true, "lines": 0}`)
	r := bufio.NewReader(stream(t, url, "").Body)
	for sim.OpenLogStreams("crates-io") != 1 {
		time.Sleep(time.Millisecond)
	}
	sim.EmitLog("crates-io", "2026-11-01T12:00:06Z app[web.1]: not for the api tail", "2026-11-01T12:00:07Z app[api]: Deploy abc by user x@example.com")
	if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "app[api]: Deploy abc") {
		t.Fatalf("api tail read %q, %v", line, err)
	}
}

// The rate limit is Heroku's: a pool of 4500 refilled continuously at 75 a
// minute; every call spends one, a 304 too; a refused call spends none;
// Ratelimit-Remaining on every answer; no Retry-After.
func TestHerokuRateLimit(t *testing.T) {
	sim, clock := seeded(t, herokusim.WithHerokuRateLimit())
	var etag string
	for i := 1; i <= herokusim.HerokuRateLimit; i++ {
		a := call(t, sim, "GET", "/apps/crates-io/releases", "", map[string]string{"If-None-Match": etag})
		if a.status != 200 && a.status != 304 {
			t.Fatalf("call %d: %d", i, a.status)
		}
		if got := a.header.Get("Ratelimit-Remaining"); got != itoa(herokusim.HerokuRateLimit-i) {
			t.Fatalf("call %d: Ratelimit-Remaining %s", i, got)
		}
		etag = a.header.Get("ETag")
	}
	c := sim.Counts()
	if c.ByStatus[304] != herokusim.HerokuRateLimit-1 || c.ByApp["crates-io"] != herokusim.HerokuRateLimit {
		t.Fatalf("counts %+v: every poll after the first a 304", c)
	}
	for range 3 {
		a := call(t, sim, "GET", "/apps/crates-io", "", nil)
		if a.status != 429 || a.header.Get("Ratelimit-Remaining") != "0" || a.header.Get("Retry-After") != "" {
			t.Fatalf("empty pool: %d, remaining %q, Retry-After %q", a.status, a.header.Get("Ratelimit-Remaining"), a.header.Get("Retry-After"))
		}
	}
	// 75 a minute: 0.8 s a token. The refused calls took none.
	clock.Advance(8 * time.Second)
	for i := 1; i <= 10; i++ {
		if a := call(t, sim, "GET", "/account", "", nil); a.status != 200 || a.header.Get("Ratelimit-Remaining") != itoa(10-i) {
			t.Fatalf("after 8 s, call %d: %d, remaining %s", i, a.status, a.header.Get("Ratelimit-Remaining"))
		}
	}
	if a := call(t, sim, "GET", "/account", "", nil); a.status != 429 {
		t.Fatalf("the 11th call 8 s after the pool ran dry: %d", a.status)
	}
	// Never more than the pool holds.
	clock.Advance(3 * time.Hour)
	if a := call(t, sim, "GET", "/account", "", nil); a.header.Get("Ratelimit-Remaining") != itoa(herokusim.HerokuRateLimit-1) {
		t.Fatalf("after 3 h: remaining %s", a.header.Get("Ratelimit-Remaining"))
	}
	if c := sim.Counts(); c.ByStatus[429] != 4 || c.Total != herokusim.HerokuRateLimit+3+10+1+1 {
		t.Fatalf("counts %+v", c)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
