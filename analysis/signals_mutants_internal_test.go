package analysis

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Hand-worked tests of signals.go at its boundaries: each pins one rule
// (a comparison, a sum, an edge of a window) that the broader tests of
// the package pass through without telling apart.

// sigSeries is a series from t0 whose second i is put(i), every second
// with data.
func sigSeries(secs int, put func(i int) metrics.Point) metrics.Series {
	s := metrics.Series{Start: t0, Points: make([]metrics.Point, secs), HasRepeats: true}
	for i := range s.Points {
		s.Points[i] = put(i)
		s.Points[i].OK = true
	}
	return s
}

// sigReq is a second with data and req requests, errs of them errors and
// reps repeats.
func sigReq(req, errs, reps int64) metrics.Point {
	return metrics.Point{OK: true, Requests: req, Errors: errs, Repeats: reps}
}

// from counts the silent seconds right before its start, at most
// clusterGap (30) of them: a request at second 0 and 40 silent seconds
// after it leave, seen from second 41, 30 silent seconds counted (the 31st
// before it is not looked at), and the series is not silent all the way
// back, so the silence c was cut after does not add.
func TestSigFromCountsAtMostClusterGapSilentSeconds(t *testing.T) {
	c := newCurrent(sigSeries(50, func(i int) metrics.Point {
		if i == 0 {
			return sigReq(1, 0, 0)
		}
		return sigReq(0, 0, 0)
	}))
	if got := c.from(41).silentBefore; got != clusterGap {
		t.Errorf("silent before second 41: %d, want %d (clusterGap)", got, clusterGap)
	}
	// Seen from second 11: the 10 silent seconds 1..10, not clusterGap.
	if got := c.from(11).silentBefore; got != 10 {
		t.Errorf("silent before second 11: %d, want 10", got)
	}
}

// Where every second before the cut is silent, the silence c itself was
// cut after adds to it; where one is not, it does not: 10 silent seconds
// cut after 5 more are 15; a cut after a request is 0 however silent the
// start was.
func TestSigFromAddsTheSilenceBeforeOnlyWhenSilentAllTheWay(t *testing.T) {
	c := newCurrent(sigSeries(30, func(i int) metrics.Point {
		if i == 20 {
			return sigReq(3, 0, 0)
		}
		return sigReq(0, 0, 0)
	}))
	c.silentBefore = 5
	if got := c.from(10).silentBefore; got != 15 {
		t.Errorf("10 silent seconds after 5: %d, want 15", got)
	}
	if got := c.from(21).silentBefore; got != 0 {
		t.Errorf("right after a request: %d, want 0", got)
	}
	if got := c.from(25).silentBefore; got != 4 {
		t.Errorf("4 silent seconds after a request: %d, want 4 (the request is in sight)", got)
	}
}

// from(k) starts k seconds later, and a window's edges are its start plus
// its seconds.
func TestSigFromAndWindowTimes(t *testing.T) {
	c := newCurrent(sigSeries(10, func(int) metrics.Point { return sigReq(1, 0, 0) }))
	d := c.from(3)
	if !d.start.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("from(3) starts at %v, want t0+3s", d.start.Sub(t0))
	}
	w := c.window(2, 5)
	if !w.from.Equal(t0.Add(2*time.Second)) || !w.to.Equal(t0.Add(5*time.Second)) || w.seconds != 3 {
		t.Errorf("window [2, 5): %v to %v, %d s; want t0+2s to t0+5s, 3 s", w.from.Sub(t0), w.to.Sub(t0), w.seconds)
	}
}

// A window's counts are its own seconds', not those before it: seconds
// 0..3 with 2 requests (1 error, 1 repeat each), seconds 4..5 without,
// 6..7 with 3 (2 errors, 1 repeat) give the window [4, 8) 2 active seconds
// of 4, 6 requests, 4 errors and 2 repeats.
func TestSigWindowCountsOnlyItsSeconds(t *testing.T) {
	c := newCurrent(sigSeries(8, func(i int) metrics.Point {
		switch {
		case i < 4:
			return sigReq(2, 1, 1)
		case i < 6:
			return sigReq(0, 0, 0)
		}
		return sigReq(3, 2, 1)
	}))
	w := c.window(4, 8)
	if w.covered != 4 || w.active != 2 || w.requests != 6 || w.errors != 4 || w.repeats != 2 {
		t.Errorf("window [4, 8): %+v, want 4 covered, 2 active, 6 requests, 4 errors, 2 repeats", w)
	}
}

// thirds of [0, 9) are [0, 3), [3, 6), [6, 9); of [2, 12), ten seconds,
// [2, 5), [5, 8) and the rest, [8, 12).
func TestSigThirdsEdges(t *testing.T) {
	c := newCurrent(sigSeries(12, func(int) metrics.Point { return sigReq(1, 0, 0) }))
	for _, tc := range []struct {
		from, to int
		want     [3][2]int
	}{
		{0, 9, [3][2]int{{0, 3}, {3, 6}, {6, 9}}},
		{2, 12, [3][2]int{{2, 5}, {5, 8}, {8, 12}}},
	} {
		for i, w := range c.thirds(tc.from, tc.to) {
			from, to := int(w.from.Sub(t0)/time.Second), int(w.to.Sub(t0)/time.Second)
			if from != tc.want[i][0] || to != tc.want[i][1] || w.requests != int64(to-from) {
				t.Errorf("thirds(%d, %d)[%d]: [%d, %d) with %d requests, want [%d, %d)", tc.from, tc.to, i, from, to, w.requests, tc.want[i][0], tc.want[i][1])
			}
		}
	}
}

// quickLengths with Sustain 60 s: the quarter (15) and the half (30), and
// th.QuickWindow before them only from 3 s up and under the quarter.
func TestSigQuickLengthsAtTheirBounds(t *testing.T) {
	for _, tc := range []struct {
		quick time.Duration
		want  []int
	}{
		{0, []int{15, 30}},
		{2 * time.Second, []int{15, 30}},
		{3 * time.Second, []int{3, 15, 30}},
		{14 * time.Second, []int{14, 15, 30}},
		{15 * time.Second, []int{15, 30}},
		{20 * time.Second, []int{15, 30}},
	} {
		th := DefaultThresholds()
		th.QuickWindow = tc.quick
		if got := quickLengths(th); !slices.Equal(got, tc.want) {
			t.Errorf("QuickWindow %v: %v, want %v", tc.quick, got, tc.want)
		}
	}
}

