package watcher_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/watcher"
)

// downloadRoute is the guarded route as the router log names it: its
// pattern (a router-log app's route is a method and a path, not a name).
const downloadRoute = "GET /api/v1/crates/{crate}/{version}/download"

// crateNames are the crates asked for: more than the templater keeps as
// literals at one position (20), so their owners paths fold into one
// {name} template.
var crateNames = strings.Fields(`serde serde_json tokio rand syn quote proc-macro2 libc log
	regex clap anyhow thiserror futures bytes hyper reqwest itertools once_cell lazy_static
	chrono time uuid base64 sha2 hex url http tracing tracing-subscriber bitflags memchr
	cfg-if smallvec parking_lot crossbeam num-traits indexmap hashbrown rayon byteorder
	either semver toml walkdir tempfile`)

// routerLine appends to b one line of the router log as a log session
// streams it: at sec (an RFC 3339 second) and usec microseconds, a GET of
// path from a random client, answered with status in serviceMs.
func routerLine(b []byte, rng *rand.Rand, sec string, usec int, path string, status, serviceMs int) []byte {
	b = append(b, sec...)
	b = fmt.Appendf(b, ".%06d+00:00 heroku[router]: at=info method=GET path=%q host=crates.io", usec, path)
	b = fmt.Appendf(b, " request_id=%016x%016x", rng.Uint64(), rng.Uint64())
	b = fmt.Appendf(b, ` fwd="%d.%d.%d.%d"`, 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	return fmt.Appendf(b, " dyno=web.%d connect=%dms service=%dms status=%d bytes=%d protocol=https",
		1+rng.IntN(6), rng.IntN(3), serviceMs, status, 200+rng.IntN(2000))
}

// routerLog is the rig's app's router log from 35 min before t0 to lastS
// (seconds from t0), counted by an aggregator that guards the download
// route and templates every other path (all_routes, 50): downloads at
// about 50 lines/s, mostly redirects; the owners of 48 crates at about 10
// lines/s, 80% of them 500 from ownersBreakS on (0: never); a crate search
// at about 1 line/s. Every line is fed before the watcher runs; the
// stream is open from the first line on.
func routerLog(t *testing.T, ownersBreakS, lastS int) *routerlog.Aggregator {
	t.Helper()
	route, err := routerlog.ParseRoute(downloadRoute)
	if err != nil {
		t.Fatal(err)
	}
	agg := routerlog.New(routerlog.Options{Routes: []routerlog.Route{route}, Templates: 50, Retain: 2 * time.Hour})
	const firstS = -35 * 60
	agg.Listening(t0.Add((firstS - 1) * time.Second))
	rng := rand.New(rand.NewPCG(16, 42))
	lines, line := 0, []byte(nil)
	var sec string
	add := func(path string, status, serviceMs int) {
		line = routerLine(line[:0], rng, sec, rng.IntN(1_000_000), path, status, serviceMs)
		agg.Add(line)
		lines++
	}
	for s := firstS; s <= lastS; s++ {
		sec = t0.Add(time.Duration(s) * time.Second).UTC().Format("2006-01-02T15:04:05")
		for range 45 + rng.IntN(11) {
			crate := crateNames[rng.IntN(len(crateNames))]
			path := fmt.Sprintf("/api/v1/crates/%s/1.%d.%d/download", crate, rng.IntN(5), rng.IntN(30))
			status := 302
			switch u := rng.IntN(1000); {
			case u < 80:
				status = 200
			case u < 81:
				status = 503
			case u < 85:
				status = 404
			}
			add(path, status, 5+rng.IntN(30))
		}
		for range 8 + rng.IntN(5) {
			path := "/api/v1/crates/" + crateNames[rng.IntN(len(crateNames))] + "/owners"
			status := 200
			if ownersBreakS > 0 && s >= ownersBreakS && rng.IntN(10) < 8 {
				status = 500
			}
			add(path, status, 20+rng.IntN(60))
		}
		if rng.IntN(2) == 0 {
			q := crateNames[rng.IntN(len(crateNames))]
			add("/api/v1/crates?q="+q+"&per_page=10", 200, 30+rng.IntN(90))
		}
	}
	st := agg.Stats()
	if st.Lines != int64(lines) || st.Malformed != 0 || st.Late != 0 || st.Other != 0 {
		t.Fatalf("fed %d lines, the aggregator says %+v: want every one read, and a route or template for each", lines, st)
	}
	return agg
}

// ownersTemplate is the route the aggregator counts the owners paths
// under: the one route it lists that ends in /owners.
func ownersTemplate(t *testing.T, agg *routerlog.Aggregator) string {
	t.Helper()
	routes := agg.Routes(t0.Add(-time.Hour), t0.Add(time.Hour), 0)
	var owners []string
	for _, r := range routes {
		if strings.HasSuffix(r, "/owners") {
			owners = append(owners, r)
		}
	}
	if len(owners) != 1 || !strings.Contains(owners[0], "{name}/owners") {
		t.Fatalf("the aggregator lists %q: want the 48 crates' owners paths as one {name}/owners template", routes)
	}
	return owners[0]
}

// routerLogRig is the rig judging the router log of agg: the download
// route guarded by name, every other route by all_routes (50), and v42
// released at 1800 s. Its warnings go to log: a route it could not read
// ("route not judged this tick") is one.
func routerLogRig(t *testing.T, agg *routerlog.Aggregator, log *testenv.Buffer) *rig {
	t.Helper()
	r := newRig(t, 0, 5*time.Second)
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.Apps[0].Route, c.Apps[0].Routes, c.Apps[0].AllRoutes = downloadRoute, []string{downloadRoute}, 50
		c.Apps[0].Source = agg
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy 9f3c2e1"}, 1800)
	return r
}

// A release that breaks a route nobody named, only a template the router
// log made of its paths (GET /api/v1/crates/{name}/owners, 80% errors
// from 1830 s), while the guarded download route stays healthy, is
// rolled back, and the anomaly names the template: all_routes guards
// what the router log sees, end to end.
func TestRouterLogTemplateRouteDecides(t *testing.T) {
	agg := routerLog(t, 1830, 2100)
	owners := ownersTemplate(t, agg)
	var log testenv.Buffer
	r := routerLogRig(t, agg, &log)
	r.run(t, 1700, 2100)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; events %v; log:\n%s", rbs, r.kinds(), log.String())
	}
	var anomaly *notify.Event
	for _, e := range r.rec.Events() {
		if e.Kind == notify.Anomaly {
			anomaly = &e
		}
		if e.Kind == notify.WatchStarted && !strings.Contains(e.Text(), downloadRoute+" and 2 other routes") {
			t.Errorf("watch start does not say the templates are guarded too: %s", e.Text())
		}
	}
	if anomaly == nil {
		t.Fatalf("no anomaly announced: %v", r.kinds())
	}
	seen := anomaly.Seen()
	if seen.Route != owners || !strings.Contains(seen.Summary, owners) {
		t.Errorf("the anomaly does not name the template that decided (%q): route %q, summary %q", owners, seen.Route, seen.Summary)
	}
	want, anomalous := analysis.ZFor(analysis.DefaultThresholds().Z, 3), 0
	for _, f := range seen.Findings {
		if f.Status != analysis.Anomalous {
			continue
		}
		anomalous++
		if f.Route != owners {
			t.Errorf("a route that did not move is anomalous: %+v", f)
		}
		if f.ZThreshold != want {
			t.Errorf("%s's %s held to z %.2f, want %.2f (three routes)", f.Route, f.Signal, f.ZThreshold, want)
		}
	}
	if anomalous == 0 {
		t.Errorf("the anomaly has no anomalous finding: %+v", seen.Findings)
	}
	if l := log.String(); l != "" {
		t.Errorf("the watcher warned (a route left out of a tick?):\n%s", l)
	}
}

