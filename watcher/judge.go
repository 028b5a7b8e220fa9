package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// blindAfter is how long a watch goes without reading its traffic before
// it says so: a source down through a release is relwatch not watching,
// which the log alone would leave nobody to see.
const blindAfter = time.Minute

// blind notes that the watch under way could not read its traffic (err),
// and announces it once the source has failed for blindAfter: once a
// release.
func (w *Watcher) blind(ctx context.Context, a *appState, err error, now time.Time, log *slog.Logger) {
	wt := a.watch
	if wt.unreadSince.IsZero() {
		wt.unreadSince = now
	}
	if wt.saidBlind || now.Sub(wt.unreadSince) < blindAfter {
		return
	}
	wt.saidBlind = true
	w.announce(ctx, notify.Event{Header: notify.Header{Kind: notify.Blind, At: now, App: a.cfg.Name, Release: wt.Release.Version, Description: wt.Release.Description},
		Fact: notify.Unread{Route: a.cfg.Route, For: now.Sub(wt.unreadSince), Err: err.Error()}}, log)
}

// judge weighs the watch under way at a tick: the evidence (the
// release's traffic against its baseline, route by route), Decide's
// action on it, and where the fault began (faultOrigin); the rollback it
// may call for is rollBack's.
func (w *Watcher) judge(ctx context.Context, a *appState, o Overrides, now time.Time, log *slog.Logger) {
	wt := a.watch
	log = log.With("release", wt.Release.Version)
	ev, err := w.evidence(ctx, a, now, log)
	if err != nil {
		log.Warn("no evidence this tick", "err", err)
		ev = Evidence{Verdict: analysis.Verdict{Status: analysis.Inconclusive}, Coverage: wt.Last.Coverage, Err: err.Error()}
		w.blind(ctx, a, err, now, log)
	} else {
		wt.unreadSince = time.Time{}
	}
	wt.Last = ev
	if ev.Verdict.Status == analysis.Healthy {
		wt.Judged = true
	}
	if f, ok := predatedFinding(ev.Verdict); ok && wt.predated == nil {
		wt.predated = &f
	}
	view := WatchView{Until: wt.Until, Anomalous: wt.Anomalous, RolledBack: wt.RolledBack, Judged: wt.Judged, MinCoverage: a.cfg.Thresholds.MinCoverage,
		RollbackPending: a.pending != nil && a.pending.event.Release == wt.Release.Version}
	d := Decide(view, ev, o, wt.mayAct(a), now)
	route := decidingRoute(a, ev.Verdict)
	h := notify.Header{At: now, App: a.cfg.Name, Release: wt.Release.Version, Description: wt.Release.Description}
	seen := notify.Seen{Reason: d.Reason, Summary: notify.Summary(ev.Verdict), Findings: ev.Verdict.Findings, Trend: wt.trend(wt.trafficOf(a, route)), Route: route}
	switch d.Action {
	case Continue:
		w.refresh(ctx, wt, now, log)
	case EndHealthy, EndNoData, EndAnomalous:
		log.Info("watch ended", "outcome", d.Action, "reason", d.Reason)
		w.record(ctx, wt, d, ev, now, log)
		a.watch = nil
		a.remember(wt)
		end := notify.WatchEnd{Seen: seen, WatchFor: a.cfg.WatchFor}
		end.Reason = wt.withPredated(end.Reason)
		switch d.Action {
		case EndHealthy:
			if o.ApprovedBy != "" {
				// A person cut the watch short: say who, and after how long.
				wt.ApprovedBy = o.ApprovedBy
				end.By, end.Watched = o.ApprovedBy, now.Sub(wt.LiveAt)
			}
			w.save(ctx, wt, StateHealthy, log)
			h.Kind = notify.WatchHealthy
			w.announce(ctx, notify.Event{Header: h, Fact: end}, log)
		case EndNoData:
			w.save(ctx, wt, StateInconclusive, log)
			h.Kind = notify.WatchInconclusive
			w.announce(ctx, notify.Event{Header: h, Fact: end}, log)
		default:
			w.save(ctx, wt, StateAnomalous, log)
		}
	case Alert:
		if !wt.Anomalous {
			wt.Origin = w.faultOrigin(ctx, a, ev, now, log)
		}
		if wt.Anomalous {
			w.refresh(ctx, wt, now, log)
			break
		}
		wt.Anomalous = true
		w.record(ctx, wt, d, ev, now, log)
		w.save(ctx, wt, StateWatching, log)
		wt.stored = now
		f := wt.anomaly(a, seen)
		if o.Paused(now) && f.Auto {
			f.PausedBy, f.Until = o.PausedBy, o.PausedUntil
		}
		f.Target = w.targetFor(ctx, a, wt.Release.Version, log)
		h.Kind = notify.Anomaly
		w.announce(ctx, notify.Event{Header: h, Fact: f}, log)
	case RollBack:
		w.record(ctx, wt, d, ev, now, log)
		if wt.Origin.Release.Version == 0 {
			wt.Origin = w.faultOrigin(ctx, a, ev, now, log)
		}
		w.rollBack(ctx, a, h, seen, log)
	}
}

