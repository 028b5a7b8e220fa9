package synth

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/scenario"
)

// testSeeds are the seeds every shape is checked on.
var testSeeds = []uint64{1, 2, 3}

var (
	instancesMu sync.Mutex
	instances   = map[string]Instance{}
)

// instance is Generate, drawn once per test binary (it is deterministic).
func instance(s Shape, seed uint64) Instance {
	instancesMu.Lock()
	defer instancesMu.Unlock()
	key := fmt.Sprintf("%s/%d", s.Name, seed)
	in, ok := instances[key]
	if !ok {
		in = Generate(s, seed)
		instances[key] = in
	}
	return in
}

func TestSameSeedSameBytes(t *testing.T) {
	for _, s := range Shapes() {
		a, b := Generate(s, 1), instance(s, 1)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two draws of seed 1 differ", s.Name)
		}
		da, db := t.TempDir(), t.TempDir()
		if err := a.Write(da); err != nil {
			t.Fatal(err)
		}
		if err := b.Write(db); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"scenario.toml", "series.csv"} {
			x, _ := os.ReadFile(filepath.Join(da, f))
			y, _ := os.ReadFile(filepath.Join(db, f))
			if len(x) == 0 || !bytes.Equal(x, y) {
				t.Errorf("%s: %s of seed 1 differs between two writes (%d and %d bytes)", s.Name, f, len(x), len(y))
			}
		}
		if c := instance(s, 2); reflect.DeepEqual(a.Scenario.Series, c.Scenario.Series) {
			t.Errorf("%s: seeds 1 and 2 drew the same series", s.Name)
		}
	}
	// Shapes draw from their own streams: the same seed of two shapes
	// differs.
	hp, _ := Lookup("healthy-promotion")
	dr, _ := Lookup("diurnal-ramp-down")
	if reflect.DeepEqual(Generate(hp, 1).Params[0], Generate(dr, 1).Params[0]) {
		t.Error("healthy-promotion and diurnal-ramp-down drew the same rate for seed 1")
	}
}

// TestInstancesAreValidScenarios checks every count, and writes the first
// seed's instance and loads it back with the scenario loader (which
// validates it).
func TestInstancesAreValidScenarios(t *testing.T) {
	for _, s := range Shapes() {
		for _, seed := range testSeeds {
			in := instance(s, seed)
			sc := in.Scenario
			// The guarded routes, download leading, and the rest of the app.
			routes := sc.Routes()
			if len(sc.Series) != len(routes)+1 || routes[0] != downloadRoute || sc.Series[otherRoute] == nil {
				t.Fatalf("%s seed %d: %d routes in the series, guarding %q: want the guarded ones, download first, and other", s.Name, seed, len(sc.Series), routes)
			}
			for _, r := range routes {
				if sc.Series[r] == nil {
					t.Fatalf("%s seed %d: guarded route %q has no series", s.Name, seed, r)
				}
			}
			for route, rows := range sc.Series {
				for ts, p := range rows.All() {
					if ts < 0 || ts >= sc.DurationS || !p.OK || p.Requests < 0 || p.Errors < 0 || p.Repeats < 0 || p.Errors > p.Requests || p.Repeats > p.Requests {
						t.Fatalf("%s seed %d: %s at %d s is impossible: %+v", s.Name, seed, route, ts, p)
					}
				}
			}
			e := sc.Expect
			if e == nil || (e.Verdict == "rollback") != s.Bad {
				t.Fatalf("%s seed %d: expect %+v for a shape with Bad=%v", s.Name, seed, e, s.Bad)
			}
			// The bad traffic begins under the release the fault came with:
			// the expected one, or an earlier one it replaced.
			faultFrom := e.Release
			if e.FaultFrom != 0 {
				faultFrom = e.FaultFrom
			}
			if s.Bad && (e.BadFromS <= releaseOf(sc, faultFrom).AtS || e.MaxDelayS != int(s.Targets.MaxDelay.Seconds())) {
				t.Errorf("%s seed %d: bad_from_s %d, max_delay_s %d; want after the release the fault began under (%d s) and %s",
					s.Name, seed, e.BadFromS, e.MaxDelayS, releaseOf(sc, faultFrom).AtS, s.Targets.MaxDelay)
			}
			if seed != testSeeds[0] {
				continue
			}
			dir := filepath.Join(t.TempDir(), sc.Name)
			if err := in.Write(dir); err != nil {
				t.Fatal(err)
			}
			back, err := scenario.Load(dir)
			if err != nil {
				t.Fatalf("%s seed %d: the written scenario does not load: %v", s.Name, seed, err)
			}
			back.Dir = ""
			if !reflect.DeepEqual(back, sc) {
				t.Errorf("%s seed %d: the scenario read back differs from the one written", s.Name, seed)
			}
		}
	}
}

