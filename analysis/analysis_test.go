package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// gen makes n seconds of traffic: rate requests a second (Poisson), the
// given error and repeat shares, from a seeded generator.
func gen(rng *rand.Rand, start time.Time, n int, rate, errShare, repShare float64) metrics.Series {
	s := metrics.Series{Start: start, HasRepeats: true}
	for range n {
		req := poisson(rng, rate)
		s.Points = append(s.Points, metrics.Point{OK: true, Requests: req,
			Errors: binom(rng, req, errShare), Repeats: binom(rng, req, repShare)})
	}
	return s
}

func poisson(rng *rand.Rand, lam float64) int64 {
	if lam > 50 {
		return max(0, int64(math.Round(lam+math.Sqrt(lam)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lam), int64(0), 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func binom(rng *rand.Rand, n int64, p float64) int64 {
	if n > 100 {
		mu := float64(n) * p
		return min(n, max(0, int64(math.Round(mu+math.Sqrt(mu*(1-p))*rng.NormFloat64()))))
	}
	var k int64
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

func TestRateZ(t *testing.T) {
	tests := []struct {
		name              string
		x1, t1, x2, t2, d float64
		wantMin, wantMax  float64
	}{
		{"same rate", 1000, 100, 100, 10, 1, -0.5, 0.5},
		{"four times the rate", 1000, 100, 400, 10, 1, 10, 1e9},
		{"collapse is negative", 1000, 100, 10, 10, 1, -1e9, -5},
		{"dispersion shrinks z", 1000, 100, 150, 10, 25, 0.5, 2},
		{"no events at all", 0, 100, 0, 10, 1, 0, 0},
		{"no exposure", 10, 0, 5, 10, 1, 0, 0},
	}
	for _, tt := range tests {
		z := RateZ(tt.x1, tt.t1, tt.x2, tt.t2, tt.d)
		if z < tt.wantMin || z > tt.wantMax {
			t.Errorf("%s: RateZ = %.2f, want in [%g, %g]", tt.name, z, tt.wantMin, tt.wantMax)
		}
	}
}

func TestAssess(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}
	type tc struct {
		name       string
		baseRate   float64
		rate, errs float64
		reps       float64
		mutate     func(s *metrics.Series)
		secs       int
		want       Status
		fired      Signal
	}
	tests := []tc{
		{name: "healthy", baseRate: 1500, rate: 1500, errs: 0.0005, reps: 0.15, secs: 120, want: Healthy},
		{name: "error spike", baseRate: 1500, rate: 1500, errs: 0.06, reps: 0.15, secs: 120, want: Anomalous, fired: ErrorShare},
		{name: "retry storm, no errors", baseRate: 1200, rate: 4800, errs: 0.0001, reps: 0.79, secs: 90, want: Anomalous, fired: RepeatShare},
		{name: "organic surge is not a fault", baseRate: 1500, rate: 3750, errs: 0.0005, reps: 0.15, secs: 300, want: Healthy},
		{name: "collapse", baseRate: 1500, rate: 30, errs: 0.0005, reps: 0.15, secs: 90, want: Anomalous, fired: RateCollapse},
		{name: "small error rise below the minimum effect", baseRate: 1500, rate: 1500, errs: 0.004, reps: 0.15, secs: 300, want: Healthy},
		{name: "not settled yet", baseRate: 1500, rate: 1500, errs: 0.5, reps: 0.15, secs: 40, want: Inconclusive},
		{name: "small app, bad", baseRate: 0.5, rate: 0.5, errs: 0.4, reps: 0.05, secs: 600, want: Anomalous, fired: ErrorShare},
		{name: "small app, healthy", baseRate: 0.4, rate: 0.4, errs: 0.007, reps: 0.06, secs: 600, want: Healthy},
		{name: "no data is no evidence", baseRate: 1500, rate: 0, errs: 0, reps: 0, secs: 300, want: Inconclusive,
			mutate: func(s *metrics.Series) {
				for i := range s.Points {
					s.Points[i] = metrics.Point{}
				}
			}},
		{name: "a burst in one third only is not lasting", baseRate: 1500, rate: 1500, errs: 0.0005, reps: 0.15, secs: 105, want: Healthy,
			mutate: func(s *metrics.Series) {
				for i := 90; i < 98; i++ {
					s.Points[i].Errors = s.Points[i].Requests / 2
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, tt.baseRate, 0.0005, 0.15), nil, th)
			cur := gen(rng, t0, tt.secs, tt.rate, tt.errs, tt.reps)
			if tt.mutate != nil {
				tt.mutate(&cur)
			}
			v := Assess(base, cur, grace, th)
			if v.Status != tt.want {
				t.Fatalf("status %s, want %s: %s %+v", v.Status, tt.want, v.Status, v.Findings)
			}
			if tt.fired != "" {
				f, ok := v.Finding(tt.fired)
				if !ok || f.Status != Anomalous || f.Z < th.Z || f.BaselineSample == 0 || f.CurrentSample == 0 && tt.fired != RateCollapse {
					t.Fatalf("finding %s = %+v; want anomalous with its evidence", tt.fired, f)
				}
			}
		})
	}
}

func TestBaselineExcludesEarlierRestartBlips(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := gen(rng, t0, 600, 1000, 0.001, 0.1)
	for i := 100; i < 120; i++ {
		s.Points[i].Errors = s.Points[i].Requests / 10
	}
	with := NewBaseline(s, nil, DefaultThresholds())
	without := NewBaseline(s, []Interval{{From: t0.Add(100 * time.Second), To: t0.Add(130 * time.Second)}}, DefaultThresholds())
	if without.Seconds != 570 || without.Errors >= with.Errors || without.scale(30).ErrorDispersion >= with.scale(30).ErrorDispersion {
		t.Fatalf("excluding the blip: seconds %d, errors %d vs %d, dispersion %.1f vs %.1f", without.Seconds, without.Errors, with.Errors, without.scale(30).ErrorDispersion, with.scale(30).ErrorDispersion)
	}
}

func BenchmarkAssess(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	th := DefaultThresholds()
	base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 1500, 0.0005, 0.15), nil, th)
	cur := gen(rng, t0, 1200, 1500, 0.0005, 0.15)
	b.ReportAllocs()
	for b.Loop() {
		Assess(base, cur, Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}, th)
	}
}

