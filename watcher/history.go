package watcher

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
)

// verdictOf is what the watcher concluded about one of an app's past
// releases: it shapes later baselines and rollback targets.
type verdictOf struct {
	Anomalous  bool // judged anomalous at some tick of its watch
	RolledBack bool // relwatch rolled it back
}

// remember keeps what the watch concluded about its release. Only the
// verdicts of the newest rollback.ListDepth releases are kept: a verdict is
// read for a release a poll or a rollback's deeper read listed (the
// exclusions of a baseline, a target's fitness), and none of them lists an
// older one; a worker that runs for weeks must not keep a verdict for
// every release it ever watched.
func (a *appState) remember(wt *Watch) {
	if a.history == nil {
		a.history = map[int]verdictOf{}
	}
	v := wt.Release.Version
	a.history[v] = verdictOf{Anomalous: wt.Anomalous, RolledBack: wt.RolledBack}
	newest := max(a.lastSeen, v)
	if len(a.releases) > 0 {
		newest = max(newest, a.releases[0].Version) // newest first
	}
	for old := range a.history {
		if old <= newest-rollback.ListDepth {
			delete(a.history, old)
		}
	}
}

// historyDepth is how many past watches a restarted worker reads back.
const historyDepth = 20

// baselineLookback is how far before a release the watcher looks for its
// baseline, in baselines: the baseline is the most recent usable data,
// which may lie behind a stretch that was left out.
const baselineLookback = 3

// exclusions are the stretches before rel that its baseline leaves out:
// every earlier release's restart blip, and the time a release judged
// anomalous was live ("the baseline is the most recent data before the
// release that was not judged anomalous"). A release a person rolled back
// (`heroku rollback`, or relwatch's rollback command) was judged bad too,
// by the person: its time live is left out as well, whatever relwatch
// saw of it (a worker that was down, a watch that had ended, a slower
// latency that is no incident to the history's error and repeat shares).
func (w *Watcher) exclusions(a *appState, rel heroku.Release, from time.Time) []analysis.Interval {
	var out []analysis.Interval
	rolledBack := heroku.RolledBack(a.releases)
	add := func(iv analysis.Interval) {
		if iv.To.After(from) && iv.From.Before(rel.CreatedAt) {
			out = append(out, iv)
		}
	}
	for _, r := range a.releases {
		if r.Version >= rel.Version || r.Status != heroku.StatusSucceeded {
			continue
		}
		live := r.LiveAt()
		add(analysis.Interval{From: live, To: live.Add(a.cfg.RestartGrace)})
		_, undone := rolledBack[r.Version]
		if v, ok := a.history[r.Version]; (ok && v.Anomalous) || undone {
			add(analysis.Interval{From: live, To: replacedAt(a.releases, r, rel.CreatedAt)})
		}
	}
	return out
}

// replacedAt is when r stopped being live: when the first later release
// that succeeded went live, else until. Not when it was made: a release in
// its release phase (migrations, minutes) leaves r live until it ends.
func replacedAt(releases []heroku.Release, r heroku.Release, until time.Time) time.Time {
	end := until
	for _, o := range releases {
		if o.Version > r.Version && o.Status == heroku.StatusSucceeded && o.LiveAt().Before(end) {
			end = o.LiveAt()
		}
	}
	return end
}

// baselineOf is the baseline in the lookback s: its most recent length of
// usable data, leaving out exclude and the incidents in s (which it
// returns), so that an outage before the release is never its normal.
func baselineOf(s metrics.Series, exclude []analysis.Interval, length time.Duration, th analysis.Thresholds) (analysis.Baseline, []analysis.Interval) {
	leftOut := analysis.Incidents(s, exclude, th)
	all := append(slices.Clip(exclude), leftOut...)
	return analysis.NewBaseline(recentUsable(s, all, int(length/time.Second)), all, th), leftOut
}

// recentUsable trims s to its most recent want seconds of usable data
// (covered, not excluded), or to all of it from its first usable second:
// the baseline is the newest data there is.
func recentUsable(s metrics.Series, exclude []analysis.Interval, want int) metrics.Series {
	n, first := 0, s.End()
	for i := len(s.Points) - 1; i >= 0; i-- {
		t := s.Start.Add(time.Duration(i) * time.Second)
		if s.Points[i].OK && !analysis.AnyContains(exclude, t) {
			n++
			first = t
			if n == want {
				break
			}
		}
	}
	// Less than want: from the first usable second (the seconds before it
	// hold nothing, and the baseline's span says where its data is).
	return s.Slice(first, s.End())
}

// unfit says why a release must not be an automatic rollback target: it
// was live since the fault under watch began, or runs the build the fault
// began under (unless the fault came with a config change); it was judged
// anomalous, rolled back, its build was rolled back before, or it was
// replaced before it could be judged at all. "" means it may be
// gone back to.
func (w *Watcher) unfit(ctx context.Context, a *appState, log *slog.Logger) func(heroku.Release) string {
	rolledBack := heroku.RolledBack(a.releases)
	judgeable := max(a.cfg.RestartGrace, a.cfg.SettleGrace) + a.cfg.Thresholds.Sustain
	var fault origin
	if a.watch != nil {
		fault = a.watch.Origin
	}
	return func(r heroku.Release) string {
		if v := a.history[r.Version]; v.Anomalous || v.RolledBack {
			return notify.NotATarget(notify.WasAnomalous, 0)
		}
		if by, ok := rolledBack[r.Version]; ok {
			return notify.NotATarget(notify.WasRolledBack, by)
		}
		if f := fault.Release; f.Version != 0 {
			if r.Version >= f.Version {
				return notify.NotATarget(notify.LiveSinceFault, f.Version)
			}
			if !fault.Config && r.SlugID != "" && r.SlugID == f.SlugID {
				return notify.NotATarget(notify.FaultyBuild, f.Version)
			}
		}
		never := r.LiveAt().Add(judgeable)
		if end := replacedAt(a.releases, r, never); end.Before(never) {
			return notify.NotATarget(notify.NeverJudged, int(end.Sub(r.LiveAt())/time.Second))
		}
		if w.cfg.Quarantine != nil && r.SlugID != "" {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			bad, _, ok, err := w.cfg.Quarantine.Quarantined(qctx, a.cfg.Name, r.SlugID)
			if err != nil {
				log.Warn("cannot read the quarantine for a rollback target; going by what is known", "release", r.Version, "err", err)
			} else if ok {
				return notify.NotATarget(notify.QuarantinedBuild, bad)
			}
		}
		return ""
	}
}
