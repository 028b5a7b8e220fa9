package routerlog

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// repeatWindow is how far back a (client, path) pair counts as a repeat.
const repeatWindow = 60

// MaxAhead is how far past the aggregator's clock (Options.Now) a line may
// be stamped and still count. The router's clock and ours both keep time;
// a line stamped later than this is a broken stamp, and counting it would
// move the newest second the rings hold ahead, so that every second before
// it less the retain read as no data until our clock caught up.
const MaxAhead = 2 * time.Minute

// Control is the route key of the app's other traffic: the lines no
// guarded route (and, with templates, no template) took. It is never one
// of the routes Routes lists.
const Control = "other"

// Aggregator counts an app's router lines per guarded route: requests,
// errors and repeats and a histogram of response times per second, each
// route in its own ring of the last Retain seconds. A line counts toward
// the first route that matches it, in the order they were given; with
// templates (all_routes), a line no route matches counts toward its
// template (GET /api/v1/crates/{name}/{id}/download), at most Templates of
// them; the rest counts toward Control. What the app's log stream covered
// (listening spans, seconds with lost lines) is the app's, shared by every
// route.
//
// Memory is bounded: the rings are fixed, and repeats are found with two
// generations of hashed (client, path) pairs, each at most MaxPairs entries
// (a generation lives 60 s, so at 5,000 requests/s a generation holds at most
// 300,000 pairs: about 12 MB each). Repeat detection is exact but for 64-bit
// hash collisions (about one in 10^8 at that size) and for pairs past a full
// generation, which are not remembered (counted in Stats().PairsDropped).
// A ring slot is 32 bytes, and 64 more (16-bit counts of the histogram's
// buckets; a second whose count passes 65,535 in one bucket moves to a
// metrics.Histogram of its own) once one of its seconds has had a request
// with a response time; the counts are then reused by the seconds that
// follow in that slot. With the default retain (DefaultRetain of 30 min and
// 20 min: 1 h 40 min, 6,000 seconds) that is 188 KB of counts and at most
// 375 KB of latency per route. The templater's memory is bounded too
// (maxNodes prefixes of maxLiterals literals each).
//
// It is safe for concurrent use.
type Aggregator struct {
	retain    int64
	maxPairs  int
	templates int // at most this many templates; 0: no templates
	seed      maphash.Seed
	now       func() time.Time // nil: no line is too far ahead

	mu      sync.Mutex
	guarded []guardedRoute // in the order given: the first match takes a line
	other   *ring
	byName  map[string]*ring
	// tmpls are the templates, by their hash; nil without templates.
	tmpls     map[uint64]*ring
	templater *templater
	evicted   int64   // the second of the last search for a stale template
	lost      []int64 // ring of seconds whose lines were dropped (L10, L11)
	newest    int64   // the newest second a line was counted in
	// streamed is the newest second a line was read at, router line or
	// not: how far an open log stream has delivered. Seconds after it
	// are not known yet (their lines may still be on their way), never
	// zero traffic.
	streamed int64
	// gens[0] is the newest generation of pair -> last second seen.
	gens     [2]map[uint64]int64
	genStart int64
	covered  []covered // when a log stream was open: (from, to)
	heard    []covered // spans of line timestamps a drain delivered: [from, to)
	stats    Stats
}

type guardedRoute struct {
	route Route
	ring  *ring
}

// ring is one route's seconds, indexed by unix second % retain.
type ring struct {
	name    string
	buckets []bucket
	// wide holds the latency of the seconds (bucket.wide) whose count
	// in one histogram bucket passed what 16 bits hold.
	wide   map[int64]*metrics.Histogram
	newest int64 // the newest second counted
	tmpl   *tmpl // the template, for a template's ring
}

type bucket struct {
	sec                       int64 // which second the bucket holds; 0: none
	requests, errors, repeats uint32
	wide                      bool // the second's latency is in ring.wide
	// latency is the second's response times, allocated for the first
	// second of this slot that has one and cleared for the next: nil or
	// empty when the second has none.
	latency *latencyCounts
}

// latencyCounts are a metrics.Histogram's bucket counts in 16 bits.
type latencyCounts [metrics.LatencyBuckets]uint16

type covered struct{ from, to int64 } // [from, to), to = 0 while open

