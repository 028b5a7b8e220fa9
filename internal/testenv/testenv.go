// Package testenv finds the integration servers tests need: they may be
// absent on a laptop (the test skips) but never in CI, where
// RELWATCH_INTEGRATION=1 makes their absence a failure.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// Required returns the value of the environment variable name, skipping
// the test when it is unset (failing it under RELWATCH_INTEGRATION=1).
func Required(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		absent(t, name+" is not set")
	}
	return v
}

// Program returns the path of a program on PATH, skipping the test when it
// is missing (failing it under RELWATCH_INTEGRATION=1).
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		absent(t, name+" is not installed")
	}
	return p
}

func absent(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("RELWATCH_INTEGRATION") == "1" {
		t.Fatalf("%s, and RELWATCH_INTEGRATION=1 requires the integration servers (.ci/run starts them)", what)
	}
	t.Skip(what + ": skipping an integration test")
}

// Postgres returns a DSN for a schema of the test's own on the integration
// PostgreSQL (RELWATCH_POSTGRES_URL), dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := Required(t, "RELWATCH_POSTGRES_URL")
	ctx := context.Background()
	db, err := store.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("t_%d", time.Now().UnixNano())
	if err := db.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Cleanup(func() {
		if db, err := store.Open(ctx, base); err == nil {
			db.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			db.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
