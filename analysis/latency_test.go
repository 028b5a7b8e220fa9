package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// slowness makes share of a second's requests factor times slower.
type slowness struct{ share, factor float64 }

// timed gives each second of s from `from` on response times: log-normal
// around medianMs (log sd sigma), with the slownesses applied, drawn one
// request at a time.
func timed(rng *rand.Rand, s metrics.Series, from int, medianMs, sigma float64, slow ...slowness) metrics.Series {
	s.HasLatency = true
	for i := from; i < len(s.Points); i++ {
		p := &s.Points[i]
		h := new(metrics.Histogram)
		for range p.Requests {
			ms := medianMs * math.Exp(sigma*rng.NormFloat64())
			u := rng.Float64()
			for _, sl := range slow {
				if u < sl.share {
					ms *= sl.factor
					break
				}
				u -= sl.share
			}
			h.AddMillis(ms, 1)
		}
		p.Latency = h
	}
	return s
}

// latencyCase is a baseline of 30 min at rate requests/s and 20 min after
// a release, with response times before (slowBefore) and after (slowAfter,
// the median scaled by medianAfter).
func latencyCase(seed uint64, rate, medianAfter float64, slowBefore, slowAfter []slowness) Verdict {
	return latencyCaseAt(seed, rate, 60, medianAfter, slowBefore, slowAfter)
}

// latencyCaseAt is latencyCase around a median of medianMs.
func latencyCaseAt(seed uint64, rate, medianMs, medianAfter float64, slowBefore, slowAfter []slowness) Verdict {
	rng := rand.New(rand.NewPCG(seed, 16))
	th := DefaultThresholds()
	base := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, rate, 0.0005, 0.12), 0, medianMs, 0.6, slowBefore...)
	cur := timed(rng, gen(rng, t0, 1200, rate, 0.0005, 0.12), 0, medianMs*medianAfter, 0.6, slowAfter...)
	return Assess(NewBaseline(base, nil, th), cur, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
}

func statusOf(t *testing.T, v Verdict, sig Signal) Finding {
	t.Helper()
	f, ok := v.Finding(sig)
	if !ok {
		t.Fatalf("no %s finding: %+v", sig, v.Findings)
	}
	return f
}

// A release that makes every response three times slower, with no error,
// is anomalous on p50 and p95, and said in seconds.
func TestSlowerReleaseIsAnomalous(t *testing.T) {
	v := latencyCase(1, 300, 3, nil, nil)
	for _, sig := range []Signal{LatencyP50, LatencyP95} {
		f := statusOf(t, v, sig)
		if f.Status != Anomalous {
			t.Errorf("%s: %s (z %.1f, %.3fs vs %.3fs), want anomalous", sig, f.Status, f.Z, f.Current, f.Baseline)
		}
		if r := f.Current / f.Baseline; r < 2.5 || r > 3.5 {
			t.Errorf("%s: %.3fs vs %.3fs, x%.2f; the release is x3", sig, f.Current, f.Baseline, r)
		}
	}
	if v.Status != Anomalous {
		t.Errorf("verdict %s", v.Status)
	}
	if f := statusOf(t, v, ErrorShare); f.Status == Anomalous {
		t.Error("the error share is anomalous: the test's release has no errors")
	}
}

// A release 10% slower is a release a person ships.
func TestTenPercentSlowerIsHealthy(t *testing.T) {
	for seed := range uint64(5) {
		v := latencyCase(seed, 300, 1.1, nil, nil)
		for _, sig := range []Signal{LatencyP50, LatencyP95, LatencyP99} {
			if f := statusOf(t, v, sig); f.Status != Healthy {
				t.Errorf("seed %d %s: %s (%.3fs vs %.3fs, z %.1f)", seed, sig, f.Status, f.Current, f.Baseline, f.Z)
			}
		}
	}
}

// A release 35% slower, on a route at 300 ms, lasts and is significant
// but under the minimum rise (x1.5): no verdict.
func TestUnderTheMinimumRiseIsHealthy(t *testing.T) {
	v := latencyCaseAt(6, 300, 300, 1.35, nil, nil)
	for _, sig := range []Signal{LatencyP50, LatencyP95, LatencyP99} {
		if f := statusOf(t, v, sig); f.Status != Healthy {
			t.Errorf("%s: %s (%.3fs vs %.3fs, z %.1f)", sig, f.Status, f.Current, f.Baseline, f.Z)
		}
	}
}