// Stats are the aggregator's counters, for logs and tests.
type Stats struct {
	Lines, Matched, Malformed, NotRouter, Late int64
	// Other counts the router lines that went to Control: no guarded route
	// took them (nor a template: Untemplated of them found none).
	Other, Untemplated int64
	Dropped            int64 // lines logplex reported lost
	PairsDropped       int64
	// BadTimes counts matched lines whose connect= or service= did not
	// read: counted as requests, untimed.
	BadTimes int64
	// Future counts router lines stamped more than MaxAhead past the
	// clock: not counted.
	Future int64
}

// DefaultRetain is how much per-second memory an app watched for watchFor
// against baseline needs by default: twice both, so a release's baseline
// and watch are both in memory while the next one's begins.
func DefaultRetain(baseline, watchFor time.Duration) time.Duration {
	return 2 * (baseline + watchFor)
}

// Options are what an Aggregator counts and how much it keeps.
type Options struct {
	// Routes are the guarded routes, the first match taking a line.
	Routes []Route
	// Templates, when positive, groups the paths no route matches into at
	// most this many templates (all_routes, up to max_routes).
	Templates int
	// Retain is how much per-second history each route keeps (at least
	// 1 h is wise: the baseline is the 30 min before a release); zero is
	// DefaultRetain(Baseline, WatchFor). Under 2 min is 2 min.
	Retain time.Duration
	// Baseline and WatchFor are the app's baseline and watch (config's
	// baseline and watch_for), from which a zero Retain is made.
	Baseline, WatchFor time.Duration
	// MaxPairs bounds a generation of (client, path) pairs (0: 2^21).
	MaxPairs int
	// Now is the clock the lines arrive by: a line stamped more than
	// MaxAhead past it is not counted (Stats.Future). Nil: none is refused
	// (lines read from a file are history, stamped by another clock).
	Now func() time.Time
}

// NewAggregator counts route over the last retain (at least 1 h is wise: the
// baseline is the 30 min before a release).
func NewAggregator(route Route, retain time.Duration, maxPairs int) *Aggregator {
	return New(Options{Routes: []Route{route}, Retain: retain, MaxPairs: maxPairs})
}

// New counts the routes of o, and its templates.
func New(o Options) *Aggregator {
	if o.Retain == 0 {
		o.Retain = DefaultRetain(o.Baseline, o.WatchFor)
	}
	n := int64(o.Retain / time.Second)
	if n < 120 {
		n = 120
	}
	if o.MaxPairs <= 0 {
		o.MaxPairs = 1 << 21
	}
	a := &Aggregator{
		retain: n, maxPairs: o.MaxPairs, seed: maphash.MakeSeed(), templates: max(0, o.Templates), now: o.Now,
		byName: map[string]*ring{},
		lost:   make([]int64, n),
		gens:   [2]map[uint64]int64{make(map[uint64]int64), make(map[uint64]int64)},
	}
	for _, r := range o.Routes {
		if a.byName[r.String()] != nil {
			continue
		}
		rg := a.newRing(r.String())
		a.guarded = append(a.guarded, guardedRoute{route: r, ring: rg})
		a.byName[rg.name] = rg
	}
	a.other = a.newRing(Control)
	a.byName[Control] = a.other
	if a.templates > 0 {
		a.tmpls = map[uint64]*ring{}
		a.templater = newTemplater(a.seed)
	}
	return a
}

func (a *Aggregator) newRing(name string) *ring {
	return &ring{name: name, buckets: make([]bucket, a.retain)}
}

func (a *Aggregator) slot(sec int64) int64 { return ((sec % a.retain) + a.retain) % a.retain }

// Listening records that lines are arriving from now on (a stream or drain
// connected); Stopped that they are not (the stream ended). Seconds outside
// listening spans have no data.
func (a *Aggregator) Listening(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.covered); n > 0 && a.covered[n-1].to == 0 {
		return
	}
	a.covered = append(a.covered, covered{from: now.Unix()})
	if len(a.covered) > 1000 {
		a.covered = a.covered[len(a.covered)-1000:]
	}
}

