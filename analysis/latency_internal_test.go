package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

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
		if (f.Gap == GapThinBaseline) != c.noBase || c.noBase && (f.Have != float64(c.count) || f.Need != float64(need)) {
			t.Errorf("%d responses (need %d): gap %q have %v need %v", c.count, need, f.Gap, f.Have, f.Need)
		}
	}
}

// latHist is n responses, all in bucket b.
func latHist(b int, n uint32) metrics.Histogram {
	var h metrics.Histogram
	h[b] = n
	return h
}

// latSecond is one second of data whose responses are h (none: no latency).
func latSecond(h metrics.Histogram) metrics.Point {
	if h.Count() == 0 {
		return metrics.Point{OK: true}
	}
	return metrics.Point{OK: true, Requests: h.Count(), Latency: &h}
}

// latSeconds is n seconds of h each.
func latSeconds(n int, h metrics.Histogram) []metrics.Point {
	pts := make([]metrics.Point, n)
	for i := range pts {
		pts[i] = latSecond(h)
	}
	return pts
}

// latJudge judges quantile i (of latencyQuantiles) of a release's seconds
// pts against base.
func latJudge(base Baseline, pts []metrics.Point, th Thresholds, i int) Finding {
	c := newCurrent(metrics.Series{Start: t0, Points: pts, HasLatency: true})
	return latencyFinding(base, c, newWindowSums(pts), th, i)
}

// latOneWindow are the default thresholds with th.Sustain at 30 s: a release
// of 30 s is judged on one window, of 30 s and not quick (the quick
// lengths, 5, 7 and 15 s, are under latencyQuickMin and settle).
func latOneWindow() Thresholds {
	th := DefaultThresholds()
	th.Sustain = 30 * time.Second
	return th
}

// latBase is a baseline of 1,000 responses in bucket 12, [2^5.5, 2^6) ms:
// its median is read halfway up the bucket on a log scale, 2^5.75 =
// 53.8 ms, its p95 at 2^(5.5+0.475) = 62.9 ms. The minimum rise is then
// 50 ms (th.LatencyIncrease; x1.5 is less). A release answering in bucket
// 16 reads four buckets up, x4: a median of 215.3 ms, a p95 of 251.6 ms.
func latBase(scales ...LatencyScale) Baseline {
	return Baseline{Seconds: 1800, Active: 1800, Latency: &LatencyBaseline{Histogram: latHist(12, 1000), Scales: scales}}
}

// The release x4 slower, 10 responses a second for 30 s, is anomalous on
// its one window, worked by hand: 300 responses (50 needed); the median's
// rise, 161.5 ms, is past the 50 ms minimum, and still is read two
// sampling errors lower (the error: √(¼(1/300 + 1/1000))·ln√2 = 0.0114,
// every baseline response in the median's bucket; 2·0.0114 takes 2.3%
// off); z is the tail's, every one of the 300 past the baseline's median
// (17.7, under the log quantile's ln 4/0.0114 = 122), past 4; each third,
// 100 responses, reads 215.3 ms, past 53.8 + 25 ms; each sixth holds 25
// more past the median than the 25 expected, the same share. The
// boundaries below are each a step from this.
func TestLatencySlowerReleaseWorkedByHand(t *testing.T) {
	f := latJudge(latBase(), latSeconds(30, latHist(16, 10)), latOneWindow(), 0)
	if f.Status != Anomalous || f.CurrentSample != 300 || f.To.Sub(f.From) != 30*time.Second {
		t.Fatalf("%s over %v of %d responses (gap %q), want anomalous over 30 s of 300", f.Status, f.To.Sub(f.From), f.CurrentSample, f.Gap)
	}
	if math.Abs(f.Current-0.2153) > 0.0001 || math.Abs(f.Baseline-0.0538) > 0.0001 {
		t.Errorf("median %v against %v, want 215.3 ms against 53.8 ms", f.Current, f.Baseline)
	}
}

