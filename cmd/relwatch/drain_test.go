package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics/routerlog"
)

// drainConfig writes a config whose one app reads a routerlog drain.
func drainConfig(t *testing.T, fakeURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
tick = "200ms"
[heroku]
api_url = %q
poll_interval = "200ms"
[[apps]]
name = "crates-io"
route = "GET /api/v1/crates/{crate}/{version}/download"
[apps.metrics]
source = "routerlog"
via = "drain"
[[notifiers]]
type = "console"
`, fakeURL)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDrainWithoutCredentialsIsRefused(t *testing.T) {
	freshState(t)
	for _, k := range []string{"RELWATCH_DRAIN_USER", "RELWATCH_DRAIN_PASSWORD", "RELWATCH_DRAIN_TOKEN"} {
		t.Setenv(k, "")
	}
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	cfg := drainConfig(t, fake.URL())
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "0")
	code, out, errOut := runMain(t, t.Context(), "check", "--config", cfg)
	for _, want := range []string{"FAIL apps[0].metrics: a drain needs credentials", "RELWATCH_DRAIN_USER", "RELWATCH_DRAIN_PASSWORD", "RELWATCH_DRAIN_TOKEN"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("check: exit %d, want 2 (bad configuration) and %q in\n%s%s", code, want, out, errOut)
		}
	}
	code, out, errOut = runMain(t, t.Context(), "watch", "--config", cfg)
	if code != 2 || !strings.Contains(out+errOut, "apps[0].metrics: a drain needs credentials") || !strings.Contains(out+errOut, "RELWATCH_DRAIN_TOKEN") {
		t.Fatalf("watch: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("RELWATCH_DRAIN_USER", "logplex")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "drain-secret-pw")
	fake.AddLogDrain("crates-io", "https://logplex:drain-secret-pw@my-relwatch.herokuapp.com/drain/crates-io")
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if code != 0 || strings.Contains(out+errOut, "drain-secret-pw") {
		t.Fatalf("check with credentials: exit %d\n%s%s", code, out, errOut)
	}
}

// Heroku gives every drain a token of its own: one RELWATCH_DRAIN_TOKEN
// for two apps' drains would have all of one app's batches refused (401,
// which Logplex drops for good), every watch of it inconclusive. check
// and watch refuse it and name each app's own variable, which works.
func TestOneDrainTokenIsNotTwoAppsDrains(t *testing.T) {
	freshState(t)
	t.Setenv("RELWATCH_DRAIN_USER", "")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "")
	t.Setenv("RELWATCH_DRAIN_TOKEN", "d.9173ea1f-6f14-4976-9cf0-7cd0dafdcdbc")
	fake := herokusim.New("tok")
	defer fake.Close()
	for _, app := range []string{"crates-io", "docs-rs"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	}
	one, err := os.ReadFile(drainConfig(t, fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	two := strings.Replace(string(one), "[[notifiers]]", `[[apps]]
name = "docs-rs"
route = "GET /crate/{name}"
[apps.metrics]
source = "routerlog"
via = "drain"
[[notifiers]]`, 1)
	if err := os.WriteFile(cfg, []byte(two), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "0")
	code, out, errOut := runMain(t, t.Context(), "check", "--config", cfg)
	for _, want := range []string{"FAIL apps[0].metrics: RELWATCH_DRAIN_TOKEN is one drain's token, and 2 apps have drains", "set RELWATCH_DRAIN_CRATES_IO_TOKEN to crates-io's", "set RELWATCH_DRAIN_DOCS_RS_TOKEN to docs-rs's"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("check of one token for two drains: exit %d, want 2 and %q in\n%s%s", code, want, out, errOut)
		}
	}
	if strings.Contains(out+errOut, "9173ea1f") {
		t.Fatalf("the token was written out:\n%s%s", out, errOut)
	}
	// Each app's own drain's token (heroku drains -a APP shows it).
	var tokens []string
	for _, app := range []string{"crates-io", "docs-rs"} {
		token := fake.AddLogDrain(app, "https://my-relwatch.herokuapp.com/drain/"+app)
		t.Setenv(routerlog.EnvDrainTokenOf(app), token)
		tokens = append(tokens, token)
	}
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if code != 0 || strings.Contains(out+errOut, tokens[0]) || strings.Contains(out+errOut, tokens[1]) {
		t.Fatalf("check with each app's own drain token: exit %d\n%s%s", code, out, errOut)
	}
}

// The worker's drain, through the real main path: a stranger is refused,
// Logplex's batch is taken.
func TestWatchServesTheDrain(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("RELWATCH_DRAIN_USER", "logplex")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "drain-secret-pw")
	t.Setenv("RELWATCH_DRAIN_TOKEN", "")
	t.Setenv(metricsTokenVar, "")
	t.Setenv("DYNO", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // the worker listens on it
	t.Setenv("PORT", fmt.Sprint(port))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"watch", "--config", drainConfig(t, fake.URL())}, &out, &errOut) }()
	post := func(user, pass string, logplex bool) (int, error) {
		line := fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="1.1.1.1" dyno=web.1 connect=1ms service=2ms status=302 bytes=1 protocol=https`, time.Now().UTC().Format(time.RFC3339))
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/drain/crates-io", port), strings.NewReader(fmt.Sprintf("%d %s", len(line), line)))
		req.Header.Set("Content-Type", "application/logplex-1")
		if logplex {
			req.Header.Set("Logplex-Frame-Id", "09C557EAFCFB6CF2740EE62F62971098")
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := post("", "", false); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the drain never listened: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, err := post("", "", false); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d %v", code, err)
	}
	if code, err := post("logplex", "guess", true); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %v", code, err)
	}
	if code, err := post("logplex", "drain-secret-pw", true); code != http.StatusNoContent {
		t.Errorf("Logplex: %d %v", code, err)
	}
	// What the drain took and refused is on /metrics beside it.
	mfs, code := scrape(t, port, "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	if got := value(mfs, "relwatch_drain_requests_total", map[string]string{"answer": "accepted"}); got != 1 {
		t.Errorf("relwatch_drain_requests_total{answer=accepted} = %v, want 1", got)
	}
	if got := value(mfs, "relwatch_drain_requests_total", map[string]string{"answer": "unauthorized"}); got < 3 {
		t.Errorf("relwatch_drain_requests_total{answer=unauthorized} = %v, want at least 3", got)
	}
	if got := value(mfs, "relwatch_router_lines_total", map[string]string{"app": "crates-io", "outcome": "guarded"}); got != 1 {
		t.Errorf("relwatch_router_lines_total{app=crates-io,outcome=guarded} = %v, want 1", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "drain-secret-pw") || strings.Contains(out.String()+errOut.String(), "guess") {
		t.Fatal("a drain password appeared in the output")
	}
	// Logplex's refused batch is said once; the strangers' are not.
	if n := strings.Count(out.String()+errOut.String(), "drain batch refused (401)"); n != 1 {
		t.Errorf("%d lines say Logplex's batch was refused, want 1:\n%s", n, out.String())
	}
}

