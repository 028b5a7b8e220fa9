package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// An app the configuration watches that has nothing stored yet (its
// release went live before the worker, and nothing happened since) is
// shown as not watched yet: with two apps configured, status listed one,
// and `status quiet-app` said there was no such app (exit 2), so the
// on-call could not tell whether the second was watched at all.
func TestStatusShowsAConfiguredAppWithNothingStored(t *testing.T) {
	ctx := context.Background()
	path := freshState(t)
	statusState(t, path, 0)
	configureApps(t, "crates-io", "quiet-app")

	code, out, errOut := runMain(t, ctx, "status")
	if code != 0 || !strings.Contains(out, "quiet-app") || !strings.Contains(out, "not watched yet") || !strings.Contains(out, "crates-io v42") ||
		!strings.Contains(out, "quiet-app\n  nothing stored yet: the configuration watches it") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "status", "quiet-app", "--format", "json")
	var got []struct {
		App       string `json:"app"`
		Watch     *struct{}
		Rollbacks []any `json:"rollbacks"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got) != 1 || got[0].App != "quiet-app" || got[0].Watch != nil || got[0].Rollbacks == nil {
		t.Fatalf("status quiet-app: exit %d (%v) %+v\n%s%s", code, err, got, out, errOut)
	}
	if code, _, errOut = runMain(t, ctx, "status", "nope"); code != 2 || !strings.Contains(errOut, "it has crates-io, docs-rs, typo-app), and the configuration does not watch it (it watches crates-io, quiet-app)") {
		t.Errorf("status nope: exit %d %s", code, errOut)
	}

	// No state at all yet: the configured apps, not "nothing recorded".
	freshState(t)
	if code, out, errOut = runMain(t, ctx, "status"); code != 0 || !strings.Contains(out, "Nothing recorded yet") || !strings.Contains(out, "quiet-app") || !strings.Contains(out, "crates-io") {
		t.Errorf("status on no state: exit %d\n%s%s", code, out, errOut)
	}

	// A configuration named that does not read is an error; one found by
	// default that does not is said, and the state shown all the same.
	bad := writeConfig(t, "[[apps]]\nname = 1\n")
	if code, _, errOut = runMain(t, ctx, "status", "--config", bad); code != 2 || !strings.Contains(errOut, "name") {
		t.Errorf("status --config %s: exit %d %s", bad, code, errOut)
	}
	t.Setenv("RELWATCH_CONFIG", bad)
	statusState(t, freshState(t), 0)
	if code, out, errOut = runMain(t, ctx, "status"); code != 0 || !strings.Contains(out, "crates-io v42") || !strings.Contains(errOut, "not read") {
		t.Errorf("status with a broken $RELWATCH_CONFIG: exit %d\n%s%s", code, out, errOut)
	}
}

// A store that refuses the connection is said with what to look at next,
// as one that does not answer in time is: the driver's "connection
// refused" alone left the person at the terminal to guess.
func TestAStoreThatRefusesSaysWhereToLook(t *testing.T) {
	code, _, errOut := runMain(t, context.Background(), "status", "--state", "postgres://relwatch:s3cr3t-pw@127.0.0.1:1/relwatch?sslmode=disable")
	if code != 1 || !strings.Contains(errOut, "is the database server up") || !strings.Contains(errOut, "$DATABASE_URL") || strings.Contains(errOut, "s3cr3t") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
