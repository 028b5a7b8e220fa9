package config

import (
	"errors"
	"fmt"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// opts gives Parse defaults the way the command does (it passes the
// watcher's and the analysis's; config knows neither).
var opts = Options{Defaults: Policy{
	WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, RestartGrace: 45 * time.Second, SettleGrace: 30 * time.Second,
	AutoRollback: true,
	Thresholds: ResolvedThresholds{Z: 4, MinRequests: 50, ErrorShareIncrease: 0.01, ErrorShareRatio: 2, RepeatShareIncrease: 0.1,
		RepeatShareRatio: 1.5, RateRiseRatio: 1.5, RateCollapseRatio: 0.5, Sustain: 30 * time.Second, MaxWindow: 10 * time.Minute,
		MinCoverage: 0.5, MinBaseline: 30 * time.Second, ProbeFailures: 3, QuickFactor: 3, BurstMargin: 2, MaxErrorShare: 0.05, MaxRepeatShare: 0.7, LatencyRatio: 1.5, LatencyIncrease: 50 * time.Millisecond},
}}

func parse(raw string) (*Config, error) { return Parse([]byte(raw), opts) }

// The example deploys as it is (the Heroku Button): it must parse, and
// watch nothing until someone says what.
func TestExampleConfigWatchesNothing(t *testing.T) {
	cfg, err := Load("../config.toml", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 0 || len(cfg.Notifiers) != 0 || cfg.PollInterval != 5*time.Second || cfg.IdlePollInterval != time.Minute || cfg.RollbackTimeout != 2*time.Minute {
		t.Fatalf("example config resolved to %+v", cfg)
	}
}

// Its commented example, uncommented, is a valid configuration of what
// the comments say.
func TestExampleConfigUncommented(t *testing.T) {
	raw, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		// "#: " marks the example's lines: uncommented, they configure one app.
		if rest, ok := strings.CutPrefix(l, "#: "); ok {
			lines = append(lines, rest)
		}
	}
	cfg, err := Parse([]byte(strings.Join(lines, "\n")), opts)
	if err != nil {
		t.Fatalf("the example, uncommented:\n%s\n%v", strings.Join(lines, "\n"), err)
	}
	if len(cfg.Apps) != 1 || cfg.Apps[0].Name == "" || cfg.Apps[0].Metrics.Source != "routerlog" || len(cfg.Notifiers) != 1 {
		t.Fatalf("the example, uncommented, resolved to %+v", cfg)
	}
}

func TestRelativePathsAreRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "relwatch.toml")
	os.WriteFile(p, []byte(`
[[apps]]
name = "a"
route = "download"
metrics = { source = "series", path = "rec/series.csv" }
[[apps]]
name = "b"
route = "download"
metrics = { source = "series", path = "/abs/series.csv" }
`), 0o644)
	cfg, err := Load(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps[0].Metrics.Path; got != filepath.Join(dir, "rec/series.csv") {
		t.Errorf("relative path resolved to %q", got)
	}
	if got := cfg.Apps[1].Metrics.Path; got != "/abs/series.csv" {
		t.Errorf("absolute path became %q", got)
	}
}

func TestDecodeErrorsSayWhere(t *testing.T) {
	for raw, want := range map[string]string{
		"tick = \"soon\"\n":                   `line 1: tick: "soon" is not a duration`,
		"\n\n[heroku]\napi_url = \n":          `line 4: heroku.api_url: expected value`,
		"[[apps]]\nname = \"a\"\nroute = 3\n": `line 3: apps[0].route: want a string, got an integer`,
	} {
		_, err := parse(raw)
		var de *DecodeError
		if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to start with %q", raw, err, want)
		}
	}
	p := filepath.Join(t.TempDir(), "relwatch.toml")
	os.WriteFile(p, []byte("tick = \"5s\"\nlease_ttl = = 1\n"), 0o644)
	_, err := Load(p, opts)
	if want := "config " + p + ": line 2: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load: err = %v, want it to start with %q", err, want)
	}
}

func TestOverridesAndDefaults(t *testing.T) {
	cfg, err := parse(`
[watch]
watch_for = "5m"
[thresholds]
z = 5.0
[[apps]]
name = "a"
route = "download"
metrics = { source = "series", path = "x.csv" }
[[apps]]
name = "b"
route = "download"
watch_for = "1m"
auto_rollback = false
metrics = { source = "series", path = "x.csv" }
thresholds = { z = 6.0 }
`)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Apps[0], cfg.Apps[1]
	if a.WatchFor != 5*time.Minute || a.Thresholds.Z != 5 || !a.AutoRollback {
		t.Errorf("app a = %+v", a)
	}
	if b.WatchFor != time.Minute || b.Thresholds.Z != 6 || b.AutoRollback || b.Thresholds.MinRequests != 50 {
		t.Errorf("app b = %+v", b)
	}
}

