package rollback_test

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/store/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

func openJournal(t *testing.T) *store.DB {
	t.Helper()
	return storetest.Open(t)
}

func journaled(t *testing.T, db *store.DB, id int64) store.JournalEntry {
	t.Helper()
	js, err := db.Journal(context.Background(), "crates-io", false, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("journal entry %d not found in %+v", id, js)
	return store.JournalEntry{}
}

// TestGuardCarryJournalsHowFarItGot: the guard journals the rollback's
// outcome as the Roller left it, and an interrupted one stays open.
func TestGuardCarryJournalsHowFarItGot(t *testing.T) {
	tests := []struct {
		name    string
		phase   time.Duration // the rollback release's phase
		stopped bool          // the worker is stopping
		want    rollback.Outcome
		open    bool
	}{
		{name: "done", want: rollback.Done},
		{name: "the rollback release's phase runs", phase: time.Minute, want: rollback.Pending, open: true},
		{name: "stopped before Heroku had it", stopped: true, want: rollback.Interrupted, open: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := herokusim.New(token, herokusim.WithRollbackReleasePhase(tt.phase))
			t.Cleanup(f.Close)
			now := time.Now()
			f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: now.Add(-time.Hour)})
			f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy b", CreatedAt: now.Add(-time.Minute)})
			client := heroku.New(f.URL(), token, heroku.WithTimeout(2*time.Second))
			db := openJournal(t)
			g := &rollback.Guard{Roller: &rollback.Roller{Heroku: client, Timeout: 2 * time.Second}, Journal: db, Heroku: client}
			id, err := g.Begin(context.Background(), store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: "relwatch", Started: now})
			if err != nil || id == 0 {
				t.Fatalf("begin: %d %v", id, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tt.stopped {
				cancel()
			}
			defer cancel()
			st := g.Carry(ctx, id, 41, rollback.Request{App: "crates-io", Bad: 42}, quiet)
			if st.Outcome != tt.want || st.Target != 41 {
				t.Fatalf("step %+v: want %s to v41", st, tt.want)
			}
			j := journaled(t, db, id)
			if j.Outcome != string(tt.want) || store.JournalOpen(j.Outcome) != tt.open {
				t.Fatalf("journal %+v: want %s (open %v)", j, tt.want, tt.open)
			}
		})
	}
}

// TestGuardFollowReadsThePhaseOnce: a pending rollback release is followed
// to its end, as Heroku's status says, and journaled.
func TestGuardFollowReadsThePhaseOnce(t *testing.T) {
	tests := []struct {
		status string
		ended  bool
		want   rollback.Outcome
	}{
		{status: heroku.StatusPending},
		{status: heroku.StatusSucceeded, ended: true, want: rollback.Done},
		{status: heroku.StatusFailed, ended: true, want: rollback.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			db := openJournal(t)
			g := &rollback.Guard{Journal: db}
			ctx := context.Background()
			id, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: "ana", Started: time.Now()})
			releases := []heroku.Release{{Version: 43, Description: "Rollback to v41", Status: tt.status}, {Version: 42, Status: heroku.StatusSucceeded}}
			st, ended := g.Follow(ctx, id, releases, 43, 42, 41, quiet)
			if ended != tt.ended || ended && st.Outcome != tt.want {
				t.Fatalf("step %+v ended %v: want %s ended %v", st, ended, tt.want, tt.ended)
			}
			j := journaled(t, db, id)
			if !tt.ended {
				if j.Outcome != "" {
					t.Fatalf("journal %+v: a running phase is not recorded", j)
				}
				return
			}
			if j.Outcome != string(tt.want) || j.Created != 43 {
				t.Fatalf("journal %+v", j)
			}
			if tt.want == rollback.Failed && !strings.Contains(st.Err, "v43 (Rollback to v41) but its release phase failed; v42 is still live") {
				t.Fatalf("why: %q", st.Err)
			}
		})
	}
	if _, ended := (&rollback.Guard{}).Follow(context.Background(), 0, nil, 43, 42, 41, quiet); ended {
		t.Fatal("a rollback release not listed yet has not ended")
	}
}

