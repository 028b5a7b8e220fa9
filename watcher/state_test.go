package watcher_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

func sqliteState(t *testing.T) string { return filepath.Join(t.TempDir(), "state.db") }

func postgresState(t *testing.T) string { return testenv.Postgres(t) }

func openStore(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// withState rebuilds the rig's watcher as a fresh worker on db.
func withState(r *rig, db *store.DB) {
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
	})
}

func TestOverridesAreCarriedOutWithinATick(t *testing.T) {
	db := openStore(t, sqliteState(t))
	ctx := context.Background()
	r := newRig(t, 0, 5*time.Second) // a healthy release
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, db)
	r.run(t, 1795, 1810)

	db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration"})
	r.run(t, 1811, 1811)
	if k := r.kinds(); k[len(k)-1] != string(notify.Paused) {
		t.Fatalf("events %v: the pause was not announced at the next tick", k)
	}
	db.Approve(ctx, "crates-io", 42, "ana", "checked by hand")
	r.run(t, 1812, 1812)
	k := r.kinds()
	if k[len(k)-2] != string(notify.Approved) || k[len(k)-1] != string(notify.WatchHealthy) {
		t.Fatalf("events %v: approval must be announced and end the watch healthy", k)
	}
	if row, _, _ := db.LatestWatch(ctx, "crates-io"); row.State != watcher.StateHealthy {
		t.Fatalf("stored watch state %q", row.State)
	}

	// A person's rollback goes through the guarded path and the journal.
	db.RequestRollback(ctx, "crates-io", 41, "ben", "rolling back by hand")
	r.run(t, 1813, 1813)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v", rbs)
	}
	j, _ := db.Journal(ctx, "crates-io", false, 5)
	if len(j) != 1 || j[0].Outcome != "done" || j[0].By != "ben" || j[0].Created != rbs[0].Version {
		t.Fatalf("journal %+v", j)
	}
	if reqs, _ := db.PendingRequests(ctx, "crates-io"); len(reqs) != 0 {
		t.Fatalf("requests left: %+v", reqs)
	}
	var started *notify.Event
	for _, e := range r.rec.Events() {
		if e.Kind == notify.RollbackStarted {
			started = &e
		}
	}
	if started == nil || !strings.Contains(started.Text(), "requested by ben: rolling back by hand") {
		t.Fatalf("rollback.started %+v", started)
	}
}

func TestKillDuringRollbackSQLite(t *testing.T) { killDuringRollback(t, sqliteState(t)) }

func TestIntegrationPostgresKillDuringRollback(t *testing.T) { killDuringRollback(t, postgresState(t)) }

// killDuringRollback stops a worker right after Heroku made the rollback and
// before the journal says so; a new worker on the same state must find the
// rollback, announce it, and never make a second one.
func killDuringRollback(t *testing.T, dsn string) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	first := openStore(t, dsn)
	withState(r, first)
	r.run(t, 1790, 1844)

	// The tick that rolls back dies between the POST and the journal write.
	// (runtime.Goexit ends the goroutine ticking the app right there, as a
	// SIGKILL ends the process: nothing after it runs.)
	r.now = t0.Add(1845 * time.Second)
	r.w.Tick(watcher.WithCrashAfterRollback(context.Background(), runtime.Goexit), r.now)
	if n := len(r.rollbacks()); n != 1 {
		t.Fatalf("%d rollbacks made before the kill", n)
	}
	open, _ := first.Journal(context.Background(), "crates-io", true, 5)
	if len(open) != 1 {
		t.Fatalf("open journal entries %+v: the kill came before the journal was completed", open)
	}
	said := len(r.rec.Events())

	// A new worker on the same state.
	second := openStore(t, dsn)
	withState(r, second)
	r.run(t, 1846, 1960)
	if n := len(r.rollbacks()); n != 1 {
		t.Fatalf("%d rollbacks after the restart, want still 1", n)
	}
	var after []string
	for _, e := range r.rec.Events()[said:] {
		after = append(after, string(e.Kind))
	}
	if len(after) == 0 || after[0] != string(notify.RollbackSucceeded) || strings.Count(strings.Join(after, ","), "rollback.started") != 0 {
		t.Fatalf("events after the restart %v: want the rollback announced, and not started again", after)
	}
	j, _ := second.Journal(context.Background(), "crates-io", false, 5)
	if len(j) != 1 || j[0].Outcome != string(rollback.Done) || j[0].Created != r.rollbacks()[0].Version {
		t.Fatalf("journal after reconcile %+v", j)
	}
}

