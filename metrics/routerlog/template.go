package routerlog

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
)

// The templater's bounds: what keeps its memory fixed whatever paths
// arrive.
const (
	// maxLiterals is how many distinct literal values one segment position
	// under one prefix may show; the next one makes the position a
	// {name} wildcard for that prefix.
	maxLiterals = 20
	// maxSegments is the deepest path the templater groups; a deeper one
	// counts toward the control route.
	maxSegments = 12
	// maxNodes bounds the prefixes the templater remembers (about 200 bytes
	// each); a path that would need one more counts toward the control
	// route.
	maxNodes = 4096
	// maxLiteralLen is the longest segment kept as a literal: a longer one
	// is an {id}, and a template's name stays short.
	maxLiteralLen = 64
)

// The wildcards a template's segments may hold.
const (
	idSegment   = "{id}"
	nameSegment = "{name}"
)

// isID reports whether a path segment looks like an identifier: all digits,
// hex of 8 characters or more, a UUID, a version such as 1.2.3 or v0.4.0-rc.1,
// a long token of letters and digits, or anything too long or odd to be a
// literal (braces, bytes that are not UTF-8, control characters). It
// allocates nothing.
func isID(seg []byte) bool {
	if len(seg) == 0 {
		return false
	}
	if len(seg) > maxLiteralLen || bytes.ContainsAny(seg, "{}") || !isText(seg) {
		return true
	}
	digits, hex, letters, dots, others := 0, 0, 0, 0, 0
	for _, c := range seg {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
			letters++
		case c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z':
			letters++
		case c == '.':
			dots++
		default:
			others++
		}
	}
	switch {
	case digits == len(seg):
		return true
	case digits+hex == len(seg) && len(seg) >= 8:
		return true
	case isUUID(seg):
		return true
	case isVersion(seg):
		return true
	case len(seg) >= 16 && digits > 0 && letters > 0 && dots == 0:
		return true
	}
	return false
}

