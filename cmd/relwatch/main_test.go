package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

const demoDir = "demodata/crates-io-2023-07-20"

// TestMain keeps every test's state out of the repository. With
// RELWATCH_AS_MAIN=1 the test binary is relwatch itself, for tests that run
// workers as processes.
func TestMain(m *testing.M) {
	if os.Getenv("RELWATCH_AS_MAIN") == "1" {
		main()
		return
	}
	dir, err := os.MkdirTemp("", "relwatch-cmd-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("RELWATCH_STATE", filepath.Join(dir, "state.db"))
	os.Unsetenv("DATABASE_URL")
	os.Unsetenv("RELWATCH_CONFIG")
	os.Unsetenv("HEROKU_APP_NAME")
	os.Unsetenv("DYNO")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freshState gives a test a state store of its own.
func freshState(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "state.db")
	t.Setenv("RELWATCH_STATE", p)
	return p
}

// runMain runs relwatch's real main path with args.
func runMain(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpEverywhere(t *testing.T) {
	code, out, _ := runMain(t, context.Background(), "--help")
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Fatalf("--help: %d %q", code, out)
	}
	for _, c := range commands() {
		code, out, errOut := runMain(t, context.Background(), c.name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: relwatch "+c.name) || errOut != "" {
			t.Errorf("%s --help: code %d, stdout %q, stderr %q", c.name, code, out, errOut)
		}
		// relwatch help CMD says the same (issue 17).
		if hcode, hout, _ := runMain(t, context.Background(), "help", c.name); hcode != code || hout != out {
			t.Errorf("help %s: code %d, stdout %q; want what %s --help says", c.name, hcode, hout, c.name)
		}
	}
	if code, _, errOut := runMain(t, context.Background(), "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runMain(t, context.Background(), "replay", "--format", "yaml", demoDir); code != 2 || !strings.Contains(errOut, "yaml") {
		t.Errorf("bad flag value: %d %q", code, errOut)
	}
}

func TestReplayJSONContract(t *testing.T) {
	code, out, errOut := runMain(t, context.Background(), "replay", "--check", "--format", "json", demoDir+"/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Scenario  string `json:"scenario"`
		App       string `json:"app"`
		Rollbacks []struct {
			Release int    `json:"release"`
			To      int    `json:"to"`
			AtS     int    `json:"at_s"`
			Reason  string `json:"reason"`
		} `json:"rollbacks"`
		Releases []struct {
			Version     int    `json:"version"`
			Description string `json:"description"`
			Status      string `json:"status"`
			CreatedAtS  int    `json:"created_at_s"`
		} `json:"releases"`
		Notifications []struct {
			AtS  int    `json:"at_s"`
			Kind string `json:"kind"`
			Text string `json:"text"`
		} `json:"notifications"`
		WallMS *int64 `json:"wall_ms"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if res.Scenario != "crates-io-2023-07-20" || res.App != "crates-io" || res.WallMS == nil {
		t.Fatalf("header fields: %+v", res)
	}
	if len(res.Rollbacks) != 1 || res.Rollbacks[0].Release != 42 || res.Rollbacks[0].To != 41 || res.Rollbacks[0].AtS > 1860 || res.Rollbacks[0].Reason == "" {
		t.Fatalf("rollbacks %+v", res.Rollbacks)
	}
	last := res.Releases[len(res.Releases)-1]
	if last.Version != 43 || last.Description != "Rollback to v41" || last.CreatedAtS != res.Rollbacks[0].AtS {
		t.Fatalf("last release %+v", last)
	}
}

func writeScenario(t *testing.T, mutate func(toml string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sc")
	if err := os.CopyFS(dir, os.DirFS(demoDir)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "scenario.toml")
	raw, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(mutate(string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReplayCheckMissExitsOne(t *testing.T) {
	// The crates.io break, expected healthy: its bad_from_s and
	// max_delay_s go too, which a healthy verdict refuses.
	dir := writeScenario(t, func(s string) string {
		s = strings.Replace(s, `verdict = "rollback"`, `verdict = "healthy"`, 1)
		return regexp.MustCompile(`(?m)^\s*(bad_from_s|max_delay_s) = .*\n`).ReplaceAllString(s, "")
	})
	code, out, errOut := runMain(t, context.Background(), "replay", "--check", dir)
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "want no rollback") || !strings.Contains(errOut, "missed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestReplayBadScenarioExitsTwo(t *testing.T) {
	dir := writeScenario(t, func(s string) string { return s + "\nsurprise = 1\n" })
	code, _, errOut := runMain(t, context.Background(), "replay", dir)
	if code != 2 || !strings.Contains(errOut, "surprise: unknown key") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

func TestDemo(t *testing.T) {
	code, out, errOut := runMain(t, context.Background(), "demo", "--speed", "100000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"watch.started", "anomaly", "rollback.succeeded", "Rollback to v41"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Rolled back within the crates.io target (p95 20 s after the break).
	m := regexp.MustCompile(`Rolled back (\d+) s after the downloads broke`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output does not say when it rolled back:\n%s", out)
	}
	if s, _ := strconv.Atoi(m[1]); s > 20 {
		t.Errorf("the demo rolled back %d s after the downloads broke, want within 20 s", s)
	}
}

// watchConfig writes a configuration for the crates.io demo series,
// anchored at seriesStart, against a fake Heroku at fakeURL, with short
// intervals and the console notifier.
func watchConfig(t *testing.T, fakeURL string, seriesStart time.Time) string {
	return watchConfigWith(t, fakeURL, seriesStart, "", "[[notifiers]]\ntype = \"console\"\n")
}

// watchConfigWith is watchConfig with more top-level keys (TOML) and other
// notifiers (TOML).
func watchConfigWith(t *testing.T, fakeURL string, seriesStart time.Time, topLevel, notifiers string) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	cfg := fmt.Sprintf(`
tick = "200ms"
rollback_timeout = "5s"
%s
[heroku]
api_url = %q
poll_interval = "200ms"
idle_poll_interval = "200ms"
timeout = "2s"
[watch]
restart_grace = "2s"
settle_grace = "2s"
[thresholds]
sustain = "5s"
[[apps]]
name = "crates-io"
route = "download"
[apps.metrics]
source = "series"
path = %q
start = %q
%s`, topLevel, fakeURL, abs, seriesStart.UTC().Format(time.RFC3339), notifiers)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// watching is `relwatch watch` run in the test's own process until stop;
// its output is read once it has stopped.
type watching struct {
	cancel      context.CancelFunc
	done        chan struct{}
	code        int
	out, errOut bytes.Buffer
}

// startWatch runs `relwatch watch --config cfgPath` in the background.
func startWatch(cfgPath string) *watching {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watching{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.code = run(ctx, []string{"watch", "--config", cfgPath}, &w.out, &w.errOut)
	}()
	return w
}

// stop signals the worker to stop, waits for it and returns its exit code.
func (w *watching) stop() int {
	w.cancel()
	<-w.done
	return w.code
}

func TestWatchRollsBackOnTheWallClock(t *testing.T) {
	freshState(t)
	fake := herokusim.New("live-token")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now})
	// The demo series' retry storm starts at t_s 1830: anchor it so that
	// the release (now) comes 2 s before, as in the recording it comes
	// 30 s before. (Any earlier, and the storm would be in the baseline:
	// not this release's doing.)
	cfgPath := watchConfig(t, fake.URL(), now.Add(-1828*time.Second))
	t.Setenv("HEROKU_API_KEY", "live-token")

	w := startWatch(cfgPath)
	deadline := time.After(20 * time.Second)
	for {
		var rolled bool
		for _, r := range fake.Releases("crates-io") {
			rolled = rolled || r.Description == "Rollback to v41"
		}
		if rolled {
			break
		}
		select {
		case <-deadline:
			w.stop()
			t.Fatalf("no rollback within 20 s\nstdout:\n%s\nstderr:\n%s", w.out.String(), w.errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Let a second rollback show, if one were coming: wait until the worker
	// has polled the releases three more times (it has seen its rollback
	// and judged again), on the fake's own request log.
	polls := func() (n int) {
		for _, r := range fake.Requests() {
			if r.Method == "GET" && r.Path == "/apps/crates-io/releases" {
				n++
			}
		}
		return n
	}
	for after := polls() + 3; polls() < after; {
		select {
		case <-deadline:
			w.stop()
			t.Fatal("the worker stopped polling after its rollback")
		case <-time.After(50 * time.Millisecond):
		}
	}
	stopAt := time.Now()
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop within 10 s of the signal")
	}
	if w.code != 0 {
		t.Fatalf("exit %d after the signal: %s", w.code, w.errOut.String())
	}
	t.Logf("stopped %s after the signal", time.Since(stopAt))
	n := 0
	for _, r := range fake.Releases("crates-io") {
		if strings.HasPrefix(r.Description, "Rollback") {
			n++
		}
	}
	if n != 1 || !strings.Contains(w.out.String(), "rollback.succeeded") {
		t.Fatalf("%d rollbacks; stdout:\n%s", n, w.out.String())
	}
	if strings.Contains(w.errOut.String()+w.out.String(), "live-token") {
		t.Fatal("the token appeared in the output")
	}
}

func TestWatchUnauthorizedStops(t *testing.T) {
	fake := herokusim.New("right")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 1, Description: "Deploy a"})
	cfgPath := watchConfig(t, fake.URL(), time.Now())
	t.Setenv("HEROKU_API_KEY", "wrong-secret")
	code, out, errOut := runMain(t, context.Background(), "watch", "--config", cfgPath)
	if code != 1 || !strings.Contains(out, "level=FATAL") || !strings.Contains(out, "401 unauthorized") || strings.Contains(out+errOut, "wrong-secret") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	t.Setenv("HEROKU_API_KEY", "")
	if code, out, _ := runMain(t, context.Background(), "watch", "--config", cfgPath); code != 2 || !strings.Contains(out, "HEROKU_API_KEY is not set") {
		t.Fatalf("no token: exit %d %q", code, out)
	}
}

func TestCheck(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	cfgPath := watchConfig(t, fake.URL(), time.Now())
	t.Setenv("HEROKU_API_KEY", "tok")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "current release v7 (Deploy a)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(fake.Requests()); n != 3 {
		t.Errorf("check made %d requests, want 3 (app, releases, its pipeline coupling)", n)
	}
	for _, r := range fake.Requests() {
		if r.Method != "GET" {
			t.Errorf("check changed something: %s %s", r.Method, r.Path)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[[apps]]\nname = \"x\"\nnope = 1\n"), 0o644)
	code, _, errOut = runMain(t, context.Background(), "check", "--config", bad)
	if code != 2 || !strings.Contains(errOut, "line 3: apps[0].nope: unknown key") || !strings.Contains(errOut, "line 1: apps[0].route: required") {
		t.Fatalf("bad config: exit %d %q", code, errOut)
	}
}

func TestProbeCommand(t *testing.T) {
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "crate") }))
	defer static.Close()
	_, port, _ := net.SplitHostPort(static.Listener.Addr().String())
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := "static.crates.io"
		if r.URL.Query().Get("bug") != "" {
			host = "static.crates.iocrates"
		}
		http.Redirect(w, r, "http://"+host+":"+port+"/crates/serde/serde-1.0.0.crate", http.StatusFound)
	}))
	defer api.Close()
	pin := []string{"--hosts-only", "--resolve", "static.crates.io=127.0.0.1"}

	code, out, errOut := runMain(t, context.Background(), append(append([]string{"probe"}, pin...), api.URL+"/api/v1/crates/serde/1.0.0/download")...)
	if code != 0 || !strings.Contains(out, "302 "+api.URL) || !strings.Contains(out, "ok: 5 bytes") {
		t.Fatalf("healthy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runMain(t, context.Background(), append(append([]string{"probe"}, pin...), api.URL+"/api/v1/crates/serde/1.0.0/download?bug=1")...)
	want := "redirect to http://static.crates.iocrates:" + port + "/crates/serde/serde-1.0.0.crate: host static.crates.iocrates does not resolve"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("the bug: exit %d, stderr %q; want %q", code, errOut, want)
	}
	if code, _, _ := runMain(t, context.Background(), "probe"); code != 2 {
		t.Fatalf("no URL: exit %d", code)
	}
}

// historyFake serves the demo scenario's releases at their recorded times,
// and a config reads its series as the app's history.
func historyFake(t *testing.T) (*herokusim.Server, string) {
	t.Helper()
	fake := herokusim.New("tok")
	t.Cleanup(fake.Close)
	sc, err := scenario.Load(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sc.Releases {
		fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: r.Version, Description: r.Description, Status: r.Status,
			CreatedAt: scenario.Epoch.Add(time.Duration(r.AtS) * time.Second)})
	}
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	cfg := fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q, start = %q }
`, fake.URL(), abs, scenario.Epoch.Format(time.RFC3339))
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte(cfg), 0o644)
	t.Setenv("HEROKU_API_KEY", "tok")
	return fake, p
}

