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
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/relwatch/relwatch/config"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	db       *sql.DB
	postgres bool
	now      func() time.Time
	// wrap, when set, wraps the driver's connector (tests count the
	// statements the store runs through it).
	wrap func(driver.Connector) driver.Connector
	// stmts are the statements of every tick, prepared at Open (nil when
	// unprepared is set: tests measure what preparing saves).
	stmts      [numStmts]*sql.Stmt
	unprepared bool
	// worker tells this handle's claims on a shared budget from other
	// workers' (a random name, new at each Open).
	worker string
	// readOnly: Open creates and migrates nothing (ReadOnly).
	readOnly bool
}

// Option configures Open.
type Option func(*DB)

// ReadOnly opens the state to read it (status, check): nothing is created
// or migrated, and SQLite's journal mode is left as the worker set it. A
// store without relwatch's schema (an empty database) is ErrNoState; one at
// another schema version, an error saying which.
func ReadOnly() Option { return func(d *DB) { d.readOnly = true } }

// ErrNoState is a store relwatch has never written: no schema in it.
var ErrNoState = errors.New("no relwatch state in the store")

// CallTimeout is how long one call to the state store may take before its
// caller counts the store as down. A store that answers too slowly (a table
// another session holds locked, a server that takes connections but runs no
// queries) is a store that does not answer: the worker goes on as in an
// outage, on the apps it holds until their leases end, rather than waiting
// with them, and with a rollback, for as long as the store takes. The
// watcher's calls and the rollback journal's share it.
const CallTimeout = 2 * time.Second

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
// sqlite: URL) and migrates the schema. Its errors never carry the DSN's
// password: the DSN is shown through Redact, and a driver's message that
// quotes the password anyway has it masked.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	d := &DB{now: time.Now, worker: rand.Text()[:12]}
	for _, o := range opts {
		o(d)
	}
	if err := CheckDSN(dsn); err != nil {
		return nil, err
	}
	var err error
	switch {
	case isPostgres(dsn):
		d.postgres = true
		d.db, err = d.sqlOpen("pgx", dsn)
	default:
		path, _ := SQLitePath(dsn)
		// One writer at a time, waiting for locks rather than failing.
		pragmas := "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
		if d.readOnly {
			pragmas = "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)" // setting WAL writes the file
		}
		d.db, err = d.sqlOpen("sqlite", "file:"+sqliteURIPath.Replace(path)+pragmas)
		if err == nil {
			d.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, redactErr(dsn, fmt.Errorf("open state %s: %w", Redact(dsn), err))
	}
	if err := d.db.PingContext(ctx); err != nil {
		d.db.Close()
		return nil, redactErr(dsn, fmt.Errorf("open state %s: %w", Redact(dsn), err))
	}
	if d.readOnly {
		if err := d.checkSchema(ctx); err != nil {
			d.db.Close()
			if errors.Is(err, ErrNoState) {
				return nil, err
			}
			return nil, redactErr(dsn, fmt.Errorf("read state %s: %w", Redact(dsn), err))
		}
	} else if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, redactErr(dsn, fmt.Errorf("migrate state %s: %w", Redact(dsn), err))
	}
	if err := d.prepare(ctx); err != nil {
		d.Close()
		return nil, redactErr(dsn, fmt.Errorf("open state %s: %w", Redact(dsn), err))
	}
	return d, nil
}

// CheckDSN refuses a DSN that is neither a postgres:// URL nor an SQLite
// path (see checkScheme), naming it without its password.
func CheckDSN(dsn string) error {
	if err := checkScheme(dsn); err != nil {
		return redactErr(dsn, fmt.Errorf("open state %s: %w", Redact(dsn), err))
	}
	return nil
}

// SQLitePath is the file an SQLite DSN names; ok is false for PostgreSQL.
func SQLitePath(dsn string) (path string, ok bool) {
	if isPostgres(dsn) {
		return "", false
	}
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:"), true
}

