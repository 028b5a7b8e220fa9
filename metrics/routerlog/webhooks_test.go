package routerlog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/heroku/webhook"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics/routerlog"
)

const webhookSecret = "0123456789abcdef-webhook"

type releases struct {
	mu  sync.Mutex
	got []string
}

func (r *releases) add(app string, ev webhook.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s %s v%d %s", app, ev.Action, ev.Version, ev.Status))
}

func (r *releases) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, "; ")
}

// startWebhooks serves webhooks for crates-io (and a drain beside them).
func startWebhooks(t *testing.T, lim routerlog.DrainLimits) (*drainFixture, *releases) {
	t.Helper()
	f := startDrainWith(t, lim, func(srv *routerlog.DrainServer) {})
	rel := &releases{}
	if err := f.srv.ServeWebhooks(routerlog.Webhooks{Secret: webhookSecret, Apps: map[string]bool{"crates-io": true}, OnRelease: rel.add}); err != nil {
		t.Fatal(err)
	}
	return f, rel
}

// startDrainWith is startDrain with a hook before Serve.
func startDrainWith(t *testing.T, lim routerlog.DrainLimits, before func(*routerlog.DrainServer)) *drainFixture {
	t.Helper()
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: agg, DrainCredentials: drainCreds}}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	before(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &drainFixture{srv: srv, agg: agg, addr: ln.Addr().String()}
	f.sec.Store(1_700_000_000)
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
	return f
}

// notify posts body as a notification to path, under signature, and
// returns the status.
func (f *drainFixture) notify(t *testing.T, path, body, signature string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+f.addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhooksNeedASecret(t *testing.T) {
	for _, secret := range []string{"", "short"} {
		err := (routerlog.Webhooks{Secret: secret}).Check()
		if err == nil || !strings.Contains(err.Error(), routerlog.EnvWebhookSecret) || (secret != "" && strings.Contains(err.Error(), secret)) {
			t.Errorf("secret %q: %v", secret, err)
		}
	}
}

// The simulated Heroku delivers api:release notifications as Heroku does;
// each is taken, signature checked, and reported: the release's creation
// and, after its release phase, its update. A subscription with another
// secret is refused, and reports nothing.
func TestWebhooksFromHeroku(t *testing.T) {
	f, rel := startWebhooks(t, routerlog.DrainLimits{})
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fake := herokusim.New("tok", herokusim.WithClock(clock))
	defer fake.Close()
	fake.AddApp("crates-io")
	fake.AddWebhook("crates-io", "http://"+f.addr+"/webhooks/crates-io", webhookSecret)
	fake.AddWebhook("crates-io", "http://"+f.addr+"/webhooks/crates-io", "another secret, not ours")
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy 3f1c2aa", PendingFor: 30 * time.Second})
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	fake.PublishEvents()
	if got := rel.String(); got != "crates-io create v42 pending; crates-io update v42 succeeded" {
		t.Fatalf("releases reported: %q", got)
	}
	var codes []string
	for _, d := range fake.Deliveries() {
		codes = append(codes, fmt.Sprintf("%s %d", d.Action, d.Status))
	}
	if got := strings.Join(codes, ", "); got != "create 204, create 401, update 204, update 401" {
		t.Fatalf("deliveries: %s", got)
	}
	if st := f.srv.Stats(); st.Webhook.Taken != 2 || st.Webhook.Refused != 2 || st.Unauthorized != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Every refusal before the signature comes although the body is never
// sent; a body whose signature is not its own is refused after it is
// read, and reports nothing; so is a notification for another app.
func TestWebhooksRefuse(t *testing.T) {
	f, rel := startWebhooks(t, routerlog.DrainLimits{BodyTimeout: time.Minute})
	body := `{"action":"create","resource":"release","data":{"app":{"name":"crates-io"},"version":42,"status":"succeeded"}}`
	sig := webhook.SignatureHeader + ": " + webhook.Sign(webhookSecret, []byte(body)) + "\r\n"
	head := func(path, extra string, n int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: relwatch\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", path, n, extra)
	}
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"unknown app", head("/webhooks/other-app", sig, 1000), http.StatusNotFound},
		{"not a POST", strings.Replace(head("/webhooks/crates-io", sig, 1000), "POST", "PUT", 1), http.StatusMethodNotAllowed},
		{"no signature", head("/webhooks/crates-io", "", 1000), http.StatusUnauthorized},
		{"not a signature", head("/webhooks/crates-io", webhook.SignatureHeader+": sha256=abc\r\n", 1000), http.StatusUnauthorized},
		{"not JSON", strings.Replace(head("/webhooks/crates-io", sig, 1000), "application/json", "text/plain", 1), http.StatusUnsupportedMediaType},
		{"too large", head("/webhooks/crates-io", sig, 1<<20), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := send(t, f.addr, tc.raw+`{"action"`) // never the rest
			defer c.Close()
			if resp := answer(t, c); resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			closedByServer(t, c)
		})
	}
	post := func(path, body, signature string) int { return f.notify(t, path, body, signature) }
	forged := strings.Replace(body, "42", "43", 1)
	if code := post("/webhooks/crates-io", forged, webhook.Sign(webhookSecret, []byte(body))); code != http.StatusUnauthorized {
		t.Fatalf("another body under the signature: %d", code)
	}
	if code := post("/webhooks/crates-io", body, webhook.Sign("a guessed secret, not ours", []byte(body))); code != http.StatusUnauthorized {
		t.Fatalf("signed with another secret: %d", code)
	}
	other := strings.Replace(body, "crates-io", "someone-else", 1)
	if code := post("/webhooks/crates-io", other, webhook.Sign(webhookSecret, []byte(other))); code != http.StatusBadRequest {
		t.Fatalf("a notification for another app: %d", code)
	}
	if code := post("/webhooks/crates-io", "[1,2]", webhook.Sign(webhookSecret, []byte("[1,2]"))); code != http.StatusBadRequest {
		t.Fatalf("signed JSON that is no notification: %d", code)
	}
	if got := rel.String(); got != "" {
		t.Fatalf("reported %q from refused notifications", got)
	}
	if code := post("/webhooks/crates-io", body, webhook.Sign(webhookSecret, []byte(body))); code != http.StatusNoContent || rel.String() != "crates-io create v42 succeeded" {
		t.Fatalf("the real one: %d, %q", code, rel.String())
	}
	// The drain beside them works as before.
	if code := f.realFrame(t, nil); code != http.StatusNoContent {
		t.Fatalf("a drain frame: %d", code)
	}
}

