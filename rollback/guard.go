package rollback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/store"
)

// The rollback's life beyond one worker: it is journaled before Heroku is
// called and the journal says how far it got (pending while the rollback
// release's phase runs, interrupted when the worker was stopped), so the
// next worker follows it to Heroku's final status or finishes it. The
// Guard keeps the journal; what it finds it returns as a Step, for the
// caller to announce.

// Journal is the storage a guarded rollback needs (store.DB has it): an
// entry is begun before Heroku is called and finished after.
type Journal interface {
	BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error)
	FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error
	Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error)
}

// Doer carries out one rollback (a *Roller).
type Doer interface {
	Do(ctx context.Context, req Request) Result
}

// Lister reads an app's newest releases.
type Lister interface {
	ListReleases(ctx context.Context, app string, max int, conditional bool) ([]heroku.Release, bool, error)
}

// Where a journaled rollback stands beyond Done, Skipped and Failed.
const (
	// Pending: Heroku created the rollback release and its release phase
	// runs; Follow says how it ends.
	Pending Outcome = store.JournalPending
	// Interrupted: the worker was stopped before it knew how the rollback
	// ended; the next worker finishes it (Reconcile).
	Interrupted Outcome = store.JournalInterrupted
	// Abandoned: a stopped worker's rollback never reached Heroku and is
	// too old to finish; the watch decides again.
	Abandoned Outcome = store.JournalAbandoned
	// Resume: a stopped worker's rollback never reached Heroku and is
	// recent: the caller carries it out now (Carry, with the entry's id).
	Resume Outcome = "resume"
	// Unsure: the answer to a rollback request was lost and no look at the
	// release list before the round's deadline said whether Heroku made
	// it. Journaled open (as interrupted), it is neither done nor failed
	// until the caller's next read of the release list says (Confirm).
	Unsure Outcome = "unsure"
)

const (
	// resumeWindow is how old a journaled rollback that never reached
	// Heroku may be for the next worker to finish it.
	resumeWindow = 30 * time.Minute
	// journalDepth is how many of an app's newest journal entries are read.
	journalDepth = 20
	// reconcileDepth is how many releases Reconcile reads.
	reconcileDepth = 50
)

// Guard makes a rollback exactly once across workers and crashes: it
// journals the rollback, has the Roller make it, and records how far it
// got; a worker that takes over reconciles the open entries with Heroku's
// release list. Heroku stays the arbiter: the Roller rolls back only a
// release that is still the current one.
//
// When the store does not answer, the rollback is made all the same (the
// bad release is live) and what the journal could not take is kept, in
// order, for Flush to write when it answers.
type Guard struct {
	Roller  Doer
	Journal Journal // nil: nothing is journaled (a replay)
	Heroku  Lister  // read by Reconcile
	// Timeout bounds each journal call (0: store.CallTimeout); a write
	// made after the worker was told to stop still gets it.
	Timeout time.Duration

	mu     sync.Mutex
	kept   []journalWrite  // journal writes the store did not take, in order
	ids    map[int64]int64 // an entry kept before it was begun -> its id in the store
	nextID int64           // the last id given to an entry kept before it was begun (negative)
}

// journalWrite is a journal write kept for later: an entry to begin (as
// id, negative until the store gives it one), or how far entry id got.
type journalWrite struct {
	begin   *store.JournalEntry
	id      int64
	outcome string
	target  int
	created int
	errText string
}

// Step is where a guarded rollback stands after one step of it, for the
// caller to announce.
type Step struct {
	ID      int64   // the journal entry (0: none; negative: kept until the store answers)
	Outcome Outcome // Done, Pending, Skipped, Failed, Interrupted, Unsure; Reconcile: also Abandoned, Resume
	Target  int     // the release rolled back to
	Created int     // the "Rollback to vN" release
	Reason  string  // why it was skipped
	Err     string  // why it failed
	Result  Result  // the Roller's, when it was called
}

// Ended reports whether the rollback is over (nothing left to follow or
// finish).
func (s Step) Ended() bool {
	return s.Outcome == Done || s.Outcome == Skipped || s.Outcome == Failed || s.Outcome == Abandoned
}

