package notify

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/relwatch/relwatch/analysis"
)

// The words for the analysis's numbers: analysis returns findings, these
// say them.

// Reason is a verdict in one line: the signals that decided first, then
// what else was seen, as context.
func Reason(v analysis.Verdict) string {
	switch v.Status {
	case analysis.Anomalous:
		var parts []string
		for _, f := range v.Fired() {
			parts = append(parts, Describe(f))
		}
		if ctx := contextOf(v); ctx != "" {
			parts = append(parts, "context: "+ctx)
		}
		return strings.Join(parts, "; ")
	case analysis.Inconclusive:
		var parts []string
		for _, f := range v.Findings {
			if f.Trigger && f.Status == analysis.Inconclusive {
				// Whose: where several routes are guarded, another
				// route's finding must not read as the leading one's.
				parts = append(parts, onRoute(f, signalName(f))+" not judged: "+Gap(f))
			}
		}
		return strings.Join(parts, "; ")
	}
	s := "all signals within their baseline"
	if v.Mode == analysis.Absolute {
		s = "within the absolute guardrails (" + guardrails(v) + ")"
	} else if values := healthyValues(v); values != "" {
		s += " (" + values + ")"
	}
	if ctx := contextOf(v); ctx != "" {
		s += "; context: " + ctx
	}
	return s
}

// healthyValues are a healthy verdict's numbers: each signal judged, now
// against before, so a healthy ending says what it saw.
func healthyValues(v analysis.Verdict) string {
	var parts []string
	for _, f := range v.Findings {
		if f.Trigger && f.Status == analysis.Healthy && f.Signal != analysis.Probe {
			signal, now, before, _ := Values(f)
			parts = append(parts, fmt.Sprintf("%s %s, was %s", signal, now, before))
		}
	}
	return strings.Join(parts, "; ")
}

// Summary is a verdict in a few words: the values of the signals that
// decided, against the baseline (or the guardrail).
func Summary(v analysis.Verdict) string {
	if v.Status != analysis.Anomalous {
		return Reason(v)
	}
	var parts []string
	for _, f := range v.Fired() {
		parts = append(parts, Short(f))
	}
	return strings.Join(parts, ", ")
}

// contextOf is what the verdict saw beside its triggers: a rate rise (never
// a fault on its own), retries that stopped (recovery).
func contextOf(v analysis.Verdict) string {
	var parts []string
	for _, f := range v.Findings {
		if isContext(f) {
			parts = append(parts, Describe(f))
		}
	}
	return strings.Join(parts, "; ")
}

// isContext reports whether a finding is context: seen, worth saying, but
// never a reason to roll back on its own.
func isContext(f analysis.Finding) bool {
	return !f.Trigger && ((f.Signal == analysis.RateRise && f.Status == analysis.Anomalous) || f.Signal == analysis.RetriesStopped)
}

func guardrails(v analysis.Verdict) string {
	var parts []string
	baseline := ""
	for _, f := range v.Findings {
		switch {
		case f.Mode == analysis.Absolute && f.Trigger:
			parts = append(parts, fmt.Sprintf("%s under %s", signalName(f), Percent(f.Baseline)))
		case f.Gap == analysis.GapNoBaseline, f.Gap == analysis.GapThinBaseline && f.Signal == analysis.RateCollapse:
			baseline = "; " + Gap(f)
		}
	}
	return strings.Join(parts, ", ") + baseline
}

func signalName(f analysis.Finding) string {
	switch f.Signal {
	case analysis.RateCollapse, analysis.RateRise:
		if f.FirstAttempts && f.Signal == analysis.RateCollapse {
			return "first attempts"
		}
		return "request rate"
	case analysis.Probe:
		return "download probe"
	}
	if q, ok := analysis.LatencyQuantile(f.Signal); ok {
		return fmt.Sprintf("p%g latency", 100*q)
	}
	return strings.ReplaceAll(string(f.Signal), "_", " ")
}

// isLatency reports whether f is a latency quantile's.
func isLatency(f analysis.Finding) bool {
	_, ok := analysis.LatencyQuantile(f.Signal)
	return ok
}

// Short is a finding's values in a few words.
func Short(f analysis.Finding) string { return onRoute(f, shortText(f)) }

// onRoute says which route a finding is of, where the app guards several.
func onRoute(f analysis.Finding, s string) string {
	if f.Route == "" {
		return s
	}
	return s + " on " + f.Route
}

