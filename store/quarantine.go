package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Quarantine remembers that slug was rolled back as bad on app.
func (d *DB) Quarantine(ctx context.Context, app, slug string, release int, reason string) error {
	if slug == "" {
		return nil
	}
	_, err := d.exec(ctx, `INSERT INTO quarantine (app, slug, release, reason, at_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app, slug) DO UPDATE SET release = excluded.release, reason = excluded.reason, at_ms = excluded.at_ms`,
		app, slug, release, reason, ms(d.now()))
	if err != nil {
		return fmt.Errorf("quarantine slug %s of %s: %w", slug, app, err)
	}
	return nil
}

// Quarantined returns the release a slug was rolled back from, and why, if
// it was.
func (d *DB) Quarantined(ctx context.Context, app, slug string) (int, string, bool, error) {
	var rel int
	var reason string
	err := d.db.QueryRowContext(ctx, d.q(`SELECT release, reason FROM quarantine WHERE app = ? AND slug = ?`), app, slug).Scan(&rel, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("read the quarantine of slug %s of %s: %w", slug, app, err)
	}
	return rel, reason, true, nil
}
