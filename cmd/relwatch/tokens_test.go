package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// teamB is the second account of the several-token tests: docs-rs is its
// app alone, reached with the token in $DOCS_RS_HEROKU_API_KEY.
const (
	teamBEmail = "team-b@example.com"
	teamBEnv   = "DOCS_RS_HEROKU_API_KEY"
)

// twoTokenConfig is watchConfig with a second app, docs-rs, that names its
// own token (token_env) and reads the same series.
func twoTokenConfig(t *testing.T, fakeURL string, seriesStart time.Time) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	docs := fmt.Sprintf(`
[[notifiers]]
type = "console"

[[apps]]
name = "docs-rs"
route = "download"
token_env = %q
[apps.metrics]
source = "series"
path = %q
start = %q
`, teamBEnv, abs, seriesStart.UTC().Format(time.RFC3339))
	return watchConfigWith(t, fakeURL, seriesStart, "", docs)
}

// Apps of two accounts, each named with its own token: each is polled and
// rolled back with its own token (Heroku refuses the other's, 403), each
// token spends its own budget, and neither token is ever written.
func TestWatchEachAppWithItsOwnToken(t *testing.T) {
	freshState(t)
	fake := herokusim.New("team-a-secret", herokusim.WithHerokuRateLimit())
	defer fake.Close()
	fake.AddAccount("team-b-secret", teamBEmail)
	now := time.Now()
	for _, app := range []string{"crates-io", "docs-rs"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now})
	}
	fake.OwnApp("crates-io", herokusim.Account)
	fake.OwnApp("docs-rs", teamBEmail)
	cfgPath := twoTokenConfig(t, fake.URL(), now.Add(-1828*time.Second)) // the storm 2 s after the release, as in TestWatchRollsBackOnTheWallClock
	t.Setenv("HEROKU_API_KEY", "team-a-secret")
	t.Setenv(teamBEnv, "team-b-secret")

	w := startWatch(cfgPath)
	rollbackBy := func(app string) string {
		for _, r := range fake.Releases(app) {
			if r.Description == "Rollback to v41" {
				return r.User
			}
		}
		return ""
	}
	deadline := time.After(30 * time.Second)
	for rollbackBy("crates-io") == "" || rollbackBy("docs-rs") == "" {
		select {
		case <-deadline:
			w.stop()
			t.Fatalf("no rollback of both apps within 30 s\nstdout:\n%s\nstderr:\n%s", w.out.String(), w.errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if code := w.stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, w.errOut.String())
	}
	if a, b := rollbackBy("crates-io"), rollbackBy("docs-rs"); a != herokusim.Account || b != teamBEmail {
		t.Fatalf("rolled back by %q (crates-io) and %q (docs-rs): each app's own account should", a, b)
	}
	per := map[string]map[string]int{} // app -> account -> requests
	for _, r := range fake.Requests() {
		app := herokusim.AppInPath(r.Path)
		if app == "" {
			continue
		}
		if r.Status == 403 {
			t.Errorf("%s %s: refused, sent with the other app's token", r.Method, r.Path)
		}
		if per[app] == nil {
			per[app] = map[string]int{}
		}
		per[app][r.AccountEmail]++
	}
	if len(per["crates-io"]) != 1 || per["crates-io"][herokusim.Account] == 0 || len(per["docs-rs"]) != 1 || per["docs-rs"][teamBEmail] == 0 {
		t.Fatalf("requests by app and account: %v", per)
	}
	lowA, okA := fake.LowestBudgetOf(herokusim.Account)
	lowB, okB := fake.LowestBudgetOf(teamBEmail)
	if !okA || !okB || lowA < herokusim.HerokuRateLimit-per["crates-io"][herokusim.Account]-5 || lowB < herokusim.HerokuRateLimit-per["docs-rs"][teamBEmail]-5 {
		t.Fatalf("pools: A %d (%v), B %d (%v), after %v", lowA, okA, lowB, okB, per)
	}
	if s := w.out.String() + w.errOut.String(); strings.Contains(s, "team-a-secret") || strings.Contains(s, "team-b-secret") {
		t.Fatal("a token appeared in the output")
	}
}

