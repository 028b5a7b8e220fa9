// Package watcher is relwatch's watch loop. Each Tick it polls every app's
// releases, opens a watch when a release goes live, judges the watched
// release's traffic against its baseline, and rolls back when the evidence
// is clear. The loop never sleeps: `relwatch watch` calls Tick from a
// ticker on the wall clock, `relwatch replay` on a virtual clock.
//
// Where things are: the loop (Tick, tickApp) and a watch's opening in
// watcher.go; the pure rules (PlanWatch, Decide) in decide.go; polling and
// its budget in discovery.go and schedule.go; the judgement of a watch and
// where its fault began in judge.go, every route in routes.go; every
// rollback, and announce, the one way the watcher speaks, in rollback.go;
// what is kept and read back in state.go, record.go and history.go; a
// store outage in outage.go.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// Heroku is what the watcher reads from the Platform API.
type Heroku interface {
	ListReleases(ctx context.Context, app string, max int, conditional bool) ([]heroku.Release, bool, error)
	RateLimitRemaining() (int, bool)
}

// Roller carries out a guarded rollback.
type Roller interface {
	Do(ctx context.Context, req rollback.Request) rollback.Result
}

// Policy is how an app's releases are watched and judged.
type Policy struct {
	WatchFor     time.Duration // how long a release is watched
	Baseline     time.Duration // how much traffic before the release is the baseline
	RestartGrace time.Duration // after going live, how long dyno-restart errors are expected
	SettleGrace  time.Duration // after going live, how long before the rate and repeat share are judged
	AutoRollback bool          // false: announce, never roll back
	Thresholds   analysis.Thresholds
}

// DefaultPolicy is the policy config.toml documents as the default.
func DefaultPolicy() Policy {
	return Policy{
		WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute,
		RestartGrace: 45 * time.Second, SettleGrace: 10 * time.Second,
		AutoRollback: true, Thresholds: analysis.DefaultThresholds(),
	}
}

// ProbeLog holds the results of an app's synthetic download checks.
type ProbeLog interface {
	Results(from, to time.Time) []analysis.ProbeResult
}

// App is one watched Heroku app.
type App struct {
	Name  string
	Route string // the leading guarded route, as the source names it
	// Routes are every route guarded, Route first (nil: Route alone). Each
	// has its own baseline; the tests across them are corrected for their
	// number (analysis.ZFor), so more routes are no more false rollbacks.
	Routes []string
	// AllRoutes > 0 also guards every route the Source lists (a
	// metrics.RouteLister), busiest first, at most AllRoutes in all.
	AllRoutes int
	// Control is the app's other traffic, as the source names it ("":
	// none): a collapse it shares is lost data, not the release.
	Control string
	Policy
	Source metrics.Source
	Probe  ProbeLog // optional
	// Push: something tells the watcher of the app's releases (Nudge: API
	// events from its log session or drain, webhooks), so its idle polls
	// are only a safety net, twice IdleInterval apart.
	Push bool
	// PushHealthy, when set, reports whether the push source works now (its
	// log session is connected, its drain's frames arrive): then the idle
	// polls are Config.SafetyNet apart. Nil: the source cannot say (webhooks
	// arrive only with releases), and the polls stay twice IdleInterval.
	PushHealthy func() bool
}

