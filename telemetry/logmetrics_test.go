package telemetry_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

// logMetric is one metric read back from a log line.
type logMetric struct {
	source, kind, name, value, unit string
}

var (
	// l2met: a name after the type and '#'; a value is a number with its
	// unit (letters only) right after it.
	metricName  = regexp.MustCompile(`^relwatch(\.[a-z0-9_]+)+$`)
	metricValue = regexp.MustCompile(`^(-?[0-9]+(\.[0-9]+)?)([a-zA-Z]*)$`)
)

// parseLogMetrics reads the log metrics of a logfmt log with
// github.com/go-logfmt/logfmt, checking each against the convention.
func parseLogMetrics(t *testing.T, log string) []logMetric {
	t.Helper()
	var out []logMetric
	d := logfmt.NewDecoder(strings.NewReader(log))
	for d.ScanRecord() {
		var source string
		var ms []logMetric
		for d.ScanKeyval() {
			k, v := string(d.Key()), string(d.Value())
			if k == "source" {
				source = v
			}
			kind, name, ok := strings.Cut(k, "#")
			if !ok {
				continue
			}
			if kind != "count" && kind != "measure" && kind != "sample" {
				t.Errorf("%s: %q is not count#, measure# or sample#", k, kind)
			}
			if !metricName.MatchString(name) {
				t.Errorf("%s: the name %q is not relwatch.a.b", k, name)
			}
			m := metricValue.FindStringSubmatch(v)
			if m == nil {
				t.Errorf("%s=%s: not a number followed by its unit", k, v)
				continue
			}
			ms = append(ms, logMetric{kind: kind, name: name, value: m[1], unit: m[3]})
		}
		for _, m := range ms {
			if source == "" {
				t.Errorf("%s#%s without source=", m.kind, m.name)
			}
			m.source = source
			out = append(out, m)
		}
	}
	if err := d.Err(); err != nil {
		t.Fatalf("not logfmt: %v\n%s", err, log)
	}
	return out
}

// find returns the metric named kind#name about source.
func find(ms []logMetric, source, kind, name string) (logMetric, int) {
	var last logMetric
	n := 0
	for _, m := range ms {
		if m.source == source && m.kind == kind && m.name == name {
			last, n = m, n+1
		}
	}
	return last, n
}

func watchOf(app string, v int, findings ...analysis.Finding) watcher.Watch {
	return watcher.Watch{App: app, Release: heroku.Release{Version: v}, Last: watcher.Evidence{Verdict: analysis.Verdict{Status: analysis.Healthy, Findings: findings}}}
}

