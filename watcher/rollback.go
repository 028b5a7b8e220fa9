package watcher

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// Every rollback the watcher makes is here: its own (rollBack), a
// person's (manualRollback), and one a stopped worker left (reconcile,
// restate). The watcher decides when and announces; the rollback's
// journal, and what makes it exactly once across crashes, is
// rollback.Guard's. Each Step the guard returns is announced here, through
// announce, the one way the watcher speaks.

const (
	// maxRollbackRounds bounds the automatic rollbacks of one release: after
	// a round failed, the next evidence that the release is still bad and
	// current starts the next round.
	maxRollbackRounds = 3
	// restateWindow is how far back a restarted worker says again what the
	// store says happened (the outbox keeps each fact once per chat).
	restateWindow = time.Hour

	// roundSpacing is the least time between two automatic rollback rounds
	// of a release: the next one acts on evidence gathered since.
	roundSpacing = 30 * time.Second
)

// rollbackState is what an app's appState keeps of its rollbacks beyond
// the pending one.
type rollbackState struct {
	// failedRounds counts this worker's failed automatic rollback rounds
	// per release: the count when there is no journal, or it cannot be read.
	failedRounds map[int]int
	// retryAt: no automatic rollback round before then.
	retryAt time.Time
	// rolling is the rollback under way, if any.
	rolling *rolling
}

// rolling is the app's rollback under way: since the roller decided to act
// until Heroku says how it ended (it absorbs a person's request for the
// same release).
type rolling struct {
	release int // rolled back from
	target  int
	since   time.Time
	done    bool // Heroku's phase ended: rolled back
}

// pendingRollback is a rollback release Heroku created whose release phase
// had not finished when the worker last looked.
type pendingRollback struct {
	event   rollbackEvent // rollback.started's, with the rollback release
	version int           // the rollback release
	journal int64         // its journal entry (0: none)
	// unsure: the answer to the rollback request was lost and no look
	// said whether Heroku made it (version 0); the first poll after the
	// round (polled) says (Guard.Confirm). cause is the round's error;
	// known the newest release known before it.
	unsure bool
	polled bool
	cause  string
	known  int
}

// rollbackEvent is a rollback's announcements in the making: the header
// and facts its steps share; each step says its kind (as).
type rollbackEvent struct {
	notify.Header
	notify.RollbackStep
}

// as is the rollback's announcement of kind k.
func (ev rollbackEvent) as(k notify.Kind) notify.Event {
	ev.Kind = k
	return notify.Event{Header: ev.Header, Fact: ev.RollbackStep}
}

