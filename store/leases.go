package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Acquire takes or renews the lease on app for holder until now + ttl; it
// reports whether holder has it. A lease another holder let expire is taken
// over.
func (d *DB) Acquire(ctx context.Context, app, holder string, ttl time.Duration) (bool, error) {
	now := d.now()
	_, err := d.exec(ctx, `INSERT INTO leases (app, holder, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (app) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
		WHERE leases.holder = excluded.holder OR leases.expires_ms < ?`, app, holder, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", app, err)
	}
	var h string
	if err := d.db.QueryRowContext(ctx, d.q(`SELECT holder FROM leases WHERE app = ?`), app).Scan(&h); err != nil {
		return false, fmt.Errorf("lease %s: %w", app, err)
	}
	return h == holder, nil
}

// ReleaseLeases gives back every lease holder has, and says it is gone.
func (d *DB) ReleaseLeases(ctx context.Context, holder string) error {
	if _, err := d.exec(ctx, `DELETE FROM leases WHERE holder = ?`, holder); err != nil {
		return fmt.Errorf("release the leases of %s: %w", holder, err)
	}
	if _, err := d.exec(ctx, `DELETE FROM workers WHERE holder = ?`, holder); err != nil {
		return fmt.Errorf("release the leases of %s: %w", holder, err)
	}
	return nil
}

// ReleaseLease gives back one app, so another worker may take it.
func (d *DB) ReleaseLease(ctx context.Context, app, holder string) error {
	if _, err := d.exec(ctx, `DELETE FROM leases WHERE app = ? AND holder = ?`, app, holder); err != nil {
		return fmt.Errorf("release the lease on %s: %w", app, err)
	}
	return nil
}

// Heartbeat says holder is alive now.
func (d *DB) Heartbeat(ctx context.Context, holder string) error {
	_, err := d.exec(ctx, `INSERT INTO workers (holder, seen_ms) VALUES (?, ?)
		ON CONFLICT (holder) DO UPDATE SET seen_ms = excluded.seen_ms`, holder, ms(d.now()))
	if err != nil {
		return fmt.Errorf("heartbeat of %s: %w", holder, err)
	}
	return nil
}

// Share tells how many workers were alive within ttl and how many live
// leases holder has: a fair worker holds about apps/workers.
func (d *DB) Share(ctx context.Context, holder string, ttl time.Duration) (workers, held int, err error) {
	now := d.now()
	if err = d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM workers WHERE seen_ms >= ?`), ms(now.Add(-ttl))).Scan(&workers); err != nil {
		return 0, 0, fmt.Errorf("count live workers: %w", err)
	}
	if err = d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM leases WHERE holder = ? AND expires_ms >= ?`), holder, ms(now)).Scan(&held); err != nil {
		return 0, 0, fmt.Errorf("count the leases of %s: %w", holder, err)
	}
	return max(workers, 1), held, nil
}

// Lease says who holds app's lease and until when.
func (d *DB) Lease(ctx context.Context, app string) (holder string, expires time.Time, err error) {
	var exp int64
	err = d.db.QueryRowContext(ctx, d.q(`SELECT holder, expires_ms FROM leases WHERE app = ?`), app).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read the lease on %s: %w", app, err)
	}
	return holder, fromMS(exp), nil
}
