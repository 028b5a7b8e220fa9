package watcher_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
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
	if started == nil || !strings.Contains(started.Text(), "as ben asked: rolling back by hand") {
		t.Fatalf("rollback.started %+v", started)
	}
}

func TestReconcileSQLite(t *testing.T) { reconcileCases(t, sqliteState) }

func TestIntegrationPostgresReconcile(t *testing.T) { reconcileCases(t, postgresState) }

// reconcileCases leaves the state as a worker killed during a rollback
// leaves it (a journal entry still open; Heroku with the rollback release,
// or without it) and starts a new worker on it: it must follow the
// rollback to Heroku's final status and announce exactly that, or finish
// the rollback itself, and never make a second one. (The real binary,
// killed at each point, is cmd/relwatch's TestCrash...)
func reconcileCases(t *testing.T, dsn func(*testing.T) string) {
	ctx := context.Background()
	tests := []struct {
		name string
		// heroku is what Heroku has of the rollback when the new worker
		// starts (nil: nothing).
		heroku  *herokusim.ReleaseSpec
		outcome string        // the journal entry as the stopped worker left it
		age     time.Duration // how long before the restart the rollback began
		// want are the announcements after the restart ("~" marks one
		// restated), the rollback releases Heroku ends with, and the
		// journal's outcomes, newest first.
		want      []string
		rollbacks int
		journal   []string
		// wantAfter: rollback.succeeded not before this second.
		wantAfter int
		// failed is in the text of the stopped worker's rollback.failed.
		failed string
	}{
		{name: "Heroku made it", heroku: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41"},
			want: []string{"~rollback.started", "rollback.succeeded"}, rollbacks: 1, journal: []string{"done"}},
		{name: "Heroku made it, answer lost, the release phase runs", heroku: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", PendingFor: 30 * time.Second},
			want: []string{"~rollback.started", "rollback.succeeded"}, rollbacks: 1, journal: []string{"done"}, wantAfter: 1870},
		{name: "journaled pending, the release phase fails", heroku: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", PendingFor: 30 * time.Second, Status: "failed"},
			outcome: store.JournalPending,
			want:    []string{"~rollback.started", "rollback.failed", "rollback.started", "rollback.succeeded"}, rollbacks: 2, journal: []string{"done", "failed"}},
		{name: "interrupted by SIGTERM before Heroku had it", outcome: store.JournalInterrupted,
			want: []string{"~rollback.started", "rollback.succeeded"}, rollbacks: 1, journal: []string{"done"}},
		{name: "killed before Heroku had it",
			want: []string{"~rollback.started", "rollback.succeeded"}, rollbacks: 1, journal: []string{"done"}},
		{name: "too old to finish: said to have failed, and the watch decides again", age: 31 * time.Minute,
			want: []string{"~rollback.started", "rollback.failed", "rollback.started", "rollback.succeeded"}, rollbacks: 1, journal: []string{"done", "abandoned"},
			failed: "no worker ran again for 31 min: too old to carry out now. relwatch tries again at the next evidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 1830, 5*time.Second)
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
			state := dsn(t)
			first := openStore(t, state)
			withState(r, first)
			r.run(t, 1790, 1838)
			if n := len(r.rollbacks()); n != 0 {
				t.Fatalf("rolled back before the test's kill: %v", r.kinds())
			}
			// What the killed worker left: its journal entry, and Heroku's
			// rollback release if the POST got there.
			started := t0.Add(1840*time.Second - tt.age)
			id, err := first.BeginRollback(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, Reason: "error share 20%", By: "relwatch", Started: started})
			if err != nil {
				t.Fatal(err)
			}
			if tt.heroku != nil {
				r.release(*tt.heroku, 1840)
			}
			if tt.outcome != "" {
				created := 0
				if tt.heroku != nil {
					created = tt.heroku.Version
				}
				first.FinishRollback(ctx, id, tt.outcome, 41, created, "")
			}
			said := len(r.rec.Events())

			withState(r, openStore(t, state))
			var after []string
			for s := 1841; s <= 1960; s++ {
				r.run(t, s, s)
				for _, e := range r.rec.Events()[said:] {
					k := string(e.Kind)
					if e.Restated {
						k = "~" + k
					}
					if e.Kind == notify.RollbackFailed && tt.failed != "" && !strings.Contains(e.Text(), tt.failed) {
						t.Errorf("rollback.failed %q, want it to say %q", e.Text(), tt.failed)
					}
					if e.Kind == notify.RollbackSucceeded && s < tt.wantAfter {
						t.Fatalf("rollback.succeeded announced at %ds, before Heroku's release phase ended (%ds)", s, tt.wantAfter)
					}
					after = append(after, k)
				}
				said = len(r.rec.Events())
			}
			// The restated watch (and anomaly) are the watch's, not the rollback's.
			var got []string
			for _, k := range after {
				if !strings.Contains(k, "watch.") && !strings.Contains(k, "anomaly") {
					got = append(got, k)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("announcements after the restart %v, want %v (all: %v)", got, tt.want, after)
			}
			if n := len(r.rollbacks()); n != tt.rollbacks {
				t.Errorf("%d rollback releases, want %d: %+v", n, tt.rollbacks, r.rollbacks())
			}
			j, _ := first.Journal(ctx, "crates-io", false, 5)
			var outcomes []string
			for _, e := range j {
				outcomes = append(outcomes, e.Outcome)
			}
			if strings.Join(outcomes, ",") != strings.Join(tt.journal, ",") {
				t.Errorf("journal outcomes %v, want %v", outcomes, tt.journal)
			}
		})
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
		k := string(e.Kind)
		if e.Restated {
			k = "~" + k // said again from the store, under its first key
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 || kinds[0] != "~"+string(notify.WatchStarted) || strings.Count(strings.Join(kinds, ","), ","+string(notify.WatchStarted)) != 0 {
		t.Fatalf("events after the restart %v: the watch must resume (its opening restated), not start again", kinds)
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

// v42 is judged anomalous (clients retrying: the crates.io signature)
// while rollback is paused; the worker is down (a crash, a dyno restart)
// across the end of v42's watch. The restarted worker must still know v42
// was anomalous: when the next deploy v43 shows the same retries, the
// rollback must go past v42 to v41, never into v42.
func TestAnAnomalousWatchThatLapsedWhileTheWorkerWasDownIsNoTarget(t *testing.T) {
	ctx := context.Background()
	dsn := sqliteState(t)
	db := openStore(t, dsn)
	r := newRig(t, 0, 5*time.Second)
	for i := 1830; i < len(r.pts); i++ {
		r.pts[i].Repeats = 150 // 75% of requests are retries from 1830 s on
	}
	withState(r, db)
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration"}); err != nil {
		t.Fatal(err)
	}
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1800)
	r.run(t, 1790, 2390) // v42's watch ends at 2400; the worker stops at 2390
	if r.event(notify.Anomaly, 42) == nil || len(r.rollbacks()) != 0 {
		t.Fatalf("events %v: want v42 announced anomalous, not rolled back while paused", r.kinds())
	}
	withState(r, openStore(t, dsn)) // the next worker starts at 2420
	r.run(t, 2420, 2500)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy another"}, 2600)
	r.run(t, 2501, 2610)
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 2611, 2900)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; events %v: want v43 rolled back past the anomalous v42 to v41", rbs, r.kinds())
	}
}