// A body that stalls is cut off by the drain server's body timeout (503,
// Heroku retries a sync subscription), and its slot given back.
func TestWebhooksCutSlowBodiesOff(t *testing.T) {
	f, _ := startWebhooks(t, routerlog.DrainLimits{BodyTimeout: 300 * time.Millisecond})
	sig := webhook.SignatureHeader + ": " + webhook.Sign(webhookSecret, []byte("x")) + "\r\n"
	c := send(t, f.addr, fmt.Sprintf("POST /webhooks/crates-io HTTP/1.1\r\nHost: relwatch\r\nContent-Type: application/json\r\nContent-Length: 500\r\n%s\r\n{\"action\"", sig))
	defer c.Close()
	if resp := answer(t, c); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a stalled body: %d", resp.StatusCode)
	}
	waitStats(t, f, "the slot given back", func(s routerlog.DrainStats) bool { return s.Reading == 0 && s.Buffered == 0 })
}

// A stranger cannot sign, but a well-formed signature is all it takes to
// have a notification's body read: 64 stalled ones took every request
// slot of the server, and Logplex's batches were refused (503) for as
// long as they were kept up. Notifications are read in slots of their
// own. A signed delivery taken once is not acted on again (a replay, or
// Heroku's retry of one whose answer it missed), and false signatures are
// logged once, not a line each.
func TestWebhooksHoldNoDrainOffAndTakeADeliveryOnce(t *testing.T) {
	f, rel := startWebhooks(t, routerlog.DrainLimits{BodyTimeout: time.Minute})
	const stalled = 64 // the default MaxRequests
	sig := webhook.SignatureHeader + ": " + webhook.Sign("not the secret at all", []byte("x")) + "\r\n"
	var conns []net.Conn
	for range stalled {
		conns = append(conns, send(t, f.addr, fmt.Sprintf("POST /webhooks/crates-io HTTP/1.1\r\nHost: relwatch\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n%s\r\n{", sig)))
	}
	waitStats(t, f, "every stalled notification read or refused", func(s routerlog.DrainStats) bool {
		return s.Reading+s.Busy+s.Webhook.Reading+s.Webhook.Busy == stalled
	})
	if code := f.realFrame(t, nil); code != http.StatusNoContent {
		t.Fatalf("a drain batch behind %d stalled notifications: %d", stalled, code)
	}
	// Meanwhile Heroku's own notifications wait (503): the release is
	// found by polling all the same. The strangers gone, they are taken.
	for _, c := range conns {
		c.Close()
	}
	waitStats(t, f, "the webhooks' slots given back", func(s routerlog.DrainStats) bool { return s.Webhook.Reading == 0 })

	body := `{"id":"5b7d3f6a-0c1e-4b8e-9a51-2f0a6d1c9e01","action":"update","resource":"release","data":{"app":{"name":"crates-io"},"version":42,"status":"succeeded"}}`
	for range 3 {
		if code := f.notify(t, "/webhooks/crates-io", body, webhook.Sign(webhookSecret, []byte(body))); code != http.StatusNoContent {
			t.Fatalf("a signed delivery: %d", code)
		}
	}
	if got := rel.String(); got != "crates-io update v42 succeeded" {
		t.Fatalf("one delivery three times reported %q", got)
	}
	// Counted as the webhooks' answers, none as the drains'.
	if st := f.srv.Stats(); st.Webhook.Taken != 1 || st.Webhook.Resent != 2 || st.Webhook.Busy != stalled-4 || st.Busy != 0 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

// False signatures are logged at most every RefusedLogEvery: a stranger
// posting them wrote a log line each.
func TestWebhooksLogFalseSignaturesOnce(t *testing.T) {
	var buf testenv.Buffer
	route, _ := routerlog.ParseRoute("/x")
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: routerlog.NewAggregator(route, time.Hour, 0), DrainCredentials: drainCreds}}, routerlog.DrainLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ServeWebhooks(routerlog.Webhooks{Secret: webhookSecret, Apps: map[string]bool{"crates-io": true}, Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		req := httptest.NewRequest("POST", "/webhooks/crates-io", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.SignatureHeader, webhook.Sign("a guess", []byte("{}")))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("a false signature: %d", rec.Code)
		}
	}
	if n := strings.Count(buf.String(), "webhook refused"); n != 1 {
		t.Fatalf("%d lines for 100 false signatures, want 1:\n%s", n, buf.String())
	}
}

