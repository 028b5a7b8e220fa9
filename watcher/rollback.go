package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// The rollback's life beyond one worker: it is journaled before Heroku is
// called and the journal says how far it got (pending while the rollback
// release's phase runs, interrupted when the worker was stopped), so the
// next worker follows it to Heroku's final status or finishes it, and
// announces exactly that, once.

const (
	// maxRollbackRounds bounds the automatic rollbacks of one release: after
	// a round failed, the next evidence that the release is still bad and
	// current starts the next round.
	maxRollbackRounds = 3
	// resumeWindow is how old a journaled rollback that never reached Heroku
	// may be for the next worker to finish it; an older one is abandoned
	// and the watch decides again.
	resumeWindow = 30 * time.Minute
	// restateWindow is how far back a restarted worker says again what the
	// store says happened (the outbox keeps each fact once per chat).
	restateWindow = time.Hour
	// journalDepth is how many of an app's newest journal entries a restart
	// reads.
	journalDepth = 20
	// journalTimeout bounds a journal write; one made after the worker was
	// told to stop still gets it.
	journalTimeout = 2 * time.Second
	// forbiddenRetry is how long after a 403 an app is polled again.
	forbiddenRetry = time.Minute

	// roundSpacing is the least time between two automatic rollback rounds
	// of a release: the next one acts on evidence gathered since.
	roundSpacing = 30 * time.Second
)

// rollbackState is what an app's appState keeps of its rollbacks beyond
// the pending one.
type rollbackState struct {
	// forbidden: Heroku answered 403 for the app (announced once).
	forbidden bool
	// failedRounds counts failed automatic rollback rounds per release,
	// when there is no journal to count them.
	failedRounds map[int]int
	// retryAt: no automatic rollback round before then.
	retryAt time.Time
}

// pendingRollback is a rollback release Heroku created whose release phase
// had not finished when the worker last looked.
type pendingRollback struct {
	event   notify.Event // rollback.started's, with the rollback release
	version int          // the rollback release
	journal int64        // its journal entry (0: none)
}

// guardedRollback journals, rolls back through the Roller, completes the
// journal and announces: the one path for automatic and manual rollbacks.
// ev describes the release rolled back from. When ctx ends before the
// rollback did (the worker is stopping), the journal says interrupted and
// nothing is announced: the next worker finishes it.
func (w *Watcher) guardedRollback(ctx context.Context, a *appState, ev notify.Event, to int, by string, unfit func(heroku.Release) string, log *slog.Logger) rollback.Result {
	if to != 0 {
		ev.Target = to
	} else if ev.Target == 0 {
		t, _ := heroku.Previous(a.releases, ev.Release)
		ev.Target = t.Version
	}
	var journalID int64
	if w.cfg.Journal != nil {
		jctx, cancel := context.WithTimeout(ctx, journalTimeout)
		id, err := w.cfg.Journal.BeginRollback(jctx, store.JournalEntry{App: a.cfg.Name, Bad: ev.Release, Target: ev.Target, Reason: ev.Summary, By: by, Started: ev.At})
		cancel()
		if err != nil {
			// Without the journal a crash could hide this rollback from the
			// next worker; roll back all the same: the bad release is live.
			log.Error("cannot journal the rollback; rolling back anyway", "err", err)
		}
		journalID = id
	}
	return w.carryOut(ctx, a, ev, journalID, to, unfit, log)
}

