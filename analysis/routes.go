package analysis

import "math"

// ZFor is the z each of m routes' tests must reach so that the m of them
// together are wrong no more often than one test at z: the one-sided tail
// of z shared among the m (Bonferroni). One route keeps z; 50 routes at
// z 4 need 4.85.
func ZFor(z float64, m int) float64 {
	if m <= 1 {
		return z
	}
	tail := 0.5 * math.Erfc(z/math.Sqrt2) / float64(m)
	return math.Sqrt2 * math.Erfcinv(2*tail)
}

// Routed returns v with each of its findings tagged with route.
func (v Verdict) Routed(route string) Verdict {
	out := v
	out.Findings = make([]Finding, len(v.Findings))
	for i, f := range v.Findings {
		f.Route = route
		out.Findings[i] = f
	}
	return out
}

// Combine judges the routes of an app together: lead is the leading
// route's verdict, whole; others are the other routes'. The release is
// anomalous when any route is; otherwise it is as the leading route is: a
// route too quiet to judge neither holds back a healthy ending nor makes
// one. Of the other routes only what moved is kept (their anomalous
// findings, and an error share not blamed on the release because it had
// risen before it, which the watch's ending tells of), so a verdict over
// 50 routes stays the size of one.
func Combine(lead Verdict, others []Verdict) Verdict {
	out := lead
	out.Findings = append([]Finding(nil), lead.Findings...)
	for _, v := range others {
		for _, f := range v.Findings {
			if f.Status == Anomalous || f.Gap == GapBeforeRelease {
				out.Findings = append(out.Findings, f)
			}
		}
		if v.Status == Anomalous {
			out.Status = Anomalous
		}
	}
	return out
}
