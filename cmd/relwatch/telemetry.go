package main

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/relwatch/relwatch/telemetry"
)

// metricsTokenVar, when set, is the bearer token /metrics asks for.
const metricsTokenVar = "RELWATCH_METRICS_TOKEN"

// dynoName is the source= of the worker's own log metrics: the dyno
// (worker.1) on Heroku, as Heroku's runtime metrics name it, else the host.
func dynoName() string {
	if d := os.Getenv("DYNO"); d != "" {
		return d
	}
	name, _ := os.Hostname()
	return name
}

// metricsHandler is /metrics as the worker serves it on $PORT, or nil when
// it is not served. /metrics tells the watched apps' names and their
// traffic (request rates, error shares): with RELWATCH_METRICS_TOKEN set it
// is served to a bearer of that token only; without, to anyone, except on
// a dyno, where $PORT is the open internet (a web dyno's
// https://APP.herokuapp.com): there it is not served until a token is set.
func metricsHandler(tel *telemetry.Telemetry, logger *slog.Logger) http.Handler {
	// Without the whitespace around it, as the other tokens: Prometheus
	// sends its credentials_file trimmed, and a header cannot carry a
	// newline.
	token, err := credential(metricsTokenVar, os.Getenv)
	switch {
	case err != nil:
		logger.Warn("not serving /metrics", "err", err)
		return nil
	case token != "":
		logger.Info("serving Prometheus /metrics on $PORT to a bearer of RELWATCH_METRICS_TOKEN")
	case os.Getenv("DYNO") != "":
		logger.Warn("not serving /metrics: on a dyno $PORT is public, and /metrics tells the apps' names and traffic; set RELWATCH_METRICS_TOKEN to serve it to a bearer of that token")
		return nil
	default:
		logger.Info("serving Prometheus /metrics on $PORT without credentials (set RELWATCH_METRICS_TOKEN to ask for a bearer token)")
	}
	return tel.Handler(token)
}
