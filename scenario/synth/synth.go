// Package synth synthesizes release scenarios: seeded, per-second traffic of
// a Heroku app's download route (watched) and the rest of the app, shaped
// like real traffic, around releases that are healthy or bad in a named way
// (a Shape). The same shape and seed always give the same scenario, byte
// for byte, so a sweep over many seeds measures the judgement and any one
// draw can be written out and replayed.
//
// The traffic model (see route): a slowly drifting rate (log-normal AR(1)),
// a trend, gamma-shaped bursts and overdispersed per-second noise
// (gamma-Poisson); an organic repeat share that does not move with the
// rate; a small baseline error share; faults that fail a share of the
// requests, server-side (errors) or client-side (a broken redirect, a
// timeout, a 404: no error), and clients that retry them (repeats, more
// requests). Every release restarts every dyno: a few seconds of router
// errors, retried, sometimes a dip in the rate; the new code serves from
// the end of that blip.
//
// A bad instance's expect.bad_from_s is the first second in which the bad
// release failed a request (for a rate collapse, which fails nothing: the
// first second the new code serves). Its max_delay_s is the shape's
// Targets.MaxDelay.
package synth

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/scenario"
)

// Targets are what the judgement must reach on a bad shape, over many
// seeds (issue 8). These constants are the one place the numbers live.
type Targets struct {
	// MaxDelay is how late after the bad traffic starts a rollback may come;
	// later, or never, is a miss. It is the instances' expect.max_delay_s.
	MaxDelay time.Duration
	// P50 and P95 bound the delay's percentiles over all seeds (0: no
	// bound). A run without a rollback counts as an infinite delay.
	P50, P95 time.Duration
}

// MarshalJSON writes the targets in seconds: max_delay_s, p50_s, p95_s
// (0: no bound).
func (t Targets) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		MaxDelay float64 `json:"max_delay_s"`
		P50      float64 `json:"p50_s"`
		P95      float64 `json:"p95_s"`
	}{t.MaxDelay.Seconds(), t.P50.Seconds(), t.P95.Seconds()})
}

// The targets of issue 8.
var (
	// CratesIOTargets: the crates.io incident's shape (issue 15: p50 15 s,
	// p95 20 s; the settle grace, 10 s, and a 5 s quick window come first).
	CratesIOTargets = Targets{MaxDelay: 30 * time.Second, P50: 15 * time.Second, P95: 20 * time.Second}
	// FullTrafficTargets: every other bad shape at full traffic.
	FullTrafficTargets = Targets{MaxDelay: 90 * time.Second, P95: 90 * time.Second}
	// SmallAppTargets: small apps and night traffic, a request every few
	// seconds or builds minutes apart.
	SmallAppTargets = Targets{MaxDelay: 10 * time.Minute, P95: 10 * time.Minute}
	// SlowBurnTargets: errors that creep up reach their full size only at
	// the end of the creep (at most slowBurnRampMax); from there the full
	// traffic target applies.
	SlowBurnTargets = Targets{MaxDelay: slowBurnRampMax + 90*time.Second, P95: slowBurnRampMax + 90*time.Second}
	// ConfigReleaseTargets: a config change that breaks downloads, or one
	// made on a build already failing: within a minute of the break
	// (issue 15), as error-spike (the restart grace, 45 s, and a quick
	// window come first).
	ConfigReleaseTargets = Targets{MaxDelay: 60 * time.Second, P95: 60 * time.Second}
	// SlowTailTargets: a slow tail shows in p99 alone, which a window
	// tells with 1,000 responses and the baseline's slow spikes (GC
	// pauses) blur most: p95 as the full traffic target, none later than
	// 2 min.
	SlowTailTargets = Targets{MaxDelay: 2 * time.Minute, P95: 90 * time.Second}
	// PoisonedBaselineTargets: a small fault after an outage the baseline
	// must leave out.
	PoisonedBaselineTargets = Targets{MaxDelay: 5 * time.Minute, P95: 5 * time.Minute}
	// SmallRouteTargets: a small route (2-5 req/s) failing 20-40% of its
	// requests while the app's big route is fine. Its errors are clear
	// within a minute of the restart grace (45 s): 30 s at 2 req/s is 60
	// requests, 12-24 failing against a baseline of 0.2% or less, past the
	// z of several routes. The minimum sample a window needs and the
	// lasting check (each third of it) want a longer window at so few
	// requests, as low-traffic-bad's do: 3 min, not 90 s.
	SmallRouteTargets = Targets{MaxDelay: 3 * time.Minute, P95: 3 * time.Minute}
)

// Shape is a named traffic shape: how to draw one instance, and what the
// right outcome is.
type Shape struct {
	Name string
	// Doc says what the shape models and the ranges its parameters are
	// drawn from.
	Doc string
	// Bad shapes expect a rollback of Instance.Scenario.Expect.Release;
	// healthy ones expect none.
	Bad     bool
	Targets Targets // for bad shapes
	build   func(b *builder)
}

// Param is one drawn parameter of an instance, for people reading it.
type Param struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Tolerated is a rollback that is not a false one although the scenario
// expects a healthy release: quick-fix-deploy's bad v42, rolled back to
// v41 before the fix v43 is created.
type Tolerated struct {
	Release, To int
	BeforeS     int // the rollback must come before this second
}

// Instance is one seeded draw of a shape.
type Instance struct {
	Shape     string
	Seed      uint64
	Scenario  *scenario.Scenario
	Params    []Param
	Tolerated []Tolerated
}

// Shapes returns every shape, healthy ones first, in a fixed order.
func Shapes() []Shape { return slices.Clone(shapes) }

