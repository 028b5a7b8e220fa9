package sweep

import (
	"bytes"
	"context"
	"flag"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/scenario/synth"
)

var sweepSeeds = flag.Int("sweep.seeds", 0, "replay seeds 1..N of every shape and fail when a target of issue 8 is missed (e.g. 50)")

func shape(t testing.TB, name string) synth.Shape {
	t.Helper()
	s, ok := synth.Lookup(name)
	if !ok {
		t.Fatalf("no shape %q", name)
	}
	return s
}

// replayed is a result as the replay reports it: the fake's releases, with
// the rollbacks it made.
func replayed(sc *scenario.Scenario, rollbacks ...RollbackPlan) scenario.Result {
	res := scenario.Result{}
	next := 0
	for _, r := range sc.Releases {
		res.Releases = append(res.Releases, scenario.ReleaseOut{Version: r.Version, Description: r.Description, Status: r.Status, CreatedAtS: r.AtS})
		next = max(next, r.Version+1)
	}
	for _, rb := range rollbacks {
		res.Releases = append(res.Releases, scenario.ReleaseOut{Version: next, Description: "Rollback to v" + strconv.Itoa(rb.To), Status: "succeeded", CreatedAtS: rb.AtS})
		res.Rollbacks = append(res.Rollbacks, scenario.RollbackOut{Release: rb.Release, To: rb.To, AtS: rb.AtS, Reason: "test"})
		next++
	}
	return res
}

// RollbackPlan is a rollback a fake result holds.
type RollbackPlan struct{ Release, To, AtS int }

func TestClassify(t *testing.T) {
	crates := shape(t, "crates-io")
	bad := synth.Generate(crates, 1)
	from := bad.Scenario.Expect.BadFromS
	healthy := synth.Generate(shape(t, "healthy-promotion"), 1)
	quick := synth.Generate(shape(t, "quick-fix-deploy"), 1)
	fixAt := quick.Tolerated[0].BeforeS
	recovery := synth.Generate(shape(t, "recovery-after-incident"), 1)
	// The same bad release, rolled back by a person 5 s into the bad
	// traffic, as its recorded history says: that is not relwatch's.
	byHand := bad
	recorded := *bad.Scenario
	recorded.Releases = append(append([]scenario.Release(nil), recorded.Releases...),
		scenario.Release{Version: 43, AtS: from + 5, Description: "Rollback to v41", Status: "succeeded"})
	byHand.Scenario = &recorded

	limit := int(crates.Targets.MaxDelay / time.Second)
	tests := []struct {
		name   string
		shape  synth.Shape
		in     synth.Instance
		plan   []RollbackPlan
		caught bool
		delay  int
		missed bool
		false_ int
	}{
		{"bad, rolled back in time", crates, bad, []RollbackPlan{{42, 41, from + 20}}, true, 20, false, 0},
		{"bad, rolled back late", crates, bad, []RollbackPlan{{42, 41, from + limit + 1}}, true, limit + 1, true, 0},
		{"bad, rolled back at the limit", crates, bad, []RollbackPlan{{42, 41, from + limit}}, true, limit, false, 0},
		{"bad, never rolled back", crates, bad, nil, false, 0, true, 0},
		{"bad, rolled back by a person in the recorded history only", crates, byHand, nil, false, 0, true, 0},
		{"bad, rolled back to the wrong release", crates, bad, []RollbackPlan{{42, 40, from + 20}}, false, 0, true, 1},
		{"healthy, not rolled back", shape(t, "healthy-promotion"), healthy, nil, false, 0, false, 0},
		{"healthy, rolled back", shape(t, "healthy-promotion"), healthy, []RollbackPlan{{42, 41, 2500}}, false, 0, false, 1},
		{"quick fix: the bad v42 rolled back before the fix", shape(t, "quick-fix-deploy"), quick, []RollbackPlan{{42, 41, fixAt - 1}}, false, 0, false, 0},
		{"quick fix: v42 rolled back as the fix arrives", shape(t, "quick-fix-deploy"), quick, []RollbackPlan{{42, 41, fixAt}}, false, 0, false, 1},
		{"quick fix: the fix rolled back", shape(t, "quick-fix-deploy"), quick, []RollbackPlan{{43, 42, fixAt + 90}}, false, 0, false, 1},
		{"recovery: the incident rolled back before the fix", shape(t, "recovery-after-incident"), recovery, []RollbackPlan{{41, 40, 50}}, false, 0, false, 0},
		{"recovery: the fix rolled back", shape(t, "recovery-after-incident"), recovery, []RollbackPlan{{42, 41, 1920}}, false, 0, false, 1},
	}
	for _, tc := range tests {
		o := Classify(tc.shape, tc.in, replayed(tc.in.Scenario, tc.plan...))
		caught := 0
		if o.Caught {
			caught = 1
		}
		if len(o.Tolerated)+len(o.False)+caught != len(o.Rollbacks) {
			t.Errorf("%s: %d rollbacks are not %d tolerated + %d false + %d caught", tc.name, len(o.Rollbacks), len(o.Tolerated), len(o.False), caught)
		}
		if o.Caught != tc.caught || (o.Caught && o.DelayS != tc.delay) || o.Missed != tc.missed || len(o.False) != tc.false_ || len(o.Rollbacks) != len(tc.plan) {
			t.Errorf("%s: caught %v delay %d missed %v false %d rollbacks %d; want %v %d %v %d %d",
				tc.name, o.Caught, o.DelayS, o.Missed, len(o.False), len(o.Rollbacks), tc.caught, tc.delay, tc.missed, tc.false_, len(tc.plan))
		}
	}
}