// Begin journals a rollback about to be made and returns its entry's id (0
// when there is no journal). When the store does not take it, err says
// why, and the entry is kept under a negative id until Flush writes it:
// the caller rolls back all the same (the bad release is live).
func (g *Guard) Begin(ctx context.Context, e store.JournalEntry) (int64, error) {
	if g.Journal == nil {
		return 0, nil
	}
	g.mu.Lock()
	waiting := len(g.kept) > 0
	g.mu.Unlock()
	var err error
	if !waiting {
		jctx, cancel := context.WithTimeout(ctx, g.timeout())
		id, berr := g.Journal.BeginRollback(jctx, e)
		cancel()
		if berr == nil {
			return id, nil
		}
		err = berr
	} else {
		err = errors.New("the journal writes kept before it are not written yet")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Unlike any other life's: the id names the rollback's announcements.
	g.nextID = min(g.nextID-1, -e.Started.UnixMilli())
	e.SaidAs = g.nextID // what a worker that says it again keys it by
	g.kept = append(g.kept, journalWrite{begin: &e, id: g.nextID})
	return g.nextID, err
}

// Flush writes, in order, the journal writes the store did not take; it
// stops at the first that fails.
func (g *Guard) Flush(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.kept) > 0 {
		k := g.kept[0]
		jctx, cancel := context.WithTimeout(ctx, g.timeout())
		var err error
		if k.begin != nil {
			var id int64
			if id, err = g.Journal.BeginRollback(jctx, *k.begin); err == nil {
				if g.ids == nil {
					g.ids = map[int64]int64{}
				}
				g.ids[k.id] = id
			}
		} else {
			err = g.Journal.FinishRollback(jctx, g.storeID(k.id), k.outcome, k.target, k.created, k.errText)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("write the journal kept while the store was down (%d writes): %w", len(g.kept), err)
		}
		g.kept = g.kept[1:]
	}
	return nil
}

// storeID is the store's id of entry id (itself once begun there). g.mu
// is held.
func (g *Guard) storeID(id int64) int64 {
	if real, ok := g.ids[id]; ok {
		return real
	}
	return id
}

// Run journals the rollback e (Begin) and makes it (Carry): one rollback,
// start to where it stands. started, when set, is told once, with the
// journal entry, when the roller decided to act (Request.Acting).
func (g *Guard) Run(ctx context.Context, e store.JournalEntry, req Request, started func(id int64, target heroku.Release), log *slog.Logger) Step {
	id, err := g.Begin(ctx, e)
	if err != nil {
		// Without the journal a crash could hide this rollback from the
		// next worker; roll back all the same: the bad release is live.
		log.Error("cannot journal the rollback; rolling back anyway (journaled when the store answers)", "err", err)
	}
	if started != nil {
		req.Acting = func(target heroku.Release) { started(id, target) }
	}
	return g.Carry(ctx, id, e.Target, req, log)
}

// Carry has the Roller make the rollback journaled as id (0: none) and
// records how far it got. target is the release the rollback was meant to
// go back to, for when the Roller found none.
func (g *Guard) Carry(ctx context.Context, id int64, target int, req Request, log *slog.Logger) Step {
	res := g.Roller.Do(ctx, req)
	st := Step{ID: id, Result: res, Target: target, Created: res.Created.Version}
	if res.Target.Version != 0 {
		st.Target = res.Target.Version
	}
	switch {
	case res.Outcome == Done && res.Created.Status == heroku.StatusPending:
		// The rollback runs the release phase again: it is done only when
		// that succeeds (Follow).
		st.Outcome = Pending
		log.Info("rolled back; the rollback release's phase runs", "to", st.Target, "rollback_release", st.Created, "attempts", res.Tries, "recovered", res.Recovered)
	case res.Outcome == Done && res.Created.Status == heroku.StatusFailed:
		// Its release phase ended, and failed, before Heroku answered: the
		// bad release is still live, as when Follow finds it failed.
		st.Outcome, st.Err = Failed, phaseFailed(res.Created.Version, st.Target, req.Bad)
		log.Error("the rollback release's phase failed", "to", st.Target, "rollback_release", st.Created)
	case res.Outcome == Done:
		st.Outcome = Done
		log.Info("rolled back", "to", st.Target, "rollback_release", st.Created, "attempts", res.Tries, "recovered", res.Recovered)
	case res.Outcome == Skipped:
		st.Outcome, st.Reason = Skipped, res.Reason
		log.Warn("rollback skipped", "reason", res.Reason)
	case ctx.Err() != nil:
		// Stopped (SIGTERM): Heroku may or may not have made it. Not a
		// failure to announce: the next worker looks and finishes it.
		st.Outcome, st.Err = Interrupted, res.Err.Error()
		log.Warn("rollback interrupted: the worker is stopping; the next worker finishes it", "err", res.Err)
	case res.Unconfirmed:
		// Heroku may have made it: said failed, a person would roll back
		// by hand (a second rollback), and the journal would hold a
		// rollback Heroku made as failed. The next read of the release
		// list says which it was (Confirm).
		st.Outcome, st.Err = Unsure, unconfirmedCause(res.Err).Error()
		log.Warn("the answer to the rollback request was lost and no look since said how it ended; the next read of the release list says", "err", res.Err)
	default:
		st.Outcome, st.Err = Failed, res.Err.Error()
		log.Error("rollback failed", "err", res.Err)
	}
	g.record(ctx, id, st, log)
	return st
}

