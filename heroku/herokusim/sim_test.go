package herokusim_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

func versions(t *testing.T, body []byte) []int {
	t.Helper()
	var list []struct{ Version int }
	decode(t, body, &list)
	var out []int
	for _, r := range list {
		out = append(out, r.Version)
	}
	return out
}

func errorOf(t *testing.T, a answer) (id, msg string) {
	t.Helper()
	var e struct{ ID, Message string }
	decode(t, a.body, &e)
	return e.ID, e.Message
}

// Ranges as Heroku reads them: a malformed one is 400, an unsupported one
// 416, never rows.
func TestRanges(t *testing.T) {
	sim, _ := seeded(t)
	for _, tt := range []struct {
		rng      string
		status   int
		versions string // served versions, or the error id and message
	}{
		{"version ..", 200, "[1 2 3 4]"},
		{"version ..; max=10, order=desc", 200, "[4 3 2 1]"},
		{"version ..; max=10,order=desc", 200, "[4 3 2 1]"}, // heroku-go's own form
		{"version ..; max=2, order=desc", 206, "[4 3]"},
		{"version ]4..; max=2, order=desc", 206, "[3 2]"}, // a Next-Range
		{"version ]2..; max=2, order=desc", 200, "[1]"},
		{"version 2..; max=10", 200, "[2 3 4]"},
		{"version 2..3", 200, "[2 3]"},
		{"version ..; max=10;", 200, "[1 2 3 4]"}, // the reference's own example ends in ";"
		{"version ..; max=2; order=desc", 400, "bad_request: Invalid `Range` header. Please use format like `id ..; max=10, order=desc`"},
		{"version ..; max=ten", 400, "bad_request"},
		{"version ..; max=0", 400, "bad_request"},
		{"version ..; order=up", 400, "bad_request"},
		{"version ..; colour=red", 400, "bad_request"},
		{"version", 400, "bad_request"},
		{"version abc..", 400, "bad_request"},
		{"version .., order=desc", 416, "requested_range_not_satisfiable: End range bounds without a start bound are currently not supported"},
		{"version ..3", 416, "requested_range_not_satisfiable: End range bounds without a start bound are currently not supported"},
		{"name ..", 416, "requested_range_not_satisfiable"},
	} {
		a := call(t, sim, "GET", "/apps/crates-io/releases", "", map[string]string{"Range": tt.rng})
		if a.status != tt.status {
			t.Errorf("Range %q: status %d, want %d: %s", tt.rng, a.status, tt.status, a.body)
			continue
		}
		if a.status >= 400 {
			id, msg := errorOf(t, a)
			if got := id + ": " + msg; !strings.HasPrefix(got, tt.versions) {
				t.Errorf("Range %q: %q, want %q", tt.rng, got, tt.versions)
			}
			continue
		}
		if got := fmt.Sprint(versions(t, a.body)); got != tt.versions {
			t.Errorf("Range %q: versions %s, want %s", tt.rng, got, tt.versions)
		}
		if a.status == 206 && a.header.Get("Next-Range") == "" {
			t.Errorf("Range %q: 206 without Next-Range", tt.rng)
		}
		if a.header.Get("Accept-Ranges") != "id, version" {
			t.Errorf("Accept-Ranges %q", a.header.Get("Accept-Ranges"))
		}
	}
}

// The Accept variants Heroku's clients send are served; anything else is
// Heroku's 400.
func TestAcceptVariants(t *testing.T) {
	sim, _ := seeded(t)
	for accept, want := range map[string]int{
		"application/vnd.heroku+json; version=3":                       200,
		"application/vnd.heroku+json; version=3.sdk":                   200,
		"application/vnd.heroku+json; version=3.pipelines":             200,
		"application/vnd.heroku+json; version=3.review-apps":           200,
		"application/json, application/vnd.heroku+json; version=3.sdk": 200,
		"application/json":                            400,
		"application/vnd.heroku+json":                 400,
		"application/vnd.heroku+json; version=2":      400,
		"application/vnd.heroku+json; version=3x":     400,
		"text/html, application/vnd.heroku+json; v=3": 400,
	} {
		a := call(t, sim, "GET", "/apps/crates-io", "", map[string]string{"Accept": accept})
		if a.status != want {
			t.Errorf("Accept %q: %d, want %d", accept, a.status, want)
		}
	}
}