// dense returns a route's seconds, pts[t] for second t (OK false: no row).
func dense(sc *scenario.Scenario, route string) []metrics.Point {
	pts := make([]metrics.Point, sc.DurationS)
	sc.Series[route].Fill(pts, 0)
	return pts
}

// window sums a route over [from, to) seconds.
type window struct{ seconds, requests, errors, repeats int64 }

func sum(pts []metrics.Point, from, to int) window {
	var w window
	for _, p := range pts[max(from, 0):min(to, len(pts))] {
		if p.OK {
			w.seconds++
			w.requests += p.Requests
			w.errors += p.Errors
			w.repeats += p.Repeats
		}
	}
	return w
}

func (w window) rate() float64 { return float64(w.requests) / float64(max(w.seconds, 1)) }
func (w window) firstRate() float64 {
	return float64(w.requests-w.repeats) / float64(max(w.seconds, 1))
}
func (w window) errorShare() float64  { return float64(w.errors) / float64(max(w.requests, 1)) }
func (w window) repeatShare() float64 { return float64(w.repeats) / float64(max(w.requests, 1)) }

func releaseOf(sc *scenario.Scenario, v int) scenario.Release {
	for _, r := range sc.Releases {
		if r.Version == v {
			return r
		}
	}
	return scenario.Release{}
}

// live is when release v went live.
func live(sc *scenario.Scenario, v int) int {
	r := releaseOf(sc, v)
	return r.AtS + r.SucceededAfterS
}

// param returns the instance's drawn parameter called name.
func param(in Instance, name string) float64 {
	for _, p := range in.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return math.NaN()
}