// A window is judged from the sample it needs on (50 responses for a
// median, th.MinRequests being more than 20): with exactly 50 it is judged
// (the release answering as the baseline did: healthy), with 49 it is
// few requests.
func TestLatencyWindowSampleAtItsBound(t *testing.T) {
	var pts []metrics.Point
	for i := range 30 { // 20 seconds of 2 responses, 10 of 1: 50
		n := uint32(2)
		if i%3 == 0 {
			n = 1
		}
		pts = append(pts, latSecond(latHist(12, n)))
	}
	f := latJudge(latBase(), pts, latOneWindow(), 0)
	if f.CurrentSample != 50 || f.Status != Healthy || f.Gap != GapNone {
		t.Errorf("50 responses: %s (gap %q, %d responses), want healthy", f.Status, f.Gap, f.CurrentSample)
	}
	pts[0] = latSecond(metrics.Histogram{})
	f = latJudge(latBase(), pts, latOneWindow(), 0)
	if f.Status != Inconclusive || f.Gap != GapFewRequests || f.Have != 49 || f.Need != 50 {
		t.Errorf("49 responses: %s (gap %q, have %v need %v), want few requests, 49 of 50", f.Status, f.Gap, f.Have, f.Need)
	}
}

// A strong rise is judged on a quick window from latencyQuickMin (30 s) on,
// and only where the baseline knows its bursts at that length (quickWindows,
// 5, windows of it) and was active at least half its seconds: with the
// default th.Sustain of 60 s, 30 s of the release are judged on the quick
// window of 30 s alone (5 and 15 s settle). The release x4 slower (as in
// TestLatencySlowerReleaseWorkedByHand, z 17.7) is strong: its rise,
// 161.5 ms, is past three times the relative minimum (3 · 26.9 ms) and
// three times the baseline's worst burst (60 ms, 6.2 ms up); every sixth
// holds 50 of its 300 responses. Each bound at its value is anomalous over
// those 30 s; a step short of it is not.
func TestLatencyQuickWindowAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	pts := latSeconds(30, latHist(16, 10))
	judge := func(windows, active int) Finding {
		base := latBase(LatencyScale{Seconds: 30, Worst: [3]float64{0.060}, Windows: [3]int{windows}})
		base.Active = active
		return latJudge(base, pts, th, 0)
	}
	f := judge(quickWindows, 900)
	if f.Status != Anomalous || f.To.Sub(f.From) != 30*time.Second {
		t.Errorf("5 baseline windows, active 900 of 1,800 s: %s over %v (gap %q), want anomalous over 30 s", f.Status, f.To.Sub(f.From), f.Gap)
	}
	if f := judge(quickWindows-1, 900); f.Status == Anomalous {
		t.Errorf("4 baseline windows: anomalous over %v, want no quick verdict", f.To.Sub(f.From))
	}
	if f := judge(quickWindows, 899); f.Status == Anomalous {
		t.Errorf("active 899 of 1,800 s: anomalous over %v, want no quick verdict", f.To.Sub(f.From))
	}
}

// A rise exactly th.BurstMargin times the baseline's own worst window's is
// beyond its bursts: a margin of 1 over a worst window that read what the
// release reads (the release's own median, 215.3 ms) leaves the release x4
// slower anomalous. The default margin of 2 over a worst window 100 ms up
// (153.8 ms) asks for 200 ms, past the release's rise of 161.5 ms: healthy.
func TestLatencyBurstMarginAtItsBound(t *testing.T) {
	pts := latSeconds(30, latHist(16, 10))
	h := latHist(16, 300) // the window's histogram
	burst := func(worst float64) Baseline {
		return latBase(LatencyScale{Seconds: 30, Worst: [3]float64{worst}, Windows: [3]int{1}})
	}
	th := latOneWindow()
	th.BurstMargin = 1
	if f := latJudge(burst(h.Quantile(0.5).Seconds()), pts, th, 0); f.Status != Anomalous || f.Burst != f.Current {
		t.Errorf("a margin of 1 over a burst as slow: %s (burst %v, median %v), want anomalous", f.Status, f.Burst, f.Current)
	}
	th.BurstMargin = 2
	base := burst(latBase().Latency.Quantile(0.5) + 0.1)
	if f := latJudge(base, pts, th, 0); f.Status != Healthy || f.Burst != base.Latency.Scales[0].Worst[0] {
		t.Errorf("a margin of 2 over a burst 100 ms up: %s (burst %v), want healthy", f.Status, f.Burst)
	}
}