// Heard records that the log pipe was alive at second sec: a drain
// delivered a line stamped then. Seconds between two such lines less than a
// minute apart count as listened to (a quiet route is zero traffic); a longer
// silence is no data.
func (a *Aggregator) Heard(sec int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.heard) - 1; i >= 0 && i >= len(a.heard)-3; i-- {
		h := &a.heard[i]
		if sec >= h.from-60 && sec <= h.to+60 {
			h.from, h.to = min(h.from, sec), max(h.to, sec+1)
			return
		}
	}
	a.heard = append(a.heard, covered{from: sec, to: sec + 1})
	if len(a.heard) > 1000 {
		a.heard = a.heard[len(a.heard)-1000:]
	}
}

// lastHeard is the newest second a drain delivered a line of (Heard),
// and whether there is one.
func (a *Aggregator) lastHeard() (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	last, ok := int64(0), false
	for _, h := range a.heard {
		last, ok = max(last, h.to-1), true
	}
	return last, ok
}

// Connected reports whether lines are arriving now: a listening span is
// open (a stream connected, not yet ended).
func (a *Aggregator) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.covered)
	return n > 0 && a.covered[n-1].to == 0
}

// Stopped records that lines stopped arriving at now.
func (a *Aggregator) Stopped(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.covered); n > 0 && a.covered[n-1].to == 0 {
		a.covered[n-1].to = max(now.Unix(), a.covered[n-1].from)
	}
}

// Lost marks second sec as missing data: logplex dropped lines then.
func (a *Aggregator) Lost(sec int64, n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Dropped += n
	if l := &a.lost[a.slot(sec)]; *l <= sec {
		*l = sec
	}
}

// Malformed counts a line that could not be read at all.
func (a *Aggregator) Malformed() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Lines++
	a.stats.Malformed++
}

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// bucketLocked is r's bucket of second sec, emptied when it held an older
// second; nil when sec is older than the ring holds.
func (a *Aggregator) bucketLocked(r *ring, sec int64) *bucket {
	b := &r.buckets[a.slot(sec)]
	if b.sec != sec {
		if b.sec > sec { // older than the ring holds
			return nil
		}
		if b.wide {
			delete(r.wide, b.sec)
		}
		latency := b.latency
		if latency != nil {
			clear(latency[:])
		}
		*b = bucket{sec: sec, latency: latency}
	}
	r.newest = max(r.newest, sec)
	a.streamed = max(a.streamed, sec)
	return b
}

// addLatency counts n responses in histogram bucket i of b, a bucket of r.
func (r *ring) addLatency(b *bucket, i int, n uint32) {
	if b.wide {
		h := r.wide[b.sec]
		h[i] = saturating(h[i], n)
		return
	}
	if b.latency == nil {
		b.latency = new(latencyCounts)
	}
	if s := uint32(b.latency[i]) + n; s <= math.MaxUint16 && s >= n {
		b.latency[i] = uint16(s)
		return
	}
	// Past 16 bits: the second gets a full histogram.
	h := new(metrics.Histogram)
	for j, c := range b.latency {
		h[j] = uint32(c)
	}
	h[i] = saturating(h[i], n)
	if r.wide == nil {
		r.wide = map[int64]*metrics.Histogram{}
	}
	r.wide[b.sec], b.wide = h, true
	clear(b.latency[:])
}

// histogram is b's latency (b a bucket of r), and whether it has any.
func (r *ring) histogram(b *bucket) (metrics.Histogram, bool) {
	var h metrics.Histogram
	switch {
	case b.wide:
		h = *r.wide[b.sec]
	case b.latency != nil:
		for i, c := range b.latency {
			h[i] = uint32(c)
		}
	}
	return h, h.Count() > 0
}