// Config is the watcher's wiring.
type Config struct {
	Apps     []App
	Heroku   Heroku
	Roller   Roller
	Notifier notify.Notifier
	Logger   *slog.Logger
	// PollInterval is between the release polls of an app with something
	// going on: a watch or rollback open, a release pending, a release
	// pushed or promoted lately (default 5 s; longer when the rate-limit
	// budget runs low). IdleInterval is between the polls of an app with
	// nothing going on (default PollInterval; twice it for an app with
	// Push). Polls fall on Tick, the loop's tick (default PollInterval).
	PollInterval time.Duration
	IdleInterval time.Duration
	Tick         time.Duration
	// SafetyNet is between the idle polls of an app whose push source is
	// healthy (App.PushHealthy; default DefaultSafetyNet). When the source
	// breaks, or a poll finds a release it did not tell of, the app is
	// polled at once and every idle interval again.
	SafetyNet time.Duration
	// Reserve is how much of Heroku's rate-limit budget polls leave to the
	// rollback path (default 100): a rollback never waits behind polls.
	Reserve int
	// Seed seeds the jitter that spreads the apps' idle polls (0: 1).
	Seed uint64
	// What this mode has of the state store (see HistoryStore and the
	// others); nil keeps nothing.
	History    HistoryStore
	Journal    rollback.Journal
	Overrides  OverrideStore
	Quarantine QuarantineStore
	// Leases, when set, says which apps this worker may act on (several
	// workers share the apps); nil means all.
	Leases Leases
	// Budget, when set, is the Heroku token's budget shared with the other
	// workers on it (TokenDigest names the token there, never itself):
	// polls are claimed from it, so that the workers together keep the
	// reserve. nil: this worker's own estimate from Heroku's answers.
	Budget      SharedBudget
	TokenDigest string
	// TickWait, when set, is how long (on the wall) a Tick waits for its
	// apps: an app whose tick takes longer (a rollback against a slow
	// Heroku, a slow metrics source) goes on while Tick returns, and the
	// next Ticks leave it out until it ends, so that the other apps are
	// judged and rolled back every tick as before. 0: a Tick waits for
	// every app (a replay on a virtual clock).
	TickWait time.Duration
	// TokenEnv is the environment variable the token came from (default
	// HEROKU_API_KEY), named when Heroku refuses it.
	TokenEnv string
	// Handoff, with Leases, carries the release pushes that reach this
	// worker for an app another holds to that worker (the store).
	Handoff Handoff
	// StoreTimeout bounds each call to the stores above and to the
	// journal (default store.CallTimeout): one that takes longer is the
	// store not answering. The journal's calls are the guard's, given
	// the same bound.
	StoreTimeout time.Duration
}

// Watch is one release under watch.
type Watch struct {
	App          string
	Release      heroku.Release
	FirstVersion int // the first release of a run of replacements
	// BaselineFrom and BaselineTo bound where the baseline is looked for:
	// it is the most recent usable data in there (Baseline says which).
	BaselineFrom time.Time
	BaselineTo   time.Time
	LiveAt       time.Time
	Until        time.Time
	Baseline     *analysis.Baseline
	// Exclude is what the baseline leaves out: restart blips of earlier
	// releases, and the time releases judged anomalous were live.
	Exclude    []analysis.Interval
	Anomalous  bool
	RolledBack bool
	// Judged is true once a tick found the release healthy on all its
	// signals.
	Judged bool
	Last   Evidence
	State  string // watching, or how the watch ended
	// Quarantined is the release this slug was rolled back from before:
	// the watch gives it no benefit of the doubt.
	Quarantined int
	// LeftOut are the incidents the baseline leaves out (analysis.Incidents):
	// stretches far off the app's normal, not tied to a judged release.
	LeftOut []analysis.Interval
	// Origin is where the fault began, found when the watch is first
	// judged bad (faultOrigin): no release live since then, nor one of its
	// build, is a rollback target.
	Origin origin
	// ApprovedBy is the person whose approval ended the watch healthy.
	ApprovedBy string
	// earlyApprovalSaid: an approval given before the release was made was
	// not taken, and the log said so (once a watch, not every tick).
	earlyApprovalSaid bool
	// Joined: the release went live before this worker started (a first
	// start, or a restart that found no stored watch). Its watch acts on
	// its own only against a baseline from before it (mayAct).
	Joined bool
	// baseTail is the end of the baseline, and sinceLive the traffic since
	// the release went live, for the sparklines in announcements.
	baseTail  []metrics.Point
	sinceLive []metrics.Point
	// repeats says the source counts repeats, so the trend has a repeat
	// share (the signal the crates.io fault shows in).
	repeats bool
	// latency says the source gives response times: the trend has their
	// quantiles.
	latency bool
	// routes are the other guarded routes' own baselines and traffic
	// (routeWatch), by route.
	routes map[string]*routeWatch
	// before is, per route, the minute before the release the fault began
	// under was made, read once an error share is first found anomalous
	// (predated).
	before map[string]*beforeRun
	// predated is the first error share the watch did not blame on the
	// release because it had risen before (GapBeforeRelease): its ending
	// says so.
	predated *analysis.Finding
	// unreadSince is when the evidence last began to fail (zero: it
	// reads), and saidBlind whether watch.blind was announced.
	unreadSince time.Time
	saidBlind   bool
	// stored is when the watch was last stored while it is under way, and
	// storedVerdict the verdict of each signal then: `relwatch status`
	// reads the signals from there (refresh).
	stored        time.Time
	storedVerdict []signalStatus
}

