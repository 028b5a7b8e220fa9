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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startWorker(t *testing.T, args ...string) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RELWATCH_AS_MAIN=1", "HEROKU_API_KEY=tok")
	w := &worker{cmd: cmd, out: &syncBuffer{}}
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
	fmt.Fprintf(&cfg, "tick = \"500ms\"\nlease_ttl = \"5s\"\nrollback_timeout = \"20s\"\n[heroku]\napi_url = %q\npoll_interval = \"1s\"\n", fake.URL())
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

	var workers []*worker
	for range 3 {
		workers = append(workers, startWorker(t, "watch", "--config", cfgPath, "--state", state, "--log-level", "info"))
	}

	// Kill one worker once the leases have settled, before the bad traffic.
	time.Sleep(time.Until(release.Add(2 * time.Second)))
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := workers[0]
	holder := func(app string) string { h, _, _ := db.Lease(ctx, app); return h }
	victimName := ""
	var victimApps []string
	for i := range 50 {
		app := fmt.Sprintf("app-%02d", i)
		if h := holder(app); strings.HasSuffix(h, fmt.Sprintf("/%d", victim.cmd.Process.Pid)) {
			victimName = h
			victimApps = append(victimApps, app)
		}
	}
	if len(victimApps) == 0 {
		t.Fatalf("worker 0 holds no app; leases settle badly:\n%s", victim.out.String())
	}
	killedAt := time.Now()
	victim.cmd.Process.Kill()
	victim.cmd.Wait()

	// Its apps must be taken over within the lease time (5 s) and a tick.
	var takenOver time.Duration
	for {
		left := 0
		for _, app := range victimApps {
			if holder(app) == victimName {
				left++
			}
		}
		if left == 0 {
			takenOver = time.Since(killedAt)
			break
		}
		if time.Since(killedAt) > 20*time.Second {
			t.Fatalf("%d of the killed worker's %d apps not taken over after 20 s", left, len(victimApps))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if takenOver > 5*time.Second+2*time.Second {
		t.Errorf("taken over after %s, past the 5 s lease time and a tick", takenOver)
	}

	// Wait for every bad release to be rolled back.
	deadline := time.Now().Add(60 * time.Second)
	rollbacks := func(app string) int {
		n := 0
		for _, r := range fake.Releases(app) {
			if strings.HasPrefix(r.Description, "Rollback") {
				n++
			}
		}
		return n
	}
	for {
		done := 0
		for app := range isBad {
			if rollbacks(app) > 0 {
				done++
			}
		}
		if done == len(isBad) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bad releases rolled back after 60 s\n--- worker 1:\n%s", done, len(isBad), tail(workers[1].out.String(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // room for a second rollback, were one coming

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
				t.Errorf("worker %d exited with %v", i+1, err)
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
	// across all three outputs.
	var all string
	for _, w := range workers {
		all += w.out.String()
	}
	for i := range 50 {
		app := fmt.Sprintf("app-%02d", i)
		if n := countLines(all, "[watch.started] "+app+" v2 is live"); n != 1 {
			t.Errorf("%s v2: %d watch.started announcements", app, n)
		}
	}
	t.Logf("killed worker held %d apps; taken over in %s", len(victimApps), takenOver.Round(100*time.Millisecond))
}

func countLines(s, sub string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
