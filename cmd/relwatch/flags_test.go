package main

import (
	"context"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// A bad flag value is one line that says what the flag takes: not Go's
// parse error twice with the whole usage between.
func TestBadFlagsAreOneLine(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pause", "crates-io", "--for", "half-an-hour"}, `relwatch pause: --for takes a duration like 30m, not "half-an-hour"`},
		{[]string{"demo", "--speed=fast"}, `relwatch demo: --speed takes a number like 20, not "fast"`},
		{[]string{"probe", "--max-redirects", "many", "https://example.com/"}, `relwatch probe: --max-redirects takes a whole number like 5, not "many"`},
		{[]string{"rollback", "crates-io", "--yes=maybe"}, `relwatch rollback: --yes takes true or false, not "maybe"`},
		{[]string{"probe", "--resolve", "static.crates.io", "https://example.com/"}, `relwatch probe: --resolve: "static.crates.io" is not HOST=IP`},
		{[]string{"probe", "--max-redirects", "-1", "https://example.com/"}, `relwatch probe: --max-redirects: -1 is not a positive number (a download is a redirect and its end)`},
		{[]string{"probe", "--timeout", "0s", "https://example.com/"}, `relwatch probe: --timeout: 0s is not a positive duration`},
		{[]string{"pause", "crates-io", "--for"}, `relwatch pause: --for needs a value: a duration like 30m`},
		{[]string{"status", "--colour"}, `relwatch status: unknown flag --colour (relwatch status --help lists them)`},
		{[]string{"status", "--colour=red"}, `relwatch status: unknown flag --colour (relwatch status --help lists them)`},
		// Named as typed.
		{[]string{"status", "-x"}, `relwatch status: unknown flag -x (relwatch status --help lists them)`},
		{[]string{"pause", "-a"}, `relwatch pause: -a needs a value`},
	} {
		code, out, errOut := runMain(t, context.Background(), tc.args...)
		if code != 2 || errOut != tc.want+"\n" || out != "" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q\nwant exit 2 and stderr %q", tc.args, code, out, errOut, tc.want+"\n")
		}
	}
}

// Usage lines and the flag list spell flags one way: --config; a short
// form (the Heroku CLI's -a) only beside its long one, "-a, --app".
func TestHelpSpellsFlagsOneWay(t *testing.T) {
	for _, c := range commands() {
		_, out, _ := runMain(t, context.Background(), c.name, "--help")
		if m := regexp.MustCompile(`(?m)^\s+-([a-z][^,]|[a-z],\s[^-])`).FindString(out); m != "" {
			t.Errorf("%s --help lists a flag as %q:\n%s", c.name, strings.TrimSpace(m), out)
		}
	}
	_, out, _ := runMain(t, context.Background(), "watch", "--help")
	if !strings.Contains(out, "  --config string") || !strings.Contains(out, "  --log-level string") || !strings.Contains(out, `(default "info")`) {
		t.Errorf("watch --help:\n%s", out)
	}
}

// probe with something that is not a URL is bad usage (2), not a failed
// check (1).
func TestProbeNotAURL(t *testing.T) {
	for _, arg := range []string{"not-a-url", "crates.io/api/v1/crates/serde/1.0.0/download", "ftp://example.com/x"} {
		code, _, errOut := runMain(t, context.Background(), "probe", arg)
		if code != 2 || !strings.Contains(errOut, "is not an absolute http(s) URL") {
			t.Errorf("probe %s: exit %d %q", arg, code, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := runMain(t, context.Background(), args...)
		if code != 0 || !strings.HasPrefix(out, "relwatch ") || !strings.Contains(out, runtime.Version()) || errOut != "" {
			t.Errorf("%v: exit %d %q %q", args, code, out, errOut)
		}
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/relwatch/relwatch", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3f2c1a9e0b7d55aa"}, {Key: "vcs.time", Value: "2026-11-02T10:11:12Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(bi, ""), "relwatch v1.2.0 (revision 3f2c1a9e0b7d of 2026-11-02T10:11:12Z, with local changes), go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	// A Heroku build has no VCS stamp: the commit it linked in says it
	// (issue 17), not "(devel)" alone.
	heroku := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/relwatch/relwatch", Version: "(devel)"}}
	if got, want := versionLine(heroku, "5d2c0a9be41f77e0aa11"), "relwatch (devel) (revision 5d2c0a9be41f), go1.26.8"; got != want {
		t.Errorf("versionLine on Heroku = %q, want %q", got, want)
	}
}

// Hints point at what a clone of the repository has: scenarios/, not the
// project's ../shared.
func TestHintsPointAtTheRepository(t *testing.T) {
	var said []string
	for _, c := range commands() {
		_, out, _ := runMain(t, context.Background(), c.name, "--help")
		said = append(said, out)
	}
	_, _, errOut := runMain(t, context.Background(), "replay")
	said = append(said, errOut)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	said = append(said, string(readme))
	for _, s := range said {
		if strings.Contains(s, "shared/scenarios") {
			t.Errorf("points at ../shared/scenarios, which a clone does not have:\n%s", s)
		}
	}
	if !strings.Contains(errOut, "scenarios/*/") {
		t.Errorf("replay without a folder: %q", errOut)
	}
}

// -h as a flag's value is the value (before, `--reason -h` printed
// the help and paused nothing); where a flag goes, it is still the help,
// also after a bad flag.
func TestHelpAsAFlagsValueIsTheValue(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	code, out, errOut := runMain(t, context.Background(), "pause", "crates-io", "--reason", "-h")
	if code != 0 || strings.Contains(out, "Usage:") || !strings.Contains(out, "until resumed: -h.") {
		t.Fatalf("pause --reason -h: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"pause", "crates-io", "-h"},
		{"pause", "-h", "crates-io", "--reason", "x"},
		{"pause", "crates-io", "--bogus", "--help"},
		{"pause", "crates-io", "--for", "30m", "-help"},
	} {
		if code, out, errOut := runMain(t, context.Background(), args...); code != 0 || !strings.HasPrefix(out, "Usage: relwatch pause") || errOut != "" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q\nwant the help", args, code, out, errOut)
		}
	}
	if code, _, errOut := runMain(t, context.Background(), "pause", "crates-io", "--for", "-h"); code != 2 || !strings.Contains(errOut, `--for takes a duration like 30m, not "-h"`) {
		t.Errorf("pause --for -h: exit %d, stderr %q", code, errOut)
	}
}

// pause --for takes a length as chat does (1d, 1d12h), and more than chat's
// 7 days: the command line is the operator's.
func TestPauseForDays(t *testing.T) {
	state := freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	const want = 10*24*time.Hour + 12*time.Hour
	before := time.Now()
	if code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--for", "10d12h", "--by", "ana"); code != 0 {
		t.Fatalf("pause --for 10d12h: exit %d\n%s%s", code, out, errOut)
	}
	after := time.Now()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o, err := db.Overrides(ctx, map[string]int{"crates-io": 0})
	if err != nil {
		t.Fatal(err)
	}
	p := o["crates-io"].Pause
	if p == nil || p.Until.Before(before.Add(want).Truncate(time.Millisecond)) || p.Until.After(after.Add(want)) {
		t.Fatalf("pause %+v, want one until %s from now", p, want)
	}
	if code, _, errOut := runMain(t, ctx, "pause", "crates-io", "--for", "1dd"); code != 2 || !strings.Contains(errOut, `--for takes a duration like 30m, not "1dd"`) {
		t.Fatalf("--for 1dd: exit %d, %s", code, errOut)
	}
}