// rollBack rolls the watched release back on its own, having seen it bad
// (h is its announcements' header), and announces the anomaly first when
// it has not been.
func (w *Watcher) rollBack(ctx context.Context, a *appState, h notify.Header, seen notify.Seen, log *slog.Logger) {
	if h.At.Before(a.retryAt) {
		return // the last round failed lately: the next one waits for fresher evidence
	}
	wt := a.watch
	wt.RolledBack = true
	if o := wt.Origin; !o.Config && o.Release.SlugID != "" && w.cfg.Quarantine != nil {
		// The build the fault began under is quarantined at the decision,
		// so that no release of it is a target, and a later promotion of
		// it is called out.
		app, slug, version, why := a.cfg.Name, o.Release.SlugID, o.Release.Version, seen.Summary
		w.later.do(ctx, "quarantine the slug", func(ctx context.Context) error {
			return w.cfg.Quarantine.Quarantine(ctx, app, slug, version, why)
		}, log)
	}
	unfit := w.unfit(ctx, a, log)
	target, passed, ok := heroku.RollbackTarget(a.releases, wt.Release.Version, unfit)
	var unread error // the deeper read's, when it failed
	if !ok && len(a.releases) >= releasesToRead {
		// A poll reads the newest few: the target may be behind them (a run
		// of failed or unfit releases). Look as deep as the rollback does.
		var deeper []heroku.Release
		if deeper, _, unread = w.cfg.Heroku.ListReleases(ctx, a.cfg.Name, rollback.ListDepth, false); unread == nil {
			target, passed, ok = heroku.RollbackTarget(deeper, wt.Release.Version, unfit)
		}
	}
	an := wt.anomaly(a, seen)
	an.Target = target.Version
	if !wt.Anomalous {
		wt.Anomalous = true
		h.Kind = notify.Anomaly
		w.announce(ctx, notify.Event{Header: h, Fact: an}, log)
	}
	if wait := waitFor(a.releases, wt.Release.Version, unread); wait != "" {
		// Not a round: the next evidence decides again once Heroku can say.
		// Skipped, the rollback would be over for good, the bad release
		// live.
		log.Warn("not rolling back yet: "+wait+"; looking again at the next evidence", "err", unread)
		wt.RolledBack = false
		a.retryAt = h.At.Add(roundSpacing)
		w.save(ctx, wt, StateWatching, log)
		return
	}
	ev := rollbackEvent{Header: h, RollbackStep: notify.RollbackStep{Seen: seen, By: store.Automatic, Auto: an.Auto, Target: target.Version}}
	if !ok {
		// Never back into a release that was bad itself: say so, and how
		// a person can do it anyway.
		var why []string
		for _, p := range passed {
			why = append(why, fmt.Sprintf("v%d: %s", p.Release.Version, p.Why))
		}
		ev.Reason = "no release to go back to automatically"
		if len(why) > 0 {
			ev.Reason += " (" + strings.Join(why, "; ") + ")"
			ev.Target = passed[0].Release.Version
		}
		log.Warn("not rolling back: no fit target", "reason", ev.Reason)
		w.announce(ctx, ev.as(notify.RollbackSkipped), log)
		w.save(ctx, wt, StateWatching, log)
		return
	}
	ev.Round, ev.Rounds = w.guard.Round(ctx, a.cfg.Name, wt.Release.Version, a.failedRounds[wt.Release.Version], log), maxRollbackRounds
	st := w.guardedRollback(ctx, a, ev, 0, store.Automatic, unfit, log)
	if w.retryLater(ctx, a, ev, st, log) || w.waitedOn(a, ev, st, log) {
		wt.RolledBack = false // the next evidence decides again
	}
	w.save(ctx, wt, StateWatching, log)
}

// waitFor says why an automatic rollback of bad must wait, "" when it
// need not: a newer release is in its release phase (a person's deploy, or
// our own rollback whose answer was lost: rolled back now, it would race
// it; skipped, a phase that fails would leave bad live), or the releases
// behind the poll's could not be read (unread) to find a target.
func waitFor(releases []heroku.Release, bad int, unread error) string {
	for _, r := range releases {
		if r.Version > bad && r.Status == heroku.StatusPending {
			return fmt.Sprintf("v%d (%s) came after v%d and is in its release phase", r.Version, r.Description, bad)
		}
	}
	if unread != nil {
		return "the older releases, where the target is, could not be read"
	}
	return ""
}

// targetFor is the automatic rollback target by the last poll, for texts;
// the rollback checks it against a fresh list.
func (w *Watcher) targetFor(ctx context.Context, a *appState, bad int, log *slog.Logger) int {
	t, _, _ := heroku.RollbackTarget(a.releases, bad, w.unfit(ctx, a, log))
	return t.Version
}

// anomaly is the facts of wt's anomaly, seen so (its target is the
// caller's to find).
func (wt *Watch) anomaly(a *appState, seen notify.Seen) notify.Anomalous {
	return notify.Anomalous{Seen: seen, Auto: wt.mayAct(a), AlertOnly: wt.alertOnly(a),
		Origin: wt.Origin.Release.Version, OriginConfig: wt.Origin.Config}
}

