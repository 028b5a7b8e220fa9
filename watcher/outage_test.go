package watcher_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// downStore is the state store with its connection cut on demand (a
// PostgreSQL failover): every call fails while down. The real store is
// underneath.
type downStore struct {
	*store.DB
	down atomic.Bool
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (s *downStore) err() error {
	if s.down.Load() {
		return errStoreDown
	}
	return nil
}

func (s *downStore) SaveWatch(ctx context.Context, w store.WatchRecord) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.DB.SaveWatch(ctx, w)
}

func (s *downStore) Watches(ctx context.Context, app string, limit int) ([]store.WatchRecord, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.DB.Watches(ctx, app, limit)
}

func (s *downStore) RecordDecision(ctx context.Context, d store.DecisionRecord) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.DB.RecordDecision(ctx, d)
}

func (s *downStore) BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.DB.BeginRollback(ctx, e)
}

func (s *downStore) FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.DB.FinishRollback(ctx, id, outcome, target, created, errText)
}

func (s *downStore) Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.DB.Journal(ctx, app, openOnly, limit)
}

func (s *downStore) Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.DB.Overrides(ctx, watched)
}

func (s *downStore) FinishRequest(ctx context.Context, id int64, outcome string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.DB.FinishRequest(ctx, id, outcome)
}

func (s *downStore) Quarantine(ctx context.Context, app, slug string, release int, reason string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.DB.Quarantine(ctx, app, slug, release, reason)
}

func (s *downStore) Quarantined(ctx context.Context, app, slug string) (int, string, bool, error) {
	if err := s.err(); err != nil {
		return 0, "", false, err
	}
	return s.DB.Quarantined(ctx, app, slug)
}

// downLeases are a worker's leases on s: Hold fails while s is down.
type downLeases struct {
	*store.Leases
	s *downStore
}

func (l downLeases) Hold(ctx context.Context, apps []string) (map[string]bool, error) {
	if err := l.s.err(); err != nil {
		return nil, err
	}
	return l.Leases.Hold(ctx, apps)
}

// asWorker rebuilds the rig's watcher as worker holder on s, with leases
// of ttl on the rig's clock, logging to log.
func asWorker(r *rig, s *downStore, holder string, ttl time.Duration, log *testenv.Buffer) {
	leases := store.NewLeases(s.DB, holder, ttl, nil)
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = s, s, s, s
		c.Leases = downLeases{leases, s}
		c.Logger = slog.New(slog.NewTextHandler(log, nil))
	})
}

func onClock(t *testing.T, r *rig) *downStore {
	t.Helper()
	db, err := store.Open(context.Background(), sqliteState(t), store.WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &downStore{DB: db}
}

// rolledBackAt is when the rig's bad release (errors from 1830 s) is
// rolled back with the store up all along.
func rolledBackAt(t *testing.T) time.Time {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	asWorker(r, onClock(t, r), "worker.1", 2*time.Minute, &testenv.Buffer{})
	r.run(t, 1795, 1950)
	rbs := r.rollbacks()
	if len(rbs) != 1 {
		t.Fatalf("rollbacks %+v", rbs)
	}
	return rbs[0].CreatedAt
}

// TestStoreOutageInsideTheLeaseDoesNotHoldBackTheRollback: the store goes
// down 5 s before the errors begin, for 60 s, inside the worker's 2 min
// lease. The worker rolls back no later than with the store up, says so
// at once, and writes the journal, the watch and the decision when the
// store answers again.
func TestStoreOutageInsideTheLeaseDoesNotHoldBackTheRollback(t *testing.T) {
	want := rolledBackAt(t)
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	s := onClock(t, r)
	var log testenv.Buffer
	asWorker(r, s, "worker.1", 2*time.Minute, &log)
	r.run(t, 1795, 1824)
	s.down.Store(true)
	r.run(t, 1825, 1884)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].CreatedAt.After(want.Add(5*time.Second)) {
		t.Fatalf("rollbacks %+v during the outage: want one, at most a tick after %s (with the store up)", rbs, want.Sub(t0))
	}
	if k := strings.Join(r.kinds(), ","); k != "watch.started,anomaly,rollback.started,rollback.succeeded" {
		t.Fatalf("announced %s during the outage", k)
	}
	if !strings.Contains(log.String(), "acting on the apps this worker holds until their leases end") {
		t.Fatalf("the log does not say the worker acts through the outage:\n%s", log.String())
	}
	ctx := context.Background()
	if j, _ := s.DB.Journal(ctx, "crates-io", false, 5); len(j) != 0 {
		t.Fatalf("journal %+v while the store was down", j)
	}
	s.down.Store(false)
	r.run(t, 1885, 1890)
	j, err := s.DB.Journal(ctx, "crates-io", false, 5)
	if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Bad != 42 || j[0].Created != rbs[0].Version || !j[0].Started.Before(t0.Add(1885*time.Second)) {
		t.Fatalf("journal %+v (%v): want the rollback written when the store answered, as it was made", j, err)
	}
	if w, _, _ := s.DB.LatestWatch(ctx, "crates-io"); !w.Anomalous || !w.RolledBack {
		t.Fatalf("stored watch %+v: want it anomalous and rolled back", w)
	}
	if d, _ := s.DB.Decisions(ctx, "crates-io", 5); len(d) == 0 || d[0].Action != string(watcher.RollBack) {
		t.Fatalf("decisions %+v: want the rollback's", d)
	}
	if n := len(r.rollbacks()); n != 1 || len(r.events(notify.RollbackSucceeded)) != 1 {
		t.Fatalf("%d rollbacks, %v: want one, announced once", n, r.kinds())
	}
}

