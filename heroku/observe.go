package heroku

import (
	"net/http"
	"strings"
	"time"
)

// Observer is told of every exchange with the Platform API: relwatch's own
// numbers (package telemetry) count them. It is called from the request's
// goroutine, and must return at once.
type Observer interface {
	// HerokuExchange reports one request: its endpoint (Endpoint's short
	// fixed name, never an app's), Heroku's status (0: no answer came),
	// how long the answer's headers took, and the Ratelimit-Remaining it
	// carried (-1: none).
	HerokuExchange(endpoint string, status int, took time.Duration, remaining int)
}

// WithObserver has every exchange with the API reported to o.
func WithObserver(o Observer) Option { return func(opt *options) { opt.observer = o } }

// Endpoints are the names Endpoint gives requests: a fixed list, so that
// a metric labelled by endpoint has a bounded number of series.
var Endpoints = []string{"releases.list", "releases.info", "rollback", "log_sessions", "apps.info", "pipelines", "other"}

// Endpoint names the kind of Platform API call a request is, from its
// method and path, wherever the API's base URL puts its paths:
// releases.list (GET /apps/{app}/releases), releases.info, rollback (POST
// /apps/{app}/releases), log_sessions, apps.info, pipelines (pipelines,
// couplings, promotions), or other.
func Endpoint(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		rest := parts[i+1:]
		switch {
		case strings.HasPrefix(p, "pipeline"):
			return "pipelines"
		case p != "apps":
			continue
		case len(rest) == 1:
			return "apps.info"
		case len(rest) == 2 && rest[1] == "releases" && method == http.MethodPost:
			return "rollback"
		case len(rest) == 2 && rest[1] == "releases":
			return "releases.list"
		case len(rest) == 3 && rest[1] == "releases":
			return "releases.info"
		case len(rest) == 2 && rest[1] == "log-sessions":
			return "log_sessions"
		}
		return "other"
	}
	return "other"
}
