package notify

import (
	"strings"
	"testing"

	"github.com/relwatch/relwatch/analysis"
)

// A finding of one of several guarded routes says which route: in the
// summary, the reason and the status table; one of the app's only route
// does not.
func TestFindingsNameTheirRoute(t *testing.T) {
	f := analysis.Finding{Signal: analysis.ErrorShare, Status: analysis.Anomalous, Trigger: true, Mode: analysis.Relative, Baseline: 0.001, Current: 0.8}
	if s := Short(f); strings.Contains(s, " on ") {
		t.Errorf("Short of the only route names one: %q", s)
	}
	f.Route = "POST /login"
	for name, s := range map[string]string{"Short": Short(f), "Describe": Describe(f)} {
		if !strings.HasSuffix(s, " on POST /login") {
			t.Errorf("%s = %q, does not name the route", name, s)
		}
	}
	if sig, _, _, _ := Values(f); sig != "error share on POST /login" {
		t.Errorf("Values' signal = %q", sig)
	}
}
