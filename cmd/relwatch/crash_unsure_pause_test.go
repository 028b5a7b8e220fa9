package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store"
)

// TestCrashAfterAPausedUnsureRollbackIsSkipped: the round ended Unsure and
// Heroku never had it; the worker was killed at the poll that would
// confirm it, and a person paused automatic rollback while none ran. The
// next worker skips the rollback for the pause (bfedea9: "the watch goes
// on") and is killed once Slack has that. Once the person resumes, the
// next worker must roll v42 back: the pause held the rollback, it did not
// end the watch's say over v42.
func TestCrashAfterAPausedUnsureRollbackIsSkipped(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	u := newUnsureCrash(t, bin, state, false, true)
	first := u.r.killedAt(killPoint{name: "at the confirming poll", arm: func(*crashRig) {}})
	ctx := context.Background()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	u.atPoll = false // no worker runs: the hook is idle
	u.r.killed = make(chan struct{})
	second := u.r.killedAt(killPoint{"Slack has the skip", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.postMessage" && strings.Contains(c.Form.Get("text"), "Not rolling back")
	})})
	if j, _ := db.Journal(ctx, "crates-io", false, 5); len(j) != 1 || j[0].Outcome != "skipped" {
		t.Fatalf("journal %+v: want the round skipped for the pause\n%s", j, tail(second.out.String(), 30))
	}
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	third := u.r.start("worker.3")
	waitUntil(t, third, "rolled back once resumed", func() bool {
		for _, rel := range herokuRollbacks(u.r) {
			if rel.Status == "succeeded" {
				return true
			}
		}
		return false
	})
	third.cmd.Process.Signal(syscall.SIGTERM)
	<-third.exited
	if rbs := herokuRollbacks(u.r); len(rbs) != 1 {
		t.Errorf("Heroku's rollbacks %+v, want one\n--- first:\n%s\n--- second:\n%s\n--- third:\n%s", rbs,
			tail(first.out.String(), 20), tail(second.out.String(), 20), tail(third.out.String(), 30))
	}
}