func TestDecodeErrorNamesTheKey(t *testing.T) {
	_, err := parse("tick = \"soon\"\n")
	if err == nil || !strings.Contains(err.Error(), "tick") || !strings.Contains(err.Error(), `"soon" is not a duration`) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorsNameEveryKey(t *testing.T) {
	_, err := parse(`
[heroku]
poll_intervall = "5s"
[thresholds]
z = -1.0
rate_collapse_ratio = 1.5
[[apps]]
name = "a"
metrics = { source = "statsd" }
[[apps]]
name = "a"
route = "download"
metrics = { source = "series" }
[[notifiers]]
type = "pager"
`)
	for _, want := range []string{
		"heroku.poll_intervall: unknown key",
		"thresholds.z: -1 must be positive",
		"thresholds.rate_collapse_ratio: 1.5 must be between 0 and 1",
		"apps[0].route: required",
		`apps[0].metrics.source: unknown source "statsd"`,
		`apps[1].name: "a" is configured twice`,
		`apps[1].metrics.path: required`,
		`notifiers[0].type: unknown notifier "pager"`,
	} {
		if err != nil && strings.Count(err.Error(), "z: -1 must be positive") != 1 {
			t.Errorf("an inherited problem is reported more than once: %v", err)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

func TestSourcesAndProbe(t *testing.T) {
	cfg, err := parse(`
[[apps]]
name = "a"
route = "download"
[apps.metrics]
source = "prometheus"
url = "http://127.0.0.1:9090"
step = "15s"
window = "2m"
latency_query = 'sum by (le) (increase(h_bucket{route="{{.Route}}"}[{{.Step}}]))'
[apps.probe]
url = "https://crates.io/api/v1/crates/serde/1.0.0/download"
[[apps]]
name = "b"
route = "GET /api/v1/crates/{crate}/{version}/download"
metrics = { source = "routerlog", via = "session" }
`)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Apps[0].Probe; p == nil || p.Interval != 10*time.Second || cfg.Apps[0].Metrics.Step.Duration != 15*time.Second || cfg.Apps[0].Metrics.Window.Duration != 2*time.Minute ||
		cfg.Apps[0].Metrics.LatencyQuery != `sum by (le) (increase(h_bucket{route="{{.Route}}"}[{{.Step}}]))` {
		t.Fatalf("app a: %+v", cfg.Apps[0])
	}
	_, err = parse(`
[[apps]]
name = "a"
route = "download"
metrics = { source = "prometheus", step = "1500ms", path = "x.csv" }
probe = { url = "crates.io/download" }
[[apps]]
name = "b"
route = "/x"
metrics = { source = "routerlog", via = "carrier-pigeon", retain = "10m" }
[[apps]]
name = "c"
route = "download"
metrics = { source = "series", path = "x.csv", latency_query = "sum by (le) (h)" }
[[apps]]
name = "d"
route = "download"
metrics = { source = "prometheus", step = "30s", window = "15s" }
`)
	for _, want := range []string{
		"apps[0].metrics.step: 1.5s must be a whole number of seconds",
		`apps[0].metrics: path and start are for source "series"`,
		`apps[0].probe.url: "crates.io/download" is not an absolute http(s) URL`,
		`apps[1].metrics.via: "carrier-pigeon" is not session or drain`,
		"apps[1].metrics.retain: 10m0s is shorter than baseline + watch_for (50m0s)",
		"apps[3].metrics.window: 15s must be a whole number of seconds, at least the step, and twice the scrape interval",
		`apps[2].metrics: url, step, window, timeout, requests_query, errors_query, repeats_query and latency_query are for source "prometheus"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[[apps]]
name = "a"
route = "r"
metrics = { source = "series", path = "p" }`))
	f.Add([]byte(`tick = "5s"
[thresholds]
z = 4.0`))
	f.Add([]byte("[[apps]]\nname = 1"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw, opts)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) && de.Line < 0 {
				t.Fatalf("a decode error at line %d: %v", de.Line, err)
			}
			return
		}
		for i, a := range cfg.Apps {
			if a.Name == "" || a.Route == "" || a.Metrics.Source == "" || a.WatchFor <= 0 || a.Thresholds.Z <= 0 {
				t.Fatalf("apps[%d] accepted incomplete: %+v", i, a)
			}
		}
	})
}

// config knows no other relwatch package: importing it must not pull in
// the watcher, the store and its database drivers.
func TestImportsNoRelwatchPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.HasPrefix(imp.Path.Value, `"github.com/relwatch/relwatch`) {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
	}
}

func TestRetention(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	for _, c := range []struct {
		toml string
		want time.Duration
		err  string
	}{
		{"", 90 * 24 * time.Hour, ""},
		{`retention = "720h"`, 30 * 24 * time.Hour, ""},
		{`retention = "0s"`, 0, ""},
		{`retention = "1h"`, 0, `retention: 1h0m0s is less than a day`},
		{`retention = "-24h"`, 0, `retention: -24h0m0s is less than a day`},
		{`retention = "90d"`, 0, `line 1: retention: "90d" is not a duration: days are written in hours here, like "2160h"`},
	} {
		cfg, err := parse(c.toml + "\n" + app)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err = %v, want %q", c.toml, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.toml, err)
		case c.err == "" && cfg.Retention != c.want:
			t.Errorf("%s: retention %s, want %s", c.toml, cfg.Retention, c.want)
		}
	}
}

func TestIdlePollInterval(t *testing.T) {
	cfg, err := parse("[heroku]\npoll_interval = \"10s\"\nidle_poll_interval = \"2m\"\n")
	if err != nil || cfg.PollInterval != 10*time.Second || cfg.IdlePollInterval != 2*time.Minute {
		t.Fatalf("%+v, %v", cfg, err)
	}
	_, err = parse("[heroku]\npoll_interval = \"10s\"\nidle_poll_interval = \"5s\"\n")
	if err == nil || !strings.Contains(err.Error(), "heroku.idle_poll_interval: 5s is shorter than poll_interval (10s)") {
		t.Fatalf("err = %v", err)
	}
}

// What passed check before (issue 17, trap 3): an unknown key gets the
// nearest known one, a malformed api_url, an app name Heroku would refuse,
// and a router-log route without a method and a path are each named.
func TestValidationCatchesWhatPassedBefore(t *testing.T) {
	_, err := parse(`
tik = "5s"
[heroku]
api_url = "ftp//x"
[[apps]]
name = "Crates IO"
route = "no-method-or-slash"
metrics = { source = "routerlog", via = "session" }
`)
	for _, want := range []string{
		"tik: unknown key (did you mean `tick`?)",
		`heroku.api_url: "ftp//x" is not an http(s) URL`,
		`apps[0].name: "Crates IO" is not a Heroku app name`,
		`apps[0].route: "no-method-or-slash" is not a method and a path`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	if near := nearestKey("zzzzzzzz"); near != "" {
		t.Errorf("nearestKey of nothing like a key = %q", near)
	}
}

// Every problem at once, each with its line, in the file's order, named
// one way (issue 17, trap 3): an unknown key of the second app is
// apps[1].metrics.sourc, as every other problem spells a path; a Slack
// notifier without a channel no longer hides an unknown event; a required
// key that is missing is placed at its table.
func TestEveryProblemWithItsLine(t *testing.T) {
	raw := `tik = "5s"
[heroku]
api_url = "ftp//x"

[[apps]]
name = "crates-io"
route = "GET /download"
[apps.metrics]
source = "routerlog"
via = "session"

[[apps]]
name = "Crates IO"
route = "no-method-or-slash"
[apps.metrics]
source = "routerlog"
via = "session"
sourc = "x"

[[apps]]
name = "docs-rs"
route = "GET /download"
metrics = { source = "routerlog", via = "session", vai = "drain" }

[[notifiers]]
type = "slack"
events = ["anomaly", "rollback.startd"]
`
	_, err := Parse([]byte(raw), Options{Defaults: opts.Defaults, EventKinds: []string{"anomaly", "rollback.started"}})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"line 1: tik: unknown key (did you mean `tick`?)",
		`line 3: heroku.api_url: "ftp//x" is not an http(s) URL`,
		`line 13: apps[1].name: "Crates IO" is not a Heroku app name`,
		`line 14: apps[1].route: "no-method-or-slash" is not a method and a path`,
		"line 18: apps[1].metrics.sourc: unknown key (did you mean `source`?)",
		// A key of an inline table: its app's index, the line of the table.
		"line 23: apps[2].metrics.vai: unknown key (did you mean `via`?)",
		"line 25: notifiers[0].channel: required for slack",
		`line 27: notifiers[0].events[1]: unknown event "rollback.startd"`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d: %q, want it to start %q", i+1, got[i], w)
		}
	}
}