// shapeFacts are what a shape is: each returns "" when its instance has
// the shape's defining property, or what is wrong. before is the baseline
// (the data before the release under test); after is the half hour from a
// minute after the bad traffic starts (bad shapes) or from a minute after
// the release goes live (healthy ones).
var shapeFacts = map[string]func(in Instance, before, after window, dl []metrics.Point) string{
	"healthy-promotion": func(in Instance, before, after window, dl []metrics.Point) string {
		at := live(in.Scenario, 42)
		blip := sum(dl, at, at+15)
		return check(blip.errorShare() > 3*before.errorShare() && blip.errors > 0, "no restart blip: %.3f%% errors after going live", 100*blip.errorShare()) +
			check(before.errorShare() < 0.001 && after.errorShare() < 0.001, "error shares %.3f%% / %.3f%%", 100*before.errorShare(), 100*after.errorShare())
	},
	"organic-surge": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.rate() > 1.6*before.rate(), "rate x%.2f, want a surge", after.rate()/before.rate()) +
			check(math.Abs(after.repeatShare()-before.repeatShare()) < 0.02, "repeat share moved: %.1f%% -> %.1f%%", 100*before.repeatShare(), 100*after.repeatShare())
	},
	"low-traffic-healthy": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(before.rate() > 0.15 && before.rate() < 3, "rate %.2f/s, want 0.3-2", before.rate())
	},
	"metrics-gap": func(in Instance, before, after window, dl []metrics.Point) string {
		at := live(in.Scenario, 42)
		gap := 0
		for _, p := range dl[at-15 : at+600] {
			if !p.OK {
				gap++
			}
		}
		return check(gap >= 120 && gap <= 480, "%d s without data after the release, want 120-480", gap)
	},
	"human-redeploy": func(in Instance, before, after window, dl []metrics.Point) string {
		d := releaseOf(in.Scenario, 43).AtS - releaseOf(in.Scenario, 42).AtS
		return check(d >= 120 && d <= 480 && in.Scenario.Expect.Release == 43, "v43 %d s after v42, expect v%d", d, in.Scenario.Expect.Release)
	},
	"release-phase-pending-healthy": func(in Instance, before, after window, dl []metrics.Point) string {
		p := releaseOf(in.Scenario, 42).SucceededAfterS
		return check(p >= 60 && p <= 120, "pending %d s", p)
	},
	"recovery-after-incident": func(in Instance, before, after window, dl []metrics.Point) string {
		ratio := after.firstRate() / before.firstRate()
		v42 := releaseOf(in.Scenario, 42).AtS
		return check(len(in.Tolerated) == 1 && in.Tolerated[0] == Tolerated{Release: 41, To: 40, BeforeS: v42}, "tolerated %+v", in.Tolerated) +
			check(before.repeatShare() > 0.6 && before.errorShare() > 0.025, "incident: repeat share %.1f%%, errors %.2f%%", 100*before.repeatShare(), 100*before.errorShare()) +
			check(before.rate() > 2*after.rate(), "rate %.0f/s -> %.0f/s, want the retries gone", before.rate(), after.rate()) +
			check(after.repeatShare() < 0.2 && after.errorShare() < 0.002, "after the fix: repeat share %.1f%%, errors %.2f%%", 100*after.repeatShare(), 100*after.errorShare()) +
			check(math.Abs(ratio-1) <= 0.10, "first attempts %.0f/s -> %.0f/s (x%.3f), want level within 10%%", before.firstRate(), after.firstRate(), ratio)
	},
	"bursty-hiccups": func(in Instance, before, after window, dl []metrics.Point) string {
		at := live(in.Scenario, 42)
		erring := func(from, to int) (n int) {
			for t := max(0, from); t < min(len(dl), to); t++ {
				if p := dl[t]; p.Requests > 0 && float64(p.Errors)/float64(p.Requests) > 0.015 {
					n++
				}
			}
			return n
		}
		pre, post := erring(at-1800, at), erring(at+60, at+1200)
		return check(pre >= 20 && post >= 10, "seconds in hiccups: %d in the 30 min before, %d in the 20 min after; want 2+ and 1+ hiccups", pre, post) +
			check(param(in, "bursty_every_s") <= 180, "bursts every %.0f s", param(in, "bursty_every_s"))
	},
	"short-history-healthy": shortHistoryFacts,
	"diurnal-ramp-down": func(in Instance, before, after window, dl []metrics.Point) string {
		first, last := sum(dl, 0, 600), sum(dl, 3000, 3600)
		return check(last.rate() < 0.9*first.rate(), "rate %.0f/s -> %.0f/s, want falling", first.rate(), last.rate())
	},
	"night-builds": nightFacts,
	"other-route-flood": func(in Instance, before, after window, dl []metrics.Point) string {
		other := dense(in.Scenario, otherRoute)
		from := live(in.Scenario, 42) + int(param(in, "flood_from_release_s"))
		flood, calm := sum(other, from+30, from+300), sum(other, 0, 1200)
		return check(flood.rate() > 3*calm.rate() && flood.errorShare() > 0.05, "other route: x%.1f, %.1f%% errors", flood.rate()/calm.rate(), 100*flood.errorShare()) +
			check(after.errorShare() < 0.001, "download errors %.3f%%", 100*after.errorShare())
	},
	"quick-fix-deploy": func(in Instance, before, after window, dl []metrics.Point) string {
		v42, v43 := releaseOf(in.Scenario, 42).AtS, releaseOf(in.Scenario, 43).AtS
		bad := sum(dl, v42+15, v43)
		return check(v43-v42 >= 45 && v43-v42 <= 55, "v43 %d s after v42", v43-v42) +
			check(bad.errorShare() > 0.15, "v42 serves %.1f%% errors", 100*bad.errorShare()) +
			check(after.errorShare() < 0.001, "v43 serves %.2f%% errors", 100*after.errorShare()) +
			check(len(in.Tolerated) == 1 && in.Tolerated[0] == Tolerated{Release: 42, To: 41, BeforeS: v43}, "tolerated %+v", in.Tolerated)
	},

	"crates-io": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.repeatShare() >= 0.7, "repeat share %.1f%% after the bad traffic began, want >= 70%%", 100*after.repeatShare()) +
			check(after.rate() > 3*before.rate(), "rate x%.2f, want ~4", after.rate()/before.rate()) +
			check(after.errorShare() < 0.001, "errors %.3f%%, want none but the baseline's", 100*after.errorShare())
	},
	"error-spike": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.errorShare() > 0.15, "error share %.1f%%", 100*after.errorShare())
	},
	"partial-retry-storm": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.repeatShare() > 0.3 && after.repeatShare() < 0.5, "repeat share %.1f%%, want ~40%%", 100*after.repeatShare()) +
			check(after.errorShare() < 0.001, "errors %.3f%%", 100*after.errorShare())
	},
	"release-phase-pending-bad": func(in Instance, before, after window, dl []metrics.Point) string {
		r := releaseOf(in.Scenario, 42)
		return check(r.SucceededAfterS >= 60 && r.SucceededAfterS <= 120, "pending %d s", r.SucceededAfterS) +
			check(in.Scenario.Expect.BadFromS > r.AtS+r.SucceededAfterS, "bad from %d s, before going live", in.Scenario.Expect.BadFromS) +
			check(after.errorShare() > 0.15, "error share %.1f%%", 100*after.errorShare())
	},
	"slow-burn": func(in Instance, before, after window, dl []metrics.Point) string {
		from := in.Scenario.Expect.BadFromS
		early, late := sum(dl, from, from+60), sum(dl, from+int(slowBurnRampMax.Seconds()), from+1000)
		return check(early.errorShare() < 0.005, "%.2f%% errors in the first minute, want a creep", 100*early.errorShare()) +
			check(late.errorShare() > 0.008 && late.errorShare() < 0.016, "%.2f%% errors after the creep, want ~1%%", 100*late.errorShare())
	},
	"short-history-bad": func(in Instance, before, after window, dl []metrics.Point) string {
		return shortHistoryFacts(in, before, after, dl) + check(after.errorShare() > 0.12, "error share %.1f%%", 100*after.errorShare())
	},
	"timeouts-retried": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.errorShare() < 0.001, "errors %.3f%%", 100*after.errorShare()) +
			check(after.repeatShare() > before.repeatShare()+0.15 && after.rate() > 1.2*before.rate(), "repeat share %.1f%% -> %.1f%%, rate x%.2f",
				100*before.repeatShare(), 100*after.repeatShare(), after.rate()/before.rate())
	},
	"partial-404s": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.errorShare() < 0.001, "errors %.3f%%", 100*after.errorShare()) +
			check(after.repeatShare() > before.repeatShare()+0.1, "repeat share %.1f%% -> %.1f%%", 100*before.repeatShare(), 100*after.repeatShare())
	},
	"low-traffic-bad": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(before.rate() > 0.3 && before.rate() < 3, "rate %.2f/s, want 0.5-2", before.rate()) +
			check(after.errorShare() > 0.2, "error share %.1f%%", 100*after.errorShare())
	},
	"night-builds-broken": func(in Instance, before, after window, dl []metrics.Point) string {
		return nightFacts(in, before, after, dl) + check(after.repeatShare() > 0.6, "repeat share %.1f%%", 100*after.repeatShare())
	},
	"rate-collapse": func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.rate() < 0.25*before.rate() && after.repeats <= after.requests/3, "rate %.0f/s -> %.0f/s", before.rate(), after.rate())
	},

	"night-builds-reruns": func(in Instance, before, after window, dl []metrics.Point) string {
		at := releaseOf(in.Scenario, 42).AtS
		return nightFacts(in, before, after, dl) +
			check(rerunIn(dl, 0, at), "no re-run (a cluster of 90%%+ repeats) before the release") +
			check(rerunIn(dl, at, len(dl)), "no re-run after the release")
	},
	"night-builds-rerun-broken": func(in Instance, before, after window, dl []metrics.Point) string {
		at := releaseOf(in.Scenario, 42).AtS
		return nightFacts(in, before, after, dl) + check(after.repeatShare() > 0.6, "repeat share %.1f%%", 100*after.repeatShare()) +
			check(rerunIn(dl, 0, at), "no re-run (a cluster of 90%%+ repeats) before the release")
	},
	"lost-lines": func(in Instance, before, after window, dl []metrics.Point) string {
		// Somewhere after the release, a stretch of minutes where both
		// routes carry about half their lines.
		other := dense(in.Scenario, otherRoute)
		v42 := releaseOf(in.Scenario, 42).AtS
		base, otherBase := sum(dl, 0, v42), sum(other, 0, v42)
		for t := v42 + 120; t+180 <= len(dl); t += 60 {
			d, o := sum(dl, t, t+180), sum(other, t, t+180)
			if d.rate() < 0.7*base.rate() && o.rate() < 0.7*otherBase.rate() {
				return ""
			}
		}
		return check(false, "no stretch where both routes lost lines")
	},
	"platform-error-burst": func(in Instance, before, after window, dl []metrics.Point) string {
		// Errors on both routes in the half minute before the release was
		// made, and on both for minutes after it.
		other := dense(in.Scenario, otherRoute)
		v42 := releaseOf(in.Scenario, 42).AtS
		return check(sum(dl, v42-20, v42).errorShare() > 0.02 && sum(other, v42-20, v42).errorShare() > 0.02,
			"errors before the release: %.2f%% downloads, %.2f%% other, want both past 2%%", 100*sum(dl, v42-20, v42).errorShare(), 100*sum(other, v42-20, v42).errorShare()) +
			check(sum(dl, v42+60, v42+170).errorShare() > 0.02 && sum(other, v42+60, v42+170).errorShare() > 0.02,
				"errors after the release: %.2f%% downloads, %.2f%% other, want both past 2%%", 100*sum(dl, v42+60, v42+170).errorShare(), 100*sum(other, v42+60, v42+170).errorShare())
	},
	"poisoned-baseline": func(in Instance, before, after window, dl []metrics.Point) string {
		v41, v42 := releaseOf(in.Scenario, 41).AtS, releaseOf(in.Scenario, 42).AtS
		outage, fixed := sum(dl, max(60, v41-300), v41), sum(dl, v41+30, v42)
		return check(v42-v41 >= 600 && v42-v41 <= 1500, "v41 %d s before v42", v42-v41) +
			check(outage.errorShare() > 0.1, "%.1f%% errors before the fix, want an outage", 100*outage.errorShare()) +
			check(fixed.errorShare() < 0.002, "%.2f%% errors after the fix", 100*fixed.errorShare()) +
			check(after.errorShare() > 0.02 && after.errorShare() < 0.06, "%.1f%% errors after the release, want 3-5%%", 100*after.errorShare())
	},
	"config-on-bad-build": func(in Instance, before, after window, dl []metrics.Point) string {
		return configFacts(in) + check(after.errorShare() > 0.006, "%.2f%% errors, want ~1%%", 100*after.errorShare())
	},
	"config-breaks": func(in Instance, before, after window, dl []metrics.Point) string {
		sc := in.Scenario
		v41, v42 := releaseOf(sc, 41), releaseOf(sc, 42)
		return check(v41.Slug != "" && v42.Slug == v41.Slug && sc.Expect.To == 0 && sc.Expect.FaultFrom == 0, "v41 %q, v42 %q: want one build", v41.Slug, v42.Slug) +
			check(after.errorShare() > 0.15, "%.1f%% errors", 100*after.errorShare())
	},
	"config-during-5xx": func(in Instance, before, after window, dl []metrics.Point) string {
		v42, v43 := releaseOf(in.Scenario, 42).AtS, releaseOf(in.Scenario, 43).AtS
		return configFacts(in) + check(v43-v42 >= 30 && v43-v42 <= 50, "v43 %d s after v42", v43-v42) +
			check(after.errorShare() > 0.15, "%.1f%% errors", 100*after.errorShare())
	},
}

