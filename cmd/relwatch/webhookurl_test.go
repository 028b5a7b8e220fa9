package main

import (
	"context"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// A webhook subscription's URL may hold credentials for what stands in
// front of relwatch (basic auth, a token in its query), as a drain's does:
// check says its scheme, host and path, never them.
func TestCheckSaysNoWebhookURLsCredentials(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	cfg := discoveryConfig(t, fake.URL())
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("PORT", "5000")
	t.Setenv("RELWATCH_WEBHOOK_SECRET", hookSecret)
	fake.AddWebhook("crates-io", "https://gate:hook-pw-9f2c1e@my-relwatch.herokuapp.com/webhooks/crates-io?key=hook-key-77ad0b", hookSecret)
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	if want := "crates-io: webhook ok, api:release to https://my-relwatch.herokuapp.com/webhooks/crates-io (level notify)"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	for _, secret := range []string{"hook-pw-9f2c1e", "hook-key-77ad0b"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("check shows the webhook URL's %q:\n%s%s", secret, out, errOut)
		}
	}
}
