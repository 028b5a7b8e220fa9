// Package storetest opens a state store for a test: SQLite in the test's
// own temporary directory, closed when the test ends.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relwatch/relwatch/store"
)

// Open opens a fresh SQLite state store for t, closed at its cleanup.
func Open(t testing.TB, opts ...store.Option) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
