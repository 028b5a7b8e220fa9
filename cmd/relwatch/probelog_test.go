package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/metrics/probe"
)

// switchableDNS resolves crates.io to loopback until down is set: the
// worker's resolver failing, not the app.
type switchableDNS struct{ down atomic.Bool }

func (d *switchableDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	if d.down.Load() || host != "crates.io" {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	return []string{"127.0.0.1"}, nil
}

// The worker's DNS fails after a healthy release: the probe cannot
// resolve the app's own host, three checks in a row. Those checks never
// reached the app, and say nothing of the release: the probe's verdict is
// not anomalous (before, it was, and rolled the good release back on its
// own: "host crates.io does not resolve").
func TestProbeThatNeverReachedTheAppIsNoEvidence(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "crate bytes") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := &switchableDNS{}
	runner := &probe.Runner{Prober: &probe.Prober{Resolver: dns, Timeout: 5 * time.Second}, URL: "http://crates.io:" + port + "/api/v1/crates/serde/1.0.0/download", Interval: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	log := probeLog{runner}
	start := time.Now().Add(-time.Second)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUntil("3 passing checks", func() bool { return len(log.Results(start, time.Now())) >= 3 })
	dns.down.Store(true)
	release := time.Now().Add(time.Millisecond)
	waitUntil("5 checks after the DNS failed", func() bool { return len(runner.Results(release, time.Now().Add(time.Hour))) >= 5 })
	cancel()
	<-done
	for _, r := range runner.Results(release, time.Now().Add(time.Hour)) {
		if r.OK || !r.Unreached {
			t.Fatalf("a check with the app's host unresolved: ok %v, unreached %v, err %v", r.OK, r.Unreached, r.Err)
		}
	}
	before := log.Results(start, release)
	after := log.Results(release, time.Now().Add(time.Hour))
	f := analysis.AssessProbe(before, after, analysis.DefaultThresholds())
	if f.Status == analysis.Anomalous {
		t.Fatalf("the worker's DNS failing made the probe anomalous (%s), a rollback of a good release", f.Detail)
	}
	if f.Status != analysis.Inconclusive {
		t.Fatalf("probe %s, want inconclusive: no check since reached the app", f.Status)
	}
}