// burst adds errors to seconds [from, to) of s at share.
func burst(s metrics.Series, from, to int, share float64) {
	for i := from; i < to && i < len(s.Points); i++ {
		s.Points[i].Errors = int64(float64(s.Points[i].Requests) * share)
	}
}

func TestRecoveryIsNotACollapse(t *testing.T) {
	th := DefaultThresholds()
	rng := rand.New(rand.NewPCG(7, 8))
	// The previous release was a retry storm for the whole baseline: the
	// rate tripled by repeats (70%), 4% errors. The fix: repeats back to
	// 12%, errors gone, first attempts as before.
	base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 3857, 0.04, 0.70), nil, th)
	cur := gen(rng, t0, 120, 1276, 0.0005, 0.12)
	v := Assess(base, cur, Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}, th)
	if v.Status != Healthy {
		t.Fatalf("the fix is %s: %+v", v.Status, v.Fired())
	}
	c, _ := v.Finding(RateCollapse)
	if !c.FirstAttempts || c.Status != Healthy {
		t.Fatalf("collapse %+v: want judged on first attempts, healthy", c)
	}
	if f, ok := v.Finding(RetriesStopped); !ok || f.TotalCurrent >= f.TotalBaseline/2 {
		t.Fatalf("retries stopped = %+v, %v: want reported, with the total rate falling", f, ok)
	}

	// Without the repeats known, the same fall is a collapse: that is why
	// the source's repeats matter.
	noRepeats := func(s metrics.Series) metrics.Series {
		s.HasRepeats = false
		return s
	}
	rng = rand.New(rand.NewPCG(7, 8))
	base = NewBaseline(noRepeats(gen(rng, t0.Add(-30*time.Minute), 1800, 3857, 0.04, 0.70)), nil, th)
	cur = noRepeats(gen(rng, t0, 120, 1276, 0.0005, 0.12))
	if v := Assess(base, cur, Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}, th); v.Status != Anomalous {
		t.Fatalf("a fall of total requests without repeats known is %s, want anomalous", v.Status)
	}

	// First attempts that really fall are a collapse, repeats or not.
	rng = rand.New(rand.NewPCG(9, 10))
	base = NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 1500, 0.0005, 0.15), nil, th)
	cur = gen(rng, t0, 120, 300, 0.0005, 0.15)
	if v := Assess(base, cur, Grace{Traffic: 30 * time.Second}, th); v.Status != Anomalous || len(v.Fired()) != 1 || v.Fired()[0].Signal != RateCollapse {
		t.Fatalf("first attempts at a fifth: %s %+v, want a collapse", v.Status, v.Fired())
	}
}