func saturating(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

// latencyBounds are the histogram's buckets' lower bounds, in milliseconds.
var latencyBounds = func() (lo [metrics.LatencyBuckets]float64) {
	for i := range lo {
		lo[i], _ = metrics.LatencyBucketBounds(i)
	}
	return lo
}()

// latencyBucket is the metrics.Histogram bucket of a response of ms.
func latencyBucket(ms float64) int {
	if !(ms >= latencyBounds[1]) { // also NaN
		return 0
	}
	i, _ := slices.BinarySearch(latencyBounds[:], ms)
	if i == len(latencyBounds) || latencyBounds[i] != ms {
		i--
	}
	return i
}

// Add counts one raw line and returns its second (0 when it has none that
// could be read, or one stamped more than MaxAhead past the clock). It
// allocates nothing in the steady state (a ring slot's first response time
// allocates its counts; a new template, its ring).
func (a *Aggregator) Add(raw []byte) int64 {
	sec, _ := a.AddLine(raw)
	return sec
}

// AddLine is Add, and says why a line was not counted: ErrNotRouter for
// another process's line, ParseLine's error for a router line that did not
// read (nil when it was counted, or stamped too far ahead).
func (a *Aggregator) AddLine(raw []byte) (int64, error) {
	var l Line
	err := ParseLine(raw, &l)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Lines++
	switch err {
	case nil:
	case ErrNotRouter:
		a.stats.NotRouter++
		sec := a.notAheadLocked(lineSecond(raw))
		a.streamed = max(a.streamed, sec)
		return sec, err
	default:
		a.stats.Malformed++
		return 0, err
	}
	if a.notAheadLocked(l.Unix) == 0 {
		a.stats.Future++
		return 0, nil
	}
	r := a.routeLocked(&l)
	b := a.bucketLocked(r, l.Unix)
	if b == nil {
		a.stats.Late++
		return l.Unix, nil
	}
	a.newest = max(a.newest, l.Unix)
	if r == a.other {
		a.stats.Other++
	} else {
		a.stats.Matched++
	}
	b.requests = saturating(b.requests, 1)
	if l.Failed() {
		b.errors = saturating(b.errors, 1)
	}
	if l.TimeErr != nil {
		a.stats.BadTimes++
	}
	if ms, ok := l.ResponseTime(); ok {
		r.addLatency(b, latencyBucket(float64(ms)), 1)
	}
	if a.seenLocked(l.Fwd, l.Path, l.Unix) {
		b.repeats = saturating(b.repeats, 1)
	}
	return l.Unix, nil
}

// notAheadLocked is sec, or 0 when it is more than MaxAhead past the
// clock: a broken stamp, of no second the log pipe was heard at.
func (a *Aggregator) notAheadLocked(sec int64) int64 {
	if a.now != nil && sec > a.now().Add(MaxAhead).Unix() {
		return 0
	}
	return sec
}

// routeLocked is the ring l counts toward: the first guarded route that
// matches, else its template, else Control.
func (a *Aggregator) routeLocked(l *Line) *ring {
	for _, g := range a.guarded {
		if g.route.Match(l.Method, l.Path) {
			return g.ring
		}
	}
	if a.templater == nil {
		return a.other
	}
	path := l.Path
	if q := indexQuery(path); q >= 0 {
		path = path[:q]
	}
	var w walk
	if !a.templater.template(l.Method, path, &w) {
		a.stats.Untemplated++
		return a.other
	}
	if w.widened != 0 {
		a.widenLocked(w.widened, w.widenedAt)
	}
	if r := a.tmpls[w.key]; r != nil {
		return r
	}
	if len(a.tmpls) >= a.templates && !a.evictLocked(l.Unix) {
		a.stats.Untemplated++
		return a.other
	}
	tp := newTmpl(l.Method, path, &w)
	name := tp.String()
	if a.byName[name] != nil { // a guarded route's name: never shadow it
		a.stats.Untemplated++
		return a.other
	}
	r := a.newRing(name)
	r.tmpl = tp
	a.tmpls[tp.key] = r
	a.byName[name] = r
	return r
}

// widenLocked folds the templates whose segment at position i, after the
// prefix hash prefix, was a literal into its {name} template: the
// templater made that position a wildcard.
func (a *Aggregator) widenLocked(prefix uint64, i int) {
	for key, r := range a.tmpls {
		if !a.templater.widen(r.tmpl, prefix, i) {
			continue
		}
		delete(a.tmpls, key)
		delete(a.byName, r.name)
		if into := a.tmpls[r.tmpl.key]; into != nil {
			a.mergeLocked(into, r)
			continue
		}
		r.name = r.tmpl.String()
		if a.byName[r.name] != nil { // a guarded route's name: drop it
			continue
		}
		a.tmpls[r.tmpl.key] = r
		a.byName[r.name] = r
	}
}

// mergeLocked adds from's seconds into into's.
func (a *Aggregator) mergeLocked(into, from *ring) {
	for j := range from.buckets {
		src := &from.buckets[j]
		if src.sec == 0 {
			continue
		}
		dst := a.bucketLocked(into, src.sec)
		if dst == nil {
			continue
		}
		dst.requests = saturating(dst.requests, src.requests)
		dst.errors = saturating(dst.errors, src.errors)
		dst.repeats = saturating(dst.repeats, src.repeats)
		if h, ok := from.histogram(src); ok {
			for i, n := range h {
				if n > 0 {
					into.addLatency(dst, i, n)
				}
			}
		}
	}
}

// evictLocked makes room for a template at second sec by dropping one
// whose seconds have all left the ring, and reports whether it did. It
// looks once a second at most: a flood of new paths must not make every
// line search.
func (a *Aggregator) evictLocked(sec int64) bool {
	if a.evicted == sec {
		return false
	}
	a.evicted = sec
	for key, r := range a.tmpls {
		if r.newest <= sec-a.retain {
			delete(a.tmpls, key)
			delete(a.byName, r.name)
			return true
		}
	}
	return false
}

// lineSecond reads the timestamp of any log line, router or not: a drain
// that delivers app lines is alive too.
func lineSecond(raw []byte) int64 {
	if len(raw) > 0 && raw[0] == '<' {
		if _, rest, ok := cut(raw); ok {
			raw = rest
		}
	}
	ts, _, _ := cut(raw)
	sec, err := parseTimestamp(ts)
	if err != nil {
		return 0
	}
	return sec
}

// seenLocked reports whether (client, path) was seen within 60 s of sec
// (the path with its query: a retry asks the same thing, a client paging
// /items?page=N asks new things),
// before or after it (lines come out of order across seconds: a retry's
// line can come before its first attempt's), and remembers the later of
// the two.
func (a *Aggregator) seenLocked(client, path []byte, sec int64) bool {
	if sec >= a.genStart+repeatWindow {
		// Rotate: the older generation only holds pairs last seen 60 s ago
		// or more, which no longer count.
		a.gens[1], a.gens[0] = a.gens[0], a.gens[1]
		clear(a.gens[0])
		a.genStart = sec
	}
	key := maphash.Bytes(a.seed, client)*0x9E3779B97F4A7C15 ^ maphash.Bytes(a.seed, path)
	repeat, latest := false, sec
	for _, g := range a.gens {
		if last, ok := g[key]; ok && max(sec-last, last-sec) <= repeatWindow {
			repeat, latest = true, max(last, sec)
			break
		}
	}
	if _, ok := a.gens[0][key]; ok || len(a.gens[0]) < a.maxPairs {
		a.gens[0][key] = latest
	} else {
		a.stats.PairsDropped++
	}
	return repeat
}

func indexQuery(p []byte) int {
	for i, c := range p {
		if c == '?' || c == '#' {
			return i
		}
	}
	return -1
}

// Counts implements metrics.Source for a guarded route, a template, or
// Control: seconds the collector was not listening, seconds with lost
// lines, and seconds older than the ring are no data. The current second
// is not served: it is still being counted. A second's Latency is a copy
// (128 bytes a second: 154 KB for 20 min), nil when none of its requests
// had a response time; the router log always carries them, so HasLatency
// is true. A route the aggregator does not count is an error.
func (a *Aggregator) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Series{}, err
	}
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	n := max(0, int(to.Sub(from)/time.Second))
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.byName[route]
	if r == nil {
		return metrics.Series{}, fmt.Errorf("routerlog: not counting route %q (counting %s)", route, a.namesLocked())
	}
	s := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: true, HasLatency: true}
	// The copies share one allocation: the ring's histograms change as late
	// lines come and as slots are reused.
	var latencies []metrics.Histogram
	for i := range s.Points {
		sec := from.Unix() + int64(i)
		if !a.coveredLocked(sec) || a.lost[a.slot(sec)] == sec || sec <= a.newest-a.retain {
			continue
		}
		b := &r.buckets[a.slot(sec)]
		switch {
		case b.sec == sec:
			s.Points[i] = metrics.Point{OK: true, Requests: int64(b.requests), Errors: int64(b.errors), Repeats: int64(b.repeats)}
			if h, ok := r.histogram(b); ok {
				if latencies == nil {
					latencies = make([]metrics.Histogram, 0, a.latencySecondsLocked(r, sec, from.Unix()+int64(n)))
				}
				latencies = append(latencies, h)
				s.Points[i].Latency = &latencies[len(latencies)-1]
			}
		case b.sec < sec:
			s.Points[i] = metrics.Point{OK: true} // listening, and no line: no traffic
		}
	}
	return s, nil
}

