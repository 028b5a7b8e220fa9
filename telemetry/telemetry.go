// Package telemetry is relwatch's own numbers, for a team's dashboards:
// announcements sent, failed and given up per chat; requests to Heroku by
// endpoint and status, their time, and the rate-limit budget; rollbacks
// by outcome; verdicts; the watches open; and, per watched app, each
// signal's current and baseline values.
//
// It owns the Prometheus instruments, in a registry of its own (never the
// global one: each worker, and each test, makes its own), served by
// Handler, and writes the same numbers into the worker's logfmt log as
// Heroku log metrics, the l2met convention that log-metrics add-ons read
// (LogMetrics). A worker dyno has no port to scrape; its log is drained.
//
// It is not package metrics: that is relwatch's input, the watched apps'
// traffic. This is relwatch watching itself.
//
// Telemetry learns what happened where it already flows: the Heroku
// client's transport reports each exchange (heroku.Observer), each chat's
// dispatcher each announcement's end (notify.Observer), the watcher's
// announcements the rollbacks and verdicts (Telemetry is a
// notify.Notifier), and after each tick the worker hands it the open
// watches (AfterTick).
package telemetry

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/watcher"
)

// DefaultInterval is how often the sample# and measure# lines are
// written: l2met keeps measurements in one-minute buckets by default (its
// readme, "High resolution buckets"), so a line a minute is what a graph of
// them can show. (Heroku's own runtime metrics come every 20 s.)
const DefaultInterval = time.Minute

// Options configure a Telemetry.
type Options struct {
	// Logger receives the log metrics (the worker's logfmt logger); nil
	// writes none.
	Logger *slog.Logger
	// Source is the source= of the worker's own lines: the dyno ($DYNO,
	// as Heroku's runtime metrics name it), else the host. Default
	// "relwatch".
	Source string
	// Interval between the sample# and measure# lines (default
	// DefaultInterval).
	Interval time.Duration
}

// Telemetry owns the instruments. Its methods are safe for concurrent use.
type Telemetry struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	source   string
	interval time.Duration

	announced   *prometheus.CounterVec   // chat
	callsFailed *prometheus.CounterVec   // chat, reason
	gaveUp      *prometheus.CounterVec   // chat, reason
	requests    *prometheus.CounterVec   // endpoint, code
	duration    *prometheus.HistogramVec // endpoint
	remaining   prometheus.Gauge
	// remainingKnown registers remaining once Heroku has said it.
	remainingKnown sync.Once
	rollbacks      *prometheus.CounterVec // outcome, trigger
	verdicts       *prometheus.CounterVec // status
	watchesOpen    prometheus.Gauge
	current        *prometheus.GaugeVec // app, signal
	baseline       *prometheus.GaugeVec // app, signal

	in inputs // the sources whose counters are exported (inputs.go)

	mu       sync.Mutex
	window   herokuWindow   // Heroku's answers since the last sample line
	budget   int            // the lowest of budgets, -1 before any
	budgets  map[string]int // token -> its last Ratelimit-Remaining
	lastLine time.Time
	open     []watcher.Watch        // as of the last tick
	shown    map[[3]string]struct{} // app, route, signal: the signal gauges set
	said     map[string]int         // app -> the release whose values a log line has said
}

// herokuWindow sums the exchanges with Heroku between two sample lines.
type herokuWindow struct {
	requests, notModified, rateLimited, errors int
	totalMS, maxMS                             float64
}

