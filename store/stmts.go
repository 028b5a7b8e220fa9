package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// The statements a worker runs every tick (the overrides of every app, and
// the leases) are prepared once, at Open, rather than parsed and planned
// again at each call: SQLite would otherwise compile each one every time.
// Each takes a list of apps as one argument: a JSON array that SQLite
// reads with json_each, a text[] for PostgreSQL; so the text of each is
// fixed whatever the number of apps.
type stmtID int

const (
	stmtOverrides stmtID = iota
	stmtHeartbeat
	stmtRenewLeases
	stmtCountWorkers
	stmtLeasesOf
	stmtAcquireLeases
	stmtGiveBackLeases
	numStmts
)

// stmtSQL is each statement for SQLite and for PostgreSQL.
var stmtSQL = [numStmts]struct{ sqlite, postgres string }{
	// The overrides of a list of apps in one query: their pauses, the
	// approvals of the releases under watch (pairs of app and release),
	// and their requests not carried out yet, oldest first.
	stmtOverrides: {
		sqlite: `SELECT 'pause', app, 0, '', 0, 0, by_who, reason, until_ms, at_ms FROM pauses WHERE app IN (SELECT value FROM json_each(?1))
			UNION ALL
			SELECT 'approval', a.app, 0, '', 0, a.release, a.by_who, '', 0, a.at_ms FROM approvals a
				JOIN json_each(?2) w ON a.app = json_extract(w.value, '$[0]') AND a.release = json_extract(w.value, '$[1]')
			UNION ALL
			SELECT 'request', app, id, kind, from_version, to_version, by_who, reason, until_ms, at_ms FROM requests WHERE done_ms = 0 AND app IN (SELECT value FROM json_each(?1))
			ORDER BY 3`,
		postgres: `SELECT 'pause', app, 0::bigint, '', 0, 0, by_who, reason, until_ms, at_ms FROM pauses WHERE app = ANY($1)
			UNION ALL
			SELECT 'approval', a.app, 0, '', 0, a.release, a.by_who, '', 0, a.at_ms FROM approvals a
				JOIN unnest($2::text[], $3::int[]) AS w(app, release) ON a.app = w.app AND a.release = w.release
			UNION ALL
			SELECT 'request', app, id, kind, from_version, to_version, by_who, reason, until_ms, at_ms FROM requests WHERE done_ms = 0 AND app = ANY($1)
			ORDER BY 3`,
	},
	stmtHeartbeat: {
		sqlite: `INSERT INTO workers (holder, seen_ms) VALUES (?, ?)
			ON CONFLICT (holder) DO UPDATE SET seen_ms = excluded.seen_ms`,
		postgres: `INSERT INTO workers (holder, seen_ms) VALUES ($1, $2)
			ON CONFLICT (holder) DO UPDATE SET seen_ms = excluded.seen_ms`,
	},
	// Renew every lease the holder has on the apps, in one statement; each
	// row returned is an app it holds, with the number of live workers.
	stmtRenewLeases: {
		sqlite: `UPDATE leases SET expires_ms = ? WHERE holder = ? AND app IN (SELECT value FROM json_each(?))
			RETURNING app, (SELECT COUNT(*) FROM workers WHERE seen_ms >= ?)`,
		postgres: `UPDATE leases SET expires_ms = $1 WHERE holder = $2 AND app = ANY($3)
			RETURNING app, (SELECT COUNT(*) FROM workers WHERE seen_ms >= $4)`,
	},
	stmtCountWorkers: {
		sqlite:   `SELECT COUNT(*) FROM workers WHERE seen_ms >= ?`,
		postgres: `SELECT COUNT(*) FROM workers WHERE seen_ms >= $1`,
	},
	stmtLeasesOf: {
		sqlite:   `SELECT app, holder, expires_ms FROM leases WHERE app IN (SELECT value FROM json_each(?))`,
		postgres: `SELECT app, holder, expires_ms FROM leases WHERE app = ANY($1)`,
	},
	// Take the apps that are free or whose lease expired (or renew ours);
	// each row returned is an app the holder has now. Two workers never
	// both take one: the conflict clause is decided row by row under the
	// row's lock.
	stmtAcquireLeases: {
		sqlite: `INSERT INTO leases (app, holder, expires_ms) SELECT value, ?, ? FROM json_each(?) WHERE true
			ON CONFLICT (app) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
			WHERE leases.holder = excluded.holder OR leases.expires_ms < ?
			RETURNING app`,
		postgres: `INSERT INTO leases (app, holder, expires_ms) SELECT app, $1::text, $2::bigint FROM unnest($3::text[]) AS app
			ON CONFLICT (app) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
			WHERE leases.holder = excluded.holder OR leases.expires_ms < $4
			RETURNING app`,
	},
	stmtGiveBackLeases: {
		sqlite:   `DELETE FROM leases WHERE holder = ? AND app IN (SELECT value FROM json_each(?))`,
		postgres: `DELETE FROM leases WHERE holder = $1 AND app = ANY($2)`,
	},
}

// text is the statement's SQL for this database.
func (d *DB) text(id stmtID) string {
	if d.postgres {
		return stmtSQL[id].postgres
	}
	return stmtSQL[id].sqlite
}

// prepare prepares the statements of every tick.
func (d *DB) prepare(ctx context.Context) error {
	if d.unprepared {
		return nil
	}
	for id := range numStmts {
		s, err := d.db.PrepareContext(ctx, d.text(id))
		if err != nil {
			return fmt.Errorf("prepare statement %d: %w", id, err)
		}
		d.stmts[id] = s
	}
	return nil
}

func (d *DB) closeStmts() {
	for i, s := range d.stmts {
		if s != nil {
			s.Close()
			d.stmts[i] = nil
		}
	}
}

// queryStmt runs a statement of the tick that returns rows.
func (d *DB) queryStmt(ctx context.Context, id stmtID, args ...any) (*sql.Rows, error) {
	if s := d.stmts[id]; s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.db.QueryContext(ctx, d.text(id), args...)
}

// execStmt runs a statement of the tick that returns no rows.
func (d *DB) execStmt(ctx context.Context, id stmtID, args ...any) (sql.Result, error) {
	if s := d.stmts[id]; s != nil {
		return s.ExecContext(ctx, args...)
	}
	return d.db.ExecContext(ctx, d.text(id), args...)
}

// list is a list of apps as one statement argument: a text[] for
// PostgreSQL, a JSON array for SQLite's json_each.
func (d *DB) list(apps []string) (any, error) {
	if apps == nil {
		apps = []string{}
	}
	if d.postgres {
		return apps, nil
	}
	b, err := json.Marshal(apps)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// sqlOpen opens the database through the named driver, wrapping its
// connector when the store was told to.
func (d *DB) sqlOpen(driverName, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil || d.wrap == nil {
		return db, err
	}
	drv := db.Driver()
	db.Close()
	var c driver.Connector = dsnConnector{dsn: dsn, driver: drv}
	if dc, ok := drv.(driver.DriverContext); ok {
		if c, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(d.wrap(c)), nil
}

// dsnConnector is the connector of a driver that has none of its own.
type dsnConnector struct {
	dsn    string
	driver driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.driver }
