package series

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// BenchmarkCountsDenseHour reads what a watcher tick reads from a dense
// recording: the 30 min baseline and the 20 min since the release, out of
// one hour of seconds with data.
func BenchmarkCountsDenseHour(b *testing.B) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pts := make([]metrics.Point, 3600)
	for i := range pts {
		pts[i] = metrics.Point{OK: true, Requests: int64(i % 97)}
	}
	now := start.Add(3600 * time.Second)
	src := New(Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, func() time.Time { return now })
	release := start.Add(40 * time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Counts(ctx, "download", release.Add(-30*time.Minute), release); err != nil {
			b.Fatal(err)
		}
		if _, err := src.Counts(ctx, "download", release, release.Add(20*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountsDenseHourLatency is BenchmarkCountsDenseHour with a
// latency histogram in every second, which Counts copies for the caller.
func BenchmarkCountsDenseHourLatency(b *testing.B) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pts := make([]metrics.Point, 3600)
	for i := range pts {
		var h metrics.Histogram
		h.AddMillis(float64(i%200), uint32(i%97))
		pts[i] = metrics.Point{OK: true, Requests: int64(i % 97), Latency: &h}
	}
	now := start.Add(3600 * time.Second)
	src := New(Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, func() time.Time { return now })
	release := start.Add(40 * time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Counts(ctx, "download", release.Add(-30*time.Minute), release); err != nil {
			b.Fatal(err)
		}
		if _, err := src.Counts(ctx, "download", release, release.Add(20*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDemo parses the demo's series.csv (two routes, an hour).
func BenchmarkParseDemo(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cmd", "relwatch", "demodata", "crates-io-2023-07-20", "series.csv"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(raw), 3600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDemoLatency parses the demo's series.csv with a latency
// field of three buckets added to every row (every row has 3 requests or
// more).
func BenchmarkParseDemoLatency(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cmd", "relwatch", "demodata", "crates-io-2023-07-20", "series.csv"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(raw), "\r", "")), "\n")
	var withLatency strings.Builder
	withLatency.WriteString(HeaderLatency + "\n")
	for _, l := range lines[1:] {
		withLatency.WriteString(l + ",0:1;14:1;17:1\n")
	}
	in := []byte(withLatency.String())
	if _, err := Parse(bytes.NewReader(in), 3600); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(in), 3600); err != nil {
			b.Fatal(err)
		}
	}
}
