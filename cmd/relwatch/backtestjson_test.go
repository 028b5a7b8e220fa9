package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// backtest --format json says how long after the release went live the
// rollback came in seconds, in a field that says so (after_live_s), as
// replay (at_s), sweep (delay_s) and status (time_left_s) say theirs: not
// a bare after_live in nanoseconds.
func TestBacktestJSONSaysSeconds(t *testing.T) {
	_, cfg := historyFake(t)
	code, out, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--since", "5000d", "--format", "json")
	if code != 0 {
		t.Fatalf("backtest exit %d: %s", code, errOut)
	}
	var v42 map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if _, ok := o["after_live"]; ok {
			t.Errorf("a field without its unit: %s", line)
		}
		if o["version"] == float64(42) {
			v42 = o
		}
	}
	if v42 == nil || v42["verdict"] != "rollback" {
		t.Fatalf("v42: %v\n%s", v42, out)
	}
	s, ok := v42["after_live_s"].(float64)
	if !ok || s <= 0 || s > 600 || s != float64(int(s)) {
		t.Fatalf("v42 after_live_s %v: want the whole seconds after it went live (the rollback comes within minutes)\n%s", v42["after_live_s"], out)
	}
}