// evidence gathers the watch's evidence at now.
func (w *Watcher) evidence(ctx context.Context, a *appState, now time.Time, log *slog.Logger) (Evidence, error) {
	wt := a.watch
	th := thresholdsOf(a, wt)
	if err := w.baseline(ctx, a, wt, th); err != nil {
		return Evidence{}, err
	}
	s, err := a.cfg.Source.Counts(ctx, a.cfg.Route, wt.LiveAt, now)
	if err != nil {
		return Evidence{}, fmt.Errorf("read traffic of %s since v%d: %w", a.cfg.Route, wt.Release.Version, err)
	}
	wt.sinceLive, wt.repeats, wt.latency = s.Points, s.HasRepeats, s.HasLatency
	var ev Evidence
	if n := len(s.Points); n > 0 {
		covered := 0
		for _, p := range s.Points {
			if p.OK {
				covered++
			}
		}
		ev.Coverage = float64(covered) / float64(n)
	}
	// Each route is one more chance to be wrong: with several, every
	// route's tests must reach the z that keeps them together as rarely
	// wrong as one.
	others := w.otherRoutes(a, wt, now, log)
	thZ := th
	thZ.Z = analysis.ZFor(th.Z, 1+len(others))
	ev.Verdict = analysis.Assess(*wt.Baseline, s, analysis.Grace{Errors: a.cfg.RestartGrace, Traffic: a.cfg.SettleGrace}, thZ)
	// Asked only of a collapse: the other traffic tells lost data from a
	// release that stopped requests arriving.
	all := append([]string{a.cfg.Route}, others...)
	if ev.Verdict, err = w.controlled(ctx, a, ev.Verdict, a.cfg.Route, all, wt.Baseline, thZ); err != nil {
		return Evidence{}, err
	}
	// Asked only of an error share: errors that rose before the release
	// was made are not the release's.
	if ev.Verdict, err = w.predated(ctx, a, wt, ev.Verdict, a.cfg.Route, all, wt.Baseline, thZ, now, log); err != nil {
		return Evidence{}, err
	}
	if a.cfg.Probe != nil {
		before := a.cfg.Probe.Results(wt.BaselineFrom, wt.BaselineTo)
		after := a.cfg.Probe.Results(wt.LiveAt.Add(a.cfg.SettleGrace), now)
		ev.Verdict = ev.Verdict.With(analysis.AssessProbe(before, after, a.cfg.Thresholds))
	}
	if len(others) > 0 {
		ev.Verdict = analysis.Combine(ev.Verdict.Routed(a.cfg.Route), w.judgeRoutes(ctx, a, wt, others, now, th, thZ, log))
	}
	return ev, nil
}

// trendSpan and trendBucket shape the sparklines: 10 min either side of
// going live, in 30 s buckets.
const (
	trendSpan   = 600
	trendBucket = 30
)

