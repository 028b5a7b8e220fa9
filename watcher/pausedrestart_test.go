package watcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// The worker decided to roll v42 back, journaled it, and was stopped
// (SIGTERM, a dyno restart) before Heroku had it; while no worker ran, a
// person paused automatic rollback. The next worker must not carry the
// stopped worker's decision out over the pause (it did, then announced the
// pause after the rollback): it says the rollback is not made, the watch
// goes on paused, and a resume lets the next bad evidence roll back.
func TestAPauseHoldsOverARollbackAStoppedWorkerNeverSent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	state := sqliteState(t)
	first := openStore(t, state)
	withState(r, first)
	r.run(t, 1790, 1838)
	if n := len(r.rollbacks()); n != 0 {
		t.Fatalf("rolled back before the stop: %v", r.kinds())
	}
	id, err := first.BeginRollback(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, Reason: "error share 20%", By: store.Automatic, Started: t0.Add(1839 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.FinishRollback(ctx, id, store.JournalInterrupted, 41, 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := first.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "false alarm"}); err != nil {
		t.Fatal(err)
	}
	said := len(r.rec.Events())
	withState(r, openStore(t, state))
	r.run(t, 1841, 1900)
	if n := len(r.rollbacks()); n != 0 {
		t.Fatalf("rolled back while paused: %+v", r.rollbacks())
	}
	var skipped string
	for _, e := range r.rec.Events()[said:] {
		if e.Kind == notify.RollbackSkipped {
			skipped = e.Text()
		}
	}
	if !strings.Contains(skipped, "automatic rollback is paused by ana until resumed") {
		t.Errorf("rollback.skipped %q, want it to name the pause", skipped)
	}
	j, _ := first.Journal(ctx, "crates-io", false, 5)
	if len(j) != 1 || j[0].Outcome != "skipped" {
		t.Fatalf("journal %+v, want the entry skipped", j)
	}

	// Resumed, the release still bad: the next evidence rolls it back.
	if _, err := first.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1901, 1960)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("after the resume: rollbacks %+v (%v)", rbs, r.kinds())
	}
}
