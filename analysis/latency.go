package analysis

import (
	"math"

	"github.com/relwatch/relwatch/metrics"
)

// The latency signals: a quantile of the route's response times. Each is
// judged like the other signals: it must rise by th.LatencyRatio and by
// th.LatencyIncrease (large), be significant against how much the
// baseline's windows of the same length moved (z over the robust spread
// of their log quantile), last (each third of the window shows half the
// minimum rise) and pass the baseline's own slowest window of that length
// by th.BurstMargin. A dependency that was already slow before the release
// is in the baseline, and no verdict.
const (
	LatencyP50 Signal = "latency_p50"
	LatencyP95 Signal = "latency_p95"
	// LatencyP99 is judged only where the sample allows (1,000 responses
	// in the window): it is left out, not inconclusive, where it does not.
	LatencyP99 Signal = "latency_p99"
)

// latencyQuantiles are the judged quantiles, in the order of
// LatencyScale's arrays.
var latencyQuantiles = [3]struct {
	q        float64
	sig      Signal
	optional bool
}{{0.5, LatencyP50, false}, {0.95, LatencyP95, false}, {0.99, LatencyP99, true}}

// LatencyQuantile is the quantile a latency signal measures (0.95 for
// LatencyP95), and false for the other signals.
func LatencyQuantile(sig Signal) (float64, bool) {
	for _, lq := range latencyQuantiles {
		if lq.sig == sig {
			return lq.q, true
		}
	}
	return 0, false
}

// latencyTail is how many responses must lie past a quantile for a window
// to tell it: p50 needs 20 responses, p95 200, p99 1,000.
const latencyTail = 10

// quantileSample is the responses a window needs to read quantile q.
func quantileSample(q float64, th Thresholds) int64 {
	return max(th.MinRequests, int64(math.Ceil(latencyTail/(1-q))))
}

// latencyQuickMin is the shortest window latency is judged on: a spike of
// slow responses (a GC pause, a slow query) lasts seconds, and a tail
// quantile sees a few slow seconds in every part of a short window; in
// thirds of 10 s, a spike under 10 s long slows two of them at most.
const latencyQuickMin = 30

// minLatency is the floor under a quantile read as a logarithm: a route
// answering in under half a millisecond is no slower for a tenth of one.
const minLatency = 0.0005

// largeSampling is how many of a window's sampling standard errors a
// quantile's rise must clear the minimum by (see latencyFinding).
const largeSampling = 2

// minSpread is the floor under the spread of a log quantile: windows of
// thousands of responses each move less than 1% between them, and a z
// over a spread that small says nothing the minimum effect does not.
const minSpread = 0.01

// LatencyBaseline is the baseline's response times: all of them merged,
// and at each window length the baseline is measured at, how far a
// window's quantiles wander and its slowest windows.
type LatencyBaseline struct {
	Histogram metrics.Histogram `json:"histogram"`
	Scales    []LatencyScale    `json:"scales"`
}

// LatencyScale is the baseline's response times through windows of one
// length; each array is per quantile: p50, p95, p99.
type LatencyScale struct {
	Seconds int `json:"seconds"`
	// Spread is the robust standard deviation (1.4826 times the median
	// absolute deviation) of the natural logarithm of a window's quantile
	// over the baseline's whole windows of this length with the sample;
	// a shorter length's where there are fewer than three.
	Spread [3]float64 `json:"spread"`
	// Worst is the slowest quantile (seconds) of a window of this length,
	// sliding in sixths of it; Windows is how many windows had the sample.
	Worst   [3]float64 `json:"worst"`
	Windows [3]int     `json:"windows"`
}

// Quantile is the baseline's q-quantile in seconds.
func (lb *LatencyBaseline) Quantile(q float64) float64 {
	return lb.Histogram.Quantile(q).Seconds()
}

