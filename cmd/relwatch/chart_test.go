package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/store"
)

// The crates.io scenario's rollback, drawn by `replay --chart` into a
// folder and into a file: the same PNG, of the default size.
func TestReplayChartWritesTheVerdictPicture(t *testing.T) {
	scenarioDir := filepath.Join("..", "..", "scenarios", "crates-io-seed1")
	out := filepath.Join(t.TempDir(), "pictures")
	code, _, errOut := runMain(t, context.Background(), "replay", "--chart", out, scenarioDir)
	if code != 0 {
		t.Fatalf("replay --chart DIR exit %d: %s", code, errOut)
	}
	inDir, err := os.ReadFile(filepath.Join(out, "crates-io-seed1.png"))
	if err != nil {
		t.Fatalf("no picture in the folder: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(inDir))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != chart.Width || b.Dy() != chart.Height {
		t.Errorf("picture is %v, want %dx%d", b, chart.Width, chart.Height)
	}
	file := filepath.Join(t.TempDir(), "v42.png")
	if code, _, errOut := runMain(t, context.Background(), "replay", "--chart", file, scenarioDir); code != 0 {
		t.Fatalf("replay --chart FILE exit %d: %s", code, errOut)
	}
	if inFile, err := os.ReadFile(file); err != nil || !bytes.Equal(inFile, inDir) {
		t.Errorf("the picture written to a file (err %v) differs from the one in the folder: the replay is not deterministic", err)
	}
	code, _, errOut = runMain(t, context.Background(), "replay", "--chart", file, scenarioDir, scenarioDir)
	if code != 2 || !strings.Contains(errOut, "takes one scenario") {
		t.Errorf("--chart FILE.png with two scenarios: exit %d %q; want a usage error", code, errOut)
	}
}

// status --chart draws the app's last verdict from the announcements the
// worker stored for its chats: the same bytes the chat got.
func TestStatusChartDrawsTheLastVerdict(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	story := notifytest.Pictured()
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other := story[1]
	other.App = "crates-io-staging" // a name that starts with crates-io: never drawn for it
	f := other.Fact.(notify.Anomalous)
	f.Trend = &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{1, 2}, ErrorShare: []float64{0, 0}, Release: 1}
	other.Fact = f
	for _, e := range append(story, other) {
		payload, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, chat := range []string{"slack", "zulip"} {
			if _, _, err := db.Enqueue(ctx, store.OutboxRow{Chat: chat, Key: e.Key(), Thread: "t", Payload: string(payload), ClaimedBy: "w"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	file := filepath.Join(t.TempDir(), "charts", "v42.png") // its folder made, as replay's
	code, _, errOut := runMain(t, ctx, "status", "crates-io", "--state", path, "--chart", file)
	if code != 0 {
		t.Fatalf("status --chart exit %d: %s", code, errOut)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := chart.PNG(story[3]) // rollback.succeeded: the story's last verdict
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("status --chart did not draw crates-io v42's rollback.succeeded")
	}
	notifytest.CheckPicture(t, got, story[3])

	if code, _, errOut := runMain(t, ctx, "status", "--state", path, "--chart", file); code != 2 || !strings.Contains(errOut, "one APP") {
		t.Errorf("status --chart without an app: exit %d %q; want a usage error", code, errOut)
	}
}

// The watcher gives the verdict's trend what the picture draws: the repeat
// share (the crates.io fault shows nowhere else) and when the release went
// live, so the picture shows the signal that decided and places the marks.
func TestCratesIoVerdictTrendCarriesRepeatShareAndLiveAt(t *testing.T) {
	sc, err := scenario.Load(filepath.Join("..", "..", "scenarios", "crates-io-seed1"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenario.Run(context.Background(), sc, scenario.Options{Settings: scenario.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := chart.Last(res.Events())
	if !ok {
		t.Fatal("no verdict with a trend")
	}
	tr := e.Seen().Trend
	if e.Kind != notify.RollbackSucceeded || tr.LiveAt.IsZero() || len(tr.RepeatShare) != len(tr.Rate) {
		t.Fatalf("verdict %s: live at %v, %d repeat-share buckets of %d; want rollback.succeeded, live known, one per bucket", e.Kind, tr.LiveAt, len(tr.RepeatShare), len(tr.Rate))
	}
	if before, after := tr.RepeatShare[tr.Release-1], tr.RepeatShare[len(tr.RepeatShare)-1]; before > 0.2 || after < 0.5 {
		t.Errorf("repeat share %.2f before the release, %.2f at the rollback; want the retries to show (about 0.15, then over 0.5)", before, after)
	}
	pic, err := chart.Render(e, chart.Width, chart.Height)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Signal != "repeat_share" || math.IsNaN(pic.Onset) || math.IsNaN(pic.Rollback) || pic.Onset < 0 || pic.Rollback < pic.Onset {
		t.Errorf("picture of %s, onset %.2f min, rollback %.2f min; want repeat_share, onset after live, rollback after onset", pic.Signal, pic.Onset, pic.Rollback)
	}
}

// relwatchWithFileLimit runs relwatch as a process whose files cannot grow
// past a few kilobytes (ulimit -f), as a full disk stops a write part way.
func relwatchWithFileLimit(t *testing.T, args ...string) (code int, output string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no ulimit")
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -f 8 && exec "$0" "$@"`, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "RELWATCH_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// A --chart picture that cannot be written whole (the disk full part way)
// leaves the old picture as it was, and no temporary file beside it, from
// replay as from status.
func TestAFailedChartLeavesTheOldPicture(t *testing.T) {
	scenarioDir := filepath.Join("..", "..", "scenarios", "crates-io-seed1")
	dir := t.TempDir()
	file := filepath.Join(dir, "v42.png")
	old := []byte(strings.Repeat("an older picture ", 1000))
	os.WriteFile(file, old, 0o644)
	code, out := relwatchWithFileLimit(t, "replay", "--chart", file, scenarioDir)
	if code == 0 || !strings.Contains(out, "--chart: write the picture of") {
		t.Fatalf("replay --chart with no room: exit %d %q", code, out)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, old) {
		t.Errorf("replay --chart with no room left %d bytes of %d, not the old picture", len(got), len(old))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("replay --chart with no room left %d files", len(entries))
	}

	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", At: time.Now()}); err != nil {
		t.Fatal(err) // status speaks of an app it has state for
	}
	for _, e := range notifytest.Pictured() {
		payload, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Enqueue(ctx, store.OutboxRow{Chat: "slack", Key: e.Key(), Thread: "t", Payload: string(payload), ClaimedBy: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	// Held open, so that its WAL index is full size already: the limit is
	// for the picture, and status may not grow the state's files either.
	defer db.Close()
	code, out = relwatchWithFileLimit(t, "status", "crates-io", "--state", state, "--chart", file)
	if code == 0 || !strings.Contains(out, "--chart: write the picture of crates-io v42") {
		t.Fatalf("status --chart with no room: exit %d %q", code, out)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, old) {
		t.Errorf("status --chart with no room left %d bytes of %d, not the old picture", len(got), len(old))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("status --chart with no room left %d files", len(entries))
	}
}