// New returns a Telemetry with its own registry, which also holds the Go
// runtime's and the process's collectors.
func New(opts Options) *Telemetry {
	if opts.Source == "" {
		opts.Source = "relwatch"
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	t := &Telemetry{
		reg: prometheus.NewRegistry(), log: opts.Logger, source: opts.Source, interval: opts.Interval,
		budget: -1, budgets: map[string]int{}, shown: map[[3]string]struct{}{},
		// Named after Alertmanager's notifications_total,
		// notifications_failed_total{integration,reason} and
		// notification_requests_failed_total (notify/notify.go NewMetrics),
		// with relwatch's chats for its integrations.
		announced: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_announcements_total",
			Help: "Announcements the chat has: posted, or found there already after a restart."}, []string{"chat"}),
		callsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_announcements_failed_total",
			Help: "Chat calls (open, reply, edit, find) that failed, each try; tried again while the announcement's time lasts."}, []string{"chat", "reason"}),
		gaveUp: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_announcements_given_up_total",
			Help: "Announcements that will never reach the chat."}, []string{"chat", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_heroku_requests_total",
			Help: "Requests to the Heroku Platform API by endpoint and answer: 2xx, 304, 3xx, 429, 4xx, 5xx, or none (no answer)."}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "relwatch_heroku_request_duration_seconds",
			Help:    "Time until Heroku's answer's headers, by endpoint.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}}, []string{"endpoint"}),
		remaining: prometheus.NewGauge(prometheus.GaugeOpts{Name: "relwatch_heroku_ratelimit_remaining",
			Help: "The Ratelimit-Remaining Heroku sent last: requests left in the token's budget (with several tokens, the lowest of theirs)."}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_rollbacks_total",
			Help: "Rollbacks by outcome (succeeded, failed, skipped) and trigger (automatic, manual)."}, []string{"outcome", "trigger"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relwatch_verdicts_total",
			Help: "Releases judged, by verdict: anomalous, healthy (the watch ended healthy, or a person approved it), inconclusive."}, []string{"status"}),
		watchesOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "relwatch_watches_open",
			Help: "Releases under watch by this worker."}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "relwatch_signal_current",
			Help: "Each signal's value since the watched release went live: a share (0-1), requests per second, or seconds (latency_p50, latency_p95, latency_p99); route is the guarded route where the app guards several (\"\" for one)."}, []string{"app", "route", "signal"}),
		baseline: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "relwatch_signal_baseline",
			Help: "Each signal's value before the release, judged against (absent while guardrails judge alone)."}, []string{"app", "route", "signal"}),
	}
	// relwatch_heroku_ratelimit_remaining is registered at Heroku's first
	// answer: before it, the budget is unknown, not 0 (a panel would show
	// it exhausted).
	t.reg.MustRegister(t.announced, t.callsFailed, t.gaveUp, t.requests, t.duration, t.rollbacks,
		t.verdicts, t.watchesOpen, t.current, t.baseline, inputsCollector{&t.in},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start, at 0, so that rate() and
	// increase() see the first one (Alertmanager does the same).
	for _, outcome := range []string{"succeeded", "failed", "skipped"} {
		for _, trigger := range []string{"automatic", "manual"} {
			t.rollbacks.WithLabelValues(outcome, trigger)
		}
	}
	for _, s := range []analysis.Status{analysis.Anomalous, analysis.Healthy, analysis.Inconclusive} {
		t.verdicts.WithLabelValues(string(s))
	}
	return t
}

// Registry is where the instruments are registered (tests read it).
func (t *Telemetry) Registry() *prometheus.Registry { return t.reg }

// Chat declares a chat that announcements go to: its series exist from the
// start, at 0.
func (t *Telemetry) Chat(name string) {
	t.announced.WithLabelValues(name)
	for _, r := range notify.FailureReasons {
		t.callsFailed.WithLabelValues(name, r)
	}
	for _, r := range notify.GiveUpReasons {
		t.gaveUp.WithLabelValues(name, r)
	}
}

// Handler serves the instruments in Prometheus' text format. With token
// set, only to a request that bears it (Authorization: Bearer TOKEN,
// compared in constant time); others get 401.
func (t *Telemetry) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{})
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A scrape is a GET: a POST or DELETE here is no scraper.
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="relwatch metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// HerokuExchange implements heroku.Observer, for a worker with one token.
func (t *Telemetry) HerokuExchange(endpoint string, status int, took time.Duration, remaining int) {
	t.exchange("", endpoint, status, took, remaining)
}

// Token is the heroku.Observer of the client of one token (name: its
// environment variable): the budget relwatch says is the lowest of the
// tokens', the one that runs out first.
func (t *Telemetry) Token(name string) TokenObserver { return TokenObserver{t: t, name: name} }

// TokenObserver is Telemetry.Token's.
type TokenObserver struct {
	t    *Telemetry
	name string
}

// HerokuExchange implements heroku.Observer.
func (o TokenObserver) HerokuExchange(endpoint string, status int, took time.Duration, remaining int) {
	o.t.exchange(o.name, endpoint, status, took, remaining)
}

func (t *Telemetry) exchange(token, endpoint string, status int, took time.Duration, remaining int) {
	t.requests.WithLabelValues(endpoint, codeClass(status)).Inc()
	t.duration.WithLabelValues(endpoint).Observe(took.Seconds())
	ms := float64(took) / float64(time.Millisecond)
	t.mu.Lock()
	defer t.mu.Unlock()
	if remaining >= 0 {
		t.budgets[token] = remaining
		t.budget = remaining
		for _, b := range t.budgets {
			t.budget = min(t.budget, b)
		}
		t.remainingKnown.Do(func() { t.reg.MustRegister(t.remaining) })
		t.remaining.Set(float64(t.budget))
	}
	w := &t.window
	w.requests++
	switch {
	case status == http.StatusNotModified:
		w.notModified++
	case status == http.StatusTooManyRequests:
		w.rateLimited++
	case status == 0 || status >= 400:
		w.errors++
	}
	w.totalMS += ms
	w.maxMS = max(w.maxMS, ms)
}