// TestGuardReconcile: a stopped worker's open entries, against what Heroku
// has: the rollback release found (its phase says how it stands), or
// none (a recent one is resumed, an old one abandoned; a recent automatic
// one is skipped while automatic rollback is held, a person's resumed).
func TestGuardReconcile(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		rollback *herokusim.ReleaseSpec // what Heroku has after v42
		started  time.Time
		by       string // "": relwatch
		held     string
		want     rollback.Outcome
		created  int
	}{
		{name: "never reached Heroku, recent", started: now.Add(-time.Minute), want: rollback.Resume},
		{name: "never reached Heroku, old", started: now.Add(-time.Hour), want: rollback.Abandoned},
		{name: "never reached Heroku, recent, held", started: now.Add(-time.Minute), held: "automatic rollback is paused by ana until resumed", want: rollback.Skipped},
		{name: "never reached Heroku, old, held", started: now.Add(-time.Hour), held: "automatic rollback is paused by ana until resumed", want: rollback.Abandoned},
		{name: "a person's never reached Heroku, recent, held", by: "ana", started: now.Add(-time.Minute), held: "automatic rollback is paused by ana until resumed", want: rollback.Resume},
		{name: "Heroku has it, phase runs", started: now.Add(-time.Minute), created: 43, want: rollback.Pending,
			rollback: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", CreatedAt: now.Add(-30 * time.Second), PendingFor: time.Hour}},
		{name: "Heroku has it, succeeded", started: now.Add(-time.Minute), created: 43, want: rollback.Done,
			rollback: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", CreatedAt: now.Add(-30 * time.Second)}},
		{name: "Heroku has it, phase failed", started: now.Add(-time.Minute), created: 43, want: rollback.Failed,
			rollback: &herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", CreatedAt: now.Add(-30 * time.Second), Status: heroku.StatusFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := []herokusim.ReleaseSpec{}
			if tt.rollback != nil {
				extra = append(extra, *tt.rollback)
			}
			f, r := setup(t, extra...)
			db := openJournal(t)
			g := &rollback.Guard{Roller: r, Journal: db, Heroku: r.Heroku}
			ctx := context.Background()
			by := cmp.Or(tt.by, store.Automatic)
			id, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: by, Started: tt.started})
			done, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 40, Target: 39, By: store.Automatic, Started: tt.started})
			if err := db.FinishRollback(ctx, done, string(rollback.Done), 39, 41, ""); err != nil {
				t.Fatal(err)
			}
			restored, err := g.Restore(ctx, "crates-io", now, now.Add(-2*time.Hour), tt.held, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if s := restored.Settled; len(s) != 1 || s[0].ID != done || s[0].Step.Outcome != rollback.Done || s[0].Step.Created != 41 || s[0].Round != 1 {
				t.Fatalf("settled %+v: want entry %d done as v41", s, done)
			}
			open := restored.Open
			if len(open) != 1 || open[0].ID != id || open[0].Step.Outcome != tt.want || open[0].Step.Created != tt.created {
				t.Fatalf("reconciled %+v: want entry %d %s (created v%d)", open, id, tt.want, tt.created)
			}
			j := journaled(t, db, id)
			if tt.want == rollback.Resume {
				if j.Outcome != "" {
					t.Fatalf("journal %+v: a rollback to resume stays as it was", j)
				}
			} else if j.Outcome != string(tt.want) {
				t.Fatalf("journal %+v: want %s", j, tt.want)
			}
			if tt.want == rollback.Skipped && (!strings.Contains(j.Error, tt.held) || open[0].Step.Reason != j.Error) {
				t.Fatalf("skipped for %q, journaled %q: want both to name %q", open[0].Step.Reason, j.Error, tt.held)
			}
			if n := len(rollbacks(f)); n != len(extra) {
				t.Fatalf("%d rollbacks at Heroku: reconciling makes none", n)
			}
		})
	}
}

// TestRoundCountsFailedAutomaticRounds: a person's rollbacks and other
// releases' do not count.
func TestRoundCountsFailedAutomaticRounds(t *testing.T) {
	journal := []store.JournalEntry{ // newest first
		{ID: 5, Bad: 42, By: "relwatch", Outcome: string(rollback.Failed)},
		{ID: 4, Bad: 42, By: "ana", Outcome: string(rollback.Failed)},
		{ID: 3, Bad: 41, By: "relwatch", Outcome: string(rollback.Failed)},
		{ID: 2, Bad: 42, By: "relwatch", Outcome: string(rollback.Failed)},
		{ID: 1, Bad: 42, By: "relwatch", Outcome: string(rollback.Done)},
	}
	if n := rollback.Round(journal, 42, 0); n != 3 {
		t.Fatalf("next round %d, want 3", n)
	}
	// An entry's round is the one its worker announced: one more than the
	// failed rounds before it (entry 1 was done: entry 2 was round 1 again).
	if n := rollback.Round(journal, 42, 5); n != 2 {
		t.Fatalf("round of entry 5: %d, want 2", n)
	}
	if n := rollback.Round(journal, 42, 2); n != 1 {
		t.Fatalf("round of entry 2: %d, want 1", n)
	}
}