// z at th.Z is significant. The release x4 slower has every one of its
// 300 responses past the baseline's median, so its z is the tail's,
// tailZ(300, 300, ½, 1000) (17.7, under the log quantile's 122; see
// TestLatencySlowerReleaseWorkedByHand): with th.Z exactly that, it is
// anomalous; with th.Z the next float up, healthy.
func TestLatencyZAtItsThreshold(t *testing.T) {
	pts := latSeconds(30, latHist(16, 10))
	th := latOneWindow()
	th.Z = tailZ(300, 300, 0.5, 1000)
	if f := latJudge(latBase(), pts, th, 0); f.Status != Anomalous || f.Z != th.Z {
		t.Errorf("z at the threshold %v: %s (z %v), want anomalous", th.Z, f.Status, f.Z)
	}
	th.Z = math.Nextafter(th.Z, math.Inf(1))
	if f := latJudge(latBase(), pts, th, 0); f.Status != Healthy {
		t.Errorf("z one float under the threshold: %s, want healthy", f.Status)
	}
}

// A rise is large when the quantile read largeSampling (2) sampling errors
// lower still rose by the minimum: exactly by it is large. The release x4
// slower read so: 215.3 ms · e^(−2s), s the sampling error of a median of
// 300 responses against the baseline's 1,000 (0.0114: 210.4 ms), rose
// 156.6 ms from 53.8 ms. With th.LatencyIncrease 0 the minimum is the
// baseline's median times th.LatencyRatio − 1: at the ratio (about 3.9)
// whose minimum is that rise to the last bit, anomalous; at the next
// ratio whose minimum is above it, healthy. (The thirds' half minimum,
// 78 ms, stays under their 215.3 ms.)
func TestLatencyLargeAtItsBound(t *testing.T) {
	base := latBase()
	pts := latSeconds(30, latHist(16, 10))
	level := base.Latency.Quantile(0.5)
	h := latHist(16, 300)
	low := h.Quantile(0.5).Seconds() * math.Exp(-2*base.Latency.samplingSpread(0.5, 300))
	rise := low - level
	th := latOneWindow()
	th.LatencyIncrease = 0
	th.LatencyRatio = 1 + rise/level
	for range 8 { // the float product can miss rise by a bit: step to it
		if m := level * (th.LatencyRatio - 1); m < rise {
			th.LatencyRatio = math.Nextafter(th.LatencyRatio, 2)
		} else if m > rise {
			th.LatencyRatio = math.Nextafter(th.LatencyRatio, 1)
		}
	}
	if level*(th.LatencyRatio-1) != rise {
		t.Fatalf("no ratio puts the minimum at the rise %v", rise)
	}
	if f := latJudge(base, pts, th, 0); f.Status != Anomalous {
		t.Errorf("the minimum exactly at the rise read two errors lower (ratio %v): %s, want anomalous", th.LatencyRatio, f.Status)
	}
	for level*(th.LatencyRatio-1) <= rise {
		th.LatencyRatio = math.Nextafter(th.LatencyRatio, 5)
	}
	if f := latJudge(base, pts, th, 0); f.Status != Healthy {
		t.Errorf("the minimum a bit past it (ratio %v): %s, want healthy", th.LatencyRatio, f.Status)
	}
}

