package routerlog

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// repeatWindow is how far back a (client, path) pair counts as a repeat.
const repeatWindow = 60

// Aggregator counts one route's requests, errors and repeats and keeps a
// histogram of its response times per second, in a ring of the last Retain
// seconds, and knows which seconds it has data for.
//
// Memory is bounded: the ring is fixed, and repeats are found with two
// generations of hashed (client, path) pairs, each at most MaxPairs entries
// (a generation lives 60 s, so at 5,000 requests/s a generation holds at most
// 300,000 pairs: about 12 MB each). Repeat detection is exact but for 64-bit
// hash collisions (about one in 10^8 at that size) and for pairs past a full
// generation, which are not remembered (counted in Stats().PairsDropped).
// A ring slot is 48 bytes, and 128 more (a metrics.Histogram) once one of
// its seconds has had a request with a response time; the histogram is
// then reused by the seconds that follow in that slot. With the default
// retain (DefaultRetain of 30 min and 20 min: 1 h 40 min, 6,000 seconds)
// that is 288 KB of counts and at most 768 KB of latency per route.
//
// It is safe for concurrent use.
type Aggregator struct {
	route    Route
	retain   int64
	maxPairs int
	seed     maphash.Seed

	mu      sync.Mutex
	buckets []bucket // ring indexed by unix second % retain
	// gens[0] is the newest generation of pair -> last second seen.
	gens     [2]map[uint64]int64
	genStart int64
	covered  []covered // when a log stream was open: (from, to)
	heard    []covered // spans of line timestamps a drain delivered: [from, to)
	stats    Stats
}

type bucket struct {
	sec                       int64 // which second the bucket holds; 0: none
	requests, errors, repeats int64
	lost                      bool // lines of this second were dropped (L10, L11)
	// latency is the second's response times, allocated for the first
	// second of this slot that has one and cleared for the next: nil or
	// empty when the second has none.
	latency *metrics.Histogram
}

type covered struct{ from, to int64 } // [from, to), to = 0 while open

// Stats are the aggregator's counters, for logs and tests.
type Stats struct {
	Lines, Matched, Malformed, NotRouter, Late int64
	Dropped                                    int64 // lines logplex reported lost
	PairsDropped                               int64
	// BadTimes counts matched lines whose connect= or service= did not
	// read: counted as requests, untimed.
	BadTimes int64
}

// DefaultRetain is how much per-second memory an app watched for watchFor
// against baseline needs by default: twice both, so a release's baseline
// and watch are both in memory while the next one's begins.
func DefaultRetain(baseline, watchFor time.Duration) time.Duration {
	return 2 * (baseline + watchFor)
}

