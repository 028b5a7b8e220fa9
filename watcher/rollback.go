package watcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// The watcher decides when to roll back and announces; the rollback's
// journal, and what makes it exactly once across crashes, is
// rollback.Guard's. Each Step the guard returns is announced here.

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
	// failedRounds counts failed automatic rollback rounds per release,
	// when there is no journal to count them.
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

// guardedRollback journals, rolls back and announces: the one path for
// automatic and manual rollbacks. ev describes the release rolled back
// from. When ctx ends before the rollback did (the worker is stopping),
// the journal says interrupted and nothing is announced: the next worker
// finishes it.
func (w *Watcher) guardedRollback(ctx context.Context, a *appState, ev rollbackEvent, to int, by string, unfit func(heroku.Release) string, log *slog.Logger) rollback.Step {
	if to != 0 {
		ev.Target = to
	} else if ev.Target == 0 {
		t, _ := heroku.Previous(a.releases, ev.Release)
		ev.Target = t.Version
	}
	st := w.guard.Run(ctx, store.JournalEntry{App: a.cfg.Name, Bad: ev.Release, Target: ev.Target, Reason: ev.Summary, By: by, Started: ev.At},
		rollback.Request{App: a.cfg.Name, Bad: ev.Release, To: to, Unfit: unfit}, w.starting(ctx, a, ev, log), log.With("round", ev.Round))
	w.carriedOut(ctx, a, ev, st, log)
	return st
}

// carryOut makes a journaled rollback a stopped worker never got to
// Heroku (journalID), and announces it as guardedRollback does.
func (w *Watcher) carryOut(ctx context.Context, a *appState, ev rollbackEvent, journalID int64, to int, unfit func(heroku.Release) string, log *slog.Logger) rollback.Step {
	starting := w.starting(ctx, a, ev, log)
	req := rollback.Request{App: a.cfg.Name, Bad: ev.Release, To: to, Unfit: unfit, Acting: func(target heroku.Release) { starting(journalID, target) }}
	st := w.guard.Carry(ctx, journalID, ev.Target, req, log.With("round", ev.Round))
	w.carriedOut(ctx, a, ev, st, log)
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

// carriedOut announces how the rollback ev started ended (settle).
func (w *Watcher) carriedOut(ctx context.Context, a *appState, ev rollbackEvent, st rollback.Step, log *slog.Logger) {
	ev.Instance, ev.Restated = st.ID, false
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
	case st.Outcome != rollback.Pending && st.Outcome != rollback.Done:
		a.rolling = nil
	}
	switch st.Outcome {
	case rollback.Pending:
		a.pending = &pendingRollback{event: ev, version: st.Created, journal: st.ID}
		a.nextPoll = time.Time{}
		return
	case rollback.Interrupted, rollback.Abandoned, rollback.Resume:
		return
	}
	w.announce(ctx, ended(ev, st), log)
}

// ended is the announcement of how a rollback ev ended (st: done, skipped
// or failed).
func ended(ev rollbackEvent, st rollback.Step) notify.Event {
	switch st.Outcome {
	case rollback.Done:
		return ev.as(notify.RollbackSucceeded)
	case rollback.Skipped:
		ev.Reason = st.Reason
		return ev.as(notify.RollbackSkipped)
	}
	ev.Err = st.Err
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
	if w.cfg.Journal == nil {
		if a.failedRounds == nil {
			a.failedRounds = map[int]int{}
		}
		a.failedRounds[ev.Release]++
	}
	if ev.Round >= ev.Rounds {
		log.Error("automatic rollback given up", "rounds", ev.Round)
		return false
	}
	a.retryAt = ev.At.Add(roundSpacing)
	log.Warn("automatic rollback failed; trying again at the next evidence", "round", ev.Round, "of", ev.Rounds, "not_before", a.retryAt)
	return true
}

// followRollback announces the end of a rollback whose release phase was
// still running, as Heroku says it ended.
func (w *Watcher) followRollback(ctx context.Context, a *appState, now time.Time, log *slog.Logger) {
	p := a.pending
	if p == nil {
		return
	}
	st, ended := w.guard.Follow(ctx, p.journal, a.releases, p.version, p.event.Release, p.event.Target, log)
	if !ended {
		return
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
			if watched {
				a.watch.RolledBack = false
			}
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
			if watched && w.retryLater(ctx, a, ev, st, log) {
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
	ev := rollbackEvent{Header: notify.Header{At: now, App: e.App, Release: e.Bad, Instance: e.ID},
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
