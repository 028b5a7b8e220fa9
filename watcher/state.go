package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// The watcher's seams to the state store, each as narrow as the watcher's
// need. A mode passes what it has: the worker all of them (*store.DB
// implements each), `relwatch replay --state` the overrides only, a plain
// replay none. A nil seam keeps nothing.

// HistoryStore keeps watches and decisions, so that a restarted worker
// carries on where it was and a person can see why.
type HistoryStore interface {
	SaveWatch(ctx context.Context, w store.WatchRecord) error
	Watches(ctx context.Context, app string, limit int) ([]store.WatchRecord, error)
	RecordDecision(ctx context.Context, d store.DecisionRecord) error
}

// OverrideStore is what people said: pauses, approvals, and the requests
// the worker carries out (a person's rollback) and announces.
type OverrideStore interface {
	// Overrides reads them for each app of watched (app -> the release
	// under watch, 0 for none) in one go, once per tick.
	Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error)
	FinishRequest(ctx context.Context, id int64, outcome string) error
}

// QuarantineStore remembers the slugs of rolled-back releases, so that the
// same build promoted again is called out.
type QuarantineStore interface {
	Quarantine(ctx context.Context, app, slug string, release int, reason string) error
	Quarantined(ctx context.Context, app, slug string) (release int, reason string, ok bool, err error)
}

// Leases says which apps this worker may act on now, when several workers
// share the apps; it is asked once per tick.
type Leases interface {
	Hold(ctx context.Context, apps []string) (map[string]bool, error)
	// HeldUntil is when the leases the last Hold returned end unrenewed:
	// no other worker takes them before.
	HeldUntil() time.Time
}

// SharedBudget is a Heroku token's rate-limit budget shared by the workers that
// use the token (the store): each tick a worker says what Heroku last told
// it and claims its polls, so that N workers leave the rollback reserve
// to all of them. It is asked once per tick.
type SharedBudget interface {
	ClaimPolls(ctx context.Context, c store.PollClaim) (store.PollGrant, error)
}

// Handoff carries a release push (Watcher.Nudge) for an app another worker
// holds to that worker: HandNudge at once, NudgesSince at each tick.
type Handoff interface {
	HandNudge(ctx context.Context, app string) error
	NudgesSince(ctx context.Context, since time.Time) ([]store.Nudge, error)
}

// Watch states, as stored.
const (
	StateWatching     = "watching"
	StateHealthy      = "healthy"
	StateInconclusive = "inconclusive"
	StateAnomalous    = "anomalous"
	StateRolledBack   = "rolled_back"
	StateClosed       = "closed"
)

// save persists the watch with state; errors are logged: a store that is
// down must not stop a rollback.
func (w *Watcher) save(ctx context.Context, wt *Watch, state string, log *slog.Logger) {
	if wt == nil {
		return
	}
	wt.State = state
	if w.cfg.History == nil {
		return
	}
	rec := wt.storedRecord()
	w.later.do(ctx, "save the watch", func(ctx context.Context) error { return w.cfg.History.SaveWatch(ctx, rec) }, log)
}

// readOverrides reads what people said about the apps this tick will act
// on, in one call.
func (w *Watcher) readOverrides(ctx context.Context, apps []*appState) (map[string]store.OverrideRecord, error) {
	if w.cfg.Overrides == nil {
		return nil, nil
	}
	watched := make(map[string]int, len(apps))
	for _, a := range apps {
		watched[a.cfg.Name] = 0
		if a.watch != nil {
			watched[a.cfg.Name] = a.watch.Release.Version
		}
	}
	return w.cfg.Overrides.Overrides(ctx, watched)
}

// overridesFor turns the stored overrides of an app into Decide's.
func overridesFor(so store.OverrideRecord) Overrides {
	var o Overrides
	if p := so.Pause; p != nil {
		o.PausedBy, o.PausedUntil, o.PauseReason = p.By, p.Until, p.Reason
	}
	o.ApprovedBy = so.Approved
	return o
}

