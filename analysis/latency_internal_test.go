package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/relwatch/relwatch/metrics"
)

// The sampling error of a window's log quantile, by its formula: the
// binomial spread of the count below the quantile, in the window and in the
// baseline, over the share of the baseline's responses in the quantile's
// bucket, times the bucket's log width (buckets are √2 apart).
func TestSamplingSpreadByItsFormula(t *testing.T) {
	var h metrics.Histogram
	h[5], h[9] = 95, 5 // the 95th percentile's rank (95) ends exactly at bucket 5
	lb := &LatencyBaseline{Histogram: h}
	want := func(q float64, n int64, total, share float64) float64 {
		return math.Sqrt(q*(1-q)*(1/float64(n)+1/total)) * math.Log(math.Sqrt(2)) / share
	}
	for _, c := range []struct {
		name  string
		q     float64
		n     int64
		share float64
	}{
		{"p95 in the bucket its rank ends", 0.95, 50, 0.95},
		{"p99 past it, in the slow bucket", 0.99, 200, 0.05},
		{"p50", 0.5, 10, 0.95},
	} {
		if got, w := lb.samplingSpread(c.q, c.n), want(c.q, c.n, 100, c.share); math.Abs(got-w) > 1e-12 {
			t.Errorf("%s: %v, want %v", c.name, got, w)
		}
	}
	if got := lb.samplingSpread(0.95, 0); got != 0 {
		t.Errorf("an empty window: %v, want 0 (no spread to speak of)", got)
	}
	if got := (&LatencyBaseline{}).samplingSpread(0.95, 50); got != 0 {
		t.Errorf("an empty baseline: %v, want 0", got)
	}
}

// A window length reads the longest measured scale not longer than it: the
// scale of its own length where there is one.
func TestLatencyScaleOfALength(t *testing.T) {
	lb := &LatencyBaseline{Scales: []LatencyScale{{Seconds: 30, Windows: [3]int{1}}, {Seconds: 60, Windows: [3]int{2}}, {Seconds: 120, Windows: [3]int{3}}}}
	for _, c := range []struct{ seconds, want int }{{60, 2}, {90, 2}, {30, 1}, {600, 3}} {
		if got := lb.scale(c.seconds); got.Windows[0] != c.want {
			t.Errorf("%d s: the scale with %d windows, want %d", c.seconds, got.Windows[0], c.want)
		}
	}
	if got := lb.scale(10); got.Windows[0] != 0 || got.Seconds != 10 {
		t.Errorf("shorter than every scale: %+v, want none measured", got)
	}
}

// A baseline's latency at one window length, worked by hand: three whole
// 6 s windows, each of its responses in one bucket (4, 8, 6), give the
// spread of their log medians (1.4826 times the median absolute
// deviation); the slowest window slides a second at a time (a sixth of
// 6 s), 13 of them; the 12 s length has one whole window, too few for a
// spread of its own, and keeps the 6 s one.
func TestLatencyBaselineWorkedByHand(t *testing.T) {
	buckets := []int{4, 8, 6}
	var pts []metrics.Point
	for _, b := range buckets {
		for range 6 {
			var h metrics.Histogram
			h[b] = 100
			pts = append(pts, metrics.Point{OK: true, Requests: 100, Latency: &h})
		}
	}
	th := DefaultThresholds()
	th.MinCoverage, th.MinRequests = 1, 1
	lb := newLatencyBaseline(pts, []int{6, 12}, th)
	if lb == nil || len(lb.Scales) != 2 {
		t.Fatalf("baseline %+v", lb)
	}
	quantile := func(q float64, from, to int) float64 { // the window's, from the histogram's own reading
		var h metrics.Histogram
		for _, p := range pts[from:to] {
			for b, n := range p.Latency {
				h[b] += n
			}
		}
		return h.Quantile(q).Seconds()
	}
	for i, q := range []float64{0.5, 0.95} {
		logs := []float64{math.Log(quantile(q, 0, 6)), math.Log(quantile(q, 6, 12)), math.Log(quantile(q, 12, 18))}
		// the median of the three is window 3's (bucket 6); the deviations
		// are those of windows 1 and 2 from it, and 0
		m := logs[2]
		devs := []float64{math.Abs(logs[0] - m), math.Abs(logs[1] - m), 0}
		mad := devs[0]
		if devs[1] < mad {
			mad = devs[1]
		}
		wantSpread := 1.4826 * mad
		worst := 0.0
		for from := 0; from+6 <= 18; from++ {
			worst = math.Max(worst, quantile(q, from, from+6))
		}
		six, twelve := lb.Scales[0], lb.Scales[1]
		if math.Abs(six.Spread[i]-wantSpread) > 1e-9 || six.Worst[i] != worst || six.Windows[i] != 13 {
			t.Errorf("q%.2f at 6 s: spread %v worst %v windows %d, want %v %v 13", q, six.Spread[i], six.Worst[i], six.Windows[i], wantSpread, worst)
		}
		if twelve.Spread[i] != six.Spread[i] || twelve.Windows[i] != 4 { // from 0, 2, 4, 6: a sixth of 12 s apart
			t.Errorf("q%.2f at 12 s: spread %v windows %d, want the 6 s spread %v and 4 windows", q, twelve.Spread[i], twelve.Windows[i], six.Spread[i])
		}
	}
	if lb.Scales[0].Windows[2] != 0 {
		t.Errorf("p99 judged on %d windows of 600 responses: it needs %d", lb.Scales[0].Windows[2], quantileSample(0.99, th))
	}
}

