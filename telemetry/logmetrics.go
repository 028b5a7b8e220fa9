package telemetry

import (
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/watcher"
)

// Heroku log metrics are log lines in the l2met convention, which Heroku's
// own runtime metrics use (Dev Center, "log-runtime-metrics": `source=web.1
// dyno=... sample#memory_total=21.00MB`) and log-metrics add-ons read from
// the log drain (ryandotsmith/l2met wiki, "Usage": "Logging Convention"):
//
//   - a key is a metric type, '#', and the metric's name: count# values are
//     summed, sample# keep the last value, measure# are summarised (min,
//     median, p95, p99, max, mean, sum, count);
//   - a value is a number, with its unit (letters only) right after it:
//     `measure#relwatch.heroku.request_ms=87ms`;
//   - several metrics may share a line; source= names what they are about.
//
// relwatch's lines are the worker's logfmt log lines (msg=metrics) with such
// keys. source= is what the numbers are about: the dyno for the worker's
// own (watches open, Heroku's answers), the app for its signals, verdicts
// and rollbacks, the chat for its announcements. Values are written in
// plain decimals: no exponent, which the convention's "number, then unit"
// cannot tell from a unit.
//
// Events (a rollback, a verdict, an announcement sent, failed or given up)
// are a count#...=1 line when they happen; the counts of Heroku requests,
// which happen at every poll, are summed into the sample line each
// Interval instead of a line a request (count# sums them all the same).

// logMetric writes one line of log metrics about source; kv alternates
// keys and values (strings, or ints).
func (t *Telemetry) logMetric(source string, kv ...any) {
	if t.log == nil {
		return
	}
	t.log.Info("metrics", attrs(source, kv)...)
}

func attrs(source string, kv []any) []any {
	out := []any{slog.String("source", source)}
	for i := 0; i+1 < len(kv); i += 2 {
		key, _ := kv[i].(string)
		switch v := kv[i+1].(type) {
		case string:
			out = append(out, slog.String(key, v))
		case int:
			out = append(out, slog.Int(key, v))
		}
	}
	return out
}

// Flush writes the sample# and measure# lines now: the worker's (watches
// open, the Heroku requests and the drains' answers since the last line,
// the rate-limit budget), one per router-log app (its lines since the last
// line, by outcome), and one per app under watch with its signals' current and baseline
// values. The worker calls it on the way out too.
func (t *Telemetry) Flush(now time.Time) {
	t.mu.Lock()
	w, budget, open := t.window, t.budget, t.open
	t.window, t.lastLine = herokuWindow{}, now
	t.mu.Unlock()
	kv := []any{
		"sample#relwatch.watches.open", strconv.Itoa(len(open)),
		"count#relwatch.heroku.requests", strconv.Itoa(w.requests),
		"count#relwatch.heroku.not_modified", strconv.Itoa(w.notModified),
		"count#relwatch.heroku.rate_limited", strconv.Itoa(w.rateLimited),
		"count#relwatch.heroku.errors", strconv.Itoa(w.errors),
	}
	if w.requests > 0 {
		kv = append(kv, "measure#relwatch.heroku.request_ms", num(w.totalMS/float64(w.requests))+"ms",
			"sample#relwatch.heroku.request_max_ms", num(w.maxMS)+"ms")
	}
	if budget >= 0 {
		kv = append(kv, "sample#relwatch.heroku.ratelimit_remaining", strconv.Itoa(budget))
	}
	kv = append(kv, t.in.drainLine()...)
	t.logMetric(t.source, kv...)
	for _, line := range t.in.routerLines() {
		t.logMetric(line.app, line.kv...)
	}
	apps, others := t.in.unmatched()
	for i, app := range apps {
		if t.log != nil {
			t.log.Warn("no router line matched a guarded route", "app", app, "other_lines", others[i],
				"hint", "every release is watched as no data: is the route the router's method and path, {name} for a segment that varies? relwatch check says what each route matched of the recent lines, and the busiest paths")
		}
	}
	for _, wt := range open {
		t.appLine(wt)
	}
}

// appLine logs a watched app's signals, current and baseline, if it has
// any judged yet; it reports whether it did. An app that guards several
// routes gets a line a route (route="GET /api/v1/crates"), the leading
// route's first, then those that moved.
func (t *Telemetry) appLine(wt watcher.Watch) bool {
	found := signals(wt)
	if len(found) == 0 {
		return false // none judged yet (settling)
	}
	var order []string
	byRoute := map[string][]any{}
	for _, f := range found {
		kv, ok := byRoute[f.Route]
		if !ok {
			order = append(order, f.Route)
			kv = []any{"release", wt.Release.Version}
			if f.Route != "" {
				kv = append(kv, "route", f.Route)
			}
		}
		name := "sample#relwatch.signal." + string(f.Signal)
		// Latency in ms, with its unit, as Heroku's own metrics write it.
		value, unit := f.Current, ""
		if _, ok := analysis.LatencyQuantile(f.Signal); ok {
			value, unit = f.Current*1000, "ms"
		}
		kv = append(kv, name+".current", num(value)+unit)
		if f.Mode == analysis.Relative {
			base := f.Baseline
			if unit == "ms" {
				base *= 1000
			}
			kv = append(kv, name+".baseline", num(base)+unit)
		}
		byRoute[f.Route] = kv
	}
	for _, r := range order {
		t.logMetric(wt.App, byRoute[r]...)
	}
	return true
}

// num writes v in plain decimals, to six significant digits: 0.0123,
// 12.5, 1234.57; never 1.2e-05.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}
