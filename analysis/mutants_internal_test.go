package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// ZFor shares one test's one-sided tail among m routes (Bonferroni). From
// the normal table: P(Z > 4) = 3.167e-5; shared by 50 it is 6.33e-7, and
// P(Z > 4.84) = 6.49e-7, P(Z > 4.85) = 6.17e-7, so the z is about 4.845
// (the 4.85 the doc speaks of). One route (or none) keeps z as it is.
// The checks are written so that a NaN fails them.
func TestZForSharesTheTailAmongRoutes(t *testing.T) {
	if got := ZFor(4, 50); !(got >= 4.84 && got <= 4.85) {
		t.Errorf("ZFor(4, 50) = %.4f, want about 4.845", got)
	}
	// Two routes: P(Z > 4)/2 = 1.58e-5, between P(Z > 4.15) = 1.66e-5 and
	// P(Z > 4.17) = 1.52e-5.
	if got := ZFor(4, 2); !(got >= 4.15 && got <= 4.17) {
		t.Errorf("ZFor(4, 2) = %.4f, want about 4.16", got)
	}
	// z 3: P(Z > 3) = 1.35e-3; over 10 routes 1.35e-4, between
	// P(Z > 3.63) = 1.42e-4 and P(Z > 3.66) = 1.26e-4.
	if got := ZFor(3, 10); !(got >= 3.63 && got <= 3.66) {
		t.Errorf("ZFor(3, 10) = %.4f, want about 3.64", got)
	}
	// Exactly z, not z recomputed through the tail (which comes back an
	// ulp off, 3.999999999999999): the threshold is reported as is.
	for _, m := range []int{1, 0, -3} {
		if got := ZFor(4, m); got != 4 {
			t.Errorf("ZFor(4, %d) = %v, want 4 unchanged", m, got)
		}
	}
}

// mkProbes makes probe results a minute apart from start, one per
// character of pattern: '+' passed, '-' failed (with an error naming the
// check's index).
func mkProbes(start time.Time, pattern string) []ProbeResult {
	out := make([]ProbeResult, len(pattern))
	for i, c := range pattern {
		out[i] = ProbeResult{At: start.Add(time.Duration(i) * time.Minute), OK: c == '+'}
		if c != '+' {
			out[i].Err = "check " + string(rune('a'+i))
		}
	}
	return out
}

// AssessProbe, each branch at its boundary, with the figures from the
// rule: at least 3 checks before, at least 80% passed and the last one,
// then th.ProbeFailures (3) checks since, all failed to be anomalous.
func TestAssessProbeAtItsBoundaries(t *testing.T) {
	th := DefaultThresholds()
	before0 := t0.Add(-time.Hour)
	after0 := t0.Add(time.Minute)
	for _, tc := range []struct {
		name          string
		before, after string
		want          Finding
	}{
		{
			// No checks before: too few (0 of 3), the pass share 0 (not 0/0).
			name: "no checks before", before: "", after: "---",
			want: Finding{Status: Inconclusive, Gap: GapProbeBefore, Have: 0, Need: 3, Trigger: true},
		},
		{
			// Two checks before: still one short of 3; both passed, share 1.
			name: "two checks before", before: "++", after: "---",
			want: Finding{Status: Inconclusive, Gap: GapProbeBefore, Have: 2, Need: 3, Baseline: 1, BaselineSample: 2, Trigger: true},
		},
		{
			// Exactly 3 passing checks before are enough, exactly 3 failing
			// since too: anomalous, 0 of the 3 passed, the last one's error.
			name: "three and three", before: "+++", after: "---",
			want: Finding{Status: Anomalous, Baseline: 1, BaselineSample: 3, Current: 0, CurrentSample: 3, Trigger: true,
				From: after0, To: after0.Add(2 * time.Minute), Detail: "check c"},
		},
		{
			// 4 of 5 passed: 0.8, the least that counts as passing, the
			// last one passed. Of the last 3 since (of 4), one passed: 1/3,
			// healthy, no error told.
			name: "passing at exactly 80%", before: "-++++", after: "---+",
			want: Finding{Status: Healthy, Baseline: 0.8, BaselineSample: 5, Current: 1.0 / 3, CurrentSample: 3, Trigger: true,
				From: after0.Add(time.Minute), To: after0.Add(3 * time.Minute)},
		},
		{
			// The last 3 of 5 since failed; the first two passing do not
			// matter: anomalous, with the last (fifth) check's error.
			name: "only the last checks count", before: "++++", after: "++---",
			want: Finding{Status: Anomalous, Baseline: 1, BaselineSample: 4, Current: 0, CurrentSample: 3, Trigger: true,
				From: after0.Add(2 * time.Minute), To: after0.Add(4 * time.Minute), Detail: "check e"},
		},
		{
			// 3 of 4 passed: 0.75, under 80%: the probe was failing.
			name: "passing at 75%", before: "+-++", after: "---",
			want: Finding{Status: Healthy, Gap: GapProbeWasFailing, Have: 0.75, Baseline: 0.75, BaselineSample: 4},
		},
		{
			// 4 of 5 passed (0.8) but the last one failed: failing already.
			name: "last check before failed", before: "++++-", after: "---",
			want: Finding{Status: Healthy, Gap: GapProbeWasFailing, Have: 0.8, Baseline: 0.8, BaselineSample: 5},
		},
		{
			// Two checks since, one short of the 3 asked.
			name: "two checks since", before: "+++", after: "--",
			want: Finding{Status: Inconclusive, Gap: GapProbeAfter, Have: 2, Need: 3, Baseline: 1, BaselineSample: 3, Trigger: true},
		},
	} {
		got := AssessProbe(mkProbes(before0, tc.before), mkProbes(after0, tc.after), th)
		want := tc.want
		want.Signal, want.Mode, want.ZThreshold = Probe, Relative, th.Z
		if math.Abs(got.Current-want.Current) < 1e-12 {
			got.Current = want.Current
		}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, want)
		}
	}
}

