package main

import (
	"context"
	"strings"
	"testing"
)

// status takes an app named in capitals as the app, as pause, resume and
// every other command do (Heroku's app names are lower case): it answered
// "no state for Crates-IO", listing crates-io.
func TestStatusTakesAnAppNamedInCapitals(t *testing.T) {
	path := freshState(t)
	statusState(t, path, 0)
	ctx := context.Background()
	for _, args := range [][]string{{"status", "Crates-IO"}, {"status", "-a", "CRATES-IO"}, {"status", "Crates-IO", "--app", "crates-io"}} {
		code, out, errOut := runMain(t, ctx, args...)
		if code != 0 || !strings.Contains(out, "crates-io v42") {
			t.Errorf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	t.Setenv("HEROKU_APP", "Crates-Io")
	if code, out, errOut := runMain(t, ctx, "status", "--format", "json"); code != 0 || !strings.Contains(out, `"app": "crates-io"`) || strings.Contains(out, `"docs-rs"`) {
		t.Errorf("status with $HEROKU_APP Crates-Io: exit %d\n%s%s", code, out, errOut)
	}
}