func TestSummarize(t *testing.T) {
	crates := shape(t, "crates-io")
	crates.Targets = synth.Targets{MaxDelay: 45 * time.Second, P50: 30 * time.Second, P95: 45 * time.Second}
	var runs []Outcome
	for i, d := range []int{10, 20, 30, 40} {
		runs = append(runs, Outcome{Seed: uint64(i + 1), Caught: true, DelayS: d})
	}
	r := Summarize(crates, runs)
	if !r.Met() || *r.DelayP50 != 20 || *r.DelayP95 != 40 || *r.DelayMax != 40 || r.Worst.Seed != 4 {
		t.Fatalf("report %+v, want met, p50 20, p95 40, worst seed 4", r)
	}
	runs = append(runs, Outcome{Seed: 5, Missed: true})
	r = Summarize(crates, runs)
	if r.Met() || r.Misses != 1 || r.Never != 1 || *r.DelayP50 != 30 || r.DelayP95 != nil || r.Worst.Seed != 5 {
		t.Fatalf("report %+v, want a miss, never 1, p50 30, p95 never, worst seed 5", r)
	}
	runs = append(runs, Outcome{Seed: 6, Caught: true, DelayS: 5, False: []Rollback{{Release: 41, To: 40}}})
	if r = Summarize(crates, runs); r.FalseRollbacks != 1 || r.Worst.Seed != 6 {
		t.Fatalf("report %+v, want 1 false rollback, worst seed 6", r)
	}
	if r := Summarize(crates, []Outcome{{Seed: 1, Caught: true, DelayS: 31}, {Seed: 2, Caught: true, DelayS: 31}}); r.Met() || !strings.Contains(strings.Join(r.Failed, ";"), "p50 31s > 30s") {
		t.Fatalf("p50 31 s passed crates-io's target of 30 s: %v", r.Failed)
	}
	healthy := Summarize(shape(t, "organic-surge"), []Outcome{{Seed: 1, EndedHealthy: true}, {Seed: 2, Tolerated: []Rollback{{Release: 41, To: 40}}}})
	if !healthy.Met() || healthy.NotHealthy != 1 || healthy.Tolerated != 1 || healthy.DelayP50 != nil {
		t.Fatalf("healthy report %+v", healthy)
	}
}

// TestClassifyAgreesWithCheck replays a seed of every shape through
// the real watcher and checks that the sweep's reading of each run agrees
// with the replay's own check of the scenario's [expect]. It asserts
// nothing about the judgement's quality: that is TestSweepTargets.
func TestClassifyAgreesWithCheck(t *testing.T) {
	const seed = 1
	for _, s := range synth.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			in := synth.Generate(s, seed)
			res, err := scenario.Run(context.Background(), in.Scenario, scenario.Options{Settings: scenario.DefaultSettings()})
			if err != nil {
				t.Fatal(err)
			}
			o := Classify(s, in, res)
			if len(o.Rollbacks) != len(res.Rollbacks) {
				t.Errorf("%s seed %d: %d rollbacks read, the replay made %d", s.Name, seed, len(o.Rollbacks), len(res.Rollbacks))
			}
			checkOK := scenario.Check(in.Scenario, res) == nil
			mine := len(o.False) == 0 && len(o.Rollbacks) == 0 && o.EndedHealthy
			if s.Bad {
				mine = o.Caught && !o.Missed && len(o.False) == 0
			}
			if mine != checkOK {
				t.Errorf("%s seed %d: sweep reads %+v, scenario.Check says %v", s.Name, seed, o, scenario.Check(in.Scenario, res))
			}
		})
	}
}

