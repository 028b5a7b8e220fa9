package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// TestButtonDuringAnAutomaticRollbackTellsOneStory: on the real binary
// with Slack and Zulip, a person presses "Roll back now" on v42 (the
// request the button writes) while the automatic rollback is made: when
// its request reaches Heroku, 300 ms and 1.5 s after, and while the
// rollback release's phase runs. Heroku gets one rollback; each chat says
// "Rolling back" once, tells ana it was already under way, and says how
// it ended once; nothing says "Not rolling back".
func TestButtonDuringAnAutomaticRollbackTellsOneStory(t *testing.T) {
	bin := buildRelwatch(t)
	cases := []struct {
		name  string
		stage string
		after time.Duration
	}{
		{"at the request", stageArrived, 0},
		{"300 ms after the request", stageArrived, 300 * time.Millisecond},
		{"1.5 s after the request", stageArrived, 1500 * time.Millisecond},
		{"during the release phase", stageAnswered, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.db")
			r := newCrashRig(t, bin, state)
			db, err := store.Open(context.Background(), state)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var once sync.Once
			pressed := make(chan error, 1)
			r.setHerokuHook(func(s string, req *http.Request) bool {
				if s == tc.stage && isRollbackPOST(req) {
					once.Do(func() {
						time.AfterFunc(tc.after, func() {
							_, err := db.RequestRollbackOf(context.Background(), "crates-io", 42, "ana", "Roll back now")
							pressed <- err
						})
					})
				}
				return false
			})
			w := r.start("worker.1")
			select {
			case err := <-pressed:
				if err != nil {
					t.Fatal(err)
				}
			case <-w.exited:
				t.Fatalf("the worker exited:\n%s", tail(w.out.String(), 40))
			case <-time.After(60 * time.Second):
				t.Fatalf("the rollback never reached Heroku:\n%s", tail(w.out.String(), 40))
			}
			r.waitSettled(w)
			r.waitUntil(w, 30*time.Second, "the request carried out", func() bool {
				reqs, err := db.PendingRequests(context.Background(), "crates-io")
				return err == nil && len(reqs) == 0 && strings.Contains(slackTexts(r.slack.Messages()), "ana asked to roll back")
			})
			w.cmd.Process.Signal(os.Interrupt)
			<-w.exited

			if n := len(r.rollbacksAtHeroku()); n != 1 {
				t.Errorf("%d rollbacks at Heroku", n)
			}
			sl := slackTexts(r.slack.Messages())
			zu := zulipTexts(r.zulip.Messages())
			for chat, said := range map[string]string{"slack": sl, "zulip": zu} {
				for _, want := range []string{"Rolling crates-io back from v42 to v41", "ana asked to roll back crates-io v42", "crates-io is rolled back to v41"} {
					if n := strings.Count(said, want); n != 1 {
						t.Errorf("%s says %q %d times:\n%s", chat, want, n, said)
					}
				}
				if !strings.Contains(said, "already rolling back v42 since") && !strings.Contains(said, "v42 was rolled back already") {
					t.Errorf("%s does not tell ana it was under way:\n%s", chat, said)
				}
				if strings.Contains(said, "Not rolling back") {
					t.Errorf("%s says a rollback was not made:\n%s", chat, said)
				}
			}
			if t.Failed() {
				t.Log(tail(w.out.String(), 40))
			}
		})
	}
}

// rollbacksAtHeroku are the rollback releases Heroku made of crates-io.
func (r *crashRig) rollbacksAtHeroku() []string {
	var out []string
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			out = append(out, rel.Description)
		}
	}
	return out
}
