package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --chart Verdict.PNG is a picture file, as --chart verdict.png is: it was
// taken for a folder, made as one, with the picture inside it.
func TestReplayChartToAnUpperCasePNGIsAFile(t *testing.T) {
	scenarioDir := filepath.Join("..", "..", "scenarios", "crates-io-seed1")
	file := filepath.Join(t.TempDir(), "Verdict.PNG")
	if code, _, errOut := runMain(t, context.Background(), "replay", "--chart", file, scenarioDir); code != 0 {
		t.Fatalf("replay --chart %s: exit %d %s", file, code, errOut)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("%s: %v, %v; want the picture file", file, fi.Mode(), err)
	}
	code, _, errOut := runMain(t, context.Background(), "replay", "--chart", file, scenarioDir, scenarioDir)
	if code != 2 || !strings.Contains(errOut, "takes one scenario") {
		t.Errorf("--chart FILE.PNG with two scenarios: exit %d %q; want a usage error", code, errOut)
	}
}

// --chart into a folder that does not exist yet makes it, as --chart DIR
// does; where it cannot be made, the error names the file the person gave,
// never the temporary name the picture is first written under.
func TestReplayChartIntoAMissingFolder(t *testing.T) {
	scenarioDir := filepath.Join("..", "..", "scenarios", "crates-io-seed1")
	tmp := t.TempDir()
	file := filepath.Join(tmp, "missing", "deeper", "x.png")
	if code, _, errOut := runMain(t, context.Background(), "replay", "--chart", file, scenarioDir); code != 0 {
		t.Errorf("replay --chart %s: exit %d %s", file, code, errOut)
	} else if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v; want the picture file, its folder made", file, err)
	}

	// A folder that cannot be made: its parent is a file.
	if err := os.WriteFile(filepath.Join(tmp, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(tmp, "plain", "x.png")
	code, _, errOut := runMain(t, context.Background(), "replay", "--chart", file, scenarioDir)
	if code != 1 || !strings.Contains(errOut, file) || strings.Contains(errOut, ".tmp") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("replay --chart %s: exit %d %q; want exit 1 and one line naming %s, no temporary file", file, code, errOut, file)
	}
}