// manualRollback is a person's rollback: the same guarded path and journal
// as an automatic one.
func (w *Watcher) manualRollback(ctx context.Context, a *appState, r store.Request, h notify.Header, log *slog.Logger) string {
	ev := rollbackEvent{Header: h, RollbackStep: notify.RollbackStep{By: r.By, Seen: notify.Seen{Reason: r.Reason}}}
	cur, ok := heroku.Current(a.releases)
	if !ok {
		ev.Reason = "no current release known yet"
		w.announce(ctx, ev.as(notify.RollbackSkipped), log)
		return "skipped: " + ev.Reason
	}
	// Where a rollback of cur goes, unless the person named the release
	// (the Roller checks it against a fresh list).
	prev, _ := heroku.Previous(a.releases, cur.Version)
	asked := r.From
	if asked == 0 && givenBeforeMade(r.At, cur) {
		// "Roll back crates-io" asked while v42 was live, and v43 (the fix,
		// or our own rollback) made since: it is v42's rollback, not v43's.
		was, ok := liveWhen(a.releases, r.At)
		if !ok {
			ev.Release, ev.Description = cur.Version, cur.Description
			ev.Reason = fmt.Sprintf("v%d was made after %s asked (at %s), and the release live then is not among those relwatch read: ask again", cur.Version, r.By, r.At.UTC().Format("15:04:05 MST"))
			w.announce(ctx, ev.as(notify.RollbackSkipped), log)
			return "skipped: " + ev.Reason
		}
		asked = was.Version
	}
	if asked == 0 {
		asked = cur.Version
	}
	if rl := a.rolling; rl != nil && rl.release == asked {
		// The rollback under way (or just made) is the one asked for: one
		// story in the thread.
		ev.Release, ev.Description = rl.release, ""
		ev.Target = rl.target
		ev.Reason = fmt.Sprintf("already rolling back v%d since %s; the outcome follows here", rl.release, rl.since.UTC().Format("15:04:05 MST"))
		if rl.done {
			ev.Reason = fmt.Sprintf("v%d was rolled back already (since %s)", rl.release, rl.since.UTC().Format("15:04:05 MST"))
		}
		w.announce(ctx, ev.as(notify.RollbackJoined), log)
		return "joined: " + ev.Reason
	}
	if asked != cur.Version {
		// A button on v42's message, or a rollback asked while v42 was
		// live, rolls back v42, never what came after.
		ev.Release, ev.Description = asked, ""
		ev.Reason = fmt.Sprintf("%s asked to roll back v%d, but v%d is no longer the current release (v%d is)", r.By, asked, asked, cur.Version)
		w.announce(ctx, ev.as(notify.RollbackSkipped), log)
		return "skipped: " + ev.Reason
	}
	ev.Release, ev.Description = cur.Version, cur.Description
	ev.Target = cmp.Or(r.To, prev.Version)
	ev.Reason, ev.Summary = r.Reason, r.Reason // the person's why; By says who
	// The release under watch rolled back by a person is rolled back: no
	// automatic rollback, no approval, ends it healthy any more.
	wt := a.watch
	if wt != nil && wt.Release.Version != cur.Version {
		wt = nil
	}
	var was bool
	if wt != nil {
		was, wt.RolledBack = wt.RolledBack, true
	}
	if r.At.After(ev.At) {
		// The journal entry begins no earlier than the request, as the
		// clock that wrote it says: a restarted worker knows the rollback
		// as the request's by that (madeBefore). Begun "before" it (a
		// request read in the tick that began just before it was made,
		// or written by a clock ahead of this one), the request would be
		// carried out again after a crash.
		ev.At = r.At
	}
	st := w.guardedRollback(ctx, a, ev, r.To, r.By, nil, log)
	res := st.Result
	if wt != nil {
		// Made or maybe made, the rollback stands in for the automatic
		// one; failed (Heroku answered its release phase failed too:
		// v42 is still live), it does not.
		if st.Outcome != rollback.Done && st.Outcome != rollback.Pending && st.Outcome != rollback.Unsure {
			wt.RolledBack = was
		}
		w.save(ctx, wt, StateWatching, log)
	}
	if st.Outcome == rollback.Unsure {
		return "unconfirmed: the answer to the rollback request was lost; the next read of the release list says whether Heroku made it, in the release's thread"
	}
	switch {
	case st.Outcome == rollback.Failed && res.Outcome == rollback.Done:
		// Heroku made the rollback release, and answered its phase failed.
		return "failed: " + strings.ReplaceAll(st.Err, "\n", " ")
	case res.Outcome == rollback.Done:
		return fmt.Sprintf("done: v%d rolled back to v%d as v%d", cur.Version, res.Target.Version, res.Created.Version)
	case res.Outcome == rollback.Skipped:
		return "skipped: " + res.Reason
	}
	if ctx.Err() != nil {
		return "interrupted: the worker stopped; the journal's entry is finished by the next worker"
	}
	return "failed: " + strings.ReplaceAll(fmt.Sprint(res.Err), "\n", " ")
}

