package watcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// DefaultReserve is how much of Heroku's rate-limit budget polls leave to
// the rollback path: a guarded rollback reads the release list and POSTs
// once (more on retries); a hundred covers a few at once.
const DefaultReserve = 100

const (
	// pushedHot is how long an app stays hot after a push (an API event
	// in its log, a webhook): the release it told of is listed at the next
	// poll; a pending one keeps the app hot on its own.
	pushedHot = time.Minute
	// promotedHot is how long after `relwatch promote` the target apps
	// stay hot: the promotion makes their releases within a few minutes.
	promotedHot = 10 * time.Minute
	// DefaultSafetyNet is between the idle polls of an app whose push
	// source is healthy: 4 polls an hour, and a release a broken source
	// missed is found within it.
	DefaultSafetyNet = 15 * time.Minute
	// pushDistrust is how long a push source that missed a release is not
	// trusted again.
	pushDistrust = time.Hour
)

// pollState is the watcher's part of release discovery: the nudges pushed
// since the last tick, the jitter, and whether polls are being deferred.
type pollState struct {
	mu     sync.Mutex
	nudged map[string]struct{}
	// holding: the apps this worker held at the last tick (nil: all, or
	// not known yet), for Nudge to hand the others' pushes over.
	holding map[string]bool

	// handed: the pushes handed over by other workers already taken, by
	// number, with the tick that took them (Tick's goroutine only).
	handed map[int64]time.Time
	seed   uint64

	// Touched by Tick's goroutine only.
	deferring bool
	lastTick  time.Time
	// The budget as Heroku last said it (seen) and since when that is
	// known to hold (seenAt): the last answer that changed it, or the
	// tick after which polls were answered.
	seen     int
	seenAt   time.Time
	polled   int    // polls allowed at the last tick
	estimate Budget // this tick's (schedule reads it)
	// The last answer came after heardAfter (the tick before it was
	// read) and was read at heardBy; toldBy is the heardBy of the last
	// told to the shared budget. budgetDown: the shared budget could not
	// be claimed from (said once). refused: the last claim left polls
	// refused, waiting in the shared budget before the other workers'.
	heardAfter, heardBy, toldBy time.Time
	budgetDown, refused         bool
}

// IdleEvery is how far apart the idle polls of one token's apps come, when
// polling them every idle takes needPerHour requests an hour: idle, or
// longer when that is more than Heroku's hourly refill less the reserve
// (the polls of every worker on the token share it, the longest waiting
// first).
func IdleEvery(idle time.Duration, needPerHour float64, reserve int) time.Duration {
	budget := float64(heroku.RateLimitRefillPerMinute*60 - reserve)
	if needPerHour <= budget {
		return idle
	}
	return time.Duration(float64(idle) * needPerHour / budget)
}

// herokuRefillPerSecond is Heroku's refill of a token's pool.
const herokuRefillPerSecond = heroku.RateLimitRefillPerMinute / 60.0

// budgetAt estimates the budget at now: what Heroku last said plus its
// refill since. Without it a worker that stopped polling at the reserve
// would never see the budget come back (only answers carry it).
func (p *pollState) budgetAt(remaining int, known bool, reserve int, now time.Time) Budget {
	if !known {
		p.estimate = Budget{Reserve: reserve}
		return p.estimate
	}
	switch {
	case remaining != p.seen || p.seenAt.IsZero():
		p.seen, p.seenAt = remaining, now // an answer since the last tick
		p.heardAfter, p.heardBy = p.lastTick, now
	case p.polled > 0:
		p.seenAt = p.lastTick // polls were answered after the last tick
		p.heardAfter, p.heardBy = p.lastTick, now
	}
	refill := int(herokuRefillPerSecond * now.Sub(p.seenAt).Seconds())
	p.estimate = Budget{Remaining: min(heroku.RateLimitPool, remaining+max(refill, 0)), Known: true, Reserve: reserve}
	return p.estimate
}

// tickSpacing is the spacing of the ticks, for the due check: the
// configured tick, or less when the caller ticks more often (a replay, a
// test).
func (p *pollState) tickSpacing(now time.Time, configured time.Duration) time.Duration {
	tick := configured
	if d := now.Sub(p.lastTick); !p.lastTick.IsZero() && d > 0 && d < tick {
		tick = d
	}
	return tick
}

func (p *pollState) init(seed uint64) {
	if seed == 0 {
		seed = 1
	}
	p.nudged = map[string]struct{}{}
	p.seed = seed
}

