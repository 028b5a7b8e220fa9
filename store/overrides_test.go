package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

func TestOverridesOfManyAppsInOneQuery(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		counts := &store.Counts{}
		d := openAt(t, dsn, store.WithClock(clk.Now), store.CountStatements(counts))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(d.SetPause(ctx, store.Pause{App: "paused", By: "ana", Reason: "migration", Until: clk.Now().Add(time.Hour)}))
		must(d.SetPause(ctx, store.Pause{App: "expired", By: "ben", Until: clk.Now().Add(time.Minute)}))
		must(d.SetPause(ctx, store.Pause{App: "forever", By: "cy"}))
		must(d.SetPause(ctx, store.Pause{App: "unwatched", By: "dee"}))
		must(d.Approve(ctx, "paused", 41, "bob", "")) // not the release under watch
		must(d.Approve(ctx, "paused", 42, "ana", "checked"))
		must(d.Approve(ctx, "idle", 7, "eve", ""))  // no release under watch
		must(d.Approve(ctx, "newer", 4, "fay", "")) // an earlier release than the one under watch
		id, err := d.RequestRollback(ctx, "forever", 40, "cy", "broken")
		must(err)
		_, err = d.RequestRollbackOf(ctx, "idle", 8, "gil", "the button")
		must(err)
		// Every app but "quiet" has requests pending (the pauses and
		// approvals queue theirs); carry out those of "expired".
		expired, err := d.PendingRequests(ctx, "expired")
		must(err)
		for _, r := range expired {
			must(d.FinishRequest(ctx, r.ID, "announced"))
		}
		clk.Add(2 * time.Minute) // the pause of "expired" ends

		watched := map[string]int{"paused": 42, "expired": 3, "forever": 0, "idle": 0, "quiet": 9, "newer": 5}
		before, _, _ := counts.Snapshot()
		got, err := d.Overrides(ctx, watched)
		must(err)
		if n, _, _ := counts.Snapshot(); n-before != 1 {
			t.Fatalf("Overrides of %d apps ran %d statements, want 1", len(watched), n-before)
		}
		if len(got) != len(watched) {
			t.Fatalf("Overrides answered for %d apps, want %d: %v", len(got), len(watched), got)
		}
		describe := func(o store.OverrideRecord) string {
			s := ""
			if o.Pause != nil {
				s += fmt.Sprintf("paused by %s (%s) until %s; ", o.Pause.By, o.Pause.Reason, o.Pause.Until.Format(time.TimeOnly))
			}
			if o.Approved != "" {
				s += fmt.Sprintf("approved by %s at %s; ", o.Approved, o.ApprovedAt.Format(time.TimeOnly))
			}
			for _, r := range o.Requests {
				s += fmt.Sprintf("%s v%d by %s; ", r.Kind, r.To, r.By)
				if r.From != 0 {
					s += fmt.Sprintf("(from v%d) ", r.From)
				}
			}
			return s
		}
		want := map[string]string{
			"paused":  "paused by ana (migration) until 13:00:00; approved by ana at 12:00:00; pause v0 by ana; approve v41 by bob; approve v42 by ana; ",
			"expired": "",
			"forever": "paused by cy () until 00:00:00; pause v0 by cy; rollback v40 by cy; ",
			"idle":    "approve v7 by eve; rollback v0 by gil; (from v8) ",
			"quiet":   "",
			"newer":   "approve v4 by fay; ",
		}
		for app, w := range want {
			if g := describe(got[app]); g != w {
				t.Errorf("%s: %q\nwant %q", app, g, w)
			}
		}
		if rs := got["forever"].Requests; len(rs) != 2 || rs[1].ID != id || rs[1].Reason != "broken" || !rs[1].At.Equal(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("the rollback request of forever: %+v", rs)
		}
		if p := got["paused"].Pause; p == nil || p.App != "paused" || !p.At.Equal(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("the pause of paused: %+v", p)
		}
		if empty, err := d.Overrides(ctx, map[string]int{}); err != nil || len(empty) != 0 {
			t.Errorf("Overrides of no app = %v, %v", empty, err)
		}
	})
}

// A pause is in force until resumed, or up to (not at) its end: the one
// rule the store and the watcher both read (issue 18).
func TestPauseActiveAt(t *testing.T) {
	end := time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p    store.Pause
		at   time.Time
		want bool
	}{
		{store.Pause{}, end.Add(100 * time.Hour), true},
		{store.Pause{Until: end}, end.Add(-time.Millisecond), true},
		{store.Pause{Until: end}, end, false},
		{store.Pause{Until: end}, end.Add(time.Second), false},
	} {
		if got := tc.p.ActiveAt(tc.at); got != tc.want {
			t.Errorf("pause until %v at %v: active %v, want %v", tc.p.Until, tc.at, got, tc.want)
		}
	}
}
