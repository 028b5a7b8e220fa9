// Package analysis judges a release's traffic against the traffic before it,
// and returns numbers: per signal, the baseline and current values, the
// samples, the test and its threshold. The words for people are notify's.
//
// Every signal is a comparison of two counts over two exposures: errors per
// request (error share), repeats per request (repeat share), first attempts
// (requests that are not repeats) per second (request rate). One test serves
// them all: given the baseline's x1 events over exposure t1 and the current
// window's x2 over t2, under "no change" x2 given x1+x2 is binomial with
// p = t2/(t1+t2). Real traffic is burstier than Poisson, so the variance is
// multiplied by a dispersion factor measured on the baseline at the same
// window length (quasi-Poisson).
//
// A signal is anomalous at a window length (a scale) only when the
// difference is significant (z at or past the threshold), large (past an
// absolute and a relative minimum effect), sampled (a minimum of requests),
// lasting (each third of the window shows it), and beyond the baseline's own
// bursts: the current window must exceed the worst window of the same length
// the baseline had, by a margin. So a burst no larger and no longer than the
// ones the app had before the release is never a verdict, while a small
// effect that lasts is caught at a longer scale.
//
// With too little baseline, absolute guardrails judge alone (the error share
// and the repeat share against fixed ceilings), and the verdict says so.
//
// Restart blips are expected: each signal is judged only after its grace
// (Grace) from the moment the release went live.
package analysis

import (
	"time"

	"github.com/relwatch/relwatch/evidence"
	"github.com/relwatch/relwatch/metrics"
)

// The record of a judgement is evidence's, one definition that the store
// keeps as it is (issue 18): analysis names it.
type (
	Signal  = evidence.Signal
	Status  = evidence.Status
	Mode    = evidence.Mode
	Gap     = evidence.Gap
	Finding = evidence.Finding
)

// The signals.
const (
	ErrorShare  Signal = "error_share"
	RepeatShare Signal = "repeat_share"
	// RateCollapse is judged on first attempts (requests that are not
	// repeats) where the source counts repeats: when retries stop because
	// a fix went out, total requests fall and first attempts do not.
	RateCollapse Signal = "request_rate_collapse"
	// RateRise is reported, never a rollback on its own: more traffic is
	// not by itself a fault.
	RateRise Signal = "request_rate_rise"
	// RetriesStopped is reported when the request rate fell because the
	// repeats did, first attempts holding: recovery, not a fault.
	RetriesStopped Signal = "retries_stopped"
	Probe          Signal = "probe"
)

// The statuses. Inconclusive never rolls back.
const (
	Healthy      Status = "healthy"
	Anomalous    Status = "anomalous"
	Inconclusive Status = "inconclusive"
)

// The modes.
const (
	Relative Mode = "relative" // the baseline: the same route before the release
	Absolute Mode = "absolute" // a fixed guardrail: there was too little baseline
)

// The gaps.
const (
	GapNone            Gap = ""
	GapSettling        Gap = "settling"          // seconds of traffic after the grace
	GapNoData          Gap = "no_data"           // seconds of the window the metrics cover
	GapFewRequests     Gap = "few_requests"      // requests in the window (expected ones, for a collapse)
	GapNoBaseline      Gap = "no_baseline"       // seconds of usable baseline
	GapThinBaseline    Gap = "thin_baseline"     // requests in the baseline (timed responses, for latency)
	GapProbeBefore     Gap = "probe_before"      // probe checks before the release
	GapProbeAfter      Gap = "probe_after"       // probe checks since the release
	GapProbeWasFailing Gap = "probe_was_failing" // the probe failed before the release: no evidence (Have: its pass share)
	GapSharedFall      Gap = "shared_fall"       // the app's other routes fell alike: lost data, not the release (Have: their ratio)
	// GapIncidentBaseline: the baseline is itself past the guardrail (Have:
	// its share, Need: the guardrail) and the release is too: not worse
	// than before, not healthy either.
	GapIncidentBaseline Gap = "incident_baseline"
	// GapBeforeRelease: the errors had already risen in the minute before
	// the release under watch was made (Have: their share then; Need: 1
	// when the app's other traffic had risen too, a platform-wide burst,
	// 0 when the route alone had): a fault the release did not start,
	// which a rollback would not end.
	GapBeforeRelease Gap = "before_release"
)

