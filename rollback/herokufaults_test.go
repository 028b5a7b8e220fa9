package rollback_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// longToken is long enough for redaction to know it as a secret.
const longToken = "HRKU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

// answer is one spoiled exchange: what a misbehaving Heroku (or a proxy in
// front of it) does with a request that matches.
type answer struct {
	method string
	// status, header and body answer the request without passing it on
	// (when status is set and afterEffect is false).
	status int
	header http.Header
	body   string
	// afterEffect passes the request on (Heroku acts), then: with status,
	// answers it instead of Heroku's answer; with hang, holds it until the
	// client gives up (a timeout); with reset, drops the connection.
	afterEffect bool
	hang        bool
	reset       bool
}

// spoiler is a RoundTripper in front of the simulator that spoils the
// next matching exchanges, in order, and records when each request went.
type spoiler struct {
	next http.RoundTripper

	mu      sync.Mutex
	answers []answer
	sent    []sentAt
}

type sentAt struct {
	method string
	at     time.Time
}

func (s *spoiler) take(method string) (answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, sentAt{method, time.Now()})
	for i, a := range s.answers {
		if a.method == method {
			s.answers = append(s.answers[:i:i], s.answers[i+1:]...)
			return a, true
		}
	}
	return answer{}, false
}

func (s *spoiler) times(method string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, x := range s.sent {
		if x.method == method {
			out = append(out, x.at)
		}
	}
	return out
}

type resetErr struct{}

func (resetErr) Error() string {
	return "read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"
}

func (s *spoiler) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := s.take(req.Method)
	if !ok {
		return s.next.RoundTrip(req)
	}
	if a.afterEffect {
		resp, err := s.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case a.hang:
			<-req.Context().Done()
			return nil, req.Context().Err()
		case a.reset:
			return nil, resetErr{}
		}
	}
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Request: req, Header: h,
		Body: io.NopCloser(strings.NewReader(a.body)), ContentLength: int64(len(a.body))}, nil
}

func herokuJSON(id, msg string) (http.Header, string) {
	return http.Header{"Content-Type": {"application/json"}, "Request-Id": {"req-1"}, "Ratelimit-Remaining": {"4000"}},
		`{"id":"` + id + `","message":"` + msg + `"}`
}

func htmlPage(status int) (http.Header, string) {
	return http.Header{"Content-Type": {"text/html"}}, "<html><body><h1>" + http.StatusText(status) + "</h1></body></html>"
}

// spoiledSetup is setup with a long token, the spoiler in front of the
// simulator, and a logger into logs.
func spoiledSetup(t *testing.T, answers ...answer) (*herokusim.Server, *rollback.Roller, *spoiler, *bytes.Buffer) {
	t.Helper()
	f := herokusim.New(longToken)
	t.Cleanup(f.Close)
	now := time.Now()
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 40, Description: "Deploy a", CreatedAt: now.Add(-3 * time.Hour)})
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now.Add(-time.Minute)})
	sp := &spoiler{next: http.DefaultTransport, answers: answers}
	var logs bytes.Buffer
	r := &rollback.Roller{
		Heroku:  heroku.New(f.URL(), longToken, heroku.WithTimeout(300*time.Millisecond), heroku.WithTransport(sp)),
		Timeout: 5 * time.Second,
		Backoff: func() retry.Backoff { return retry.NewConstant(10 * time.Millisecond) },
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	}
	return f, r, sp, &logs
}

// Every way Heroku misbehaves on the rollback path ends in exactly one
// rollback release, with no token in what is logged.
func TestRollbackOnceWhateverHerokuAnswers(t *testing.T) {
	rl, rlBody := herokuJSON("rate_limit", "Your account reached the API rate limit")
	rl.Set("Ratelimit-Remaining", "0")
	e500, b500 := herokuJSON("internal_server_error", "oops")
	e503, b503 := herokuJSON("unavailable", "try again")
	h502, p502 := htmlPage(502)
	h503, p503 := htmlPage(503)
	tests := []struct {
		name      string
		answers   []answer
		posts     int
		recovered bool
	}{
		{"429 on the POST, Ratelimit-Remaining 0, no Retry-After", []answer{{method: "POST", status: 429, header: rl, body: rlBody}}, 2, false},
		{"500 on the POST, Heroku's JSON", []answer{{method: "POST", status: 500, header: e500, body: b500}}, 2, false},
		{"503 on the POST, Heroku's JSON", []answer{{method: "POST", status: 503, header: e503, body: b503}}, 2, false},
		{"502 on the POST, an HTML page", []answer{{method: "POST", status: 502, header: h502, body: p502}}, 2, false},
		{"503 on the POST, an HTML page", []answer{{method: "POST", status: 503, header: h503, body: p503}}, 2, false},
		{"502 HTML after Heroku made it", []answer{{method: "POST", afterEffect: true, status: 502, header: h502, body: p502}}, 1, true},
		{"503 JSON after Heroku made it", []answer{{method: "POST", afterEffect: true, status: 503, header: e503, body: b503}}, 1, true},
		{"a timeout after Heroku made it", []answer{{method: "POST", afterEffect: true, hang: true}}, 1, true},
		{"a reset after Heroku made it", []answer{{method: "POST", afterEffect: true, reset: true}}, 1, true},
		{"429 on the list first", []answer{{method: "GET", status: 429, header: rl, body: rlBody}}, 1, false},
		{"502 HTML on the list first", []answer{{method: "GET", status: 502, header: h502, body: p502}}, 1, false},
		{"a timeout on the list after a timeout after Heroku made it",
			[]answer{{method: "POST", afterEffect: true, hang: true}, {method: "GET"}, {method: "GET", afterEffect: true, hang: true}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r, sp, logs := spoiledSetup(t, tt.answers...)
			res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
			if res.Outcome != rollback.Done {
				t.Fatalf("outcome %s: %v %s", res.Outcome, res.Err, res.Reason)
			}
			if rbs := rollbacks(f); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
				t.Fatalf("rollback releases %+v: want exactly one, to v41", rbs)
			}
			if res.Attempts != tt.posts || len(sp.times("POST")) != tt.posts || res.Recovered != tt.recovered {
				t.Fatalf("attempts %d (POSTs sent %d), recovered %v; want %d, %v", res.Attempts, len(sp.times("POST")), res.Recovered, tt.posts, tt.recovered)
			}
			if strings.Contains(logs.String(), longToken) {
				t.Fatalf("the token is in the logs:\n%s", logs)
			}
		})
	}
}