// The rollback body is the schema's: {"release": "<the release's id>"}.
func TestRollbackBody(t *testing.T) {
	sim, _ := seeded(t)
	id := sim.Releases("crates-io")[1].ID
	for _, tt := range []struct {
		body   string
		status int
		id     string
	}{
		{`{"release": "2"}`, 404, "not_found"}, // a version is not a release id
		{`{"release": "v2"}`, 404, "not_found"},
		{`{"release": "01234567-89ab-cdef-0123-456789abcdef"}`, 404, "not_found"},
		{`{"release": 2}`, 400, "bad_request"},
		{`{"release": "` + id + `", "slug": "x"}`, 422, "invalid_params"},
		{`{}`, 422, "invalid_params"},
		{`release=2`, 400, "bad_request"},
	} {
		a := call(t, sim, "POST", "/apps/crates-io/releases", tt.body, nil)
		if got, _ := errorOf(t, a); a.status != tt.status || got != tt.id {
			t.Errorf("body %s: %d %s, want %d %s", tt.body, a.status, got, tt.status, tt.id)
		}
	}
	if n := len(sim.Releases("crates-io")); n != 4 {
		t.Fatalf("%d releases: a refused rollback made one", n)
	}
	a := call(t, sim, "POST", "/apps/crates-io/releases", `{"release": "`+id+`"}`, nil)
	var rel struct {
		Version     int
		Description string
		Status      string
	}
	decode(t, a.body, &rel)
	if a.status != 201 || rel.Version != 5 || rel.Description != "Rollback to v2" || rel.Status != "pending" {
		t.Fatalf("rollback: %d %+v", a.status, rel)
	}
}

// Every GET answers an ETag, and 304 with no body to If-None-Match with it;
// every answer carries Request-Id and Ratelimit-Remaining.
func TestETagsAndHeaders(t *testing.T) {
	sim, _ := seeded(t)
	var pipeline, app map[string]any
	decode(t, call(t, sim, "GET", "/pipelines/crates-io", "", nil).body, &pipeline)
	decode(t, call(t, sim, "GET", "/apps/crates-io-staging", "", nil).body, &app)
	var promotion map[string]any
	decode(t, call(t, sim, "POST", "/pipeline-promotions", `{"pipeline": {"id": "`+pipeline["id"].(string)+`"}, "source": {"app": {"id": "`+app["id"].(string)+`"}}, "targets": [{"app": {"id": "`+app["id"].(string)+`"}}]}`, nil).body, &promotion)
	for _, path := range []string{
		"/account", "/apps", "/apps/crates-io", "/apps/crates-io/releases", "/apps/crates-io/releases/2",
		"/apps/crates-io/pipeline-couplings", "/pipelines", "/pipelines?eq[name]=crates-io", "/pipelines/crates-io",
		"/pipelines/" + pipeline["id"].(string) + "/pipeline-couplings",
		"/pipeline-promotions/" + promotion["id"].(string), "/pipeline-promotions/" + promotion["id"].(string) + "/promotion-targets",
	} {
		first := call(t, sim, "GET", path, "", map[string]string{"Request-Id": "my-request"})
		etag := first.header.Get("ETag")
		if first.status != 200 || etag == "" || first.header.Get("Request-Id") != "my-request" {
			t.Errorf("GET %s: %d, ETag %q, Request-Id %q", path, first.status, etag, first.header.Get("Request-Id"))
			continue
		}
		again := call(t, sim, "GET", path, "", map[string]string{"If-None-Match": etag})
		if again.status != 304 || len(again.body) != 0 || again.header.Get("Request-Id") == "" || again.header.Get("Ratelimit-Remaining") == "" {
			t.Errorf("GET %s with its ETag: %d %q, headers %v", path, again.status, again.body, again.header)
		}
		if other := call(t, sim, "GET", path, "", map[string]string{"If-None-Match": `"other"`}); other.status != 200 {
			t.Errorf("GET %s with another ETag: %d", path, other.status)
		}
	}
	// Errors too: a Request-Id of its own when the client sent none.
	for _, h := range []map[string]string{{"Authorization": "Bearer wrong"}, {"Accept": "text/html"}, nil} {
		a := call(t, sim, "GET", "/apps/nope", "", h)
		if a.status < 400 || len(a.header.Get("Request-Id")) != 36 || a.header.Get("Ratelimit-Remaining") == "" {
			t.Errorf("%v: %d, Request-Id %q, Ratelimit-Remaining %q", h, a.status, a.header.Get("Request-Id"), a.header.Get("Ratelimit-Remaining"))
		}
	}
	// A release list that changed answers 200 to the old ETag.
	list := call(t, sim, "GET", "/apps/crates-io/releases", "", nil)
	sim.AddRelease("crates-io", herokusim.ReleaseSpec{Description: "Deploy new"})
	if a := call(t, sim, "GET", "/apps/crates-io/releases", "", map[string]string{"If-None-Match": list.header.Get("ETag")}); a.status != 200 {
		t.Fatalf("changed list: %d", a.status)
	}
}