// quantile is the q-quantile of the download route's response times over
// seconds [from, to), in seconds.
func quantile(dl []metrics.Point, from, to int, q float64) float64 {
	var h metrics.Histogram
	for _, p := range dl[max(0, from):min(len(dl), to)] {
		h.Merge(p.Latency)
	}
	return h.Quantile(q).Seconds()
}

// latencyMoved is each quantile's ratio after the release over before.
func latencyMoved(in Instance, dl []metrics.Point, from int) (p50, p95, p99 float64) {
	at := releaseOf(in.Scenario, 42).AtS
	r := func(q float64) float64 { return quantile(dl, from, from+1200, q) / quantile(dl, 0, at, q) }
	return r(0.5), r(0.95), r(0.99)
}

func init() {
	timed := func(dl []metrics.Point) string {
		for t, p := range dl {
			if p.OK && p.Requests > 0 && (p.Latency == nil || p.Latency.Count() != p.Requests) {
				return check(false, "second %d: %d requests, latency %v", t, p.Requests, p.Latency)
			}
		}
		return ""
	}
	after := func(in Instance) int {
		if in.Scenario.Expect.BadFromS > 0 {
			return in.Scenario.Expect.BadFromS + 60
		}
		return live(in.Scenario, 42) + 60
	}
	healthy := func(lo, hi float64) func(in Instance, before, _ window, dl []metrics.Point) string {
		return func(in Instance, before, _ window, dl []metrics.Point) string {
			p50, p95, _ := latencyMoved(in, dl, after(in))
			return timed(dl) + check(p50 > lo && p50 < hi && p95 > lo && p95 < hi, "p50 x%.2f, p95 x%.2f, want x%.2f-%.2f", p50, p95, lo, hi)
		}
	}
	shapeFacts["latency-noise"] = healthy(0.85, 1.15)
	shapeFacts["slow-dependency"] = func(in Instance, before, a window, dl []metrics.Point) string {
		at := releaseOf(in.Scenario, 42).AtS
		// The dependency makes p95 far slower than p50's log-normal tail.
		return healthy(0.7, 1.4)(in, before, a, dl) + check(quantile(dl, 0, at, 0.95) > 3*quantile(dl, 0, at, 0.5), "p95 %.3fs, p50 %.3fs before: want a slow dependency", quantile(dl, 0, at, 0.95), quantile(dl, 0, at, 0.5))
	}
	// 10% is within the median's own drift over an hour (3-10%): the
	// release's factor is the fact, the quantiles only roughly so.
	shapeFacts["slightly-slower"] = func(in Instance, before, a window, dl []metrics.Point) string {
		f := param(in, "slower")
		return healthy(0.85, 1.35)(in, before, a, dl) + check(f >= 1.08 && f <= 1.12, "slower x%.3f, want x1.08-1.12", f)
	}
	shapeFacts["slow-release"] = func(in Instance, before, a window, dl []metrics.Point) string {
		p50, p95, _ := latencyMoved(in, dl, after(in))
		return timed(dl) + check(p50 > 2.5 && p95 > 2.5, "p50 x%.2f, p95 x%.2f, want x3-5", p50, p95) +
			check(a.errorShare() < 0.001, "errors %.3f%%", 100*a.errorShare())
	}
	shapeFacts["slow-tail"] = func(in Instance, before, a window, dl []metrics.Point) string {
		p50, p95, p99 := latencyMoved(in, dl, after(in))
		return timed(dl) + check(p99 > 2.5 && p50 < 1.15, "p50 x%.2f, p95 x%.2f, p99 x%.2f: want p99 x3-6, p50 unchanged", p50, p95, p99)
	}
}

