package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// PruneEvery is how often the store is pruned at most, by all the workers
// that share it together.
const PruneEvery = time.Hour

// pruneBatch bounds the rows one statement deletes: a prune never holds the
// database (SQLite's one connection) longer than that from a tick.
const pruneBatch = 500

// Pruned counts the rows a prune deleted.
type Pruned struct {
	Watches, Decisions, Requests, Journal, Outbox int64
	// Approvals are people's approvals given before the retention, of a
	// release before the app's newest watch: their watches are over.
	Approvals int64
	// Threads are chat threads not written for the retention; Workers
	// the heartbeats of workers not seen for as long (gone without giving
	// them back: a crash, a kill).
	Threads, Workers int64
}

// Total is the rows deleted, all tables together.
func (p Pruned) Total() int64 {
	return p.Watches + p.Decisions + p.Requests + p.Journal + p.Outbox + p.Approvals + p.Threads + p.Workers
}

// prunes are the statements of a prune: each deletes at most a batch of
// the rows last touched before a time (its two arguments: the time, the
// batch). Only what is over is deleted: never an open journal entry, a
// request not carried out, an announcement not delivered, nor an app's
// newest watch (a restarted worker reads it to know which releases it has
// seen).
var prunes = []struct {
	table string
	sql   string
	count func(*Pruned) *int64
}{
	{"watches", `DELETE FROM watches WHERE (app, release) IN (SELECT app, release FROM watches w
		WHERE updated_ms < ? AND release < (SELECT MAX(release) FROM watches n WHERE n.app = w.app) LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Watches }},
	{"decisions", `DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE at_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Decisions }},
	{"requests", `DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE done_ms > 0 AND done_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Requests }},
	// An open entry (JournalOpen) has no finished time.
	{"journal", `DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE finished_ms > 0 AND finished_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Journal }},
	{"outbox", `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE done_ms > 0 AND done_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Outbox }},
	// An approval ends its release's watch: one given before the
	// retention, of a release before the app's newest watch, has nothing
	// left to end (one of a release not seen yet, or of the newest watch,
	// stays however old).
	{"approvals", `DELETE FROM approvals WHERE (app, release) IN (SELECT app, release FROM approvals a
		WHERE at_ms < ? AND release < (SELECT MAX(release) FROM watches w WHERE w.app = a.app) LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Approvals }},
	// A thread is written when it opens and when its opening's status
	// changes; one not written for the retention belongs to a release
	// long over (an announcement in it after all opens a new one). One
	// written before threads had a time (0) is stamped by the prune first
	// (stampThreads), and so goes a retention later.
	{"threads", `DELETE FROM threads WHERE (chat, thread) IN (SELECT chat, thread FROM threads WHERE saved_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Threads }},
	// A live worker renews its heartbeat every tick; one gone without
	// giving it back (ReleaseLeases) is not seen again.
	{"workers", `DELETE FROM workers WHERE holder IN (SELECT holder FROM workers WHERE seen_ms < ? LIMIT ?)`,
		func(p *Pruned) *int64 { return &p.Workers }},
}

// stampThreads gives the threads saved before they had a time (0) the
// time of the prune: they are forgotten a retention later, not at once
// (some may be the threads of releases under watch).
const stampThreads = `UPDATE threads SET saved_ms = ? WHERE saved_ms = 0`

// Prune deletes what is older than keep by the store's clock: watches last
// written before then (but each app's newest), decisions made before,
// requests carried out before, rollback journal entries completed before,
// chat announcements delivered (or given up) before, approvals given
// before of releases before the app's newest watch, chat threads last
// written before, and the heartbeats of workers last seen before. Each statement
// deletes at most batch rows.
func (d *DB) Prune(ctx context.Context, keep time.Duration, batch int) (Pruned, error) {
	var p Pruned
	if keep <= 0 || batch <= 0 {
		return p, fmt.Errorf("prune: keep %s and batch %d must be positive", keep, batch)
	}
	before := ms(d.now().Add(-keep))
	if _, err := d.exec(ctx, stampThreads, ms(d.now())); err != nil {
		return p, fmt.Errorf("prune threads: %w", err)
	}
	for _, pr := range prunes {
		for {
			res, err := d.exec(ctx, pr.sql, before, batch)
			if err != nil {
				return p, fmt.Errorf("prune %s: %w", pr.table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return p, fmt.Errorf("prune %s: %w", pr.table, err)
			}
			*pr.count(&p) += n
			if n < int64(batch) {
				break
			}
		}
	}
	return p, nil
}

// PruneIfDue prunes what is older than keep, in batches, unless the store
// was pruned within every (by this worker or another sharing the store):
// it claims the prune first, so two workers never prune at once. It
// reports whether it pruned.
func (d *DB) PruneIfDue(ctx context.Context, keep, every time.Duration, batch int) (Pruned, bool, error) {
	now := d.now()
	res, err := d.exec(ctx, `INSERT INTO maintenance (task, last_ms) VALUES ('prune', ?)
		ON CONFLICT (task) DO UPDATE SET last_ms = excluded.last_ms WHERE maintenance.last_ms <= ?`,
		ms(now), ms(now.Add(-every)))
	if err != nil {
		return Pruned{}, false, fmt.Errorf("claim the prune: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return Pruned{}, false, fmt.Errorf("claim the prune: %w", err)
		}
		return Pruned{}, false, nil
	}
	p, err := d.Prune(ctx, keep, batch)
	return p, true, err
}

// Retain keeps the store small until ctx ends: every PruneEvery it prunes
// what is older than keep (see Prune), when no worker sharing the store did
// within the hour. Run it beside the watch loop: a prune deletes in small
// batches and never holds up a tick for long.
func (d *DB) Retain(ctx context.Context, keep time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		p, pruned, err := d.PruneIfDue(ctx, keep, PruneEvery, pruneBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("cannot prune the state; will try again", "err", err, "deleted", p.Total())
		case pruned:
			logger.Info("pruned the state", "older_than", keep, "watches", p.Watches, "decisions", p.Decisions,
				"requests", p.Requests, "journal", p.Journal, "outbox", p.Outbox, "approvals", p.Approvals, "threads", p.Threads, "workers", p.Workers, "took", time.Since(start).Round(time.Millisecond))
		}
		t.Reset(PruneEvery)
	}
}
