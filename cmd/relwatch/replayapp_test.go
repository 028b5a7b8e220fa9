package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/scenario"
)

// replay --config takes the watch settings of the scenario's own app when
// the config guards it, as the backtest does: an exported release replayed
// with the worker's config (as the README's Backtesting says) judged with
// the first app's instead, and a release the backtest said relwatch would
// roll back was not rolled back, the first app's automatic rollback being
// off.
func TestReplayConfigTakesTheScenariosApp(t *testing.T) {
	fake, _ := historyFake(t)
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	metrics := fmt.Sprintf("metrics = { source = \"series\", path = %q, start = %q }", abs, scenario.Epoch.Format(time.RFC3339))
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "docs-rs"
route = "download"
auto_rollback = false
%s
[[apps]]
name = "crates-io"
route = "download"
%s
`, fake.URL(), metrics, metrics)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	code, out, errOut := runMain(t, ctx, "backtest", "crates-io", "--config", cfg, "--since", "5000d")
	if code != 0 || !strings.Contains(out, "rollback to v41") {
		t.Fatalf("backtest: exit %d\n%s%s", code, out, errOut)
	}
	dir := filepath.Join(t.TempDir(), "crates-io-v42")
	if code, _, errOut := runMain(t, ctx, "export", "crates-io", "--config", cfg, "--release", "42", "--out", dir); code != 0 {
		t.Fatalf("export: exit %d %s", code, errOut)
	}
	code, out, errOut = runMain(t, ctx, "replay", "--config", cfg, dir)
	if code != 0 || !strings.Contains(out, "rolled back v42 to v41") {
		t.Fatalf("replay --config of the export: exit %d\n%s%s\nwant the rollback the backtest found", code, out, errOut)
	}
}