// codeClass is a status as the code label says it: its class, with 304
// (a quiet poll) and 429 (rate limited) apart, and "none" for no answer.
func codeClass(status int) string {
	switch {
	case status == 0:
		return "none"
	case status == http.StatusNotModified:
		return "304"
	case status == http.StatusTooManyRequests:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	}
	return "2xx"
}

// Announced implements notify.Observer.
func (t *Telemetry) Announced(chat string, kind notify.Kind) {
	t.announced.WithLabelValues(chat).Inc()
	t.logMetric(chat, "count#relwatch.announcements.sent", "1", "kind", string(kind))
}

// CallFailed implements notify.Observer.
func (t *Telemetry) CallFailed(chat, call, reason string) {
	t.callsFailed.WithLabelValues(chat, reason).Inc()
	t.logMetric(chat, "count#relwatch.announcements.failed", "1", "call", call, "reason", reason)
}

// GaveUp implements notify.Observer.
func (t *Telemetry) GaveUp(chat string, kind notify.Kind, reason string) {
	t.gaveUp.WithLabelValues(chat, reason).Inc()
	t.logMetric(chat, "count#relwatch.announcements.given_up", "1", "kind", string(kind), "reason", reason)
}

// Notify implements notify.Notifier: it counts the rollbacks and the
// verdicts among the watcher's announcements, once each: a fact a
// restarted worker says again (Restated) was counted by the worker that
// did it.
func (t *Telemetry) Notify(_ context.Context, e notify.Event) error {
	if e.Restated {
		return nil
	}
	switch e.Kind {
	case notify.RollbackSucceeded, notify.RollbackFailed, notify.RollbackSkipped:
		outcome := map[notify.Kind]string{notify.RollbackSucceeded: "succeeded", notify.RollbackFailed: "failed", notify.RollbackSkipped: "skipped"}[e.Kind]
		trigger := "automatic"
		if f, _ := e.Fact.(notify.RollbackStep); f.ByPerson() {
			trigger = "manual"
		}
		t.rollbacks.WithLabelValues(outcome, trigger).Inc()
		t.logMetric(e.App, "count#relwatch.rollbacks", "1", "count#relwatch.rollbacks."+outcome, "1", "trigger", trigger, "release", e.Release)
	case notify.Anomaly, notify.WatchHealthy, notify.WatchInconclusive:
		status := map[notify.Kind]analysis.Status{notify.Anomaly: analysis.Anomalous, notify.WatchHealthy: analysis.Healthy, notify.WatchInconclusive: analysis.Inconclusive}[e.Kind]
		t.verdicts.WithLabelValues(string(status)).Inc()
		t.logMetric(e.App, "count#relwatch.verdicts."+string(status), "1", "release", e.Release)
	}
	return nil
}

// AfterTick takes the watches open after a tick: the watches-open gauge
// and each app's signal gauges follow them at once, and the sample# and
// measure# lines are written when Interval has passed since the last.
// The worker calls it between ticks, from the goroutine that ticks.
func (t *Telemetry) AfterTick(now time.Time, open []watcher.Watch) {
	t.watchesOpen.Set(float64(len(open)))
	t.mu.Lock()
	t.open = open
	seen := map[[3]string]struct{}{}
	for _, w := range open {
		for _, f := range signals(w) {
			key := [3]string{w.App, f.Route, string(f.Signal)}
			seen[key] = struct{}{}
			t.current.WithLabelValues(key[:]...).Set(f.Current)
			if f.Mode == analysis.Relative {
				t.baseline.WithLabelValues(key[:]...).Set(f.Baseline)
			} else {
				t.baseline.DeleteLabelValues(key[:]...)
			}
		}
	}
	for key := range t.shown {
		if _, ok := seen[key]; !ok {
			t.current.DeleteLabelValues(key[:]...)
			t.baseline.DeleteLabelValues(key[:]...)
		}
	}
	t.shown = seen
	due := t.lastLine.IsZero() || now.Sub(t.lastLine) >= t.interval
	// A watch's first judged values are said at once, not up to a minute
	// later: a bad release may be rolled back before the minute is out.
	var first []watcher.Watch
	if t.said == nil {
		t.said = map[string]int{}
	}
	for _, w := range open {
		if t.said[w.App] != w.Release.Version && len(signals(w)) > 0 {
			t.said[w.App] = w.Release.Version
			first = append(first, w)
		}
	}
	t.mu.Unlock()
	if due {
		t.Flush(now)
		return
	}
	for _, w := range first {
		t.appLine(w)
	}
}

// signals are the findings of a watch's last judgement that have values:
// one that could not be judged yet (settling, no data) has none.
func signals(w watcher.Watch) []analysis.Finding {
	var out []analysis.Finding
	for _, f := range w.Last.Verdict.Findings {
		if f.Gap != analysis.GapNone || math.IsNaN(f.Current) || math.IsInf(f.Current, 0) {
			continue
		}
		out = append(out, f)
	}
	return out
}
