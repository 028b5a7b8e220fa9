package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/redact"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// The secrets of every integration, each distinct, so that a leak names
// its source.
var leakable = map[string]string{
	"HEROKU_API_KEY":          "hk-SECRET-7f3a9c21",
	teamBEnv:                  "hk-SECRET-d0c5b2e1", // an app's token_env
	"SLACK_BOT_TOKEN":         "xoxb-SECRET-b0t51d",
	"ZULIP_API_KEY":           "zu-SECRET-k3y9q7",
	"RELWATCH_DRAIN_PASSWORD": "dr-SECRET-pa55w0",
	"postgres password":       "pg-SECRET-w0rd88",
}

// assertNoSecret fails the test if any secret, or a telling piece of one,
// is in out.
func assertNoSecret(t *testing.T, where, out string) {
	t.Helper()
	for name, secret := range leakable {
		for _, piece := range []string{secret, secret[len(secret)-8:]} {
			if strings.Contains(out, piece) {
				t.Errorf("%s shows %s (%q):\n%s", where, name, piece, out)
			}
		}
	}
}

// echo answers like an upstream that quotes the credential it refused in
// its error: the worst case, and some APIs do.
func echo(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// Every integration's secret stays out of every log line, error, status
// output and announcement, even when the upstream quotes it back: Heroku,
// Slack, Zulip, the drain's password and the PostgreSQL URL.
func TestNoSecretLeaks(t *testing.T) {
	for name, v := range leakable {
		if strings.HasSuffix(name, "password") && !strings.HasPrefix(name, "RELWATCH") {
			continue
		}
		t.Setenv(name, v)
	}
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example")
	t.Setenv("RELWATCH_DRAIN_USER", "logplex")
	t.Setenv("SLACK_APP_TOKEN", "")
	t.Setenv("HEROKU_APP_NAME", "relwatch-worker")
	state := freshState(t)

	// Heroku refuses the token and quotes it back, in its error JSON.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "5e1f0000-0000-4000-8000-000000000001")
		w.Header().Set("Ratelimit-Remaining", "4499")
		echo(w, http.StatusUnauthorized, fmt.Sprintf(`{"id":"unauthorized","message":"Invalid credentials provided: %s","url":"https://devcenter.heroku.com/articles/platform-api-reference#errors"}`,
			strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
	}))
	defer refusing.Close()
	// Slack and Zulip refuse every call, quoting the credential they saw;
	// what relwatch tried to say is kept to check it too.
	var mu sync.Mutex
	var tried []string
	keep := func(r *http.Request) {
		_ = r.ParseForm()
		r.Form.Del("token") // how slack-go authenticates: sent to Slack, not said
		mu.Lock()
		defer mu.Unlock()
		tried = append(tried, r.URL.Path+" "+r.Form.Encode())
	}
	sl := notifytest.NewSlack()
	defer sl.Stop()
	sl.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		token := r.FormValue("token") // slack-go sends it in the form
		keep(r)
		echo(w, http.StatusOK, fmt.Sprintf(`{"ok":false,"error":"invalid_auth (%s)"}`, token))
		return true
	})
	zu := notifytest.NewZulip("bot@zulip.example", "the-right-key", "t-crates-io")
	defer zu.Close()
	zu.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		keep(r)
		_, key, _ := r.BasicAuth()
		echo(w, http.StatusUnauthorized, fmt.Sprintf(`{"result":"error","code":"UNAUTHORIZED","msg":"Invalid API key %s"}`, key))
		return true
	})
	triedBoth := func() bool {
		mu.Lock()
		defer mu.Unlock()
		var slack, zulip bool
		for _, c := range tried {
			slack = slack || strings.HasPrefix(c, "/chat.")
			zulip = zulip || strings.HasPrefix(c, "/api/v1/messages")
		}
		return slack && zulip
	}

	writeConfig := func(apiURL string) string {
		return watchConfigWith(t, apiURL, time.Now().Add(-1828*time.Second), "", fmt.Sprintf(`
[[notifiers]]
type = "slack"
channel = "C0DEPLOY"
api_url = %q
[[notifiers]]
type = "zulip"
stream = "t-crates-io"
site = %q
[[notifiers]]
type = "console"
`, sl.GetAPIURL(), zu.URL))
	}

	t.Run("check", func(t *testing.T) {
		code, out, errOut := runMain(t, context.Background(), "check", "--config", writeConfig(refusing.URL))
		if code == 0 {
			t.Fatalf("check passed with every credential refused:\n%s", out)
		}
		assertNoSecret(t, "check", out+errOut)
	})

	t.Run("watch refused by Heroku", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		code, out, errOut := runMain(t, ctx, "watch", "--config", writeConfig(refusing.URL))
		if code != 1 {
			t.Fatalf("watch with a refused token: exit %d\n%s\n%s", code, out, errOut)
		}
		assertNoSecret(t, "watch (401)", out+errOut)
	})

	t.Run("watch refused by Heroku, an app with its own token", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		code, out, errOut := runMain(t, ctx, "watch", "--config", twoTokenConfig(t, refusing.URL, time.Now()))
		if code != 1 || !strings.Contains(out, teamBEnv) {
			t.Fatalf("watch with refused tokens: exit %d\n%s\n%s", code, out, errOut)
		}
		assertNoSecret(t, "watch (401, token_env)", out+errOut)
	})

	t.Run("watch with chats refusing, then status", func(t *testing.T) {
		fake := herokusim.New(leakable["HEROKU_API_KEY"])
		defer fake.Close()
		now := time.Now()
		fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
		fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var code int
		var out, errOut string
		go func() {
			defer close(done)
			code, out, errOut = runMain(t, ctx, "watch", "--config", writeConfig(fake.URL()))
		}()
		deadline := time.After(20 * time.Second)
		for rolled := false; !rolled; {
			for _, r := range fake.Releases("crates-io") {
				rolled = rolled || r.Description == "Rollback to v41"
			}
			select {
			case <-deadline:
				cancel()
				<-done
				t.Fatalf("no rollback within 20 s:\n%s\n%s", out, errOut)
			case <-time.After(50 * time.Millisecond):
			}
		}
		// The chats have been tried (and refused) before the worker stops.
		for !triedBoth() {
			select {
			case <-deadline:
				t.Fatal("the chats were never tried")
			case <-time.After(50 * time.Millisecond):
			}
		}
		cancel()
		<-done
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		assertNoSecret(t, "watch", out+errOut)
		mu.Lock()
		said := strings.Join(tried, "\n")
		mu.Unlock()
		assertNoSecret(t, "announcements", said)

		for _, format := range []string{"text", "json"} {
			_, out, errOut := runMain(t, context.Background(), "status", "--state", state, "--format", format)
			assertNoSecret(t, "status --format "+format, out+errOut)
		}
	})

	t.Run("a PostgreSQL URL that cannot be reached", func(t *testing.T) {
		dsn := "postgres://relwatch:" + leakable["postgres password"] + "@127.0.0.1:1/relwatch?connect_timeout=2"
		for _, args := range [][]string{{"status", "--state", dsn}, {"pause", "crates-io", "--state", dsn, "--config", writeConfig(refusing.URL)}} {
			code, out, errOut := runMain(t, context.Background(), args...)
			if code == 0 {
				t.Fatalf("%s with an unreachable database passed", args[0])
			}
			assertNoSecret(t, args[0]+" with an unreachable PostgreSQL", out+errOut)
		}
	})
}

