package watcher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/relwatch/relwatch/watcher"
)

func TestNextPollIn(t *testing.T) {
	const s = time.Second
	plenty := watcher.Budget{Remaining: 4000, Known: true, Reserve: 100}
	base := watcher.PollPlan{Tick: 5 * s, Fast: 5 * s, Idle: 60 * s, Budget: plenty}
	with := func(f func(p *watcher.PollPlan)) watcher.PollPlan { p := base; f(&p); return p }
	for _, tt := range []struct {
		name string
		plan watcher.PollPlan
		want time.Duration
	}{
		{"hot: every tick", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot }), 5 * s},
		{"rollback: every tick", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityRollback }), 5 * s},
		{"hot, budget not known yet", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget = watcher.Budget{Reserve: 100} }), 5 * s},
		{"hot, 900 free: still every tick", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget.Remaining = 1000 }), 5 * s},
		{"hot, 450 free: twice as slow", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget.Remaining = 550 }), 10 * s},
		{"hot, 150 free: six times", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget.Remaining = 250 }), 30 * s},
		{"hot, down to the reserve: the idle interval", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget.Remaining = 100 }), 60 * s},
		{"hot, below it", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Budget.Remaining = 3 }), 60 * s},
		{"rollback, below the reserve: still every tick (the reserve is its)", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityRollback; p.Budget.Remaining = 3 }), 5 * s},
		{"idle after idle: the whole interval", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.WasIdle = true }), 60 * s},
		{"idle after idle, jitter only on the first wait", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.WasIdle = true; p.Jitter = 0.5 }), 60 * s},
		{"idle after idle, with a push source: twice", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.WasIdle = true; p.Push = true }), 120 * s},
		{"idle after idle, budget low: deferring is Allot's", with(func(p *watcher.PollPlan) {
			p.Priority = watcher.PriorityIdle
			p.WasIdle = true
			p.Budget.Remaining = 0
		}), 60 * s},
		{"just idle, no jitter", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle }), 60 * s},
		{"just idle, jitter 0.5", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.Jitter = 0.5 }), 30 * s},
		{"just idle, jitter 0.45: the nearest tick", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.Jitter = 0.45 }), 35 * s},
		{"just idle, jitter 0.99: one tick at least", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.Jitter = 0.99 }), 5 * s},
		{"just idle, push, jitter 0.5", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.Jitter = 0.5; p.Push = true }), 60 * s},
		{"no idle interval: every poll fast", with(func(p *watcher.PollPlan) {
			p.Priority = watcher.PriorityIdle
			p.WasIdle = true
			p.Idle = 0
			p.Push = true
		}), 5 * s},
		{"a 7 s tick: never past the interval", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.WasIdle = true; p.Tick = 7 * s }), 56 * s},
		{"a 7 s tick, hot: the nearest tick", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityHot; p.Tick = 7 * s }), 7 * s},
		{"a 1 s tick: exact", with(func(p *watcher.PollPlan) { p.Priority = watcher.PriorityIdle; p.Jitter = 0.33; p.Tick = s }), 40 * s},
	} {
		if got := watcher.NextPollIn(tt.plan); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPollDue(t *testing.T) {
	next := time.Date(2026, 11, 1, 12, 0, 5, 0, time.UTC)
	for _, tt := range []struct {
		now  time.Duration // from next
		tick time.Duration
		due  bool
	}{
		{0, 5 * time.Second, true},
		{-time.Millisecond, 5 * time.Second, true}, // the tick came a little early: the bug of the 8.3 s interval
		{-2400 * time.Millisecond, 5 * time.Second, true},
		{-2600 * time.Millisecond, 5 * time.Second, false},
		{-600 * time.Millisecond, time.Second, false},
		{time.Minute, 5 * time.Second, true},
	} {
		if got := watcher.PollDue(next.Add(tt.now), next, tt.tick); got != tt.due {
			t.Errorf("%s from due, tick %s: due %v, want %v", tt.now, tt.tick, got, tt.due)
		}
	}
	if !watcher.PollDue(next, time.Time{}, 5*time.Second) {
		t.Error("a zero next poll is due")
	}
}

func TestAllot(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := []watcher.PollCandidate{
		{Priority: watcher.PriorityIdle, Due: t0.Add(-10 * time.Second)},
		{Priority: watcher.PriorityHot, Due: t0},
		{Priority: watcher.PriorityIdle, Due: t0.Add(-90 * time.Second)}, // waited longest
		{Priority: watcher.PriorityRollback, Due: t0},
		{Priority: watcher.PriorityHot, Due: t0.Add(-5 * time.Second)},
	}
	for _, tt := range []struct {
		name   string
		budget watcher.Budget
		want   string
	}{
		{"not known yet: all", watcher.Budget{Reserve: 100}, "[3 4 1 2 0]"},
		{"plenty: all, rollbacks and watches first", watcher.Budget{Remaining: 4000, Known: true, Reserve: 100}, "[3 4 1 2 0]"},
		{"three above the reserve", watcher.Budget{Remaining: 103, Known: true, Reserve: 100}, "[3 4 1]"},
		{"four: the idle app that waited longest", watcher.Budget{Remaining: 104, Known: true, Reserve: 100}, "[3 4 1 2]"},
		{"down to the reserve: none", watcher.Budget{Remaining: 100, Known: true, Reserve: 100}, "[]"},
		{"below: none", watcher.Budget{Remaining: 0, Known: true, Reserve: 100}, "[]"},
	} {
		if got := fmt.Sprint(watcher.Allot(c, tt.budget)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// The idle interval a token's budget allows: Heroku refills 4,500 an hour,
// the reserve (100) stays the rollbacks'; 150 apps polled every minute
// need 9,000: every 9,000/4,400 minutes, 2 min 2.73 s. Within the budget,
// the idle interval itself.
func TestIdleEvery(t *testing.T) {
	for _, c := range []struct {
		need float64
		want time.Duration
	}{
		{150 * 60, 122727272727 * time.Nanosecond},
		{4400, time.Minute},
		{4401, 60013636363 * time.Nanosecond},
		{10, time.Minute},
	} {
		if got := watcher.IdleEvery(time.Minute, c.need, 100); got != c.want {
			t.Errorf("IdleEvery(1m, %.0f an hour, reserve 100) = %s, want %s", c.need, got, c.want)
		}
	}
}
