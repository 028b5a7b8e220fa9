package rollback_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/rollback"
)

const token = "tok"

// setup serves v40..v42 (v42 the bad one) and returns a Roller that talks
// to the fake over HTTP with the real client, retrying fast.
func setup(t *testing.T, extra ...herokusim.ReleaseSpec) (*herokusim.Server, *rollback.Roller) {
	t.Helper()
	return setupWith(t, nil, extra...)
}

// setupWith is setup on a simulator with opts.
func setupWith(t *testing.T, opts []herokusim.Option, extra ...herokusim.ReleaseSpec) (*herokusim.Server, *rollback.Roller) {
	t.Helper()
	f := herokusim.New(token, opts...)
	t.Cleanup(f.Close)
	now := time.Now()
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 40, Description: "Deploy a", CreatedAt: now.Add(-3 * time.Hour)})
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now.Add(-time.Minute)})
	for _, e := range extra {
		f.AddRelease("crates-io", e)
	}
	r := &rollback.Roller{
		Heroku:  heroku.New(f.URL(), token, heroku.WithTimeout(2*time.Second)),
		Timeout: 5 * time.Second,
		Backoff: func() retry.Backoff { return retry.NewConstant(10 * time.Millisecond) },
	}
	return f, r
}

func rollbacks(f *herokusim.Server) []herokusim.Release {
	var out []herokusim.Release
	for _, r := range f.Releases("crates-io") {
		if strings.HasPrefix(r.Description, "Rollback to") {
			out = append(out, r)
		}
	}
	return out
}

func TestRollbackOnce(t *testing.T) {
	tests := []struct {
		name      string
		fault     *herokusim.Fault
		recovered bool
		attempts  int
	}{
		{name: "clean"},
		{name: "503 on the POST", fault: &herokusim.Fault{Method: "POST", Status: 503, ID: "unavailable", Message: "try again"}, attempts: 2},
		{name: "answer lost after the rollback", fault: &herokusim.Fault{Method: "POST", DropAfterEffect: true}, recovered: true, attempts: 1},
		// A 2xx whose body is cut short or is no JSON is a lost answer too:
		// Heroku made the rollback, and the release list says so.
		{name: "201 cut short after the rollback", fault: &herokusim.Fault{Method: "POST", CutAfterEffect: true}, recovered: true, attempts: 1},
		{name: "201 that is no JSON after the rollback", fault: &herokusim.Fault{Method: "POST", MalformAfterEffect: true}, recovered: true, attempts: 1},
		{name: "list fails twice first", fault: &herokusim.Fault{Method: "GET", Status: 500, ID: "internal_server_error", Message: "oops", Times: 2}, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r := setup(t)
			if tt.fault != nil {
				f.InjectFault(*tt.fault)
			}
			res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
			if res.Outcome != rollback.Done {
				t.Fatalf("outcome %s: %v %s", res.Outcome, res.Err, res.Reason)
			}
			rbs := rollbacks(f)
			if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" || res.Target.Version != 41 || res.Created.Version != 43 {
				t.Fatalf("rollbacks %+v, result %+v: want exactly one, to v41, as v43", rbs, res)
			}
			want := tt.attempts
			if want == 0 {
				want = 1
			}
			if res.Attempts != want || res.Recovered != tt.recovered {
				t.Fatalf("attempts %d recovered %v, want %d %v", res.Attempts, res.Recovered, want, tt.recovered)
			}
		})
	}
}

// TestLostAnswerOfARollbackWhosePhaseFailedIsNotMadeAgain: Heroku makes
// the rollback, the POST's answer is lost, and the rollback release's phase
// fails at once. The next look finds that failed "Rollback to v41" made
// after the first: a failed round, said as the phase's failure, for the
// watcher's rounds to space and bound; not a second POST.
func TestLostAnswerOfARollbackWhosePhaseFailedIsNotMadeAgain(t *testing.T) {
	f, r := setupWith(t, []herokusim.Option{herokusim.WithFailingRollbackPhase()})
	f.InjectFault(herokusim.Fault{Method: "POST", DropAfterEffect: true})
	res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
	if rbs := rollbacks(f); len(rbs) != 1 || res.Attempts != 1 {
		t.Fatalf("%d rollback releases after %d POSTs, want 1 (Heroku made the first)", len(rbs), res.Attempts)
	}
	if res.Outcome != rollback.Failed || res.Permanent || !res.Recovered || res.Created.Version != 43 || res.Target.Version != 41 ||
		res.Err == nil || !strings.Contains(res.Err.Error(), "v43 (Rollback to v41) but its release phase failed; v42 is still live") {
		t.Fatalf("result %+v: want a failed round that may be tried again, v43's phase failed", res)
	}
	// A failed rollback to v41 listed before the first POST is an earlier
	// one: after a 503 (Heroku may have acted) it is passed over, as
	// ever, and the rollback made.
	f, r = setupWith(t, nil, herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", Status: heroku.StatusFailed})
	f.InjectFault(herokusim.Fault{Method: "POST", Status: 503, ID: "unavailable", Message: "try again"})
	if res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42}); res.Outcome != rollback.Done || res.Created.Version != 44 || res.Attempts != 2 {
		t.Fatalf("result %+v: want v44 made at the second POST", res)
	}
}

