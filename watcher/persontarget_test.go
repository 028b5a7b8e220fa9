package watcher_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
)

// A person's rollback --to a release that cannot be gone back to (the bad
// release itself, typed as "roll back v42", or one that is not there)
// fails without asking Heroku, and its announcement must not tell them to
// do the same by hand: `heroku rollback v42` with v42 live makes a copy of
// the bad release.
func TestAPersonsRollbackToAnUnusableReleaseIsNotAdvisedByHand(t *testing.T) {
	db := openStore(t, sqliteState(t))
	ctx := context.Background()
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, db)
	r.run(t, 1795, 1810)
	for _, to := range []int{42, 99} {
		if _, err := db.RequestRollback(ctx, "crates-io", to, "ben", "downloads broken"); err != nil {
			t.Fatal(err)
		}
		r.run(t, 1811, 1811)
	}
	var failed []string
	for _, e := range r.rec.Events() {
		if e.Kind == notify.RollbackFailed {
			failed = append(failed, e.Text())
		}
	}
	if len(failed) != 2 {
		t.Fatalf("want two rollback.failed, got %d: %v", len(failed), r.kinds())
	}
	for i, to := range []string{"v42", "v99"} {
		text := failed[i]
		if strings.Contains(text, "heroku rollback "+to) || !strings.Contains(text, "v42 was not rolled back") ||
			!strings.Contains(text, "name a release older than v42 that succeeded") {
			t.Errorf("--to %s: %s", to, text)
		}
	}
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back: %+v", rbs)
	}
}

// A person's rollback named no release: the journal entry is begun with
// the release it goes back to (the one before the live one), before
// Heroku is asked, so that a worker stopped after the call finds the
// rollback release by its target, and a failure before the Roller read a
// fresh list still says where it was going.
func TestAPersonsRollbackIsJournaledWithItsTarget(t *testing.T) {
	db := openStore(t, sqliteState(t))
	ctx := context.Background()
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, db)
	r.run(t, 1795, 1810)
	// Heroku refuses the release list now: the Roller cannot read a
	// fresh one, and fails without a target of its own.
	r.fake.InjectFault(herokusim.Fault{Method: http.MethodGet, Path: "/apps/crates-io/releases", Status: http.StatusForbidden, ID: "forbidden", Message: "You do not have access to the app crates-io.", Times: 1 << 20})
	if _, err := db.RequestRollback(ctx, "crates-io", 0, "ben", "downloads broken"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1811, 1811)
	j, err := db.Journal(ctx, "crates-io", false, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(j) != 1 || j[0].Target != 41 || j[0].By != "ben" {
		t.Fatalf("journal %+v: want ben's rollback of v42 to v41", j)
	}
	failed := r.events(notify.RollbackFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Text(), "v41") {
		t.Fatalf("rollback.failed %v (%v): want one, naming v41", failed, r.kinds())
	}
}

// A person's rollback that Heroku answers with a rollback release whose
// phase already failed (deb5d74: a failed round, v42 still live) must not
// stand in for the automatic rollback: when v42 then looks bad, relwatch
// rolls it back on its own, as after a person's rollback whose phase is
// found failed later (the release phase of 5 s).
func TestAPersonsRollbackAnsweredFailedLeavesAutomaticRollbackOn(t *testing.T) {
	for _, phase := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprintf("release phase %s", phase), func(t *testing.T) {
			dsn := sqliteState(t)
			db := openStore(t, dsn)
			ctx := context.Background()
			r := newRig(t, 1830, time.Second, herokusim.WithFailingRollbackPhase(), herokusim.WithRollbackReleasePhase(phase))
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
			withState(r, db)
			r.run(t, 1795, 1810)
			req, err := db.RequestRollback(ctx, "crates-io", 0, "ben", "downloads broken")
			if err != nil {
				t.Fatal(err)
			}
			r.run(t, 1811, 1900)
			raw, err := sql.Open("sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var outcome string
			if err := raw.QueryRowContext(ctx, `SELECT outcome FROM requests WHERE id = ?`, req).Scan(&outcome); err != nil {
				t.Fatal(err)
			}
			if phase == 0 && !strings.HasPrefix(outcome, "failed: ") {
				t.Errorf("ben was answered %q, want failed: v42 is still live", outcome)
			}
			var auto int
			for _, e := range r.rec.Events() {
				if f, ok := e.Fact.(notify.RollbackStep); ok && e.Kind == notify.RollbackStarted && f.Auto {
					auto++
				}
			}
			if failed := r.events(notify.RollbackFailed); len(failed) == 0 || auto == 0 {
				t.Fatalf("events %v: want ben's rollback failed, then an automatic one started", r.kinds())
			}
		})
	}
}