// scalesFor with the defaults (Sustain 60 s, MaxWindow 600 s, quick 5, 15
// and 30 s): the quick lengths that fit, then 60 s doubled while it fits,
// then the longest multiple of 60 s that fits where doubling missed it
// (180 of 200 s; 240 of 240 s is a doubling already; 600 s is the most).
func TestSigScalesForWorkedByHand(t *testing.T) {
	q := func(l int) scale { return scale{seconds: l, quick: true} }
	s := func(l int) scale { return scale{seconds: l} }
	for _, tc := range []struct {
		n    int
		want []scale
	}{
		{4, nil},
		{20, []scale{q(5), q(15)}},
		{60, []scale{q(5), q(15), q(30), s(60)}},
		{200, []scale{q(5), q(15), q(30), s(60), s(120), s(180)}},
		{240, []scale{q(5), q(15), q(30), s(60), s(120), s(240)}},
		{1000, []scale{q(5), q(15), q(30), s(60), s(120), s(240), s(480), s(600)}},
	} {
		if got := scalesFor(tc.n, DefaultThresholds()); !slices.Equal(got, tc.want) {
			t.Errorf("%d s: %v, want %v", tc.n, got, tc.want)
		}
	}
}

// strong at its bounds, QuickFactor 3: an excess of 6 is strong against a
// minimum of 2 and a burst excess of 2 (6 = 3·2 each), not against 2.5
// of either; a burst below the baseline counts as none.
func TestSigStrongAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	for _, tc := range []struct {
		excess, min, burst float64
		want               bool
	}{
		{6, 2, 2, true},
		{6, 2.5, 2, false},
		{6, 2, 2.5, false},
		{6, 2, -4, true},
		{0.75, 0.25, 0.25, true},
	} {
		if got := strong(tc.excess, tc.min, tc.burst, th); got != tc.want {
			t.Errorf("strong(%v, %v, %v): %v, want %v", tc.excess, tc.min, tc.burst, got, tc.want)
		}
	}
}

// sigParts are windows of the given requests.
func sigParts(reqs ...int64) ([]window, int64) {
	var parts []window
	var total int64
	for _, r := range reqs {
		parts = append(parts, window{requests: r})
		total += r
	}
	return parts, total
}

// spread at its bounds, three parts: each needs 5 requests and half an
// equal share, total/6 rounded down (59/6 = 9, 60/6 = 10); a part with
// exactly that much is enough.
func TestSigSpreadAtItsBounds(t *testing.T) {
	for _, tc := range []struct {
		reqs []int64
		want bool
	}{
		{[]int64{5, 5, 5}, true},    // 15/6 = 2: the 5 floor, met exactly
		{[]int64{5, 5, 4}, false},   // one under the floor
		{[]int64{25, 25, 9}, true},  // 59/6 = 9, met exactly
		{[]int64{26, 25, 9}, false}, // 60/6 = 10
	} {
		parts, total := sigParts(tc.reqs...)
		if got := spread(parts, total); got != tc.want {
			t.Errorf("spread %v: %v, want %v", tc.reqs, got, tc.want)
		}
	}
}

// steady on a 5 s window, seconds 10..14 of a series, each with 10
// requests: its parts are its 5 seconds, each with 10 of the 50 (past 5 and
// 50/10), so it is steady; a 12 s window whose last sixth (seconds 10, 11)
// is silent is not, however busy the rest.
func TestSigSteadyByItsParts(t *testing.T) {
	c := newCurrent(sigSeries(20, func(i int) metrics.Point {
		if i == 10 || i == 11 {
			return sigReq(0, 0, 0)
		}
		return sigReq(10, 0, 0)
	}))
	if !steady(c, 12, 17) {
		t.Errorf("5 s, 10 requests each second: not steady")
	}
	if steady(c, 0, 12) {
		t.Errorf("12 s whose last 2 s are silent: steady")
	}
}

// RateZ worked by hand, and where it has nothing to judge. 10 events in
// 10 s before and 10 in 1 s now: n = 20, p = 1/11, so 20/11 expected now;
// the variance "no change" gives, 20·(1/11)·(10/11) = 1.65, is less than
// the counts show, 10·10/20 = 5, which stands; z is (10 − 20/11 − ½)/√5.
// No events, or no exposure on either side: 0, nothing to judge.
func TestSigRateZWorkedByHand(t *testing.T) {
	if got, want := RateZ(10, 10, 10, 1, 1), (10-20.0/11-0.5)/math.Sqrt(5); !(math.Abs(got-want) <= 1e-12) { // NaN fails too
		t.Errorf("10 in 10 s, then 10 in 1 s: z %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name              string
		x1, t1, x2, t2, d float64
	}{
		{"no events", 0, 10, 0, 10, 1},
		{"no exposure now", 10, 10, 10, 0, 1},
		{"no exposure before", 10, 0, 10, 10, 1},
	} {
		if got := RateZ(tc.x1, tc.t1, tc.x2, tc.t2, tc.d); got != 0 {
			t.Errorf("%s: z %v, want 0", tc.name, got)
		}
	}
}

// ShareZ worked by hand where each share's own variance rules: 50 of 100
// before (design effect 1), 60 of 100 now (design effect 4): .5·.5/100 +
// 4·.6·.4/100 = .0121, past the pooled .55·.45·(2/100) = .00495; z is
// (60 − 50 − ½)/100/√.0121 = .095/.11.
// And where the pooled variance rules: none of 100 before, all 10 of 10
// now, each share's own variance 0; pooled, p = 10/110 = 1/11:
// (1/11)(10/11)(1/100 + 1/10) = 1/110; z is (10 − ½)/10·√110.
func TestSigShareZWorkedByHand(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		x1, n1, x2, n2, d1, d2 float64
		want                   float64
	}{
		{"each share's variance", 50, 100, 60, 100, 1, 4, 0.095 / 0.11},
		{"the pooled variance", 0, 100, 10, 10, 1, 1, 0.95 * math.Sqrt(110)},
	} {
		if got := ShareZ(tc.x1, tc.n1, tc.x2, tc.n2, tc.d1, tc.d2); !(math.Abs(got-tc.want) <= 1e-9) { // NaN fails too
			t.Errorf("%s: z %v, want %v", tc.name, got, tc.want)
		}
	}
	// Nothing to judge: no requests on a side, or no variance at all
	// (every request an error before and now): 0, not NaN.
	for _, tc := range []struct {
		name                   string
		x1, n1, x2, n2, d1, d2 float64
	}{
		{"no requests before", 0, 0, 5, 10, 1, 1},
		{"no requests before, every one an error now", 0, 0, 10, 10, 1, 1},
		{"no requests before, no error now", 0, 0, 0, 10, 1, 1},
		{"no requests now", 5, 10, 0, 0, 1, 1},
		{"every request an error", 10, 10, 10, 10, 1, 1},
		{"no errors at all", 0, 10, 0, 10, 1, 1},
	} {
		if got := ShareZ(tc.x1, tc.n1, tc.x2, tc.n2, tc.d1, tc.d2); got != 0 {
			t.Errorf("%s: z %v, want 0", tc.name, got)
		}
	}
}

