package watcher

import (
	"slices"
	"time"
)

// Release discovery: push first, poll as the safety net. An app is polled
// fast (every PollInterval) while something is going on — a watch or a
// rollback open, a release pending (its release phase runs), a release
// just pushed (an API event in its log, a webhook) or promoted — and slow
// (IdleInterval; twice that when a push source tells of its releases)
// otherwise; every Config.SafetyNet (15 min) while the push source says
// it works, back to the idle interval at once when it breaks or a poll
// finds a release it did not tell of. Polls fall on the tick: the due
// check takes a poll that is due within half a tick as due, so a tick that
// comes a little early never pushes a poll to the tick after. When Heroku's rate-limit budget runs
// low, the polls that are due are taken by priority (rollbacks, then hot
// apps, then idle ones), the longest waiting first, and never into the
// reserve kept for rollbacks; the polls that follow a rollback (its release
// phase, its next round) are the rollback path's: they are neither slowed
// nor held back, and draw from the reserve (Watcher.allot).

// PollPriority orders the apps that are due when the budget cannot poll
// them all; lower first.
type PollPriority int

// The poll priorities.
const (
	PriorityRollback PollPriority = iota // a rollback's release phase runs, or a failed rollback waits for its next round
	PriorityHot                          // a watch open, a release pending, a release pushed or promoted lately
	PriorityIdle                         // nothing going on
)

func (p PollPriority) String() string {
	switch p {
	case PriorityRollback:
		return "rollback"
	case PriorityHot:
		return "hot"
	}
	return "idle"
}

// Budget is Heroku's rate-limit budget as the last answer said, and how
// much of it polls leave to rollbacks.
type Budget struct {
	Remaining int
	Known     bool // an answer said: before the first, polls are not held back
	Reserve   int  // requests only the rollback path may use
}

// Free is what polls may spend: the remaining budget above the reserve
// (a large number when unknown).
func (b Budget) Free() int {
	if !b.Known {
		return 1 << 30
	}
	return max(0, b.Remaining-b.Reserve)
}

// lowBudget is how much free budget is plenty: below it a hot app's fast
// polls slow down in proportion (at 90 free, ten times slower), up to the
// idle interval.
const lowBudget = 900

// PollPlan is what an app's next poll is decided from.
type PollPlan struct {
	Tick     time.Duration // the loop's tick: polls fall on it
	Fast     time.Duration // the poll interval of a hot app
	Idle     time.Duration // the poll interval of an idle app
	Priority PollPriority
	// Push: a push source tells of the app's releases (API events from a
	// log session or drain, webhooks); idle polls are only the safety net,
	// twice Idle apart.
	Push bool
	// SafetyNet, when longer, is the idle interval instead: the app's
	// push source is healthy (App.PushHealthy), and idle polls only catch
	// what it might miss.
	SafetyNet time.Duration
	// WasIdle: the poll that just happened was an idle one too. An app
	// that just went idle (or started) waits a jittered part of the idle
	// interval first, so that apps spread over it; then the whole interval,
	// so that it never costs more than one poll an interval and a release
	// is never found later than one interval after it was made.
	WasIdle bool
	Jitter  float64 // in [0, 1): how much of the interval the first idle wait leaves out
	Budget  Budget
}

// NextPollIn is how long after a poll the app's next poll is due: a whole
// number of ticks, at least one. It is the schedule, as a pure function.
func NextPollIn(p PollPlan) time.Duration {
	tick := max(p.Tick, time.Millisecond)
	idle := max(p.Idle, p.Fast)
	if p.Push && idle > p.Fast {
		idle *= 2
	}
	if p.Push && p.SafetyNet > idle {
		idle = p.SafetyNet
	}
	var d time.Duration
	switch {
	case p.Priority == PriorityRollback:
		// The rollback path's reads (its release phase, its next round):
		// never slowed by a low budget, they draw from the reserve.
		d = p.Fast
	case p.Priority < PriorityIdle:
		d = p.Fast
		if free := p.Budget.Free(); free < lowBudget {
			d = min(idle, max(p.Fast, p.Fast*lowBudget/time.Duration(max(free, 1))))
		}
	case p.WasIdle:
		d = idle
	default:
		d = time.Duration(float64(idle) * (1 - min(max(p.Jitter, 0), 1)))
	}
	n := (d + tick/2) / tick // to the nearest tick
	if n*tick > idle && idle >= tick {
		n = idle / tick // never past the interval: a release is found within it
	}
	return max(n, 1) * tick
}

// PollDue reports whether a poll due at next is due at a tick at now: a
// poll due within half a tick is (the tick's own time varies by the time
// the last one took; comparing exactly made a 5 s poll run every 10 s
// whenever a tick came a millisecond early). A zero next is due.
func PollDue(now, next time.Time, tick time.Duration) bool {
	return !now.Add(tick / 2).Before(next)
}

// PollCandidate is an app whose poll is due.
type PollCandidate struct {
	Priority PollPriority
	Due      time.Time // when its poll came due: the earlier, the longer it has waited
}

// Allot picks the due polls a tick may make within the budget: all of them
// when it allows, else as many as it has above the reserve, by priority
// and then the longest waiting first. It returns their indexes in c, in
// that order (a tick starts them in it).
func Allot(c []PollCandidate, b Budget) []int {
	order := make([]int, len(c))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		if c[i].Priority != c[j].Priority {
			return int(c[i].Priority - c[j].Priority)
		}
		return c[i].Due.Compare(c[j].Due)
	})
	return order[:min(len(order), b.Free())]
}
