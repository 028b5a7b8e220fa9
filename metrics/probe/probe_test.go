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
	if res := p.Check(context.Background(), srv.URL+"/relative-ok"); !res.OK || len(res.Hops) != 2 || res.Hops[1].URL != srv.URL+"/crate.tar.gz?v=…" {
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

// TestAnErrorKeepsNoSignature: a download's redirect is often a signed
// URL, and the check's error reaches the chat in an anomaly's evidence.
// The error names the host, the path and the query's keys, never a value
// of the query or a password.
func TestAnErrorKeepsNoSignature(t *testing.T) {
	const signature, credential, password = "c2lnbmF0dXJlLXNlY3JldA", "AKIAEXAMPLE%2F20261204", "hunter2"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/download":
			if user, pass, ok := r.BasicAuth(); !ok || user != "relwatch" || pass != password {
				http.Error(w, "who are you", http.StatusUnauthorized) // the URL's user is sent, as a Client sends it
				return
			}
			w.Header().Set("Location", "/bucket/serde-1.0.0.crate?X-Amz-Credential="+credential+"&X-Amz-Signature="+signature+"#"+signature)
			w.WriteHeader(http.StatusFound)
		case "/malformed":
			w.Header().Set("Location", "http://[bad?X-Amz-Signature="+signature)
			w.WriteHeader(http.StatusFound)
		default:
			http.Error(w, "expired", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	p := &Prober{Resolver: hosts{}, Timeout: 2 * time.Second}
	withPassword := strings.Replace(srv.URL, "http://", "http://relwatch:"+password+"@", 1)
	for path, want := range map[string]string{
		"/download":             "/bucket/serde-1.0.0.crate?X-Amz-Credential=…&X-Amz-Signature=…#… answered 403",
		"/malformed":            `with Location "http://[bad?X-Amz-Signature=…": not a well-formed URL`,
		"/missing?" + signature: "/missing?… answered 403",
	} {
		res := p.Check(context.Background(), withPassword+path)
		msg := res.Error()
		if res.OK || !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want it to contain %q", path, msg, want)
		}
		for _, secret := range []string{signature, credential, password} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: the error %q holds %q", path, msg, secret)
			}
		}
		for _, h := range res.Hops {
			if strings.Contains(h.URL, password) {
				t.Errorf("%s: hop %q holds the password", path, h.URL)
			}
		}
	}
}

// TestAReportKeepsNoSecret: what a check reports besides its error (the
// URL it checked, each hop's URL and Location) is printed and logged too,
// and hides the same secrets the error does, in the same words.
func TestAReportKeepsNoSecret(t *testing.T) {
	const password, query, redirPassword, signature = "probepass123", "qtok-secret", "redirpass99", "sigsecret123"
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			w.Header().Set("Location", strings.Replace(srv.URL, "http://", "http://u:"+redirPassword+"@", 1)+"/b?X-Amz-Signature="+signature)
			w.WriteHeader(http.StatusFound)
		case "/b":
			w.Header().Set("Location", "http://u:"+redirPassword+"@[bad/c?X-Amz-Signature="+signature)
			w.WriteHeader(http.StatusFound)
		}
	}))
	defer srv.Close()
	withPassword := strings.Replace(srv.URL, "http://", "http://user:"+password+"@", 1)
	res := (&Prober{Resolver: hosts{}, Timeout: 2 * time.Second}).Check(context.Background(), withPassword+"/a?token="+query)
	want := Result{
		URL: "http://user:xxxxx@" + srv.Listener.Addr().String() + "/a?token=…",
		Hops: []Hop{
			{URL: "http://user:xxxxx@" + srv.Listener.Addr().String() + "/a?token=…", Status: 302, Location: "http://u:xxxxx@" + srv.Listener.Addr().String() + "/b?X-Amz-Signature=…"},
			{URL: "http://u:xxxxx@" + srv.Listener.Addr().String() + "/b?X-Amz-Signature=…", Status: 302, Location: "http://u:xxxxx@[bad/c?X-Amz-Signature=…"},
		},
	}
	if res.OK || res.URL != want.URL || fmt.Sprint(res.Hops) != fmt.Sprint(want.Hops) {
		t.Fatalf("reported\n%s %+v\nwant\n%s %+v", res.URL, res.Hops, want.URL, want.Hops)
	}
	if !strings.Contains(res.Error(), `with Location "http://u:xxxxx@[bad/c?X-Amz-Signature=…": not a well-formed URL`) {
		t.Errorf("error %q", res.Error())
	}
}

