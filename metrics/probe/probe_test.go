package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hosts resolves only the names it holds, to loopback addresses.
type hosts map[string]string

func (h hosts) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := h[host]; ok {
		return []string{a}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// registry serves crates.io's download redirect to static.crates.io; with
// bug set, it drops the slash as the 2023-07-20 release did.
func registry(t *testing.T, bug bool) (*Prober, string) {
	t.Helper()
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/crates/serde/") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "crate bytes")
	}))
	t.Cleanup(static.Close)
	_, staticPort, _ := net.SplitHostPort(static.Listener.Addr().String())
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := "static.crates.io:" + staticPort
		if bug {
			host = "static.crates.iocrates:" + staticPort // "https://static.crates.io" + "crates/..." without the slash
			http.Redirect(w, r, "http://"+host+"/serde/serde-1.0.0.crate", http.StatusFound)
			return
		}
		http.Redirect(w, r, "http://"+host+"/crates/serde/serde-1.0.0.crate", http.StatusFound)
	}))
	t.Cleanup(api.Close)
	_, apiPort, _ := net.SplitHostPort(api.Listener.Addr().String())
	p := &Prober{Resolver: hosts{"crates.io": "127.0.0.1", "static.crates.io": "127.0.0.1"}, Timeout: 2 * time.Second}
	return p, "http://crates.io:" + apiPort + "/api/v1/crates/serde/1.0.0/download"
}

func TestHealthyRedirectChain(t *testing.T) {
	p, url := registry(t, false)
	res := p.Check(context.Background(), url)
	if !res.OK || len(res.Hops) != 2 || res.Hops[0].Status != 302 || res.Hops[1].Status != 200 || res.Bytes != 11 {
		t.Fatalf("result %+v, err %v", res, res.Err)
	}
}

func TestTheCratesIOBug(t *testing.T) {
	p, url := registry(t, true)
	res := p.Check(context.Background(), url)
	if res.OK {
		t.Fatal("the broken redirect passed")
	}
	want := "redirect to http://static.crates.iocrates:"
	if !strings.Contains(res.Error(), want) || !strings.HasSuffix(res.Error(), "host static.crates.iocrates does not resolve") {
		t.Fatalf("error %q; want it to name the redirect and the host that does not resolve", res.Error())
	}
}

func TestOtherFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/relative":
			w.Header().Set("Location", "/somewhere")
			w.WriteHeader(http.StatusFound)
		case "/relative-ok":
			w.Header().Set("Location", "crate.tar.gz?v=1")
			w.WriteHeader(http.StatusFound)
		case "/crate.tar.gz":
			w.Write([]byte("crate"))

		case "/empty":
		case "/loop":
			http.Redirect(w, r, "http://"+r.Host+"/loop", http.StatusFound)
		case "/slow":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := &Prober{Resolver: hosts{}, Timeout: 300 * time.Millisecond}
	for path, want := range map[string]string{
		"/relative": srv.URL + `/somewhere answered 404`,
		"/empty":    "answered 200 with an empty body",
		"/loop":     "more than 5 redirects",
		"/missing":  "answered 404",
		"/slow":     "the check took longer than 300ms",
	} {
		res := p.Check(context.Background(), srv.URL+path)
		if res.OK || !strings.Contains(res.Error(), want) {
			t.Errorf("%s: %q, want %q", path, res.Error(), want)
		}
	}
	if res := p.Check(context.Background(), "not a url"); res.OK || !strings.Contains(res.Error(), "not an absolute") {
		t.Errorf("bad URL: %q", res.Error())
	}
	// A relative redirect is followed as curl and cargo follow it (issue 17).
	if res := p.Check(context.Background(), srv.URL+"/relative-ok"); !res.OK || len(res.Hops) != 2 || res.Hops[1].URL != srv.URL+"/crate.tar.gz?v=1" {
		t.Errorf("relative redirect: ok %v, hops %+v, err %v", res.OK, res.Hops, res.Err)
	}
}

func TestRunnerKeepsResults(t *testing.T) {
	p, url := registry(t, false)
	r := &Runner{Prober: p, URL: url, Interval: time.Millisecond, Keep: 3}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	// Wait for the checks themselves, not for a stretch of time.
	deadline := time.After(10 * time.Second)
	for checks := 0; checks < 5; {
		r.mu.Lock()
		checks = r.checks
		r.mu.Unlock()
		select {
		case <-deadline:
			t.Fatalf("%d checks in 10 s", checks)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done
	got := r.Results(start, time.Now().Add(time.Second))
	if len(got) != 3 || !got[2].OK {
		t.Fatalf("kept %d results, want the last 3", len(got))
	}
}