// samplingSpread is the standard error of the log q-quantile of a window
// of n responses against the baseline's: how many responses fall below
// the quantile is binomial, in the window and in the baseline, and a
// quantile is read within its bucket on a log scale, so a count off by
// one moves it by the bucket's log width over the responses the bucket
// holds. A window's quantile wanders at least that much, however few
// windows of a thin route the baseline measured its spread on (as a
// count's dispersion is at least Poisson's).
func (lb *LatencyBaseline) samplingSpread(q float64, n int64) float64 {
	total := lb.Histogram.Count()
	if n <= 0 || total <= 0 {
		return 0
	}
	rank, seen := q*float64(total), 0.0
	share := 0.0
	for i, c := range lb.Histogram {
		if c == 0 {
			continue
		}
		if seen+float64(c) < rank && i < metrics.LatencyBuckets-1 {
			seen += float64(c)
			continue
		}
		share = float64(c) / float64(total)
		break
	}
	if share == 0 {
		return 0
	}
	return math.Sqrt(q*(1-q)*(1/float64(n)+1/float64(total))) * math.Log(math.Sqrt2) / share
}

// scale is the baseline at window length seconds: the longest measured
// scale not longer than it.
func (lb *LatencyBaseline) scale(seconds int) LatencyScale {
	out := LatencyScale{Seconds: seconds}
	for _, s := range lb.Scales {
		if s.Seconds > seconds {
			break
		}
		out = s
	}
	return out
}

// latencies are running sums of a series' histograms, so that any
// window's histogram costs one subtraction per bucket.
type latencies struct {
	cum     [][metrics.LatencyBuckets]uint64
	covered []int
}

func newLatencies(pts []metrics.Point) latencies {
	l := latencies{cum: make([][metrics.LatencyBuckets]uint64, len(pts)+1), covered: make([]int, len(pts)+1)}
	for i, p := range pts {
		l.cum[i+1], l.covered[i+1] = l.cum[i], l.covered[i]
		if p.OK {
			l.covered[i+1]++
		}
		if p.OK && p.Latency != nil {
			for b, n := range p.Latency {
				l.cum[i+1][b] += uint64(n)
			}
		}
	}
	return l
}

func (l latencies) window(from, to int) metrics.Histogram {
	var h metrics.Histogram
	for b := range h {
		h[b] = uint32(min(l.cum[to][b]-l.cum[from][b], math.MaxUint32))
	}
	return h
}

// newLatencyBaseline measures the kept seconds of a baseline (left out
// ones zeroed) at the window lengths the other signals are measured at;
// nil when none of them has a latency.
func newLatencyBaseline(kept []metrics.Point, lengths []int, th Thresholds) *LatencyBaseline {
	any := false
	for _, p := range kept {
		if p.OK && p.Latency != nil {
			any = true
			break
		}
	}
	if !any {
		return nil
	}
	lat := newLatencies(kept)
	n := len(kept)
	lb := &LatencyBaseline{Histogram: lat.window(0, n)}
	var prev LatencyScale
	for _, l := range lengths {
		sc := LatencyScale{Seconds: l}
		minCovered := int(math.Ceil(th.MinCoverage * float64(l)))
		var logs [3][]float64
		for from := 0; from+l <= n; from += l {
			if lat.covered[from+l]-lat.covered[from] < minCovered {
				continue
			}
			h := lat.window(from, from+l)
			for i, lq := range latencyQuantiles {
				if h.Count() >= quantileSample(lq.q, th) {
					logs[i] = append(logs[i], math.Log(math.Max(minLatency, h.Quantile(lq.q).Seconds())))
				}
			}
		}
		for i := range latencyQuantiles {
			sc.Spread[i] = prev.Spread[i]
			if len(logs[i]) >= 3 {
				m := median(logs[i])
				dev := make([]float64, len(logs[i]))
				for j, x := range logs[i] {
					dev[j] = math.Abs(x - m)
				}
				sc.Spread[i] = 1.4826 * median(dev)
			}
		}
		step := max(1, l/6)
		for from := 0; from+l <= n; from += step {
			if c := lat.covered[from+l] - lat.covered[from]; c == 0 || c < minCovered {
				continue
			}
			h := lat.window(from, from+l)
			for i, lq := range latencyQuantiles {
				if h.Count() >= quantileSample(lq.q, th) {
					sc.Worst[i] = math.Max(sc.Worst[i], h.Quantile(lq.q).Seconds())
					sc.Windows[i]++
				}
			}
		}
		lb.Scales = append(lb.Scales, sc)
		prev = sc
	}
	return lb
}

