package routerlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
)

// SessionStarter creates a log session (POST /apps/{app}/log-sessions with
// source=heroku, dyno=router, tail=true) and returns its logplex_url.
type SessionStarter interface {
	LogSession(ctx context.Context, app string) (string, error)
}

// RecentStarter creates a log session that sends the app's last lines
// router lines and ends (tail=false), and returns its logplex_url.
//
// ReadRecent counts those lines (and remembers their clients for repeats),
// but does not mark their seconds as listened to: a history is not a
// stream, and a line missing from it is not zero traffic.
type RecentStarter interface {
	RecentLogSession(ctx context.Context, app string, lines int) (string, error)
}

// Tail streams the app's router lines into agg until ctx ends. It is
// Session.Run with the defaults.
func Tail(ctx context.Context, agg *Aggregator, starter SessionStarter, app string, httpc *http.Client, now func() time.Time, logger *slog.Logger) error {
	s := &Session{Agg: agg, Starter: starter, App: app, HTTP: httpc, Now: now, Logger: logger}
	return s.Run(ctx)
}

// DefaultStallTimeout is how long a log stream may stay silent before the
// reader takes it for dead: as long as the drain's tolerance of silence,
// after which seconds are no data either way.
const DefaultStallTimeout = time.Minute

// Session reads an app's router lines from Heroku log sessions into Agg.
//
// A log session's URL (logplex_url) is good for about 5 minutes before its
// first connection and about an hour after; an expired one answers 404 (or
// 403). The reader keeps one URL for as long as it is good: a stream that
// ends, fails or stalls (sends nothing for StallTimeout: a read deadline)
// is reconnected to the same URL, with Last-Event-ID when it was sending
// server-sent events; a URL that answers 4xx is dropped and a new session
// opened. Both stream formats are read: server-sent events (id: / data:
// frames, text/event-stream), asked for in Accept, and plain lines.
//
// A new connection sends the session's recent history first (Heroku sends
// the last lines before tailing), so lines stamped at or before the newest
// second an earlier stream delivered are skipped: they were counted then,
// or fell in seconds the aggregator holds as no data.
//
// Seconds from a stream's end (for a stall, or a stream quiet before it
// ended: from its newest line) to the next one's start have no data, and
// so have the seconds after the newest line of the stream still open.
type Session struct {
	Agg     *Aggregator
	Starter SessionStarter
	App     string
	HTTP    *http.Client     // nil: http.DefaultClient
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	// StallTimeout is how long a stream may send nothing before it is
	// reconnected (default DefaultStallTimeout).
	StallTimeout time.Duration
	// Backoff returns the waits between attempts (default exponential from
	// 500 ms, capped at 30 s); a stream that delivered lines starts it over.
	Backoff func() retry.Backoff

	// An EventTail's: where the lines go instead of Agg, how a session is
	// started instead of Starter, what the log is called in the log lines,
	// and the second before which lines are not news.
	sink  lineSink
	start func(ctx context.Context, app string) (string, error)
	what  string
	since int64
	// pause waits between attempts (default sleep; tests count the waits).
	pause func(ctx context.Context, d time.Duration) error
}

// lineSink is where a stream's lines go, and when it listened.
type lineSink interface {
	listening(now time.Time)
	stopped(now time.Time)
	line(b []byte)
	malformed()
}

// aggSink counts router lines into an aggregator.
type aggSink struct{ agg *Aggregator }

func (a aggSink) listening(now time.Time) { a.agg.Listening(now) }
func (a aggSink) stopped(now time.Time)   { a.agg.Stopped(now) }
func (a aggSink) malformed()              { a.agg.Malformed() }
func (a aggSink) line(b []byte) {
	if !lostLine(a.agg, b) {
		a.agg.Add(b)
	}
}