// TestActingIsToldOnceBeforeThePOST: the roller says it acts only when it
// does, once, before Heroku is asked; a skipped rollback never.
func TestActingIsToldOnceBeforeThePOST(t *testing.T) {
	f, r := setup(t)
	f.InjectFault(herokusim.Fault{Method: "POST", Status: 503, ID: "unavailable", Message: "try again"})
	var told []int
	res := r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42, Acting: func(target heroku.Release) {
		if len(rollbacks(f)) != 0 {
			t.Error("told after Heroku was asked")
		}
		told = append(told, target.Version)
	}})
	if res.Outcome != rollback.Done || res.Attempts != 2 || len(told) != 1 || told[0] != 41 {
		t.Fatalf("result %+v, told %v: want one word, before the first of 2 attempts", res, told)
	}
	res = r.Do(context.Background(), rollback.Request{App: "crates-io", Bad: 42, Acting: func(heroku.Release) { t.Error("told of a rollback skipped") }})
	if res.Outcome != rollback.Skipped {
		t.Fatalf("result %+v: v42 is rolled back already", res)
	}
}

// failing is a journal whose store does not answer while down.
type failing struct {
	*store.DB
	down bool
	// loseBegin: the next begin is committed, and its answer lost (the
	// connection cut after the COMMIT, the write's timeout passing as it
	// lands).
	loseBegin bool
}

func (f *failing) BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error) {
	if f.down {
		return 0, context.DeadlineExceeded
	}
	id, err := f.DB.BeginRollback(ctx, e)
	if err == nil && f.loseBegin {
		f.loseBegin = false
		return 0, context.DeadlineExceeded
	}
	return id, err
}

func (f *failing) FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error {
	if f.down {
		return context.DeadlineExceeded
	}
	return f.DB.FinishRollback(ctx, id, outcome, target, created, errText)
}

// TestGuardKeepsTheJournalThroughAnOutage: with the store down the
// rollback is made all the same; its entry and how it ended are written,
// in order, when the store answers.
func TestGuardKeepsTheJournalThroughAnOutage(t *testing.T) {
	f, r := setup(t)
	j := &failing{DB: openJournal(t), down: true}
	g := &rollback.Guard{Roller: r, Journal: j, Heroku: r.Heroku}
	ctx := context.Background()
	id, err := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: "relwatch", Started: time.Now()})
	if err == nil || id >= 0 {
		t.Fatalf("begin with the store down: id %d, err %v", id, err)
	}
	st := g.Carry(ctx, id, 41, rollback.Request{App: "crates-io", Bad: 42}, quiet)
	if st.Outcome != rollback.Done || len(rollbacks(f)) != 1 {
		t.Fatalf("step %+v: the rollback must be made with the store down", st)
	}
	if err := g.Flush(ctx); err == nil {
		t.Fatal("flushed to a store that is down")
	}
	j.down = false
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	js, _ := j.Journal(ctx, "crates-io", false, 5)
	if len(js) != 1 || js[0].Outcome != string(rollback.Done) || js[0].Created != st.Created {
		t.Fatalf("journal %+v: want the rollback, done", js)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if js, _ := j.Journal(ctx, "crates-io", false, 5); len(js) != 1 {
		t.Fatalf("journal %+v: written twice", js)
	}
}