func TestLogMetricsFollowTheConvention(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	tel := telemetry.New(telemetry.Options{Logger: logger, Source: "worker.1"})
	for _, x := range []struct {
		status int
		took   time.Duration
	}{{200, 80 * time.Millisecond}, {304, 20 * time.Millisecond}, {429, 50 * time.Millisecond}, {0, 250 * time.Millisecond}} {
		tel.HerokuExchange("releases.list", x.status, x.took, 4321)
	}
	ctx := t.Context()
	tel.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42}})
	tel.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.RollbackSucceeded, App: "crates-io", Release: 42}, Fact: notify.RollbackStep{Target: 41}})
	tel.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.RollbackSucceeded, App: "crates-io", Release: 42, Restated: true}}) // said again after a restart
	tel.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.RollbackFailed, App: "docs-rs", Release: 7}, Fact: notify.RollbackStep{By: "ana"}})
	tel.Announced("slack", notify.Anomaly)
	tel.CallFailed("zulip", "reply", "timeout")
	tel.GaveUp("zulip", notify.Anomaly, "retries_exhausted")
	tel.AfterTick(time.Now(), []watcher.Watch{
		watchOf("crates-io", 42,
			analysis.Finding{Signal: analysis.ErrorShare, Mode: analysis.Relative, Baseline: 0.000012, Current: 0.0004},
			analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Baseline: 0.05, Current: 0.93},
			analysis.Finding{Signal: analysis.RateCollapse, Mode: analysis.Relative, Baseline: 41.5, Current: 160.25},
			analysis.Finding{Signal: analysis.LatencyP95, Mode: analysis.Relative, Baseline: 0.31, Current: 2.4}),
		watchOf("docs-rs", 8,
			analysis.Finding{Signal: analysis.ErrorShare, Mode: analysis.Absolute, Baseline: 0.05, Current: 0.01},
			analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Gap: analysis.GapSettling}),
	})
	ms := parseLogMetrics(t, buf.String())

	for _, w := range []struct {
		source, kind, name, value, unit string
	}{
		{"worker.1", "sample", "relwatch.watches.open", "2", ""},
		{"worker.1", "count", "relwatch.heroku.requests", "4", ""},
		{"worker.1", "count", "relwatch.heroku.not_modified", "1", ""},
		{"worker.1", "count", "relwatch.heroku.rate_limited", "1", ""},
		{"worker.1", "count", "relwatch.heroku.errors", "1", ""},
		{"worker.1", "measure", "relwatch.heroku.request_ms", "100", "ms"},
		{"worker.1", "sample", "relwatch.heroku.request_max_ms", "250", "ms"},
		{"worker.1", "sample", "relwatch.heroku.ratelimit_remaining", "4321", ""},
		{"crates-io", "count", "relwatch.rollbacks", "1", ""},
		{"crates-io", "count", "relwatch.rollbacks.succeeded", "1", ""},
		{"crates-io", "count", "relwatch.verdicts.anomalous", "1", ""},
		{"docs-rs", "count", "relwatch.rollbacks.failed", "1", ""},
		{"slack", "count", "relwatch.announcements.sent", "1", ""},
		{"zulip", "count", "relwatch.announcements.failed", "1", ""},
		{"zulip", "count", "relwatch.announcements.given_up", "1", ""},
		{"crates-io", "sample", "relwatch.signal.error_share.current", "0.0004", ""},
		{"crates-io", "sample", "relwatch.signal.error_share.baseline", "0.000012", ""}, // not 1.2e-05
		{"crates-io", "sample", "relwatch.signal.repeat_share.current", "0.93", ""},
		{"crates-io", "sample", "relwatch.signal.request_rate_collapse.baseline", "41.5", ""},
		{"crates-io", "sample", "relwatch.signal.request_rate_collapse.current", "160.25", ""},
		{"crates-io", "sample", "relwatch.signal.latency_p95.current", "2400", "ms"},
		{"crates-io", "sample", "relwatch.signal.latency_p95.baseline", "310", "ms"},
		{"docs-rs", "sample", "relwatch.signal.error_share.current", "0.01", ""},
	} {
		m, n := find(ms, w.source, w.kind, w.name)
		if n != 1 || m.value != w.value || m.unit != w.unit {
			t.Errorf("source=%s %s#%s: %d lines, last %s%s; want one, %s%s", w.source, w.kind, w.name, n, m.value, m.unit, w.value, w.unit)
		}
	}
	for _, absent := range []struct{ source, name string }{
		{"docs-rs", "relwatch.signal.error_share.baseline"},  // a guardrail judged it: no baseline
		{"docs-rs", "relwatch.signal.repeat_share.current"},  // settling: no value yet
		{"docs-rs", "relwatch.signal.repeat_share.baseline"}, // nor a baseline
	} {
		if m, n := find(ms, absent.source, "sample", absent.name); n != 0 {
			t.Errorf("source=%s sample#%s=%s%s: want none", absent.source, absent.name, m.value, m.unit)
		}
	}
	if testing.Verbose() {
		fmt.Print(buf.String())
	}
}

// The sample lines come once an Interval, not every tick; the Heroku
// counts in each are those since the line before.
func TestLogMetricsOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Source: "worker.1", Interval: time.Minute})
	t0 := time.Now()
	for i := range 13 { // a tick every 5 s for a minute
		tel.HerokuExchange("releases.list", 304, 10*time.Millisecond, -1)
		tel.AfterTick(t0.Add(time.Duration(i)*5*time.Second), nil)
	}
	ms := parseLogMetrics(t, buf.String())
	var counts []string
	for _, m := range ms {
		if m.name == "relwatch.heroku.requests" {
			counts = append(counts, m.value)
		}
	}
	// The first tick writes at once (one request so far); the 13th, a
	// minute later, the twelve since.
	if strings.Join(counts, ",") != "1,12" {
		t.Fatalf("requests per sample line: %v, want [1 12]\n%s", counts, buf.String())
	}
	if _, n := find(ms, "worker.1", "sample", "relwatch.heroku.ratelimit_remaining"); n != 0 {
		t.Error("a rate-limit budget was written before Heroku sent one")
	}
}

// A watch's first judged values are said at the tick they appear, not up
// to a minute later (a bad release may be rolled back within the minute);
// after that, once a minute.
func TestAppValuesSaidAtOnce(t *testing.T) {
	var buf bytes.Buffer
	tel := telemetry.New(telemetry.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Source: "worker.1", Interval: time.Minute})
	t0 := time.Now()
	settling := watchOf("crates-io", 42, analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Gap: analysis.GapSettling})
	judged := watchOf("crates-io", 42, analysis.Finding{Signal: analysis.RepeatShare, Mode: analysis.Relative, Baseline: 0.15, Current: 0.78})
	tel.AfterTick(t0, []watcher.Watch{settling})                   // the first tick: the worker's line
	tel.AfterTick(t0.Add(5*time.Second), []watcher.Watch{judged})  // first values: said now
	tel.AfterTick(t0.Add(10*time.Second), []watcher.Watch{judged}) // not again before the minute
	tel.AfterTick(t0.Add(60*time.Second), []watcher.Watch{judged}) // the minute's line
	ms := parseLogMetrics(t, buf.String())
	if _, n := find(ms, "crates-io", "sample", "relwatch.signal.repeat_share.current"); n != 2 {
		t.Fatalf("%d lines with crates-io's repeat share, want 2 (at once, then at the minute)\n%s", n, buf.String())
	}
}
