package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// A state an early relwatch wrote (schema version 3, testdata/state-v3.sql:
// the dump of a state made through that relwatch's store, at 03e346b)
// opens with this one, migrates, and keeps what each row meant: the pauses
// in force until their end or until resumed, the rollback request still
// to carry out, the open journal entry still open (to finish once) and
// the finished one not, the undelivered announcements still to deliver
// (each under a key of its own) and the delivered one not.
func TestAnEarlyStateOpensAndKeepsItsMeaning(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	dump, err := os.ReadFile("testdata/state-v3.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(string(dump)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC) // between the dump and the api pause's end
	d, err := store.Open(ctx, path, store.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("the early state does not open: %v", err)
	}
	defer d.Close()
	if v, err := d.SchemaVersions(ctx); err != nil || len(v) != 1 || v[0] != store.SchemaVersion() {
		t.Fatalf("schema versions %v (%v), want [%d]", v, err, store.SchemaVersion())
	}
	over, err := d.Overrides(ctx, map[string]int{"api": 43, "web": 8, "shop": 42})
	if err != nil {
		t.Fatal(err)
	}
	if p := over["api"].Pause; p == nil || p.By != "ana" || p.Until.IsZero() || !p.ActiveAt(now) || p.ActiveAt(p.Until) {
		t.Fatalf("api's timed pause: %+v", p)
	}
	if p := over["web"].Pause; p == nil || p.By != "bo" || !p.Until.IsZero() || !p.ActiveAt(now.Add(365*24*time.Hour)) {
		t.Fatalf("web's pause until resumed: %+v", p)
	}
	// The pause request still to announce says the pause as it was asked:
	// until its end, not "until resumed".
	for _, r := range over["api"].Requests {
		if r.Kind == store.KindPause && !r.Until.Equal(over["api"].Pause.Until) {
			t.Errorf("api's pause request until %v, its pause until %v: announced as another pause", r.Until, over["api"].Pause.Until)
		}
	}
	var rollbacks int
	for _, r := range over["api"].Requests {
		if r.Kind == store.KindRollback && r.To == 41 && r.By == "ana" {
			rollbacks++
		}
	}
	if rollbacks != 1 {
		t.Fatalf("api's pending rollback request: %+v", over["api"].Requests)
	}
	open, err := d.Journal(ctx, "shop", true, 10)
	if err != nil || len(open) != 1 || open[0].Bad != 42 || open[0].Target != 41 || open[0].Said() != open[0].ID {
		t.Fatalf("open journal entries %+v (%v), want the rollback of v42 alone", open, err)
	}
	all, err := d.Journal(ctx, "shop", false, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("journal %+v (%v)", all, err)
	}
	rows, err := d.Undelivered(ctx, "slack", 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("undelivered %+v (%v), want the two not delivered", rows, err)
	}
	if rows[0].Key == rows[1].Key || rows[0].Key == "" {
		t.Fatalf("the early rows' keys %q, %q: one each", rows[0].Key, rows[1].Key)
	}
	// Delivered once: marked, it is not given again.
	if err := d.Delivered(ctx, rows[0].ID, "delivered"); err != nil {
		t.Fatal(err)
	}
	if again, err := d.Undelivered(ctx, "slack", 10); err != nil || len(again) != 1 || again[0].ID != rows[1].ID {
		t.Fatalf("after one delivery: %+v (%v)", again, err)
	}
	w, ok, err := d.LatestWatch(ctx, "shop")
	if err != nil || !ok || w.Release.Version != 42 || w.State != "watching" || len(w.Baseline) == 0 {
		t.Fatalf("the early watch: %+v %v %v", w, ok, err)
	}
	d.Close()
	// Opened again, nothing is migrated twice.
	again, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("the migrated state does not open again: %v", err)
	}
	again.Close()
}
