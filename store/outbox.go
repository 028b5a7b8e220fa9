package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxRow is one announcement stored for one chat until the chat has it.
type OutboxRow struct {
	ID      int64
	Chat    string
	Key     string // the announcement's idempotency key: one row per chat and key
	Thread  string // the release's thread: its rows are delivered in order
	Payload string
	// ClaimedBy is the worker delivering it, and Claimed when that worker
	// last renewed its claim.
	ClaimedBy string
	Claimed   time.Time
	// Attempts counts the sends begun: more than 0 means the chat may have
	// it already (a worker died between the chat's answer and Delivered).
	Attempts int
}

// Enqueue stores row for chat, claimed by row.ClaimedBy (who will deliver
// it), before anything is sent: a worker that dies leaves it for another
// to deliver. When the chat already has a row with the same key, nothing
// is stored: the same fact is not announced twice, whoever says it again.
// It returns the row's id and whether it was added.
func (d *DB) Enqueue(ctx context.Context, row OutboxRow) (int64, bool, error) {
	if row.Key == "" {
		return 0, false, fmt.Errorf("queue an announcement for %s: no idempotency key", row.Chat)
	}
	now := ms(d.now())
	query := `INSERT INTO outbox (chat, idem_key, thread, payload, created_ms, claimed_by, claimed_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (chat, idem_key) DO NOTHING`
	args := []any{row.Chat, row.Key, row.Thread, row.Payload, now, row.ClaimedBy, now}
	var id int64
	if d.postgres {
		err := d.db.QueryRowContext(ctx, d.q(query+" RETURNING id"), args...).Scan(&id)
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) { // no row back: the key was there
			return 0, false, fmt.Errorf("queue announcement %s for %s: %w", row.Key, row.Chat, err)
		}
	} else {
		res, err := d.exec(ctx, query, args...)
		if err != nil {
			return 0, false, fmt.Errorf("queue announcement %s for %s: %w", row.Key, row.Chat, err)
		}
		// LastInsertId is stale when nothing was inserted: ask RowsAffected.
		if n, _ := res.RowsAffected(); n == 1 {
			id, err = res.LastInsertId()
			return id, err == nil, err
		}
	}
	if err := d.db.QueryRowContext(ctx, d.q(`SELECT id FROM outbox WHERE chat = ? AND idem_key = ?`), row.Chat, row.Key).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("queue announcement %s for %s: %w", row.Key, row.Chat, err)
	}
	return id, false, nil
}

// Undelivered returns chat's announcements not delivered yet (and not
// given up), oldest first, at most limit.
func (d *DB) Undelivered(ctx context.Context, chat string, limit int) ([]OutboxRow, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, idem_key, thread, payload, claimed_by, claimed_ms, attempts FROM outbox
		WHERE chat = ? AND done_ms = 0 ORDER BY id LIMIT ?`), chat, limit)
	if err != nil {
		return nil, fmt.Errorf("read undelivered announcements for %s: %w", chat, err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		r := OutboxRow{Chat: chat}
		var claimed int64
		if err := rows.Scan(&r.ID, &r.Key, &r.Thread, &r.Payload, &r.ClaimedBy, &claimed, &r.Attempts); err != nil {
			return nil, fmt.Errorf("read undelivered announcements for %s: %w", chat, err)
		}
		r.Claimed = fromMS(claimed)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read undelivered announcements for %s: %w", chat, err)
	}
	return out, nil
}

// Claim takes announcement id for holder, if it is undelivered and still
// claimed by from (the claim seen when it was read): two workers never
// both send it. It counts one send begun, and returns the sends begun
// before this one; ok is false when another worker took it meanwhile.
func (d *DB) Claim(ctx context.Context, id int64, holder, from string) (before int, ok bool, err error) {
	var attempts int
	err = d.db.QueryRowContext(ctx, d.q(`UPDATE outbox SET claimed_by = ?, claimed_ms = ?, attempts = attempts + 1
		WHERE id = ? AND done_ms = 0 AND claimed_by = ? RETURNING attempts`), holder, ms(d.now()), id, from).Scan(&attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("claim announcement %d for %s: %w", id, holder, err)
	}
	return attempts - 1, true, nil
}

// Delivered records what became of an announcement: "delivered", or why it
// was given up.
func (d *DB) Delivered(ctx context.Context, id int64, outcome string) error {
	if _, err := d.exec(ctx, `UPDATE outbox SET done_ms = ?, outcome = ? WHERE id = ?`, ms(d.now()), outcome, id); err != nil {
		return fmt.Errorf("record announcement %d as %s: %w", id, outcome, err)
	}
	return nil
}

// Touch renews holder's claim on its undelivered announcements (a live
// worker working through a slow chat keeps them).
func (d *DB) Touch(ctx context.Context, holder string) error {
	if _, err := d.exec(ctx, `UPDATE outbox SET claimed_ms = ? WHERE claimed_by = ? AND done_ms = 0`, ms(d.now()), holder); err != nil {
		return fmt.Errorf("renew the announcement claims of %s: %w", holder, err)
	}
	return nil
}

// Announced returns the payloads of app's newest announcements, newest
// first, one per idempotency key (every chat holds a copy), at most limit:
// `relwatch status --chart` draws the last verdict from them.
func (d *DB) Announced(ctx context.Context, app string, limit int) ([]string, error) {
	// Keys are "app/vN/kind...": the slash keeps crates from matching crates-io.
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT idem_key, payload FROM outbox WHERE idem_key LIKE ? ORDER BY id DESC LIMIT ?`), app+"/v%", 4*limit)
	if err != nil {
		return nil, fmt.Errorf("read the announcements of %s: %w", app, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() && len(out) < limit {
		var key, payload string
		if err := rows.Scan(&key, &payload); err != nil {
			return nil, fmt.Errorf("read the announcements of %s: %w", app, err)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, payload)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the announcements of %s: %w", app, err)
	}
	return out, nil
}
