// Package sweep measures the judgement: it replays many seeded instances of
// each synthesized traffic shape (scenario/synth) through the real watcher
// (scenario.Run: the fake Heroku over HTTP, a virtual clock) and reports,
// per shape, false rollbacks, misses and the delay of rollbacks after the
// bad traffic starts, against the shape's targets.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/scenario/synth"
)

// Options say what to sweep.
type Options struct {
	Shapes   []synth.Shape
	Seeds    []uint64
	Settings scenario.Settings
	// Parallel is how many replays run at once (0: GOMAXPROCS).
	Parallel int
	// Uncorrected measures what the correction for several routes buys:
	// each replay's z is lowered so that, raised for its routes
	// (analysis.ZFor), every route is tested at the one-route z. Never
	// how relwatch judges; the baseline's incident screen then runs at
	// the lowered z too.
	Uncorrected bool
}

// Uncorrected returns st with its z lowered so that analysis.ZFor raises
// it back to st's for routes routes: every route tested as if it were the
// only one.
func Uncorrected(st scenario.Settings, routes int) scenario.Settings {
	if routes > 1 {
		z := st.Policy.Thresholds.Z
		st.Policy.Thresholds.Z = math.Sqrt2 * math.Erfcinv(float64(routes)*math.Erfc(z/math.Sqrt2))
	}
	return st
}