// carryOut announces rollback.started, rolls back, and records and
// announces how it ended. journalID is the rollback's journal entry (0:
// none); it tells the rollback's announcements apart from another
// round's.
func (w *Watcher) carryOut(ctx context.Context, a *appState, ev notify.Event, journalID int64, to int, unfit func(heroku.Release) string, log *slog.Logger) rollback.Result {
	ev.Kind, ev.Instance = notify.RollbackStarted, journalID
	w.announce(ctx, ev, log)
	ev.Restated = false
	res := w.cfg.Roller.Do(ctx, rollback.Request{App: a.cfg.Name, Bad: ev.Release, To: to, Unfit: unfit})
	ev.Attempts = res.Tries
	if res.Target.Version != 0 {
		ev.Target = res.Target.Version
	}
	switch {
	case res.Outcome == rollback.Done:
		ev.Rollback = res.Created.Version
		a.nextPoll = time.Time{} // Heroku lists the new release at the next poll
		if res.Created.Status == heroku.StatusPending {
			// The rollback runs the release phase again: it is done only when
			// that succeeds. Announce then (followRollback).
			log.Info("rolled back; the rollback release's phase runs", "to", ev.Target, "rollback_release", ev.Rollback, "attempts", res.Tries, "recovered", res.Recovered)
			w.journal(ctx, journalID, store.JournalPending, ev.Target, ev.Rollback, "", log)
			a.pending = &pendingRollback{event: ev, version: ev.Rollback, journal: journalID}
			return res
		}
		log.Info("rolled back", "to", ev.Target, "rollback_release", ev.Rollback, "attempts", res.Tries, "recovered", res.Recovered)
		w.journal(ctx, journalID, string(rollback.Done), ev.Target, ev.Rollback, "", log)
		ev.Kind = notify.RollbackSucceeded
	case res.Outcome == rollback.Skipped:
		log.Warn("rollback skipped", "reason", res.Reason)
		w.journal(ctx, journalID, string(rollback.Skipped), ev.Target, 0, res.Reason, log)
		ev.Kind, ev.Reason = notify.RollbackSkipped, res.Reason
	case ctx.Err() != nil:
		// Stopped (SIGTERM): Heroku may or may not have made it. Not a
		// failure to announce: the next worker looks and finishes it.
		log.Warn("rollback interrupted: the worker is stopping; the next worker finishes it", "err", res.Err)
		w.journal(ctx, journalID, store.JournalInterrupted, ev.Target, 0, res.Err.Error(), log)
		return res
	default:
		log.Error("rollback failed", "err", res.Err, "round", ev.Round)
		w.journal(ctx, journalID, string(rollback.Failed), ev.Target, 0, res.Err.Error(), log)
		if res.Permanent {
			ev.Round, ev.Rounds = 0, 0 // no round will mend it: no promise of another
		}
		ev.Kind, ev.Err = notify.RollbackFailed, res.Err.Error()
	}
	w.announce(ctx, ev, log)
	return res
}

// journal records how far a rollback got, even after ctx ended (the
// worker stopping still writes down where it stopped).
func (w *Watcher) journal(ctx context.Context, id int64, outcome string, target, created int, errText string, log *slog.Logger) {
	if id == 0 || w.cfg.Journal == nil {
		return
	}
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := w.cfg.Journal.FinishRollback(jctx, id, outcome, target, created, errText); err != nil {
		log.Error("cannot record the rollback in the journal", "outcome", outcome, "err", err)
	}
}

// rollbackRound is the round the next automatic rollback of release is:
// one more than the rounds that failed (the journal counts them across
// workers).
func (w *Watcher) rollbackRound(ctx context.Context, a *appState, release int, log *slog.Logger) int {
	if w.cfg.Journal == nil {
		return a.failedRounds[release] + 1
	}
	entries, err := w.cfg.Journal.Journal(ctx, a.cfg.Name, false, journalDepth)
	if err != nil {
		log.Warn("cannot count the earlier rollback rounds", "err", err)
	}
	return roundOf(entries, release, 0)
}

// roundOf counts the automatic rollbacks of release in the journal (newest
// first), up to entry upTo (0: all), plus one for upTo itself or the next.
func roundOf(entries []store.JournalEntry, release int, upTo int64) int {
	n := 1
	for _, e := range entries {
		if e.Bad == release && e.By == "relwatch" && (upTo == 0 && e.Outcome == string(rollback.Failed) || upTo != 0 && e.ID < upTo) {
			n++
		}
	}
	return n
}

