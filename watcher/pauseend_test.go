package watcher_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// A timed pause that runs out is said in the chat, once, before the
// rollback it no longer holds back: the pause's end was told only to
// whoever paused, and then relwatch rolled back with nobody told that
// automatic rollback was on again. A pause a person resumes is announced
// as their resume, not as one that ran out.
func TestATimedPauseThatRunsOutIsAnnounced(t *testing.T) {
	ctx := context.Background()
	t.Run("runs out", func(t *testing.T) {
		r, db := statefulRig(t, 1830) // v42 bad from 1830 s
		r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
		r.run(t, 1795, 1805)
		if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", Until: r.now.Add(90 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		r.run(t, 1806, 1960)
		kinds := r.kinds()
		ended := slices.Index(kinds, string(notify.PauseEnded))
		started := slices.Index(kinds, string(notify.RollbackStarted))
		if ended < 0 || started < ended || slices.Index(kinds[ended+1:], string(notify.PauseEnded)) >= 0 {
			t.Fatalf("events %v: want override.ended once, before rollback.started", kinds)
		}
		e, _ := last(r, notify.PauseEnded)
		if s := e.Text(); !strings.Contains(s, "ana's pause of automatic rollback of crates-io ran out at") || !strings.Contains(s, "(migration)") || e.Release != 42 {
			t.Errorf("override.ended of v%d: %q", e.Release, s)
		}
	})
	t.Run("resumed", func(t *testing.T) {
		r, db := statefulRig(t, 0)
		r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
		r.run(t, 1795, 1805)
		if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Until: r.now.Add(90 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		r.run(t, 1806, 1810)
		if _, err := db.Resume(ctx, "crates-io", "ben"); err != nil {
			t.Fatal(err)
		}
		r.run(t, 1811, 1960)
		if kinds := r.kinds(); slices.Contains(kinds, string(notify.PauseEnded)) || !slices.Contains(kinds, string(notify.Resumed)) {
			t.Fatalf("events %v: a resumed pause is ben's resume, and did not run out", kinds)
		}
	})
}
