package store

import (
	"context"
	"fmt"
	"time"
)

// nudgeKeep is how long a handed push is kept: the holder reads it at its
// next tick, seconds later; a worker that starts finds the releases by
// polling.
const nudgeKeep = 10 * time.Minute

// Nudge is a release push handed through the store: ID orders them.
type Nudge struct {
	ID  int64
	App string
}

// HandNudge hands a release push for app (a webhook, an API event in a
// drain frame that landed on a worker that does not hold the app) to the
// worker that does: it reads it at its next tick (NudgesAfter). Pushes
// older than ten minutes are dropped as it goes.
func (d *DB) HandNudge(ctx context.Context, app string) error {
	now := d.now()
	if _, err := d.exec(ctx, `INSERT INTO nudges (app, at_ms) VALUES (?, ?)`, app, ms(now)); err != nil {
		return fmt.Errorf("hand the push for %s to its worker: %w", app, err)
	}
	if _, err := d.exec(ctx, `DELETE FROM nudges WHERE at_ms < ?`, ms(now.Add(-nudgeKeep))); err != nil {
		return fmt.Errorf("drop old pushes: %w", err)
	}
	return nil
}

// NudgesSince returns the pushes handed at or after since (by the clock
// of the worker that handed it), in order of their numbers, at most 1,000.
// A reader asks again for a window that overlaps the last and skips the
// numbers it has seen: numbers are not committed in order, and a window
// by time misses none.
func (d *DB) NudgesSince(ctx context.Context, since time.Time) ([]Nudge, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, app FROM nudges WHERE at_ms >= ? ORDER BY id LIMIT 1000`), ms(since))
	if err != nil {
		return nil, fmt.Errorf("read the pushes handed: %w", err)
	}
	defer rows.Close()
	var out []Nudge
	for rows.Next() {
		var n Nudge
		if err := rows.Scan(&n.ID, &n.App); err != nil {
			return nil, fmt.Errorf("read the pushes handed: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the pushes handed: %w", err)
	}
	return out, nil
}
