package watcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/watcher"
)

// steady is n seconds of a route at rate requests a second, errors of them
// failing from badFromS on (0: never), an error in a thousand before.
func steady(n int, rate int64, badFromS int, errs int64) []metrics.Point {
	pts := make([]metrics.Point, n)
	for i := range pts {
		pts[i] = metrics.Point{OK: true, Requests: rate, Errors: int64(i % 1000 / 999)}
		if badFromS > 0 && i >= badFromS {
			pts[i].Errors = errs
		}
	}
	return pts
}

// severalRoutes is the rig with three guarded routes: the download route
// (the rig's, healthy), the index at 50 req/s, and login at 5 req/s that
// the release breaks from 1830 s when loginBreaks (80% errors). named are
// the routes the app names; allRoutes, its AllRoutes.
func severalRoutes(t *testing.T, loginBreaks bool, named []string, allRoutes int) *rig {
	t.Helper()
	r := newRig(t, 0, 5*time.Second)
	bad := 0
	if loginBreaks {
		bad = 1830
	}
	routes := map[string][]metrics.Point{"download": r.pts, "index": steady(len(r.pts), 50, 0, 0), "login": steady(len(r.pts), 5, bad, 4)}
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.Apps[0].Routes, c.Apps[0].AllRoutes = named, allRoutes
		c.Apps[0].Source = series.New(series.Recording{Start: t0, Routes: routes}, func() time.Time { return r.now })
	})
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy 9f3c2e1"}, 1800)
	return r
}

// A release that breaks a small route while the big one is fine is rolled
// back, and the announcement names the route that decided it; its tests
// were held to the z of three routes.
func TestSeveralRoutesTheBrokenOneDecides(t *testing.T) {
	for _, tc := range []struct {
		name      string
		named     []string
		allRoutes int
	}{
		{"named", []string{"download", "index", "login"}, 0},
		{"all routes", []string{"download"}, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := severalRoutes(t, true, tc.named, tc.allRoutes)
			r.run(t, 1700, 2100)
			if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
				t.Fatalf("rollbacks %+v", rbs)
			}
			var anomaly *notify.Event
			for _, e := range r.rec.Events() {
				if e.Kind == notify.Anomaly {
					anomaly = &e
				}
				if e.Kind == notify.WatchStarted && !strings.Contains(e.Text(), "download and 2 other routes") {
					t.Errorf("watch start does not say the routes: %s", e.Text())
				}
			}
			if anomaly == nil {
				t.Fatalf("no anomaly announced: %v", r.kinds())
			}
			seen := anomaly.Seen()
			if seen.Route != "login" || !strings.Contains(seen.Summary, "on login") {
				t.Errorf("the anomaly does not name the route that decided: route %q, summary %q", seen.Route, seen.Summary)
			}
			want := analysis.ZFor(analysis.DefaultThresholds().Z, 3)
			for _, f := range seen.Findings {
				if f.Status == analysis.Anomalous && f.Route == "login" && f.ZThreshold != want {
					t.Errorf("login's %s held to z %.2f, want %.2f (three routes)", f.Signal, f.ZThreshold, want)
				}
				if f.Route != "download" && f.Status != analysis.Anomalous {
					t.Errorf("a route that did not move is in the announcement: %+v", f)
				}
			}
		})
	}
}

// The same app without the break ends healthy: the quiet routes neither
// roll it back nor hold back the healthy ending.
func TestSeveralRoutesHealthyEndsHealthy(t *testing.T) {
	r := severalRoutes(t, false, []string{"download", "index", "login"}, 0)
	r.run(t, 1700, 2500)
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back a healthy release: %+v", rbs)
	}
	if k := r.kinds(); len(k) != 2 || k[1] != string(notify.WatchHealthy) {
		t.Fatalf("events %v, want the watch started and ended healthy", k)
	}
}

func TestZFor(t *testing.T) {
	if z := analysis.ZFor(4, 1); z != 4 {
		t.Errorf("ZFor(4, 1) = %v", z)
	}
	prev := 4.0
	for _, m := range []int{2, 10, 50} {
		z := analysis.ZFor(4, m)
		if z <= prev {
			t.Errorf("ZFor(4, %d) = %.3f, not above %.3f", m, z, prev)
		}
		prev = z
	}
	if z := analysis.ZFor(4, 50); z < 4.8 || z > 4.9 {
		t.Errorf("ZFor(4, 50) = %.3f, want about 4.85 (Bonferroni)", z)
	}
}

// falling is steady traffic at rate whose requests fall to share of it
// from fromS on.
func falling(n int, rate int64, fromS int, share float64) []metrics.Point {
	pts := steady(n, rate, 0, 0)
	for i := fromS; i < n; i++ {
		pts[i].Requests = int64(float64(rate) * share)
	}
	return pts
}

// Lost log lines are no evidence (issue 15): a fall that every guarded
// route shares is missing data, not a collapse, and is not rolled back;
// the same fall on the leading route alone is.
func TestSeveralRoutesASharedFallIsLostData(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shared   bool
		rollback bool
	}{{"every route falls", true, false}, {"the leading route alone", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0, 5*time.Second)
			others := 1.0
			if tc.shared {
				others = 0.4
			}
			routes := map[string][]metrics.Point{
				"download": falling(len(r.pts), 200, 1830, 0.4),
				"index":    falling(len(r.pts), 80, 1830, others),
				"search":   falling(len(r.pts), 40, 1830, others),
			}
			r.w = rebuild(r, r.rec, func(c *watcher.Config) {
				c.Apps[0].Routes = []string{"download", "index", "search"}
				c.Apps[0].Source = series.New(series.Recording{Start: t0, Routes: routes}, func() time.Time { return r.now })
			})
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy 9f3c2e1"}, 1800)
			r.run(t, 1700, 2200)
			if got := len(r.rollbacks()) == 1; got != tc.rollback {
				t.Fatalf("rolled back: %v, want %v; events %v", got, tc.rollback, r.kinds())
			}
		})
	}
}