// guardedRollback journals, rolls back and announces: the one path for
// automatic and manual rollbacks. ev describes the release rolled back
// from and the target its caller found (to: the one a person named, 0 for
// the Roller to pick). When ctx ends before the rollback did (the worker
// is stopping), the journal says interrupted and nothing is announced:
// the next worker finishes it.
func (w *Watcher) guardedRollback(ctx context.Context, a *appState, ev rollbackEvent, to int, by string, unfit func(heroku.Release) string, log *slog.Logger) rollback.Step {
	st := w.guard.Run(ctx, store.JournalEntry{App: a.cfg.Name, Bad: ev.Release, Target: ev.Target, Reason: ev.Summary, By: by, Started: ev.At},
		rollback.Request{App: a.cfg.Name, Bad: ev.Release, To: to, Unfit: unfit}, w.starting(ctx, a, ev, log), log.With("round", ev.Round))
	w.carriedOut(ctx, a, ev, st.ID, st, log)
	return st
}

// carryOut makes a journaled rollback a stopped worker never got to
// Heroku (journalID), and announces it as guardedRollback does.
func (w *Watcher) carryOut(ctx context.Context, a *appState, ev rollbackEvent, journalID int64, to int, unfit func(heroku.Release) string, log *slog.Logger) rollback.Step {
	starting := w.starting(ctx, a, ev, log)
	said := ev.Instance // the key the stopped worker said it under (journalEvent)
	req := rollback.Request{App: a.cfg.Name, Bad: ev.Release, To: to, Unfit: unfit, Acting: func(target heroku.Release) { starting(said, target) }}
	st := w.guard.Carry(ctx, journalID, ev.Target, req, log.With("round", ev.Round))
	w.carriedOut(ctx, a, ev, said, st, log)
	return st
}

// starting announces rollback.started (ev, as journal entry id) when the
// roller decided to act: never before.
func (w *Watcher) starting(ctx context.Context, a *appState, ev rollbackEvent, log *slog.Logger) func(id int64, target heroku.Release) {
	return func(id int64, target heroku.Release) {
		started := ev
		started.Instance, started.Target = id, target.Version
		a.rolling = &rolling{release: ev.Release, target: target.Version, since: ev.At}
		w.announce(ctx, started.as(notify.RollbackStarted), log)
	}
}

// carriedOut announces how the rollback ev started ended (settle), under
// said: the id its announcements are keyed by.
func (w *Watcher) carriedOut(ctx context.Context, a *appState, ev rollbackEvent, said int64, st rollback.Step, log *slog.Logger) {
	ev.Instance, ev.Restated = said, false
	ev.Attempts = st.Result.Tries
	if st.Outcome == rollback.Done || st.Outcome == rollback.Pending {
		a.nextPoll = time.Time{} // Heroku lists the new release at the next poll
	}
	w.settle(ctx, a, ev, st, log)
}

