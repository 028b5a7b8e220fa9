package series

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/relwatch/relwatch/metrics"
)

// Header is the header line of a series.csv without response times: its
// rows have five fields.
const Header = "t_s,route,requests,errors,repeats"

// HeaderLatency is the header line of a series.csv with response times: its
// rows have a sixth field, the second's latency histogram (see Parse).
const HeaderLatency = Header + ",latency"

// maxSeriesSeconds bounds a series with no declared duration (a week).
const maxSeriesSeconds = 7 * 24 * 3600

var columns = [6]string{"t_s", "route", "requests", "errors", "repeats", "latency"}

// Parse reads series.csv: one row per route per second, t_s from 0 to
// durationS-1 (durationS 0: as long as the file says, up to a week), in any
// order. A second without a row has no data. What it returns holds the
// rows only, so its size follows the file, not durationS. Errors name the
// line.
//
// Under HeaderLatency a row's sixth field is the second's response times
// as ;-separated BUCKET:COUNT pairs of a metrics.Histogram, buckets
// increasing, counts positive, adding up to at most requests (some
// requests may have no time); empty when the second has none. A route
// has latency (Rows.HasLatency) where some second of it has one. Under
// Header there is no sixth field, and no route has latency.
func Parse(r io.Reader, durationS int) (Table, error) {
	limit := int64(durationS)
	if durationS <= 0 {
		limit = maxSeriesSeconds
	}
	limit = min(limit, math.MaxInt32) // seconds are held as int32
	sc := bufio.NewScanner(r)
	const maxLine = 1 << 16
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	building := map[string]*rowsBuilder{}
	line := 0
	var fields [6][]byte
	header, want := Header, 5 // the header read, and how many fields its rows have
	var slab histogramSlab
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if line == 1 {
			// A spreadsheet's or Notepad's UTF-8 byte-order mark.
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
			switch string(text) {
			case Header:
			case HeaderLatency:
				header, want = HeaderLatency, 6
			default:
				return nil, fmt.Errorf("line 1: header is %q, want %q or %q", text, Header, HeaderLatency)
			}
			continue
		}
		if len(text) == 0 {
			continue
		}
		nf := 0
		for rest := text; ; nf++ {
			field, after, more := bytes.Cut(rest, []byte{','})
			if nf < len(fields) {
				fields[nf] = field
			}
			if !more {
				nf++
				break
			}
			rest = after
		}
		if nf != want {
			return nil, fmt.Errorf("line %d: %d fields, want %d (%s)", line, nf, want, header)
		}
		var nums [4]int64
		for i, idx := range [4]int{0, 2, 3, 4} {
			n, err := strconv.ParseInt(string(fields[idx]), 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("line %d: %s %q is not a non-negative whole number", line, columns[idx], fields[idx])
			}
			nums[i] = n
		}
		t := nums[0]
		if len(fields[1]) == 0 {
			return nil, fmt.Errorf("line %d: route is empty", line)
		}
		if t >= limit {
			return nil, fmt.Errorf("line %d: t_s %d is past the recording (%d s)", line, t, limit)
		}
		if nums[2] > nums[1] || nums[3] > nums[1] {
			return nil, fmt.Errorf("line %d: errors %d or repeats %d exceed requests %d", line, nums[2], nums[3], nums[1])
		}
		p := metrics.Point{OK: true, Requests: nums[1], Errors: nums[2], Repeats: nums[3]}
		if want == 6 && len(fields[5]) > 0 {
			// Parsed into the slab's next histogram, which is taken only
			// if the field is good: a row without latency costs none.
			h := slab.next()
			n, err := parseLatency(fields[5], h)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			if n > p.Requests {
				return nil, fmt.Errorf("line %d: latency counts %d responses, more than requests %d", line, n, p.Requests)
			}
			p.Latency = slab.take()
		}
		b := building[string(fields[1])] // no allocation for a route seen before
		if b == nil {
			b = &rowsBuilder{}
			building[string(fields[1])] = b
		}
		// A route has latency where some second of it has, as FromPoints
		// says: a route the file times nowhere (the app's other traffic)
		// reads back as written.
		b.latency = b.latency || p.Latency != nil
		if err := b.add(int32(t), int32(line), p); err != nil {
			return nil, fmt.Errorf("line %d: %w, route %q", line, err, fields[1])
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("line %d: longer than %d bytes", line+1, maxLine)
	} else if err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return nil, errors.New("empty file: no header")
	}
	out := make(Table, len(building))
	for route, b := range building {
		rows, err := b.finish()
		if err != nil {
			return nil, fmt.Errorf("%w, route %q", err, route)
		}
		out[route] = rows
	}
	return out, nil
}

// rowsBuilder collects one route's rows as the file gives them.
type rowsBuilder struct {
	Rows
	lines    []int32 // the line of each row, to name a duplicate found late
	unsorted bool
}

func (b *rowsBuilder) add(t, line int32, p metrics.Point) error {
	if n := len(b.secs); n > 0 && !b.unsorted {
		switch last := b.secs[n-1]; {
		case t == last:
			return fmt.Errorf("a second row for t_s %d", t)
		case t < last:
			b.unsorted = true
		}
	}
	b.secs = append(b.secs, t)
	b.pts = append(b.pts, p)
	b.lines = append(b.lines, line)
	return nil
}

