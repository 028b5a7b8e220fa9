package notify

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/relwatch/relwatch/analysis"
)

// Trend is the guarded route around the release, in equal buckets, for a
// sparkline: the buckets before Release are the baseline's end.
type Trend struct {
	Bucket     time.Duration
	Rate       []float64 // requests/s; NaN where there was no data
	ErrorShare []float64 // 0..1; NaN where there was no data
	// RepeatShare is the share of requests repeating a (client, path)
	// pair, 0..1, NaN where there was no data; nil when the source counts
	// no repeats. The crates.io fault shows here and nowhere else.
	RepeatShare []float64
	// LatencyP50, LatencyP95 and LatencyP99 are each bucket's response
	// time quantiles in seconds (merged from its seconds' histograms), NaN
	// where there was no data; nil when the source gives no latency.
	LatencyP50, LatencyP95, LatencyP99 []float64
	Release                            int // index of the first bucket after the release went live
	// LiveAt is when the release went live (the start of bucket Release):
	// it places the onset and the rollback, which are times, on the chart.
	LiveAt time.Time
}

// trendJSON is Trend on the wire: JSON has no NaN, so no data is null.
type trendJSON struct {
	Bucket      time.Duration `json:"bucket"`
	Rate        []*float64    `json:"rate"`
	ErrorShare  []*float64    `json:"error_share"`
	RepeatShare []*float64    `json:"repeat_share,omitempty"`
	LatencyP50  []*float64    `json:"latency_p50,omitempty"`
	LatencyP95  []*float64    `json:"latency_p95,omitempty"`
	LatencyP99  []*float64    `json:"latency_p99,omitempty"`
	Release     int           `json:"release"`
	LiveAt      time.Time     `json:"live_at,omitzero"`
}

func nullable(v []float64) []*float64 {
	if v == nil {
		return nil
	}
	out := make([]*float64, len(v))
	for i, x := range v {
		if !math.IsNaN(x) {
			out[i] = &x
		}
	}
	return out
}

func fromNullable(v []*float64) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.NaN()
		if x != nil {
			out[i] = *x
		}
	}
	return out
}

// MarshalJSON implements json.Marshaler.
func (t Trend) MarshalJSON() ([]byte, error) {
	return json.Marshal(trendJSON{Bucket: t.Bucket, Rate: nullable(t.Rate), ErrorShare: nullable(t.ErrorShare),
		RepeatShare: nullable(t.RepeatShare), LatencyP50: nullable(t.LatencyP50), LatencyP95: nullable(t.LatencyP95), LatencyP99: nullable(t.LatencyP99),
		Release: t.Release, LiveAt: t.LiveAt})
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Trend) UnmarshalJSON(b []byte) error {
	var w trendJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Trend{Bucket: w.Bucket, Rate: fromNullable(w.Rate), ErrorShare: fromNullable(w.ErrorShare),
		RepeatShare: fromNullable(w.RepeatShare), LatencyP50: fromNullable(w.LatencyP50), LatencyP95: fromNullable(w.LatencyP95), LatencyP99: fromNullable(w.LatencyP99),
		Release: w.Release, LiveAt: w.LiveAt}
	return nil
}

// Message is an event rendered for chat: the same words in every chat.
type Message struct {
	Event    Event
	Headline string   // one line, the event's Text
	Evidence []string // one line per signal that matters, with its numbers
	Trend    string   // sparklines of rate and error share, release marked
	Override string   // the command a person runs to overrule relwatch
	Status   string   // for the opening message once the story has an end: "✅ healthy"
	// Ended is true once the release's story has an outcome (or a newer
	// release replaced it): its opening message offers people no more
	// actions (Slack's buttons).
	Ended bool
	// Key is the event's idempotency key (Event.Key): chats that can keep it
	// on the message (Slack's metadata) do, to find it again.
	Key string
}

// RenderOptions are what texts need beyond the event.
type RenderOptions struct {
	// WorkerApp is the Heroku app relwatch runs in, for override commands
	// (heroku run -a WORKER relwatch pause APP).
	WorkerApp string
}

// Status is the outcome an event gives its release's opening message, or
// "" when it gives none.
func Status(e Event) string {
	switch e.Kind {
	case WatchHealthy:
		return "✅ healthy"
	case WatchInconclusive:
		return "❔ not enough data"
	case Anomaly:
		if f, _ := e.Fact.(Anomalous); f.Auto {
			return "⚠️ looks bad"
		}
		return "⚠️ looks bad (alert only)"
	case RollbackStarted:
		return fmt.Sprintf("⏪ rolling back to v%d", e.rollbackTarget())
	case RollbackSucceeded:
		return fmt.Sprintf("⏪ rolled back to v%d", e.rollbackTarget())
	case RollbackFailed:
		if e.refusedTarget() {
			return "" // a refused command, said in the thread alone
		}
		return "❌ rollback failed"
	case RollbackSkipped:
		return "⏭ rollback skipped"
	case Paused:
		return "⏸ paused"
	}
	return ""
}

// rollbackTarget is the release a rollback event goes back to.
func (e Event) rollbackTarget() int {
	f, _ := e.Fact.(RollbackStep)
	return f.Target
}