// NewAggregator counts route over the last retain (at least 1 h is wise: the
// baseline is the 30 min before a release).
func NewAggregator(route Route, retain time.Duration, maxPairs int) *Aggregator {
	n := int64(retain / time.Second)
	if n < 120 {
		n = 120
	}
	if maxPairs <= 0 {
		maxPairs = 1 << 21
	}
	return &Aggregator{
		route: route, retain: n, maxPairs: maxPairs, seed: maphash.MakeSeed(),
		buckets: make([]bucket, n),
		gens:    [2]map[uint64]int64{make(map[uint64]int64), make(map[uint64]int64)},
	}
}

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
	if b := a.bucketLocked(sec); b != nil {
		b.lost = true
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

func (a *Aggregator) bucketLocked(sec int64) *bucket {
	b := &a.buckets[((sec%a.retain)+a.retain)%a.retain]
	if b.sec != sec {
		if b.sec > sec { // older than the ring holds
			return nil
		}
		latency := b.latency
		if latency != nil {
			clear(latency[:])
		}
		*b = bucket{sec: sec, latency: latency}
	}
	return b
}

// Add counts one raw line and returns its second (0 when it has none that
// could be read). It allocates nothing in the steady state (a ring slot's
// first response time allocates its histogram).
func (a *Aggregator) Add(raw []byte) int64 {
	var l Line
	err := ParseLine(raw, &l)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Lines++
	switch err {
	case nil:
	case ErrNotRouter:
		a.stats.NotRouter++
		return lineSecond(raw)
	default:
		a.stats.Malformed++
		return 0
	}
	if !a.route.Match(l.Method, l.Path) {
		return l.Unix
	}
	b := a.bucketLocked(l.Unix)
	if b == nil {
		a.stats.Late++
		return l.Unix
	}
	a.stats.Matched++
	b.requests++
	if l.Failed() {
		b.errors++
	}
	if l.TimeErr != nil {
		a.stats.BadTimes++
	}
	if ms, ok := l.ResponseTime(); ok {
		if b.latency == nil {
			b.latency = new(metrics.Histogram)
		}
		b.latency.AddMillis(float64(ms), 1)
	}
	if a.seenLocked(l.Fwd, l.Path, l.Unix) {
		b.repeats++
	}
	return l.Unix
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

// seenLocked reports whether (client, path) was seen within the last 60 s,
// and remembers it now.
func (a *Aggregator) seenLocked(client, path []byte, sec int64) bool {
	if sec >= a.genStart+repeatWindow {
		// Rotate: the older generation only holds pairs last seen 60 s ago
		// or more, which no longer count.
		a.gens[1], a.gens[0] = a.gens[0], a.gens[1]
		clear(a.gens[0])
		a.genStart = sec
	}
	if q := indexQuery(path); q >= 0 {
		path = path[:q]
	}
	key := maphash.Bytes(a.seed, client)*0x9E3779B97F4A7C15 ^ maphash.Bytes(a.seed, path)
	repeat := false
	for _, g := range a.gens {
		if last, ok := g[key]; ok && sec-last <= repeatWindow && sec >= last {
			repeat = true
			break
		}
	}
	if _, ok := a.gens[0][key]; ok || len(a.gens[0]) < a.maxPairs {
		a.gens[0][key] = sec
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

// Counts implements metrics.Source for the aggregator's route: seconds the
// collector was not listening, seconds with lost lines, and seconds older
// than the ring are no data. The current second is not served: it is still
// being counted. A second's Latency is a copy (128 bytes a second: 154 KB
// for 20 min), nil when none of its requests had a response time; the
// router log always carries them, so HasLatency is true.
func (a *Aggregator) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Series{}, err
	}
	if route != a.route.String() {
		return metrics.Series{}, fmt.Errorf("routerlog: counting route %q, not %q", a.route.String(), route)
	}
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	n := max(0, int(to.Sub(from)/time.Second))
	s := metrics.Series{Start: from, Points: make([]metrics.Point, n), HasRepeats: true, HasLatency: true}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The copies share one allocation: the ring's histograms change as late
	// lines come and as slots are reused.
	var latencies []metrics.Histogram
	for i := range s.Points {
		sec := from.Unix() + int64(i)
		if !a.coveredLocked(sec) {
			continue
		}
		b := a.buckets[((sec%a.retain)+a.retain)%a.retain]
		switch {
		case b.sec == sec && b.lost:
		case b.sec == sec:
			s.Points[i] = metrics.Point{OK: true, Requests: b.requests, Errors: b.errors, Repeats: b.repeats}
			if b.latency != nil && b.latency.Count() > 0 {
				if latencies == nil {
					latencies = make([]metrics.Histogram, 0, a.latencySecondsLocked(from.Unix()+int64(i), from.Unix()+int64(n)))
				}
				latencies = append(latencies, *b.latency)
				s.Points[i].Latency = &latencies[len(latencies)-1]
			}
		case b.sec < sec:
			s.Points[i] = metrics.Point{OK: true} // listening, and no line: no traffic
		}
	}
	return s, nil
}

// latencySecondsLocked counts the seconds in [from, to) whose slot holds a
// response time: at least as many as Counts will copy.
func (a *Aggregator) latencySecondsLocked(from, to int64) int {
	n := 0
	for sec := from; sec < to; sec++ {
		if b := &a.buckets[((sec%a.retain)+a.retain)%a.retain]; b.sec == sec && b.latency != nil && b.latency.Count() > 0 {
			n++
		}
	}
	return n
}

// coveredLocked reports whether sec is a whole second of listening.
func (a *Aggregator) coveredLocked(sec int64) bool {
	for i := len(a.covered) - 1; i >= 0; i-- {
		c := a.covered[i]
		if sec > c.from && (c.to == 0 || sec < c.to) {
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
