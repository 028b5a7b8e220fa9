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
