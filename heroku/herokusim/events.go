package herokusim

import (
	"fmt"
	"strings"
	"time"
)

// Heroku writes what its API does to an app into the app's own log, from
// source "app", dyno "api" (Dev Center, "Logging": API logs, `heroku logs
// --source app --dyno api`). Lines as Heroku writes them, from real logs:
//
//	2020-01-05T03:45:50.244579+00:00 app[api]: Deploy 399e1c85 by user ana@example.com
//	2020-01-05T03:45:50.244579+00:00 app[api]: Release v24 created by user ana@example.com
//	2021-05-24T04:33:45.708633+00:00 app[api]: Running release v3 commands by user ana@example.com
//	2021-05-24T04:33:56.193673+00:00 app[api]: Release v3 command failed by user ana@example.com
//
// The simulator writes them for every release created or finishing its
// release phase from the simulator's start on (a release added with an
// earlier time is history the log no longer holds): at creation the
// release's description ("Deploy abc", "Rollback to v41", "Promote x v7")
// and "Release vN created", or, for a release with a release phase,
// "Running release vN commands"; when the phase ends, "Release vN
// created" when it succeeded (the line real logs show for a release
// without a phase: what Heroku writes after a successful phase is not in
// the samples) or "Release vN command failed".

// apiEventTime is the timestamp of a log line as a log session sends it.
const apiEventTime = "2006-01-02T15:04:05.000000-07:00"

// apiLine is one app[api] line at t.
func apiLine(t time.Time, msg string) string {
	return t.UTC().Format(apiEventTime) + " app[api]: " + msg
}

// apiEvents are the API event lines of an app, and the webhook
// notifications of the same events.
type apiEvents struct {
	app   string
	lines []string
	notes []map[string]any
}

// apiEventsLocked returns the API event lines (and webhook notifications)
// of a's releases that came due by now and were not written yet, and
// marks them written.
func (s *Server) apiEventsLocked(a *app, now time.Time) apiEvents {
	ev := apiEvents{app: a.name}
	var lines []string
	for _, r := range a.releases {
		sp := r.spec
		by := " by user " + sp.User
		if !r.created && !sp.CreatedAt.After(now) {
			r.created = true
			if !sp.CreatedAt.Before(s.start) {
				ev.notes = append(ev.notes, s.notificationLocked(a, r, "create", sp.CreatedAt))
				if sp.Description != "" {
					lines = append(lines, apiLine(sp.CreatedAt, sp.Description+by))
				}
				if sp.PendingFor > 0 {
					lines = append(lines, apiLine(sp.CreatedAt, fmt.Sprintf("Running release v%d commands%s", sp.Version, by)))
				} else if sp.Status == "failed" {
					lines = append(lines, apiLine(sp.CreatedAt, fmt.Sprintf("Release v%d command failed%s", sp.Version, by)))
				} else {
					lines = append(lines, apiLine(sp.CreatedAt, fmt.Sprintf("Release v%d created%s", sp.Version, by)))
				}
			}
		}
		done := sp.CreatedAt.Add(sp.PendingFor)
		if sp.PendingFor > 0 && !r.phaseEnded && !done.After(now) {
			r.phaseEnded = true
			if !done.Before(s.start) {
				ev.notes = append(ev.notes, s.notificationLocked(a, r, "update", done))
				if sp.Status == "failed" {
					lines = append(lines, apiLine(done, fmt.Sprintf("Release v%d command failed%s", sp.Version, by)))
				} else {
					lines = append(lines, apiLine(done, fmt.Sprintf("Release v%d created%s", sp.Version, by)))
				}
			}
		}
	}
	ev.lines = lines
	return ev
}

// PublishEvents writes the API event lines that came due on the
// simulator's clock into each app's log (open log streams whose filter
// takes them get them at once). A release added for now, a rollback and a
// promotion write theirs when they happen, and every API request first
// writes what came due; a test that moves a virtual clock calls this to
// have the lines of releases it scheduled for later written then.
func (s *Server) PublishEvents() {
	s.mu.Lock()
	now := s.now()
	var out []apiEvents
	for _, a := range s.apps {
		if ev := s.apiEventsLocked(a, now); len(ev.lines) > 0 || len(ev.notes) > 0 {
			out = append(out, ev)
		}
	}
	s.mu.Unlock()
	for _, ev := range out {
		s.publish(ev)
	}
}

// publish writes the events' lines into the app's log and delivers their
// notifications to the app's webhooks.
func (s *Server) publish(ev apiEvents) {
	s.emit(ev.app, ev.lines)
	s.deliver(ev.app, ev.notes)
}

// logFilter is a log session's source and dyno filter, as logplex applies
// it (heroku/logplex, src/logplex_api.erl, filters/2): source matches the
// line's source exactly; dyno matches its process exactly or as a prefix
// before a "." ("web" takes web.1 and web.2). No filter takes every line.
type logFilter struct{ source, dyno string }

// takes reports whether the filter lets line through. Lines without the
// "source[dyno]:" shape of a log session line (a test's odd lines) pass,
// as do logplex's own reports about the session (heroku[logplex] /
// logplex: "Error L11 ... This tail session dropped N messages"), which
// concern the reader whatever it filters (logplex itself runs them through
// the filter as source "logplex": a session filtered to source heroku
// would never see them; the reader handles them either way).
func (f logFilter) takes(line string) bool {
	if f.source == "" && f.dyno == "" {
		return true
	}
	source, dyno, ok := lineOrigin(line)
	if !ok || source == "logplex" || dyno == "logplex" {
		return true
	}
	if f.source != "" && source != f.source {
		return false
	}
	if f.dyno != "" && dyno != f.dyno && !strings.HasPrefix(dyno, f.dyno+".") {
		return false
	}
	return true
}

// lineOrigin reads source and dyno from "TIMESTAMP source[dyno]: message".
func lineOrigin(line string) (source, dyno string, ok bool) {
	_, rest, found := strings.Cut(line, " ")
	if !found {
		return "", "", false
	}
	tag, _, found := strings.Cut(rest, ": ")
	if !found || !strings.HasSuffix(tag, "]") {
		return "", "", false
	}
	source, dyno, found = strings.Cut(strings.TrimSuffix(tag, "]"), "[")
	if !found || source == "" || dyno == "" || strings.ContainsAny(source, " []") || strings.ContainsAny(dyno, " []") {
		return "", "", false
	}
	return source, dyno, true
}
