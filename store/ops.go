package store

import (
	"context"
	"database/sql"
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

// Request is an override command waiting for the worker: it announces it,
// and carries out rollbacks.
type Request struct {
	ID     int64     `json:"id"`
	App    string    `json:"app"`
	Kind   string    `json:"kind"` // pause, resume, approve, rollback
	To     int       `json:"to"`   // rollback: the target (0: the newest earlier good one); approve: the release
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// The request kinds.
const (
	KindPause    = "pause"
	KindResume   = "resume"
	KindApprove  = "approve"
	KindRollback = "rollback"
)

// SetPause pauses automatic rollback of app until until (zero: until
// resumed), and queues the announcement.
func (d *DB) SetPause(ctx context.Context, p Pause) error {
	now := d.now()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO pauses (app, by_who, reason, until_ms, at_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app) DO UPDATE SET by_who = excluded.by_who, reason = excluded.reason, until_ms = excluded.until_ms, at_ms = excluded.at_ms`),
		p.App, p.By, p.Reason, ms(p.Until), ms(now)); err != nil {
		return fmt.Errorf("pause %s: %w", p.App, err)
	}
	if err := d.request(ctx, tx, Request{App: p.App, Kind: KindPause, By: p.By, Reason: p.Reason}); err != nil {
		return err
	}
	return tx.Commit()
}

// Resume ends a pause; it reports whether there was one.
func (d *DB) Resume(ctx context.Context, app, by string) (bool, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.q(`DELETE FROM pauses WHERE app = ?`), app)
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", app, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return false, nil
	}
	if err := d.request(ctx, tx, Request{App: app, Kind: KindResume, By: by}); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Approve marks release of app good: its watch ends healthy.
func (d *DB) Approve(ctx context.Context, app string, release int, by, reason string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO approvals (app, release, by_who, at_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (app, release) DO NOTHING`), app, release, by, ms(d.now())); err != nil {
		return fmt.Errorf("approve %s v%d: %w", app, release, err)
	}
	if err := d.request(ctx, tx, Request{App: app, Kind: KindApprove, To: release, By: by, Reason: reason}); err != nil {
		return err
	}
	return tx.Commit()
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

func (d *DB) request(ctx context.Context, tx *sql.Tx, r Request) error {
	_, err := tx.ExecContext(ctx, d.q(`INSERT INTO requests (app, kind, to_version, by_who, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?)`),
		r.App, r.Kind, r.To, r.By, r.Reason, ms(d.now()))
	return err
}

// PendingRequests are the app's override commands the worker has not
// handled yet, oldest first.
func (d *DB) PendingRequests(ctx context.Context, app string) ([]Request, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, app, kind, to_version, by_who, reason, at_ms FROM requests
		WHERE app = ? AND done_ms = 0 ORDER BY id`), app)
	if err != nil {
		return nil, fmt.Errorf("read requests of %s: %w", app, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var r Request
		var at int64
		if err := rows.Scan(&r.ID, &r.App, &r.Kind, &r.To, &r.By, &r.Reason, &at); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// FinishRequest records what became of a request.
func (d *DB) FinishRequest(ctx context.Context, id int64, outcome string) error {
	_, err := d.exec(ctx, `UPDATE requests SET done_ms = ?, outcome = ? WHERE id = ?`, ms(d.now()), outcome, id)
	return err
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
	if !p.Until.IsZero() && !d.now().Before(p.Until) {
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
	return by, err
}

// Decision is one judgement the watcher acted on.
type Decision struct {
	App      string    `json:"app"`
	Release  int       `json:"release"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	Reason   string    `json:"reason"`
	Evidence string    `json:"evidence"` // JSON of the findings
}

// RecordDecision stores a decision.
func (d *DB) RecordDecision(ctx context.Context, dec Decision) error {
	_, err := d.exec(ctx, `INSERT INTO decisions (app, release, at_ms, action, reason, evidence) VALUES (?, ?, ?, ?, ?, ?)`,
		dec.App, dec.Release, ms(dec.At), dec.Action, dec.Reason, dec.Evidence)
	return err
}

// Decisions returns app's last decisions, newest first.
func (d *DB) Decisions(ctx context.Context, app string, limit int) ([]Decision, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT app, release, at_ms, action, reason, evidence FROM decisions WHERE app = ? ORDER BY at_ms DESC, id DESC LIMIT ?`), app, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var dec Decision
		var at int64
		if err := rows.Scan(&dec.App, &dec.Release, &at, &dec.Action, &dec.Reason, &dec.Evidence); err != nil {
			return nil, err
		}
		dec.At = fromMS(at)
		out = append(out, dec)
	}
	return out, rows.Err()
}

// JournalEntry is one rollback, written before Heroku is called and
// completed after.
type JournalEntry struct {
	ID       int64     `json:"id"`
	App      string    `json:"app"`
	Bad      int       `json:"bad"`
	Target   int       `json:"target"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Outcome  string    `json:"outcome"` // "" while open; done, skipped, failed, interrupted
	Created  int       `json:"created"` // the "Rollback to vN" release
	Error    string    `json:"error,omitempty"`
}

// BeginRollback journals a rollback about to be attempted, at e.Started
// (default now).
func (d *DB) BeginRollback(ctx context.Context, e JournalEntry) (int64, error) {
	start := ms(d.now())
	if !e.Started.IsZero() {
		start = ms(e.Started)
	}
	id, err := d.insert(ctx, `INSERT INTO journal (app, bad, target, reason, by_who, started_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		e.App, e.Bad, e.Target, e.Reason, e.By, start)
	if err != nil {
		return 0, fmt.Errorf("journal the rollback of %s v%d: %w", e.App, e.Bad, err)
	}
	return id, nil
}

// FinishRollback completes a journal entry.
func (d *DB) FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error {
	_, err := d.exec(ctx, `UPDATE journal SET finished_ms = ?, outcome = ?, target = ?, created = ?, error = ? WHERE id = ?`,
		ms(d.now()), outcome, target, created, errText, id)
	if err != nil {
		return fmt.Errorf("complete journal entry %d: %w", id, err)
	}
	return nil
}

// Journal returns the app's rollbacks, newest first; open only those not
// completed.
func (d *DB) Journal(ctx context.Context, app string, openOnly bool, limit int) ([]JournalEntry, error) {
	query := `SELECT id, app, bad, target, reason, by_who, started_ms, finished_ms, outcome, created, error FROM journal WHERE app = ?`
	if openOnly {
		query += ` AND outcome = ''`
	}
	rows, err := d.db.QueryContext(ctx, d.q(query+` ORDER BY id DESC LIMIT ?`), app, limit)
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s: %w", app, err)
	}
	defer rows.Close()
	var out []JournalEntry
	for rows.Next() {
		var e JournalEntry
		var started, finished int64
		if err := rows.Scan(&e.ID, &e.App, &e.Bad, &e.Target, &e.Reason, &e.By, &started, &finished, &e.Outcome, &e.Created, &e.Error); err != nil {
			return nil, err
		}
		e.Started, e.Finished = fromMS(started), fromMS(finished)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Thread returns a chat thread's reference and opening message, if known.
func (d *DB) Thread(ctx context.Context, chat, thread string) (ref, opening string, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, d.q(`SELECT ref, opening FROM threads WHERE chat = ? AND thread = ?`), chat, thread).Scan(&ref, &opening)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return ref, opening, err == nil, err
}

// SaveThread remembers a chat thread.
func (d *DB) SaveThread(ctx context.Context, chat, thread, ref, opening string) error {
	_, err := d.exec(ctx, `INSERT INTO threads (chat, thread, ref, opening) VALUES (?, ?, ?, ?)
		ON CONFLICT (chat, thread) DO UPDATE SET ref = excluded.ref, opening = excluded.opening`, chat, thread, ref, opening)
	return err
}

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
		return err
	}
	_, err := d.exec(ctx, `DELETE FROM workers WHERE holder = ?`, holder)
	return err
}

// ReleaseLease gives back one app, so another worker may take it.
func (d *DB) ReleaseLease(ctx context.Context, app, holder string) error {
	_, err := d.exec(ctx, `DELETE FROM leases WHERE app = ? AND holder = ?`, app, holder)
	return err
}

// Heartbeat says holder is alive now.
func (d *DB) Heartbeat(ctx context.Context, holder string) error {
	_, err := d.exec(ctx, `INSERT INTO workers (holder, seen_ms) VALUES (?, ?)
		ON CONFLICT (holder) DO UPDATE SET seen_ms = excluded.seen_ms`, holder, ms(d.now()))
	return err
}

// Share tells how many workers were alive within ttl and how many live
// leases holder has: a fair worker holds about apps/workers.
func (d *DB) Share(ctx context.Context, holder string, ttl time.Duration) (workers, held int, err error) {
	now := d.now()
	if err = d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM workers WHERE seen_ms >= ?`), ms(now.Add(-ttl))).Scan(&workers); err != nil {
		return 0, 0, err
	}
	err = d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM leases WHERE holder = ? AND expires_ms >= ?`), holder, ms(now)).Scan(&held)
	return max(workers, 1), held, err
}

// Lease says who holds app's lease and until when.
func (d *DB) Lease(ctx context.Context, app string) (holder string, expires time.Time, err error) {
	var exp int64
	err = d.db.QueryRowContext(ctx, d.q(`SELECT holder, expires_ms FROM leases WHERE app = ?`), app).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return holder, fromMS(exp), err
}

// Quarantine remembers that slug was rolled back as bad on app.
func (d *DB) Quarantine(ctx context.Context, app, slug string, release int, reason string) error {
	if slug == "" {
		return nil
	}
	_, err := d.exec(ctx, `INSERT INTO quarantine (app, slug, release, reason, at_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app, slug) DO UPDATE SET release = excluded.release, reason = excluded.reason, at_ms = excluded.at_ms`,
		app, slug, release, reason, ms(d.now()))
	return err
}

// Quarantined returns the release a slug was rolled back from, and why, if
// it was.
func (d *DB) Quarantined(ctx context.Context, app, slug string) (int, string, bool, error) {
	var rel int
	var reason string
	err := d.db.QueryRowContext(ctx, d.q(`SELECT release, reason FROM quarantine WHERE app = ? AND slug = ?`), app, slug).Scan(&rel, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	return rel, reason, err == nil, err
}

// Apps lists every app the store knows of.
func (d *DB) Apps(ctx context.Context) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT app FROM watches UNION SELECT app FROM pauses UNION SELECT app FROM requests UNION SELECT app FROM journal ORDER BY app`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Enqueue stores an announcement for chat, claimed by holder (who will
// deliver it), before anything is sent: a worker that dies leaves it for
// another to deliver.
func (d *DB) Enqueue(ctx context.Context, chat, payload, holder string) (int64, error) {
	now := ms(d.now())
	return d.insert(ctx, `INSERT INTO outbox (chat, payload, created_ms, claimed_by, claimed_ms) VALUES (?, ?, ?, ?, ?)`,
		chat, payload, now, holder, now)
}

// ClaimStale takes, for holder, chat's undelivered announcements whose
// claim is older than stale (their worker died), oldest first: their ids
// and payloads.
func (d *DB) ClaimStale(ctx context.Context, chat, holder string, stale time.Duration, limit int) ([]int64, []string, error) {
	now := d.now()
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, payload FROM outbox WHERE chat = ? AND done_ms = 0 AND claimed_by <> ? AND claimed_ms < ? ORDER BY id LIMIT ?`),
		chat, holder, ms(now.Add(-stale)), limit)
	if err != nil {
		return nil, nil, err
	}
	var cands []int64
	var payloads []string
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return nil, nil, err
		}
		cands, payloads = append(cands, id), append(payloads, p)
	}
	rows.Close()
	var ids []int64
	var out []string
	for i, id := range cands {
		// Claim each atomically: two workers never both take one.
		res, err := d.exec(ctx, `UPDATE outbox SET claimed_by = ?, claimed_ms = ? WHERE id = ? AND done_ms = 0 AND claimed_ms < ?`,
			holder, ms(now), id, ms(now.Add(-stale)))
		if err != nil {
			return ids, out, err
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
	_, err := d.exec(ctx, `UPDATE outbox SET done_ms = ?, outcome = ? WHERE id = ?`, ms(d.now()), outcome, id)
	return err
}

// Touch renews holder's claim on its undelivered announcements (a live
// worker working through a slow chat keeps them).
func (d *DB) Touch(ctx context.Context, holder string) error {
	_, err := d.exec(ctx, `UPDATE outbox SET claimed_ms = ? WHERE claimed_by = ? AND done_ms = 0`, ms(d.now()), holder)
	return err
}

// Overrides is what people said about one app: the pause in force, who
// approved the release under watch, and the requests not carried out yet.
type Overrides struct {
	Pause    *Pause    // nil: not paused
	Approved string    // who approved the release under watch, or ""
	Requests []Request // oldest first
}

// Overrides returns the overrides of each app in watched, which maps an app
// to its release under watch (0: none).
func (d *DB) Overrides(ctx context.Context, watched map[string]int) (map[string]Overrides, error) {
	out := make(map[string]Overrides, len(watched))
	for app, release := range watched {
		var o Overrides
		p, ok, err := d.PauseOf(ctx, app)
		if err != nil {
			return nil, err
		}
		if ok {
			o.Pause = &p
		}
		if release != 0 {
			if o.Approved, err = d.ApprovedBy(ctx, app, release); err != nil {
				return nil, fmt.Errorf("read approvals of %s: %w", app, err)
			}
		}
		if o.Requests, err = d.PendingRequests(ctx, app); err != nil {
			return nil, err
		}
		out[app] = o
	}
	return out, nil
}