// TestGuardJournalsOnceWhenTheBeginsAnswerIsLost: the store took the
// begin but its answer was lost, so the guard kept it and Flush writes it
// again. The journal has the rollback once, keyed as it was announced: an
// entry left open would be reconciled, and announced, a second time by
// the next worker.
func TestGuardJournalsOnceWhenTheBeginsAnswerIsLost(t *testing.T) {
	f, r := setup(t)
	j := &failing{DB: openJournal(t), loseBegin: true}
	g := &rollback.Guard{Roller: r, Journal: j, Heroku: r.Heroku}
	ctx := context.Background()
	started := time.Now()
	id, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: store.Automatic, Started: started})
	if id >= 0 {
		t.Fatalf("id %d: a begin whose answer was lost is kept", id)
	}
	if st := g.Carry(ctx, id, 41, rollback.Request{App: "crates-io", Bad: 42}, quiet); st.Outcome != rollback.Done || len(rollbacks(f)) != 1 {
		t.Fatalf("step %+v", st)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A worker takes the app over (a restart, the lease).
	next := &rollback.Guard{Roller: r, Journal: j.DB, Heroku: r.Heroku}
	restored, err := next.Restore(ctx, "crates-io", time.Now(), started.Add(-time.Hour), "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored.Settled) != 1 || len(restored.Open) != 0 {
		js, _ := j.Journal(ctx, "crates-io", false, 5)
		t.Fatalf("one rollback, restored as %d settled + %d open (each said again): journal %+v", len(restored.Settled), len(restored.Open), js)
	}
	if said := restored.Settled[0].Said(); said != id {
		t.Fatalf("restored to be said under %d; it was announced under %d", said, id)
	}
}

// Round 1 made v43 (Rollback to v41) and its phase failed: entry 1 is
// closed, Failed, created v43. Round 2 begins 50 s later (roundSpacing is
// 30 s) and the worker dies before its POST reaches Heroku. The next
// worker must not take round 1's v43 for round 2's rollback: round 2
// never reached Heroku and is to be resumed.
func TestReconcileDoesNotClaimAnEarlierRoundsRollback(t *testing.T) {
	now := time.Now()
	f, r := setup(t, herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41", CreatedAt: now.Add(-50 * time.Second), Status: heroku.StatusFailed})
	db := openJournal(t)
	g := &rollback.Guard{Roller: r, Journal: db, Heroku: r.Heroku}
	ctx := context.Background()
	round1, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: store.Automatic, Started: now.Add(-51 * time.Second)})
	if err := db.FinishRollback(ctx, round1, string(rollback.Failed), 41, 43, "Heroku created v43 (Rollback to v41) but its release phase failed; v42 is still live"); err != nil {
		t.Fatal(err)
	}
	round2, _ := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: store.Automatic, Started: now})
	// The worker stops here, before Heroku is called.
	restored, err := g.Restore(ctx, "crates-io", now.Add(time.Second), now.Add(-time.Hour), "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	open := restored.Open
	if len(open) != 1 || open[0].ID != round2 {
		t.Fatalf("open %+v: want round 2 (entry %d)", open, round2)
	}
	if st := open[0].Step; st.Outcome != rollback.Resume || st.Created != 0 {
		t.Fatalf("round 2, which never reached Heroku, reconciled as %s (created v%d, err %q): want resume", st.Outcome, st.Created, st.Err)
	}
	if n := len(rollbacks(f)); n != 1 {
		t.Fatalf("%d rollbacks at Heroku", n)
	}
}

// hanging is a journal that answers nothing until its call's context ends:
// a table another session holds locked.
type hanging struct{ *store.DB }

func (h hanging) BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (h hanging) Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestGuardBoundsEachJournalCallByItsTimeout: a journal that does not
// answer is down after the guard's Timeout (the watcher's store bound),
// for a read and a write, and the rollback is made all the same.
func TestGuardBoundsEachJournalCallByItsTimeout(t *testing.T) {
	f, r := setup(t)
	g := &rollback.Guard{Roller: r, Journal: hanging{openJournal(t)}, Heroku: r.Heroku, Timeout: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), store.CallTimeout)
	defer cancel()
	if _, err := g.Restore(ctx, "crates-io", time.Now(), time.Now().Add(-time.Hour), "", quiet); !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("restore: %v (the test's own %s bound: %v); want the guard's 50ms to end it", err, store.CallTimeout, ctx.Err())
	}
	id, err := g.Begin(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, By: "relwatch", Started: time.Now()})
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || id >= 0 {
		t.Fatalf("begin: id %d, %v (the test's own bound: %v); want it kept after the guard's 50ms", id, err, ctx.Err())
	}
	if st := g.Carry(ctx, id, 41, rollback.Request{App: "crates-io", Bad: 42}, quiet); st.Outcome != rollback.Done || len(rollbacks(f)) != 1 {
		t.Fatalf("step %+v: the rollback must be made with the journal hung", st)
	}
}