// isText reports whether b is UTF-8 without control characters: what a
// template's name may hold, since it becomes a metric's label (which must
// be UTF-8), a chat's text and a terminal's. A client may put any byte in
// a path the router logs. It allocates nothing.
func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// isUUID reports whether seg is 8-4-4-4-12 hex digits.
func isUUID(seg []byte) bool {
	if len(seg) != 36 {
		return false
	}
	for i, c := range seg {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isVersion reports whether seg reads as a version: an optional v, digits,
// a dot, digits, then anything of letters, digits, dots, dashes and pluses
// (1.2.3, v0.4.0-rc.1, 1.0.0+build.5).
func isVersion(seg []byte) bool {
	if len(seg) > 1 && (seg[0] == 'v' || seg[0] == 'V') {
		seg = seg[1:]
	}
	i := 0
	for i < len(seg) && seg[i] >= '0' && seg[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(seg)-1 || seg[i] != '.' || seg[i+1] < '0' || seg[i+1] > '9' {
		return false
	}
	for _, c := range seg[i:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

// templater groups a method and a path into a template: a segment that
// looks like an identifier is {id}; a segment position under one prefix
// that showed more than maxLiterals distinct values is {name} for that
// prefix (but for the values that carried a quarter of its paths). Its memory is bounded by maxNodes, whatever paths arrive.
type templater struct {
	seed  maphash.Seed
	nodes map[uint64]*node // prefix hash -> what its next segment showed
	// idTok and nameTok are the hashes of the wildcards as tokens.
	idTok, nameTok uint64
	// full counts paths that needed a node past maxNodes.
	full int64
}

// node is one prefix (a method and the template of the segments before):
// the distinct literal values its next segment showed, by hash, and how
// many paths each carried. Once it is a wildcard, the literals that had a
// quarter of its paths or more stay literals (pinned): scanners probing a
// few dozen paths at the root must not fold /api into /{name}.
type node struct {
	literals [maxLiterals]uint64
	paths    [maxLiterals]uint64
	total    uint64
	pinned   [pinnedShare]uint64
	n        uint8
	npinned  uint8
	wild     bool
}

// pinnedShare is the share of a node's paths (one in pinnedShare) a
// literal must have carried to stay a literal once the node is a wildcard.
const pinnedShare = 4

// widen makes nd a wildcard, pinning its heavy literals.
func (nd *node) widen() {
	nd.wild = true
	for j, l := range nd.literals[:nd.n] {
		if nd.paths[j]*pinnedShare >= nd.total && int(nd.npinned) < len(nd.pinned) {
			nd.pinned[nd.npinned] = l
			nd.npinned++
		}
	}
}

// keeps reports whether a wildcard nd keeps lit a literal.
func (nd *node) keeps(lit uint64) bool {
	return slices.Contains(nd.pinned[:nd.npinned], lit)
}

func newTemplater(seed maphash.Seed) *templater {
	return &templater{seed: seed, nodes: map[uint64]*node{},
		idTok: maphash.String(seed, idSegment), nameTok: maphash.String(seed, nameSegment)}
}

// chain is the hash of a prefix followed by a token.
func chain(prefix, tok uint64) uint64 {
	h := (prefix ^ tok) * 0x9E3779B97F4A7C15
	return h ^ h>>29
}

func (t *templater) methodHash(method []byte) uint64 {
	return chain(maphash.Bytes(t.seed, method), 0x5851F42D4C957F2D)
}

// walk is one path's way through the templater: the prefix hash before
// each segment, and each segment's kind.
type walk struct {
	n      int
	prefix [maxSegments]uint64
	kind   [maxSegments]uint8 // kindLiteral, kindID or kindName
	key    uint64             // the whole template's hash
	// widened is the prefix hash of a node the walk turned into a
	// wildcard (0: none), at position widenedAt.
	widened   uint64
	widenedAt int
}

const (
	kindLiteral = iota
	kindID
	kindName
)

// template walks method and path (its query already cut) and reports the
// template's hash; ok is false when the path is not one the templater
// groups (not absolute, too deep, or the node table is full). It allocates
// only for a prefix it has not seen, at most maxNodes times.
func (t *templater) template(method, path []byte, w *walk) bool {
	*w = walk{}
	if len(path) == 0 || path[0] != '/' || len(method) == 0 || !isText(method) || bytes.ContainsRune(method, ' ') {
		return false
	}
	h := t.methodHash(method)
	rest := path[1:]
	for {
		var seg []byte
		last := false
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			seg, last = rest, true
		}
		if w.n == maxSegments {
			return false
		}
		w.prefix[w.n] = h
		var tok uint64
		switch {
		case isID(seg):
			w.kind[w.n], tok = kindID, t.idTok
		case len(seg) == 0: // a trailing slash: never a {name}
			w.kind[w.n], tok = kindLiteral, maphash.Bytes(t.seed, seg)
		default:
			nd := t.nodes[h]
			if nd == nil {
				if len(t.nodes) >= maxNodes {
					t.full++
					return false
				}
				nd = &node{}
				t.nodes[h] = nd
			}
			lit := maphash.Bytes(t.seed, seg)
			if !nd.wild {
				j := nd.index(lit)
				if j < 0 && int(nd.n) < maxLiterals {
					j = int(nd.n)
					nd.literals[j] = lit
					nd.n++
				}
				if j >= 0 {
					nd.paths[j]++
					nd.total++
				} else {
					nd.widen()
					w.widened, w.widenedAt = h, w.n
				}
			}
			if nd.wild && !nd.keeps(lit) {
				w.kind[w.n], tok = kindName, t.nameTok
			} else {
				w.kind[w.n], tok = kindLiteral, lit
			}
		}
		h = chain(h, tok)
		w.n++
		if last {
			break
		}
	}
	w.key = h
	return true
}

// index is where lit is among nd's literals, -1 when it is not.
func (nd *node) index(lit uint64) int {
	return slices.Index(nd.literals[:nd.n], lit)
}

// tmpl is a template as the aggregator keeps it: its segments and the
// prefix hash before each, to find it again when a prefix widens.
type tmpl struct {
	method string
	segs   []string // literal text, idSegment or nameSegment
	prefix []uint64
	key    uint64
}

// newTmpl builds the template a walk of method and path found. It
// allocates: once a template.
func newTmpl(method, path []byte, w *walk) *tmpl {
	tp := &tmpl{method: string(method), segs: make([]string, w.n), prefix: make([]uint64, w.n), key: w.key}
	copy(tp.prefix, w.prefix[:w.n])
	rest := path[1:]
	for i := range w.n {
		var seg []byte
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			seg, rest = rest, nil
		}
		switch w.kind[i] {
		case kindID:
			tp.segs[i] = idSegment
		case kindName:
			tp.segs[i] = nameSegment
		default:
			tp.segs[i] = string(seg)
		}
	}
	return tp
}

// String is the template as a route key: "GET /api/v1/crates/{name}/{id}/download".
func (tp *tmpl) String() string {
	return tp.method + " /" + strings.Join(tp.segs, "/")
}

// widen turns tp's segment at position i into {name}, where the prefix
// before it is prefix: the templater made that position a wildcard. It
// reports whether tp changed; its key and later prefixes are then those a
// path of tp walks to from now on.
func (t *templater) widen(tp *tmpl, prefix uint64, i int) bool {
	if i >= len(tp.segs) || tp.prefix[i] != prefix || tp.segs[i] == "" || tp.segs[i] == idSegment || tp.segs[i] == nameSegment {
		return false
	}
	if nd := t.nodes[prefix]; nd != nil && nd.keeps(maphash.String(t.seed, tp.segs[i])) {
		return false
	}
	tp.segs[i] = nameSegment
	h := prefix
	for j := i; j < len(tp.segs); j++ {
		tp.prefix[j] = h
		var tok uint64
		switch tp.segs[j] {
		case idSegment:
			tok = t.idTok
		case nameSegment:
			tok = t.nameTok
		default:
			tok = maphash.String(t.seed, tp.segs[j])
		}
		h = chain(h, tok)
	}
	tp.key = h
	return true
}
