package synth

import (
	"fmt"
	"time"

	"github.com/relwatch/relwatch/scenario"
)

// Every shape draws its own parameters from the ranges its Doc names, in
// a fixed order, so a seed means the same draw on every machine. Times are
// seconds since the recording starts (t_s); the release under test is
// created at 1800-2040 s (half an hour of baseline before it), except in
// the short-history shapes.

// slowBurnRampMax is the longest creep of slow-burn's errors.
const slowBurnRampMax = 420 * time.Second

var shapes = []Shape{
	{Name: "healthy-promotion", build: healthyPromotion, Doc: `A good promotion: noise, drift, bursts and the restart blip only.
Full traffic: 200-3000 req/s (log-uniform), gamma-Poisson noise k 30-300,
log-rate drift sd 3-12% (time constant 2-15 min), trend -15..+15% over the
hour, bursts (half the seeds) every 5-30 min of 2-3x for 5-20 s, organic
repeat share 10-15%, baseline error share 0.02-0.05%. Restart: 3-10 s of
2-20% router errors starting 0-2 s after going live, retried; a rate dip
to 50-90% in half the seeds.`},
	{Name: "organic-surge", build: organicSurge, Doc: `A good release during an organic surge (a new toolchain, cold CI caches):
the rate rises 2-3x over 1-5 min, starting 2 min before to 2 min after the
release; the repeat share does not move.`},
	{Name: "low-traffic-healthy", build: lowTrafficHealthy, Doc: `A small app at 0.3-2 req/s (gamma-Poisson k 1-10): a good release must
survive thin, lumpy traffic.`},
	{Name: "metrics-gap", build: metricsGap, Doc: `A good release, but the metrics pipeline is down for 2-8 min starting
15 s before to 90 s after it goes live: no data is no evidence.`},
	{Name: "human-redeploy", build: humanRedeploy, Doc: `v42 (a promotion) and v43 (a person's deploy) 2-8 min later, both good;
the expectation concerns v43. Each restarts the dynos.`},
	{Name: "release-phase-pending-healthy", build: releasePhasePendingHealthy, Doc: `A good release whose release phase runs 60-120 s (pending, not live)
before it succeeds and restarts the dynos.`},
	{Name: "recovery-after-incident", build: recoveryAfterIncident, Doc: `The previous release v41 was bad for the whole baseline: a share of the
downloads fails on the client (no error) and each failure is retried 3x,
tripling the rate (x2.5-3.5), repeat share ~70%, plus 3-5% 5xx. v42 is the
fix: errors and repeats fall, the total rate falls ~3x because retries
stop, and first attempts (requests - repeats) stay level. Drift sd 2-5%,
trend -5..+5%. v41 went live 10-60 min before the data begins: rolling
it back to v40 before v42 is created is right, not a false rollback.`},
	{Name: "bursty-hiccups", build: burstyHiccups, Doc: `Very bursty traffic (gamma-shaped bursts of 2-3x for 5-20 s, every 1-3
min on average) with short upstream hiccups (15-25 s of 2-4% 5xx,
retried), the app's habit before the release as after it: 2-4 in the
30 min before the healthy release and 1-2 in the 20 min after, at least
3 min apart.`},
	{Name: "short-history-healthy", build: shortHistoryHealthy, Doc: `Short history: the predecessor v41 went live 10 min before the data
begins; v42 is created 300-320 s after it begins, and is good.`},
	{Name: "diurnal-ramp-down", build: diurnalRampDown, Doc: `Traffic falling through the evening: the rate falls 25-50% over the
hour, and the release is good.`},
	{Name: "night-builds", build: nightBuilds, Doc: `Night traffic: CI builds every 1-5 min on average, each fetching 20-150
crates (median; log-normal) within 2-10 s, as 1 job (80%), 2 (15%) or 3
(5%) from one address starting within 20 s (the later jobs' fetches are
repeats: a lumpy repeat share of ~20%), over a background of 0.005-0.03
req/s. The release is good.`},
	{Name: "other-route-flood", build: otherRouteFlood, Doc: `The other route floods (x5-20 for 5-15 min, from 2 min before to 5 min
after the release) and errors (10-50% 5xx, retried); the download route is
normal and the release is good.`},
	{Name: "quick-fix-deploy", build: quickFixDeploy, Doc: `A bad v42 (20-40% 5xx, retried) and a person's fix v43 deployed 45-55 s
after it. The expectation concerns v43, which is good and must never be
rolled back (a rollback of v43 goes back to the broken v42). v42 is bad:
rolling it back to v41 before v43 is created is right, not a false
rollback ([expect] cannot say so; the sweep knows it).`},

	{Name: "crates-io", Bad: true, Targets: CratesIOTargets, build: cratesIO, Doc: `The crates.io incident of 2023-07-20: after the release no client can
resolve the download redirect; the server answers 302 (no errors); 90-100%
of the clients retry each failure 3x (1-3 s, doubling), so the rate rises
~4x and almost all of it is repeats.`},
	{Name: "error-spike", Bad: true, Targets: FullTrafficTargets, build: errorSpike, Doc: `After the release 20-40% of downloads answer 5xx; 80-100% of the clients
retry 2-3x.`},
	{Name: "partial-retry-storm", Bad: true, Targets: FullTrafficTargets, build: partialRetryStorm, Doc: `A share of downloads gets an unusable redirect (no error), each retried
3x, so the repeat share rises from its baseline to 35-45%.`},
	{Name: "release-phase-pending-bad", Bad: true, Targets: FullTrafficTargets, build: releasePhasePendingBad, Doc: `The release is pending for 60-120 s (release phase), then goes live and
20-40% of downloads answer 5xx (retried).`},
	{Name: "slow-burn", Bad: true, Targets: SlowBurnTargets, build: slowBurn, Doc: `After the release the 5xx share creeps from baseline to 0.9-1.3% over
3-7 min, then stays (retried). The bad traffic starts when the creep does;
the target allows for the creep (SlowBurnTargets).`},
	{Name: "short-history-bad", Bad: true, Targets: FullTrafficTargets, build: shortHistoryBad, Doc: `Short history: the predecessor v41 went live 10 min before the data
begins; v42, created 300-320 s after it begins, breaks 15-25% of downloads
with 5xx (retried).`},
	{Name: "timeouts-retried", Bad: true, Targets: FullTrafficTargets, build: timeoutsRetried, Doc: `25-35% of downloads time out at the client (10-30 s) while the server
logs 200: no errors. Clients retry twice, after the timeout; a retry times
out again with chance 60-100%. Repeats and rate rise.`},
	{Name: "partial-404s", Bad: true, Targets: FullTrafficTargets, build: partial404s, Doc: `10-14% of downloads answer 404 (not a server error); 80-100% of those
clients retry twice within the minute and fail again: only the repeat
share shows it.`},
	{Name: "low-traffic-bad", Bad: true, Targets: SmallAppTargets, build: lowTrafficBad, Doc: `A small app at 0.5-2 req/s whose downloads fail 30-50% with 5xx after
the release (retried 2-3x by 80-100% of the clients).`},
	{Name: "night-builds-broken", Bad: true, Targets: SmallAppTargets, build: nightBuildsBroken, Doc: `The crates.io bug at night: night-builds traffic, and every download
fails on the client after the release (no errors), retried 3x.`},
	{Name: "rate-collapse", Bad: true, Targets: FullTrafficTargets, build: rateCollapse, Doc: `Requests stop arriving (the route is mis-routed): after the release the
download rate falls to 2-20% of what it was; no errors, no retries.`},
	// History messier than one release on a clean baseline (issue 15).
	{Name: "lost-lines", build: lostLines, Doc: `A good promotion; 2-10 min after it, 40-60% of the router's lines are
lost on every route for 3-10 min, and nothing reports it (no L10/L11): the
other routes fall by the same factor. Missing data, never a collapse.`},
	{Name: "platform-error-burst", build: platformErrorBurst, Doc: `A good promotion made during a burst of 5xx on every route (the platform,
or a dependency the whole app shares): 3-8% of requests fail, retried, from
20-60 s before the release is made for 3-8 min. The errors began before the
release; rolling it back would not end them.`},
	{Name: "poisoned-baseline", Bad: true, Targets: PoisonedBaselineTargets, build: poisonedBaseline, Doc: `An outage (15-25% 5xx, retried) ran for 5-15 min and ended 10-25 min
before the release, fixed by v41; the new release v42 adds 3-5% 5xx. The
outage must not become the normal the release is judged against.`},
	{Name: "config-on-bad-build", Bad: true, Targets: SlowBurnTargets, build: configOnBadBuild, Doc: `A slow-burn deploy v42 (5xx creeping to 0.9-1.3% over 3-7 min), then a
config change v43 (same build) 90-150 s later: the fault began under v42,
so the rollback of v43 goes to v41, never to v42's build.`},
	{Name: "config-breaks", Bad: true, Targets: ConfigReleaseTargets, build: configBreaks, Doc: `A config change v42 on v41's build breaks downloads (20-40% 5xx, retried):
the config is the fault, so the rollback goes to v41, the same build.`},
	{Name: "config-during-5xx", Bad: true, Targets: ConfigReleaseTargets, build: configDuring5xx, Doc: `A deploy v42 breaks downloads (20-40% 5xx, retried); a config change v43
on the same build 30-50 s later does not restart the error grace: rolled
back to v41 within a minute of the break.`},
	{Name: "night-builds-reruns", build: nightBuildsReruns, Doc: `night-builds traffic with CI jobs re-run by hand: one build 5-25 min before
the release and one 1-15 min after it are run again 35-50 s after they
ended, every fetch a repeat. The release is good: one cluster of repeats is
a re-run, not a fault.`},
	{Name: "night-builds-rerun-broken", Bad: true, Targets: SmallAppTargets, build: nightBuildsRerunBroken, Doc: `night-builds-broken after a night with a CI job re-run by hand 5-25 min
before the release (a cluster of repeats in the baseline): the re-run must
not hide a release that breaks every later build.`},

	{Name: "latency-noise", build: latencyNoise, Doc: `healthy-promotion with response times (issue 16): log-normal around a
median of 20-150 ms (log sd 0.4-0.8) drifting 3-10%; in half the seeds
spikes every 2-15 min of 1-8 s in which 5-20% of the requests are 2-4x
slower (GC pauses, a slow query); each release's new dynos answer 1.5-3x
slower for 5-30 s after the restart blip, fading. The release is good.`},
	{Name: "slow-dependency", build: slowDependency, Doc: `latency-noise with a dependency that was slow before the release and stays
slow after it: 10-25% of the requests (wandering by about 15%, over
minutes) are 3-6x slower all hour. The release is good: the baseline was
already slow.`},
	{Name: "slightly-slower", build: slightlySlower, Doc: `latency-noise where the release is 8-12% slower, every request: a
release a person would ship, not roll back.`},
	{Name: "slow-release", Bad: true, Targets: FullTrafficTargets, build: slowRelease, Doc: `latency-noise where the release makes every request 3-5x slower, with no
error and no retry: only the latency tells.`},
	{Name: "slow-tail", Bad: true, Targets: SlowTailTargets, build: slowTail, Doc: `latency-noise where the release makes 2-4% of the requests 10-20x slower
(p99 about 3-6x, p50 unchanged): only the tail tells.`},

	// Several guarded routes (issue 16): each route is one more chance to
	// be wrong, and the one that broke must be the one announced.
	{Name: "routes-10-healthy", build: routes10Healthy, Doc: `latency-noise on an app guarding 10 routes: the download route and 9 API
routes at 0.2-20% of its rate each (log-uniform, at least 0.02 req/s),
each with its own noise (k 10-300), drift (3-12%), trend, bursts in half
of them, repeat share (3-15%), baseline 5xx (0.02-0.2%, retried) and
response times (median 10-400 ms, log sd 0.4-0.8, drift, spikes in half of
them); every release restarts every route (errors, a dip, cold dynos).
The release is good.`},
	{Name: "routes-50-healthy", build: routes50Healthy, Doc: `routes-10-healthy with 50 guarded routes, many of them small: the 49 API
routes at 0.02-20 req/s each (log-uniform: most serve a request a second
or fewer, some a request a minute). The release is good.`},
	{Name: "routes-12-one-broken", Bad: true, Targets: FullTrafficTargets, build: routes12OneBroken, Doc: `routes-10-healthy with 12 guarded routes; one API route (drawn), busy at
20-200 req/s, answers 20-40% 5xx after the release (retried 2-3x by
80-100% of the clients), the other 11 are fine. The rollback must be
announced for that route. A busy route holds as much evidence a second as
error-spike's at the low end of its rate, so the full traffic target
applies (FullTrafficTargets), with the z raised for 12 routes.`},
	{Name: "small-route-broken", Bad: true, Targets: SmallRouteTargets, build: smallRouteBroken, Doc: `An app guarding 4 routes (the download route and 3 API routes, as
routes-10-healthy's): after the release one API route (drawn), serving
2-5 req/s, answers 20-40% 5xx (retried 2-3x); the download route and
the others are fine. The rollback must be announced for the small route.
Target: within 3 min (SmallRouteTargets).`},
}

