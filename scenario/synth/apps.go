package synth

// Shapes real Heroku apps bring: a morning ramp, jobs on a timer, a CDN
// refetching after a release, dynos that boot for half a minute, a short
// outage in the baseline, one dyno of three failing, a memory leak.

import (
	"math"
	"time"
)

var (
	leakTargets   = Targets{MaxDelay: 15 * time.Minute, P95: 15 * time.Minute}
	minuteTargets = Targets{MaxDelay: 90 * time.Second, P95: 90 * time.Second}
)

func init() {
	shapes = append(shapes,
		Shape{Name: "morning-ramp", build: morningRamp, Doc: `Release at the nightly low (30-300 req/s, flat for the baseline); 0-5 min after
it the morning ramp multiplies every route's rate by 3-5 over 12-20 min (smooth).
Repeat share and error share unchanged. Healthy.`},
		Shape{Name: "cron-5min", build: cron5min, Doc: `A small API (5-30 req/s organic) plus a cron client every 300 s exactly (phase
drawn) sending 150-600 requests within 5-20 s, 20-50% of them repeats (it
polls the same paths), 0-3% H12 in the burst (dynos saturated). Healthy.`},
		Shape{Name: "cdn-flush", build: cdnFlush, Doc: `Full traffic; the release changes asset digests: the CDN refetches from the
origin, the rate rises x2.5-3.5 at once when the new code serves and decays
back over 2 min; no errors, repeat share unchanged. Healthy.`},
		Shape{Name: "cdn-flush-slow", build: cdnFlushSlow, Doc: `cdn-flush with response times: under the x3 load the origin is 1.5-2x
slower for the 2 min. Healthy (arguable).`},
		Shape{Name: "slow-boot", build: slowBoot, Doc: `A healthy release whose dynos take 20-35 s to boot: 50-100% H10/H12/H13 on every
route for that long from going live, retried by the clients (2-3x, 1-3 s
doubling), rate dip to 50-90%; then normal.`},
		Shape{Name: "slow-boot-short", build: slowBootShort, Doc: `slow-boot with a 12-20 s boot.`},
		Shape{Name: "short-outage-before", build: shortOutageBefore, Doc: `A 60-170 s incident (15-30% 5xx, retried: a DB failover) 5-25 min before a good
release. Healthy.`},

		Shape{Name: "one-dyno-of-three", Bad: true, Targets: FullTrafficTargets, build: oneDynoOfThree, Doc: `One of three dynos of the new release fails every request with 503 (30-36%),
clients retry 1-3x (a retry is routed anew: fails with the same chance). Bad.`},
		Shape{Name: "errors-1-to-8pct", Bad: true, Targets: FullTrafficTargets, build: errors1to8, Doc: `An app with a 0.8-1.2% baseline 5xx share; the release fails 6-8% more of
its requests with 5xx (7-9% in all; retried 1-2x). Bad.`},
		Shape{Name: "crates-io-one-retry", Bad: true, Targets: CratesIOTargets, build: cratesIOOneRetry, Doc: `crates-io, but clients retry each failure once (not three times): rate x2,
repeat share ~55%. Bad.`},
		Shape{Name: "partial-one-retry", Bad: true, Targets: FullTrafficTargets, build: partialOneRetry, Doc: `20-40% of downloads get an unusable redirect (no error), retried once. Bad.`},
		Shape{Name: "short-outage-then-bad", Bad: true, Targets: PoisonedBaselineTargets, build: shortOutageThenBad, Doc: `A 60-170 s incident (15-30% 5xx, retried) 5-25 min before the release, below
the 3-minute incident rule; the release adds 3-5% 5xx. Bad (target 5 min,
as poisoned-baseline).`},
		Shape{Name: "one-rps-bad", Bad: true, Targets: SmallAppTargets, build: oneRPSBad, Doc: `A small app at 0.8-1.2 req/s (k 1-10); the release fails 10-20% with 5xx
(retried 2-3x). Bad (small-app target 10 min).`},
		Shape{Name: "memory-leak", Bad: true, Targets: leakTargets, build: memoryLeak, Doc: `latency-noise; the release leaks memory: every response's time grows linearly
from x1 to x3-5 over 15 min (30 s steps), no errors. bad_from is when the
factor reaches x2 (clearly bad); target 15 min from there.`},
		Shape{Name: "one-dyno-of-three-later", Bad: true, Targets: FullTrafficTargets, build: oneDynoOfThreeLater, Doc: `One of three dynos starts failing every request 2-8 min after the release
(R14 memory, then 503s: 30-36%), retried. Bad.`},
	)
}