// jitter is the n-th jitter of app, in [0, 1): drawn from the seed, the
// app and n alone, so that the apps' schedules do not depend on the order
// their parallel ticks happen to run in.
func (p *pollState) jitter(app string, n uint64) float64 {
	h := fnv.New64a()
	h.Write([]byte(app))
	x := h.Sum64() ^ p.seed*0x9E3779B97F4A7C15 ^ n*0xBF58476D1CE4E5B9
	// splitmix64's finalizer spreads the bits.
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// Nudge tells the watcher that app may have a new release, or a release
// whose status changed: an API event in its log ("Release v42 created"), a
// webhook. The app is polled at the next tick, before idle apps, and fast
// for a minute after. It is safe to call from any goroutine; nudges
// between two ticks are one. An app this worker does not watch is
// ignored; one it watches and does not hold is ignored too, unless with
// Leases and Handoff: a push for an app another worker holds (Heroku
// delivers a webhook or a drain frame to any web dyno) is handed to that
// worker through the store at once, waiting at most handTimeout for it;
// the holder takes it at its next tick, as it would a push of its own.
func (w *Watcher) Nudge(app string) {
	w.polls.mu.Lock()
	hand := w.cfg.Handoff != nil && w.polls.holding != nil && !w.polls.holding[app] && w.watches(app)
	if !hand {
		w.polls.nudged[app] = struct{}{}
	}
	w.polls.mu.Unlock()
	if !hand {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handTimeout)
	defer cancel()
	if err := w.cfg.Handoff.HandNudge(ctx, app); err != nil {
		w.log.Warn("cannot hand a release push to the worker that holds the app: it finds the release by polling", "app", app, "err", err)
	}
}

// watches reports whether app is one of this worker's apps.
func (w *Watcher) watches(app string) bool {
	for _, a := range w.cfg.Apps {
		if a.Name == app {
			return true
		}
	}
	return false
}

// handTimeout bounds the store write that hands a push over; handWindow is
// how far back a tick reads the pushes handed (they are seconds old).
const (
	handTimeout = 2 * time.Second
	handWindow  = 30 * time.Second
)

// takeHanded marks due the apps held among the pushes other workers
// handed over since the last ticks (each once).
func (w *Watcher) takeHanded(ctx context.Context, now time.Time) {
	if w.cfg.Handoff == nil || w.cfg.Leases == nil {
		return
	}
	handed, err := w.cfg.Handoff.NudgesSince(ctx, now.Add(-handWindow))
	if err != nil {
		w.log.Debug("cannot read the release pushes other workers handed over", "err", err)
		return
	}
	p := &w.polls
	if p.handed == nil {
		p.handed = map[int64]time.Time{}
	}
	p.mu.Lock()
	for _, n := range handed {
		if _, seen := p.handed[n.ID]; seen {
			continue
		}
		p.handed[n.ID] = now
		if p.holding[n.App] { // this tick's (holdingNow)
			p.nudged[n.App] = struct{}{}
		}
	}
	p.mu.Unlock()
	for id, at := range p.handed {
		if now.Sub(at) > 2*handWindow {
			delete(p.handed, id)
		}
	}
}

// holdingNow records the apps this worker holds, for Nudge.
func (w *Watcher) holdingNow(apps []*appState) {
	if w.cfg.Leases == nil {
		return
	}
	m := make(map[string]bool, len(apps))
	for _, a := range apps {
		m[a.cfg.Name] = true
	}
	w.polls.mu.Lock()
	w.polls.holding = m
	w.polls.mu.Unlock()
}

// takeNudges makes the apps pushed since the last tick, and those a person
// just promoted to, due now and hot.
func (w *Watcher) takeNudges(apps []*appState, said map[string]store.OverrideRecord, now time.Time) {
	w.polls.mu.Lock()
	nudged := w.polls.nudged
	if len(nudged) > 0 {
		w.polls.nudged = map[string]struct{}{}
	}
	w.polls.mu.Unlock()
	for _, a := range apps {
		hot := time.Duration(0)
		if _, ok := nudged[a.cfg.Name]; ok {
			hot = pushedHot
			a.pushedAt = now
		}
		for _, r := range said[a.cfg.Name].Requests {
			switch r.Kind {
			case store.KindPromote:
				hot = promotedHot
			case store.KindRollback:
				// A person's rollback is of the release live when asked:
				// read the releases now, not a poll up to the idle
				// interval old (it would find the release asked about
				// "came after" the one it knows, and skip).
				a.nextPoll = time.Time{}
			}
		}
		if hot > 0 {
			a.nextPoll = time.Time{}
			if until := now.Add(hot); until.After(a.hotUntil) {
				a.hotUntil = until
			}
		}
	}
}

// priority is how urgently the app needs its releases read.
func (w *Watcher) priority(a *appState, now time.Time) PollPriority {
	switch {
	case a.pending != nil || now.Before(a.retryAt):
		return PriorityRollback
	case a.watch != nil || now.Before(a.hotUntil) || releasePending(a.releases):
		return PriorityHot
	}
	return PriorityIdle
}

// releasePending reports whether the newest release's phase still runs.
func releasePending(releases []heroku.Release) bool {
	return len(releases) > 0 && releases[0].Status == heroku.StatusPending
}

// allot decides which apps poll this tick (Allot) and returns the apps in
// the order their ticks start: rollbacks, then hot apps, then the rest.
// While no answer has told the budget yet (a worker's first tick), and
// scouting is allowed, it grants one poll only and returns that app as
// the scout: its answer says what is left (Ratelimit-Remaining), and the
// tick allots the other polls after it. Before, a worker started on a
// token another worker or a person had nearly spent polled every app at
// once, got 429s, and spent the reserve kept for rollbacks.
func (w *Watcher) allot(ctx context.Context, apps []*appState, now time.Time, scouting bool) ([]*appState, map[*appState]bool, *appState) {
	var due []*appState
	var cands []PollCandidate
	prio := make(map[*appState]PollPriority, len(apps))
	tick := w.polls.tickSpacing(now, w.cfg.Tick)
	remaining, known := w.cfg.Heroku.RateLimitRemaining()
	b := w.polls.budgetAt(remaining, known, w.cfg.Reserve, now)
	w.polls.lastTick = now
	for _, a := range apps {
		prio[a] = w.priority(a, now)
		if trusted := w.pushTrusted(a, now); a.pushTrusted && !trusted {
			// The push source broke: a release may have gone by unseen.
			a.pushTrusted = false
			if a.nextPoll.After(now) {
				w.log.Warn("the push source stopped: polling at once, then every idle interval", "app", a.cfg.Name)
				a.nextPoll = now
			}
		}
		if PollDue(now, a.nextPoll, tick) {
			due = append(due, a)
			cands = append(cands, PollCandidate{Priority: prio[a], Due: a.nextPoll})
		}
	}
	if w.cfg.Budget != nil {
		var idleDue []time.Time
		for _, c := range cands {
			if c.Priority == PriorityIdle {
				idleDue = append(idleDue, c.Due)
			}
		}
		slices.SortFunc(idleDue, time.Time.Compare)
		b = w.shared(ctx, b, len(cands), idleDue)
	}
	chosen := Allot(cands, b)
	if scouting && !b.Known && len(chosen) > 1 {
		scout := due[chosen[0]]
		w.polls.polled = 1
		rest := make([]*appState, 0, len(apps)-1)
		for _, a := range apps {
			if a != scout {
				rest = append(rest, a)
			}
		}
		return rest, map[*appState]bool{scout: true}, scout
	}
	mayPoll := make(map[*appState]bool, len(chosen))
	for _, i := range chosen {
		mayPoll[due[i]] = true
	}
	// A rollback's follow-up reads (its release phase, its next round)
	// are the rollback path's: the reserve is theirs too. Before, with
	// the budget at the reserve, "rolled back" waited a minute or more
	// for a poll Allot would not grant.
	if left := w.polls.estimate; !left.Known || left.Remaining > 0 {
		for i, c := range cands {
			if c.Priority == PriorityRollback {
				mayPoll[due[i]] = true
			}
		}
	}
	w.polls.polled = len(mayPoll)
	if deferred := len(due) - len(mayPoll); deferred > 0 && !w.polls.deferring {
		w.polls.deferring = true
		w.log.Warn("Heroku rate-limit budget is low: polls deferred, rollbacks and watches first, then the longest waiting",
			"remaining", b.Remaining, "reserve", b.Reserve, "deferred", deferred, "polled", len(mayPoll))
	} else if deferred == 0 && w.polls.deferring {
		w.polls.deferring = false
		w.log.Info("Heroku rate-limit budget allows every due poll again", "remaining", b.Remaining)
	}
	ordered := make([]*appState, 0, len(apps))
	for p := PriorityRollback; p <= PriorityIdle; p++ {
		for _, a := range apps {
			if prio[a] == p {
				ordered = append(ordered, a)
			}
		}
	}
	return ordered, mayPoll, nil
}

// shared claims want polls from the token's budget shared with the other
// workers, all but the idle ones (due at idleDue, the longest waiting
// first) for apps with something going on, telling it what Heroku last
// said to this one (own), and returns the budget Allot grants from: the
// polls granted above the reserve. When the store cannot be asked, the
// worker's own estimate is the budget (a store outage holds back no poll
// a worker alone would make).
func (w *Watcher) shared(ctx context.Context, own Budget, want int, idleDue []time.Time) Budget {
	p := &w.polls
	news := own.Known && p.heardBy.After(p.toldBy)
	if want == 0 && !news && !p.refused {
		return own // nothing to claim, nothing to tell, nothing waiting: no statement
	}
	g, err := w.cfg.Budget.ClaimPolls(ctx, store.PollClaim{Token: w.cfg.TokenDigest, Heard: p.seen,
		HeardAfter: p.heardAfter, HeardBy: p.heardBy, Known: news, Want: want, Urgent: want - len(idleDue),
		IdleDue: idleDue, Reserve: own.Reserve})
	if err == nil && news {
		p.toldBy = p.heardBy
	}
	if err != nil {
		if !p.budgetDown {
			w.log.Warn("cannot claim polls from the budget shared with the other workers: this worker's own estimate until the store answers", "err", err)
			p.budgetDown = true
		}
		return own
	}
	if p.budgetDown {
		w.log.Info("the budget shared with the other workers answers again")
		p.budgetDown = false
	}
	p.refused = g.Known && g.Granted < want
	if !g.Known {
		return own
	}
	// Allot takes what is free above the reserve: the polls granted. The
	// estimate the schedule slows down by is the shared one.
	p.estimate = Budget{Remaining: g.Remaining, Known: true, Reserve: own.Reserve}
	return Budget{Remaining: own.Reserve + g.Granted, Known: true, Reserve: own.Reserve}
}

// schedule sets the app's next poll after one that succeeded at now, from
// what the tick made of it.
func (w *Watcher) schedule(a *appState, now time.Time, log *slog.Logger) {
	prio := w.priority(a, now)
	b := a.estimate // the tick's, as it was when the app's tick began
	plan := PollPlan{
		Tick: w.cfg.Tick, Fast: w.cfg.PollInterval, Idle: w.cfg.IdleInterval,
		Priority: prio, Push: a.cfg.Push, WasIdle: a.idlePoll, Jitter: w.polls.jitter(a.cfg.Name, a.polls), Budget: b,
	}
	if a.pushTrusted = w.pushTrusted(a, now); a.pushTrusted {
		plan.SafetyNet = w.cfg.SafetyNet
	}
	d := NextPollIn(plan)
	if prio < PriorityIdle && d > w.cfg.PollInterval {
		log.Warn("Heroku rate-limit budget is low: polling less often", "remaining", b.Remaining, "reserve", b.Reserve, "next_poll_in", d)
	}
	a.idlePoll = prio == PriorityIdle
	a.nextPoll = now.Add(d)
	a.polls++
}

// releasesToRead is how many of the newest releases a poll reads.
const releasesToRead = 10

// poll polls the app's newest releases. It reports whether the poll
// succeeded (then the caller schedules the next one); a failed one
// schedules its own retry.
func (w *Watcher) poll(ctx context.Context, a *appState, now time.Time, log *slog.Logger) (bool, error) {
	releases, _, err := w.cfg.Heroku.ListReleases(ctx, a.cfg.Name, releasesToRead, true)
	if err != nil {
		if w.forbidden(ctx, a, err, now, log) {
			return false, nil
		}
		if heroku.IsUnauthorized(err) {
			return false, fmt.Errorf("%w: %w (check %s and the token's access to %s)", ErrFatal, err, cmp.Or(w.cfg.TokenEnv, "HEROKU_API_KEY"), a.cfg.Name)
		}
		if heroku.IsNotFound(err) {
			w.unknownApp(ctx, a, now, err, log)
			return false, nil
		}
		delay := w.cfg.PollInterval
		var ae *heroku.APIError
		if errors.As(err, &ae) && ae.Status == 429 {
			// Heroku's pool refills in a minute; a Retry-After past the
			// idle interval (a proxy's hour, a day) would leave the app
			// unpolled, its bad release unseen: at most the idle interval.
			delay = max(time.Minute, min(ae.RetryAfter, w.cfg.IdleInterval))
		}
		a.nextPoll = now.Add(delay)
		log.Warn("release poll failed", "err", err, "next_poll_in", delay)
		return false, nil
	}
	if a.unknown > 0 {
		log.Info("Heroku knows the app now: watching it", "after_polls", a.unknown)
		a.unknown = 0
	}
	if a.forbidden {
		log.Info("Heroku gives access to the app again")
		a.forbidden = false
	}
	if a.polled && a.cfg.Push && len(releases) > 0 && len(a.releases) > 0 && releases[0].Version > a.releases[0].Version &&
		(a.pushedAt.IsZero() || now.Sub(a.pushedAt) > pushedHot) {
		// A release no push told of: the source is silent, not the app.
		if a.pushMissedAt.IsZero() || now.Sub(a.pushMissedAt) >= pushDistrust {
			log.Warn("a poll found a release the push source did not tell of: polling every idle interval for an hour", "release", releases[0].Version)
		}
		a.pushMissedAt = now
	}
	a.polled = true
	a.releases = releases
	return true, nil
}

// pushTrusted reports whether the app's idle polls may be the safety net:
// its push source says it works and has not missed a release lately.
func (w *Watcher) pushTrusted(a *appState, now time.Time) bool {
	return a.cfg.Push && a.cfg.PushHealthy != nil && a.cfg.PushHealthy() &&
		(a.pushMissedAt.IsZero() || now.Sub(a.pushMissedAt) >= pushDistrust)
}

// unknownAppMaxDelay is how rarely, at most, an app Heroku does not know is
// asked about again.
const unknownAppMaxDelay = 10 * time.Minute

// unknownApp handles a 404 for the app's releases: an app Heroku does not
// know (a typo, a deleted app, a token whose account cannot see it) will
// not appear within the next poll. Ask ever less often (twice the wait
// each time, up to unknownAppMaxDelay), say so once, and record it as a
// decision so that `relwatch status` shows it.
func (w *Watcher) unknownApp(ctx context.Context, a *appState, now time.Time, err error, log *slog.Logger) {
	a.unknown++
	delay := min(unknownAppMaxDelay, w.cfg.PollInterval<<min(a.unknown, 16))
	a.nextPoll = now.Add(delay)
	if a.unknown > 1 {
		log.Debug("Heroku still does not know the app", "err", err, "next_poll_in", delay)
		return
	}
	why := fmt.Sprintf("Heroku does not know the app (%v): nothing of it is watched; check its name in the config, and that the token's account can see it (heroku apps:info -a %s); asking again less and less often, at least every %s",
		err, a.cfg.Name, unknownAppMaxDelay)
	log.Error("Heroku does not know the app: not watching it", "err", err, "next_poll_in", delay)
	if w.cfg.History != nil {
		if err := w.cfg.History.RecordDecision(ctx, store.DecisionRecord{App: a.cfg.Name, At: now, Action: "app.unknown", Reason: why}); err != nil {
			log.Error("cannot record the decision", "err", err)
		}
	}
}

// AnnounceRefused announces, once for each of this watcher's apps, that
// Heroku refuses its token (401), when err (its Tick's) says so: none of
// them is watched until a person sets one it accepts. The worker calls it
// when other tokens' apps keep it running (the log alone would leave these
// apps unguarded with nobody told); with one token, the worker stops. Not
// during a Tick.
func (w *Watcher) AnnounceRefused(ctx context.Context, err error, now time.Time) {
	var ae *heroku.APIError
	if !errors.Is(err, ErrFatal) || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		return
	}
	env := cmp.Or(w.cfg.TokenEnv, "HEROKU_API_KEY")
	for _, a := range w.idle(w.apps) { // a tick under way says it on its own
		if a.forbidden {
			continue
		}
		a.forbidden = true
		w.announce(ctx, notify.Event{Header: notify.Header{Kind: notify.Forbidden, At: now, App: a.cfg.Name}, Fact: notify.Denied{Err: ae.Error(), Token: env}}, w.log.With("app", a.cfg.Name))
	}
}

// forbiddenRetry is how long after a 403 an app is polled again.
const forbiddenRetry = time.Minute

// forbidden handles a 403 from Heroku for one app: that app's problem, not
// the worker's (a 401 is: the token is refused). It is announced once;
// the app is polled again after forbiddenRetry.
func (w *Watcher) forbidden(ctx context.Context, a *appState, err error, now time.Time, log *slog.Logger) bool {
	var ae *heroku.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		return false
	}
	a.nextPoll = now.Add(forbiddenRetry)
	if !a.forbidden {
		a.forbidden = true
		log.Error("Heroku refuses access to the app; the other apps are still watched", "err", err, "next_poll_in", forbiddenRetry)
		w.announce(ctx, notify.Event{Header: notify.Header{Kind: notify.Forbidden, At: now, App: a.cfg.Name}, Fact: notify.Denied{Err: err.Error()}}, log)
	}
	return true
}