// namesLocked lists the routes counted, for an error.
func (a *Aggregator) namesLocked() string {
	var names []string
	for _, g := range a.guarded {
		names = append(names, fmt.Sprintf("%q", g.ring.name))
	}
	if a.templater != nil {
		names = append(names, fmt.Sprintf("%d templates", len(a.tmpls)))
	}
	return strings.Join(append(names, fmt.Sprintf("%q", Control)), ", ")
}

// latencySecondsLocked counts the seconds in [from, to) whose slot of r
// holds a response time: at least as many as Counts will copy.
func (a *Aggregator) latencySecondsLocked(r *ring, from, to int64) int {
	n := 0
	for sec := from; sec < to; sec++ {
		b := &r.buckets[a.slot(sec)]
		if b.sec != sec {
			continue
		}
		if b.wide {
			n++
		} else if b.latency != nil && *b.latency != (latencyCounts{}) {
			n++
		}
	}
	return n
}

// RouteCount is a route's requests over a span of time.
type RouteCount struct {
	Route    string
	Requests int64
	Template bool // a template the aggregator made, not a route it was given
}

// Busiest lists the guarded routes and templates with requests in
// [from, to), busiest first (by name on a tie), and how many requests went
// to Control then. It counts what the ring holds, listened to or not.
func (a *Aggregator) Busiest(from, to time.Time) (routes []RouteCount, other int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lo, hi := max(from.Unix(), a.newest-a.retain+1), min(to.Unix(), a.newest+1)
	requests := func(r *ring) int64 {
		var n int64
		for sec := lo; sec < hi; sec++ {
			if b := &r.buckets[a.slot(sec)]; b.sec == sec {
				n += int64(b.requests)
			}
		}
		return n
	}
	for _, g := range a.guarded {
		if n := requests(g.ring); n > 0 {
			routes = append(routes, RouteCount{Route: g.ring.name, Requests: n})
		}
	}
	for _, r := range a.tmpls {
		if n := requests(r); n > 0 {
			routes = append(routes, RouteCount{Route: r.name, Requests: n, Template: true})
		}
	}
	slices.SortFunc(routes, func(x, y RouteCount) int {
		if x.Requests != y.Requests {
			return cmp.Compare(y.Requests, x.Requests)
		}
		return strings.Compare(x.Route, y.Route)
	})
	return routes, requests(a.other)
}