func TestRollbackSkipped(t *testing.T) {
	tests := []struct {
		name   string
		extra  []herokusim.ReleaseSpec
		bad    int
		reason string
	}{
		{"a person deployed since", []herokusim.ReleaseSpec{{Version: 43, Description: "Deploy fix"}}, 42, "v43 (Deploy fix, succeeded) came after it"},
		{"a person rolled back since", []herokusim.ReleaseSpec{{Version: 43, Description: "Rollback to v41"}}, 42, "v43 (Rollback to v41"},
		{"a deploy is in its release phase", []herokusim.ReleaseSpec{{Version: 43, Description: "Deploy fix", PendingFor: time.Hour}}, 42, "pending"},
		{"never a rollback of a rollback", []herokusim.ReleaseSpec{{Version: 43, Description: "Rollback to v41"}}, 43, "is itself a rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r := setup(t, tt.extra...)
			before := len(f.Releases("crates-io"))
			res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: tt.bad})
			if res.Outcome != rollback.Skipped || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("outcome %s reason %q err %v; want skipped with %q", res.Outcome, res.Reason, res.Err, tt.reason)
			}
			if n := len(f.Releases("crates-io")); n != before || res.Attempts != 0 {
				t.Fatalf("releases %d -> %d, attempts %d: a skipped rollback must not call Heroku", before, n, res.Attempts)
			}
		})
	}
}

func TestRollbackTargetSkipsFailedReleases(t *testing.T) {
	f, r := setup(t,
		herokusim.ReleaseSpec{Version: 43, Description: "Deploy broken", Status: "failed"},
		herokusim.ReleaseSpec{Version: 44, Description: "Deploy bad"},
	)
	res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 44})
	if res.Outcome != rollback.Done || res.Target.Version != 42 {
		t.Fatalf("outcome %s target v%d (%v): want v42, the newest earlier release that succeeded", res.Outcome, res.Target.Version, res.Err)
	}
	if rbs := rollbacks(f); len(rbs) != 1 || rbs[0].Description != "Rollback to v42" {
		t.Fatalf("rollbacks %+v", rbs)
	}
}