// corrected takes half a count off a difference, toward 0, and leaves
// nothing of a difference within half a count.
func TestSigCorrectedAtItsBounds(t *testing.T) {
	for _, tc := range []struct{ d, want float64 }{
		{2, 1.5}, {0.75, 0.25}, {0.5, 0}, {0, 0}, {-0.25, 0}, {-0.5, 0}, {-0.75, -0.25}, {-2, -1.5},
	} {
		if got := corrected(tc.d); got != tc.want {
			t.Errorf("corrected(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
}

// shareDispersion over 12 s, six parts of 2 s with 100 requests each
// (50 a second): 0, 20, 0, 20, 0, 20 errors, 60 of 600, p = .1. Each part
// is 10 errors off the 10 expected, its binomial variance 100·.1·.9 = 9:
// every term 100/9, the median too, the dispersion (100/9)/.455.
// Where the last three parts have no requests (the first three 0, 20
// and 10 errors of 100: p = .1 again), they give no term: the terms are
// 100/9, 100/9 and 0, the median 100/9.
func TestSigShareDispersionWorkedByHand(t *testing.T) {
	want := (100.0 / 9) / 0.455
	errs := []int64{0, 20, 0, 20, 0, 20}
	c := newCurrent(sigSeries(12, func(i int) metrics.Point { return sigReq(50, errs[i/2]/2, 0) }))
	if got := c.shareDispersion(0, 12, countErrors); !(math.Abs(got-want) <= 1e-9) { // NaN fails too
		t.Errorf("six busy parts: %v, want %v", got, want)
	}
	errs = []int64{0, 20, 10}
	c = newCurrent(sigSeries(12, func(i int) metrics.Point {
		if i >= 6 {
			return sigReq(0, 0, 0)
		}
		return sigReq(50, errs[i/2]/2, 0)
	}))
	if got := c.shareDispersion(0, 12, countErrors); !(math.Abs(got-want) <= 1e-9) { // NaN fails too
		t.Errorf("three busy parts and three silent: %v, want %v", got, want)
	}
}

// sigJudged runs judged with the defaults (quick 5, 15 and 30 s, then
// 60 s) over a release of n seconds of 10 requests, the first gap of them
// without data, with a check that judges every window healthy, or
// (fewRequests) finds each short of requests.
func sigJudged(n, gap int, fewRequests bool) Finding {
	s := sigSeries(n, func(int) metrics.Point { return sigReq(10, 0, 0) })
	for i := range gap {
		s.Points[i] = metrics.Point{}
	}
	return judged(newCurrent(s), DefaultThresholds(), Finding{Signal: ErrorShare},
		func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
			if fewRequests {
				f.Gap = GapFewRequests
				return f, false
			}
			f.Status = Healthy
			return f, true
		})
}

// judged at its bounds. 60 s with the last 30 covered: the 60 s window is
// covered at exactly th.MinCoverage (.5) and is the finding, healthy. With
// the last 29: it is not, and the finding is why the window is not judged
// yet: the 5 s window, healthy but quick, settling (60 s of 60).
func TestSigJudgedCoverageAtItsBound(t *testing.T) {
	f := sigJudged(60, 30, false)
	if f.Status != Healthy || f.To.Sub(f.From) != 60*time.Second {
		t.Errorf("30 of 60 s covered: %s on %v, want healthy on 60 s", f.Status, f.To.Sub(f.From))
	}
	f = sigJudged(60, 31, false)
	if f.Status != Inconclusive || f.Gap != GapSettling || f.To.Sub(f.From) != 5*time.Second || f.Have != 60 || f.Need != 60 {
		t.Errorf("29 of 60 s covered: %s %s on %v (have %v need %v), want settling on 5 s (60 of 60)", f.Status, f.Gap, f.To.Sub(f.From), f.Have, f.Need)
	}
}

// Quick windows alone, healthy: 30 s judged on 5, 15 and 30 s, all
// quick; the finding is the first of them, settling: 30 s of the 60 an
// ordinary effect needs.
func TestSigJudgedQuickOnlyIsSettling(t *testing.T) {
	f := sigJudged(30, 0, false)
	if f.Status != Inconclusive || f.Gap != GapSettling || f.To.Sub(f.From) != 5*time.Second || f.Have != 30 || f.Need != 60 {
		t.Errorf("30 s, quick windows only: %s %s on %v (have %v need %v), want settling on 5 s (30 of 60)", f.Status, f.Gap, f.To.Sub(f.From), f.Have, f.Need)
	}
}

// Why none was judged: a window short of requests is a better reason
// than a longer one without data, which does not replace it (the last 5 s
// covered, short of requests; 15, 30 and 60 s short of coverage); without
// any data, the longest window's lack of it is the reason (60 s, 0 of 30
// covered seconds needed).
func TestSigJudgedWhyNoneWasJudged(t *testing.T) {
	f := sigJudged(60, 55, true)
	if f.Status != Inconclusive || f.Gap != GapFewRequests || f.To.Sub(f.From) != 5*time.Second {
		t.Errorf("the last 5 s covered, few requests: %s %s on %v, want few requests on 5 s", f.Status, f.Gap, f.To.Sub(f.From))
	}
	f = sigJudged(60, 60, true)
	if f.Status != Inconclusive || f.Gap != GapNoData || f.To.Sub(f.From) != 60*time.Second || f.Have != 0 || f.Need != 30 {
		t.Errorf("no data: %s %s on %v (have %v need %v), want no data on 60 s (0 of 30)", f.Status, f.Gap, f.To.Sub(f.From), f.Have, f.Need)
	}
}

// sigQuarter is a baseline of 10,000 requests over 1,000 busy seconds, a
// quarter of them errors and a quarter repeats.
func sigQuarter() Baseline {
	return Baseline{Seconds: 1000, Active: 1000, Requests: 10000, Errors: 2500, Repeats: 2500, HasRepeats: true}
}

// sigErrorShare judges the error share of a release of len(errs) seconds
// of 10 requests, errs[i] of them errors, against base.
func sigErrorShare(base Baseline, errs []int64, th Thresholds, minIncrease, minRatio float64) Finding {
	c := newCurrent(sigSeries(len(errs), func(i int) metrics.Point { return sigReq(10, errs[i], 0) }))
	return shareFinding(ErrorShare, base, c, th, minIncrease, minRatio, countErrors, 0)
}

// A release at half errors for 60 s, 10 requests a second, against the
// quarter: an excess of .25, with a minimum increase of .25 and a ratio
// of 2 exactly at both (.5 = .25·2), is large; z (12, of 300 errors of 600
// against 2,500 of 10,000; each sixth at the window's share, design
// effect 1) is past 4; each third (200 requests, 100 errors) at .5 is past
// .25 + .25/2; no bursts measured. Anomalous, on the 60 s window (the
// quick windows have no baseline windows to trust them on). A step from
// it at each bound is healthy, or short of requests.
func TestSigShareFindingAtItsBounds(t *testing.T) {
	errs := repeated(60, 5)
	th := DefaultThresholds()
	f := sigErrorShare(sigQuarter(), errs, th, 0.25, 2)
	if f.Status != Anomalous || f.To.Sub(f.From) != 60*time.Second || f.Current != 0.5 || f.Baseline != 0.25 {
		t.Fatalf("half errors: %s on %v (%v against %v), want anomalous on 60 s (.5 against .25)", f.Status, f.To.Sub(f.From), f.Current, f.Baseline)
	}
	if f := sigErrorShare(sigQuarter(), errs, th, 0.25, 3); f.Status != Healthy {
		t.Errorf("ratio 3 (.5 under .75): %s, want healthy", f.Status)
	}
	if f := sigErrorShare(sigQuarter(), errs, th, 0.26, 2); f.Status != Healthy {
		t.Errorf("minimum increase .26: %s, want healthy", f.Status)
	}
	// The sample: 600 requests, exactly th.MinRequests, is enough.
	at := th
	at.MinRequests = 600
	if f := sigErrorShare(sigQuarter(), errs, at, 0.25, 2); f.Status != Anomalous {
		t.Errorf("600 requests, 600 needed: %s %s, want anomalous", f.Status, f.Gap)
	}
	at.MinRequests = 601
	if f := sigErrorShare(sigQuarter(), errs, at, 0.25, 2); f.Status != Inconclusive || f.Gap != GapFewRequests {
		t.Errorf("600 requests, 601 needed: %s %s, want few requests", f.Status, f.Gap)
	}
	// z exactly at the threshold: ShareZ of 300 of 600 against 2,500 of
	// 10,000, both design effects 1.
	at = th
	at.Z = ShareZ(2500, 10000, 300, 600, 1, 1)
	if f := sigErrorShare(sigQuarter(), errs, at, 0.25, 2); f.Status != Anomalous || f.Z != at.Z {
		t.Errorf("z at the threshold %v: %s (z %v), want anomalous", at.Z, f.Status, f.Z)
	}
	at.Z = math.Nextafter(at.Z, math.Inf(1))
	if f := sigErrorShare(sigQuarter(), errs, at, 0.25, 2); f.Status != Healthy {
		t.Errorf("z one float under the threshold: %s, want healthy", f.Status)
	}
	// The baseline's worst 60 s window at .375: an excess of .125, which
	// the .25 must reach twice (th.BurstMargin): exactly so.
	base := sigQuarter()
	base.Scales = []Scale{{Seconds: 60, RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1, ShareWindows: 1, MaxErrorShare: 0.375}}
	if f := sigErrorShare(base, errs, th, 0.25, 2); f.Status != Anomalous || f.Burst != 0.375 {
		t.Errorf("twice the worst window's excess: %s (burst %v), want anomalous (.375)", f.Status, f.Burst)
	}
	base.Scales[0].MaxErrorShare = 0.376
	if f := sigErrorShare(base, errs, th, 0.25, 2); f.Status != Healthy {
		t.Errorf("under twice the worst window's excess: %s, want healthy", f.Status)
	}
}

// Each third must hold the share at half the minimum increase over the
// baseline, .25 + .25/2 = .375: a first third at exactly 75 of 200 errors
// (4 a second for 15 s, 3 for 5 s) does, one at 74 (.37) does not, the
// other two at 6 errors a second (.6); the whole (.525 or .523) is large
// either way, z past 4 (about 6: the uneven sixths give a design effect
// of about 5).
func TestSigShareFindingThirdAtHalfTheMinimum(t *testing.T) {
	for _, tc := range []struct {
		fours int
		want  Status
	}{{15, Anomalous}, {14, Healthy}} {
		errs := repeated(60, 6)
		for i := range 20 {
			errs[i] = 3
			if i < tc.fours {
				errs[i] = 4
			}
		}
		if f := sigErrorShare(sigQuarter(), errs, DefaultThresholds(), 0.25, 2); f.Status != tc.want || f.Z < 5 {
			t.Errorf("a first third of %d errors: %s (z %v), want %s", 3*20+tc.fours, f.Status, f.Z, tc.want)
		}
	}
}

// A quick 5 s window, 20 requests a second, half of them errors, against
// the quarter with a minimum increase of 1/16 and a ratio of 2: the
// excess, .25, is past 3 (th.QuickFactor) times 1/16 and the baseline's
// worst 5 s window (.25, none in excess); z 4.88 (24.5 errors over the
// 25 expected, .245 of 100, over √(.25·.75/10000 + .25/100) = .0502);
// every second busy. It is trusted with 5 baseline windows of 5 s
// (quickWindows), not 4; on a baseline busy half its seconds, not less.
func TestSigShareFindingQuickAtItsBounds(t *testing.T) {
	c := newCurrent(sigSeries(5, func(int) metrics.Point { return sigReq(20, 10, 0) }))
	for _, tc := range []struct {
		windows, active int
		want            Status
	}{
		{5, 1000, Anomalous},
		{4, 1000, Inconclusive},
		{5, 500, Anomalous},
		{5, 499, Inconclusive},
	} {
		base := sigQuarter()
		base.Active = tc.active
		base.Scales = []Scale{{Seconds: 5, RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1, ShareWindows: tc.windows, MaxErrorShare: 0.25}}
		f := shareFinding(ErrorShare, base, c, DefaultThresholds(), 1.0/16, 2, countErrors, 0)
		if f.Status != tc.want || f.To.Sub(f.From) != 5*time.Second {
			t.Errorf("%d baseline windows, %d of 1000 s busy: %s on %v (z %v), want %s on 5 s", tc.windows, tc.active, f.Status, f.To.Sub(f.From), f.Z, tc.want)
		}
	}
}

// The repeat share (judged with its guardrail, .7) of traffic busy in half
// its seconds is still judged by z: every other second of 60 with 20
// requests, 10 of them repeats (.5 against the quarter; z about 12), is
// anomalous; with one more second idle (29 of 60) the traffic is clustered,
// judged by its clusters alone, and with a baseline without clusters, not
// anomalous.
func TestSigShareFindingClusteredAtHalfTheSeconds(t *testing.T) {
	for _, tc := range []struct {
		idleFirst bool
		want      Status
	}{{false, Anomalous}, {true, Healthy}} {
		c := newCurrent(sigSeries(60, func(i int) metrics.Point {
			if i%2 == 1 || (i == 0 && tc.idleFirst) {
				return sigReq(0, 0, 0)
			}
			return sigReq(20, 0, 10)
		}))
		th := DefaultThresholds()
		f := shareFinding(RepeatShare, sigQuarter(), c, th, th.RepeatShareIncrease, th.RepeatShareRatio, countRepeats, th.MaxRepeatShare)
		if f.Status != tc.want {
			t.Errorf("first second idle %v: %s (z %v), want %s", tc.idleFirst, f.Status, f.Z, tc.want)
		}
	}
}

// sigTwoClusters is 120 s of clustered traffic: 30 s idle, a cluster of
// 4 s of p (30..33), 40 s idle, another (74..77), 42 s idle. Both
// clusters are whole (30 idle seconds before each in sight) and ended
// (over 20 idle seconds after the newest); the 60 s window holds the
// second only.
func sigTwoClusters(p metrics.Point) current {
	return newCurrent(sigSeries(120, func(i int) metrics.Point {
		if (i >= 30 && i < 34) || (i >= 74 && i < 78) {
			return p
		}
		return sigReq(0, 0, 0)
	}))
}

// Two clusters of 20 requests, 16 repeats each (.8, past the .7
// guardrail, not a re-run), after a baseline with exactly 2 clusters
// (`clusters`), none past: both fail, as many as needed, and the share is
// large (.8 against .2): anomalous though 20 requests are under
// th.MinRequests. The error share has no guardrail here (0): the same
// clusters of errors are too few requests, inconclusive.
func TestSigShareFindingByItsClusters(t *testing.T) {
	th := DefaultThresholds()
	base := Baseline{Seconds: 3000, Active: 100, Requests: 1000, Errors: 10, Repeats: 200, HasRepeats: true, Clusters: 2}
	c := sigTwoClusters(sigReq(5, 0, 4))
	f := shareFinding(RepeatShare, base, c, th, th.RepeatShareIncrease, th.RepeatShareRatio, countRepeats, th.MaxRepeatShare)
	if f.Status != Anomalous || f.To.Sub(f.From) != 60*time.Second || f.CurrentSample != 20 {
		t.Errorf("repeats, 2 clusters in the baseline: %s %s on %v (%d requests), want anomalous on 60 s (20)", f.Status, f.Gap, f.To.Sub(f.From), f.CurrentSample)
	}
	base.Clusters = 1
	if f := shareFinding(RepeatShare, base, c, th, th.RepeatShareIncrease, th.RepeatShareRatio, countRepeats, th.MaxRepeatShare); f.Status != Inconclusive || f.Gap != GapFewRequests {
		t.Errorf("repeats, 1 cluster in the baseline: %s %s, want few requests", f.Status, f.Gap)
	}
	base.Clusters = 2
	c = sigTwoClusters(sigReq(5, 4, 0))
	if f := shareFinding(ErrorShare, base, c, th, th.ErrorShareIncrease, th.ErrorShareRatio, countErrors, 0); f.Status != Inconclusive || f.Gap != GapFewRequests {
		t.Errorf("errors: %s %s, want few requests", f.Status, f.Gap)
	}
}

// sigGuardrail judges the error share of a release of len(errs) seconds
// of 10 requests, errs[i] of them errors, against the .05 guardrail.
func sigGuardrail(errs []int64, th Thresholds) Finding {
	c := newCurrent(sigSeries(len(errs), func(i int) metrics.Point { return sigReq(10, errs[i], 0) }))
	return guardrail(ErrorShare, c, th.MaxErrorShare, th, countErrors, clusters)
}

// The guardrail worked by hand: 60 s of 10 requests, one an error (60 of
// 600, .1, past .05): the binomial spread at the guardrail is
// √(600·.05·.95) = √28.5, z (60 − 30 − ½)/√28.5 = 5.53, past 4; each
// third (20 of 200) past .05. Anomalous on the 60 s window (quick windows
// never last for the guardrail). A step from it at each bound is not.
func TestSigGuardrailAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	errs := repeated(60, 1)
	f := sigGuardrail(errs, th)
	if want := 29.5 / math.Sqrt(28.5); f.Status != Anomalous || f.To.Sub(f.From) != 60*time.Second || !(math.Abs(f.Z-want) <= 1e-12) {
		t.Fatalf("a tenth errors: %s on %v (z %v), want anomalous on 60 s (z %v)", f.Status, f.To.Sub(f.From), f.Z, want)
	}
	at := th
	at.Z = 29.5 / math.Sqrt(28.5)
	if f := sigGuardrail(errs, at); f.Status != Anomalous {
		t.Errorf("z at the threshold: %s (z %v, threshold %v), want anomalous", f.Status, f.Z, at.Z)
	}
	at.Z = math.Nextafter(at.Z, math.Inf(1))
	if f := sigGuardrail(errs, at); f.Status != Healthy {
		t.Errorf("z one float under the threshold: %s, want healthy", f.Status)
	}
	at = th
	at.MinRequests = 600
	if f := sigGuardrail(errs, at); f.Status != Anomalous {
		t.Errorf("600 requests, 600 needed: %s %s, want anomalous", f.Status, f.Gap)
	}
	// A first third exactly at the guardrail, 10 errors of 200 (one in
	// each of its first 10 s), lasts; 9 of 200 does not. The other
	// thirds hold 2 errors a second; z (over 89 or 90 errors) is past 4.
	for _, tc := range []struct {
		errors int
		want   Status
	}{{10, Anomalous}, {9, Healthy}} {
		errs := repeated(60, 2)
		for i := range 20 {
			errs[i] = 0
			if i < tc.errors {
				errs[i] = 1
			}
		}
		if f := sigGuardrail(errs, th); f.Status != tc.want {
			t.Errorf("a first third of %d errors of 200: %s (z %v), want %s", tc.errors, f.Status, f.Z, tc.want)
		}
	}
}

// Requests in exactly half the seconds are not clustered traffic: every
// other second of 60 with 20 requests, 2 errors (60 of 600, as above), is
// anomalous by z; with one more second idle it is judged by its clusters,
// of which there are none here (the traffic never pauses 30 s): healthy.
func TestSigGuardrailClusteredAtHalfTheSeconds(t *testing.T) {
	th := DefaultThresholds()
	for _, tc := range []struct {
		idleFirst bool
		want      Status
	}{{false, Anomalous}, {true, Healthy}} {
		c := newCurrent(sigSeries(60, func(i int) metrics.Point {
			if i%2 == 1 || (i == 0 && tc.idleFirst) {
				return sigReq(0, 0, 0)
			}
			return sigReq(20, 2, 0)
		}))
		if f := guardrail(ErrorShare, c, th.MaxErrorShare, th, countErrors, clusters); f.Status != tc.want {
			t.Errorf("first second idle %v: %s (z %v), want %s", tc.idleFirst, f.Status, f.Z, tc.want)
		}
	}
}

// Two clusters each exactly at the guardrail, 1 error of 20 (.05): each
// is past it, and so is the window (1 of 20 on 60 s): anomalous, though
// 20 requests are under th.MinRequests. Errors are errors re-run or not:
// two clusters all errors and all repeats count too.
func TestSigGuardrailByItsClusters(t *testing.T) {
	th := DefaultThresholds()
	one := func(i int) metrics.Point {
		if i == 30 || i == 74 { // the first second of each cluster
			return sigReq(5, 1, 0)
		}
		if (i > 30 && i < 34) || (i > 74 && i < 78) {
			return sigReq(5, 0, 0)
		}
		return sigReq(0, 0, 0)
	}
	c := newCurrent(sigSeries(120, one))
	if f := guardrail(ErrorShare, c, th.MaxErrorShare, th, countErrors, clusters); f.Status != Anomalous || f.Current != 0.05 {
		t.Errorf("clusters at .05: %s %s (share %v), want anomalous at .05", f.Status, f.Gap, f.Current)
	}
	c = sigTwoClusters(sigReq(5, 5, 5))
	if f := guardrail(ErrorShare, c, th.MaxErrorShare, th, countErrors, clusters); f.Status != Anomalous {
		t.Errorf("re-run clusters of errors: %s %s, want anomalous", f.Status, f.Gap)
	}
}

// With a guardrail of 0 there is no binomial spread to measure z by: z
// stays 0, a number the store keeps as JSON (an infinite one it cannot).
func TestSigGuardrailOfZeroHasNoZ(t *testing.T) {
	th := DefaultThresholds()
	c := newCurrent(sigSeries(60, func(int) metrics.Point { return sigReq(10, 1, 0) }))
	if f := guardrail(ErrorShare, c, 0, th, countErrors, clusters); f.Z != 0 {
		t.Errorf("guardrail 0: z %v, want 0", f.Z)
	}
}

// A re-run holds at least rerunShare (.95) repeats: 19 of 20 is one, 18
// of 20 is not.
func TestSigRerunAtItsBound(t *testing.T) {
	if !rerun(window{requests: 20, repeats: 19}) {
		t.Errorf("19 repeats of 20: not a re-run")
	}
	if rerun(window{requests: 20, repeats: 18}) {
		t.Errorf("18 repeats of 20: a re-run")
	}
}

// clustersNeeded worked by hand: with p = (past+1)/(clusters+2), the
// fewest clusters in a row (from 2, at most 10) that p to that power puts
// at or under .05. None past: 2. 1 of 8: p = .2, .2² = .04: 2. 2 of 8:
// p = .3, .09 then .027: 3. 2 of 4: p = .5, .25 .125 .0625 .03125: 5. 2 of
// 2: p = .75, still .056 at 10: the most, 10.
func TestSigClustersNeededWorkedByHand(t *testing.T) {
	for _, tc := range []struct{ clusters, past, want int }{
		{8, 0, 2}, {8, 1, 2}, {8, 2, 3}, {4, 2, 5}, {2, 2, 10},
	} {
		if got := clustersNeeded(Baseline{Clusters: tc.clusters, ClustersPast: tc.past}); got != tc.want {
			t.Errorf("%d of %d clusters past: %d needed, want %d", tc.past, tc.clusters, got, tc.want)
		}
	}
}

// sigRuns is a series of n seconds, idle but for runs of seconds: each
// run starts at its first second and holds len seconds of p.
type sigRun struct {
	first, len int
	p          metrics.Point
}

func sigRuns(n int, runs ...sigRun) current {
	return newCurrent(sigSeries(n, func(i int) metrics.Point {
		for _, r := range runs {
			if i >= r.first && i < r.first+r.len {
				return r.p
			}
		}
		return sigReq(0, 0, 0)
	}))
}

// everyCluster at its bounds (a .5 ceiling on the error share, 2 clusters
// needed), on clusters of 4 s, one request a second, 30 idle seconds
// before each, the newest ended by 20 idle seconds:
//   - two clusters all errors, of exactly clusterRequests (4) requests
//     each, exactly clusterEvidence (8) together: enough, and an older
//     healthy cluster is not looked at;
//   - the newest of them at one error of four (.25): not every cluster;
//   - traffic busy in half its seconds (two runs of 45 s in 180 s) is
//     not clustered, whatever its runs show;
//   - 10 idle seconds hold no cluster.
func TestSigEveryClusterAtItsBounds(t *testing.T) {
	errs, healthy := sigReq(1, 1, 0), sigReq(1, 0, 0)
	for _, tc := range []struct {
		name string
		c    current
		to   int
		want bool
	}{
		{"two failing, an older healthy", sigRuns(122, sigRun{30, 4, healthy}, sigRun{64, 4, errs}, sigRun{98, 4, errs}), 122, true},
		{"two failing alone", sigRuns(122, sigRun{64, 4, errs}, sigRun{98, 4, errs}), 122, true},
		{"the newest at a quarter", sigRuns(122, sigRun{64, 4, errs}, sigRun{98, 1, errs}, sigRun{99, 3, healthy}), 122, false},
		{"busy half the seconds", sigRuns(180, sigRun{30, 45, errs}, sigRun{105, 45, errs}), 180, false},
		{"10 idle seconds", sigRuns(10), 10, false},
	} {
		if got := everyCluster(tc.c, 0, tc.to, 0.5, countErrors, 2, false); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// clustersBackwards on sigTwoClusters: the newest cluster first, from the
// end of the 30 idle seconds before it ([44, 78)), then the older one,
// from the series' start ([0, 34)), both whole; the trailing idle seconds
// are in neither.
func TestSigClustersBackwardsWorkedByHand(t *testing.T) {
	c := sigTwoClusters(sigReq(5, 0, 0))
	type got struct {
		from, to int
		requests int64
		whole    bool
	}
	var out []got
	for cl, whole := range c.clustersBackwards(0, c.n()) {
		out = append(out, got{int(cl.from.Sub(t0) / time.Second), int(cl.to.Sub(t0) / time.Second), cl.requests, whole})
	}
	if want := []got{{44, 78, 20, true}, {0, 34, 20, true}}; !slices.Equal(out, want) {
		t.Errorf("clusters %+v, want %+v", out, want)
	}
}

// Whether a cluster is whole: silence before it in sight (30 s), or at
// the start of c, the silence c was cut after adding up to 30 s. A cluster
// at c's very start, cut after nothing, is not; cut after 30 s, it is.
// One 10 s into c is whole after 20 s of silence before c, not after 19.
// One with exactly 30 idle seconds before it down to the window's start
// (10 s into c) is whole.
func TestSigClustersBackwardsWhole(t *testing.T) {
	busy := sigReq(1, 0, 0)
	for _, tc := range []struct {
		name      string
		c         current
		before    int
		from      int
		wantFirst int
		want      bool
	}{
		{"at c's start, after nothing", sigRuns(44, sigRun{0, 4, busy}), 0, 0, 0, false},
		{"at c's start, after 30 s", sigRuns(44, sigRun{0, 4, busy}), 30, 0, 0, true},
		{"10 s in, after 20 s", sigRuns(54, sigRun{10, 4, busy}), 20, 0, 0, true},
		{"10 s in, after 19 s", sigRuns(54, sigRun{10, 4, busy}), 19, 0, 0, false},
		{"30 idle seconds down to the window", sigRuns(64, sigRun{0, 10, busy}, sigRun{40, 4, busy}), 0, 10, 10, true},
	} {
		c := tc.c
		c.silentBefore = tc.before
		n := 0
		for cl, whole := range c.clustersBackwards(tc.from, c.n()) {
			n++
			if first := int(cl.from.Sub(t0) / time.Second); first != tc.wantFirst || whole != tc.want || cl.requests != 4 {
				t.Errorf("%s: a cluster from %d s, %d requests, whole %v; want from %d s, 4 requests, whole %v", tc.name, first, cl.requests, whole, tc.wantFirst, tc.want)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d clusters, want 1", tc.name, n)
		}
	}
}

// sigTen is a baseline of 10 requests a second for 1,000 s (its recent
// rate too), a quarter of them repeats.
func sigTen() Baseline {
	return Baseline{Seconds: 1000, Active: 1000, Requests: 10000, Repeats: 2500, RecentRate: 10, RecentFirstRate: 10}
}

// sigRate is a release of len(reqs) seconds of reqs[i] requests, reps[i]
// of them repeats (none where reps is nil).
func sigRate(reqs, reps []int64) current {
	return newCurrent(sigSeries(len(reqs), func(i int) metrics.Point {
		var r int64
		if reps != nil {
			r = reps[i]
		}
		return sigReq(reqs[i], 0, r)
	}))
}

// A collapse worked by hand: 60 s at 4 requests a second against 10 (all
// requests: no repeats known). 4 is at most half of 10 (and of the
// recent 10); z, −RateZ(10,000 over 1,000 s, 240 over 60 s) = 14.5, past
// 4; each third, at 4, under (10 + 5)/2 = 7.5; no bursts measured.
// Anomalous on 60 s. A step from it at each bound is healthy or short.
func TestSigCollapseAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	collapse := func(base Baseline, reqs []int64, th Thresholds) Finding {
		return collapseFinding(base, sigRate(reqs, nil), th, false)
	}
	f := collapse(sigTen(), repeated(60, 4), th)
	if f.Status != Anomalous || f.To.Sub(f.From) != 60*time.Second || f.Current != 4 {
		t.Fatalf("4 a second: %s on %v (%v), want anomalous on 60 s (4)", f.Status, f.To.Sub(f.From), f.Current)
	}
	// Exactly half the rate is large; 6 is not, nor 5 against a recent 8.
	if f := collapse(sigTen(), repeated(60, 5), th); f.Status != Anomalous {
		t.Errorf("5 a second, half: %s, want anomalous", f.Status)
	}
	if f := collapse(sigTen(), repeated(60, 6), th); f.Status != Healthy {
		t.Errorf("6 a second: %s, want healthy", f.Status)
	}
	recent := sigTen()
	recent.RecentRate = 8
	if f := collapse(recent, repeated(60, 5), th); f.Status != Healthy {
		t.Errorf("5 a second against a recent 8: %s, want healthy", f.Status)
	}
	// The sample: 600 expected requests, exactly th.MinRequests.
	at := th
	at.MinRequests = 600
	if f := collapse(sigTen(), repeated(60, 4), at); f.Status != Anomalous {
		t.Errorf("600 expected, 600 needed: %s %s, want anomalous", f.Status, f.Gap)
	}
	// z exactly at the threshold, and one float past it.
	at = th
	at.Z = -RateZ(10000, 1000, 240, 60, 1)
	if f := collapse(sigTen(), repeated(60, 4), at); f.Status != Anomalous || f.Z != at.Z {
		t.Errorf("z at the threshold %v: %s (z %v), want anomalous", at.Z, f.Status, f.Z)
	}
	at.Z = math.Nextafter(at.Z, math.Inf(1))
	if f := collapse(sigTen(), repeated(60, 4), at); f.Status != Healthy {
		t.Errorf("z one float under the threshold: %s, want healthy", f.Status)
	}
	// The baseline's lowest 60 s rate at 7: a drop of 3, which the drop of
	// 6 must reach twice (th.BurstMargin): exactly so. At 6.5 (3.5) not.
	for _, tc := range []struct {
		min  float64
		want Status
	}{{7, Anomalous}, {6.5, Healthy}} {
		base := sigTen()
		base.Scales = []Scale{{Seconds: 60, RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1, RateWindows: 1, MinFirstRate: tc.min}}
		if f := collapse(base, repeated(60, 4), th); f.Status != tc.want || f.Burst != tc.min {
			t.Errorf("the lowest window at %v: %s (burst %v), want %s (%v)", tc.min, f.Status, f.Burst, tc.want, tc.min)
		}
	}
	// Each third at most 7.5 a second: a first third of 150 requests in
	// 20 s (7 and 8 in turn) is; one of 152 (7.6) is not. The rest at 2.
	for _, tc := range []struct {
		eights int
		want   Status
	}{{10, Anomalous}, {12, Healthy}} {
		reqs := repeated(60, 2)
		for i := range 20 {
			reqs[i] = 7
			if i < tc.eights {
				reqs[i] = 8
			}
		}
		if f := collapse(sigTen(), reqs, th); f.Status != tc.want {
			t.Errorf("a first third of %d requests: %s (z %v), want %s", 140+tc.eights, f.Status, f.Z, tc.want)
		}
	}
}

// A quick collapse: 5 s at 1 request a second against 10: at most a
// sixth of it (th.RateCollapseRatio over th.QuickFactor); 50 expected;
// z 6.3 (5 against 49.8 expected: 44.3 under after the correction,
// over √49.5); the drop, 9, is 3 times (th.QuickFactor) the baseline's
// worst 5 s drop, 3 (its lowest rate 7), and past twice it. It is trusted with 5 baseline windows
// (quickWindows), not 4; and not past a worst drop of 3.1 (the lowest
// rate 6.9): 9 is under 9.3. Else the quick window only settles.
func TestSigCollapseQuickAtItsBounds(t *testing.T) {
	for _, tc := range []struct {
		windows int
		min     float64
		want    Status
	}{
		{5, 7, Anomalous},
		{4, 7, Inconclusive},
		{5, 6.9, Inconclusive},
	} {
		base := sigTen()
		base.Scales = []Scale{{Seconds: 5, RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1, RateWindows: tc.windows, MinFirstRate: tc.min}}
		f := collapseFinding(base, sigRate(repeated(5, 1), nil), DefaultThresholds(), false)
		if f.Status != tc.want || f.To.Sub(f.From) != 5*time.Second {
			t.Errorf("%d windows, lowest %v: %s on %v (z %v), want %s on 5 s", tc.windows, tc.min, f.Status, f.To.Sub(f.From), f.Z, tc.want)
		}
	}
}

// Retries stopped: the collapse healthy on 60 s, the total rate fell
// (6 a second against 10: z, −RateZ(10,000 over 1,000 s, 360 over 60 s),
// 9.6) and the repeat share fell under the baseline's quarter: reported,
// with that z. At exactly a quarter (90 of 360) the share did not fall;
// at a half it rose.
func TestSigRetriesStoppedAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	collapse := Finding{Signal: RateCollapse, Status: Healthy, From: t0, To: t0.Add(60 * time.Second)}
	reps := func(odd, even int64) []int64 { // repeats in odd and even seconds
		out := make([]int64, 60)
		for i := range out {
			out[i] = even
			if i%2 == 1 {
				out[i] = odd
			}
		}
		return out
	}
	z := -RateZ(10000, 1000, 360, 60, 1)
	if f, ok := retriesStopped(sigTen(), sigRate(repeated(60, 6), reps(0, 1)), th, collapse); !ok || f.Signal != RetriesStopped || f.Z != z {
		t.Errorf("a twelfth repeats: %v %+v, want reported with z %v", ok, f, z)
	}
	if _, ok := retriesStopped(sigTen(), sigRate(repeated(60, 6), reps(1, 2)), th, collapse); ok {
		t.Errorf("a quarter repeats: reported, want not (the share did not fall)")
	}
	if _, ok := retriesStopped(sigTen(), sigRate(repeated(60, 6), reps(3, 3)), th, collapse); ok {
		t.Errorf("half repeats: reported, want not")
	}
	at := th
	at.Z = z
	if _, ok := retriesStopped(sigTen(), sigRate(repeated(60, 6), reps(0, 1)), at, collapse); !ok {
		t.Errorf("z at the threshold: not reported")
	}
	at.Z = math.Nextafter(z, math.Inf(1))
	if _, ok := retriesStopped(sigTen(), sigRate(repeated(60, 6), reps(0, 1)), at, collapse); ok {
		t.Errorf("z one float under the threshold: reported")
	}
}

// A rise worked by hand: 60 s at 15 requests a second against 10: exactly
// th.RateRiseRatio (1.5) times 10 (and the recent 10); z, RateZ(10,000
// over 1,000 s, 900 over 60 s) = 9.8; each third at 15, past
// 10·(1 + 1.5)/2 = 12.5. Anomalous on 60 s, reported. A step from it at
// each bound is healthy.
func TestSigRiseAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	rise := func(reqs []int64, th Thresholds) (Finding, bool) {
		return riseFinding(sigTen(), sigRate(reqs, nil), th)
	}
	f, ok := rise(repeated(60, 15), th)
	if !ok || f.Status != Anomalous || f.Current != 15 || f.To.Sub(f.From) != 60*time.Second {
		t.Fatalf("15 a second: %v %s on %v (%v), want anomalous on 60 s (15)", ok, f.Status, f.To.Sub(f.From), f.Current)
	}
	if f, _ := rise(repeated(60, 14), th); f.Status != Healthy {
		t.Errorf("14 a second: %s, want healthy", f.Status)
	}
	at := th
	at.MinRequests = 600 // 600 expected: exactly enough
	if f, ok := rise(repeated(60, 15), at); !ok || f.Status != Anomalous {
		t.Errorf("600 expected, 600 needed: %v %s %s, want anomalous", ok, f.Status, f.Gap)
	}
	at = th
	at.Z = RateZ(10000, 1000, 900, 60, 1)
	if f, _ := rise(repeated(60, 15), at); f.Status != Anomalous || f.Z != at.Z {
		t.Errorf("z at the threshold %v: %s (z %v), want anomalous", at.Z, f.Status, f.Z)
	}
	at.Z = math.Nextafter(at.Z, math.Inf(1))
	if f, _ := rise(repeated(60, 15), at); f.Status != Healthy {
		t.Errorf("z one float under the threshold: %s, want healthy", f.Status)
	}
	// Each third at least 12.5 a second: a first third of 250 requests in
	// 20 s (12 and 13 in turn) is; one of 248 (12.4) is not. The rest at
	// 17, the whole past 15.
	for _, tc := range []struct {
		thirteens int
		want      Status
	}{{10, Anomalous}, {8, Healthy}} {
		reqs := repeated(60, 17)
		for i := range 20 {
			reqs[i] = 12
			if i < tc.thirteens {
				reqs[i] = 13
			}
		}
		if f, _ := rise(reqs, th); f.Status != tc.want {
			t.Errorf("a first third of %d requests: %s (z %v), want %s", 240+tc.thirteens, f.Status, f.Z, tc.want)
		}
	}
}
