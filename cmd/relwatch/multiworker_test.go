package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/store"
)

// worker is relwatch's real main run as a separate process (this test
// binary, re-executed with RELWATCH_AS_MAIN=1).
type worker struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// syncBuffer is a worker's output; each write is signalled on wrote
// (without waiting), so a test waits for lines rather than for time.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan<- struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return n, err
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startWorker(t *testing.T, wrote chan<- struct{}, args ...string) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RELWATCH_AS_MAIN=1", "HEROKU_API_KEY=tok")
	w := &worker{cmd: cmd, out: &syncBuffer{wrote: wrote}}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return w
}

// waitFor returns once cond holds. It checks again whenever a worker writes
// and every 100 ms (leases change in the database without a line), and
// fails the test, saying what it waited for, after limit: a bound on a
// broken run, not a wait for something to happen.
func waitFor(t *testing.T, wrote <-chan struct{}, limit time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	for !cond() {
		select {
		case <-wrote:
		case <-recheck.C:
		case <-deadline.C:
			t.Fatalf("after %s: %s", limit, what())
		}
	}
}

// logLine returns the first log line of out with message msg about app,
// and its time.
func logLine(out, msg, app string) (string, time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="`+msg+`"`) || !strings.Contains(line+" ", " app="+app+" ") {
			continue
		}
		stamp, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		return line, at, err == nil
	}
	return "", time.Time{}, false
}

func writeSeries(t *testing.T, path string, badFrom int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("t_s,route,requests,errors,repeats\n")
	for s := range 2400 {
		errs := 0
		if badFrom > 0 && s >= badFrom {
			errs = 30
		}
		fmt.Fprintf(&b, "%d,download,100,%d,10\n", s, errs)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationMultiWorkerPostgres runs three worker processes on one
// PostgreSQL and fifty apps on the fake Heroku, ten of them with a bad
// release. One worker is killed; its apps are taken over within the lease
// time. Every release is watched by exactly one worker and every bad one is
// rolled back exactly once.
func TestIntegrationMultiWorkerPostgres(t *testing.T) {
	state := testenv.Postgres(t)
	ctx := context.Background()

	fake := herokusim.New("tok")
	defer fake.Close()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.csv"), filepath.Join(dir, "bad.csv")
	writeSeries(t, good, 0)
	writeSeries(t, bad, 1822) // 12 s after the release
	start := time.Now().Truncate(time.Second)
	release := start.Add(10 * time.Second)
	anchor := release.Add(-1810 * time.Second) // t_s 1810 is the release

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "tick = \"500ms\"\nlease_ttl = \"5s\"\nrollback_timeout = \"20s\"\n[heroku]\napi_url = %q\npoll_interval = \"1s\"\nidle_poll_interval = \"1s\"\n", fake.URL())
	cfg.WriteString("[watch]\nwatch_for = \"60s\"\nbaseline = \"60s\"\nrestart_grace = \"1s\"\nsettle_grace = \"1s\"\n[thresholds]\nsustain = \"5s\"\nmin_baseline = \"20s\"\n")
	isBad := map[string]bool{}
	for i := range 50 {
		app := fmt.Sprintf("app-%02d", i)
		series := good
		if i%5 == 0 {
			series, isBad[app] = bad, true
		}
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 1, Description: "Deploy old", CreatedAt: start.Add(-2 * time.Hour)})
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 2, Description: "Deploy new", CreatedAt: release})
		fmt.Fprintf(&cfg, "[[apps]]\nname = %q\nroute = \"download\"\nmetrics = { source = \"series\", path = %q, start = %q }\n",
			app, series, anchor.UTC().Format(time.RFC3339))
	}
	cfg.WriteString("[[notifiers]]\ntype = \"console\"\n")
	cfgPath := filepath.Join(dir, "config.toml")
	os.WriteFile(cfgPath, []byte(cfg.String()), 0o644)

	wrote := make(chan struct{}, 1)
	var workers []*worker
	for range 3 {
		workers = append(workers, startWorker(t, wrote, "watch", "--config", cfgPath, "--state", state, "--log-level", "info"))
	}
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder := func(app string) string { h, _, _ := db.Lease(ctx, app); return h }
	apps := make([]string, 50)
	for i := range apps {
		apps[i] = fmt.Sprintf("app-%02d", i)
	}
	outputs := func() string {
		var all string
		for _, w := range workers {
			all += w.out.String()
		}
		return all
	}
	pidOf := func(h string) string { // holders are dyno/pid/random
		_, rest, _ := strings.Cut(h, "/")
		pid, _, _ := strings.Cut(rest, "/")
		return pid
	}
	holdings := func() map[string][]string { // pid -> its apps
		by := map[string][]string{}
		for _, app := range apps {
			if h := holder(app); h != "" {
				by[pidOf(h)] = append(by[pidOf(h)], app)
			}
		}
		return by
	}

	// Kill one worker once every release is under watch and the leases
	// have settled in fair shares (17, 17, 16), before the bad traffic.
	waitFor(t, wrote, 30*time.Second, func() string {
		return fmt.Sprintf("not settled: holdings %v\n--- worker 0:\n%s", holdings(), tail(workers[0].out.String(), 40))
	}, func() bool {
		all := outputs()
		for _, app := range apps {
			if countLines(all, "[watch.started] "+app+" v2 is live") == 0 {
				return false
			}
		}
		by := holdings()
		n := 0
		for _, w := range workers {
			held := len(by[fmt.Sprint(w.cmd.Process.Pid)])
			if held < 16 || held > 17 {
				return false
			}
			n += held
		}
		return n == 50
	})
	victim := workers[0]
	victimPid := fmt.Sprint(victim.cmd.Process.Pid)
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	killedAt := time.Now()
	victimApps := holdings()[victimPid]
	var victimName string
	var expires time.Time // when the last of its leases runs out
	for _, app := range victimApps {
		h, exp, _ := db.Lease(ctx, app)
		victimName = h
		if exp.After(expires) {
			expires = exp
		}
	}

	// Its apps are taken over: each is leased to another worker, which
	// resumes the watch (a line written after the kill).
	mark := []int{len(workers[1].out.String()), len(workers[2].out.String())}
	sinceKill := func() string {
		return workers[1].out.String()[mark[0]:] + workers[2].out.String()[mark[1]:]
	}
	waitFor(t, wrote, 20*time.Second, func() string {
		var left []string
		for _, app := range victimApps {
			if _, _, ok := logLine(sinceKill(), "watch resumed", app); !ok {
				left = append(left, app+" (leased to "+holder(app)+")")
			}
		}
		return fmt.Sprintf("%d of the killed worker's %d apps not resumed by another: %v", len(left), len(victimApps), left)
	}, func() bool {
		out := sinceKill()
		for _, app := range victimApps {
			if _, _, ok := logLine(out, "watch resumed", app); !ok {
				return false
			}
		}
		return true
	})
	// Within the lease time: each was resumed by the tick (500 ms) after
	// the victim's leases ran out, give or take a loaded machine's delay.
	var takenOver time.Time
	for _, app := range victimApps {
		if h := holder(app); h == "" || h == victimName {
			t.Fatalf("%s resumed by another worker but leased to %q", app, h)
		}
		_, at, _ := logLine(sinceKill(), "watch resumed", app)
		if at.After(takenOver) {
			takenOver = at
		}
	}
	if late := takenOver.Sub(expires); late > 2*time.Second {
		t.Errorf("the killed worker's apps were taken over %s after its leases expired (5 s after its last renewal), not within a tick or so", late)
	}

	// Every bad release is rolled back, and its watch closed: no worker
	// watches it any more, so no second rollback can be coming.
	rollbacks := func(app string) int {
		n := 0
		for _, r := range fake.Releases(app) {
			if strings.HasPrefix(r.Description, "Rollback") {
				n++
			}
		}
		return n
	}
	closed := func() int {
		all, n := outputs(), 0
		for app := range isBad {
			if line, _, ok := logLine(all, "watch closed", app); ok && strings.Contains(line, "rolled the app back") {
				n++
			}
		}
		return n
	}
	waitFor(t, wrote, 60*time.Second, func() string {
		return fmt.Sprintf("%d of %d bad releases rolled back and their watch closed\n--- worker 1:\n%s", closed(), len(isBad), tail(workers[1].out.String(), 40))
	}, func() bool { return closed() == len(isBad) })

	// SIGTERM: each worker finishes its tick and leaves within 10 s.
	for _, w := range workers[1:] {
		w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, w := range workers[1:] {
		exited := make(chan error, 1)
		go func() { exited <- w.cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("worker %d exited with %v\n--- its output:\n%s", i+1, err, raceOr(w.out.String(), 80))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("worker %d still running 10 s after SIGTERM", i+1)
		}
	}
	for i := range 50 {
		app := fmt.Sprintf("app-%02d", i)
		if n := rollbacks(app); (isBad[app] && n != 1) || (!isBad[app] && n != 0) {
			t.Errorf("%s (bad %v): %d rollbacks", app, isBad[app], n)
		}
		if h := holder(app); h != "" && h != victimName {
			t.Errorf("%s still leased by %s after SIGTERM", app, h)
		}
	}
	// Every release watched by exactly one worker: one watch.started each,
	// across all three outputs (a worker that took a watch over says it
	// again, marked as such: the console has no memory to check against).
	var all string
	for _, w := range workers {
		all += w.out.String()
	}
	for i := range 50 {
		app := fmt.Sprintf("app-%02d", i)
		said := countLines(all, "[watch.started] "+app+" v2 is live")
		if n := said - countLines(all, "[watch.started] "+app+" v2 is live", "(said again after a restart)"); n != 1 {
			t.Errorf("%s v2: %d watch.started announcements", app, n)
		}
	}
	// The workers keep the store small: one of them pruned it at start, so
	// a prune now is not due.
	if _, due, err := db.PruneIfDue(ctx, 90*24*time.Hour, store.PruneEvery, 500); err != nil || due {
		t.Errorf("a prune was due after the workers ran (%v): they do not prune", err)
	}
	t.Logf("killed worker held %d apps; the last taken over %s after the kill, %s after its leases expired",
		len(victimApps), takenOver.Sub(killedAt).Round(10*time.Millisecond), takenOver.Sub(expires).Round(10*time.Millisecond))
}

// countLines counts the lines of s that contain every one of subs.
func countLines(s string, subs ...string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		for _, sub := range subs {
			if !strings.Contains(sc.Text(), sub) {
				continue lines
			}
		}
		n++
	}
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestTwoWorkersOfOneDynoHaveTwoNames: Heroku documents that during a
// deploy or restart two running dynos can have the same $DYNO, and each
// runs its command as the same process id in its own container. Their
// workers must still be two holders, or both would hold every app and
// deliver every announcement.
func TestTwoWorkersOfOneDynoHaveTwoNames(t *testing.T) {
	t.Setenv("DYNO", "worker.1")
	a, b := holderName(), holderName() // one dyno name, one pid
	if a == b {
		t.Fatalf("two workers of worker.1 with one pid are both %q", a)
	}
	for _, h := range []string{a, b} {
		if want := fmt.Sprintf("worker.1/%d/", os.Getpid()); !strings.HasPrefix(h, want) {
			t.Errorf("holder %q does not start with %q: logs and status name the dyno and the process", h, want)
		}
	}
}

// raceOr returns a worker's race report when it has one (the race
// detector's exit code alone says nothing of where), or its last n lines.
func raceOr(out string, n int) string {
	if i := strings.Index(out, "WARNING: DATA RACE"); i >= 0 {
		return out[i:]
	}
	return tail(out, n)
}