// settle announces where a rollback stands after a step of it (ev is its
// rollback.started): its end, once; a pending one is followed
// (followRollback), an interrupted one left to the next worker.
func (w *Watcher) settle(ctx context.Context, a *appState, ev rollbackEvent, st rollback.Step, log *slog.Logger) {
	ev.Target, ev.Rollback = st.Target, st.Created
	switch {
	case st.Outcome == rollback.Done && a.rolling != nil:
		a.rolling.done = true
	case st.Outcome != rollback.Pending && st.Outcome != rollback.Done && st.Outcome != rollback.Unsure:
		a.rolling = nil
	}
	switch st.Outcome {
	case rollback.Pending:
		a.pending = &pendingRollback{event: ev, version: st.Created, journal: st.ID}
		a.nextPoll = time.Time{}
		return
	case rollback.Unsure:
		// Nothing to say until the next poll says whether Heroku made it.
		known := 0
		for _, r := range a.releases {
			known = max(known, r.Version)
		}
		a.pending = &pendingRollback{event: ev, journal: st.ID, unsure: true, cause: st.Err, known: known}
		a.nextPoll = time.Time{}
		return
	case rollback.Interrupted, rollback.Resume:
		return
	}
	w.announce(ctx, ended(ev, st), log)
}

// ended is the announcement of how a rollback ev ended (st: done, skipped,
// failed, or abandoned: a stopped worker's that never reached Heroku and is
// too old to carry out, said as failed).
func ended(ev rollbackEvent, st rollback.Step) notify.Event {
	switch st.Outcome {
	case rollback.Done:
		return ev.as(notify.RollbackSucceeded)
	case rollback.Skipped:
		ev.Reason = st.Reason
		if st.Result.Waiting && ev.By == store.Automatic {
			ev.Reason += "; relwatch looks again at the next evidence"
		}
		return ev.as(notify.RollbackSkipped)
	}
	ev.Err, ev.NoTarget = st.Err, st.Result.NoTarget
	if st.Result.Permanent {
		ev.Round, ev.Rounds = 0, 0 // no round will mend it: no promise of another
	}
	return ev.as(notify.RollbackFailed)
}

// retryLater reports whether an automatic rollback that failed will be
// tried again at the next evidence: the failure was one trying again may
// mend, the worker is not stopping, and rounds are left.
func (w *Watcher) retryLater(ctx context.Context, a *appState, ev rollbackEvent, st rollback.Step, log *slog.Logger) bool {
	if st.Outcome != rollback.Failed || ctx.Err() != nil || st.Result.Permanent || ev.Round <= 0 {
		return false
	}
	if a.failedRounds == nil {
		a.failedRounds = map[int]int{}
	}
	a.failedRounds[ev.Release]++
	if ev.Round >= ev.Rounds {
		log.Error("automatic rollback given up", "rounds", ev.Round)
		return false
	}
	a.retryAt = ev.At.Add(roundSpacing)
	log.Warn("automatic rollback failed; trying again at the next evidence", "round", ev.Round, "of", ev.Rounds, "not_before", a.retryAt)
	return true
}

// waitedOn reports whether an automatic rollback was skipped because a
// newer release is in its release phase (the Roller found it: a deploy
// made since the poll, or while no worker ran): not a round, as waitFor's
// wait is not; the next evidence decides again. Left rolled back, the
// watch would never act again, and a phase that fails would leave the bad
// release live.
func (w *Watcher) waitedOn(a *appState, ev rollbackEvent, st rollback.Step, log *slog.Logger) bool {
	if st.Outcome != rollback.Skipped || !st.Result.Waiting || ev.By != store.Automatic {
		return false
	}
	a.retryAt = ev.At.Add(roundSpacing)
	log.Warn("not rolling back yet: a newer release is in its release phase; looking again at the next evidence", "reason", st.Reason, "not_before", a.retryAt)
	return true
}

// followRollback announces the end of a rollback whose release phase was
// still running, as Heroku says it ended.
func (w *Watcher) followRollback(ctx context.Context, a *appState, now time.Time, log *slog.Logger) {
	p := a.pending
	if p == nil {
		return
	}
	var st rollback.Step
	if p.unsure {
		if !p.polled {
			return // the releases read before the round cannot say
		}
		st = w.guard.Confirm(ctx, p.journal, a.releases, p.event.Release, p.event.Target, p.known, p.cause, log)
		if st.Outcome == rollback.Pending {
			// Heroku made it and its phase runs: followed as any other.
			a.pending = &pendingRollback{event: p.event, version: st.Created, journal: p.journal}
			a.pending.event.Rollback = st.Created
			return
		}
	} else {
		var ended bool
		if st, ended = w.guard.Follow(ctx, p.journal, a.releases, p.version, p.event.Release, p.event.Target, log); !ended {
			return
		}
	}
	a.pending = nil
	ev := p.event
	ev.At, ev.Restated = now, false
	w.phaseFailed(ctx, a, ev, st, log)
	w.settle(ctx, a, ev, st, log)
}

