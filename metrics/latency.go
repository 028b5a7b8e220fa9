package metrics

import (
	"math"
	"time"
)

// LatencyBuckets is how many buckets a Histogram has.
const LatencyBuckets = 32

// Histogram counts response times in fixed buckets that grow by √2 from
// 1 ms: bucket 0 holds [0, 1 ms), bucket i holds [2^((i-1)/2), 2^(i/2)) ms,
// and the last bucket everything from 2^15 ms (32.8 s) on. The buckets
// being fixed, histograms merge by adding them: a window's quantiles are
// its seconds' histograms summed, never an average of quantiles. A
// quantile read from it is within the √2 of its bucket, interpolated
// geometrically inside it; two histograms compared bucket for bucket see
// the same rounding. 128 bytes whatever the traffic.
type Histogram [LatencyBuckets]uint32

// latencyBucketOf is the bucket of a response time of ms milliseconds.
func latencyBucketOf(ms float64) int {
	if !(ms >= 1) { // also NaN
		return 0
	}
	i := min(int(math.Floor(2*math.Log2(ms)))+1, LatencyBuckets-1)
	// The logarithm rounds at the bounds: the bounds themselves decide.
	if lo, _ := LatencyBucketBounds(i); ms < lo {
		i--
	} else if _, hi := LatencyBucketBounds(i); ms >= hi {
		i++
	}
	return i
}

// LatencyBucketBounds are bucket i's bounds in milliseconds, [lo, hi); the
// last bucket's hi is +Inf.
func LatencyBucketBounds(i int) (lo, hi float64) {
	switch {
	case i <= 0:
		return 0, 1
	case i >= LatencyBuckets-1:
		return math.Exp2(float64(LatencyBuckets-2) / 2), math.Inf(1)
	}
	return math.Exp2(float64(i-1) / 2), math.Exp2(float64(i) / 2)
}

// Observe counts one response of d.
func (h *Histogram) Observe(d time.Duration) { h.AddMillis(float64(d)/float64(time.Millisecond), 1) }

// AddMillis counts n responses of ms milliseconds each.
func (h *Histogram) AddMillis(ms float64, n uint32) {
	i := latencyBucketOf(ms)
	h[i] = saturating(h[i], n)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	for i, n := range o {
		h[i] = saturating(h[i], n)
	}
}

func saturating(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

// Count is how many responses h holds.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += int64(c)
	}
	return n
}

// Quantile is the q-quantile (0 < q < 1) of the response times in h, 0
// when h is empty: the rank's bucket, interpolated geometrically between
// its bounds (linearly in the first; the last bucket's lower bound in the
// last).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) < rank && i < LatencyBuckets-1 {
			seen += float64(c)
			continue
		}
		frac := math.Min(1, math.Max(0, (rank-seen)/float64(c)))
		lo, hi := LatencyBucketBounds(i)
		var ms float64
		switch {
		case i == 0:
			ms = frac * hi
		case math.IsInf(hi, 1):
			ms = lo
		default:
			ms = lo * math.Pow(hi/lo, frac)
		}
		return time.Duration(ms * float64(time.Millisecond))
	}
	return 0
}

// Above is how many of h's responses took longer than ms milliseconds,
// read inside ms's bucket the way Quantile reads it (geometrically, and
// linearly in the first bucket): the responses above h's own q-quantile
// are (1-q) of them, and another histogram's count above it says how much
// of its traffic is past that level.
func (h *Histogram) Above(ms float64) float64 {
	if math.IsNaN(ms) {
		return 0
	}
	i := latencyBucketOf(ms)
	var n float64
	for _, c := range h[i+1:] {
		n += float64(c)
	}
	if c := float64(h[i]); c > 0 {
		lo, hi := LatencyBucketBounds(i)
		switch {
		case i == 0:
			n += c * (1 - math.Max(0, ms)/hi)
		case math.IsInf(hi, 1):
			// Quantile reads the last bucket as its lower bound: all of
			// it lies above any level inside it but that bound.
			if ms <= lo {
				n += c
			}
		default:
			n += c * math.Log(hi/ms) / math.Log(hi/lo)
		}
	}
	return n
}