func TestRollbackFailsClearly(t *testing.T) {
	t.Run("401 stops at once", func(t *testing.T) {
		f, r := setup(t)
		r.Heroku = heroku.New(f.URL(), "wrong")
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
		if res.Outcome != rollback.Failed || !heroku.IsUnauthorized(res.Err) || !strings.Contains(res.Err.Error(), "401 unauthorized") {
			t.Fatalf("outcome %s err %v", res.Outcome, res.Err)
		}
	})
	t.Run("422 is not retried", func(t *testing.T) {
		f, r := setup(t)
		f.InjectFault(herokusim.Fault{Method: "POST", Status: 422, ID: "invalid_params", Message: "nope", Times: 5})
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
		if res.Outcome != rollback.Failed || res.Attempts != 1 || !res.Permanent || !strings.Contains(res.Err.Error(), "422 invalid_params") {
			t.Fatalf("outcome %s attempts %d err %v", res.Outcome, res.Attempts, res.Err)
		}
	})
	t.Run("a Heroku that keeps failing hits the deadline", func(t *testing.T) {
		f, r := setup(t)
		r.Timeout = 300 * time.Millisecond
		f.InjectFault(herokusim.Fault{Method: "POST", Status: 503, ID: "unavailable", Message: "down", Times: 1000})
		start := time.Now()
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
		if res.Outcome != rollback.Failed || res.Attempts < 2 {
			t.Fatalf("outcome %s attempts %d", res.Outcome, res.Attempts)
		}
		if !strings.Contains(res.Err.Error(), "attempt(s)") || !strings.Contains(res.Err.Error(), "503 unavailable") {
			t.Fatalf("error %q should count the attempts and name the last answer", res.Err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("took %s past a 300ms deadline", elapsed)
		}
		if n := len(rollbacks(f)); n != 0 {
			t.Fatalf("%d rollbacks made", n)
		}
	})
	t.Run("every look fails: the tries are counted, not 0", func(t *testing.T) {
		f, r := setup(t)
		r.Timeout = 300 * time.Millisecond
		f.InjectFault(herokusim.Fault{Method: "GET", Status: 500, ID: "internal_server_error", Message: "oops", Times: 1000})
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
		if res.Outcome != rollback.Failed || res.Attempts != 0 || res.Tries < 2 || res.Permanent {
			t.Fatalf("outcome %s, %d tries, %d requests sent", res.Outcome, res.Tries, res.Attempts)
		}
		if want := fmt.Sprintf("gave up after %d attempt(s), 0 rollback request(s) sent", res.Tries); !strings.Contains(res.Err.Error(), want) {
			t.Fatalf("error %q, want %q", res.Err, want)
		}
	})
	t.Run("a lost answer, then no look: Heroku may have made it", func(t *testing.T) {
		f, r := setup(t)
		r.Timeout = 300 * time.Millisecond
		f.InjectFault(herokusim.Fault{Method: "POST", DropAfterEffect: true})
		// Once the roller has acted, every read of the list fails.
		acting := func(heroku.Release) {
			f.InjectFault(herokusim.Fault{Method: "GET", Status: 503, ID: "unavailable", Message: "down", Times: 1000})
		}
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42, Acting: acting})
		if res.Outcome != rollback.Failed || !res.Unconfirmed || res.Attempts != 1 {
			t.Fatalf("outcome %s, unconfirmed %v, %d requests sent; want failed, unconfirmed, 1", res.Outcome, res.Unconfirmed, res.Attempts)
		}
		if !strings.Contains(res.Err.Error(), "Heroku may have made the rollback") {
			t.Fatalf("error %q does not say Heroku may have made it", res.Err)
		}
		if n := len(rollbacks(f)); n != 1 {
			t.Fatalf("%d rollbacks made, want the lost one", n)
		}
	})
	t.Run("Heroku's own error, then no look: not a rollback it may have made", func(t *testing.T) {
		f, r := setup(t)
		r.Timeout = 300 * time.Millisecond
		f.InjectFault(herokusim.Fault{Method: "POST", Status: 503, ID: "unavailable", Message: "down"})
		acting := func(heroku.Release) {
			f.InjectFault(herokusim.Fault{Method: "GET", Status: 503, ID: "unavailable", Message: "down", Times: 1000})
		}
		res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42, Acting: acting})
		if res.Outcome != rollback.Failed || res.Attempts != 1 {
			t.Fatalf("outcome %s, %d requests sent; want failed, 1", res.Outcome, res.Attempts)
		}
		if res.Unconfirmed || strings.Contains(res.Err.Error(), "may have made") {
			t.Fatalf("Heroku's own 503 said it did not act, yet: unconfirmed %v, %q", res.Unconfirmed, res.Err)
		}
	})
	t.Run("no earlier release succeeded", func(t *testing.T) {
		f := herokusim.New(token)
		defer f.Close()
		f.AddRelease("solo", herokusim.ReleaseSpec{Version: 1, Description: "Deploy a"})
		r := &rollback.Roller{Heroku: heroku.New(f.URL(), token)}
		res := r.Do(context.Background(), rollback.Request{App: "solo", Bad: 1})
		if res.Outcome != rollback.Failed || !strings.Contains(res.Err.Error(), "nothing to roll back to") {
			t.Fatalf("outcome %s err %v", res.Outcome, res.Err)
		}
	})
}

// slowDownOnce answers the first rollback POST itself: 503 with a
// Retry-After, as a proxy in front of Heroku might.
type slowDownOnce struct {
	next http.RoundTripper
	done bool
}

func (s *slowDownOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && !s.done {
		s.done = true
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Request: req,
			Header: http.Header{"Retry-After": {"1"}, "Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(`{"id":"unavailable","message":"try again in a second"}`))}, nil
	}
	return s.next.RoundTrip(req)
}

// A Retry-After is honoured on the rollback path (with the release list
// read again before the next try), and the rollback still happens once.
func TestRollbackHonoursRetryAfter(t *testing.T) {
	f, r := setup(t)
	r.Heroku = heroku.New(f.URL(), token, heroku.WithTimeout(2*time.Second), heroku.WithTransport(&slowDownOnce{next: http.DefaultTransport}))
	start := time.Now()
	res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42})
	if res.Outcome != rollback.Done || len(rollbacks(f)) != 1 || res.Attempts != 2 {
		t.Fatalf("result %+v, %d rollbacks", res, len(rollbacks(f)))
	}
	// A lower bound only: the wait can be longer, never shorter.
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("tried again after %s, before the Retry-After of 1 s", waited)
	}
}
