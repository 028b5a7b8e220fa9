package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/routerlog"
)

// routerLine is a router line of method and path at sec.
func routerLine(sec int64, method, path string) string {
	return fmt.Sprintf(`%s heroku[router]: at=info method=%s path="%s" host=crates.io fwd="1.1.1.1" dyno=web.1 connect=1ms service=2ms status=200 bytes=1 protocol=https`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339), method, path)
}

// routesConfig is a router-log app guarding routes (TOML), read via
// ("session" or "drain"), with extra keys.
func routesConfig(t *testing.T, fakeURL, via, routes, extra string) string {
	return writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
routes = %s
%s
[apps.metrics]
source = "routerlog"
via = %q
`, fakeURL, routes, extra, via))
}

// watch's router-log source counts every route of the app, the templates
// of the others with all_routes, and the drain feeds it.
func TestWatchCountsEveryRouteOfARouterLog(t *testing.T) {
	t.Setenv("RELWATCH_DRAIN_USER", "logplex")
	t.Setenv("RELWATCH_DRAIN_PASSWORD", "drain-secret-pw")
	t.Setenv("RELWATCH_DRAIN_TOKEN", "")
	t.Setenv("PORT", "0")
	cfg, err := loadConfig(routesConfig(t, "http://127.0.0.1:1", "drain",
		`["GET /api/v1/crates/{crate}/{version}/download", "POST /login"]`, "all_routes = true\nmax_routes = 3"))
	if err != nil {
		t.Fatal(err)
	}
	wr, err := plan(cfg, func(string) string { return "tok" }, slog.New(slog.DiscardHandler), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src, ok := wr.apps[0].Source.(*routerlog.Aggregator)
	if !ok || wr.drains["crates-io"].Agg != src || wr.apps[0].AllRoutes != 3 {
		t.Fatalf("source %T, the drain's aggregator the source: %v, AllRoutes %d", wr.apps[0].Source, wr.drains["crates-io"].Agg == src, wr.apps[0].AllRoutes)
	}
	srv, err := routerlog.NewDrainServer(wr.drains, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv)
	defer web.Close()
	now := time.Now().Add(-time.Minute).Unix()
	var body strings.Builder
	for _, l := range []string{
		routerLine(now, "GET", "/api/v1/crates/serde/1.0.0/download"),
		routerLine(now, "POST", "/login"),
		routerLine(now, "POST", "/login"),
		routerLine(now, "GET", "/users/42"),
		routerLine(now, "GET", "/users/43"),
		routerLine(now, "GET", "/users/44"),
		routerLine(now+1, "GET", "/health"), // the second after: a drain heard it
	} {
		frame := "<158>1 " + strings.Replace(l, " heroku[router]: ", " host heroku router - ", 1)
		fmt.Fprintf(&body, "%d %s", len(frame), frame)
	}
	req, _ := http.NewRequest("POST", web.URL+"/drain/crates-io", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", "application/logplex-1")
	req.SetBasicAuth("logplex", "drain-secret-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("drain: %d", resp.StatusCode)
	}
	var source metrics.Source = src
	for route, want := range map[string]int64{
		"GET /api/v1/crates/{crate}/{version}/download": 1,
		"POST /login":     2,
		"GET /users/{id}": 3,
		routerlog.Control: 0,
	} {
		s, err := source.Counts(context.Background(), route, time.Unix(now, 0), time.Unix(now+1, 0))
		if err != nil || !s.Points[0].OK || s.Points[0].Requests != want {
			t.Errorf("%s: %+v, %v; want %d requests", route, s.Points, err, want)
		}
	}
	busiest, _ := src.Busiest(time.Unix(now, 0), time.Unix(now+2, 0))
	for _, r := range busiest {
		if named := !strings.HasSuffix(r.Route, "{id}") && !strings.HasSuffix(r.Route, "/health"); r.Template == named {
			t.Errorf("%s: template %v, want %v: the named routes are counted as named", r.Route, r.Template, !named)
		}
	}
	got := src.Routes(time.Unix(now, 0), time.Unix(now+2, 0), 0)
	if want := []string{"GET /users/{id}", "POST /login", "GET /api/v1/crates/{crate}/{version}/download", "GET /health"}; !slices.Equal(got, want) {
		t.Errorf("Routes = %q, want %q", got, want)
	}
}

// check says the routes a router-log app guards and, with all_routes, the
// templates its recent router lines make, from the fake Heroku's log.
func TestCheckShowsTheTemplates(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	now := time.Now().Add(-time.Minute).Unix()
	var lines []string
	add := func(n int, method, path string) {
		for i := range n {
			p := path
			if strings.Contains(p, "%d") {
				p = fmt.Sprintf(path, i)
			}
			lines = append(lines, routerLine(now+int64(len(lines)%30), method, p))
		}
	}
	add(3, "GET", "/api/v1/crates/c%d/1.0.0/download")
	add(4, "GET", "/api/v1/summary")
	add(25, "GET", "/api/v1/crates/c%d")
	add(3, "GET", "/users/%d")
	add(2, "GET", "/a")
	add(1, "GET", "/b")
	add(1, "GET", strings.Repeat("/deep", 20)) // too deep for a template
	fake.EmitLog("crates-io", lines...)
	cfg := routesConfig(t, fake.URL(), "session", `["GET /api/v1/crates/{crate}/{version}/download"]`, "all_routes = true\nmax_routes = 30")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	for _, want := range []string{
		`guarded routes: GET /api/v1/crates/{crate}/{version}/download; and every other route as templates, up to 30 routes in all, the rest as "other"`,
		`from the last 39 router lines, the templates it would guard (requests): GET /api/v1/crates/{name} (25), GET /api/v1/summary (4), GET /users/{id} (3), GET /a (2), GET /b (1); 1 requests to "other"`,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in\n%s%s", code, want, out, errOut)
		}
	}
	sessions := fake.LogSessions("crates-io")
	if n := len(sessions); n == 0 || sessions[n-1]["tail"] != false || sessions[n-1]["lines"] != float64(recentLines) {
		t.Errorf("sessions %+v: want one that ends, of the last %d lines", sessions, recentLines)
	}
	// The watcher guards max_routes in all: the named first.
	cfg = routesConfig(t, fake.URL(), "session", `["GET /api/v1/crates/{crate}/{version}/download"]`, "all_routes = true\nmax_routes = 3")
	code, out, _ = runMain(t, context.Background(), "check", "--config", cfg)
	if want := `the templates it would guard (requests): GET /api/v1/crates/{name} (7), GET /api/v1/summary (4); 22 requests to "other"`; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("max_routes = 3: exit %d, want %q in\n%s", code, want, out)
	}
	// Without all_routes: the routes and what each matched, no templates
	// guarded (they name the traffic of a route that matched none).
	cfg = routesConfig(t, fake.URL(), "session", `["GET /api/v1/crates/{crate}/{version}/download", "POST /login"]`, "")
	code, out, _ = runMain(t, context.Background(), "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, `guarded routes: GET /api/v1/crates/{crate}/{version}/download, POST /login; the rest as "other"`) ||
		strings.Contains(out, "templates it would guard") ||
		!strings.Contains(out, "GET /api/v1/crates/{crate}/{version}/download: 3 of the 39 requests in the last 39 router lines") ||
		!strings.Contains(out, "warning: POST /login matched none of the 39 requests") {
		t.Fatalf("without all_routes: exit %d\n%s", code, out)
	}
}

// A guarded route that matches none of the app's traffic (a typo, a
// framework's ":crate" for "{crate}") is watched as "no data" for ever:
// check reads the recent router lines for every router-log app and says,
// for each named route, how many requests it matched, and warns, with the
// busiest paths it saw instead, when one matched none.
func TestCheckSaysAGuardedRouteMatchesNoTraffic(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	now := time.Now().Add(-time.Minute).Unix()
	var lines []string
	for i := range 30 {
		lines = append(lines, routerLine(now+int64(i), "GET", fmt.Sprintf("/api/v1/crates/c%d/1.0.0/download", i)))
	}
	for i := range 5 {
		lines = append(lines, routerLine(now+int64(i), "GET", "/api/v1/summary"))
	}
	fake.EmitLog("crates-io", lines...)
	for _, tc := range []struct{ routes, want string }{
		{`["GET /api/v1/crate/{crate}/{version}/download"]`, `warning: GET /api/v1/crate/{crate}/{version}/download matched none of the 35 requests in the last 35 router lines`},
		{`["GET /api/v1/crates/:crate/:version/download"]`, `warning: GET /api/v1/crates/:crate/:version/download matched none of the 35 requests`},
	} {
		cfg := routesConfig(t, fake.URL(), "session", tc.routes, "")
		code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "GET /api/v1/crates/{name}/{id}/download (30)") ||
			!strings.Contains(out, "1 warning above") {
			t.Errorf("%s: exit %d, want %q and the busiest paths in\n%s%s", tc.routes, code, tc.want, out, errOut)
		}
	}
	// The right route: its count, no warning.
	cfg := routesConfig(t, fake.URL(), "session", `["GET /api/v1/crates/{crate}/{version}/download"]`, "")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, `GET /api/v1/crates/{crate}/{version}/download: 30 of the 35 requests in the last 35 router lines`) ||
		strings.Contains(out, "warning") {
		t.Errorf("the right route: exit %d\n%s%s", code, out, errOut)
	}
}

// An app that is a pipeline's staging stage (the name of staging typed
// where production was meant) is watched and rolled back as configured,
// and production is not: check says the stage, and names the pipeline's
// production apps, when the app is not itself a production one.
func TestCheckSaysAPipelineStage(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	for _, app := range []string{"crates-io", "crates-io-staging", "lonely"} {
		fake.AddRelease(app, herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	}
	fake.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	t.Setenv("HEROKU_API_KEY", "tok")
	config := func(app string) string {
		return writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = %q
route = "download"
metrics = { source = "series", path = %q }
`, fake.URL(), app, demoSeries(t)))
	}
	const want = "note: crates-io-staging is the staging stage of pipeline crates-io: relwatch watches and rolls back its releases, not those of the pipeline's production app crates-io"
	code, out, errOut := runMain(t, context.Background(), "check", "--config", config("crates-io-staging"))
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("the staging app: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	for _, app := range []string{"crates-io", "lonely"} {
		code, out, errOut := runMain(t, context.Background(), "check", "--config", config(app))
		if code != 0 || strings.Contains(out, "stage of pipeline") {
			t.Errorf("%s: exit %d, want no word of a stage\n%s%s", app, code, out, errOut)
		}
	}
}