func TestBurstNoLargerThanTheBaselinesIsNotAVerdict(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}
	rng := rand.New(rand.NewPCG(11, 12))
	// The app has 30 s upstream hiccups of 10% errors every few minutes.
	hiccups := func() Baseline {
		s := gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0003, 0.12)
		for _, at := range []int{200, 610, 1000, 1490} {
			burst(s, at, at+30, 0.10)
		}
		return NewBaseline(s, nil, th)
	}
	base := hiccups()
	cur := gen(rng, t0, 120, 300, 0.0003, 0.12)
	burst(cur, 90, 120, 0.10) // the same hiccup after the release
	if v := Assess(base, cur, grace, th); v.Status != Healthy {
		f, _ := v.Finding(ErrorShare)
		t.Fatalf("a hiccup like the baseline's is %s: %+v", v.Status, f)
	}
	// Against a quiet baseline the same burst is strong enough for a quick
	// window: the envelope, not luck, keeps it healthy above.
	quiet := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0003, 0.12), nil, th)
	if v := Assess(quiet, cur, grace, th); v.Status != Anomalous {
		f, _ := v.Finding(ErrorShare)
		t.Fatalf("the hiccup against a quiet baseline is %s: %+v", v.Status, f)
	}
	// A small hiccup (3% for 20 s) is no verdict even against a quiet
	// baseline: too weak for a quick window, too short for a full one.
	small := gen(rng, t0, 120, 300, 0.0003, 0.12)
	burst(small, 95, 115, 0.03)
	if v := Assess(quiet, small, grace, th); v.Status != Healthy {
		f, _ := v.Finding(ErrorShare)
		t.Fatalf("a 3%% hiccup is %s: %+v", v.Status, f)
	}
	// Errors beyond the baseline's worst, lasting, are.
	bad := gen(rng, t0, 120, 300, 0.0003, 0.12)
	burst(bad, 45, 120, 0.15)
	if v := Assess(base, bad, grace, th); v.Status != Anomalous {
		f, _ := v.Finding(ErrorShare)
		t.Fatalf("15%% errors for over a minute is %s: %+v", v.Status, f)
	}
}

func TestSmallLastingEffectIsFoundAtALongerScale(t *testing.T) {
	th := DefaultThresholds()
	rng := rand.New(rand.NewPCG(13, 14))
	baseSeries := gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0003, 0.12)
	for _, at := range []int{200, 610, 1000, 1490} {
		burst(baseSeries, at, at+20, 0.03)
	}
	base := NewBaseline(baseSeries, nil, th)
	// 1.5% errors, steadily: under the hiccups' 30 s worst (about 2%), far
	// past their 4-minute worst.
	cur := gen(rng, t0, 45+240, 300, 0.015, 0.12)
	v := Assess(base, cur, Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}, th)
	f, _ := v.Finding(ErrorShare)
	if v.Status != Anomalous || f.To.Sub(f.From) <= th.Sustain {
		t.Fatalf("a lasting 1.5%% is %s at %s: %+v", v.Status, f.To.Sub(f.From), f)
	}
}

func TestGuardrailsJudgeWithoutABaseline(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 30 * time.Second}
	rng := rand.New(rand.NewPCG(15, 16))
	short := NewBaseline(gen(rng, t0.Add(-time.Minute), 60, 300, 0.0003, 0.12), nil, th)
	if short.Usable(th) {
		t.Fatal("a minute of baseline is usable; min_baseline is 2m")
	}
	bad := gen(rng, t0, 120, 300, 0.2, 0.12)
	v := Assess(short, bad, grace, th)
	f, _ := v.Finding(ErrorShare)
	if v.Status != Anomalous || v.Mode != Absolute || f.Mode != Absolute || f.Baseline != th.MaxErrorShare {
		t.Fatalf("20%% errors without a baseline: %s %s %+v", v.Status, v.Mode, f)
	}
	good := gen(rng, t0, 120, 300, 0.01, 0.12)
	if v := Assess(short, good, grace, th); v.Status != Healthy || v.Mode != Absolute {
		t.Fatalf("1%% errors without a baseline: %s %s %+v", v.Status, v.Mode, v.Findings)
	}
	storm := gen(rng, t0, 120, 1200, 0.0003, 0.75)
	if v := Assess(short, storm, grace, th); v.Status != Anomalous || v.Fired()[0].Signal != RepeatShare {
		t.Fatalf("75%% repeats without a baseline: %s %+v", v.Status, v.Fired())
	}
}

