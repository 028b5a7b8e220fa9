package synth

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/relwatch/relwatch/metrics"
)

// route is one route's traffic over a recording: organic requests (what
// clients would send if nothing failed) and the faults that make some of
// them fail, with the retries that follow.
type route struct {
	name string

	// Organic traffic: the mean rate times a slow drift (log-normal AR(1)),
	// a linear trend and bursts, times overdispersed per-second noise.
	rate       float64 // mean requests/s at t = 0
	dispersion float64 // gamma shape k of the per-second noise: variance = mean + mean²/k (0: Poisson)
	driftSD    float64 // stationary standard deviation of the log rate's drift
	driftTau   float64 // the drift's time constant, seconds
	trendEnd   float64 // the rate changes linearly by this share over the recording (-0.4: falls 40%)
	burstEvery float64 // mean seconds between bursts (0: none)
	burstPeak  [2]float64
	burstLen   [2]int
	// Organic repeats: the share of organic requests that repeat a
	// (client, path) pair within 60 s (CI fetching the same crate twice),
	// with a slow drift of its own. It does not move with the rate.
	repeatShare   float64
	repeatDriftSD float64
	// effects multiply the organic rate (a surge, a collapse, a dip while
	// dynos restart).
	effects []func(t int) float64
	// builds, when set, add clustered traffic (CI builds at night).
	builds *builds

	faults []*fault
	// lat, when set, draws the route's response times.
	lat *latency
}

// builds is traffic arriving as CI builds: each fetches many crates within
// a few seconds, then nothing for minutes.
type builds struct {
	every     float64    // mean seconds between builds
	crates    float64    // median crates fetched per build (log-normal)
	spread    [2]int     // seconds a job's fetches span
	jobs      [3]float64 // chance of 1, 2, 3 jobs per build (a matrix from one address: the later jobs' fetches are repeats)
	jobOffset int        // the later jobs start up to this many seconds after the first
	// reruns: the first build at or after each of these seconds is run
	// again by hand, 35-50 s after it ended, from the same address: every
	// fetch a repeat (a CI job re-run; the issue 15 night).
	reruns []int
}

// fault makes a share of a route's requests fail from `from` to `to`.
// Failing clients retry (repeats); a server-side failure is an error.
type fault struct {
	from, to int     // active in [from, to)
	share    float64 // share of requests that fail
	rampS    int     // the share rises linearly from 0 over the first rampS seconds
	server   bool    // a 5xx or router error: counted in errors
	retries  int     // how often a retrying client tries again
	retrying float64 // share of failing clients that retry at all
	// sticky is the chance that a retry fails again for the same reason
	// while the fault lasts (1: the failure is deterministic, like a broken
	// redirect; 0: every attempt fails independently at share).
	sticky float64
	// A retry follows its failed attempt after delay[0]..delay[1] seconds,
	// doubled for each earlier retry when backoff is set (at most 60 s:
	// every retry is a repeat).
	delay   [2]int
	backoff bool

	firstFail int // the first second it failed a request; -1 until then
}

func (f *fault) active(t int) bool { return t >= f.from && t < f.to }

func (f *fault) shareAt(t int) float64 {
	if f.rampS > 0 && t-f.from < f.rampS {
		return f.share * float64(t-f.from+1) / float64(f.rampS)
	}
	return f.share
}

// retryRing holds retries due in the next 64 seconds (delays are at most 60).
type retryRing [64]int64

// warmup is how long before the recording the simulation starts, so that
// retries already in flight at t = 0 (an incident under way) are there.
const warmup = 120

// simulate draws the route's per-second points for a recording of dur
// seconds.
func (rt *route) simulate(r *rand.Rand, dur int) []metrics.Point {
	req, rep := rt.organic(r, dur)
	for _, f := range rt.faults {
		f.firstFail = -1
	}
	// queues[f][a] holds the retries caused by fault f that will be the
	// (a+1)-th retry of their request.
	queues := make([][]retryRing, len(rt.faults))
	for i, f := range rt.faults {
		queues[i] = make([]retryRing, max(f.retries, 1))
	}
	pts := make([]metrics.Point, dur)
	var active []int
	for t := -warmup; t < dur; t++ {
		active = active[:0]
		for i, f := range rt.faults {
			if f.active(t) {
				active = append(active, i)
			}
		}
		p := metrics.Point{OK: true, Requests: req[t+warmup], Repeats: rep[t+warmup]}
		// fail records x requests failed by fault fi at attempt a (0: a first
		// attempt) and schedules their retries.
		fail := func(fi, a int, x int64) {
			if x == 0 {
				return
			}
			f := rt.faults[fi]
			if f.firstFail < 0 && t >= 0 {
				f.firstFail = t
			}
			if f.server {
				p.Errors += x
			}
			if a >= f.retries {
				return
			}
			if a == 0 {
				x = binomial(r, x, f.retrying)
			}
			lo, hi := f.delay[0], f.delay[1]
			if f.backoff {
				lo, hi = lo<<a, hi<<a
			}
			lo, hi = min(max(lo, 1), 60), min(max(hi, 1), 60)
			// Spread the retries evenly over the delays (a multinomial draw
			// as a chain of binomials).
			for d := lo; d <= hi && x > 0; d++ {
				n := x
				if d < hi {
					n = binomial(r, x, 1/float64(hi-d+1))
				}
				queues[fi][a][(t+warmup+d)%len(retryRing{})] += n
				x -= n
			}
		}
		// process fails n requests at attempt a: each active fault takes its
		// share of what is left, in order; a retry of a failure that is
		// still there then fails again with the origin's stickiness
		// instead of its share.
		process := func(n int64, a, origin int) {
			sticky := origin >= 0 && rt.faults[origin].active(t)
			for _, fi := range active {
				if sticky && fi == origin {
					continue
				}
				x := binomial(r, n, rt.faults[fi].shareAt(t))
				fail(fi, a, x)
				n -= x
			}
			if sticky {
				fail(origin, a, binomial(r, n, rt.faults[origin].sticky))
			}
		}
		process(req[t+warmup], 0, -1)
		for fi := range queues {
			for a := range queues[fi] {
				slot := &queues[fi][a][(t+warmup)%len(retryRing{})]
				n := *slot
				if n == 0 {
					continue
				}
				*slot = 0
				p.Requests += n
				p.Repeats += n
				process(n, a+1, fi)
			}
		}
		if t >= 0 {
			pts[t] = p
		}
	}
	return pts
}

