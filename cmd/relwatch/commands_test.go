package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// demoSeries is the absolute path of the demo's series.csv.
func demoSeries(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// configureApps points RELWATCH_CONFIG at a configuration that watches
// apps, for the commands that check their APP against it.
func configureApps(t *testing.T, apps ...string) string {
	t.Helper()
	var b strings.Builder
	for _, a := range apps {
		fmt.Fprintf(&b, "[[apps]]\nname = %q\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n", a, demoSeries(t))
	}
	p := filepath.Join(t.TempDir(), "relwatch.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RELWATCH_CONFIG", p)
	return p
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The example config.toml deploys as it is (the Heroku Button): it must
// watch nothing, and say what to do.
func TestExampleConfigWatchesNothing(t *testing.T) {
	example, err := filepath.Abs("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.toml"), raw, 0o644)
	t.Chdir(dir)
	t.Setenv("HEROKU_API_KEY", "tok")
	const want = "no apps configured: edit config.toml (or set RELWATCH_CONFIG)"
	for _, cmd := range []string{"check", "watch"} {
		code, out, errOut := runMain(t, context.Background(), cmd)
		if code != 2 || !strings.Contains(errOut+out, want) { // the worker says it in its log, on stdout
			t.Errorf("%s with the example config: exit %d\nstdout %s\nstderr %s\nwant exit 2 and %q", cmd, code, out, errOut, want)
		}
	}
}

// RELWATCH_CONFIG holds the configuration itself, or a file's path; a
// file's relative paths are relative to the file.
func TestConfigFromTheEnvironment(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("HEROKU_APP_NAME", "my-relwatch")
	text := fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n",
		fake.URL(), demoSeries(t))

	t.Setenv("RELWATCH_CONFIG", text)
	code, out, errOut := runMain(t, context.Background(), "check")
	if code != 0 || !strings.Contains(out, "config $RELWATCH_CONFIG: 1 app(s)") || !strings.Contains(out, "current release v7") {
		t.Fatalf("TOML in RELWATCH_CONFIG: exit %d\n%s\n%s", code, out, errOut)
	}

	// A file elsewhere, naming its series relative to itself.
	dir := t.TempDir()
	raw, _ := os.ReadFile(demoSeries(t))
	os.MkdirAll(filepath.Join(dir, "rec"), 0o755)
	os.WriteFile(filepath.Join(dir, "rec", "series.csv"), raw, 0o644)
	p := filepath.Join(dir, "relwatch.toml")
	os.WriteFile(p, []byte(strings.Replace(text, demoSeries(t), "rec/series.csv", 1)), 0o644)
	t.Setenv("RELWATCH_CONFIG", p)
	code, out, errOut = runMain(t, context.Background(), "check")
	if code != 0 || !strings.Contains(out, "config "+p) {
		t.Fatalf("a path in RELWATCH_CONFIG: exit %d\n%s\n%s", code, out, errOut)
	}

	t.Setenv("RELWATCH_CONFIG", "tick = \"5s\"\n")
	if code, _, errOut := runMain(t, context.Background(), "check"); code != 2 || !strings.Contains(errOut, "no apps configured in $RELWATCH_CONFIG") {
		t.Fatalf("no apps in RELWATCH_CONFIG: exit %d %q", code, errOut)
	}
	t.Setenv("RELWATCH_CONFIG", "tick = \n")
	if code, _, errOut := runMain(t, context.Background(), "check"); code != 2 || !strings.Contains(errOut, "config $RELWATCH_CONFIG: line 1: tick: expected value") {
		t.Fatalf("bad TOML in RELWATCH_CONFIG: exit %d %q", code, errOut)
	}
}

