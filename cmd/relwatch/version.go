package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func cmdVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", `
Prints which relwatch this is, from the build information Go writes into
the binary: the module version, the source revision and its time (when the
binary was built from a version-controlled checkout), and the Go version.
relwatch --version says the same.`, stdout, stderr)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{GoVersion: runtime.Version()}
	}
	fmt.Fprintln(stdout, versionLine(bi, sourceVersion))
	return nil
}

// sourceVersion is the commit a Heroku build was made from, set at link
// time: Heroku's Go buildpack links -X $GO_LINKER_SYMBOL=$SOURCE_VERSION
// when the app sets GO_LINKER_SYMBOL (app.json sets main.sourceVersion),
// since a build from Heroku's slug compiler has no VCS stamp of its own.
var sourceVersion string

// versionLine says which relwatch bi describes, like
// "relwatch v1.2.0 (revision 3f2c1a9e0b7d of 2026-11-02T10:11:12Z), go1.26.8";
// source (the commit a Heroku build linked in) stands in for a build
// without a VCS stamp.
func versionLine(bi *debug.BuildInfo, source string) string {
	v := bi.Main.Version
	if v == "" {
		v = "(unknown version)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" && source != "" {
		rev = source
	}
	var src []string
	if rev != "" {
		src = append(src, "revision "+rev[:min(12, len(rev))])
		if at != "" {
			src[0] += " of " + at
		}
		if modified {
			src = append(src, "with local changes")
		}
	}
	line := "relwatch " + v
	if len(src) > 0 {
		line += " (" + strings.Join(src, ", ") + ")"
	}
	return line + ", " + bi.GoVersion
}
