package main

import (
	"context"
	"strings"
	"testing"
)

// relwatch help takes one command: "help pause extra" printed the list of
// commands with exit 0, neither pause's help nor the stray argument named.
func TestHelpNamesAStrayArgument(t *testing.T) {
	code, out, errOut := runMain(t, context.Background(), "help", "pause", "extra")
	if code != 2 || out != "" || !strings.Contains(errOut, `"extra"`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("help pause extra: exit %d\nstdout %q\nstderr %q: want one line naming \"extra\", exit 2", code, out, errOut)
	}
	if code, out, _ := runMain(t, context.Background(), "help"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("help: exit %d %q", code, out)
	}
}

// relwatch without a command is bad usage (exit 2): its usage goes to
// stderr, as an unknown command's does, not to stdout where a script
// reads results.
func TestNoCommandIsUsageOnStderr(t *testing.T) {
	code, out, errOut := runMain(t, context.Background())
	if code != 2 || out != "" || !strings.Contains(errOut, "Commands:") {
		t.Errorf("relwatch: exit %d\nstdout %q\nstderr %q: want exit 2, the usage on stderr", code, out, errOut)
	}
}
