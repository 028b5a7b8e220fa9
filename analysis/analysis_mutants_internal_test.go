package analysis

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Hand-worked tests of analysis.go at its boundaries: the graces Assess
// cuts the release at, the clusters the guardrails ask for without a
// baseline, and pastGuardrail's three bounds.

// Each signal is judged on the seconds after its own grace: 40 s of a
// release at the baseline's 10 requests a second (sigTen, no errors), the
// errors' grace 20 s, the traffic's 10 s. No window of th.Sustain (60 s)
// fits in either, and the quick ones (5, 15 s; 30 s in the traffic's)
// hold no strong effect: both are settling, and say on how many seconds,
// 40 − 20 = 20 for the error share, 40 − 10 = 30 for the collapse, each
// of 60 needed.
func TestAssessJudgesEachSignalAfterItsGrace(t *testing.T) {
	th := DefaultThresholds()
	v := Assess(sigTen(), mkSpread(t0, 40, 400, 0, 0), Grace{Errors: 20 * time.Second, Traffic: 10 * time.Second}, th)
	for _, tc := range []struct {
		sig  Signal
		have float64
	}{{ErrorShare, 20}, {RateCollapse, 30}} {
		f, ok := v.Finding(tc.sig)
		if !ok || f.Status != Inconclusive || f.Gap != GapSettling || f.Have != tc.have || f.Need != 60 {
			t.Errorf("%s: %v %s %s (have %v need %v), want settling on %v s of 60 (40 s less the grace)", tc.sig, ok, f.Status, f.Gap, f.Have, f.Need, tc.have)
		}
	}
}

// Without a usable baseline (100 active seconds, under th.MinBaseline's
// 120), the error share's guardrail (.05) asks for as many failing
// clusters in a row as the baseline's clusters make unlikely, but only
// where it had at least `clusters` (2) of them to learn from; fewer, and
// it asks for 2. The release: two whole, ended clusters of 4 s at 5
// requests a second, one error each second (.2, past .05), 20 requests
// each, under th.MinRequests (50) in every window: the clusters alone can
// make it anomalous. Needed (TestSigClustersNeededWorkedByHand's rule):
//   - no cluster, or 1 of 1 past (too few to learn a rate from): 2;
//   - 2 clusters, none past: 2;
//   - 2 of 2 past, exactly `clusters`: p = 3/4, 10; 2 of 8: p = .3, 3.
//
// Two failing clusters are anomalous where 2 are needed; where more are,
// every window is short of requests: inconclusive.
func TestAssessGuardrailClustersNeededFromTheBaseline(t *testing.T) {
	th := DefaultThresholds()
	release := sigSeries(120, func(i int) metrics.Point {
		if (i >= 30 && i < 34) || (i >= 74 && i < 78) {
			return sigReq(5, 1, 0)
		}
		return sigReq(0, 0, 0)
	})
	for _, tc := range []struct {
		clusters, past int
		want           Status
		gap            Gap
	}{
		{0, 0, Anomalous, GapNone},
		{1, 1, Anomalous, GapNone},
		{2, 0, Anomalous, GapNone},
		{2, 2, Inconclusive, GapFewRequests},
		{8, 2, Inconclusive, GapFewRequests},
	} {
		base := Baseline{Seconds: 3000, Active: 100, Requests: 1000, Errors: 10, Clusters: tc.clusters, ClustersPast: tc.past}
		v := Assess(base, release, Grace{}, th)
		f, _ := v.Finding(ErrorShare)
		if v.Mode != Absolute || f.Status != tc.want || f.Gap != tc.gap {
			t.Errorf("%d of %d baseline clusters past: %s mode, error share %s %q, want absolute, %s %q", tc.past, tc.clusters, v.Mode, f.Status, f.Gap, tc.want, tc.gap)
		}
	}
}

