package routerlog

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/relwatch/relwatch/heroku/webhook"
)

// EnvWebhookSecret holds the secret of relwatch's Heroku app webhooks.
const EnvWebhookSecret = "RELWATCH_WEBHOOK_SECRET"

// MinWebhookSecret is the shortest secret taken: a short one could be
// guessed from a few signed notifications.
const MinWebhookSecret = 16

// maxWebhookBody bounds a notification: Heroku's api:release ones are 2-3
// KB.
const maxWebhookBody = 64 << 10

// maxWebhookReads is how many notifications are read at once, in slots of
// their own (the drains' are theirs): Heroku sends one a release.
const maxWebhookReads = 4

// Webhooks receives Heroku app webhooks (api:release) at POST
// /webhooks/{app} on the drains' listener, under the drain server's
// limits. Each request is judged before its body is read — the app must
// be one of Apps (404), the request a POST (405) of JSON (415) no larger
// than 64 KiB (413), with a Heroku-Webhook-Hmac-SHA256 header that can be
// a signature (401) — then needs one of the webhooks' own request slots
// (503; the drains' are theirs, so a stranger's false signatures cannot
// hold Logplex's batches off); its body must arrive within the body
// timeout and the server's byte budget (503), and its signature must be
// the body's with Secret, compared in constant time (401, logged at most
// every RefusedLogEvery), before a byte of it is parsed. A notification
// for another app than the path's is refused (400); one of another entity
// than a release is taken and ignored (204), and so is one whose delivery
// id was taken lately (a replay).
type Webhooks struct {
	Secret string
	Apps   map[string]bool
	// OnRelease is called with each release notification taken. It must not
	// block.
	OnRelease func(app string, ev webhook.Event)
	Logger    *slog.Logger
}

// Check says whether the webhooks can tell Heroku from a stranger.
func (wh Webhooks) Check() error {
	switch {
	case wh.Secret == "":
		return fmt.Errorf("webhooks need %s: the secret of the subscriptions (heroku webhooks:add ... -s SECRET), or anyone could post releases", EnvWebhookSecret)
	case len(wh.Secret) < MinWebhookSecret:
		return fmt.Errorf("%s: %d characters, want at least %d", EnvWebhookSecret, len(wh.Secret), MinWebhookSecret)
	}
	return nil
}

// ServeWebhooks serves wh beside the drains. Call it before Serve.
func (s *DrainServer) ServeWebhooks(wh Webhooks) error {
	if err := wh.Check(); err != nil {
		return err
	}
	if wh.Logger == nil {
		wh.Logger = s.logger
	}
	s.Handle("/webhooks/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveWebhook(&wh, w, r) }))
	return nil
}

func (s *DrainServer) serveWebhook(wh *Webhooks, w http.ResponseWriter, r *http.Request) {
	app := strings.TrimPrefix(r.URL.Path, "/webhooks/")
	if !wh.Apps[app] {
		s.refuse(w, http.StatusNotFound, "no webhooks for that app here", &s.hook.unknownApp)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, http.StatusMethodNotAllowed, "webhooks POST", &s.hook.notANotification)
		return
	}
	if !webhook.WellFormedSignature(r.Header.Get(webhook.SignatureHeader)) {
		s.refuse(w, http.StatusUnauthorized, "no "+webhook.SignatureHeader, &s.hook.refused)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.refuse(w, http.StatusUnsupportedMediaType, "want Content-Type application/json", &s.hook.notANotification)
		return
	}
	body, finish, ok := s.readBody(w, r, s.webhookSlots, bodyCounts{&s.hook.tooLarge, &s.hook.busy, &s.hook.busy, &s.hook.readFailed}, maxWebhookBody, "notification", nil)
	if !ok {
		return
	}
	defer finish()
	if !webhook.Verify(wh.Secret, body, r.Header.Get(webhook.SignatureHeader)) {
		if s.webhookRefusedSaid.due(time.Now(), RefusedLogEvery) {
			wh.Logger.Warn("webhook refused: its signature is not the body's with "+EnvWebhookSecret+" (said at most every "+RefusedLogEvery.String()+"; a wrong secret refuses every delivery of Heroku's)", "app", app)
		}
		s.refuse(w, http.StatusUnauthorized, "bad signature", &s.hook.refused)
		return
	}
	ev, err := webhook.Parse(body)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, err.Error(), &s.hook.notANotification)
		return
	}
	if ev.App != "" && ev.App != app {
		s.refuse(w, http.StatusBadRequest, fmt.Sprintf("a notification for %q posted for %q", ev.App, app), &s.hook.notANotification)
		return
	}
	if !s.webhookIDs.first(ev.ID) {
		// Heroku's retry of a delivery whose answer it missed, or a replay
		// of a signed one: taken already.
		s.hook.resent.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.hook.taken.Add(1)
	if ev.Release() && wh.OnRelease != nil {
		wh.OnRelease(app, ev)
	}
	w.WriteHeader(http.StatusNoContent)
}
