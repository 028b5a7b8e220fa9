package store

import (
	"context"
	"fmt"
	"time"
)

// Automatic is who is recorded for what relwatch does on its own (an
// automatic rollback, its journal entry, its decisions); anyone else is a
// person.
const Automatic = "relwatch"

// JournalEntry is one rollback, written before Heroku is called and
// completed after.
type JournalEntry struct {
	ID       int64     `json:"id"`
	App      string    `json:"app"`
	Bad      int       `json:"bad"`
	Target   int       `json:"target"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Outcome  string    `json:"outcome"` // open: "", pending, interrupted; done: done, skipped, failed, abandoned
	Created  int       `json:"created"` // the "Rollback to vN" release
	Error    string    `json:"error,omitempty"`
}

// Journal outcomes of entries still open (the others are rollback.Outcome
// values, or JournalAbandoned).
const (
	// JournalPending: Heroku created the rollback release (Created) and its
	// release phase runs; the rollback is done when that succeeds.
	JournalPending = "pending"
	// JournalInterrupted: the worker was stopped (SIGTERM) before it knew
	// how the rollback ended; the next worker finishes it.
	JournalInterrupted = "interrupted"
	// JournalAbandoned closes an entry that was left open too long to be
	// finished: the watch decides again.
	JournalAbandoned = "abandoned"
)

// JournalOpen reports whether an entry's outcome leaves it open: a worker
// must still find out how the rollback ended, or finish it.
func JournalOpen(outcome string) bool {
	return outcome == "" || outcome == JournalPending || outcome == JournalInterrupted
}

// BeginRollback journals a rollback about to be attempted, at e.Started
// (default now).
func (d *DB) BeginRollback(ctx context.Context, e JournalEntry) (int64, error) {
	start := ms(d.now())
	if !e.Started.IsZero() {
		start = ms(e.Started)
	}
	id, err := d.insert(ctx, `INSERT INTO journal (app, bad, target, reason, by_who, started_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		e.App, e.Bad, e.Target, e.Reason, e.By, start)
	if err != nil {
		return 0, fmt.Errorf("journal the rollback of %s v%d: %w", e.App, e.Bad, err)
	}
	return id, nil
}

// FinishRollback completes a journal entry, or records how far an open one
// got (outcome JournalPending or JournalInterrupted: it stays open).
func (d *DB) FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error {
	finished := ms(d.now())
	if JournalOpen(outcome) {
		finished = 0
	}
	_, err := d.exec(ctx, `UPDATE journal SET finished_ms = ?, outcome = ?, target = ?, created = ?, error = ? WHERE id = ?`,
		finished, outcome, target, created, errText, id)
	if err != nil {
		return fmt.Errorf("complete journal entry %d: %w", id, err)
	}
	return nil
}

// Journal returns the app's rollbacks, newest first; open only those not
// completed (see JournalOpen).
func (d *DB) Journal(ctx context.Context, app string, openOnly bool, limit int) ([]JournalEntry, error) {
	query := `SELECT id, app, bad, target, reason, by_who, started_ms, finished_ms, outcome, created, error FROM journal WHERE app = ?`
	if openOnly {
		query += ` AND outcome IN ('', 'pending', 'interrupted')`
	}
	rows, err := d.db.QueryContext(ctx, d.q(query+` ORDER BY id DESC LIMIT ?`), app, limit)
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s: %w", app, err)
	}
	defer rows.Close()
	var out []JournalEntry
	for rows.Next() {
		var e JournalEntry
		var started, finished int64
		if err := rows.Scan(&e.ID, &e.App, &e.Bad, &e.Target, &e.Reason, &e.By, &started, &finished, &e.Outcome, &e.Created, &e.Error); err != nil {
			return nil, fmt.Errorf("read the journal of %s: %w", app, err)
		}
		e.Started, e.Finished = fromMS(started), fromMS(finished)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the journal of %s: %w", app, err)
	}
	return out, nil
}
