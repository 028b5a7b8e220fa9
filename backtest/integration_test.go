package backtest_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/relwatch/relwatch/backtest"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/scenario"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestIntegrationBacktestPrometheus loads scenarios into a real Prometheus
// as recorded history (promtool backfill), serves their releases from the
// fake Heroku, and checks that the backtest reaches the verdict the replay
// of the same scenario reaches.
func TestIntegrationBacktestPrometheus(t *testing.T) {
	promBin, promtool := testenv.Program(t, "prometheus"), testenv.Program(t, "promtool")
	dirs := []string{"../cmd/relwatch/demodata/crates-io-2023-07-20"}
	for _, name := range []string{"error-spike", "healthy-promotion", "slow-burn", "partial-retry-storm"} {
		if d := filepath.Join("../../shared/scenarios", name); fileExists(filepath.Join(d, "scenario.toml")) {
			dirs = append(dirs, d)
		}
	}
	var scs []*scenario.Scenario
	tmp := t.TempDir()
	om, err := os.Create(filepath.Join(tmp, "history.om"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(om)
	fmt.Fprintln(w, "# TYPE http_requests counter")
	for _, d := range dirs {
		sc, err := scenario.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		scs = append(scs, sc)
	}
	// OpenMetrics wants each family together: requests of every scenario,
	// then repeats.
	for _, sc := range scs {
		openMetricsFamily(w, sc, "requests")
	}
	fmt.Fprintln(w, "# TYPE http_repeats counter")
	for _, sc := range scs {
		openMetricsFamily(w, sc, "repeats")
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	om.Close()
	data := filepath.Join(tmp, "data")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", om.Name(), data).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	cfg := filepath.Join(tmp, "prometheus.yml")
	os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o644)
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prom := exec.CommandContext(ctx, promBin, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=100y", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	logf, _ := os.Create(filepath.Join(tmp, "prometheus.log"))
	prom.Stdout, prom.Stderr = logf, logf
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { prom.Process.Kill(); prom.Wait() }()
	promURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, promURL+"/-/ready")

	fake := herokusim.New("tok")
	defer fake.Close()
	client := heroku.New(fake.URL(), "tok")
	st := scenario.DefaultSettings()
	for _, sc := range scs {
		for _, r := range sc.Releases {
			fake.AddRelease(sc.Name, herokusim.ReleaseSpec{Version: r.Version, Description: r.Description, Status: r.Status,
				CreatedAt: scenario.Epoch.Add(time.Duration(r.AtS) * time.Second), PendingFor: time.Duration(r.SucceededAfterS) * time.Second})
		}
		// The replay's verdict on the scenario's own series.
		want, err := scenario.Run(ctx, sc, scenario.Options{Settings: st})
		if err != nil {
			t.Fatal(err)
		}
		// The backtest's, from Heroku's history and Prometheus' recording.
		src, err := prometheus.New(promURL, sc.Name, prometheus.Queries{
			Requests: `sum(http_requests_total{app="{{.App}}",route="{{.Route}}"}) - sum(http_requests_total{app="{{.App}}",route="{{.Route}}"} offset {{.Step}})`,
			Errors:   `sum(http_requests_total{app="{{.App}}",route="{{.Route}}",status="500"}) - sum(http_requests_total{app="{{.App}}",route="{{.Route}}",status="500"} offset {{.Step}})`,
			Repeats:  `sum(http_repeats_total{app="{{.App}}",route="{{.Route}}"}) - sum(http_repeats_total{app="{{.App}}",route="{{.Route}}"} offset {{.Step}})`,
		}, prometheus.Options{Step: 5 * time.Second, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		history, _, err := backtest.History(ctx, client, sc.Name)
		if err != nil {
			t.Fatal(err)
		}
		var target heroku.Release
		for _, r := range history {
			if r.Version == sc.Expect.Release {
				target = r
			}
		}
		sc2, epoch, err := backtest.Scenario(ctx, history, target, src, sc.Name, backtest.Guarded{Routes: sc.Routes(), Control: sc.ControlRoute()}, st.Policy)
		if err != nil {
			t.Fatal(err)
		}
		got, err := backtest.Run(ctx, sc2, epoch, target, st)
		if err != nil {
			t.Fatal(err)
		}
		wantOut := backtest.Judge(want, target, scenario.Epoch)
		if got.Verdict != wantOut.Verdict || got.RollbackTo != wantOut.RollbackTo || got.Verdict != map[string]string{"rollback": "rollback", "healthy": "healthy"}[sc.Expect.Verdict] {
			t.Errorf("%s: backtest says %s (to v%d: %s), replay says %s (to v%d), expected %s", sc.Name, got.Verdict, got.RollbackTo, got.Reason, wantOut.Verdict, wantOut.RollbackTo, sc.Expect.Verdict)
			continue
		}
		t.Logf("%s: %s, backtest %s after live, replay %s", sc.Name, got.Verdict, got.AfterLive, wantOut.AfterLive)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openMetricsFamily writes one family's series for sc.
func openMetricsFamily(w *bufio.Writer, sc *scenario.Scenario, family string) {
	rows := sc.Series[sc.WatchedRoute]
	write := func(name, extra string, value func(p metrics.Point) int64) {
		labels := fmt.Sprintf(`app="%s",route="%s"`, sc.Name, sc.WatchedRoute)
		if extra != "" {
			labels += "," + extra
		}
		var total int64
		for sec, p := range rows.All() {
			total += value(p)
			fmt.Fprintf(w, "%s{%s} %d %d\n", name, labels, total, scenario.Epoch.Unix()+int64(sec))
		}
	}
	if family == "requests" {
		write("http_requests_total", `status="302"`, func(p metrics.Point) int64 { return p.Requests - p.Errors })
		write("http_requests_total", `status="500"`, func(p metrics.Point) int64 { return p.Errors })
		return
	}
	write("http_repeats_total", "", func(p metrics.Point) int64 { return p.Repeats })
}