// sqliteURIPath escapes a file path for a file: URI, which SQLite decodes:
// unescaped, a '#' or a '?' in the path ends it there (the file opened is
// another, and the settings after it are lost), and a %XX is read as an
// escape.
var sqliteURIPath = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// checkScheme refuses a DSN that is neither a postgres:// URL nor an SQLite
// path: a URL of another scheme, or one whose scheme was lost
// ("user:pass@host/db"), would otherwise become a local SQLite file, and
// the worker would run on a state no other worker sees.
func checkScheme(dsn string) error {
	if isPostgres(dsn) {
		// The PostgreSQL driver takes the userinfo to end at the first '@'
		// or '/': a password with an '@' makes the rest the host name, one
		// with a '/' makes it the database name, which its errors quote.
		_, rest, _ := strings.Cut(dsn, "://")
		if authority, _, _ := strings.Cut(rest, "/"); strings.Count(authority, "@") > 1 {
			return errors.New("more than one '@' before the host: an '@' in the user or password must be written %40")
		}
		if slash := strings.IndexAny(rest, "@/"); slash >= 0 && rest[slash] == '/' {
			path, _, _ := strings.Cut(rest[slash:], "?")
			if strings.Contains(path, "@") {
				return errors.New("an '@' after a '/': a password with a '/' must be written %2F (and '@' as %40)")
			}
		}
		// What the driver cannot read (a port that is no number) is as
		// wrong as a lost scheme, and said before connecting: its message
		// quotes the DSN, which CheckDSN masks.
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			return err
		}
		return nil
	}
	if strings.HasPrefix(dsn, "sqlite:") {
		return nil
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		return fmt.Errorf("unknown scheme %q: want a postgres:// URL, or an SQLite file path", scheme)
	}
	if passwordParam.MatchString(dsn) {
		return errors.New("has a password= setting, so it is not an SQLite path: write the PostgreSQL DSN as a postgres:// URL")
	}
	if strings.Contains(dsn, "@") {
		return errors.New("looks like a database URL without its scheme (it has an '@'): write postgres://user:password@host/db, or sqlite:PATH for an SQLite file whose name has an '@'")
	}
	return nil
}

const redacted = "xxxxx"

// shortPassword is the length under which a password could be part of
// ordinary words.
const shortPassword = 6

// passwordParam is a password given as a setting: in a URL's query
// (?password=...&) or in a keyword DSN (password='...').
var passwordParam = regexp.MustCompile(`(?i)(password=)('(?:[^'\\]|\\.)*'|[^&\s]*)`)

// Redact hides the passwords of a DSN, for logs and errors: the URL's
// userinfo password and password= settings. The DSN need not be well
// formed: a password with an unescaped '#', '/', '?' or '@', a bad %
// escape, or a URL that lost its scheme is hidden too (then everything from
// the first ':' of what looks like the userinfo to the last '@' is masked:
// perhaps more than the password, never less).
func Redact(dsn string) string {
	dsn = passwordParam.ReplaceAllString(dsn, "${1}"+redacted)
	if u, err := url.Parse(dsn); err == nil && u.User != nil && !strings.Contains(u.Host+u.Path, "@") {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
		return u.String()
	}
	return config.MaskPassword(dsn)
}