// configFacts: v43 is a config change on v42's build, the fault began
// under v42, and the rollback goes to v41.
func configFacts(in Instance) string {
	sc := in.Scenario
	v42, v43 := releaseOf(sc, 42), releaseOf(sc, 43)
	return check(v42.Slug != "" && v43.Slug == v42.Slug && strings.Contains(v43.Description, "config vars"), "v42 %q, v43 %q (%s): want a config change on v42's build", v42.Slug, v43.Slug, v43.Description) +
		check(sc.Expect.Release == 43 && sc.Expect.To == 41 && sc.Expect.FaultFrom == 42, "expect %+v", *sc.Expect)
}

func shortHistoryFacts(in Instance, before, after window, dl []metrics.Point) string {
	v41, v42 := releaseOf(in.Scenario, 41).AtS, releaseOf(in.Scenario, 42).AtS
	return check(v41 == -600 && v42 >= 300 && v42 <= 320, "v41 at %d s, v42 at %d s", v41, v42)
}

func nightFacts(in Instance, before, after window, dl []metrics.Point) string {
	silent, peak := 0, int64(0)
	for _, p := range dl[:1800] {
		if p.Requests == 0 {
			silent++
		}
		peak = max(peak, p.Requests)
	}
	return check(silent > 1500 && peak >= 5, "%d of 1800 s silent, peak %d/s: want clustered builds", silent, peak)
}

