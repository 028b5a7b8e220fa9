package herokusim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

const token = "sim-token"

// herokuSchema loads the Platform API schema that ships in the heroku-go
// module this project builds with (v5.5.0, go.mod), with the two release
// properties Heroku added in 2024 after that schema was cut.
func herokuSchema(t *testing.T) *apiSchema {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", "github.com/heroku/heroku-go/v5").Output()
	if err != nil {
		t.Fatalf("find the heroku-go module: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "schema.json"))
	if err != nil {
		t.Fatalf("read heroku-go's schema.json: %v", err)
	}
	s, err := newAPISchema(data, func(doc map[string]any) error {
		release, err := definition(doc, "release")
		if err != nil {
			return err
		}
		props := release["properties"].(map[string]any)
		props["artifacts"] = map[string]any{"type": []any{"array"}, "items": map[string]any{
			"type": []any{"object"}, "strictProperties": true, "properties": map[string]any{
				"type": map[string]any{"type": []any{"string"}}, "id": map[string]any{"type": []any{"string"}}}}}
		props["eligible_for_rollback"] = map[string]any{"type": []any{"boolean"}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// errorSchema is Heroku's error body (reference, "Errors"; the schema has
// no definition for it): an id, a message and a url.
func errorSchema(t *testing.T, s *apiSchema) *jsonschema.Schema {
	t.Helper()
	sch, err := s.add("urn:relwatch:heroku-error", `{
		"type": ["object"], "strictProperties": true,
		"properties": {
			"id":      {"type": ["string"], "pattern": "^[a-z_]+$"},
			"message": {"type": ["string"]},
			"url":     {"type": ["string"], "format": "uri"}
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, sim *herokusim.Server, method, path, body string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, sim.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", herokusim.AcceptHeader)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// seeded is a simulator with an app in a pipeline, its releases (one in its
// release phase), a staging app, and the clock at t.
func seeded(t *testing.T, opts ...herokusim.Option) (*herokusim.Server, *testClock) {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	now := clock.Now()
	sim := herokusim.New(token, append([]herokusim.Option{herokusim.WithClock(clock.Now),
		herokusim.WithRollbackReleasePhase(30 * time.Second)}, opts...)...)
	t.Cleanup(sim.Close)
	for v := 1; v <= 3; v++ {
		sim.AddRelease("crates-io", herokusim.ReleaseSpec{Version: v, Description: "Deploy abc" + string(rune('0'+v)), CreatedAt: now.Add(time.Duration(v-4) * time.Hour)})
	}
	sim.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 4, Description: "Deploy abc4", CreatedAt: now.Add(-time.Minute), PendingFor: time.Hour})
	sim.AddRelease("crates-io-staging", herokusim.ReleaseSpec{Version: 7, Description: "Deploy abc7", CreatedAt: now.Add(-time.Hour)})
	sim.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	return sim, clock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// Every body the simulator serves, successes and errors, against Heroku's
// schema: required properties, types, enums, formats, patterns.
func TestConformsToHerokuSchema(t *testing.T) {
	schema := herokuSchema(t)
	sim, _ := seeded(t)
	// A subscription to list (its deliveries go to a closed loopback port).
	sim.AddWebhook("crates-io", "http://127.0.0.1:9/webhooks/crates-io", "s3cret")
	sim.AddLogDrain("crates-io", "https://u:p@127.0.0.1:9/drain/crates-io")
	releases := sim.Releases("crates-io")
	staging := sim.Releases("crates-io-staging")

	var app, pipeline map[string]any
	decode(t, call(t, sim, "GET", "/apps/crates-io", "", nil).body, &app)
	decode(t, call(t, sim, "GET", "/pipelines/crates-io", "", nil).body, &pipeline)
	stagingApp := map[string]any{}
	decode(t, call(t, sim, "GET", "/apps/crates-io-staging", "", nil).body, &stagingApp)
	promo := call(t, sim, "POST", "/pipeline-promotions", `{"pipeline": {"id": "`+pipeline["id"].(string)+`"}, "source": {"app": {"id": "`+stagingApp["id"].(string)+`"}}, "targets": [{"app": {"id": "`+app["id"].(string)+`"}}]}`, nil)
	var promotion map[string]any
	decode(t, promo.body, &promotion)
	promotionID := promotion["id"].(string)

	type tc struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}
	ok := []tc{
		{"account", "GET", "/account", "", nil, 200},
		{"app list", "GET", "/apps", "", nil, 200},
		{"app info", "GET", "/apps/crates-io", "", nil, 200},
		{"app info by id", "GET", "/apps/" + app["id"].(string), "", nil, 200},
		{"release list", "GET", "/apps/crates-io/releases", "", map[string]string{"Range": "version ..; max=10, order=desc"}, 200},
		{"release list, a page", "GET", "/apps/crates-io/releases", "", map[string]string{"Range": "version ..; max=2, order=desc"}, 206},
		{"release info by id", "GET", "/apps/crates-io/releases/" + releases[1].ID, "", nil, 200},
		{"release info by version", "GET", "/apps/crates-io/releases/4", "", nil, 200},
		{"rollback", "POST", "/apps/crates-io/releases", `{"release": "` + releases[1].ID + `"}`, nil, 201},
		{"release create", "POST", "/apps/crates-io/releases", `{"slug": "` + releases[0].SlugID + `", "description": "Deploy fix"}`, nil, 201},
		{"log session", "POST", "/apps/crates-io/log-sessions", `{"source": "heroku", "dyno": "router", "tail": true, "lines": 10}`, nil, 201},
		{"pipeline list", "GET", "/pipelines", "", nil, 200},
		{"pipeline by name filter", "GET", "/pipelines?eq[name]=crates-io", "", nil, 200},
		{"pipeline info", "GET", "/pipelines/crates-io", "", nil, 200},
		{"pipeline couplings", "GET", "/pipelines/" + pipeline["id"].(string) + "/pipeline-couplings", "", nil, 200},
		{"app coupling", "GET", "/apps/crates-io/pipeline-couplings", "", nil, 200},
		{"app webhooks", "GET", "/apps/crates-io/webhooks", "", nil, 200},
		{"log drains", "GET", "/apps/crates-io/log-drains", "", nil, 200},
		{"promotion create", "POST", "/pipeline-promotions", `{"pipeline": {"id": "` + pipeline["id"].(string) + `"}, "source": {"app": {"id": "` + stagingApp["id"].(string) + `"}}, "targets": [{"app": {"id": "` + app["id"].(string) + `"}}]}`, nil, 201},
		{"promotion info", "GET", "/pipeline-promotions/" + promotionID, "", nil, 200},
		{"promotion targets", "GET", "/pipeline-promotions/" + promotionID + "/promotion-targets", "", nil, 200},
	}
	errs := []tc{
		{"no such app", "GET", "/apps/nope", "", nil, 404},
		{"no such release", "GET", "/apps/crates-io/releases/99", "", nil, 404},
		{"no such endpoint", "GET", "/nope", "", nil, 404},
		{"wrong token", "GET", "/apps/crates-io", "", map[string]string{"Authorization": "Bearer wrong"}, 401},
		{"no Accept", "GET", "/apps/crates-io", "", map[string]string{"Accept": "application/json"}, 400},
		{"malformed Range", "GET", "/apps/crates-io/releases", "", map[string]string{"Range": "version ..; max=2; order=desc"}, 400},
		{"unsupported Range", "GET", "/apps/crates-io/releases", "", map[string]string{"Range": "version .., order=desc"}, 416},
		{"rollback by version", "POST", "/apps/crates-io/releases", `{"release": "2"}`, nil, 404},
		{"rollback to a pending release", "POST", "/apps/crates-io/releases", `{"release": "` + releases[3].ID + `"}`, nil, 422},
		{"bad log session parameter", "POST", "/apps/crates-io/log-sessions", `{"tail": "yes"}`, nil, 400},
	}
	check := func(c tc, target *jsonschema.Schema, what string) {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, sim, c.method, c.path, c.body, c.header)
			if a.status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, a.status, c.status, a.body)
			}
			if target == nil {
				var title string
				var err error
				path, _, _ := strings.Cut(c.path, "?")
				target, title, err = schema.Link(c.method, path)
				if err != nil {
					t.Fatal(err)
				}
				what = title
			}
			for _, e := range validate(target, a.body) {
				t.Errorf("%s (%s): %v", c.name, what, e)
			}
			for _, h := range []string{"Request-Id", "Ratelimit-Remaining", "ETag"} {
				if a.header.Get(h) == "" {
					t.Errorf("%s %s answered %d without %s", c.method, c.path, a.status, h)
				}
			}
		})
	}
	for _, c := range ok {
		check(c, nil, "")
	}
	errorBody := errorSchema(t, schema)
	for _, c := range errs {
		check(c, errorBody, "error")
	}
	t.Run("429", func(t *testing.T) {
		sim.SetRateBudget(0)
		a := call(t, sim, "GET", "/apps/crates-io", "", nil)
		if a.status != 429 || a.header.Get("Ratelimit-Remaining") != "0" {
			t.Fatalf("status %d, Ratelimit-Remaining %q", a.status, a.header.Get("Ratelimit-Remaining"))
		}
		for _, e := range validate(errorBody, a.body) {
			t.Error(e)
		}
		sim.SetRateBudget(4500)
	})
	_ = staging
	if u := schema.Unchecked(); len(u) > 0 {
		t.Logf("not checked (Go's regexp cannot): %v", u)
	}
}

// The conformance check notices a field that goes missing or changes type:
// the simulator's own app body, spoiled.
func TestConformanceCatchesSpoiledBodies(t *testing.T) {
	schema := herokuSchema(t)
	sim, _ := seeded(t)
	target, _, err := schema.Link("GET", "/apps/crates-io")
	if err != nil {
		t.Fatal(err)
	}
	good := call(t, sim, "GET", "/apps/crates-io", "", nil).body
	if errs := validate(target, good); len(errs) != 0 {
		t.Fatalf("the simulator's app does not conform: %v", errs)
	}
	for _, spoil := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"owner dropped", func(m map[string]any) { delete(m, "owner") }, `at "/": lacks property "owner"`},
		{"maintenance a string", func(m map[string]any) { m["maintenance"] = "no" }, `at "/maintenance": got string, want boolean`},
		{"id not a uuid", func(m map[string]any) { m["id"] = "42" }, `at "/id": '42' is not valid uuid`},
		{"region's name dropped", func(m map[string]any) { delete(m["region"].(map[string]any), "name") }, `at "/region": lacks property "name"`},
		{"a property Heroku does not have", func(m map[string]any) { m["colour"] = "blue" }, `at "/": has property "colour"`},
	} {
		var m map[string]any
		decode(t, good, &m)
		spoil.edit(m)
		b, _ := json.Marshal(m)
		var all bytes.Buffer
		for _, e := range validate(target, b) {
			all.WriteString(e + "\n")
		}
		if !strings.Contains(all.String(), spoil.want) {
			t.Errorf("%s: errors %q, want one saying %q", spoil.name, all.String(), spoil.want)
		}
	}
}