// The same router log with the owners paths healthy: the templates
// neither roll the release back nor hold back its healthy ending.
func TestRouterLogTemplatesHealthyEndsHealthy(t *testing.T) {
	agg := routerLog(t, 0, 2500)
	ownersTemplate(t, agg)
	var log testenv.Buffer
	r := routerLogRig(t, agg, &log)
	r.run(t, 1700, 2500)
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back a healthy release: %+v; events %v", rbs, r.kinds())
	}
	if k := r.kinds(); len(k) != 2 || k[1] != string(notify.WatchHealthy) {
		t.Fatalf("events %v, want the watch started and ended healthy; log:\n%s", k, log.String())
	}
	if l := log.String(); l != "" {
		t.Errorf("the watcher warned (a route left out of a tick?):\n%s", l)
	}
}

// A log session that stays open but delivers nothing for a while after a
// healthy release (Logplex behind: 20 s, 55 s, less than the stall
// timeout that would close it) does not roll the release back: the
// seconds after the newest line delivered are not known yet, never zero
// requests, and the lines that come late count. Before, the open stream
// covered every second up to the clock, and 20 s of silence read as the
// download route collapsing to 0/s: a rollback of a good release.
func TestRouterLogStreamBehindIsNoCollapse(t *testing.T) {
	for _, silent := range []int{20, 55} {
		t.Run(fmt.Sprintf("silent %d s", silent), func(t *testing.T) {
			route, err := routerlog.ParseRoute(downloadRoute)
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, 0, 5*time.Second)
			agg := routerlog.New(routerlog.Options{Routes: []routerlog.Route{route}, Retain: 2 * time.Hour, Now: func() time.Time { return r.now }})
			var log testenv.Buffer
			r.w = rebuild(r, r.rec, func(c *watcher.Config) {
				c.Apps[0].Route, c.Apps[0].Source, c.Apps[0].Policy = downloadRoute, agg, watcher.DefaultPolicy()
				c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
			})
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy 9f3c2e1"}, 1800)
			rng := rand.New(rand.NewPCG(1, 2))
			fed := -35 * 60
			agg.Listening(t0.Add(time.Duration(fed-1) * time.Second)) // the stream opened
			var line []byte
			feed := func(to int) { // delivers the lines of the seconds up to to
				for ; fed <= to; fed++ {
					sec := t0.Add(time.Duration(fed) * time.Second).UTC().Format("2006-01-02T15:04:05")
					for range 45 + rng.IntN(11) {
						path := fmt.Sprintf("/api/v1/crates/%s/1.%d.%d/download", crateNames[rng.IntN(len(crateNames))], rng.IntN(5), rng.IntN(30))
						line = routerLine(line[:0], rng, sec, rng.IntN(1_000_000), path, 302, 5+rng.IntN(30))
						agg.Add(line)
					}
				}
			}
			for s := 1700; s <= 1800+21*60; s++ {
				r.now = t0.Add(time.Duration(s) * time.Second)
				if s < 1830 || s >= 1830+silent {
					feed(s - 1) // a second's lines arrive once it is over
				}
				if s%5 == 0 {
					if err := r.w.Tick(context.Background(), r.now); err != nil {
						t.Fatal(err)
					}
				}
			}
			if rbs := r.rollbacks(); len(rbs) != 0 {
				t.Fatalf("rolled back a healthy release over %d s of a log stream behind: %+v; events %v\n%s", silent, rbs, r.kinds(), r.rec.Events()[1].Text())
			}
			if k := r.kinds(); len(k) != 2 || k[1] != string(notify.WatchHealthy) {
				t.Fatalf("events %v, want the watch started and ended healthy; log:\n%s", k, log.String())
			}
		})
	}
}