// tailZ worked by hand: 20 of 100 responses past a level 5% of the
// baseline's 100 lie past (half a response of continuity off 20.5): the
// signed root of twice the binomial log likelihood ratio,
// √(2(20 ln 4 + 80 ln(80/95))) = 5.287, widened by the baseline's own
// sampling, √(1 + 100/100): 3.7387. All 10 of 10 past a 10% level, with no
// baseline count to widen by: √(2 · 10 ln 10) = 6.7861. No evidence: 0.
func TestTailZWorkedByHand(t *testing.T) {
	for _, c := range []struct {
		name  string
		k     float64
		n     int64
		p     float64
		total int64
		want  float64
	}{
		{"20 of 100 past a 5% level", 20.5, 100, 0.05, 100, 3.7386985},
		{"every response past a 10% level", 12, 10, 0.1, 0, 6.7861404},
		{"no more than expected", 5.5, 100, 0.05, 100, 0},
		{"fewer than expected", 2, 100, 0.05, 100, 0},
		{"no responses", 3, 0, 0.05, 100, 0},
		{"a level nothing lies past", 3, 10, 0, 100, 0},
		{"a level everything lies past", 3, 10, 1, 100, 0},
	} {
		if got := tailZ(c.k, c.n, c.p, c.total); !(math.Abs(got-c.want) <= 1e-6) { // NaN fails too
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// windowSums answers any window as the sum of its seconds, in whatever
// order windows are asked (the suffix it keeps grows and shrinks), seconds
// without data or without latency counting nothing.
func TestWindowSumsOfAnyWindow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(18, 4))
	pts := make([]metrics.Point, 40)
	for i := range pts {
		pts[i].OK = i%7 != 3
		if i%5 != 1 {
			var h metrics.Histogram
			for range 5 {
				h[rnd.IntN(metrics.LatencyBuckets)] += uint32(rnd.IntN(9))
			}
			pts[i].Latency = &h
		}
	}
	ws := newWindowSums(pts)
	for _, w := range [][2]int{{30, 40}, {10, 40}, {20, 40}, {0, 40}, {39, 40}, {5, 12}, {35, 40}, {0, 1}, {12, 40}} {
		var want metrics.Histogram
		for _, p := range pts[w[0]:w[1]] {
			if p.OK && p.Latency != nil {
				for b, n := range p.Latency {
					want[b] += n
				}
			}
		}
		if got := ws.of(w[0], w[1]); got != want {
			t.Errorf("window %v: %v, want %v", w, got, want)
		}
	}
}

// slowAllAlong worked by hand, at the median (half the responses expected
// past the level) over 12 s of 20 responses a second, 40 a sixth: slow
// responses past the level in every sixth, one sixth holding exactly half
// its equal share of the excess (5 of 60), are all along the window; two
// spikes are not; no excess is not.
func TestSlowAllAlongWorkedByHand(t *testing.T) {
	const level = 0.05 // 50 ms: bucket 12, empty; fast responses in bucket 2, slow in 20
	series := func(slow []uint32) []metrics.Point {
		pts := make([]metrics.Point, len(slow))
		for i, s := range slow {
			var h metrics.Histogram
			h[2], h[20] = 20-s, s
			pts[i] = metrics.Point{OK: true, Requests: 20, Latency: &h}
		}
		return pts
	}
	for _, c := range []struct {
		name string
		slow []uint32 // per second
		want bool
	}{
		{"the last sixth exactly at half its share", []uint32{16, 15, 16, 15, 16, 15, 16, 15, 16, 15, 13, 12}, true},
		{"the last sixth just under", []uint32{16, 15, 16, 15, 16, 15, 16, 15, 16, 15, 13, 11}, false},
		{"two spikes", []uint32{20, 20, 10, 10, 10, 10, 20, 20, 10, 10, 10, 10}, false},
		{"no excess", []uint32{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, false},
		{"even", []uint32{14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14}, true},
	} {
		// Three seconds before the window, every response slow: not in it.
		pts := series(append([]uint32{20, 20, 20}, c.slow...))
		if got := slowAllAlong(newWindowSums(pts), 3, len(pts), level, 0.5); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// A window under 6 s is cut in as many parts as it has seconds.
	pts := series([]uint32{20, 20, 20, 14, 14, 14, 14})
	if !slowAllAlong(newWindowSums(pts), 3, 7, level, 0.5) {
		t.Error("4 s slow alike: not all along")
	}
}

// A baseline judges a quantile from the sample it needs on: with exactly
// that many responses it is a baseline (the release's window decides what
// follows), with one fewer it is none.
func TestLatencyBaselineSampleAtItsBound(t *testing.T) {
	th := DefaultThresholds()
	need := quantileSample(0.5, th)
	for _, c := range []struct {
		count  int64
		noBase bool
	}{{need, false}, {need - 1, true}} {
		var h metrics.Histogram
		h[10] = uint32(c.count)
		base := Baseline{Latency: &LatencyBaseline{Histogram: h}}
		f := latencyFinding(base, newCurrent(metrics.Series{}), newWindowSums(nil), th, 0)
		if (f.Gap == GapNoBaseline) != c.noBase || c.noBase && (f.Have != float64(c.count) || f.Need != float64(need)) {
			t.Errorf("%d responses (need %d): gap %q have %v need %v", c.count, need, f.Gap, f.Have, f.Need)
		}
	}
}
