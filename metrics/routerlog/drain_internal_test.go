package routerlog

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A drain whose Logplex batches keep being refused says so again once
// RefusedLogEvery has passed, not before.
func TestRefusedLogplexIsLoggedOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	d := &Drain{DrainCredentials: DrainCredentials{Token: "d.right"}}
	req := httptest.NewRequest("POST", "/drain/crates-io", nil)
	req.Header.Set("Logplex-Drain-Token", "d.wrong")
	t0 := time.Unix(1_700_000_000, 0)
	for _, at := range []time.Duration{0, time.Second, RefusedLogEvery - time.Second, RefusedLogEvery, RefusedLogEvery + time.Minute, 2 * RefusedLogEvery} {
		d.refusedLogplex(logger, "crates-io", req, t0.Add(at))
	}
	if n := strings.Count(buf.String(), "drain batch refused"); n != 3 {
		t.Fatalf("%d lines, want 3 (at 0, %s and %s):\n%s", n, RefusedLogEvery, 2*RefusedLogEvery, buf.String())
	}
}