// Several routes (issue 16): routes = [...] leads with its first; route
// and routes together, a route listed twice, max_routes without
// all_routes, all_routes on Prometheus and a named route among the
// control are each named; all_routes takes 50 routes unless told.
func TestRoutes(t *testing.T) {
	cfg, err := parse(`
[[apps]]
name = "crates-io"
routes = ["GET /api/v1/crates/{crate}/{version}/download", "GET /api/v1/crates"]
all_routes = true
metrics = { source = "routerlog", via = "session" }
`)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apps[0]
	if a.Route != "GET /api/v1/crates/{crate}/{version}/download" || len(a.Routes) != 2 || a.Routes[1] != "GET /api/v1/crates" || !a.AllRoutes || a.MaxRoutes != DefaultMaxRoutes {
		t.Fatalf("resolved %+v", a)
	}
	cfg, err = parse("[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n")
	if err != nil || cfg.Apps[0].Route != "download" || len(cfg.Apps[0].Routes) != 1 || cfg.Apps[0].MaxRoutes != 0 {
		t.Fatalf("one route: %+v, %v", cfg, err)
	}
	_, err = parse(`
[[apps]]
name = "a"
route = "download"
routes = ["download"]
metrics = { source = "series", path = "x.csv" }
[[apps]]
name = "b"
routes = ["download", "index", "download"]
control_route = "index"
max_routes = 5
metrics = { source = "series", path = "x.csv" }
[[apps]]
name = "c"
routes = ["download"]
all_routes = true
max_routes = 500
metrics = { source = "prometheus", url = "http://127.0.0.1:9090" }
[[apps]]
name = "d"
routes = ["GET /download", "GET /index"]
control_route = "GET /api"
metrics = { source = "routerlog", via = "session" }
`)
	for _, want := range []string{
		"apps[0].routes: give route (one) or routes (several), not both",
		`apps[3].control_route: "GET /api" with metrics.source = "routerlog": the router log's control is "other"`,
		`apps[1].routes[2]: "download" is listed twice`,
		`apps[1].control_route: "index" is a guarded route itself`,
		"apps[1].max_routes: only with all_routes = true",
		`apps[2].all_routes: needs metrics.source = "routerlog" or "series"`,
		"apps[2].max_routes: 500 is not between 1 and 200",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

// TestRouterRoutesAsTheSourceReadsThem: a router-log route is checked by
// the checker the command passes (the source's own parser), and what it
// refuses is named by its key and line; other sources' routes are not.
func TestRouterRoutesAsTheSourceReadsThem(t *testing.T) {
	o := opts
	o.RouterRoute = func(route string) error {
		if strings.Contains(route, "{}") {
			return errors.New("segment \"{}\" is neither a literal nor a {name}")
		}
		return nil
	}
	_, err := Parse([]byte(`
[[apps]]
name = "a"
route = "GET /api/{crate}/download"
metrics = { source = "routerlog", via = "session" }
[[apps]]
name = "b"
routes = ["GET /ok", "GET /api/{}/download"]
metrics = { source = "routerlog", via = "session" }
[[apps]]
name = "c"
route = "GET /api/{}/download"
metrics = { source = "series", path = "x.csv" }
`), o)
	want := `line 8: apps[1].routes[1]: segment "{}" is neither a literal nor a {name}`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "neither") != 1 {
		t.Fatalf("error %v\nwant only %q", err, want)
	}
}

// The router log's control is "other": every line no guarded route matched.
func TestRouterLogControlIsOther(t *testing.T) {
	cfg, err := parse(`
[[apps]]
name = "d"
routes = ["GET /download", "GET /index"]
control_route = "other"
metrics = { source = "routerlog", via = "session" }
`)
	if err != nil || cfg.Apps[0].ControlRoute != "other" {
		t.Fatalf("control_route = \"other\" with routerlog: %+v, %v", cfg, err)
	}
}

// token_env names the variable of an app's own Heroku token: by default
// HEROKU_API_KEY; a name a shell cannot hold, or one relwatch would not
// redact (config.SecretSuffixes), is refused, named by its key.
func TestTokenEnv(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	for _, c := range []struct {
		line, want, err string
	}{
		{"", "HEROKU_API_KEY", ""},
		{`token_env = "TEAM_B_HEROKU_API_KEY"`, "TEAM_B_HEROKU_API_KEY", ""},
		{`token_env = "DOCS_RS_TOKEN"`, "DOCS_RS_TOKEN", ""},
		{`token_env = "TEAM_B_KEY"`, "", `apps[0].token_env: "TEAM_B_KEY" must end in _API_KEY or _TOKEN`},
		{`token_env = "1_API_KEY"`, "", `apps[0].token_env: "1_API_KEY" is not an environment variable's name`},
		{`token_env = "TEAM B_API_KEY"`, "", `is not an environment variable's name`},
	} {
		cfg, err := parse(app + c.line + "\n")
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err = %v, want %q", c.line, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.line, err)
		case c.err == "" && cfg.Apps[0].TokenEnv != c.want:
			t.Errorf("%s: token_env %q, want %q", c.line, cfg.Apps[0].TokenEnv, c.want)
		}
	}
}