func TestBacktestAndExport(t *testing.T) {
	fake, cfg := historyFake(t)
	code, out, errOut := runMain(t, context.Background(), "backtest", "--config", cfg, "--app", "crates-io", "--since", "5000d", "--format", "json")
	if code != 0 {
		t.Fatalf("backtest exit %d: %s", code, errOut)
	}
	var v42 map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if o["version"] == float64(42) {
			v42 = o
		}
	}
	if v42 == nil || v42["verdict"] != "rollback" || v42["rollback_to"] != float64(41) {
		t.Fatalf("v42: %v\n%s", v42, out)
	}
	for _, r := range fake.Requests() {
		if r.Method != "GET" {
			t.Fatalf("backtest changed Heroku: %s %s", r.Method, r.Path)
		}
	}

	dir := filepath.Join(t.TempDir(), "exported")
	if code, _, errOut := runMain(t, context.Background(), "export", "--config", cfg, "--app", "crates-io", "--release", "42", "--out", dir); code != 0 {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	code, out, errOut = runMain(t, context.Background(), "replay", dir)
	if code != 0 || !strings.Contains(out, "rolled back v42 to v41") {
		t.Fatalf("replay of the export: exit %d\n%s\n%s", code, out, errOut)
	}
	// The export made a test of (an [expect] added): exporting again
	// keeps it unless told to replace it.
	toml := filepath.Join(dir, "scenario.toml")
	f, _ := os.OpenFile(toml, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprint(f, "\n[expect]\nverdict = \"rollback\"\nrelease = 42\n")
	f.Close()
	before, _ := os.ReadFile(toml)
	if code, _, errOut := runMain(t, context.Background(), "export", "crates-io", "--config", cfg, "--release", "42", "--out", dir); code != 2 || !strings.Contains(errOut, "holds a scenario already") {
		t.Fatalf("export over a scenario: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(toml); string(after) != string(before) {
		t.Fatal("export over a scenario changed it")
	}
	if code, _, errOut := runMain(t, context.Background(), "export", "crates-io", "--config", cfg, "--release", "42", "--out", dir, "--force"); code != 0 {
		t.Fatalf("export --force: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(toml); strings.Contains(string(after), "[expect]") {
		t.Fatal("export --force kept the old scenario")
	}
	if code, _, errOut := runMain(t, context.Background(), "backtest", "--config", cfg); code != 2 || !strings.Contains(errOut, "which app? name it: relwatch backtest APP, -a APP") {
		t.Fatalf("no --app: %d %q", code, errOut)
	}
}

func TestCheckChats(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	sl := notifytest.NewSlack()
	defer sl.Stop()
	zu := notifytest.NewZulip("bot@zulip.example", "zkey", "t-crates-io")
	defer zu.Close()
	cfg := fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[notifiers]]
type = "slack"
channel = "C0DEPLOY"
api_url = %q
[[notifiers]]
type = "zulip"
stream = "t-crates-io"
site = %q
`, fake.URL(), demoSeries(t), sl.GetAPIURL(), zu.URL)
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte(cfg), 0o644)
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example")
	t.Setenv("ZULIP_API_KEY", "zkey")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
	if code != 0 || strings.Count(out, "credentials ok") != 2 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if zu.Calls()[0].Path != "/api/v1/users/me" || !strings.Contains(out, "in channel C0DEPLOY") {
		t.Fatalf("check: zulip %+v\n%s", zu.Calls(), out)
	}
	for _, c := range sl.Calls() {
		if c.Path != "/conversations.history" {
			t.Fatalf("check called Slack's %s: it reads, never posts", c.Path)
		}
	}
	for _, c := range zu.Calls() {
		if c.Path == "/api/v1/messages" || c.Method == http.MethodPatch {
			t.Fatalf("check posted to Zulip: %+v", c)
		}
	}
	if zu.Queues() != 0 {
		t.Errorf("check left %d Zulip event queue(s) registered", zu.Queues())
	}
	// Zulip's default: a message may be edited for 10 minutes; a watch
	// lasts 20.
	if !strings.Contains(out, "note: the organization lets a message be edited for 10m0s and a watch lasts up to 20m0s") {
		t.Errorf("check does not say the outcome edits will be refused:\n%s", out)
	}
	zu.SetEditLimit(0)
	if code, out, _ := runMain(t, context.Background(), "check", "--config", p); code != 0 || strings.Contains(out, "edited for") {
		t.Errorf("with no time limit for editing: exit %d\n%s", code, out)
	}
	// A bot nobody invited to the channel cannot post there: check fails
	// and says how to mend it.
	sl.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/conversations.history" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":false,"error":"not_in_channel"}`)
		return true
	})
	if code, out, _ := runMain(t, context.Background(), "check", "--config", p); code != 1 || !strings.Contains(out, "is not in channel C0DEPLOY, so it cannot post there: invite it") {
		t.Errorf("a bot not in the channel: exit %d, want 1\n%s", code, out)
	}
	sl.FailWith(nil)
	t.Setenv("ZULIP_API_KEY", "wrong")
	t.Setenv("SLACK_BOT_TOKEN", "")
	code, out, _ = runMain(t, context.Background(), "check", "--config", p)
	if code != 2 || !strings.Contains(out, "SLACK_BOT_TOKEN is not set") || !strings.Contains(out, "401 UNAUTHORIZED") || strings.Contains(out, "wrong") {
		t.Fatalf("bad credentials: exit %d\n%s", code, out)
	}
	// Only a key the chat refuses: what check reaches failed, exit 1.
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	if code, out, _ = runMain(t, context.Background(), "check", "--config", p); code != 1 || !strings.Contains(out, "401 UNAUTHORIZED") {
		t.Fatalf("a refused Zulip key: exit %d, want 1\n%s", code, out)
	}
}

