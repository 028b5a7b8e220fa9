package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/relwatch/relwatch/notify/notifytest"
)

// TestCrashAfterAnUnsureRollbackFoundNotMade: the round ended Unsure, the
// next poll showed Heroku never made the rollback, and the round was said
// failed ("relwatch tries again at the next evidence"); the worker was
// killed once Slack had that. The next worker must keep that word: v42 is
// live and bad, and it rolls back (one rollback release), saying the
// second round once.
func TestCrashAfterAnUnsureRollbackFoundNotMade(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	state := filepath.Join(t.TempDir(), "state.db")
	u := newUnsureCrash(t, bin, state, false, false)
	first := u.r.killedAt(killPoint{"Slack has the failed round", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.postMessage" && strings.Contains(c.Form.Get("text"), "Rollback of crates-io")
	})})
	if !strings.Contains(first.out.String(), "no look since said how it ended") {
		t.Fatalf("the round did not end unsure:\n%s", tail(first.out.String(), 30))
	}
	second := u.r.start("worker.2")
	u.r.waitSettled(second)
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
	if rbs := herokuRollbacks(u.r); len(rbs) != 1 {
		t.Errorf("Heroku's rollbacks %+v, want one\n%s", rbs, logs)
	}
	sl, zu, texts := rollbackReplies(u.r)
	for chat, n := range map[string]map[string]int{"slack": sl, "zulip": zu} {
		if n["started"] != 2 || n["failed"] != 1 || n["succeeded"] != 1 || n["skipped"] != 0 {
			t.Errorf("%s said %v, want started twice, failed and succeeded once\n%s\n%s", chat, n, texts, logs)
		}
	}
}