// Thresholds are the knobs of the analysis; DefaultThresholds documents the
// defaults and why.
type Thresholds struct {
	Z                   float64 // one-sided z a difference must reach
	MinRequests         int64   // smallest sample (requests, or expected requests) to judge
	ErrorShareIncrease  float64 // absolute rise of the error share (0.01 = one point)
	ErrorShareRatio     float64 // relative rise of the error share
	RepeatShareIncrease float64 // absolute rise of the repeat share
	RepeatShareRatio    float64 // relative rise of the repeat share
	RateRiseRatio       float64 // rate at or above baseline times this is a rise
	RateCollapseRatio   float64 // first-attempt rate at or below baseline times this is a collapse
	// Sustain is the window an ordinary effect must fill; a strong one
	// (QuickFactor times the minimum effect and the baseline's own worst
	// window) is trusted on windows down to a quarter of it.
	Sustain     time.Duration
	QuickFactor float64
	// QuickWindow is the shortest window a strong, steady effect is
	// trusted on, below a quarter of Sustain (a retry storm's first
	// seconds); 0: none below the quarter.
	QuickWindow   time.Duration
	MaxWindow     time.Duration // longest window, for thin traffic and small effects
	MinCoverage   float64       // share of seconds that must have data, in a window and over a watch
	MinBaseline   time.Duration // usable baseline needed to judge against it; less: guardrails alone
	ProbeFailures int           // consecutive failed probes after the release that count as a fault
	// BurstMargin: the current window's excess over the baseline must be
	// at least this many times the excess of the baseline's own worst
	// window of the same length.
	BurstMargin float64
	// MaxErrorShare and MaxRepeatShare are the absolute guardrails that
	// judge alone when there is too little baseline.
	MaxErrorShare  float64
	MaxRepeatShare float64
	// LatencyRatio and LatencyIncrease are the minimum rise of a latency
	// quantile: both the ratio and the amount (a route at 20 ms is not
	// slower for 30 ms more; one at 2 s is for 1 s more).
	LatencyRatio    float64
	LatencyIncrease time.Duration
}

// DefaultThresholds are the defaults config.toml documents.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Z:                   4,
		MinRequests:         50,
		ErrorShareIncrease:  0.005,
		ErrorShareRatio:     2,
		RepeatShareIncrease: 0.10,
		RepeatShareRatio:    1.5,
		RateRiseRatio:       1.5,
		RateCollapseRatio:   0.5,
		Sustain:             60 * time.Second,
		QuickFactor:         3,
		QuickWindow:         5 * time.Second,
		MaxWindow:           10 * time.Minute,
		MinCoverage:         0.5,
		MinBaseline:         2 * time.Minute,
		ProbeFailures:       3,
		BurstMargin:         2,
		MaxErrorShare:       0.05,
		MaxRepeatShare:      0.7,
		LatencyRatio:        1.5,
		LatencyIncrease:     50 * time.Millisecond,
	}
}

// Interval is a span of time, [From, To).
type Interval struct{ From, To time.Time }

// Contains reports whether t is in the interval.
func (iv Interval) Contains(t time.Time) bool { return !t.Before(iv.From) && t.Before(iv.To) }

// AnyContains reports whether t is in any of ivs.
func AnyContains(ivs []Interval, t time.Time) bool {
	for _, iv := range ivs {
		if iv.Contains(t) {
			return true
		}
	}
	return false
}

// Verdict is the analysis of one moment: per signal, and overall.
type Verdict struct {
	Status   Status    `json:"status"`
	Mode     Mode      `json:"mode"`
	Findings []Finding `json:"findings"`
}

// Fired returns the anomalous findings that may trigger a rollback.
func (v Verdict) Fired() []Finding {
	var out []Finding
	for _, f := range v.Findings {
		if f.Trigger && f.Status == Anomalous {
			out = append(out, f)
		}
	}
	return out
}

// Finding returns the finding for sig, if there is one.
func (v Verdict) Finding(sig Signal) (Finding, bool) {
	for _, f := range v.Findings {
		if f.Signal == sig {
			return f, true
		}
	}
	return Finding{}, false
}

// With returns v with f added, its status recomputed.
func (v Verdict) With(f Finding) Verdict {
	v.Findings = append(append([]Finding(nil), v.Findings...), f)
	return v.settle()
}

// settle sets the verdict's status from its trigger findings: anomalous if
// any is, else inconclusive if any is, else healthy.
func (v Verdict) settle() Verdict {
	v.Status = Healthy
	for _, f := range v.Findings {
		if !f.Trigger {
			continue
		}
		switch f.Status {
		case Anomalous:
			v.Status = Anomalous
		case Inconclusive:
			if v.Status == Healthy {
				v.Status = Inconclusive
			}
		}
	}
	return v
}

// Grace is how long after a release goes live each kind of signal is left
// alone. Restarting every dyno gives router errors for as long as the new
// dynos take to boot (Errors); the request rate and the retry signature
// settle sooner (Traffic).
type Grace struct {
	Errors  time.Duration
	Traffic time.Duration
}

