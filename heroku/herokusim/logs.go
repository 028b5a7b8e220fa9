package herokusim

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log session lifetimes. The Platform API reference (Log Session, as the
// heroku-client 0.5.1 docs/logSession.md carry its text) says "Sessions
// remain available for about 5 minutes after creation or about one hour
// after connecting"; logplex keeps a session 360 s (session_expiry_s in
// heroku/logplex src/logplex.app.src). An expired logplex_url answers 404
// (logplex_api.erl: "Not found"), which Heroku's CLI reads as "Log stream
// timed out" (heroku/cli, src/lib/run/log-displayer.ts).
const (
	DefaultLogSessionTTL = 5 * time.Minute // a session not yet connected to
	DefaultLogStreamTTL  = time.Hour       // a session after its first connection
)

const (
	logStreamPath = "/sessions/" // as the schema's example logplex_url
	logHistory    = 1500         // lines an app keeps (logplex log_history)
	defaultLines  = 100          // history a session sends when lines is not given (logplex: num "100")
)

// WithLogSessionTTL sets how long a log session's URL stays good: before its
// first connection (default 5 min), and after it (default 1 h); a stream
// still open then ends. Both follow the simulator's clock; an open stream's
// end is timed in real time from it.
func WithLogSessionTTL(unconnected, connected time.Duration) Option {
	return func(s *Server) { s.unconnectedTTL, s.connectedTTL = unconnected, connected }
}

// WithPlainLogStreams makes every logplex_url answer plain lines whatever
// the client asks, as the classic logplex does (it ignores Accept); by
// default a client that asks for text/event-stream gets server-sent events,
// as from Heroku's current log stream.
func WithPlainLogStreams() Option { return func(s *Server) { s.plainLogs = true } }

type logLine struct {
	id   int64
	text string
}

// logSession is one log session the simulator serves at its logplex_url.
type logSession struct {
	id          string
	app         *app
	opts        map[string]any
	filter      logFilter // source and dyno
	tail        bool
	lines       int
	expires     time.Time
	connected   bool
	connections int
	streams     map[*logStream]struct{}
}

// logStream is one open connection to a session's logplex_url.
type logStream struct {
	lines   chan logLine
	done    chan struct{}
	once    sync.Once
	stalled bool
}

func (st *logStream) end() { st.once.Do(func() { close(st.done) }) }

func (ls *logSession) endStreams() {
	for st := range ls.streams {
		st.end()
	}
}

// EmitLog writes lines to app's log, as logplex would: every open stream of
// the app that is not stalled gets them, and later sessions find them in
// the app's history. It waits until each such stream has taken them.
func (s *Server) EmitLog(appName string, lines ...string) { s.emit(appName, lines) }

// emit writes lines to the app's log: its history, and each open stream of
// the app that is not stalled and whose session's filter takes the line.
func (s *Server) emit(appName string, lines []string) {
	if len(lines) == 0 {
		return
	}
	s.mu.Lock()
	a := s.appFor(appName)
	var batch []logLine
	for _, l := range lines {
		a.logSeq++
		batch = append(batch, logLine{id: a.logSeq, text: l})
	}
	a.logs = append(a.logs, batch...)
	if len(a.logs) > logHistory {
		a.logs = append([]logLine(nil), a.logs[len(a.logs)-logHistory:]...)
	}
	type target struct {
		st     *logStream
		filter logFilter
	}
	var open []target
	for _, ls := range s.sessions {
		if ls.app != a {
			continue
		}
		for st := range ls.streams {
			if !st.stalled {
				open = append(open, target{st, ls.filter})
			}
		}
	}
	s.mu.Unlock()
	for _, t := range open {
		for _, l := range batch {
			if !t.filter.takes(l.text) {
				continue
			}
			select {
			case t.st.lines <- l:
			case <-t.st.done:
			}
		}
	}
}

// EndLogStreams closes every open log stream of app, as when logplex drops
// a connection; the sessions' URLs stay good.
func (s *Server) EndLogStreams(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ls := range s.sessions {
		if ls.app.name == app {
			ls.endStreams()
		}
	}
}

// ExpireLogSessions expires every log session of app now: open streams end
// and the URLs answer 404.
func (s *Server) ExpireLogSessions(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ls := range s.sessions {
		if ls.app.name == app {
			ls.expires = time.Time{}
			ls.endStreams()
		}
	}
}

// StallLogStreams makes every open log stream of app go silent while
// staying open, as a connection whose far end died does; lines emitted
// since reach only the history.
func (s *Server) StallLogStreams(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ls := range s.sessions {
		if ls.app.name == app {
			for st := range ls.streams {
				st.stalled = true
			}
		}
	}
}

// LogSessions returns the options of every log session created for app.
func (s *Server) LogSessions(app string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, ls := range s.created {
		if ls.app.name == app {
			out = append(out, ls.opts)
		}
	}
	return out
}

// OpenLogStreams counts the open log streams of app, stalled ones too.
func (s *Server) OpenLogStreams(app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ls := range s.sessions {
		if ls.app.name == app {
			n += len(ls.streams)
		}
	}
	return n
}

// LogStreamConnections counts the connections to app's logplex_urls that
// were answered 200.
func (s *Server) LogStreamConnections(app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ls := range s.sessions {
		if ls.app.name == app {
			n += ls.connections
		}
	}
	return n
}

// createLogSession serves POST /apps/{app}/log-sessions. Its parameters are
// the schema's: dyno, lines, source, tail (and dyno_name, which Heroku's
// CLI sends for Fir apps, taken as dyno). Lines are filtered by source and
// dyno as logplex filters them (logFilter), the history too: a session
// sends the last lines of the log that its filter takes.
func (s *Server) createLogSession(w http.ResponseWriter, name string, body []byte) {
	opts := map[string]any{}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil || opts == nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Request body must be a JSON object.")
			return
		}
	}
	tail, lines := false, defaultLines
	var filter logFilter
	for k, v := range opts {
		ok := true
		switch k {
		case "dyno", "dyno_name":
			filter.dyno, ok = v.(string)
		case "source":
			filter.source, ok = v.(string)
		case "tail":
			tail, ok = v.(bool)
		case "lines":
			var f float64
			f, ok = v.(float64)
			ok = ok && f == float64(int(f)) && f >= 0
			lines = min(int(f), logHistory)
		default:
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", fmt.Sprintf("Unknown parameter %q.", k))
			return
		}
		if !ok {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Invalid type for `%s`.", k))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	now := s.now()
	ls := &logSession{id: randomUUID(), app: a, opts: opts, filter: filter, tail: tail, lines: lines,
		expires: now.Add(s.unconnectedTTL), streams: map[*logStream]struct{}{}}
	s.sessions[ls.id] = ls
	s.created = append(s.created, ls)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": ls.id, "logplex_url": fmt.Sprintf("%s%s%s?srv=%d", s.srv.URL, logStreamPath, ls.id, now.Unix()),
		"created_at": stamp(now), "updated_at": stamp(now),
	})
}

