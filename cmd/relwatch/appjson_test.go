package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/config"
)

// TestAppJSON checks the Heroku Button: a worker formation, PostgreSQL, and
// every environment variable the code reads documented.
func TestAppJSON(t *testing.T) {
	raw, err := os.ReadFile("../../app.json")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Formation map[string]struct {
			Quantity int `json:"quantity"`
		} `json:"formation"`
		Addons []struct {
			Plan string `json:"plan"`
		} `json:"addons"`
		Repository string `json:"repository"`
		Logo       string `json:"logo"`
		Env        map[string]struct {
			Description string `json:"description"`
			Generator   string `json:"generator"`
			Value       string `json:"value"`
		} `json:"env"`
	}
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatalf("app.json: %v", err)
	}
	if app.Formation["worker"].Quantity != 1 {
		t.Errorf("formation %+v: want one worker", app.Formation)
	}
	if len(app.Addons) != 1 || !strings.HasPrefix(app.Addons[0].Plan, "heroku-postgresql:") {
		t.Errorf("addons %+v: want heroku-postgresql", app.Addons)
	}
	// The Button's page (issue 17): where the code is, a logo, the
	// metrics token Heroku generates (not the webhook secret: set, it
	// needs a web dyno, TestButtonWorkerStarts), and the commit linked
	// into the binary.
	if !strings.HasPrefix(app.Repository, "https://") || !strings.HasSuffix(app.Logo, "/docs/logo.svg") {
		t.Errorf("repository %q, logo %q", app.Repository, app.Logo)
	}
	if _, err := os.Stat("../../docs/logo.svg"); err != nil {
		t.Errorf("the logo app.json names: %v", err)
	}
	if app.Env["RELWATCH_METRICS_TOKEN"].Generator != "secret" {
		t.Errorf("RELWATCH_METRICS_TOKEN: generator %q, want secret", app.Env["RELWATCH_METRICS_TOKEN"].Generator)
	}
	_ = sourceVersion // the symbol GO_LINKER_SYMBOL names
	if app.Env["GO_LINKER_SYMBOL"].Value != "main.sourceVersion" {
		t.Errorf("GO_LINKER_SYMBOL = %q, want main.sourceVersion", app.Env["GO_LINKER_SYMBOL"].Value)
	}
	// Every os.Getenv in the code that a deploy sets must be in app.json
	// (not a person's: USER, and HEROKU_APP, the Heroku CLI's app choice).
	set := map[string]bool{"DYNO": true, "USER": true, "HEROKU_APP": true, "PORT": true, "HEROKU_APP_NAME": true, "DATABASE_URL": true,
		"RELWATCH_STATE": true, "RELWATCH_AS_MAIN": true, "RELWATCH_INTEGRATION": true, "RELWATCH_POSTGRES_URL": true,
		"RELWATCH_PROMETHEUS_URL": true, "RELWATCH_PROMETHEUS_SD_DIR": true}
	getenv := regexp.MustCompile(`os\.Getenv\("([A-Z_]+)"\)`)
	var missing []string
	for _, dir := range []string{".", "../../config", "../../watcher", "../../notify/slack", "../../notify/zulip"} {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
				continue
			}
			src, _ := os.ReadFile(dir + "/" + f.Name())
			for _, m := range getenv.FindAllStringSubmatch(string(src), -1) {
				if _, ok := app.Env[m[1]]; !ok && !set[m[1]] {
					missing = append(missing, m[1])
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("environment variables read but not in app.json: %v", missing)
	}
}

// TestGoVersionAgreesWithTheBuildpack: the Go buildpack installs the newest
// patch of the "+heroku goVersion" minor version (see go.mod), so the
// directive names a minor version only, and the go line asks no more than
// its first release: the installed Go then builds relwatch as it is.
func TestGoVersionAgreesWithTheBuildpack(t *testing.T) {
	raw, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var directive, goLine string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		switch {
		case directive == "" && len(f) >= 4 && f[0] == "//" && f[1] == "+heroku" && f[2] == "goVersion":
			directive = f[3] // the buildpack reads the first one, as awk does
		case goLine == "" && len(f) == 2 && f[0] == "go":
			goLine = f[1]
		}
	}
	m := regexp.MustCompile(`^go(\d+\.\d+)$`).FindStringSubmatch(directive)
	if m == nil {
		t.Fatalf("+heroku goVersion %q: want a minor version like go1.26, which the buildpack expands to its newest patch", directive)
	}
	if goLine != m[1] && goLine != m[1]+".0" {
		t.Fatalf("go.mod says go %s, the buildpack installs the newest go%s.x it has: want go %s.0", goLine, m[1], m[1])
	}
}

// TestButtonWorkerStarts: what the Heroku Button sets up — one worker
// dyno, no web dyno, so no $PORT — with every config var app.json has
// Heroku generate, plans a worker that starts: a generated variable must
// not ask for something the Button's formation does not have.
func TestButtonWorkerStarts(t *testing.T) {
	raw, err := os.ReadFile("../../app.json")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Formation map[string]json.RawMessage `json:"formation"`
		Env       map[string]struct {
			Generator string `json:"generator"`
		} `json:"env"`
	}
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	if _, web := app.Formation["web"]; web {
		t.Skip("the Button's formation has a web dyno")
	}
	for _, name := range secretVars {
		t.Setenv(name, "")
	}
	t.Setenv("PORT", "")
	t.Setenv("DYNO", "worker.1")
	for name, v := range app.Env {
		if v.Generator == "secret" {
			t.Setenv(name, strings.Repeat("0123456789abcdef", 4)) // as Heroku generates one: 64 hex digits
		}
	}
	cfg, err := config.Parse([]byte(`[[apps]]
name = "crates-io"
route = "GET /api/v1/crates/{crate}/{version}/download"
metrics = { source = "routerlog", via = "session" }
`), config.Options{Defaults: configDefaults()})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HEROKU_API_KEY": "button-token"}
	if _, err := plan(&conf{Config: cfg, from: "$RELWATCH_CONFIG"}, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), time.Now()); err != nil {
		t.Errorf("the Button's worker would not start: %v", err)
	}
}