// phaseFailed frees the watch of a release whose rollback release's phase
// failed: it is still live, and judged again (a person's rollback is not
// tried again, but no longer stands in for one).
func (w *Watcher) phaseFailed(ctx context.Context, a *appState, ev rollbackEvent, st rollback.Step, log *slog.Logger) {
	if st.Outcome != rollback.Failed {
		return
	}
	if wt := a.watch; wt != nil && wt.Release.Version == ev.Release && (ev.ByPerson() || w.retryLater(ctx, a, ev, st, log)) {
		wt.RolledBack = false
		// Stored before the failure is said ("relwatch tries again at the
		// next evidence"): a worker that takes over keeps that word. Left
		// as rolled back in the store, it would never act on v42 again.
		w.save(ctx, wt, StateWatching, log)
	}
}

// reconcile finishes the rollbacks a stopped worker left open (the guard
// said how each stands) and announces them: rollback.started again (the
// outbox keeps it once), then the end, or the rollback carried out now.
func (w *Watcher) reconcile(ctx context.Context, a *appState, open []rollback.Entry, now time.Time, log *slog.Logger) {
	for _, e := range open {
		log := log.With("journal", e.ID, "bad", e.Bad)
		ev := journalEvent(e, now)
		w.restateAnomaly(ctx, a, e.JournalEntry, now, log)
		watched := a.watch != nil && a.watch.Release.Version == e.Bad
		if watched {
			a.watch.RolledBack, a.watch.Anomalous = true, true
		}
		ev.Restated = true // rollback.started: the stopped worker's
		switch e.Step.Outcome {
		case rollback.Abandoned:
			// Its "rolling back" may have been said: it is said to have
			// failed (below), with a round to come only while the watch
			// decides again.
			if watched {
				a.watch.RolledBack = false
			} else {
				ev.Round, ev.Rounds = 0, 0
			}
		case rollback.Skipped:
			// Heroku never had it, and a person paused automatic rollback
			// since it was decided (SIGTERM came between the decision and
			// the POST): the pause holds (restore). The watch decides
			// again, paused, and rolls back once resumed.
			if watched {
				a.watch.RolledBack = false
			}
			ev.Restated = false
			w.settle(ctx, a, ev, e.Step, log)
			continue
		case rollback.Resume:
			to := e.Target
			var unfit func(heroku.Release) string
			if e.By == store.Automatic {
				// An automatic rollback picks its target from a fresh list,
				// never a release that was bad itself.
				to, unfit = 0, w.unfit(ctx, a, log)
			}
			st := w.carryOut(ctx, a, ev, e.ID, to, unfit, log)
			if watched && (w.retryLater(ctx, a, ev, st, log) || w.waitedOn(a, ev, st, log)) {
				a.watch.RolledBack = false
			}
			continue
		}
		w.announce(ctx, ev.as(notify.RollbackStarted), log)
		ev.Restated = false
		if e.Step.Outcome == rollback.Pending {
			a.rolling = &rolling{release: e.Bad, target: e.Step.Target, since: e.Started}
		}
		w.phaseFailed(ctx, a, ev, e.Step, log)
		w.settle(ctx, a, ev, e.Step, log)
	}
}

// journalEvent is the rollback.started event of a journal entry, as its
// worker announced it.
func journalEvent(e rollback.Entry, now time.Time) rollbackEvent {
	ev := rollbackEvent{Header: notify.Header{At: now, App: e.App, Release: e.Bad, Instance: e.Said()},
		RollbackStep: notify.RollbackStep{Seen: notify.Seen{Reason: e.Reason, Summary: e.Reason}, Target: e.Target, By: e.By}}
	if e.By == store.Automatic {
		ev.Auto, ev.Round, ev.Rounds = true, e.Round, maxRollbackRounds
	}
	return ev
}

