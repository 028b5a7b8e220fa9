package herokusim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/relwatch/relwatch/heroku/webhook"
)

// App webhooks, as Heroku delivers them (Dev Center, "App Webhooks" and
// "Webhook Events"): a subscription to api:release gets a POST of JSON for
// each release created ("create") and each release whose status changed
// ("update": its release phase ended), signed in Heroku-Webhook-Hmac-SHA256
// (the base64 HMAC-SHA256 of the body with the subscription's secret). The
// simulator delivers at level "notify": one attempt, its outcome kept.

type webhookSub struct {
	id, url, secret string
	created         time.Time
}

// Delivery is one notification the simulator delivered.
type Delivery struct {
	App, Action string
	Version     int
	Status      int   // the answer's status (0: none)
	Err         error // why there was no answer
}

// AddWebhook subscribes url to app's api:release notifications, signed with
// secret, as `heroku webhooks:add -a APP -i api:release -l notify -u URL -s
// SECRET` does.
func (s *Server) AddWebhook(appName, url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhooks == nil {
		s.webhooks = map[string][]webhookSub{}
	}
	s.seq++
	s.webhooks[appName] = append(s.webhooks[appName], webhookSub{id: uuidFrom("webhook", appName, s.seq), url: url, secret: secret, created: s.now()})
}

// listWebhooks serves GET /apps/{app}/webhooks: the app's subscriptions as
// the schema's app-webhook (the secret is never shown).
func (s *Server) listWebhooks(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	out := []map[string]any{}
	for _, sub := range s.webhooks[a.name] {
		out = append(out, map[string]any{
			"app": map[string]any{"id": a.id, "name": a.name}, "id": sub.id, "include": []string{"api:release"}, "level": "notify",
			"url": sub.url, "created_at": stamp(sub.created), "updated_at": stamp(sub.created),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// logDrain is a log drain of an app: Heroku sends the app's log lines
// to url (the simulator sends none: tests post to a drain themselves).
type logDrain struct {
	id, url, token string
	created        time.Time
}

// AddLogDrain adds a log drain to url on app, as `heroku drains:add URL -a
// APP` does, and returns the drain's token (what `heroku drains` shows, and
// Logplex sends as Logplex-Drain-Token).
func (s *Server) AddLogDrain(appName, url string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drains == nil {
		s.drains = map[string][]logDrain{}
	}
	s.seq++
	d := logDrain{id: uuidFrom("drain", appName, s.seq), url: url,
		token: fmt.Sprintf("d.%s", uuidFrom("drain-token", appName, s.seq)), created: s.now()}
	s.drains[appName] = append(s.drains[appName], d)
	return d.token
}

// listLogDrains serves GET /apps/{app}/log-drains: the app's drains as the
// schema's log-drain (addon null: none made by an add-on).
func (s *Server) listLogDrains(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	out := []map[string]any{}
	for _, d := range s.drains[a.name] {
		out = append(out, map[string]any{"addon": nil, "id": d.id, "token": d.token,
			"url": d.url, "created_at": stamp(d.created), "updated_at": stamp(d.created)})
	}
	writeJSON(w, http.StatusOK, out)
}

// Deliveries returns the notifications delivered so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// notificationLocked is the api:release notification of r's action at t.
func (s *Server) notificationLocked(a *app, r *release, action string, t time.Time) map[string]any {
	rel := r.at(t)
	for _, v := range s.visibleLocked(a, t) {
		if v.Version == rel.Version {
			rel.Current = v.Current
		}
	}
	s.seq++
	id := uuidFrom("event", a.name, s.seq)
	previous := map[string]any{}
	if action == "update" {
		previous["status"] = "pending"
	}
	return map[string]any{
		"id": id, "action": action, "resource": "release",
		"actor":      map[string]string{"email": rel.User, "id": userID(rel.User)},
		"created_at": stamp(t), "updated_at": stamp(t), "published_at": stamp(t),
		"data": wireRelease(a, rel), "previous_data": previous,
		"sequence": nil, "version": "application/vnd.heroku+json; version=3",
		"webhook_metadata": map[string]any{
			"attempt":  map[string]string{"id": uuidFrom("attempt", a.name, s.seq)},
			"delivery": map[string]string{"id": uuidFrom("delivery", a.name, s.seq)},
			"event":    map[string]string{"id": id, "include": "api:release"},
		},
	}
}

// deliver POSTs each notification to each of the app's subscriptions.
func (s *Server) deliver(appName string, notes []map[string]any) {
	if len(notes) == 0 {
		return
	}
	s.mu.Lock()
	subs := append([]webhookSub(nil), s.webhooks[appName]...)
	s.mu.Unlock()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, sub := range subs {
		for _, n := range notes {
			n["webhook_metadata"].(map[string]any)["webhook"] = map[string]string{"id": sub.id}
			body, _ := json.Marshal(n)
			d := Delivery{App: appName, Action: n["action"].(string), Version: n["data"].(map[string]any)["version"].(int)}
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, sub.url, bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(webhook.SignatureHeader, webhook.Sign(sub.secret, body))
				var resp *http.Response
				if resp, err = client.Do(req); err == nil {
					d.Status = resp.StatusCode
					resp.Body.Close()
				}
			}
			d.Err = err
			s.mu.Lock()
			s.deliveries = append(s.deliveries, d)
			s.mu.Unlock()
		}
	}
}
