package store

import (
	"context"
	"fmt"
	"time"
)

// Enqueue stores an announcement for chat, claimed by holder (who will
// deliver it), before anything is sent: a worker that dies leaves it for
// another to deliver.
func (d *DB) Enqueue(ctx context.Context, chat, payload, holder string) (int64, error) {
	now := ms(d.now())
	id, err := d.insert(ctx, `INSERT INTO outbox (chat, payload, created_ms, claimed_by, claimed_ms) VALUES (?, ?, ?, ?, ?)`,
		chat, payload, now, holder, now)
	if err != nil {
		return 0, fmt.Errorf("queue an announcement for %s: %w", chat, err)
	}
	return id, nil
}

// ClaimStale takes, for holder, chat's undelivered announcements whose
// claim is older than stale (their worker died), oldest first: their ids
// and payloads.
func (d *DB) ClaimStale(ctx context.Context, chat, holder string, stale time.Duration, limit int) ([]int64, []string, error) {
	now := d.now()
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, payload FROM outbox WHERE chat = ? AND done_ms = 0 AND claimed_by <> ? AND claimed_ms < ? ORDER BY id LIMIT ?`),
		chat, holder, ms(now.Add(-stale)), limit)
	if err != nil {
		return nil, nil, fmt.Errorf("read stale announcements for %s: %w", chat, err)
	}
	var cands []int64
	var payloads []string
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read stale announcements for %s: %w", chat, err)
		}
		cands, payloads = append(cands, id), append(payloads, p)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, nil, fmt.Errorf("read stale announcements for %s: %w", chat, err)
	}
	rows.Close()
	var ids []int64
	var out []string
	for i, id := range cands {
		// Claim each atomically: two workers never both take one.
		res, err := d.exec(ctx, `UPDATE outbox SET claimed_by = ?, claimed_ms = ? WHERE id = ? AND done_ms = 0 AND claimed_ms < ?`,
			holder, ms(now), id, ms(now.Add(-stale)))
		if err != nil {
			return ids, out, fmt.Errorf("claim announcement %d for %s: %w", id, chat, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			ids, out = append(ids, id), append(out, payloads[i])
		}
	}
	return ids, out, nil
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