func TestRunInParallelGivesTheSameReport(t *testing.T) {
	opts := Options{Shapes: []synth.Shape{shape(t, "crates-io"), shape(t, "healthy-promotion")},
		Seeds: SeedRange(3, 2), Settings: scenario.DefaultSettings(), Parallel: 1}
	one, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Parallel = 2
	two, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if one.Replays != 4 || len(one.Shapes) != 2 || one.Shapes[0].Runs != 2 || one.Shapes[0].Outcomes[1].Seed != 4 {
		t.Fatalf("report %+v, want 2 shapes of 2 runs (seeds 3, 4)", one)
	}
	for i := range one.Shapes {
		if !reflect.DeepEqual(one.Shapes[i].Outcomes, two.Shapes[i].Outcomes) {
			t.Errorf("%s: outcomes differ between 1 and 2 replays at a time", one.Shapes[i].Shape)
		}
	}
	var text bytes.Buffer
	if err := one.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"crates-io", "healthy-promotion", "seeds 3-4", "targets met on"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, text.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, opts); err == nil {
		t.Error("a cancelled sweep reported success")
	}
}

// TestSweepTargets is issue 8's measurement: every shape, seeds 1..N,
// against its targets. It runs only when asked:
//
//	go test ./scenario/sweep -run Sweep -sweep.seeds=50
func TestSweepTargets(t *testing.T) {
	if *sweepSeeds <= 0 {
		t.Skip("the quality sweep runs with -sweep.seeds=N: go test ./scenario/sweep -run Sweep -sweep.seeds=50")
	}
	rep, err := Run(context.Background(), Options{Shapes: synth.Shapes(), Seeds: SeedRange(1, *sweepSeeds), Settings: scenario.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Log("\n" + text.String())
	for _, s := range rep.Shapes {
		if !s.Met() {
			t.Errorf("%s: %s", s.Shape, strings.Join(s.Failed, "; "))
		}
	}
}

// BenchmarkReplay is one run of a sweep: draw an hour of traffic, replay it
// through the watcher, classify it.
func BenchmarkReplay(b *testing.B) {
	s := shape(b, "crates-io")
	ctx := context.Background()
	b.ReportAllocs()
	var seed uint64
	for b.Loop() {
		seed++
		if _, err := Replay(ctx, s, seed, scenario.DefaultSettings()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClassifyWantsTheBrokenRoute: where the bad traffic is on one of
// several guarded routes, a rollback of the bad release announced for
// another route is not the fault caught, but a false one.
func TestClassifyWantsTheBrokenRoute(t *testing.T) {
	s := shape(t, "routes-12-one-broken")
	in := synth.Generate(s, 1)
	e := in.Scenario.Expect
	if e.Route == "" || e.Route == in.Scenario.WatchedRoute {
		t.Fatalf("expect.route %q: want the broken API route", e.Route)
	}
	for _, tc := range []struct {
		route  string
		caught bool
	}{{e.Route, true}, {in.Scenario.WatchedRoute, false}, {"", false}} {
		res := replayed(in.Scenario, RollbackPlan{42, 41, e.BadFromS + 50})
		res.Rollbacks[0].Route = tc.route
		o := Classify(s, in, res)
		if o.Caught != tc.caught || o.Missed == tc.caught || len(o.WrongRoute) != len(o.False) || (len(o.False) == 0) != tc.caught {
			t.Errorf("rolled back for %q: caught %v, missed %v, %d false, %d for the wrong route; want caught %v", tc.route, o.Caught, o.Missed, len(o.False), len(o.WrongRoute), tc.caught)
		}
		if r := Summarize(s, []Outcome{o}); r.Met() != tc.caught || (r.WrongRoute == 1) == tc.caught {
			t.Errorf("rolled back for %q: report %+v", tc.route, r.Failed)
		}
		if err := scenario.Check(in.Scenario, res); (err == nil) != tc.caught {
			t.Errorf("rolled back for %q: scenario.Check says %v", tc.route, err)
		}
	}
}

// TestUncorrectedTestsEveryRouteAtTheOneRouteZ: the measurement knob
// lowers the z so that the correction for m routes raises it back to the
// one-route z, and leaves one route alone.
func TestUncorrectedTestsEveryRouteAtTheOneRouteZ(t *testing.T) {
	st := scenario.DefaultSettings()
	z := st.Policy.Thresholds.Z
	for _, m := range []int{1, 10, 50} {
		got := Uncorrected(st, m).Policy.Thresholds.Z
		if back := analysis.ZFor(got, m); math.Abs(back-z) > 1e-9 || (m > 1) != (got < z) {
			t.Errorf("%d routes: z lowered to %.4f, raised back to %.4f; want %.4f", m, got, back, z)
		}
	}
}