// Ended reports whether an event ends its release's story: after it,
// people have nothing left to pause, roll back or approve there. A
// person's rollback refused for its target does not: the watch goes on.
func Ended(e Event) bool {
	switch e.Kind {
	case RollbackFailed:
		return !e.refusedTarget()
	case WatchHealthy, WatchInconclusive, RollbackStarted, RollbackSucceeded, RollbackSkipped:
		return true
	}
	return false
}

// refusedTarget reports whether e is a person's rollback that failed
// before Heroku was asked because its target cannot be gone back to (the
// bad release itself, typed as "roll back v42"; one that is not there).
func (e Event) refusedTarget() bool {
	f, ok := e.Fact.(RollbackStep)
	return ok && e.Kind == RollbackFailed && f.NoTarget && f.ByPerson()
}

// ReplacedStatus is the outcome a release's opening message shows once a
// newer release replaced its watch.
func ReplacedStatus(by int) string { return fmt.Sprintf("↪ replaced by v%d", by) }

// oneLine makes a headline one line: a description or a reason people
// wrote may hold line breaks, and in a chat's markdown a line that starts
// with ``` (or > or #) opens a code block, a quote or a heading that takes
// the rest of the message, the override command with it. It drops
// Unicode's bidirectional embeddings, overrides and isolates too: one in
// people's text (or a route named by the paths the app is sent) shows
// the rest of the line backwards, relwatch's own words with it.
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ",
	"\u202a", "", "\u202b", "", "\u202c", "", "\u202d", "", "\u202e", "",
	"\u2066", "", "\u2067", "", "\u2068", "", "\u2069", "")

// Render turns an event into a chat message.
func Render(e Event, o RenderOptions) Message {
	m := Message{Event: e, Headline: oneLine.Replace(e.Text()), Status: Status(e), Ended: Ended(e), Key: e.Key()}
	// The evidence goes with the verdict (the anomaly, the healthy end);
	// the rollback's own messages only quote its summary. The signals that
	// decide come first; what never decides on its own (a rate rise,
	// retries that stopped) comes last, as context.
	verdict := e.Kind == Anomaly || e.Kind == WatchHealthy || e.Kind == WatchInconclusive
	var contextLines []string
	seen := e.Seen()
	for _, f := range seen.Findings {
		switch {
		case !verdict:
		case f.Trigger && (f.Status == analysis.Anomalous || e.Kind != Anomaly):
			m.Evidence = append(m.Evidence, oneLine.Replace(evidenceLine(f)))
		case isContext(f):
			contextLines = append(contextLines, "context: "+oneLine.Replace(evidenceLine(f)))
		}
	}
	m.Evidence = append(m.Evidence, contextLines...)
	if t := seen.Trend; t != nil && verdict {
		m.Trend = fmt.Sprintf("rate %s   errors %s   (%s buckets, ┃ = live)",
			Sparkline(t.Rate, t.Release), Sparkline(t.ErrorShare, t.Release), Span(t.Bucket))
		// The trend is one route's, the one that decided: where the
		// evidence names several, it says whose.
		if seen.Route != "" && slices.ContainsFunc(seen.Findings, func(f analysis.Finding) bool { return f.Route != "" }) {
			m.Trend = oneLine.Replace(seen.Route) + ": " + m.Trend
		}
	}
	worker := o.WorkerApp
	if worker == "" {
		worker = "<worker-app>"
	}
	switch e.Kind {
	case WatchStarted, Anomaly:
		m.Override = fmt.Sprintf("heroku run -a %s relwatch pause %s", worker, e.App)
		if f, _ := e.Fact.(Anomalous); f.PausedBy != "" {
			// Paused already: another pause would only replace that
			// person's (its end with it). What is left to do is the
			// rollback the pause holds back.
			m.Override = fmt.Sprintf("heroku run -a %s relwatch rollback %s", worker, e.App)
			if f.Target != 0 {
				m.Override += fmt.Sprintf(" --to v%d", f.Target)
			}
		}
	case RollbackSkipped, RollbackFailed:
		m.Override = fmt.Sprintf("heroku run -a %s relwatch rollback %s --to v%d", worker, e.App, e.rollbackTarget())
		if e.refusedTarget() || e.rollbackTarget() == 0 {
			// Not the target just refused, nor "--to v0" where none was
			// found (the command refuses it): the newest earlier release
			// that succeeded.
			m.Override = fmt.Sprintf("heroku run -a %s relwatch rollback %s", worker, e.App)
		}
	}
	return m
}

var bars = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as bars scaled to their maximum, a gap (·) where a
// value is NaN, and ┃ before index mark.
func Sparkline(values []float64, mark int) string {
	hi := 0.0
	for _, v := range values {
		if !math.IsNaN(v) {
			hi = math.Max(hi, v)
		}
	}
	var b strings.Builder
	for i, v := range values {
		if i == mark {
			b.WriteRune('┃')
		}
		switch {
		case math.IsNaN(v):
			b.WriteRune('·')
		case hi == 0:
			b.WriteRune(bars[0])
		default:
			b.WriteRune(bars[min(len(bars)-1, int(v/hi*float64(len(bars)-1)+0.5))])
		}
	}
	return b.String()
}
