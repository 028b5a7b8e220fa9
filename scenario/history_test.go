package scenario

import (
	"context"
	"strings"
	"testing"
)

// A release that was really rolled back, exported and replayed: Heroku's
// recorded "Rollback to v41" is history, served as it happened, and never
// counted as relwatch's; relwatch's own rollback is reported with its own
// reason, in the order things happened; --check judges relwatch's alone.
func TestRecordedRollbackIsHistoryNotRelwatchs(t *testing.T) {
	run := func(t *testing.T, personAtS int) (*Scenario, Result) {
		t.Helper()
		sc, err := Load(demoDir) // v42 breaks downloads from 1830 s
		if err != nil {
			t.Fatal(err)
		}
		sc.Releases = append(sc.Releases, Release{Version: 43, AtS: personAtS, Description: "Rollback to v41", Status: "succeeded"})
		res, err := Run(context.Background(), sc, Options{Settings: DefaultSettings()})
		if err != nil {
			t.Fatal(err)
		}
		return sc, res
	}

	t.Run("the person 11 min late: relwatch rolled back first", func(t *testing.T) {
		sc, res := run(t, 2490)
		if len(res.Rollbacks) != 1 {
			t.Fatalf("rollbacks %+v: want relwatch's alone", res.Rollbacks)
		}
		rb := res.Rollbacks[0]
		if rb.Release != 42 || rb.To != 41 || rb.AtS > 1860 || !strings.HasPrefix(rb.Reason, "repeat share") {
			t.Fatalf("rollback %+v: want relwatch's of v42 to v41 within 30 s, with its reason", rb)
		}
		recorded := false
		for _, r := range res.Releases {
			recorded = recorded || r.Version == 43 && r.Description == "Rollback to v41" && r.CreatedAtS == 2490
		}
		if !recorded {
			t.Fatalf("releases %+v: the recorded rollback must be served as it happened", res.Releases)
		}
		if err := Check(sc, res); err != nil {
			t.Fatalf("check: %v", err)
		}
	})

	t.Run("the person before relwatch: relwatch did nothing, and is judged so", func(t *testing.T) {
		sc, res := run(t, 1835)
		if len(res.Rollbacks) != 0 {
			t.Fatalf("rollbacks %+v: the person's rollback is not relwatch's", res.Rollbacks)
		}
		if err := Check(sc, res); err == nil || !strings.Contains(err.Error(), "want exactly one rollback of v42, got 0") {
			t.Fatalf("check: %v: relwatch's own rollback is what a rollback expectation judges", err)
		}
	})
}
