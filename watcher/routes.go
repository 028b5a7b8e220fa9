package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
)

// routeWatch is one more guarded route of a watch, past the leading one:
// its own baseline and its traffic, judged beside the leading route's. It
// is kept in memory only: a restarted worker reads the baseline from the
// source again (a router log that starts empty then has none, and the
// route is judged by the guardrails alone until the watch ends).
type routeWatch struct {
	Baseline *analysis.Baseline
	// read is when the baseline was last read: one that is not usable (a
	// thin route) is read again a minute later, not every tick.
	read time.Time
	traffic
}

// baselineRetry is how long an unusable baseline of a route past the
// leading one stands before it is read again: a source may fill in late,
// but fifty thin routes must not each build a baseline every tick.
const baselineRetry = time.Minute

// traffic is a route's data around the release, for the sparklines:
// baseTail is the end of the baseline, sinceLive the traffic since the
// release went live; repeats and latency say what the source counts.
type traffic struct {
	baseTail  []metrics.Point
	sinceLive []metrics.Point
	repeats   bool
	latency   bool
}

// otherRoutes are the routes a's watch judges beside the leading one: the
// app's named routes past the first, then (AllRoutes) the routes the
// source lists over the baseline and the watch, busiest first, up to
// AllRoutes in all. The control route is never one of them.
func (w *Watcher) otherRoutes(a *appState, wt *Watch, now time.Time, log *slog.Logger) []string {
	var out []string
	seen := map[string]bool{a.cfg.Route: true}
	if a.cfg.Control != "" {
		seen[a.cfg.Control] = true
	}
	for _, r := range a.cfg.Routes {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if a.cfg.AllRoutes <= 0 {
		return out
	}
	lister, ok := a.cfg.Source.(metrics.RouteLister)
	if !ok {
		log.Warn("every route is to be guarded, but the metrics source cannot list its routes; guarding the named ones")
		return out
	}
	room := a.cfg.AllRoutes - 1 - len(out)
	for _, r := range lister.Routes(wt.BaselineFrom, now, 0) {
		if room <= 0 {
			break
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
			room--
		}
	}
	return out
}

// judgeRoutes judges each of routes since wt's release went live, each
// against its own baseline (read once it is usable), at thZ, the z
// corrected for the number of routes; base are the thresholds the
// baselines are built with. A route the source cannot serve this tick is
// left out of it, said in the log: it must not blind the others.
func (w *Watcher) judgeRoutes(ctx context.Context, a *appState, wt *Watch, routes []string, now time.Time, base, thZ analysis.Thresholds, log *slog.Logger) []analysis.Verdict {
	all := append([]string{a.cfg.Route}, routes...)
	if wt.routes == nil {
		wt.routes = map[string]*routeWatch{}
	}
	grace := analysis.Grace{Errors: a.cfg.RestartGrace, Traffic: a.cfg.SettleGrace}
	var out []analysis.Verdict
	for _, r := range routes {
		rw := wt.routes[r]
		if rw == nil {
			rw = &routeWatch{}
			wt.routes[r] = rw
		}
		if rw.Baseline == nil || !rw.Baseline.Usable(base) && now.Sub(rw.read) >= baselineRetry {
			s, err := a.cfg.Source.Counts(ctx, r, wt.BaselineFrom, wt.BaselineTo)
			if err != nil {
				log.Warn("route not judged this tick", "route", r, "err", fmt.Errorf("read its baseline: %w", err))
				continue
			}
			b, _ := baselineOf(s, wt.Exclude, a.cfg.Baseline, base)
			rw.Baseline, rw.baseTail, rw.read = &b, s.Points[max(0, len(s.Points)-trendSpan):], now
		}
		s, err := a.cfg.Source.Counts(ctx, r, wt.LiveAt, now)
		if err != nil {
			log.Warn("route not judged this tick", "route", r, "err", fmt.Errorf("read its traffic since v%d: %w", wt.Release.Version, err))
			continue
		}
		rw.sinceLive, rw.repeats, rw.latency = s.Points, s.HasRepeats, s.HasLatency
		v := analysis.Assess(*rw.Baseline, s, grace, thZ)
		v, err = w.controlled(ctx, a, v, r, all, rw.Baseline, thZ)
		if err != nil {
			log.Warn("route's collapse not checked against the control", "route", r, "err", err)
		}
		v, err = w.predated(ctx, a, wt, v, r, all, rw.Baseline, thZ, now, log)
		if err != nil {
			log.Warn("route's errors not checked against the time before the release", "route", r, "err", err)
		}
		out = append(out, v.Routed(r))
	}
	return out
}

// controlled asks the app's other traffic about an anomalous collapse in
// v, route's verdict judged against base: a fall the other traffic shares
// is lost data (router lines dropped, a log pipeline behind), not the
// release. The other traffic is the app's control route where it names
// one, else its other guarded routes (routes, route among them) summed.
func (w *Watcher) controlled(ctx context.Context, a *appState, v analysis.Verdict, route string, routes []string, base *analysis.Baseline, th analysis.Thresholds) (analysis.Verdict, error) {
	f, ok := v.Finding(analysis.RateCollapse)
	if !ok || f.Status != analysis.Anomalous {
		return v, nil
	}
	control := controlOf(a, route, routes)
	if len(control) == 0 {
		return v, nil
	}
	before, err := w.sum(ctx, a, control, base.From, base.To)
	if err != nil {
		return v, fmt.Errorf("read the baseline of the control: %w", err)
	}
	during, err := w.sum(ctx, a, control, f.From, f.To)
	if err != nil {
		return v, fmt.Errorf("read the traffic of the control: %w", err)
	}
	return v.Controlled(before, during, th), nil
}

// beforeRun is a route's traffic in the minute before the release the
// fault began under was made, and whether the app's other traffic had more errors
// than its baseline then too.
type beforeRun struct {
	span       metrics.Series // empty: no such minute to ask
	everywhere bool
}

// preReleaseSpan is how much of the time before a release is asked
// whether its errors had already risen; minPreRelease the least of it
// worth asking (a release made just after another's restart leaves less).
const (
	preReleaseSpan = time.Minute
	minPreRelease  = 30 * time.Second
)

// predated asks the minute before the release the fault began under was made
// about an anomalous error share in v, route's verdict against base:
// errors that had already risen then (the platform, a dependency) are not
// the release's, and rolling it back would not end them. The minute
// leaves out an earlier release's restart grace. The other traffic (the
// control route, else the other guarded routes) says whether the rise was
// everywhere.
func (w *Watcher) predated(ctx context.Context, a *appState, wt *Watch, v analysis.Verdict, route string, routes []string, base *analysis.Baseline, th analysis.Thresholds, now time.Time, log *slog.Logger) (analysis.Verdict, error) {
	f, ok := v.Finding(analysis.ErrorShare)
	if !ok || f.Status != analysis.Anomalous {
		return v, nil
	}
	if wt.before == nil {
		wt.before = map[string]*beforeRun{}
	}
	b := wt.before[route]
	if b == nil {
		var err error
		// The minute before the release the fault began under: a run of
		// replacements may begin with a release that ended an earlier
		// incident (its own minute before is that incident).
		origin := w.faultRelease(ctx, a, Evidence{Verdict: v.Routed(route)}, now, log)
		if b, err = w.readBeforeRun(ctx, a, wt, origin, route, routes, base, th); err != nil {
			return v, err
		}
		wt.before[route] = b
	}
	if len(b.span.Points) == 0 {
		return v, nil
	}
	return v.Predated(*base, b.span, b.everywhere, th), nil
}

// readBeforeRun reads predated's minute for route.
func (w *Watcher) readBeforeRun(ctx context.Context, a *appState, wt *Watch, first heroku.Release, route string, routes []string, base *analysis.Baseline, th analysis.Thresholds) (*beforeRun, error) {
	to := first.CreatedAt
	from := to.Add(-preReleaseSpan)
	for _, r := range a.releases {
		if r.Version < first.Version && r.LiveAt().Before(to) && r.LiveAt().Add(a.cfg.RestartGrace).After(from) {
			from = r.LiveAt().Add(a.cfg.RestartGrace)
		}
	}
	if to.Sub(from) < minPreRelease {
		return &beforeRun{}, nil
	}
	span, err := a.cfg.Source.Counts(ctx, route, from, to)
	if err != nil {
		return nil, fmt.Errorf("read the minute before v%d was made: %w", first.Version, err)
	}
	b := &beforeRun{span: span}
	if !analysis.Elevated(*base, span, analysis.ErrorShare, th) {
		return b, nil
	}
	control := controlOf(a, route, routes)
	if len(control) == 0 {
		return b, nil
	}
	cbase, err := w.sum(ctx, a, control, wt.BaselineFrom, wt.BaselineTo)
	if err != nil {
		return nil, fmt.Errorf("read the baseline of the control: %w", err)
	}
	cspan, err := w.sum(ctx, a, control, from, to)
	if err != nil {
		return nil, fmt.Errorf("read the control before v%d was made: %w", first.Version, err)
	}
	cb, _ := baselineOf(cbase, wt.Exclude, a.cfg.Baseline, th)
	b.everywhere = cb.Usable(th) && analysis.Elevated(cb, cspan, analysis.ErrorShare, th)
	return b, nil
}

// predatedFinding is v's error share not blamed on the release because it
// had risen before it (predated), if there is one.
func predatedFinding(v analysis.Verdict) (analysis.Finding, bool) {
	for _, f := range v.Findings {
		if f.Signal == analysis.ErrorShare && f.Gap == analysis.GapBeforeRelease {
			return f, true
		}
	}
	return analysis.Finding{}, false
}

// withPredated is a watch's ending reason with what it did not blame on
// the release, where it did not.
func (wt *Watch) withPredated(reason string) string {
	if wt.predated == nil {
		return reason
	}
	return reason + "; " + notify.Predated(*wt.predated)
}

// controlOf is route's control, the app's other traffic: its control
// route where it names one, else its other guarded routes (routes, route
// among them).
func controlOf(a *appState, route string, routes []string) []string {
	if a.cfg.Control != "" {
		return []string{a.cfg.Control}
	}
	return slices.DeleteFunc(slices.Clone(routes), func(r string) bool { return r == route })
}

// sum is the traffic of routes over [from, to), added up second by second:
// a second has data where any route has.
func (w *Watcher) sum(ctx context.Context, a *appState, routes []string, from, to time.Time) (metrics.Series, error) {
	var out metrics.Series
	for i, r := range routes {
		s, err := a.cfg.Source.Counts(ctx, r, from, to)
		if err != nil {
			return metrics.Series{}, fmt.Errorf("%s: %w", r, err)
		}
		if i == 0 {
			out = metrics.Series{Start: s.Start, Points: make([]metrics.Point, len(s.Points)), HasRepeats: s.HasRepeats}
		}
		for j, p := range s.Points[:min(len(s.Points), len(out.Points))] {
			if p.OK {
				o := &out.Points[j]
				o.OK = true
				o.Requests += p.Requests
				o.Errors += p.Errors
				o.Repeats += p.Repeats
			}
		}
	}
	return out, nil
}

// decidingRoute is the route whose finding decided v: the first fired
// finding's, or the leading route.
func decidingRoute(a *appState, v analysis.Verdict) string {
	if f := v.Fired(); len(f) > 0 && f[0].Route != "" {
		return f[0].Route
	}
	return a.cfg.Route
}

// trafficOf is the traffic of route in wt: the leading route's, or one of
// the others'.
func (wt *Watch) trafficOf(a *appState, route string) traffic {
	if rw, ok := wt.routes[route]; ok && route != a.cfg.Route {
		return rw.traffic
	}
	return traffic{baseTail: wt.baseTail, sinceLive: wt.sinceLive, repeats: wt.repeats, latency: wt.latency}
}

// routesText names the routes an app guards, as the watch-start says it.
func routesText(a *appState, others []string) string {
	switch n := len(others); {
	case n == 0 && a.cfg.AllRoutes > 0:
		return a.cfg.Route + " and every other route"
	case n == 0:
		return a.cfg.Route
	case n == 1:
		return a.cfg.Route + " and " + others[0]
	default:
		return fmt.Sprintf("%s and %d other routes", a.cfg.Route, n)
	}
}