// Assess judges sinceLive, the traffic since the release went live, against
// base. The error share is judged after grace.Errors, the other signals
// after grace.Traffic. A baseline with less than th.MinBaseline of data (or
// th.MinRequests requests) is not compared with: the absolute guardrails
// judge alone.
func Assess(base Baseline, sinceLive metrics.Series, grace Grace, th Thresholds) Verdict {
	all := newCurrent(sinceLive)
	errs := all.from(int(grace.Errors / time.Second))
	traffic := all.from(int(grace.Traffic / time.Second))
	hasRepeats := base.HasRepeats && sinceLive.HasRepeats
	// The repeat share is judged on the traffic less the retries of the
	// restart's router errors (dynos booting for longer than the traffic's
	// grace): those are the restart's, and the error share has its grace.
	repeats := traffic
	if explained, ok := withoutRetriesOfErrors(sinceLive, int(grace.Errors/time.Second)); ok && hasRepeats {
		repeats = newCurrent(explained).from(int(grace.Traffic / time.Second))
	}

	if !base.Usable(th) {
		v := Verdict{Mode: Absolute}
		// Too little baseline for its rates, but its clusters (CI builds
		// at night) still say how often one fails past the guardrail.
		need := clusters
		if base.Clusters >= clusters {
			need = clustersNeeded(base)
		}
		v.Findings = append(v.Findings, guardrail(ErrorShare, errs, th.MaxErrorShare, th, countErrors, need))
		if hasRepeats {
			v.Findings = append(v.Findings, guardrail(RepeatShare, repeats, th.MaxRepeatShare, th, countRepeats, need))
		}
		v.Findings = append(v.Findings, unusable(base, th))
		return v.settle()
	}
	v := Verdict{Mode: Relative}
	v.Findings = append(v.Findings, pastGuardrail(shareFinding(ErrorShare, base, errs, th, th.ErrorShareIncrease, th.ErrorShareRatio, countErrors, 0),
		base, errs, th))
	if hasRepeats {
		v.Findings = append(v.Findings, shareFinding(RepeatShare, base, repeats, th, th.RepeatShareIncrease, th.RepeatShareRatio, countRepeats, th.MaxRepeatShare))
	}
	collapse := collapseFinding(base, traffic, th, hasRepeats)
	v.Findings = append(v.Findings, collapse)
	if hasRepeats && collapse.Status == Healthy {
		if f, ok := retriesStopped(base, traffic, th, collapse); ok {
			v.Findings = append(v.Findings, f)
		}
	}
	if f, ok := riseFinding(base, traffic, th); ok {
		v.Findings = append(v.Findings, f)
	}
	if base.Latency != nil && sinceLive.HasLatency {
		// Cold dynos answer slowly as long as they boot: the latency
		// has the errors' grace.
		v.Findings = append(v.Findings, latencyFindings(base, errs, th)...)
	}
	return v.settle()
}

// pastGuardrail keeps a baseline that is itself an incident (its error
// share past the guardrail, with no healthy stretch to leave it for) from
// passing a release as healthy: judged against it, errors as bad as
// before look normal. The guardrail judges too: a release whose errors are
// past it, and no worse than the baseline's, is inconclusive
// (GapIncidentBaseline), never healthy; one worse than the baseline is
// anomalous as before, one under the guardrail healthy.
func pastGuardrail(f Finding, base Baseline, errs current, th Thresholds) Finding {
	if f.Status != Healthy || base.Requests == 0 || th.MaxErrorShare <= 0 {
		return f
	}
	share := float64(base.Errors) / float64(base.Requests)
	if share < th.MaxErrorShare {
		return f
	}
	g := guardrail(ErrorShare, errs, th.MaxErrorShare, th, countErrors, clusters)
	if g.Current < th.MaxErrorShare && g.Status != Anomalous {
		return f // under the guardrail: the incident is over
	}
	f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapIncidentBaseline, share, th.MaxErrorShare
	return f
}

// unusable is the rate collapse's finding on a baseline that is not
// Usable: too few seconds with traffic, else too few requests in them.
func unusable(base Baseline, th Thresholds) Finding {
	f := Finding{Signal: RateCollapse, Status: Inconclusive, Mode: Absolute, ZThreshold: th.Z,
		Gap: GapNoBaseline, Have: float64(base.Active), Need: th.MinBaseline.Seconds()}
	if f.Have >= f.Need {
		f.Gap, f.Have, f.Need = GapThinBaseline, float64(base.Requests), float64(th.MinRequests)
	}
	return f
}
