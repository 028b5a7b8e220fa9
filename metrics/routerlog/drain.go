package routerlog

import (
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFrame is a body that is not a run of octet-counted frames.
var ErrFrame = errors.New("malformed octet-counted frame")

// FrameError says where a body stopped being a run of octet-counted
// frames, and why; it is an ErrFrame.
type FrameError struct {
	Frame  int    // the frame that did not read, counted from 1
	Offset int    // its first byte in the body
	Why    string // what was wrong with its length
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("frame %d (byte %d): %s", e.Frame, e.Offset, e.Why)
}

func (e *FrameError) Is(target error) bool { return target == ErrFrame }

// SplitFrames calls fn with each frame of an application/logplex-1 body:
// "<length> <syslog message>" repeated, the length in decimal. It returns
// the frames read and a *FrameError (with what came before it delivered)
// when the body stops making sense: nothing after it can be framed. It
// allocates nothing until the body is malformed.
func SplitFrames(body []byte, fn func(frame []byte)) (int, error) {
	n, total := 0, len(body)
	for len(body) > 0 {
		for len(body) > 0 && (body[0] == '\n' || body[0] == '\r') {
			body = body[1:]
		}
		if len(body) == 0 {
			break
		}
		sp := 0
		for sp < len(body) && sp < 8 && body[sp] >= '0' && body[sp] <= '9' {
			sp++
		}
		if sp == 0 || sp >= len(body) || body[sp] != ' ' {
			return n, &FrameError{Frame: n + 1, Offset: total - len(body), Why: "no length (up to 8 digits and a space) at its start"}
		}
		size, _ := atoi(body[:sp])
		at := total - len(body)
		body = body[sp+1:]
		if size <= 0 || size > len(body) {
			return n, &FrameError{Frame: n + 1, Offset: at, Why: fmt.Sprintf("length %d, but %d bytes are left in the body", size, len(body))}
		}
		fn(body[:size])
		n++
		body = body[size:]
	}
	return n, nil
}

// The environment variables that hold the drain's credentials.
const (
	EnvDrainUser     = "RELWATCH_DRAIN_USER"
	EnvDrainPassword = "RELWATCH_DRAIN_PASSWORD"
	EnvDrainToken    = "RELWATCH_DRAIN_TOKEN"
)

// DrainCredentials are what a drain request must present: the basic-auth
// user and password of the drain URL (heroku drains:add
// https://USER:PASSWORD@host/drain/APP), the drain's token (the
// Logplex-Drain-Token header, shown by heroku drains), or both.
type DrainCredentials struct {
	User, Password, Token string
}

// Check says whether c can tell a stranger from Logplex: a user with a
// password, a token, or both; half a pair is an error too.
func (c DrainCredentials) Check() error {
	switch {
	case c.User != "" && c.Password == "":
		return fmt.Errorf("%s is set but %s is empty: a drain URL's credentials are user:password", EnvDrainUser, EnvDrainPassword)
	case c.User == "" && c.Password != "":
		return fmt.Errorf("%s is set but %s is empty: a drain URL's credentials are user:password", EnvDrainPassword, EnvDrainUser)
	case c.User == "" && c.Token == "":
		return fmt.Errorf("a drain needs credentials, or anyone could feed relwatch false traffic: set %s and %s to the user and password of the drain URL (heroku drains:add https://USER:PASSWORD@<host>/drain/<app>), or %s to the drain's token (heroku drains)",
			EnvDrainUser, EnvDrainPassword, EnvDrainToken)
	}
	return nil
}

// Describe names what c checks, never the secrets themselves.
func (c DrainCredentials) Describe() string {
	var parts []string
	if c.User != "" {
		parts = append(parts, "basic auth as "+c.User)
	}
	if c.Token != "" {
		parts = append(parts, "drain token")
	}
	return strings.Join(parts, " and ")
}

// EnvDrainTokenOf names the variable that holds app's own drain token:
// RELWATCH_DRAIN_CRATES_IO_TOKEN for crates-io. Heroku gives every drain a
// token of its own.
func EnvDrainTokenOf(app string) string {
	return "RELWATCH_DRAIN_" + strings.ToUpper(strings.ReplaceAll(app, "-", "_")) + "_TOKEN"
}

// DrainCredentialsFromEnv reads app's drain credentials (getenv is
// os.Getenv): RELWATCH_DRAIN_USER and RELWATCH_DRAIN_PASSWORD, the drain
// URL's, which may be the same for every app; and its drain's token,
// EnvDrainTokenOf(app), else RELWATCH_DRAIN_TOKEN while app is the only
// one of the drained apps (how many have drains). It refuses what Check
// refuses, and one token for several drains: all but one would be refused.
func DrainCredentialsFromEnv(getenv func(string) string, app string, drained int) (DrainCredentials, error) {
	// Without the whitespace around them: a value pasted with a newline
	// would refuse every batch Logplex sends, the drain URL holding none.
	raw := getenv
	getenv = func(k string) string { return strings.TrimSpace(raw(k)) }
	c := DrainCredentials{User: getenv(EnvDrainUser), Password: getenv(EnvDrainPassword), Token: getenv(EnvDrainTokenOf(app))}
	if c.Token == "" {
		c.Token = getenv(EnvDrainToken)
		if c.Token != "" && drained > 1 {
			return DrainCredentials{}, fmt.Errorf("%s is one drain's token, and %d apps have drains: Heroku gives each drain a token of its own, so the others' batches would all be refused; set %s to %s's (heroku drains -a %s), and so for each app, or use the drain URLs' user and password alone (%s, %s), which may be the same for every app",
				EnvDrainToken, drained, EnvDrainTokenOf(app), app, app, EnvDrainUser, EnvDrainPassword)
		}
	}
	return c, c.Check()
}

// authorized compares every secret c has with what r presents, in time
// that depends on neither (their SHA-256 sums are compared).
func (c DrainCredentials) authorized(r *http.Request) bool {
	if c.Check() != nil {
		return false
	}
	same := func(got, want string) int {
		g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
		return subtle.ConstantTimeCompare(g[:], w[:])
	}
	ok := 1
	if c.User != "" {
		u, p, has := r.BasicAuth()
		ok = same(u, c.User) & same(p, c.Password)
		if !has {
			ok = 0
		}
	}
	if c.Token != "" {
		ok &= same(r.Header.Get("Logplex-Drain-Token"), c.Token)
	}
	return ok == 1
}

// Drain is one app's HTTPS log drain: its credentials and the aggregator
// its router lines go to. A DrainServer serves drains.
type Drain struct {
	Agg *Aggregator
	DrainCredentials
	Logger *slog.Logger
	// OnAPIEvent, when set, is called with each line of Heroku's API
	// events a batch carries that may mean a release (a drain gets every
	// line of the app's log, these too: ParseAPIEvent), and when logplex
	// reports lines it dropped. It must not block.
	OnAPIEvent func(APIEvent)

	frames frameIDs // the batches counted lately, by Logplex-Frame-Id
	// refusedSaid: a batch from Logplex refused for its credentials was
	// logged; unreadSaid: a batch with lines that did not read.
	refusedSaid, unreadSaid spaced
}

// RefusedLogEvery is how often, at most, a drain logs that Logplex's
// batches are refused for their credentials, or that their lines do not
// read. Logplex drops a batch it got a 401 for and tells no one: without
// the line, a drain set up with a mistyped password is an app whose every
// release is inconclusive for want of traffic.
const RefusedLogEvery = 10 * time.Minute

// spaced lets a thing be said at most once per interval.
type spaced struct{ last atomic.Int64 } // unix ns of the last saying

// due reports whether it may be said at now (and, if so, that it is).
func (s *spaced) due(now time.Time, every time.Duration) bool {
	last := s.last.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < every {
		return false
	}
	return s.last.CompareAndSwap(last, now.UnixNano())
}

// unreadLines is what of one batch did not read: the router lines that
// did not parse, and where the framing broke off (the rest is lost).
type unreadLines struct {
	lines, frame int   // how many router lines did not read; the first's frame (from 1)
	first        error // why the first did not
	seen         int   // frames looked at
	cut          error // the framing's error, if it broke off
}

// note records the reading of the next frame (err: its ParseLine error).
func (u *unreadLines) note(err error) {
	u.seen++
	if err == nil || errors.Is(err, ErrNotRouter) {
		return
	}
	if u.lines == 0 {
		u.frame, u.first = u.seen, err
	}
	u.lines++
}

// unreadable logs, at most once per RefusedLogEvery, a batch some of
// whose router lines were not counted: which frame, and why (never the
// line: a path can carry a signed query). The aggregator's counters say
// how many over time.
func (d *Drain) unreadable(logger *slog.Logger, app, frameID string, size, frames int, u *unreadLines, now time.Time) {
	if (u.lines == 0 && u.cut == nil) || !d.unreadSaid.due(now, RefusedLogEvery) {
		return
	}
	args := []any{"app", app, "frame_id", frameID, "bytes", size, "frames", frames}
	if u.lines > 0 {
		args = append(args, "unread_lines", u.lines, "first_unread", fmt.Sprintf("frame %d: %v", u.frame, u.first))
	}
	if u.cut != nil {
		args = append(args, "cut_off", u.cut.Error()+"; the rest of the batch is not read")
	}
	logger.Warn("drain batch with router lines not counted (said once per "+RefusedLogEvery.String()+"; the malformed count in the router-log line keeps the tally)", args...)
}

// refusedLogplex logs, at most once per RefusedLogEvery, that r, a batch
// Logplex sent (it carries Logplex's own headers; a stranger's request is
// not logged), was refused for its credentials: what it presented and
// what the drain wants, never a secret.
func (d *Drain) refusedLogplex(logger *slog.Logger, app string, r *http.Request, now time.Time) {
	if r.Header.Get("Logplex-Frame-Id") == "" && r.Header.Get("Logplex-Drain-Token") == "" {
		return
	}
	if !d.refusedSaid.due(now, RefusedLogEvery) {
		return
	}
	var sent []string
	if _, _, ok := r.BasicAuth(); ok {
		sent = append(sent, "basic auth")
	}
	if r.Header.Get("Logplex-Drain-Token") != "" {
		sent = append(sent, "drain token")
	}
	presented := strings.Join(sent, " and ")
	if presented == "" {
		presented = "nothing"
	}
	logger.Warn("drain batch refused (401): Logplex's credentials are not the drain's, so it drops every batch and the app's traffic is not seen; compare heroku drains -a "+app+" with the drain's settings",
		"app", app, "sent", presented, "want", d.Describe(),
		"settings", EnvDrainUser+", "+EnvDrainPassword+", "+EnvDrainTokenOf(app)+" (or "+EnvDrainToken+")")
}

// frameIDs remembers the last maxFrameIDs frame ids a drain counted.
// Logplex sends one batch at a time per drain and retries a batch (up to
// 3 tries, within seconds) before it sends the next, so a resent batch is
// always among the last few.
type frameIDs struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string // in the order counted; the oldest is forgotten first
	next int
}

