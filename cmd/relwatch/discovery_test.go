package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

const hookSecret = "webhook-secret-0123456789"

// discoveryConfig is watchConfig's app, polled every 200 ms while
// something goes on and every hour when idle: only a push finds a release
// soon.
func discoveryConfig(t *testing.T, fakeURL string) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join(demoDir, "series.csv"))
	cfg := fmt.Sprintf(`
tick = "200ms"
[heroku]
api_url = %q
poll_interval = "200ms"
idle_poll_interval = "1h"
[[apps]]
name = "crates-io"
route = "download"
[apps.metrics]
source = "series"
path = %q
[[notifiers]]
type = "console"
`, fakeURL, abs)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// check says how each app's releases are found, refuses a webhook secret
// too short to trust without showing it, and asks Heroku whether a webhook
// subscription sends the app's releases to relwatch.
func TestCheckSaysHowReleasesAreFound(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	cfg := discoveryConfig(t, fake.URL())
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "")
	t.Setenv("RELWATCH_WEBHOOK_SECRET", "")
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "crates-io: releases polled every 200ms while something goes on, every 1h0m0s idle; no push") {
		t.Fatalf("without push: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("RELWATCH_WEBHOOK_SECRET", "short")
	code, out, _ = runMain(t, context.Background(), "check", "--config", cfg)
	if code != 2 || !strings.Contains(out, "FAIL RELWATCH_WEBHOOK_SECRET: 5 characters, want at least 16") || !strings.Contains(out, "webhooks need $PORT") || strings.Contains(out, "short\n") {
		t.Fatalf("a short secret, no $PORT: exit %d\n%s", code, out)
	}
	t.Setenv("RELWATCH_WEBHOOK_SECRET", hookSecret)
	t.Setenv("PORT", "5000")
	// No subscription sends the app's releases to relwatch yet: check
	// says so, and how to add one.
	code, out, _ = runMain(t, context.Background(), "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, "FAIL crates-io: no webhook subscription sends api:release to /webhooks/crates-io (0 subscription(s))") ||
		!strings.Contains(out, "heroku webhooks:add -a crates-io -i api:release -l notify -u https://<this app>/webhooks/crates-io") {
		t.Fatalf("with webhooks, none subscribed: exit %d\n%s", code, out)
	}
	// One elsewhere is not it; one to relwatch is.
	fake.AddWebhook("crates-io", "http://127.0.0.1:9/hooks/ci", "another-secret-entirely")
	fake.AddWebhook("crates-io", "http://127.0.0.1:9/webhooks/crates-io", hookSecret)
	code, out, _ = runMain(t, context.Background(), "check", "--config", cfg)
	for _, want := range []string{"webhooks: POST /webhooks/{app} on $PORT", "heroku webhooks:add -a APP -i api:release",
		"every 2h0m0s idle; pushed by webhooks at /webhooks/crates-io", "crates-io: webhook ok, api:release to http://127.0.0.1:9/webhooks/crates-io (level notify)"} {
		if code != 0 || !strings.Contains(out, want) || strings.Contains(out, hookSecret) {
			t.Fatalf("with webhooks: exit %d, want %q in\n%s", code, want, out)
		}
	}
}

// The worker takes Heroku's webhook for a new release and polls at once:
// with an idle interval of an hour, only the push can find it.
func TestWatchFindsReleasesByWebhook(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	port := freePort(t)
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("RELWATCH_WEBHOOK_SECRET", hookSecret)
	fake.AddWebhook("crates-io", fmt.Sprintf("http://127.0.0.1:%d/webhooks/crates-io", port), hookSecret)
	polls := func() (n int) {
		for _, r := range fake.Requests() {
			if r.Path == "/apps/crates-io/releases" {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"watch", "--config", discoveryConfig(t, fake.URL())}, &out, &errOut) }()
	stop := func() int { cancel(); return <-done }
	deadline := time.Now().Add(10 * time.Second)
	for polls() == 0 || !listening(port) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the worker never polled and listened\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := polls()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy b"}) // delivers the webhook
	if d := fake.Deliveries(); len(d) != 1 || d[0].Status != 204 {
		stop()
		t.Fatalf("deliveries %+v", d)
	}
	for polls() == before {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			stop()
			t.Fatalf("no poll after the webhook\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := stop(); code != 0 {
		t.Fatalf("watch exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "[watch.started] crates-io v42") || strings.Contains(out.String()+errOut.String(), hookSecret) {
		t.Fatalf("stdout:\n%s", out.String())
	}
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// An app read through a log session gets a second session, of the API's
// events (source app, dyno api): its "Release v42 created" line makes the
// worker poll at once, with an idle interval of an hour.
func TestWatchFindsReleasesInTheLogStream(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "")
	t.Setenv("RELWATCH_WEBHOOK_SECRET", "")
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
tick = "200ms"
[heroku]
api_url = %q
poll_interval = "200ms"
idle_poll_interval = "1h"
[[apps]]
name = "crates-io"
route = "GET /api/v1/crates/{crate}/{version}/download"
metrics = { source = "routerlog", via = "session" }
[[notifiers]]
type = "console"
`, fake.URL())), 0o644)
	polls := func() (n int) {
		for _, r := range fake.Requests() {
			if r.Path == "/apps/crates-io/releases" {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, []string{"watch", "--config", cfg}, &out, &errOut) }()
	stop := func() int { cancel(); return <-done }
	deadline := time.Now().Add(10 * time.Second)
	for polls() == 0 || fake.OpenLogStreams("crates-io") < 2 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no poll and two log streams\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var filters []string
	for _, s := range fake.LogSessions("crates-io") {
		filters = append(filters, fmt.Sprintf("%v/%v", s["source"], s["dyno"]))
	}
	if got := strings.Join(filters, " "); got != "heroku/router app/api" && got != "app/api heroku/router" {
		t.Fatalf("log sessions %s: want the router's and the API's", got)
	}
	before := polls()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy b"}) // writes "Release v42 created"
	for polls() == before {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			stop()
			t.Fatalf("no poll after the API event\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := stop(); code != 0 {
		t.Fatalf("watch exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "[watch.started] crates-io v42") {
		t.Fatalf("stdout:\n%s", out.String())
	}
}
