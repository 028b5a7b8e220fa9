package store

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"
	"sync/atomic"
)

// Counts is what the store asked of its database driver: statements run
// (a query or an exec, on a connection or through a prepared statement),
// statements prepared, and transactions begun.
type Counts struct {
	Statements, Prepares, Txs atomic.Int64
}

// Snapshot returns the three counts.
func (c *Counts) Snapshot() (statements, prepares, txs int64) {
	return c.Statements.Load(), c.Prepares.Load(), c.Txs.Load()
}

// CountStatements makes the store count, in c, what it asks its driver. The
// wrapper passes every optional driver interface through (a connection
// without ExecerContext still gets database/sql's prepare-exec-close), so
// what is counted is what the store would do unwrapped.
func CountStatements(c *Counts) Option {
	return func(d *DB) {
		d.wrap = func(conn driver.Connector) driver.Connector { return countingConnector{Connector: conn, c: c} }
	}
}

// Unprepared makes the store run the statements of every tick unprepared:
// benchmarks measure what preparing them saves.
func Unprepared() Option { return func(d *DB) { d.unprepared = true } }

// PauseBefore makes the store stop before the first statement it runs
// (on a connection) that starts with prefix: it closes reached, and runs
// the statement once release is closed. A test so holds one store at a
// chosen moment while another acts.
func PauseBefore(prefix string, reached chan<- struct{}, release <-chan struct{}) Option {
	var once sync.Once
	before := func(query string) {
		if strings.HasPrefix(strings.TrimSpace(query), prefix) {
			once.Do(func() {
				close(reached)
				<-release
			})
		}
	}
	return func(d *DB) {
		d.wrap = func(conn driver.Connector) driver.Connector {
			return countingConnector{Connector: conn, c: &Counts{}, before: before}
		}
	}
}

type countingConnector struct {
	driver.Connector
	c      *Counts
	before func(query string) // nil: none
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn: conn, c: cc.c, before: cc.before}, nil
}

type countingConn struct {
	conn   driver.Conn
	c      *Counts
	before func(query string)
}

func (cc *countingConn) Prepare(query string) (driver.Stmt, error) {
	return cc.PrepareContext(context.Background(), query)
}

func (cc *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	cc.c.Prepares.Add(1)
	var s driver.Stmt
	var err error
	if p, ok := cc.conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = cc.conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{stmt: s, conn: cc}, nil
}

func (cc *countingConn) Close() error { return cc.conn.Close() }

func (cc *countingConn) Begin() (driver.Tx, error) {
	return cc.BeginTx(context.Background(), driver.TxOptions{})
}

func (cc *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	cc.c.Txs.Add(1)
	if b, ok := cc.conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return cc.conn.Begin() //nolint:staticcheck // the driver has nothing newer
}

func (cc *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := cc.conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares, and that is counted
	}
	cc.c.Statements.Add(1)
	if cc.before != nil {
		cc.before(query)
	}
	return e.ExecContext(ctx, query, args)
}

func (cc *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := cc.conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	cc.c.Statements.Add(1)
	if cc.before != nil {
		cc.before(query)
	}
	return q.QueryContext(ctx, query, args)
}

func (cc *countingConn) Ping(ctx context.Context) error {
	if p, ok := cc.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (cc *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := cc.conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (cc *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := cc.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (cc *countingConn) IsValid() bool {
	if v, ok := cc.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type countingStmt struct {
	stmt driver.Stmt
	conn *countingConn
}

func (cs *countingStmt) Close() error  { return cs.stmt.Close() }
func (cs *countingStmt) NumInput() int { return cs.stmt.NumInput() }

func (cs *countingStmt) Exec(args []driver.Value) (driver.Result, error) {
	cs.conn.c.Statements.Add(1)
	return cs.stmt.Exec(args) //nolint:staticcheck // only when the driver has nothing newer
}

func (cs *countingStmt) Query(args []driver.Value) (driver.Rows, error) {
	cs.conn.c.Statements.Add(1)
	return cs.stmt.Query(args) //nolint:staticcheck // only when the driver has nothing newer
}

func (cs *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := cs.stmt.(driver.StmtExecContext)
	if !ok {
		return cs.Exec(namedToValues(args))
	}
	cs.conn.c.Statements.Add(1)
	return e.ExecContext(ctx, args)
}

func (cs *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := cs.stmt.(driver.StmtQueryContext)
	if !ok {
		return cs.Query(namedToValues(args))
	}
	cs.conn.c.Statements.Add(1)
	return q.QueryContext(ctx, args)
}

// CheckNamedValue asks the statement, then its connection, as database/sql
// would unwrapped.
func (cs *countingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := cs.stmt.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return cs.conn.CheckNamedValue(nv)
}

func namedToValues(args []driver.NamedValue) []driver.Value {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// SchemaVersions returns the versions the schema version table holds: one
// row in a sound store.
func (d *DB) SchemaVersions(ctx context.Context) ([]int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT version FROM schema_version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Workers counts the rows of the workers' heartbeats, live or not.
func (d *DB) Workers(ctx context.Context) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM workers`).Scan(&n)
	return n, err
}

// SaveThreadUntimed writes a thread as a relwatch before threads had a
// time did.
func (d *DB) SaveThreadUntimed(ctx context.Context, chat, thread string) error {
	_, err := d.exec(ctx, `INSERT INTO threads (chat, thread, ref, opening, open_key) VALUES (?, ?, 'ref', '{}', 'k')`, chat, thread)
	return err
}
