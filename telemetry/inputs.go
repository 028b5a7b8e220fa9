package telemetry

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relwatch/relwatch/metrics/routerlog"
)

// What relwatch reads, counted: a judgement is only as good as the lines
// it was made from. A drain whose credentials are wrong (Logplex drops
// every batch it got a 401 for), a log session that lost lines, a router
// whose stamps run ahead: each shows as a watch that is inconclusive for
// want of traffic, and here as the counter that says why. The counters
// are the sources' own (routerlog.Stats, routerlog.DrainStats), read when
// Prometheus scrapes and when a log-metrics line is written: never
// counted twice.

// routerOutcomes name the outcomes of the lines a router-log aggregator
// read, which partition them (Stats.Lines).
var routerOutcomes = []struct {
	name string
	of   func(routerlog.Stats) int64
}{
	{"guarded", func(s routerlog.Stats) int64 { return s.Matched }},      // a guarded route's, counted
	{"other", func(s routerlog.Stats) int64 { return s.Other }},          // another route's, counted for the control route or templates
	{"not_router", func(s routerlog.Stats) int64 { return s.NotRouter }}, // not a router line
	{"malformed", func(s routerlog.Stats) int64 { return s.Malformed }},  // unreadable
	{"late", func(s routerlog.Stats) int64 { return s.Late }},            // older than the memory kept
	{"ahead", func(s routerlog.Stats) int64 { return s.Future }},         // stamped past routerlog.MaxAhead
}

// drainAnswers name what the drain server answered, as DrainStats counts.
var drainAnswers = []struct {
	name string
	of   func(routerlog.DrainStats) int64
}{
	{"accepted", func(s routerlog.DrainStats) int64 { return s.Accepted }},
	{"resent", func(s routerlog.DrainStats) int64 { return s.Resent }},
	{"unauthorized", func(s routerlog.DrainStats) int64 { return s.Unauthorized }},
	{"unknown_app", func(s routerlog.DrainStats) int64 { return s.UnknownApp }},
	{"not_a_batch", func(s routerlog.DrainStats) int64 { return s.NotABatch }},
	{"too_large", func(s routerlog.DrainStats) int64 { return s.TooLarge }},
	{"busy", func(s routerlog.DrainStats) int64 { return s.Busy + s.OverBudget }},
	{"read_failed", func(s routerlog.DrainStats) int64 { return s.ReadFailed }},
}

// webhookAnswers name what the webhooks beside the drains answered, as
// DrainStats.Webhook counts.
var webhookAnswers = []struct {
	name string
	of   func(routerlog.DrainStats) int64
}{
	{"taken", func(s routerlog.DrainStats) int64 { return s.Webhook.Taken }},
	{"resent", func(s routerlog.DrainStats) int64 { return s.Webhook.Resent }},
	{"refused", func(s routerlog.DrainStats) int64 { return s.Webhook.Refused }},
	{"unknown_app", func(s routerlog.DrainStats) int64 { return s.Webhook.UnknownApp }},
	{"not_a_notification", func(s routerlog.DrainStats) int64 { return s.Webhook.NotANotification }},
	{"too_large", func(s routerlog.DrainStats) int64 { return s.Webhook.TooLarge }},
	{"busy", func(s routerlog.DrainStats) int64 { return s.Webhook.Busy }},
	{"read_failed", func(s routerlog.DrainStats) int64 { return s.Webhook.ReadFailed }},
}

var (
	routerLinesDesc = prometheus.NewDesc("relwatch_router_lines_total",
		"Router log lines read for the app, by outcome: guarded (a guarded route's), other (another route's), not_router, malformed, late (older than the memory kept), ahead (stamped more than 2 min past the worker's clock).",
		[]string{"app", "outcome"}, nil)
	routerLostDesc = prometheus.NewDesc("relwatch_router_lines_lost_total",
		"Log lines Logplex reported it dropped before relwatch read them (L10, 'Error L10 (output buffer overflow)'): the seconds they fell in are no data.",
		[]string{"app"}, nil)
	routerUntimedDesc = prometheus.NewDesc("relwatch_router_lines_untimed_total",
		"Router log lines counted whose connect= or service= did not read: their requests and errors count, their latency does not (a latency judgement reads the rest).",
		[]string{"app"}, nil)
	drainRequestsDesc = prometheus.NewDesc("relwatch_drain_requests_total",
		"Requests to the log drains by answer: accepted (204), resent (204, counted before), unauthorized (401: the drain's credentials are not relwatch's, and Logplex drops the batch), unknown_app (404), not_a_batch (405, 415), too_large (413), busy (503), read_failed (503).",
		[]string{"answer"}, nil)
	webhookRequestsDesc = prometheus.NewDesc("relwatch_webhook_requests_total",
		"Requests to the Heroku app webhooks beside the drains, by answer: taken (204), resent (204, a delivery taken lately), refused (401: no signature, or not the body's with the secret: a wrong RELWATCH_WEBHOOK_SECRET refuses every delivery), unknown_app (404), not_a_notification (405, 415, 400), too_large (413), busy (503), read_failed (503).",
		[]string{"answer"}, nil)
)

