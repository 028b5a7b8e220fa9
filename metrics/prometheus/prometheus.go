// Package prometheus is a metrics.Source that reads a route's requests and
// errors from Prometheus with range queries (client_golang's api/prometheus/v1),
// and, with a latency query, its response times from a Prometheus histogram.
//
// Repeat share has no Prometheus counterpart unless the app counts repeats
// itself: without a repeats query the signal is off, and a pure retry storm
// (the crates.io incident) shows only as a rate rise, which never rolls back
// on its own. Give the app a repeats counter, or use the router-log source,
// to keep that signal.
package prometheus

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/metrics"
)

// Default query templates: counters in the shape most HTTP middlewares
// export. {{.App}}, {{.Route}}, {{.Step}} and {{.Window}} (PromQL
// durations) and {{.StepSeconds}} are filled in. Each step's count is the
// rate over the Window times the step: increase over the step alone sees
// one sample when the step is the scrape interval (15 s and 15 s is
// common), and increase needs two, so every second would be no data.
// DefaultLatency is never used unless asked for: an app without the
// histogram would see no latency at all.
const (
	DefaultRequests = `sum(rate(http_requests_total{app="{{.App}}",route="{{.Route}}"}[{{.Window}}])) * {{.StepSeconds}}`
	DefaultErrors   = `sum(rate(http_requests_total{app="{{.App}}",route="{{.Route}}",status=~"5.."}[{{.Window}}])) * {{.StepSeconds}}`
	DefaultLatency  = `sum by (le) (rate(http_request_duration_seconds_bucket{app="{{.App}}",route="{{.Route}}"}[{{.Window}}])) * {{.StepSeconds}}`
)

// Queries are the PromQL templates of one app. Each but Latency must give
// one series: the count of its kind in the Step before each evaluation
// time. Latency gives one series per `le` label (a Prometheus histogram's
// cumulative buckets, upper bounds in seconds, +Inf included): the
// requests of that bucket in the Step before each evaluation time.
type Queries struct {
	Requests string
	Errors   string
	Repeats  string // optional: turns the repeat-share signal on
	Latency  string // optional: turns the latency signal on (DefaultLatency is the usual shape)
}

// The templates' kinds, as Query takes them.
const (
	kindRequests = iota
	kindErrors
	kindRepeats
	kindLatency
	kinds
)

// Source reads one app's counts.
type Source struct {
	api      v1.API
	app      string
	tmpl     [kinds]*template.Template // requests, errors, repeats, latency (nil: none)
	step     time.Duration
	window   time.Duration
	timeout  time.Duration
	maxRange time.Duration
}

// The source's defaults, for a zero step, window or timeout: a step of a
// common scrape interval, and a window of DefaultWindowSteps steps; a
// query slower than the timeout is no data, never zero traffic.
const (
	DefaultStep        = 15 * time.Second
	DefaultWindowSteps = 4
	DefaultTimeout     = 10 * time.Second
)

// Options are a Source's resolution and limits; a zero value takes its
// default.
type Options struct {
	Step time.Duration // the query resolution, whole seconds (DefaultStep)
	// Window is the range the default queries read a rate over
	// ({{.Window}}): at least twice the scrape interval, so that it holds
	// two samples (Prometheus' own default interval, 1m, needs 2m); at
	// least the step. Default DefaultWindowSteps steps.
	Window  time.Duration
	Timeout time.Duration // one query (DefaultTimeout)
}

