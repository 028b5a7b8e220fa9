package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/config"
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

// A token read from $(...) or a file ends in a newline: it is trimmed.
// One that still holds a space or a control character could never go into
// an HTTP header, and failed each request as the network would, retried
// forever: refused at start, naming the variable and never the value.
func TestTokensTrimmedAndRefusedWithControlCharacters(t *testing.T) {
	fake := herokusim.New("team-a-secret")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	cfgPath := writeConfig(t, fmt.Sprintf("worker_app = \"relwatch\"\n[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n", fake.URL(), demoSeries(t)))
	t.Setenv("HEROKU_API_KEY", " team-a-secret\n")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "crates-io: Heroku ok") {
		t.Fatalf("a token with a trailing newline: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, bad := range []string{"team-a\rsecret", "team-a secret", "team-a\x7fsecret"} {
		t.Setenv("HEROKU_API_KEY", bad)
		code, out, errOut = runMain(t, context.Background(), "check", "--config", cfgPath)
		if want := "HEROKU_API_KEY holds a space or a control character inside the token"; code != 2 || !strings.Contains(out, want) || strings.Contains(out+errOut, "secret") {
			t.Errorf("HEROKU_API_KEY = %q: exit %d\n%s\n%s\nwant exit 2 and %q, never the value", bad, code, out, errOut, want)
		}
	}
	// The chats' tokens, which go into headers too.
	t.Setenv("HEROKU_API_KEY", "team-a-secret")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-1\n")
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example\n")
	t.Setenv("ZULIP_API_KEY", "zkey\n")
	t.Setenv("ZULIP_SITE", "http://127.0.0.1:1")
	chats := &config.Config{Notifiers: []config.Notifier{{Type: "slack", Channel: "C1"}, {Type: "zulip", Stream: "s"}}}
	if _, err := buildChats(chats); err != nil {
		t.Errorf("chat tokens with a trailing newline: %v", err)
	}
	for _, env := range []string{"SLACK_BOT_TOKEN", "ZULIP_EMAIL", "ZULIP_API_KEY"} {
		old := os.Getenv(env)
		t.Setenv(env, "a b-secret")
		_, err := buildChats(chats)
		if want := env + " holds a space or a control character"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s with a space: err = %v, want %q, never the value", env, err, want)
		}
		t.Setenv(env, old)
	}
	t.Setenv("SLACK_APP_TOKEN", "xapp-1\tb-secret")
	cmds := writeConfig(t, fmt.Sprintf("worker_app = \"relwatch\"\n[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n[[notifiers]]\ntype = \"slack\"\nchannel = \"C1\"\napi_url = \"http://127.0.0.1:1/api/\"\ncommands = true\nallowed_users = [\"U1\"]\n", fake.URL(), demoSeries(t)))
	code, out, errOut = runMain(t, context.Background(), "check", "--config", cmds)
	if want := "notifiers[0].commands: SLACK_APP_TOKEN holds a space or a control character"; code != 2 || !strings.Contains(out, want) || strings.Contains(out+errOut, "b-secret") {
		t.Errorf("SLACK_APP_TOKEN with a tab: exit %d\n%s\n%s\nwant exit 2 and %q", code, out, errOut, want)
	}
}