// Building blocks.

// fullTraffic draws a crates.io-sized app.
func (b *builder) fullTraffic() {
	r := b.r
	rt := &route{
		name:          downloadRoute,
		rate:          b.param("rate", logUniform(r, 200, 3000)),
		dispersion:    b.param("dispersion_k", logUniform(r, 30, 300)),
		driftSD:       b.param("drift_sd", uniform(r, 0.03, 0.12)),
		driftTau:      b.param("drift_tau_s", uniform(r, 120, 900)),
		trendEnd:      b.param("trend", uniform(r, -0.15, 0.15)),
		repeatShare:   b.param("repeat_share", uniform(r, 0.10, 0.15)),
		repeatDriftSD: b.param("repeat_drift_sd", uniform(r, 0.02, 0.08)),
		burstPeak:     [2]float64{2, 3},
		burstLen:      [2]int{5, 20},
	}
	if r.Float64() < 0.5 {
		rt.burstEvery = b.param("burst_every_s", uniform(r, 300, 1800))
	}
	b.download = rt
	b.baselineErrors(rt, b.param("error_share", uniform(r, 0.0002, 0.0005)))
	b.otherTraffic()
}

// smallTraffic draws a small app's download route at lo-hi req/s.
func (b *builder) smallTraffic(lo, hi float64) {
	r := b.r
	b.sc.App = "tiny-registry"
	rt := &route{
		name:          downloadRoute,
		rate:          b.param("rate", logUniform(r, lo, hi)),
		dispersion:    b.param("dispersion_k", logUniform(r, 1, 10)),
		driftSD:       b.param("drift_sd", uniform(r, 0.03, 0.12)),
		driftTau:      b.param("drift_tau_s", uniform(r, 120, 900)),
		trendEnd:      b.param("trend", uniform(r, -0.15, 0.15)),
		repeatShare:   b.param("repeat_share", uniform(r, 0.05, 0.15)),
		repeatDriftSD: b.param("repeat_drift_sd", uniform(r, 0.02, 0.08)),
	}
	b.download = rt
	b.baselineErrors(rt, b.param("error_share", uniform(r, 0.0002, 0.0005)))
	b.otherTraffic()
}

