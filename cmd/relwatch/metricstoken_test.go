package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/relwatch/relwatch/telemetry"
)

// RELWATCH_METRICS_TOKEN set from a file or pasted with its newline was
// asked for with the newline, which no Authorization header can carry
// (Prometheus trims its credentials_file): every scrape was refused 401.
// It is trimmed, as the other tokens are.
func TestMetricsTokenIsTrimmedAsTheOtherTokens(t *testing.T) {
	t.Setenv("DYNO", "")
	t.Setenv(metricsTokenVar, " m3trics\n")
	h := metricsHandler(telemetry.New(telemetry.Options{Logger: slog.New(slog.DiscardHandler), Source: "test"}), slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		auth string
		want int
	}{{"Bearer m3trics", http.StatusOK}, {"", http.StatusUnauthorized}, {"Bearer m3tric", http.StatusUnauthorized}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.auth, rec.Code, c.want)
		}
	}
}