// New returns a Source for app on the Prometheus at addr.
func New(addr, app string, q Queries, o Options) (*Source, error) {
	step, window, timeout := o.Step, o.Window, o.Timeout
	if step == 0 {
		step = DefaultStep
	}
	if window == 0 {
		window = DefaultWindowSteps * step
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// The address may come straight from $PROMETHEUS_URL, past the config's
	// check: url.Parse's error quotes it whole, and a password with an
	// unescaped '/' or a bad % escape in pieces, so neither is said.
	if !config.IsHTTPURL(addr) {
		return nil, fmt.Errorf("prometheus address %q is not an absolute http(s) URL (a password's '/', '@', '#', '?', '%%' or space must be percent-encoded)", config.MaskPassword(addr))
	}
	client, err := api.NewClient(api.Config{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %q: %w", config.MaskPassword(addr), err)
	}
	if step < time.Second || step%time.Second != 0 {
		return nil, fmt.Errorf("step %s must be a whole number of seconds", step)
	}
	if window < step || window%time.Second != 0 {
		return nil, fmt.Errorf("window %s must be a whole number of seconds, at least the step (%s)", window, step)
	}
	if q.Requests == "" {
		q.Requests = DefaultRequests
	}
	if q.Errors == "" {
		q.Errors = DefaultErrors
	}
	s := &Source{api: v1.NewAPI(client), app: app, step: step, window: window, timeout: timeout, maxRange: 11000 * step}
	for i, text := range []string{q.Requests, q.Errors, q.Repeats, q.Latency} {
		if text == "" {
			continue
		}
		t, err := template.New(fmt.Sprint(i)).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", text, err)
		}
		s.tmpl[i] = t
	}
	return s, nil
}

// Query renders one of the templates for route (for logs and tests): kind
// 0 is requests, 1 errors, 2 repeats, 3 latency.
func (s *Source) Query(kind int, route string) (string, error) {
	var b bytes.Buffer
	err := s.tmpl[kind].Execute(&b, map[string]string{"App": s.app, "Route": route, "Step": model.Duration(s.step).String(),
		"Window": model.Duration(s.window).String(), "StepSeconds": strconv.Itoa(int(s.step / time.Second))})
	return b.String(), err
}

// Counts implements metrics.Source. Prometheus down or slow is an error;
// seconds without a requests sample are no data; an errors or repeats query
// that matches no series means none happened; a second has a latency
// histogram only when the latency query gave one for its step (its count
// is that query's, rounded on its own, not Requests).
func (s *Source) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	n := max(0, int(to.Sub(from)/time.Second))
	out := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: s.tmpl[kindRepeats] != nil, HasLatency: s.tmpl[kindLatency] != nil}
	if n == 0 {
		return out, nil
	}
	if to.Sub(from) > s.maxRange {
		return out, fmt.Errorf("prometheus: %s is more than the %s one query may span", to.Sub(from), s.maxRange)
	}
	var per [3][]float64
	var have [3][]bool
	for kind := range 3 {
		if s.tmpl[kind] == nil {
			continue
		}
		vals, ok, err := s.series(ctx, kind, route, from, n)
		if err != nil {
			return out, err
		}
		per[kind], have[kind] = vals, ok
	}
	var latency []*metrics.Histogram
	if s.tmpl[kindLatency] != nil {
		vals, err := s.latency(ctx, route, from, n)
		if err != nil {
			return out, err
		}
		latency = roundHistograms(vals)
	}
	ints := [3][]int64{spread(per[0], have[0]), spread(per[1], have[1]), spread(per[2], have[2])}
	for i := range out.Points {
		if !have[0][i] {
			continue
		}
		p := metrics.Point{OK: true, Requests: ints[0][i]}
		if ints[1] != nil {
			p.Errors = min(ints[1][i], p.Requests)
		}
		if ints[2] != nil {
			p.Repeats = min(ints[2][i], p.Requests)
		}
		if latency != nil {
			p.Latency = latency[i]
		}
		out.Points[i] = p
	}
	return out, nil
}

var kindName = [kinds]string{"requests", "errors", "repeats", "latency"}