func check(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return "; " + fmt.Sprintf(format, args...)
}

func TestShapesHaveTheirDefiningProperty(t *testing.T) {
	for _, s := range Shapes() {
		facts, ok := shapeFacts[s.Name]
		if !ok {
			t.Errorf("%s: no defining property checked", s.Name)
			continue
		}
		if s.Doc == "" || (s.Bad && s.Targets.MaxDelay == 0) {
			t.Errorf("%s: no Doc or no targets", s.Name)
		}
		for _, seed := range testSeeds {
			in := instance(s, seed)
			sc := in.Scenario
			dl := dense(sc, downloadRoute)
			at := releaseOf(sc, sc.Expect.Release).AtS
			if sc.Expect.Release == 43 {
				at = releaseOf(sc, 42).AtS
			}
			from := live(sc, sc.Expect.Release) + 60
			if s.Bad {
				from = sc.Expect.BadFromS + 60
			}
			before, after := sum(dl, 0, at), sum(dl, from, from+1800)
			if msg := facts(in, before, after, dl); msg != "" {
				t.Errorf("%s seed %d%s", s.Name, seed, msg)
			}
		}
	}
}

// TestCorpusIsRegenerable checks that the repository's corpus (scenarios/,
// scenarios/.pending/) holds an instance of every shape, and that each is
// what its shape and seed draw today, byte for byte.
func TestCorpusIsRegenerable(t *testing.T) {
	found := map[string]int{}
	for _, pattern := range []string{"../../scenarios/*/scenario.toml", "../../scenarios/.pending/*/scenario.toml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var name string
			var seed uint64
			if _, err := fmt.Sscanf(string(raw), "# Synthesized by relwatch: shape %s seed %d", &name, &seed); err != nil {
				continue // a recorded scenario
			}
			name = strings.TrimSuffix(name, ",")
			found[name]++
			shape, ok := Lookup(name)
			if !ok {
				t.Errorf("%s: shape %q is gone", p, name)
				continue
			}
			dir := t.TempDir()
			if err := Generate(shape, seed).Write(dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"scenario.toml", "series.csv"} {
				want, _ := os.ReadFile(filepath.Join(dir, f))
				got, _ := os.ReadFile(filepath.Join(filepath.Dir(p), f))
				if !bytes.Equal(got, want) {
					dir := strings.TrimPrefix(filepath.Dir(p), "../../")
					t.Errorf("%s differs from what shape %s seed %d draws today; write it again: relwatch sweep --shape %s --seed %d --out %s",
						filepath.Join(dir, f), name, seed, name, seed, dir)
				}
			}
		}
	}
	for _, s := range Shapes() {
		if found[s.Name] == 0 {
			t.Errorf("scenarios/ has no instance of %s: relwatch sweep --shape %s --seed 1 --out scenarios/%s-seed1", s.Name, s.Name, s.Name)
		}
	}
}