// passwords returns the password texts dsn carries, as written and
// unescaped, for redactErr.
func passwords(dsn string) []string {
	var out []string
	add := func(p string) {
		p = strings.Trim(p, "'")
		if p == "" {
			return
		}
		forms := []string{p}
		if un, err := url.PathUnescape(p); err == nil && un != p {
			forms = append(forms, un)
		}
		for _, f := range forms {
			out = append(out, f)
			// A driver that misread the URL quotes pieces of it.
			for _, piece := range strings.FieldsFunc(f, func(r rune) bool { return strings.ContainsRune("/?#@:", r) }) {
				if len(piece) >= 4 && piece != f {
					out = append(out, piece)
				}
			}
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(dsn, -1) {
		add(m[2])
	}
	rest := dsn
	if _, after, ok := strings.Cut(dsn, "://"); ok {
		rest = after
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
			add(pw)
		}
	}
	return out
}

// redactErr masks dsn's passwords in err's text, should a driver have
// quoted one; an error that quotes none is returned as it is. A password
// shorter than shortPassword is masked where it stands alone, not inside
// words ("p" would make "open" "oxxxxxen"); a longer one wherever it is.
func redactErr(dsn string, err error) error {
	msg := err.Error()
	// The DSN as Redact wrote it is clean already: a password that is a
	// word of it ("postgres") must not mask its scheme.
	shown := Redact(dsn)
	const hold = "\x00dsn\x00"
	clean := strings.ReplaceAll(msg, shown, hold)
	for _, p := range passwords(dsn) {
		if len(p) >= shortPassword {
			clean = strings.ReplaceAll(clean, p, redacted)
			continue
		}
		alone := regexp.MustCompile(`(^|[^\pL\pN])` + regexp.QuoteMeta(p) + `($|[^\pL\pN])`)
		for prev := ""; prev != clean; {
			// Twice over "p p": the matches share the space between them.
			prev, clean = clean, alone.ReplaceAllString(clean, "${1}"+redacted+"${2}")
		}
	}
	clean = strings.ReplaceAll(clean, hold, shown)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// Close closes the database.
func (d *DB) Close() error {
	d.closeStmts()
	return d.db.Close()
}

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

// insert runs an INSERT and returns the new row's id (RETURNING on
// PostgreSQL, the last insert id on SQLite).
func (d *DB) insert(ctx context.Context, query string, args ...any) (int64, error) {
	if d.postgres {
		var id int64
		err := d.db.QueryRowContext(ctx, d.q(query+" RETURNING id"), args...).Scan(&id)
		return id, err
	}
	res, err := d.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
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
	// Announcements exactly once across crashes: each outbox row has its
	// event's idempotency key (one row per chat and key), its thread (kept
	// in order), and the sends begun (more than 0: the chat may have it).
	// A thread remembers the key of the announcement that opened it. The
	// journal's "interrupted" meant "abandoned" before; now it is an open
	// entry the next worker finishes. A request may name the release it
	// rolls back (a Slack button's).
	`ALTER TABLE outbox ADD COLUMN idem_key TEXT NOT NULL DEFAULT '';
	ALTER TABLE outbox ADD COLUMN thread TEXT NOT NULL DEFAULT '';
	ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
	UPDATE outbox SET idem_key = 'row-' || id;
	CREATE UNIQUE INDEX outbox_key ON outbox (chat, idem_key);
	ALTER TABLE threads ADD COLUMN open_key TEXT NOT NULL DEFAULT '';
	UPDATE journal SET outcome = 'abandoned' WHERE outcome = 'interrupted';
	ALTER TABLE requests ADD COLUMN from_version INTEGER NOT NULL DEFAULT 0;`,
	// The overrides read once a tick for every app; the leases renewed by
	// holder; retention (Prune) finds the old rows by their time.
	`CREATE INDEX requests_pending ON requests (done_ms, app);
	CREATE INDEX leases_holder ON leases (holder);
	CREATE INDEX watches_updated ON watches (updated_ms);
	CREATE INDEX decisions_at ON decisions (at_ms);
	CREATE INDEX journal_finished ON journal (finished_ms);
	CREATE INDEX outbox_done ON outbox (done_ms);
	CREATE TABLE maintenance (
		task TEXT PRIMARY KEY,
		last_ms BIGINT NOT NULL
	);`,
	// A pause request keeps the pause's end as it was asked: the pause
	// itself may be gone (resumed) before the worker announces it.
	`ALTER TABLE requests ADD COLUMN until_ms BIGINT NOT NULL DEFAULT 0;`,
	// One Heroku rate-limit budget per token, shared by the workers that
	// use it: the requests left (in thousandths) at at_ms, the last answer
	// from Heroku taken in, and the last claim. The token is named by a
	// digest, never itself. And the release pushes (a webhook, an API
	// event in a drain) that landed on a worker which does not hold the
	// app, for the one that does.
	`CREATE TABLE budgets (
		token TEXT PRIMARY KEY,
		milli BIGINT NOT NULL,
		at_ms BIGINT NOT NULL,
		heard_ms BIGINT NOT NULL,
		claim_ms BIGINT NOT NULL
	);
	CREATE TABLE nudges (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		at_ms BIGINT NOT NULL
	);
	CREATE INDEX nudges_at ON nudges (at_ms);`,
	// The polls each worker on a token was refused when the budget was
	// short, by the due time of its longest waiting one, so that the
	// budget goes to the longest waiting polls of all the workers.
	`ALTER TABLE budgets ADD COLUMN waits TEXT NOT NULL DEFAULT '';`,
	// The id a rollback journaled while the store was down was announced
	// under (negative), for a worker that says it again.
	`ALTER TABLE journal ADD COLUMN said_as BIGINT NOT NULL DEFAULT 0;`,
	// When a chat thread was last written, so that retention (Prune)
	// forgets the threads of releases long over: one a release, for as
	// long as the store was used. 0: written before this (Prune stamps it).
	`ALTER TABLE threads ADD COLUMN saved_ms BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX threads_saved ON threads (saved_ms);`,
	// No table changes: the outbox holds announcements of kinds a relwatch
	// at the version before does not know (override.ended, watch.blind).
	// That relwatch, deployed back or still running beside this one, said
	// them as "app v42: watch.blind" and marked them delivered; it now
	// refuses the state as newer than it knows.
	`UPDATE schema_version SET version = version;`,
	// A pause request stored before requests kept the pause's end (version
	// 6) and not yet announced reads as a pause until resumed: it takes
	// the end of the pause it made, still in force (the same person and
	// reason).
	`UPDATE requests SET until_ms = (SELECT p.until_ms FROM pauses p WHERE p.app = requests.app AND p.by_who = requests.by_who AND p.reason = requests.reason)
	WHERE kind = 'pause' AND done_ms = 0 AND until_ms = 0
	AND EXISTS (SELECT 1 FROM pauses p WHERE p.app = requests.app AND p.by_who = requests.by_who AND p.reason = requests.reason);`,
}

// SchemaVersion is the schema version this relwatch migrates a state to.
// A relwatch that knows fewer versions refuses a state at this one: what
// the state may hold (an announcement of a kind it does not know) is
// bumped with a migration, so that it fails loudly instead of misreading.
func SchemaVersion() int { return len(migrations) }

func (d *DB) migrate(ctx context.Context) error {
	if d.postgres {
		// Several workers may start at once: one migrates, the others wait.
		if _, err := d.db.ExecContext(ctx, `SELECT pg_advisory_lock(7264500)`); err != nil {
			return fmt.Errorf("wait for the migration lock: %w", err)
		}
		defer d.db.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7264500)`)
	}
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create the schema version: %w", err)
	}
	var version int
	err := d.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		// One statement writes the first version only where there is none:
		// two processes opening a new SQLite state at once (a worker and a
		// command beside it) would otherwise each find none and each write
		// one.
		if _, err := d.db.ExecContext(ctx, `INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`); err != nil {
			return fmt.Errorf("create the schema version: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if version > len(migrations) {
		return errNewerSchema(version)
	}
	if version == len(migrations) {
		return nil // nothing to migrate: nothing written
	}
	for {
		applied, err := d.migrateOne(ctx)
		if err != nil || !applied {
			return err
		}
	}
}

// checkSchema is migrate for a reader: it says whether the store holds
// this relwatch's schema, and writes nothing.
func (d *DB) checkSchema(ctx context.Context) error {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`
	if d.postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = current_schema()`
	}
	var tables int
	if err := d.db.QueryRowContext(ctx, q).Scan(&tables); err != nil {
		return fmt.Errorf("look for the schema version: %w", err)
	}
	if tables == 0 {
		return ErrNoState
	}
	var version int
	err := d.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNoState
	case err != nil:
		return fmt.Errorf("read the schema version: %w", err)
	case version > len(migrations):
		return errNewerSchema(version)
	case version < len(migrations):
		return fmt.Errorf("the state is at schema version %d, older than this relwatch reads (%d): the worker of this relwatch migrates it when it starts; until then, read it with the relwatch that wrote it", version, len(migrations))
	}
	return nil
}

// errNewerSchema is the error of a state a newer relwatch migrated.
func errNewerSchema(version int) error {
	return fmt.Errorf("the state is at schema version %d, newer than this relwatch knows (%d): upgrade relwatch", version, len(migrations))
}

// migrateOne applies the next migration, if any is left, and reports
// whether it did. It reads the version in the migration's transaction,
// after taking the write lock: another process that migrated meanwhile is
// seen, and its migration not applied again.
func (d *DB) migrateOne(ctx context.Context) (bool, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	// A write first: SQLite takes its write lock (waiting for another
	// migrating process) before the version is read.
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = version`); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil {
		return false, fmt.Errorf("read the schema version: %w", err)
	}
	if version > len(migrations) {
		return false, errNewerSchema(version)
	}
	if version == len(migrations) {
		return false, nil
	}
	stmt := migrations[version]
	if d.postgres {
		stmt = strings.ReplaceAll(stmt, "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
	}
	for _, s := range strings.Split(stmt, ";") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return false, fmt.Errorf("migration %d: %w", version+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.q(`UPDATE schema_version SET version = ?`), version+1); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	return true, nil
}

// Exec runs a statement as it is (tests make and drop schemas with it).
func (d *DB) Exec(ctx context.Context, stmt string) error {
	if _, err := d.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
