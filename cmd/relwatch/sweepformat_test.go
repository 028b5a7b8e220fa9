package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// sweep --list --format json printed the text list: a script asking for
// JSON got prose. It prints the shapes as a JSON list; --out, which writes
// folders and reports them in text, refuses --format json rather than
// print text where JSON was asked for.
func TestSweepFormatJSONIsJSONOrRefused(t *testing.T) {
	ctx := context.Background()
	code, out, errOut := runMain(t, ctx, "sweep", "--list", "--format", "json", "--shape", "healthy-promotion,crates-io")
	if code != 0 {
		t.Fatalf("sweep --list --format json: exit %d %s", code, errOut)
	}
	var shapes []struct {
		Shape   string             `json:"shape"`
		Bad     bool               `json:"bad"`
		Targets map[string]float64 `json:"targets"`
		Doc     string             `json:"doc"`
	}
	if err := json.Unmarshal([]byte(out), &shapes); err != nil {
		t.Fatalf("sweep --list --format json: %v\n%s", err, out)
	}
	if len(shapes) != 2 || shapes[0].Shape != "healthy-promotion" || shapes[0].Bad || !shapes[1].Bad || shapes[1].Targets["max_delay_s"] <= 0 || shapes[1].Doc == "" {
		t.Errorf("shapes %+v", shapes)
	}
	code, out, errOut = runMain(t, ctx, "sweep", "--out", filepath.Join(t.TempDir(), "x"), "--seed", "1", "--shape", "crates-io", "--format", "json")
	if code != 2 || out != "" || !strings.Contains(errOut, "--format json") {
		t.Errorf("sweep --out --format json: exit %d\nstdout %q\nstderr %q: want a usage error", code, out, errOut)
	}
}
