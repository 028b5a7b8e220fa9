package watcher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// State is where the watcher keeps what it decided, so a restarted worker
// carries on, and where it reads what people said. *store.DB implements it.
type State interface {
	SaveWatch(ctx context.Context, w store.WatchRow) error
	LatestWatch(ctx context.Context, app string) (store.WatchRow, bool, error)
	RecordDecision(ctx context.Context, d store.Decision) error
	BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error)
	FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error
	Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error)
	PendingRequests(ctx context.Context, app string) ([]store.Request, error)
	FinishRequest(ctx context.Context, id int64, outcome string) error
	PauseOf(ctx context.Context, app string) (store.Pause, bool, error)
	ApprovedBy(ctx context.Context, app string, release int) (string, error)
	Quarantine(ctx context.Context, app, slug string, release int, reason string) error
	Quarantined(ctx context.Context, app, slug string) (int, string, bool, error)
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
	if w.cfg.State == nil || wt == nil {
		return
	}
	wt.State = state
	data, err := json.Marshal(wt)
	if err == nil {
		err = w.cfg.State.SaveWatch(ctx, store.WatchRow{App: wt.App, Release: wt.Release.Version, State: state, Data: data})
	}
	if err != nil {
		log.Error("cannot save the watch", "err", err)
	}
}

func (w *Watcher) record(ctx context.Context, wt *Watch, d Decision, ev Evidence, now time.Time, log *slog.Logger) {
	if w.cfg.State == nil {
		return
	}
	evidence, _ := json.Marshal(ev.Verdict.Findings)
	if err := w.cfg.State.RecordDecision(ctx, store.Decision{App: wt.App, Release: wt.Release.Version, At: now,
		Action: string(d.Action), Reason: d.Reason, Evidence: string(evidence)}); err != nil {
		log.Error("cannot record the decision", "err", err)
	}
}

// overrides reads what people said about the app and the watched release.
func (w *Watcher) overrides(ctx context.Context, app string, release int) (Overrides, error) {
	var o Overrides
	if w.cfg.State == nil {
		return o, nil
	}
	p, ok, err := w.cfg.State.PauseOf(ctx, app)
	if err != nil {
		return o, err
	}
	if ok {
		o.PausedBy, o.PausedUntil, o.PauseReason = p.By, p.Until, p.Reason
	}
	o.ApprovedBy, err = w.cfg.State.ApprovedBy(ctx, app, release)
	return o, err
}

// restore picks up where a previous worker left the app: its newest watch,
// and any rollback it journaled but did not complete.
func (w *Watcher) restore(ctx context.Context, a *appState, now time.Time, log *slog.Logger) error {
	if w.cfg.State == nil {
		return nil
	}
	row, ok, err := w.cfg.State.LatestWatch(ctx, a.cfg.Name)
	if err != nil {
		return err
	}
	if ok {
		a.lastSeen = max(a.lastSeen, row.Release)
		var wt Watch
		if err := json.Unmarshal(row.Data, &wt); err != nil {
			log.Error("cannot read the stored watch; starting afresh", "release", row.Release, "err", err)
		} else if row.State == StateWatching && now.Before(wt.Until) {
			a.watch = &wt
			log.Info("watch resumed", "release", wt.Release.Version, "time_left", wt.Until.Sub(now).Round(time.Second))
		}
	}
	return w.reconcile(ctx, a, now, log)
}

// reconcile completes rollbacks a killed worker journaled but never
// finished: if Heroku has the rollback release, it happened (announce it);
// if not, it did not, and the watch may decide again.
func (w *Watcher) reconcile(ctx context.Context, a *appState, now time.Time, log *slog.Logger) error {
	open, err := w.cfg.State.Journal(ctx, a.cfg.Name, true, 20)
	if err != nil || len(open) == 0 {
		return err
	}
	releases, _, err := w.cfg.Heroku.ListReleases(ctx, a.cfg.Name, 50, false)
	if err != nil {
		return err
	}
	for _, e := range open {
		var found *heroku.Release
		for i, r := range releases {
			to, isRollback := r.RollsBackTo()
			if isRollback && r.Version > e.Bad && (e.Target == 0 || to == e.Target) && !r.CreatedAt.Before(e.Started.Add(-time.Minute)) {
				found = &releases[i]
			}
		}
		ev := notify.Event{At: now, App: a.cfg.Name, Release: e.Bad, Target: e.Target, Reason: e.Reason, Summary: e.Reason, By: e.By}
		if found != nil {
			to, _ := found.RollsBackTo()
			ev.Kind, ev.Target, ev.Rollback = notify.RollbackSucceeded, to, found.Version
			if err := w.cfg.State.FinishRollback(ctx, e.ID, string(rollback.Done), to, found.Version, ""); err != nil {
				return err
			}
			log.Warn("found the rollback a stopped worker made", "bad", e.Bad, "rollback_release", found.Version)
			if a.watch != nil && a.watch.Release.Version == e.Bad {
				a.watch.RolledBack, a.watch.Anomalous = true, true
			}
			w.announce(ctx, ev, log)
			continue
		}
		if err := w.cfg.State.FinishRollback(ctx, e.ID, "interrupted", e.Target, 0, "the worker stopped before Heroku had the rollback"); err != nil {
			return err
		}
		log.Warn("a stopped worker's rollback never reached Heroku; the watch decides again", "bad", e.Bad)
	}
	return nil
}

