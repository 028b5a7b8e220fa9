package store

import (
	"context"
	"database/sql"
	"errors"
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
	// SaidAs is the id its announcements went out under when it was
	// journaled after the store came back (negative), 0 when that is ID.
	SaidAs int64 `json:"said_as,omitempty"`
}

// Said is the id the entry's announcements are keyed by.
func (e JournalEntry) Said() int64 {
	if e.SaidAs != 0 {
		return e.SaidAs
	}
	return e.ID
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

// journalOpenSQL is JournalOpen in SQL.
const journalOpenSQL = `outcome IN ('', '` + JournalPending + `', '` + JournalInterrupted + `')`

// BeginRollback journals a rollback about to be attempted, at e.Started
// (default now).
func (d *DB) BeginRollback(ctx context.Context, e JournalEntry) (int64, error) {
	start := ms(d.now())
	if !e.Started.IsZero() {
		start = ms(e.Started)
	}
	if e.SaidAs != 0 {
		id, err := d.begunAlready(ctx, e, start)
		if err != nil {
			return 0, fmt.Errorf("journal the rollback of %s v%d: %w", e.App, e.Bad, err)
		}
		if id != 0 {
			return id, nil
		}
	}
	id, err := d.insert(ctx, `INSERT INTO journal (app, bad, target, reason, by_who, started_ms, said_as) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.App, e.Bad, e.Target, e.Reason, e.By, start, e.SaidAs)
	if err != nil {
		return 0, fmt.Errorf("journal the rollback of %s v%d: %w", e.App, e.Bad, err)
	}
	return id, nil
}

// begunAlready finds entry e, kept while the store was down, if the store
// took it already and its answer was lost: the same rollback, still open,
// begun at the same millisecond. It records there the id e's
// announcements went out under, and returns the entry's id (0: none).
func (d *DB) begunAlready(ctx context.Context, e JournalEntry, start int64) (int64, error) {
	var id int64
	err := d.db.QueryRowContext(ctx, d.q(`SELECT id FROM journal WHERE app = ? AND bad = ? AND by_who = ? AND started_ms = ? AND `+journalOpenSQL+
		` ORDER BY id DESC LIMIT 1`), e.App, e.Bad, e.By, start).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	}
	if _, err := d.exec(ctx, `UPDATE journal SET said_as = ? WHERE id = ?`, e.SaidAs, id); err != nil {
		return 0, err
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
	query := `SELECT id, app, bad, target, reason, by_who, started_ms, finished_ms, outcome, created, error, said_as FROM journal WHERE app = ?`
	if openOnly {
		query += ` AND ` + journalOpenSQL
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
		if err := rows.Scan(&e.ID, &e.App, &e.Bad, &e.Target, &e.Reason, &e.By, &started, &finished, &e.Outcome, &e.Created, &e.Error, &e.SaidAs); err != nil {
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