// unconfirmedCause is a Roller's error for a round whose answer was lost
// without what it adds about that ("Heroku may have made the rollback").
func unconfirmedCause(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

// Confirm says how an Unsure rollback (journal entry id, of bad to target;
// cause is its Step's Err) ended, by releases: a list read after its
// round. The rollback release Heroku made since (newer than madeAfter,
// the newest release known before the round: an earlier round's is never
// this one's; no clock is compared) is found and its phase read (Pending,
// Done or Failed); when there is none, Heroku did not make it: Failed. It
// records what it found.
func (g *Guard) Confirm(ctx context.Context, id int64, releases []heroku.Release, bad, target, madeAfter int, cause string, log *slog.Logger) Step {
	before := map[int]bool{}
	for _, r := range releases {
		if r.Version <= madeAfter {
			before[r.Version] = true
		}
	}
	found := rollbackRelease(releases, store.JournalEntry{Bad: bad, Target: target}, before)
	var st Step
	if found == nil {
		st = Step{ID: id, Outcome: Failed, Target: target,
			Err: cause + "; the answer to the rollback request was lost, and the release list read since shows Heroku did not make it"}
		log.Error("the rollback whose answer was lost was not made", "err", st.Err)
	} else {
		to, _ := found.RollsBackTo()
		st = phase(*found, bad, to)
		st.ID = id
		log.Warn("found the rollback whose answer was lost", "rollback_release", found.Version, "status", found.Status)
	}
	g.record(ctx, id, st, log)
	return st
}

// Follow looks up the rollback release created in releases and, when its
// release phase ended, records and returns how (Done or Failed); ok is
// false while it runs or when the list does not have it.
func (g *Guard) Follow(ctx context.Context, id int64, releases []heroku.Release, created, bad, target int, log *slog.Logger) (st Step, ok bool) {
	for _, r := range releases {
		if r.Version != created {
			continue
		}
		st = phase(r, bad, target)
		st.ID = id
		if st.Outcome == Pending {
			return st, false
		}
		if st.Outcome == Done {
			log.Info("the rollback release's phase succeeded", "rollback_release", created)
		} else {
			log.Error("the rollback release's phase failed", "rollback_release", created)
		}
		g.record(ctx, id, st, log)
		return st, true
	}
	return Step{}, false
}

// phase is where a rollback release stands by its status: the one reading
// of it.
func phase(r heroku.Release, bad, target int) Step {
	st := Step{Target: target, Created: r.Version}
	switch r.Status {
	case heroku.StatusPending:
		st.Outcome = Pending
	case heroku.StatusSucceeded:
		st.Outcome = Done
	default:
		st.Outcome = Failed
		st.Err = phaseFailed(r.Version, target, bad)
	}
	return st
}

// phaseFailed says why rollback release created, of bad to target, did not
// roll back: its release phase failed.
func phaseFailed(created, target, bad int) string {
	return fmt.Sprintf("Heroku created v%d (Rollback to v%d) but its release phase failed; v%d is still live", created, target, bad)
}

// record journals how far the rollback id got, even after ctx ended (the
// worker stopping still writes down where it stopped).
func (g *Guard) record(ctx context.Context, id int64, st Step, log *slog.Logger) {
	if id == 0 || g.Journal == nil {
		return
	}
	errText := st.Err
	if st.Outcome == Skipped {
		errText = st.Reason
	}
	outcome := string(st.Outcome)
	if st.Outcome == Unsure {
		outcome = store.JournalInterrupted // open: a worker that takes over finishes it (Reconcile)
	}
	w := journalWrite{id: id, outcome: outcome, target: st.Target, created: st.Created, errText: errText}
	g.mu.Lock()
	id = g.storeID(id)
	waiting := len(g.kept) > 0 || id < 0
	if waiting {
		g.kept = append(g.kept, w)
	}
	g.mu.Unlock()
	if waiting {
		log.Warn("the journal is behind: how the rollback stands is written when the store answers", "outcome", st.Outcome)
		return
	}
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout())
	defer cancel()
	if err := g.Journal.FinishRollback(jctx, id, w.outcome, w.target, w.created, w.errText); err != nil {
		log.Error("cannot record the rollback in the journal; it is written when the store answers", "outcome", st.Outcome, "err", err)
		g.mu.Lock()
		g.kept = append(g.kept, w)
		g.mu.Unlock()
	}
}

