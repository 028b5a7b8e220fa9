package main

import (
	"context"
	"strings"
	"testing"
)

// probe takes one URL: a stray argument after it is named in one line,
// exit 2 (it said "want exactly one URL", naming nothing), as every other
// command names one; no URL at all says so.
func TestProbeNamesAStrayArgument(t *testing.T) {
	ctx := context.Background()
	code, out, errOut := runMain(t, ctx, "probe", "http://127.0.0.1:1/x", "extra")
	if code != 2 || out != "" || !strings.Contains(errOut, `"extra"`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("probe URL extra: exit %d\nstdout %q\nstderr %q: want one line naming \"extra\", exit 2", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "probe")
	if code != 2 || out != "" || !strings.Contains(errOut, "URL") {
		t.Errorf("probe: exit %d\nstdout %q\nstderr %q: want a usage error asking for the URL", code, out, errOut)
	}
}