// inputs is the sources Telemetry reads counters of.
type inputs struct {
	mu      sync.Mutex
	routers []routerInput
	drains  func() routerlog.DrainStats
	// last are the counters the last log-metrics line said, by
	// "app\x00outcome" (routers) and "drain\x00answer".
	last map[string]int64
	// warned are the apps said to have no router line matched by a
	// guarded route (unmatched).
	warned map[string]bool
}

// UnmatchedAfter is how many of an app's router lines going to other
// routes, with none to a guarded route, make the worker warn that the
// route matches nothing (a typo: every release would be watched as no
// data). A quiet route may miss a few hundred lines; not a thousand.
const UnmatchedAfter = 1000

// unmatched names, once each, the router-log apps none of whose lines a
// guarded route matched while UnmatchedAfter or more went to other
// routes, with that count.
func (in *inputs) unmatched() (apps []string, others []int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.routers {
		s := r.stats()
		if s.Matched > 0 || s.Other < UnmatchedAfter || in.warned[r.app] {
			continue
		}
		if in.warned == nil {
			in.warned = map[string]bool{}
		}
		in.warned[r.app] = true
		apps, others = append(apps, r.app), append(others, s.Other)
	}
	return apps, others
}

type routerInput struct {
	app   string
	stats func() routerlog.Stats
}

// RouterLog declares app's router-log aggregator (stats is its Stats):
// its lines' outcomes are exported, and written into a line of log
// metrics each interval.
func (t *Telemetry) RouterLog(app string, stats func() routerlog.Stats) {
	t.in.mu.Lock()
	defer t.in.mu.Unlock()
	t.in.routers = append(t.in.routers, routerInput{app: app, stats: stats})
}

// Drains declares the drain server (stats is its Stats): its answers are
// exported, and written into the worker's line of log metrics.
func (t *Telemetry) Drains(stats func() routerlog.DrainStats) {
	t.in.mu.Lock()
	defer t.in.mu.Unlock()
	t.in.drains = stats
}

// inputsCollector exports the declared sources' counters at each scrape.
type inputsCollector struct{ in *inputs }

func (c inputsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- routerLinesDesc
	ch <- routerLostDesc
	ch <- routerUntimedDesc
	ch <- drainRequestsDesc
	ch <- webhookRequestsDesc
}

func (c inputsCollector) Collect(ch chan<- prometheus.Metric) {
	c.in.mu.Lock()
	routers, drains := c.in.routers, c.in.drains
	c.in.mu.Unlock()
	for _, r := range routers {
		s := r.stats()
		for _, o := range routerOutcomes {
			ch <- prometheus.MustNewConstMetric(routerLinesDesc, prometheus.CounterValue, float64(o.of(s)), r.app, o.name)
		}
		ch <- prometheus.MustNewConstMetric(routerLostDesc, prometheus.CounterValue, float64(s.Dropped), r.app)
		ch <- prometheus.MustNewConstMetric(routerUntimedDesc, prometheus.CounterValue, float64(s.BadTimes), r.app)
	}
	if drains != nil {
		s := drains()
		for _, a := range drainAnswers {
			ch <- prometheus.MustNewConstMetric(drainRequestsDesc, prometheus.CounterValue, float64(a.of(s)), a.name)
		}
		for _, a := range webhookAnswers {
			ch <- prometheus.MustNewConstMetric(webhookRequestsDesc, prometheus.CounterValue, float64(a.of(s)), a.name)
		}
	}
}

// since returns what counter key has counted since the last call (all of
// it at the first), and remembers now.
func (in *inputs) since(key string, now int64) int64 {
	if in.last == nil {
		in.last = map[string]int64{}
	}
	d := now - in.last[key]
	in.last[key] = now
	return d
}

// drainLine is the worker line's drain counts since the last line
// (nil: no drain server).
func (in *inputs) drainLine() []any {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.drains == nil {
		return nil
	}
	s := in.drains()
	var kv []any
	for _, a := range drainAnswers {
		kv = append(kv, "count#relwatch.drain."+a.name, strconv.FormatInt(in.since("drain\x00"+a.name, a.of(s)), 10))
	}
	for _, a := range webhookAnswers {
		kv = append(kv, "count#relwatch.webhook."+a.name, strconv.FormatInt(in.since("webhook\x00"+a.name, a.of(s)), 10))
	}
	return kv
}

// appLine is one line of log metrics about an app.
type appLine struct {
	app string
	kv  []any
}

// routerLines are the log-metrics lines of each router-log app: its
// lines' outcomes since the last line, the lines Logplex lost, and the
// lines counted untimed.
func (in *inputs) routerLines() []appLine {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []appLine
	for _, r := range in.routers {
		s := r.stats()
		kv := []any{"count#relwatch.router.lines", strconv.FormatInt(in.since(r.app+"\x00lines", s.Lines), 10)}
		for _, o := range routerOutcomes {
			kv = append(kv, "count#relwatch.router."+o.name, strconv.FormatInt(in.since(r.app+"\x00"+o.name, o.of(s)), 10))
		}
		kv = append(kv, "count#relwatch.router.lost", strconv.FormatInt(in.since(r.app+"\x00lost", s.Dropped), 10))
		kv = append(kv, "count#relwatch.router.untimed", strconv.FormatInt(in.since(r.app+"\x00untimed", s.BadTimes), 10))
		out = append(out, appLine{app: r.app, kv: kv})
	}
	return out
}
