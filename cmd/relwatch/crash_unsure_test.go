package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store"
)

// The crash tests of a rollback round that ended Unsure: the answer to the
// rollback POST was lost (Heroku made the rollback, or never had the
// request), and every look the roller took at the release list after it
// failed until the round's deadline. The round is journaled open and
// nothing is said; the worker is killed before the poll that would have
// settled it (or just after the round was journaled), and the next worker
// must finish it: one rollback release at Heroku, each announcement once,
// nothing said failed that Heroku made.

// unsureCrash loses the first rollback POST's answer (after Heroku acted
// when act is set, before it had the request otherwise) and, from then
// until the kill, closes the connection of every deep read of the release
// list (the roller's): the round cannot say how it ended.
type unsureCrash struct {
	r     *crashRig
	act   bool
	lost  atomic.Bool // the POST's answer was lost
	blind atomic.Bool // the roller's reads fail
	// atPoll: the kill comes with the first poll after the lost POST.
	atPoll bool
}

func newUnsureCrash(t *testing.T, bin, state string, act, atPoll bool) *unsureCrash {
	u := &unsureCrash{r: newCrashRig(t, bin, state), act: act, atPoll: atPoll}
	u.r.setHerokuHook(u.hook)
	return u
}

func (u *unsureCrash) hook(stage string, req *http.Request) bool {
	switch {
	case isRollbackPOST(req) && !u.lost.Load():
		if (u.act && stage == stageActed) || (!u.act && stage == stageArrived) {
			u.blind.Store(true)
			u.lost.Store(true)
			panic(http.ErrAbortHandler) // the answer is lost
		}
	case req.Method == http.MethodGet && req.URL.Path == "/apps/crates-io/releases" && stage == stageArrived:
		deep := strings.Contains(req.Header.Get("Range"), "max=50")
		if deep && u.blind.Load() {
			panic(http.ErrAbortHandler) // the roller's look fails
		}
		if !deep && u.lost.Load() {
			// The first poll after the round: the one that confirms it.
			u.blind.Store(false)
			if u.atPoll {
				return u.r.kill()
			}
		}
	}
	return false
}