func TestPauseReplayResume(t *testing.T) {
	state := freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	if code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--for", "30m", "--reason", "migration", "--by", "ana"); code != 0 || !strings.Contains(out, "ana paused automatic rollback of crates-io until ") || !strings.Contains(out, ": migration") {
		t.Fatalf("pause: %d %s %s", code, out, errOut)
	}
	replayJSON := func() map[string]any {
		code, out, errOut := runMain(t, ctx, "replay", "--format", "json", "--state", state, demoDir)
		if code != 0 {
			t.Fatalf("replay: %d %s", code, errOut)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	paused := replayJSON()
	if rbs := paused["rollbacks"].([]any); len(rbs) != 0 {
		t.Fatalf("rolled back while paused: %v", rbs)
	}
	said := false
	for _, n := range paused["notifications"].([]any) {
		m := n.(map[string]any)
		if m["kind"] == "anomaly" && strings.Contains(m["text"].(string), "paused by ana") && strings.Contains(m["text"].(string), "Would roll back to v41, but automatic rollback is paused") {
			said = true
		}
	}
	if !said {
		t.Fatalf("no anomaly saying the app is paused: %v", paused["notifications"])
	}
	if code, out, _ := runMain(t, ctx, "resume", "crates-io", "--state", state); code != 0 || !strings.Contains(out, "resumed") {
		t.Fatalf("resume: %d %s", code, out)
	}
	resumed := replayJSON()
	if rbs := resumed["rollbacks"].([]any); len(rbs) != 1 {
		t.Fatalf("after resume: rollbacks %v", rbs)
	}
}

func TestOverrideCommands(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	if code, out, _ := runMain(t, ctx, "approve", "crates-io", "v42", "--by", "ana"); code != 0 || !strings.Contains(out, "ana approved crates-io v42") {
		t.Fatalf("approve: %d %s", code, out)
	}
	if code, _, errOut := runMain(t, ctx, "approve", "crates-io", "forty-two"); code != 2 || !strings.Contains(errOut, `"forty-two" is not a release`) {
		t.Fatalf("approve with a bad version: %d %s", code, errOut)
	}
	stdin = strings.NewReader("y\n")
	defer func() { stdin = os.Stdin }()
	if code, _, errOut := runMain(t, ctx, "rollback", "crates-io"); code != 2 || !strings.Contains(errOut, "add --yes") {
		t.Fatalf("rollback without a terminal or --yes: %d %s", code, errOut)
	}
	if code, out, _ := runMain(t, ctx, "rollback", "crates-io", "--to", "v41", "--yes", "--reason", "downloads broken", "--by", "ana"); code != 0 || !strings.Contains(out, "ana asked to roll crates-io back to v41: downloads broken") {
		t.Fatalf("rollback --yes: %d %s", code, out)
	}
	code, out, _ := runMain(t, ctx, "status", "crates-io", "--format", "json")
	if code != 0 {
		t.Fatalf("status: %d", code)
	}
	var st []map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("status JSON %v: %s", err, out)
	}
	pending := st[0]["pending_requests"].([]any)
	if len(pending) != 2 || pending[1].(map[string]any)["kind"] != "rollback" || pending[1].(map[string]any)["to"] != float64(41) {
		t.Fatalf("pending requests %v", pending)
	}
	if code, out, _ := runMain(t, ctx, "status"); code != 0 || !strings.Contains(out, "pending rollback by ana") {
		t.Fatalf("status text: %d\n%s", code, out)
	}
	// --confirm APP, as the Heroku CLI takes it (issue 17): the app's name
	// again; another name does nothing.
	if code, _, errOut := runMain(t, ctx, "rollback", "crates-io", "--confirm", "crates-iox"); code != 2 || !strings.Contains(errOut, "--confirm crates-iox does not match crates-io") {
		t.Fatalf("rollback --confirm of another app: %d %s", code, errOut)
	}
	if code, out, _ := runMain(t, ctx, "rollback", "crates-io", "--confirm", "crates-io", "--by", "bo"); code != 0 || !strings.Contains(out, "bo asked to roll crates-io back") {
		t.Fatalf("rollback --confirm crates-io: %d %s", code, out)
	}
	// In capitals it is the app, as APP in capitals is.
	if code, out, errOut := runMain(t, ctx, "rollback", "crates-io", "--confirm", "Crates-IO", "--by", "cy"); code != 0 || !strings.Contains(out, "cy asked to roll crates-io back") {
		t.Fatalf("rollback --confirm Crates-IO: %d %s%s", code, out, errOut)
	}
}