// A window lasts when each third reads at least half the minimum rise past
// the baseline's, exactly half included. A baseline of 1,000 responses in
// bucket 0 ([0, 1 ms), read linearly) has its median at 0.5 ms; with
// th.LatencyRatio 2 and no th.LatencyIncrease the minimum rise is that
// much, 0.5 ms, and a third must read 0.75 ms (in floats too: 0.0005 plus
// its half is 0.00075). The release's first third, 10 s of 2 fast
// responses (bucket 0) and 1 slow one (bucket 16) a second, reads its
// median (the 15th of 30) 15/20 of the way up bucket 0: 0.75 ms. Its last
// two, 2 slow responses a second, read 215.3 ms; the window, 20 fast and
// 50 slow, 0.3 into bucket 16: 200.9 ms, a rise past the minimum however
// read; z is the tail's, 60 of 70 past 0.5 ms (all the slow, half the
// fast) where 35 are expected: √(2(59.5 ln(59.5/35) + 10.5 ln(10.5/35)))
// /√1.07 = 5.95, past 4. The excess past the median is along the window:
// a first sixth holds
// 5 slow and 10 fast (half of them past 0.5 ms), 2.5 over the 7.5
// expected, a later sixth 5 over 5, of 25 in all, each at least its half
// share, 25/12. Anomalous; with th.LatencyRatio 2.01 the first third is
// short of 0.7525 ms and it is not.
func TestLatencyThirdAtHalfTheMinimum(t *testing.T) {
	base := Baseline{Seconds: 1800, Active: 1800, Latency: &LatencyBaseline{Histogram: latHist(0, 1000)}}
	var mixed metrics.Histogram
	mixed[0], mixed[16] = 2, 1
	pts := append(latSeconds(10, mixed), latSeconds(20, latHist(16, 2))...)
	th := latOneWindow()
	th.LatencyIncrease, th.LatencyRatio = 0, 2
	if f := latJudge(base, pts, th, 0); f.Status != Anomalous {
		t.Errorf("a third at half the minimum rise: %s (median %v against %v, z %v), want anomalous", f.Status, f.Current, f.Baseline, f.Z)
	}
	th.LatencyRatio = 2.01
	if f := latJudge(base, pts, th, 0); f.Status != Healthy {
		t.Errorf("a third under half the minimum rise: %s, want healthy", f.Status)
	}
}

// The thirds are the window's first, middle and last, each of them: a
// release whose first, middle or last 10 s are only a little slower
// (bucket 13, a median of 2^6.25 = 76.1 ms, under 53.8 + 25 ms) does not
// last, though the window (its median 197.4 ms, a quarter into bucket
// 16), its two other thirds, and every sixth (all of them past 53.8 ms,
// alike) are slower.
func TestLatencyAThirdOnlyALittleSlower(t *testing.T) {
	for third, name := range []string{"first", "middle", "last"} {
		pts := latSeconds(30, latHist(16, 10))
		for i := range 10 {
			pts[10*third+i] = latSecond(latHist(13, 10))
		}
		if f := latJudge(latBase(), pts, latOneWindow(), 0); f.Status != Healthy || math.Abs(f.Current-0.1974) > 0.0001 {
			t.Errorf("the %s third 76.1 ms: %s (median %v), want healthy, 197.4 ms", name, f.Status, f.Current)
		}
	}
}

// A third tells its quantile from latencyTail/3 responses past it: 3 (the
// constants are integers, and so is their quotient), a median's third 6
// responses (6 · ½ = 3, not under 3), and 5 (2.5) are too few. The release
// x4 slower, thin: thirds of 6, 7 and 7 responses, 20 in all (the 20 a
// median needs with th.MinRequests 1), spread over their seconds so that
// each sixth holds 3 or 4, all slow: each holds at least 1.5 past the
// baseline's median over the half expected, of 10 in all, past 10/12.
// Anomalous: z is the tail's, √(2(19.5 ln 1.95 + ½ ln(½/10)))/√1.02 =
// 4.75 past 4; the median read two sampling errors lower (the error
// √(¼(1/20 + 1/1000))·ln√2 = 0.039), 199 ms, rose past 50 ms. With thirds
// of 5, 7 and 8 it is not (the first, 2.5 past its median, too few; the
// sixths, of 2 to 4 responses, still along).
func TestLatencyThirdSampleAtItsBound(t *testing.T) {
	third := func(n int) []metrics.Point { // n responses over 10 s, evenly
		pts := make([]metrics.Point, 10)
		for i := range pts {
			pts[i] = latSecond(latHist(16, uint32((i+1)*n/10-i*n/10)))
		}
		return pts
	}
	th := latOneWindow()
	th.MinRequests = 1
	for _, c := range []struct {
		thirds [3]int
		want   Status
	}{{[3]int{6, 7, 7}, Anomalous}, {[3]int{5, 7, 8}, Healthy}} {
		pts := append(append(third(c.thirds[0]), third(c.thirds[1])...), third(c.thirds[2])...)
		if f := latJudge(latBase(), pts, th, 0); f.Status != c.want || f.CurrentSample != 20 {
			t.Errorf("thirds of %v responses: %s over %d, want %s", c.thirds, f.Status, f.CurrentSample, c.want)
		}
	}
}

