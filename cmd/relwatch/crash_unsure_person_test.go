package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// TestCrashWhileAPersonsRollbackIsUnsure: a person asked for a rollback
// naming no release (e507b99: journaled with v41, the release before the
// live one); the round ended Unsure, and the worker was killed at the poll
// that would confirm it, Heroku having made it or not. The next worker
// makes or finds the one rollback, journaled done as the person's, and
// does not carry the request out again.
func TestCrashWhileAPersonsRollbackIsUnsure(t *testing.T) {
	eachHerokuOutcome(t, func(t *testing.T, bin, name string, act bool) {
		state := filepath.Join(t.TempDir(), "state.db")
		u := &unsureCrash{r: newCrashRigWith(t, bin, state, "1s", time.Hour), act: act, atPoll: true} // healthy
		u.r.setHerokuHook(u.hook)
		ctx := context.Background()
		db, err := store.Open(ctx, state)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.RequestRollback(ctx, "crates-io", 0, "@ana", "downloads redirect nowhere"); err != nil {
			t.Fatal(err)
		}
		first := u.r.killedAt(killPoint{name: name, arm: func(*crashRig) {}})
		if !strings.Contains(first.out.String(), "no look since said how it ended") {
			t.Fatalf("the round did not end unsure:\n%s", tail(first.out.String(), 30))
		}
		j, _ := db.Journal(ctx, "crates-io", false, 5)
		if len(j) != 1 || j[0].Target != 41 || j[0].By != "@ana" || j[0].Outcome != store.JournalInterrupted {
			t.Fatalf("journal at the kill %+v: want @ana's rollback to v41, open", j)
		}
		second := u.r.start("worker.2")
		waitUntil(t, second, "settled", func() bool {
			pending, err := db.PendingRequests(ctx, "crates-io")
			j, err2 := db.Journal(ctx, "crates-io", false, 5)
			return err == nil && err2 == nil && len(pending) == 0 && len(j) > 0 && j[0].Outcome == "done" && outboxEmpty(db)
		})
		second.cmd.Process.Signal(syscall.SIGTERM)
		<-second.exited
		logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
		if rbs := herokuRollbacks(u.r); len(rbs) != 1 || rbs[0].Version != 43 {
			t.Errorf("Heroku's rollbacks %+v, want one, v43\n%s", rbs, logs)
		}
		j, err = db.Journal(ctx, "crates-io", false, 5)
		if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Created != 43 || j[0].By != "@ana" {
			t.Errorf("journal %+v (%v): want @ana's one rollback done as v43\n%s", j, err, logs)
		}
		sl, zu, texts := rollbackReplies(u.r)
		for chat, n := range map[string]map[string]int{"slack": sl, "zulip": zu} {
			if n["started"] != 1 || n["succeeded"] != 1 || n["failed"] != 0 || n["skipped"] != 0 {
				t.Errorf("%s said %v, want started and succeeded once each\n%s\n%s", chat, n, texts, logs)
			}
		}
		for _, m := range u.r.slack.Messages() {
			if carriedAgain(m.Text) {
				t.Errorf("the request was carried out again: Slack has %q\n%s", m.Text, logs)
			}
		}
	})
}