// wantsEventStream reports whether Accept asks for server-sent events.
func wantsEventStream(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/event-stream" && params["q"] != "0" {
			return true
		}
	}
	return false
}

// serveLogStream serves a logplex_url: the session's history (its last
// lines, or with Last-Event-ID every line after that event), then, for a
// tail session, each new line until the session expires or the client
// leaves. A non-tail session closes after its history. Server-sent events
// ("id: N" / "data: line" frames, text/event-stream) when the client asks
// for them, plain lines otherwise.
func (s *Server) serveLogStream(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	ls, ok := s.sessions[id]
	now := s.now()
	if !ok || !now.Before(ls.expires) {
		s.mu.Unlock()
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	if !ls.connected {
		ls.connected = true
		ls.expires = now.Add(s.connectedTTL)
	}
	remaining := ls.expires.Sub(now)
	var history []logLine
	if after, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		for _, l := range ls.app.logs {
			if l.id > after && ls.filter.takes(l.text) {
				history = append(history, l)
			}
		}
	} else {
		for i := len(ls.app.logs) - 1; i >= 0 && len(history) < ls.lines; i-- {
			if l := ls.app.logs[i]; ls.filter.takes(l.text) {
				history = append(history, l)
			}
		}
		slices.Reverse(history)
	}
	st := &logStream{lines: make(chan logLine), done: make(chan struct{})}
	if ls.tail {
		ls.streams[st] = struct{}{}
	}
	ls.connections++
	sse := !s.plainLogs && wantsEventStream(r.Header.Get("Accept"))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(ls.streams, st)
		s.mu.Unlock()
		st.end()
	}()

	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	write := func(l logLine) error {
		var err error
		if sse {
			var b strings.Builder
			fmt.Fprintf(&b, "id: %d\n", l.id)
			for _, part := range strings.Split(l.text, "\n") {
				b.WriteString("data: " + part + "\n")
			}
			b.WriteString("\n")
			_, err = w.Write([]byte(b.String()))
		} else {
			_, err = w.Write([]byte(l.text + "\n"))
		}
		if flusher != nil {
			flusher.Flush()
		}
		return err
	}
	for _, l := range history {
		if write(l) != nil {
			return
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	if !ls.tail {
		return
	}
	expired := time.NewTimer(remaining)
	defer expired.Stop()
	for {
		select {
		case l := <-st.lines:
			if write(l) != nil {
				return
			}
		case <-st.done:
			return
		case <-expired.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}