func TestPipelineFilterAndCouplings(t *testing.T) {
	sim, _ := seeded(t)
	var list []struct{ Name string }
	decode(t, call(t, sim, "GET", "/pipelines?eq[name]=crates-io", "", nil).body, &list)
	if len(list) != 1 || list[0].Name != "crates-io" {
		t.Fatalf("eq[name]=crates-io: %+v", list)
	}
	decode(t, call(t, sim, "GET", "/pipelines?eq[name]=other", "", nil).body, &list)
	if len(list) != 0 {
		t.Fatalf("eq[name]=other: %+v", list)
	}
	// The couplings link takes the pipeline's id, not its name.
	if a := call(t, sim, "GET", "/pipelines/crates-io/pipeline-couplings", "", nil); a.status != 404 {
		t.Fatalf("couplings by name: %d", a.status)
	}
	var c struct{ Stage string }
	decode(t, call(t, sim, "GET", "/apps/crates-io-staging/pipeline-couplings", "", nil).body, &c)
	if c.Stage != "staging" {
		t.Fatalf("coupling %+v", c)
	}
	sim.AddApp("loner")
	if a := call(t, sim, "GET", "/apps/loner/pipeline-couplings", "", nil); a.status != 404 {
		t.Fatalf("an app in no pipeline: %d", a.status)
	}
}

func logSession(t *testing.T, sim *herokusim.Server, body string) string {
	t.Helper()
	a := call(t, sim, "POST", "/apps/crates-io/log-sessions", body, nil)
	var s struct {
		LogplexURL string `json:"logplex_url"`
	}
	decode(t, a.body, &s)
	if a.status != 201 || s.LogplexURL == "" {
		t.Fatalf("log session: %d %s", a.status, a.body)
	}
	return s.LogplexURL
}

func stream(t *testing.T, url, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// A non-tail session sends the last lines and closes: as server-sent
// events when asked, plain lines otherwise.
func TestLogStreamFormats(t *testing.T) {
	sim, _ := seeded(t)
	sim.EmitLog("crates-io", "line 1", "line 2", "line 3")
	url := logSession(t, sim, `{"tail": false, "lines": 2}`)
	resp := stream(t, url, "text/event-stream")
	body, err := io.ReadAll(resp.Body) // ends: the session is not a tail
	if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" ||
		string(body) != "id: 2\ndata: line 2\n\nid: 3\ndata: line 3\n\n" {
		t.Fatalf("events: %v %q %q", err, resp.Header.Get("Content-Type"), body)
	}
	resp = stream(t, url, "")
	body, err = io.ReadAll(resp.Body)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || string(body) != "line 2\nline 3\n" {
		t.Fatalf("plain: %v %q %q", err, resp.Header.Get("Content-Type"), body)
	}
	// Resuming from an event id sends what came after it.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	if b, _ := io.ReadAll(r2.Body); strings.Count(string(b), "data: ") != 2 || !strings.Contains(string(b), "id: 2\n") {
		t.Fatalf("from Last-Event-ID 1: %q", b)
	}
}

// A tail session streams new lines until the session expires; an expired
// URL is 404.
func TestLogSessionExpiry(t *testing.T) {
	sim, clock := seeded(t, herokusim.WithLogSessionTTL(5*time.Minute, 200*time.Millisecond))
	unused := logSession(t, sim, `{"tail": true}`)
	url := logSession(t, sim, `{"tail": true, "lines": 0}`)
	resp := stream(t, url, "")
	r := bufio.NewReader(resp.Body)
	for sim.OpenLogStreams("crates-io") != 1 {
		time.Sleep(time.Millisecond)
	}
	sim.EmitLog("crates-io", "tailed")
	if line, err := r.ReadString('\n'); err != nil || line != "tailed\n" {
		t.Fatalf("tail: %q %v", line, err)
	}
	// About an hour after connecting (here 200 ms), the stream ends.
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the stream should end cleanly: %v", err)
	}
	clock.Advance(time.Second)
	if a := stream(t, url, ""); a.StatusCode != 404 {
		t.Fatalf("the expired URL answered %d", a.StatusCode)
	}
	// About 5 minutes after creation, a URL never connected to expires.
	clock.Advance(5 * time.Minute)
	if a := stream(t, unused, ""); a.StatusCode != 404 {
		t.Fatalf("the unused URL answered %d after 5 min", a.StatusCode)
	}
}

