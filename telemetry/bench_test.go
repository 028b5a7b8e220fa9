package telemetry_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// BenchmarkHerokuExchange is what counting one request to Heroku costs the
// client's transport.
func BenchmarkHerokuExchange(b *testing.B) {
	tel := telemetry.New(telemetry.Options{})
	b.ReportAllocs()
	for b.Loop() {
		tel.HerokuExchange("releases.list", 304, 80*time.Millisecond, 4321)
	}
}

// openWatches is n apps under watch, each with four judged signals.
func openWatches(n int) []watcher.Watch {
	var out []watcher.Watch
	for i := range n {
		out = append(out, watchOf(fmt.Sprintf("app-%03d", i), 42,
			analysis.Finding{Signal: analysis.ErrorShare, Mode: analysis.Relative, Baseline: 0.001, Current: 0.002},
			analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Baseline: 0.15, Current: 0.2},
			analysis.Finding{Signal: analysis.RateCollapse, Mode: analysis.Relative, Baseline: 1000, Current: 990},
			analysis.Finding{Signal: analysis.RateRise, Mode: analysis.Relative, Baseline: 1200, Current: 1300}))
	}
	return out
}

// BenchmarkAfterTick200 is the telemetry's part of a tick with 200 apps
// under watch: their signal gauges set (no log line: the minute has not
// passed).
func BenchmarkAfterTick200(b *testing.B) {
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: time.Hour})
	open := openWatches(200)
	now := time.Now()
	tel.AfterTick(now, open)
	b.ReportAllocs()
	for b.Loop() {
		tel.AfterTick(now, open)
	}
}

// BenchmarkFlush200 writes the sample lines of 200 apps under watch (once
// a minute).
func BenchmarkFlush200(b *testing.B) {
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: time.Hour})
	tel.AfterTick(time.Now(), openWatches(200))
	b.ReportAllocs()
	for b.Loop() {
		tel.Flush(time.Now())
	}
}

// BenchmarkScrape200 is one Prometheus scrape of /metrics with 200 apps
// under watch.
func BenchmarkScrape200(b *testing.B) {
	tel := telemetry.New(telemetry.Options{})
	tel.AfterTick(time.Now(), openWatches(200))
	tel.Chat("slack")
	h := tel.Handler("")
	b.ReportAllocs()
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}
