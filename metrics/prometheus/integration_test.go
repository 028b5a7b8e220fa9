package prometheus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

// testApp is a small registry front end: /download?app=NAME answers 302,
// or 500 for two requests in five once NAME is bad, and counts requests in
// http_requests_total{app, route, status} for Prometheus to scrape. It
// says it took 400 ms for one request in five and 40 ms for the others, in
// http_request_duration_seconds{app, route} (client_golang's default
// buckets, 5 ms to 10 s).
type testApp struct {
	srv      *httptest.Server
	bad      sync.Map
	n        atomic.Int64
	served   atomic.Int64
	counter  *promclient.CounterVec
	duration *promclient.HistogramVec
}

func newTestApp(t *testing.T) *testApp {
	reg := promclient.NewRegistry()
	a := &testApp{
		counter:  promclient.NewCounterVec(promclient.CounterOpts{Name: "http_requests_total", Help: "requests"}, []string{"app", "route", "status"}),
		duration: promclient.NewHistogramVec(promclient.HistogramOpts{Name: "http_request_duration_seconds", Help: "response times", Buckets: promclient.DefBuckets}, []string{"app", "route"}),
	}
	reg.MustRegister(a.counter, a.duration)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		app := r.URL.Query().Get("app")
		status := http.StatusFound
		if _, bad := a.bad.Load(app); bad && a.n.Add(1)%5 < 2 {
			status = http.StatusInternalServerError
		}
		took := 0.040
		if a.served.Add(1)%5 == 0 {
			took = 0.400
		}
		a.duration.WithLabelValues(app, "download").Observe(took)
		a.counter.WithLabelValues(app, "download", fmt.Sprint(status)).Inc()
		if status == http.StatusFound {
			w.Header().Set("Location", "https://static.example/x")
		}
		w.WriteHeader(status)
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// load sends about perSecond requests a second for each app until ctx ends.
func (a *testApp) load(ctx context.Context, apps []string, perSecond int) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 2 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, app := range apps {
			resp, err := client.Get(a.srv.URL + "/download?app=" + app)
			if err == nil {
				resp.Body.Close()
			}
		}
	}
}

// scrapedBy points the real Prometheus at the test app (file-based
// discovery) until the test ends.
func (a *testApp) scrapedBy(t *testing.T, sdDir string) {
	target, _ := json.Marshal([]map[string]any{{"targets": []string{strings.TrimPrefix(a.srv.URL, "http://")}}})
	name := fmt.Sprintf("t-%d-%s.json", os.Getpid(), strings.TrimPrefix(a.srv.URL, "http://127.0.0.1:"))
	tmp, final := filepath.Join(sdDir, "."+name), filepath.Join(sdDir, name)
	if err := os.WriteFile(tmp, target, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(final) })
}

// scraped reports whether src's requests query has data now.
func scraped(ctx context.Context, src *prometheus.Source) bool {
	_, err := src.Check(ctx, "download", time.Now())
	return err == nil
}