const (
	maxFrameIDs   = 1024
	maxFrameIDLen = 128 // Logplex's are 32 hex digits; a longer one is not remembered
)

// first reports whether id was not counted lately, and remembers it.
func (f *frameIDs) first(id string) bool {
	if id == "" || len(id) > maxFrameIDLen {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.seen[id]; ok {
		return false
	}
	if f.seen == nil {
		f.seen, f.ring = make(map[string]struct{}, maxFrameIDs), make([]string, maxFrameIDs)
	}
	delete(f.seen, f.ring[f.next])
	f.ring[f.next] = id
	f.seen[id] = struct{}{}
	f.next = (f.next + 1) % maxFrameIDs
	return true
}

// DrainLimits bound what the drain server gives any client. The defaults
// follow what Logplex sends (heroku/logplex, src/logplex_http_drain.erl):
// one request at a time per drain, batches of about 100 KB
// (http_drain_target_bytes 102400), and its own 5 s limit on a request
// (REQUEST_TIMEOUT), so a slower request is no Logplex request.
type DrainLimits struct {
	HeaderTimeout time.Duration // to read a request's headers (default 5 s)
	BodyTimeout   time.Duration // to read a body, once the request is authorized (default 5 s)
	WriteTimeout  time.Duration // to write an answer (default 5 s)
	// IdleTimeout closes a kept-alive connection with no request. Logplex
	// closes its idle connections after 144 s plus up to 15 s
	// (http_drain_idle_timeout, http_drain_idle_fuzz): the default, 3 min,
	// leaves that to Logplex.
	IdleTimeout time.Duration
	MaxRequests int   // authorized requests read at once (default 64); more: 503
	MaxBatch    int64 // bytes in one request (default 1 MiB); more: 413
	MaxBuffered int64 // bytes of bodies held at once, all requests (default 16 MiB); more: 503
	// MaxConns bounds open connections (default 256): past it, new
	// connections wait in the listen queue until one closes, or until the
	// oldest that has not presented the credentials within 250 ms is
	// closed for them; when every open one has, a new one is closed.
	MaxConns   int
	RetryAfter time.Duration // the Retry-After of a 503 (default 1 s)
}

func (l DrainLimits) withDefaults() DrainLimits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.HeaderTimeout, 5*time.Second)
	def(&l.BodyTimeout, 5*time.Second)
	def(&l.WriteTimeout, 5*time.Second)
	def(&l.IdleTimeout, 3*time.Minute)
	def(&l.RetryAfter, time.Second)
	if l.MaxRequests <= 0 {
		l.MaxRequests = 64
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = 1 << 20
	}
	if l.MaxBuffered <= 0 {
		l.MaxBuffered = 16 << 20
	}
	// Room for one batch at least, in the buffer size it is read into.
	l.MaxBuffered = max(l.MaxBuffered, int64(smallestBatch)<<batchClass(l.MaxBatch))
	if l.MaxConns <= 0 {
		l.MaxConns = 256
	}
	return l
}