func (s *Session) defaults() {
	if s.HTTP == nil {
		s.HTTP = http.DefaultClient
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.StallTimeout <= 0 {
		s.StallTimeout = DefaultStallTimeout
	}
	if s.sink == nil {
		s.sink = aggSink{s.Agg}
	}
	if s.start == nil && s.Starter != nil {
		s.start = s.Starter.LogSession
	}
	if s.what == "" {
		s.what = "router log stream"
	}
	if s.pause == nil {
		s.pause = sleep
	}
	if s.Backoff == nil {
		s.Backoff = func() retry.Backoff {
			return retry.WithCappedDuration(30*time.Second, retry.NewExponential(500*time.Millisecond))
		}
	}
}

// Run reads until ctx ends, and returns ctx's error.
func (s *Session) Run(ctx context.Context) error {
	s.defaults()
	logger := s.Logger.With("app", s.App)
	backoff := s.Backoff()
	var (
		url         string        // the session's logplex_url: a credential, never logged
		lastID      string        // the last event id read from url
		floor       = s.since     // newest second an earlier stream delivered
		refusedWait time.Duration // the last wait after a refused start (0: the last start was not refused)
	)
	for {
		var res streamResult
		var err error
		if url == "" {
			url, err = s.start(ctx, s.App)
			lastID = ""
		}
		if err == nil {
			res = s.stream(ctx, url, lastID, floor)
			err = res.err
			floor = max(floor, res.newest)
			lastID = res.lastID
			if res.expired {
				url = ""
			}
			if res.lines > 0 {
				backoff = s.Backoff()
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, _ := backoff.Next()
		if refusedStart(err) {
			// Heroku does not know the app, or it is not the token's: asking
			// every 30 s would cost the token's budget and the log a line
			// each, for hours. Asked less and less often, said once.
			refusedWait = min(max(2*refusedWait, refusedFirstWait), refusedMaxWait)
			wait = refusedWait
			if refusedWait == refusedFirstWait {
				logger.Warn(s.what+": Heroku refused to start a log session; asking again less and less often (up to "+refusedMaxWait.String()+"), said once", "err", err, "in", wait)
			} else {
				logger.Debug(s.what+": Heroku refused to start a log session again", "err", err, "in", wait)
			}
		} else {
			refusedWait = 0
			logger.Warn(s.what+" ended; reconnecting", "err", err, "lines", res.lines,
				"replayed", res.replayed, "new_session", url == "", "in", wait)
		}
		if err := s.pause(ctx, wait); err != nil {
			return err
		}
	}
}

// The waits between starts of a log session Heroku refused (refusedStart).
const (
	refusedFirstWait = time.Minute
	refusedMaxWait   = 10 * time.Minute
)

// refusedStart reports whether err is Heroku's refusal to start a log
// session that trying again within seconds will not mend: 404 (no such
// app) or 403 (not the token's app).
func refusedStart(err error) bool {
	var st interface{ HTTPStatus() int }
	if !errors.As(err, &st) {
		return false
	}
	return st.HTTPStatus() == http.StatusNotFound || st.HTTPStatus() == http.StatusForbidden
}

// ReadRecent opens one non-tail log session for app, reads the last lines
// router lines it sends into agg, and returns at the end of the stream with
// how many lines it read. The session's end is its success: it is not
// reconnected. An expired URL (4xx) opens a new session, once.
func ReadRecent(ctx context.Context, agg *Aggregator, starter RecentStarter, app string, lines int, httpc *http.Client) (int64, error) {
	s := &Session{Agg: agg, App: app, HTTP: httpc}
	s.defaults()
	var res streamResult
	for attempt := 1; attempt <= 2; attempt++ {
		url, err := starter.RecentLogSession(ctx, app, lines)
		if err != nil {
			return 0, err
		}
		res = s.read(ctx, url, "", 0, false)
		if !res.expired {
			break
		}
	}
	if errors.Is(res.err, io.EOF) {
		return res.lines, nil
	}
	return res.lines, res.err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// streamResult is how one connection to a logplex_url went.
type streamResult struct {
	lines    int64  // lines read (counted or not)
	replayed int64  // lines skipped as already counted
	newest   int64  // newest line second read
	lastID   string // last event id read, for Last-Event-ID
	expired  bool   // the URL is no good any more: open a new session
	err      error  // why the stream ended (io.EOF: the server closed it)
}

// errStalled is a stream that sent nothing for the stall timeout.
var errStalled = errors.New("the stream sent nothing")

// stream reads one connection of a tail session, marking the seconds it
// was open as listened to.
func (s *Session) stream(ctx context.Context, url, lastID string, floor int64) streamResult {
	res := s.read(ctx, url, lastID, floor, true)
	if errors.Is(res.err, io.EOF) {
		res.err = errors.New("the stream ended")
	}
	return res
}

// maxLine is the longest log line read; longer ones are skipped as
// malformed (Heroku cuts lines at 10 KB).
const maxLine = 16 << 10

// read connects to url and feeds what it sends to the aggregator until the
// stream ends, fails or stalls. With listening set, the connection's span
// is marked as listened to: from its start to its end, or for a stall to
// its last byte.
func (s *Session) read(ctx context.Context, url, lastID string, floor int64, listening bool) streamResult {
	var res streamResult
	res.lastID = lastID
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		res.err, res.expired = fmt.Errorf("open log stream: bad logplex_url: %w", redactURL(err)), true
		return res
	}
	// Heroku's current log stream answers server-sent events when asked
	// (Heroku's CLI reads it with an EventSource); logplex answers lines.
	req.Header.Set("Accept", "text/event-stream, text/plain;q=0.5")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	stall := time.AfterFunc(s.StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	resp, err := s.HTTP.Do(req)
	if err != nil {
		res.err = fmt.Errorf("open log stream: %w", streamErr(ctx, redactURL(err)))
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.err = fmt.Errorf("open log stream: status %d", resp.StatusCode)
		// A 4xx is a URL that is no good any more: expired (404, 403,
		// 410) or refused. Heroku's CLI reads 404 and 403 as "Log stream
		// timed out".
		res.expired = resp.StatusCode >= 400 && resp.StatusCode < 500
		return res
	}
	var lastRead time.Time
	var mu sync.Mutex
	body := &deadlineReader{r: resp.Body, onRead: func() {
		stall.Reset(s.StallTimeout)
		mu.Lock()
		lastRead = s.Now()
		mu.Unlock()
	}}
	if listening {
		s.sink.listening(s.Now())
		defer func() {
			end := s.Now()
			if errors.Is(res.err, errStalled) {
				mu.Lock()
				end = lastRead
				mu.Unlock()
			}
			// A stream that went quiet and then ended told nothing of the
			// seconds after its newest line: their lines may have been
			// lost with it. They are no data, never zero traffic.
			end = minTime(end, time.Unix(max(floor, res.newest)+1, 0))
			s.sink.stopped(end)
		}()
	}
	onLine := func(line []byte) {
		res.lines++
		sec := lineSecond(line)
		if sec != 0 && sec <= floor {
			res.replayed++
			return
		}
		res.newest = max(res.newest, sec)
		s.sink.line(line)
	}
	r := bufio.NewReaderSize(body, maxLine)
	if isEventStream(resp.Header.Get("Content-Type")) {
		err = readEvents(r, onLine, s.sink.malformed, func(id string) { res.lastID = id })
	} else {
		res.lastID = ""
		err = readLines(r, onLine, s.sink.malformed)
	}
	res.err = streamErr(ctx, err)
	return res
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// streamErr names a stall as such rather than as a cancelled request.
func streamErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
		return errStalled
	}
	return err
}

// deadlineReader calls onRead each time bytes arrive.
type deadlineReader struct {
	r      io.Reader
	onRead func()
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 {
		d.onRead()
	}
	return n, err
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}

// readLines reads plain newline-ended lines; a line longer than maxLine is
// skipped as malformed. It returns the error that ended the stream (io.EOF
// at its end).
func readLines(r *bufio.Reader, onLine func([]byte), malformed func()) error {
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			malformed()
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			continue
		case err != nil && len(line) == 0:
			return err
		}
		if line = bytes.TrimRight(line, "\r\n"); len(line) > 0 {
			onLine(line)
		}
		if err != nil {
			return err
		}
	}
}

// maxEvent bounds the data of one server-sent event.
const maxEvent = 4 * maxLine

// readEvents reads server-sent events (WHATWG HTML, "Server-sent events":
// "field: value" lines, a blank line dispatches the event, lines starting
// with ":" are comments). Each line of an event's data is a log line, as
// Heroku's CLI prints them; the event's id is reported once the event is
// dispatched, so an event cut short is read again after reconnecting with
// Last-Event-ID. An event or line too long is skipped as malformed. It
// returns the error that ended the stream (io.EOF at its end).
func readEvents(r *bufio.Reader, onLine func([]byte), malformed func(), onID func(string)) error {
	var data []byte
	var id string
	hasID, tooLong := false, false
	dispatch := func() {
		if tooLong {
			malformed()
		} else {
			for len(data) > 0 {
				line, rest, _ := bytes.Cut(data, []byte{'\n'})
				if len(line) > 0 {
					onLine(line)
				}
				data = rest
			}
		}
		if hasID {
			onID(id)
		}
		data, hasID, tooLong = data[:0], false, false
	}
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			continue
		}
		if err != nil && len(line) == 0 {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			dispatch()
		case line[0] == ':': // a comment, such as a keep-alive
		default:
			field, value, _ := bytes.Cut(line, []byte{':'})
			value = bytes.TrimPrefix(value, []byte{' '})
			switch string(field) {
			case "data":
				if len(data)+len(value) > maxEvent {
					tooLong = true
				} else {
					data = append(append(data, value...), '\n')
				}
			case "id":
				if bytes.IndexByte(value, 0) < 0 {
					id, hasID = string(value), true
				}
			}
		}
		if err != nil {
			return err // an event not ended by a blank line is not dispatched
		}
	}
}

