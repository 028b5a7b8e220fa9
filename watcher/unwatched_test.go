package watcher_test

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
)

// A deploy of a broken build, and a release on it three minutes later,
// both made while no worker ran (a restart, a Heroku API outage): the
// watch opens on the second, but the fault began under the deploy, which
// relwatch never watched. Its errors had risen before the second release
// was made, yet they are the deploy's: relwatch rolls back, once, to v41,
// the release before the broken build (a config change on it keeps the
// build: rolling back to v42 would keep the fault).
func TestARunMadeWhileNoWorkerRanIsJudgedFromItsFirstRelease(t *testing.T) {
	for _, tc := range []struct {
		name string
		slug string // v43's build ("": its own)
	}{
		{"config change on the build", herokusim.NamedSlug("crates-io", "build-42")},
		{"another deploy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1805, 5*time.Second)
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad", SlugID: herokusim.NamedSlug("crates-io", "build-42")}, 1800)
			r.release(herokusim.ReleaseSpec{Version: 43, Description: "Set RUST_LOG config vars", SlugID: tc.slug}, 1980)
			r.run(t, 1990, 2300)
			rbs := r.rollbacks()
			if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
				t.Fatalf("rollbacks %+v; events %v: want one, to v41, past v42's build", rbs, r.kinds())
			}
			if e := r.event(notify.Anomaly, 43); e == nil || factOf[notify.Anomalous](e).Origin != 42 || factOf[notify.Anomalous](e).OriginConfig {
				t.Fatalf("anomaly of v43: %+v: want the fault placed under v42, the build", e)
			}
		})
	}
}