// A path may hold "=" or "[" as TOML does: RELWATCH_CONFIG that names a
// file is that file; one line that names none is read as TOML, and its
// error says so.
func TestConfigPathWithTOMLCharacters(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("HEROKU_APP_NAME", "my-relwatch")
	dir := filepath.Join(t.TempDir(), "d=1", "[x]")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, []byte(fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n",
		fake.URL(), demoSeries(t))), 0o644)
	t.Setenv("RELWATCH_CONFIG", p)
	code, out, errOut := runMain(t, context.Background(), "check")
	if code != 0 || !strings.Contains(out, "config "+p+": 1 app(s)") {
		t.Fatalf("a path with = and [ in RELWATCH_CONFIG: exit %d\n%s\n%s", code, out, errOut)
	}
	missing := filepath.Join(t.TempDir(), "d=1", "c.toml")
	t.Setenv("RELWATCH_CONFIG", missing)
	code, _, errOut = runMain(t, context.Background(), "check")
	if want := fmt.Sprintf("config $RELWATCH_CONFIG: read as TOML, as no file %q exists: line 1: ", missing); code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("a missing path in RELWATCH_CONFIG: exit %d %q\nwant exit 2 and %q", code, errOut, want)
	}
}

// A router-log route the router-log source cannot read is a configuration
// error, named by its key and line, before anything is opened.
func TestConfigRefusesARouteTheRouterLogCannotRead(t *testing.T) {
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("RELWATCH_CONFIG", "[[apps]]\nname = \"crates-io\"\nroute = \"GET /api/{crate}x/download\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n")
	code, _, errOut := runMain(t, context.Background(), "check")
	if want := `line 3: apps[0].route: route "GET /api/{crate}x/download": segment "{crate}x" is neither a literal nor a {name}`; code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d %q\nwant exit 2 and %q", code, errOut, want)
	}
}

// check opens everything watch would: a series file that is not there,
// a query template that does not render, a Prometheus without an address
// fail check as they would stop watch; and check says one verdict.
func TestCheckOpensWhatWatchOpens(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	for _, app := range []string{"crates-io", "docs-rs", "play", "lat"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	}
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PROMETHEUS_URL", "")
	missing := filepath.Join(t.TempDir(), "nope.csv")
	p := writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[apps]]
