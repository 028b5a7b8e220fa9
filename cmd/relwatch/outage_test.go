package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/store"
)

// pgBin is where Debian's PostgreSQL 15 keeps its programs.
const pgBin = "/usr/lib/postgresql/15/bin"

// ownPostgres is a PostgreSQL of the test's own (never the shared one: the
// test stops it), in a temporary directory on a free loopback port, run as
// the postgres user.
type ownPostgres struct {
	t    *testing.T
	dir  string
	port int
	dsn  string
}

// startOwnPostgres initdb's and starts one; it is removed when the test
// ends. It needs PostgreSQL's programs and root (to run them as postgres).
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	testenv.Program(t, filepath.Join(pgBin, "pg_ctl"))
	pgUser, err := user.Lookup("postgres")
	if err != nil || os.Geteuid() != 0 {
		testenv.Required(t, "RELWATCH_OWN_POSTGRES_AS_ROOT") // absent: a laptop skips, CI (root) never gets here
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "relwatch-own-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, uid, gid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pg := &ownPostgres{t: t, dir: dir, port: port, dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/relwatch?sslmode=disable", port)}
	pg.run(fmt.Sprintf("%s/initdb -D %s/data -U postgres --auth=trust -E UTF8", pgBin, dir))
	pg.start()
	t.Cleanup(func() {
		exec.Command("su", "postgres", "-s", "/bin/sh", "-c", fmt.Sprintf("%s/pg_ctl -D %s/data -m immediate -w stop", pgBin, dir)).Run()
		os.RemoveAll(dir)
	})
	pg.run(fmt.Sprintf("%s/createdb -h 127.0.0.1 -p %d -U postgres relwatch", pgBin, port))
	return pg
}

func (pg *ownPostgres) run(command string) {
	pg.t.Helper()
	if out, err := exec.Command("su", "postgres", "-s", "/bin/sh", "-c", command).CombinedOutput(); err != nil {
		pg.t.Fatalf("%s: %v\n%s", command, err, out)
	}
}

// start starts it and waits until it answers (pg_ctl -w).
func (pg *ownPostgres) start() {
	pg.t.Helper()
	pg.run(fmt.Sprintf("%s/pg_ctl -D %s/data -l %s/log -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off\" start",
		pgBin, pg.dir, pg.dir, pg.port, pg.dir))
}

// stop stops it (fast: connections are cut, as in a failover). It may be
// called from any goroutine.
func (pg *ownPostgres) stop() error {
	command := fmt.Sprintf("%s/pg_ctl -D %s/data -m fast -w stop", pgBin, pg.dir)
	if out, err := exec.Command("su", "postgres", "-s", "/bin/sh", "-c", command).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", command, err, out)
	}
	return nil
}

// outageLease is the workers' lease in these tests: longer than the 60 s
// outage of issue 20, which it must act through.
const outageLease = "90s"

// outageFor is how long the store stays down: Heroku Postgres' routine
// maintenance or a failover, as issue 20 tried it.
const outageFor = 60 * time.Second

// rolledBackInChats reports whether Slack and Zulip both have "is rolled
// back".
func (r *crashRig) rolledBackInChats() bool {
	sl, zu := false, false
	for _, m := range r.slack.Messages() {
		sl = sl || strings.Contains(m.Text, "is rolled back to v41")
	}
	for _, m := range r.zulip.Messages() {
		zu = zu || strings.Contains(m.Content, "is rolled back to v41")
	}
	return sl && zu
}