// A dependency slow before the release and after it is the baseline's
// normal.
func TestSlowDependencyInTheBaselineIsHealthy(t *testing.T) {
	dep := []slowness{{0.2, 5}}
	v := latencyCase(2, 300, 1, dep, dep)
	for _, sig := range []Signal{LatencyP50, LatencyP95, LatencyP99} {
		if f := statusOf(t, v, sig); f.Status != Healthy {
			t.Errorf("%s: %s (%.3fs vs %.3fs, z %.1f)", sig, f.Status, f.Current, f.Baseline, f.Z)
		}
	}
	// The same slow dependency arriving with the release is a fault.
	v = latencyCase(2, 300, 1, nil, dep)
	if f := statusOf(t, v, LatencyP95); f.Status != Anomalous {
		t.Errorf("a dependency slow since the release: p95 %s (%.3fs vs %.3fs, z %.1f)", f.Status, f.Current, f.Baseline, f.Z)
	}
}

// A slow tail (3% of the requests 15x slower) moves p99, not p50.
func TestSlowTailIsSeenOnP99(t *testing.T) {
	v := latencyCase(3, 300, 1, nil, []slowness{{0.03, 15}})
	if f := statusOf(t, v, LatencyP99); f.Status != Anomalous {
		t.Errorf("p99: %s (%.3fs vs %.3fs, z %.1f)", f.Status, f.Current, f.Baseline, f.Z)
	}
	if f := statusOf(t, v, LatencyP50); f.Status != Healthy {
		t.Errorf("p50: %s (%.3fs vs %.3fs)", f.Status, f.Current, f.Baseline)
	}
}

// Without response times there is no latency finding; where a window
// cannot hold 1,000 responses, p99 is left out, not inconclusive.
func TestLatencyOnlyWhereTheSampleAllows(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 16))
	th := DefaultThresholds()
	base := gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0005, 0.12)
	cur := gen(rng, t0, 1200, 300, 0.0005, 0.12)
	v := Assess(NewBaseline(base, nil, th), cur, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
	for _, f := range v.Findings {
		if _, ok := LatencyQuantile(f.Signal); ok {
			t.Errorf("a latency finding without response times: %+v", f)
		}
	}
	// 1 request a second: 600 in the longest window, too few for p99.
	base = timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 1, 0, 0.05), 0, 60, 0.6)
	cur = timed(rng, gen(rng, t0, 1200, 1, 0, 0.05), 0, 60, 0.6)
	v = Assess(NewBaseline(base, nil, th), cur, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
	if _, ok := v.Finding(LatencyP99); ok {
		t.Error("p99 judged on 600 responses")
	}
	if f := statusOf(t, v, LatencyP50); f.Status != Healthy {
		t.Errorf("p50 at 1 req/s: %s (%s %g/%g)", f.Status, f.Gap, f.Have, f.Need)
	}
}

// A slow spike as long as a GC pause or a slow query (8 s) after the
// release is no verdict, however slow, where the baseline had none.
func TestShortSpikeIsNoVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 16))
	th := DefaultThresholds()
	base := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0005, 0.12), 0, 60, 0.6)
	cur := timed(rng, gen(rng, t0, 1200, 300, 0.0005, 0.12), 0, 60, 0.6)
	spike := timed(rng, gen(rng, t0, 8, 300, 0.0005, 0.12), 0, 600, 0.6)
	copy(cur.Points[100:], spike.Points)
	for end := 100; end <= 200; end += 5 {
		v := Assess(NewBaseline(base, nil, th), cur.Slice(t0, t0.Add(time.Duration(end)*time.Second)), Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
		for _, sig := range []Signal{LatencyP50, LatencyP95, LatencyP99} {
			if f, ok := v.Finding(sig); ok && f.Status == Anomalous {
				t.Errorf("at %d s, an 8 s spike is anomalous on %s: %.3fs vs %.3fs over %s", end, sig, f.Current, f.Baseline, f.To.Sub(f.From))
			}
		}
	}
}