// Every threshold a file may set reaches the resolved thresholds, each to
// its own field: filled one at a time with a value no default has.
func TestThresholdsApplyEveryField(t *testing.T) {
	tt := reflect.TypeOf(Thresholds{})
	for i := range tt.NumField() {
		f := tt.Field(i)
		var th Thresholds
		p := reflect.New(f.Type.Elem()) // *float64, *int64, *int, *Duration
		want := any(nil)
		switch v := p.Interface().(type) {
		case *float64:
			*v, want = 1234.5, 1234.5
		case *int64:
			*v, want = int64(1234), int64(1234)
		case *int:
			*v, want = 1234, 1234
		case *Duration:
			v.Duration, want = 1234*time.Second, 1234*time.Second
		default:
			t.Fatalf("%s: a type this test cannot fill; teach it", f.Name)
		}
		reflect.ValueOf(&th).Elem().Field(i).Set(p)
		got := reflect.ValueOf(th.Apply(ResolvedThresholds{}))
		dst := got.FieldByName(f.Name)
		if !dst.IsValid() || !reflect.DeepEqual(dst.Interface(), want) {
			t.Errorf("%s (%s): resolved to %v, want %v", f.Name, f.Tag.Get("toml"), dst, want)
		}
		for j := range got.NumField() {
			if got.Type().Field(j).Name != f.Name && !got.Field(j).IsZero() {
				t.Errorf("%s also set %s", f.Name, got.Type().Field(j).Name)
			}
		}
	}
}

// TestOneNotifierTakesTheCommands: Slack hands a command to any of the
// connections one app token opens, so two notifiers that take commands
// would judge it by either's allowed users; the second is refused.
func TestOneNotifierTakesTheCommands(t *testing.T) {
	const slack = "[[notifiers]]\ntype = \"slack\"\nchannel = \"C1\"\ncommands = true\nallowed_users = [\"U1\"]\n"
	raw := "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	if _, err := parse(raw + slack); err != nil {
		t.Fatalf("one notifier with commands: %v", err)
	}
	_, err := parse(raw + slack + strings.NewReplacer("U1", "U2", "C1", "C2").Replace(slack))
	if want := "line 13: notifiers[1].commands: notifiers[0] takes the commands already"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v\nwant %q", err, want)
	}
}

// Announcements are remembered by chat and destination: two notifiers
// posting to one Slack channel, or one Zulip stream's topic, would share
// their threads; the second is refused. Other destinations are fine.
func TestOneNotifierADestination(t *testing.T) {
	raw := "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	slack := func(ch string) string { return "[[notifiers]]\ntype = \"slack\"\nchannel = \"" + ch + "\"\n" }
	zulip := func(stream, topic string) string {
		return "[[notifiers]]\ntype = \"zulip\"\nstream = \"" + stream + "\"\ntopic = \"" + topic + "\"\n"
	}
	if _, err := parse(raw + slack("C1") + slack("C2") + zulip("t-crates-io", "deployments") + zulip("t-crates-io", "incidents")); err != nil {
		t.Fatalf("four destinations: %v", err)
	}
	for name, tc := range map[string]struct{ text, want string }{
		"one channel": {slack("C1") + slack("C1"), `notifiers[1]: notifiers[0] posts to slack C1 already`},
		"one topic":   {zulip("t-crates-io", "") + zulip("t-crates-io", "deployments"), `notifiers[1]: notifiers[0] posts to zulip t-crates-io/deployments already`},
	} {
		if _, err := parse(raw + tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", name, err, tc.want)
		}
	}
}

// A bad [watch] default is named where it is written, once: not as a key
// of each app that inherits it, at the app's line.
func TestWatchDefaultsNamedWhereWritten(t *testing.T) {
	raw := `[watch]
watch_for = "-1m"
restart_grace = "-5s"

[[apps]]
name = "crates-io"
route = "GET /download"
metrics = { source = "routerlog", via = "session" }

[[apps]]
name = "docs-rs"
route = "GET /download"
metrics = { source = "routerlog", via = "session" }
`
	_, err := parse(raw)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"line 2: watch.watch_for: -1m0s must be positive",
		"line 3: watch.restart_grace: -5s is negative",
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("problem %d: %q, want %q", i+1, got[i], w)
		}
	}
	// An app's own bad value is still its own.
	_, err = parse(`[[apps]]
name = "crates-io"
route = "GET /download"
baseline = "0s"
metrics = { source = "routerlog", via = "session" }
`)
	if err == nil || err.Error() != "line 4: apps[0].baseline: 0s must be positive" {
		t.Errorf("err = %v", err)
	}
}

// A baseline shorter than thresholds.min_baseline can never be used (the
// baseline holds at most baseline's seconds of traffic): every release
// would be judged by the absolute guardrails alone. Refused, at the key
// that makes it so.
func TestBaselineAtLeastMinBaseline(t *testing.T) {
	_, err := parse(`[[apps]]
name = "crates-io"
route = "GET /download"
baseline = "20s"
metrics = { source = "routerlog", via = "session" }
`)
	if err == nil || !strings.HasPrefix(err.Error(), "line 4: apps[0].baseline: 20s is shorter than thresholds.min_baseline (30s)") {
		t.Errorf("err = %v", err)
	}
	_, err = parse(`[thresholds]
min_baseline = "1h"

[[apps]]
name = "crates-io"
route = "GET /download"
metrics = { source = "routerlog", via = "session" }
`)
	if err == nil || !strings.HasPrefix(err.Error(), "line 4: apps[0].baseline: 30m0s is shorter than thresholds.min_baseline (1h0m0s)") {
		t.Errorf("err = %v", err)
	}
	if _, err := parse(`[[apps]]
name = "crates-io"
route = "GET /download"
baseline = "30s"
metrics = { source = "routerlog", via = "session" }
`); err != nil {
		t.Errorf("a baseline of min_baseline: %v", err)
	}
}