func TestIntegrationWatcherPrometheus(t *testing.T) {
	promURL, sdDir := testenv.Required(t, "RELWATCH_PROMETHEUS_URL"), testenv.Required(t, "RELWATCH_PROMETHEUS_SD_DIR")
	app := newTestApp(t)
	good, bad := fmt.Sprintf("good-%d", time.Now().UnixNano()), fmt.Sprintf("bad-%d", time.Now().UnixNano())
	app.scrapedBy(t, sdDir)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go app.load(loadCtx, []string{good, bad}, 40)

	src := func(name string) *prometheus.Source {
		s, err := prometheus.New(promURL, name, prometheus.Queries{}, prometheus.Options{Step: 2 * time.Second, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deadline := time.Now().Add(60 * time.Second)
	for !scraped(ctx, src(good)) {
		if time.Now().After(deadline) {
			t.Fatal("Prometheus never scraped the test app")
		}
		time.Sleep(time.Second)
	}
	time.Sleep(40 * time.Second) // a baseline

	fake := herokusim.New("tok")
	defer fake.Close()
	now := time.Now()
	for _, name := range []string{good, bad} {
		fake.AddRelease(name, herokusim.ReleaseSpec{Version: 1, Description: "Deploy old", CreatedAt: now.Add(-time.Hour)})
		fake.AddRelease(name, herokusim.ReleaseSpec{Version: 2, Description: "Deploy new", CreatedAt: now})
	}
	app.bad.Store(bad, true)

	th := analysis.DefaultThresholds()
	th.Sustain, th.MinBaseline, th.MaxWindow = 10*time.Second, 20*time.Second, time.Minute
	policy := watcher.Policy{WatchFor: 45 * time.Second, Baseline: 35 * time.Second, RestartGrace: 4 * time.Second,
		SettleGrace: 4 * time.Second, AutoRollback: true, Thresholds: th}
	client := heroku.New(fake.URL(), "tok")
	rec := &notify.Recorder{}
	w := watcher.New(watcher.Config{
		Apps: []watcher.App{
			{Name: good, Route: "download", Policy: policy, Source: src(good)},
			{Name: bad, Route: "download", Policy: policy, Source: src(bad)},
		},
		Heroku: client, Roller: &rollback.Roller{Heroku: client}, Notifier: rec, PollInterval: time.Second,
	})
	var rolledAt time.Time
	for time.Since(now) < 55*time.Second {
		if err := w.Tick(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if rolledAt.IsZero() && len(fake.Releases(bad)) == 3 {
			rolledAt = time.Now()
		}
		time.Sleep(time.Second)
	}
	var kinds []string
	for _, e := range rec.Events() {
		kinds = append(kinds, fmt.Sprintf("%s v%d %s", e.App, e.Release, e.Kind))
	}
	badRels, goodRels := fake.Releases(bad), fake.Releases(good)
	if len(badRels) != 3 || badRels[2].Description != "Rollback to v1" {
		t.Fatalf("the bad release was not rolled back once: %+v\nevents %v", badRels, kinds)
	}
	if len(goodRels) != 2 {
		t.Fatalf("the good release was rolled back: %+v\nevents %v", goodRels, kinds)
	}
	healthy := false
	for _, e := range rec.Events() {
		healthy = healthy || (e.App == good && e.Kind == notify.WatchHealthy)
	}
	if !healthy {
		t.Fatalf("the good release's watch did not end healthy: %v", kinds)
	}
	t.Logf("rolled back %s after the bad traffic began; events %v", rolledAt.Sub(now).Round(time.Second), kinds)
}

// A real histogram, scraped by a real Prometheus, read back through the
// source with DefaultLatency: every second with requests has a histogram,
// the window holds as many responses as requests, and its median and p95
// are the 40 ms and 400 ms the app measured, to within the Prometheus
// bucket holding them (25-50 ms, 250-500 ms) and one relwatch bucket (√2).
func TestIntegrationPrometheusLatency(t *testing.T) {
	promURL, sdDir := testenv.Required(t, "RELWATCH_PROMETHEUS_URL"), testenv.Required(t, "RELWATCH_PROMETHEUS_SD_DIR")
	app := newTestApp(t)
	name := fmt.Sprintf("lat-%d", time.Now().UnixNano())
	app.scrapedBy(t, sdDir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go app.load(ctx, []string{name}, 40)

	src, err := prometheus.New(promURL, name, prometheus.Queries{Latency: prometheus.DefaultLatency}, prometheus.Options{Step: 2 * time.Second, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !scraped(ctx, src) {
		if time.Now().After(deadline) {
			t.Fatal("Prometheus never scraped the test app")
		}
		time.Sleep(time.Second)
	}
	time.Sleep(25 * time.Second)

	to := time.Now().Add(-3 * time.Second).Truncate(time.Second)
	s, err := src.Counts(ctx, "download", to.Add(-20*time.Second), to)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasLatency {
		t.Fatal("HasLatency false with a latency query")
	}
	var window metrics.Histogram
	var requests int64
	var seconds, withLatency int
	for i, p := range s.Points {
		if !p.OK {
			continue
		}
		seconds++
		requests += p.Requests
		if p.Latency == nil {
			t.Errorf("second %d: %d requests and no latency", i, p.Requests)
			continue
		}
		withLatency++
		window.Merge(p.Latency)
	}
	if seconds < 15 {
		t.Fatalf("only %d of 20 seconds have data", seconds)
	}
	// The same scrapes count both; a scrape between the handler's two
	// counts may set them one apart.
	if d := window.Count() - requests; requests < 400 || d < -5 || d > 5 {
		t.Errorf("the histogram holds %d responses, the counter %d requests", window.Count(), requests)
	}
	for _, c := range []struct {
		q      float64
		lo, hi float64 // ms: the Prometheus bucket holding the true quantile
	}{{0.5, 25, 50}, {0.95, 250, 500}} {
		got := float64(window.Quantile(c.q)) / float64(time.Millisecond)
		if got < c.lo/math.Sqrt2 || got > c.hi*math.Sqrt2 {
			t.Errorf("p%g %.1f ms, want (%g, %g] ms give or take √2", 100*c.q, got, c.lo, c.hi)
		}
		t.Logf("p%g %.1f ms over %d responses in %d seconds", 100*c.q, got, window.Count(), withLatency)
	}
}

// A step as long as the scrape interval (here both 1 s; 15 s and 15 s is
// common) is the default queries' day-one trap: increase over one step
// sees one sample, and increase needs two, so every second was no data and
// every watch inconclusive. The default queries read the rate over a
// window of several steps: the seconds have data, and the counts the load.
func TestIntegrationPrometheusStepAtTheScrapeInterval(t *testing.T) {
	promURL, sdDir := testenv.Required(t, "RELWATCH_PROMETHEUS_URL"), testenv.Required(t, "RELWATCH_PROMETHEUS_SD_DIR")
	app := newTestApp(t)
	name := fmt.Sprintf("step-%d", time.Now().UnixNano())
	app.scrapedBy(t, sdDir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go app.load(loadCtx, []string{name}, 40)
	src, err := prometheus.New(promURL, name, prometheus.Queries{}, prometheus.Options{Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := prometheus.New(promURL, name, prometheus.Queries{Requests: `sum(increase(http_requests_total{app="{{.App}}",route="{{.Route}}"}[{{.Step}}]))`}, prometheus.Options{Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for 20 s of scrapes of the load: Prometheus' own count of them.
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, err := instant(ctx, promURL, fmt.Sprintf(`count_over_time(http_requests_total{app=%q,status="302"}[20s])`, name))
		if err == nil && v >= 18 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the test app 18 times in 20 s (last: %v, %v)", v, err)
		}
		time.Sleep(time.Second)
	}
	to := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	from := to.Add(-15 * time.Second)
	read := func(s *prometheus.Source) (ok int, requests int64) {
		series, err := s.Counts(ctx, "download", from, to)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range series.Points {
			if p.OK {
				ok, requests = ok+1, requests+p.Requests
			}
		}
		return ok, requests
	}
	ok, requests := read(src)
	if ok < 12 || requests < 15*40*6/10 || requests > 15*40*14/10 {
		t.Fatalf("the default queries at a 1 s step, scraped every 1 s: %d of 15 seconds have data, %d requests; want 12 or more, and about %d", ok, requests, 15*40)
	}
	rawOK, rawRequests := read(raw)
	t.Logf("default queries: %d of 15 seconds, %d requests; increase over one step: %d of 15 seconds, %d requests", ok, requests, rawOK, rawRequests)
}

// instant runs query at Prometheus now and returns its one value.
func instant(ctx context.Context, promURL, query string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", promURL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%d series", len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}