// latencyFindings judges each quantile of c's response times against the
// baseline's; p99 only where it was judged.
func latencyFindings(base Baseline, c current, th Thresholds) []Finding {
	var out []Finding
	sums := newWindowSums(c.pts)
	for i, lq := range latencyQuantiles {
		f := latencyFinding(base, c, sums, th, i)
		if lq.optional && f.Status == Inconclusive {
			continue
		}
		out = append(out, f)
	}
	return out
}

// latencyFinding judges quantile i (of latencyQuantiles) of c, whose
// windows' histograms sums gives.
func latencyFinding(base Baseline, c current, sums windowSums, th Thresholds, i int) Finding {
	lq := latencyQuantiles[i]
	lb := base.Latency
	level := lb.Quantile(lq.q)
	proto := Finding{Signal: lq.sig, Trigger: true, Mode: Relative, Baseline: level, BaselineSample: lb.Histogram.Count(),
		BaselineSeconds: base.Seconds, ZThreshold: th.Z, MinIncrease: th.LatencyIncrease.Seconds(), MinRatio: th.LatencyRatio}
	need := quantileSample(lq.q, th)
	if lb.Histogram.Count() < need {
		proto.Status, proto.Gap, proto.Have, proto.Need = Inconclusive, GapThinBaseline, float64(lb.Histogram.Count()), float64(need)
		return proto
	}
	minExcess := math.Max(th.LatencyIncrease.Seconds(), level*(th.LatencyRatio-1))
	return judged(c, th, proto, func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
		if quick && w.seconds < latencyQuickMin {
			f.Gap, f.Have, f.Need = GapSettling, float64(w.seconds), latencyQuickMin
			return f, false
		}
		h := sums.of(from, to)
		f.CurrentSample = h.Count()
		if f.CurrentSample < need {
			f.Gap, f.Have, f.Need = GapFewRequests, float64(f.CurrentSample), float64(need)
			return f, false
		}
		sc := lb.scale(w.seconds)
		f.Current = h.Quantile(lq.q).Seconds()
		f.Dispersion = math.Max(minSpread, math.Max(sc.Spread[i], lb.samplingSpread(lq.q, f.CurrentSample)))
		burstExcess := 0.0
		if sc.Windows[i] > 0 {
			f.Burst = sc.Worst[i]
			burstExcess = f.Burst - level
		}
		f.Z = (math.Log(math.Max(minLatency, f.Current)) - math.Log(math.Max(minLatency, level))) / f.Dispersion
		if tz := tailZ(h.Above(level*1000), f.CurrentSample, 1-lq.q, lb.Histogram.Count()); tz < f.Z {
			f.Z = tz
		}
		excess := f.Current - level
		// Large beyond the window's own sampling: the quantile read
		// largeSampling standard errors lower still rose by the minimum.
		// A thin route's p95, read from a dozen responses, moves by half
		// on a median that drifted a fifth; a busy route's hardly moves.
		low := f.Current * math.Exp(-largeSampling*lb.samplingSpread(lq.q, f.CurrentSample))
		large := excess >= minExcess && low-level >= minExcess
		beyondBursts := excess >= th.BurstMargin*math.Max(0, burstExcess)
		if quick {
			// Strong is a ratio: QuickFactor times the minimum rise's
			// (x2.5 for x1.5), past the absolute minimum (a route at
			// 20 ms three times slower is strong, though 40 ms is not
			// three times 50 ms).
			beyondBursts = beyondBursts && sc.Windows[i] >= quickWindows && steady(c, from, to) &&
				strong(excess, level*(th.LatencyRatio-1), burstExcess, th) && base.Active*2 >= base.Seconds
		}
		f.Status = Healthy
		if f.Z < th.Z || !large || !beyondBursts {
			return f, true
		}
		// Lasting: each third is slower by half the minimum, with the
		// sample a third can have: a third of latencyTail past the
		// quantile, rounded down (constant division: 3 of 10).
		for p := range 3 {
			a, b := from+p*(to-from)/3, from+(p+1)*(to-from)/3
			if p == 2 {
				b = to
			}
			ht := sums.of(a, b)
			if float64(ht.Count())*(1-lq.q) < latencyTail/3 || ht.Quantile(lq.q).Seconds() < level+minExcess/2 {
				return f, true
			}
		}
		if !slowAllAlong(sums, from, to, level, lq.q) {
			return f, true
		}
		f.Status = Anomalous
		return f, true
	})
}

