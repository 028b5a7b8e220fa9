package herokusim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Heroku's answers to a Range it cannot use. The messages are Heroku's
// (as recorded answering such headers; see issue 10).
const (
	msgBadRange     = "Invalid `Range` header. Please use format like `id ..; max=10, order=desc`"
	msgEndOnlyRange = "End range bounds without a start bound are currently not supported"
	maxPageSize     = 1000 // reference, "Ranges": "maximum page size is 1000"
)

// rangeSpec is a parsed Range header: "version ..; max=10, order=desc", or
// a Next-Range "version ]41..; max=10, order=desc".
type rangeSpec struct {
	field          string
	start, end     string
	startExclusive bool
	endExclusive   bool
	max            int
	desc           bool
}

// rangeError is why a Range was refused, as Heroku answers it.
type rangeError struct {
	status  int
	id, msg string
}

func (e *rangeError) Error() string { return e.msg }

func badRange() *rangeError {
	return &rangeError{http.StatusBadRequest, "bad_request", msgBadRange}
}

func unsatisfiable(msg string) *rangeError {
	return &rangeError{http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable", msg}
}

// parseRange reads a Range header as the Platform API reference describes
// it ("Ranges"): `<field> [start]..[end]`, then after one ";" the
// parameters, separated by ",": max=N (1..1000, larger is the 1000 cap) and
// order=asc|desc. A start bound may be exclusive ("]41.."). One trailing ";"
// is allowed (the reference's own example reads `Range: id ..; max=10;`);
// any other ";" is a malformed header (400), and so is an unknown
// parameter. A field the list cannot be ordered on (fields, the first of
// which is the default), and a range with an end but no start bound (no
// longer supported since 2013-08-16, Heroku changelog 314), are 416.
func parseRange(h string, fields []string, defaultMax int) (rangeSpec, *rangeError) {
	rs := rangeSpec{field: fields[0], max: defaultMax}
	h = strings.TrimSpace(h)
	if h == "" {
		return rs, nil
	}
	head, params, _ := strings.Cut(h, ";")
	params = strings.TrimSpace(params)
	params = strings.TrimSuffix(params, ";")
	if strings.Contains(params, ";") {
		return rs, badRange()
	}
	field, bounds, _ := strings.Cut(strings.TrimSpace(head), " ")
	bounds = strings.TrimSpace(bounds)
	start, end, ok := strings.Cut(bounds, "..")
	if field == "" || !ok {
		return rs, badRange()
	}
	rs.field = field
	if strings.HasPrefix(start, "]") {
		rs.startExclusive, start = true, start[1:]
	}
	if strings.HasSuffix(end, "[") {
		rs.endExclusive, end = true, strings.TrimSuffix(end, "[")
	}
	rs.start, rs.end = strings.TrimSpace(start), strings.TrimSpace(end)
	if rs.start == "" && rs.end != "" {
		return rs, unsatisfiable(msgEndOnlyRange)
	}
	known := false
	for _, f := range fields {
		known = known || f == field
	}
	if !known {
		return rs, unsatisfiable(fmt.Sprintf("Ranges on %q are not supported here; this list can be ordered by %s.", field, strings.Join(fields, ", ")))
	}
	if rs.field == "version" {
		for _, b := range []string{rs.start, rs.end} {
			if _, err := strconv.Atoi(b); b != "" && err != nil {
				return rs, badRange()
			}
		}
	}
	if params == "" {
		return rs, nil
	}
	for _, p := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return rs, badRange()
		}
		switch strings.TrimSpace(k) {
		case "max":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return rs, badRange()
			}
			rs.max = min(n, maxPageSize)
		case "order":
			switch strings.TrimSpace(v) {
			case "asc":
				rs.desc = false
			case "desc":
				rs.desc = true
			default:
				return rs, badRange()
			}
		default:
			return rs, badRange()
		}
	}
	return rs, nil
}

// listItem is one row of a list: its JSON and its value for each field the
// list can be ordered by (a string, or an int for "version").
type listItem struct {
	body any
	keys map[string]any
}

func compareKeys(a, b any) int {
	switch x := a.(type) {
	case int:
		y, _ := b.(int)
		return x - y
	default:
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}
}

func boundKey(field, bound string) any {
	if field == "version" {
		n, _ := strconv.Atoi(bound)
		return n
	}
	return bound
}

// serveList answers a list request with Heroku's Range semantics:
// Accept-Ranges names the fields, Content-Range the range served, and a
// list cut at the page size is 206 with a Next-Range.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, items []listItem, fields []string) {
	w.Header().Set("Accept-Ranges", strings.Join(fields, ", "))
	rs, rerr := parseRange(r.Header.Get("Range"), fields, s.pageSize)
	if rerr != nil {
		writeError(w, rerr.status, rerr.id, rerr.msg)
		return
	}
	sort.SliceStable(items, func(i, j int) bool {
		c := compareKeys(items[i].keys[rs.field], items[j].keys[rs.field])
		if rs.desc {
			return c > 0
		}
		return c < 0
	})
	var sel []listItem
	for _, it := range items {
		k := it.keys[rs.field]
		if rs.start != "" {
			c := compareKeys(k, boundKey(rs.field, rs.start))
			if rs.desc {
				c = -c
			}
			if c < 0 || (c == 0 && rs.startExclusive) {
				continue
			}
		}
		if rs.end != "" {
			c := compareKeys(k, boundKey(rs.field, rs.end))
			if rs.desc {
				c = -c
			}
			if c > 0 || (c == 0 && rs.endExclusive) {
				continue
			}
		}
		sel = append(sel, it)
	}
	limit := min(rs.max, s.pageSize)
	truncated := len(sel) > limit
	if truncated {
		sel = sel[:limit]
	}
	out := make([]any, 0, len(sel))
	for _, it := range sel {
		out = append(out, it.body)
	}
	if len(sel) > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("%s %v..%v", rs.field, sel[0].keys[rs.field], sel[len(sel)-1].keys[rs.field]))
	}
	status := http.StatusOK
	if truncated {
		status = http.StatusPartialContent
		order := "asc"
		if rs.desc {
			order = "desc"
		}
		w.Header().Set("Next-Range", fmt.Sprintf("%s ]%v..; max=%d, order=%s", rs.field, sel[len(sel)-1].keys[rs.field], rs.max, order))
	}
	payload, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(payload, '\n'))
}
