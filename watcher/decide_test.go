package watcher

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func rel(v int, desc, status string, created time.Time) heroku.Release {
	return heroku.Release{Version: v, Description: desc, Status: status, CreatedAt: created, UpdatedAt: created}
}

func TestPlanWatch(t *testing.T) {
	old := rel(41, "Deploy a", "succeeded", t0.Add(-2*time.Hour))
	fresh := rel(42, "Promote s v118", "succeeded", t0.Add(-time.Minute))
	pending := rel(43, "Deploy b", "pending", t0)
	failed := rel(43, "Deploy b", "failed", t0)
	human := rel(43, "Deploy fix", "succeeded", t0)
	rb := rel(43, "Rollback to v41", "succeeded", t0)
	tests := []struct {
		name             string
		releases         []heroku.Release
		active, lastSeen int
		want             PlanKind
		version          int
	}{
		{"nothing new", []heroku.Release{fresh, old}, 0, 42, PlanNone, 0},
		{"a release went live", []heroku.Release{fresh, old}, 0, 41, PlanOpen, 42},
		{"too old to watch at start", []heroku.Release{old}, 0, 0, PlanIgnore, 41},
		{"pending is not live yet", []heroku.Release{pending, fresh, old}, 42, 42, PlanNone, 0},
		{"a failed release is never watched", []heroku.Release{failed, fresh, old}, 42, 42, PlanNone, 0},
		{"a newer deploy replaces the watch", []heroku.Release{human, fresh, old}, 42, 42, PlanReplace, 43},
		{"a rollback closes the watch", []heroku.Release{rb, fresh, old}, 42, 42, PlanClose, 43},
		{"a rollback is never watched", []heroku.Release{rb, fresh, old}, 0, 42, PlanIgnore, 43},
		{"no release", nil, 0, 0, PlanNone, 0},
	}
	for _, tt := range tests {
		p := PlanWatch(tt.releases, tt.active, tt.lastSeen, t0, 20*time.Minute)
		if p.Kind != tt.want || p.Release.Version != tt.version {
			t.Errorf("%s: plan %s v%d, want %s v%d", tt.name, p.Kind, p.Release.Version, tt.want, tt.version)
		}
	}
}

func TestDecide(t *testing.T) {
	bad := Evidence{Verdict: analysis.Verdict{Status: analysis.Anomalous}, Coverage: 1}
	good := Evidence{Verdict: analysis.Verdict{Status: analysis.Healthy}, Coverage: 1}
	unsure := Evidence{Verdict: analysis.Verdict{Status: analysis.Inconclusive}, Coverage: 0.2}
	unjudged := Evidence{Verdict: analysis.Verdict{Status: analysis.Inconclusive}, Coverage: 1}
	open := WatchView{Until: t0.Add(time.Minute), MinCoverage: 0.5, Judged: true}
	over := WatchView{Until: t0, MinCoverage: 0.5, Judged: true}
	neverJudged := WatchView{Until: t0, MinCoverage: 0.5}
	paused := Overrides{PausedBy: "ana", PausedUntil: t0.Add(time.Hour)}
	expired := Overrides{PausedBy: "ana", PausedUntil: t0.Add(-time.Second)}
	tests := []struct {
		name string
		w    WatchView
		ev   Evidence
		o    Overrides
		auto bool
		want Action
	}{
		{"bad rolls back", open, bad, Overrides{}, true, RollBack},
		{"bad, alert only", open, bad, Overrides{}, false, Alert},
		{"bad while paused", open, bad, paused, true, Alert},
		{"bad after the pause expired", open, bad, expired, true, RollBack},
		{"at most one automatic rollback", WatchView{Until: t0.Add(time.Minute), RolledBack: true}, bad, Overrides{}, true, Continue},
		{"inconclusive never rolls back", open, unsure, Overrides{}, true, Continue},
		{"good keeps watching", open, good, Overrides{}, true, Continue},
		{"time up, good", over, good, Overrides{}, true, EndHealthy},
		{"time up, too little data", over, unsure, Overrides{}, true, EndNoData},
		{"time up, inconclusive throughout", neverJudged, unjudged, Overrides{}, true, EndNoData},
		{"time up, judged healthy before a late gap", over, unjudged, Overrides{}, true, EndHealthy},
		{"time up, coverage is the thresholds' rule", WatchView{Until: t0, MinCoverage: 0.9, Judged: true}, Evidence{Verdict: good.Verdict, Coverage: 0.8}, Overrides{}, true, EndNoData},
		{"time up after an alert", WatchView{Until: t0, Anomalous: true, MinCoverage: 0.5}, good, Overrides{}, false, EndAnomalous},
		{"time up, its rollback's phase still runs", WatchView{Until: t0, Anomalous: true, RolledBack: true, RollbackPending: true, MinCoverage: 0.5}, bad, Overrides{}, true, Continue},
		{"time up, its rollback ended", WatchView{Until: t0, Anomalous: true, RolledBack: true, MinCoverage: 0.5}, bad, Overrides{}, true, EndAnomalous},
		// A bad release that may not be rolled back stays under watch while
		// it is still bad; once the pause runs out, the evidence rolls it back.
		{"paused past the watch, still bad", WatchView{Until: t0, Anomalous: true, MinCoverage: 0.5}, bad, paused, true, Alert},
		{"paused past the watch, the pause ran out", WatchView{Until: t0, Anomalous: true, MinCoverage: 0.5}, bad, expired, true, RollBack},
		{"alert only past the watch, still bad", WatchView{Until: t0, Anomalous: true, MinCoverage: 0.5}, bad, Overrides{}, false, Alert},
		{"approved ends healthy", open, bad, Overrides{ApprovedBy: "ana"}, true, EndHealthy},
	}
	for _, tt := range tests {
		if d := Decide(tt.w, tt.ev, tt.o, tt.auto, t0); d.Action != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, d.Action, d.Reason, tt.want)
		}
	}
	// The reason a watch ended without data says its numbers as people
	// read them: percent of the watch.
	d := Decide(WatchView{Until: t0, MinCoverage: 0.9, Judged: true}, Evidence{Verdict: good.Verdict, Coverage: 0.8}, Overrides{}, true, t0)
	if want := "metrics covered 80% of the watch, need 90%"; d.Reason != want {
		t.Errorf("too little data: %q, want %q", d.Reason, want)
	}
}