// Restored is what a worker that takes an app over finds of its
// rollbacks, each oldest first.
type Restored struct {
	Settled []Entry // ended since the time asked: said again
	Open    []Entry // left open by a stopped worker, reconciled
}

// Restore reads the app's journal and returns the rollbacks that ended
// since since, and the open ones reconciled with Heroku (Reconcile; held
// as it says).
func (g *Guard) Restore(ctx context.Context, app string, now, since time.Time, held string, log *slog.Logger) (Restored, error) {
	if g.Journal == nil {
		return Restored{}, nil
	}
	journal, err := g.read(ctx, app)
	if err != nil {
		return Restored{}, err
	}
	open, err := g.Reconcile(ctx, app, journal, now, held, log)
	if err != nil {
		return Restored{}, err
	}
	return Restored{Settled: Settled(journal, since), Open: open}, nil
}

// timeout is how long one journal call may take.
func (g *Guard) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return store.CallTimeout
}

// read reads the app's journal, newest first, bounded as the writes are:
// a store that does not answer in time is down (a table locked from
// another session would hold the tick, and the rollback, for as long).
func (g *Guard) read(ctx context.Context, app string) ([]store.JournalEntry, error) {
	jctx, cancel := context.WithTimeout(ctx, g.timeout())
	defer cancel()
	return g.Journal.Journal(jctx, app, false, journalDepth)
}

// Round is the round the next automatic rollback of release is: one more
// than the rounds that failed, as the journal counts them across workers,
// and never fewer than failedHere, those this worker counted (without a
// journal, or with the store down, the journal has not got them).
func (g *Guard) Round(ctx context.Context, app string, release, failedHere int, log *slog.Logger) int {
	if g.Journal == nil {
		return failedHere + 1
	}
	entries, err := g.read(ctx, app)
	if err != nil {
		// The rounds this worker counted stand for the journal's (theirs
		// may be kept, not written, while the store is down).
		log.Warn("cannot count the earlier rollback rounds", "err", err)
	}
	return max(Round(entries, release, 0), failedHere+1)
}

// Round counts the failed automatic rollbacks of release in journal
// (newest first), all of them or those before entry upTo (0: all), plus
// one: the round of the next rollback, or of upTo itself, as its worker
// counted it when it began (a round that was done or abandoned started
// no round after it).
func Round(journal []store.JournalEntry, release int, upTo int64) int {
	n := 1
	for _, e := range journal {
		if e.Bad == release && e.By == store.Automatic && e.Outcome == string(Failed) && (upTo == 0 || e.ID < upTo) {
			n++
		}
	}
	return n
}

// Entry is a journal entry and where its rollback stands.
type Entry struct {
	store.JournalEntry
	Step Step
	// Round is which automatic rollback round of its release it was (0: a
	// person's).
	Round int
}

// entry is e with st and its round in journal.
func entry(e store.JournalEntry, st Step, journal []store.JournalEntry) Entry {
	out := Entry{JournalEntry: e, Step: st}
	if e.By == store.Automatic {
		out.Round = Round(journal, e.Bad, e.ID)
	}
	return out
}

// Settled returns the rollbacks of journal (newest first) that ended
// since since, oldest first, each with how it ended: what a restarted
// worker says again (the open ones are Reconcile's).
func Settled(journal []store.JournalEntry, since time.Time) []Entry {
	var out []Entry
	for i := len(journal) - 1; i >= 0; i-- {
		e := journal[i]
		if e.Started.Before(since) {
			continue
		}
		st := Step{ID: e.ID, Outcome: Outcome(e.Outcome), Target: e.Target}
		switch st.Outcome {
		case Done:
			st.Created = e.Created
		case Skipped:
			st.Reason = e.Error
		case Failed, Abandoned:
			st.Err = e.Error
		default:
			continue // open
		}
		out = append(out, entry(e, st, journal))
	}
	return out
}

