package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

func TestPruneDeletesOnlyWhatIsOld(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		clk := &clock{now: t0}
		counts := &store.Counts{}
		d := openAt(t, dsn, store.WithClock(clk.Now), store.CountStatements(counts))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		watch := func(app string, v int) {
			t.Helper()
			must(d.SaveWatch(ctx, store.WatchRecord{App: app, Release: store.ReleaseRecord{Version: v}, State: "healthy"}))
		}
		decide := func(app string, n int) {
			t.Helper()
			for i := range n {
				must(d.RecordDecision(ctx, store.DecisionRecord{App: app, Release: i, At: clk.Now(), Action: "healthy", Evidence: "[]"}))
			}
		}
		request := func(app string, finish bool) {
			t.Helper()
			id, err := d.RequestRollback(ctx, app, 0, "ana", "")
			must(err)
			if finish {
				must(d.FinishRequest(ctx, id, "done"))
			}
		}
		rollback := func(app, outcome string) {
			t.Helper()
			id, err := d.BeginRollback(ctx, store.JournalEntry{App: app, Bad: 2, Target: 1, Reason: "r", By: "relwatch"})
			must(err)
			if outcome != "" {
				must(d.FinishRollback(ctx, id, outcome, 1, 3, ""))
			}
		}
		keys := 0
		announce := func(deliver bool) int64 {
			t.Helper()
			keys++
			id, _, err := d.Enqueue(ctx, store.OutboxRow{Chat: "slack", Key: fmt.Sprintf("k%d", keys), Thread: "t", Payload: `{}`, ClaimedBy: "w1"})
			must(err)
			if deliver {
				must(d.Delivered(ctx, id, "delivered"))
			}
			return id
		}

		// 100 days ago: what is over goes, what is not stays.
		watch("old", 1)
		watch("old", 2) // old's newest watch: kept however old
		watch("mixed", 1)
		decide("old", 5)
		request("old", true)
		request("old", false) // never carried out
		rollback("old", "done")
		rollback("old", "")                       // open: the next worker reconciles it
		rollback("old", store.JournalInterrupted) // open too
		announce(true)
		undelivered := announce(false)
		clk.Add(99 * 24 * time.Hour)
		// 1 day ago: all of it stays.
		watch("mixed", 2)
		watch("new", 1)
		decide("new", 1)
		request("new", true)
		rollback("new", "done")
		announce(true)
		clk.Add(24 * time.Hour)

		before, _, _ := counts.Snapshot()
		p, err := d.Prune(ctx, 90*24*time.Hour, 2)
		must(err)
		want := store.Pruned{Watches: 2, Decisions: 5, Requests: 1, Journal: 1, Outbox: 1}
		if p != want {
			t.Fatalf("pruned %+v, want %+v", p, want)
		}
		// At most two rows a statement: watches 2+0, decisions 2+2+1,
		// one each for requests, journal, outbox, approvals, threads and
		// workers, and the stamp of the threads saved before they had a
		// time.
		if n, _, _ := counts.Snapshot(); n-before != 12 {
			t.Errorf("the prune ran %d statements, want 12 (batches of at most 2)", n-before)
		}
		versions := func(app string) []int {
			ws, err := d.Watches(ctx, app, 10)
			must(err)
			var out []int
			for _, w := range ws {
				out = append(out, w.Release.Version)
			}
			return out
		}
		if v := versions("old"); len(v) != 1 || v[0] != 2 {
			t.Errorf("old's watches %v, want its newest, v2", v)
		}
		if v := versions("mixed"); len(v) != 1 || v[0] != 2 {
			t.Errorf("mixed's watches %v, want v2", v)
		}
		if v := versions("new"); len(v) != 1 {
			t.Errorf("new's watches %v, want v1", v)
		}
		if ds, _ := d.Decisions(ctx, "old", 10); len(ds) != 0 {
			t.Errorf("%d old decisions left", len(ds))
		}
		if ds, _ := d.Decisions(ctx, "new", 10); len(ds) != 1 {
			t.Errorf("%d new decisions left, want 1", len(ds))
		}
		if rs, _ := d.PendingRequests(ctx, "old"); len(rs) != 1 {
			t.Errorf("%d pending requests of old, want the one never carried out", len(rs))
		}
		if js, _ := d.Journal(ctx, "old", false, 10); len(js) != 2 || !store.JournalOpen(js[0].Outcome) || !store.JournalOpen(js[1].Outcome) {
			t.Errorf("old's journal %+v, want its two open entries only", js)
		}
		if js, _ := d.Journal(ctx, "new", false, 10); len(js) != 1 {
			t.Errorf("new's journal %+v, want its entry", js)
		}
		if rows, err := d.Undelivered(ctx, "slack", 10); err != nil || len(rows) != 1 || rows[0].ID != undelivered {
			t.Errorf("undelivered announcements %+v, %v; want the one, %d", rows, err, undelivered)
		}
		// Nothing more is old: a second prune deletes nothing.
		if p, err := d.Prune(ctx, 90*24*time.Hour, 2); err != nil || p.Total() != 0 {
			t.Errorf("second prune: %+v, %v", p, err)
		}
	})
}