// night is a night of CI builds: from first on, every `every` seconds a build fetches
// `crates` crates over 10 s; a share repeated(b) of build b's requests
// repeat a (client, path) seen in the last minute.
func night(start time.Time, secs, first, every, crates int, repeated func(build int) float64) metrics.Series {
	s := metrics.Series{Start: start, HasRepeats: true, Points: make([]metrics.Point, secs)}
	for i := range s.Points {
		s.Points[i].OK = true
	}
	for b, at := 0, first; at+10 <= secs; b, at = b+1, at+every {
		for i := range 10 {
			p := &s.Points[at+i]
			p.Requests = int64(crates / 10)
			p.Repeats = int64(float64(p.Requests) * repeated(b))
		}
	}
	return s
}

func TestClusteredTrafficIsJudgedByItsClusters(t *testing.T) {
	th := DefaultThresholds()
	th.MinRequests = 100 // two failing builds are fewer: their clusters are the sample
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	clean := func(int) float64 { return 0.02 }
	// A night of single-job builds every minute: enough seconds with
	// traffic for a baseline, no cluster near the guardrail.
	base := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 60, clean), nil, th)
	if !base.Usable(th) || base.Clusters < 20 || base.MaxClusterRepeatShare >= th.MaxRepeatShare {
		t.Fatalf("baseline: usable %v, %d clusters, max repeat share %.2f", base.Usable(th), base.Clusters, base.MaxClusterRepeatShare)
	}
	// Every fetch now retried three times: each build is 75% repeats; two
	// builds are fewer requests than the minimum sample.
	broken := night(t0, 150, 60, 60, 40, func(int) float64 { return 0.75 })
	v := Assess(base, broken, grace, th)
	if f, _ := v.Finding(RepeatShare); v.Status != Anomalous || f.Mode != Relative {
		t.Fatalf("failing builds after a night of clean ones: %s %+v", v.Status, f)
	}
	// The second build still running (10 s after its last fetch, under
	// clusterEnded): it is a part of its jobs, not yet a cluster to count.
	if v := Assess(base, broken.Slice(t0, t0.Add(140*time.Second)), grace, th); v.Status == Anomalous {
		t.Fatalf("a build in progress counted: %+v", v.Fired())
	}
	// One failing build is not yet a pattern.
	if v := Assess(base, broken.Slice(t0, t0.Add(100*time.Second)), grace, th); v.Status == Anomalous {
		t.Fatalf("one failing build already a verdict: %+v", v.Fired())
	}
	// Builds as before, every third a second job (67% repeats): healthy.
	healthy := night(t0, 400, 30, 60, 60, func(b int) float64 { return []float64{0, 0.67, 0}[b%3] })
	if v := Assess(base, healthy, grace, th); v.Status == Anomalous {
		t.Fatalf("healthy builds: %+v", v.Fired())
	}
	// One normal re-run build in the baseline (a cluster of repeats alone,
	// no first attempts) does not hide every build failing since the
	// release (issue 15): it is no failing build; one build that failed
	// (80% repeats: retries of first attempts) is.
	rerun := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 100, func(b int) float64 { return float64(b/12%2) * float64(b%12/11) }), nil, th)
	failed := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 100, func(b int) float64 { return float64(b/12%2) * float64(b%12/11) * 0.8 }), nil, th)
	if rerun.ClustersPast != 0 || failed.ClustersPast != 1 {
		t.Fatalf("clusters past the guardrail: %d with a re-run (want 0), %d with a failed build (want 1)", rerun.ClustersPast, failed.ClustersPast)
	}
	if v := Assess(rerun, broken, grace, th); v.Status != Anomalous {
		t.Fatalf("failing builds after a night with one re-run: %s", v.Status)
	}
	// A re-run since the release is no failing build either: one failing
	// build and a re-run are not two.
	withRerun := night(t0, 150, 60, 60, 40, func(b int) float64 { return []float64{0.75, 1}[b%2] })
	if v := Assess(base, withRerun, grace, th); v.Status == Anomalous {
		t.Fatalf("a failing build and a re-run counted as two: %+v", v.Fired())
	}
	// A baseline where every third build went past the guardrail (a job
	// that fetches everything again and again) makes two failing builds in
	// a row likely: it takes more of them.
	habit := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 60, func(b int) float64 { return float64(b%3/2) * 0.9 }), nil, th)
	if v := Assess(habit, broken, grace, th); v.Status == Anomalous {
		f, _ := v.Finding(RepeatShare)
		t.Fatalf("two failing builds against a baseline where every third one failed: %+v", f)
	}
	if v := Assess(habit, night(t0, 270, 60, 60, 40, func(int) float64 { return 0.75 }), grace, th); v.Status != Anomalous {
		t.Fatalf("four failing builds in a row against the same baseline: %s", v.Status)
	}
}