// TestStoreOutagePastTheLeaseStopsActing: with a 20 s lease the store
// comes back too late: the worker stops acting when its lease ends (a
// tick before), says so, and rolls back once the store answers and the
// lease is its own again.
func TestStoreOutagePastTheLeaseStopsActing(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	s := onClock(t, r)
	var log testenv.Buffer
	asWorker(r, s, "worker.1", 20*time.Second, &log)
	r.run(t, 1795, 1824)
	s.down.Store(true)
	r.run(t, 1825, 1930)
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back %+v after the lease ended", rbs)
	}
	if !strings.Contains(log.String(), "leases have ended: not acting on any app until it answers") {
		t.Fatalf("the log does not say the worker stopped:\n%s", log.String())
	}
	s.down.Store(false)
	r.run(t, 1931, 2000)
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollbacks %+v after the store answered", rbs)
	}
}

// TestTwoWorkersCannotBothRollBackAfterAnOutage: worker 1 rolls back in
// the outage and dies before the store answers (its journal never
// written). Worker 2 cannot take the app before worker 1's lease ends
// (worker 1 stops acting a tick before); when it does, it knows nothing of
// the rollback, but Heroku does: the bad release is no longer the current
// one, so worker 2 does not roll it back again (had its list been stale,
// the roller's fresh look before the POST skips it:
// rollback.TestRollbackSkipped). Heroku is the arbiter, not the store.
func TestTwoWorkersCannotBothRollBackAfterAnOutage(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	s := onClock(t, r)
	var log testenv.Buffer
	asWorker(r, s, "worker.1", time.Minute, &log)
	r.run(t, 1795, 1824)
	s.down.Store(true)
	r.run(t, 1825, 1880)
	if len(r.rollbacks()) != 1 {
		t.Fatalf("rollbacks %+v: worker 1 must roll back in the outage", r.rollbacks())
	}
	// Worker 1 is gone; the store answers; worker 2 starts.
	s.down.Store(false)
	asWorker(r, s, "worker.2", time.Minute, &log)
	r.run(t, 1890, 1960)
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollbacks %+v: two workers rolled back", rbs)
	}
	if !strings.Contains(log.String(), "watch closed") { // worker 2 resumed the watch, and Heroku's list closed it
		t.Fatalf("worker 2 never took the app:\n%s", log.String())
	}
	if n := len(r.events(notify.RollbackStarted)); n != 1 {
		t.Fatalf("%d rollback.started: worker 2 must not say it starts one it does not make", n)
	}
}

