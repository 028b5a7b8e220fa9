package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Leases is one worker's hold on its fair share of the apps, when several
// workers share them through one store. Once a tick, Hold renews every
// lease the worker has in one statement and learns how many workers are
// alive (each says so with a heartbeat); a worker holding more than its
// share, ceil(apps / live workers), gives the rest back so that a worker
// that starts later gets its part, and one holding less takes free and
// expired leases (a killed worker's apps, once its leases run out). It
// implements the watcher's Leases.
//
// Settled, a tick costs one statement (two for a worker short of its
// share: it looks for free leases), and a heartbeat every quarter of the
// lease time. No lock is held while the database is asked: Hold may be
// called from several goroutines, though the watcher calls it once a tick.
type Leases struct {
	db     *DB
	holder string
	ttl    time.Duration
	log    *slog.Logger

	mu       sync.Mutex // guards what follows, never held over I/O
	lastBeat time.Time
	warned   map[string]bool // apps another worker holds, said once each
	until    time.Time       // the end of the leases the last Hold returned
}

// NewLeases returns holder's leases on db, each lasting ttl unrenewed.
func NewLeases(db *DB, holder string, ttl time.Duration, logger *slog.Logger) *Leases {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Leases{db: db, holder: holder, ttl: ttl, log: logger, warned: map[string]bool{}}
}

// Hold renews, takes or gives back leases on apps (the apps this worker is
// configured for, all of them at every call) and says which it holds now.
func (l *Leases) Hold(ctx context.Context, apps []string) (map[string]bool, error) {
	now := l.db.now()
	l.mu.Lock()
	beat := now.Sub(l.lastBeat) >= l.ttl/4
	l.mu.Unlock()
	if beat {
		if _, err := l.db.execStmt(ctx, stmtHeartbeat, l.holder, ms(now)); err != nil {
			return nil, fmt.Errorf("heartbeat of %s: %w", l.holder, err)
		}
		l.mu.Lock()
		l.lastBeat = now
		l.mu.Unlock()
	}
	held, workers, err := l.db.renewLeases(ctx, l.holder, apps, now.Add(l.ttl), now.Add(-l.ttl))
	if err != nil {
		return nil, err
	}
	share := (len(apps) + workers - 1) / workers
	order := l.preference(apps)
	switch {
	case len(held) > share:
		// Give back the ones it likes least; another worker takes them.
		var excess []string
		for i := len(order) - 1; i >= 0 && len(held)-len(excess) > share; i-- {
			if held[order[i]] {
				excess = append(excess, order[i])
			}
		}
		for _, app := range excess {
			l.log.Info("giving an app back: more than a fair share", "app", app, "held", len(held), "share", share, "workers", workers)
		}
		if err := l.db.giveBackLeases(ctx, l.holder, excess); err != nil {
			return nil, err
		}
		for _, app := range excess {
			delete(held, app)
		}
	case len(held) < share:
		if err := l.acquire(ctx, apps, order, held, share, now); err != nil {
			return nil, err
		}
	}
	out := make(map[string]bool, len(apps))
	for _, app := range apps {
		out[app] = held[app]
	}
	l.mu.Lock()
	l.until = now.Add(l.ttl)
	l.mu.Unlock()
	return out, nil
}

// HeldUntil is when the leases the last successful Hold returned end,
// unrenewed (by the store's clock): no other worker takes them before.
// Zero before the first.
func (l *Leases) HeldUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// acquire takes free and expired leases, in the worker's order of
// preference, until it holds share; it says once of each app another
// worker holds that it is not this one's.
func (l *Leases) acquire(ctx context.Context, apps, order []string, held map[string]bool, share int, now time.Time) error {
	current, err := l.db.leasesOf(ctx, apps)
	if err != nil {
		return err
	}
	var free []string
	for _, app := range order {
		if len(held)+len(free) >= share {
			break
		}
		if c, ok := current[app]; !held[app] && (!ok || ms(c.expires) < ms(now)) {
			free = append(free, app)
		}
	}
	if len(free) > 0 {
		// One order for every worker: two taking overlapping sets at once
		// lock the rows alike (PostgreSQL), and so never deadlock.
		slices.Sort(free)
		got, err := l.db.acquireLeases(ctx, l.holder, free, now.Add(l.ttl), now)
		if err != nil {
			return err
		}
		for _, app := range got {
			held[app] = true
		}
	}
	type other struct {
		app, holder string
		until       time.Time
	}
	var news []other
	l.mu.Lock()
	for _, app := range apps {
		c, ok := current[app]
		switch {
		case held[app]:
			delete(l.warned, app)
		case ok && c.holder != l.holder && ms(c.expires) >= ms(now) && !l.warned[app]:
			l.warned[app] = true
			news = append(news, other{app, c.holder, c.expires})
		}
	}
	l.mu.Unlock()
	for _, o := range news {
		if l.db.postgres {
			l.log.Info("another worker holds the app", "app", o.app, "holder", o.holder, "until", o.until)
		} else {
			l.log.Warn("another relwatch worker uses this SQLite state and holds the app: with SQLite, run one worker (heroku ps:scale worker=1), or use PostgreSQL (DATABASE_URL) for several",
				"app", o.app, "holder", o.holder)
		}
	}
	return nil
}