// waitUntil waits, rechecking every 100 ms, for cond; it fails after limit.
func (r *crashRig) waitUntil(w *child, limit time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-w.exited:
			r.t.Fatalf("the worker exited (%v) waiting for %s:\n%s", w.err, what, tail(w.out.String(), 60))
		case <-deadline.C:
			r.t.Fatalf("after %s, no %s:\n%s", limit, what, tail(w.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rollbackAfterWatch is how long after the watch's opening message reached
// Slack Heroku made the rollback.
func (r *crashRig) rollbackAfterWatch(w *child) time.Duration {
	r.t.Helper()
	ms := r.slack.Messages()
	if len(ms) == 0 {
		r.t.Fatalf("no opening message:\n%s", tail(w.out.String(), 40))
	}
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			return rel.CreatedAt.Sub(ms[0].Posted)
		}
	}
	r.t.Fatal("no rollback")
	return 0
}

// TestIntegrationStoreOutagePostgres stops the worker's own PostgreSQL for
// 60 s, on the real binary with Slack and Zulip, at three moments: after
// the watch opened, 8 s before the retry storm (inside the 90 s lease); when
// the rollback request reaches Heroku; and when Heroku answered it, its 2
// s release phase running. Each time the rollback is made while the store
// is down, no more than a tick (200 ms) and a loaded machine's second
// later than with the store up (less the time the test's own pg_ctl held
// the POST back, at the request); "rolled back" reaches both chats after
// Heroku's phase ended, with the store still down; when it is back, the
// journal is written and the outbox holds nothing undelivered, and each
// chat tells the story once (assertStory).
func TestIntegrationStoreOutagePostgres(t *testing.T) {
	bin := buildRelwatch(t)
	const stormIn = 8 * time.Second
	var withStore time.Duration
	t.Run("store up", func(t *testing.T) {
		pg := startOwnPostgres(t)
		r := newCrashRigWith(t, bin, pg.dsn, outageLease, stormIn)
		w := r.start("worker.1")
		r.waitSettled(w)
		withStore = r.rollbackAfterWatch(w)
		w.cmd.Process.Signal(os.Interrupt)
		<-w.exited
		r.assertStory(w, w)
		if err := pg.stop(); err != nil {
			t.Error(err)
		}
	})
	cases := []struct {
		name  string
		stage string // the rollback POST's stage the store stops at; "" after the watch opened
	}{
		{name: "before the anomaly"},
		{name: "at the rollback request", stage: stageArrived},
		{name: "during the release phase", stage: stageAnswered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pg := startOwnPostgres(t)
			r := newCrashRigWith(t, bin, pg.dsn, outageLease, stormIn)
			var once atomic.Bool
			var stoppedAt atomic.Int64 // unix ns, once stopped
			var held atomic.Int64      // ns the hook held the rollback POST back from Heroku
			stop := func() time.Duration {
				if !once.CompareAndSwap(false, true) {
					return 0
				}
				began := time.Now()
				if err := pg.stop(); err != nil {
					t.Error(err)
					return 0
				}
				stoppedAt.Store(time.Now().UnixNano())
				return time.Since(began)
			}
			if tc.stage != "" {
				r.setHerokuHook(func(s string, req *http.Request) bool {
					if s == tc.stage && isRollbackPOST(req) {
						took := stop()
						if s == stageArrived {
							// pg_ctl's shutdown runs while the POST waits
							// here: the test's time, not the worker's.
							held.Store(int64(took))
						}
					}
					return false
				})
			}
			w := r.start("worker.1")
			if tc.stage == "" {
				r.waitUntil(w, 30*time.Second, "watch opened", func() bool { return strings.Contains(w.out.String(), `msg="watch opened"`) })
				stop()
			}
			r.waitUntil(w, 30*time.Second, "rolled back in both chats", r.rolledBackInChats)
			if stoppedAt.Load() == 0 {
				t.Fatal("the store was never stopped")
			}
			downFor := time.Since(time.Unix(0, stoppedAt.Load()))
			at := r.rollbackAfterWatch(w) - time.Duration(held.Load())
			if withStore > 0 && at > withStore+1200*time.Millisecond {
				t.Errorf("rolled back %s after the watch's opening reached Slack, %s with the store up: more than a tick and a second later", at, withStore)
			}
			if !strings.Contains(w.out.String(), "acting on the apps this worker holds until their leases end") {
				t.Errorf("the worker did not say it acts through the outage:\n%s", tail(w.out.String(), 40))
			}
			// The outage lasts its 60 s: a length of the scenario, not a
			// wait for something to happen.
			time.Sleep(time.Until(time.Unix(0, stoppedAt.Load()).Add(outageFor)))
			if strings.Contains(w.out.String(), "leases have ended: not acting") {
				t.Errorf("the worker stopped acting inside its lease:\n%s", tail(w.out.String(), 40))
			}
			pg.start()
			r.waitSettled(w)
			db, err := store.Open(context.Background(), pg.dsn)
			if err != nil {
				t.Fatal(err)
			}
			var j []store.JournalEntry
			r.waitUntil(w, 10*time.Second, "the journal written", func() bool {
				j, _ = db.Journal(context.Background(), "crates-io", false, 5)
				return len(j) == 1 && j[0].Outcome == "done" && j[0].Created == 43
			})
			db.Close()
			w.cmd.Process.Signal(os.Interrupt)
			<-w.exited
			r.assertStory(w, w)
			t.Logf("store down %s from %s; both chats had \"rolled back\" %s into it; rolled back %s after the watch opened (%s with the store up; pg_ctl held the POST %s)",
				outageFor, tc.name, downFor.Round(100*time.Millisecond), at.Round(10*time.Millisecond), withStore.Round(10*time.Millisecond), time.Duration(held.Load()).Round(10*time.Millisecond))
		})
	}
}
