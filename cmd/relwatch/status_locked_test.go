package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/store"
)

// TestIntegrationStatusGivesUpOnALockedTable: another session holds the
// watches table locked (`LOCK TABLE watches IN ACCESS EXCLUSIVE MODE`, a
// migration or a person in psql). The state opens, but its reads wait for
// the lock: `relwatch status` gives up after storeWait with the message it
// gives a store that does not answer, instead of waiting as long as the
// lock is held.
func TestIntegrationStatusGivesUpOnALockedTable(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "LOCK TABLE watches IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	was := storeWait
	storeWait = time.Second
	defer func() { storeWait = was }()
	t.Setenv("RELWATCH_STATE", dsn)
	// The test's own bound: without the command's, the answer would be
	// this context's cancellation, not the store's silence.
	tctx, cancel := context.WithTimeoutCause(ctx, 15*time.Second, context.Canceled)
	defer cancel()
	for _, args := range [][]string{{"status"}, {"status", "--format", "json"}} {
		code, out, errOut := runMain(t, tctx, args...)
		if code != 1 || !strings.Contains(errOut, "the state store did not answer within 1s") || tctx.Err() != nil {
			t.Errorf("relwatch %s with the watches table locked: code %d, stdout %q, stderr %q (the test's own bound passed: %v)", strings.Join(args, " "), code, out, errOut, tctx.Err() != nil)
		}
	}
}
