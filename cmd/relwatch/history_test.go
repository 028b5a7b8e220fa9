package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/scenario"
)

// A release that was really rolled back (a person, 11 min after the
// release, as in the crates.io incident), exported and replayed: the
// person's rollback is history, replayed as it happened and never
// reported as relwatch's; relwatch's own is reported with its reason,
// and the backtest says when relwatch would have acted.
func TestExportOfARolledBackReleaseReplaysHistoryAsHistory(t *testing.T) {
	fake, cfg := historyFake(t)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 43, Description: "Rollback to v41",
		CreatedAt: scenario.Epoch.Add(2490 * time.Second)})
	ctx := context.Background()

	dir := filepath.Join(t.TempDir(), "exported")
	if code, _, errOut := runMain(t, ctx, "export", "crates-io", "--config", cfg, "--release", "42", "--out", dir); code != 0 {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	code, out, errOut := runMain(t, ctx, "replay", "--format", "json", dir)
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut)
	}
	var res scenario.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Rollbacks) != 1 {
		t.Fatalf("rollbacks %+v: want relwatch's alone, not the recorded one", res.Rollbacks)
	}
	rb := res.Rollbacks[0]
	person := -1
	for _, r := range res.Releases {
		if r.Version == 43 {
			person = r.CreatedAtS
		}
	}
	if rb.Release != 42 || rb.To != 41 || rb.AtS >= person || !strings.HasPrefix(rb.Reason, "repeat share") {
		t.Fatalf("rollback %+v (the person's at %ds): want relwatch's own, before the person's, with its reason", rb, person)
	}
	code, out, _ = runMain(t, ctx, "replay", dir)
	if code != 0 || !strings.Contains(out, `history: v43 "Rollback to v41"`) {
		t.Fatalf("replay text: exit %d\n%s", code, out)
	}

	code, out, errOut = runMain(t, ctx, "backtest", "crates-io", "--config", cfg, "--since", "5000d", "--format", "json")
	if code != 0 {
		t.Fatalf("backtest exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o struct {
			Version    int    `json:"version"`
			Verdict    string `json:"verdict"`
			RollbackTo int    `json:"rollback_to"`
			AfterLiveS *int   `json:"after_live_s"`
			Reason     string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if o.Version == 42 && (o.Verdict != "rollback" || o.RollbackTo != 41 || o.AfterLiveS == nil || *o.AfterLiveS > 60 || !strings.HasPrefix(o.Reason, "repeat share")) {
			t.Fatalf("backtest of v42: %+v: want relwatch's rollback within a minute, not the person's 11 min later", o)
		}
	}
}
