package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Pause is a person's "no automatic rollback for this app".
type Pause struct {
	App    string    `json:"app"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"` // zero: until resumed
	At     time.Time `json:"at"`
}

// ActiveAt reports whether the pause is in force at now: until resumed,
// or now before its end. The one rule: the store reads it on its clock,
// the watcher on its tick's (a replay's virtual one).
func (p Pause) ActiveAt(now time.Time) bool { return p.Until.IsZero() || now.Before(p.Until) }

// Request is an override command waiting for the worker: it announces it,
// and carries out rollbacks.
type Request struct {
	ID   int64  `json:"id"`
	App  string `json:"app"`
	Kind string `json:"kind"` // pause, resume, approve, rollback, promote
	To   int    `json:"to"`   // rollback: the target (0: the newest earlier good one); approve: the release
	// From is the release a rollback is for (a Slack button's): it is rolled
	// back only while it is the current one. 0: whatever is current.
	From   int    `json:"from,omitempty"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	// Until is a pause request's end as it was asked (zero: until
	// resumed), kept with the request: the pause may be resumed before
	// the worker announces it.
	Until time.Time `json:"until"`
	At    time.Time `json:"at"`
}

// The request kinds.
const (
	KindPause    = "pause"
	KindResume   = "resume"
	KindApprove  = "approve"
	KindRollback = "rollback"
	// KindPromote: a person promoted to the app (relwatch promote); the
	// worker polls its releases fast for a while, and announces nothing
	// (promote announced it).
	KindPromote = "promote"
)

// SetPause pauses automatic rollback of app until until (zero: until
// resumed), and queues the announcement.
func (d *DB) SetPause(ctx context.Context, p Pause) error {
	now := d.now()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pause %s: %w", p.App, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO pauses (app, by_who, reason, until_ms, at_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app) DO UPDATE SET by_who = excluded.by_who, reason = excluded.reason, until_ms = excluded.until_ms, at_ms = excluded.at_ms`),
		p.App, p.By, p.Reason, ms(p.Until), ms(now)); err != nil {
		return fmt.Errorf("pause %s: %w", p.App, err)
	}
	if err := d.request(ctx, tx, Request{App: p.App, Kind: KindPause, By: p.By, Reason: p.Reason, Until: p.Until}); err != nil {
		return fmt.Errorf("pause %s: %w", p.App, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pause %s: %w", p.App, err)
	}
	return nil
}

// Resume ends a pause; it reports whether there was one in force (one
// that has ended by itself is cleared and reported as none).
func (d *DB) Resume(ctx context.Context, app, by string) (bool, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", app, err)
	}
	defer tx.Rollback()
	var until int64
	err = tx.QueryRowContext(ctx, d.q(`DELETE FROM pauses WHERE app = ? RETURNING until_ms`), app).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", app, err)
	}
	if !(Pause{Until: fromMS(until)}).ActiveAt(d.now()) {
		if err := tx.Commit(); err != nil {
			return false, fmt.Errorf("resume %s: %w", app, err)
		}
		return false, nil
	}
	if err := d.request(ctx, tx, Request{App: app, Kind: KindResume, By: by}); err != nil {
		return false, fmt.Errorf("resume %s: %w", app, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("resume %s: %w", app, err)
	}
	return true, nil
}