// Two spikes 20 s apart (6 s and 7 s, a fifth of the requests four times
// slower), where the baseline's spikes, every ten minutes, were milder, are no
// verdict: together they fill a minute's tail, each straddling two of its
// thirds, so that every third looks slower
// (routes-10-healthy's seed 134 was rolled back on them, p99 x2.5).
func TestTwoSpikesAreNoVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 16))
	th := DefaultThresholds()
	spikes := func(s metrics.Series, slow slowness, at ...[2]int) metrics.Series {
		for _, a := range at {
			sp := timed(rng, gen(rng, t0, a[1], 80, 0.0005, 0.12), 0, 150, 0.5, slow)
			copy(s.Points[a[0]:], sp.Points)
		}
		return s
	}
	base := spikes(timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 80, 0.0005, 0.12), 0, 150, 0.5), slowness{0.05, 2}, [2]int{300, 5}, [2]int{900, 4}, [2]int{1500, 6})
	cur := spikes(timed(rng, gen(rng, t0, 1200, 80, 0.0005, 0.12), 0, 150, 0.5), slowness{0.2, 4}, [2]int{613, 6}, [2]int{633, 7})
	b := NewBaseline(base, nil, th)
	for end := 615; end <= 700; end += 5 {
		v := Assess(b, cur.Slice(t0, t0.Add(time.Duration(end)*time.Second)), Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
		for _, sig := range []Signal{LatencyP50, LatencyP95, LatencyP99} {
			if f, ok := v.Finding(sig); ok && f.Status == Anomalous {
				t.Errorf("at %d s, two spikes are anomalous on %s: %.3fs vs %.3fs over %s", end, sig, f.Current, f.Baseline, f.To.Sub(f.From))
			}
		}
	}
}

func BenchmarkAssessLatency(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	th := DefaultThresholds()
	base := NewBaseline(timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0005, 0.15), 0, 60, 0.6), nil, th)
	cur := timed(rng, gen(rng, t0, 1200, 300, 0.0005, 0.15), 0, 60, 0.6)
	b.ReportAllocs()
	for b.Loop() {
		Assess(base, cur, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
	}
}

func BenchmarkNewBaselineLatency(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	th := DefaultThresholds()
	s := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 300, 0.0005, 0.15), 0, 60, 0.6)
	b.ReportAllocs()
	for b.Loop() {
		NewBaseline(s, nil, th)
	}
}

// A window's histogram is its seconds' added up, whichever windows were
// asked for before it: grown from the end, cut short of it, or inside.
func TestWindowSumsAreTheSecondsAddedUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	s := timed(rng, gen(rng, t0, 300, 20, 0.001, 0.1), 0, 60, 0.6)
	s.Points[7].OK, s.Points[9].Latency = false, nil
	ws := newWindowSums(s.Points)
	n := len(s.Points)
	for _, w := range [][2]int{{n - 30, n}, {n - 120, n}, {n - 60, n}, {n - 300, n}, {10, 40}, {n - 5, n}, {0, n}, {n, n}, {5, 12}} {
		var want metrics.Histogram
		for _, p := range s.Points[w[0]:w[1]] {
			if p.OK {
				want.Merge(p.Latency)
			}
		}
		if got := ws.of(w[0], w[1]); got != want {
			t.Errorf("window [%d, %d): %v, want %v", w[0], w[1], got, want)
		}
	}
}

// A thin route's quantiles wander by their sample: at a request every ten
// seconds the baseline has few windows to measure that on (none, at the
// longer lengths), and a window of 60 responses reads its median about a
// tenth off. A healthy thin route,
// judged at the z of 50 routes, is not slower, whatever the draw.
func TestThinRouteLatencyWandersByItsSample(t *testing.T) {
	th := DefaultThresholds()
	th.Z = ZFor(th.Z, 50)
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	for _, rate := range []float64{0.1} {
		anomalous := 0
		for seed := range uint64(200) {
			rng := rand.New(rand.NewPCG(seed, 17))
			base := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, rate, 0.0005, 0.12), 0, 200, 0.6)
			cur := timed(rng, gen(rng, t0, 1200, rate, 0.0005, 0.12), 0, 200, 0.6)
			b := NewBaseline(base, nil, th)
			for end := 60; end <= 1200; end += 5 {
				v := Assess(b, cur.Slice(t0, t0.Add(time.Duration(end)*time.Second)), grace, th)
				if f, _ := v.Finding(LatencyP50); f.Status == Anomalous {
					anomalous++
					t.Logf("%.1f req/s seed %d at %d s: p50 %.3fs vs %.3fs, z %.1f over a spread of %.3f (%d responses)", rate, seed, end, f.Current, f.Baseline, f.Z, f.Dispersion, f.CurrentSample)
					break
				}
			}
		}
		if anomalous > 0 {
			t.Errorf("%.1f req/s: %d of 200 healthy thin routes judged slower", rate, anomalous)
		}
	}
	// And a thin route three times slower still is.
	rng := rand.New(rand.NewPCG(1, 17))
	base := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 0.3, 0.0005, 0.12), 0, 200, 0.6)
	cur := timed(rng, gen(rng, t0, 1200, 0.3, 0.0005, 0.12), 0, 600, 0.6)
	if f := statusOf(t, Assess(NewBaseline(base, nil, th), cur, grace, th), LatencyP50); f.Status != Anomalous {
		t.Errorf("0.3 req/s three times slower: %s (z %.1f, spread %.3f)", f.Status, f.Z, f.Dispersion)
	}
}