func TestPromote(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io-staging", herokusim.ReleaseSpec{Version: 118, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote crates-io-staging v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	broken := false
	staging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken { // a redirect cargo cannot follow (no DNS lookup: loopback only)
			w.Header().Set("Location", "static.crates.iocrates/serde-1.0.0.crate")
			w.WriteHeader(http.StatusFound)
			return
		}
		fmt.Fprint(w, "crate bytes")
	}))
	defer staging.Close()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = "x.csv" }
[[notifiers]]
type = "console"
`, fake.URL())), 0o644)
	t.Setenv("HEROKU_API_KEY", "tok")
	promote := func() (int, string, string) {
		return runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "crates-io", "--from", "crates-io-staging",
			"--probe", staging.URL+"/api/v1/crates/serde/1.0.0/download")
	}

	broken = true
	code, out, errOut := promote()
	if code != 1 || !strings.Contains(errOut, "the staging download probe failed") || !strings.Contains(out, "[promotion.refused]") {
		t.Fatalf("broken staging: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range fake.Requests() {
		if r.Method == "POST" {
			t.Fatalf("promoted anyway: %s %s", r.Method, r.Path)
		}
	}

	broken = false
	code, out, errOut = promote()
	if code != 0 || !strings.Contains(out, "[promotion.started]") || !strings.Contains(out, "crates-io: succeeded as v42 (Promote crates-io-staging v118); relwatch watches it") {
		t.Fatalf("healthy staging: exit %d\n%s\n%s", code, out, errOut)
	}
	// The worker is told to poll the target fast; it then watches the new
	// release as usual.
	db, err := store.Open(context.Background(), os.Getenv("RELWATCH_STATE"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if reqs, err := db.PendingRequests(context.Background(), "crates-io"); err != nil || len(reqs) != 1 || reqs[0].Kind != store.KindPromote {
		t.Fatalf("requests for the worker: %+v, %v; want one promote", reqs, err)
	}
	plan := watcher.PlanWatch(toHeroku(fake.Releases("crates-io")), 0, 41, time.Now(), 20*time.Minute)
	if plan.Kind != watcher.PlanOpen || plan.Release.Version != 42 {
		t.Fatalf("plan for the promoted release: %+v", plan)
	}

	// A target the configuration does not list is promoted, and not said
	// to be watched.
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io-staging"
route = "download"
metrics = { source = "series", path = "x.csv" }
[[notifiers]]
type = "console"
`, fake.URL())), 0o644)
	code, out, errOut = promote()
	if code != 0 || !strings.Contains(out, "crates-io: succeeded as v43 (Promote crates-io-staging v118); relwatch does not watch it (not in the configuration)") {
		t.Fatalf("promotion to an app relwatch does not watch: exit %d\n%s\n%s", code, out, errOut)
	}
}