type appState struct {
	cfg      App
	restored bool // the stored state was read (after start, or a new lease)
	releases []heroku.Release
	polled   bool
	nextPoll time.Time
	// estimate is the budget estimated by the tick the app's tick began
	// in (schedule reads it: the next Tick's may be under way).
	estimate Budget
	// idlePoll: the last poll was scheduled as an idle one (schedule.go);
	// polls counts the polls scheduled, for the jitter.
	idlePoll bool
	polls    uint64
	// hotUntil: a release was pushed or promoted; polls are fast until then.
	hotUntil time.Time
	// pushedAt is the last push (a nudge); pushMissedAt when a poll found a
	// release no push told of; pushTrusted whether the last tick polled
	// the app on the safety net.
	pushedAt, pushMissedAt time.Time
	pushTrusted            bool
	lastSeen               int
	watch                  *Watch
	// pending is a rollback release Heroku created whose release phase has
	// not finished yet.
	pending *pendingRollback
	// forbidden: Heroku answered 403 for the app (announced once).
	forbidden bool
	// unknown counts the polls in a row Heroku answered 404: it does not
	// know the app.
	unknown int
	// history is what the watches of earlier releases concluded.
	history map[int]verdictOf
	// carried are the requests carried out whose completion the store has
	// not taken yet (it refuses writes): not carried out again meanwhile.
	carried map[int64]bool
	// pause is the pause in force at the last tick (nil: none), to tell
	// one that ran out (pauseRanOut).
	pause *store.Pause
	// persons are the rollbacks people asked for that the journal had
	// when the app was restored: a request whose rollback a stopped
	// worker made, before it could write the request done, is one of them.
	persons []store.JournalEntry
	rollbackState

	// Guarded by Watcher.busyMu: busy, the app's tick is under way (one
	// Tick may return before it ends: Config.TickWait); shown, its watch
	// as it was when that tick began (Watches reads it meanwhile); err,
	// what its last tick returned, not yet returned by a Tick; reset, the
	// app's state is to be forgotten when its tick ends (its lease went).
	busy  bool
	shown *Watch
	err   error
	reset bool
}

// Watcher runs the loop. Create it with New.
type Watcher struct {
	cfg  Config
	apps []*appState
	log  *slog.Logger

	polls pollState // schedule.go: nudges, jitter, deferred polls
	// guard makes the rollbacks, journaled, exactly once across workers.
	guard *rollback.Guard

	// lastHeld: the apps the last Hold that answered gave this worker;
	// said: the overrides read last; outage: the store is not answering
	// (outage.go).
	lastHeld []*appState
	said     map[string]store.OverrideRecord
	outage   outage
	later    later
	// started is this worker's first tick: a release live before it was
	// joined, not seen going live.
	started time.Time

	// busyMu guards the apps' busy, shown, err and reset; running counts
	// the app ticks under way (Settle).
	busyMu  sync.Mutex
	running sync.WaitGroup
}