// TestATokenGivenAsTheUserIsHidden: a URL's user without a password is
// often a token (https://ghp_...@host/...): hidden as a password is,
// whether the URL parses or not.
func TestATokenGivenAsTheUserIsHidden(t *testing.T) {
	for raw, want := range map[string]string{
		"https://ghp_s3cr3ttoken@static.example/x?sig=abc": "https://xxxxx@static.example/x?sig=…",
		"https://ghp_s3cr3ttoken@[bad/x":                   "https://xxxxx@[bad/x",
		"https://user:pw@static.example/x":                 "https://user:xxxxx@static.example/x",
		"https://static.example/a@b":                       "https://static.example/a@b",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzWithoutSecrets: whatever a server sends as a Location, what an
// error quotes keeps its part before the query and, of the query, its
// keys alone.
func FuzzWithoutSecrets(f *testing.F) {
	for _, s := range []string{"https://s3/b/c?X-Amz-Signature=abc&k=v#frag", "http://[bad?sig=x", "/x?SECRET", "no query", "?=&&=#", "a?b#c?d=e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := withoutSecrets(raw)
		base, query, ok := strings.Cut(raw, "?")
		if !ok {
			if out != raw {
				t.Fatalf("%q without a query became %q", raw, out)
			}
			return
		}
		if !strings.HasPrefix(out, base+"?") {
			t.Fatalf("%q became %q: its part before the query changed", raw, out)
		}
		query, _, _ = strings.Cut(query, "#")
		kept, _, _ := strings.Cut(strings.TrimPrefix(out, base+"?"), "#")
		for _, p := range strings.Split(kept, "&") {
			if p != "" && p != "…" && !strings.HasSuffix(p, "=…") {
				t.Fatalf("%q became %q: %q keeps a value", raw, out, p)
			}
		}
		for _, p := range strings.Split(query, "&") {
			if key, _, ok := strings.Cut(p, "="); ok && !strings.Contains(kept, key+"=…") {
				t.Fatalf("%q became %q: the key %q is gone", raw, out, key)
			}
		}
	})
}

// FuzzRedactHidesThePassword: what Redact gives of a URL, whether it
// parses or not, does not depend on its password.
func FuzzRedactHidesThePassword(f *testing.F) {
	for _, s := range [][2]string{{"redirpass99", "127.0.0.1:1/b?s=x"}, {"pw", "[bad/c?X-Amz-Signature=x"}, {"p-w", "h"}, {"x", "%zz"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, password, rest string) {
		if password == "" || strings.Trim(password, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") != "" {
			return // a password of unreserved characters: any other may make the URL not parse
		}
		raw := "http://u:" + password + "@" + rest
		if out, other := Redact(raw), Redact("http://u:other@"+rest); out != other {
			t.Fatalf("Redact(%q) = %q, but %q with another password", raw, out, other)
		}
	})
}

// A check that never reached the app's own host — its name did not
// resolve (the worker's DNS), nothing listens, or the TLS handshake
// failed — is Unreached: no release makes those. A check that reached
// it and failed (an error status, a broken redirect, a slow answer) is
// not: that is the app's answer.
func TestUnreachedIsTheProbersSide(t *testing.T) {
	p, url := registry(t, false)
	if res := p.Check(context.Background(), url); !res.OK || res.Unreached {
		t.Fatalf("healthy: ok %v, unreached %v, err %v", res.OK, res.Unreached, res.Err)
	}
	bug, bugURL := registry(t, true)
	if res := bug.Check(context.Background(), bugURL); res.OK || res.Unreached {
		t.Errorf("the crates.io bug (a redirect's host that does not resolve): ok %v, unreached %v, want a failure the app made", res.OK, res.Unreached)
	}
	noDNS := &Prober{Resolver: hosts{}, Timeout: 10 * time.Second}
	if res := noDNS.Check(context.Background(), url); res.OK || !res.Unreached || !strings.Contains(res.Error(), "does not resolve") {
		t.Errorf("the app's host does not resolve: ok %v, unreached %v, err %q", res.OK, res.Unreached, res.Error())
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there now
	if res := (&Prober{Timeout: 10 * time.Second}).Check(context.Background(), closed.URL+"/download"); res.OK || !res.Unreached {
		t.Errorf("no connection: ok %v, unreached %v, err %v", res.OK, res.Unreached, res.Err)
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "crate") }))
	defer tlsSrv.Close()
	if res := (&Prober{Timeout: 10 * time.Second}).Check(context.Background(), tlsSrv.URL+"/download"); res.OK || !res.Unreached || !strings.Contains(res.Error(), "certificate") {
		t.Errorf("TLS handshake failed (a certificate the prober does not trust): ok %v, unreached %v, err %v", res.OK, res.Unreached, res.Err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	fast := &Prober{Timeout: 300 * time.Millisecond}
	for _, path := range []string{"/download", "/slow"} {
		if res := fast.Check(context.Background(), srv.URL+path); res.OK || res.Unreached {
			t.Errorf("%s, the app answered badly or slowly: ok %v, unreached %v, err %v", path, res.OK, res.Unreached, res.Err)
		}
	}
}