// SeedRange returns the seeds first, first+1, ..., first+n-1.
func SeedRange(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// Rollback is one rollback a replay made: of Release to To at AtS.
type Rollback struct {
	Release int    `json:"release"`
	To      int    `json:"to"`
	AtS     int    `json:"at_s"`
	Reason  string `json:"reason,omitempty"`
	// Route is the route whose finding decided it, as announced.
	Route string `json:"route,omitempty"`
}

func (rb Rollback) String() string {
	return fmt.Sprintf("rollback of v%d to v%d at %d s", rb.Release, rb.To, rb.AtS)
}

// Outcome is how one replay went against its shape's expectation.
type Outcome struct {
	Shape     string     `json:"shape"`
	Seed      uint64     `json:"seed"`
	Rollbacks []Rollback `json:"rollbacks"`
	// False are the rollbacks that should not have happened: any in a
	// healthy shape (but a tolerated one), of a release other than the bad
	// one, or to another target than the one before it.
	False []Rollback `json:"false_rollbacks,omitempty"`
	// Tolerated are rollbacks of another bad release the instance allows
	// (synth.Tolerated: quick-fix-deploy's v42, recovery-after-incident's
	// v41, each before the next release is created).
	Tolerated []Rollback `json:"tolerated_rollbacks,omitempty"`
	// Caught: the bad release was rolled back to the right target, DelayS
	// after the bad traffic started (negative: before).
	Caught bool `json:"caught"`
	DelayS int  `json:"delay_s"`
	// Missed: a bad release not rolled back within its max delay.
	Missed bool `json:"missed"`
	// WrongRoute are the rollbacks of the bad release, to the right
	// target, announced for another route than the one the bad traffic is
	// on (expect.route): not caught, and each is also false.
	WrongRoute []Rollback `json:"wrong_route,omitempty"`
	// IntoFault are the rollbacks to a release live since the bad traffic
	// began: back into the fault (each is also false).
	IntoFault []Rollback `json:"rollbacks_into_fault,omitempty"`
	// EndedHealthy: the expected release's watch ended healthy.
	EndedHealthy bool `json:"ended_healthy"`
}

// Classify judges one replay of in.
func Classify(shape synth.Shape, in synth.Instance, res scenario.Result) Outcome {
	sc := in.Scenario
	out := Outcome{Shape: in.Shape, Seed: in.Seed, Rollbacks: rollbacks(sc, res)}
	e := sc.Expect
	for _, ev := range res.Events() {
		if ev.Kind == notify.WatchHealthy && ev.Release == e.Release {
			out.EndedHealthy = true
		}
	}
	want := e.Target(sc.Releases)
	for _, rb := range out.Rollbacks {
		if shape.Bad && e.IntoFault(rb.To) {
			out.IntoFault = append(out.IntoFault, rb)
		}
		switch {
		case shape.Bad && !out.Caught && e.Concerns(rb.Release) && rb.To == want && e.Route != "" && rb.Route != e.Route:
			out.WrongRoute = append(out.WrongRoute, rb)
			out.False = append(out.False, rb)
		case shape.Bad && !out.Caught && e.Concerns(rb.Release) && rb.To == want:
			out.Caught, out.DelayS = true, rb.AtS-e.BadFromS
		case tolerated(in, rb):
			out.Tolerated = append(out.Tolerated, rb)
		default:
			out.False = append(out.False, rb)
		}
	}
	if shape.Bad {
		out.Missed = !out.Caught || out.DelayS > e.MaxDelayS
	}
	return out
}

func tolerated(in synth.Instance, rb Rollback) bool {
	for _, t := range in.Tolerated {
		if rb.Release == t.Release && rb.To == t.To && rb.AtS < t.BeforeS {
			return true
		}
	}
	return false
}

// rollbacks lists the rollbacks the replay made, from the fake Heroku's
// release list ("Rollback to vN" releases created during the replay; one
// the scenario recorded is its history, not the replay's). The release
// rolled back from is the one the watcher announced; the replay's own
// account is the fallback.
func rollbacks(sc *scenario.Scenario, res scenario.Result) []Rollback {
	from := map[int]notify.Event{}
	for _, ev := range res.Events() {
		if f, ok := ev.Fact.(notify.RollbackStep); ok && f.Rollback != 0 && (ev.Kind == notify.RollbackSucceeded || ev.Kind == notify.RollbackFailed) {
			from[f.Rollback] = ev
		}
	}
	var out []Rollback
	for _, r := range res.Releases {
		to, ok := strings.CutPrefix(r.Description, "Rollback to v")
		if !ok || r.CreatedAtS < 0 || sc.Recorded(r.Version) {
			continue
		}
		target, err := strconv.Atoi(to)
		if err != nil {
			continue
		}
		rb := Rollback{To: target, AtS: r.CreatedAtS}
		if ev, ok := from[r.Version]; ok {
			seen := ev.Seen()
			rb.Release, rb.Reason, rb.Route = ev.Release, seen.Summary, seen.Route
		} else {
			for _, o := range res.Rollbacks {
				if o.AtS == r.CreatedAtS && o.To == target {
					rb.Release, rb.Reason, rb.Route = o.Release, o.Reason, o.Route
				}
			}
		}
		out = append(out, rb)
	}
	return out
}

// ShapeReport is one shape's figures over all seeds.
type ShapeReport struct {
	Shape   string        `json:"shape"`
	Bad     bool          `json:"bad"`
	Targets synth.Targets `json:"targets"`
	Runs    int           `json:"runs"`
	// FalseRollbacks counts runs with at least one false rollback.
	FalseRollbacks int `json:"false_rollbacks"`
	// WrongRoute counts runs that rolled the bad release back for another
	// route than the broken one (each also false, and a miss).
	WrongRoute int `json:"wrong_route"`
	// IntoFault counts runs with a rollback to a release live since the
	// bad traffic began.
	IntoFault int `json:"rollbacks_into_fault"`
	// Misses counts bad runs not rolled back within the max delay; Never
	// those of them not rolled back at all.
	Misses int `json:"misses"`
	Never  int `json:"never"`
	// NotHealthy counts healthy runs whose watch did not end healthy
	// (inconclusive, or rolled back), and Tolerated runs with a tolerated
	// rollback: for information, not targets.
	NotHealthy int `json:"not_healthy"`
	Tolerated  int `json:"tolerated"`
	// Delay percentiles over all bad runs, seconds after the bad traffic
	// started; a run never rolled back counts as infinite (null in JSON).
	DelayP50 *float64 `json:"delay_p50_s"`
	DelayP95 *float64 `json:"delay_p95_s"`
	DelayMax *float64 `json:"delay_max_s"`
	// Worst is the worst run: a false rollback first, then a bad release
	// never rolled back, then the latest rollback.
	Worst *Outcome `json:"worst,omitempty"`
	// Failed lists the targets missed; empty when all are met.
	Failed []string `json:"failed"`
	// Outcomes are every run, by seed (not in JSON).
	Outcomes []Outcome `json:"-"`
}

// Met reports whether the shape met its targets.
func (r ShapeReport) Met() bool { return len(r.Failed) == 0 }

// Report is a sweep's result.
type Report struct {
	Seeds    []uint64      `json:"seeds"`
	Replays  int           `json:"replays"`
	Parallel int           `json:"parallel"`
	WallMS   int64         `json:"wall_ms"`
	Shapes   []ShapeReport `json:"shapes"`
}

// Met reports whether every shape met its targets.
func (r Report) Met() bool {
	for _, s := range r.Shapes {
		if !s.Met() {
			return false
		}
	}
	return true
}

// Run replays every seed of every shape, Parallel at a time, and reports.
// Each worker holds one instance (one hour of per-second data) at a time.
func Run(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	par := opts.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	if len(opts.Shapes) == 0 || len(opts.Seeds) == 0 {
		return Report{}, errors.New("sweep: no shapes or no seeds")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type job struct{ shape, seed int }
	jobs := make(chan job)
	outcomes := make([][]Outcome, len(opts.Shapes))
	for i := range outcomes {
		outcomes[i] = make([]Outcome, len(opts.Seeds))
	}
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range jobs {
				shape := opts.Shapes[j.shape]
				out, err := replay(ctx, shape, opts.Seeds[j.seed], opts.Settings, opts.Uncorrected)
				if err != nil {
					cancel(err)
					continue
				}
				outcomes[j.shape][j.seed] = out
			}
		})
	}