// DrainStats counts what the drain server did with requests and
// connections.
type DrainStats struct {
	Accepted     int64 // batches read and counted (204)
	Resent       int64 // batches read again under a frame id counted lately (204, not counted)
	Unauthorized int64 // 401: no or wrong credentials
	UnknownApp   int64 // 404
	NotABatch    int64 // 405 or 415: not a POST of application/logplex-1
	TooLarge     int64 // 413
	Busy         int64 // 503: MaxRequests already being read
	OverBudget   int64 // 503: MaxBuffered already held
	ReadFailed   int64 // 503: the body did not arrive whole in time
	Reading      int64 // authorized requests being read now (of MaxRequests)
	Evicted      int64 // connections closed for a newer one (MaxConns)
	Refused      int64 // connections closed at once (MaxConns, all authorized)
	OpenConns    int64 // connections open now
	Buffered     int64 // body bytes held now
	// Webhook is what the webhooks beside the drains answered: counted
	// apart, so that a stranger's requests to /webhooks/ raise no drain
	// alert, and a wrong webhook secret shows.
	Webhook WebhookStats
}

// WebhookStats counts what the webhooks (webhooks.go) answered.
type WebhookStats struct {
	Taken            int64 // notifications taken (204)
	Resent           int64 // a delivery taken lately, again (204, not acted on)
	Refused          int64 // 401: no signature, or not the body's with the secret
	UnknownApp       int64 // 404
	NotANotification int64 // 405, 415, 400
	TooLarge         int64 // 413
	Busy             int64 // 503: the webhooks' slots, or the server's bytes, taken
	ReadFailed       int64 // 503: the body did not arrive whole in time
	Reading          int64 // notifications being read now
}

