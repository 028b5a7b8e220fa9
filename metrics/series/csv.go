package series

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/relwatch/relwatch/metrics"
)

// Header is the header line series.csv must start with.
const Header = "t_s,route,requests,errors,repeats"

// maxSeriesSeconds bounds a series with no declared duration (a week).
const maxSeriesSeconds = 7 * 24 * 3600

// Parse reads series.csv: one row per route per second, t_s from 0 to
// durationS-1 (durationS 0: as long as the file says, up to a week). Errors
// name the line.
func Parse(r io.Reader, durationS int) (map[string][]metrics.Point, error) {
	limit := durationS
	if durationS <= 0 {
		limit = maxSeriesSeconds
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	out := map[string][]metrics.Point{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if text != Header {
				return nil, fmt.Errorf("line 1: header is %q, want %q", text, Header)
			}
			continue
		}
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 5 {
			return nil, fmt.Errorf("line %d: %d fields, want 5 (%s)", line, len(fields), Header)
		}
		var nums [4]int64
		for i, idx := range []int{0, 2, 3, 4} {
			n, err := strconv.ParseInt(fields[idx], 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("line %d: %s %q is not a non-negative whole number", line, strings.Split(Header, ",")[idx], fields[idx])
			}
			nums[i] = n
		}
		t, route := nums[0], fields[1]
		if route == "" {
			return nil, fmt.Errorf("line %d: route is empty", line)
		}
		if t >= int64(limit) {
			return nil, fmt.Errorf("line %d: t_s %d is past the recording (%d s)", line, t, limit)
		}
		if nums[2] > nums[1] || nums[3] > nums[1] {
			return nil, fmt.Errorf("line %d: errors %d or repeats %d exceed requests %d", line, nums[2], nums[3], nums[1])
		}
		pts := out[route]
		if int(t) >= len(pts) {
			n := durationS
			if n <= 0 {
				n = max(int(t)+1, 2*len(pts))
			}
			pts = append(pts, make([]metrics.Point, n-len(pts))...)
			out[route] = pts
		}
		if pts[t].OK {
			return nil, fmt.Errorf("line %d: a second row for t_s %d, route %q", line, t, route)
		}
		pts[t] = metrics.Point{OK: true, Requests: nums[1], Errors: nums[2], Repeats: nums[3]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return nil, errors.New("empty file: no header")
	}
	return out, nil
}

// Write writes routes as series.csv: the header, then one row per route per
// second with data (seconds without data have no row), in time order.
func Write(w io.Writer, routes map[string][]metrics.Point, durationS int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(Header + "\n")
	names := make([]string, 0, len(routes))
	for r := range routes {
		names = append(names, r)
	}
	sort.Strings(names)
	for t := 0; t < durationS; t++ {
		for _, r := range names {
			if pts := routes[r]; t < len(pts) && pts[t].OK {
				p := pts[t]
				fmt.Fprintf(bw, "%d,%s,%d,%d,%d\n", t, r, p.Requests, p.Errors, p.Repeats)
			}
		}
	}
	return bw.Flush()
}
