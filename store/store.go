// Package store keeps what relwatch decided, so that a restarted worker
// (Heroku restarts every dyno at least daily) carries on where it was and a
// person can see why: watches and their baselines, decisions with their
// evidence, overrides (pause, approve, a person's rollback), the rollback
// journal, chat thread references, and worker leases.
//
// One implementation serves two databases through database/sql: SQLite
// (modernc.org/sqlite, pure Go) by default, PostgreSQL (pgx) when the DSN is
// a postgres:// URL, as DATABASE_URL is on Heroku. The schema is versioned
// and migrated at Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	db       *sql.DB
	postgres bool
	now      func() time.Time
}

// Option configures Open.
type Option func(*DB)

// WithClock sets the store's clock (default time.Now): leases and pauses
// expire on it.
func WithClock(now func() time.Time) Option { return func(d *DB) { d.now = now } }

// DSN picks the state DSN the way the commands document: the flag, then
// RELWATCH_STATE, then DATABASE_URL, then a local file.
func DSN(flag, relwatchState, databaseURL string) string {
	for _, v := range []string{flag, relwatchState, databaseURL} {
		if v != "" {
			return v
		}
	}
	return "relwatch.db"
}

// Open connects to dsn (a postgres:// URL, or an SQLite file path or
// sqlite: URL) and migrates the schema.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	d := &DB{now: time.Now}
	for _, o := range opts {
		o(d)
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		d.postgres = true
		d.db, err = sql.Open("pgx", dsn)
	default:
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:")
		// One writer at a time, waiting for locks rather than failing.
		d.db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
		if err == nil {
			d.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", Redact(dsn), err)
	}
	if err := d.db.PingContext(ctx); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("open state %s: %w", Redact(dsn), err)
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("migrate state %s: %w", Redact(dsn), err)
	}
	return d, nil
}

// Redact hides the password of a DSN, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Postgres reports whether the store is PostgreSQL (several workers may
// share it) rather than SQLite (one worker).
func (d *DB) Postgres() bool { return d.postgres }

// q rewrites ? placeholders as $1, $2... for PostgreSQL.
func (d *DB) q(query string) string {
	if !d.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, d.q(query), args...)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// migrations are applied in order, once each; never edit one that shipped.
var migrations = []string{
	`CREATE TABLE watches (
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		state TEXT NOT NULL,
		data TEXT NOT NULL,
		updated_ms BIGINT NOT NULL,
		PRIMARY KEY (app, release)
	);
	CREATE TABLE decisions (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		at_ms BIGINT NOT NULL,
		action TEXT NOT NULL,
		reason TEXT NOT NULL,
		evidence TEXT NOT NULL
	);
	CREATE INDEX decisions_app ON decisions (app, at_ms);
	CREATE TABLE pauses (
		app TEXT PRIMARY KEY,
		by_who TEXT NOT NULL,
		reason TEXT NOT NULL,
		until_ms BIGINT NOT NULL,
		at_ms BIGINT NOT NULL,
		announced BOOLEAN NOT NULL DEFAULT FALSE
	);
	CREATE TABLE approvals (
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		by_who TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		PRIMARY KEY (app, release)
	);
	CREATE TABLE requests (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		kind TEXT NOT NULL,
		to_version INTEGER NOT NULL,
		by_who TEXT NOT NULL,
		reason TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		done_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE journal (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		bad INTEGER NOT NULL,
		target INTEGER NOT NULL,
		reason TEXT NOT NULL,
		by_who TEXT NOT NULL,
		started_ms BIGINT NOT NULL,
		finished_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE threads (
		chat TEXT NOT NULL,
		thread TEXT NOT NULL,
		ref TEXT NOT NULL,
		opening TEXT NOT NULL,
		PRIMARY KEY (chat, thread)
	);
	CREATE TABLE leases (
		app TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_ms BIGINT NOT NULL
	);
	CREATE TABLE quarantine (
		app TEXT NOT NULL,
		slug TEXT NOT NULL,
		release INTEGER NOT NULL,
		reason TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		PRIMARY KEY (app, slug)
	);`,
	`CREATE TABLE workers (
		holder TEXT PRIMARY KEY,
		seen_ms BIGINT NOT NULL
	);`,
	`CREATE TABLE outbox (
		id INTEGER PRIMARY KEY,
		chat TEXT NOT NULL,
		payload TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		claimed_by TEXT NOT NULL DEFAULT '',
		claimed_ms BIGINT NOT NULL DEFAULT 0,
		done_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX outbox_pending ON outbox (chat, done_ms, id);`,
}

func (d *DB) migrate(ctx context.Context) error {
	if d.postgres {
		// Several workers may start at once: one migrates, the others wait.
		if _, err := d.db.ExecContext(ctx, `SELECT pg_advisory_lock(7264500)`); err != nil {
			return err
		}
		defer d.db.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7264500)`)
	}
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var version int
	err := d.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := d.db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("the state is at schema version %d, newer than this relwatch knows (%d): upgrade relwatch", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt := migrations[i]
		if d.postgres {
			stmt = strings.ReplaceAll(stmt, "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
		}
		for _, s := range strings.Split(stmt, ";") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, s); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE schema_version SET version = ?`), i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Exec runs a statement as it is (tests make and drop schemas with it).
func (d *DB) Exec(ctx context.Context, stmt string) error {
	_, err := d.db.ExecContext(ctx, stmt)
	return err
}
