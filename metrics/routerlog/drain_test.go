package routerlog_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics/routerlog"
)

// The drain's abuse tests: every client is on loopback, every flood is a
// bounded number of connections, and the tests wait for answers and
// counters, never for time to pass. The liveness bound (answerWithin) is
// far above what any answer takes; it only turns a hang into a failure.

const answerWithin = 10 * time.Second

var drainCreds = routerlog.DrainCredentials{User: "logplex", Password: "s3cret-drain-pw"}

type drainFixture struct {
	srv  *routerlog.DrainServer
	agg  *routerlog.Aggregator
	addr string
	sec  atomic.Int64 // the next real frame's second
}

func startDrain(t testing.TB, lim routerlog.DrainLimits, creds routerlog.DrainCredentials) *drainFixture {
	t.Helper()
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: agg, DrainCredentials: creds}}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	f := &drainFixture{srv: srv, agg: agg, addr: ln.Addr().String()}
	f.sec.Store(1_700_000_000)
	return f
}

func routerFrame(sec int64, client string) string {
	msg := fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="%s" dyno=web.1 connect=1ms service=2ms status=302 bytes=1 protocol=https`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339), client)
	return fmt.Sprintf("%d %s", len(msg), msg)
}

// realFrame posts one batch of one router line the way Logplex does and
// returns the status; the line is counted when the status is 204.
func (f *drainFixture) realFrame(t testing.TB, client *http.Client) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/drain/crates-io", strings.NewReader(routerFrame(f.sec.Add(1), "9.9.9.9")))
	req.Header.Set("Content-Type", "application/logplex-1")
	req.Header.Set("Logplex-Msg-Count", "1")
	req.SetBasicAuth(drainCreds.User, drainCreds.Password)
	if client == nil {
		client = &http.Client{Timeout: answerWithin, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("real frame: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// post sends body as one Logplex batch (frameID: its Logplex-Frame-Id,
// "" for none) with the drain's credentials and returns the status.
func (f *drainFixture) post(t testing.TB, body, frameID string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/drain/crates-io", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/logplex-1")
	if frameID != "" {
		req.Header.Set("Logplex-Frame-Id", frameID)
	}
	req.SetBasicAuth(drainCreds.User, drainCreds.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func basicAuth(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
}

// send opens a connection and writes raw, nothing more.
func send(t testing.TB, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// headers is a drain request's head, the body left to the caller.
func headers(path, extra string, contentLength int) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: drain\r\nContent-Type: application/logplex-1\r\nContent-Length: %d\r\n%s\r\n", path, contentLength, extra)
}

// answer reads the response on c.
func answer(t testing.TB, c net.Conn) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(answerWithin))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer waits for the server to close c.
func closedByServer(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(answerWithin))
	if _, err := io.Copy(io.Discard, c); isTimeout(err) {
		t.Fatalf("the server kept the connection open: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitStats waits until the server's counters satisfy cond.
func waitStats(t testing.TB, f *drainFixture, what string, cond func(routerlog.DrainStats) bool) {
	t.Helper()
	deadline := time.Now().Add(answerWithin)
	for !cond(f.srv.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, f.srv.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDrainRefusesToStartWithoutCredentials(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for name, tc := range map[string]struct {
		getenv func(string) string
		want   []string
	}{
		"none":          {env(), []string{"RELWATCH_DRAIN_USER", "RELWATCH_DRAIN_PASSWORD", "RELWATCH_DRAIN_TOKEN"}},
		"user only":     {env("RELWATCH_DRAIN_USER", "logplex"), []string{"RELWATCH_DRAIN_PASSWORD is empty"}},
		"password only": {env("RELWATCH_DRAIN_PASSWORD", "pw"), []string{"RELWATCH_DRAIN_USER is empty"}},
	} {
		_, err := routerlog.DrainCredentialsFromEnv(tc.getenv, "crates-io", 1)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to name %s", name, err, w)
			}
		}
	}
	for _, ok := range []func(string) string{env("RELWATCH_DRAIN_TOKEN", "d.1234"), env("RELWATCH_DRAIN_USER", "u", "RELWATCH_DRAIN_PASSWORD", "p")} {
		if _, err := routerlog.DrainCredentialsFromEnv(ok, "crates-io", 1); err != nil {
			t.Errorf("complete credentials refused: %v", err)
		}
	}
	// Heroku gives each drain its own token: one token cannot be two
	// apps' drains'. Each app's own variable can.
	if _, err := routerlog.DrainCredentialsFromEnv(env("RELWATCH_DRAIN_TOKEN", "d.1234"), "crates-io", 2); err == nil ||
		!strings.Contains(err.Error(), "set RELWATCH_DRAIN_CRATES_IO_TOKEN to crates-io's") {
		t.Errorf("one drain token for 2 apps' drains: %v", err)
	}
	for app, want := range map[string]string{"crates-io": "d.1111", "docs-rs": "d.2222"} {
		c, err := routerlog.DrainCredentialsFromEnv(env("RELWATCH_DRAIN_TOKEN", "d.1234", "RELWATCH_DRAIN_CRATES_IO_TOKEN", "d.1111", "RELWATCH_DRAIN_DOCS_RS_TOKEN", "d.2222"), app, 2)
		if err != nil || c.Token != want {
			t.Errorf("%s with its own token: %q %v, want %q", app, c.Token, err, want)
		}
	}
	if _, err := routerlog.DrainCredentialsFromEnv(env("RELWATCH_DRAIN_USER", "u", "RELWATCH_DRAIN_PASSWORD", "p"), "docs-rs", 2); err != nil {
		t.Errorf("one drain URL user and password for 2 apps: %v", err)
	}
	// Pasted with a newline, the values are the drain URL's all the same.
	if c, err := routerlog.DrainCredentialsFromEnv(env("RELWATCH_DRAIN_USER", "logplex\n", "RELWATCH_DRAIN_PASSWORD", " s3cret\r\n", "RELWATCH_DRAIN_TOKEN", "d.1234\n"), "docs-rs", 1); err != nil ||
		c.User != "logplex" || c.Password != "s3cret" || c.Token != "d.1234" {
		t.Errorf("credentials with whitespace around them: %+v %v", c, err)
	}
	route, _ := routerlog.ParseRoute("/x")
	_, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: routerlog.NewAggregator(route, time.Hour, 0)}}, routerlog.DrainLimits{}, nil)
	if err == nil || !strings.Contains(err.Error(), "drain for crates-io") || !strings.Contains(err.Error(), "RELWATCH_DRAIN_TOKEN") {
		t.Fatalf("a drain without credentials: %v", err)
	}
}

// Every refusal comes although the body is never sent, so the server read
// none of it (its body timeout is a minute), and the connection is closed.
func TestDrainChecksBeforeReadingTheBody(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{BodyTimeout: time.Minute, MaxBatch: 1 << 20}, drainCreds)
	good := basicAuth(drainCreds.User, drainCreds.Password)
	cases := []struct {
		name, raw string
		status    int
	}{
		{"anonymous", headers("/drain/crates-io", "", 100_000), http.StatusUnauthorized},
		{"wrong password", headers("/drain/crates-io", basicAuth(drainCreds.User, "guess"), 100_000), http.StatusUnauthorized},
		{"wrong user", headers("/drain/crates-io", basicAuth("admin", drainCreds.Password), 100_000), http.StatusUnauthorized},
		{"password with a suffix", headers("/drain/crates-io", basicAuth(drainCreds.User, drainCreds.Password+"x"), 100_000), http.StatusUnauthorized},
		{"unknown app", headers("/drain/other-app", good, 100_000), http.StatusNotFound},
		{"no app", headers("/drain/", good, 100_000), http.StatusNotFound},
		{"not a drain path", headers("/metrics", good, 100_000), http.StatusNotFound},
		{"not a POST", strings.Replace(headers("/drain/crates-io", good, 100_000), "POST", "PUT", 1), http.StatusMethodNotAllowed},
		{"not a batch", strings.Replace(headers("/drain/crates-io", good, 100_000), "application/logplex-1", "text/plain", 1), http.StatusUnsupportedMediaType},
		{"larger than the limit", headers("/drain/crates-io", good, 4<<20), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := send(t, f.addr, tc.raw+"12 <158>1 2023") // a few body bytes, never the rest
			defer c.Close()
			resp := answer(t, c)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
			closedByServer(t, c)
		})
	}
	st := f.srv.Stats()
	if st.Unauthorized != 4 || st.UnknownApp != 3 || st.NotABatch != 2 || st.TooLarge != 1 || st.Accepted != 0 || f.agg.Stats().Lines != 0 {
		t.Fatalf("stats %+v, lines %d", st, f.agg.Stats().Lines)
	}
	if code := f.realFrame(t, nil); code != http.StatusNoContent || f.agg.Stats().Matched != 1 {
		t.Fatalf("the real frame: %d, matched %d", code, f.agg.Stats().Matched)
	}
}

func TestDrainToken(t *testing.T) {
	for _, creds := range []routerlog.DrainCredentials{{Token: "d.fc6b856b"}, {User: "logplex", Password: "pw", Token: "d.fc6b856b"}} {
		f := startDrain(t, routerlog.DrainLimits{}, creds)
		post := func(token string, basic bool) int {
			req, _ := http.NewRequest("POST", "http://"+f.addr+"/drain/crates-io", strings.NewReader(routerFrame(1_700_000_000, "1.1.1.1")))
			req.Header.Set("Content-Type", "application/logplex-1")
			if token != "" {
				req.Header.Set("Logplex-Drain-Token", token)
			}
			if basic {
				req.SetBasicAuth("logplex", "pw")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		needBasic := creds.User != ""
		if code := post("d.fc6b856b", needBasic); code != http.StatusNoContent {
			t.Errorf("%s: right token: %d", creds.Describe(), code)
		}
		if code := post("d.other", needBasic); code != http.StatusUnauthorized {
			t.Errorf("%s: wrong token: %d", creds.Describe(), code)
		}
		if code := post("", needBasic); code != http.StatusUnauthorized {
			t.Errorf("%s: no token: %d", creds.Describe(), code)
		}
		if needBasic {
			if code := post("d.fc6b856b", false); code != http.StatusUnauthorized {
				t.Errorf("%s: token without the password: %d", creds.Describe(), code)
			}
		}
	}
}

func TestDrainCutsSlowClientsOff(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{HeaderTimeout: 300 * time.Millisecond, BodyTimeout: 300 * time.Millisecond}, drainCreds)
	// Slowloris: headers that never end.
	slowHead := send(t, f.addr, "POST /drain/crates-io HTTP/1.1\r\nHost: drain\r\nX-Slow: ")
	defer slowHead.Close()
	// An authorized body that stops halfway: the slot is freed, and 503
	// makes Logplex send the batch again.
	slowBody := send(t, f.addr, headers("/drain/crates-io", basicAuth(drainCreds.User, drainCreds.Password), 1000)+"12 <158>1 20")
	defer slowBody.Close()
	resp := answer(t, slowBody)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a stalled body: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	closedByServer(t, slowBody)
	closedByServer(t, slowHead)
	waitStats(t, f, "slots and bytes given back", func(s routerlog.DrainStats) bool { return s.Reading == 0 && s.Buffered == 0 && s.OpenConns == 0 })
	if st := f.srv.Stats(); st.ReadFailed != 1 {
		t.Fatalf("stats %+v", st)
	}
	if code := f.realFrame(t, nil); code != http.StatusNoContent || f.agg.Stats().Matched != 1 {
		t.Fatalf("the real frame: %d, matched %d", code, f.agg.Stats().Matched)
	}
}

func TestDrainCapsConcurrentRequests(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{MaxRequests: 3, BodyTimeout: time.Minute}, drainCreds)
	auth := basicAuth(drainCreds.User, drainCreds.Password)
	var stalled []net.Conn
	for range 3 {
		stalled = append(stalled, send(t, f.addr, headers("/drain/crates-io", auth, 1000)+"12 <158>1 20"))
	}
	waitStats(t, f, "3 requests being read", func(s routerlog.DrainStats) bool { return s.Reading == 3 })
	extra := send(t, f.addr, headers("/drain/crates-io", auth, 1000))
	defer extra.Close()
	resp := answer(t, extra)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a 4th request: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	closedByServer(t, extra)
	// A stranger is refused for being a stranger, not for the load.
	anon := send(t, f.addr, headers("/drain/crates-io", "", 1000))
	defer anon.Close()
	if resp := answer(t, anon); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous while busy: %d", resp.StatusCode)
	}
	for _, c := range stalled {
		c.Close()
	}
	waitStats(t, f, "the slots given back", func(s routerlog.DrainStats) bool { return s.Reading == 0 })
	if code := f.realFrame(t, nil); code != http.StatusNoContent {
		t.Fatalf("the real frame after the stalled ones went: %d", code)
	}
	if st := f.srv.Stats(); st.Busy != 1 || st.ReadFailed != 3 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDrainCapsBufferedBytes(t *testing.T) {
	const batch = 64 << 10
	f := startDrain(t, routerlog.DrainLimits{MaxBatch: batch, MaxBuffered: 160 << 10, BodyTimeout: time.Minute}, drainCreds)
	auth := basicAuth(drainCreds.User, drainCreds.Password)
	chunked := func(n int) string {
		return fmt.Sprintf("POST /drain/crates-io HTTP/1.1\r\nHost: drain\r\nContent-Type: application/logplex-1\r\nTransfer-Encoding: chunked\r\n%s\r\n%x\r\n%s\r\n", auth, n, strings.Repeat("x", n))
	}
	// A batch without a length that runs past the limit: 413, and
	// Logplex drops it rather than sending it again.
	c := send(t, f.addr, chunked(batch+100))
	if resp := answer(t, c); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized chunked batch: %d", resp.StatusCode)
	}
	c.Close()
	// Two stalled batches hold 128 KiB of the 160: a third finds no room.
	var stalled []net.Conn
	for range 2 {
		stalled = append(stalled, send(t, f.addr, chunked(40<<10)))
	}
	waitStats(t, f, "two buffers held", func(s routerlog.DrainStats) bool { return s.Buffered == 2*batch })
	third := send(t, f.addr, chunked(40<<10))
	defer third.Close()
	if resp := answer(t, third); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third batch past the byte budget: %d", resp.StatusCode)
	}
	if st := f.srv.Stats(); st.Buffered > 160<<10 || st.OverBudget != 1 || st.TooLarge != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range stalled {
		c.Close()
	}
	waitStats(t, f, "the bytes given back", func(s routerlog.DrainStats) bool { return s.Buffered == 0 })
	if code := f.realFrame(t, nil); code != http.StatusNoContent {
		t.Fatalf("the real frame: %d", code)
	}
}

// Past MaxConns, the oldest connection that has not shown the credentials
// makes room; an authorized kept-alive connection keeps its place.
func TestDrainManyConnections(t *testing.T) {
	const maxConns = 16
	f := startDrain(t, routerlog.DrainLimits{MaxConns: maxConns, HeaderTimeout: time.Minute}, drainCreds)
	keepAlive := &http.Client{Timeout: answerWithin, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer keepAlive.CloseIdleConnections()
	if code := f.realFrame(t, keepAlive); code != http.StatusNoContent {
		t.Fatalf("first frame: %d", code)
	}
	const silent = 40
	var conns []net.Conn
	for range silent {
		conns = append(conns, send(t, f.addr, ""))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// 1 authorized + 40 silent in 16 places: the 25 oldest silent ones go.
	waitStats(t, f, "evictions", func(s routerlog.DrainStats) bool { return s.Evicted == silent-(maxConns-1) })
	closedByServer(t, conns[0])
	if st := f.srv.Stats(); st.OpenConns > maxConns {
		t.Fatalf("%d connections open, limit %d", st.OpenConns, maxConns)
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", "http://"+f.addr+"/drain/crates-io", strings.NewReader(routerFrame(1_700_000_100, "2.2.2.2")))
	req.Header.Set("Content-Type", "application/logplex-1")
	req.SetBasicAuth(drainCreds.User, drainCreds.Password)
	resp, err := keepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !reused {
		t.Fatalf("the kept-alive connection: %d, reused %v", resp.StatusCode, reused)
	}
	// A new connection is served too: it takes the place of a silent one.
	if code := f.realFrame(t, nil); code != http.StatusNoContent || f.agg.Stats().Matched != 3 {
		t.Fatalf("a frame on a new connection: %d, matched %d", code, f.agg.Stats().Matched)
	}
}

// While strangers flood the drain (slow anonymous bodies, headers that
// never end, large anonymous bodies, oversized authorized batches), a real
// frame is answered 204 and counted, every time.
func TestDrainRealFrameGetsThroughTheAbuse(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{MaxConns: 128}, drainCreds)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	keep := func(c net.Conn) {
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
	}
	dial := func(raw string) net.Conn {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			return nil
		}
		io.WriteString(c, raw)
		keep(c)
		return c
	}
	const anonSlow, slowloris, anonLarge, authLarge = 300, 100, 10, 5
	for range anonSlow {
		dial(headers("/drain/crates-io", "", 100_000) + "1")
	}
	for range slowloris {
		dial("POST /drain/crates-io HTTP/1.1\r\nHost: drain\r\n")
	}
	large := strings.Repeat("7 garbage", 4<<20/9)
	for range anonLarge {
		wg.Go(func() {
			if c := dial(headers("/drain/crates-io", "", len(large))); c != nil {
				io.WriteString(c, large) // refused before it is read: the write may fail
			}
		})
	}
	for range authLarge {
		wg.Go(func() { dial(headers("/drain/crates-io", basicAuth(drainCreds.User, drainCreds.Password), len(large))) })
	}
	defer func() {
		close(stop)
		wg.Wait()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	}()
	const real = 20
	for i := range real {
		if code := f.realFrame(t, nil); code != http.StatusNoContent {
			t.Fatalf("real frame %d during the abuse: %d", i, code)
		}
	}
	if m := f.agg.Stats().Matched; m != real {
		t.Fatalf("%d real lines counted, want %d", m, real)
	}
	// Each abusive connection was refused, or closed unread to make room.
	waitStats(t, f, "every abusive connection refused or closed", func(s routerlog.DrainStats) bool {
		return s.Unauthorized+s.TooLarge+s.Evicted >= anonSlow+anonLarge+authLarge
	})
	if st := f.srv.Stats(); st.OpenConns > 128 || st.Accepted != real || st.Buffered != 0 || st.Reading != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Batches larger than the first buffer, with and without a length, and an
// empty one, are read whole and counted.
func TestDrainReadsWholeBatches(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{MaxBatch: 512 << 10}, drainCreds)
	var b strings.Builder
	const lines = 1500 // about 350 KB
	for i := range lines {
		b.WriteString(routerFrame(1_700_000_000+int64(i%50), fmt.Sprintf("10.0.%d.%d", i/250, i%250)))
	}
	body := b.String()
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", "http://"+f.addr+"/drain/crates-io", io.NopCloser(strings.NewReader(body)))
		if !chunked {
			req.ContentLength = int64(len(body))
		}
		req.Header.Set("Content-Type", "application/logplex-1")
		req.SetBasicAuth(drainCreds.User, drainCreds.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("chunked %v: %d", chunked, resp.StatusCode)
		}
	}
	if m := f.agg.Stats().Matched; m != 2*lines {
		t.Fatalf("%d lines counted, want %d", m, 2*lines)
	}
	empty := send(t, f.addr, headers("/drain/crates-io", basicAuth(drainCreds.User, drainCreds.Password), 0))
	defer empty.Close()
	if resp := answer(t, empty); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("an empty batch: %d", resp.StatusCode)
	}
	if st := f.srv.Stats(); st.Buffered != 0 || st.Accepted != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// Logplex sends a batch again, with the same Logplex-Frame-Id, when its
// answer did not come in time (heroku/logplex, logplex_http_drain.erl:
// the frame id is made once per frame and kept by retry_frame). The batch
// counted once already is not counted again: twice, every line of it would
// be its own repeat, the retry signature out of nothing.
func TestDrainCountsAResentBatchOnce(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{}, drainCreds)
	const t0 = int64(1_700_000_000)
	var body strings.Builder
	for i := range 10 {
		body.WriteString(routerFrame(t0, fmt.Sprintf("10.0.0.%d", i)))
	}
	post := func(frameID string) {
		t.Helper()
		if code := f.post(t, body.String(), frameID); code != http.StatusNoContent {
			t.Fatalf("frame %s: %d, want 204 (a resent batch is delivered, not refused)", frameID, code)
		}
	}
	f.agg.Listening(time.Unix(t0-1, 0))
	post("09C557EAFCFB6CF2740EE62F62971098")
	post("09C557EAFCFB6CF2740EE62F62971098") // the retry
	s, err := f.agg.Counts(context.Background(), "/api/v1/crates/{crate}/{version}/download", time.Unix(t0, 0), time.Unix(t0+1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Points[0]; p.Requests != 10 || p.Repeats != 0 {
		t.Fatalf("a batch of 10 requests from 10 clients, sent twice under one frame id: %d requests, %d repeats; want 10 and 0", p.Requests, p.Repeats)
	}
	if st := f.srv.Stats(); st.Accepted != 1 || st.Resent != 1 {
		t.Fatalf("stats %+v: want 1 accepted, 1 resent", st)
	}
	post("5A0C4E4C2B1D3F6E7A8B9C0D1E2F3A4B") // another batch of the same lines is traffic
	s, _ = f.agg.Counts(context.Background(), "/api/v1/crates/{crate}/{version}/download", time.Unix(t0, 0), time.Unix(t0+1, 0))
	if p := s.Points[0]; p.Requests != 20 {
		t.Fatalf("a second batch under its own frame id: %d requests, want 20", p.Requests)
	}
}

// Logplex drops a batch it could not deliver in 3 tries (after relwatch's
// own 503s, or timeouts) and reports it as the first frame of the next
// batch it delivers: "Error L10 (output buffer overflow): N messages
// dropped since T", T being when it dropped them (heroku/logplex,
// logplex_http_drain.erl: drop_frame, lost_msgs, request_to_iolist), so
// the lines lost are stamped before T, after the last line delivered.
// Their seconds are no data, never zero traffic (a collapse).
func TestDrainDroppedBatchSecondsAreNoData(t *testing.T) {
	f := startDrain(t, routerlog.DrainLimits{}, drainCreds)
	const t0 = int64(1_700_000_000)
	stamp := func(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
	frame := func(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }
	seconds := func(from, to int64) string { // 5 requests a second
		var b strings.Builder
		for sec := from; sec < to; sec++ {
			for i := range 5 {
				b.WriteString(frame(fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download" host=crates.io fwd="10.0.%d.%d" dyno=web.1 connect=1ms service=2ms status=302 bytes=1 protocol=https`, stamp(sec), sec%200, i)))
			}
		}
		return b.String()
	}
	post := func(body string) {
		t.Helper()
		if code := f.post(t, body, ""); code != http.StatusNoContent {
			t.Fatalf("batch: %d", code)
		}
	}
	post(seconds(t0, t0+2)) // delivered
	// The batch of t0+2 and t0+3 is tried 3 times and dropped at t0+8; the
	// next batch, sent at t0+9, opens with the report.
	post(frame("<172>1 "+stamp(t0+9)+" host heroku logplex - Error L10 (output buffer overflow): 10 messages dropped since "+stamp(t0+8)+".") + seconds(t0+4, t0+10))
	s, err := f.agg.Counts(context.Background(), "/api/v1/crates/{crate}/{version}/download", time.Unix(t0, 0), time.Unix(t0+10, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Points {
		if want := i < 2; p.OK != want || (p.OK && p.Requests != 5) {
			t.Errorf("t0+%d: ok %v with %d requests; want ok %v (lost from the last line delivered to the report)", i, p.OK, p.Requests, want)
		}
	}
}

// Logplex drops a batch it got a 401 for and says nothing: a drain set up
// with a mistyped password must say so in the worker's log, once, not at
// every batch; and a stranger's refused request (no Logplex headers) is
// not worth a line. No secret is in the line.
func TestDrainLogsLogplexsRefusedBatchesOnce(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	drain := &routerlog.Drain{Agg: routerlog.NewAggregator(route, time.Hour, 0), DrainCredentials: drainCreds, Logger: logger}
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": drain}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(password string, logplex bool) {
		t.Helper()
		req := httptest.NewRequest("POST", "/drain/crates-io", strings.NewReader(routerFrame(1_700_000_000, "1.1.1.1")))
		req.Header.Set("Content-Type", "application/logplex-1")
		if logplex {
			req.Header.Set("Logplex-Msg-Count", "1")
			req.Header.Set("Logplex-Frame-Id", "09C557EAFCFB6CF2740EE62F62971098")
			req.Header.Set("Logplex-Drain-Token", "d.fc6b856b-3332-4546-93de-7d0ee272c3bd")
		}
		req.SetBasicAuth(drainCreds.User, password)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d, want 401", rec.Code)
		}
	}
	post("not-the-password", false)
	if buf.String() != "" {
		t.Fatalf("a stranger's refused request was logged:\n%s", buf.String())
	}
	for range 3 {
		post("mistyped-drain-pw", true)
	}
	out := buf.String()
	if n := strings.Count(out, "drain batch refused (401)"); n != 1 {
		t.Fatalf("%d lines for three refused Logplex batches, want 1:\n%s", n, out)
	}
	for _, want := range []string{"app=crates-io", `sent="basic auth and drain token"`, `want="basic auth as logplex"`, "RELWATCH_DRAIN_CRATES_IO_TOKEN", "heroku drains -a crates-io"} {
		if !strings.Contains(out, want) {
			t.Errorf("the line lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"mistyped-drain-pw", drainCreds.Password, "d.fc6b856b"} {
		if strings.Contains(out, secret) {
			t.Errorf("the line shows a secret (%s):\n%s", secret, out)
		}
	}
}

// A batch whose router lines do not read is logged once (which frame, and
// why; never the line, whose path may carry a secret), and where a frame's
// length is broken the line says the rest of the batch is lost.
func TestDrainSaysWhichFramesDidNotRead(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	drain := &routerlog.Drain{Agg: agg, DrainCredentials: drainCreds, Logger: logger}
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": drain}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) {
		t.Helper()
		req := httptest.NewRequest("POST", "/drain/crates-io", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/logplex-1")
		req.Header.Set("Logplex-Frame-Id", fmt.Sprint(len(body)))
		req.SetBasicAuth(drainCreds.User, drainCreds.Password)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("batch: %d, want 204", rec.Code)
		}
	}
	good := routerFrame(1_700_000_000, "1.1.1.1")
	bad := `<158>1 2023-11-14T22:13:20Z host heroku router - at=info method=GET path="/api/v1/crates/serde/1.0.0/download?sig=s3cr3t host=crates.io`
	bad = fmt.Sprintf("%d %s", len(bad), bad)
	post(good + bad + good)
	out := buf.String()
	for _, want := range []string{"app=crates-io", "unread_lines=1", `first_unread="frame 2: malformed key=value"`, "frames=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("the line lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "cut_off") {
		t.Errorf("the line shows the unread line, or a cut that did not happen:\n%s", out)
	}
	if got := agg.Stats().Matched; got != 2 {
		t.Errorf("%d lines counted, want the 2 that read", got)
	}

	// Said once per RefusedLogEvery: a second broken batch now is counted,
	// not logged; a fresh drain logs where a frame's length broke off.
	post(good + "zz not-a-frame" + good)
	if n := strings.Count(buf.String(), "router lines not counted"); n != 1 {
		t.Fatalf("%d lines for two broken batches within %s, want 1:\n%s", n, routerlog.RefusedLogEvery, buf.String())
	}
	var buf2 testenv.Buffer
	drain2 := &routerlog.Drain{Agg: routerlog.NewAggregator(route, time.Hour, 0), DrainCredentials: drainCreds, Logger: slog.New(slog.NewTextHandler(&buf2, nil))}
	srv, err = routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": drain2}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	post(good + "zz not-a-frame" + good)
	want := fmt.Sprintf(`cut_off="frame 2 (byte %d): no length (up to 8 digits and a space) at its start; the rest of the batch is not read"`, len(good))
	if out := buf2.String(); !strings.Contains(out, want) || !strings.Contains(out, "frames=1") {
		t.Errorf("the line lacks %s and frames=1:\n%s", want, out)
	}
}
