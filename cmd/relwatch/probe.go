package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/relwatch/relwatch/metrics/probe"
)

// pinned resolves the names given with --resolve, and (with --hosts-only)
// nothing else.
type pinned struct {
	hosts map[string]string
	only  bool
}

func (p pinned) LookupHost(ctx context.Context, host string) ([]string, error) {
	if a, ok := p.hosts[host]; ok {
		return []string{a}, nil
	}
	if p.only {
		return nil, &net.DNSError{Err: "not in --resolve", Name: host, IsNotFound: true}
	}
	return net.DefaultResolver.LookupHost(ctx, host)
}

type resolveFlag map[string]string

func (r resolveFlag) String() string { return fmt.Sprint(map[string]string(r)) }
func (r resolveFlag) Set(v string) error {
	host, addr, ok := strings.Cut(v, "=")
	if !ok || host == "" || net.ParseIP(addr) == nil {
		return fmt.Errorf("%q is not HOST=IP", v)
	}
	r[host] = addr
	return nil
}

func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("probe", "[flags] URL", `
Fetches URL the way cargo downloads a crate: follows redirects (at most
--max-redirects), checks that each Location is a well-formed absolute URL
whose host resolves, and that the end answers 200 with a body. Prints each
hop and says precisely what broke. Exits 0 only when the download works.`, stdout, stderr)
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "the whole check")
	maxRedirects := fs.Int("max-redirects", probe.DefaultMaxRedirects, "redirects followed at most")
	format := fs.String("format", "text", "output format: text or json")
	hosts := resolveFlag{}
	fs.Var(hosts, "resolve", "HOST=IP: resolve HOST to IP (repeatable), like curl --resolve")
	hostsOnly := fs.Bool("hosts-only", false, "resolve only the --resolve names: every other host does not resolve")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return usageErr("which URL? like: relwatch probe https://crates.io/api/v1/crates/serde/1.0.0/download")
	case fs.NArg() > 1:
		// Said the way every URL it reports is: a signed one keeps its
		// signature.
		return usageErr("takes one URL, got %q after it; see relwatch probe --help", probe.Redact(fs.Arg(1)))
	}
	if u, err := url.Parse(fs.Arg(0)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("%q is not an absolute http(s) URL, like https://crates.io/api/v1/crates/serde/1.0.0/download", probe.Redact(fs.Arg(0)))
	}
	if err := textOrJSON(*format); err != nil {
		return err
	}
	if *maxRedirects < 1 {
		return usageErr("--max-redirects: %d is not a positive number (a download is a redirect and its end)", *maxRedirects)
	}
	if *timeout <= 0 {
		return usageErr("--timeout: %s is not a positive duration", *timeout)
	}
	p := &probe.Prober{Timeout: *timeout, MaxRedirects: *maxRedirects, Resolver: pinned{hosts: hosts, only: *hostsOnly}}
	res := p.Check(ctx, fs.Arg(0))
	if *format == "json" {
		if res.Hops == nil {
			res.Hops = []probe.Hop{} // a list, [] when no answer came: never null
		}
		// Durations in milliseconds, as everywhere else relwatch writes
		// JSON (the Result's own would be nanoseconds).
		out := struct {
			probe.Result
			Duration float64 `json:"duration_ms"`
			Error    string  `json:"error,omitempty"`
		}{res, float64(res.Duration.Microseconds()) / 1000, res.Error()}
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return err
		}
	} else {
		// The Result's URLs are redacted already, as its error is.
		for _, h := range res.Hops {
			line := fmt.Sprintf("  %d %s", h.Status, h.URL)
			if h.Location != "" {
				line += " -> " + h.Location
			}
			fmt.Fprintln(stdout, line)
		}
		if res.OK {
			fmt.Fprintf(stdout, "ok: %d bytes in %s\n", res.Bytes, res.Duration.Round(time.Millisecond))
		}
	}
	if !res.OK {
		return fmt.Errorf("%s", res.Error())
	}
	return nil
}