// TestAPersonsRollbackIsOfTheReleaseLiveWhenAsked: "relwatch rollback
// crates-io" (no release named) asked while v42 was live, then v43 (the
// fix) made before the worker got to the request (it was down, or busy):
// rolling back what is current then put the broken v42 back. A rollback
// asked without naming its release is of the release live when asked.
func TestAPersonsRollbackIsOfTheReleaseLiveWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		name      string
		askAtS    int
		rolledOff int // the release rolled back; 0: none
	}{
		{"asked before v43 was made", 1820, 0},
		{"asked after v43 was made", 2060, 43},
		{"asked in the 2 minutes before v43 (the clocks may differ)", 1900, 43},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, db := statefulRig(t, 1_000_000)
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy v42"}, 1800)
			r.run(t, 1795, 1810)
			r.now = t0.Add(time.Duration(tc.askAtS) * time.Second)
			if _, err := db.RequestRollback(context.Background(), "crates-io", 0, "ana", "downloads broken"); err != nil {
				t.Fatal(err)
			}
			r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy fix"}, 2000)
			r.run(t, max(2001, tc.askAtS), 2070)
			rbs := r.rollbacks()
			switch {
			case tc.rolledOff == 0 && len(rbs) != 0:
				t.Fatalf("the fix was rolled back: %+v", rbs)
			case tc.rolledOff != 0 && (len(rbs) != 1 || rbs[0].Description != "Rollback to v42"):
				t.Fatalf("rollbacks %+v; want v%d rolled back to v42", rbs, tc.rolledOff)
			}
			if tc.rolledOff == 0 {
				said, ok := last(r, notify.RollbackSkipped)
				if want := "ana asked to roll back v42, but v42 is no longer the current release (v43 is)"; !ok || !strings.Contains(said.Text(), want) {
					t.Fatalf("skipped %q (%v); want it to say %q", said.Text(), ok, want)
				}
			}
		})
	}
}