func TestPruneAtMostOnceAnHour(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		a := openAt(t, dsn, store.WithClock(clk.Now))
		b := openAt(t, dsn, store.WithClock(clk.Now)) // another worker on the same store
		due := func(d *store.DB) bool {
			t.Helper()
			_, pruned, err := d.PruneIfDue(ctx, 90*24*time.Hour, store.PruneEvery, 100)
			if err != nil {
				t.Fatal(err)
			}
			return pruned
		}
		if !due(a) {
			t.Fatal("the first prune did not run")
		}
		if due(b) || due(a) {
			t.Fatal("pruned twice within the hour")
		}
		clk.Add(59 * time.Minute)
		if due(b) {
			t.Fatal("pruned again after 59 minutes")
		}
		clk.Add(time.Minute)
		if !due(b) {
			t.Fatal("not pruned an hour after the last prune")
		}
		if due(a) {
			t.Fatal("pruned twice within the hour")
		}
	})
}

// A worker runs for months on one store: every release leaves a chat
// thread per chat, and every worker that did not stop cleanly (a crash,
// an R15 kill) leaves its heartbeat. Neither was ever pruned, so the
// store grew by both for as long as it was used. A thread not written
// for the retention is forgotten (a late announcement in it opens a new
// one), and so is the heartbeat of a worker not seen for as long.
func TestPruneForgetsOldThreadsAndDeadWorkers(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		d := openAt(t, dsn, store.WithClock(clk.Now))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		const keep = 90 * 24 * time.Hour
		hold := func(holder string) {
			t.Helper()
			_, err := store.NewLeases(d, holder, 10*time.Second, nil).Hold(ctx, []string{"crates-io"})
			must(err)
		}
		thread := func(chat, key string) bool {
			t.Helper()
			_, ok, err := d.Thread(ctx, chat, key)
			must(err)
			return ok
		}

		// 100 days ago: 200 releases' threads in two chats, and a worker
		// that crashed (its heartbeat never given back).
		for v := range 200 {
			for _, chat := range []string{"slack", "zulip"} {
				must(d.SaveThread(ctx, chat, fmt.Sprintf("crates-io/v%d", v), store.Thread{Ref: "ref", Opening: "{}", Key: "k"}))
			}
		}
		hold("worker.1/1/crashed")
		clk.Add(99 * 24 * time.Hour)
		// 1 day ago: the release under watch now, and the worker alive now.
		must(d.SaveThread(ctx, "slack", "crates-io/v200", store.Thread{Ref: "ref", Opening: "{}", Key: "k"}))
		hold("worker.1/2/alive")
		clk.Add(24 * time.Hour)

		p, err := d.Prune(ctx, keep, 50)
		must(err)
		if p.Threads != 400 || p.Workers != 1 {
			t.Errorf("pruned %+v, want the 400 old threads and the crashed worker's heartbeat", p)
		}
		if thread("slack", "crates-io/v0") || thread("zulip", "crates-io/v199") {
			t.Error("threads of releases 100 days old are still kept")
		}
		if !thread("slack", "crates-io/v200") {
			t.Error("the thread of the release of yesterday was forgotten")
		}
		if n, err := d.Workers(ctx); err != nil || n != 1 {
			t.Errorf("%d workers' heartbeats kept (%v), want the live one's", n, err)
		}
		// A thread written before threads had a time may be one under
		// watch: it goes a retention after the first prune that sees it.
		must(d.SaveThreadUntimed(ctx, "slack", "crates-io/v999"))
		if _, err := d.Prune(ctx, keep, 50); err != nil || !thread("slack", "crates-io/v999") {
			t.Fatalf("a thread of unknown age was forgotten at once (%v)", err)
		}
		clk.Add(keep + time.Hour)
		if _, err := d.Prune(ctx, keep, 50); err != nil || thread("slack", "crates-io/v999") {
			t.Fatalf("a thread of unknown age is kept a retention after it was first seen (%v)", err)
		}
		must(d.SaveThread(ctx, "slack", "crates-io/v200", store.Thread{Ref: "ref", Opening: "{}", Key: "k"}))
		// A thread written again is young again.
		clk.Add(80 * 24 * time.Hour)
		must(d.SaveThread(ctx, "slack", "crates-io/v200", store.Thread{Ref: "ref", Opening: `{"edited":true}`, Key: "k"}))
		clk.Add(20 * 24 * time.Hour)
		if _, err := d.Prune(ctx, keep, 50); err != nil {
			t.Fatal(err)
		}
		if !thread("slack", "crates-io/v200") {
			t.Error("a thread edited 20 days ago was forgotten")
		}
	})
}
