package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// --for 0m is no length of pause: zero is how the store says "until
// resumed", so taken as given it paused automatic rollback for ever, where
// chat refuses "0m is no time". It is refused, and nothing is paused.
func TestPauseForNoTimeIsRefused(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	for _, length := range []string{"0m", "0", "0d"} {
		code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--for", length)
		if code != 2 || !strings.Contains(errOut, "--for: 0s is no time") || out != "" {
			t.Errorf("pause --for %s: exit %d\nstdout %q\nstderr %q", length, code, out, errOut)
		}
	}
	code, out, _ := runMain(t, ctx, "status", "--format", "json")
	var apps []struct {
		App   string          `json:"app"`
		Pause json.RawMessage `json:"pause"`
	}
	if err := json.Unmarshal([]byte(out), &apps); code != 0 || err != nil {
		t.Fatalf("status: exit %d (%v)\n%s", code, err, out)
	}
	for _, a := range apps {
		if string(a.Pause) != "null" {
			t.Fatalf("a refused pause left a pause: %s\n%s", a.App, out)
		}
	}
	// Without --for it is a pause until resumed, as before.
	if code, out, errOut := runMain(t, ctx, "pause", "crates-io"); code != 0 || !strings.Contains(out, "until resumed") {
		t.Fatalf("pause: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// Heroku's app names are lower case, and chat takes "Crates-IO" as
// crates-io: the command line does too, where it refused the app as not
// watched.
func TestAnAppNamedInCapitalsIsTheApp(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	if code, out, errOut := runMain(t, ctx, "pause", "Crates-IO", "--app", "crates-io"); code != 0 || !strings.Contains(out, "crates-io") {
		t.Fatalf("pause Crates-IO: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if code, out, errOut := runMain(t, ctx, "resume", "CRATES-IO"); code != 0 || strings.Contains(out, "not paused") {
		t.Fatalf("resume CRATES-IO: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}