func shortText(f analysis.Finding) string {
	if isLatency(f) {
		return fmt.Sprintf("%s %s (was %s)", signalName(f), Latency(f.Current), Latency(f.Baseline))
	}
	switch f.Signal {
	case analysis.ErrorShare, analysis.RepeatShare:
		if f.Mode == analysis.Absolute {
			return fmt.Sprintf("%s %s (guardrail %s)", signalName(f), Percent(f.Current), Percent(f.Baseline))
		}
		return fmt.Sprintf("%s %s (was %s)", signalName(f), Percent(f.Current), Percent(f.Baseline))
	case analysis.RateCollapse:
		return fmt.Sprintf("%s down to %s/s (was %s/s)", signalName(f), rate(f.Current), rate(f.Baseline))
	case analysis.RetriesStopped:
		return "retries stopped: first attempts unchanged"
	case analysis.Probe:
		return fmt.Sprintf("download probe failing %d times in a row (passed %s before)", f.CurrentSample, Percent(f.Baseline))
	}
	return fmt.Sprintf("request rate up to %s/s (was %s/s)", rate(f.Current), rate(f.Baseline))
}

// Values is a finding in a table's cells: its signal, its value now and
// before the release (the guardrail, when judged without a baseline), and
// its verdict: "anomalous", "healthy", "not judged: why", or "context" for
// what never rolls back on its own.
func Values(f analysis.Finding) (signal, now, before, verdict string) {
	signal, verdict = onRoute(f, signalName(f)), string(f.Status)
	switch f.Signal {
	case analysis.ErrorShare, analysis.RepeatShare:
		now, before = Percent(f.Current), Percent(f.Baseline)
		if f.Mode == analysis.Absolute {
			before = "guardrail " + before
		}
	case analysis.Probe:
		now, before = fmt.Sprintf("%d failed in a row", f.CurrentSample), "passed "+Percent(f.Baseline)
	case analysis.RetriesStopped:
		signal = onRoute(f, "retries stopped")
		now, before = rate(f.TotalCurrent)+"/s", rate(f.TotalBaseline)+"/s"
	case analysis.LatencyP50, analysis.LatencyP95, analysis.LatencyP99:
		now, before = Latency(f.Current), Latency(f.Baseline)
	default:
		now, before = rate(f.Current)+"/s", rate(f.Baseline)+"/s"
	}
	switch {
	case f.Status == analysis.Inconclusive:
		verdict = "not judged: " + gapShort(f)
		if f.CurrentSample == 0 && f.Current == 0 {
			now = "-"
		}
		if f.BaselineSample == 0 && f.Baseline == 0 {
			before = "-"
		}
	case isContext(f):
		verdict = "context: never rolls back on its own"
	}
	return signal, now, before, verdict
}

// Describe says what a finding saw: the values, the samples, the test.
func Describe(f analysis.Finding) string { return onRoute(f, describeText(f)) }

func describeText(f analysis.Finding) string {
	win := Span(f.To.Sub(f.From).Round(time.Second))
	switch f.Signal {
	case analysis.ErrorShare, analysis.RepeatShare:
		if f.Mode == analysis.Absolute {
			return fmt.Sprintf("%s %s over the last %s (%s requests), past the %s guardrail (absolute: too little baseline to compare with); z=%.1f, threshold %.1f",
				signalName(f), Percent(f.Current), win, Thousands(f.CurrentSample), Percent(f.Baseline), f.Z, f.ZThreshold)
		}
		return fmt.Sprintf("%s %s over the last %s (%s requests) vs %s before the release (%s requests); z=%.1f, threshold %.1f",
			signalName(f), Percent(f.Current), win, Thousands(f.CurrentSample), Percent(f.Baseline), Thousands(f.BaselineSample), f.Z, f.ZThreshold)
	case analysis.Probe:
		return fmt.Sprintf("the download probe failed its last %d checks (%s) after passing %s of %d before the release",
			f.CurrentSample, f.Detail, Percent(f.Baseline), f.BaselineSample)
	case analysis.RetriesStopped:
		return fmt.Sprintf("retries stopped: first attempts unchanged (%s/s vs %s/s before the release) while requests fell to %s/s from %s/s",
			rate(f.Current), rate(f.Baseline), rate(f.TotalCurrent), rate(f.TotalBaseline))
	case analysis.LatencyP50, analysis.LatencyP95, analysis.LatencyP99:
		return fmt.Sprintf("%s %s over the last %s vs %s before the release (x%.2f; %s responses vs %s); z=%.1f, threshold %.1f",
			signalName(f), Latency(f.Current), win, Latency(f.Baseline), ratioOf(f), Thousands(f.CurrentSample), Thousands(f.BaselineSample), f.Z, f.ZThreshold)
	}
	verb := "rose"
	if f.Signal == analysis.RateCollapse {
		verb = "collapsed"
	}
	return fmt.Sprintf("%s %s to %s/s over the last %s vs %s/s before the release (x%.2f); z=%.1f, threshold %.1f",
		signalName(f), verb, rate(f.Current), win, rate(f.Baseline), ratioOf(f), f.Z, f.ZThreshold)
}