// bodyCounts are where readBody counts its refusals: the drains' or the
// webhooks'.
type bodyCounts struct{ tooLarge, busy, overBudget, readFailed *atomic.Int64 }

// DrainServer serves drains at POST /drain/{app}, so that no stranger can
// blind relwatch or feed it false traffic. Each request is checked before
// any of its body is read: the app must have a drain (404), the
// credentials must match, compared in constant time (401), the batch must
// be application/logplex-1 (415) and not larger than MaxBatch (413); then
// it needs one of MaxRequests slots (503), and its body must arrive within
// BodyTimeout while all bodies held stay within MaxBuffered (503).
//
// The answers are what Logplex handles well (heroku/logplex,
// src/logplex_http_drain.erl, handle_response_status): a 2xx is delivered;
// a 4xx other than 429 drops the batch for good — right for a stranger, and
// for a batch that will never fit; a 503 (like any 5xx, 429 or timeout)
// makes Logplex reconnect with a randomized exponential backoff and send
// the same batch again, up to 3 tries (http_frame_retries 2). Logplex
// ignores Retry-After; other clients may not. Every refusal closes the
// connection, so an unread body is never waited for.
type DrainServer struct {
	drains map[string]*Drain
	lim    DrainLimits
	logger *slog.Logger

	slots chan struct{} // MaxRequests
	// webhookSlots are the webhooks' own: a webhook's signature is known
	// only once its body is read, so a stranger's well-formed but false
	// ones must not take the drains' slots and have Logplex's batches
	// refused.
	webhookSlots chan struct{}
	// webhookIDs are the deliveries taken lately: one sent again (a
	// replay of a signed notification) is answered, not acted on.
	webhookIDs frameIDs
	// webhookRefusedSaid: a webhook with a false signature was logged.
	webhookRefusedSaid spaced
	mu                 sync.Mutex
	buffered           int64 // bytes of bodies held, at most lim.MaxBuffered
	srv                *http.Server
	conns              *connLimiter
	beside             *http.ServeMux // what Handle mounts beside the drains; nil: nothing

	accepted, resent, unauthorized, unknownApp, notABatch, tooLarge, busy, overBudget, readFailed atomic.Int64

	hook webhookCounts // the webhooks' answers
}

