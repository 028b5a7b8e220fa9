package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Thread returns a chat thread's reference and opening message, if known.
func (d *DB) Thread(ctx context.Context, chat, thread string) (ref, opening string, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, d.q(`SELECT ref, opening FROM threads WHERE chat = ? AND thread = ?`), chat, thread).Scan(&ref, &opening)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read thread %s of %s: %w", thread, chat, err)
	}
	return ref, opening, true, nil
}

// SaveThread remembers a chat thread.
func (d *DB) SaveThread(ctx context.Context, chat, thread, ref, opening string) error {
	_, err := d.exec(ctx, `INSERT INTO threads (chat, thread, ref, opening) VALUES (?, ?, ?, ?)
		ON CONFLICT (chat, thread) DO UPDATE SET ref = excluded.ref, opening = excluded.opening`, chat, thread, ref, opening)
	if err != nil {
		return fmt.Errorf("save thread %s of %s: %w", thread, chat, err)
	}
	return nil
}
