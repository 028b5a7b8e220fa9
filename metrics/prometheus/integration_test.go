package prometheus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

// testApp is a small registry front end: /download?app=NAME answers 302,
// or 500 for two requests in five once NAME is bad, and counts requests in
// http_requests_total{app, route, status} for Prometheus to scrape.
type testApp struct {
	srv     *httptest.Server
	bad     sync.Map
	n       atomic.Int64
	counter *promclient.CounterVec
}

func newTestApp(t *testing.T) *testApp {
	reg := promclient.NewRegistry()
	a := &testApp{counter: promclient.NewCounterVec(promclient.CounterOpts{Name: "http_requests_total", Help: "requests"}, []string{"app", "route", "status"})}
	reg.MustRegister(a.counter)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		app := r.URL.Query().Get("app")
		status := http.StatusFound
		if _, bad := a.bad.Load(app); bad && a.n.Add(1)%5 < 2 {
			status = http.StatusInternalServerError
		}
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

func TestIntegrationWatcherPrometheus(t *testing.T) {
	promURL, sdDir := testenv.Required(t, "RELWATCH_PROMETHEUS_URL"), testenv.Required(t, "RELWATCH_PROMETHEUS_SD_DIR")
	app := newTestApp(t)
	good, bad := fmt.Sprintf("good-%d", time.Now().UnixNano()), fmt.Sprintf("bad-%d", time.Now().UnixNano())

	// Point the real Prometheus at the test app (file-based discovery).
	target, _ := json.Marshal([]map[string]any{{"targets": []string{strings.TrimPrefix(app.srv.URL, "http://")}}})
	tmp := filepath.Join(sdDir, fmt.Sprintf(".t-%d.json", os.Getpid()))
	final := filepath.Join(sdDir, fmt.Sprintf("t-%d.json", os.Getpid()))
	if err := os.WriteFile(tmp, target, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(final) })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go app.load(loadCtx, []string{good, bad}, 40)

	src := func(name string) *prometheus.Source {
		s, err := prometheus.New(promURL, name, prometheus.Queries{}, 2*time.Second, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deadline := time.Now().Add(60 * time.Second)
	for src(good).Check(ctx, "download", time.Now()) != nil {
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