// TestAPersonsRollbackDuringAnAutomaticOneTellsOneStory: the "Roll back
// now" button is pressed while the automatic rollback's release phase
// runs: one "Rolling back", the person told it is under way since when,
// then the outcome; one rollback at Heroku.
func TestAPersonsRollbackDuringAnAutomaticOneTellsOneStory(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second, herokusim.WithRollbackReleasePhase(30*time.Second))
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	db := openStore(t, sqliteState(t))
	withState(r, db)
	for s := 1795; len(r.events(notify.RollbackStarted)) == 0; s++ {
		if s > 2000 {
			t.Fatalf("no rollback by 2000 s: %v", r.kinds())
		}
		r.run(t, s, s)
	}
	started := r.events(notify.RollbackStarted)[0]
	at := int(r.now.Sub(t0) / time.Second)
	if _, err := db.RequestRollbackOf(context.Background(), "crates-io", 42, "ana", "button"); err != nil {
		t.Fatal(err)
	}
	r.run(t, at+1, at+60)
	if n := len(r.rollbacks()); n != 1 {
		t.Fatalf("%d rollbacks at Heroku", n)
	}
	joined := r.events(notify.RollbackJoined)
	wantSince := "already rolling back v42 since " + started.At.UTC().Format("15:04:05") + " UTC"
	if len(joined) != 1 || factOf[notify.RollbackStep](&joined[0]).By != "ana" || !strings.Contains(joined[0].Text(), wantSince) {
		t.Fatalf("joined %+v: want ana told %q", joined, wantSince)
	}
	if k := strings.Join(r.kinds(), ","); k != "watch.started,anomaly,rollback.started,rollback.joined,rollback.succeeded" {
		t.Fatalf("the thread says %s: want one story", k)
	}
	if reqs, _ := db.PendingRequests(context.Background(), "crates-io"); len(reqs) != 0 {
		t.Fatalf("requests left: %+v", reqs)
	}
}

// TestRollbackInAnOutageIsSaidOnce: the worker rolls back while the store
// is down, its journal entry kept under a negative id that keys the
// announcements; the store answers and the entry is written under the
// store's id. A worker that reads the app back (after a dyno restart, or
// when the outage outlasted the lease) restates the rollback under the key
// it was announced under, so that the outbox says it once.
func TestRollbackInAnOutageIsSaidOnce(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lease    time.Duration
		upAt     int // the store answers again
		restarts bool
	}{
		{name: "a restart", lease: 2 * time.Minute, upAt: 1885, restarts: true},
		{name: "past the lease", lease: time.Minute, upAt: 1901},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 1830, 5*time.Second)
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
			s := onClock(t, r)
			var log testenv.Buffer
			asWorker(r, s, "worker.1", tt.lease, &log)
			r.run(t, 1795, 1824)
			s.down.Store(true)
			r.run(t, 1825, tt.upAt-1)
			s.down.Store(false)
			r.run(t, tt.upAt, tt.upAt+30)
			if n := len(r.rollbacks()); n != 1 {
				t.Fatalf("%d rollbacks", n)
			}
			if tt.restarts {
				asWorker(r, s, "worker.1", tt.lease, &log)
				r.run(t, tt.upAt+31, tt.upAt+40)
			}
			for _, k := range []notify.Kind{notify.RollbackStarted, notify.RollbackSucceeded} {
				keys := map[string]bool{}
				for _, e := range r.events(k) {
					keys[e.Key()] = true
				}
				if len(keys) != 1 {
					t.Errorf("%s under %d keys %v: the outbox says it %d times", k, len(keys), keys, len(keys))
				}
			}
		})
	}
}

// TestFailedRollbackRoundsAreBoundedWithTheStoreDown: as
// TestFailedRollbackRoundsAreBounded, with a journal whose store is down
// (inside the worker's lease) while Heroku fails the rounds. The journal
// cannot count them; the worker does: three rounds, then no more.
func TestFailedRollbackRoundsAreBoundedWithTheStoreDown(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	o := newOutage(t, r, t0.Add(1835*time.Second), t0.Add(9999*time.Second))
	s := onClock(t, r)
	leases := store.NewLeases(s.DB, "worker.1", 10*time.Minute, nil)
	throughOutage(r, o, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = s, s, s, s
		c.Leases = downLeases{leases, s}
	})
	o.run(t, r, 1795, 1820)
	s.down.Store(true)
	o.run(t, r, 1821, 2100)
	failed := r.events(notify.RollbackFailed)
	var rounds []int
	for _, e := range failed {
		rounds = append(rounds, factOf[notify.RollbackStep](&e).Round)
	}
	if len(failed) != 3 || rounds[0] != 1 || rounds[2] != 3 {
		t.Fatalf("rounds %v failed, want 1, 2, 3", rounds)
	}
}