// retryLater reports whether an automatic rollback that failed will be
// tried again at the next evidence: the failure was one trying again may
// mend, the worker is not stopping, and rounds are left.
func (w *Watcher) retryLater(ctx context.Context, a *appState, ev notify.Event, res rollback.Result, log *slog.Logger) bool {
	if res.Outcome != rollback.Failed || ctx.Err() != nil || res.Permanent || ev.Round <= 0 {
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
	for _, r := range a.releases {
		if r.Version != p.version {
			continue
		}
		ev := p.event
		ev.At, ev.Restated = now, false
		switch r.Status {
		case heroku.StatusSucceeded:
			ev.Kind = notify.RollbackSucceeded
			w.journal(ctx, p.journal, string(rollback.Done), ev.Target, p.version, "", log)
			log.Info("the rollback release's phase succeeded", "rollback_release", p.version)
		case heroku.StatusFailed:
			ev.Kind = notify.RollbackFailed
			ev.Err = fmt.Sprintf("Heroku created v%d (Rollback to v%d) but its release phase failed; v%d is still live", r.Version, ev.Target, ev.Release)
			w.journal(ctx, p.journal, string(rollback.Failed), ev.Target, p.version, ev.Err, log)
			log.Error("the rollback release's phase failed", "rollback_release", p.version)
			res := rollback.Result{Outcome: rollback.Failed, Err: errors.New(ev.Err)}
			if wt := a.watch; wt != nil && wt.Release.Version == ev.Release && (ev.ByPerson() || w.retryLater(ctx, a, ev, res, log)) {
				// Still live: judged again (a person's rollback is not
				// tried again, but no longer stands in for one).
				wt.RolledBack = false
			}
		default:
			return
		}
		a.pending = nil
		w.announce(ctx, ev, log)
		return
	}
}

// reconcile finds out how the rollbacks a stopped worker left open ended,
// and finishes them: if Heroku has the rollback release, it follows it to
// succeeded or failed and announces that; if Heroku never had it, and it is
// recent, it carries it out now (the bad release must still be current:
// the Roller checks); an old one is abandoned and the watch decides again.
// journal is the app's newest entries, newest first.
func (w *Watcher) reconcile(ctx context.Context, a *appState, journal []store.JournalEntry, now time.Time, log *slog.Logger) error {
	var open []store.JournalEntry
	for _, e := range journal {
		if store.JournalOpen(e.Outcome) {
			open = append(open, e)
		}
	}
	if len(open) == 0 {
		return nil
	}
	releases, _, err := w.cfg.Heroku.ListReleases(ctx, a.cfg.Name, 50, false)
	if err != nil {
		return fmt.Errorf("read the releases of %s to finish its rollbacks: %w", a.cfg.Name, err)
	}
	for i := len(open) - 1; i >= 0; i-- { // oldest first
		e := open[i]
		ev := journalEvent(e, journal, now)
		log := log.With("journal", e.ID, "bad", e.Bad)
		w.restateAnomaly(ctx, a, e, now, log)
		watched := a.watch != nil && a.watch.Release.Version == e.Bad
		if watched {
			a.watch.RolledBack, a.watch.Anomalous = true, true
		}
		found := rollbackRelease(releases, e)
		if found == nil {
			if now.Sub(e.Started) > resumeWindow {
				log.Warn("a stopped worker's rollback never reached Heroku and is too old to finish; the watch decides again", "started", e.Started)
				w.journal(ctx, e.ID, store.JournalAbandoned, e.Target, 0, "the worker stopped before Heroku had the rollback", log)
				if watched {
					a.watch.RolledBack = false
				}
				continue
			}
			log.Warn("a stopped worker's rollback never reached Heroku; finishing it")
			to := e.Target
			var unfit func(heroku.Release) string
			if e.By == "relwatch" {
				// An automatic rollback picks its target from a fresh list,
				// never a release that was bad itself.
				to, unfit = 0, w.unfit(ctx, a, log)
			}
			ev.Restated = true // rollback.started was (or should have been) said by the worker that stopped
			res := w.carryOut(ctx, a, ev, e.ID, to, unfit, log)
			if watched && w.retryLater(ctx, a, ev, res, log) {
				a.watch.RolledBack = false
			}
			continue
		}
		ev.Restated = true // rollback.started: the stopped worker's
		w.announce(ctx, ev, log)
		ev.Restated = false
		to, _ := found.RollsBackTo()
		ev.Target, ev.Rollback = to, found.Version
		switch found.Status {
		case heroku.StatusPending:
			log.Warn("found the rollback a stopped worker made; its release phase runs", "rollback_release", found.Version)
			w.journal(ctx, e.ID, store.JournalPending, to, found.Version, "", log)
			a.pending = &pendingRollback{event: ev, version: found.Version, journal: e.ID}
			a.nextPoll = time.Time{}
			continue
		case heroku.StatusSucceeded:
			log.Warn("found the rollback a stopped worker made", "rollback_release", found.Version)
			w.journal(ctx, e.ID, string(rollback.Done), to, found.Version, "", log)
			ev.Kind = notify.RollbackSucceeded
		default:
			ev.Kind = notify.RollbackFailed
			ev.Err = fmt.Sprintf("Heroku created v%d (Rollback to v%d) but its release phase failed; v%d is still live", found.Version, to, e.Bad)
			log.Error("found the rollback a stopped worker made; its release phase failed", "rollback_release", found.Version)
			w.journal(ctx, e.ID, string(rollback.Failed), to, found.Version, ev.Err, log)
			res := rollback.Result{Outcome: rollback.Failed, Err: errors.New(ev.Err)}
			if watched && w.retryLater(ctx, a, ev, res, log) {
				a.watch.RolledBack = false
			}
		}
		w.announce(ctx, ev, log)
	}
	return nil
}

// journalEvent is the rollback.started event of a journal entry, as its
// worker announced it.
func journalEvent(e store.JournalEntry, journal []store.JournalEntry, now time.Time) notify.Event {
	ev := notify.Event{Kind: notify.RollbackStarted, At: now, App: e.App, Release: e.Bad, Target: e.Target, Reason: e.Reason,
		Summary: e.Reason, By: e.By, Instance: e.ID}
	if e.By == "relwatch" {
		ev.Auto, ev.Round, ev.Rounds = true, roundOf(journal, e.Bad, e.ID), maxRollbackRounds
	}
	return ev
}

// restateAnomaly says again the anomaly an automatic rollback's journal
// entry stands on: the worker that journaled it had announced it, but may
// have died before the announcement was stored (or the watch saved).
func (w *Watcher) restateAnomaly(ctx context.Context, a *appState, e store.JournalEntry, now time.Time, log *slog.Logger) {
	if e.By != "relwatch" {
		return
	}
	w.announce(ctx, notify.Event{Kind: notify.Anomaly, At: now, App: e.App, Release: e.Bad, Target: e.Target, Reason: e.Reason,
		Summary: e.Reason, Auto: true, Route: a.cfg.Route, Restated: true}, log)
}

// rollbackRelease is the "Rollback to vN" release a journal entry made, if
// Heroku has it: the one recorded, else one that came after the bad
// release and was created since the entry was (the target it names first).
func rollbackRelease(releases []heroku.Release, e store.JournalEntry) *heroku.Release {
	var any *heroku.Release
	for i, r := range releases {
		if e.Created != 0 {
			if r.Version == e.Created {
				return &releases[i]
			}
			continue
		}
		to, isRollback := r.RollsBackTo()
		if !isRollback || r.Version <= e.Bad || r.CreatedAt.Before(e.Started.Add(-time.Minute)) {
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

// restate says again what the store says happened to the app lately: the
// newest watch's opening, anomaly and end, and the rollbacks the journal
// completed (the open ones are reconcile's). A worker that stopped may have
// done a thing and died before its announcement was stored; the key of
// each restated event is the original's, so what was stored is not said
// twice. journal is newest first.
func (w *Watcher) restate(ctx context.Context, a *appState, rec *store.WatchRecord, journal []store.JournalEntry, now time.Time, log *slog.Logger) {
	var end *notify.Event
	if rec != nil && now.Sub(rec.Until) < restateWindow {
		wt := watchFromRecord(*rec)
		base := notify.Event{At: now, App: a.cfg.Name, Release: rec.Release.Version, Description: rec.Release.Description,
			WatchFor: a.cfg.WatchFor, Baseline: rec.BaselineTo.Sub(rec.BaselineFrom), Route: a.cfg.Route, Auto: a.cfg.AutoRollback,
			Quarantined: rec.Quarantined, Restated: true}
		started := base
		started.Kind = notify.WatchStarted
		w.announce(ctx, started, log)
		summary := notify.Summary(wt.Last.Verdict)
		if rec.Anomalous {
			anomaly := base
			anomaly.Kind, anomaly.Summary, anomaly.Reason, anomaly.Findings = notify.Anomaly, summary, summary, wt.Last.Verdict.Findings
			anomaly.Target = w.targetFor(ctx, a, rec.Release.Version, log)
			w.announce(ctx, anomaly, log)
		}
		switch rec.State {
		case StateHealthy, StateInconclusive:
			e := base
			e.Kind, e.Reason, e.Findings = notify.WatchHealthy, summary, wt.Last.Verdict.Findings
			if rec.State == StateInconclusive {
				e.Kind = notify.WatchInconclusive
			}
			if e.Reason == "" {
				e.Reason = "as judged before a restart"
			}
			if rec.ApprovedBy != "" {
				// Said as it was: a person's approval ended it (Updated is
				// when the watch was stored as ended).
				e.By, e.Watched = rec.ApprovedBy, rec.Updated.Sub(rec.LiveAt)
			}
			end = &e
		}
	}
	for i := len(journal) - 1; i >= 0; i-- { // oldest first
		e := journal[i]
		if store.JournalOpen(e.Outcome) || e.Outcome == store.JournalAbandoned || now.Sub(e.Started) > restateWindow {
			continue
		}
		w.restateAnomaly(ctx, a, e, now, log)
		ev := journalEvent(e, journal, now)
		ev.Restated = true
		w.announce(ctx, ev, log)
		ev.Target = e.Target
		switch e.Outcome {
		case string(rollback.Done):
			ev.Kind, ev.Rollback = notify.RollbackSucceeded, e.Created
		case string(rollback.Skipped):
			ev.Kind, ev.Reason = notify.RollbackSkipped, e.Error
		case string(rollback.Failed):
			ev.Kind, ev.Err = notify.RollbackFailed, e.Error
		default:
			continue
		}
		w.announce(ctx, ev, log)
	}
	if end != nil {
		w.announce(ctx, *end, log)
	}
}

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
		w.announce(ctx, notify.Event{Kind: notify.Forbidden, At: now, App: a.cfg.Name, Err: err.Error()}, log)
	}
	return true
}
