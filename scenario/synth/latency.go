package synth

import (
	"math"
	"math/rand/v2"

	"github.com/relwatch/relwatch/metrics"
)

// latency is a route's response times: each request's is log-normal
// around a median that drifts slowly (log AR(1)), and now and then a
// spike (a GC pause, a slow query) slows a share of a few seconds'
// requests. Slowdowns (a slower release, a slow dependency, cold dynos)
// multiply the time of a share of the requests. The latency draws use
// their own random stream, so that a shape's counts are the same with and
// without them.
type latency struct {
	median  float64 // ms
	sigma   float64 // of one response's log time
	driftSD float64 // stationary sd of the median's log drift (10 min time constant)
	// spikes: every spikeEvery s on average (0: none), spikeLen seconds
	// during which spikeShare of the requests are spikeFactor times slower.
	spikeEvery  float64
	spikeLen    [2]int
	spikeShare  [2]float64
	spikeFactor [2]float64
	slows       []slowdown
}

// slowdown makes share of the requests factor times slower in [from, to).
type slowdown struct {
	from, to      int
	share, factor float64
	// fade: the factor falls to 1 over [from, to) instead (cold dynos
	// warming up).
	fade bool
	// wander, when set, is how the share moves second by second (a slow
	// dependency's calls come and go).
	wander *ar1
}

func (s slowdown) factorAt(t int) float64 {
	if s.fade {
		return 1 + (s.factor-1)*float64(s.to-t)/float64(s.to-s.from)
	}
	return s.factor
}

// component is requests whose log time is normal(mu, sigma).
type component struct {
	n         int64
	mu, sigma float64
}

// draw gives each second with requests of pts its histogram.
func (l *latency) draw(r *rand.Rand, pts []metrics.Point) {
	drift := newAR1(r, l.driftSD, 600)
	spike := make([]bool, len(pts))
	spikeShare, spikeFactor := make([]float64, len(pts)), make([]float64, len(pts))
	if l.spikeEvery > 0 {
		for t := r.ExpFloat64() * l.spikeEvery; int(t) < len(pts); t += r.ExpFloat64() * l.spikeEvery {
			n := intIn(r, l.spikeLen[0], l.spikeLen[1])
			share, factor := uniform(r, l.spikeShare[0], l.spikeShare[1]), uniform(r, l.spikeFactor[0], l.spikeFactor[1])
			for i := int(t); i < min(len(pts), int(t)+n); i++ {
				spike[i], spikeShare[i], spikeFactor[i] = true, share, factor
			}
		}
	}
	var comps []component
	wanders := make([]float64, len(l.slows))
	for t := range pts {
		m := math.Log(l.median * drift.next(r))
		for i, s := range l.slows {
			wanders[i] = 1
			if s.wander != nil {
				wanders[i] = s.wander.next(r)
			}
		}
		p := &pts[t]
		if !p.OK || p.Requests == 0 {
			continue
		}
		left := p.Requests
		comps = comps[:0]
		take := func(share, factor float64) {
			k := binomial(r, left, min(1, share))
			left -= k
			comps = append(comps, component{n: k, mu: m + math.Log(factor), sigma: l.sigma})
		}
		for i, s := range l.slows {
			if t >= s.from && t < s.to {
				take(s.share*wanders[i], s.factorAt(t))
			}
		}
		if spike[t] {
			take(spikeShare[t], spikeFactor[t])
		}
		comps = append(comps, component{n: left, mu: m, sigma: l.sigma})
		h := new(metrics.Histogram)
		for _, c := range comps {
			c.fill(r, h)
		}
		p.Latency = h
	}
}

// fill draws c's requests into h's buckets: a multinomial over the
// log-normal's bucket probabilities, as a chain of binomials.
func (c component) fill(r *rand.Rand, h *metrics.Histogram) {
	left, mass := c.n, 1.0
	for i := 0; i < metrics.LatencyBuckets && left > 0; i++ {
		lo, hi := metrics.LatencyBucketBounds(i)
		p := cdf(hi, c) - cdf(lo, c)
		if p <= 0 {
			continue
		}
		k := left
		if i < metrics.LatencyBuckets-1 && p < mass {
			k = binomial(r, left, min(1, p/mass))
		}
		h[i] += uint32(k)
		left -= k
		mass -= p
	}
}

// cdf is the share of c's responses faster than ms.
func cdf(ms float64, c component) float64 {
	switch {
	case ms <= 0:
		return 0
	case math.IsInf(ms, 1):
		return 1
	}
	return 0.5 * math.Erfc(-(math.Log(ms)-c.mu)/(c.sigma*math.Sqrt2))
}
