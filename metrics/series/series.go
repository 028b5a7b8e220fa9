// Package series is the recorded-series metrics source: per-route,
// per-second counts, and response times where recorded, in the scenarios'
// series.csv format (Parse, Write), and a metrics.Source that serves such a
// recording on a clock. The source never answers for seconds that have not
// happened yet, so the watcher sees data arrive as it would live.
//
// A recording is held as its rows (Table, Rows): memory follows the rows a
// file has, not the duration it declares, and a read allocates only the
// window it asks for.
package series

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Recording is per-route, per-second counts held densely, as counts made in
// memory are: Routes[route][t] is second t after Start, and a second with
// OK false had no data.
type Recording struct {
	Start  time.Time
	Routes map[string][]metrics.Point
}

// Source serves a recording up to the clock's now.
type Source struct {
	start time.Time
	table Table
	now   func() time.Time
}

// New returns a Source over rec that serves only seconds before now().
func New(rec Recording, now func() time.Time) *Source {
	return Serve(rec.Start, TableOf(rec.Routes), now)
}

// Serve returns a Source over table, its second t at start+t, that serves
// only seconds before now().
func Serve(start time.Time, table Table, now func() time.Time) *Source {
	return &Source{start: start, table: table, now: now}
}

// Counts implements metrics.Source. The series it returns has a point for
// each second of [from, to); seconds without a row, before the recording,
// or not yet past (at or after now) have no data. HasLatency is the
// route's Rows.HasLatency; the points' Latency are copies the caller owns.
func (s *Source) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Series{}, err
	}
	rows, ok := s.table[route]
	if !ok {
		return metrics.Series{}, fmt.Errorf("replay: no route %q in the recording", route)
	}
	from = from.Truncate(time.Second)
	to = to.Truncate(time.Second)
	if to.Before(from) {
		to = from
	}
	n := int(to.Sub(from) / time.Second)
	out := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: true, HasLatency: rows.latency}
	past := int(s.now().Truncate(time.Second).Sub(from) / time.Second) // seconds of the window before now
	if past <= 0 {
		return out, nil
	}
	// out.Points[i] is second from+i, which holds the recording's second
	// floor((from+i-start)/1s) = first+i.
	first := floorSeconds(from.Sub(s.start))
	rows.Fill(out.Points[:min(n, past)], first)
	if rows.latency {
		ownLatency(out.Points) // the recording's histograms stay its own
	}
	return out, nil
}

// floorSeconds is d in whole seconds, rounded down.
func floorSeconds(d time.Duration) int {
	q := d / time.Second
	if d%time.Second < 0 {
		q--
	}
	return int(q)
}

// Control is the route key of the app's other traffic in a recording
// ("other"): never one of the routes Routes lists.
const Control = "other"

// Routes implements metrics.RouteLister: the recording's routes with
// requests in [from, to), up to now, busiest first (by name on a tie), at
// most limit (0: all); never Control.
func (s *Source) Routes(from, to time.Time, limit int) []string {
	if now := s.now().Truncate(time.Second); to.After(now) {
		to = now
	}
	lo, hi := floorSeconds(from.Sub(s.start)), floorSeconds(to.Sub(s.start))
	type busy struct {
		route    string
		requests int64
	}
	var all []busy
	for route, rows := range s.table {
		if route == Control {
			continue
		}
		var n int64
		i, _ := slices.BinarySearch(rows.secs, int32(lo))
		for ; i < len(rows.secs) && int(rows.secs[i]) < hi; i++ {
			n += rows.pts[i].Requests
		}
		if n > 0 {
			all = append(all, busy{route, n})
		}
	}
	slices.SortFunc(all, func(a, b busy) int {
		if a.requests != b.requests {
			return cmp.Compare(b.requests, a.requests)
		}
		return strings.Compare(a.route, b.route)
	})
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	out := make([]string, len(all))
	for i, b := range all {
		out[i] = b.route
	}
	return out
}
