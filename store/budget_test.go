package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// Three workers on one token claim polls from one budget: together they
// never get past the reserve, however they interleave; Heroku's refill
// comes back to them; an answer from Heroku lowers the ledger, and is it
// only when no claim came after the answer's request; an older answer
// changes nothing; before any worker has heard Heroku, polls are not held
// back.
func TestBudgetSharedByWorkers(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		var now atomic.Int64
		t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
		now.Store(t0.UnixMilli())
		clock := store.WithClock(func() time.Time { return time.UnixMilli(now.Load()).UTC() })
		workers := []*store.DB{openAt(t, dsn, clock), openAt(t, dsn, clock), openAt(t, dsn, clock)}
		ctx := context.Background()
		const tok = "sha256:0f1e2d3c4b5a"

		if g, err := workers[0].ClaimPolls(ctx, store.PollClaim{Token: tok, Want: 7, Reserve: 100}); err != nil || g.Granted != 7 || g.Known {
			t.Fatalf("before any answer: %+v, %v; want all 7 granted, the budget unknown", g, err)
		}

		// One worker heard 300 left; then each of the three wants 80 at once.
		claimAll := func(want int, heard func(i int) store.PollClaim) int {
			var wg sync.WaitGroup
			var total atomic.Int64
			for i, w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := heard(i)
					c.Token, c.Want, c.Reserve = tok, want, 100
					g, err := w.ClaimPolls(ctx, c)
					if err != nil {
						t.Errorf("worker %d: %v", i, err)
						return
					}
					total.Add(int64(g.Granted))
				}()
			}
			wg.Wait()
			return int(total.Load())
		}
		if g, err := workers[0].ClaimPolls(ctx, store.PollClaim{Token: tok, Heard: 300, HeardAfter: t0.Add(-5 * time.Second), HeardBy: t0, Known: true, Reserve: 100}); err != nil || g.Remaining != 300 || !g.Known {
			t.Fatalf("heard 300: %+v, %v", g, err)
		}
		got := claimAll(80, func(i int) store.PollClaim {
			if i == 0 { // the same answer again: no news
				return store.PollClaim{Heard: 300, HeardAfter: t0.Add(-5 * time.Second), HeardBy: t0, Known: true}
			}
			return store.PollClaim{}
		})
		if got != 200 {
			t.Fatalf("three workers wanting 80 each of 300 left above a reserve of 100 got %d, want 200", got)
		}
		if g, _ := workers[1].ClaimPolls(ctx, store.PollClaim{Token: tok, Want: 1, Reserve: 100}); g.Granted != 0 || g.Remaining != 100 {
			t.Fatalf("at the reserve: %+v, want nothing granted and 100 left", g)
		}

		// A minute of Heroku's refill (75) is shared again (polls due
		// before those refused at t0: nothing holds them back).
		now.Add(time.Minute.Milliseconds())
		older := make([]time.Time, 80)
		for i := range older {
			older[i] = t0.Add(-time.Hour)
		}
		if got := claimAll(30, func(int) store.PollClaim { return store.PollClaim{IdleDue: older[:30]} }); got != 75 {
			t.Fatalf("a minute later the three got %d of the refill, want 75", got)
		}

		// An answer whose request may have come before the last claim only
		// lowers the ledger: 4000 does not raise it, 50 lowers it; one older
		// than the last taken in changes nothing.
		// (The polls are due long ago: none refused before holds them back.)
		claim := func(w *store.DB, heard int, after time.Duration, want int) store.PollGrant {
			t.Helper()
			g, err := w.ClaimPolls(ctx, store.PollClaim{Token: tok, Heard: heard, HeardAfter: t0.Add(after),
				HeardBy: time.UnixMilli(now.Load()).UTC(), Known: true, Want: want, IdleDue: older[:want], Reserve: 100})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		if g := claim(workers[2], 4000, 55*time.Second, 10); g.Granted != 0 || g.Remaining != 100 {
			t.Fatalf("an answer of 4000 from before the last claim: %+v, want the ledger's 100 and nothing granted", g)
		}
		if g := claim(workers[2], 50, 56*time.Second, 10); g.Granted != 0 || g.Remaining != 50 {
			t.Fatalf("an answer of 50: %+v, want 50 left", g)
		}
		if g := claim(workers[1], 3000, 40*time.Second, 10); g.Granted != 0 || g.Remaining != 50 {
			t.Fatalf("an answer older than the last taken in: %+v, want it ignored", g)
		}
		// A minute on (the ledger refilled to 125), an answer from after
		// the last claim is the budget: 150.
		now.Add(time.Minute.Milliseconds())
		if g := claim(workers[0], 150, 90*time.Second, 80); g.Granted != 50 || g.Remaining != 100 {
			t.Fatalf("an answer of 150 after the last claim: %+v, want 50 granted and 100 left", g)
		}

		// Another token has its own budget.
		if g, _ := workers[0].ClaimPolls(ctx, store.PollClaim{Token: "sha256:other", Heard: 4500, HeardAfter: t0, HeardBy: t0.Add(time.Minute), Known: true, Want: 80, Reserve: 100}); g.Granted != 80 {
			t.Fatalf("another token: %+v", g)
		}
	})
}

