package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store"
)

// TestCrashWhileWaitingOnAPendingRelease: v42 is bad, and a person's
// deploy v43 is in its release phase, so the worker announces the anomaly
// and waits (no round, no journal entry). It is killed while it waits; the
// phase of v43 then fails, and the next worker must roll v42 back once,
// saying the anomaly once.
func TestCrashWhileWaitingOnAPendingRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	r := newCrashRig(t, bin, state)
	phaseEnds := time.Now().Add(12 * time.Second)
	r.heroku.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 43, Description: "Deploy fix", Status: "failed",
		CreatedAt: phaseEnds.Add(-12 * time.Second), PendingFor: 12 * time.Second})
	first := r.killedAt(killPoint{"Slack kept the anomaly", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.postMessage" && strings.Contains(c.Form.Get("text"), "looks bad")
	})})
	if time.Now().After(phaseEnds) {
		t.Fatalf("killed after v43's phase ended: the test did not kill a waiting worker")
	}
	second := r.start("worker.2")
	ctx := context.Background()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := false
		for _, rel := range r.heroku.Releases("crates-io") {
			done = done || (rel.Description == "Rollback to v41" && rel.Status == "succeeded")
		}
		sl := r.slack.Messages()
		if done && len(sl) > 0 && strings.Contains(sl[0].Text, "⏪ rolled back to v41") {
			s, err1 := db.Undelivered(ctx, "slack", 10)
			z, err2 := db.Undelivered(ctx, "zulip", 10)
			if err1 == nil && err2 == nil && len(s) == 0 && len(z) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled 60 s after the restart\nslack: %s\n--- first:\n%s\n--- second:\n%s", slackTexts(sl), tail(first.out.String(), 30), tail(second.out.String(), 60))
		}
		select {
		case <-second.exited:
			t.Fatalf("the second worker exited (%v):\n%s", second.err, tail(second.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 60)
	var rollbacks []herokusim.Release
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			rollbacks = append(rollbacks, rel)
		}
	}
	if len(rollbacks) != 1 || rollbacks[0].Version != 44 || rollbacks[0].Status != "succeeded" {
		t.Errorf("Heroku's rollbacks %+v, want one, v44, succeeded\n%s", rollbacks, logs)
	}
	var texts []string
	for _, m := range r.slack.Messages() {
		if m.ThreadTS != "" {
			texts = append(texts, m.Text)
		}
	}
	for _, want := range []string{"crates-io v42 looks bad", "Rolling crates-io back from v42 to v41", "crates-io is rolled back to v41"} {
		n := 0
		for _, s := range texts {
			if strings.Contains(s, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Slack's thread has %q %d times, want once:\n%s\n%s", want, n, strings.Join(texts, "\n"), logs)
		}
	}
	for _, s := range texts {
		if strings.Contains(s, "repeated after restart") || strings.Contains(s, "failed") {
			t.Errorf("Slack's thread has %q\n%s", s, logs)
		}
	}
}

// TestIntegrationCrashBesideAnotherWorkerPostgres: two workers share the
// app through PostgreSQL leases; the one that holds it is killed at each
// point of its rollback while the other runs on. The other takes the app
// over and finishes the story: one rollback, each announcement once.
func TestIntegrationCrashBesideAnotherWorkerPostgres(t *testing.T) {
	testenv.Postgres(t)
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	for _, kp := range killPoints[:4] {
		t.Run(kp.name, func(t *testing.T) {
			state := testenv.Postgres(t)
			r := newCrashRig(t, bin, state)
			ready := make(chan struct{})
			kp.arm(r)
			hook := r.herokuHook
			r.setHerokuHook(func(stage string, req *http.Request) bool {
				if stage == stageArrived && isRollbackPOST(req) {
					<-ready // the other worker runs before the holder acts
				}
				return hook(stage, req)
			})
			r.armed.Store(true)
			first := r.start("worker.1")
			ctx := context.Background()
			db, err := store.Open(ctx, state)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			deadline := time.Now().Add(30 * time.Second)
			for {
				if h, _, _ := db.Lease(ctx, "crates-io"); strings.HasPrefix(h, "worker.1") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("worker.1 never held the app:\n%s", tail(first.out.String(), 40))
				}
				time.Sleep(50 * time.Millisecond)
			}
			second := r.start("worker.2")
			r.mu.Lock()
			r.current = first
			r.mu.Unlock()
			close(ready)
			select {
			case <-r.killed:
			case <-time.After(60 * time.Second):
				t.Fatalf("the kill point never came:\n%s", tail(first.out.String(), 40))
			}
			r.waitSettled(second)
			second.cmd.Process.Signal(syscall.SIGTERM)
			<-second.exited
			r.assertStory(first, second)
		})
	}
}