// rangeQuery renders template kind and runs it over the steps that lie in
// [from, from+n s). A sample at t counts (t-step, t]: the first one whose
// step lies in the range is at from+step. asked is false, with no query
// run, when no whole step fits.
func (s *Source) rangeQuery(ctx context.Context, kind int, route string, from time.Time, n int) (q string, matrix model.Matrix, asked bool, err error) {
	q, err = s.Query(kind, route)
	if err != nil {
		return q, nil, false, err
	}
	start := from.Add(s.step)
	end := from.Add(time.Duration(n) * time.Second)
	if end.Before(start) {
		return q, nil, false, nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, fmt.Errorf("prometheus gave no answer within %s", s.timeout))
	defer cancel()
	res, _, _, err := s.api.QueryRange(ctx, q, v1.Range{Start: start, End: end, Step: s.step})
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return q, nil, false, fmt.Errorf("prometheus %s query: %w", kindName[kind], err)
	}
	matrix, isMatrix := res.(model.Matrix)
	if !isMatrix {
		return q, nil, false, fmt.Errorf("prometheus %s query: got a %s, want a range vector", kindName[kind], res.Type())
	}
	return q, matrix, true, nil
}

// stepSeconds are the seconds i in [0, n) of the step that ends at t: the
// sample at t counts (t-step, t].
func (s *Source) stepSeconds(t model.Time, from time.Time, n int) (first, end int) {
	endSec := int(t.Time().Sub(from) / time.Second)
	return max(0, endSec-int(s.step/time.Second)), min(n, endSec)
}

// series runs one range query and spreads each sample (the count of the step
// before it) over that step's seconds. ok[i] tells whether second i had a
// sample.
func (s *Source) series(ctx context.Context, kind int, route string, from time.Time, n int) ([]float64, []bool, error) {
	step := float64(s.step / time.Second)
	vals, ok := make([]float64, n), make([]bool, n)
	q, matrix, asked, err := s.rangeQuery(ctx, kind, route, from, n)
	if err != nil {
		return nil, nil, err
	}
	if !asked {
		return vals, ok, nil
	}
	if len(matrix) > 1 {
		return nil, nil, fmt.Errorf("prometheus %s query %q gives %d series, want one (wrap it in sum())", kindName[kind], q, len(matrix))
	}
	if len(matrix) == 0 {
		if kind != kindRequests {
			// No series at all: no errors (or repeats) happened.
			for i := range ok {
				ok[i] = true
			}
		}
		return vals, ok, nil
	}
	for _, sp := range matrix[0].Values {
		v := float64(sp.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			continue
		}
		first, end := s.stepSeconds(sp.Timestamp, from, n)
		for i := first; i < end; i++ {
			vals[i] += v / step
			ok[i] = true
		}
	}
	return vals, ok, nil
}

// latency runs the latency query, turns each step's cumulative Prometheus
// buckets into relwatch's (promBuckets.relwatch) and spreads them over the
// step's seconds as series spreads a count. A second whose step has no
// histogram, one that lacks an le the query gives at other steps, or one
// that does not convert, has none: zero counts, as a second without
// requests. A query that matches no series is no latency
// at all (an app without the histogram), never fast responses.
func (s *Source) latency(ctx context.Context, route string, from time.Time, n int) ([][metrics.LatencyBuckets]float64, error) {
	step := float64(s.step / time.Second)
	vals := make([][metrics.LatencyBuckets]float64, n)
	q, matrix, asked, err := s.rangeQuery(ctx, kindLatency, route, from, n)
	if err != nil || !asked {
		return vals, err
	}
	steps := map[model.Time]promBuckets{}
	seen := map[float64]bool{}
	for _, ss := range matrix {
		label, has := ss.Metric["le"]
		le, err := strconv.ParseFloat(string(label), 64)
		if !has || err != nil || math.IsNaN(le) {
			return nil, fmt.Errorf("prometheus latency query %q gives a series %s without a numeric le label, want one series per le (sum by (le) (...))", q, ss.Metric)
		}
		if seen[le] {
			return nil, fmt.Errorf("prometheus latency query %q gives more than one series for le=%q, want one per le (wrap it in sum by (le) (...))", q, label)
		}
		seen[le] = true
		for _, sp := range ss.Values {
			steps[sp.Timestamp] = append(steps[sp.Timestamp], promBucket{le: le, cumulative: float64(sp.Value)})
		}
	}
	for t, buckets := range steps {
		// A step without a sample of every le the query gave (a bucket
		// series with a gap, or one that began later) is no histogram
		// either: without its +Inf or its highest buckets the slowest
		// requests, timeouts among them, would vanish and the step read
		// fast.
		if len(buckets) < len(seen) {
			continue
		}
		h, good := buckets.relwatch()
		if !good {
			continue
		}
		first, end := s.stepSeconds(t, from, n)
		for i := first; i < end; i++ {
			for j, c := range h {
				vals[i][j] += c / step
			}
		}
	}
	return vals, nil
}

