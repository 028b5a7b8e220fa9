package watcher

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
)

// origin is the release a fault began under. Config is true when that
// release changed only config on a build that was healthy before it (the
// same slug as its predecessor's): then the config is the fault, and the
// earlier releases of the build are fit to go back to.
type origin struct {
	Release heroku.Release
	Config  bool
}

// onsetSkip is how long after a release goes live its traffic is not asked
// where a fault began: its restart blip (router errors for a few seconds
// while the dynos boot) is no fault.
const onsetSkip = 15 * time.Second

// faultOrigin finds the release the fault the watch judged began under.
// The watch's run of releases (the first one watched, then each that
// replaced it) is asked in order, each over the time it was live (past its
// restart blip), whether the deciding signal had already moved away from
// the baseline before the run began; the first that had is the origin.
// A slow fault under a deploy, judged only after a config change replaced
// it, so began under the deploy, not under the config change. Without a
// signal to follow, or data, the watched release is the origin.
func (w *Watcher) faultOrigin(ctx context.Context, a *appState, ev Evidence, now time.Time, log *slog.Logger) origin {
	r := w.faultRelease(ctx, a, ev, now, log)
	o := origin{Release: r, Config: configOnly(a.releases, r)}
	log.Info("the fault began under", "origin", r.Version, "config_change", o.Config, "first_watched", a.watch.FirstVersion)
	return o
}

// faultRelease is faultOrigin's release.
func (w *Watcher) faultRelease(ctx context.Context, a *appState, ev Evidence, now time.Time, log *slog.Logger) heroku.Release {
	wt := a.watch
	o := wt.Release
	fired := ev.Verdict.Fired()
	if len(fired) == 0 {
		return o
	}
	var run []heroku.Release
	for _, r := range a.releases {
		if _, rb := r.RollsBackTo(); r.Status == heroku.StatusSucceeded && !rb && r.Version >= wt.FirstVersion && r.Version <= wt.Release.Version {
			run = append(run, r)
		}
	}
	if len(run) < 2 {
		return o
	}
	slices.SortFunc(run, func(x, y heroku.Release) int { return x.Version - y.Version })
	first := run[0]
	th := a.cfg.Thresholds
	route := decidingRoute(a, ev.Verdict)
	from := first.CreatedAt.Add(-baselineLookback * a.cfg.Baseline)
	before, err := a.cfg.Source.Counts(ctx, route, from, first.CreatedAt)
	if err != nil {
		log.Warn("cannot read the traffic before the first release of the watch; the fault is taken to have begun under the watched release", "err", err)
		return o
	}
	base, _ := baselineOf(before, w.exclusions(a, first, from), a.cfg.Baseline, th)
	if !base.Usable(th) {
		return o
	}
	since, err := a.cfg.Source.Counts(ctx, route, first.LiveAt(), now)
	if err != nil {
		log.Warn("cannot read the traffic since the first release of the watch; the fault is taken to have begun under the watched release", "err", err)
		return o
	}
	for i, r := range run {
		end := now
		if i+1 < len(run) {
			end = run[i+1].LiveAt()
		}
		if analysis.Elevated(base, since.Slice(r.LiveAt().Add(onsetSkip), end), fired[0].Signal, th) {
			return r
		}
	}
	return o
}

// configOnly reports whether r runs the same build (slug) as the release
// before it: a config change.
func configOnly(releases []heroku.Release, r heroku.Release) bool {
	prev, ok := heroku.Previous(releases, r.Version)
	return ok && r.SlugID != "" && prev.SlugID == r.SlugID
}

// keepsFaultyBuild reports whether rel, replacing the watch wt, runs the
// build wt watched while that build already showed errors (judged
// anomalous, or an error share already elevated past the restart blip):
// the new release's restart does not start the fault's clock again, so
// its watch goes on from where wt's began, on wt's baseline.
func keepsFaultyBuild(wt *Watch, rel heroku.Release, th analysis.Thresholds) bool {
	if wt == nil || rel.SlugID == "" || rel.SlugID != wt.Release.SlugID {
		return false
	}
	if wt.Anomalous {
		return true
	}
	if wt.Baseline == nil || !wt.Baseline.Usable(th) {
		return false
	}
	s := metrics.Series{Start: wt.LiveAt, Points: wt.sinceLive, HasRepeats: wt.Baseline.HasRepeats}
	return analysis.Elevated(*wt.Baseline, s.Slice(wt.LiveAt.Add(onsetSkip), s.End()), analysis.ErrorShare, th)
}