// requests carries out the override commands people gave since the last
// tick, and announces each.
func (w *Watcher) requests(ctx context.Context, a *appState, now time.Time, log *slog.Logger) {
	if w.cfg.State == nil {
		return
	}
	reqs, err := w.cfg.State.PendingRequests(ctx, a.cfg.Name)
	if err != nil {
		log.Error("cannot read override requests", "err", err)
		return
	}
	for _, r := range reqs {
		ev := notify.Event{At: now, App: a.cfg.Name, By: r.By, Reason: r.Reason}
		if a.watch != nil {
			ev.Release, ev.Description = a.watch.Release.Version, a.watch.Release.Description
		} else if cur, ok := heroku.Current(a.releases); ok {
			ev.Release, ev.Description = cur.Version, cur.Description
		}
		outcome := "announced"
		switch r.Kind {
		case store.KindPause:
			ev.Kind = notify.Paused
			if p, ok, _ := w.cfg.State.PauseOf(ctx, a.cfg.Name); ok {
				ev.Until = p.Until
			}
		case store.KindResume:
			ev.Kind = notify.Resumed
		case store.KindApprove:
			ev.Kind, ev.Release = notify.Approved, r.To
		case store.KindRollback:
			outcome = w.manualRollback(ctx, a, r, ev, log)
			if err := w.cfg.State.FinishRequest(ctx, r.ID, outcome); err != nil {
				log.Error("cannot complete the request", "id", r.ID, "err", err)
			}
			continue
		default:
			outcome = "unknown request kind " + r.Kind
		}
		w.announce(ctx, ev, log)
		if err := w.cfg.State.FinishRequest(ctx, r.ID, outcome); err != nil {
			log.Error("cannot complete the request", "id", r.ID, "err", err)
		}
	}
}

// manualRollback is a person's rollback: the same guarded path and journal
// as an automatic one.
func (w *Watcher) manualRollback(ctx context.Context, a *appState, r store.Request, ev notify.Event, log *slog.Logger) string {
	cur, ok := heroku.Current(a.releases)
	if !ok {
		ev.Kind, ev.Reason = notify.RollbackSkipped, "no current release known yet"
		w.announce(ctx, ev, log)
		return "skipped: " + ev.Reason
	}
	ev.Release, ev.Description = cur.Version, cur.Description
	reason := fmt.Sprintf("requested by %s", r.By)
	if r.Reason != "" {
		reason += ": " + r.Reason
	}
	ev.Reason, ev.Summary = reason, reason
	res := w.guardedRollback(ctx, a, ev, r.To, r.By, log)
	switch res.Outcome {
	case rollback.Done:
		return fmt.Sprintf("done: v%d rolled back to v%d as v%d", cur.Version, res.Target.Version, res.Created.Version)
	case rollback.Skipped:
		return "skipped: " + res.Reason
	}
	return "failed: " + strings.ReplaceAll(fmt.Sprint(res.Err), "\n", " ")
}

// crashHook lets the kill-during-rollback test stop the process between
// Heroku's answer and the journal's completion, as a SIGKILL would.
func crashHook(ctx context.Context) {
	if f, ok := ctx.Value(crashKey{}).(func()); ok {
		f()
	}
}

type crashKey struct{}

// WithCrashAfterRollback returns a context whose rollbacks call f right
// after Heroku answers, before anything is written: for crash tests only.
func WithCrashAfterRollback(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, crashKey{}, f)
}
