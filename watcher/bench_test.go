package watcher_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

// noisy is n seconds of a route at about rate requests a second (normal,
// Poisson's spread),
// an error in a thousand, 10% repeats and log-normal response times
// around 60 ms.
func noisy(rng *rand.Rand, n int, rate float64) []metrics.Point {
	pts := make([]metrics.Point, n)
	for i := range pts {
		req := int64(rate + math.Sqrt(rate)*rng.NormFloat64())
		req = max(0, req)
		h := new(metrics.Histogram)
		for range req {
			h.AddMillis(60*math.Exp(0.6*rng.NormFloat64()), 1)
		}
		pts[i] = metrics.Point{OK: true, Requests: req, Errors: req / 1000, Repeats: req / 10, Latency: h}
	}
	return pts
}

// BenchmarkTickRoutes is one tick of the watcher judging an app of m
// guarded routes with response times, 10 min into a 20 min watch against
// a 30 min baseline: the cost of a judgement per app per tick (each
// route's window sums, its latency quantiles, the reads from the source).
func BenchmarkTickRoutes(b *testing.B) {
	for _, m := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("routes=%d", m), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(m)))
			now := t0
			clock := func() time.Time { return now }
			fake := herokusim.New("tok", herokusim.WithClock(clock))
			b.Cleanup(fake.Close)
			fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: t0.Add(-time.Hour)})
			const n = 4200
			routes := map[string][]metrics.Point{}
			var names []string
			for i := range m {
				name := fmt.Sprintf("route-%02d", i)
				names = append(names, name)
				// Sizes from 500 req/s down by a third each: some routes thin.
				routes[name] = noisy(rng, n, 500*math.Pow(0.8, float64(i)))
			}
			client := heroku.New(fake.URL(), "tok")
			w := watcher.New(watcher.Config{
				Apps: []watcher.App{{Name: "crates-io", Route: names[0], Routes: names, Policy: watcher.Policy{
					WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, RestartGrace: 45 * time.Second, SettleGrace: 30 * time.Second,
					Thresholds: rigThresholds(),
				}, Source: series.New(series.Recording{Start: t0, Routes: routes}, clock)}},
				Heroku: client, Roller: &rollback.Roller{Heroku: client}, Notifier: &notify.Recorder{}, PollInterval: 5 * time.Second,
			})
			fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy 9f3c2e1", CreatedAt: t0.Add(1800 * time.Second)})
			ctx := context.Background()
			for s := 1790; s <= 2400; s += 5 {
				now = t0.Add(time.Duration(s) * time.Second)
				if err := w.Tick(ctx, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Tick(ctx, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