// A notification without a length (chunked) that runs past 64 KiB is
// refused 413 once that much has arrived, the connection closed and the
// slot given back; one whose body is not JSON under a good signature is
// refused 400 and reports nothing.
func TestWebhooksRefuseAnOversizedChunkedBody(t *testing.T) {
	f, rel := startWebhooks(t, routerlog.DrainLimits{BodyTimeout: time.Minute})
	sig := webhook.SignatureHeader + ": " + webhook.Sign(webhookSecret, []byte("x")) + "\r\n"
	n := 65<<10 + 1
	c := send(t, f.addr, fmt.Sprintf("POST /webhooks/crates-io HTTP/1.1\r\nHost: relwatch\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n%s\r\n%x\r\n%s\r\n", sig, n, strings.Repeat("x", n)))
	defer c.Close()
	if resp := answer(t, c); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized chunked notification: %d", resp.StatusCode)
	}
	closedByServer(t, c)
	waitStats(t, f, "the slot given back", func(s routerlog.DrainStats) bool {
		return s.Webhook.Reading == 0 && s.Buffered == 0 && s.Webhook.TooLarge == 1
	})
	body := "not json at all"
	if code := f.notify(t, "/webhooks/crates-io", body, webhook.Sign(webhookSecret, []byte(body))); code != http.StatusBadRequest {
		t.Fatalf("a signed body that is not JSON: %d", code)
	}
	if got := rel.String(); got != "" {
		t.Fatalf("reported %q", got)
	}
}