// killAfterJournaled kills the worker as soon as the store has the round
// journaled open with the roller's error (Unsure), before anything else
// it does; it reports whether it did.
func (u *unsureCrash) killAfterJournaled(t *testing.T, state string, stop <-chan struct{}) {
	ctx := context.Background()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if u.lost.Load() {
			j, err := db.Journal(ctx, "crates-io", false, 5)
			if err == nil && len(j) == 1 && j[0].Outcome == store.JournalInterrupted && j[0].Error != "" {
				u.blind.Store(false)
				u.r.kill()
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rollbackReplies counts the rollback announcements of the Slack thread
// and of the Zulip topic: started, succeeded, failed, skipped.
func rollbackReplies(r *crashRig) (slack, zulip map[string]int, texts string) {
	kind := func(s string) string {
		switch {
		case strings.Contains(s, "Rolling crates-io back"):
			return "started"
		case strings.Contains(s, "is rolled back to"):
			return "succeeded"
		case strings.Contains(s, "Rollback of crates-io"):
			return "failed"
		case strings.Contains(s, "Not rolling back"):
			return "skipped"
		}
		return ""
	}
	slack, zulip = map[string]int{}, map[string]int{}
	var b strings.Builder
	for _, m := range r.slack.Messages() {
		if m.ThreadTS != "" {
			b.WriteString("slack: " + m.Text + "\n")
			if k := kind(m.Text); k != "" {
				slack[k]++
			}
		}
	}
	for _, m := range withoutPictures(r.zulip.Messages()) {
		b.WriteString("zulip: " + m.Content + "\n")
		if k := kind(m.Content); k != "" {
			zulip[k]++
		}
	}
	return slack, zulip, b.String()
}

func herokuRollbacks(r *crashRig) []herokusim.Release {
	var out []herokusim.Release
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			out = append(out, rel)
		}
	}
	return out
}

// waitUntil waits until done says so (bounded), the second worker running.
func waitUntil(t *testing.T, w *child, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s 60 s after the restart:\n%s", what, tail(w.out.String(), 60))
		}
		select {
		case <-w.exited:
			t.Fatalf("the second worker exited (%v):\n%s", w.err, tail(w.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// outboxEmpty reports whether every announcement was delivered.
func outboxEmpty(db *store.DB) bool {
	ctx := context.Background()
	s, err1 := db.Undelivered(ctx, "slack", 10)
	z, err2 := db.Undelivered(ctx, "zulip", 10)
	return err1 == nil && err2 == nil && len(s) == 0 && len(z) == 0
}

// TestCrashWhileARollbackIsUnsure: the round ended Unsure and the worker
// was killed before the poll that settles it (or just after the round was
// journaled); Heroku made the rollback, or did not. The next worker makes
// or finds the one rollback, and says started and succeeded once each,
// never failed.
func TestCrashWhileARollbackIsUnsure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	for _, tc := range []struct {
		name        string
		act, atPoll bool
	}{
		{"Heroku made it, killed at the confirming poll", true, true},
		{"Heroku never had it, killed at the confirming poll", false, true},
		{"Heroku made it, killed once journaled", true, false},
		{"Heroku never had it, killed once journaled", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "state.db")
			u := newUnsureCrash(t, bin, state, tc.act, tc.atPoll)
			stop := make(chan struct{})
			if !tc.atPoll {
				go u.killAfterJournaled(t, state, stop)
			}
			first := u.r.killedAt(killPoint{name: tc.name, arm: func(*crashRig) {}})
			close(stop)
			if !u.lost.Load() {
				t.Fatalf("killed before the POST was lost:\n%s", tail(first.out.String(), 30))
			}
			if !strings.Contains(first.out.String(), "no look since said how it ended") {
				t.Fatalf("the round did not end unsure:\n%s", tail(first.out.String(), 30))
			}
			db, err := store.Open(context.Background(), state)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			j, _ := db.Journal(context.Background(), "crates-io", false, 5)
			if len(j) != 1 || j[0].Outcome != store.JournalInterrupted {
				t.Fatalf("journal at the kill %+v: want the round open\n%s", j, tail(first.out.String(), 30))
			}
			second := u.r.start("worker.2")
			u.r.waitSettled(second)
			second.cmd.Process.Signal(syscall.SIGTERM)
			<-second.exited
			logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
			if rbs := herokuRollbacks(u.r); len(rbs) != 1 || rbs[0].Version != 43 {
				t.Errorf("Heroku's rollbacks %+v, want one, v43\n%s", rbs, logs)
			}
			j, err = db.Journal(context.Background(), "crates-io", false, 5)
			if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Created != 43 {
				t.Errorf("journal %+v (%v): want the one round done as v43\n%s", j, err, logs)
			}
			sl, zu, texts := rollbackReplies(u.r)
			for chat, n := range map[string]map[string]int{"slack": sl, "zulip": zu} {
				if n["started"] != 1 || n["succeeded"] != 1 || n["failed"] != 0 || n["skipped"] != 0 {
					t.Errorf("%s said %v, want started and succeeded once each\n%s\n%s", chat, n, texts, logs)
				}
			}
			u.r.assertStory(first, second)
		})
	}
}

// TestCrashWhileARollbackIsUnsureThenPaused: as
// TestCrashWhileARollbackIsUnsure, and a person paused automatic rollback
// while no worker ran. Made by Heroku, the rollback is found and said
// succeeded; never made, the pause holds: skipped, no rollback, nothing
// said failed.
func TestCrashWhileARollbackIsUnsureThenPaused(t *testing.T) {
	eachHerokuOutcome(t, func(t *testing.T, bin, name string, act bool) {
		state := filepath.Join(t.TempDir(), "state.db")
		u := newUnsureCrash(t, bin, state, act, true)
		first := u.r.killedAt(killPoint{name: name, arm: func(*crashRig) {}})
		if !strings.Contains(first.out.String(), "no look since said how it ended") {
			t.Fatalf("the round did not end unsure:\n%s", tail(first.out.String(), 30))
		}
		ctx := context.Background()
		db, err := store.Open(ctx, state)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		second := u.r.start("worker.2")
		var j []store.JournalEntry
		waitUntil(t, second, "settled", func() bool {
			j, err = db.Journal(ctx, "crates-io", false, 5)
			return err == nil && len(j) == 1 && !store.JournalOpen(j[0].Outcome) && outboxEmpty(db) &&
				(!act || j[0].Outcome == "done")
		})
		second.cmd.Process.Signal(syscall.SIGTERM)
		<-second.exited
		logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
		rbs := herokuRollbacks(u.r)
		sl, zu, texts := rollbackReplies(u.r)
		want := map[string]int{"started": 1, "skipped": 1}
		if act {
			want = map[string]int{"started": 1, "succeeded": 1}
			if len(rbs) != 1 || j[0].Outcome != "done" || j[0].Created != 43 {
				t.Errorf("Heroku's rollbacks %+v, journal %+v: want one, v43, done\n%s", rbs, j, logs)
			}
		} else if len(rbs) != 0 || j[0].Outcome != "skipped" {
			t.Errorf("Heroku's rollbacks %+v, journal %+v: want none, skipped for the pause\n%s", rbs, j, logs)
		}
		for chat, n := range map[string]map[string]int{"slack": sl, "zulip": zu} {
			for _, k := range []string{"started", "succeeded", "failed", "skipped"} {
				if n[k] != want[k] {
					t.Errorf("%s said %v, want %v\n%s\n%s", chat, n, want, texts, logs)
					break
				}
			}
		}
	})
}

// TestCrashAfterAFailedRoundIsSaid: Heroku refused every rollback request
// of the round (503, its own error: it did not act), the round was said
// failed ("relwatch tries again at the next evidence"), and the worker was
// killed once Slack had that. The next worker must keep that word and
// roll v42 back.
func TestCrashAfterAFailedRoundIsSaid(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	r := newCrashRig(t, bin, state)
	var refuse atomic.Bool
	refuse.Store(true)
	first := r.killedAt(killPoint{"Slack has the failed round", func(r *crashRig) {
		r.setHerokuHook(func(stage string, req *http.Request) bool {
			if stage == stageArrived && isRollbackPOST(req) && refuse.Load() {
				r.heroku.InjectFault(herokusim.Fault{Method: http.MethodPost, Path: "/apps/crates-io/releases",
					Status: http.StatusServiceUnavailable, ID: "unavailable", Message: "Heroku is down for maintenance."})
			}
			return false
		})
		onSlack(func(c notifytest.Call) bool {
			if c.Path == "/chat.postMessage" && strings.Contains(c.Form.Get("text"), "Rollback of crates-io") {
				refuse.Store(false)
				return true
			}
			return false
		})(r)
	}})
	second := r.start("worker.2")
	r.waitSettled(second)
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
	if rbs := herokuRollbacks(r); len(rbs) != 1 {
		t.Errorf("Heroku's rollbacks %+v, want one\n%s", rbs, logs)
	}
	sl, zu, texts := rollbackReplies(r)
	for chat, n := range map[string]map[string]int{"slack": sl, "zulip": zu} {
		if n["started"] != 2 || n["failed"] != 1 || n["succeeded"] != 1 || n["skipped"] != 0 {
			t.Errorf("%s said %v, want started twice, failed and succeeded once\n%s\n%s", chat, n, texts, logs)
		}
	}
}

// eachHerokuOutcome runs test, in parallel, on the real binary for both
// ends of an unsure rollback: Heroku made it (act), or never had it.
func eachHerokuOutcome(t *testing.T, test func(t *testing.T, bin, name string, act bool)) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	for _, act := range []bool{true, false} {
		name := "Heroku never had it"
		if act {
			name = "Heroku made it"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, bin, name, act)
		})
	}
}
