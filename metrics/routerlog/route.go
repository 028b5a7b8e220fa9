package routerlog

import (
	"bytes"
	"fmt"
	"strings"
)

// Route matches request paths against a pattern such as
// "/api/v1/crates/{crate}/{version}/download": literal segments must be
// equal, a {name} segment matches any one non-empty segment. A query string
// is ignored. An optional method ("GET /api/...") must match too.
type Route struct {
	Method   string
	segments []string // wildcard stands for a {name}
	pattern  string
}

// wildcard is a {name} segment of a Route: no literal holds braces.
const wildcard = "{}"

// ParseRoute reads a pattern, optionally prefixed by a method and a space.
func ParseRoute(pattern string) (Route, error) {
	r := Route{pattern: pattern}
	p := strings.TrimSpace(pattern)
	if m, rest, ok := strings.Cut(p, " "); ok {
		r.Method, p = strings.ToUpper(m), strings.TrimSpace(rest)
	}
	if !strings.HasPrefix(p, "/") {
		return Route{}, fmt.Errorf("route %q: the path must start with /", pattern)
	}
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) > 2:
			r.segments = append(r.segments, wildcard)
		case strings.ContainsAny(seg, "{}?#"):
			return Route{}, fmt.Errorf("route %q: segment %q is neither a literal nor a {name}", pattern, seg)
		default:
			r.segments = append(r.segments, seg)
		}
	}
	return r, nil
}

// String is the pattern as written.
func (r Route) String() string { return r.pattern }

// Shadows reports whether r matches every request that later matches, so
// that later, counted after r (a request counts toward the first route
// that matches it), never counts one: a method that is r's or that r
// leaves open, as many segments, each of r's a {name} over a non-empty
// segment of later's or later's own literal.
func (r Route) Shadows(later Route) bool {
	if r.Method != "" && r.Method != later.Method || len(r.segments) != len(later.segments) {
		return false
	}
	for i, seg := range r.segments {
		switch {
		case seg == wildcard:
			if later.segments[i] == "" {
				return false
			}
		case later.segments[i] == wildcard || seg != later.segments[i]:
			return false
		}
	}
	return true
}

// Shadows reports whether the route pattern earlier matches every request
// that later matches (Route.Shadows); false when either does not parse
// (the parser says why).
func Shadows(earlier, later string) bool {
	a, err := ParseRoute(earlier)
	if err != nil {
		return false
	}
	b, err := ParseRoute(later)
	return err == nil && a.Shadows(b)
}

// Match reports whether a request matches the route. It allocates nothing.
func (r Route) Match(method, path []byte) bool {
	if r.Method != "" && string(method) != r.Method {
		return false
	}
	if q := bytes.IndexAny(path, "?#"); q >= 0 {
		path = path[:q]
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	path = path[1:]
	for i, seg := range r.segments {
		var part []byte
		if j := bytes.IndexByte(path, '/'); j >= 0 {
			part, path = path[:j], path[j+1:]
		} else {
			part, path = path, nil
			if i != len(r.segments)-1 {
				return false
			}
		}
		if seg == wildcard {
			if len(part) == 0 {
				return false
			}
		} else if string(part) != seg {
			return false
		}
	}
	return path == nil
}
