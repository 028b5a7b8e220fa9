package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// TestPruneForgetsOldApprovals approves a release a day for 200 days, each
// watched as the worker does, pruning daily with a 90-day retention: the
// approvals kept must not grow with the days. What a worker still reads
// stays: the approvals within the retention, and that of the app's newest
// watch (or a release after it, not seen yet) however old.
func TestPruneForgetsOldApprovals(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
		d := openAt(t, dsn, store.WithClock(clk.Now))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		const keep = 90 * 24 * time.Hour
		kept := func(upTo int) int {
			t.Helper()
			n := 0
			for v := 1; v <= upTo; v++ {
				by, err := d.ApprovedBy(ctx, "crates-io", v)
				must(err)
				if by != "" {
					n++
				}
			}
			return n
		}
		days := func(from, to int) {
			for v := from; v <= to; v++ {
				must(d.SaveWatch(ctx, store.WatchRecord{App: "crates-io", Release: store.ReleaseRecord{Version: v}, State: "watching"}))
				must(d.Approve(ctx, "crates-io", v, "ana", "looks fine"))
				must(d.SaveWatch(ctx, store.WatchRecord{App: "crates-io", Release: store.ReleaseRecord{Version: v}, State: "healthy"}))
				clk.Add(24 * time.Hour)
				_, err := d.Prune(ctx, keep, 100)
				must(err)
			}
		}
		days(1, 100)
		at100 := kept(100)
		days(101, 200)
		at200 := kept(200)
		t.Logf("approvals kept: %d after 100 days, %d after 200", at100, at200)
		if at200 > 91 {
			t.Errorf("after 200 days %d approvals are kept (%d after 100), with a retention of 90 days", at200, at100)
		}
		// Approved ahead, before the release is seen: kept past the
		// retention, until a watch of it or a later release.
		must(d.Approve(ctx, "crates-io", 250, "ana", "ahead"))
		clk.Add(2 * keep)
		_, err := d.Prune(ctx, keep, 100)
		must(err)
		if by, err := d.ApprovedBy(ctx, "crates-io", 250); err != nil || by != "ana" {
			t.Errorf("the approval of v250, not seen yet, is gone after a prune (%q, %v)", by, err)
		}
		if by, err := d.ApprovedBy(ctx, "crates-io", 200); err != nil || by != "ana" {
			t.Errorf("the approval of v200, the newest watch, is gone after a prune (%q, %v)", by, err)
		}
	})
}