// When the budget is short, the workers' polls are granted the longest
// waiting first, whichever worker claims first: a worker refused polls
// holds back the others' younger idle ones until its next claim, a
// refused urgent one holds back every idle one, a worker's own refusal
// does not hold it back, and a worker that stopped claiming holds nothing
// back after a minute.
func TestBudgetLongestWaitingFirst(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		var now atomic.Int64
		t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
		now.Store(t0.UnixMilli())
		at := func(d time.Duration) { now.Store(t0.Add(d).UnixMilli()) }
		clock := store.WithClock(func() time.Time { return time.UnixMilli(now.Load()).UTC() })
		w := []*store.DB{openAt(t, dsn, clock), openAt(t, dsn, clock), openAt(t, dsn, clock)}
		ctx := context.Background()
		const tok = "sha256:fair"
		// ago lists n idle polls due d before t0.
		ago := func(d time.Duration, n int) []time.Time {
			var out []time.Time
			for range n {
				out = append(out, t0.Add(-d))
			}
			return out
		}
		claim := func(step string, i, urgent int, idle []time.Time, want int) {
			t.Helper()
			g, err := w[i].ClaimPolls(ctx, store.PollClaim{Token: tok, Want: urgent + len(idle), Urgent: urgent, IdleDue: idle, Reserve: 100})
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if g.Granted != want {
				t.Fatalf("%s: worker %d granted %d (%d left), want %d", step, i, g.Granted, g.Remaining, want)
			}
		}

		// 110 left: worker 0, claiming first, takes the 10 above the
		// reserve; worker 1's older polls are refused.
		if _, err := w[0].ClaimPolls(ctx, store.PollClaim{Token: tok, Heard: 110, HeardAfter: t0.Add(-5 * time.Second), HeardBy: t0, Known: true, Reserve: 100}); err != nil {
			t.Fatal(err)
		}
		claim("first claim", 0, 0, ago(10*time.Second, 10), 10)
		claim("older polls, nothing left", 1, 0, ago(90*time.Second, 4), 0)

		// 4 s of refill (5): worker 0 claims first again, but only its
		// poll older than worker 1's is granted; worker 1 gets the rest.
		at(4 * time.Second)
		claim("worker 0 again", 0, 0, append(ago(100*time.Second, 1), ago(5*time.Second, 2)...), 1)
		claim("worker 1's turn", 1, 0, ago(90*time.Second, 4), 4)

		// An urgent poll refused holds back every idle one, however old.
		at(8 * time.Second)
		claim("urgent polls", 2, 6, nil, 5)
		at(12 * time.Second)
		claim("an old idle poll", 0, 0, ago(200*time.Second, 1), 0)
		claim("the urgent one", 2, 1, nil, 1)
		claim("the old idle poll again", 0, 0, ago(200*time.Second, 1), 1)

		// Worker 1 is refused, then stops claiming: its wait holds worker
		// 0 back for a minute, no longer; worker 0's own refusal never.
		claim("worker 1 refused", 1, 0, ago(300*time.Second, 10), 3)
		at(42 * time.Second)
		claim("younger, worker 1 waiting", 0, 0, ago(-30*time.Second, 5), 0)
		at(73 * time.Second)
		claim("younger, worker 1 gone", 0, 0, ago(-60*time.Second, 90), 76)
		at(77 * time.Second)
		claim("its own refusal", 0, 0, ago(-60*time.Second, 14), 5)
	})
}
