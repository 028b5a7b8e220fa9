package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// A push handed by one worker is read by another, in order, from a window
// by time; pushes older than ten minutes are dropped as new ones come.
func TestNudgesHandedBetweenWorkers(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		var now atomic.Int64
		t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
		now.Store(t0.UnixMilli())
		clock := store.WithClock(func() time.Time { return time.UnixMilli(now.Load()).UTC() })
		a, b := openAt(t, dsn, clock), openAt(t, dsn, clock)
		ctx := context.Background()
		apps := func(ns []store.Nudge) []string {
			var out []string
			for _, n := range ns {
				out = append(out, n.App)
			}
			return out
		}
		if err := a.HandNudge(ctx, "crates-io"); err != nil {
			t.Fatal(err)
		}
		now.Add(time.Second.Milliseconds())
		if err := a.HandNudge(ctx, "docs-rs"); err != nil {
			t.Fatal(err)
		}
		got, err := b.NudgesSince(ctx, t0)
		if err != nil || len(got) != 2 || got[0].App != "crates-io" || got[1].App != "docs-rs" || got[0].ID >= got[1].ID {
			t.Fatalf("NudgesSince(t0) = %+v, %v; want crates-io then docs-rs", got, err)
		}
		if got, _ := b.NudgesSince(ctx, t0.Add(time.Second)); len(got) != 1 || got[0].App != "docs-rs" {
			t.Fatalf("NudgesSince(t0+1s) = %v, want docs-rs", apps(got))
		}
		now.Add(11 * time.Minute.Milliseconds())
		if err := b.HandNudge(ctx, "play"); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.NudgesSince(ctx, time.Time{}); len(got) != 1 || got[0].App != "play" {
			t.Fatalf("after 11 min, every push kept: %v, want play alone", apps(got))
		}
	})
}
