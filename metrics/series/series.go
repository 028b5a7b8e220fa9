// Package series is the recorded-series metrics source: per-route,
// per-second counts in the scenarios' series.csv format (Parse, Write), and
// a metrics.Source that serves such a recording on a clock. The source never
// answers for seconds that have not happened yet, so the watcher sees data
// arrive as it would live.
package series

import (
	"context"
	"fmt"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Recording is per-route, per-second counts; Points[route][t] is second t
// after Start. A second with OK false had no data.
type Recording struct {
	Start  time.Time
	Routes map[string][]metrics.Point
}

// Source serves a Recording up to the clock's now.
type Source struct {
	rec Recording
	now func() time.Time
}

// New returns a Source over rec that serves only seconds before now().
func New(rec Recording, now func() time.Time) *Source {
	return &Source{rec: rec, now: now}
}

// Counts implements metrics.Source.
func (s *Source) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Series{}, err
	}
	pts, ok := s.rec.Routes[route]
	if !ok {
		return metrics.Series{}, fmt.Errorf("replay: no route %q in the recording", route)
	}
	from = from.Truncate(time.Second)
	to = to.Truncate(time.Second)
	if to.Before(from) {
		to = from
	}
	limit := s.now().Truncate(time.Second)
	n := int(to.Sub(from) / time.Second)
	out := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: true}
	for i := range out.Points {
		t := from.Add(time.Duration(i) * time.Second)
		if !t.Before(limit) {
			break
		}
		idx := int(t.Sub(s.rec.Start) / time.Second)
		if t.Before(s.rec.Start) || idx >= len(pts) {
			continue
		}
		out.Points[i] = pts[idx]
	}
	return out, nil
}
