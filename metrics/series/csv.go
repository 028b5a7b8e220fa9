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

// Header is the header line series.csv must start with.
const Header = "t_s,route,requests,errors,repeats"

// maxSeriesSeconds bounds a series with no declared duration (a week).
const maxSeriesSeconds = 7 * 24 * 3600

var columns = [5]string{"t_s", "route", "requests", "errors", "repeats"}

// Parse reads series.csv: one row per route per second, t_s from 0 to
// durationS-1 (durationS 0: as long as the file says, up to a week), in any
// order. A second without a row has no data. What it returns holds the
// rows only, so its size follows the file, not durationS. Errors name the
// line.
func Parse(r io.Reader, durationS int) (Table, error) {
	limit := int64(durationS)
	if durationS <= 0 {
		limit = maxSeriesSeconds
	}
	limit = min(limit, math.MaxInt32) // seconds are held as int32
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	building := map[string]*rowsBuilder{}
	line := 0
	var fields [5][]byte
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if line == 1 {
			if string(text) != Header {
				return nil, fmt.Errorf("line 1: header is %q, want %q", text, Header)
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
		if nf != len(fields) {
			return nil, fmt.Errorf("line %d: %d fields, want 5 (%s)", line, nf, Header)
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
		b := building[string(fields[1])] // no allocation for a route seen before
		if b == nil {
			b = &rowsBuilder{}
			building[string(fields[1])] = b
		}
		if err := b.add(int32(t), int32(line), metrics.Point{OK: true, Requests: nums[1], Errors: nums[2], Repeats: nums[3]}); err != nil {
			return nil, fmt.Errorf("line %d: %w, route %q", line, err, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
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
	return &Rows{secs: slices.Clip(b.secs), pts: slices.Clip(b.pts)}, nil
}

// Write writes routes as series.csv: the header, then one row per route per
// second with data before durationS, in time order (routes by name within
// a second).
func Write(w io.Writer, routes Table, durationS int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(Header + "\n")
	names := make([]string, 0, len(routes))
	for r := range routes {
		names = append(names, r)
	}
	sort.Strings(names)
	type ref struct{ sec, route, row int32 }
	var refs []ref
	for ri, name := range names {
		for i, s := range routes[name].secs {
			if int(s) < durationS {
				refs = append(refs, ref{s, int32(ri), int32(i)})
			}
		}
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
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}