// mkSpread makes secs seconds of traffic from start holding req requests,
// errs errors and reps repeats in all, each spread as evenly as whole
// counts allow: the first seconds take the remainder, of the errors and
// repeats too (each second's at most its requests, a bound no case here
// reaches).
func mkSpread(start time.Time, secs int, req, errs, reps int64) metrics.Series {
	s := metrics.Series{Start: start, Points: make([]metrics.Point, secs)}
	share := func(total int64, i int) int64 {
		q, r := total/int64(secs), total%int64(secs)
		if int64(i) < r {
			q++
		}
		return q
	}
	for i := range s.Points {
		r := share(req, i)
		s.Points[i] = metrics.Point{OK: true, Requests: r, Errors: min(r, share(errs, i)), Repeats: min(r, share(reps, i))}
	}
	return s
}

// elevated on error shares, worked by hand. The baseline: 200 errors in
// 1000 requests (p1 0.2), no scales (dispersion 1). A span of 500 requests
// expects 100 errors, with sd = sqrt(500 * 0.2 * 0.8 * (1 + 500/1000)) =
// sqrt(120) = 10.954; z = (errors - 100 - 0.5) / 10.954.
func TestElevatedErrorShareWorkedByHand(t *testing.T) {
	base := Baseline{Seconds: 1000, Active: 1000, Requests: 1000, Errors: 200}
	for _, tc := range []struct {
		name        string
		secs        int
		req, errs   int64
		ratio, z    float64 // 0: the default
		want        bool
		baseReq, x1 int64 // 0: the baseline above
	}{
		// 145: z = 44.5/10.954 = 4.06, p2 0.29 past 0.2*1.2: elevated.
		{name: "just past z", secs: 50, req: 500, errs: 145, ratio: 1.2, want: true},
		// 144: z = 43.5/10.954 = 3.97: not.
		{name: "just short of z", secs: 50, req: 500, errs: 144, ratio: 1.2, want: false},
		// 200: p2 = 0.4, exactly p1 times the ratio 2, z = 99.5/10.954 = 9.1.
		{name: "exactly at the ratio", secs: 50, req: 500, errs: 200, want: true},
		// 199: p2 = 0.398, short of 0.4 however significant (z 9.0).
		{name: "short of the ratio", secs: 50, req: 500, errs: 199, want: false},
		// 50 requests, exactly th.MinRequests: sd = sqrt(50 * 0.2 * 0.8 *
		// 1.05) = 2.898, 25 errors (p2 0.5) give z = 14.5/2.898 = 5.0.
		{name: "exactly the minimum sample", secs: 10, req: 50, errs: 25, want: true},
		// 49 requests are too few, whatever their errors.
		{name: "one short of the minimum sample", secs: 10, req: 49, errs: 49, want: false},
		// A baseline of 25 errors in 50 (p1 0.5) and a span of 50 requests:
		// sd = sqrt(50 * 0.5 * 0.5 * (1 + 50/50)) = 5 exactly; 45 errors give
		// z = (45 - 25 - 0.5)/5 = 3.9, exactly the th.Z asked: elevated.
		{name: "z exactly th.Z", secs: 10, req: 50, errs: 45, ratio: 1.5, z: 3.9, want: true, baseReq: 50, x1: 25},
	} {
		th := DefaultThresholds()
		if tc.ratio > 0 {
			th.ErrorShareRatio = tc.ratio
		}
		if tc.z > 0 {
			th.Z = tc.z
		}
		b := base
		if tc.baseReq > 0 {
			b.Requests, b.Errors = tc.baseReq, tc.x1
		}
		span := mkSpread(t0, tc.secs, tc.req, tc.errs, 0)
		if got := elevated(b, newCurrent(span), false, ErrorShare, th); got != tc.want {
			t.Errorf("%s: elevated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Elevated asks the span's last 30 s, 1 min, 2 min and the whole: a span
// of exactly 30 s is asked whole. 300 requests with 30 errors (10%)
// against a baseline of 0.1% are elevated by any measure (expected 0.3,
// sd = sqrt(300 * 0.001 * 0.999 * 1.003) = 0.55, z = 29.2/0.55 = 53).
func TestElevatedAsksASpanOfExactlyThirtySeconds(t *testing.T) {
	th := DefaultThresholds()
	base := Baseline{Seconds: 1000, Active: 1000, Requests: 100000, Errors: 100}
	if !Elevated(base, mkSpread(t0, 30, 300, 30, 0), ErrorShare, th) {
		t.Errorf("a 30 s span at 10%% errors against 0.1%%: not elevated, want elevated")
	}
}

// elevated on a rate collapse, worked by hand. The baseline: 10000
// requests in 1000 s, no repeats known (first rate 10/s); halfway to the
// collapse ratio 0.5 is 10 * 1.5 / 2 = 7.5/s. RateZ with t1 = 1000 and the
// span's t2 seconds: p = t2/(1000+t2), z = (x2 - n*p, corrected) / sd.
func TestElevatedRateCollapseWorkedByHand(t *testing.T) {
	th := DefaultThresholds()
	base := Baseline{Seconds: 1000, Active: 1000, Requests: 10000}
	for _, tc := range []struct {
		name string
		base Baseline
		secs int
		req  int64
		want bool
	}{
		// 5 s expect exactly 50 requests, th.MinRequests: enough. None came:
		// n = 10000, p = 5/1005, n*p = 49.75, sd = sqrt(49.5) = 7.04,
		// z = -49.25/7.04 = -7.0.
		{"5 s of silence expect exactly the minimum", base, 5, 0, true},
		// 4 s expect 40: too few to say.
		{"4 s of silence expect too few", base, 4, 0, false},
		// 750 in 100 s: 7.5/s, exactly halfway: a collapse beginning. n =
		// 10750, p = 1/11, n*p = 977.3, sd = sqrt(max(888.2, 697.7)) = 29.8,
		// z = -226.8/29.8 = -7.6.
		{"exactly halfway to the collapse", base, 100, 750, true},
		// 800 in 100 s: 8/s, not yet halfway, however significant (z -6.1).
		{"not yet halfway", base, 100, 800, false},
		// 40 in 6 s: 6.7/s, past halfway, but 60 expected: n = 10040,
		// p = 6/1006, n*p = 59.88, sd = sqrt(59.52) = 7.71, z = -19.38/7.71
		// = -2.5: not significant.
		{"past halfway, not significant", base, 6, 40, false},
		// A baseline of 59 requests in 10 s and a span of 22 in 10 s:
		// p = 0.5, n = 81, sd = sqrt(max(81/4, 22*59/81)) = 4.5 exactly,
		// z = (22 - 40.5 + 0.5)/4.5 = -4, exactly -th.Z: a collapse.
		{"z exactly -th.Z", Baseline{Seconds: 10, Active: 10, Requests: 59}, 10, 22, true},
	} {
		span := mkSpread(t0, tc.secs, tc.req, 0, 0)
		if got := elevated(tc.base, newCurrent(span), false, RateCollapse, th); got != tc.want {
			t.Errorf("%s: elevated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// mkBins makes a series of whole incident bins (60 s each) from t0, bin i
// holding req[i] requests with errs[i] errors, spread by mkSpread.
func mkBins(req, errs []int64) metrics.Series {
	s := metrics.Series{Start: t0}
	for i := range req {
		s.Points = append(s.Points, mkSpread(t0, incidentBin, req[i], errs[i], 0).Points...)
	}
	return s
}

// repeated is n copies of x.
func repeated(n int, x int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// Incidents, worked by hand. In each case the typical bin is the lower
// quartile of the bins' error shares, an incident at least 3 bins in a
// row past it (by 0.005, and twice it, and z 4), widened by a bin either
// side (to the series' end at most).
func TestIncidentsWorkedByHand(t *testing.T) {
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	cat := func(parts ...[]int64) []int64 {
		var out []int64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// noisy: 24 bins of 100 requests, with 18 errors (3 bins), 20 (4),
	// X (3, bins 7 to 9) and 22 (14). Sorted, share 6 of the 24 is 0.2: the
	// typical bin, v = 100 * 0.2 * 0.8 = 16. The terms: 0 for the four at
	// 20, 2*2/16 = 0.25 for the 17 at 18 or 22; term 6 is 0.25, so the
	// dispersion is 0.25/0.1015 = 2.463 and sd = sqrt(2.463 * 16) = 6.278.
	noisy := func(x int64) []int64 {
		return cat(repeated(3, 18), repeated(4, 20), repeated(3, x), repeated(14, 22))
	}
	// clean: 8 bins of 100, five at 20 errors then three at X: typical
	// 0.2, every quiet term 0, so the dispersion is 1 and sd = 4.
	clean := func(x int64) []int64 { return cat(repeated(5, 20), repeated(3, x)) }
	// zero: bins of 10000 requests, quiet ones without errors: typical 0,
	// no terms (v = 0), sd = sqrt(10000 * 1/10000) = 1.
	zero := func(quiet, loud int, x int64) []int64 { return cat(repeated(quiet, 0), repeated(loud, x)) }

	for _, tc := range []struct {
		name      string
		req, errs []int64
		minReq    int64   // 0: the default
		z         float64 // 0: the default
		exclude   []Interval
		want      []Interval
	}{
		// X = 50: z = (50 - 20 - 0.5)/6.278 = 4.70. Bins of exactly
		// th.MinRequests (100) count. Bins 7-9, widened: 360 s to 660 s.
		{name: "noisy, past the noise", req: repeated(24, 100), errs: noisy(50), minReq: 100,
			want: []Interval{{at(360), at(660)}}},
		// X = 43: z = 22.5/6.278 = 3.58: within the lookback's own noise.
		{name: "noisy, within the noise", req: repeated(24, 100), errs: noisy(43), minReq: 100},
		// X = 40: p = 0.4, exactly twice the typical; z = 19.5/4 = 4.9.
		// Bins 5-7, widened: 240 s, to the end at 480 s.
		{name: "clean, exactly twice the typical", req: repeated(8, 100), errs: clean(40),
			want: []Interval{{at(240), at(480)}}},
		// X = 39: p = 0.39, short of twice 0.2, however significant (4.6).
		{name: "clean, short of twice the typical", req: repeated(8, 100), errs: clean(39)},
		// 50 in 10000: p = 0.005, exactly the minimum increase over 0;
		// z = 49.5. Bins 5-7: 240 s to 480 s.
		{name: "zero, exactly the minimum increase", req: repeated(8, 10000), errs: zero(5, 3, 50),
			want: []Interval{{at(240), at(480)}}},
		// 40 in 10000: p = 0.004, short of it (z 39.5 notwithstanding).
		{name: "zero, short of the minimum increase", req: repeated(8, 10000), errs: zero(5, 3, 40)},
		// Exactly 2*incidentRun (6) bins with a sample: enough. Typical:
		// share 1 of [0 0 0 .01 .01 .01], 0. Bins 3-5: 120 s to the end.
		{name: "exactly six bins", req: repeated(6, 10000), errs: zero(3, 3, 100),
			want: []Interval{{at(120), at(360)}}},
		// Five bins are too few to tell an incident from the normal.
		{name: "five bins", req: repeated(5, 10000), errs: zero(2, 3, 100)},
		// Bins of 100: sd = sqrt(100 * 1/100) = 1, and 5 errors give z =
		// 5 - 0.5 = 4.5, exactly the th.Z asked: an incident. Bins 5-7.
		{name: "zero, z exactly th.Z", req: repeated(8, 100), errs: zero(5, 3, 5), z: 4.5,
			want: []Interval{{at(240), at(480)}}},
		// The loud bins (180 s to 360 s) excluded: nothing is left to find.
		{name: "the incident excluded", req: repeated(8, 10000), errs: cat(zero(3, 3, 100), repeated(2, 0)),
			exclude: []Interval{{at(180), at(360)}}},
	} {
		th := DefaultThresholds()
		if tc.minReq > 0 {
			th.MinRequests = tc.minReq
		}
		if tc.z > 0 {
			th.Z = tc.z
		}
		got := Incidents(mkBins(tc.req, tc.errs), tc.exclude, th)
		if len(got) != len(tc.want) {
			t.Errorf("%s: incidents %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if !got[i].From.Equal(tc.want[i].From) || !got[i].To.Equal(tc.want[i].To) {
				t.Errorf("%s: incidents %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

// Controlled at its boundaries. The control: 1000 requests in 100 s
// before (10/s), and now 100 s at the rate each case gives. The guarded
// collapse: Current over Baseline. With the collapse ratio 0.5 the
// control must have fallen to 0.75 at least, and the guarded route,
// measured against it, not to 0.5.
func TestControlledAtItsBoundaries(t *testing.T) {
	th := DefaultThresholds()
	before := mkSpread(t0, 100, 1000, 0, 0)
	for _, tc := range []struct {
		name       string
		base, cur  float64
		controlNow int64
		want       Status
		wantHave   float64
	}{
		// Control 750/100 s: 7.5/s, 0.75, exactly halfway to the collapse
		// ratio: shared. The guarded route at 0.4, against it 0.4/0.75 =
		// 0.53, past 0.5: lost data, inconclusive with the control's 0.75.
		{"control fell exactly halfway", 10, 4, 750, Inconclusive, 0.75},
		// Control 0.76: not halfway; the collapse stands.
		{"control fell less than halfway", 10, 4, 760, Anomalous, 0},
		// Control 0.5, guarded 0.25: against the control exactly 0.5, the
		// collapse ratio: the guarded route collapsed of its own.
		{"guarded exactly the collapse ratio against the control", 10, 2.5, 500, Anomalous, 0},
		// Guarded 0.3: against the control 0.6: shared.
		{"guarded less than the ratio against the control", 10, 3, 500, Inconclusive, 0.5},
		// A collapse with no baseline rate (0) says nothing to compare.
		{"no baseline rate", 0, 0, 500, Anomalous, 0},
	} {
		f := Finding{Signal: RateCollapse, Status: Anomalous, Trigger: true, Baseline: tc.base, Current: tc.cur}
		v := Verdict{Status: Anomalous, Findings: []Finding{f}}
		got := v.Controlled(before, mkSpread(t0.Add(100*time.Second), 100, tc.controlNow, 0, 0), th)
		g, _ := got.Finding(RateCollapse)
		if got.Status != tc.want || g.Status != tc.want {
			t.Errorf("%s: verdict %s, collapse %s, want %s", tc.name, got.Status, g.Status, tc.want)
		}
		if tc.want == Inconclusive && (g.Gap != GapSharedFall || math.Abs(g.Have-tc.wantHave) > 1e-12) {
			t.Errorf("%s: gap %s have %v, want shared_fall with %v", tc.name, g.Gap, g.Have, tc.wantHave)
		}
	}
}

// The rates of a baseline: 100 requests in 10 s, 30 of them repeats.
func TestBaselineRates(t *testing.T) {
	b := Baseline{Seconds: 10, Active: 10, Requests: 100, Repeats: 30, HasRepeats: true}
	// 100/10 requests a second; first attempts (100 - 30)/10.
	if got := b.Rate(); got != 10 {
		t.Errorf("Rate = %v, want 10", got)
	}
	if got := b.FirstRate(); got != 7 {
		t.Errorf("FirstRate = %v, want 7 (first attempts: requests less repeats)", got)
	}
	// Repeats unknown: every request is a first attempt.
	b.HasRepeats = false
	if got := b.FirstRate(); got != 10 {
		t.Errorf("FirstRate without repeats = %v, want 10", got)
	}
}

// Usable at its bounds: th.MinBaseline (2 min) of active seconds and
// th.MinRequests (50) requests, each exactly enough.
func TestBaselineUsableAtItsBounds(t *testing.T) {
	th := DefaultThresholds()
	for _, tc := range []struct {
		active   int
		requests int64
		want     bool
	}{
		{120, 50, true},
		{119, 5000, false},
		{120, 49, false},
	} {
		b := Baseline{Seconds: 3600, Active: tc.active, Requests: tc.requests}
		if got := b.Usable(th); got != tc.want {
			t.Errorf("%d active seconds, %d requests: usable %v, want %v", tc.active, tc.requests, got, tc.want)
		}
	}
}

// The recent rates are over the baseline's last tenth (at least 300 s):
// 3600 s at 10/s (1 repeat a second) then 400 s at 20/s (5 repeats): the
// last tenth is the 400 s, at 20/s, 15 of them first attempts.
func TestBaselineRecentRatesAreTheLastTenth(t *testing.T) {
	th := DefaultThresholds()
	s := mkSpread(t0, 3600, 36000, 0, 3600)
	s.Points = append(s.Points, mkSpread(t0, 400, 8000, 0, 2000).Points...)
	s.HasRepeats = true
	b := NewBaseline(s, nil, th)
	if b.RecentRate != 20 || b.RecentFirstRate != 15 {
		t.Errorf("recent rate %v, first %v, want 20 and 15", b.RecentRate, b.RecentFirstRate)
	}
	// No data in the last 300 s: no recent rate (0, not 0/0).
	s = mkSpread(t0, 600, 3000, 0, 0)
	for i := 300; i < 600; i++ {
		s.Points[i] = metrics.Point{}
	}
	if b := NewBaseline(s, nil, th); b.RecentRate != 0 || b.RecentFirstRate != 0 {
		t.Errorf("no data at the end: recent rate %v, first %v, want 0", b.RecentRate, b.RecentFirstRate)
	}
}

// mkSeconds makes a series from t0 of secs seconds, all with data and no
// requests but where put sets them.
func mkSeconds(secs int, put func(i int) metrics.Point) metrics.Series {
	s := metrics.Series{Start: t0, HasRepeats: true, Points: make([]metrics.Point, secs)}
	for i := range s.Points {
		s.Points[i] = put(i)
		s.Points[i].OK = true
	}
	return s
}

// Clusters of clustered traffic (fewer than half the seconds active),
// each after at least clusterGap (30 s) of silence: one of 10 requests
// with 7 repeats (0.7, exactly th.MaxRepeatShare, and no re-run, which
// is 95%), one of exactly clusterRequests (4), with 1, and one of 3, too
// small to count. Two clusters, the worst share 0.7, one of them past.
func TestBaselineClusters(t *testing.T) {
	th := DefaultThresholds()
	s := mkSeconds(200, func(i int) metrics.Point {
		switch {
		case i >= 40 && i < 45: // 10 requests, 7 repeats
			return metrics.Point{Requests: 2, Repeats: max(0, min(2, int64(7-2*(i-40))))}
		case i >= 100 && i < 102: // 4 requests, 1 repeat
			return metrics.Point{Requests: 2, Repeats: int64(101 - i)}
		case i == 160:
			return metrics.Point{Requests: 3}
		}
		return metrics.Point{}
	})
	b := NewBaseline(s, nil, th)
	if b.Active != 8 || b.Requests != 17 || b.Repeats != 8 {
		t.Fatalf("the series: %d active seconds, %d requests, %d repeats; want 8, 17, 8", b.Active, b.Requests, b.Repeats)
	}
	if b.Clusters != 2 || b.MaxClusterRepeatShare != 0.7 || b.ClustersPast != 1 {
		t.Errorf("%d clusters, worst share %v, %d past; want 2, 0.7, 1", b.Clusters, b.MaxClusterRepeatShare, b.ClustersPast)
	}
	// Half the seconds active (30 s of silence, then 30 s at 1/s) is not
	// clustered traffic: no clusters, though the 30 s look like one.
	s = mkSeconds(60, func(i int) metrics.Point { return metrics.Point{Requests: int64(i / 30)} })
	if b := NewBaseline(s, nil, th); b.Active != 30 || b.Clusters != 0 {
		t.Errorf("half the seconds active: %d active, %d clusters, want 30 and none", b.Active, b.Clusters)
	}
}

// The scales: the quick lengths (5, 15, 30 s) and every multiple of 60 s
// up to th.MaxWindow (600 s), the last included. Windows slide in sixths
// (10 s for 60 s) and count where they end within the series and are at
// least th.MinCoverage (half) covered.
func TestBaselineScalesAndTheirWindows(t *testing.T) {
	th := DefaultThresholds()
	s := mkSpread(t0, 60, 600, 0, 0)
	b := NewBaseline(s, nil, th)
	if n := len(b.Scales); n != 13 || b.Scales[0].Seconds != 5 || b.Scales[n-1].Seconds != 600 {
		t.Fatalf("%d scales, from %d s to %d s; want 13, from 5 s to 600 s", n, b.Scales[0].Seconds, b.Scales[n-1].Seconds)
	}
	// 60 s of data: one window of 60 s, [0, 60), ending at its end.
	if got := b.scale(60).ShareWindows; got != 1 {
		t.Errorf("60 s of data: %d windows of 60 s, want 1", got)
	}
	// 120 s, the last 60 without data: windows of 60 s from 0, 10, 20, 30
	// s are covered 60, 50, 40, 30 s (at least 30: half); from 40 and 50
	// s only 20 and 10; from 60 s, none.
	s = mkSpread(t0, 120, 1200, 0, 0)
	for i := 60; i < 120; i++ {
		s.Points[i] = metrics.Point{}
	}
	if got := NewBaseline(s, nil, th).scale(60).ShareWindows; got != 4 {
		t.Errorf("half the data: %d windows of 60 s, want 4", got)
	}
}

// The windows of a scale: 120 s at 1 request a second, but for 50 s to
// 60 s without data. Windows of 60 s (from 0, 10, ..., 60 s) are covered
// 50 s each, the last 60 s: all at least half covered, every one with at
// least th.MinRequests (50) requests, and all expecting at least 50 at the
// baseline's first rate (110 requests in 110 s: 1/s), the 50 s ones
// exactly. Every window's first rate is 1.
func TestBaselineWindowsAtTheMinimumSample(t *testing.T) {
	th := DefaultThresholds()
	s := mkSpread(t0, 120, 120, 0, 0)
	for i := 50; i < 60; i++ {
		s.Points[i] = metrics.Point{}
	}
	sc := NewBaseline(s, nil, th).scale(60)
	if sc.Seconds != 60 || sc.ShareWindows != 7 || sc.RateWindows != 7 || sc.MinFirstRate != 1 {
		t.Errorf("scale %d s: %d share windows, %d rate windows, lowest first rate %v; want 60 s, 7, 7, 1",
			sc.Seconds, sc.ShareWindows, sc.RateWindows, sc.MinFirstRate)
	}
	// 60 s at 1/s then 60 s at 2/s: the windows' first rates rise from 1
	// (the first window, [0, 60)) to 2 (the last): the lowest is 1.
	s = mkSpread(t0, 60, 60, 0, 0)
	s.Points = append(s.Points, mkSpread(t0, 60, 120, 0, 0).Points...)
	if sc := NewBaseline(s, nil, th).scale(60); sc.RateWindows != 7 || sc.MinFirstRate != 1 {
		t.Errorf("a rising rate: %d rate windows, lowest first rate %v; want 7 and 1", sc.RateWindows, sc.MinFirstRate)
	}
}

// The dispersions of a scale, by hand: the median chi-square term over
// bins of l seconds at least half covered, each against the median bin,
// over 0.455; a fallback (here 7) where fewer than three terms.
func TestBaselineDispersionsWorkedByHand(t *testing.T) {
	th := DefaultThresholds()
	prev := Scale{RequestDispersion: 7, ErrorDispersion: 7, RepeatDispersion: 7, FirstDispersion: 7}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*want }

	// Requests: bins at 1/s (60 s), 2/s (60 s), and 4/s over 30 s of 60
	// (exactly half covered, so a bin). Median rate 2; expected 120, 120,
	// 60; terms 60²/120 = 30, 0, 60²/60 = 60; median 30: 30/0.455.
	s := mkSpread(t0, 60, 60, 0, 0)
	s.Points = append(s.Points, mkSpread(t0, 60, 120, 0, 0).Points...)
	s.Points = append(s.Points, mkSpread(t0, 30, 120, 0, 0).Points...)
	s.Points = append(s.Points, make([]metrics.Point, 30)...)
	b := NewBaseline(s, nil, th)
	// Repeats unknown, first attempts are the requests: the same.
	if sc := b.measure(newCurrent(s), 60, th, prev); !near(sc.RequestDispersion, 30/0.455) || !near(sc.FirstDispersion, 30/0.455) {
		t.Errorf("request dispersion %v, first %v, want 30/0.455 = %v", sc.RequestDispersion, sc.FirstDispersion, 30/0.455)
	}

	// Mostly silence: two bins without requests, one with 60 (6 errors).
	// The median rate is 0, against which no bin is measured (none is
	// expected to have requests), and one bin has a share: no terms at
	// all, or one; every dispersion falls back.
	s = mkSpread(t0, 120, 0, 0, 0)
	s.Points = append(s.Points, mkSpread(t0, 60, 60, 6, 0).Points...)
	b = NewBaseline(s, nil, th)
	if sc := b.measure(newCurrent(s), 60, th, prev); sc.RequestDispersion != 7 || sc.FirstDispersion != 7 || sc.ErrorDispersion != 7 || sc.RepeatDispersion != 7 {
		t.Errorf("mostly silence: dispersions %v %v %v %v, want the fallback 7", sc.RequestDispersion, sc.FirstDispersion, sc.ErrorDispersion, sc.RepeatDispersion)
	}

	// Shares: bins of 100 requests with 10, 20 and 40 errors (and as
	// many repeats), and a bin with data and no requests, which has no
	// share. Median share 0.2, v = 100 * 0.2 * 0.8 = 16; terms 10²/16 =
	// 6.25, 0, 20²/16 = 25; median 6.25: 6.25/0.455.
	s = mkSpread(t0, 60, 100, 10, 10)
	s.Points = append(s.Points, mkSpread(t0, 60, 100, 20, 20).Points...)
	s.Points = append(s.Points, mkSpread(t0, 60, 100, 40, 40).Points...)
	s.Points = append(s.Points, mkSpread(t0, 60, 0, 0, 0).Points...)
	s.HasRepeats = true
	b = NewBaseline(s, nil, th)
	sc := b.measure(newCurrent(s), 60, th, prev)
	if !near(sc.ErrorDispersion, 6.25/0.455) || !near(sc.RepeatDispersion, 6.25/0.455) {
		t.Errorf("error dispersion %v, repeat dispersion %v, want 6.25/0.455 = %v", sc.ErrorDispersion, sc.RepeatDispersion, 6.25/0.455)
	}
}

// median: the middle value, the mean of the two middle ones for an even
// count, 0 for none.
func TestMedianOfOddEvenAndNone(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 7}, 6},
		{nil, 0},
	} {
		if got := median(append([]float64(nil), tc.xs...)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}