// redactURL drops the URL from an error: a logplex_url is a capability.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

var (
	l10 = []byte("Error L10")
	l11 = []byte("Error L11")
)

// lostReport reads logplex's report of lines it dropped, written by heroku
// logplex and starting with its error code:
//
//	... heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since 2013-04-09T19:37:34.771587+00:00.
//	<172>1 ... host heroku logplex - Error L10 (output buffer overflow): 500 messages dropped since 2013-04-09T19:37:34+00:00.
//
// An app's own line that quotes one is no report.
func lostReport(line []byte) (logHeader, bool) {
	h, ok := header(line)
	ok = ok && string(h.source) == "heroku" && string(h.proc) == "logplex" &&
		(bytes.HasPrefix(h.msg, l11) || bytes.HasPrefix(h.msg, l10))
	return h, ok
}

// lostLine handles logplex's reports of dropped lines (lostReport): every
// second from "since" to the line's own time is marked as no data, and in
// a drain from the second after the last line delivered: there "since" is
// when Logplex dropped a batch it could not deliver, or the report's own
// time (heroku/logplex, logplex_http_drain.erl: drop_frame, lost_msgs,
// request_to_iolist), and the lines lost are older.
func lostLine(agg *Aggregator, line []byte) bool {
	h, ok := lostReport(line)
	if !ok {
		return false
	}
	at, err := parseTimestamp(h.ts)
	if err != nil {
		agg.Malformed()
		return true
	}
	msg := h.msg
	var n int64
	if j := bytes.Index(msg, []byte(" messages")); j > 0 {
		k := j
		for k > 0 && msg[k-1] >= '0' && msg[k-1] <= '9' {
			k--
		}
		v, _ := atoi(msg[k:j])
		n = int64(v)
	}
	since := at
	if j := bytes.Index(msg, []byte("since ")); j >= 0 {
		s := bytes.TrimRight(msg[j+len("since "):], ".\r\n ")
		if u, err := parseTimestamp(s); err == nil && u <= at && at-u < 3600 {
			since = u
		}
	}
	if last, ok := agg.lastHeard(); ok && last < since && at-last <= 3600 {
		since = last + 1
	}
	for sec := since; sec <= at; sec++ {
		agg.Lost(sec, 0)
	}
	agg.Lost(at, n)
	return true
}