// restore picks up where a previous worker left the app: its newest watch,
// and any rollback it journaled but did not complete (o: what people said
// since, read this tick: an automatic rollback that never reached Heroku
// is not carried out under a pause). What the stored
// state says happened lately is said again (restate): where the last
// worker had stored it already, the outbox keeps it once.
func (w *Watcher) restore(ctx context.Context, a *appState, o Overrides, now time.Time, log *slog.Logger) error {
	var newest *store.WatchRecord
	var recs []store.WatchRecord
	if w.cfg.History != nil {
		var err error
		if recs, err = w.cfg.History.Watches(ctx, a.cfg.Name, historyDepth); err != nil {
			return err
		}
	}
	var held string // why a stopped worker's automatic rollback is not carried out now
	if o.Paused(now) {
		held = notify.PausedBy(o.PausedBy, o.PausedUntil, now)
	}
	rollbacks, err := w.guard.Restore(ctx, a.cfg.Name, now, now.Add(-restateWindow), held, log)
	if err != nil {
		return err
	}
	// A watch goes on while it has time left, or past it while a rollback
	// of its release is in its release phase: if that phase fails, the
	// release is still live, and its watch decides again (Decide).
	goesOn := func(rec store.WatchRecord) bool {
		if rec.State != StateWatching {
			return false
		}
		if now.Before(rec.Until) {
			return true
		}
		for _, e := range rollbacks.Open {
			if e.Bad == rec.Release.Version && e.Step.Outcome == rollback.Pending {
				return true
			}
		}
		return false
	}
	for _, rec := range recs {
		// An ended watch is history, and so is one still "watching"
		// whose time ran out while no worker ran: its verdict so far
		// (anomalous) must keep its release from being a target.
		if !goesOn(rec) {
			a.remember(watchFromRecord(rec))
		}
	}
	if len(recs) > 0 {
		rec := recs[0]
		newest = &rec
		a.lastSeen = max(a.lastSeen, rec.Release.Version)
		if goesOn(rec) {
			a.watch = watchFromRecord(rec)
			log.Info("watch resumed", "release", rec.Release.Version, "time_left", max(0, rec.Until.Sub(now)).Round(time.Second))
		}
	}
	for _, e := range slices.Concat(rollbacks.Settled, rollbacks.Open) {
		if e.By != store.Automatic {
			je := e.JournalEntry
			if e.Step.Outcome == rollback.Abandoned {
				je.Outcome = store.JournalAbandoned // reconciled just now
			}
			a.persons = append(a.persons, je)
		}
	}
	w.restate(ctx, a, newest, rollbacks.Settled, now, log)
	w.reconcile(ctx, a, rollbacks.Open, now, log)
	return nil
}

// madeBefore finds the rollback a stopped worker made for request r (a
// person's rollback): journaled by the same person, of the release the
// request named if it named one, begun when the request was there. Its
// story is the journal's, told by restore; the request is not carried out
// again (the current release is now the rollback).
func (a *appState) madeBefore(r store.Request) (store.JournalEntry, bool) {
	for _, e := range a.persons {
		if e.By == r.By && !e.Started.Before(r.At) && (r.From == 0 || e.Bad == r.From) {
			return e, true
		}
	}
	return store.JournalEntry{}, false
}

// storyHeader is the header of what people said about a at now: in the
// story of the release under watch, else of the current release.
func (a *appState) storyHeader(now time.Time) notify.Header {
	h := notify.Header{At: now, App: a.cfg.Name}
	if a.watch != nil {
		h.Release, h.Description = a.watch.Release.Version, a.watch.Release.Description
	} else if cur, ok := heroku.Current(a.releases); ok {
		h.Release, h.Description = cur.Version, cur.Description
	}
	return h
}

// pauseRanOut announces a timed pause that ended by its time: the store
// no longer has it in force, and nobody resumed it (a resume is announced
// as its person's). Whoever paused was told its end then; the chat is told
// when automatic rollback is on again, as when someone resumes it. A
// worker that did not see the pause in force (a restart, a lease taken
// over) says nothing of it.
func (w *Watcher) pauseRanOut(ctx context.Context, a *appState, said store.OverrideRecord, now time.Time, log *slog.Logger) {
	was := a.pause
	a.pause = said.Pause
	if was == nil || said.Pause != nil || was.Until.IsZero() {
		return
	}
	for _, r := range said.Requests {
		if r.Kind == store.KindResume {
			return
		}
	}
	h := a.storyHeader(now)
	h.Kind = notify.PauseEnded
	w.announce(ctx, notify.Event{Header: h, Fact: notify.Request{By: was.By, Until: was.Until, Reason: was.Reason}}, log)
}

