// Package probe is a synthetic download check that behaves like cargo: GET
// the download URL, follow redirects (bounded), check that each Location is
// a well-formed absolute URL whose host resolves, and that the end answers
// 200 with a body. It catches the crates.io bug of 2023-07-20 (a redirect to
// "https://static.crates.iocrates/...") before any user does.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/relwatch/relwatch/config"
)

// Resolver looks up a host's addresses; net.DefaultResolver is one, and
// tests use their own.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// A Prober's defaults, for its zero fields.
const (
	// DefaultMaxRedirects is as many redirects as a careful client follows.
	DefaultMaxRedirects = 5
	// DefaultTimeout bounds one whole check.
	DefaultTimeout = 10 * time.Second
)

// Prober runs checks.
type Prober struct {
	Resolver     Resolver      // default net.DefaultResolver
	MaxRedirects int           // default DefaultMaxRedirects
	Timeout      time.Duration // one whole check (default DefaultTimeout)
	UserAgent    string        // default "relwatch-probe (like cargo)"
	MaxBody      int64         // bytes read of the final body (default 1 MiB)
}

// Hop is one request of a check. Its URL and Location are as Redact
// gives them.
type Hop struct {
	URL      string `json:"url"`
	Status   int    `json:"status,omitempty"`
	Location string `json:"location,omitempty"`
}

// Result is what a check found. Err is nil exactly when OK. Every URL in
// it, as in Err, is as Redact gives it: a Result is printed and logged.
type Result struct {
	URL      string        `json:"url"`
	At       time.Time     `json:"at"`
	OK       bool          `json:"ok"`
	Hops     []Hop         `json:"hops"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"-"` // JSON writers say it in milliseconds
	Err      error         `json:"-"`
	// Unreached is a failed check that never reached the URL's own host:
	// its name did not resolve, or no connection (and TLS handshake) to it
	// was made. That is the prober's DNS or network, or the platform's
	// front door, which no release of the app changes: no evidence about
	// a release, either way. A redirect's host that does not resolve (the
	// crates.io bug) is no such thing: the app sent it.
	Unreached bool `json:"unreached,omitempty"`
}

// Error says which step of a check broke and why.
func (r Result) Error() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// Check fetches rawURL the way cargo would and reports what broke.
func (p *Prober) Check(ctx context.Context, rawURL string) Result {
	start := time.Now()
	res := Result{URL: Redact(rawURL), At: start}
	res.Err = p.check(ctx, rawURL, &res)
	res.OK = res.Err == nil
	res.Duration = time.Since(start)
	return res
}

func (p *Prober) check(ctx context.Context, rawURL string, res *Result) error {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the check took longer than %s", timeout))
	defer cancel()
	maxRedirects := p.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = DefaultMaxRedirects
	}
	var resolver Resolver = literalIPs{net.DefaultResolver}
	if p.Resolver != nil {
		resolver = literalIPs{p.Resolver}
	}
	// The check's context bounds every step: one deadline, one message.
	// The transport alone, not a Client: the check follows each redirect
	// itself, and a Client would read a Location first and quote it whole
	// in its error when it does not parse.
	transport := &http.Transport{DialContext: dialVia(resolver), DisableKeepAlives: true}
	u, err := absolute(rawURL)
	if err != nil {
		return fmt.Errorf("%q: %w", Redact(rawURL), err)
	}
	what := func(hop int, u *url.URL) string {
		if hop == 0 {
			return shown(u)
		}
		return "redirect to " + shown(u)
	}
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			return fmt.Errorf("more than %d redirects (last to %s)", maxRedirects, shown(u))
		}
		if _, err := resolver.LookupHost(ctx, u.Hostname()); err != nil {
			res.Unreached = hop == 0
			return fmt.Errorf("%s: host %s does not resolve", what(hop, u), u.Hostname())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what(hop, u), err)
		}
		ua := p.UserAgent
		if ua == "" {
			ua = "relwatch-probe (like cargo)"
		}
		req.Header.Set("User-Agent", ua)
		if user := u.User; user != nil {
			pass, _ := user.Password()
			req.SetBasicAuth(user.Username(), pass) // as a Client would
		}
		connected := false
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected = true }}))
		resp, err := transport.RoundTrip(req)
		if err != nil {
			res.Unreached = hop == 0 && !connected
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				return fmt.Errorf("%s: %v", what(hop, u), cause)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("%s: %w", what(hop, u), err)
		}
		// The hop keeps the Location as it is reported; the check follows
		// the one the server sent.
		location := resp.Header.Get("Location")
		h := Hop{URL: shown(u), Status: resp.StatusCode, Location: Redact(location)}
		res.Hops = append(res.Hops, h)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			resp.Body.Close()
			if location == "" {
				return fmt.Errorf("%s answered %d without a Location", shown(u), resp.StatusCode)
			}
			// A relative Location ("/x", "x?y") is resolved against the URL
			// that gave it, as curl and cargo do (RFC 9110, 10.2.2).
			ref, err := url.Parse(location)
			if err != nil {
				return fmt.Errorf("%s answered %d with Location %q: not a well-formed URL", shown(u), resp.StatusCode, h.Location)
			}
			next, err := absolute(u.ResolveReference(ref).String())
			if err != nil {
				return fmt.Errorf("%s answered %d with Location %q: %w", shown(u), resp.StatusCode, h.Location, err)
			}
			u = next
		case resp.StatusCode == http.StatusOK:
			limit := p.MaxBody
			if limit <= 0 {
				limit = 1 << 20
			}
			n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
			resp.Body.Close()
			res.Bytes = n
			if err != nil {
				return fmt.Errorf("%s: reading the body: %w", shown(u), err)
			}
			if n == 0 {
				return fmt.Errorf("%s answered 200 with an empty body", shown(u))
			}
			return nil
		default:
			resp.Body.Close()
			return fmt.Errorf("%s answered %d", shown(u), resp.StatusCode)
		}
	}
}