// nightTraffic draws a small registry's night: clustered CI builds.
func (b *builder) nightTraffic() {
	r := b.r
	b.sc.App = "tiny-registry"
	rt := &route{
		name:          downloadRoute,
		rate:          b.param("background_rate", logUniform(r, 0.005, 0.03)),
		repeatShare:   0.05,
		repeatDriftSD: 0,
		builds: &builds{
			every:     b.param("build_every_s", uniform(r, 60, 300)),
			crates:    b.param("crates_per_build", logUniform(r, 20, 150)),
			spread:    [2]int{2, 10},
			jobs:      [3]float64{0.8, 0.15, 0.05},
			jobOffset: 20,
		},
	}
	b.download = rt
	b.baselineErrors(rt, b.param("error_share", uniform(r, 0.0002, 0.0005)))
	b.otherTraffic()
}

// withLatency gives the download route response times, drawn from the
// latency stream (see latency-noise's Doc).
func (b *builder) withLatency() {
	b.download.lat = b.latency(b.param, 20, 150)
}

// latency draws response times with a median of lo-hi ms (see
// latency-noise's Doc) from the latency stream, recording its parameters
// with note.
func (b *builder) latency(note func(string, float64) float64, lo, hi float64) *latency {
	r := b.lr
	l := &latency{
		median:  note("latency_median_ms", logUniform(r, lo, hi)),
		sigma:   note("latency_sigma", uniform(r, 0.4, 0.8)),
		driftSD: note("latency_drift_sd", uniform(r, 0.03, 0.1)),
	}
	if r.Float64() < 0.5 {
		l.spikeEvery = note("latency_spike_every_s", uniform(r, 120, 900))
		l.spikeLen, l.spikeShare, l.spikeFactor = [2]int{1, 8}, [2]float64{0.05, 0.2}, [2]float64{2, 4}
	}
	return l
}