// Several accounts: each token is its own account, with its own rate-limit
// pool; an app one account owns is refused to another (403 forbidden, as
// Heroku refuses an app the account is no collaborator of), and a rollback
// is made by the account whose token asked.
func TestAccountsOwnTheirAppsAndPools(t *testing.T) {
	sim, clock := seeded(t, herokusim.WithRateLimit(100, 0))
	sim.AddAccount("team-b-token", "team-b@example.com")
	sim.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 1, Description: "Deploy d1", CreatedAt: clock.Now().Add(-time.Hour)})
	sim.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 2, Description: "Deploy d2", CreatedAt: clock.Now().Add(-time.Hour)})
	sim.OwnApp("docs-rs", "team-b@example.com")
	asB := map[string]string{"Authorization": "Bearer team-b-token"}

	if a := call(t, sim, "GET", "/apps/docs-rs/releases", "", nil); a.status != 403 {
		t.Fatalf("account A read B's app: %d %s", a.status, a.body)
	} else if id, msg := errorOf(t, a); id != "forbidden" || !strings.Contains(msg, "docs-rs") {
		t.Fatalf("refusal %s %q", id, msg)
	}
	if a := call(t, sim, "GET", "/apps/docs-rs/releases", "", asB); a.status != 200 || a.header.Get("Ratelimit-Remaining") != "99" {
		t.Fatalf("account B on its app: %d, remaining %s (its own pool of 100, one spent)", a.status, a.header.Get("Ratelimit-Remaining"))
	}
	// A's pool spent one (the refusal counts) and one more now; B's is apart.
	if a := call(t, sim, "GET", "/apps/crates-io", "", nil); a.status != 200 || a.header.Get("Ratelimit-Remaining") != "98" {
		t.Fatalf("account A on its app: %d, remaining %s", a.status, a.header.Get("Ratelimit-Remaining"))
	}
	if a := call(t, sim, "GET", "/apps/crates-io", "", asB); a.status != 200 {
		t.Fatalf("an app no account owns is every account's: %d", a.status)
	}
	var apps []struct{ Name string }
	decode(t, call(t, sim, "GET", "/apps", "", nil).body, &apps)
	for _, a := range apps {
		if a.Name == "docs-rs" {
			t.Fatal("account A's app list holds B's app")
		}
	}
	var me struct{ Email string }
	decode(t, call(t, sim, "GET", "/account", "", asB).body, &me)
	if me.Email != "team-b@example.com" {
		t.Fatalf("account B is %q", me.Email)
	}
	v1 := sim.Releases("docs-rs")[0].ID
	if a := call(t, sim, "POST", "/apps/docs-rs/releases", `{"release": "`+v1+`"}`, nil); a.status != 403 || len(sim.Releases("docs-rs")) != 2 {
		t.Fatalf("account A rolled back B's app: %d", a.status)
	}
	if a := call(t, sim, "POST", "/apps/docs-rs/releases", `{"release": "`+v1+`"}`, asB); a.status != 201 {
		t.Fatalf("account B's rollback: %d %s", a.status, a.body)
	}
	rs := sim.Releases("docs-rs")
	if last := rs[len(rs)-1]; last.User != "team-b@example.com" || last.Description != "Rollback to v1" {
		t.Fatalf("the rollback %+v is not B's", last)
	}
	lowA, _ := sim.LowestBudget()
	lowB, _ := sim.LowestBudgetOf("team-b@example.com")
	if lowA != 96 || lowB != 96 { // 4 requests each; one pool would be 92
		t.Fatalf("pools: A %d, B %d, want 96 each (100, 4 requests each)", lowA, lowB)
	}
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/apps/docs-rs") && (r.Status == 403) != (r.AccountEmail == herokusim.Account) {
			t.Errorf("%s %s answered %d to account %q", r.Method, r.Path, r.Status, r.AccountEmail)
		}
	}
}
