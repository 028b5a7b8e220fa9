package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// The statements of every tick are prepared once, at Open, and then only
// run: ticks prepare nothing more.
func TestTickStatementsArePreparedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		counts := &store.Counts{}
		d := openAt(t, dsn, store.WithClock(clk.Now), store.CountStatements(counts))
		_, atOpen, _ := counts.Snapshot()
		if atOpen < 7 {
			t.Fatalf("%d statements prepared at Open, want the 7 of the tick", atOpen)
		}
		apps := map[string]int{}
		var names []string
		for i := range 20 {
			app := fmt.Sprintf("app-%02d", i)
			apps[app], names = i, append(names, app)
		}
		l := store.NewLeases(d, "w", 30*time.Second, nil)
		for range 10 {
			if _, err := l.Hold(ctx, names); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Overrides(ctx, apps); err != nil {
				t.Fatal(err)
			}
			clk.Add(5 * time.Second)
		}
		if _, prepares, _ := counts.Snapshot(); prepares != atOpen {
			t.Fatalf("ten ticks prepared %d statements more", prepares-atOpen)
		}
	})
}
