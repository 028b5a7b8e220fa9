package routerlog

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-retry"
)

// EventSessionStarter creates a log session of the app's API events
// (POST /apps/{app}/log-sessions with source=app, dyno=api, tail=true)
// and returns its logplex_url.
type EventSessionStarter interface {
	APILogSession(ctx context.Context, app string) (string, error)
}

// DefaultEventStallTimeout is how long an API event stream may stay silent
// before it is reconnected (to the same session URL, which costs no API
// request): API events are rare, so silence is the rule, but a connection
// whose far end died would otherwise go unnoticed.
const DefaultEventStallTimeout = 10 * time.Minute

// EventTail reads the app's API events from Heroku log sessions filtered
// to source app, dyno api — the lines Heroku's API writes into the app's
// log ("Release v42 created by user ...", "Deploy 3f1c2aa by user ...",
// "Rollback to v41 by user ...") — and calls OnEvent for each one that may
// mean a release (APIEvent.MayRelease), and for logplex's reports of lines
// it dropped (an event may be among them).
//
// It is a second session beside the router's (source heroku, dyno
// router): a session without filters would carry every line the app's
// dynos print, often thousands a second, to learn of a few events an
// hour; logplex drops what a slow reader does not take (L11), the router
// lines with it. Two filtered sessions cost one more session request an
// hour (a session URL is good for about an hour after connecting) and one
// more connection. A process type named "api" (dynos api.1, api.2) passes
// the dyno filter too (logplex matches "api" as a prefix of "api.N"): its
// lines are read and skipped.
//
// Reconnecting, expiry and both stream formats are Session's. Events
// stamped before the tail started are not news: the watcher polls every
// app when it starts.
type EventTail struct {
	Starter EventSessionStarter
	App     string
	OnEvent func(APIEvent)
	HTTP    *http.Client     // nil: http.DefaultClient
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	// StallTimeout is how long the stream may send nothing before it is
	// reconnected (default DefaultEventStallTimeout).
	StallTimeout time.Duration
	Backoff      func() retry.Backoff // as Session's

	connected atomic.Bool
	events    atomic.Int64
}

// Run reads until ctx ends, and returns ctx's error.
func (t *EventTail) Run(ctx context.Context) error {
	now := t.Now
	if now == nil {
		now = time.Now
	}
	stall := t.StallTimeout
	if stall <= 0 {
		stall = DefaultEventStallTimeout
	}
	s := &Session{App: t.App, HTTP: t.HTTP, Now: now, Logger: t.Logger, StallTimeout: stall, Backoff: t.Backoff,
		sink: eventSink{t}, start: t.Starter.APILogSession, what: "API event stream", since: now().Unix() - 1}
	return s.Run(ctx)
}

// Connected reports whether a stream is open now.
func (t *EventTail) Connected() bool { return t.connected.Load() }

// Events counts the events passed to OnEvent.
func (t *EventTail) Events() int64 { return t.events.Load() }

// eventSink hands the API events of a stream to the tail's OnEvent.
type eventSink struct{ t *EventTail }

func (e eventSink) listening(time.Time) { e.t.connected.Store(true) }
func (e eventSink) stopped(time.Time)   { e.t.connected.Store(false) }
func (e eventSink) malformed()          {}
func (e eventSink) line(b []byte) {
	ev, ok := ParseAPIEvent(b)
	switch {
	case ok && ev.MayRelease():
	case !ok && isLostReport(b):
		ev = APIEvent{Unix: lineSecond(b), Kind: APILost}
	default:
		return
	}
	e.t.events.Add(1)
	if e.t.OnEvent != nil {
		e.t.OnEvent(ev)
	}
}
