package webhook_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/heroku/webhook"
)

// Heroku's own example of an api:release update (Dev Center, "Webhook
// Events"), and a create as relwatch's simulator sends it.
const releaseUpdate = `{
  "action": "update",
  "actor": {"email": "user-0008@example.com", "id": "125f0179-2fc8-4833-9e20-6e9314f2b233"},
  "created_at": "2016-05-10T07:30:32Z",
  "id": "4273290b-193c-42fa-8931-7f2c92c5b28f",
  "data": {
    "app": {"id": "61cfe066-573f-45b4-a566-138323880eeb", "name": "sample-app-0008"},
    "created_at": "2016-05-10T07:30:32Z",
    "description": null,
    "status": "failed",
    "id": "ddc2fba2-b2ad-41f5-bf7c-6e9b4614a53b",
    "slug": null,
    "updated_at": "2016-05-10T07:30:32Z",
    "user": {"email": "user-0008@example.com", "id": "125f0179-2fc8-4833-9e20-6e9314f2b233"},
    "version": 1
  },
  "previous_data": {"status": null},
  "published_at": null,
  "resource": "release",
  "sequence": null,
  "updated_at": "2016-05-10T07:30:32Z",
  "version": "application/vnd.heroku+json; version=3",
  "webhook_metadata": {
    "attempt": {"id": "8a44f820-2354-489d-9a11-a793cbf49979"},
    "delivery": {"id": "d244009a-670f-4340-88e9-789a4f9002d5"},
    "event": {"id": "4273290b-193c-42fa-8931-7f2c92c5b28f", "include": "api:release"},
    "webhook": {"id": "b54e6a7e-d162-4bd7-ab42-1011582c19cc"}
  }
}`

const attachment = `{"action": "create", "id": "7846bee9-b017-4492-9bed-34cd8327e71d", "resource": "addon-attachment",
  "data": {"app": {"id": "d2f24bd2-399a-4868-9467-bc0ba2411cc2", "name": "sample-app-0084"}, "name": "DATABASE"},
  "webhook_metadata": {"event": {"id": "7846bee9-b017-4492-9bed-34cd8327e71d", "include": "api:addon-attachment"}}}`

func TestParse(t *testing.T) {
	ev, err := webhook.Parse([]byte(releaseUpdate))
	if err != nil || !ev.Release() || ev.Action != "update" || ev.App != "sample-app-0008" || ev.Version != 1 || ev.Status != "failed" ||
		ev.Description != "" || ev.Include != "api:release" || ev.ID != "4273290b-193c-42fa-8931-7f2c92c5b28f" {
		t.Fatalf("release update: %+v, %v", ev, err)
	}
	ev, err = webhook.Parse([]byte(`{"action":"create","resource":"release","data":{"app":{"name":"crates-io"},"version":42,"status":"pending","description":"Deploy 3f1c2aa"}}`))
	if err != nil || ev.Version != 42 || ev.Status != "pending" || ev.Description != "Deploy 3f1c2aa" || ev.App != "crates-io" {
		t.Fatalf("release create: %+v, %v", ev, err)
	}
	ev, err = webhook.Parse([]byte(attachment))
	if err != nil || ev.Release() || ev.App != "sample-app-0084" || ev.Version != 0 {
		t.Fatalf("attachment: %+v, %v", ev, err)
	}
	// The event's id is the metadata's; the notification's own id only
	// stands in where there is none. A notification without data is an
	// event of no app, not an error.
	ev, err = webhook.Parse([]byte(`{"action":"create","resource":"release","id":"notification-1","data":{"app":{"name":"crates-io"},"version":7},
		"webhook_metadata":{"event":{"id":"event-9","include":"api:release"}}}`))
	if err != nil || ev.ID != "event-9" {
		t.Fatalf("an event id in the metadata: %+v, %v; want event-9", ev, err)
	}
	ev, err = webhook.Parse([]byte(`{"action":"create","resource":"release","id":"notification-1","data":{"app":{"name":"crates-io"},"version":7}}`))
	if err != nil || ev.ID != "notification-1" {
		t.Fatalf("no metadata: %+v, %v; want the notification's id", ev, err)
	}
	ev, err = webhook.Parse([]byte(`{"action":"destroy","resource":"release","id":"notification-2"}`))
	if err != nil || ev.App != "" || ev.Version != 0 || ev.ID != "notification-2" {
		t.Fatalf("no data: %+v, %v", ev, err)
	}
	for _, bad := range []string{"", "null", "[]", `{"resource": "release"}`, `{"action": "create", "resource": "release", "data": {"version": "42"}}`, "<html>"} {
		if _, err := webhook.Parse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(releaseUpdate)
	sig := webhook.Sign("s3cret-s3cret-s3cret", body)
	// As Heroku's documentation computes it: base64 of the HMAC-SHA256
	// (here by openssl dgst -binary -sha256 -hmac SECRET | base64).
	if got := webhook.Sign("s3cret-s3cret-s3cret", []byte(`{"action":"create","resource":"release"}`)); got != "mwbHHmdhuLwWzPnd2RYRsPqf+pNtE0A1jyuX+WJC9yg=" {
		t.Fatalf("signature %q, openssl says mwbHHmdhuLwWzPnd2RYRsPqf+pNtE0A1jyuX+WJC9yg=", got)
	}
	if !webhook.Verify("s3cret-s3cret-s3cret", body, sig) || !webhook.WellFormedSignature(sig) {
		t.Fatal("a good signature refused")
	}
	tampered := []byte(strings.Replace(releaseUpdate, "failed", "succeeded", 1))
	for name, ok := range map[string]bool{
		"wrong secret":   webhook.Verify("another-secret-entirely", body, sig),
		"tampered body":  webhook.Verify("s3cret-s3cret-s3cret", tampered, sig),
		"empty secret":   webhook.Verify("", body, webhook.Sign("", body)),
		"not base64":     webhook.Verify("s3cret-s3cret-s3cret", body, "not base64!"),
		"hex, not b64":   webhook.Verify("s3cret-s3cret-s3cret", body, strings.Repeat("ab", 32)),
		"empty":          webhook.Verify("s3cret-s3cret-s3cret", body, ""),
		"well-formed ''": webhook.WellFormedSignature(""),
		"last byte off":  webhook.Verify("s3cret-s3cret-s3cret", body, flip(sig, sha256.Size-1)),
		"first byte off": webhook.Verify("s3cret-s3cret-s3cret", body, flip(sig, 0)),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(releaseUpdate))
	f.Add([]byte(attachment))
	f.Add([]byte(`{"action":"create","resource":"release","data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := webhook.Parse(b)
		if err == nil && (ev.Resource == "" || ev.Action == "") {
			t.Fatalf("parsed without resource or action: %+v", ev)
		}
		if err != nil && ev != (webhook.Event{}) {
			t.Fatalf("an error and an event: %+v", ev)
		}
	})
}

// flip returns the base64 signature sig with byte i of what it encodes
// changed: every byte of it must be checked, not a prefix.
func flip(sig string, i int) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		panic(err)
	}
	raw[i] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}
