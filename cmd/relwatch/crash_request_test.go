package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// TestCrashAfterAPersonsRollback: a person asked for a rollback (`relwatch
// rollback crates-io`, no release named: the current one). The worker
// carried it out and was killed after Heroku's answer, before it wrote
// the request done. The next worker finishes that rollback's journal entry
// and must not carry the request out a second time: the current release is
// now the rollback (v43), and rolling "the current release" back again
// would be a second rollback (or a "v43 is itself a rollback" in the
// chats); joining the rollback under way would say the person asked twice.
func TestCrashAfterAPersonsRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	for _, kp := range []killPoint{
		{"before the rollback POST", onHeroku(stageArrived, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
		{"Heroku acted, answer not sent", onHeroku(stageActed, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
		{"just after Heroku's answer", onHeroku(stageAnswered, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
	} {
		t.Run(kp.name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "state.db")
			// The release is healthy: the storm would start in an hour.
			r := newCrashRigWith(t, bin, state, "1s", time.Hour)
			ctx := context.Background()
			db, err := store.Open(ctx, state)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.RequestRollback(ctx, "crates-io", 0, "@ana", "downloads redirect nowhere"); err != nil {
				t.Fatal(err)
			}
			first := r.killedAt(kp)
			second := r.start("worker.1")
			deadline := time.Now().Add(60 * time.Second)
			for {
				pending, err := db.PendingRequests(ctx, "crates-io")
				s, err1 := db.Undelivered(ctx, "slack", 10)
				z, err2 := db.Undelivered(ctx, "zulip", 10)
				settled := false
				for _, rel := range r.heroku.Releases("crates-io") {
					settled = settled || (rel.Description == "Rollback to v41" && rel.Status == "succeeded")
				}
				if err == nil && err1 == nil && err2 == nil && len(pending) == 0 && len(s) == 0 && len(z) == 0 && settled {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not settled 60 s after the restart (pending %v):\n%s", pending, tail(second.out.String(), 60))
				}
				select {
				case <-second.exited:
					t.Fatalf("the second worker exited (%v):\n%s", second.err, tail(second.out.String(), 60))
				case <-time.After(100 * time.Millisecond):
				}
			}
			second.cmd.Process.Signal(syscall.SIGTERM)
			<-second.exited
			logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)

			var rollbacks []string
			for _, rel := range r.heroku.Releases("crates-io") {
				if strings.HasPrefix(rel.Description, "Rollback") {
					rollbacks = append(rollbacks, rel.Description)
				}
			}
			if len(rollbacks) != 1 {
				t.Errorf("Heroku's rollbacks %v, want one\n%s", rollbacks, logs)
			}
			for _, m := range r.slack.Messages() {
				if carriedAgain(m.Text) {
					t.Errorf("the request was carried out again: Slack has %q\n%s", m.Text, logs)
				}
			}
			for _, m := range withoutPictures(r.zulip.Messages()) {
				if carriedAgain(m.Content) {
					t.Errorf("the request was carried out again: Zulip has %q", m.Content)
				}
			}
		})
	}
}

// carriedAgain says whether a chat message is a person's rollback request
// carried out a second time: refused, or joined to the first.
func carriedAgain(text string) bool {
	for _, s := range []string{"Not rolling back", "itself a rollback", "already rolling back", "was rolled back already"} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// TestCrashAfterARollbackAskedAheadOfTheWorkersClock: as
// TestCrashAfterAPersonsRollback, but the process that wrote the request
// (the CLI's one-off dyno, the web dyno a Slack command reached) runs a
// clock 2 s ahead of the worker's, as two machines' clocks may; the same
// holds of a request read in the tick that began just before it was made.
// The rollback the worker journals for it must still be known as the
// request's after a restart, not carried out again.
func TestCrashAfterARollbackAskedAheadOfTheWorkersClock(t *testing.T) {
	crashAfterARollbackAskedAhead(t, 2*time.Second)
}

// TestCrashAfterARollbackAskedTwoMinutesAheadOfTheWorkersClock: as
// TestCrashAfterARollbackAskedAheadOfTheWorkersClock, the request written
// by a clock 2 min ahead of the worker's (and Heroku's): the rollback
// release Heroku made is still known as the journal entry's after the
// restart, and the story is the rollback's, not a skip.
func TestCrashAfterARollbackAskedTwoMinutesAheadOfTheWorkersClock(t *testing.T) {
	crashAfterARollbackAskedAhead(t, 2*time.Minute)
}

func crashAfterARollbackAskedAhead(t *testing.T, ahead time.Duration) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	r := newCrashRigWith(t, bin, state, "1s", time.Hour) // healthy: the storm is an hour away
	ctx := context.Background()
	aheadDB, err := store.Open(ctx, state, store.WithClock(func() time.Time { return time.Now().Add(ahead) }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = aheadDB.RequestRollback(ctx, "crates-io", 0, "@ana", "downloads redirect nowhere")
	aheadDB.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first := r.killedAt(killPoint{"just after Heroku's answer", onHeroku(stageAnswered, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })})
	second := r.start("worker.1")
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending, err := db.PendingRequests(ctx, "crates-io")
		s, err1 := db.Undelivered(ctx, "slack", 10)
		settled := false
		for _, rel := range r.heroku.Releases("crates-io") {
			settled = settled || (rel.Description == "Rollback to v41" && rel.Status == "succeeded")
		}
		// The worker has seen the phase end too: its journal entry is
		// finished (the release's status alone may be ahead of it).
		j, err2 := db.Journal(ctx, "crates-io", false, 10)
		finished := err2 == nil && len(j) > 0 && !j[0].Finished.IsZero()
		if err == nil && err1 == nil && len(pending) == 0 && len(s) == 0 && settled && finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled 60 s after the restart (pending %v):\n%s", pending, tail(second.out.String(), 60))
		}
		select {
		case <-second.exited:
			t.Fatalf("the second worker exited (%v):\n%s", second.err, tail(second.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
	for _, m := range r.slack.Messages() {
		if carriedAgain(m.Text) {
			t.Errorf("the request was carried out again: Slack has %q\n%s", m.Text, logs)
		}
	}
	j, err := db.Journal(ctx, "crates-io", false, 10)
	if err != nil || len(j) != 1 {
		t.Errorf("journal %+v (%v): want the one rollback\n%s", j, err, logs)
	} else if j[0].Outcome != "done" {
		t.Errorf("journal %+v: want the rollback done, as Heroku has it\n%s", j[0], logs)
	}
}