// What an app's token_env may name (config.SecretSuffixes) is redacted
// before any configuration is read: the value of every variable named so.
func TestSecretsHoldEveryTokenEnv(t *testing.T) {
	t.Setenv(teamBEnv, "hk-SECRET-d0c5b2e1")
	t.Setenv("OTHER_TEAM_TOKEN", "tk-SECRET-0a7e4c11")
	t.Setenv("RELWATCH_NOT_A_CREDENTIAL", "plain-value-123")
	got := strings.Join(secrets(), "\n")
	for _, want := range []string{"hk-SECRET-d0c5b2e1", "tk-SECRET-0a7e4c11"} {
		if !strings.Contains(got, want) {
			t.Errorf("secrets() lacks %q", want)
		}
	}
	if strings.Contains(got, "plain-value-123") {
		t.Error("secrets() holds a variable that names no credential")
	}
}

// Zulip's key travels in basic auth: its base64 form, as an echoed
// Authorization header would show it, is a secret too.
func TestSecretsHoldZulipsBasicAuth(t *testing.T) {
	t.Setenv("ZULIP_EMAIL", "relwatch-bot@zulip.example")
	t.Setenv("ZULIP_API_KEY", "zk-SECRET-5f3a9c21")
	echoed := "Basic " + base64.StdEncoding.EncodeToString([]byte("relwatch-bot@zulip.example:zk-SECRET-5f3a9c21"))
	if got := redact.String("server said: bad auth "+echoed, secrets()...); strings.Contains(got, echoed[len("Basic "):]) {
		t.Errorf("the echoed header is shown: %s", got)
	}
}
