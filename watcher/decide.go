package watcher

import (
	"fmt"
	"github.com/relwatch/relwatch/store"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
)

// PlanKind is what to do with an app's watch given its releases.
type PlanKind string

// The plan kinds.
const (
	PlanNone    PlanKind = "none"
	PlanOpen    PlanKind = "open"    // a new release is live: watch it
	PlanReplace PlanKind = "replace" // a newer release replaced the watched one: watch it (same run, see Watch.FirstVersion)
	PlanClose   PlanKind = "close"   // the watched release is no longer live (a rollback, or gone)
	PlanIgnore  PlanKind = "ignore"  // a live release that will not be watched (a rollback, or too old)
)

// Plan is the outcome of PlanWatch.
type Plan struct {
	Kind    PlanKind
	Release heroku.Release // the release to watch, ignore, or that closed the watch
	Reason  string
}

// PlanWatch decides, from the releases Heroku lists, whether to open,
// replace or close a watch. active is the release under watch (0: none);
// lastSeen is the newest version already watched or ignored. A release is
// watched when it is live (succeeded; pending means its release phase still
// runs), is not a rollback, and went live less than watchFor ago.
func PlanWatch(releases []heroku.Release, active, lastSeen int, now time.Time, watchFor time.Duration) Plan {
	cur, ok := heroku.Current(releases)
	if !ok {
		return Plan{Kind: PlanNone}
	}
	if active != 0 {
		switch {
		case cur.Version == active:
			return Plan{Kind: PlanNone}
		case cur.Version > active:
			if to, isRollback := cur.RollsBackTo(); isRollback {
				return Plan{Kind: PlanClose, Release: cur, Reason: fmt.Sprintf("v%d rolled the app back to v%d", cur.Version, to)}
			}
			return Plan{Kind: PlanReplace, Release: cur}
		default:
			return Plan{Kind: PlanClose, Release: cur, Reason: fmt.Sprintf("v%d is current again", cur.Version)}
		}
	}
	if cur.Version <= lastSeen {
		return Plan{Kind: PlanNone}
	}
	if _, isRollback := cur.RollsBackTo(); isRollback {
		return Plan{Kind: PlanIgnore, Release: cur, Reason: "a rollback is never watched"}
	}
	if !cur.LiveAt().Add(watchFor).After(now) {
		return Plan{Kind: PlanIgnore, Release: cur, Reason: fmt.Sprintf("live since %s, longer than the watch time %s", cur.LiveAt().UTC().Format(time.RFC3339), watchFor)}
	}
	return Plan{Kind: PlanOpen, Release: cur}
}

// Overrides are what people said about an app (pause) or a release
// (approve); the manual commands set them.
type Overrides struct {
	PausedBy    string
	PausedUntil time.Time // zero with PausedBy set: until resumed
	PauseReason string
	ApprovedBy  string // the watched release was approved: end its watch healthy
}

// Paused reports whether automatic rollback is paused at now.
func (o Overrides) Paused(now time.Time) bool {
	return o.PausedBy != "" && store.Pause{Until: o.PausedUntil}.ActiveAt(now)
}

// Evidence is what the watcher knows of a watch at a tick.
type Evidence struct {
	Verdict  analysis.Verdict
	Coverage float64 // share of the seconds since the release went live that had data
	Err      string  // why there is no evidence this tick, when the source failed
}

// reason is the evidence in one line.
func (ev Evidence) reason() string {
	if ev.Err != "" {
		return "no evidence: " + ev.Err
	}
	return notify.Reason(ev.Verdict)
}

// Action is what Decide asks for.
type Action string

// The actions.
const (
	Continue     Action = "continue"     // keep watching
	EndHealthy   Action = "healthy"      // the watch is over, the release is good
	EndNoData    Action = "inconclusive" // the watch is over without enough data
	Alert        Action = "alert"        // bad, but not rolling back (alert-only, paused, already acted)
	RollBack     Action = "rollback"     // bad: roll back now
	EndAnomalous Action = "anomalous"    // the watch is over; it had been announced bad
)

// Decision is Decide's answer.
type Decision struct {
	Action Action
	Reason string
}

// WatchView is the part of a watch Decide reads.
type WatchView struct {
	Until      time.Time
	Anomalous  bool // an anomaly was already announced
	RolledBack bool // an automatic rollback was already attempted
	// Judged is true once a tick judged the release healthy on all its
	// signals: a watch that never was ends inconclusive, never healthy.
	Judged bool
	// MinCoverage is the share of the watch that must have had data for
	// it to end healthy (the thresholds' min_coverage, the same rule as
	// for one window): no data is no evidence.
	MinCoverage float64
	// RollbackPending: a rollback of the release is in its release phase.
	// The watch does not end before Heroku says how that ended: if the
	// phase fails, the release is still live, and the watch decides again.
	RollbackPending bool
}

// Decide is the watcher's judgement: a pure function of the watch, the
// evidence, the overrides, the app's mode and the time. Inconclusive
// evidence never rolls back and never ends healthy; at most one automatic
// rollback per watch.
func Decide(w WatchView, ev Evidence, o Overrides, autoRollback bool, now time.Time) Decision {
	if o.ApprovedBy != "" && !w.RolledBack {
		// Once rolled back, an approval changes nothing: the release is
		// not live, and its watch ends as rolled back.
		return Decision{Action: EndHealthy, Reason: "approved by " + o.ApprovedBy}
	}
	if ev.Verdict.Status == analysis.Anomalous && !w.RolledBack {
		reason := ev.reason()
		switch {
		case !autoRollback:
			return Decision{Action: Alert, Reason: reason}
		case o.Paused(now):
			return Decision{Action: Alert, Reason: fmt.Sprintf("%s; would roll back, but %s", reason, notify.PausedBy(o.PausedBy, o.PausedUntil, now))}
		}
		return Decision{Action: RollBack, Reason: reason}
	}
	if !now.Before(w.Until) && !w.RollbackPending {
		switch {
		case w.Anomalous || w.RolledBack:
			return Decision{Action: EndAnomalous, Reason: "the watch time is over"}
		case ev.Coverage < w.MinCoverage:
			return Decision{Action: EndNoData, Reason: fmt.Sprintf("metrics covered %.0f%% of the watch, need %.0f%%", 100*ev.Coverage, 100*w.MinCoverage)}
		case !w.Judged:
			return Decision{Action: EndNoData, Reason: "never judged on all signals: " + ev.reason()}
		case ev.Verdict.Status != analysis.Healthy:
			return Decision{Action: EndHealthy, Reason: "healthy when last judged; since then " + ev.reason()}
		}
		return Decision{Action: EndHealthy, Reason: ev.reason()}
	}
	return Decision{Action: Continue, Reason: ev.reason()}
}
