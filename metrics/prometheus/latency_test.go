package prometheus

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// fakePromHistogram answers /api/v1/query_range as Prometheus does: the
// latency query (the one that says "by (le)") with a series per le of
// buckets(ts) (cumulative counts; no map: no sample at ts), any other
// query with one series of requests(ts). asked lists the queries it got.
func fakePromHistogram(t *testing.T, requests func(ts int64) (float64, bool), buckets func(ts int64) map[string]float64) (url string, asked func() []string) {
	t.Helper()
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		perSeries := map[string][]string{} // its labels -> its samples
		for ts := int64(start); ts <= int64(end); ts += int64(step) {
			if !strings.Contains(q, "by (le)") {
				if v, ok := requests(ts); ok {
					perSeries["{}"] = append(perSeries["{}"], fmt.Sprintf(`[%d,"%g"]`, ts, v))
				}
				continue
			}
			for le, v := range buckets(ts) {
				labels := fmt.Sprintf(`{"le":%q}`, le)
				if le == "" {
					labels = `{"instance":"x"}`
				}
				perSeries[labels] = append(perSeries[labels], fmt.Sprintf(`[%d,"%g"]`, ts, v))
			}
		}
		var result []string
		for labels, pts := range perSeries {
			result = append(result, `{"metric":`+labels+`,"values":[`+strings.Join(pts, ",")+`]}`)
		}
		if strings.Contains(q, "twice") {
			result = append(result, `{"metric":{"le":"0.1","instance":"b"},"values":[]}`, `{"metric":{"le":"0.1","instance":"a"},"values":[]}`)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, strings.Join(result, ","))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(queries)
	}
}

// client_golang's DefBuckets, the buckets most Go services export.
var les = []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}

// logNormal is n response times (seconds) whose median is median and whose
// logarithms spread by sigma: the q-quantile of the n is
// median·exp(sigma·√2·erfinv(2q-1)).
func logNormal(n int, median, sigma float64) []float64 {
	out := make([]float64, n)
	for k := range out {
		p := (float64(k) + 0.5) / float64(n)
		out[k] = median * math.Exp(sigma*math.Sqrt2*math.Erfinv(2*p-1))
	}
	return out
}

// cumulative is a Prometheus histogram of times: per le, how many are at
// most le.
func cumulative(times []float64) map[string]float64 {
	out := map[string]float64{}
	for _, le := range les {
		bound, _ := strconv.ParseFloat(le, 64)
		for _, x := range times {
			if x <= bound {
				out[le]++
			}
		}
	}
	return out
}

// promBucketOf are the bounds (ms) of the Prometheus bucket holding ms.
func promBucketOf(ms float64) (lo, hi float64) {
	for _, le := range les {
		bound, _ := strconv.ParseFloat(le, 64)
		if ms <= bound*1000 {
			return lo, bound * 1000
		}
		lo = bound * 1000
	}
	return lo, math.Inf(1)
}