// webhookCounts are the webhooks' answers (WebhookStats), apart from the
// drains'.
type webhookCounts struct {
	taken, resent, refused, unknownApp, notANotification, tooLarge, busy, readFailed atomic.Int64
}

// NewDrainServer returns a server for drains, by app name. A drain
// without credentials is an error: it would take anyone's traffic.
func NewDrainServer(drains map[string]*Drain, lim DrainLimits, logger *slog.Logger) (*DrainServer, error) {
	for app, d := range drains {
		if err := d.Check(); err != nil {
			return nil, fmt.Errorf("drain for %s: %w", app, err)
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lim = lim.withDefaults()
	s := &DrainServer{drains: drains, lim: lim, logger: logger, slots: make(chan struct{}, lim.MaxRequests), webhookSlots: make(chan struct{}, maxWebhookReads)}
	s.conns = newConnLimiter(lim.MaxConns)
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: lim.HeaderTimeout,
		WriteTimeout:      lim.BodyTimeout + lim.WriteTimeout, // from the end of the headers
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown, with the limits: header,
// body, write and idle timeouts, and at most MaxConns connections. Call it
// once.
func (s *DrainServer) Serve(ln net.Listener) error {
	s.conns.Listener = ln
	return s.srv.Serve(s.conns)
}

// Shutdown stops accepting, lets requests under way finish while ctx
// lasts, then closes every connection still open.
func (s *DrainServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// Stats returns the counters.
func (s *DrainServer) Stats() DrainStats {
	s.mu.Lock()
	buffered := s.buffered
	s.mu.Unlock()
	evicted, refused, open := s.conns.stats()
	return DrainStats{
		Accepted: s.accepted.Load(), Resent: s.resent.Load(), Unauthorized: s.unauthorized.Load(), UnknownApp: s.unknownApp.Load(),
		NotABatch: s.notABatch.Load(), TooLarge: s.tooLarge.Load(), Busy: s.busy.Load(),
		OverBudget: s.overBudget.Load(), ReadFailed: s.readFailed.Load(),
		Reading: int64(len(s.slots)), Evicted: evicted, Refused: refused, OpenConns: open, Buffered: buffered,
		Webhook: WebhookStats{Taken: s.hook.taken.Load(), Resent: s.hook.resent.Load(), Refused: s.hook.refused.Load(),
			UnknownApp: s.hook.unknownApp.Load(), NotANotification: s.hook.notANotification.Load(), TooLarge: s.hook.tooLarge.Load(),
			Busy: s.hook.busy.Load(), ReadFailed: s.hook.readFailed.Load(), Reading: int64(len(s.webhookSlots))},
	}
}

// connKey carries a request's connection in its context.
type connKey struct{}

// refuse answers status and closes the connection after the answer, so
// the server never waits to read a body nobody will use: net/http would
// otherwise read up to 256 KB of what is left of it before closing, for as
// long as the client cares to take.
func (s *DrainServer) refuse(w http.ResponseWriter, status int, msg string, counter *atomic.Int64) {
	counter.Add(1)
	w.Header().Set("Connection", "close")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.lim.RetryAfter/time.Second))))
	}
	http.Error(w, msg, status)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

