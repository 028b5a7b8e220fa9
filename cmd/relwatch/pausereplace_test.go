package main

import (
	"context"
	"strings"
	"testing"
)

// A pause takes the place of the one in force: ben's "pause --for 30m"
// over ana's pause until resumed (a migration) ends hers in 30 minutes.
// The answer says whose pause it replaces, so that neither learns it from
// a rollback; a person extending their own pause is not told of it.
func TestAPauseSaysWhosePauseItReplaces(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	if code, _, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ana", "--reason", "db migration"); code != 0 {
		t.Fatalf("ana's pause: exit %d: %s", code, errOut)
	}
	code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--by", "ben", "--for", "30m")
	if code != 0 || !strings.Contains(out, "This replaces ana's pause until resumed (db migration).") {
		t.Fatalf("ben's pause: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "pause", "crates-io", "--by", "ben", "--for", "1h")
	if code != 0 || strings.Contains(out, "replaces") {
		t.Fatalf("ben's pause again: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}
