package analysis

import "testing"

// Combine keeps what moved on the other routes: an anomalous finding, and
// an error share not blamed on the release because it had risen before it
// (the watch's ending tells of it, whichever route it was on); not a
// route's healthy or merely unjudged findings. An other route's
// anomaly makes the whole anomalous; its predated rise does not.
func TestCombineKeepsWhatMoved(t *testing.T) {
	lead := Verdict{Status: Healthy, Findings: []Finding{{Signal: ErrorShare, Status: Healthy, Route: "download"}}}
	predated := Finding{Signal: ErrorShare, Status: Inconclusive, Gap: GapBeforeRelease, Route: "login", Have: 0.03}
	quiet := Verdict{Status: Inconclusive, Findings: []Finding{
		{Signal: ErrorShare, Status: Inconclusive, Gap: GapFewRequests, Route: "index"},
		{Signal: RateCollapse, Status: Healthy, Route: "index"},
	}}
	login := Verdict{Status: Inconclusive, Findings: []Finding{predated, {Signal: RateCollapse, Status: Healthy, Route: "login"}}}

	got := Combine(lead, []Verdict{quiet, login})
	if got.Status != Healthy {
		t.Errorf("status %s, want the lead's (healthy): a predated rise elsewhere is no verdict", got.Status)
	}
	if len(got.Findings) != 2 || got.Findings[1] != predated {
		t.Errorf("findings %+v, want the lead's and login's predated error share", got.Findings)
	}

	broken := Verdict{Status: Anomalous, Findings: []Finding{{Signal: ErrorShare, Status: Anomalous, Route: "login"}}}
	if got := Combine(lead, []Verdict{quiet, broken}); got.Status != Anomalous || len(got.Findings) != 2 {
		t.Errorf("an other route's anomaly: %s with %+v", got.Status, got.Findings)
	}
}