var (
	errTooLarge   = errors.New("batch too large")
	errOverBudget = errors.New("too many bytes buffered")
)

// ServeHTTP answers one drain request, as DrainServer says. Mounted in
// another server, it still checks, caps and times out each request; the
// header and idle timeouts and the connection cap are then that server's.
func (s *DrainServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.mounted(r); pattern != "" {
		// A body the handler leaves unread (/metrics reads none) is read
		// by net/http before the answer goes out, up to 256 KB: within
		// the body timeout, as a drain's, not for as long as the client
		// takes to send it. Past it the connection is closed after the
		// answer.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.lim.BodyTimeout))
		h.ServeHTTP(w, r)
		return
	}
	app, ok := strings.CutPrefix(r.URL.Path, "/drain/")
	d := s.drains[app]
	if !ok || d == nil {
		s.refuse(w, http.StatusNotFound, "no drain here", &s.unknownApp)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, http.StatusMethodNotAllowed, "drains POST", &s.notABatch)
		return
	}
	logger := d.Logger
	if logger == nil {
		logger = s.logger
	}
	if !d.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="relwatch drain"`)
		s.refuse(w, http.StatusUnauthorized, "unauthorized", &s.unauthorized)
		d.refusedLogplex(logger, app, r, time.Now())
		return
	}
	// The connection has shown the credentials: it is no longer the first
	// to close when too many are open.
	if c, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
		c.authorized.Store(true)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/logplex-1" {
		s.refuse(w, http.StatusUnsupportedMediaType, "want Content-Type application/logplex-1", &s.notABatch)
		return
	}
	body, finish, ok := s.readBody(w, r, s.slots, bodyCounts{&s.tooLarge, &s.busy, &s.overBudget, &s.readFailed}, s.lim.MaxBatch, "batch", func() {
		logger.Warn("drain batch refused: larger than the limit; Logplex drops it", "app", app, "bytes", r.ContentLength, "limit", s.lim.MaxBatch)
	})
	if !ok {
		return
	}
	defer finish()
	// A batch is counted once: Logplex sends it again, under the same
	// frame id, when our answer was late or lost. Remembered only once
	// read whole, from where counting cannot fail, so a retry of a batch
	// refused above is counted.
	if id := r.Header.Get("Logplex-Frame-Id"); !d.frames.first(id) {
		logger.Debug("drain batch sent again: counted already", "app", app, "frame_id", id)
		s.resent.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var unread unreadLines
	frames, ferr := SplitFrames(body, func(frame []byte) {
		if d.OnAPIEvent != nil {
			if ev, ok := ParseAPIEvent(frame); ok && ev.MayRelease() {
				d.OnAPIEvent(ev)
			}
		}
		if lostLine(d.Agg, frame) {
			if d.OnAPIEvent != nil {
				d.OnAPIEvent(APIEvent{Unix: lineSecond(frame), Kind: APILost})
			}
			return
		}
		sec, err := d.Agg.AddLine(frame)
		if sec != 0 {
			d.Agg.Heard(sec)
		}
		unread.note(err)
	})
	if ferr != nil {
		d.Agg.Malformed()
		unread.cut = ferr
	}
	d.unreadable(logger, app, r.Header.Get("Logplex-Frame-Id"), len(body), frames, &unread, time.Now())
	if want := r.Header.Get("Logplex-Msg-Count"); want != "" {
		if n, err := strconv.Atoi(want); err == nil && n != frames {
			logger.Warn("drain batch frame count differs from Logplex-Msg-Count", "app", app, "want", n, "got", frames, "frame_id", r.Header.Get("Logplex-Frame-Id"))
		}
	}
	s.accepted.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the body of r, at most limit bytes (what names it in
// refusals; tooLarge, if set, is told of one refused for its size): it
// takes one of the slots of bodies being read, sets the body's deadlines,
// and answers the refusal itself when the body is too large (413: sending
// it again will not help) or cannot be read now (503). With ok, finish
// gives back what reading it held.
func (s *DrainServer) readBody(w http.ResponseWriter, r *http.Request, slots chan struct{}, count bodyCounts, limit int64, what string, tooLarge func()) (body []byte, finish func(), ok bool) {
	refuseLarge := func() {
		if tooLarge != nil {
			tooLarge()
		}
		s.refuse(w, http.StatusRequestEntityTooLarge, what+" too large", count.tooLarge)
	}
	if r.ContentLength > limit {
		refuseLarge()
		return nil, nil, false
	}
	select {
	case slots <- struct{}{}:
	default:
		s.refuse(w, http.StatusServiceUnavailable, "busy: send it again", count.busy)
		return nil, nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.lim.BodyTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(s.lim.BodyTimeout + s.lim.WriteTimeout))
	body, held, err := s.readBatch(r.Body, r.ContentLength, limit)
	finish = func() {
		putBatch(body)
		s.release(held)
		<-slots
	}
	switch {
	case errors.Is(err, errTooLarge):
		refuseLarge()
	case errors.Is(err, errOverBudget):
		s.refuse(w, http.StatusServiceUnavailable, "busy: send it again", count.overBudget)
	case err != nil:
		// Cut short or too slow: sending it again may well work.
		s.refuse(w, http.StatusServiceUnavailable, "could not read the "+what, count.readFailed)
	default:
		return body, finish, true
	}
	finish()
	return nil, nil, false
}

// readBatch reads a body of length bytes (-1: unknown, then at most
// limit) into a buffer that grows as the bytes arrive, each growth taken
// from MaxBuffered first. It returns the buffer, to give back with
// putBatch once the batch is counted, and the bytes held, for release.
func (s *DrainServer) readBatch(r io.Reader, length, limit int64) (body []byte, held int64, err error) {
	ceiling := length
	if length < 0 {
		ceiling = limit
	}
	fail := func(err error) ([]byte, int64, error) {
		putBatch(body)
		return nil, held, err
	}
	for {
		if int64(len(body)) == ceiling {
			var probe [1]byte
			n, err := io.ReadFull(r, probe[:])
			switch {
			case n > 0 && length < 0:
				return fail(errTooLarge)
			case n > 0:
				return fail(errors.New("body longer than its Content-Length"))
			case err != io.EOF:
				return fail(err)
			}
			return body, held, nil
		}
		if len(body) == cap(body) {
			grown := getBatch(min(max(2*int64(cap(body)), smallestBatch), ceiling))
			size := int64(cap(grown))
			if !s.reserve(size) {
				putBatch(grown)
				return fail(errOverBudget)
			}
			grown = append(grown, body...)
			putBatch(body)
			s.release(held)
			body, held = grown, size
		}
		n, err := r.Read(body[len(body):min(int64(cap(body)), ceiling)])
		body = body[:len(body)+n]
		if err == io.EOF {
			if length >= 0 && int64(len(body)) != length {
				return fail(io.ErrUnexpectedEOF)
			}
			return body, held, nil
		}
		if err != nil {
			return fail(err)
		}
	}
}

// smallestBatch is the smallest body buffer; each is a power of two from
// there, kept for reuse (batchPools), so a flood of bodies does not leave
// garbage behind for the collector.
const smallestBatch = 64 << 10

var batchPools [16]sync.Pool // smallestBatch << i

func batchClass(size int64) int {
	i := 0
	for int64(smallestBatch)<<i < size {
		i++
	}
	return i
}

// getBatch returns an empty buffer of at least size bytes.
func getBatch(size int64) []byte {
	i := batchClass(size)
	if i >= len(batchPools) {
		return make([]byte, 0, size)
	}
	if b, ok := batchPools[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, smallestBatch<<i)
}

// putBatch keeps b for reuse (nil is fine).
func putBatch(b []byte) {
	if cap(b) < smallestBatch {
		return
	}
	i := batchClass(int64(cap(b)))
	if i < len(batchPools) && cap(b) == smallestBatch<<i {
		b = b[:0]
		batchPools[i].Put(&b)
	}
}

func (s *DrainServer) reserve(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buffered+n > s.lim.MaxBuffered {
		return false
	}
	s.buffered += n
	return true
}

func (s *DrainServer) release(n int64) {
	s.mu.Lock()
	s.buffered -= n
	s.mu.Unlock()
}

// evictAfter is how long a connection may take to show its credentials
// before a new one may take its place. Logplex sends its request with
// the connection; a connection still not authorized after this is a
// stranger or a staller.
const evictAfter = 250 * time.Millisecond

// connLimiter is a listener that keeps at most max connections open (and
// one more, waiting). When full, the next connection waits, and the ones
// after it in the kernel's listen queue, which costs no file, until one
// closes or the oldest connection that has not yet shown the credentials
// has had evictAfter: that one is closed for it. When every open
// connection is authorized, the new one is closed at once.
type connLimiter struct {
	net.Listener
	max int

	mu               sync.Mutex
	open             *list.List // of *limitedConn, oldest first
	evicted, refused int64
	changed          chan struct{} // a connection closed
	closed           chan struct{} // the listener closed
	closeOnce        sync.Once
}

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, open: list.New(), changed: make(chan struct{}, 1), closed: make(chan struct{})}
}

type limitedConn struct {
	net.Conn
	l          *connLimiter
	elem       *list.Element
	since      time.Time
	authorized atomic.Bool
	once       sync.Once
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		room, err := l.makeRoom()
		if err != nil {
			c.Close()
			return nil, err
		}
		l.mu.Lock()
		if !room {
			l.refused++
			l.mu.Unlock()
			c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l, since: time.Now()}
		lc.elem = l.open.PushBack(lc)
		l.mu.Unlock()
		return lc, nil
	}
}

// makeRoom returns once a new connection may be added: there is room, or
// the oldest connection not yet authorized has had its evictAfter and is
// closed. It returns false when every open connection is authorized. While
// it waits, further connections wait in the listen queue.
func (l *connLimiter) makeRoom() (bool, error) {
	for {
		l.mu.Lock()
		if l.open.Len() < l.max {
			l.mu.Unlock()
			return true, nil
		}
		var victim *limitedConn
		for e := l.open.Front(); e != nil; e = e.Next() {
			if c := e.Value.(*limitedConn); !c.authorized.Load() {
				victim = c
				break
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return false, nil
		}
		wait := evictAfter - time.Since(victim.since)
		if wait <= 0 {
			l.evicted++
			l.open.Remove(victim.elem)
			victim.elem = nil
			l.mu.Unlock()
			victim.Conn.Close() // its server goroutine sees the error and ends
			return true, nil
		}
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-l.changed:
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return false, net.ErrClosed
		}
		t.Stop()
	}
}

func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *connLimiter) stats() (evicted, refused, open int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted, l.refused, int64(l.open.Len())
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.elem != nil {
			c.l.open.Remove(c.elem)
			c.elem = nil
		}
		c.l.mu.Unlock()
		select {
		case c.l.changed <- struct{}{}:
		default:
		}
	})
	return c.Conn.Close()
}