// Approve marks release of app good: its watch ends healthy.
func (d *DB) Approve(ctx context.Context, app string, release int, by, reason string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("approve %s v%d: %w", app, release, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO approvals (app, release, by_who, at_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (app, release) DO NOTHING`), app, release, by, ms(d.now())); err != nil {
		return fmt.Errorf("approve %s v%d: %w", app, release, err)
	}
	if err := d.request(ctx, tx, Request{App: app, Kind: KindApprove, To: release, By: by, Reason: reason}); err != nil {
		return fmt.Errorf("approve %s v%d: %w", app, release, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("approve %s v%d: %w", app, release, err)
	}
	return nil
}

// NotePromotion tells the worker that by is promoting to app (relwatch
// promote), so that it polls the app's releases fast for a while.
func (d *DB) NotePromotion(ctx context.Context, app, by, reason string) (int64, error) {
	id, err := d.insert(ctx, `INSERT INTO requests (app, kind, to_version, by_who, reason, at_ms) VALUES (?, ?, 0, ?, ?, ?)`,
		app, KindPromote, by, reason, ms(d.now()))
	if err != nil {
		return 0, fmt.Errorf("note the promotion to %s: %w", app, err)
	}
	return id, nil
}

// RequestRollback asks the worker to roll app back (to 0: the newest
// earlier release that succeeded) through the guarded path.
func (d *DB) RequestRollback(ctx context.Context, app string, to int, by, reason string) (int64, error) {
	id, err := d.insert(ctx, `INSERT INTO requests (app, kind, to_version, by_who, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		app, KindRollback, to, by, reason, ms(d.now()))
	if err != nil {
		return 0, fmt.Errorf("request a rollback of %s: %w", app, err)
	}
	return id, nil
}

// RequestRollbackOf asks the worker to roll app back from release, only
// while release is the current one (the button on its opening message was
// pressed), to the newest earlier release that succeeded.
func (d *DB) RequestRollbackOf(ctx context.Context, app string, release int, by, reason string) (int64, error) {
	id, err := d.insert(ctx, `INSERT INTO requests (app, kind, from_version, to_version, by_who, reason, at_ms) VALUES (?, ?, ?, 0, ?, ?, ?)`,
		app, KindRollback, release, by, reason, ms(d.now()))
	if err != nil {
		return 0, fmt.Errorf("request a rollback of %s v%d: %w", app, release, err)
	}
	return id, nil
}

func (d *DB) request(ctx context.Context, tx *sql.Tx, r Request) error {
	_, err := tx.ExecContext(ctx, d.q(`INSERT INTO requests (app, kind, to_version, by_who, reason, until_ms, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		r.App, r.Kind, r.To, r.By, r.Reason, ms(r.Until), ms(d.now()))
	if err != nil {
		return fmt.Errorf("queue the %s request: %w", r.Kind, err)
	}
	return nil
}

// PendingRequests are the app's override commands the worker has not
// handled yet, oldest first.
func (d *DB) PendingRequests(ctx context.Context, app string) ([]Request, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, app, kind, from_version, to_version, by_who, reason, until_ms, at_ms FROM requests
		WHERE app = ? AND done_ms = 0 ORDER BY id`), app)
	if err != nil {
		return nil, fmt.Errorf("read requests of %s: %w", app, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var r Request
		var until, at int64
		if err := rows.Scan(&r.ID, &r.App, &r.Kind, &r.From, &r.To, &r.By, &r.Reason, &until, &at); err != nil {
			return nil, fmt.Errorf("read requests of %s: %w", app, err)
		}
		r.Until, r.At = fromMS(until), fromMS(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read requests of %s: %w", app, err)
	}
	return out, nil
}

// FinishRequest records what became of a request.
func (d *DB) FinishRequest(ctx context.Context, id int64, outcome string) error {
	if _, err := d.exec(ctx, `UPDATE requests SET done_ms = ?, outcome = ? WHERE id = ?`, ms(d.now()), outcome, id); err != nil {
		return fmt.Errorf("finish request %d: %w", id, err)
	}
	return nil
}

// PauseOf returns the app's pause in force now, if any.
func (d *DB) PauseOf(ctx context.Context, app string) (Pause, bool, error) {
	var p Pause
	var until, at int64
	err := d.db.QueryRowContext(ctx, d.q(`SELECT app, by_who, reason, until_ms, at_ms FROM pauses WHERE app = ?`), app).
		Scan(&p.App, &p.By, &p.Reason, &until, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Pause{}, false, nil
	}
	if err != nil {
		return Pause{}, false, fmt.Errorf("read pause of %s: %w", app, err)
	}
	p.Until, p.At = fromMS(until), fromMS(at)
	if !p.ActiveAt(d.now()) {
		return Pause{}, false, nil // expired
	}
	return p, true, nil
}

// ApprovedBy returns who approved release of app, or "".
func (d *DB) ApprovedBy(ctx context.Context, app string, release int) (string, error) {
	var by string
	err := d.db.QueryRowContext(ctx, d.q(`SELECT by_who FROM approvals WHERE app = ? AND release = ?`), app, release).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the approval of %s v%d: %w", app, release, err)
	}
	return by, nil
}

// OverrideRecord is what people said about one app: the pause in force, who
// approved the release under watch, and the requests not carried out yet.
type OverrideRecord struct {
	Pause    *Pause // nil: not paused
	Approved string // who approved the release under watch, or ""
	// ApprovedAt is when it was approved, on the store's clock: an
	// approval given before its release was made is not taken.
	ApprovedAt time.Time
	Requests   []Request // oldest first
}

// Overrides returns the overrides of each app in watched, which maps an app
// to its release under watch (0: none), in one query for all of them.
func (d *DB) Overrides(ctx context.Context, watched map[string]int) (map[string]OverrideRecord, error) {
	out := make(map[string]OverrideRecord, len(watched))
	if len(watched) == 0 {
		return out, nil
	}
	apps := make([]string, 0, len(watched))
	var approvalApps []string
	var approvalReleases []int
	for app, release := range watched {
		apps = append(apps, app)
		if release != 0 {
			approvalApps, approvalReleases = append(approvalApps, app), append(approvalReleases, release)
		}
	}
	list, err := d.list(apps)
	if err != nil {
		return nil, fmt.Errorf("read the overrides of %d apps: %w", len(apps), err)
	}
	var rows *sql.Rows
	if d.postgres {
		if approvalApps == nil {
			approvalApps, approvalReleases = []string{}, []int{}
		}
		rows, err = d.queryStmt(ctx, stmtOverrides, list, approvalApps, approvalReleases)
	} else {
		pairs := make([][2]any, len(approvalApps))
		for i, app := range approvalApps {
			pairs[i] = [2]any{app, approvalReleases[i]}
		}
		var b []byte
		if b, err = json.Marshal(pairs); err != nil {
			return nil, fmt.Errorf("read the overrides of %d apps: %w", len(apps), err)
		}
		rows, err = d.queryStmt(ctx, stmtOverrides, list, string(b))
	}
	if err != nil {
		return nil, fmt.Errorf("read the overrides of %d apps: %w", len(apps), err)
	}
	defer rows.Close()
	for app := range watched {
		out[app] = OverrideRecord{}
	}
	now := d.now()
	for rows.Next() {
		var what string
		var r Request
		var until int64
		var at int64
		if err := rows.Scan(&what, &r.App, &r.ID, &r.Kind, &r.From, &r.To, &r.By, &r.Reason, &until, &at); err != nil {
			return nil, fmt.Errorf("read the overrides of %d apps: %w", len(apps), err)
		}
		o := out[r.App]
		switch what {
		case "pause":
			p := Pause{App: r.App, By: r.By, Reason: r.Reason, Until: fromMS(until), At: fromMS(at)}
			if p.ActiveAt(now) { // else expired
				o.Pause = &p
			}
		case "approval":
			o.Approved, o.ApprovedAt = r.By, fromMS(at)
		case "request":
			r.Until, r.At = fromMS(until), fromMS(at)
			o.Requests = append(o.Requests, r)
		}
		out[r.App] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the overrides of %d apps: %w", len(apps), err)
	}
	return out, nil
}