// A known key written under the wrong table (after [apps.metrics], an app's
// watch_for is the metrics table's) is not hinted at as itself ("did you
// mean `watch_for`?"): the hint says the tables that take it.
func TestKeyInTheWrongTable(t *testing.T) {
	_, err := parse(`[[apps]]
name = "crates-io"
route = "GET /download"
[apps.metrics]
source = "routerlog"
via = "session"
watch_for = "30m"
`)
	want := "line 7: apps[0].metrics.watch_for: unknown key (`watch_for` is a key of [watch] and [[apps]], not of this table)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant   %s", err, want)
	}
	_, err = parse("[heroku]\ntick = \"5s\"\n")
	want = "line 2: heroku.tick: unknown key (`tick` is a key of the top level, not of this table)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant   %s", err, want)
	}
}

// A window shorter than the step the source would use is refused here,
// with its line, also when the step is the source's default (before, it was
// refused only when the source was built, without a line).
func TestWindowAtLeastTheDefaultStep(t *testing.T) {
	raw := `[[apps]]
name = "crates-io"
route = "download"
[apps.metrics]
source = "prometheus"
url = "http://127.0.0.1:9090"
window = "10s"
`
	o := opts
	o.PrometheusStep = 15 * time.Second
	_, err := Parse([]byte(raw), o)
	want := "line 7: apps[0].metrics.window: 10s must be a whole number of seconds, at least the step, and twice the scrape interval (the step is 15s, the default)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	if _, err := Parse([]byte(strings.Replace(raw, `"10s"`, `"30s"`, 1)), o); err != nil {
		t.Fatalf("a window of two default steps: %v", err)
	}
	// The step the file sets is named as the file's; with no default step
	// known (a caller of Parse that passes none) no step is named (before,
	// "the step is 0s, the default").
	_, err = Parse([]byte(raw+"step = \"20s\"\n"), o)
	want = "line 7: apps[0].metrics.window: 10s must be a whole number of seconds, at least the step, and twice the scrape interval (the step is 20s)"
	if err == nil || err.Error() != want {
		t.Errorf("a step of the file's: %v\nwant %s", err, want)
	}
	_, err = Parse([]byte(strings.Replace(raw, `"10s"`, `"1.5s"`, 1)), opts)
	want = "line 7: apps[0].metrics.window: 1.5s must be a whole number of seconds, at least the step, and twice the scrape interval"
	if err == nil || err.Error() != want {
		t.Errorf("no default step: %v\nwant %s", err, want)
	}
}

// worker_app is a Heroku app name by the same rule as the apps' names,
// named with its line (before, "My Relwatch" was taken, and quoted
// in every announcement as `heroku run -a My Relwatch`).
func TestWorkerAppIsAHerokuAppName(t *testing.T) {
	_, err := parse("tick = \"5s\"\nworker_app = \"My Relwatch\"\n")
	want := `line 2: worker_app: "My Relwatch" is not a Heroku app name (lowercase letters, digits and dashes, starting with a letter, at most 30)`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	cfg, err := parse(`worker_app = "my-relwatch"`)
	if err != nil || cfg.WorkerApp != "my-relwatch" {
		t.Fatalf("a valid worker_app: %+v, %v", cfg, err)
	}
}

// allowed_users without commands = true is refused, with its line, as
// max_routes without all_routes is (before, it was silently
// ignored).
func TestAllowedUsersOnlyWithCommands(t *testing.T) {
	_, err := parse("[[notifiers]]\ntype = \"slack\"\nchannel = \"C1\"\nallowed_users = [\"U1\"]\n")
	want := "line 4: notifiers[0].allowed_users: only with commands = true (without it, no one's commands are taken)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// A baseline, a watch or a router log's retain past its limit is refused
// at its key, in [watch] and in an app, naming the limit: the router log
// is sized from them at start ("87600h" asked for terabytes).
func TestWatchAndRetainBounded(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"GET /download\"\n"
	for _, c := range []struct{ toml, want string }{
		{"[watch]\nbaseline = \"87600h\"\n" + app + "metrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 2: watch.baseline: 87600h0m0s is past the limit of 24h0m0s"},
		{"[watch]\nwatch_for = \"25h\"\n" + app + "metrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 2: watch.watch_for: 25h0m0s is past the limit of 24h0m0s"},
		{app + "baseline = \"48h\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 4: apps[0].baseline: 48h0m0s is past the limit of 24h0m0s"},
		{app + "watch_for = \"720h\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 4: apps[0].watch_for: 720h0m0s is past the limit of 24h0m0s"},
		{app + "metrics = { source = \"routerlog\", via = \"session\", retain = \"8760h\" }\n",
			"line 4: apps[0].metrics.retain: 8760h0m0s is past the limit of 96h0m0s (96 bytes a second of each route: 33 MB a route at the limit)"},
	} {
		_, err := parse(c.toml)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %v\nwant it to start with %q", c.toml, err, c.want)
		}
	}
	// At the limits, with the default retain (twice both).
	if _, err := parse("[watch]\nbaseline = \"24h\"\nwatch_for = \"24h\"\n" + app + "metrics = { source = \"routerlog\", via = \"session\", retain = \"96h\" }\n"); err != nil {
		t.Errorf("at the limits: %v", err)
	}
}

