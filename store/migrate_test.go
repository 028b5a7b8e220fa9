package store_test

import (
	"context"
	"fmt"
	"os"
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

// The SQLite state is the file the path names, whatever its characters:
// `relwatch status` looks for that file, and another process opening the
// same path must find the same state.
func TestSQLiteStateIsTheFileNamed(t *testing.T) {
	// One directory, named plainly (a subtest's would carry the name).
	dir := t.TempDir()
	for i, name := range []string{"state#1.db", "state?x.db", "state%20x.db", "my state.db"} {
		t.Run(name, func(t *testing.T) {
			sub := filepath.Join(dir, fmt.Sprint(i))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(sub, name)
			d, err := store.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			if _, err := os.Stat(path); err != nil {
				entries, _ := os.ReadDir(filepath.Dir(path))
				var files []string
				for _, e := range entries {
					files = append(files, e.Name())
				}
				t.Fatalf("Open(%q) made %q, not the file named: %v", path, files, err)
			}
		})
	}
}