// organic draws the organic requests and repeats of each second from
// -warmup to dur; index i is second i - warmup.
func (rt *route) organic(r *rand.Rand, dur int) (req, rep []int64) {
	n := warmup + dur
	req, rep = make([]int64, n), make([]int64, n)
	burst := make([]float64, n)
	if rt.burstEvery > 0 {
		for t := r.ExpFloat64() * rt.burstEvery; int(t) < n; t += r.ExpFloat64() * rt.burstEvery {
			addBurst(burst, int(t), intIn(r, rt.burstLen[0], rt.burstLen[1]), uniform(r, rt.burstPeak[0], rt.burstPeak[1]))
		}
	}
	drift := newAR1(r, rt.driftSD, rt.driftTau)
	repDrift := newAR1(r, rt.repeatDriftSD, 600)
	for i := range n {
		t := i - warmup
		mu := rt.rate * max(0, 1+rt.trendEnd*float64(t)/float64(dur)) * drift.next(r) * (1 + burst[i])
		for _, e := range rt.effects {
			mu *= e(t)
		}
		c := negBinomial(r, mu, rt.dispersion)
		req[i] = c
		rep[i] = binomial(r, c, min(0.95, rt.repeatShare*repDrift.next(r)))
	}
	if rt.builds != nil {
		rt.builds.add(r, req, rep)
	}
	return req, rep
}

// addBurst adds a gamma-shaped burst (a fast rise, a slower fall) of the
// given length starting at start, peaking at peak times the rate.
func addBurst(burst []float64, start, length int, peak float64) {
	const shape, mode = 2.0, 0.3 // rise over the first 30% of the burst
	for i := range length {
		t := start + i
		if t >= len(burst) {
			return
		}
		x := (float64(i) + 0.5) / float64(length) / mode
		burst[t] += (peak - 1) * math.Pow(x, shape) * math.Exp(shape*(1-x))
	}
}

// ar1 is a log-normal AR(1) multiplier with mean 1.
type ar1 struct {
	x, phi, innov, sd float64
}

func newAR1(r *rand.Rand, sd, tau float64) *ar1 {
	if sd <= 0 || tau <= 0 {
		return &ar1{}
	}
	phi := math.Exp(-1 / tau)
	return &ar1{x: sd * r.NormFloat64(), phi: phi, innov: sd * math.Sqrt(1-phi*phi), sd: sd}
}

func (a *ar1) next(r *rand.Rand) float64 {
	if a.sd == 0 {
		return 1
	}
	a.x = a.phi*a.x + a.innov*r.NormFloat64()
	return math.Exp(a.x - a.sd*a.sd/2)
}

// add draws the builds and adds their fetches to req and rep (indexed
// like organic's).
func (b *builds) add(r *rand.Rand, req, rep []int64) {
	dur := len(req)
	reruns := slices.Clone(b.reruns)
	for s := r.ExpFloat64() * b.every; int(s) < dur; s += r.ExpFloat64() * b.every {
		crates := int64(math.Round(b.crates * math.Exp(0.8*r.NormFloat64())))
		crates = min(max(crates, 5), 1000)
		if len(reruns) > 0 && int(s) >= reruns[0]+warmup {
			reruns = reruns[1:]
			b.rerun(r, req, rep, int(s), crates)
		}
		jobs := 1
		if u := r.Float64(); u >= b.jobs[0] {
			jobs = 2
			if u >= b.jobs[0]+b.jobs[1] {
				jobs = 3
			}
		}
		for j := range jobs {
			start := int(s)
			if j > 0 {
				start += intIn(r, 0, b.jobOffset)
			}
			spread := intIn(r, b.spread[0], b.spread[1])
			left := crates
			for d := range spread {
				n := left
				if d < spread-1 {
					n = binomial(r, left, 1/float64(spread-d))
				}
				left -= n
				if t := start + d; t < dur {
					req[t] += n
					if j > 0 {
						// The same address fetching the same crates again
						// within the minute.
						rep[t] += n
					}
				}
			}
		}
	}
}

// rerun runs the build that starts at start (its first job: crates
// fetches) again by hand, 35-50 s after it ended: within the minute of the
// first fetches, so every fetch of the re-run is a repeat.
func (b *builds) rerun(r *rand.Rand, req, rep []int64, start int, crates int64) {
	spread := intIn(r, b.spread[0], b.spread[1])
	again := start + b.spread[1] + intIn(r, 35, 50) // after the job's longest spread
	left := crates
	for d := range spread {
		n := left
		if d < spread-1 {
			n = binomial(r, left, 1/float64(spread-d))
		}
		left -= n
		if t := again + d; t < len(req) {
			req[t] += n
			rep[t] += n
		}
	}
}
