// Package backtest asks "what would relwatch have done on my releases?":
// it reads an app's real release history from Heroku and the metrics around
// each release from the app's source, turns each into a scenario, and runs
// the same watcher over it on the virtual clock (scenario.Run).
package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/watcher"
)

// Heroku is what a backtest reads from the Platform API.
type Heroku interface {
	ListReleases(ctx context.Context, app string, max int, conditional bool) ([]heroku.Release, bool, error)
}

// HistoryMax is how many of an app's newest releases History reads.
const HistoryMax = 1000

// History is the releases a backtest may look at, newest first: the app's
// newest HistoryMax. more says the app has older releases, not read: a
// window reaching past the oldest one read is cut there.
func History(ctx context.Context, h Heroku, app string) (rels []heroku.Release, more bool, err error) {
	rels, _, err = h.ListReleases(ctx, app, HistoryMax+1, false) // one more: are there older ones?
	if err != nil {
		return nil, false, err
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version > rels[j].Version })
	if len(rels) > HistoryMax {
		rels, more = rels[:HistoryMax], true
	}
	return rels, more, nil
}

// Candidates are the releases a watch would have opened for since then: live
// (succeeded) and not rollbacks, newest first.
func Candidates(history []heroku.Release, since time.Time) []heroku.Release {
	var out []heroku.Release
	for _, r := range history {
		if _, isRollback := r.RollsBackTo(); isRollback || r.Status != heroku.StatusSucceeded || r.CreatedAt.Before(since) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// WatchEnds is when a watch of target ends under p. Until then the past
// does not hold the whole of it: the metrics of the rest are not there yet,
// and a replay would read them as no data, judging the release on a part
// of its watch (or on none) as if the watch had ended.
func WatchEnds(target heroku.Release, p watcher.Policy) time.Time {
	return target.LiveAt().Add(p.WatchFor)
}

// controlKey is the route key a scenario's control is recorded under:
// the one (*scenario.Scenario).ControlRoute finds.
const controlKey = "other"

// Guarded is what an app guards, as the worker watches it: its routes,
// the first leading; with AllRoutes (max_routes) every other route the
// source lists, busiest first, up to AllRoutes in all; and its control
// route, the app's other traffic ("" for none).
type Guarded struct {
	Routes    []string
	AllRoutes int
	Control   string
}

// Scenario builds the scenario of one release: the recording spans the
// baseline before it (and a minute more) to the end of its watch (and a
// minute more); every release of the history is in it at its real time,
// and every route g guards (watched_routes where there are several), so
// that the replay judges the release on each as the worker does; the
// control route is recorded as "other", the route a replay asks about a
// fall. The epoch (t_s = 0) is returned with it.
func Scenario(ctx context.Context, history []heroku.Release, target heroku.Release, src metrics.Source, app string, g Guarded, p watcher.Policy) (*scenario.Scenario, time.Time, error) {
	if len(g.Routes) == 0 {
		return nil, time.Time{}, fmt.Errorf("%s: no route to record", app)
	}
	epoch := target.CreatedAt.Add(-p.Baseline - time.Minute).Truncate(time.Second)
	end := target.LiveAt().Add(p.WatchFor + time.Minute).Truncate(time.Second)
	duration := int(end.Sub(epoch) / time.Second)
	routes := slices.Clone(g.Routes)
	if lister, ok := src.(metrics.RouteLister); ok && g.AllRoutes > len(routes) {
		for _, r := range lister.Routes(epoch, end, 0) {
			if len(routes) >= g.AllRoutes {
				break
			}
			if r != g.Control && r != controlKey && !slices.Contains(routes, r) {
				routes = append(routes, r)
			}
		}
	}
	sc := &scenario.Scenario{
		Name: fmt.Sprintf("%s-v%d", app, target.Version), App: app, WatchedRoute: routes[0], DurationS: duration,
	}
	if len(routes) > 1 {
		sc.WatchedRoutes = routes
	}
	for _, r := range history {
		at := int(r.CreatedAt.Sub(epoch).Round(time.Second) / time.Second)
		if at >= duration {
			continue
		}
		rel := scenario.Release{Version: r.Version, AtS: at, Description: r.Description, Status: r.Status}
		if r.Status == heroku.StatusPending {
			continue // still running: not part of the past
		}
		if r.Status == heroku.StatusSucceeded && r.UpdatedAt.After(r.CreatedAt) {
			rel.SucceededAfterS = int(r.UpdatedAt.Sub(r.CreatedAt).Round(time.Second) / time.Second)
		}
		sc.Releases = append(sc.Releases, rel)
	}
	sort.Slice(sc.Releases, func(i, j int) bool { return sc.Releases[i].Version < sc.Releases[j].Version })
	sc.Series = series.Table{}
	record := func(route, as string) error {
		counts, err := src.Counts(ctx, route, epoch, end)
		if err != nil {
			return fmt.Errorf("read %s around v%d: %w", route, target.Version, err)
		}
		sc.Series[as] = series.FromPoints(counts.Points)
		return nil
	}
	for _, r := range routes {
		if err := record(r, r); err != nil {
			return nil, epoch, err
		}
	}
	if g.Control != "" {
		if err := record(g.Control, controlKey); err != nil {
			return nil, epoch, err
		}
	}
	return sc, epoch, nil
}

// Outcome is what relwatch would have done with one release.
type Outcome struct {
	Version     int       `json:"version"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// Verdict is "rollback", "healthy", "anomaly" (announced, not rolled
	// back) or "inconclusive".
	Verdict    string `json:"verdict"`
	RollbackTo int    `json:"rollback_to,omitempty"`
	// AfterLive is how long after the release went live the rollback came;
	// in JSON after_live_s, whole seconds (MarshalJSON).
	AfterLive time.Duration `json:"-"`
	Reason    string        `json:"reason"`
}

// MarshalJSON writes the outcome with AfterLive as after_live_s, whole
// seconds, as every other JSON relwatch prints says a time span (at_s,
// delay_s, time_left_s): a rollback's only.
func (o Outcome) MarshalJSON() ([]byte, error) {
	type plain Outcome // without this method
	var afterLive *int64
	if o.Verdict == "rollback" {
		s := int64(o.AfterLive.Round(time.Second) / time.Second)
		afterLive = &s
	}
	return json.Marshal(struct {
		plain
		AfterLiveS *int64 `json:"after_live_s,omitempty"`
	}{plain(o), afterLive})
}

// Run replays one release's scenario through the watcher and says what it
// would have done.
func Run(ctx context.Context, sc *scenario.Scenario, epoch time.Time, target heroku.Release, st scenario.Settings) (Outcome, error) {
	out := Outcome{Version: target.Version, Description: target.Description, CreatedAt: target.CreatedAt}
	from := int(target.CreatedAt.Sub(epoch)/time.Second) - 10
	res, err := scenario.Run(ctx, sc, scenario.Options{Settings: st, Epoch: epoch, From: from})
	if err != nil {
		return out, err
	}
	return Judge(res, target, epoch), nil
}

// Judge reads a replay's result for what happened to target.
func Judge(res scenario.Result, target heroku.Release, epoch time.Time) Outcome {
	out := Outcome{Version: target.Version, Description: target.Description, CreatedAt: target.CreatedAt, Verdict: "inconclusive"}
	for _, rb := range res.Rollbacks {
		if rb.Release == target.Version {
			out.Verdict, out.RollbackTo, out.Reason = "rollback", rb.To, rb.Reason
			out.AfterLive = epoch.Add(time.Duration(rb.AtS) * time.Second).Sub(target.LiveAt())
			return out
		}
	}
	for _, e := range res.Events() {
		if e.Release != target.Version {
			continue
		}
		switch {
		case e.Kind == notify.WatchHealthy && out.Verdict != "anomaly":
			out.Verdict, out.Reason = "healthy", e.Text()
		case e.Kind == notify.Anomaly:
			out.Verdict, out.Reason = "anomaly", e.Text()
		case e.Kind == notify.WatchInconclusive && out.Verdict == "inconclusive":
			out.Reason = e.Text()
		}
	}
	if out.Reason == "" {
		out.Reason = "no watch ended in the recording (a newer release or a rollback replaced it)"
	}
	return out
}
