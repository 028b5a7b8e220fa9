package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
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
		Env map[string]struct {
			Description string `json:"description"`
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
	// Every os.Getenv in the code that a deploy sets must be in app.json.
	set := map[string]bool{"DYNO": true, "USER": true, "PORT": true, "HEROKU_APP_NAME": true, "DATABASE_URL": true,
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