// slower makes share of the download route's requests factor times slower
// from `from` on.
func (b *builder) slower(from int, share, factor float64) {
	b.download.lat.slows = append(b.download.lat.slows, slowdown{from: from, to: b.dur, share: share, factor: factor})
}

// otherTraffic draws the rest of the app, a small fraction of the
// downloads.
func (b *builder) otherTraffic() {
	r := b.r
	rt := &route{
		name:          otherRoute,
		rate:          max(0.05, b.download.rate*uniform(r, 0.02, 0.1)),
		dispersion:    logUniform(r, 10, 100),
		driftSD:       uniform(r, 0.03, 0.1),
		driftTau:      uniform(r, 120, 900),
		repeatShare:   uniform(r, 0.03, 0.08),
		repeatDriftSD: 0.05,
	}
	b.other = rt
	b.baselineErrors(rt, uniform(r, 0.001, 0.003))
}

// baselineErrors adds the background 5xx share of a healthy app; clients
// retry them.
func (b *builder) baselineErrors(rt *route, share float64) {
	rt.faults = append(rt.faults, &fault{from: -warmup, to: b.dur, share: share, server: true,
		retries: 2, retrying: 0.9, delay: [2]int{1, 3}, backoff: true})
}

// history adds the releases before the one under test: v40 a day or two
// ago and v41 at prevAt.
func (b *builder) history(prevAt int) {
	r := b.r
	b.sc.Releases = append(b.sc.Releases,
		scenario.Release{Version: 40, AtS: -intIn(r, 86400, 172800), Description: deploy(b), Status: "succeeded"},
		scenario.Release{Version: 41, AtS: prevAt, Description: promote(b), Status: "succeeded"},
	)
}

// releaseAt is when the release under test is created: half an hour of
// baseline, and its 20 min watch inside the recording.
func (b *builder) releaseAt() int {
	return int(b.param("release_at_s", float64(intIn(b.r, 1800, 2040))))
}

// release adds a release created at `at`, pending for `pending` seconds,
// and restarts the dynos when it goes live. It returns the second the new
// code serves from (the end of the restart blip).
func (b *builder) release(version, at, pending int, desc string) int {
	b.sc.Releases = append(b.sc.Releases, scenario.Release{Version: version, AtS: at, Description: desc,
		Status: "succeeded", SucceededAfterS: pending})
	return b.restart(fmt.Sprintf("v%d_", version), at+pending)
}

// restart is every dyno restarting at live: 3-10 s of 2-20% router errors
// (H13/H12) on every route, starting 0-2 s after live, retried by the
// clients; in half the draws the rate dips to 50-90% meanwhile. It returns
// the first second the new dynos serve.
func (b *builder) restart(label string, live int) int {
	r := b.r
	from := live + intIn(r, 0, 2)
	length := int(b.param(label+"restart_s", float64(intIn(r, 3, 10))))
	share := b.param(label+"restart_errors", logUniform(r, 0.02, 0.2))
	dip := 1.0
	if r.Float64() < 0.5 {
		dip = b.param(label+"restart_dip", uniform(r, 0.5, 0.9))
	}
	to := from + length
	if b.download.lat != nil {
		// Cold dynos: slower for a while after they start serving, on
		// every route they serve.
		cold := int(b.param(label+"cold_s", float64(intIn(b.lr, 5, 30))))
		s := slowdown{from: to, to: to + cold, share: 1, factor: b.param(label+"cold_factor", uniform(b.lr, 1.5, 3)), fade: true}
		for _, rt := range b.routes() {
			if rt.lat != nil {
				rt.lat.slows = append(rt.lat.slows, s)
			}
		}
	}
	for _, rt := range b.routes() {
		rt.faults = append(rt.faults, &fault{from: from, to: to, share: share, server: true,
			retries: 2, retrying: 0.9, delay: [2]int{1, 3}, backoff: true})
		if dip < 1 {
			rt.effects = append(rt.effects, func(t int) float64 {
				if t >= from && t < to {
					return dip
				}
				return 1
			})
		}
	}
	return to
}

