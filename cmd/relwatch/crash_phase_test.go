package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// TestCrashBeforeThePOSTThenADeployInItsPhase: the worker journaled its
// rollback of v42 and was killed before Heroku had it; meanwhile a
// person's deploy v43 went into its release phase. The next worker finds
// the rollback to finish, and v43 pending: when v43's phase fails, v42 is
// live and bad again, and must be rolled back (once), not left live.
func TestCrashBeforeThePOSTThenADeployInItsPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	r := newCrashRig(t, bin, state)
	first := r.killedAt(killPoints[0]) // before the rollback POST
	r.heroku.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 43, Description: "Deploy fix", Status: "failed",
		CreatedAt: time.Now(), PendingFor: 6 * time.Second})
	second := r.start("worker.2")
	deadline := time.Now().Add(40 * time.Second)
	for {
		done := false
		for _, rel := range r.heroku.Releases("crates-io") {
			done = done || (rel.Description == "Rollback to v41" && rel.Status == "succeeded")
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v42 is still live 40 s after the restart, v43's phase failed\nheroku: %+v\nslack:\n%s\n--- first:\n%s\n--- second:\n%s", r.heroku.Releases("crates-io"),
				slackTexts(r.slack.Messages()), tail(first.out.String(), 30), tail(second.out.String(), 60))
		}
		select {
		case <-second.exited:
			t.Fatalf("the second worker exited (%v):\n%s", second.err, tail(second.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	n := 0
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Heroku has %d rollbacks, want one: %+v", n, r.heroku.Releases("crates-io"))
	}
	t.Logf("slack:\n%s", slackTexts(r.slack.Messages()))
}