// A drain app whose drain was never added on Heroku (or was added as
// http://, its credentials and router lines crossing the internet in
// clear) passed check: the worker then listened on /drain/crates-io for
// lines that never came, and watched every release as no data. check
// lists the app's log drains and fails unless one sends to its path over
// https, saying the command that adds one, never the drain's password.
func TestCheckSaysWhetherADrainSendsToRelwatch(t *testing.T) {
	fake, cfg := drainCheckRig(t)
	fake.AddLogDrain("crates-io", "syslog+tls://logs.example.com:6514")
	code, out, errOut := runMain(t, t.Context(), "check", "--config", cfg)
	if want := "FAIL crates-io: no log drain of crates-io sends to /drain/crates-io (1 drain(s)): its router lines never reach relwatch; add one: heroku drains:add -a crates-io https://USER:PASSWORD@<this app>/drain/crates-io"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("no drain: exit %d, want 1 and %q in\n%s%s", code, want, out, errOut)
	}
	fake.AddLogDrain("crates-io", "http://logplex:drain-secret-pw@my-relwatch.herokuapp.com/drain/crates-io")
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if want := "FAIL crates-io: the log drain to http://my-relwatch.herokuapp.com/drain/crates-io is not https: its credentials and the router lines cross the internet in clear"; code != 1 || !strings.Contains(out, want) || strings.Contains(out+errOut, "drain-secret-pw") {
		t.Errorf("an http drain: exit %d, want 1 and %q, never the password, in\n%s%s", code, want, out, errOut)
	}
	fake.AddLogDrain("crates-io", "https://logplex:drain-secret-pw@my-relwatch.herokuapp.com/drain/crates-io")
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if want := "crates-io: drain ok, router lines to https://my-relwatch.herokuapp.com/drain/crates-io"; code != 0 || !strings.Contains(out, want) || strings.Contains(out+errOut, "drain-secret-pw") {
		t.Errorf("an https drain: exit %d, want 0 and %q, never the password, in\n%s%s", code, want, out, errOut)
	}
}

