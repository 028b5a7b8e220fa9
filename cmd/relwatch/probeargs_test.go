package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// probe takes one URL: a stray argument after it is named in one line,
// exit 2 (it said "want exactly one URL", naming nothing), as every other
// command names one; no URL at all says so.
func TestProbeNamesAStrayArgument(t *testing.T) {
	ctx := context.Background()
	code, out, errOut := runMain(t, ctx, "probe", "http://127.0.0.1:1/x", "extra")
	if code != 2 || out != "" || !strings.Contains(errOut, `"extra"`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("probe URL extra: exit %d\nstdout %q\nstderr %q: want one line naming \"extra\", exit 2", code, out, errOut)
	}
	code, out, errOut = runMain(t, ctx, "probe")
	if code != 2 || out != "" || !strings.Contains(errOut, "URL") {
		t.Errorf("probe: exit %d\nstdout %q\nstderr %q: want a usage error asking for the URL", code, out, errOut)
	}
}

// probe --format json says hops as a list, [] when no answer came (it
// said "hops": null), with its error on stderr and exit 1.
func TestProbeJSONWithoutAnAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused
	code, out, errOut := runMain(t, context.Background(), "probe", "--format", "json", "http://"+addr+"/x")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("probe --format json: %v\n%s", err, out)
	}
	if hops, ok := res["hops"].([]any); code != 1 || !ok || len(hops) != 0 || res["ok"] != false || res["error"] == "" || !strings.Contains(errOut, addr) {
		t.Errorf("probe of a closed port: exit %d, stdout %s, stderr %q: want exit 1, hops [], the error in both", code, out, errOut)
	}
}