// smooth is a smoothstep from 0 to 1 over [from, from+len).
func smooth(t, from, length int) float64 {
	x := math.Min(1, math.Max(0, float64(t-from)/float64(length)))
	return x * x * (3 - 2*x)
}

func (b *builder) nightApp() {
	b.fullTraffic()
	b.download.rate = b.param("night_rate", logUniform(b.r, 30, 300))
	b.download.trendEnd = 0
	b.other.rate = max(0.05, b.download.rate*0.05)
}

func morningRampFrom(b *builder) (at int, load func(t int) float64) {
	at = b.releaseAt()
	factor := b.param("ramp_x", uniform(b.r, 3, 5))
	start := at + int(b.param("ramp_after_s", float64(intIn(b.r, 0, 300))))
	length := int(b.param("ramp_s", float64(intIn(b.r, 720, 1200))))
	load = func(t int) float64 { return 1 + (factor-1)*smooth(t, start, length) }
	for _, rt := range []*route{b.download, b.other} {
		rt.effects = append(rt.effects, load)
	}
	return at, load
}

func morningRamp(b *builder) {
	b.nightApp()
	b.history(b.previousAt())
	at, _ := morningRampFrom(b)
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

// cronJob adds a periodic client to the download route: every `every`
// seconds from phase, n requests within spread seconds, repShare of them
// repeats, errShare of them 5xx (retried once by the job).
func (b *builder) cronJob(every, phase int, n [2]int, spread [2]int, repShare, errShare float64, effectX float64) {
	r := b.r
	type run struct{ from, to int }
	var runs []run
	for s := phase; s < b.dur; s += every {
		runs = append(runs, run{s, s + intIn(r, spread[0], spread[1])})
	}
	rate := b.download.rate
	b.download.effects = append(b.download.effects, func(t int) float64 {
		for _, ru := range runs {
			if t >= ru.from && t < ru.to {
				if effectX > 0 {
					return 1 + effectX
				}
				avg := float64(n[0]+n[1]) / 2 / float64(ru.to-ru.from)
				return 1 + avg/rate
			}
		}
		return 1
	})
	// Repeats within the job: a fault with no failure visible (share of
	// the job's requests are re-polls).
	for _, ru := range runs {
		if errShare > 0 {
			b.download.faults = append(b.download.faults, &fault{from: ru.from, to: ru.to, share: errShare, server: true,
				retries: 1, retrying: 1, delay: [2]int{1, 2}})
		}
		if repShare > 0 {
			// A client-side "failure" retried once within seconds is a
			// repeat without an error: a re-poll.
			b.download.faults = append(b.download.faults, &fault{from: ru.from, to: ru.to, share: math.Min(1, repShare/(1-repShare)), sticky: 0,
				retries: 1, retrying: 1, delay: [2]int{1, 3}})
		}
	}
}

func cron5min(b *builder) {
	b.smallTraffic(5, 30)
	b.sc.App = "small-api"
	b.history(b.previousAt())
	at := b.releaseAt()
	n := [2]int{150, 600}
	b.cronJob(300, int(b.param("cron_phase_s", float64(intIn(b.r, 0, 299)))), n, [2]int{5, 20},
		b.param("cron_repeats", uniform(b.r, 0.2, 0.5)), b.param("cron_h12", uniform(b.r, 0, 0.03)), 0)
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func cdnFlushOf(b *builder, slow bool) {
	b.fullTraffic()
	if slow {
		b.withLatency()
	}
	b.history(b.previousAt())
	at := b.releaseAt()
	x := b.param("flush_x", uniform(b.r, 2.5, 3.5))
	var serving int
	eff := func(t int) float64 {
		if t < serving {
			return 1
		}
		d := float64(t - serving)
		if d > 150 {
			return 1
		}
		// hold 30 s, then decay to 1 by 120 s
		if d < 30 {
			return x
		}
		return 1 + (x-1)*(1-smooth(int(d), 30, 90))
	}
	b.download.effects = append(b.download.effects, eff)
	serving = b.release(42, at, 0, promote(b))
	if slow {
		f := b.param("flush_slow", uniform(b.lr, 1.5, 2))
		for t := serving; t < serving+120; t += 10 {
			g := 1 + (f-1)*(eff(t+5)-1)/(x-1)
			b.download.lat.slows = append(b.download.lat.slows, slowdown{from: t, to: t + 10, share: 1, factor: g})
		}
	}
	b.healthy(42)
}

func cdnFlush(b *builder)     { cdnFlushOf(b, false) }
func cdnFlushSlow(b *builder) { cdnFlushOf(b, true) }

func slowBootOf(b *builder, lo, hi int) {
	b.fullTraffic()
	r := b.r
	b.history(b.previousAt())
	at := b.releaseAt()
	b.release(42, at, 0, promote(b))
	from := at + intIn(r, 0, 2)
	to := from + int(b.param("boot_s", float64(intIn(r, lo, hi))))
	share := b.param("boot_errors", uniform(r, 0.5, 1))
	dip := b.param("boot_dip", uniform(r, 0.5, 0.9))
	for _, rt := range b.routes() {
		rt.faults = append(rt.faults, &fault{from: from, to: to, share: share, server: true,
			retries: intIn(r, 2, 3), retrying: 0.9, delay: [2]int{1, 3}, backoff: true})
		rt.effects = append(rt.effects, func(t int) float64 {
			if t >= from && t < to {
				return dip
			}
			return 1
		})
	}
	b.healthy(42)
}

func slowBoot(b *builder)      { slowBootOf(b, 20, 35) }
func slowBootShort(b *builder) { slowBootOf(b, 12, 20) }

func (b *builder) shortOutage(at int) {
	r := b.r
	before := int(b.param("incident_before_release_s", float64(intIn(r, 300, 1500))))
	length := int(b.param("incident_s", float64(intIn(r, 60, 170))))
	b.serverErrors(b.download, at-before-length, at-before, b.param("incident_errors", uniform(r, 0.15, 0.3)))
}

func shortOutageBefore(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	b.shortOutage(at)
	b.release(42, at, 0, promote(b))
	b.healthy(42)
}

func shortOutageThenBad(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	at := b.releaseAt()
	b.shortOutage(at)
	share := b.param("errors", uniform(b.r, 0.03, 0.05))
	serving := b.release(42, at, 0, deploy(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, share))
}

func oneDynoOfThree(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.serverErrors(b.download, serving, b.dur, b.param("errors", uniform(b.r, 0.30, 0.36)))
	f.retries = intIn(b.r, 1, 3)
	f.sticky = f.share
	b.bad(42, f)
}

func oneDynoOfThreeLater(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	late := serving + int(b.param("fails_after_s", float64(intIn(b.r, 120, 480))))
	f := b.serverErrors(b.download, late, b.dur, b.param("errors", uniform(b.r, 0.30, 0.36)))
	f.sticky = f.share
	b.bad(42, f)
}

func errors1to8(b *builder) {
	b.fullTraffic()
	// replace the baseline error share with 0.8-1.2%
	b.download.faults = b.download.faults[:0]
	b.baselineErrors(b.download, b.param("base_errors", uniform(b.r, 0.008, 0.012)))
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.serverErrors(b.download, serving, b.dur, b.param("errors", uniform(b.r, 0.06, 0.08)))
	f.retries = intIn(b.r, 1, 2)
	b.bad(42, f)
}

func cratesIOOneRetry(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.brokenRedirect(serving, 1)
	f.retries = 1
	b.bad(42, f)
}

func partialOneRetry(b *builder) {
	b.fullTraffic()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	f := b.brokenRedirect(serving, b.param("failing", uniform(b.r, 0.2, 0.4)))
	f.retries = 1
	b.bad(42, f)
}

func oneRPSBad(b *builder) {
	b.smallTraffic(0.8, 1.2)
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	b.bad(42, b.serverErrors(b.download, serving, b.dur, b.param("errors", uniform(b.r, 0.1, 0.2))))
}

func memoryLeak(b *builder) {
	b.fullTraffic()
	b.withLatency()
	b.history(b.previousAt())
	serving := b.release(42, b.releaseAt(), 0, promote(b))
	top := b.param("leak_x", uniform(b.lr, 3, 5))
	const creep = 900
	twoAt := -1
	for t := serving; t < b.dur; t += 30 {
		f := 1 + (top-1)*math.Min(1, float64(t-serving)/creep)
		if f >= 2 && twoAt < 0 {
			twoAt = t
		}
		if f > 1.001 {
			b.download.lat.slows = append(b.download.lat.slows, slowdown{from: t, to: min(t+30, b.dur), share: 1, factor: f})
		}
	}
	b.param("x2_after_serving_s", float64(twoAt-serving))
	b.expectRelease, b.badFrom = 42, twoAt
}
