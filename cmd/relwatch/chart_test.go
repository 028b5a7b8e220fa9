package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/notify/chart"
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
