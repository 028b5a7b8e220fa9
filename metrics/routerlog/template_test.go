package routerlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIsID(t *testing.T) {
	for _, tt := range []struct {
		seg  string
		want bool
	}{
		{"12345", true},
		{"0", true},
		{"deadbeef", true},
		{"DEADBEEF00", true},
		{"deadbee", false}, // hex, but 7: a word such as "cafe" or "added" is not an id
		{"facade", false},
		{"3f1c2aa9-77b0-4c1e-9a5e-0d8c2f6b1e3a", true},
		{"1.0.188", true},
		{"0.4.0-rc.1", true},
		{"v1.2.3", true},
		{"1.0.0+build.5", true},
		{"v1", false},
		{"v2", false},
		{"1.", false},
		{"aB3dE5fG7hJ9kL1mN", true}, // a long token of letters and digits
		{"serde_json", false},
		{"download", false},
		{"crates", false},
		{"tokio-util2", false},
		{"index.html", false},
		{"a{b}", true},
		{strings.Repeat("a", 65), true},
		{strings.Repeat("g", 64), false},
		{"", false},
		{"caf\xe9", true},   // not UTF-8: never a literal of a template's name
		{"a\x1b[2Jb", true}, // a control character likewise
		{"café", false},     // UTF-8 text stays a literal
	} {
		if got := isID([]byte(tt.seg)); got != tt.want {
			t.Errorf("isID(%q) = %v, want %v", tt.seg, got, tt.want)
		}
	}
}

// templateAgg counts the templates of every path, up to max of them.
func templateAgg(t testing.TB, max int, routes ...string) *Aggregator {
	agg := New(Options{Routes: mustRoutes(t, routes...), Templates: max, Retain: time.Hour, MaxPairs: 1000})
	agg.Listening(time.Unix(t0-1, 0))
	return agg
}

const t0 = int64(1_700_000_000)

// busiest is what Busiest says of [t0, t0+1h), as "route=requests" and
// the requests of other.
func busiest(agg *Aggregator) string {
	routes, other := agg.Busiest(time.Unix(t0, 0), time.Unix(t0+3600, 0))
	var out []string
	for _, r := range routes {
		out = append(out, fmt.Sprintf("%s=%d", r.Route, r.Requests))
	}
	return fmt.Sprintf("%s; other=%d", strings.Join(out, ", "), other)
}

