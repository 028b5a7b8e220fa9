package watcher_test

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/watcher"
)

// A worker that starts on a token another worker or a person nearly spent
// (a restart after a busy hour, a deploy script's `heroku` calls) does not
// know the budget until Heroku's first answer: it polls one app first and
// the others as that answer allows. Before, its first tick polled all 100
// apps at once: 40 answers 429 and the pool at 0, the reserve kept for
// rollbacks spent before the worker knew there was one.
func TestStartOnANearlySpentTokenPollsOneAppFirst(t *testing.T) {
	f := newFleet(t, 100, false, nil, nil, herokusim.WithHerokuRateLimit())
	f.fake.SetRateBudget(60)
	f.run(t, 0, 0)
	c := f.fake.Counts()
	low, _ := f.fake.LowestBudget()
	t.Logf("first tick: %d requests, %d answered 429, pool low %d", c.Total, c.ByStatus[429], low)
	if c.ByStatus[429] != 0 || c.Total != 1 {
		t.Fatalf("first tick with 60 left of the pool: %d requests, %d answered 429 (want one poll, no 429)", c.Total, c.ByStatus[429])
	}
	// The refill (75 a minute) lets the others poll within minutes, and
	// polls never spend below what the first one left.
	f.run(t, 5*time.Second, 5*time.Minute)
	c = f.fake.Counts()
	low, _ = f.fake.LowestBudget()
	for _, app := range f.apps {
		if c.ByApp[app] == 0 {
			t.Fatalf("%s not polled within 5 min", app)
		}
	}
	if c.ByStatus[429] != 0 || low < 59 {
		t.Fatalf("%d answers 429, pool low %d (59 after the first poll; reserve %d)", c.ByStatus[429], low, watcher.DefaultReserve)
	}
}

// With the budget unknown and plenty left, every app is still polled at
// the first tick: the first answer says so before the others are sent.
func TestStartWithAFullPoolPollsEveryAppAtTheFirstTick(t *testing.T) {
	f := newFleet(t, 100, false, nil, nil, herokusim.WithHerokuRateLimit())
	f.run(t, 0, 0)
	c := f.fake.Counts()
	for _, app := range f.apps {
		if c.ByApp[app] != 1 {
			t.Fatalf("%s: %d requests at the first tick, want 1", app, c.ByApp[app])
		}
	}
}