// ErrFatal marks errors that stop the watcher: it cannot go on (a token
// Heroku refuses).
var ErrFatal = errors.New("fatal")

// New returns a Watcher for cfg.
func New(cfg Config) *Watcher {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.IdleInterval <= 0 {
		cfg.IdleInterval = cfg.PollInterval
	}
	if cfg.Tick <= 0 {
		cfg.Tick = cfg.PollInterval
	}
	if cfg.SafetyNet <= 0 {
		cfg.SafetyNet = DefaultSafetyNet
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = store.CallTimeout
	}
	boundStores(&cfg)
	if cfg.Notifier == nil {
		cfg.Notifier = notify.Multi(nil)
	}
	w := &Watcher{cfg: cfg, log: cfg.Logger, guard: &rollback.Guard{Roller: cfg.Roller, Heroku: cfg.Heroku, Timeout: cfg.StoreTimeout}}
	if cfg.Journal != nil {
		w.guard.Journal = cfg.Journal
	}
	for _, a := range cfg.Apps {
		if a.Route == "" && len(a.Routes) > 0 {
			a.Route = a.Routes[0]
		}
		w.apps = append(w.apps, &appState{cfg: a})
	}
	w.polls.init(cfg.Seed)
	return w
}

// Notifier is where the watcher announces (other parts of the worker
// announce there too).
func (w *Watcher) Notifier() notify.Notifier { return w.cfg.Notifier }

// Watches returns a copy of the open watches.
func (w *Watcher) Watches() []Watch {
	w.busyMu.Lock()
	defer w.busyMu.Unlock()
	var out []Watch
	for _, a := range w.apps {
		wt := a.shown // its tick is under way: as it began
		if !a.busy {
			wt = a.watch
		}
		if wt != nil {
			out = append(out, *wt)
		}
	}
	return out
}