func toHeroku(rs []herokusim.Release) []heroku.Release {
	var out []heroku.Release
	for _, r := range rs {
		out = append(out, heroku.Release{Version: r.Version, Description: r.Description, Status: r.Status, Current: r.Current, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt})
	}
	return out
}

// A backtest whose every release failed to be judged (the metrics source
// down) exited 0, as if relwatch would have done nothing; a --format it
// does not know printed text.
func TestBacktestThatJudgedNothingFails(t *testing.T) {
	fake, _ := historyFake(t)
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"prometheus\", url = \"http://127.0.0.1:1\" }\n", fake.URL()))
	code, out, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--since", "5000d")
	if code != 1 || !strings.Contains(errOut, "could be judged") || !strings.Contains(out, " error\n") || !strings.Contains(out, " UTC  ") {
		t.Fatalf("backtest with its source down: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runMain(t, context.Background(), "backtest", "crates-io", "--config", cfg, "--format", "xml"); code != 2 || !strings.Contains(errOut, `--format: "xml" is not text or json`) {
		t.Fatalf("--format xml: exit %d, %q", code, errOut)
	}
}

// The app-level token slash commands need, checked as the worker uses it:
// the bot token pasted into SLACK_APP_TOKEN too (Slack answers
// apps.connections.open with not_allowed_token_type, which slack-go's
// Socket Mode client retries for ever, silently) passed check, and the
// commands and buttons then never answered. check asks Slack for a
// Socket Mode connection (without connecting) and fails naming the
// variable, never the token.
func TestCheckSlackAppToken(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	sl := notifytest.NewSlack()
	defer sl.Stop()
	sl.AppToken = "xapp-1-good"
	p := writeConfig(t, fmt.Sprintf(`
worker_app = "relwatch"
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[notifiers]]
type = "slack"
channel = "C0DEPLOY"
api_url = %q
commands = true
allowed_users = ["U1"]
`, fake.URL(), demoSeries(t), sl.GetAPIURL()))
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-bot-secret")
	for _, tc := range []struct {
		token string
		code  int
		want  string
	}{
		{"xoxb-bot-secret", 1, "FAIL notifiers[0].commands: SLACK_APP_TOKEN: slack: refused for Socket Mode (not_allowed_token_type): it must be the app's app-level token (xapp-..., with connections:write), not the bot token"},
		{"xapp-wrong-secret", 1, "FAIL notifiers[0].commands: SLACK_APP_TOKEN: slack: refused for Socket Mode (invalid_auth)"},
		{"xapp-1-good", 0, "notifiers[0].commands: SLACK_APP_TOKEN ok, Socket Mode opens"},
	} {
		t.Setenv("SLACK_APP_TOKEN", tc.token)
		code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
		if code != tc.code || !strings.Contains(out, tc.want) || strings.Contains(out+errOut, "secret") {
			t.Errorf("SLACK_APP_TOKEN %s: exit %d, want %d and %q, never the token\n%s%s", tc.token, code, tc.code, tc.want, out, errOut)
		}
	}
}
