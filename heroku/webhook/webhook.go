// Package webhook reads Heroku app webhooks (Dev Center, "App Webhooks"):
// notifications Heroku POSTs when something happens to an app, signed with
// the subscription's secret. relwatch subscribes to api:release, the event
// of a release created (action "create") or whose status changed
// ("update"):
//
//	heroku webhooks:add -a APP -i api:release -l notify -u https://RELWATCH/webhooks/APP -s SECRET
//
// A notification is JSON (Dev Center, "Webhook Events"):
//
//	{"id": "...", "action": "create", "resource": "release",
//	 "actor": {"email": "...", "id": "..."},
//	 "data": {"app": {"id": "...", "name": "crates-io"}, "version": 42,
//	          "status": "pending", "description": "Deploy 3f1c2aa", "current": false, ...},
//	 "previous_data": {}, "version": "application/vnd.heroku+json; version=3",
//	 "created_at": "...", "updated_at": "...", "published_at": "...", "sequence": null,
//	 "webhook_metadata": {"attempt": {"id": "..."}, "delivery": {"id": "..."},
//	                      "event": {"id": "...", "include": "api:release"}, "webhook": {"id": "..."}}}
//
// and its Heroku-Webhook-Hmac-SHA256 header is the base64 HMAC-SHA256 of
// the body with the secret ("Securing webhook requests").
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// SignatureHeader carries the body's signature.
const SignatureHeader = "Heroku-Webhook-Hmac-SHA256"

// Sign returns the signature of body with secret, as Heroku sends it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's with secret, in time that does
// not depend on how much of it matches. An empty secret verifies nothing.
func Verify(secret string, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// WellFormedSignature reports whether signature can be a signature at all
// (base64 of 32 bytes): a request without one is refused before its body
// is read.
func WellFormedSignature(signature string) bool {
	got, err := base64.StdEncoding.DecodeString(signature)
	return err == nil && len(got) == sha256.Size
}

// Event is what relwatch reads of a notification.
type Event struct {
	ID       string // the event's id (webhook_metadata.event.id, else id)
	Include  string // the subscription's entity, "api:release"
	Resource string // "release"
	Action   string // "create", "update"
	App      string // data.app.name
	AppID    string // data.app.id
	// For a release: its version, status and description.
	Version     int
	Status      string
	Description string
}

// Release reports whether the event is about a release.
func (e Event) Release() bool { return e.Resource == "release" }

// ErrNotNotification is a body that is not a Heroku webhook notification.
var ErrNotNotification = errors.New("not a Heroku webhook notification")

// Parse reads a notification's body. Verify it first: Parse trusts it.
func Parse(body []byte) (Event, error) {
	var n struct {
		ID       string          `json:"id"`
		Action   string          `json:"action"`
		Resource string          `json:"resource"`
		Data     json.RawMessage `json:"data"`
		Meta     struct {
			Event struct {
				ID      string `json:"id"`
				Include string `json:"include"`
			} `json:"event"`
		} `json:"webhook_metadata"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrNotNotification, err)
	}
	if n.Resource == "" || n.Action == "" {
		return Event{}, fmt.Errorf("%w: no resource or action", ErrNotNotification)
	}
	ev := Event{ID: n.Meta.Event.ID, Include: n.Meta.Event.Include, Resource: n.Resource, Action: n.Action}
	if ev.ID == "" {
		ev.ID = n.ID
	}
	if len(n.Data) > 0 && string(n.Data) != "null" {
		var d struct {
			App struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"app"`
			Version     int     `json:"version"`
			Status      string  `json:"status"`
			Description *string `json:"description"`
		}
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return Event{}, fmt.Errorf("%w: data: %w", ErrNotNotification, err)
		}
		ev.App, ev.AppID = d.App.Name, d.App.ID
		if ev.Release() {
			ev.Version, ev.Status = d.Version, d.Status
			if d.Description != nil {
				ev.Description = *d.Description
			}
		}
	}
	return ev, nil
}
