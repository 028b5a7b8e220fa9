package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Thread is a chat thread as remembered: the reference of its opening
// message, that message (JSON, to edit it later), and the idempotency key
// of the announcement that opened it.
type Thread struct {
	Ref     string
	Opening string
	Key     string
}

// Thread returns a chat thread, if known.
func (d *DB) Thread(ctx context.Context, chat, thread string) (Thread, bool, error) {
	var t Thread
	err := d.db.QueryRowContext(ctx, d.q(`SELECT ref, opening, open_key FROM threads WHERE chat = ? AND thread = ?`), chat, thread).
		Scan(&t.Ref, &t.Opening, &t.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return Thread{}, false, nil
	}
	if err != nil {
		return Thread{}, false, fmt.Errorf("read thread %s of %s: %w", thread, chat, err)
	}
	return t, true, nil
}

// SaveThread remembers a chat thread, as written now: retention (Prune)
// forgets it once it has not been written for as long as it keeps.
func (d *DB) SaveThread(ctx context.Context, chat, thread string, t Thread) error {
	_, err := d.exec(ctx, `INSERT INTO threads (chat, thread, ref, opening, open_key, saved_ms) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (chat, thread) DO UPDATE SET ref = excluded.ref, opening = excluded.opening, open_key = excluded.open_key, saved_ms = excluded.saved_ms`,
		chat, thread, t.Ref, t.Opening, t.Key, ms(d.now()))
	if err != nil {
		return fmt.Errorf("save thread %s of %s: %w", thread, chat, err)
	}
	return nil
}
