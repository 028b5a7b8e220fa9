package series

import (
	"iter"
	"sort"

	"github.com/relwatch/relwatch/metrics"
)

// Rows is one route's recorded seconds: only the seconds that have data,
// in time order, with their counts. Its size follows the rows, never the
// length of the recording: one row at second 604,799 costs one row.
//
// The histograms the points' Latency point to are the Rows' own, made by
// Parse or copied by FromPoints, and never changed: At, All and Fill share
// them (read them, do not change them); Source.Counts hands out copies.
type Rows struct {
	secs []int32         // strictly increasing
	pts  []metrics.Point // pts[i] is second secs[i]; OK is true
	// latency is whether the recording has response times for the route:
	// some of its seconds had a Latency (in the file, or the points it was
	// made from). A second's Latency can be nil even so.
	latency bool
}

// Table is a recording's rows by route, as read from series.csv.
type Table map[string]*Rows

// FromPoints returns the rows of a dense series, pts[t] for second t: the
// seconds with OK true. They have latency when one of those seconds has a
// Latency; the histograms are copied, so pts may change afterwards.
func FromPoints(pts []metrics.Point) *Rows {
	n := 0
	for _, p := range pts {
		if p.OK {
			n++
		}
	}
	r := &Rows{secs: make([]int32, 0, n), pts: make([]metrics.Point, 0, n)}
	for t, p := range pts {
		if p.OK {
			r.secs = append(r.secs, int32(t))
			r.pts = append(r.pts, p)
		}
	}
	r.latency = ownLatency(r.pts) > 0
	return r
}

// ownLatency points the Latency of pts at copies of their histograms, all
// in one allocation, and returns how many there were.
func ownLatency(pts []metrics.Point) int {
	n := 0
	for _, p := range pts {
		if p.Latency != nil {
			n++
		}
	}
	if n == 0 {
		return 0
	}
	copies := make([]metrics.Histogram, n)
	for i := range pts {
		if h := pts[i].Latency; h != nil {
			copies[0] = *h
			pts[i].Latency = &copies[0]
			copies = copies[1:]
		}
	}
	return n
}

// HasLatency reports whether the recording has response times for the
// route (Series.HasLatency of what Source.Counts serves from r).
func (r *Rows) HasLatency() bool { return r.latency }

// TableOf returns the table of dense series, routes[route][t] for second t.
func TableOf(routes map[string][]metrics.Point) Table {
	t := make(Table, len(routes))
	for route, pts := range routes {
		t[route] = FromPoints(pts)
	}
	return t
}

// Len is the number of seconds with data.
func (r *Rows) Len() int { return len(r.secs) }

// At returns second t's counts; ok is false when t has no row. Its Latency
// is the rows': read only.
func (r *Rows) At(t int) (p metrics.Point, ok bool) {
	i := r.search(t)
	if i < len(r.secs) && int(r.secs[i]) == t {
		return r.pts[i], true
	}
	return metrics.Point{}, false
}

// All yields the seconds with data and their counts, in time order. Their
// Latency is the rows': read only.
func (r *Rows) All() iter.Seq2[int, metrics.Point] {
	return func(yield func(int, metrics.Point) bool) {
		for i, s := range r.secs {
			if !yield(int(s), r.pts[i]) {
				return
			}
		}
	}
}

// Fill copies the rows of seconds first .. first+len(out)-1 into out,
// out[i] for second first+i; out's other entries are left as they are.
// The Latency it copies is the rows': read only.
func (r *Rows) Fill(out []metrics.Point, first int) {
	for i := r.search(first); i < len(r.secs); i++ {
		at := int(r.secs[i]) - first
		if at >= len(out) {
			return
		}
		out[at] = r.pts[i]
	}
}

// search returns the index of the first row at or after second t.
func (r *Rows) search(t int) int {
	return sort.Search(len(r.secs), func(i int) bool { return int(r.secs[i]) >= t })
}