// finish puts rows given out of time order in order; a second given twice
// is an error naming the later line.
func (b *rowsBuilder) finish() (*Rows, error) {
	if b.unsorted {
		order := make([]int, len(b.secs))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return b.secs[order[i]] < b.secs[order[j]] })
		secs, pts := make([]int32, len(order)), make([]metrics.Point, len(order))
		for i, o := range order {
			secs[i], pts[i] = b.secs[o], b.pts[o]
			if i > 0 && secs[i] == secs[i-1] {
				return nil, fmt.Errorf("line %d: a second row for t_s %d", max(b.lines[o], b.lines[order[i-1]]), secs[i])
			}
		}
		b.secs, b.pts = secs, pts
	}
	return &Rows{secs: slices.Clip(b.secs), pts: slices.Clip(b.pts), latency: b.latency}, nil
}

// histogramSlab hands out a parse's histograms from chunks, so that a
// recording with latency costs a few allocations, not one a row. A chunk
// grows from 8 to 256 histograms (32 KB); its unused rest is the waste.
type histogramSlab struct {
	free []metrics.Histogram
	size int // of the last chunk
}

// next is the histogram take will hand out, zeroed.
func (s *histogramSlab) next() *metrics.Histogram {
	if len(s.free) == 0 {
		s.size = min(max(8, 2*s.size), 256)
		s.free = make([]metrics.Histogram, s.size)
	}
	return &s.free[0]
}

// take hands out next.
func (s *histogramSlab) take() *metrics.Histogram {
	h := s.next()
	s.free = s.free[1:]
	return h
}

// parseLatency reads a latency field, BUCKET:COUNT pairs separated by ';',
// into h (zeroed) and returns how many responses it counts.
func parseLatency(field []byte, h *metrics.Histogram) (int64, error) {
	var total int64
	last := -1
	for rest := field; ; {
		pair, after, more := bytes.Cut(rest, []byte{';'})
		bucketText, countText, ok := bytes.Cut(pair, []byte{':'})
		if !ok {
			return 0, fmt.Errorf("latency pair %q is not BUCKET:COUNT", pair)
		}
		bucket, ok := parseDigits(bucketText, metrics.LatencyBuckets-1)
		if !ok {
			return 0, fmt.Errorf("latency bucket %q is not a whole number from 0 to %d", bucketText, metrics.LatencyBuckets-1)
		}
		switch b := int(bucket); {
		case b == last:
			return 0, fmt.Errorf("latency bucket %d appears twice", b)
		case b < last:
			return 0, fmt.Errorf("latency bucket %d comes after bucket %d: buckets must increase", b, last)
		}
		last = int(bucket)
		count, ok := parseDigits(countText, math.MaxUint32)
		if !ok || count == 0 {
			return 0, fmt.Errorf("latency bucket %d: count %q is not a whole number from 1 to %d", bucket, countText, uint32(math.MaxUint32))
		}
		h[bucket] = uint32(count)
		total += int64(count)
		if !more {
			return total, nil
		}
		rest = after
	}
}

// parseDigits reads b as a decimal number no greater than limit: digits
// only, no sign.
func parseDigits(b []byte, limit uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = 10*n + uint64(c-'0')
		if n > limit {
			return 0, false
		}
	}
	return n, true
}

// Write writes routes as series.csv: the header, then one row per route per
// second with data before durationS, in time order (routes by name within
// a second). The header is HeaderLatency only when a row written has a
// Latency, else Header: a recording without response times is written as
// it always was. A Latency with no counts is written as none.
func Write(w io.Writer, routes Table, durationS int) error {
	bw := bufio.NewWriter(w)
	names := make([]string, 0, len(routes))
	for r := range routes {
		names = append(names, r)
	}
	sort.Strings(names)
	type ref struct{ sec, route, row int32 }
	var refs []ref
	withLatency := false
	for ri, name := range names {
		rows := routes[name]
		for i, s := range rows.secs {
			if int(s) < durationS {
				refs = append(refs, ref{s, int32(ri), int32(i)})
				withLatency = withLatency || rows.pts[i].Latency != nil
			}
		}
	}
	if withLatency {
		bw.WriteString(HeaderLatency + "\n")
	} else {
		bw.WriteString(Header + "\n")
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if a.sec != b.sec {
			return int(a.sec - b.sec)
		}
		return int(a.route - b.route)
	})
	var buf []byte
	for _, r := range refs {
		p := routes[names[r.route]].pts[r.row]
		buf = strconv.AppendInt(buf[:0], int64(r.sec), 10)
		buf = append(buf, ',')
		buf = append(buf, names[r.route]...)
		for _, n := range [3]int64{p.Requests, p.Errors, p.Repeats} {
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, n, 10)
		}
		if withLatency {
			buf = append(buf, ',')
			buf = appendLatency(buf, p.Latency)
		}
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}

// appendLatency appends h as a latency field: its non-empty buckets as
// BUCKET:COUNT, ';' between them; nothing for nil.
func appendLatency(buf []byte, h *metrics.Histogram) []byte {
	if h == nil {
		return buf
	}
	first := true
	for i, n := range h {
		if n == 0 {
			continue
		}
		if !first {
			buf = append(buf, ';')
		}
		first = false
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ':')
		buf = strconv.AppendUint(buf, uint64(n), 10)
	}
	return buf
}
