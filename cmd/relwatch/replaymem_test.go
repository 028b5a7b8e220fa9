package main

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// liveHeapAtFirstLog is a replay's stderr: at the watcher's first log line
// (the first scenario is running) it measures the live heap, then ends the
// replay.
type liveHeapAtFirstLog struct {
	once   sync.Once
	live   uint64
	cancel context.CancelFunc
}

func (w *liveHeapAtFirstLog) Write(p []byte) (int, error) {
	w.once.Do(func() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.live = ms.HeapAlloc
		w.cancel()
	})
	return len(p), nil
}

// liveHeapWhileReplaying is the live heap while the first of n copies of
// the scenario in dir runs.
func liveHeapWhileReplaying(t *testing.T, dir string, n int) uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &liveHeapAtFirstLog{cancel: cancel}
	args := []string{"--log-level", "debug"}
	for range n {
		args = append(args, dir)
	}
	cmdReplay(ctx, args, io.Discard, w) // ended by the cancel: its error is not the point
	if w.live == 0 {
		t.Fatalf("replay of %d copies of %s logged nothing", n, dir)
	}
	return w.live
}

// TestReplayHoldsOneScenarioAtATime checks that replay holds one scenario
// in memory at a time, not every one given: the live heap while the first
// of 24 runs is that of the first of 2 (it was about 2.5 MB more a
// scenario of ten routes when all were read before any ran: 391 MB for
// the 500 of a corpus).
func TestReplayHoldsOneScenarioAtATime(t *testing.T) {
	dir := filepath.Join("..", "..", "scenarios", "routes-10-healthy-seed1")
	few := liveHeapWhileReplaying(t, dir, 2)
	many := liveHeapWhileReplaying(t, dir, 24)
	const slack = 8 << 20 // less than 4 scenarios' worth
	if many > few+slack {
		t.Errorf("live heap while the first scenario runs: %.1f MB of 24 given, %.1f MB of 2: it grows with the count", float64(many)/(1<<20), float64(few)/(1<<20))
	}
	t.Logf("live heap: %.1f MB of 2 scenarios, %.1f MB of 24", float64(few)/(1<<20), float64(many)/(1<<20))
}

// TestReplayBadScenarioLastStopsBeforeAnyRuns checks that reading the
// scenarios one at a time keeps what a bad one does: the usage error
// (exit 2) comes before any replay runs, though it is the last given.
func TestReplayBadScenarioLastStopsBeforeAnyRuns(t *testing.T) {
	bad := writeScenario(t, func(s string) string { return s + "\nsurprise = 1\n" })
	code, out, errOut := runMain(t, context.Background(), "replay", "--check", demoDir, demoDir, bad)
	if code != 2 || out != "" || !strings.Contains(errOut, "surprise: unknown key") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	noExpect := writeScenario(t, func(s string) string { return s[:strings.Index(s, "[expect]")] })
	code, out, errOut = runMain(t, context.Background(), "replay", "--check", demoDir, noExpect+"/")
	if code != 2 || out != "" || !strings.Contains(errOut, noExpect+"/: --check needs an [expect]") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}