// One of two tokens revoked while the worker runs (team B rotated its
// authorization): Heroku answers 401 for docs-rs. That token's apps are
// said to be no longer watched, naming the variable and never a token;
// crates-io, on the other token, is still watched and its bad release
// rolled back. Before, the 401 stopped the whole worker: a bad release of
// crates-io went unwatched until the dyno restarted, and then only until
// the next tick of docs-rs.
func TestARevokedTokenStopsOnlyItsOwnApps(t *testing.T) {
	freshState(t)
	fake := herokusim.New("team-a-secret", herokusim.WithHerokuRateLimit())
	defer fake.Close()
	fake.AddAccount("team-b-secret", teamBEmail)
	now := time.Now()
	for _, app := range []string{"crates-io", "docs-rs"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	}
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now})
	fake.OwnApp("crates-io", herokusim.Account)
	fake.OwnApp("docs-rs", teamBEmail)
	cfgPath := twoTokenConfig(t, fake.URL(), now.Add(-1828*time.Second))
	t.Setenv("HEROKU_API_KEY", "team-a-secret")
	t.Setenv(teamBEnv, "team-b-secret")

	w := startWatch(cfgPath)
	requests := func(app string, authorized bool) int {
		n := 0
		for _, r := range fake.Requests() {
			if herokusim.AppInPath(r.Path) == app && r.Authorized == authorized {
				n++
			}
		}
		return n
	}
	rolledBack := func() bool {
		for _, r := range fake.Releases("crates-io") {
			if r.Description == "Rollback to v41" {
				return true
			}
		}
		return false
	}
	deadline := time.After(30 * time.Second)
	revoked := false
	for !rolledBack() {
		if !revoked && requests("docs-rs", true) > 0 {
			fake.RevokeToken("team-b-secret")
			revoked = true
		}
		select {
		case <-w.done:
			t.Fatalf("the worker stopped (exit %d) before crates-io was rolled back; 401s for docs-rs: %d\nstdout:\n%s\nstderr:\n%s",
				w.code, requests("docs-rs", false), w.out.String(), w.errOut.String())
		case <-deadline:
			w.stop()
			t.Fatalf("crates-io not rolled back within 30 s\nstdout:\n%s\nstderr:\n%s", w.out.String(), w.errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !revoked || requests("docs-rs", false) == 0 {
		t.Fatalf("docs-rs was never refused (revoked %v): the test proves nothing", revoked)
	}
	if code := w.stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, w.errOut.String())
	}
	out := w.out.String() + w.errOut.String()
	if strings.Contains(out, "team-a-secret") || strings.Contains(out, "team-b-secret") {
		t.Fatal("a token appeared in the output")
	}
	if n := strings.Count(out, "[app.forbidden] 🚫 Heroku refuses the token in "+teamBEnv); n != 1 {
		t.Errorf("the refused token announced %d times, want once for docs-rs:\n%s", n, out)
	}
	said := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, teamBEnv) && strings.Contains(line, "docs-rs") {
			said = true
		}
	}
	if !said {
		t.Fatalf("no error line names %s and its app docs-rs:\n%s", teamBEnv, out)
	}
	// Refused, the token is asked again rarely, not at every tick.
	if n := requests("docs-rs", false); n > 3 {
		t.Fatalf("%d requests refused 401 for docs-rs: the revoked token is asked at every tick", n)
	}
}

// A token variable that holds only whitespace (a paste that lost the token,
// `heroku config:set HEROKU_API_KEY=" "`) is said as it is: "is not set"
// sent the person to `heroku config`, which shows it set.
func TestATokenOfWhitespaceIsSaidSo(t *testing.T) {
	_, err := herokuToken("HEROKU_API_KEY", func(string) string { return " \n" })
	want := "HEROKU_API_KEY is set but holds only whitespace: relwatch needs a Platform API token (heroku authorizations:create -d relwatch)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	_, err = herokuToken("HEROKU_API_KEY", func(string) string { return "" })
	if want := "HEROKU_API_KEY is not set"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("unset: err = %v, want %q", err, want)
	}
}

// A token Heroku refuses (401: revoked, mistyped, another account's) is
// named by its variable in check, with what to do: with several tokens
// (token_env) "Invalid credentials provided" alone did not say which.
func TestCheckNamesTheRefusedTokensVariable(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "revoked-secret")
	p := writeConfig(t, fmt.Sprintf("worker_app = \"relwatch\"\n[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n", fake.URL(), demoSeries(t)))
	code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
	want := "FAIL crates-io: Heroku refused the token in $HEROKU_API_KEY (401): it is revoked, mistyped or expired; make one: heroku authorizations:create -d relwatch"
	if code != 1 || !strings.Contains(out, want) || strings.Contains(out+errOut, "revoked-secret") {
		t.Errorf("exit %d, want 1 and %q, never the token, in\n%s%s", code, want, out, errOut)
	}
}
