package watcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// TestAnApprovalFromAClockBehindHerokusIsTaken: "approve crates-io v43"
// given 30 s after Heroku made v43, from a laptop (or one-off dyno) whose
// clock is 2 min behind Heroku's and the worker's, is an approval of v43
// seen by the person, not a typo given before v43 was made: v43's watch
// ends healthy, approved, and v43 (broken) is not rolled back.
func TestAnApprovalFromAClockBehindHerokusIsTaken(t *testing.T) {
	r := newRig(t, 2400, 5*time.Second)
	path := sqliteState(t)
	db, err := store.Open(context.Background(), path, store.WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	withState(r, db)
	laptop, err := store.Open(context.Background(), path, store.WithClock(func() time.Time { return r.now.Add(-2 * time.Minute) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { laptop.Close() })

	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy v42"}, 1800)
	r.run(t, 1795, 2399)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy v43 (broken)"}, 2400)
	r.run(t, 2400, 2429)
	if err := laptop.Approve(context.Background(), "crates-io", 43, "@ana", "looked at it"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 2430, 3000)
	healthy, _ := last(r, notify.WatchHealthy)
	if len(r.rollbacks()) != 0 || healthy.Release != 43 || !strings.Contains(healthy.Text(), "approved by @ana") {
		t.Errorf("the approval of v43 given 30 s after it was made was not taken: rollbacks %v, events %v", r.rollbacks(), r.kinds())
	}
}