// Each key within its limit, an app's watch could still outgrow a dyno:
// every route all_routes may guard, kept for the retain in the router log,
// and each judged route's seconds since the release in the watcher,
// whatever the source. The total is refused at the app's metrics, naming
// what to lower.
func TestAppMemoryBounded(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"GET /download\"\n"
	routes := func(n int) string {
		var rs []string
		for i := range n {
			rs = append(rs, fmt.Sprintf("%q", fmt.Sprintf("GET /r%d", i)))
		}
		return "[[apps]]\nname = \"a\"\nroutes = [" + strings.Join(rs, ", ") + "]\n"
	}
	const day = "[watch]\nbaseline = \"24h\"\nwatch_for = \"24h\"\n"
	for _, c := range []struct{ toml, want string }{
		{app + "all_routes = true\nmax_routes = 200\nmetrics = { source = \"routerlog\", via = \"session\", retain = \"96h\" }\n",
			"line 6: apps[0].metrics: 202 routes kept for 96h0m0s in the router log (96 bytes a route-second) and 200 judged for watch_for 20m0s (168 bytes a route-second) need about 6742 MB, past the 256 MB an app may hold: lower metrics.retain, or max_routes"},
		{"[watch]\nbaseline = \"24h\"\n" + app + "all_routes = true\nmetrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 7: apps[0].metrics: 52 routes kept for 48h40m0s in the router log (96 bytes a route-second) and 50 judged for watch_for 20m0s (168 bytes a route-second) need about 884 MB, past the 256 MB an app may hold: lower baseline and watch_for (retain is twice their sum), or max_routes"},
		// The router log alone would fit (7 routes for 96 h: 232 MB); the
		// watcher's day of each of the 6 takes it past.
		{day + routes(6) + "metrics = { source = \"routerlog\", via = \"session\" }\n",
			"line 7: apps[0].metrics: 7 routes kept for 96h0m0s in the router log (96 bytes a route-second) and 6 judged for watch_for 24h0m0s (168 bytes a route-second) need about 319 MB, past the 256 MB an app may hold: lower baseline and watch_for (retain is twice their sum), or max_routes"},
		// Prometheus keeps nothing of its own; the watcher does.
		{day + routes(18) + "metrics = { source = \"prometheus\", url = \"http://127.0.0.1:9090\" }\n",
			"line 7: apps[0].metrics: 18 routes judged for watch_for 24h0m0s need about 261 MB (168 bytes a route-second since the release), past the 256 MB an app may hold: lower watch_for, or max_routes"},
	} {
		_, err := parse(c.toml)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v\nwant %q", c.toml, err, c.want)
		}
	}
	for _, ok := range []string{
		day + routes(4) + "metrics = { source = \"routerlog\", via = \"session\" }\n",
		day + routes(17) + "metrics = { source = \"prometheus\", url = \"http://127.0.0.1:9090\" }\n",
		// The defaults with every route, and one route for the longest retain.
		app + "all_routes = true\nmax_routes = 200\nmetrics = { source = \"routerlog\", via = \"session\" }\n",
		app + "metrics = { source = \"routerlog\", via = \"session\", retain = \"96h\" }\n",
	} {
		if _, err := parse(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// An infinite threshold is never crossed: its signal would be off while
// the file reads as though it were on. Refused at its key (TOML writes
// inf and +inf).
func TestThresholdsFinite(t *testing.T) {
	for _, key := range []string{"z", "error_share_increase", "repeat_share_increase", "error_share_ratio", "repeat_share_ratio",
		"rate_rise_ratio", "quick_factor", "burst_margin", "latency_ratio"} {
		for _, v := range []string{"inf", "+inf"} {
			_, err := parse("[thresholds]\n" + key + " = " + v + "\n")
			if want := "line 2: thresholds." + key + ": +Inf is not a finite number"; err == nil || err.Error() != want {
				t.Errorf("%s = %s: err = %v, want %q", key, v, err, want)
			}
			_, err = parse("[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n[apps.thresholds]\n" + key + " = " + v + "\n")
			if want := "line 6: apps[0].thresholds." + key + ": +Inf is not a finite number"; err == nil || err.Error() != want {
				t.Errorf("an app's %s = %s: err = %v, want %q", key, v, err, want)
			}
		}
	}
}

// A grace as long as the watch would hold its signals back until the watch
// ends: refused, naming both keys, at the key that makes it so (and once,
// at [watch], when an app inherits it).
func TestGraceShorterThanTheWatch(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	for _, c := range []struct{ toml, want string }{
		{"[watch]\nrestart_grace = \"20m\"\n" + app,
			"line 2: watch.restart_grace: restart_grace (20m0s) must be shorter than watch_for (20m0s): the error share would never be judged"},
		{"[watch]\nsettle_grace = \"1h\"\n" + app,
			"line 2: watch.settle_grace: settle_grace (1h0m0s) must be shorter than watch_for (20m0s): the request rate and the repeat share would never be judged"},
		{"[watch]\nwatch_for = \"40s\"\n" + app,
			"line 2: watch.watch_for: restart_grace (45s) must be shorter than watch_for (40s): the error share would never be judged"},
		{app + "watch_for = \"40s\"\n",
			"line 5: apps[0].watch_for: restart_grace (45s) must be shorter than watch_for (40s): the error share would never be judged"},
		{app + "settle_grace = \"20m\"\nrestart_grace = \"25m\"\n",
			"line 5: apps[0].settle_grace: settle_grace (20m0s) must be shorter than watch_for (20m0s): the request rate and the repeat share would never be judged\n" +
				"line 6: apps[0].restart_grace: restart_grace (25m0s) must be shorter than watch_for (20m0s): the error share would never be judged"},
	} {
		_, err := parse(c.toml)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v\nwant %q", c.toml, err, c.want)
		}
	}
	// An app that lengthens its watch past [watch]'s grace is fine.
	if _, err := parse("[watch]\nwatch_for = \"1m\"\nrestart_grace = \"50s\"\n" + app + "watch_for = \"10m\"\n"); err != nil {
		t.Errorf("%v", err)
	}
}

// A probe's checks run one at a time: a timeout past the interval would
// check a hanging download every timeout, not every interval. Refused at
// the timeout, or at the probe when the timeout is the default.
func TestProbeTimeoutAtMostTheInterval(t *testing.T) {
	const app = "[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n[apps.probe]\nurl = \"https://example.com/x\"\n"
	for _, c := range []struct{ toml, want string }{
		{app + "interval = \"10s\"\ntimeout = \"1m\"\n",
			"line 8: apps[0].probe.timeout: 1m0s is longer than probe.interval (10s): checks run one at a time, so a hanging download would be checked every 1m0s"},
		{app + "interval = \"5s\"\n",
			"line 5: apps[0].probe.timeout: 10s (the default) is longer than probe.interval (5s): checks run one at a time, so a hanging download would be checked every 10s"},
	} {
		_, err := parse(c.toml)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v\nwant %q", c.toml, err, c.want)
		}
	}
	if _, err := parse(app + "interval = \"30s\"\ntimeout = \"30s\"\n"); err != nil {
		t.Errorf("a timeout of the interval: %v", err)
	}
}