// restateAnomaly says again the anomaly an automatic rollback's journal
// entry stands on: the worker that journaled it had announced it, but may
// have died before the announcement was stored (or the watch saved).
func (w *Watcher) restateAnomaly(ctx context.Context, a *appState, e store.JournalEntry, now time.Time, log *slog.Logger) {
	if e.By != store.Automatic {
		return
	}
	w.announce(ctx, notify.Event{Header: notify.Header{Kind: notify.Anomaly, At: now, App: e.App, Release: e.Bad, Restated: true},
		Fact: notify.Anomalous{Seen: notify.Seen{Reason: e.Reason, Summary: e.Reason, Route: a.cfg.Route}, Target: e.Target, Auto: true}}, log)
}

// restate says again what the store says happened to the app lately: the
// newest watch's opening, anomaly and end, and the rollbacks the journal
// completed (the open ones are reconcile's). A worker that stopped may have
// done a thing and died before its announcement was stored; the key of
// each restated event is the original's, so what was stored is not said
// twice. settled is the rollbacks that ended lately, oldest first.
func (w *Watcher) restate(ctx context.Context, a *appState, rec *store.WatchRecord, settled []rollback.Entry, now time.Time, log *slog.Logger) {
	var end *notify.Event
	if rec != nil && now.Sub(rec.Until) < restateWindow {
		wt := watchFromRecord(*rec)
		h := notify.Header{At: now, App: a.cfg.Name, Release: rec.Release.Version, Description: rec.Release.Description, Restated: true}
		h.Kind = notify.WatchStarted
		w.announce(ctx, notify.Event{Header: h, Fact: notify.WatchStart{WatchFor: a.cfg.WatchFor, Baseline: rec.BaselineTo.Sub(rec.BaselineFrom),
			Route: a.cfg.Route, Auto: a.cfg.AutoRollback, Quarantined: rec.Quarantined}}, log)
		seen := notify.Seen{Summary: notify.Summary(wt.Last.Verdict), Findings: wt.Last.Verdict.Findings, Route: a.cfg.Route}
		seen.Reason = seen.Summary
		if rec.Anomalous {
			h.Kind = notify.Anomaly
			w.announce(ctx, notify.Event{Header: h, Fact: notify.Anomalous{Seen: seen, Auto: a.cfg.AutoRollback,
				Target: w.targetFor(ctx, a, rec.Release.Version, log)}}, log)
		}
		switch rec.State {
		case StateHealthy, StateInconclusive:
			h.Kind = notify.WatchHealthy
			if rec.State == StateInconclusive {
				h.Kind = notify.WatchInconclusive
			}
			f := notify.WatchEnd{Seen: seen, WatchFor: a.cfg.WatchFor}
			if f.Reason == "" {
				f.Reason = "as judged before a restart"
			}
			if rec.ApprovedBy != "" {
				// Said as it was: a person's approval ended it (Updated is
				// when the watch was stored as ended).
				f.By, f.Watched = rec.ApprovedBy, rec.Updated.Sub(rec.LiveAt)
			}
			end = &notify.Event{Header: h, Fact: f}
		}
	}
	for _, e := range settled {
		w.restateAnomaly(ctx, a, e.JournalEntry, now, log)
		ev := journalEvent(e, now)
		ev.Restated = true
		w.announce(ctx, ev.as(notify.RollbackStarted), log)
		ev.Target, ev.Rollback = e.Step.Target, e.Step.Created
		w.announce(ctx, ended(ev, e.Step), log)
	}
	if end != nil {
		w.announce(ctx, *end, log)
	}
}

// announce is where every announcement leaves the watcher, the
// rollback's and all others: a notifier's failure is logged, and the tick
// goes on.
func (w *Watcher) announce(ctx context.Context, e notify.Event, log *slog.Logger) {
	if err := w.cfg.Notifier.Notify(ctx, e); err != nil {
		log.Warn("announcement not delivered", "kind", e.Kind, "err", err)
	}
}
