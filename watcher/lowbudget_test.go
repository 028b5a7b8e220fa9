package watcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
)

// rollbackMade reports whether app has a rollback release.
func (f *lowFleet) rollbackMade(app string) bool {
	for _, r := range f.fake.Releases(app) {
		if strings.HasPrefix(r.Description, "Rollback") {
			return true
		}
	}
	return false
}

type lowFleet struct {
	*fleet
	spentAgain bool
}

// 100 apps on one token, an hour and a half of idle polls, then a person's
// script spends the token down to 20 just before app-073's bad release:
// the release is watched and rolled back once the refill allows (the
// rollback never waits for a poll), and the rollback's follow-up reads —
// its 20 s release phase, the token spent down to 5 again meanwhile —
// are not held to the reserve nor slowed to the idle interval: "rolled back" is said when the phase ends, not a minute
// later. Before, the reads waited for a poll Allot would not grant below
// the reserve, then came at the idle interval: rollback.succeeded 60 s
// after the rollback.
func TestLowBudgetRollbackIsFollowedWithoutDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("an hour and 50 min of 100 apps")
	}
	const phase = 20 * time.Second
	f := &lowFleet{fleet: newFleet(t, 100, false, map[string]bool{"app-073": true}, nil, herokusim.WithHerokuRateLimit(), herokusim.WithRollbackReleasePhase(phase))}
	f.release("app-073", 2, t0.Add(brokenFrom))
	f.run(t, 0, brokenFrom-time.Minute)
	before := f.fake.Counts()
	f.fake.SetRateBudget(20)
	// Spent again while the rollback's release phase runs: its reads go
	// on from the reserve.
	for at := brokenFrom - time.Minute + 5*time.Second; at <= brokenFrom+5*time.Minute; at += 5 * time.Second {
		f.run(t, at, at)
		if at > brokenFrom && !f.spentAgain && f.rollbackMade("app-073") {
			f.spentAgain = true
			f.fake.SetRateBudget(5)
		}
	}
	c := f.fake.Counts()
	if n := c.ByStatus[429] - before.ByStatus[429]; n != 0 {
		t.Fatalf("%d answers 429", n)
	}
	var rollbackAt time.Time
	for _, r := range f.fake.Releases("app-073") {
		if strings.HasPrefix(r.Description, "Rollback") {
			rollbackAt = r.CreatedAt
		}
	}
	if rollbackAt.IsZero() {
		t.Fatal("app-073's bad release was not rolled back")
	}
	badFrom := t0.Add(brokenFrom + 30*time.Second)
	if d := rollbackAt.Sub(badFrom); d > time.Minute {
		t.Fatalf("rolled back %s after the bad traffic began", d)
	}
	var said time.Time
	for _, e := range f.rec.Events() {
		if e.App == "app-073" && e.Kind == notify.RollbackSucceeded {
			said = e.At
		}
	}
	t.Logf("bad traffic -> rollback %s; rollback -> rollback.succeeded %s (release phase %s)", rollbackAt.Sub(badFrom), said.Sub(rollbackAt), phase)
	if said.IsZero() || said.Sub(rollbackAt) > phase+10*time.Second {
		t.Fatalf("rollback.succeeded %s after the rollback, whose release phase took %s (zero: never)", said.Sub(rollbackAt), phase)
	}
}