feed:
	for si := range opts.Shapes {
		for ki := range opts.Seeds {
			select {
			case jobs <- job{si, ki}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return Report{}, err
	}
	rep := Report{Seeds: opts.Seeds, Replays: len(opts.Shapes) * len(opts.Seeds), Parallel: par}
	for si, shape := range opts.Shapes {
		rep.Shapes = append(rep.Shapes, Summarize(shape, outcomes[si]))
	}
	rep.WallMS = time.Since(start).Milliseconds()
	return rep, nil
}

// Replay draws shape's instance for seed, replays it and classifies it.
func Replay(ctx context.Context, shape synth.Shape, seed uint64, st scenario.Settings) (Outcome, error) {
	return replay(ctx, shape, seed, st, false)
}

func replay(ctx context.Context, shape synth.Shape, seed uint64, st scenario.Settings, uncorrected bool) (Outcome, error) {
	in := synth.Generate(shape, seed)
	if uncorrected {
		st = Uncorrected(st, len(in.Scenario.Routes()))
	}
	res, err := scenario.Run(ctx, in.Scenario, scenario.Options{Settings: st})
	if err != nil {
		return Outcome{}, fmt.Errorf("sweep %s seed %d: %w", shape.Name, seed, err)
	}
	return Classify(shape, in, res), nil
}

// Summarize computes a shape's figures from its runs and checks them
// against its targets.
func Summarize(shape synth.Shape, runs []Outcome) ShapeReport {
	r := ShapeReport{Shape: shape.Name, Bad: shape.Bad, Runs: len(runs), Outcomes: runs, Failed: []string{}}
	if shape.Bad {
		r.Targets = shape.Targets
	}
	var delays []float64
	worst := -1
	rank := func(o Outcome) (int, float64) {
		switch {
		case len(o.False) > 0:
			return 3, 0
		case shape.Bad && !o.Caught:
			return 2, 0
		case shape.Bad:
			return 1, float64(o.DelayS)
		}
		return 0, 0
	}
	for i, o := range runs {
		if len(o.False) > 0 {
			r.FalseRollbacks++
		}
		if len(o.IntoFault) > 0 {
			r.IntoFault++
		}
		if len(o.WrongRoute) > 0 {
			r.WrongRoute++
		}
		if !shape.Bad && !o.EndedHealthy {
			r.NotHealthy++
		}
		if len(o.Tolerated) > 0 {
			r.Tolerated++
		}
		if shape.Bad {
			if o.Missed {
				r.Misses++
			}
			d := math.Inf(1)
			if o.Caught {
				d = float64(o.DelayS)
			} else {
				r.Never++
			}
			delays = append(delays, d)
		}
		if k, d := rank(o); k > 0 {
			if worst < 0 {
				worst = i
			} else if wk, wd := rank(runs[worst]); k > wk || (k == wk && d > wd) {
				worst = i
			}
		}
	}
	if worst >= 0 {
		w := runs[worst]
		r.Worst = &w
	}
	if r.FalseRollbacks > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("%d false rollback(s), want 0", r.FalseRollbacks))
	}
	if r.IntoFault > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("%d rollback(s) to a release live since the fault began, want 0", r.IntoFault))
	}
	if r.WrongRoute > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("%d rollback(s) announced for another route than the broken one, want 0", r.WrongRoute))
	}
	if !shape.Bad {
		return r
	}
	slices.Sort(delays)
	r.DelayP50, r.DelayP95, r.DelayMax = percentile(delays, 0.5), percentile(delays, 0.95), percentile(delays, 1)
	if r.Misses > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("%d miss(es) (no rollback within %s), want 0", r.Misses, shape.Targets.MaxDelay))
	}
	check := func(name string, got *float64, target time.Duration) {
		if target > 0 && (got == nil || *got > target.Seconds()) {
			r.Failed = append(r.Failed, fmt.Sprintf("delay %s %s > %s", name, seconds(got), target))
		}
	}
	check("p50", r.DelayP50, shape.Targets.P50)
	check("p95", r.DelayP95, shape.Targets.P95)
	return r
}

// percentile is the nearest-rank percentile of sorted values; nil when it
// is infinite (a run that was never rolled back).
func percentile(sorted []float64, p float64) *float64 {
	if len(sorted) == 0 {
		return nil
	}
	i := max(0, int(math.Ceil(p*float64(len(sorted))))-1)
	v := sorted[i]
	if math.IsInf(v, 1) {
		return nil
	}
	return &v
}

func seconds(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.0fs", *v)
}
