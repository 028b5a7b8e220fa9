package watcher_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/watcher"
)

// A release pushed (a webhook's nudge) while Heroku rate-limits the token
// (a poll met 429 with Ratelimit-Remaining 0): the nudge is not lost, no
// poll is spent on another 429 for it while the budget is below the
// reserve, and the release is watched once the budget is back above it.
func TestAReleasePushedWhileRateLimitedIsWatchedWhenTheBudgetAllows(t *testing.T) {
	// No refill on Heroku's side: the test gives the budget back itself.
	r := newRig(t, 0, time.Second, herokusim.WithRateLimit(herokusim.HerokuRateLimit, 0))
	r.w = rebuild(r, r.rec, func(c *watcher.Config) { c.Apps[0].Push = true })
	r.run(t, 1700, 1780)
	r.fake.SetRateBudget(0)
	r.now = t0.Add(1781 * time.Second)
	r.w.Nudge("crates-io") // a push of nothing new: its poll meets the 429
	r.run(t, 1781, 1799)
	before := r.fake.Counts().ByStatus[http.StatusTooManyRequests]
	if before == 0 {
		t.Fatal("no poll met the empty budget")
	}
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.now = t0.Add(1800 * time.Second)
	r.w.Nudge("crates-io")
	r.run(t, 1800, 1849)
	if _, ok := last(r, notify.WatchStarted); ok {
		t.Fatalf("v42 watched while the budget was below the reserve: %v", r.kinds())
	}
	r.fake.SetRateBudget(500)
	r.run(t, 1850, 2000)
	started, ok := last(r, notify.WatchStarted)
	if !ok || started.Release != 42 {
		t.Fatalf("v42 never watched: %v", r.kinds())
	}
	// The worker counts on Heroku's refill (75 a minute) from the 429: the
	// reserve (100) is back 80 s after it.
	if at := started.At.Sub(t0); at > 1870*time.Second {
		t.Fatalf("v42 watched from %s: want once the budget is back above the reserve", at)
	}
	if after := r.fake.Counts().ByStatus[http.StatusTooManyRequests]; after-before > 1 {
		t.Fatalf("%d more 429s after the push: polls were spent against an empty budget", after-before)
	}
}