// Gap says why a finding was not judged.
func Gap(f analysis.Finding) string {
	switch f.Gap {
	case analysis.GapSettling:
		return fmt.Sprintf("settling: %.0f s of traffic after the restart grace, need %.0f s", f.Have, f.Need)
	case analysis.GapNoData:
		return fmt.Sprintf("no data: metrics cover %.0f s of the last %s, need %.0f s; no data is no evidence", f.Have, Span(f.To.Sub(f.From)), f.Need)
	case analysis.GapFewRequests:
		if f.Signal == analysis.RateCollapse {
			return fmt.Sprintf("%.0f requests expected in the window, need %.0f", f.Have, f.Need)
		}
		if isLatency(f) {
			return fmt.Sprintf("%.0f timed responses in the window, need %.0f", f.Have, f.Need)
		}
		return fmt.Sprintf("%.0f requests in the window, need %.0f", f.Have, f.Need)
	case analysis.GapNoBaseline:
		return fmt.Sprintf("no usable baseline: %.0f s with traffic before the release, need %s", f.Have, Span(time.Duration(f.Need)*time.Second))
	case analysis.GapThinBaseline:
		if isLatency(f) {
			return fmt.Sprintf("no usable baseline: %.0f timed responses before the release, need %.0f", f.Have, f.Need)
		}
		return fmt.Sprintf("no usable baseline: %.0f requests before the release, need %.0f", f.Have, f.Need)
	case analysis.GapProbeBefore:
		return fmt.Sprintf("%.0f probe checks before the release, need %.0f", f.Have, f.Need)
	case analysis.GapProbeAfter:
		return fmt.Sprintf("%.0f probe checks since the release, need %.0f", f.Have, f.Need)
	case analysis.GapProbeWasFailing:
		return fmt.Sprintf("the probe was failing before the release (passed %s): no evidence about it", Percent(f.Have))
	case analysis.GapSharedFall:
		return fmt.Sprintf("the app's other routes fell alike (x%.2f): lost log lines or the platform, not the release; no evidence", f.Have)
	case analysis.GapBeforeRelease:
		where := "on this route alone: a dependency of the route"
		if f.Need == 1 {
			where = "on the app's other routes too: the platform or a shared dependency"
		}
		return fmt.Sprintf("errors had already risen (%s) in the minute before the release was made, %s, not the release; a rollback would not end it", Percent(f.Have), where)
	case analysis.GapIncidentBaseline:
		return fmt.Sprintf("the baseline is itself an incident (%s errors, past the %s guardrail) and the release is past the guardrail too (%s): no worse than before, not healthy",
			Percent(f.Have), Percent(f.Need), Percent(f.Current))
	}
	return "not judged"
}

// Predated is an ending's word on errors the watch did not blame on the
// release because they had risen before it (analysis.GapBeforeRelease).
func Predated(f analysis.Finding) string {
	return fmt.Sprintf("during the watch, %s was not blamed on the release: %s", onRoute(f, signalName(f)), Gap(f))
}

// gapShort is Gap in a few words, for a table.
func gapShort(f analysis.Finding) string {
	switch f.Gap {
	case analysis.GapSettling:
		return fmt.Sprintf("settling (%.0f of %.0f s)", f.Have, f.Need)
	case analysis.GapNoData:
		return fmt.Sprintf("no data (%.0f of %.0f s)", f.Have, f.Need)
	case analysis.GapFewRequests:
		return fmt.Sprintf("%.0f of %.0f requests", f.Have, f.Need)
	case analysis.GapNoBaseline:
		return fmt.Sprintf("no baseline (%.0f of %.0f s)", f.Have, f.Need)
	case analysis.GapThinBaseline:
		if isLatency(f) {
			return fmt.Sprintf("no baseline (%.0f of %.0f responses)", f.Have, f.Need)
		}
		return fmt.Sprintf("no baseline (%.0f of %.0f requests)", f.Have, f.Need)
	case analysis.GapProbeBefore:
		return fmt.Sprintf("%.0f of %.0f checks before", f.Have, f.Need)
	case analysis.GapProbeAfter:
		return fmt.Sprintf("%.0f of %.0f checks since", f.Have, f.Need)
	case analysis.GapProbeWasFailing:
		return "failing before the release"
	case analysis.GapSharedFall:
		return fmt.Sprintf("every route fell (x%.2f)", f.Have)
	case analysis.GapBeforeRelease:
		if f.Need == 1 {
			return "risen everywhere before the release"
		}
		return "risen before the release"
	case analysis.GapIncidentBaseline:
		return fmt.Sprintf("past the %s guardrail, as before", Percent(f.Need))
	}
	return "no reason given"
}

