// Package metrics defines what relwatch reads about a route's traffic: per
// second counts of requests, errors and repeats and a histogram of response
// times, with seconds that have no data kept apart from seconds with no
// traffic.
package metrics

import (
	"context"
	"time"
)

// Point is one second of one route.
type Point struct {
	// OK is false when the source had no data for this second: an outage of
	// the metrics pipeline, not zero traffic. The counts are then zero and
	// mean nothing.
	OK       bool
	Requests int64 // requests the router served
	Errors   int64 // of those, 5xx answers and router errors (at=error, H-codes)
	Repeats  int64 // of those, repeats of a (client, path) pair seen in the previous 60 s
	// Latency is the second's response times (every request's, errors
	// included), nil where the source gives none or there were no
	// requests.
	Latency *Histogram
}

// Series is a run of seconds starting at Start, one Point each.
type Series struct {
	Start  time.Time
	Points []Point
	// HasRepeats is false for sources that cannot count repeats (Prometheus):
	// the repeat-share signal is then off.
	HasRepeats bool
	// HasLatency is false for sources that give no response times (an old
	// recording, a Prometheus source without a latency query): the latency
	// signal is then off.
	HasLatency bool
}

// End is the first second after the series.
func (s Series) End() time.Time { return s.Start.Add(time.Duration(len(s.Points)) * time.Second) }

// Slice returns the part of s in [from, to), clipped to what s holds.
func (s Series) Slice(from, to time.Time) Series {
	i := secondsBetween(s.Start, from)
	j := secondsBetween(s.Start, to)
	i = max(0, min(i, len(s.Points)))
	j = max(i, min(j, len(s.Points)))
	return Series{Start: s.Start.Add(time.Duration(i) * time.Second), Points: s.Points[i:j], HasRepeats: s.HasRepeats, HasLatency: s.HasLatency}
}

func secondsBetween(a, b time.Time) int {
	d := b.Sub(a)
	if d < 0 {
		return -int((-d + time.Second - 1) / time.Second)
	}
	return int(d / time.Second)
}

// Source serves per-second counts for a route. Implementations return a
// Series covering exactly [from, to) truncated to whole seconds, with OK
// false for every second they have no data for, including seconds not yet
// known. An error means the source could not be asked at all; it is no
// evidence either way.
type Source interface {
	Counts(ctx context.Context, route string, from, to time.Time) (Series, error)
}

// RouteLister is a Source that can say which routes it saw: a source that
// groups an app's paths into templates (the router log with every route
// guarded). Routes are the keys Counts takes, busiest first, at most
// limit of them (0: all), of the traffic in [from, to).
type RouteLister interface {
	Routes(from, to time.Time, limit int) []string
}