// A person's rollback on an idle app was carried out against the last
// poll's releases, up to the idle interval old: v42, deployed after it and
// live when ana asked, "came after" the v41 the worker knew, and the
// rollback was skipped (or, with no release before v41, failed "to v0").
// A pending rollback request makes the worker read the releases first.
func TestAPersonsRollbackReadsTheReleasesFirst(t *testing.T) {
	for _, older := range []bool{false, true} {
		t.Run(fmt.Sprintf("a release before v41: %v", older), func(t *testing.T) {
			r, db := statefulRig(t, 1_000_000)
			r.w = rebuild(r, r.rec, func(c *watcher.Config) {
				c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
				c.IdleInterval = time.Minute
			})
			if older {
				r.fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 40, Description: "Deploy older", CreatedAt: t0.Add(-2 * time.Hour)})
			}
			r.run(t, 1000, 1000) // the worker knows v41 live
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1001)
			r.now = t0.Add(1002 * time.Second)
			if _, err := db.RequestRollback(context.Background(), "crates-io", 0, "ana", "downloads broken"); err != nil {
				t.Fatal(err)
			}
			r.run(t, 1002, 1002) // the idle poll is not due for a minute
			if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
				s, _ := last(r, notify.RollbackSkipped)
				f, _ := last(r, notify.RollbackFailed)
				t.Fatalf("v42, live when ana asked, not rolled back to v41: %+v; skipped %q, failed %q", rbs, s.Text(), f.Text())
			}
		})
	}
}

// A person's rollback that a stopped worker journaled and never carried to
// Heroku, found by a worker that starts too late to carry it out, is said
// to have failed, and its request is finished as not carried out: never
// as "carried out before a restart".
func TestAnAbandonedPersonsRollbackIsNotCalledDone(t *testing.T) {
	ctx := context.Background()
	dsn := sqliteState(t)
	r := newRig(t, 0, 5*time.Second) // a healthy release
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, openStore(t, dsn))
	r.run(t, 1790, 1838)

	// What the stopped worker left, 31 min before the restart: ben's
	// request, and its journal entry begun; nothing at Heroku.
	asked := t0.Add(1840*time.Second - 31*time.Minute)
	then, err := store.Open(ctx, dsn, store.WithClock(func() time.Time { return asked }))
	if err != nil {
		t.Fatal(err)
	}
	defer then.Close()
	req, err := then.RequestRollback(ctx, "crates-io", 0, "ben", "rolling back by hand")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := then.BeginRollback(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, Reason: "rolling back by hand", By: "ben", Started: asked.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	said := len(r.rec.Events())

	db := openStore(t, dsn)
	withState(r, db)
	r.run(t, 1841, 1860)
	if n := len(r.rollbacks()); n != 0 {
		t.Fatalf("%d rollbacks: a request 31 min old was carried out", n)
	}
	var failed []string
	for _, e := range r.rec.Events()[said:] {
		if e.Kind == notify.RollbackFailed {
			failed = append(failed, e.Text())
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "asked by ben, failed") || !strings.Contains(failed[0], "too old to carry out now") {
		t.Fatalf("rollback.failed announcements %q, want one saying ben's rollback was too old to carry out", failed)
	}
	if reqs, _ := db.PendingRequests(ctx, "crates-io"); len(reqs) != 0 {
		t.Fatalf("requests left: %+v", reqs)
	}
	raw, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var outcome string
	if err := raw.QueryRowContext(ctx, `SELECT outcome FROM requests WHERE id = ?`, req).Scan(&outcome); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(outcome, "not carried out: ") {
		t.Fatalf("the request finished as %q, want not carried out", outcome)
	}
}