// trend draws a route of the watch around the release.
func (wt *Watch) trend(tr traffic) *notify.Trend {
	if tr.baseTail == nil && tr.sinceLive == nil {
		return nil
	}
	t := &notify.Trend{Bucket: trendBucket * time.Second, LiveAt: wt.LiveAt}
	add := func(pts []metrics.Point) {
		for i := 0; i < len(pts); i += trendBucket {
			var secs, reqs, errs, reps int64
			var lat metrics.Histogram
			for _, p := range pts[i:min(i+trendBucket, len(pts))] {
				if p.OK {
					secs++
					reqs += p.Requests
					errs += p.Errors
					reps += p.Repeats
					lat.Merge(p.Latency)
				}
			}
			rate, share, repeat := math.NaN(), math.NaN(), math.NaN()
			if secs > 0 {
				rate = float64(reqs) / float64(secs)
				if reqs > 0 {
					share = float64(errs) / float64(reqs)
					repeat = float64(reps) / float64(reqs)
				}
			}
			t.Rate, t.ErrorShare = append(t.Rate, rate), append(t.ErrorShare, share)
			if tr.repeats {
				t.RepeatShare = append(t.RepeatShare, repeat)
			}
			if tr.latency {
				q := func(q float64) float64 {
					if lat.Count() == 0 {
						return math.NaN()
					}
					return lat.Quantile(q).Seconds()
				}
				t.LatencyP50, t.LatencyP95, t.LatencyP99 = append(t.LatencyP50, q(0.5)), append(t.LatencyP95, q(0.95)), append(t.LatencyP99, q(0.99))
			}
		}
	}
	// Whole buckets of the baseline's end, so the release mark falls on a
	// bucket boundary.
	add(tr.baseTail[len(tr.baseTail)%trendBucket:])
	t.Release = len(t.Rate)
	add(tr.sinceLive[max(0, len(tr.sinceLive)-trendSpan):])
	return t
}

// signalStatus is one signal's verdict.
type signalStatus struct {
	signal analysis.Signal
	status analysis.Status
}

// refreshEvery is how often a watch under way is stored again with its
// latest verdict, so that `relwatch status` shows signals at most this old.
const refreshEvery = time.Minute

// refresh stores the watch under way with its latest verdict when a
// signal's verdict changed since it was last stored, or refreshEvery after.
func (w *Watcher) refresh(ctx context.Context, wt *Watch, now time.Time, log *slog.Logger) {
	fs := wt.Last.Verdict.Findings
	same := len(fs) == len(wt.storedVerdict)
	for i := 0; same && i < len(fs); i++ {
		same = fs[i].Signal == wt.storedVerdict[i].signal && fs[i].Status == wt.storedVerdict[i].status
	}
	if same && now.Sub(wt.stored) < refreshEvery {
		return
	}
	wt.stored, wt.storedVerdict = now, wt.storedVerdict[:0]
	for _, f := range fs {
		wt.storedVerdict = append(wt.storedVerdict, signalStatus{f.Signal, f.Status})
	}
	w.save(ctx, wt, StateWatching, log)
}

func (w *Watcher) record(ctx context.Context, wt *Watch, d Decision, ev Evidence, now time.Time, log *slog.Logger) {
	if w.cfg.History == nil {
		return
	}
	dec := store.DecisionRecord{App: wt.App, Release: wt.Release.Version, At: now,
		Action: string(d.Action), Reason: d.Reason, Evidence: evidenceJSON(ev.Verdict.Findings)}
	w.later.do(ctx, "record the decision", func(ctx context.Context) error { return w.cfg.History.RecordDecision(ctx, dec) }, log)
}

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
// anomalous, or an error share elevated after the build's restart grace
// until rel went live): the new release's restart does not start the
// fault's clock again, so its watch goes on from where wt's began, on wt's
// baseline. Errors within the grace may be the restart's own: when rel
// comes before stillFailing of the build past it, the build is failing
// only if they are still there in the stillFailing before rel.
func keepsFaultyBuild(wt *Watch, rel heroku.Release, th analysis.Thresholds, grace time.Duration) bool {
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
	end := s.End()
	if live := rel.LiveAt(); live.Before(end) {
		end = live // after it, the errors are rel's own restart's
	}
	from := wt.LiveAt.Add(max(onsetSkip, grace))
	if end.Sub(from) < stillFailing {
		from = end.Add(-stillFailing)
		if skip := wt.LiveAt.Add(onsetSkip); from.Before(skip) {
			from = skip
		}
	}
	return analysis.Elevated(*wt.Baseline, s.Slice(from, end), analysis.ErrorShare, th)
}

// stillFailing is how long before a config change the build's errors
// must still be there for the build to be failing: a restart's blip is
// over within seconds of the dynos booting; a broken build's errors go on.
const stillFailing = 5 * time.Second