// A build that starts soon after the settle point, with silence back to
// the release going live, is whole: it counts (issue 15).
func TestClusterSoonAfterTheSettlePointCounts(t *testing.T) {
	th := DefaultThresholds()
	th.MinRequests = 100
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	base := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 60, func(int) float64 { return 0.02 }), nil, th)
	// Builds from 28 s after the settle point (38 s after going live),
	// every minute, each failing.
	broken := night(t0, 128, 38, 60, 40, func(int) float64 { return 0.75 })
	if v := Assess(base, broken, grace, th); v.Status != Anomalous {
		f, _ := v.Finding(RepeatShare)
		t.Fatalf("two failing builds, the first 28 s after the settle point: %+v", f)
	}
}

func BenchmarkNewBaseline(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	th := DefaultThresholds()
	s := gen(rng, t0.Add(-30*time.Minute), 1800, 1500, 0.0005, 0.15)
	b.ReportAllocs()
	for b.Loop() {
		NewBaseline(s, nil, th)
	}
}

// TestRetryStormJudgedOnFiveSeconds: a retry storm (repeats from 12% to
// 75%, the rate up threefold) is judged on the first 5 s after the settle
// grace (the shortest quick window, a twelfth of Sustain), as crates.io's
// clients' retries would be: the delay issue 15 asks is p95 20 s. A 5 s
// repeat burst no larger than the baseline's own 5 s bursts is no verdict.
func TestRetryStormJudgedOnFiveSeconds(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	rng := rand.New(rand.NewPCG(21, 22))
	base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 1200, 0.0005, 0.12), nil, th)
	cur := gen(rng, t0, 10, 1200, 0.0005, 0.12)
	storm := gen(rng, t0.Add(10*time.Second), 5, 3600, 0.0005, 0.75)
	cur.Points = append(cur.Points, storm.Points...)
	v := Assess(base, cur, grace, th)
	f, _ := v.Finding(RepeatShare)
	if v.Status != Anomalous || f.Status != Anomalous || f.To.Sub(f.From) != 5*time.Second {
		t.Fatalf("5 s of a retry storm after the settle grace: %s, repeat share %+v; want anomalous on the 5 s window", v.Status, f)
	}

	// The app's own 5 s bursts of repeats (a client's retries) reach 75%.
	bursty := gen(rng, t0.Add(-30*time.Minute), 1800, 1200, 0.0005, 0.12)
	for _, at := range []int{100, 400, 700, 1000, 1300, 1600} {
		for i := at; i < at+5; i++ {
			bursty.Points[i].Repeats = bursty.Points[i].Requests * 3 / 4
		}
	}
	burst := NewBaseline(bursty, nil, th)
	if v := Assess(burst, cur, grace, th); v.Status == Anomalous {
		f, _ := v.Finding(RepeatShare)
		t.Fatalf("a 5 s burst like the baseline's own is anomalous: %+v", f)
	}
}

