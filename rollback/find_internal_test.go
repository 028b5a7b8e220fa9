package rollback

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/store"
)

// rollbackRelease finds the "Rollback to vN" release a journal entry made:
// the one recorded; else, after the bad release and made since the entry
// was (less startedAhead of clock skew), the one to the entry's target before
// any other, and of the others the oldest; never the bad release itself,
// though it may be a rollback too (a rollback that went bad).
func TestRollbackReleaseIsTheEntrys(t *testing.T) {
	started := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	rel := func(v int, desc string, after time.Duration) heroku.Release {
		return heroku.Release{Version: v, Description: desc, CreatedAt: started.Add(after)}
	}
	entry := store.JournalEntry{Bad: 42, Target: 40, Started: started}
	version := func(r *heroku.Release) int {
		if r == nil {
			return 0
		}
		return r.Version
	}
	for _, tc := range []struct {
		name     string
		releases []heroku.Release // newest first, as Heroku lists them
		created  int
		want     int
	}{
		{"recorded", []heroku.Release{rel(45, "Rollback to v40", time.Second), rel(44, "Rollback to v40", 0)}, 44, 44},
		{"recorded, and Heroku does not have it", []heroku.Release{rel(45, "Rollback to v40", time.Second)}, 44, 0},
		{"the target's before another", []heroku.Release{rel(45, "Rollback to v40", 2*time.Second), rel(44, "Rollback to v39", time.Second), rel(43, "Rollback to v38", 0)}, 0, 45},
		{"else the oldest", []heroku.Release{rel(45, "Rollback to v38", 2*time.Second), rel(44, "Rollback to v39", time.Second), rel(43, "Deploy 1a2b3c4", 0)}, 0, 44},
		{"not the bad release, a rollback itself", []heroku.Release{rel(42, "Rollback to v40", 0), rel(41, "Deploy 1a2b3c4", -time.Hour)}, 0, 0},
		{"not one made before the entry", []heroku.Release{rel(43, "Rollback to v40", -3*time.Minute)}, 0, 0},
		{"a minute of clock skew", []heroku.Release{rel(43, "Rollback to v40", -50*time.Second)}, 0, 43},
		{"a request's clock 2 min ahead of Heroku's", []heroku.Release{rel(43, "Rollback to v40", -2*time.Minute)}, 0, 43},
		{"a deploy is no rollback", []heroku.Release{rel(43, "Deploy 9f3c2e1", time.Second)}, 0, 0},
	} {
		e := entry
		e.Created = tc.created
		if got := version(rollbackRelease(tc.releases, e, nil)); got != tc.want {
			t.Errorf("%s: v%d, want v%d (0: none)", tc.name, got, tc.want)
		}
	}
}

// finished is a journal that keeps what FinishRollback was told.
type finished struct {
	outcome, errText string
	target, created  int
}

func (f *finished) BeginRollback(context.Context, store.JournalEntry) (int64, error) { return 1, nil }
func (f *finished) FinishRollback(_ context.Context, _ int64, outcome string, target, created int, errText string) error {
	*f = finished{outcome: outcome, errText: errText, target: target, created: created}
	return nil
}
func (f *finished) Journal(context.Context, string, bool, int) ([]store.JournalEntry, error) {
	return nil, nil
}

// A rollback skipped is journaled with why (its Reason: there is no Err);
// a failed one with its error.
func TestRecordSaysWhy(t *testing.T) {
	j := &finished{}
	g := &Guard{Journal: j}
	log := slog.New(slog.DiscardHandler)
	g.record(context.Background(), 7, Step{Outcome: Skipped, Target: 40, Reason: "v42 is no longer live"}, log)
	if j.outcome != string(Skipped) || j.errText != "v42 is no longer live" || j.target != 40 {
		t.Errorf("skipped: journaled %+v", *j)
	}
	g.record(context.Background(), 7, Step{Outcome: Failed, Target: 40, Created: 43, Err: "release phase failed", Reason: "unused"}, log)
	if j.outcome != string(Failed) || j.errText != "release phase failed" || j.created != 43 {
		t.Errorf("failed: journaled %+v", *j)
	}
}
