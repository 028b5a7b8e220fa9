package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// readmeQueries are the README's "Numbers to graph" queries, run here
// against a real Prometheus that scraped a real worker.
var readmeQueries = struct{ rollbacksLastDay, announcementsFailing, givenUp string }{
	rollbacksLastDay:     `sum by (outcome) (increase(relwatch_rollbacks_total[1d]))`,
	announcementsFailing: `sum by (chat, reason) (increase(relwatch_announcements_failed_total[1h])) > 0`,
	givenUp:              `sum by (chat) (increase(relwatch_announcements_given_up_total[1d])) > 0`,
}

// A real Prometheus scrapes the real worker's /metrics (file discovery,
// 1 s) while the crates.io incident starts 15 s into the watch and Slack
// refuses the anomaly's first post: the README's queries find the
// rollback and the failing announcement.
func TestIntegrationPrometheusScrapesTheWorker(t *testing.T) {
	promURL, sdDir := testenv.Required(t, "RELWATCH_PROMETHEUS_URL"), testenv.Required(t, "RELWATCH_PROMETHEUS_SD_DIR")
	freshState(t)
	fake := herokusim.New("live-token")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: now})
	slack := notifytest.NewSlack()
	defer slack.Stop()
	var posts atomic.Int32
	slack.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/chat.postMessage" && posts.Add(1) == 2 { // the anomaly, after Prometheus saw 0
			http.Error(w, "upstream broke", http.StatusInternalServerError)
			return true
		}
		return false
	})
	// The demo's retry storm (t_s 1830) comes 17 s after the release:
	// Prometheus has scraped the counters at 0 by then.
	cfgPath := watchConfigWith(t, fake.URL(), now.Add(-1813*time.Second), "",
		fmt.Sprintf("[[notifiers]]\ntype = \"console\"\n[[notifiers]]\ntype = \"slack\"\nchannel = \"C0DEPLOY\"\napi_url = %q\n", slack.GetAPIURL()))
	port := freePort(t)
	t.Setenv("HEROKU_API_KEY", "live-token")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv(metricsTokenVar, "")

	target, _ := json.Marshal([]map[string]any{{"targets": []string{fmt.Sprintf("127.0.0.1:%d", port)}}})
	tmp, final := filepath.Join(sdDir, fmt.Sprintf(".w-%d.json", os.Getpid())), filepath.Join(sdDir, fmt.Sprintf("w-%d.json", os.Getpid()))
	if err := os.WriteFile(tmp, target, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(final) })

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "--config", cfgPath}, out, out) }()
	defer func() { cancel(); <-done }()

	client, err := api.NewClient(api.Config{Address: promURL})
	if err != nil {
		t.Fatal(err)
	}
	prom := v1.NewAPI(client)
	query := func(q string) model.Vector {
		v, _, _, err := prom.Query(ctx, q, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v.(model.Vector)
	}
	instance := fmt.Sprintf(`{instance="127.0.0.1:%d"}`, port)
	waitFor := func(what, q string, ok func(model.Vector) bool) model.Vector {
		deadline := time.Now().Add(60 * time.Second)
		for {
			v := query(q)
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s = %v after 60 s\n%s", what, q, v, tail(out.String(), 30))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	first := waitFor("Prometheus scraped the worker", "relwatch_rollbacks_total"+instance, func(v model.Vector) bool { return len(v) > 0 })
	for _, s := range first {
		if s.Value != 0 {
			t.Fatalf("the rollback came before Prometheus's first scrape: %v", first)
		}
	}
	got := waitFor("the rollback in the last day", readmeQueries.rollbacksLastDay, func(v model.Vector) bool {
		for _, s := range v {
			if s.Metric["outcome"] == "succeeded" && s.Value >= 0.5 {
				return true
			}
		}
		return false
	})
	for _, s := range got {
		want := 0.0
		if s.Metric["outcome"] == "succeeded" {
			want = 1
		}
		if float64(s.Value) < want-0.5 || float64(s.Value) > want+0.5 {
			t.Errorf("%s: %v", readmeQueries.rollbacksLastDay, got)
		}
	}
	failing := waitFor("announcements failing", readmeQueries.announcementsFailing, func(v model.Vector) bool { return len(v) > 0 })
	if len(failing) != 1 || failing[0].Metric["chat"] != "slack" || failing[0].Metric["reason"] != "error" {
		t.Errorf("%s: %v, want slack's one failed post", readmeQueries.announcementsFailing, failing)
	}
	if v := query(readmeQueries.givenUp); len(v) != 0 {
		t.Errorf("%s: %v, want none (the post went through on its next try)", readmeQueries.givenUp, v)
	}
	t.Logf("%s = %v; %s = %v", readmeQueries.rollbacksLastDay, got, readmeQueries.announcementsFailing, failing)
}