func TestTemplates(t *testing.T) {
	crates := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("GET /api/v1/crates/crate%c%c", 'a'+i/26, 'a'+i%26))
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		routes []string // guarded
		max    int
		lines  []string // method and path
		want   string
	}{{
		name: "ids",
		max:  50,
		lines: []string{"GET /api/v1/crates/serde/1.0.188/download", "GET /api/v1/crates/serde/1.0.189/download",
			"GET /users/12345", "GET /users/67890?tab=1", "GET /blobs/3f1c2aa9-77b0-4c1e-9a5e-0d8c2f6b1e3a", "GET /blobs/deadbeef00",
			"GET /api/v1/summary", "GET /", "GET /", "GET /"},
		want: "GET /=3, GET /api/v1/crates/serde/{id}/download=2, GET /blobs/{id}=2, GET /users/{id}=2, GET /api/v1/summary=1; other=0",
	}, {
		name:  "the method is part of the key",
		max:   50,
		lines: []string{"GET /login", "POST /login", "POST /login"},
		want:  "POST /login=2, GET /login=1; other=0",
	}, {
		name:  "20 names stay literals",
		max:   50,
		lines: crates(20),
		want:  strings.Join(slices.Sorted(slices.Values(crates(20))), "=1, ") + "=1; other=0",
	}, {
		name:  "the 21st name folds them all into {name}",
		max:   50,
		lines: crates(21),
		want:  "GET /api/v1/crates/{name}=21; other=0",
	}, {
		name: "under their own prefix, and deeper segments kept",
		max:  50,
		lines: append(slices.Collect(func(yield func(string) bool) {
			for _, c := range crates(30) {
				if !yield(c + "/1.0.0/download") {
					return
				}
			}
		}), "GET /api/v1/crates/x/owners", "GET /api/v1/crates"),
		want: "GET /api/v1/crates/{name}/{id}/download=30, GET /api/v1/crates=1, GET /api/v1/crates/{name}/owners=1; other=0",
	}, {
		name: "a literal with a quarter of the paths stays when scanners widen the root",
		max:  50,
		lines: append(slices.Repeat([]string{"GET /api/v1/summary"}, 30), append(slices.Collect(func(yield func(string) bool) {
			for i := range 25 {
				if !yield(fmt.Sprintf("GET /wp%c", 'a'+i)) {
					return
				}
			}
		}), "GET /api/v1/summary")...),
		want: "GET /api/v1/summary=31, GET /{name}=25; other=0",
	}, {
		name:   "guarded routes first",
		routes: []string{"GET /api/v1/crates/{crate}/{version}/download"},
		max:    50,
		lines:  []string{"GET /api/v1/crates/serde/1.0.0/download", "GET /api/v1/crates/serde/1.0.0/readme"},
		want:   "GET /api/v1/crates/serde/{id}/readme=1, GET /api/v1/crates/{crate}/{version}/download=1; other=0",
	}, {
		name:  "at most max templates; the rest is other",
		max:   2,
		lines: []string{"GET /a", "GET /b", "GET /c", "GET /c", "GET /a"},
		want:  "GET /a=2, GET /b=1; other=2",
	}, {
		name:  "too deep for a template",
		max:   50,
		lines: []string{"GET /" + strings.Repeat("a/", maxSegments) + "b", "GET /" + strings.Repeat("a/", maxSegments-1) + "b"},
		want:  "GET /" + strings.Repeat("a/", maxSegments-1) + "b=1; other=1",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			agg := templateAgg(t, tt.max, tt.routes...)
			for i, l := range tt.lines {
				method, path, _ := strings.Cut(l, " ")
				agg.Add(req(t0, method, fmt.Sprintf("10.0.0.%d", i), path, 200, 5))
			}
			if got := busiest(agg); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A template folded into {name} keeps its seconds, and is counted under
// its new name: Counts serves it, the old name is gone.
func TestTemplatesFoldKeepsTheSeconds(t *testing.T) {
	agg := templateAgg(t, 50)
	for i := range 21 {
		agg.Add(req(t0+int64(i), "GET", "1.1.1.1", fmt.Sprintf("/crates/c%c", 'a'+i), 500, 5))
	}
	p := counts(t, agg, "GET /crates/{name}", t0, 21)
	for i, pt := range p {
		if pt.Requests != 1 || pt.Errors != 1 || pt.Latency == nil || pt.Latency.Count() != 1 {
			t.Fatalf("second %d: %+v, want the request of /crates/c%c", i, pt, 'a'+i)
		}
	}
	if got := agg.Routes(time.Unix(t0, 0), time.Unix(t0+21, 0), 0); len(got) != 1 || got[0] != "GET /crates/{name}" {
		t.Errorf("Routes = %q", got)
	}
	if _, err := agg.Counts(t.Context(), "GET /crates/ca", time.Unix(t0, 0), time.Unix(t0+1, 0)); err == nil {
		t.Error("the folded template is still served")
	}
}

// A template whose seconds have all left the ring gives its place to a
// new one.
func TestTemplatesStaleOnesMakeRoom(t *testing.T) {
	agg := New(Options{Templates: 1, Retain: 2 * time.Minute})
	agg.Listening(time.Unix(t0-1, 0))
	agg.Add(req(t0, "GET", "1.1.1.1", "/a", 200, 5))
	agg.Add(req(t0+60, "GET", "1.1.1.1", "/b", 200, 5)) // no room
	agg.Add(req(t0+120, "GET", "1.1.1.1", "/b", 200, 5))
	if got := busiest(agg); got != "GET /b=1; other=1" {
		t.Errorf("got %s, want /a's place taken by /b once /a has left the ring", got)
	}
}

// Whatever paths arrive, the templater's memory stays bounded: a million
// paths, each new, under prefixes as varied as they come.
func TestTemplatesMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million lines")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"api", "v1", "crates", "users", "x", "admin", "wp-login.php", "static", ""}
	line := make([]byte, 0, 512)
	var path bytes.Buffer
	agg := templateAgg(t, 50)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const lines = 1_000_000
	for i := range lines {
		path.Reset()
		for range 1 + rng.IntN(maxSegments+2) {
			path.WriteByte('/')
			switch rng.IntN(3) {
			case 0:
				path.WriteString(words[rng.IntN(len(words))])
			case 1:
				fmt.Fprintf(&path, "w%x", rng.Uint32()) // a new literal each time
			default:
				fmt.Fprintf(&path, "%d", rng.Uint32())
			}
		}
		line = append(line[:0], time.Unix(t0+int64(i/1000), 0).UTC().Format(time.RFC3339)...)
		line = fmt.Appendf(line, ` heroku[router]: at=info method=GET path="%s" host=h fwd="1.1.1.%d" dyno=web.1 connect=0ms service=3ms status=200 bytes=1 protocol=https`, path.Bytes(), i%250)
		agg.Add(line)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	st := agg.Stats()
	t.Logf("%d paths: %d templates, %d prefixes, %.1f MB held; %d lines to other, %d of them untemplated",
		lines, len(agg.tmpls), len(agg.templater.nodes), float64(held)/(1<<20), st.Other, st.Untemplated)
	if len(agg.tmpls) > 50 || len(agg.templater.nodes) > maxNodes {
		t.Errorf("%d templates (max 50), %d prefixes (max %d)", len(agg.tmpls), len(agg.templater.nodes), maxNodes)
	}
	// 51 rings of an hour (about 10 MB with their latency) and maxNodes
	// prefixes (about 1 MB).
	if held > 24<<20 {
		t.Errorf("%.1f MB held, want under 24 MB", float64(held)/(1<<20))
	}
	if st.Matched+st.Other != lines {
		t.Errorf("%d lines matched and %d other, want %d in all", st.Matched, st.Other, lines)
	}
	runtime.KeepAlive(agg)
}

// FuzzTemplate feeds paths, one a line, to an aggregator with templates:
// every line is counted once (a template or other), a template's name read
// as a route matches the paths it counts, and the bounds hold.
func FuzzTemplate(f *testing.F) {
	f.Add([]byte("GET /api/v1/crates/serde/1.0.188/download\nGET /users/12\nPOST /login\nGET /\nGET /a//b/"))
	var many bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&many, "GET /crates/c%d/owners\nGET /crates/c%d\n", i, i)
	}
	f.Add(many.Bytes())
	f.Add([]byte("GET /a/{id}/b\nGET /a/%7Bname%7D\nGET /" + strings.Repeat("x/", 20)))
	f.Fuzz(func(t *testing.T, in []byte) {
		agg := New(Options{Templates: 5, Retain: 2 * time.Minute, MaxPairs: 1000})
		agg.Listening(time.Unix(t0-1, 0))
		type req struct{ method, path string }
		var reqs []req
		for l := range bytes.Lines(in) {
			method, path, ok := bytes.Cut(bytes.TrimRight(l, "\n"), []byte(" "))
			// What a router line can carry: a method of capitals, a path
			// without quotes, spaces or controls.
			if !ok || len(method) == 0 || bytes.IndexFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 ||
				bytes.IndexFunc(path, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r >= 0x7f }) >= 0 {
				continue
			}
			reqs = append(reqs, req{string(method), string(path)})
			agg.Add(req2(len(reqs), string(method), string(path)))
		}
		st := agg.Stats()
		if st.Matched+st.Other != int64(len(reqs)) || st.Malformed != 0 {
			t.Fatalf("%d requests, stats %+v", len(reqs), st)
		}
		routes, other := agg.Busiest(time.Unix(t0, 0), time.Unix(t0+60, 0))
		total := other
		for _, r := range routes {
			total += r.Requests
		}
		if total != int64(len(reqs)) || len(agg.tmpls) > 5 || len(agg.templater.nodes) > maxNodes {
			t.Fatalf("%d requests, %d counted; %d templates, %d prefixes", len(reqs), total, len(agg.tmpls), len(agg.templater.nodes))
		}
		for _, r := range reqs {
			var l Line
			if err := ParseLine(req2(0, r.method, r.path), &l); err != nil {
				t.Fatal(err)
			}
			agg.mu.Lock()
			rg := agg.routeLocked(&l)
			agg.mu.Unlock()
			if rg.tmpl == nil {
				continue
			}
			route, err := ParseRoute(rg.name)
			if err != nil {
				t.Fatalf("template %q of %s %s: %v", rg.name, r.method, r.path, err)
			}
			if !route.Match(l.Method, l.Path) {
				t.Fatalf("template %q does not match %s %s, a path it counts", rg.name, r.method, r.path)
			}
		}
	})
}

// req2 is a router line of method and path, the n-th client's.
func req2(n int, method, path string) []byte {
	return req(t0+int64(n%60), method, fmt.Sprintf("10.0.%d.%d", n/256%256, n%256), path, 200, 3)
}

// Once its templates are made, counting a line allocates nothing.
func TestTemplatesAddAllocatesNothing(t *testing.T) {
	agg := templateAgg(t, 50, "GET /api/v1/crates/{crate}/{version}/download")
	var lines [][]byte
	for i := range 40 {
		lines = append(lines, req(t0, "GET", "1.1.1.1", fmt.Sprintf("/api/v1/crates/c%d/owners", i), 200, 5),
			req(t0, "GET", "1.1.1.1", fmt.Sprintf("/users/%d", i), 200, 5),
			req(t0, "GET", "1.1.1.1", "/api/v1/crates/serde/1.0.0/download", 200, 5))
	}
	for _, l := range lines {
		agg.Add(l)
	}
	if n := testing.AllocsPerRun(10, func() {
		for _, l := range lines {
			agg.Add(l)
		}
	}); n != 0 {
		t.Errorf("%v allocations counting %d lines", n, len(lines))
	}
}
