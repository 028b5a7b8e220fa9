package telemetry_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// readmeMetric is one metric of the README's "Numbers to graph" table, as
// it says: its type where it says one, its labels, and the values it lists
// of each label it lists values of.
type readmeMetric struct {
	histogram bool
	labels    []string
	values    map[string][]string
}

// backticked finds the `quoted` words of a table cell.
var backticked = regexp.MustCompile("`([^`]*)`")

// readmeMetrics reads the Prometheus table of README's "Numbers to graph".
func readmeMetrics(t *testing.T) map[string]readmeMetric {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Numbers to graph\n")
	if !ok {
		t.Fatal(`README.md has no "Numbers to graph" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]readmeMetric{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 2 {
			t.Fatalf("README table row %q has no labels cell", line)
		}
		m := readmeMetric{histogram: strings.Contains(cells[0], "(histogram)"), values: map[string][]string{}}
		for _, part := range strings.Split(cells[1], ";") {
			names, values, _ := strings.Cut(part, ":")
			var last string
			for _, n := range backticked.FindAllStringSubmatch(names, -1) {
				m.labels = append(m.labels, n[1])
				last = n[1]
			}
			for _, v := range backticked.FindAllStringSubmatch(values, -1) {
				m.values[last] = append(m.values[last], v[1])
			}
		}
		for _, n := range backticked.FindAllStringSubmatch(cells[0], -1) {
			if !strings.Contains(n[1], "*") {
				out[n[1]] = m
			}
		}
	}
	if len(out) == 0 {
		t.Fatal(`README.md's "Numbers to graph" table names no metric`)
	}
	return out
}

// Every metric the README's "Numbers to graph" table names is served by
// the worker's /metrics, with the type it says and exactly the labels it
// lists; every label value it lists is one the worker gives, and every one
// the worker gives is listed. A metric served that the table leaves out is
// named too: the table is what a team builds its dashboard from.
func TestReadmeMetricsAreTheServedOnes(t *testing.T) {
	documented := readmeMetrics(t)
	tel := telemetry.New(telemetry.Options{})
	tel.Chat("slack")
	tel.RouterLog("crates-io", func() routerlog.Stats { return routerlog.Stats{} })
	tel.Drains(func() routerlog.DrainStats { return routerlog.DrainStats{} })
	for _, status := range []int{0, 200, 301, 304, 404, 429, 500} {
		for _, e := range heroku.Endpoints {
			tel.HerokuExchange(e, status, 80*time.Millisecond, 4321)
		}
	}
	tel.Announced("slack", notify.Anomaly)
	for _, k := range []notify.Kind{notify.Anomaly, notify.WatchHealthy, notify.WatchInconclusive, notify.RollbackSucceeded} {
		if err := tel.Notify(context.Background(), notify.Event{Header: notify.Header{Kind: k, App: "crates-io", Release: 42}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every signal the analysis has, on a route of an app that guards
	// several, as the worker shows them.
	var findings []analysis.Finding
	for _, s := range []analysis.Signal{analysis.ErrorShare, analysis.RepeatShare, analysis.RateCollapse, analysis.RateRise,
		analysis.RetriesStopped, analysis.Probe, analysis.LatencyP50, analysis.LatencyP95, analysis.LatencyP99} {
		findings = append(findings, analysis.Finding{Signal: s, Route: "GET /login", Mode: analysis.Relative, Baseline: 0.05, Current: 0.5})
	}
	tel.AfterTick(time.Now(), []watcher.Watch{watchOf("crates-io", 42, findings...)})
	mfs, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		served[mf.GetName()] = mf
	}
	for name, doc := range documented {
		mf := served[name]
		if mf == nil {
			t.Errorf("README lists %s, which /metrics does not serve", name)
			continue
		}
		switch typ := mf.GetType(); {
		case doc.histogram && typ != dto.MetricType_HISTOGRAM:
			t.Errorf("README says %s is a histogram; it is a %s", name, typ)
		case !doc.histogram && typ == dto.MetricType_HISTOGRAM:
			t.Errorf("README does not say %s is a histogram", name)
		case strings.HasSuffix(name, "_total") && typ != dto.MetricType_COUNTER:
			t.Errorf("%s is named a counter and is a %s", name, typ)
		}
		labels := map[string]bool{}
		values := map[string][]string{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
				if !slices.Contains(values[lp.GetName()], lp.GetValue()) {
					values[lp.GetName()] = append(values[lp.GetName()], lp.GetValue())
				}
			}
		}
		var got []string
		for l := range labels {
			got = append(got, l)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(doc.labels))
		if !slices.Equal(got, want) {
			t.Errorf("%s: README lists the labels %v; /metrics serves %v", name, want, got)
		}
		for label, listed := range doc.values {
			listed = slices.Sorted(slices.Values(listed))
			have := slices.Sorted(slices.Values(values[label]))
			if !slices.Equal(listed, have) {
				t.Errorf("%s: README lists %s values %v; /metrics serves %v", name, label, listed, have)
			}
		}
	}
	for name := range served {
		if _, ok := documented[name]; !ok && strings.HasPrefix(name, "relwatch_") {
			t.Errorf("/metrics serves %s, which README's table does not list", name)
		}
	}
}
