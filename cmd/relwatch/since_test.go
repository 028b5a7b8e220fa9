package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A --since longer than a time.Duration holds in days (200000d) is all
// the history: it must not wrap round to a negative window, a moment in
// the future, after which no release went live.
func TestBacktestSinceBeyondADurationIsAllHistory(t *testing.T) {
	for _, s := range []string{"106751d", "106752d", "200000d", "99999999999999999999d"} {
		d, err := parseSince(s)
		if err != nil || d < 100000*24*time.Hour {
			t.Errorf("--since %s: %v, %v; want all of the history", s, d, err)
		}
	}
	for _, s := range []string{"0d", "-3d", "-99999999999999999999d", "1.5d", "d"} {
		if d, err := parseSince(s); err == nil {
			t.Errorf("--since %s: %v, want refused", s, d)
		}
	}
	_, cfg := historyFake(t)
	code, out, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--since", "200000d")
	if code != 0 || !strings.Contains(out, "v42 ") || strings.Contains(out, "no release went live") {
		t.Fatalf("backtest --since 200000d: exit %d\n%s%s", code, out, errOut)
	}
}