// A Prometheus histogram read through the source keeps its count and, to
// within the Prometheus bucket holding them and one relwatch bucket (√2),
// its quantiles; each step is spread over its seconds, whole requests.
func TestLatencyFromAPrometheusHistogram(t *testing.T) {
	times := logNormal(1000, 0.040, 1) // p50 40 ms, p95 207 ms
	perStep := cumulative(times)
	url, asked := fakePromHistogram(t,
		func(int64) (float64, bool) { return 1000, true },
		func(int64) map[string]float64 { return perStep })
	src, err := New(url, "crates-io", Queries{Latency: DefaultLatency}, Options{Step: 10 * time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasLatency {
		t.Fatal("HasLatency false with a latency query")
	}
	if q := asked(); !slices.Contains(q, `sum by (le) (rate(http_request_duration_seconds_bucket{app="crates-io",route="download"}[40s])) * 10`) {
		t.Fatalf("the default latency template was not asked: %q", q)
	}
	var window metrics.Histogram
	for i, p := range s.Points { // the step ending at 10 s holds seconds 0 to 9
		if !p.OK || p.Latency == nil {
			t.Fatalf("second %d: OK %v, latency %v", i, p.OK, p.Latency)
		}
		if c := p.Latency.Count(); c < 99 || c > 101 {
			t.Errorf("second %d holds %d requests, want a tenth of its step's 1000", i, c)
		}
		window.Merge(p.Latency)
	}
	if window.Count() != 4000 {
		t.Fatalf("the window holds %d requests, want the 4 steps' 4000", window.Count())
	}
	// Rounding moves no request far: each bucket holds its share of the
	// 4 steps to within a few requests.
	var steps promBuckets
	for le, c := range perStep {
		bound, _ := strconv.ParseFloat(le, 64)
		steps = append(steps, promBucket{le: bound, cumulative: 4 * c})
	}
	share, _ := steps.relwatch()
	for i, c := range window {
		if math.Abs(float64(c)-share[i]) > 2.5 {
			lo, hi := metrics.LatencyBucketBounds(i)
			t.Errorf("[%g, %g) ms holds %d requests, its share is %.1f", lo, hi, c, share[i])
		}
	}
	for _, q := range []float64{0.5, 0.95} {
		truth := 1000 * 0.040 * math.Exp(math.Sqrt2*math.Erfinv(2*q-1))
		lo, hi := promBucketOf(truth)
		got := float64(window.Quantile(q)) / float64(time.Millisecond)
		if got < lo/math.Sqrt2 || got > hi*math.Sqrt2 {
			t.Errorf("p%g %.1f ms, true %.1f ms: want it in the Prometheus bucket (%g, %g] ms give or take √2", 100*q, got, truth, lo, hi)
		}
		t.Logf("p%g %.1f ms, true %.1f ms", 100*q, got, truth)
	}
}

// The conversion's rules, bucket by bucket: differences of cumulative
// counts, spread in log space (linearly from 0), +Inf at the highest
// finite le.
func TestPromBucketsToRelwatch(t *testing.T) {
	buckets := func(cum ...float64) promBuckets {
		var b promBuckets
		for i, c := range cum {
			le, _ := strconv.ParseFloat(les[i], 64)
			b = append(b, promBucket{le: le, cumulative: c})
		}
		// The query gives them in no order: not le's, then.
		sort.Slice(b, func(i, j int) bool { return fmt.Sprint(b[i].le) < fmt.Sprint(b[j].le) })
		return b
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// All 100 in (0, 5 ms]: 1/5 in [0, 1 ms), linearly.
	h, ok := buckets(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100).relwatch()
	if !ok || !near(h[0], 20) || !near(sum(h), 100) {
		t.Errorf("(0, 5 ms]: ok %v, [0, 1 ms) %g of %g, want 20 of 100", ok, h[0], sum(h))
	}
	// 60 in (50, 100] ms, log-uniform: [64, 90.5) ms, a relwatch bucket
	// half as wide as the range in log space, holds half.
	h, ok = buckets(0, 0, 0, 0, 60, 60, 60, 60, 60, 60, 60, 60).relwatch()
	if i := latencyBucketOf(64); !ok || !near(h[i], 30) || !near(sum(h), 60) {
		lo, hi := metrics.LatencyBucketBounds(i)
		t.Errorf("(50, 100] ms: ok %v, %g in [%g, %g) ms of %g, want 30 of 60", ok, h[i], lo, hi, sum(h))
	}
	// 100 slower than 10 s: in the bucket that holds 10 s, [8.19, 11.6) s.
	h, ok = buckets(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100).relwatch()
	if lo, hi := metrics.LatencyBucketBounds(latencyBucketOf(10000)); !ok || !near(h[latencyBucketOf(10000)], 100) || lo > 10000 || hi <= 10000 {
		t.Errorf("+Inf: ok %v, %v", ok, h)
	}
	for name, b := range map[string]promBuckets{
		"a reset in one bucket": buckets(10, 20, 30, 40, 50, 45, 60, 60, 60, 60, 60, 60),
		"NaN":                   buckets(10, 20, 30, 40, math.NaN(), 50, 60, 60, 60, 60, 60, 60),
		"only +Inf":             {{le: math.Inf(1), cumulative: 5}},
	} {
		if _, ok := b.relwatch(); ok {
			t.Errorf("%s: converted", name)
		}
	}
	if h, ok := buckets(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0).relwatch(); !ok || sum(h) != 0 {
		t.Errorf("no requests: ok %v, %v", ok, h)
	}
	// Instances summed in another order for each le: an ulp is no reset.
	tenth, fifth := 0.1, 0.2 // variables: constants would add exactly
	if _, ok := buckets(tenth+fifth, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3).relwatch(); !ok {
		t.Error("0.1+0.2 then 0.3 was taken for a reset")
	}
}

// A running count no float holds whole, or a NaN, gives no histograms
// from there on, quickly, rather than made-up ones.
func TestRoundHistogramsPastFloats(t *testing.T) {
	for _, first := range []float64{1 << 60, math.NaN()} {
		hs := roundHistograms([][metrics.LatencyBuckets]float64{{3: first}, {3: 1}})
		if hs[0] != nil || hs[1] != nil {
			t.Errorf("%g then 1: %v", first, hs)
		}
	}
}

func sum(h [metrics.LatencyBuckets]float64) float64 {
	var s float64
	for _, c := range h {
		s += c
	}
	return s
}

// A step whose buckets fall as le rises (a counter reset increase() saw in
// some buckets only) or hold a NaN has no latency; its seconds keep their
// requests, and the steps around it their latency.
func TestLatencyCounterResetIsNoData(t *testing.T) {
	good := cumulative(logNormal(100, 0.040, 1))
	url, _ := fakePromHistogram(t,
		func(int64) (float64, bool) { return 100, true },
		func(ts int64) map[string]float64 {
			b := maps(good)
			switch ts - t0.Unix() {
			case 20: // a reset: le=0.1 counts fewer than le=0.05
				b["0.1"] = b["0.05"] - 3
			case 30:
				b["1"] = math.NaN()
			}
			return b
		})
	src, _ := New(url, "crates-io", Queries{Latency: DefaultLatency}, Options{Step: 10 * time.Second, Timeout: time.Second})
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Points[10:] {
		sec := i + 10
		broken := sec >= 10 && sec < 30 // the steps ending at 20 and 30
		if !p.OK || p.Requests == 0 {
			t.Fatalf("second %d lost its requests: %+v", sec, p)
		}
		if (p.Latency == nil) != broken {
			t.Errorf("second %d: latency %v, want none: %v", sec, p.Latency, broken)
		}
	}
}

func maps(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A latency query that matches nothing (an app without the histogram) is
// no latency, never fast responses; no latency query asks nothing.
func TestMissingLatencySeries(t *testing.T) {
	url, asked := fakePromHistogram(t,
		func(int64) (float64, bool) { return 100, true },
		func(int64) map[string]float64 { return nil })
	src, _ := New(url, "crates-io", Queries{Latency: DefaultLatency}, Options{Step: 5 * time.Second, Timeout: time.Second})
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasLatency {
		t.Error("HasLatency false with a latency query")
	}
	for i, p := range s.Points[5:] {
		if !p.OK || p.Latency != nil {
			t.Fatalf("second %d: OK %v, latency %v: want requests and no latency", i+5, p.OK, p.Latency)
		}
	}
	src, _ = New(url, "crates-io", Queries{}, Options{Step: 5 * time.Second, Timeout: time.Second})
	before := len(asked())
	if s, err = src.Counts(context.Background(), "download", t0, t0.Add(20*time.Second)); err != nil || s.HasLatency {
		t.Fatalf("no latency query: HasLatency %v, %v", s.HasLatency, err)
	}
	for _, q := range asked()[before:] {
		if strings.Contains(q, "by (le)") {
			t.Errorf("no latency query, and it asked %q", q)
		}
	}
}

// A latency query that is not one series per le is a wrong query, said so.
func TestLatencyQueryShape(t *testing.T) {
	noLe, _ := fakePromHistogram(t,
		func(int64) (float64, bool) { return 100, true },
		func(int64) map[string]float64 { return map[string]float64{"": 1} })
	twice, _ := fakePromHistogram(t,
		func(int64) (float64, bool) { return 100, true },
		func(int64) map[string]float64 { return nil })
	for url, want := range map[string]string{
		noLe:  "without a numeric le label",
		twice: `more than one series for le="0.1"`,
	} {
		src, _ := New(url, "crates-io", Queries{Latency: `sum by (le) (x) # twice`}, Options{Step: time.Second, Timeout: time.Second})
		if _, err := src.Counts(context.Background(), "r", t0, t0.Add(5*time.Second)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		}
	}
}

// A step whose buckets lack an le the query gives at its other steps (a
// bucket series with a gap, or that began later) has no latency: the
// +Inf bucket missing would lose the slowest requests, timeouts among
// them, and read the step as fast. Its seconds keep their requests, and
// the steps around it their latency.
func TestLatencyStepMissingABucketIsNoData(t *testing.T) {
	// Half the requests answer in 40 ms, half time out past the highest
	// finite bucket (10 s): p95 is past 10 s.
	slow := cumulative(append(logNormal(50, 0.040, 0.2), slices.Repeat([]float64{30}, 50)...))
	url, _ := fakePromHistogram(t,
		func(int64) (float64, bool) { return 100, true },
		func(ts int64) map[string]float64 {
			b := maps(slow)
			switch ts - t0.Unix() {
			case 20:
				delete(b, "+Inf") // the timeouts' bucket has no sample
			case 30:
				delete(b, "10") // nor the highest finite one
			}
			return b
		})
	src, _ := New(url, "crates-io", Queries{Latency: DefaultLatency}, Options{Step: 10 * time.Second, Timeout: time.Second})
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Points[10:] {
		sec := i + 10
		broken := sec >= 10 && sec < 30 // the steps ending at 20 and 30
		if !p.OK || p.Requests == 0 {
			t.Fatalf("second %d lost its requests: %+v", sec, p)
		}
		if (p.Latency == nil) != broken {
			t.Errorf("second %d: latency %v, want none: %v", sec, p.Latency, broken)
		}
		if p.Latency != nil && p.Latency.Quantile(0.95) < 8*time.Second {
			t.Errorf("second %d: p95 %s, want the timeouts' (past 8 s)", sec, p.Latency.Quantile(0.95))
		}
	}
}