// A Prometheus app guarding several routes: check ran the requests query
// of the leading route alone, so a second route whose label matches no
// series (a typo, the framework's name for it) passed, and was watched as
// no data for ever. check runs the queries of every route, and fails
// naming the one that matches nothing.
func TestCheckRunsEveryPrometheusRoute(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/v1/query" || !strings.Contains(r.Form.Get("query"), `route="/api/v1/crates/:crate/:version/download"`) &&
			!strings.Contains(r.Form.Get("query"), `route="/api/v1/me"`) {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"12"]}]}}`, time.Now().Unix())
	}))
	defer prom.Close()
	config := func(routes string) string {
		return writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
routes = %s
[apps.metrics]
source = "prometheus"
url = %q
`, fake.URL(), routes, prom.URL))
	}
	code, out, errOut := runMain(t, context.Background(), "check", "--config", config(`["/api/v1/crates/:crate/:version/download", "/api/v1/crates/{crate}"]`))
	if want := `FAIL crates-io: metrics, route "/api/v1/crates/{crate}": the requests query matches no series`; code != 1 || !strings.Contains(out, want) {
		t.Errorf("a second route matching nothing: exit %d, want 1 and %q in\n%s%s", code, want, out, errOut)
	}
	code, out, errOut = runMain(t, context.Background(), "check", "--config", config(`["/api/v1/crates/:crate/:version/download", "/api/v1/me"]`))
	if code != 0 || !strings.Contains(out, "crates-io: Prometheus ok, the requests query of each route has data") {
		t.Errorf("both routes with data: exit %d\n%s%s", code, out, errOut)
	}
}

// A series source's route that the file has no rows of would be watched as
// no data: the worker refuses it at start, and check says so, naming the
// routes the file has.
func TestSeriesRouteNotInTheFileIsRefused(t *testing.T) {
	freshState(t)
	t.Setenv("HEROKU_API_KEY", "tok")
	p := writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = "http://127.0.0.1:1"
[[apps]]
name = "crates-io"
routes = ["download", "downloads"]
metrics = { source = "series", path = %q }
`, demoSeries(t)))
	code, out, errOut := runMain(t, context.Background(), "check", "--config", p)
	if want := `FAIL apps[0].metrics: route "downloads": the series has no row of it (its routes: download, other)`; code != 2 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 2 and %q in\n%s%s", code, want, out, errOut)
	}
}