// windowSums are the histograms of a tick's windows, each merged once for
// every quantile: a few windows a tick cost less summed than kept as
// running sums (256 bytes a second). The windows of the scales all end at
// the series' end, nested, so they are grown from the end: the longest
// costs its seconds once, the shorter ones nothing more (50 routes judged
// a tick made this the cost that counted).
type windowSums struct {
	pts  []metrics.Point
	memo map[[2]int]metrics.Histogram
	// tail is the sum of pts[tailFrom:], grown to the left on demand.
	tail *suffix
}

type suffix struct {
	from int
	sum  [metrics.LatencyBuckets]uint64
}

func newWindowSums(pts []metrics.Point) windowSums {
	return windowSums{pts: pts, memo: map[[2]int]metrics.Histogram{}, tail: &suffix{from: len(pts)}}
}

func add(sum *[metrics.LatencyBuckets]uint64, pts []metrics.Point) {
	for _, p := range pts {
		if p.OK && p.Latency != nil {
			for b, n := range p.Latency {
				sum[b] += uint64(n)
			}
		}
	}
}

func (ws windowSums) of(from, to int) metrics.Histogram {
	if h, ok := ws.memo[[2]int{from, to}]; ok {
		return h
	}
	var sum [metrics.LatencyBuckets]uint64
	if to == len(ws.pts) {
		if from < ws.tail.from {
			add(&ws.tail.sum, ws.pts[from:ws.tail.from])
			ws.tail.from = from
		}
		sum = ws.tail.sum
		if from > ws.tail.from {
			var extra [metrics.LatencyBuckets]uint64
			add(&extra, ws.pts[ws.tail.from:from])
			for b := range sum {
				sum[b] -= extra[b]
			}
		}
	} else {
		add(&sum, ws.pts[from:to])
	}
	var h metrics.Histogram
	for b, n := range sum {
		h[b] = uint32(min(n, math.MaxUint32))
	}
	ws.memo[[2]int{from, to}] = h
	return h
}

// tailZ is how significant it is that k of a window's n responses lie
// past the baseline's q-quantile, where the baseline (total responses)
// has a share p = 1-q past it: the signed root of the binomial likelihood
// ratio, with half a response of continuity, and its variance widened by
// the baseline's own sampling (1 + n/total). A quantile risen in earnest
// puts many more responses past the old level; a thin route's tail of a
// dozen responses, a few more of them slow by chance, does not, though
// its quantile, read inside a sparse bucket, can move by half (the
// log-quantile z over a spread measured on a handful of baseline windows
// does not know how few responses made it). Distribution-free: the
// count past a fixed level is binomial whatever the response times.
func tailZ(k float64, n int64, p float64, total int64) float64 {
	nf := float64(n)
	if n <= 0 || p <= 0 || p >= 1 {
		return 0
	}
	k = math.Min(nf, k-0.5)
	mean := nf * p
	if k <= mean {
		return 0
	}
	// 2 × the log likelihood ratio of share k/n against p.
	d := k * math.Log(k/mean)
	if k < nf {
		d += (nf - k) * math.Log((nf-k)/(nf-mean))
	}
	z := math.Sqrt(2 * math.Max(0, d))
	if total > 0 {
		z /= math.Sqrt(1 + nf/float64(total))
	}
	return z
}

// slowAllAlong reports whether the responses of [from, to) past level
// (the baseline's q-quantile), beyond the 1-q of them expected, came all
// along the window: each sixth holds at least half its equal share of
// them. Two spikes a few seconds apart (a GC pause, a slow query, each
// slowing a fifth of a few seconds' requests) fill a window's tail, and
// with a second or two in each third pass the thirds' test of lasting
// (routes-10-healthy's seed 134 was rolled back so, p99 x2.5); a slower
// release slows every sixth alike.
func slowAllAlong(sums windowSums, from, to int, level, q float64) bool {
	parts := min(6, to-from)
	excess := func(a, b int) float64 {
		h := sums.of(a, b)
		return h.Above(level*1000) - (1-q)*float64(h.Count())
	}
	total := excess(from, to)
	if total <= 0 {
		return false
	}
	for i := range parts {
		if excess(from+i*(to-from)/parts, from+(i+1)*(to-from)/parts) < total/float64(2*parts) {
			return false
		}
	}
	return true
}
