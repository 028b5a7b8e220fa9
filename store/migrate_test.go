package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relwatch/relwatch/store"
)

// Two relwatch processes that open a new SQLite state at once (the worker
// and a `relwatch pause` beside it) both find no schema version: each
// must still come up, and the state must open again afterwards.
func TestOpenTwiceAtOnceOnANewSQLiteState(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "state.db")
	// The first is held just before it writes the first version, when it
	// has found the store new; the second opens meanwhile.
	reached, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		d, err := store.Open(ctx, dsn, store.PauseBefore("INSERT INTO schema_version", reached, release))
		if err == nil {
			d.Close()
		}
		first <- err
	}()
	<-reached
	second, err := store.Open(ctx, dsn)
	close(release)
	if err != nil {
		t.Fatalf("the second Open: %v", err)
	}
	second.Close()
	if err := <-first; err != nil {
		t.Fatalf("the first Open, held while the second migrated: %v", err)
	}
	again, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("the state does not open again: %v", err)
	}
	defer again.Close()
	if versions, err := again.SchemaVersions(ctx); err != nil || len(versions) != 1 {
		t.Fatalf("schema versions %v (%v), want one", versions, err)
	}
}
