package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// scrape reads the worker's /metrics as Prometheus does; nil when it did
// not answer 200.
func scrape(t *testing.T, port int, token string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus' text format: %v", err)
	}
	return mfs, resp.StatusCode
}

// value is the series of family name with labels (a subset), summed over
// the series that match; -1 when none does.
func value(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	sum, found := 0.0, false
series:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	if !found {
		return -1
	}
	return sum
}

// The real `relwatch watch` with $PORT set, the crates.io incident served
// by the simulated Heroku, and a Slack that fails its first post: Prometheus
// scrapes the rollback, the verdict, Heroku's answers and the
// announcements from /metrics, and the log carries the same as Heroku log
// metrics.
func TestWatchServesMetricsAndLogsThem(t *testing.T) {
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
		if r.URL.Path == "/chat.postMessage" && posts.Add(1) == 1 {
			http.Error(w, "upstream broke", http.StatusInternalServerError)
			return true
		}
		return false
	})
	cfgPath := watchConfigWith(t, fake.URL(), now.Add(-1828*time.Second), "",
		fmt.Sprintf("[[notifiers]]\ntype = \"console\"\n[[notifiers]]\ntype = \"slack\"\nchannel = \"C0DEPLOY\"\napi_url = %q\n", slack.GetAPIURL()))
	port := freePort(t)
	t.Setenv("HEROKU_API_KEY", "live-token")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv(metricsTokenVar, "")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "--config", cfgPath}, out, out) }()

	// Scrape as Prometheus would, until the rollback is counted and Slack
	// has its announcements. (The watch's signal gauges live only while it
	// is open, under a second here: the telemetry package's tests check
	// them, and the log line below says the same values.)
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, _ := scrape(t, port, ""); m != nil {
			mfs = m
			if value(m, "relwatch_rollbacks_total", map[string]string{"outcome": "succeeded"}) == 1 &&
				value(m, "relwatch_announcements_total", map[string]string{"chat": "slack"}) >= 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no rollback and announcements counted on /metrics within 30 s\n%s", tail(out.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d\n%s", code, tail(out.String(), 40))
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"relwatch_rollbacks_total", map[string]string{"outcome": "succeeded", "trigger": "automatic"}, 1},
		{"relwatch_rollbacks_total", map[string]string{"outcome": "failed"}, 0},
		{"relwatch_verdicts_total", map[string]string{"status": "anomalous"}, 1},
		{"relwatch_verdicts_total", map[string]string{"status": "healthy"}, 0},
		{"relwatch_heroku_requests_total", map[string]string{"endpoint": "rollback", "code": "2xx"}, 1},
		{"relwatch_announcements_failed_total", map[string]string{"chat": "slack", "reason": "error"}, 1},
		{"relwatch_announcements_given_up_total", map[string]string{"chat": "slack"}, 0},
	} {
		if got := value(mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(mfs, "relwatch_heroku_requests_total", map[string]string{"endpoint": "releases.list", "code": "304"}); got < 1 {
		t.Errorf("quiet polls (304) counted: %v", got)
	}
	if got := value(mfs, "relwatch_heroku_ratelimit_remaining", nil); got <= 0 {
		t.Errorf("relwatch_heroku_ratelimit_remaining = %v", got)
	}
	if value(mfs, "go_goroutines", nil) <= 0 {
		t.Error("no Go runtime metrics")
	}

	// The same numbers as Heroku log metrics, in the worker's logfmt log
	// (among the console notifier's announcements, which are not logfmt).
	counts := map[string]int{}
	stormSaid := false // a line said the repeat share above its baseline
	var lines []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, " msg=metrics ") {
			lines = append(lines, line)
		}
	}
	d := logfmt.NewDecoder(strings.NewReader(strings.Join(lines, "\n")))
	for d.ScanRecord() {
		source, metrics := "", map[string]string{}
		for d.ScanKeyval() {
			k := string(d.Key())
			switch {
			case k == "source":
				source = string(d.Value())
			case strings.Contains(k, "#"):
				metrics[k] = string(d.Value())
			}
		}
		for k, v := range metrics {
			counts[source+" "+k+"="+v]++
			counts[source+" "+k]++
		}
		if source == "crates-io" {
			cur, err1 := strconv.ParseFloat(metrics["sample#relwatch.signal.repeat_share.current"], 64)
			base, err2 := strconv.ParseFloat(metrics["sample#relwatch.signal.repeat_share.baseline"], 64)
			if err1 == nil && err2 == nil && cur > base && base > 0 {
				stormSaid = true
			}
		}
	}
	if err := d.Err(); err != nil {
		t.Fatalf("the log metrics are not logfmt: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if !stormSaid {
		t.Errorf("no log line said crates-io's repeat share above its baseline\n%s", strings.Join(lines, "\n"))
	}
	host, _ := os.Hostname()
	for _, want := range []string{
		"crates-io count#relwatch.rollbacks=1", "crates-io count#relwatch.rollbacks.succeeded=1",
		"crates-io count#relwatch.verdicts.anomalous=1", "slack count#relwatch.announcements.failed=1",
	} {
		if counts[want] != 1 {
			t.Errorf("log metric %q: %d lines, want 1\n%s", want, counts[want], strings.Join(lines, "\n"))
		}
	}
	for _, want := range []string{"crates-io sample#relwatch.signal.repeat_share.current", "crates-io sample#relwatch.signal.repeat_share.baseline"} {
		if counts[want] < 1 {
			t.Errorf("log metric %q: none\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// A sample line at the first tick, and the last on the way out: the
	// minute between two never passed.
	if n := counts[host+" sample#relwatch.watches.open"]; n != 2 {
		t.Errorf("worker sample lines: %d, want 2\n%s", n, strings.Join(lines, "\n"))
	}
	if n := counts["slack count#relwatch.announcements.sent=1"]; n < 4 {
		t.Errorf("announcements sent: %d lines, want 4 or more", n)
	}
	if strings.Contains(out.String(), "live-token") || strings.Contains(out.String(), "xoxb-test") {
		t.Fatal("a token appeared in the output")
	}
}

// /metrics tells the apps' names and traffic: with RELWATCH_METRICS_TOKEN
// it is served to its bearer only; on a dyno, where $PORT is public, not
// at all without one.
func TestMetricsNeedTheTokenOnADyno(t *testing.T) {
	for _, c := range []struct {
		name, dyno, token string
		anonymous, bearer int
	}{
		{"token", "", "m3trics", http.StatusUnauthorized, http.StatusOK},
		{"dyno without token", "web.1", "", http.StatusNotFound, http.StatusNotFound},
		{"dyno with token", "web.1", "m3trics", http.StatusUnauthorized, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			freshState(t)
			fake := herokusim.New("tok")
			defer fake.Close()
			fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: time.Now().Add(-time.Hour)})
			port := freePort(t)
			t.Setenv("HEROKU_API_KEY", "tok")
			t.Setenv("PORT", fmt.Sprint(port))
			t.Setenv("DYNO", c.dyno)
			t.Setenv(metricsTokenVar, c.token)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := &syncBuffer{}
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"watch", "--config", watchConfig(t, fake.URL(), time.Now())}, out, out)
			}()
			var anonymous int
			deadline := time.Now().Add(10 * time.Second)
			for anonymous == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("nothing listened on $PORT\n%s", tail(out.String(), 20))
				}
				time.Sleep(20 * time.Millisecond)
				_, anonymous = scrape(t, port, "")
			}
			_, bearer := scrape(t, port, "m3trics")
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("watch exit %d\n%s", code, tail(out.String(), 20))
			}
			if anonymous != c.anonymous || bearer != c.bearer {
				t.Errorf("anonymous %d, bearer %d; want %d, %d", anonymous, bearer, c.anonymous, c.bearer)
			}
			if strings.Contains(out.String(), "m3trics") {
				t.Error("the metrics token appeared in the log")
			}
		})
	}
}