// promBucket is one `le` of a Prometheus histogram: the requests of at
// most le seconds.
type promBucket struct{ le, cumulative float64 }

// promBuckets are one step's buckets of a Prometheus histogram, in any
// order.
type promBuckets []promBucket

// relwatch turns b into relwatch's buckets (fractional counts). The
// requests between two bounds, (previous le, le] (the first bound's from
// 0), are the difference of their cumulative counts, spread over the
// relwatch buckets that range overlaps in proportion to the overlap in log
// space — linearly in a range from 0, whose logarithm has no bottom, the
// way metrics.Histogram.Quantile reads its first bucket. Requests above
// the highest finite le (the +Inf bucket) are known only to be slower than
// it: they go to the relwatch bucket holding that le, as
// histogram_quantile reads them as that le, never to relwatch's last
// bucket (32 s), which would make up a latency no one measured.
//
// ok is false, and the step has no latency data, when the buckets are no
// histogram: a NaN or infinite count, a cumulative count that falls as le
// rises (a counter reset that increase() saw in some buckets and not in
// others, or bucket series that began at different times and were
// extrapolated apart), or requests with no finite bound to place them by.
// Reading such a step would make up or lose requests in some bucket.
func (b promBuckets) relwatch() (h [metrics.LatencyBuckets]float64, ok bool) {
	slices.SortFunc(b, func(x, y promBucket) int { return cmp.Compare(x.le, y.le) })
	var prevLe, prevCumulative float64
	finite := false
	for _, pb := range b {
		if math.IsNaN(pb.cumulative) || math.IsInf(pb.cumulative, 0) {
			return h, false
		}
		d := pb.cumulative - prevCumulative
		// A few ulps below zero come from summing instances in another
		// order for each le, not from a reset.
		if d < -1e-9*max(1, math.Abs(prevCumulative)) {
			return h, false
		}
		d = max(d, 0)
		switch {
		case math.IsInf(pb.le, 1) && !finite:
			if d > 0 {
				return h, false
			}
		case math.IsInf(pb.le, 1):
			h[latencyBucketOf(prevLe*1000)] += d
		default:
			spreadLog(&h, max(prevLe, 0)*1000, pb.le*1000, d)
			finite = true
		}
		prevLe, prevCumulative = pb.le, max(prevCumulative, pb.cumulative)
	}
	return h, true
}

// spreadLog adds count requests of between lo and hi ms to h, each bucket
// its share of [lo, hi) in log space (linear when lo is 0).
func spreadLog(h *[metrics.LatencyBuckets]float64, lo, hi, count float64) {
	if count == 0 {
		return
	}
	if !(lo < hi) {
		h[latencyBucketOf(hi)] += count
		return
	}
	for i := range h {
		blo, bhi := metrics.LatencyBucketBounds(i)
		a, b := max(lo, blo), min(hi, bhi)
		if !(a < b) {
			continue
		}
		if lo == 0 {
			h[i] += count * (b - a) / hi
		} else {
			h[i] += count * math.Log(b/a) / math.Log(hi/lo)
		}
	}
}