// serverErrors fails share of the route's requests with 5xx from `from`
// to `to`, retried 2-3x by 80-100% of the clients.
func (b *builder) serverErrors(rt *route, from, to int, share float64) *fault {
	f := &fault{from: from, to: to, share: share, server: true,
		retries:  int(b.param("retries", float64(intIn(b.r, 2, 3)))),
		retrying: b.param("retrying", uniform(b.r, 0.8, 1)),
		delay:    [2]int{1, 3}, backoff: true}
	rt.faults = append(rt.faults, f)
	return f
}

// brokenRedirect is the crates.io bug: from `from` on, share of the
// downloads redirect to a host that does not resolve; the server logs 302,
// and every retry fails the same way.
func (b *builder) brokenRedirect(from int, share float64) *fault {
	f := &fault{from: from, to: b.dur, share: share, sticky: 1, retries: 3,
		retrying: b.param("retrying", uniform(b.r, 0.9, 1)),
		delay:    [2]int{1, 3}, backoff: true}
	b.download.faults = append(b.download.faults, f)
	return f
}

func (b *builder) healthy(version int) { b.expectRelease = version }

// slug names the build release version runs (a config change keeps its
// predecessor's).
func (b *builder) slug(version int, name string) {
	for i := range b.sc.Releases {
		if b.sc.Releases[i].Version == version {
			b.sc.Releases[i].Slug = name
		}
	}
}

func (b *builder) bad(version int, f *fault) { b.expectRelease, b.badFault = version, f }

func deploy(b *builder) string { return fmt.Sprintf("Deploy %07x", b.r.Uint32()>>4) }

func promote(b *builder) string {
	return fmt.Sprintf("Promote crates-io-staging v%d", intIn(b.r, 100, 400))
}

// previousAt is when the predecessor was created: 1-24 h ago.
func (b *builder) previousAt() int { return -intIn(b.r, 3600, 86400) }

// The shapes.