func TestWatchResumesAfterRestart(t *testing.T) {
	dsn := sqliteState(t)
	r := newRig(t, 2100, 5*time.Second) // goes bad 5 minutes in
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, openStore(t, dsn))
	r.run(t, 1790, 1900)
	before := len(r.rec.Events())

	withState(r, openStore(t, dsn)) // Heroku restarted the dyno
	r.run(t, 1901, 1960)
	ws := r.w.Watches()
	if len(ws) != 1 || ws[0].Baseline == nil || ws[0].Baseline.Seconds == 0 || !ws[0].Until.Equal(t0.Add(1800*time.Second+10*time.Minute)) {
		t.Fatalf("resumed watch %+v", ws)
	}
	r.run(t, 1961, 2200)
	events := r.rec.Events()[before:]
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, string(e.Kind))
	}
	if len(kinds) == 0 || kinds[0] == string(notify.WatchStarted) {
		t.Fatalf("events after the restart %v: the watch must resume, not start again", kinds)
	}
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("the resumed watch did not roll back: %v", kinds)
	}
}

func TestQuarantinedSlugIsCalledOut(t *testing.T) {
	db := openStore(t, sqliteState(t))
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, db)
	r.run(t, 1790, 1900)
	if len(r.rollbacks()) != 1 {
		t.Fatalf("no rollback: %v", r.kinds())
	}
	var slug string
	for _, rel := range r.fake.Releases("crates-io") {
		if rel.Version == 42 {
			slug = rel.SlugID
		}
	}
	// Someone promotes the same build again.
	r.release(herokusim.ReleaseSpec{Version: 44, Description: "Promote s v118", SlugID: slug}, 1950)
	r.run(t, 1901, 1960)
	var started *notify.Event
	for _, e := range r.rec.Events() {
		if e.Kind == notify.WatchStarted && e.Release == 44 {
			started = &e
		}
	}
	if started == nil || !strings.Contains(started.Text(), "QUARANTINED SLUG") || !strings.Contains(started.Text(), "rolled back from v42") {
		t.Fatalf("watch.started for v44: %+v", started)
	}
}

// TestRollBackNowIsForItsRelease: "Roll back now" pressed on v42's message
// after v43 replaced it rolls nothing back (it would have rolled back v43);
// pressed on v43's, it rolls v43 back.
func TestRollBackNowIsForItsRelease(t *testing.T) {
	db := openStore(t, sqliteState(t))
	ctx := context.Background()
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Promote s v119"}, 1850)
	withState(r, db)
	r.run(t, 1795, 1860)

	db.RequestRollbackOf(ctx, "crates-io", 42, "<@U_ANA>", "from the Slack button")
	r.run(t, 1861, 1862)
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("the button on v42 rolled back %+v", rbs)
	}
	evs := r.rec.Events()
	last := evs[len(evs)-1]
	if last.Kind != notify.RollbackSkipped || last.Release != 42 || !strings.Contains(last.Text(), "v42 is no longer the current release (v43 is)") {
		t.Fatalf("last announcement %s: %q", last.Kind, last.Text())
	}
	db.RequestRollbackOf(ctx, "crates-io", 43, "<@U_ANA>", "from the Slack button")
	r.run(t, 1863, 1864)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v42" {
		t.Fatalf("the button on v43: rollbacks %+v", rbs)
	}
}
