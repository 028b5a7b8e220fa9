package analysis

import "time"

// ProbeResult is one synthetic download check.
type ProbeResult struct {
	At  time.Time
	OK  bool
	Err string
}

// AssessProbe judges the download probe: anomalous when it passed before the
// release (at least 3 checks, 80% of them, the last one included) and its
// last th.ProbeFailures checks since all failed. A probe that was failing
// already says nothing about this release.
func AssessProbe(before, after []ProbeResult, th Thresholds) Finding {
	need := max(1, th.ProbeFailures)
	f := Finding{Signal: Probe, Trigger: true, Mode: Relative, BaselineSample: int64(len(before)), ZThreshold: th.Z}
	passed := 0
	for _, r := range before {
		if r.OK {
			passed++
		}
	}
	if len(before) > 0 {
		f.Baseline = float64(passed) / float64(len(before))
	}
	switch {
	case len(before) < 3:
		f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapProbeBefore, float64(len(before)), 3
		return f
	case f.Baseline < 0.8 || !before[len(before)-1].OK:
		f.Status, f.Gap, f.Have, f.Trigger = Healthy, GapProbeWasFailing, f.Baseline, false
		return f
	case len(after) < need:
		f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapProbeAfter, float64(len(after)), float64(need)
		return f
	}
	last := after[len(after)-need:]
	f.From, f.To = last[0].At, last[len(last)-1].At
	f.CurrentSample = int64(need)
	f.Status = Anomalous
	for _, r := range last {
		if r.OK {
			f.Status = Healthy
			f.Current++
		}
	}
	f.Current /= float64(need)
	if f.Status == Anomalous {
		f.Detail = last[len(last)-1].Err
	}
	return f
}