name = "docs-rs"
route = "download"
metrics = { source = "prometheus" }
[[apps]]
name = "play"
route = "download"
metrics = { source = "prometheus", url = "http://127.0.0.1:1", requests_query = "sum(x{app=\"{{.Ap}}\"})" }
[[apps]]
name = "lat"
route = "download"
metrics = { source = "prometheus", url = "http://127.0.0.1:1", latency_query = "sum by (le) (x{app=\"{{.Ap}}\"})" }
`, fake.URL(), missing))
	code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
	for _, want := range []string{
		"FAIL apps[0].metrics: path: open " + missing + ": no such file or directory",
		"FAIL apps[1].metrics: url: not set, and PROMETHEUS_URL is empty",
		`FAIL apps[2].metrics: requests_query: `,
		`FAIL apps[3].metrics: latency_query: `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != 2 || !strings.Contains(errOut, "4 problem(s)") {
		t.Errorf("exit %d, stderr %q: want 2 (bad configuration, as watch) and the number of problems", code, errOut)
	}
	if regexp.MustCompile(`(?m)(: ok \(|^ok)`).MatchString(out) {
		t.Errorf("check said ok and failed:\n%s", out)
	}
	if t.Failed() {
		t.Fatalf("stdout:\n%s", out)
	}
	// watch stops at the same problems, before it starts.
	code, out, _ = runMain(t, context.Background(), "watch", "--config", p)
	if code != 2 || !strings.Contains(out, "apps[0].metrics: path: open "+missing) {
		t.Fatalf("watch: exit %d %q", code, out)
	}
}

// Event kinds come from notify's one list: override.refused is one; a
// typo is named by its key.
func TestNotifierEventsAreNotifyKinds(t *testing.T) {
	t.Setenv("ZULIP_SITE", "http://127.0.0.1:1")
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example")
	t.Setenv("ZULIP_API_KEY", "zkey")
	cfg := fmt.Sprintf(`
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[notifiers]]
type = "console"
[[notifiers]]
type = "zulip"
stream = "t-crates-io"
events = [%%s]
`, demoSeries(t))
	code, _, errOut := runMain(t, context.Background(), "replay", "--config", writeConfig(t, fmt.Sprintf(cfg, `"override.refused", "watch.started"`)), demoDir)
	if code != 0 {
		t.Fatalf("events = [\"override.refused\"]: exit %d %q", code, errOut)
	}
	code, _, errOut = runMain(t, context.Background(), "check", "--config", writeConfig(t, fmt.Sprintf(cfg, `"watch.started", "rollback.done"`)))
	if code != 2 || !strings.Contains(errOut, `notifiers[1].events[1]: unknown event "rollback.done"`) || !strings.Contains(errOut, "override.refused") {
		t.Fatalf("an unknown event: exit %d %q", code, errOut)
	}
}

// check says where the announcements' `heroku run -a` comes from, and
// what to do when nothing says.
func TestCheckNamesTheWorkerApp(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	base := fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n", fake.URL(), demoSeries(t))
	for _, tc := range []struct{ name, extra, env, want string }{
		{"neither", "", "", "heroku labs:enable runtime-dyno-metadata"},
		{"env", "", "relwatch-env", "`heroku run -a relwatch-env` (from $HEROKU_APP_NAME)"},
		{"config", "worker_app = \"relwatch-cfg\"\n", "relwatch-env", "`heroku run -a relwatch-cfg` (from worker_app in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HEROKU_APP_NAME", tc.env)
			code, out, errOut := runMain(t, context.Background(), "check", "--config", writeConfig(t, tc.extra+base))
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %q in\n%s\n%s", code, tc.want, out, errOut)
			}
		})
	}
}

// pause, resume, approve and rollback refuse an app the configuration does
// not watch: a typo must not pause nothing, silently.
func TestOverridesRefuseAnUnconfiguredApp(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io", "docs-rs")
	ctx := context.Background()
	for _, args := range [][]string{
		{"pause", "crates-iox", "--for", "30m"},
		{"resume", "crates-iox"},
		{"approve", "crates-iox", "v42"},
		{"rollback", "crates-iox", "--yes"},
	} {
		code, out, errOut := runMain(t, ctx, args...)
		if code != 2 || !strings.Contains(errOut, `"crates-iox" is not a configured app`) || !strings.Contains(errOut, "crates-io, docs-rs") || out != "" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
	code, out, _ := runMain(t, ctx, "status", "--format", "json")
	if code != 0 || strings.Contains(out, "crates-iox") {
		t.Fatalf("a refused command left something in the state: %s", out)
	}
}

// rollback without --yes refuses when nobody can answer: stdin is not a
// terminal, even when it is a character device like /dev/null.
func TestRollbackWithoutATerminalNeedsYes(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	stdin = devNull
	defer func() { stdin = os.Stdin }()
	code, out, errOut := runMain(t, context.Background(), "rollback", "crates-io")
	if code != 2 || !strings.Contains(errOut, "add --yes") || strings.Contains(out, "[y/N]") {
		t.Fatalf("rollback < /dev/null: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// The worker logs logfmt on stdout, as Heroku's log tools read it; on a
// dyno without time= (Heroku stamps each line); the error it stops on is
// a logfmt line too, and nothing goes to stderr.
func TestWatchLogsLogfmtOnStdout(t *testing.T) {
	fake := herokusim.New("right")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 1, Description: "Deploy a"})
	cfgPath := watchConfig(t, fake.URL(), time.Now())
	t.Setenv("HEROKU_API_KEY", "wrong-secret")
	for _, dyno := range []string{"worker.1", ""} {
		t.Setenv("DYNO", dyno)
		code, out, errOut := runMain(t, context.Background(), "watch", "--config", cfgPath)
		if code != 1 || errOut != "" {
			t.Fatalf("DYNO=%q: exit %d, stderr %q", dyno, code, errOut)
		}
		var records []map[string]string
		dec := logfmt.NewDecoder(strings.NewReader(out))
		for dec.ScanRecord() {
			r := map[string]string{}
			for dec.ScanKeyval() {
				r[string(dec.Key())] = string(dec.Value())
			}
			records = append(records, r)
		}
		if err := dec.Err(); err != nil || len(records) < 2 {
			t.Fatalf("DYNO=%q: %d records, %v:\n%s", dyno, len(records), err, out)
		}
		for _, r := range records {
			if _, stamped := r["time"]; stamped != (dyno == "") {
				t.Errorf("DYNO=%q: time= present %v in %v", dyno, stamped, r)
			}
			if r["level"] == "" || r["msg"] == "" {
				t.Errorf("DYNO=%q: not a log record: %v", dyno, r)
			}
		}
		last := records[len(records)-1]
		if last["level"] != "FATAL" || !strings.Contains(last["err"], "401 unauthorized") || last["exit"] != "1" {
			t.Errorf("DYNO=%q: the last line %v, want level=FATAL with the error", dyno, last)
		}
	}
}

// watch with an app Heroku does not know says so once, asks less and less
// often (not a WARN every poll), and status shows it.
func TestWatchAnUnknownApp(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	cfgPath := watchConfig(t, fake.URL(), time.Now()) // crates-io, which the fake does not know
	t.Setenv("HEROKU_API_KEY", "tok")
	w := startWatch(cfgPath)
	polls := func() int {
		n := 0
		for _, r := range fake.Requests() {
			if r.Path == "/apps/crates-io/releases" {
				n++
			}
		}
		return n
	}
	// Polls every 200 ms; after the 404 at 0.4 s, 0.8 s, 1.6 s, ...: the
	// fourth comes about 3 s in, where every poll would have made 15.
	start := time.Now()
	for polls() < 4 {
		select {
		case <-w.done:
			t.Fatalf("watch stopped: exit %d\n%s\n%s", w.code, w.out.String(), w.errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	if code := w.stop(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, w.out.String(), w.errOut.String())
	}
	log := w.out.String()
	if n := strings.Count(log, "Heroku does not know the app"); n != 1 || strings.Contains(log, "release poll failed") || elapsed < 2*time.Second {
		t.Fatalf("4 polls in %s, said %d times:\n%s", elapsed, n, log)
	}
	code, status, _ := runMain(t, context.Background(), "status", "crates-io")
	if code != 0 || !strings.Contains(status, "app.unknown") || !strings.Contains(status, "Heroku does not know the app") {
		t.Fatalf("status: exit %d\n%s", code, status)
	}
}

// A stray argument is refused with what the command takes, never ignored
// (issue 17): `check relwatch.toml` used to check ./config.toml instead.
func TestStrayArgumentsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "relwatch.toml"}, `check: takes no arguments, got "relwatch.toml" (a config file goes with --config relwatch.toml)`},
		{[]string{"watch", "relwatch.toml"}, `watch: takes no arguments, got "relwatch.toml" (a config file goes with --config relwatch.toml)`},
		{[]string{"demo", "extra"}, `demo: takes no arguments, got "extra"`},
		{[]string{"version", "now"}, `version: takes no arguments, got "now"`},
		{[]string{"promote", "--pipeline", "p", "--from", "s", "--no-probe", "x"}, `promote: takes no arguments, got "x"`},
		{[]string{"backtest", "--app", "a", "x"}, `backtest: APP x and --app a differ: say one`},
		{[]string{"export", "a", "b", "--release", "4"}, `export: want one APP, got 2 arguments (a b)`},
	} {
		code, out, errOut := runMain(t, context.Background(), tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("relwatch %s: code %d, stdout %q, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
}

// On a dyno, SQLite state is that dyno's own file: a pause written there
// never reaches the worker. Commands whose word the worker must read
// refuse it with the fix; check says so (issue 17).
func TestDynoRefusesStateNoOtherDynoSees(t *testing.T) {
	ctx := context.Background()
	path := freshState(t)
	t.Setenv("RELWATCH_CONFIG", configureApps(t, "crates-io"))
	t.Setenv("DYNO", "run.1234")
	for _, args := range [][]string{
		{"pause", "crates-io", "--for", "30m"},
		{"resume", "crates-io"},
		{"approve", "crates-io", "v42"},
		{"rollback", "crates-io", "--yes"},
	} {
		code, out, errOut := runMain(t, ctx, args...)
		if code != 2 || !strings.Contains(errOut, "is this dyno's own file") || !strings.Contains(errOut, "heroku addons:create heroku-postgresql") {
			t.Errorf("relwatch %s on a dyno with SQLite: code %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	_, out, _ := runMain(t, ctx, "check")
	if !strings.Contains(out, "is this dyno's own file") {
		t.Errorf("check on a dyno with SQLite says nothing of it:\n%s", out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s was written (%v): nothing may be, there", path, err)
	}
}

// Reading commands create no state store; status of an app the state has
// never seen is an error listing what it has (issue 17), unless the
// configuration watches it: then it is not watched yet.
func TestReadingCommandsWriteNothing(t *testing.T) {
	ctx := context.Background()
	path := freshState(t)
	t.Setenv("RELWATCH_CONFIG", configureApps(t, "crates-io"))
	runMain(t, ctx, "check")
	if code, out, errOut := runMain(t, ctx, "status"); code != 0 || !strings.Contains(out, "Nothing recorded yet") {
		t.Errorf("status of no state: code %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runMain(t, ctx, "status", "docs-rs"); code != 2 || !strings.Contains(errOut, "no state for docs-rs") {
		t.Errorf("status APP of no state: code %d, %q", code, errOut)
	}
	if code, out, errOut := runMain(t, ctx, "status", "crates-io"); code != 0 || !strings.Contains(out, "crates-io  -        not watched yet") {
		t.Errorf("status of a configured APP of no state: code %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("check and status created %s (%v)", path, err)
	}
	// An empty database (made for the worker, which has not run yet) is no
	// state either: status and check leave it as it was.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	runMain(t, ctx, "check")
	if code, out, errOut := runMain(t, ctx, "status"); code != 0 || !strings.Contains(out, "Nothing recorded yet") {
		t.Errorf("status of an empty database: code %d, %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("check and status wrote into the empty %s (%v)", path, err)
	}
	os.Remove(path)
	statusState(t, path, 0)
	if code, _, errOut := runMain(t, ctx, "status", "nosuchapp"); code != 2 || !strings.Contains(errOut, "no state for nosuchapp") || !strings.Contains(errOut, "it has crates-io") {
		t.Errorf("status nosuchapp: code %d, stderr %q", code, errOut)
	}
}

// probe --format json gives its duration in milliseconds, as the rest do.
func TestProbeJSONInMilliseconds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("crate")) }))
	defer srv.Close()
	code, out, errOut := runMain(t, context.Background(), "probe", "--format", "json", srv.URL+"/crate")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("probe: code %d, %q %q: %v", code, out, errOut, err)
	}
	if _, ns := got["duration"]; ns {
		t.Errorf("a duration in nanoseconds: %s", out)
	}
	if ms, ok := got["duration_ms"].(float64); !ok || ms <= 0 || ms > 60_000 {
		t.Errorf("duration_ms %v: %s", got["duration_ms"], out)
	}
}

// probe prints no secret of a URL, in text or JSON: not the checked URL's
// password or query, nor a redirect's signed Location, as its error line
// does not.
func TestProbeOutputKeepsNoSecret(t *testing.T) {
	secrets := []string{"probepass123", "qtok-secret", "redirpass99", "sigsecret123"}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, strings.Replace(srv.URL, "http://", "http://u:redirpass99@", 1)+"/b?X-Amz-Signature=sigsecret123", http.StatusFound)
			return
		}
		http.Error(w, "expired", http.StatusForbidden)
	}))
	defer srv.Close()
	target := strings.Replace(srv.URL, "http://", "http://user:probepass123@", 1) + "/a?token=qtok-secret"
	for _, format := range []string{"text", "json"} {
		code, out, errOut := runMain(t, context.Background(), "probe", "--format", format, target)
		if code != 1 || !strings.Contains(out, "X-Amz-Signature=…") || !strings.Contains(errOut, "X-Amz-Signature=… answered 403") {
			t.Errorf("%s: exit %d\n%s\n%s", format, code, out, errOut)
		}
		for _, secret := range secrets {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("%s: the output holds %q:\n%s\n%s", format, secret, out, errOut)
			}
		}
	}
	if code, _, errOut := runMain(t, context.Background(), "probe", "ftp://user:probepass123@host/x"); code != 2 || strings.Contains(errOut, "probepass123") {
		t.Errorf("a URL that is not http(s): exit %d, %q", code, errOut)
	}
}

// Exit codes follow the README's scheme (issue 17, trap 6): a bad --state
// URL, a missing token and a dyno's own SQLite file are bad configuration,
// 2, from every command; check exits 2 for them as watch does, 1 only for
// what it reaches that fails.
func TestExitCodesFollowTheScheme(t *testing.T) {
	ctx := context.Background()
	freshState(t)
	t.Setenv("RELWATCH_CONFIG", configureApps(t, "crates-io"))
	t.Setenv("HEROKU_API_KEY", "")
	for _, args := range [][]string{
		{"check", "--state", "ftp://x"},
		{"status", "--state", "ftp://x"},
		{"pause", "crates-io", "--state", "ftp://x"},
		{"resume", "crates-io", "--state", "ftp://x"},
		{"approve", "crates-io", "v42", "--state", "ftp://x"},
		{"check"}, // no HEROKU_API_KEY
		{"watch"}, // no HEROKU_API_KEY
	} {
		if code, out, errOut := runMain(t, ctx, args...); code != 2 {
			t.Errorf("relwatch %s: exit %d, want 2 (bad configuration):\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// Apps are chosen as the Heroku CLI chooses them (issue 17): the APP
// argument, -a/--app, or $HEROKU_APP. The unconfigured app's refusal names
// the app each form chose; two that differ, or none, are refused.
func TestAppFromTheFlagOrHerokuApp(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io", "docs-rs")
	ctx := context.Background()
	t.Setenv("HEROKU_APP", "")
	refused := `"crates-iox" is not a configured app`
	for _, args := range [][]string{
		{"pause", "-a", "crates-iox", "--for", "30m"},
		{"pause", "--app=crates-iox"},
		{"resume", "--app", "crates-iox"},
		{"approve", "-a", "crates-iox", "v42"},
		{"rollback", "-a", "crates-iox", "--yes"},
	} {
		if code, _, errOut := runMain(t, ctx, args...); code != 2 || !strings.Contains(errOut, refused) {
			t.Errorf("%v: exit %d, stderr %q; want the app from the flag refused", args, code, errOut)
		}
	}
	if code, _, errOut := runMain(t, ctx, "pause", "crates-io", "-a", "docs-rs"); code != 2 || !strings.Contains(errOut, "APP crates-io and --app docs-rs differ") {
		t.Errorf("two apps: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runMain(t, ctx, "resume"); code != 2 || !strings.Contains(errOut, "which app? name it: relwatch resume APP, -a APP, or $HEROKU_APP") {
		t.Errorf("no app: exit %d, stderr %q", code, errOut)
	}
	t.Setenv("HEROKU_APP", "crates-iox")
	for _, args := range [][]string{{"pause"}, {"resume"}, {"approve", "v42"}, {"rollback", "--yes"}} {
		if code, _, errOut := runMain(t, ctx, args...); code != 2 || !strings.Contains(errOut, refused) {
			t.Errorf("%v with HEROKU_APP: exit %d, stderr %q; want the app from $HEROKU_APP refused", args, code, errOut)
		}
	}
	if code, _, errOut := runMain(t, ctx, "status"); code != 2 || !strings.Contains(errOut, "no state for crates-iox") {
		t.Errorf("status with HEROKU_APP: exit %d, stderr %q", code, errOut)
	}
	// The argument comes first: HEROKU_APP is only the default.
	if code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--for", "30m"); code != 0 {
		t.Errorf("pause crates-io with HEROKU_APP set: exit %d %q %q", code, out, errOut)
	}
}

// check says how a release already live at the worker's first start is
// watched: alert only from a router log (it starts empty), with a source
// that keeps history judged against it and free to act (issue 17).
func TestCheckSaysHowAJoinedReleaseIsWatched(t *testing.T) {
	freshState(t)
	t.Setenv("HEROKU_API_KEY", "")
	series := configureApps(t, "crates-io")
	_, out, _ := runMain(t, context.Background(), "check", "--config", series)
	if !strings.Contains(out, "a release already live when the worker starts: may roll back, judged against the series history from before it") {
		t.Errorf("series source:\n%s", out)
	}
	logs := writeConfig(t, "[[apps]]\nname = \"crates-io\"\nroute = \"GET /download\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n")
	_, out, _ = runMain(t, context.Background(), "check", "--config", logs)
	if !strings.Contains(out, "a release already live when the worker starts: alert only (the router log starts empty") {
		t.Errorf("router log source:\n%s", out)
	}
}

// check without the Heroku token: its help says the token is required (it
// is, for watch), and check exits 2 as watch does, having checked the rest
// and named what it skipped on Heroku (before, the help called the
// token optional).
func TestCheckWithoutTokenSaysWhatItSkipped(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	t.Setenv("HEROKU_API_KEY", "")
	code, help, _ := runMain(t, context.Background(), "check", "--help")
	if code != 0 || !strings.Contains(help, "HEROKU_API_KEY (or the variable an app's token_env names) is\nrequired") {
		t.Errorf("check --help does not say the token is required:\n%s", help)
	}
	code, out, errOut := runMain(t, context.Background(), "check")
	if code != 2 || !strings.Contains(out, "FAIL HEROKU_API_KEY is not set") ||
		!strings.Contains(out, "crates-io: Heroku skipped (the app, its releases): no token in $HEROKU_API_KEY") {
		t.Fatalf("check without a token: exit %d\n%s%s", code, out, errOut)
	}
}

// A PostgreSQL state store that takes the connection and never answers
// (a dead server behind a live proxy) held status, pause and a person's
// rollback until the person gave up: each now says, once storeWait has
// passed, that the store did not answer and where it is set.
func TestCommandsGiveUpOnAStoreThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	was := storeWait
	storeWait = 300 * time.Millisecond
	defer func() { storeWait = was }()
	t.Setenv("RELWATCH_CONFIG", configureApps(t, "crates-io"))
	t.Setenv("RELWATCH_STATE", "postgres://relwatch:pw-SECRET-41c2@"+ln.Addr().String()+"/relwatch?sslmode=disable")
	// The test's own bound: without the command's, the answer would be
	// this context's cancellation, not the store's silence.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"status"},
		{"pause", "crates-io", "--for", "30m"},
		{"rollback", "crates-io", "--yes"},
	} {
		code, out, errOut := runMain(t, ctx, args...)
		if code != 1 || !strings.Contains(errOut, "the state store did not answer within 300ms") || !strings.Contains(errOut, "$DATABASE_URL") || strings.Contains(errOut+out, "pw-SECRET-41c2") {
			t.Errorf("relwatch %s against a silent store: code %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// ZULIP_SITE is checked as the file's site is, named by the variable:
// check exits 2 at once, not 1 at the first post.
func TestZulipSiteVariableIsAURL(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("ZULIP_SITE", "127.0.0.1:18401")
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example")
	t.Setenv("ZULIP_API_KEY", "zkey")
	p := writeConfig(t, fmt.Sprintf("worker_app = \"relwatch\"\n[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n[[notifiers]]\ntype = \"zulip\"\nstream = \"s\"\n", fake.URL(), demoSeries(t)))
	code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
	if want := `notifiers[0]: zulip: ZULIP_SITE: "127.0.0.1:18401" is not an absolute http(s) URL like https://rust-lang.zulipchat.com`; code != 2 || !strings.Contains(out+errOut, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, want)
	}
}

// Without a token, check still says how the worker will find an app's
// releases: a log-session app's are pushed by its API events (it said "no
// push" and twelve times the idle cost).
func TestCheckWithoutTokenSaysHowReleasesArePushed(t *testing.T) {
	freshState(t)
	t.Setenv("HEROKU_API_KEY", "")
	cfg := writeConfig(t, "[[apps]]\nname = \"crates-io\"\nroute = \"GET /api/v1/crates/{crate}/{version}/download\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	if code != 2 || !strings.Contains(out, "pushed by API events from a log session") || strings.Contains(out, "no push") {
		t.Fatalf("check without a token: exit %d\n%s%s", code, out, errOut)
	}
}