// A chat's address is checked as every other address is: a Zulip site or
// a Slack api_url that is no absolute http(s) URL is refused at its key,
// not at the first post with an error naming none.
func TestChatAddressesAreURLs(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[[notifiers]]\ntype = \"zulip\"\nstream = \"s\"\nsite = \"127.0.0.1:18401\"\n",
			`line 4: notifiers[0].site: "127.0.0.1:18401" is not an absolute http(s) URL like https://rust-lang.zulipchat.com`},
		{"[[notifiers]]\ntype = \"zulip\"\nstream = \"s\"\nsite = \"ftp://x\"\n",
			`line 4: notifiers[0].site: "ftp://x" is not an absolute http(s) URL like https://rust-lang.zulipchat.com`},
		{"[[notifiers]]\ntype = \"slack\"\nchannel = \"C1\"\napi_url = \"127.0.0.1:18300\"\n",
			`line 4: notifiers[0].api_url: "127.0.0.1:18300" is not an absolute http(s) URL like https://slack.com/api/`},
		{"[[apps]]\nname = \"a\"\nroute = \"r\"\nmetrics = { source = \"prometheus\", url = \"ftp://u:pw@x\" }\n",
			`line 4: apps[0].metrics.url: not an absolute http(s) URL`},
	} {
		_, err := parse(c.toml)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v\nwant %q", c.toml, err, c.want)
		}
	}
	if _, err := parse("[[notifiers]]\ntype = \"zulip\"\nstream = \"s\"\nsite = \"http://127.0.0.1:18401\"\n[[notifiers]]\ntype = \"slack\"\nchannel = \"C1\"\napi_url = \"http://127.0.0.1:18300/api/\"\n"); err != nil {
		t.Errorf("http addresses: %v", err)
	}
}

// A value of the wrong type is said in TOML's words, at its key as every
// other problem spells it, not in Go's type names.
func TestWrongTypeInTOMLWords(t *testing.T) {
	for raw, want := range map[string]string{
		"[[apps]]\nname = \"a\"\nroute = [\"GET /x\"]\n":                                   "line 3: apps[0].route: want a string, got an array",
		"[[apps]]\nname = \"a\"\n[[apps]]\nname = \"b\"\nall_routes = 1\n":                 "line 5: apps[1].all_routes: want a boolean, got an integer",
		"[[apps]]\nname = \"a\"\nroutes = \"x\"\n":                                         "line 3: apps[0].routes: want an array, got a string",
		"[thresholds]\nz = \"x\"\n":                                                        "line 2: thresholds.z: want a number, got a string",
		"[thresholds]\nmin_requests = 4.5\n":                                               "line 2: thresholds.min_requests: want an integer, got a float",
		"[heroku]\napi_url = {a=1}\n":                                                      "line 2: heroku.api_url: want a string, got a table",
		"[[notifiers]]\ntype = \"slack\"\n[[notifiers]]\ntype = \"zulip\"\nevents = [1]\n": "line 5: notifiers[1].events: want a string, got an integer",
		// The decoder names the key's last line in the file, whichever
		// table of an array holds the wrong value: the line and index are
		// the wrong value's own.
		"[[apps]]\nname = \"a\"\nroute = 3\n[[apps]]\nname = \"b\"\nroute = \"x\"\n":                   "line 3: apps[0].route: want a string, got an integer",
		"[[apps]]\nname = \"a\"\n[[apps]]\nname = 2\n[[apps]]\nname = \"c\"\n[[apps]]\nname = \"d\"\n": "line 4: apps[1].name: want a string, got an integer",
	} {
		_, err := parse(raw)
		if err == nil || err.Error() != want {
			t.Errorf("%q: err = %v, want %q", raw, err, want)
		}
	}
}

// Every problem Load reports names the file, not just the first: each
// line reads (and greps) alone.
func TestLoadNamesTheFileOnEveryLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relwatch.toml")
	os.WriteFile(path, []byte("[[apps]]\nname = \"\"\nroute = \"download\"\nbaseline = \"99h\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"), 0o644)
	_, err := Load(path, opts)
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) < 2 {
		t.Fatalf("want two problems: %v", err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "config "+path+": line ") {
			t.Errorf("a line without its file: %q", l)
		}
	}
}

// A URL refused for its form is quoted with its user and password masked,
// however malformed it is (a probe's URL may carry a password).
func TestRefusedURLsHideTheirPassword(t *testing.T) {
	for _, toml := range []string{
		"[heroku]\napi_url = \"ftp://u:pw-SECRET-1@127.0.0.1/\"\n",
		"[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n[apps.probe]\nurl = \"ftp://u:pw-SECRET-1@127.0.0.1/x\"\n",
		"[[notifiers]]\ntype = \"zulip\"\nstream = \"s\"\nsite = \"u:pw-SECRET-1@127.0.0.1:9\"\n",
	} {
		_, err := parse(toml)
		if err == nil || strings.Contains(err.Error(), "pw-SECRET-1") || !strings.Contains(err.Error(), "xxxxx@") {
			t.Errorf("%s: %v", toml, err)
		}
	}
}

// A bound between two keys, one of them left at its default, is the
// fault of the key the file sets: the problem names that one, at its
// line, and says the other's default, never a key the file does not have.
func TestABoundAgainstADefaultNamesTheKeyWritten(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"# one tick a minute and a half\ntick = \"90s\"\n", `line 2: tick: 1m30s is more than half of lease_ttl (30s, its default): a tick of at most 15s, or lease_ttl = "3m0s" or more`},
		{"lease_ttl = \"6s\"\n", `line 1: lease_ttl: 6s must be at least two ticks (10s)`},
		{"[heroku]\npoll_interval = \"2m\"\n", `line 2: heroku.poll_interval: 2m0s is longer than idle_poll_interval (1m0s, its default)`},
		{"[heroku]\nidle_poll_interval = \"2s\"\n", `line 2: heroku.idle_poll_interval: 2s is shorter than poll_interval (5s)`},
	} {
		_, err := parse(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want %q", tc.raw, err, tc.want)
		}
	}
}