// tailZ is the binomial tail's z: 0 at or below the expected count, rising
// with the count, and near the exact binomial tail's z where a normal
// approximation is not (a dozen expected responses, far in the tail).
func TestTailZIsTheBinomialTail(t *testing.T) {
	if z := tailZ(13, 270, 0.05, 0); z != 0 {
		t.Errorf("13.5 expected, 13 seen: z %v, want 0", z)
	}
	prev := 0.0
	for k := 15.0; k <= 60; k++ {
		z := tailZ(k, 270, 0.05, 0)
		if z <= prev {
			t.Fatalf("tailZ(%v) = %v, not above tailZ(%v) = %v", k, z, k-1, prev)
		}
		prev = z
	}
	// The exact upper tail of Binomial(270, 0.05) at 31 and 40, as a
	// normal z.
	exact := func(k, n int, p float64) float64 {
		tail := 0.0
		for i := k; i <= n; i++ {
			lg, _ := math.Lgamma(float64(n + 1))
			li, _ := math.Lgamma(float64(i + 1))
			lni, _ := math.Lgamma(float64(n - i + 1))
			tail += math.Exp(lg - li - lni + float64(i)*math.Log(p) + float64(n-i)*math.Log(1-p))
		}
		return math.Sqrt2 * math.Erfcinv(2*tail)
	}
	for _, k := range []int{25, 31, 40} {
		got, want := tailZ(float64(k), 270, 0.05, 0), exact(k, 270, 0.05)
		wald := (float64(k) - 13.5) / math.Sqrt(270*0.05*0.95)
		if math.Abs(got-want) > 0.15 {
			t.Errorf("k=%d: tailZ %.2f, exact %.2f (the normal approximation's %.2f)", k, got, want, wald)
		}
	}
	// The baseline's own sampling widens it.
	if a, b := tailZ(40, 270, 0.05, 0), tailZ(40, 270, 0.05, 540); b >= a || math.Abs(b-a/math.Sqrt(1.5)) > 1e-9 {
		t.Errorf("a baseline of 540 responses: %v, against an exact level's %v", b, a)
	}
}

// A thin route (4 requests/s, a p95 read from a dozen responses a minute)
// whose median wanders a fifth slower after a release, under the minimum
// rise of x1.5, is not slower: its p95 moves by half on that wander and
// its sample's chance (routes-50-healthy's seed 50 was rolled back on
// it, p95 x1.63 with z 4.9 against 4.85). Judged at the z of 50 routes.
// And twice as slow, it still is.
func TestThinRouteWanderIsNotSlower(t *testing.T) {
	th := DefaultThresholds()
	th.Z = ZFor(th.Z, 50)
	grace := Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}
	judge := func(seed uint64, after float64) (Finding, bool) {
		rng := rand.New(rand.NewPCG(seed, 18))
		base := timed(rng, gen(rng, t0.Add(-30*time.Minute), 1800, 4, 0.0005, 0.12), 0, 100, 0.6)
		cur := timed(rng, gen(rng, t0, 1200, 4, 0.0005, 0.12), 0, 100*after, 0.6)
		b := NewBaseline(base, nil, th)
		var last Finding
		for end := 60; end <= 1200; end += 5 {
			v := Assess(b, cur.Slice(t0, t0.Add(time.Duration(end)*time.Second)), grace, th)
			last, _ = v.Finding(LatencyP95)
			if last.Status == Anomalous {
				return last, true
			}
		}
		return last, false
	}
	slower := 0
	for seed := range uint64(60) {
		if f, bad := judge(seed, 1.25); bad {
			slower++
			t.Logf("seed %d: p95 %.3fs vs %.3fs, z %.1f (%d responses)", seed, f.Current, f.Baseline, f.Z, f.CurrentSample)
		}
	}
	if slower > 0 {
		t.Errorf("%d of 60 thin routes a fifth slower judged slower on p95", slower)
	}
	if f, bad := judge(1, 2); !bad {
		t.Errorf("a thin route twice as slow: p95 %s (%.3fs vs %.3fs, z %.1f)", f.Status, f.Current, f.Baseline, f.Z)
	}
}