// latencyBucketOf is the relwatch bucket holding ms milliseconds.
func latencyBucketOf(ms float64) int {
	for i := metrics.LatencyBuckets - 1; i > 0; i-- {
		if lo, _ := metrics.LatencyBucketBounds(i); ms >= lo {
			return i
		}
	}
	return 0
}

// roundHistograms turns per-second fractional bucket counts into whole
// ones. The running total is rounded the way spread rounds requests, so a
// window holds the query's count rounded once; each second's whole
// requests go first to the buckets owed a whole request, then one by one
// to the bucket owed the most, and what a bucket is owed (or was given
// ahead) carries on to the next second, so a bucket's count over any
// window stays within a few requests of its share, however long the
// window. A second with no whole request has no histogram.
func roundHistograms(vals [][metrics.LatencyBuckets]float64) []*metrics.Histogram {
	out := make([]*metrics.Histogram, len(vals))
	var owed [metrics.LatencyBuckets]float64
	var cum float64
	var given int64
	for i, v := range vals {
		for j, c := range v {
			owed[j] += c
			cum += c
		}
		if !(cum < 1<<53) {
			// Past 2^53 requests (or a NaN) a float counts no whole
			// request: the rest has no histogram rather than made-up ones.
			break
		}
		left := int64(math.Round(cum)) - given
		if left <= 0 {
			continue
		}
		given += left
		h := &metrics.Histogram{}
		for j := range owed {
			if whole := min(int64(owed[j]), left, math.MaxUint32); whole >= 1 {
				h[j] += uint32(whole)
				owed[j] -= float64(whole)
				left -= whole
			}
		}
		for ; left > 0; left-- {
			j := 0
			for k := range owed {
				if owed[k] > owed[j] {
					j = k
				}
			}
			if h[j] == math.MaxUint32 {
				break
			}
			h[j]++
			owed[j]--
		}
		out[i] = h
	}
	return out
}

// spread turns per-second fractions into whole counts that add up to the
// same totals (cumulative rounding), so no request is made or lost.
func spread(vals []float64, ok []bool) []int64 {
	if vals == nil {
		return nil
	}
	out := make([]int64, len(vals))
	var cum float64
	var given int64
	for i, v := range vals {
		if !ok[i] {
			continue
		}
		cum += v
		want := int64(math.Round(cum))
		out[i] = max(0, want-given)
		given += out[i]
	}
	return out
}

// ErrNoSeries is returned by Check when the requests query matches nothing.
var ErrNoSeries = errors.New("the requests query matches no series")

// Check runs each configured query once at now, so that `relwatch check`
// can tell a wrong query from a quiet app: a query Prometheus refuses is an
// error naming it, and so is a requests query that matches nothing. An
// errors, repeats or latency query that matches nothing is a note, not a
// failure (no errors lately is an answer too), for its signal then reads
// none: labels the app's metrics lack would switch it off unseen.
func (s *Source) Check(ctx context.Context, route string, now time.Time) (notes []string, err error) {
	for kind := range kinds {
		if s.tmpl[kind] == nil {
			continue
		}
		q, err := s.Query(kind, route)
		if err != nil {
			return notes, fmt.Errorf("the %s query: %w", kindName[kind], err)
		}
		qctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, _, _, err := s.api.Query(qctx, q, now)
		cancel()
		if err != nil {
			return notes, fmt.Errorf("prometheus: the %s query: %w: %s", kindName[kind], err, q)
		}
		if v, ok := res.(model.Vector); ok && len(v) > 0 {
			continue
		}
		if kind == kindRequests {
			return notes, fmt.Errorf("%w (its labels, or a window holding fewer than two scrapes: window is at least twice the scrape interval): %s", ErrNoSeries, q)
		}
		notes = append(notes, fmt.Sprintf("the %s query matches no series now: none lately, or labels the metrics lack (the %s signal then reads none): %s", kindName[kind], kindName[kind], q))
	}
	return notes, nil
}