// pastGuardrail at its bounds. The relative finding is healthy; the
// release is 60 s of 20 requests a second, one an error (60 of 1,200:
// exactly .05, the guardrail; z 0, never anomalous), or one second of it
// without (59 of 1,200, .0492, under it). The baseline holds 10,000
// requests.
//   - A baseline share exactly at the guardrail (500 errors, .05) is an
//     incident: a release at the guardrail too is inconclusive (have .05,
//     need .05); 499 errors (.0499) is not one, the finding stays healthy.
//   - Past it (1,000 errors, .1): a release exactly at the guardrail is
//     not under it, inconclusive (have .1); one under it is healthy (the
//     incident is over).
//   - A guardrail of 0 is none: healthy whatever the baseline's share.
func TestPastGuardrailAtItsBounds(t *testing.T) {
	at := newCurrent(sigSeries(60, func(int) metrics.Point { return sigReq(20, 1, 0) }))
	under := newCurrent(sigSeries(60, func(i int) metrics.Point {
		if i == 0 {
			return sigReq(20, 0, 0)
		}
		return sigReq(20, 1, 0)
	}))
	off := DefaultThresholds()
	off.MaxErrorShare = 0
	for _, tc := range []struct {
		name       string
		errors     int64
		errs       current
		th         Thresholds
		want       Status
		have, need float64
	}{
		{"baseline at .05, release at .05", 500, at, DefaultThresholds(), Inconclusive, 0.05, 0.05},
		{"baseline at .0499, release at .05", 499, at, DefaultThresholds(), Healthy, 0, 0},
		{"baseline at .1, release at .05", 1000, at, DefaultThresholds(), Inconclusive, 0.1, 0.05},
		{"baseline at .1, release at .0492", 1000, under, DefaultThresholds(), Healthy, 0, 0},
		{"no guardrail, baseline at .1", 1000, at, off, Healthy, 0, 0},
	} {
		base := Baseline{Seconds: 1000, Active: 1000, Requests: 10000, Errors: tc.errors}
		f := pastGuardrail(Finding{Signal: ErrorShare, Status: Healthy}, base, tc.errs, tc.th)
		wantGap := GapNone
		if tc.want == Inconclusive {
			wantGap = GapIncidentBaseline
		}
		if f.Status != tc.want || f.Gap != wantGap || f.Have != tc.have || f.Need != tc.need {
			t.Errorf("%s: %s %q (have %v need %v), want %s %q (have %v need %v)", tc.name, f.Status, f.Gap, f.Have, f.Need, tc.want, wantGap, tc.have, tc.need)
		}
	}
}

// A baseline that is not Usable says which of its bounds it misses: too
// few seconds with traffic (100 of th.MinBaseline's 120), or, with the
// seconds there (150, or exactly 120), too few requests in them (150, one a second, where
// min_requests is 200). Either way the collapse is inconclusive, in its
// own units: seconds for the first, requests for the second.
func TestUnusableBaselineSaysWhatItLacks(t *testing.T) {
	th := DefaultThresholds()
	th.MinRequests = 200
	release := mkSpread(t0, 60, 600, 0, 0)
	for _, tc := range []struct {
		active, requests int
		gap              Gap
		have, need       float64
	}{
		{100, 5000, GapNoBaseline, 100, 120},
		{150, 150, GapThinBaseline, 150, 200},
		{120, 150, GapThinBaseline, 150, 200}, // exactly th.MinBaseline's seconds
		{0, 0, GapNoBaseline, 0, 120},
	} {
		base := Baseline{Seconds: 600, Active: tc.active, Requests: int64(tc.requests)}
		v := Assess(base, release, Grace{}, th)
		f, ok := v.Finding(RateCollapse)
		if !ok || f.Status != Inconclusive || f.Mode != Absolute || f.Gap != tc.gap || f.Have != tc.have || f.Need != tc.need {
			t.Errorf("%d s, %d requests: collapse %v %s %s (have %v need %v), want inconclusive %s, have %v need %v",
				tc.active, tc.requests, ok, f.Status, f.Gap, f.Have, f.Need, tc.gap, tc.have, tc.need)
		}
	}
}
