package main

import (
	"context"
	"strings"
	"testing"
)

// "relwatch approve crates-io" forgot the release: it was refused as
// `"crates-io" is not a release like v42`, the app's name blamed as a bad
// release. It asks which release; a release written wrong is still named.
func TestApproveWithoutAReleaseAsksWhichRelease(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "crates-io"}, "which release of crates-io? like: relwatch approve crates-io v42"},
		{[]string{"approve", "-a", "crates-io", "v4x"}, `"v4x" is not a release like v42`},
		{[]string{"approve", "crates-io", "vv42"}, `"vv42" is not a release like v42`},
	} {
		code, out, errOut := runMain(t, ctx, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q, want %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// approve takes an app named in capitals as the app, as pause, resume,
// rollback and status do: "approve Crates-IO v42" was refused as not a
// configured app, and "approve crates-io v42 -a Crates-IO" as two apps.
// A stray argument after the release is named.
func TestApproveTakesAnAppNamedInCapitals(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	for _, args := range [][]string{{"approve", "Crates-IO", "v42"}, {"approve", "crates-io", "v42", "-a", "Crates-IO"}, {"approve", "-a", "CRATES-IO", "v42"}} {
		code, out, errOut := runMain(t, ctx, args...)
		if code != 0 || !strings.Contains(out, "crates-io") {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	code, out, errOut := runMain(t, ctx, "approve", "crates-io", "v42", "extra")
	if code != 2 || !strings.Contains(errOut, `"extra"`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
		t.Errorf("approve crates-io v42 extra: exit %d\nstdout %q\nstderr %q: want one line naming \"extra\"", code, out, errOut)
	}
}

// "relwatch approve vault" (an app whose name begins with a v) forgot the
// release: it was refused as `"vault" is not a release like v42`, the app
// taken for a release because of its first letter. It asks which release,
// as for any other app; with -a, the one word is the release, and a
// release written wrong is named.
func TestApproveAnAppBeginningWithV(t *testing.T) {
	freshState(t)
	configureApps(t, "vault")
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "vault"}, "which release of vault? like: relwatch approve vault v42"},
		{[]string{"approve", "-a", "vault", "vv42"}, `"vv42" is not a release like v42`},
		{[]string{"approve", "-a", "vault", "v4x"}, `"v4x" is not a release like v42`},
	} {
		code, out, errOut := runMain(t, ctx, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q, want %q", tt.args, code, out, errOut, tt.want)
		}
	}
}