var _ metrics.RouteLister = (*Aggregator)(nil)

// Routes implements metrics.RouteLister: the guarded routes and templates
// with requests in [from, to), busiest first, at most limit (0: all);
// never Control.
func (a *Aggregator) Routes(from, to time.Time, limit int) []string {
	busiest, _ := a.Busiest(from, to)
	if limit > 0 && len(busiest) > limit {
		busiest = busiest[:limit]
	}
	out := make([]string, len(busiest))
	for i, r := range busiest {
		out[i] = r.Route
	}
	return out
}

// coveredLocked reports whether sec is a whole second of listening. A
// stream still open covers the seconds up to the newest line it delivered:
// the seconds after it are not known yet (a log pipeline a few seconds
// behind, or stalled), and reading them as no traffic would make a rate
// collapse of every pause in delivery.
func (a *Aggregator) coveredLocked(sec int64) bool {
	for i := len(a.covered) - 1; i >= 0; i-- {
		c := a.covered[i]
		if sec > c.from && (c.to == 0 && sec <= a.streamed || c.to != 0 && sec < c.to) {
			return true
		}
	}
	for i := len(a.heard) - 1; i >= 0; i-- {
		if h := a.heard[i]; sec >= h.from && sec < h.to {
			return true
		}
	}
	return false
}
