// Package prometheus is a metrics.Source that reads a route's requests and
// errors from Prometheus with range queries (client_golang's api/prometheus/v1).
//
// Repeat share has no Prometheus counterpart unless the app counts repeats
// itself: without a repeats query the signal is off, and a pure retry storm
// (the crates.io incident) shows only as a rate rise, which never rolls back
// on its own. Give the app a repeats counter, or use the router-log source,
// to keep that signal.
package prometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/relwatch/relwatch/metrics"
)

// Default query templates: counters in the shape most HTTP middlewares
// export. {{.App}}, {{.Route}} and {{.Step}} (a PromQL duration) are filled
// in.
const (
	DefaultRequests = `sum(increase(http_requests_total{app="{{.App}}",route="{{.Route}}"}[{{.Step}}]))`
	DefaultErrors   = `sum(increase(http_requests_total{app="{{.App}}",route="{{.Route}}",status=~"5.."}[{{.Step}}]))`
)

// Queries are the PromQL templates of one app. Each must give one series:
// the count of its kind in the Step before each evaluation time.
type Queries struct {
	Requests string
	Errors   string
	Repeats  string // optional: turns the repeat-share signal on
}

// Source reads one app's counts.
type Source struct {
	api      v1.API
	app      string
	tmpl     [3]*template.Template // requests, errors, repeats (nil: none)
	step     time.Duration
	timeout  time.Duration
	maxRange time.Duration
}

// The source's defaults, for a zero step or timeout: a step of a common
// scrape interval; a query slower than the timeout is no data, never zero
// traffic.
const (
	DefaultStep    = 15 * time.Second
	DefaultTimeout = 10 * time.Second
)

// New returns a Source for app on the Prometheus at addr. step is the query
// resolution (at least the scrape interval); timeout bounds each query.
func New(addr, app string, q Queries, step, timeout time.Duration) (*Source, error) {
	if step == 0 {
		step = DefaultStep
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	client, err := api.NewClient(api.Config{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %q: %w", addr, err)
	}
	if step < time.Second || step%time.Second != 0 {
		return nil, fmt.Errorf("step %s must be a whole number of seconds", step)
	}
	if q.Requests == "" {
		q.Requests = DefaultRequests
	}
	if q.Errors == "" {
		q.Errors = DefaultErrors
	}
	s := &Source{api: v1.NewAPI(client), app: app, step: step, timeout: timeout, maxRange: 11000 * step}
	for i, text := range []string{q.Requests, q.Errors, q.Repeats} {
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

// Query renders one of the templates for route (for logs and tests).
func (s *Source) Query(kind int, route string) (string, error) {
	var b bytes.Buffer
	err := s.tmpl[kind].Execute(&b, map[string]string{"App": s.app, "Route": route, "Step": model.Duration(s.step).String()})
	return b.String(), err
}

// Counts implements metrics.Source. Prometheus down or slow is an error;
// seconds without a requests sample are no data; an errors or repeats query
// that matches no series means none happened.
func (s *Source) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	n := max(0, int(to.Sub(from)/time.Second))
	out := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: s.tmpl[2] != nil}
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
		out.Points[i] = p
	}
	return out, nil
}

var kindName = [3]string{"requests", "errors", "repeats"}

// series runs one range query and spreads each sample (the count of the step
// before it) over that step's seconds. ok[i] tells whether second i had a
// sample.
func (s *Source) series(ctx context.Context, kind int, route string, from time.Time, n int) ([]float64, []bool, error) {
	q, err := s.Query(kind, route)
	if err != nil {
		return nil, nil, err
	}
	step := int(s.step / time.Second)
	// A sample at t counts (t-step, t]: the first one whose step lies in the
	// range is at from+step.
	start := from.Add(s.step)
	end := from.Add(time.Duration(n) * time.Second)
	vals, ok := make([]float64, n), make([]bool, n)
	if end.Before(start) {
		return vals, ok, nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, fmt.Errorf("prometheus gave no answer within %s", s.timeout))
	defer cancel()
	res, _, _, err := s.api.QueryRange(ctx, q, v1.Range{Start: start, End: end, Step: s.step})
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return nil, nil, fmt.Errorf("prometheus %s query: %w", kindName[kind], err)
	}
	matrix, isMatrix := res.(model.Matrix)
	if !isMatrix {
		return nil, nil, fmt.Errorf("prometheus %s query: got a %s, want a range vector", kindName[kind], res.Type())
	}
	if len(matrix) > 1 {
		return nil, nil, fmt.Errorf("prometheus %s query %q gives %d series, want one (wrap it in sum())", kindName[kind], q, len(matrix))
	}
	if len(matrix) == 0 {
		if kind != 0 {
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
		endSec := int(sp.Timestamp.Time().Sub(from) / time.Second)
		for i := max(0, endSec-step); i < min(n, endSec); i++ {
			vals[i] += v / float64(step)
			ok[i] = true
		}
	}
	return vals, ok, nil
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

// Check runs the requests query once over the last few steps, so that
// `relwatch check` can tell a wrong query from a quiet app.
func (s *Source) Check(ctx context.Context, route string, now time.Time) error {
	q, err := s.Query(0, route)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, _, _, err := s.api.Query(ctx, q, now)
	if err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	if v, ok := res.(model.Vector); !ok || len(v) == 0 {
		return fmt.Errorf("%w: %s", ErrNoSeries, q)
	}
	return nil
}