// A router-log app without via is told that via is required and what it
// takes, not that "" is a wrong value.
func TestRouterLogViaRequired(t *testing.T) {
	_, err := parse("[[apps]]\nname = \"crates-io\"\nroute = \"GET /x\"\nmetrics = { source = \"routerlog\" }\n")
	want := `line 4: apps[0].metrics.via: required with source "routerlog": "session" (a log session from this worker, no setup) or "drain" (an HTTPS drain on a web dyno)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%v; want %q", err, want)
	}
}

// sustain set past the default max_window is the fault of sustain, the key
// written: named at its line, not max_window at its table's.
func TestSustainPastTheDefaultMaxWindowNamesSustain(t *testing.T) {
	_, err := parse("[thresholds]\nsustain = \"20m\"\n")
	want := `line 2: thresholds.sustain: 20m0s is longer than max_window (10m0s): windows double from sustain up to max_window; a shorter sustain, or max_window = "20m0s" or more`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	_, err = parse("[thresholds]\nsustain = \"20m\"\nmax_window = \"15m\"\n")
	if want := "line 3: thresholds.max_window: 15m0s must be at least sustain (20m0s)"; err == nil || err.Error() != want {
		t.Errorf("both set: err = %v, want %q", err, want)
	}
	_, err = parse("[[apps]]\nname = \"crates-io\"\nroute = \"GET /a\"\nmetrics = { source = \"routerlog\", via = \"session\" }\n[apps.thresholds]\nsustain = \"20m\"\n")
	if want := "line 6: apps[0].thresholds.sustain: 20m0s is longer than max_window (10m0s)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("an app's: err = %v, want %q", err, want)
	}
}

// With all_routes, the router log keeps a ring for each named route, one
// for each of up to max_routes templates of the other paths, and the
// others' line (metrics/routerlog.New): 200 named routes and 200
// templates for 3 h are 401 rings, 416 MB, past the bound; counted as
// 201 rings they read 248 MB, within it.
func TestAppMemoryCountsNamedRoutesAndTemplates(t *testing.T) {
	var rs []string
	for i := range 200 {
		rs = append(rs, fmt.Sprintf("%q", fmt.Sprintf("GET /r%d", i)))
	}
	raw := "[[apps]]\nname = \"a\"\nroutes = [" + strings.Join(rs, ", ") + "]\nall_routes = true\nmax_routes = 200\nmetrics = { source = \"routerlog\", via = \"session\", retain = \"3h\" }\n"
	_, err := parse(raw)
	want := "line 6: apps[0].metrics: 401 routes kept for 3h0m0s in the router log (96 bytes a route-second) and 200 judged for watch_for 20m0s (168 bytes a route-second) need about 456 MB, past the 256 MB an app may hold: lower metrics.retain, or max_routes"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %q", err, want)
	}
}

// The router log counts a line toward the first route that matches it: a
// route that an earlier one matches whenever it would (the same pattern
// with other names, or a literal after a {name} in its place) never
// counts a request, and its releases would be watched as no traffic. It
// is refused, naming the route that takes its requests; the other order
// is fine, and other sources (each route its own query) are not checked.
func TestRouterRouteShadowedByAnEarlierOne(t *testing.T) {
	o := opts
	o.RouterShadows = routerlog.Shadows
	parse := func(raw string) (*Config, error) { return Parse([]byte(raw), o) }
	_, err := parse(`
[[apps]]
name = "a"
routes = ["GET /api/v1/crates/{name}", "GET /api/v1/crates/new", "GET /api/v1/crates/{crate}"]
metrics = { source = "routerlog", via = "session" }
`)
	for _, want := range []string{
		`line 4: apps[0].routes[1]: "GET /api/v1/crates/new" never counts a request: apps[0].routes[0] ("GET /api/v1/crates/{name}") matches every request it would, and the first route that matches takes it; list it before`,
		`line 4: apps[0].routes[2]: "GET /api/v1/crates/{crate}" never counts a request: apps[0].routes[0] ("GET /api/v1/crates/{name}") matches every request it would`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	for _, ok := range []string{
		`routes = ["GET /api/v1/crates/new", "GET /api/v1/crates/{name}"]
metrics = { source = "routerlog", via = "session" }`,
		`routes = ["GET /api/v1/crates/{name}", "PUT /api/v1/crates/new", "GET /api/v1/crates/{name}/owners"]
metrics = { source = "routerlog", via = "session" }`,
		`routes = ["GET /api/v1/crates/{name}", "GET /api/v1/crates/new"]
metrics = { source = "series", path = "x.csv" }`,
	} {
		if _, err := parse("[[apps]]\nname = \"a\"\n" + ok + "\n"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// A value of the wrong type stops the decoder, but the file's unknown
// keys are said with it, each at its line, in one error: a person fixes
// them all in one go, not one run each.
func TestWrongTypeListsTheUnknownKeysToo(t *testing.T) {
	raw := "tick = \"5s\"\ntikc = \"5s\"\n\n[heroku]\npoll_interval = 5\n\n[[apps]]\nname = \"a\"\nroute = \"download\"\nrout = \"x\"\n[[apps]]\nname = \"b\"\nroute = \"download\"\nwatch_fr = \"1m\"\n"
	_, err := parse(raw)
	want := []string{
		"line 2: tikc: unknown key (did you mean `tick`?)",
		`line 5: heroku.poll_interval: "5" is not a duration`,
		"line 10: apps[0].rout: unknown key (did you mean `route`?)",
		"line 14: apps[1].watch_fr: unknown key (did you mean `watch_for`?)",
	}
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("err =\n%v\nwant %d problems:\n%s", err, len(want), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 5 {
		t.Errorf("the decoder's error is not among them: %v", de)
	}
	// Two values of the wrong type, one in a table of an array: whichever
	// the decoder stops at, every unknown key is said with it.
	_, err = parse("tikc = \"5s\"\nlease_ttl = true\n[[apps]]\nname = \"a\"\nroute = 3\nrout = \"x\"\n")
	for _, w := range []string{"line 1: tikc: unknown key", "line 6: apps[0].rout: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("two wrong types: err = %v, want %q", err, w)
		}
	}
	// A file the decoder cannot read at all says only that.
	if _, err := parse("tikc = \"5s\"\ntick = = 1\n"); err == nil || strings.Contains(err.Error(), "tikc") {
		t.Errorf("a syntax error: %v", err)
	}
}
