package watcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
)

// A person's rollback --to a release that cannot be gone back to (the bad
// release itself, typed as "roll back v42", or one that is not there)
// fails without asking Heroku, and its announcement must not tell them to
// do the same by hand: `heroku rollback v42` with v42 live makes a copy of
// the bad release.
func TestAPersonsRollbackToAnUnusableReleaseIsNotAdvisedByHand(t *testing.T) {
	db := openStore(t, sqliteState(t))
	ctx := context.Background()
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	withState(r, db)
	r.run(t, 1795, 1810)
	for _, to := range []int{42, 99} {
		if _, err := db.RequestRollback(ctx, "crates-io", to, "ben", "downloads broken"); err != nil {
			t.Fatal(err)
		}
		r.run(t, 1811, 1811)
	}
	var failed []string
	for _, e := range r.rec.Events() {
		if e.Kind == notify.RollbackFailed {
			failed = append(failed, e.Text())
		}
	}
	if len(failed) != 2 {
		t.Fatalf("want two rollback.failed, got %d: %v", len(failed), r.kinds())
	}
	for i, to := range []string{"v42", "v99"} {
		text := failed[i]
		if strings.Contains(text, "heroku rollback "+to) || !strings.Contains(text, "v42 was not rolled back") ||
			!strings.Contains(text, "name a release older than v42 that succeeded") {
			t.Errorf("--to %s: %s", to, text)
		}
	}
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back: %+v", rbs)
	}
}
