package synth

import (
	"math"
	"slices"

	"github.com/relwatch/relwatch/metrics"
)

// The facts of the several-route shapes (issue 16): how many routes are
// guarded, their traffic, and which of them broke.

// apiTraffic is each guarded route past the download route over [from, to).
func apiTraffic(in Instance, from, to int) map[string]window {
	out := map[string]window{}
	for _, r := range in.Scenario.Routes()[1:] {
		out[r] = sum(dense(in.Scenario, r), from, to)
	}
	return out
}

// guardedFacts: n routes guarded, download leading, every one timed in
// every second with requests, the API routes at different, ordinary
// levels (max/min spread at least spread), and every route but broken
// (none: "") without errors to speak of before or after.
func guardedFacts(in Instance, n int, spread float64, broken string, before, after window, dl []metrics.Point) string {
	sc := in.Scenario
	routes := sc.Routes()
	msg := check(len(routes) == n && routes[0] == downloadRoute && sc.ControlRoute() == otherRoute, "guarding %d routes led by %q (control %q), want %d led by download", len(routes), routes[0], sc.ControlRoute(), n)
	at := releaseOf(sc, 42).AtS
	from := live(sc, 42) + 60
	if sc.Expect.BadFromS > 0 {
		from = sc.Expect.BadFromS + 60
	}
	pre, post := apiTraffic(in, 0, at), apiTraffic(in, from, from+1800)
	lo, hi := before.rate(), 0.0
	for _, r := range routes[1:] {
		lo, hi = min(lo, pre[r].rate()), max(hi, pre[r].rate())
		msg += timedRoute(r, dense(sc, r))
		if r != broken {
			msg += check(ordinaryErrors(pre[r]) && ordinaryErrors(post[r]), "%s: %d errors of %d before, %d of %d after, want ordinary", r, pre[r].errors, pre[r].requests, post[r].errors, post[r].requests)
		}
	}
	msg += check(hi >= spread*lo && hi < before.rate(), "API routes at %.2f-%.2f req/s (download %.0f): want levels %.0fx apart, below the download's", lo, hi, before.rate(), spread)
	return msg + check(broken != "" || after.errorShare() < 0.001, "download: %.3f%% errors after the release", 100*after.errorShare())
}

// ordinaryErrors: w's errors are what a baseline share of 0.2% or less
// gives, with its retries (a small route's few errors are no more).
func ordinaryErrors(w window) bool {
	mean := 0.002 * float64(w.requests)
	return float64(w.errors) <= mean+4*math.Sqrt(mean)+3
}

// timedRoute: every second of route with requests has their response
// times.
func timedRoute(route string, pts []metrics.Point) string {
	for t, p := range pts {
		if p.OK && p.Requests > 0 && (p.Latency == nil || p.Latency.Count() != p.Requests) {
			return check(false, "%s second %d: %d requests, latency %v", route, t, p.Requests, p.Latency)
		}
	}
	return ""
}

// brokenFacts: expect.route is one API route, serving lo-hi req/s before
// the release and failing share lo-hi of its requests after.
func brokenFacts(in Instance, rateLo, rateHi float64) string {
	sc := in.Scenario
	r := sc.Expect.Route
	if r == "" || r == downloadRoute || !slices.Contains(sc.Routes(), r) {
		return check(false, "expect.route %q: want one of the API routes", r)
	}
	pts := dense(sc, r)
	at, from := releaseOf(sc, 42).AtS, sc.Expect.BadFromS
	before, after := sum(pts, 0, at), sum(pts, from+60, from+1860)
	return check(before.rate() >= rateLo && before.rate() <= rateHi, "%s: %.2f req/s before the release, want %.0f-%.0f", r, before.rate(), rateLo, rateHi) +
		check(after.errorShare() > 0.15 && after.errorShare() < 0.45, "%s: %.1f%% errors after the release, want 20-40%% (with retries)", r, 100*after.errorShare()) +
		check(pts[from].Errors > 0 && sum(pts, live(sc, 42), from).errors <= sum(pts, live(sc, 42), live(sc, 42)+15).errors, "%s: bad_from_s %d is not its first failing second after the restart", r, from)
}

func init() {
	shapeFacts["routes-10-healthy"] = func(in Instance, before, after window, dl []metrics.Point) string {
		// Every release restarts every route: the busiest API route shows
		// the blip.
		sc := in.Scenario
		busiest, rate := "", 0.0
		for r, w := range apiTraffic(in, 0, releaseOf(sc, 42).AtS) {
			if w.rate() > rate {
				busiest, rate = r, w.rate()
			}
		}
		at := live(sc, 42)
		blip := sum(dense(sc, busiest), at, at+15)
		return guardedFacts(in, 10, 10, "", before, after, dl) +
			check(blip.errors > 0, "%s (%.0f req/s): no restart errors after going live", busiest, rate)
	}
	shapeFacts["routes-50-healthy"] = func(in Instance, before, after window, dl []metrics.Point) string {
		small := 0
		for _, w := range apiTraffic(in, 0, releaseOf(in.Scenario, 42).AtS) {
			if w.rate() < 5 {
				small++
			}
		}
		return guardedFacts(in, 50, 30, "", before, after, dl) + check(small >= 25, "%d of 49 API routes under 5 req/s, want most", small)
	}
	shapeFacts["routes-12-one-broken"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return guardedFacts(in, 12, 10, in.Scenario.Expect.Route, before, after, dl) + brokenFacts(in, 15, 250)
	}
	shapeFacts["small-route-broken"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return guardedFacts(in, 4, 1.5, in.Scenario.Expect.Route, before, after, dl) + brokenFacts(in, 1.5, 6) +
			check(before.rate() > 100*dense2rate(in), "download %.0f req/s: want the big route", before.rate())
	}
}

// dense2rate is the broken route's rate before the release.
func dense2rate(in Instance) float64 {
	return sum(dense(in.Scenario, in.Scenario.Expect.Route), 0, releaseOf(in.Scenario, 42).AtS).rate()
}
