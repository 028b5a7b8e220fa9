package watcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
)

// A fault found near the end of the watch; the rollback release's phase
// (two minutes) fails after the watch time ran out. The bad release is
// still live, and the announcement says relwatch tries again: it does,
// until its rounds are spent, however late in the watch the fault came.
func TestARollbackWhosePhaseFailsAfterTheWatchTimeIsTriedAgain(t *testing.T) {
	// The watch runs 1800-2400 s; the errors begin at 2340 s.
	r := newRig(t, 2340, 5*time.Second, herokusim.WithRollbackReleasePhase(2*time.Minute), herokusim.WithFailingRollbackPhase())
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy slow burn"}, 1800)
	r.run(t, 1790, 3200)
	failed := r.events(notify.RollbackFailed)
	if len(failed) == 0 {
		t.Fatalf("no rollback.failed: %v", r.kinds())
	}
	if first := failed[0]; !first.At.After(t0.Add(2400 * time.Second)) {
		t.Fatalf("the first round failed at %s, before the watch time ran out: the test asks for after", first.At.Sub(t0))
	}
	promised := strings.Contains(failed[0].Text(), "tries again")
	if rbs := r.rollbacks(); promised && len(rbs) < 2 {
		t.Fatalf("rollbacks %+v, events %v: the first round's phase failed, said %q, and no round came after", rbs, r.kinds(), failed[0].Text())
	}
	if rbs := r.rollbacks(); len(rbs) != 3 {
		t.Fatalf("rollbacks %+v, events %v: want 3 rounds while v42 is live and bad", rbs, r.kinds())
	}
}

// The same, with the worker restarted while the rollback release's phase
// runs and the watch time is over: the next worker follows the rollback,
// and when its phase fails, rolls back again.
func TestARollbackWhosePhaseFailsAfterARestartPastTheWatchTimeIsTriedAgain(t *testing.T) {
	db := openStore(t, sqliteState(t))
	r := newRig(t, 2340, 5*time.Second, herokusim.WithRollbackReleasePhase(2*time.Minute), herokusim.WithFailingRollbackPhase())
	withState(r, db)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy slow burn"}, 1800)
	r.run(t, 1790, 2410)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Status != "pending" {
		t.Fatalf("rollbacks %+v, events %v: want one, in its release phase, when the worker stops", rbs, r.kinds())
	}
	withState(r, db) // a restart
	r.run(t, 2415, 3200)
	if rbs := r.rollbacks(); len(rbs) < 2 {
		t.Fatalf("rollbacks %+v, events %v: the first round's phase failed and no round came after", rbs, r.kinds())
	}
}