// TestSamplers checks the samplers' mean and variance on many draws.
func TestSamplers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100000
	moments := func(draw func() float64) (mean, variance float64) {
		var s, s2 float64
		for range n {
			x := draw()
			s += x
			s2 += x * x
		}
		mean = s / n
		return mean, s2/n - mean*mean
	}
	// The mean within 5 standard errors, the variance within 5%.
	check := func(what string, mean, variance, wantMean, wantVariance float64) {
		if math.Abs(mean-wantMean) > 5*math.Sqrt(wantVariance/n) {
			t.Errorf("%s: mean %.4f, want %.4f", what, mean, wantMean)
		}
		if math.Abs(variance-wantVariance) > 0.05*wantVariance {
			t.Errorf("%s: variance %.4f, want %.4f", what, variance, wantVariance)
		}
	}
	for _, c := range []struct {
		n int64
		p float64
	}{{3, 0.137}, {87, 0.137}, {1000, 0.3}, {20000, 0.0003}, {100, 0.9}, {3000, 0.76}} {
		m, v := moments(func() float64 { return float64(binomial(r, c.n, c.p)) })
		check(fmt.Sprintf("binomial(%d, %g)", c.n, c.p), m, v, float64(c.n)*c.p, float64(c.n)*c.p*(1-c.p))
	}
	for _, l := range []float64{0.3, 9.9, 10, 1500} {
		m, v := moments(func() float64 { return float64(poisson(r, l)) })
		check(fmt.Sprintf("poisson(%g)", l), m, v, l, l)
	}
	for _, k := range []float64{0.5, 4, 30} {
		m, v := moments(func() float64 { return gamma(r, k) })
		check(fmt.Sprintf("gamma(%g)", k), m, v, k, k)
	}
	m, v := moments(func() float64 { return float64(negBinomial(r, 200, 20)) })
	check("negBinomial(200, k 20)", m, v, 200, 200+200*200/20.0)
}

func BenchmarkGenerate(b *testing.B) {
	s, _ := Lookup("crates-io")
	b.ReportAllocs()
	var seed uint64
	for b.Loop() {
		seed++
		Generate(s, seed)
	}
}

// rerunIn reports whether dl[from:to] holds a re-run: 10 seconds or less
// holding at least 5 requests, 90% or more of them repeats, in a
// build-sized burst.
func rerunIn(dl []metrics.Point, from, to int) bool {
	for t := max(0, from); t+10 <= min(to, len(dl)); t++ {
		w := sum(dl, t, t+10)
		if w.requests >= 5 && float64(w.repeats) >= 0.9*float64(w.requests) {
			return true
		}
	}
	return false
}