// readableStore is downStore answering the overrides while down: a store
// that refuses writes but still answers reads (a full disk, a database
// gone read-only).
type readableStore struct{ *downStore }

func (s readableStore) Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error) {
	return s.DB.Overrides(ctx, watched)
}

// TestRequestCarriedOutOnceWhileTheStoreRefusesWrites: a person asks for
// a rollback; the store then refuses writes, so the request cannot be
// marked done, but still answers reads, so every tick reads it again. It
// is carried out and announced once, and completed when the store takes
// writes again.
func TestRequestCarriedOutOnceWhileTheStoreRefusesWrites(t *testing.T) {
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	s := onClock(t, r)
	leases := store.NewLeases(s.DB, "worker.1", 2*time.Minute, nil)
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = s, s, readableStore{s}, s
		c.Leases = downLeases{leases, s}
	})
	r.run(t, 1795, 1900)
	ctx := context.Background()
	if _, err := s.DB.RequestRollback(ctx, "crates-io", 0, "ana", "checking"); err != nil {
		t.Fatal(err)
	}
	s.down.Store(true)
	r.run(t, 1901, 1960)
	s.down.Store(false)
	r.run(t, 1961, 1965)
	if n := len(r.rollbacks()); n != 1 {
		t.Fatalf("%d rollbacks at Heroku", n)
	}
	if k := strings.Join(r.kinds(), ","); k != "watch.started,rollback.started,rollback.succeeded" {
		t.Fatalf("announced %s: want the person's rollback carried out and said once (%s)", k, r.rec.Events()[len(r.rec.Events())-1].Text())
	}
	if reqs, err := s.DB.PendingRequests(ctx, "crates-io"); err != nil || len(reqs) != 0 {
		t.Fatalf("requests left %+v (%v): want it completed when the store took writes again", reqs, err)
	}
}

// TestIntegrationStoreLockedPostgresDoesNotHoldBackTheRollback: another
// session holds every table the worker reads and writes locked (`LOCK
// TABLE ... IN ACCESS EXCLUSIVE MODE`, a migration or a person in psql)
// from 5 s before the errors begin, for 60 s of the worker's 2 min lease.
// PostgreSQL answers, but not these statements: the worker takes that as
// the store not answering, rolls back once as it would with the store
// down, and writes the journal when the lock is gone. Before, the tick
// waited on its lease renewal for as long as the lock was held, saying
// nothing, and the bad release stayed live.
func TestIntegrationStoreLockedPostgresDoesNotHoldBackTheRollback(t *testing.T) {
	dsn := postgresState(t)
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var log testenv.Buffer
	leases := store.NewLeases(db, "worker.1", 2*time.Minute, nil)
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
		c.Leases = leases
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
		c.StoreTimeout = 300 * time.Millisecond
	})
	r.run(t, 1795, 1824)

	// The other session, on a connection of its own.
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE leases, workers, watches, decisions, pauses, approvals, requests, journal, quarantine IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			tx.Rollback()
		}
	}
	defer unlock()
	done := make(chan error, 1)
	go func() {
		// A tick every 5 s (the poll interval): each waits out the store
		// timeout on the locked tables a few times.
		for s := 1825; s <= 1884; s += 5 {
			if err := r.runErr(s, s); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		unlock()
		<-done
		t.Fatalf("12 ticks took more than 60 s with the tables locked: the ticks waited for the lock\n%s", log.String())
	}
	rbs := r.rollbacks()
	if len(rbs) != 1 {
		t.Fatalf("rollbacks %+v with the tables locked: want one\n%s", rbs, log.String())
	}
	if !strings.Contains(log.String(), "acting on the apps this worker holds until their leases end") {
		t.Fatalf("the log does not say the worker acts through the outage:\n%s", log.String())
	}
	unlock()
	r.run(t, 1885, 1890)
	j, err := db.Journal(ctx, "crates-io", false, 5)
	if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Created != rbs[0].Version {
		t.Fatalf("journal %+v (%v): want the rollback written once the lock was gone\n%s", j, err, log.String())
	}
	if n := len(r.rollbacks()); n != 1 || len(r.events(notify.RollbackSucceeded)) != 1 {
		t.Fatalf("%d rollbacks, %v: want one, announced once", n, r.kinds())
	}
}