// evidenceLine is one signal's line under a verdict in chat.
func evidenceLine(f analysis.Finding) string {
	if f.Status == analysis.Inconclusive {
		return fmt.Sprintf("%s: not judged: %s", signalName(f), Gap(f))
	}
	switch f.Signal {
	case analysis.Probe, analysis.RetriesStopped:
		return Describe(f)
	case analysis.LatencyP50, analysis.LatencyP95, analysis.LatencyP99:
		return fmt.Sprintf("%s: %s now vs %s before (%s vs %s responses; z=%.1f over the baseline's spread, threshold %.1f; min. effect x%.2f and +%s; slowest %s before: %s)",
			signalName(f), Latency(f.Current), Latency(f.Baseline), Thousands(f.CurrentSample), Thousands(f.BaselineSample),
			f.Z, f.ZThreshold, f.MinRatio, Latency(f.MinIncrease), Span(f.To.Sub(f.From)), Latency(f.Burst))
	case analysis.ErrorShare, analysis.RepeatShare:
		if f.Mode == analysis.Absolute {
			return fmt.Sprintf("%s: %s now, guardrail %s (absolute: too little baseline); %s requests; z=%.1f, threshold %.1f",
				signalName(f), Percent(f.Current), Percent(f.Baseline), Thousands(f.CurrentSample), f.Z, f.ZThreshold)
		}
		return fmt.Sprintf("%s: %s now vs %s before (%s vs %s requests; z=%.1f, threshold %.1f; min. effect +%s and x%.2f; worst %s before: %s)",
			signalName(f), Percent(f.Current), Percent(f.Baseline), Thousands(f.CurrentSample), Thousands(f.BaselineSample),
			f.Z, f.ZThreshold, Percent(f.MinIncrease), f.MinRatio, Span(f.To.Sub(f.From)), Percent(f.Burst))
	}
	return fmt.Sprintf("%s: %s/s now vs %s/s before (%s requests over %d s vs %s over %d s; z=%.1f, threshold %.1f; min. effect x%.2f)",
		signalName(f), rate(f.Current), rate(f.Baseline), Thousands(f.CurrentSample), f.CurrentSeconds,
		Thousands(f.BaselineSample), f.BaselineSeconds, f.Z, f.ZThreshold, f.MinRatio)
}

// ratioOf is a finding's current value over its baseline (0 without one).
func ratioOf(f analysis.Finding) float64 {
	if f.Baseline > 0 {
		return f.Current / f.Baseline
	}
	return 0
}

// Latency writes a response time given in seconds as a person would:
// 310 ms, 4.2 ms, 2.4 s, 31 s.
func Latency(sec float64) string {
	switch ms := sec * 1000; {
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 999.5:
		return fmt.Sprintf("%.0f ms", ms)
	case sec < 9.95:
		return fmt.Sprintf("%.1f s", sec)
	}
	return fmt.Sprintf("%.0f s", sec)
}

// rate writes requests per second with a tenth, and thousands separated.
func rate(r float64) string {
	tenths := int64(math.Round(r * 10))
	return fmt.Sprintf("%s.%d", Thousands(tenths/10), tenths%10)
}

// Thousands writes n with thousands separators: 2,163,865.
func Thousands(n int64) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Percent writes a share as a percentage, with more digits when it is tiny.
func Percent(x float64) string {
	if x < 0.001 && x > 0 {
		return fmt.Sprintf("%.3f%%", 100*x)
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

// Unfit is why a release is no automatic rollback target.
type Unfit int

// The reasons.
const (
	WasAnomalous     Unfit = iota // judged anomalous when it was live
	WasRolledBack                 // rolled back before (n: by which release)
	QuarantinedBuild              // its build was rolled back from release n
	NeverJudged                   // replaced n seconds after going live, before it could be judged
	LiveSinceFault                // live since the fault began (under release n)
	FaultyBuild                   // runs the build the fault began under (release n)
)

// NotATarget says why a release is no automatic rollback target.
func NotATarget(why Unfit, n int) string {
	switch why {
	case WasAnomalous:
		return "it was judged anomalous"
	case WasRolledBack:
		return fmt.Sprintf("it was rolled back (v%d)", n)
	case QuarantinedBuild:
		return fmt.Sprintf("its build was rolled back from v%d", n)
	case LiveSinceFault:
		return fmt.Sprintf("it was live since the fault began under v%d", n)
	case FaultyBuild:
		return fmt.Sprintf("it runs the build the fault began under (v%d)", n)
	}
	return fmt.Sprintf("it was replaced %d s after going live, before it could be judged", n)
}