// A rollback Heroku keeps refusing fails with an error that names the HTTP
// status and Heroku's error id, and never the token.
func TestRollbackFailureNamesStatusAndID(t *testing.T) {
	rl, rlBody := herokuJSON("rate_limit", "Your account reached the API rate limit "+longToken)
	rl.Set("Ratelimit-Remaining", "0")
	e503, b503 := herokuJSON("unavailable", "down")
	h502, p502 := htmlPage(502)
	ip, ipBody := herokuJSON("invalid_params", "Release cannot be rolled back to")
	many := func(a answer) []answer {
		out := make([]answer, 200)
		for i := range out {
			out[i] = a
		}
		return out
	}
	tests := []struct {
		name        string
		answers     []answer
		want        []string
		permanent   bool
		unconfirmed bool
	}{
		{"429 rate_limit", many(answer{method: "POST", status: 429, header: rl, body: rlBody}), []string{"429 rate_limit"}, false, false},
		{"503 unavailable", many(answer{method: "POST", status: 503, header: e503, body: b503}), []string{"503 unavailable"}, false, false},
		// A proxy's page says nothing of what Heroku did: the last POST's
		// answer was lost, and no look since could tell.
		{"502 HTML", many(answer{method: "POST", status: 502, header: h502, body: p502}), []string{"502", "not Heroku's error JSON", "Heroku may have made the rollback"}, false, true},
		{"422 invalid_params", many(answer{method: "POST", status: 422, header: ip, body: ipBody}), []string{"422 invalid_params"}, true, false},
		{"429 on every list", many(answer{method: "GET", status: 429, header: rl, body: rlBody}), []string{"429 rate_limit", "0 rollback request(s) sent"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r, _, logs := spoiledSetup(t, tt.answers...)
			r.Timeout = 400 * time.Millisecond
			res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
			if res.Outcome != rollback.Failed || res.Permanent != tt.permanent || res.Unconfirmed != tt.unconfirmed {
				t.Fatalf("result %+v: want failed, permanent %v, unconfirmed %v", res, tt.permanent, tt.unconfirmed)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Err.Error(), w) {
					t.Errorf("error %q does not say %q", res.Err, w)
				}
			}
			if strings.Contains(res.Err.Error(), longToken) || strings.Contains(logs.String(), longToken) {
				t.Fatalf("the token is in the error or the logs: %v\n%s", res.Err, logs)
			}
			if n := len(rollbacks(f)); n != 0 {
				t.Fatalf("%d rollback releases made", n)
			}
		})
	}
}

// A Retry-After on the release list read before the POST is honoured as
// on the POST: the roller does not look again sooner.
func TestRollbackHonoursRetryAfterOnTheList(t *testing.T) {
	rl, rlBody := herokuJSON("rate_limit", "Your account reached the API rate limit")
	rl.Set("Ratelimit-Remaining", "0")
	rl.Set("Retry-After", "1")
	f, r, sp, _ := spoiledSetup(t, answer{method: "GET", status: 429, header: rl, body: rlBody})
	res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
	if res.Outcome != rollback.Done || len(rollbacks(f)) != 1 {
		t.Fatalf("result %+v, %d rollbacks", res, len(rollbacks(f)))
	}
	gets := sp.times("GET")
	if len(gets) != 2 {
		t.Fatalf("%d list reads, want 2", len(gets))
	}
	if waited := gets[1].Sub(gets[0]); waited < time.Second {
		t.Fatalf("read the list again after %s, before the Retry-After of 1 s", waited)
	}
}

// A rollback release Heroku answers as failed already (its release phase
// ended before the answer) did not roll back: the bad release is still
// live. It was said done.
func TestARollbackAnsweredFailedIsNotDone(t *testing.T) {
	_, r := setupWith(t, []herokusim.Option{herokusim.WithFailingRollbackPhase()})
	g := &rollback.Guard{Roller: r}
	st := g.Run(context.Background(), store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: store.Automatic, Started: time.Now()},
		rollback.Request{App: "crates-io", Bad: 42}, nil, slog.New(slog.DiscardHandler))
	if st.Outcome != rollback.Failed || st.Created != 43 || !strings.Contains(st.Err, "its release phase failed; v42 is still live") {
		t.Fatalf("step %+v: want failed, v43's phase failed", st)
	}
}