// requests carries out the override commands people gave since the last
// tick, and announces each.
func (w *Watcher) requests(ctx context.Context, a *appState, so store.OverrideRecord, now time.Time, log *slog.Logger) {
	for _, r := range so.Requests {
		if a.carried[r.ID] {
			// Carried out already; a store that refuses writes but answers
			// reads gives it again until its completion is written.
			continue
		}
		h := a.storyHeader(now)
		h.Instance = r.ID
		req := notify.Request{By: r.By, Reason: r.Reason}
		switch r.Kind {
		case store.KindPause:
			// The pause as it was asked: it may be resumed already.
			h.Kind, req.Until = notify.Paused, r.Until
		case store.KindResume:
			h.Kind = notify.Resumed
		case store.KindApprove:
			h.Kind = notify.Approved
			if h.Release != r.To {
				h.Release, h.Description = r.To, ""
			}
			// An approval ends the watch of its release; of a release whose
			// watch is over (or that was rolled back) it changes nothing.
			// One of a release not seen yet ends its watch when it opens,
			// unless the release is made after it (givenBeforeMade).
			watching := a.watch != nil && a.watch.Release.Version == r.To && !a.watch.RolledBack
			req.Moot = !watching && r.To <= a.lastSeen
			req.Unseen = !watching && r.To > a.lastSeen
		case store.KindRollback:
			if e, ok := a.madeBefore(r); ok && e.Outcome == store.JournalAbandoned {
				// Announced as failed by reconcile: asked long ago, it is
				// not carried out now on the person's behalf.
				log.Warn("a rollback request a stopped worker began and never carried out, too old to carry out now", "request", r.ID, "journal", e.ID, "release", e.Bad)
				w.finishRequest(ctx, a, r.ID, fmt.Sprintf("not carried out: the worker stopped before Heroku had the rollback of v%d (journal entry %d), and it was too old to carry out when a worker ran again; ask again if it is still wanted", e.Bad, e.ID), log)
				continue
			} else if ok {
				log.Info("a rollback request a stopped worker carried out: not again", "request", r.ID, "journal", e.ID, "release", e.Bad)
				w.finishRequest(ctx, a, r.ID, fmt.Sprintf("carried out before a restart, as journal entry %d (the rollback of v%d)", e.ID, e.Bad), log)
				continue
			}
			w.finishRequest(ctx, a, r.ID, w.manualRollback(ctx, a, r, h, log), log)
			continue
		case store.KindPromote:
			// Taken at the tick's start (takeNudges); promote announced it.
			w.finishRequest(ctx, a, r.ID, fmt.Sprintf("noted: releases polled every %s for %s", w.cfg.PollInterval, promotedHot), log)
			continue
		default:
			// Nothing to carry out, nor to announce: the request says so.
			log.Warn("unknown request kind", "request", r.ID, "kind", r.Kind)
			w.finishRequest(ctx, a, r.ID, "unknown request kind "+r.Kind, log)
			continue
		}
		w.announce(ctx, notify.Event{Header: h, Fact: req}, log)
		w.finishRequest(ctx, a, r.ID, "announced", log)
	}
}

// requestTimeout bounds the write that completes a request; one made after
// the worker was told to stop still gets it.
const requestTimeout = 2 * time.Second

// finishRequest completes request id of a, carried out: in the store, or
// when the store takes writes again (until then a.carried keeps it from
// being carried out again).
func (w *Watcher) finishRequest(ctx context.Context, a *appState, id int64, outcome string, log *slog.Logger) {
	// Written even when the worker is stopping: a request carried out (or
	// handed to the journal) must not be carried out again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	if a.carried == nil {
		a.carried = map[int64]bool{}
	}
	a.carried[id] = true
	w.later.do(ctx, fmt.Sprintf("complete request %d", id), func(ctx context.Context) error {
		if err := w.cfg.Overrides.FinishRequest(ctx, id, outcome); err != nil {
			return err
		}
		delete(a.carried, id)
		return nil
	}, log)
}