// Lookup returns the shape called name.
func Lookup(name string) (Shape, bool) {
	for _, s := range shapes {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// Names lists the shapes' names.
func Names() []string {
	out := make([]string, len(shapes))
	for i, s := range shapes {
		out[i] = s.Name
	}
	return out
}

// Generate draws the instance of shape for seed. The same shape and seed
// give the same instance.
func Generate(shape Shape, seed uint64) Instance {
	h := fnv.New64a()
	h.Write([]byte(shape.Name))
	b := &builder{
		r:   rand.New(rand.NewPCG(seed, h.Sum64())),
		lr:  rand.New(rand.NewPCG(seed, h.Sum64()^latencyStream)),
		dur: recording,
	}
	b.sc = &scenario.Scenario{
		Name: fmt.Sprintf("%s-seed%d", shape.Name, seed), App: "crates-io",
		WatchedRoute: downloadRoute, DurationS: recording,
	}
	shape.build(b)
	b.finish(shape)
	return Instance{Shape: shape.Name, Seed: seed, Scenario: b.sc, Params: b.params, Tolerated: b.tolerated}
}

// Comment is the instance as comment lines for scenario.toml: the shape,
// the seed, how to draw it again, and the drawn parameters.
func (in Instance) Comment() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Synthesized by relwatch: shape %s, seed %d (relwatch sweep --shape %s --seed %d --out DIR).\n", in.Shape, in.Seed, in.Shape, in.Seed)
	var ps []string
	for _, p := range in.Params {
		ps = append(ps, p.Name+"="+strconv.FormatFloat(p.Value, 'g', 4, 64))
	}
	for len(ps) > 0 {
		n := 0
		line := "#"
		for n < len(ps) && (n == 0 || len(line)+len(ps[n]) < 78) {
			line += " " + ps[n]
			n++
		}
		sb.WriteString(line + "\n")
		ps = ps[n:]
	}
	for _, t := range in.Tolerated {
		fmt.Fprintf(&sb, "# Also right: a rollback of v%d to v%d before t=%ds (v%d is bad too; [expect] cannot say so).\n", t.Release, t.To, t.BeforeS, t.Release)
	}
	return sb.String()
}

// Write saves the instance as a scenario folder in dir
// (scenario.WriteCommented), its scenario.toml opening with the instance's
// Comment.
func (in Instance) Write(dir string) error {
	return scenario.WriteCommented(dir, in.Scenario, in.Comment())
}

// latencyStream tells the response times' random stream from the counts'.
const latencyStream = 0x9e3779b97f4a7c15

const (
	recording     = 3600 // seconds of data in every instance
	downloadRoute = "download"
	otherRoute    = "other"
)

// builder assembles one instance: releases, routes, faults, gaps, the
// expectation.
type builder struct {
	r *rand.Rand
	// lr draws the response times, apart from r: a shape's counts are
	// the same with and without them.
	lr        *rand.Rand
	dur       int
	sc        *scenario.Scenario
	params    []Param
	tolerated []Tolerated
	download  *route
	// guarded are the routes guarded beside the download route, in the
	// order the app names them (several-route shapes; none elsewhere).
	guarded []*route
	other   *route
	gaps    [][2]int
	// The expectation: the release it concerns; for a bad one, the fault
	// whose first failure is the start of the bad traffic, or badFrom when
	// the bad traffic fails nothing (a collapse).
	expectRelease int
	badFault      *fault
	badFrom       int
	// expectTo and faultFrom are the rollback target and the release the
	// fault began under, where they are not the previous release and the
	// expected one.
	expectTo, faultFrom int
	// badRoute is the route the bad traffic is on, where the app guards
	// several: the rollback must be announced for it (expect.route).
	badRoute string
}

// routes are every route of the app: the download route, the other
// guarded ones, then the rest of the app.
func (b *builder) routes() []*route {
	return append(append([]*route{b.download}, b.guarded...), b.other)
}

// param records a drawn parameter and returns it.
func (b *builder) param(name string, v float64) float64 {
	b.params = append(b.params, Param{Name: name, Value: v})
	return v
}

// finish draws the series and writes the expectation.
func (b *builder) finish(shape Shape) {
	b.sc.Series = series.Table{}
	if len(b.guarded) > 0 {
		b.sc.WatchedRoutes = []string{b.download.name}
		for _, rt := range b.guarded {
			b.sc.WatchedRoutes = append(b.sc.WatchedRoutes, rt.name)
		}
	}
	for _, rt := range b.routes() {
		pts := rt.simulate(b.r, b.dur)
		for _, g := range b.gaps {
			for t := max(g[0], 0); t < min(g[1], b.dur); t++ {
				pts[t] = metrics.Point{}
			}
		}
		if rt.lat != nil {
			rt.lat.draw(b.lr, pts)
		}
		b.sc.Series[rt.name] = series.FromPoints(pts)
	}
	e := &scenario.Expect{Verdict: "healthy", Release: b.expectRelease}
	if shape.Bad {
		from := b.badFrom
		if b.badFault != nil {
			from = b.badFault.firstFail
			if from < 0 {
				// Nothing failed (no traffic at all): the fault's start.
				from = b.badFault.from
			}
		}
		e = &scenario.Expect{Verdict: "rollback", Release: b.expectRelease, BadFromS: from,
			MaxDelayS: int(shape.Targets.MaxDelay / time.Second), To: b.expectTo, FaultFrom: b.faultFrom, Route: b.badRoute}
	}
	b.sc.Expect = e
	slices.SortFunc(b.sc.Releases, func(x, y scenario.Release) int { return x.Version - y.Version })
}
