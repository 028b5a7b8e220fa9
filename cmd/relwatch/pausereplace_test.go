package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// A pause takes the place of the one in force: ben's "pause --for 30m"
// over ana's pause until resumed (a migration) ends hers in 30 minutes.
// The answer says whose pause it replaces, so that neither learns it from
// a rollback; a person extending their own pause is not told of it.
func TestAPauseSaysWhosePauseItReplaces(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	if code, _, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ana", "--reason", "db migration"); code != 0 {
		t.Fatalf("ana's pause: exit %d: %s", code, errOut)
	}
	code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ben", "--for", "30m")
	if code != 0 || !strings.Contains(out, "This replaces ana's pause until resumed (db migration).") {
		t.Fatalf("ben's pause: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "pause", "crates-io", "--by", "ben", "--for", "1h")
	if code != 0 || strings.Contains(out, "replaces") {
		t.Fatalf("ben's pause again: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// A pause given while relwatch's own rollback is under way does not stop
// the rollback Heroku has already: the answer says so, instead of letting
// "paused" read as though it had. A finished rollback is not mentioned.
func TestAPauseSaysARollbackIsUnderWay(t *testing.T) {
	state := freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	started := time.Date(2026, 11, 1, 12, 0, 3, 0, time.UTC)
	id, err := db.BeginRollback(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: store.Automatic, Reason: "error share 20%", Started: started})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ana")
	if code != 0 || !strings.Contains(out, "relwatch began rolling crates-io back from v42 to v41 at 12:00:03 UTC: a rollback Heroku has already is not stopped by a pause") {
		t.Fatalf("pause during a rollback: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if err := db.FinishRollback(ctx, id, "done", 41, 43, ""); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ana"); code != 0 || strings.Contains(out, "began rolling") {
		t.Fatalf("pause after the rollback: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}
