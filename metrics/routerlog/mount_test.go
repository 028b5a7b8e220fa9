package routerlog_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics/routerlog"
)

// A handler mounted beside the drains (the worker's /metrics) reads no
// body; net/http then read what was left of a declared one, up to 256 KB,
// before it wrote the answer, with no deadline: a client that declared a
// body and sent none held the answer and the connection for as long as it
// cared. The body timeout bounds it, and the connection is closed after
// the answer.
func TestMountedHandlerCutsAnUnsentBodyOff(t *testing.T) {
	f := startDrainWith(t, routerlog.DrainLimits{BodyTimeout: 300 * time.Millisecond}, func(srv *routerlog.DrainServer) {
		srv.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer metrics-token" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			w.Write([]byte("relwatch_watches_open 0\n"))
		}))
	})
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"refused", "", http.StatusUnauthorized},
		{"served", "Authorization: Bearer metrics-token\r\n", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				raw := method + " /metrics HTTP/1.1\r\nHost: relwatch\r\nContent-Length: 100000\r\n" + tc.auth + "\r\n" + strings.Repeat("x", 10) // never the rest
				c := send(t, f.addr, raw)
				if resp := answer(t, c); resp.StatusCode != tc.status {
					t.Fatalf("%s: status %d, want %d", method, resp.StatusCode, tc.status)
				}
				closedByServer(t, c)
				c.Close()
			}
		})
	}
}
