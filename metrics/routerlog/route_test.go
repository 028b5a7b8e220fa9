package routerlog

import "testing"

// Shadows is Match's own reading: a route that shadows another matches
// every request the other matches, on every pair of a set of patterns
// and requests; and the pairs the config refuses are shadowed.
func TestShadowsAgreesWithMatch(t *testing.T) {
	patterns := []string{"GET /api/v1/crates/{name}", "GET /api/v1/crates/new", "GET /api/v1/crates/{crate}",
		"PUT /api/v1/crates/new", "GET /api/v1/crates/{name}/owners", "/api/v1/crates/{name}", "GET /api/v1//x", "GET /api/v1/{v}/x", "GET /"}
	requests := [][2]string{{"GET", "/api/v1/crates/new"}, {"GET", "/api/v1/crates/serde"}, {"PUT", "/api/v1/crates/new"},
		{"GET", "/api/v1/crates/serde/owners"}, {"POST", "/api/v1/crates/x"}, {"GET", "/api/v1//x"}, {"GET", "/api/v1/a/x"}, {"GET", "/"}, {"GET", "/api/v1/crates/"}}
	for _, ea := range patterns {
		for _, eb := range patterns {
			a, b := mustRoute(t, ea), mustRoute(t, eb)
			if !a.Shadows(b) {
				continue
			}
			for _, rq := range requests {
				if b.Match([]byte(rq[0]), []byte(rq[1])) && !a.Match([]byte(rq[0]), []byte(rq[1])) {
					t.Errorf("%q shadows %q, but %s %s matches only the latter", ea, eb, rq[0], rq[1])
				}
			}
		}
	}
	for _, tt := range []struct {
		earlier, later string
		want           bool
	}{
		{"GET /api/v1/crates/{name}", "GET /api/v1/crates/new", true},
		{"GET /api/v1/crates/{name}", "GET /api/v1/crates/{crate}", true},
		{"/api/v1/crates/{name}", "PUT /api/v1/crates/new", true},
		{"GET /api/v1/crates/new", "GET /api/v1/crates/{name}", false},
		{"GET /api/v1/crates/{name}", "PUT /api/v1/crates/new", false},
		{"GET /api/v1/crates/{name}", "/api/v1/crates/new", false},
		{"GET /api/v1/crates/{name}", "GET /api/v1/crates/{name}/owners", false},
		{"GET /api/v1/{v}/x", "GET /api/v1//x", false},
		{"GET /api/v1/{}/x", "GET /api/v1/a/x", false}, // does not parse
	} {
		if got := Shadows(tt.earlier, tt.later); got != tt.want {
			t.Errorf("Shadows(%q, %q) = %v, want %v", tt.earlier, tt.later, got, tt.want)
		}
	}
}

func mustRoute(t *testing.T, pattern string) Route {
	t.Helper()
	r, err := ParseRoute(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