// shown is u as an error says it: without its password or the values of
// its query (see withoutSecrets).
func shown(u *url.URL) string {
	if u.User != nil {
		if _, ok := u.User.Password(); !ok {
			// A user alone is often a token (https://TOKEN@host/...).
			c := *u
			c.User = url.User("xxxxx")
			u = &c
		}
	}
	return withoutSecrets(u.Redacted())
}

// Redact is a URL, well-formed or not, as the probe reports it, in an
// error, a Result or a hop: its password "xxxxx" (its user too when it
// has no password: a token given as the user), and each value of its
// query "…" (see withoutSecrets).
func Redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return shown(u)
	}
	return withoutSecrets(maskUserinfo(raw))
}

// maskUserinfo is config.MaskPassword, and a user without a password
// hidden as well, for a URL that does not parse.
func maskUserinfo(raw string) string {
	masked := config.MaskPassword(raw)
	if masked != raw {
		return masked
	}
	prefix, rest := "", raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", after
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return prefix + "xxxxx" + rest[at:]
	}
	return raw
}

// withoutSecrets is a URL, well-formed or not, with each value of its
// query replaced by "…": a download's redirect is often signed
// (X-Amz-Signature=...), and an error reaches the chat in an anomaly's
// evidence. The keys stay, to tell one URL from another; a URL's path and
// host, where the crates.io fault was, stay whole.
func withoutSecrets(raw string) string {
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if key, _, ok := strings.Cut(p, "="); ok {
			params[i] = key + "=…"
		} else if p != "" {
			params[i] = "…" // "?SECRET": no key, all value
		}
	}
	out := base + "?" + strings.Join(params, "&")
	if hasFragment && fragment != "" {
		out += "#…"
	}
	return out
}

// absolute parses a URL that must be absolute http(s) with a host.
func absolute(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a well-formed URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("not an absolute http(s) URL")
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host")
	}
	return u, nil
}

// literalIPs answers IP-literal hosts itself.
type literalIPs struct{ Resolver }

func (l literalIPs) LookupHost(ctx context.Context, host string) ([]string, error) {
	if net.ParseIP(host) != nil {
		return []string{host}, nil
	}
	return l.Resolver.LookupHost(ctx, host)
}

// dialVia dials the addresses the resolver gives, so a check's lookups and
// connections agree (and tests can point names at 127.0.0.1).
func dialVia(r Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := r.LookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("host %s does not resolve", host)
		}
		var last error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a, port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		if last == nil {
			last = fmt.Errorf("host %s has no address", host)
		}
		return nil, last
	}
}

// Runner checks a URL every Interval in the background and keeps the
// results of the last Keep checks, for the watcher to read.
type Runner struct {
	Prober   *Prober
	URL      string
	Interval time.Duration
	Keep     int // default 1000

	mu      sync.Mutex
	results []Result
	checks  int // recorded in all
}

// Run checks until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		res := r.Prober.Check(ctx, r.URL)
		if ctx.Err() != nil {
			return // a check cut short by shutdown says nothing
		}
		r.record(res)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.Keep
	if keep <= 0 {
		keep = 1000
	}
	r.checks++
	r.results = append(r.results, res)
	if len(r.results) > keep {
		r.results = r.results[len(r.results)-keep:]
	}
}

// Results returns the checks that started in [from, to), oldest first.
func (r *Runner) Results(from, to time.Time) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Result
	for _, res := range r.results {
		if !res.At.Before(from) && res.At.Before(to) {
			out = append(out, res)
		}
	}
	return out
}