// check names a token variable that is not set, once, and says each
// token's budget apart.
func TestCheckNamesEachToken(t *testing.T) {
	fake := herokusim.New("team-a-secret")
	defer fake.Close()
	fake.AddAccount("team-b-secret", teamBEmail)
	for _, app := range []string{"crates-io", "docs-rs"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	}
	fake.OwnApp("docs-rs", teamBEmail)
	cfgPath := twoTokenConfig(t, fake.URL(), time.Now())
	t.Setenv("HEROKU_API_KEY", "team-a-secret")
	t.Setenv(teamBEnv, "")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfgPath)
	if code != 2 || strings.Count(out, teamBEnv+" is not set") != 1 || !strings.Contains(out, "crates-io: Heroku ok") {
		t.Fatalf("B's token unset: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv(teamBEnv, "team-b-secret")
	code, out, errOut = runMain(t, context.Background(), "check", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "docs-rs: Heroku ok") || !strings.Contains(out, "Heroku token: $"+teamBEnv+" (token_env)") || strings.Contains(out, "Heroku token: $HEROKU_API_KEY") || !strings.Contains(out, "budget of $HEROKU_API_KEY") || !strings.Contains(out, "budget of $"+teamBEnv) ||
		!strings.Contains(out, "on $"+teamBEnv) {
		t.Fatalf("both tokens: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "team-b-secret") {
		t.Fatal("a token appeared in check's output")
	}
}

// promote reaches Heroku with the token of --from as the worker would:
// the variable its token_env names (before, promote read
// HEROKU_API_KEY alone, whose account Heroku refuses team B's apps).
func TestPromoteUsesTheAppsTokenEnv(t *testing.T) {
	freshState(t)
	fake := herokusim.New("team-a-secret")
	defer fake.Close()
	fake.AddAccount("team-b-secret", teamBEmail)
	now := time.Now()
	fake.AddRelease("docs-rs-staging", herokusim.ReleaseSpec{Version: 9, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 4, Description: "Promote docs-rs-staging v8", CreatedAt: now.Add(-2 * time.Hour)})
	fake.OwnApp("docs-rs-staging", teamBEmail)
	fake.OwnApp("docs-rs", teamBEmail)
	fake.AddPipeline("docs-rs", map[string]string{"docs-rs-staging": "staging", "docs-rs": "production"})
	var apps strings.Builder
	for _, app := range []string{"docs-rs-staging", "docs-rs"} {
		fmt.Fprintf(&apps, "[[apps]]\nname = %q\nroute = \"download\"\ntoken_env = %q\nmetrics = { source = \"series\", path = %q }\n", app, teamBEnv, demoSeries(t))
	}
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n%s[[notifiers]]\ntype = \"console\"\n", fake.URL(), apps.String()))
	t.Setenv("HEROKU_API_KEY", "team-a-secret")
	t.Setenv(teamBEnv, "team-b-secret")
	code, out, errOut := runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "docs-rs", "--from", "docs-rs-staging", "--no-probe", "--wait", "20s")
	if code != 0 || !strings.Contains(out, "docs-rs: succeeded as v5 (Promote docs-rs-staging v9)") {
		t.Fatalf("promote with $%s: exit %d\n%s%s", teamBEnv, code, out, errOut)
	}
	if strings.Contains(out+errOut, "team-b-secret") || strings.Contains(out+errOut, "team-a-secret") {
		t.Fatal("a token appeared in promote's output")
	}
	// Unset, the variable is named, not HEROKU_API_KEY, and nothing is asked of Heroku.
	t.Setenv(teamBEnv, "")
	code, out, errOut = runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "docs-rs", "--from", "docs-rs-staging", "--no-probe")
	if code != 2 || !strings.Contains(errOut, teamBEnv+" is not set") {
		t.Fatalf("promote without $%s: exit %d\n%s%s", teamBEnv, code, out, errOut)
	}
}