// A drain that sends to /drain/APP over https, but with credentials other
// than the worker's (a password changed on one side only, a token copied
// from another app's drain), passed check as "drain ok": on the night the
// worker refused every batch Logplex sent (401, dropped for good) and
// watched each release as no data. check compares the drain's URL user and
// password and its token (heroku drains) with the worker's variables and
// names the one that differs, never a value.
func TestCheckSaysWhenTheDrainsCredentialsAreNotTheWorkers(t *testing.T) {
	fake, cfg := drainCheckRig(t)
	t.Setenv("RELWATCH_DRAIN_CRATES_IO_TOKEN", "")
	secrets := []string{"drain-secret-pw", "old-drain-pw"}
	noSecret := func(out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("check wrote %q:\n%s", s, out)
			}
		}
	}
	fake.AddLogDrain("crates-io", "https://logplex:old-drain-pw@my-relwatch.herokuapp.com/drain/crates-io")
	code, out, errOut := runMain(t, t.Context(), "check", "--config", cfg)
	if want := "FAIL crates-io: the log drain to https://my-relwatch.herokuapp.com/drain/crates-io has another user or password than RELWATCH_DRAIN_USER and RELWATCH_DRAIN_PASSWORD: the worker would refuse every batch it sends"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("a drain with another password: exit %d, want 1 and %q in\n%s%s", code, want, out, errOut)
	}
	noSecret(out + errOut)

	// The drain's token, where the worker checks it.
	t.Setenv("RELWATCH_DRAIN_USER", "")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "")
	t.Setenv("RELWATCH_DRAIN_CRATES_IO_TOKEN", "d.2222bbbb-0000-4000-8000-000000000002")
	secrets = append(secrets, "2222bbbb")
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if want := "FAIL crates-io: the log drain to https://my-relwatch.herokuapp.com/drain/crates-io has another token than RELWATCH_DRAIN_CRATES_IO_TOKEN (heroku drains -a crates-io shows it): the worker would refuse every batch it sends"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("a drain with another token: exit %d, want 1 and %q in\n%s%s", code, want, out, errOut)
	}
	noSecret(out + errOut)

	token := fake.AddLogDrain("crates-io", "https://my-relwatch.herokuapp.com/drain/crates-io")
	t.Setenv("RELWATCH_DRAIN_CRATES_IO_TOKEN", token)
	secrets = append(secrets, token)
	code, out, errOut = runMain(t, t.Context(), "check", "--config", cfg)
	if want := "crates-io: drain ok, router lines to https://my-relwatch.herokuapp.com/drain/crates-io"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("the drain with the worker's token: exit %d, want 0 and %q in\n%s%s", code, want, out, errOut)
	}
	noSecret(out + errOut)
}

// drainCheckRig is a fresh state, a fake Heroku with crates-io, and a
// configuration reading its router lines from a drain whose worker takes
// user logplex, password drain-secret-pw and no shared token.
func drainCheckRig(t *testing.T) (*herokusim.Server, string) {
	t.Helper()
	freshState(t)
	fake := herokusim.New("tok")
	t.Cleanup(fake.Close)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	cfg := drainConfig(t, fake.URL())
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "0")
	t.Setenv("RELWATCH_DRAIN_USER", "logplex")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "drain-secret-pw")
	t.Setenv("RELWATCH_DRAIN_TOKEN", "")
	return fake, cfg
}