func healthyPromotion(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func organicSurge(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	factor := b.param("surge", uniform(b.r, 2, 3))
	start := at + int(b.param("surge_from_release_s", float64(intIn(b.r, -120, 120))))
	ramp := int(b.param("surge_ramp_s", float64(intIn(b.r, 60, 300))))
	b.download.effects = append(b.download.effects, func(t int) float64 {
		return 1 + (factor-1)*min(1, max(0, float64(t-start)/float64(ramp)))
	})
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func lowTrafficHealthy(b *builder) {
	b.smallTraffic(0.3, 2)
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func metricsGap(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	b.release(42, at, 0, promote(b))
	from := at + int(b.param("gap_from_live_s", float64(intIn(b.r, -15, 90))))
	length := int(b.param("gap_s", float64(intIn(b.r, 120, 480))))
	b.gaps = append(b.gaps, [2]int{from, from + length})
	b.healthy(42)
}

func humanRedeploy(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	b.release(42, at, 0, promote(b))
	next := at + int(b.param("redeploy_after_s", float64(intIn(b.r, 120, 480))))
	b.release(43, next, 0, deploy(b))
	b.healthy(43)
}

func releasePhasePendingHealthy(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	pending := int(b.param("pending_s", float64(intIn(b.r, 60, 120))))
	b.release(42, b.releaseAt(), pending, promote(b))
	b.healthy(42)
}

func recoveryAfterIncident(b *builder) {
	b.fullTraffic()
	r := b.r
	// Level first attempts need a steady organic rate: little drift, a
	// small trend.
	b.download.driftSD = b.param("incident_drift_sd", uniform(r, 0.02, 0.05))
	b.download.trendEnd = b.param("incident_trend", uniform(r, -0.05, 0.05))
	b.history(-intIn(r, 600, 3600))
	b.sc.Releases[1].Description = deploy(b)
	at := b.releaseAt()
	rateX := b.param("incident_rate_x", uniform(r, 2.5, 3.5))
	errShare := b.param("incident_errors", uniform(r, 0.03, 0.05))
	// v41's failures: retried 3x, each failing again, so the rate is
	// (1 + 3 share) times the organic rate.
	storm := &fault{from: -warmup, share: (rateX - 1) / 3, sticky: 1, retries: 3, retrying: 1,
		delay: [2]int{1, 3}, backoff: true}
	errs := &fault{from: -warmup, share: errShare, server: true, retries: 2, retrying: 0.9,
		delay: [2]int{1, 3}, backoff: true}
	b.download.faults = append(b.download.faults, errs, storm)
	serving := b.release(42, at, 0, deploy(b))
	storm.to, errs.to = serving, serving
	b.healthy(42)
	// v41 is the incident: a watcher that catches it (it went live less
	// than a watch before the data begins) and rolls it back before the
	// fix is created is right.
	b.tolerated = append(b.tolerated, Tolerated{Release: 41, To: 40, BeforeS: at})
}

func burstyHiccups(b *builder) {
	b.fullTraffic()
	r := b.r
	b.download.burstEvery = b.param("bursty_every_s", uniform(r, 60, 180))
	b.history(b.previousAt())
	at := b.releaseAt()
	hiccup := func(from int) {
		b.download.faults = append(b.download.faults, &fault{from: from, to: from + intIn(r, 15, 25),
			share: uniform(r, 0.02, 0.04), server: true, retries: 2, retrying: 0.9, delay: [2]int{1, 3}, backoff: true})
	}
	// The habit the baseline shows is the habit after the release: hiccups
	// in both, none overlapping another (3 min apart), none in the
	// restart blip.
	var placed []int
	place := func(lo, hi int) {
		for range 100 {
			from := intIn(r, lo, hi)
			ok := true
			for _, p := range placed {
				if from > p-180 && from < p+180 {
					ok = false
				}
			}
			if ok {
				placed = append(placed, from)
				hiccup(from)
				return
			}
		}
	}
	before := int(b.param("hiccups_before", float64(intIn(r, 2, 4))))
	for range before {
		place(max(0, at-1800), at-60)
	}
	after := int(b.param("hiccups_after", float64(intIn(r, 1, 2))))
	for range after {
		place(at+60, min(b.dur-30, at+1200))
	}
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func shortHistory(b *builder) (at int) {
	b.fullTraffic()
	b.history(-600)
	return int(b.param("release_at_s", float64(intIn(b.r, 300, 320))))
}

func shortHistoryHealthy(b *builder) {
	at := shortHistory(b)
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func diurnalRampDown(b *builder) {
	b.fullTraffic()
	b.download.trendEnd = -b.param("ramp_down", uniform(b.r, 0.25, 0.5))
	b.other.trendEnd = b.download.trendEnd
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func nightBuilds(b *builder) {
	b.nightTraffic()
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func otherRouteFlood(b *builder) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	at := b.releaseAt()
	factor := b.param("flood", uniform(r, 5, 20))
	from := at + int(b.param("flood_from_release_s", float64(intIn(r, -120, 300))))
	to := from + int(b.param("flood_s", float64(intIn(r, 300, 900))))
	b.other.effects = append(b.other.effects, func(t int) float64 {
		if t >= from && t < to {
			return factor
		}
		return 1
	})
	b.other.faults = append(b.other.faults, &fault{from: from, to: to, share: b.param("flood_errors", uniform(r, 0.1, 0.5)),
		server: true, retries: 2, retrying: 0.9, delay: [2]int{1, 3}, backoff: true})
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func quickFixDeploy(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	share := b.param("v42_errors", uniform(b.r, 0.2, 0.4))
	fixAt := at + int(b.param("fix_after_s", float64(intIn(b.r, 45, 55))))
	serving := b.release(42, at, 0, promote(b))
	f := b.serverErrors(b.download, serving, b.dur, share)
	f.to = b.release(43, fixAt, 0, deploy(b))
	b.healthy(43)
	b.tolerated = append(b.tolerated, Tolerated{Release: 42, To: 41, BeforeS: fixAt})
}

func cratesIO(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.brokenRedirect(serving, 1))
}

func errorSpike(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	share := b.param("errors", uniform(b.r, 0.2, 0.4))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func partialRetryStorm(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	// 3 sticky retries of a share s of the downloads: repeat share
	// (base + 3s) / (1 + 3s) = target.
	target := b.param("target_repeat_share", uniform(b.r, 0.35, 0.45))
	base := b.download.repeatShare
	share := (target - base) / (3 * (1 - target))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.brokenRedirect(serving, b.param("failing", share))
	f.retrying = 1
	b.bad(42, f)
}

func releasePhasePendingBad(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	pending := int(b.param("pending_s", float64(intIn(b.r, 60, 120))))
	share := b.param("errors", uniform(b.r, 0.2, 0.4))
	serving := b.release(42, b.releaseAt(), pending, promote(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func slowBurn(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	share := b.param("errors", uniform(b.r, 0.009, 0.013))
	ramp := int(b.param("creep_s", float64(intIn(b.r, 180, int(slowBurnRampMax/time.Second)))))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.serverErrors(b.download, serving, b.dur, share)
	f.rampS = ramp
	b.bad(42, f)
}

func shortHistoryBad(b *builder) {
	at := shortHistory(b)
	share := b.param("errors", uniform(b.r, 0.15, 0.25))
	serving := b.release(42, at, 0, promote(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func timeoutsRetried(b *builder) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	share := b.param("timing_out", uniform(r, 0.25, 0.35))
	timeout := int(b.param("client_timeout_s", float64(intIn(r, 10, 30))))
	sticky := b.param("timeout_again", uniform(r, 0.6, 1))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := &fault{from: serving, to: b.dur, share: share, sticky: sticky, retries: 2, retrying: 1,
		delay: [2]int{timeout, timeout + 3}}
	b.download.faults = append(b.download.faults, f)
	b.bad(42, f)
}

func partial404s(b *builder) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	share := b.param("not_found", uniform(r, 0.10, 0.14))
	retrying := b.param("retrying", uniform(r, 0.8, 1))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := &fault{from: serving, to: b.dur, share: share, sticky: 1, retries: 2, retrying: retrying,
		delay: [2]int{1, 5}, backoff: true}
	b.download.faults = append(b.download.faults, f)
	b.bad(42, f)
}

func lowTrafficBad(b *builder) {
	b.smallTraffic(0.5, 2)
	b.history(b.previousAt())
	share := b.param("errors", uniform(b.r, 0.3, 0.5))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func nightBuildsReruns(b *builder) {
	b.nightTraffic()
	at := b.releaseAt()
	b.download.builds.reruns = []int{at - int(b.param("rerun_before_release_s", float64(intIn(b.r, 300, 1500)))),
		at + int(b.param("rerun_after_release_s", float64(intIn(b.r, 60, 900))))}
	b.history(b.previousAt())
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func nightBuildsRerunBroken(b *builder) {
	b.nightTraffic()
	at := b.releaseAt()
	b.download.builds.reruns = []int{at - int(b.param("rerun_before_release_s", float64(intIn(b.r, 300, 1500))))}
	b.history(b.previousAt())
	serving := b.release(42, at, 0, promote(b))
	b.bad(42, b.brokenRedirect(serving, 1))
}

func nightBuildsBroken(b *builder) {
	b.nightTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.brokenRedirect(serving, 1))
}

func rateCollapse(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	left := b.param("rate_left", uniform(b.r, 0.02, 0.2))
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.download.effects = append(b.download.effects, func(t int) float64 {
		if t >= serving {
			return left
		}
		return 1
	})
	b.expectRelease, b.badFrom = 42, serving
}

func lostLines(b *builder) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	at := b.releaseAt()
	from := at + int(b.param("loss_from_release_s", float64(intIn(r, 120, 600))))
	to := from + int(b.param("loss_s", float64(intIn(r, 180, 600))))
	kept := 1 - b.param("lost", uniform(r, 0.4, 0.6))
	for _, rt := range []*route{b.download, b.other} {
		rt.effects = append(rt.effects, func(t int) float64 {
			if t >= from && t < to {
				return kept
			}
			return 1
		})
	}
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func platformErrorBurst(b *builder) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	at := b.releaseAt()
	from := at - int(b.param("burst_before_release_s", float64(intIn(r, 20, 60))))
	to := from + int(b.param("burst_s", float64(intIn(r, 180, 480))))
	share := b.param("burst_errors", uniform(r, 0.03, 0.08))
	b.serverErrors(b.download, from, to, share)
	b.serverErrors(b.other, from, to, share)
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func poisonedBaseline(b *builder) {
	b.fullTraffic()
	r := b.r
	at := b.releaseAt()
	fixBefore := int(b.param("fixed_before_release_s", float64(intIn(r, 600, 1500))))
	length := int(b.param("outage_s", float64(intIn(r, 300, 900))))
	b.history(at - fixBefore)
	b.sc.Releases[1].Description = deploy(b)
	fixed := b.restart("v41_", at-fixBefore)
	b.serverErrors(b.download, max(60, fixed-length), fixed, b.param("outage_errors", uniform(r, 0.15, 0.25)))
	share := b.param("errors", uniform(r, 0.03, 0.05))
	serving := b.release(42, at, 0, deploy(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

// configChange is a config-var change, as Heroku describes it.
func configChange(b *builder) string {
	return []string{"Set DATABASE_POOL config vars", "Set RUST_LOG config vars", "Remove CDN_URL config vars"}[intIn(b.r, 0, 2)]
}

func configOnBadBuild(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	share := b.param("errors", uniform(b.r, 0.009, 0.013))
	ramp := int(b.param("creep_s", float64(intIn(b.r, 180, int(slowBurnRampMax/time.Second)))))
	config := at + int(b.param("config_after_s", float64(intIn(b.r, 90, 150))))
	serving := b.release(42, at, 0, deploy(b))
	f := b.serverErrors(b.download, serving, b.dur, share)
	f.rampS = ramp
	b.release(43, config, 0, configChange(b))
	b.slug(42, "build-42")
	b.slug(43, "build-42")
	b.bad(43, f)
	b.expectTo, b.faultFrom = 41, 42
}

func configBreaks(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	share := b.param("errors", uniform(b.r, 0.2, 0.4))
	serving := b.release(42, b.releaseAt(), 0, configChange(b))
	b.slug(41, "build-41")
	b.slug(42, "build-41")
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func configDuring5xx(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	share := b.param("errors", uniform(b.r, 0.2, 0.4))
	config := at + int(b.param("config_after_s", float64(intIn(b.r, 30, 50))))
	serving := b.release(42, at, 0, deploy(b))
	f := b.serverErrors(b.download, serving, b.dur, share)
	b.release(43, config, 0, configChange(b))
	b.slug(42, "build-42")
	b.slug(43, "build-42")
	b.bad(43, f)
	b.expectTo, b.faultFrom = 41, 42
}

func latencyNoise(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func slowDependency(b *builder) {
	b.fullTraffic()
	b.withLatency()
	r := b.lr
	b.download.lat.slows = append(b.download.lat.slows, slowdown{from: 0, to: b.dur,
		share:  b.param("slow_share", uniform(r, 0.1, 0.25)),
		factor: b.param("slow_factor", uniform(r, 3, 6)),
		wander: newAR1(r, 0.15, 300)})
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func slightlySlower(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.slower(serving, 1, b.param("slower", uniform(b.lr, 1.08, 1.12)))
	b.healthy(42)
}

func slowRelease(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.slower(serving, 1, b.param("slower", uniform(b.lr, 3, 5)))
	b.expectRelease, b.badFrom = 42, serving
}

func slowTail(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.slower(serving, b.param("tail_share", uniform(b.lr, 0.02, 0.04)), b.param("tail_factor", uniform(b.lr, 10, 20)))
	b.expectRelease, b.badFrom = 42, serving
}

// Several guarded routes (issue 16).

// apiRoutes name the routes an app guards beside its download route, as
// the router log's templates name them, the busiest usually first.
var apiRoutes = []string{
	"GET /api/v1/crates", "GET /api/v1/crates/:name", "GET /api/v1/crates/:name/versions",
	"GET /api/v1/summary", "GET /api/v1/crates/:name/:version/readme", "GET /api/v1/crates/:name/:version/dependencies",
	"GET /api/v1/me", "GET /api/v1/crates/:name/reverse_dependencies", "PUT /api/v1/crates/new",
	"GET /api/v1/crates/:name/owners", "GET /api/v1/keywords", "GET /api/v1/categories",
	"GET /api/v1/crates/:name/downloads", "GET /api/v1/crates/:name/:version/downloads", "GET /api/v1/site_metadata",
	"GET /api/v1/keywords/:keyword", "GET /api/v1/categories/:category", "GET /api/v1/category_slugs",
	"GET /api/v1/users/:user", "GET /api/v1/teams/:team", "GET /api/v1/me/updates",
	"GET /api/v1/me/tokens", "PUT /api/v1/me/tokens", "DELETE /api/v1/me/tokens/:id",
	"GET /api/v1/me/crate_owner_invitations", "PUT /api/v1/me/crate_owner_invitations/:id", "PUT /api/v1/crates/:name/owners",
	"DELETE /api/v1/crates/:name/owners", "DELETE /api/v1/crates/:name/:version/yank", "PUT /api/v1/crates/:name/:version/unyank",
	"PUT /api/v1/crates/:name/follow", "DELETE /api/v1/crates/:name/follow", "GET /api/v1/crates/:name/following",
	"GET /api/v1/me/email_notifications", "PUT /api/v1/me/email_notifications", "PUT /api/v1/users/:user",
	"PUT /api/v1/confirm/:token", "PUT /api/v1/users/:user/resend", "GET /api/v1/users/:user/stats",
	"GET /api/private/session/begin", "GET /api/private/session/authorize", "DELETE /api/private/session",
	"GET /api/private/crate_owner_invitations", "GET /api/private/admin/crates", "GET /api/v1/crates/:name/:version/authors",
	"GET /api/v1/crates/:name/:version/rebuild_docs", "GET /api/v1/crates/:name/versions/:id", "GET /api/v1/versions/:id",
	"GET /api/openapi.json",
}

// guardedRoutes adds n routes guarded beside the download route, named
// from apiRoutes, each its own: a rate (req/s) drawn by rate, noise (gamma-Poisson k
// 10-300), a drift of 3-12% (2-15 min), a trend of -15..+15% over the
// hour, bursts in half of them (every 5-30 min, 2-3x for 5-20 s), an
// organic repeat share of 3-15%, a baseline error share of 0.02-0.2%
// (retried), and, when the download route has response times, its own (a
// median of 10-400 ms, as latency-noise's otherwise). Each route's rate is
// recorded as a parameter, the rest is not (fifty routes would bury the
// comment).
func (b *builder) guardedRoutes(n int, rate func() float64) {
	r := b.r
	quiet := func(_ string, v float64) float64 { return v }
	for i := range n {
		rt := &route{
			name:          apiRoutes[i],
			rate:          b.param(fmt.Sprintf("route%d_rate", i+2), rate()),
			dispersion:    logUniform(r, 10, 300),
			driftSD:       uniform(r, 0.03, 0.12),
			driftTau:      uniform(r, 120, 900),
			trendEnd:      uniform(r, -0.15, 0.15),
			repeatShare:   uniform(r, 0.03, 0.15),
			repeatDriftSD: uniform(r, 0.02, 0.08),
			burstPeak:     [2]float64{2, 3},
			burstLen:      [2]int{5, 20},
		}
		if r.Float64() < 0.5 {
			rt.burstEvery = uniform(r, 300, 1800)
		}
		b.baselineErrors(rt, uniform(r, 0.0002, 0.002))
		if b.download.lat != nil {
			rt.lat = b.latency(quiet, 10, 400)
		}
		b.guarded = append(b.guarded, rt)
	}
}

// shareOfDownloads draws a route's rate as lo-hi of the download route's
// (log-uniform), at least 0.02 req/s.
func (b *builder) shareOfDownloads(lo, hi float64) func() float64 {
	return func() float64 { return max(0.02, b.download.rate*logUniform(b.r, lo, hi)) }
}

func routes10Healthy(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.guardedRoutes(9, b.shareOfDownloads(0.002, 0.2))
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

func routes50Healthy(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.guardedRoutes(49, func() float64 { return logUniform(b.r, 0.02, 20) })
	b.history(b.previousAt())
	b.release(42, b.releaseAt(), 0, promote(b))
	b.healthy(42)
}

// breakRoute makes one of the guarded routes past the download route
// (drawn) serve lo-hi req/s and fail 20-40% of its requests with 5xx
// after the release (retried as serverErrors does).
func (b *builder) breakRoute(lo, hi float64) {
	r := b.r
	rt := b.guarded[int(b.param("broken_route", float64(intIn(r, 0, len(b.guarded)-1))))]
	rt.rate = b.param("broken_rate", logUniform(r, lo, hi))
	share := b.param("errors", uniform(r, 0.2, 0.4))
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.serverErrors(rt, serving, b.dur, share))
	b.badRoute = rt.name
}

func routes12OneBroken(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.guardedRoutes(11, b.shareOfDownloads(0.002, 0.2))
	b.breakRoute(20, 200)
}

func smallRouteBroken(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.guardedRoutes(3, b.shareOfDownloads(0.002, 0.2))
	b.breakRoute(2, 5)
}