// A baseline window is measured only where th.MinCoverage of its seconds
// have data: with th.MinCoverage 1, 6 s windows of 100 responses a second
// in buckets 4, 8 and 6 whose last second has no data leave out the third
// whole window (5 seconds of 6), so that two are too few for a spread of
// their own (it stays 0), and of the 13 windows sliding a second at a time
// the last, the only one holding that second.
func TestLatencyBaselineLeavesOutWindowsShortOfCoverage(t *testing.T) {
	pts := append(append(latSeconds(6, latHist(4, 100)), latSeconds(6, latHist(8, 100))...), latSeconds(6, latHist(6, 100))...)
	pts[17] = metrics.Point{}
	th := DefaultThresholds()
	th.MinCoverage, th.MinRequests = 1, 1
	lb := newLatencyBaseline(pts, []int{6}, th)
	if sc := lb.Scales[0]; sc.Spread[0] != 0 || sc.Windows[0] != 12 {
		t.Errorf("spread %v over %d windows, want 0 (two whole windows) and 12", sc.Spread[0], sc.Windows[0])
	}
}

// A baseline window reads a quantile from the sample it needs on
// (quantileSample: 20 responses for a median with th.MinRequests 1):
// 15 s of 4 responses a second, in buckets 4, 8 and 6 by 5 s, have three
// whole windows of 5 s of exactly 20, whose medians (each halfway up its
// bucket on a log scale: 2^((b−1)/2 + ¼) ms) lie a bucket pair, ln 2,
// either side of the middle one's: a spread of 1.4826 · ln 2; and 11
// windows sliding a second at a time (a sixth of 5 s, under a second: 1),
// each of 20. With th.MinRequests 21, none reads a median.
func TestLatencyBaselineWindowsAtTheirSample(t *testing.T) {
	pts := append(append(latSeconds(5, latHist(4, 4)), latSeconds(5, latHist(8, 4))...), latSeconds(5, latHist(6, 4))...)
	th := DefaultThresholds()
	th.MinRequests = 1
	sc := newLatencyBaseline(pts, []int{5}, th).Scales[0]
	if math.Abs(sc.Spread[0]-1.4826*math.Ln2) > 1e-9 || sc.Windows[0] != 11 {
		t.Errorf("20 responses a window: spread %v over %d windows, want %v and 11", sc.Spread[0], sc.Windows[0], 1.4826*math.Ln2)
	}
	th.MinRequests = 21
	sc = newLatencyBaseline(pts, []int{5}, th).Scales[0]
	if sc.Spread[0] != 0 || sc.Windows[0] != 0 {
		t.Errorf("21 needed of 20: spread %v over %d windows, want none", sc.Spread[0], sc.Windows[0])
	}
}

// z is the lesser of the log quantile's and the tail's: a release whose
// median rose, though few more of its responses lie past the baseline's
// median than the half expected, is not significant. 6 of 10 responses a
// second slow (bucket 16) and 4 fast (bucket 10, under the baseline's
// bucket 12) read a median a sixth into bucket 16, 191.8 ms (ln(191.8/53.8)
// over 0.0114: 111), but 180 of 300 past 53.8 ms where 150 are expected is
// √(2(179.5 ln(179.5/150) + 120.5 ln(120.5/150)))/√1.3 = 3.00: under 4,
// healthy.
func TestLatencyZIsTheTailsWhereFewArePast(t *testing.T) {
	var h metrics.Histogram
	h[10], h[16] = 4, 6
	f := latJudge(latBase(), latSeconds(30, h), latOneWindow(), 0)
	if f.Status != Healthy || math.Abs(f.Z-2.997) > 0.001 || math.Abs(f.Current-0.1918) > 0.0001 {
		t.Errorf("%s (z %v, median %v), want healthy at z 2.997, 191.8 ms", f.Status, f.Z, f.Current)
	}
}