// preference is apps in the order this worker takes them: the configured
// order, rotated by a hash of its name, so that workers starting together
// reach for different apps first.
func (l *Leases) preference(apps []string) []string {
	if len(apps) == 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(l.holder))
	k := int(h.Sum32() % uint32(len(apps)))
	return append(slices.Clone(apps[k:]), apps[:k]...)
}

// renewLeases extends to expires every lease holder has on apps, and
// returns them with the number of workers seen since aliveSince (at least
// one).
func (d *DB) renewLeases(ctx context.Context, holder string, apps []string, expires, aliveSince time.Time) (map[string]bool, int, error) {
	list, err := d.list(apps)
	if err != nil {
		return nil, 0, fmt.Errorf("renew the leases of %s: %w", holder, err)
	}
	rows, err := d.queryStmt(ctx, stmtRenewLeases, ms(expires), holder, list, ms(aliveSince))
	if err != nil {
		return nil, 0, fmt.Errorf("renew the leases of %s: %w", holder, err)
	}
	defer rows.Close()
	held := map[string]bool{}
	workers := 0
	for rows.Next() {
		var app string
		if err := rows.Scan(&app, &workers); err != nil {
			return nil, 0, fmt.Errorf("renew the leases of %s: %w", holder, err)
		}
		held[app] = true
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("renew the leases of %s: %w", holder, err)
	}
	if len(held) == 0 {
		// Nothing renewed, so nothing counted the workers.
		if err := d.stmtRow(ctx, stmtCountWorkers, ms(aliveSince)).Scan(&workers); err != nil {
			return nil, 0, fmt.Errorf("count live workers: %w", err)
		}
	}
	return held, max(workers, 1), nil
}

func (d *DB) stmtRow(ctx context.Context, id stmtID, args ...any) *sql.Row {
	if s := d.stmts[id]; s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, d.text(id), args...)
}

type lease struct {
	holder  string
	expires time.Time
}

// leasesOf returns the leases on apps, free or not.
func (d *DB) leasesOf(ctx context.Context, apps []string) (map[string]lease, error) {
	list, err := d.list(apps)
	if err != nil {
		return nil, fmt.Errorf("read the leases: %w", err)
	}
	rows, err := d.queryStmt(ctx, stmtLeasesOf, list)
	if err != nil {
		return nil, fmt.Errorf("read the leases: %w", err)
	}
	defer rows.Close()
	out := map[string]lease{}
	for rows.Next() {
		var app string
		var l lease
		var exp int64
		if err := rows.Scan(&app, &l.holder, &exp); err != nil {
			return nil, fmt.Errorf("read the leases: %w", err)
		}
		l.expires = fromMS(exp)
		out[app] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the leases: %w", err)
	}
	return out, nil
}

// acquireLeases takes for holder, until expires, those of apps whose lease
// is free or expired at now, and returns the apps it got.
func (d *DB) acquireLeases(ctx context.Context, holder string, apps []string, expires, now time.Time) ([]string, error) {
	list, err := d.list(apps)
	if err != nil {
		return nil, fmt.Errorf("lease %d apps: %w", len(apps), err)
	}
	rows, err := d.queryStmt(ctx, stmtAcquireLeases, holder, ms(expires), list, ms(now))
	if err != nil {
		return nil, fmt.Errorf("lease %d apps: %w", len(apps), err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var app string
		if err := rows.Scan(&app); err != nil {
			return nil, fmt.Errorf("lease %d apps: %w", len(apps), err)
		}
		got = append(got, app)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease %d apps: %w", len(apps), err)
	}
	return got, nil
}

// giveBackLeases releases holder's leases on apps.
func (d *DB) giveBackLeases(ctx context.Context, holder string, apps []string) error {
	list, err := d.list(apps)
	if err != nil {
		return fmt.Errorf("give back %d apps: %w", len(apps), err)
	}
	if _, err := d.execStmt(ctx, stmtGiveBackLeases, holder, list); err != nil {
		return fmt.Errorf("give back %d apps: %w", len(apps), err)
	}
	return nil
}

// ReleaseLeases gives back everything holder has, on its way out: its
// leases, its claims on undelivered announcements (another worker delivers
// them at once instead of waiting for the claims to go stale), and its
// heartbeat (it is gone).
func (d *DB) ReleaseLeases(ctx context.Context, holder string) error {
	for _, stmt := range []string{
		`DELETE FROM leases WHERE holder = ?`,
		`UPDATE outbox SET claimed_ms = 0 WHERE claimed_by = ? AND done_ms = 0`,
		`DELETE FROM workers WHERE holder = ?`,
	} {
		if _, err := d.exec(ctx, stmt, holder); err != nil {
			return fmt.Errorf("release the leases of %s: %w", holder, err)
		}
	}
	return nil
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
