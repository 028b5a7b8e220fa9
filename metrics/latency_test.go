package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyBucketsTileTheLine(t *testing.T) {
	prevHi := 0.0
	for i := range LatencyBuckets {
		lo, hi := LatencyBucketBounds(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %g ms, the one before ends at %g", i, lo, prevHi)
		}
		if got := latencyBucketOf(lo); got != i {
			t.Errorf("%g ms falls in bucket %d, want %d", lo, got, i)
		}
		if !math.IsInf(hi, 1) {
			if got := latencyBucketOf(math.Nextafter(hi, 0)); got != i {
				t.Errorf("just under %g ms falls in bucket %d, want %d", hi, got, i)
			}
		}
		prevHi = hi
	}
	if got := latencyBucketOf(30000); got != LatencyBuckets-2 {
		t.Errorf("a router timeout (30 s) falls in bucket %d, want %d", got, LatencyBuckets-2)
	}
	if got := latencyBucketOf(math.NaN()); got != 0 {
		t.Errorf("NaN falls in bucket %d", got)
	}
}

// The quantiles of a histogram are within the rounding of its buckets
// (a factor √2 at worst, far less interpolated over a smooth
// distribution) of the exact quantiles of what it counted.
func TestQuantileIsNearTheExactOne(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	xs := make([]float64, 20000)
	for i := range xs {
		xs[i] = 80 * math.Exp(0.7*r.NormFloat64())
		h.AddMillis(xs[i], 1)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		exact := xs[int(q*float64(len(xs)))]
		got := float64(h.Quantile(q)) / float64(time.Millisecond)
		if ratio := got / exact; ratio < 0.95 || ratio > 1.05 {
			t.Errorf("p%g = %.1f ms, exact %.1f ms (x%.3f)", q*100, got, exact, ratio)
		}
	}
}

func TestMergeAddsCounts(t *testing.T) {
	var a, b Histogram
	a.Observe(10 * time.Millisecond)
	b.Observe(10 * time.Millisecond)
	b.Observe(2 * time.Second)
	a.Merge(&b)
	a.Merge(nil)
	if a.Count() != 3 {
		t.Fatalf("count %d after merging, want 3", a.Count())
	}
	if got := a.Quantile(0.99); got < time.Second {
		t.Errorf("p99 of {10ms, 10ms, 2s} is %s", got)
	}
	if got := a.Quantile(0.5); got > 20*time.Millisecond {
		t.Errorf("p50 of {10ms, 10ms, 2s} is %s", got)
	}
	var full Histogram
	i := latencyBucketOf(1.5)
	full[i] = math.MaxUint32 - 1
	full.AddMillis(1.5, 5)
	if full[i] != math.MaxUint32 {
		t.Errorf("a bucket overflowed to %d instead of saturating", full[i])
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}

// A histogram's count above its own q-quantile is (1-q) of it, in every
// bucket the quantile can fall in, and Above is a count: monotone, 0 past
// the last response, everything below the first.
func TestAboveItsQuantileIsTheTail(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(7, 7))
	for range 5000 {
		h.AddMillis(math.Exp(r.NormFloat64()*1.2+4), 1)
	}
	n := float64(h.Count())
	for _, q := range []float64{0.1, 0.5, 0.9, 0.95, 0.99} {
		ms := float64(h.Quantile(q)) / float64(time.Millisecond)
		if got, want := h.Above(ms), (1-q)*n; math.Abs(got-want) > 0.5 {
			t.Errorf("Above(p%.0f = %.1f ms) = %.2f, want %.2f", q*100, ms, got, want)
		}
	}
	prev := n + 1
	for ms := 0.5; ms < 1e5; ms *= 1.1 {
		a := h.Above(ms)
		if a > prev {
			t.Fatalf("Above(%.2f ms) = %.2f rose past Above of a lower level, %.2f", ms, a, prev)
		}
		prev = a
	}
	if a := h.Above(0); a != n {
		t.Errorf("Above(0) = %v, want every response, %v", a, n)
	}
	if a := h.Above(1e6); a != 0 {
		t.Errorf("Above(1,000 s) = %v, want 0", a)
	}
}