// Reconcile finds out how the rollbacks that stopped workers left open in
// journal (newest first) ended, from Heroku's release list, and records it;
// it returns them oldest first. If Heroku has the rollback release, its
// phase says Pending, Done or Failed; if Heroku never had it, a recent one
// is to Resume (the caller carries it out: the Roller checks that the bad
// release is still current), an old one is Abandoned. held, when set, is
// why automatic rollback holds now (a person paused it since the stopped
// worker decided): a recent automatic one is then Skipped for it, never
// resumed; a person's is resumed all the same.
func (g *Guard) Reconcile(ctx context.Context, app string, journal []store.JournalEntry, now time.Time, held string, log *slog.Logger) ([]Entry, error) {
	var open []store.JournalEntry
	for _, e := range journal {
		if store.JournalOpen(e.Outcome) {
			open = append(open, e)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	releases, _, err := g.Heroku.ListReleases(ctx, app, reconcileDepth, false)
	if err != nil {
		return nil, fmt.Errorf("read the releases of %s to finish its rollbacks: %w", app, err)
	}
	// The rollback releases other entries made are theirs: never another
	// entry's (an earlier round's failed rollback is not this round's).
	claimed := map[int]bool{}
	for _, e := range journal {
		if e.Created != 0 {
			claimed[e.Created] = true
		}
	}
	var out []Entry
	for i := len(open) - 1; i >= 0; i-- { // oldest first
		e := open[i]
		log := log.With("journal", e.ID, "bad", e.Bad)
		found := rollbackRelease(releases, e, claimed)
		if found == nil {
			st := Step{ID: e.ID, Outcome: Resume, Target: e.Target}
			switch {
			case now.Sub(e.Started) > resumeWindow:
				log.Warn("a stopped worker's rollback never reached Heroku and is too old to finish; the watch decides again", "started", e.Started)
				st.Outcome = Abandoned
				st.Err = fmt.Sprintf("the worker stopped before Heroku had it, and no worker ran again for %d min: too old to carry out now", int(now.Sub(e.Started).Minutes()))
				g.record(ctx, e.ID, st, log)
			case e.By == store.Automatic && held != "":
				st.Outcome = Skipped
				st.Reason = fmt.Sprintf("the rollback decided before a restart never reached Heroku, and %s since; the watch goes on", held)
				log.Warn("a stopped worker's rollback never reached Heroku, and automatic rollback is paused since: not carried out", "reason", st.Reason)
				g.record(ctx, e.ID, st, log)
			default:
				log.Warn("a stopped worker's rollback never reached Heroku; finishing it")
			}
			out = append(out, entry(e, st, journal))
			continue
		}
		claimed[found.Version] = true
		to, _ := found.RollsBackTo()
		st := phase(*found, e.Bad, to)
		st.ID = e.ID
		switch st.Outcome {
		case Pending:
			log.Warn("found the rollback a stopped worker made; its release phase runs", "rollback_release", found.Version)
		case Done:
			log.Warn("found the rollback a stopped worker made", "rollback_release", found.Version)
		default:
			log.Error("found the rollback a stopped worker made; its release phase failed", "rollback_release", found.Version)
		}
		g.record(ctx, e.ID, st, log)
		out = append(out, entry(e, st, journal))
	}
	return out, nil
}

// startedAhead is how far a journal entry's start may be past the clock
// Heroku stamped its rollback release by: a person's rollback begins at
// the request's time when that is later than the worker's (madeBefore
// knows the request by it), and the clock that wrote the request (a
// laptop's, a one-off dyno's) may be 2 min ahead of Heroku's; the
// worker's own clock may be a little ahead too.
const startedAhead = 2*time.Minute + 30*time.Second

// rollbackRelease is the "Rollback to vN" release a journal entry made, if
// Heroku has it: the one recorded, else one that came after the bad
// release and was created since the entry was (the target it names first).
// claimed are the rollback releases other entries made (never e's unless
// recorded as e's).
func rollbackRelease(releases []heroku.Release, e store.JournalEntry, claimed map[int]bool) *heroku.Release {
	var any *heroku.Release
	for i, r := range releases {
		if e.Created != 0 {
			if r.Version == e.Created {
				return &releases[i]
			}
			continue
		}
		to, isRollback := r.RollsBackTo()
		if !isRollback || r.Version <= e.Bad || r.CreatedAt.Before(e.Started.Add(-startedAhead)) || claimed[r.Version] {
			continue
		}
		if to == e.Target {
			return &releases[i]
		}
		if any == nil || r.Version < any.Version {
			any = &releases[i]
		}
	}
	return any
}