// TestOnlyHistoryAnIncident: the whole baseline is an outage (20% errors;
// no healthy stretch to leave it for). Judged against it alone, a release
// as bad passes as healthy; the guardrail (5%) judges too: as bad is
// inconclusive and says why, worse is anomalous, a fix is healthy.
func TestOnlyHistoryAnIncident(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	rng := rand.New(rand.NewPCG(31, 32))
	base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.20, 0.12), nil, th)
	for _, tc := range []struct {
		name   string
		errors float64
		want   Status
		gap    Gap
	}{
		{"as bad as before", 0.20, Inconclusive, GapIncidentBaseline},
		{"worse", 0.45, Anomalous, GapNone},
		{"fixed", 0.001, Healthy, GapNone},
	} {
		cur := gen(rng, t0, 240, 300, tc.errors, 0.12)
		v := Assess(base, cur, grace, th)
		f, _ := v.Finding(ErrorShare)
		if f.Status != tc.want || f.Gap != tc.gap {
			t.Errorf("%s: error share %s (gap %q), want %s (gap %q): %+v", tc.name, f.Status, f.Gap, tc.want, tc.gap, f)
		}
	}
}

// TestNoQuickWindowOnClusteredTraffic: on a night of builds a quick window
// sees one build, whose later jobs (or a re-run) fetch everything again: a
// few seconds of 100% repeats are no verdict there, however strong.
func TestNoQuickWindowOnClusteredTraffic(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	base := NewBaseline(night(t0.Add(-30*time.Minute), 1800, 30, 60, 400, func(int) float64 { return 0.02 }), nil, th)
	if base.Active*2 >= base.Seconds {
		t.Fatalf("the baseline is not clustered: %d of %d seconds with requests", base.Active, base.Seconds)
	}
	rerun := night(t0, 30, 20, 60, 400, func(int) float64 { return 1 })
	if v := Assess(base, rerun, grace, th); v.Status == Anomalous {
		f, _ := v.Finding(RepeatShare)
		t.Fatalf("a re-run judged on a quick window: %+v", f)
	}
}

// TestRetriesOfABootsErrorsAreTheRestarts: dynos that boot for 30 s fail
// most requests, and the clients' retries of those failures are repeats
// past the traffic's 10 s grace. They are the restart's (the error share
// has its 45 s grace), not a retry storm; a storm with no errors behind it
// (crates.io's redirects), even right after a restart blip, still is.
func TestRetriesOfABootsErrorsAreTheRestarts(t *testing.T) {
	th := DefaultThresholds()
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	rng := rand.New(rand.NewPCG(31, 32))
	base := NewBaseline(gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0005, 0.10), nil, th)

	// 30 s of boot: 70% router errors, retried up to twice (the retries
	// fail as often); then 5 s of the last retries; then normal.
	boot := gen(rng, t0, 30, 300, 0.7, 0.5)
	tail := gen(rng, t0.Add(30*time.Second), 5, 300, 0.0005, 0.6)
	after := gen(rng, t0.Add(35*time.Second), 10, 300, 0.0005, 0.10)
	cur := metrics.Series{Start: t0, HasRepeats: true, Points: append(append(boot.Points, tail.Points...), after.Points...)}
	for n := 11; n <= len(cur.Points); n++ { // judged every second, as the watch does
		sofar := cur
		sofar.Points = cur.Points[:n]
		if v := Assess(base, sofar, grace, th); v.Status == Anomalous {
			f, _ := v.Finding(RepeatShare)
			t.Fatalf("%d s after go-live, the retries of a 30 s boot's errors are anomalous: %+v", n, f)
		}
	}

	// A restart blip of 8 s (20% errors), then a retry storm of
	// redirects: no errors, 75% repeats from the 10 s grace.
	blip := gen(rng, t0, 8, 300, 0.2, 0.15)
	calm := gen(rng, t0.Add(8*time.Second), 2, 300, 0.0005, 0.10)
	storm := gen(rng, t0.Add(10*time.Second), 10, 900, 0.0005, 0.75)
	cur = metrics.Series{Start: t0, HasRepeats: true, Points: append(append(blip.Points, calm.Points...), storm.Points...)}
	v := Assess(base, cur, grace, th)
	if f, _ := v.Finding(RepeatShare); v.Status != Anomalous || f.Status != Anomalous {
		t.Fatalf("a retry storm after a restart blip: %s, repeat share %+v; want anomalous", v.Status, f)
	}
}