// Settle waits until the app ticks a Tick left under way (TickWait) end,
// or ctx does: a worker stopping lets a rollback under way finish.
func (w *Watcher) Settle(ctx context.Context) error {
	done := make(chan struct{})
	go func() { w.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idle returns apps without those whose tick is still under way.
func (w *Watcher) idle(apps []*appState) []*appState {
	w.busyMu.Lock()
	defer w.busyMu.Unlock()
	out := make([]*appState, 0, len(apps))
	for _, a := range apps {
		if !a.busy {
			out = append(out, a)
		}
	}
	return out
}

// forget resets a's state (read back from the store when its lease comes
// back); an app whose tick is under way is reset when the tick ends.
// taken: another worker holds it now (said, if it was restored).
func (w *Watcher) forget(a *appState, taken bool) {
	w.busyMu.Lock()
	defer w.busyMu.Unlock()
	if a.busy {
		a.reset = true
		return
	}
	if taken && a.restored {
		w.log.Info("another worker holds the app now", "app", a.cfg.Name)
	}
	*a = appState{cfg: a.cfg}
}

// Tick runs one step of the loop at now. It returns an error wrapping
// ErrFatal when the watcher cannot go on; other problems are logged and
// retried at the next tick.
func (w *Watcher) Tick(ctx context.Context, now time.Time) error {
	if w.started.IsZero() {
		w.started = now
	}
	apps, err := w.held(ctx) // on an error, the apps held last
	switch {
	case err == nil:
		w.storeBack(ctx)
	case !w.storeDown(now, err):
		return w.lateErrs()
	}
	apps = w.idle(apps)
	said, err := w.readOverrides(ctx, apps)
	switch {
	case err == nil:
		w.said = said
	case w.outage.since.IsZero():
		// Without the overrides a person may have paused us: hold.
		w.log.Error("cannot read the overrides; holding this tick", "err", err)
		return nil
	default:
		// The store is down: what people said is what was read last (a
		// pause is written to the store; none can have been since).
		said = w.saidBefore()
	}
	w.holdingNow(apps)
	w.takeHanded(ctx, now)
	w.takeNudges(apps, said, now)
	apps, mayPoll, scout := w.allot(ctx, apps, now, true)
	var scoutErr error
	if scout != nil {
		// The budget is not known yet: one app's tick first, the other
		// polls as its answer allows.
		scout.estimate = w.polls.estimate
		if scoutErr = w.tickApp(ctx, scout, said[scout.cfg.Name], now, true); errors.Is(scoutErr, ErrFatal) {
			return scoutErr
		}
		apps, mayPoll, _ = w.allot(ctx, apps, now, false)
	}
	// Apps are independent: one app's two-minute rollback must not hold up
	// another's, in this tick nor the next (TickWait: a tick left under
	// way is waited for no longer; its app is busy, left out of the ticks
	// until it ends). Each app's state is touched by its own goroutine
	// only. They start in priority order: rollbacks and watches never
	// wait for a slot behind idle polls.
	w.busyMu.Lock()
	for _, a := range apps {
		a.estimate = w.polls.estimate
		a.busy, a.shown = true, a.watch
		if a.watch != nil {
			c := *a.watch
			a.shown = &c
		}
	}
	w.busyMu.Unlock()
	var wg sync.WaitGroup
	wg.Add(len(apps))
	w.running.Add(len(apps))
	go func() {
		sem := make(chan struct{}, maxParallelApps)
		for _, a := range apps {
			sem <- struct{}{}
			go func() {
				defer w.running.Done()
				defer wg.Done()
				defer func() { <-sem }()
				err := w.tickApp(ctx, a, said[a.cfg.Name], now, mayPoll[a])
				w.busyMu.Lock()
				a.busy, a.shown, a.err = false, nil, err
				if a.reset {
					*a = appState{cfg: a.cfg}
				}
				w.busyMu.Unlock()
			}()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if w.cfg.TickWait <= 0 {
		<-done
	} else {
		t := time.NewTimer(w.cfg.TickWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			var slow []string
			w.busyMu.Lock()
			for _, a := range apps {
				if a.busy {
					slow = append(slow, a.cfg.Name)
				}
			}
			w.busyMu.Unlock()
			if len(slow) > 0 {
				w.log.Warn("an app's tick is taking long: the other apps are ticked on without it until it ends", "apps", slow, "waited", w.cfg.TickWait)
			}
		}
	}
	return errors.Join(w.lateErrs(), scoutErr)
}

// lateErrs takes what the app ticks that ended returned (this Tick's, and
// those an earlier Tick left under way).
func (w *Watcher) lateErrs() error {
	w.busyMu.Lock()
	defer w.busyMu.Unlock()
	var errs []error
	for _, a := range w.apps {
		if !a.busy && a.err != nil {
			errs = append(errs, a.err)
			a.err = nil
		}
	}
	return errors.Join(errs...)
}

// held returns the apps this worker may act on this tick. An app whose
// lease went to another worker is forgotten: what happens to it is the
// holder's, and it is read back from the store if the lease comes back.
func (w *Watcher) held(ctx context.Context) ([]*appState, error) {
	if w.cfg.Leases == nil {
		return w.apps, nil
	}
	// The names from the configuration, not the apps' state: an app's
	// tick a Tick left under way may be resetting it (forget).
	names := make([]string, len(w.apps))
	for i, a := range w.cfg.Apps {
		names[i] = a.Name
	}
	held, err := w.cfg.Leases.Hold(ctx, names)
	if err != nil {
		return w.lastHeld, err
	}
	var out []*appState
	for i, a := range w.apps {
		if held[names[i]] {
			out = append(out, a)
			continue
		}
		w.forget(a, true)
	}
	w.lastHeld = out
	return out, nil
}

// maxParallelApps bounds the apps ticked at once (and so the requests in
// flight to Heroku and the metrics source).
const maxParallelApps = 8

func (w *Watcher) tickApp(ctx context.Context, a *appState, said store.OverrideRecord, now time.Time, mayPoll bool) error {
	log := w.log.With("app", a.cfg.Name)
	if mayPoll {
		polled, err := w.poll(ctx, a, now, log)
		if err != nil {
			return err
		}
		if polled {
			// The next poll follows from what this tick makes of it (a
			// watch opened, a rollback made).
			defer w.schedule(a, now, log)
			if a.pending != nil {
				a.pending.polled = true // read after the rollback round
			}
		}
	}
	if !a.polled {
		return nil
	}
	if !a.restored {
		if err := w.restore(ctx, a, overridesFor(said), now, log); err != nil {
			log.Error("cannot read the stored state; will try again", "err", err)
			return nil
		}
		a.restored = true
	}
	w.followRollback(ctx, a, now, log)

	active := 0
	if a.watch != nil {
		active = a.watch.Release.Version
	}
	plan := PlanWatch(a.releases, active, a.lastSeen, now, a.cfg.WatchFor)
	switch plan.Kind {
	case PlanOpen, PlanReplace:
		w.open(ctx, a, plan, now, log)
	case PlanClose:
		log.Info("watch closed", "release", active, "reason", plan.Reason)
		state := StateClosed
		if a.watch.RolledBack {
			state = StateRolledBack
		}
		w.save(ctx, a.watch, state, log)
		a.remember(a.watch)
		a.watch = nil
		a.lastSeen = max(a.lastSeen, plan.Release.Version)
	case PlanIgnore:
		log.Info("not watching", "release", plan.Release.Version, "reason", plan.Reason)
		a.lastSeen = max(a.lastSeen, plan.Release.Version)
	}
	// What people said comes after the watch is opened: an announcement
	// about a release goes in its thread, after the thread's opening.
	w.requests(ctx, a, said, now, log)
	w.pauseRanOut(ctx, a, said, now, log)
	if a.watch != nil {
		// The approval read this tick was for the release under watch then.
		o := overridesFor(said)
		if said.Approved != "" && active != a.watch.Release.Version {
			o.ApprovedBy = ""
		}
		if o.ApprovedBy != "" && givenBeforeMade(said.ApprovedAt, a.watch.Release) {
			if !a.watch.earlyApprovalSaid {
				log.Warn("an approval given before its release was made is not taken (a typo for the release under watch then?): the watch goes on",
					"release", a.watch.Release.Version, "approved_by", said.Approved, "approved_at", said.ApprovedAt, "made_at", a.watch.Release.CreatedAt)
				a.watch.earlyApprovalSaid = true
			}
			o.ApprovedBy = ""
		}
		w.judge(ctx, a, o, now, log)
	}
	return nil
}

// givenBeforeMade reports whether a person's word given at given is of a
// release made after it (more than clockSkew after): no one had seen that
// release. An approval of it was a typo (v43 for v42), not a verdict, and
// must not end its watch; a rollback asked without naming the release was
// of the one live then, not of the fix made since.
func givenBeforeMade(given time.Time, rel heroku.Release) bool {
	return !given.IsZero() && given.Before(rel.CreatedAt.Add(-clockSkew))
}

// liveWhen is the release that was current at t: the newest of releases
// that succeeded and was made by then (clockSkew after t, as the clocks
// may differ); false when releases hold none.
func liveWhen(releases []heroku.Release, t time.Time) (heroku.Release, bool) {
	var was heroku.Release
	for _, r := range releases {
		if r.Status == heroku.StatusSucceeded && !givenBeforeMade(t, r) && r.Version > was.Version {
			was = r
		}
	}
	return was, was.Version != 0
}

// clockSkew is how far the store's clock (the one of the process that
// wrote the word: a laptop, a one-off dyno) and Heroku's may differ: 2
// min either way, as router lines' stamps may be ahead (MaxAhead in
// metrics/routerlog). With a minute, an approval given 30 s after the
// release was made, by a clock 2 min behind, was not taken.
const clockSkew = 2 * time.Minute

func (w *Watcher) open(ctx context.Context, a *appState, plan Plan, now time.Time, log *slog.Logger) {
	rel := plan.Release
	nw := &Watch{
		App: a.cfg.Name, Release: rel, FirstVersion: rel.Version,
		BaselineFrom: rel.CreatedAt.Add(-baselineLookback * a.cfg.Baseline), BaselineTo: rel.CreatedAt,
		LiveAt: rel.LiveAt(), Until: rel.LiveAt().Add(a.cfg.WatchFor),
		Joined: rel.LiveAt().Before(w.started),
	}
	if plan.Kind == PlanOpen {
		nw.FirstVersion = unwatchedRun(a.releases, rel, a.lastSeen, a.cfg.WatchFor)
	}
	replaces := 0
	var old *Watch // the watch rel replaces
	if plan.Kind == PlanReplace {
		old = a.watch
	}
	if old != nil {
		// The replaced release's verdict is history first: its watch time
		// counts as baseline unless it was judged anomalous, and then
		// exclusions leave it out.
		a.remember(old)
	}
	nw.Exclude = w.exclusions(a, rel, nw.BaselineFrom)
	if old != nil {
		replaces = old.Release.Version
		nw.FirstVersion = old.FirstVersion
		if keepsFaultyBuild(old, rel, a.cfg.Thresholds, a.cfg.RestartGrace) {
			// A config change on a build already failing: grace belongs
			// to the build's restart, which is over; judge on from there,
			// against the baseline from before it.
			nw.LiveAt, nw.BaselineFrom, nw.BaselineTo = old.LiveAt, old.BaselineFrom, old.BaselineTo
			nw.Baseline, nw.Exclude, nw.LeftOut, nw.baseTail = old.Baseline, old.Exclude, old.LeftOut, old.baseTail
			nw.routes = map[string]*routeWatch{}
			for r, rw := range old.routes {
				nw.routes[r] = &routeWatch{Baseline: rw.Baseline, traffic: traffic{baseTail: rw.baseTail}}
			}
			log.Info("the replacing release keeps a build already failing: its watch goes on from the build's", "release", rel.Version, "from", old.Release.Version)
		}
	}
	if w.cfg.Quarantine != nil && rel.SlugID != "" {
		if bad, why, ok, err := w.cfg.Quarantine.Quarantined(ctx, a.cfg.Name, rel.SlugID); err != nil {
			log.Error("cannot read the quarantine", "err", err)
		} else if ok {
			nw.Quarantined = bad
			log.Warn("a quarantined slug is live again", "release", rel.Version, "rolled_back_as", bad, "why", why)
		}
	}
	if plan.Kind == PlanReplace && a.watch != nil {
		w.save(ctx, a.watch, StateClosed, log)
	}
	a.watch = nw
	a.lastSeen = max(a.lastSeen, rel.Version)
	w.save(ctx, nw, StateWatching, log)
	nw.stored = now
	log.Info("watch opened", "release", rel.Version, "description", rel.Description, "until", nw.Until, "replaces", replaces)
	if err := w.baseline(ctx, a, nw, thresholdsOf(a, nw)); err != nil {
		// Said as configured now; the first judgement looks again.
		log.Warn("no baseline yet", "err", err)
	}
	w.announce(ctx, notify.Event{Header: notify.Header{Kind: notify.WatchStarted, At: now, App: a.cfg.Name, Release: rel.Version, Description: rel.Description},
		Fact: notify.WatchStart{WatchFor: a.cfg.WatchFor, Baseline: a.cfg.Baseline, Against: nw.against(thresholdsOf(a, nw).MaxErrorShare),
			Route: routesText(a, w.otherRoutes(a, nw, now, log)), Auto: nw.mayAct(a), AlertOnly: nw.alertOnly(a), Joined: nw.Joined,
			Replaces: replaces, Quarantined: nw.Quarantined}}, log)
}

// unwatchedRun is the first release of rel's run of replacements when
// rel's watch opens with none under way: the releases before it that
// relwatch never saw (newer than lastSeen: made while no worker ran, or
// between two polls), each replaced while it would still have been under
// watch, are of its run, as they would have been had relwatch watched
// them. A fault that began under one of them (a broken build, and a config
// change made on it before relwatch looked) is then placed there: not
// blamed on rel as an error share that had risen before it was made, and
// its build not gone back to as the build of a config change.
func unwatchedRun(releases []heroku.Release, rel heroku.Release, lastSeen int, watchFor time.Duration) int {
	first := rel
	for {
		p, ok := heroku.Previous(releases, first.Version)
		if _, rb := p.RollsBackTo(); !ok || rb || p.Version <= lastSeen || !first.LiveAt().Before(p.LiveAt().Add(watchFor)) {
			return first.Version
		}
		first = p
	}
}

// alertOnly says why wt may not roll back on its own though the app's
// automatic rollback is on: a release relwatch joined after it went live,
// with no usable baseline from before it (a router log starts empty) —
// guardrails alone are no ground for a first act. "" when it may act.
func (wt *Watch) alertOnly(a *appState) string {
	if !a.cfg.AutoRollback || !wt.Joined {
		return ""
	}
	if wt.Baseline == nil || !wt.Baseline.Usable(thresholdsOf(a, wt)) {
		return fmt.Sprintf("relwatch started after v%d went live and has no traffic from before it to compare with", wt.Release.Version)
	}
	return ""
}

// mayAct reports whether wt may roll back on its own: the app's automatic
// rollback is on, and wt is not alert only.
func (wt *Watch) mayAct(a *appState) bool {
	return a.cfg.AutoRollback && wt.alertOnly(a) == ""
}

// thresholdsOf are the thresholds wt is judged by: a quarantined slug (one
// rolled back before) is judged on half the evidence.
func thresholdsOf(a *appState, wt *Watch) analysis.Thresholds {
	th := a.cfg.Thresholds
	if wt.Quarantined != 0 {
		th.Sustain = max(10*time.Second, th.Sustain/2)
	}
	return th
}

// baseline reads wt's baseline while it has no usable one: a source may
// fill in late, so it is looked for again each tick until there is.
func (w *Watcher) baseline(ctx context.Context, a *appState, wt *Watch, th analysis.Thresholds) error {
	if wt.Baseline != nil && wt.Baseline.Usable(th) {
		return nil
	}
	s, err := a.cfg.Source.Counts(ctx, a.cfg.Route, wt.BaselineFrom, wt.BaselineTo)
	if err != nil {
		return fmt.Errorf("read baseline of %s: %w", a.cfg.Route, err)
	}
	b, leftOut := baselineOf(s, wt.Exclude, a.cfg.Baseline, th)
	wt.Baseline, wt.LeftOut = &b, leftOut
	wt.baseTail = s.Points[max(0, len(s.Points)-trendSpan):]
	return nil
}

// against is the baseline wt starts with, as the announcement says it; the
// incidents it leaves out are those of the whole lookback; guardrail is
// the error share past which the baseline is itself an incident
// (Thresholds.MaxErrorShare).
func (wt *Watch) against(guardrail float64) notify.Against {
	b := wt.Baseline
	if b == nil || b.Seconds == 0 {
		return notify.Against{}
	}
	out := notify.Against{From: b.From, To: b.To, Data: time.Duration(b.Seconds) * time.Second}
	if g := guardrail; b.Requests > 0 && g > 0 && float64(b.Errors)/float64(b.Requests) >= g {
		out.Incident, out.Guardrail = float64(b.Errors)/float64(b.Requests), g
	}
	for _, iv := range wt.LeftOut {
		if from, to := maxTime(iv.From, wt.BaselineFrom), minTime(iv.To, b.To); to.After(from) {
			out.LeftOut += to.Sub(from)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
