package heroku

import "testing"

func TestEndpoint(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/apps/crates-io/releases", "releases.list"},
		{"POST", "/apps/crates-io/releases", "rollback"},
		{"GET", "/apps/crates-io/releases/42", "releases.info"},
		{"GET", "/apps/crates-io/releases/01234567-89ab-cdef-0123-456789abcdef", "releases.info"},
		{"POST", "/apps/crates-io/log-sessions", "log_sessions"},
		{"GET", "/apps/crates-io", "apps.info"},
		{"GET", "/pipelines/registry", "pipelines"},
		{"GET", "/pipelines/5b5c/pipeline-couplings", "pipelines"},
		{"POST", "/pipeline-promotions", "pipelines"},
		{"GET", "/api/apps/crates-io/releases", "releases.list"}, // a base URL with a path
		{"GET", "/account", "other"},
		{"GET", "/apps/crates-io/releases/42/slug", "other"},
		{"GET", "/", "other"},
	} {
		got := Endpoint(c.method, c.path)
		if got != c.want {
			t.Errorf("Endpoint(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
		known := false
		for _, e := range Endpoints {
			known = known || e == got
		}
		if !known {
			t.Errorf("Endpoint(%s %s) = %q, not in Endpoints", c.method, c.path, got)
		}
	}
}
