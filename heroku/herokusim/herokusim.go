// Package herokusim is a simulated Heroku Platform API, served over HTTP,
// that answers as Heroku's Platform API reference and its JSON schema (the
// one heroku-go v5.5.0 ships) say: Accept with its version=3 variants and
// Bearer auth; error bodies {"id","message","url"}; Range / Content-Range /
// Next-Range with 206, malformed ranges 400 and unsupported ones 416;
// ETag on every answer and If-None-Match giving 304 on every GET;
// Ratelimit-Remaining and Request-Id on every answer, errors included;
// apps, the account, releases that go from pending to succeeded or failed
// on the simulator's own clock, rollbacks that create "Rollback to vN",
// pipelines, couplings and promotions; log sessions whose logplex_url
// streams plain lines or server-sent events, filtered by source and dyno
// as logplex filters them, ends a non-tail session after its last lines,
// and expires; the API's own events in the app's log ("app[api]: Release
// v42 created by user ..."); on request, Heroku's rate limit (a pool of
// 4500 refilled at 75 a minute); and counters of the requests answered.
// Faults can be injected.
//
// It is part of the binary, not only of the tests: relwatch replay and
// relwatch demo run the watcher against it on a virtual clock, and the tests
// run the real heroku-go client against it. A conformance test checks every
// body it serves against Heroku's schema.
package herokusim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// AcceptHeader is the media type Heroku requires in Accept; its variants
// (version=3.sdk, version=3.pipelines, ...) are served as well.
const AcceptHeader = "application/vnd.heroku+json; version=3"

// Account is the email of the account New's token belongs to.
const Account = "deployer@example.com"

// ReleaseSpec describes a release to add to the simulator.
type ReleaseSpec struct {
	Version     int           // 0: the next version
	Description string        // as Heroku writes it: "Deploy abc123", "Rollback to v41"
	Status      string        // the final status: "succeeded" (default) or "failed"
	CreatedAt   time.Time     // zero: the simulator's now; a future time hides it until then
	PendingFor  time.Duration // how long the release phase runs (status "pending")
	SlugID      string        // zero: derived from the version
	User        string        // email of who made it
}

// Release is a release as the simulator will serve it at a given moment.
type Release struct {
	ID          string
	Version     int
	Description string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SlugID      string
	User        string
	Current     bool
}

// Fault is a failure the simulator injects into matching API requests (not
// into log streams: see StallLogStreams, EndLogStreams, ExpireLogSessions).
type Fault struct {
	Method string // "" matches any
	Path   string // matched as a prefix of the URL path; "" matches any
	// Status, with ID and Message, answers an error before anything happens.
	Status  int
	ID      string
	Message string
	// Delay holds the request this long first (a slow Heroku).
	Delay time.Duration
	// DropAfterEffect performs the request, then closes the connection
	// without an answer (a response lost after the server acted on it).
	DropAfterEffect bool
	// CutAfterEffect performs the request, then sends its status and
	// headers (Content-Length of the whole body) and half the body, and
	// closes the connection: a success cut short.
	CutAfterEffect bool
	// MalformAfterEffect performs the request, then answers its status
	// with a body that is not JSON (a proxy's page): a success nobody can
	// read.
	MalformAfterEffect bool
	// Times is how many requests the fault hits; 0 means once.
	Times int
}

// Request is one request the simulator received, kept for assertions.
type Request struct {
	Method, Path, Range, IfNoneMatch, Accept string
	Authorized                               bool
	AccountEmail                             string // the account whose token it bore ("": none)
	Status                                   int
	Body                                     string
	RequestID                                string // the Request-Id answered
}

type release struct {
	spec ReleaseSpec
	id   string
	// created and phaseEnded: the API event lines of the release's creation
	// and of its release phase's end were written (events.go).
	created, phaseEnded bool
}

type app struct {
	owner     string // the email of the only account that reaches it ("": every account)
	id        string
	name      string
	createdAt time.Time
	releases  []*release // by version ascending
	logs      []logLine  // the newest lines, for a session's history
	logSeq    int64
}

// Server is the simulated Platform API. Its zero value is not usable: call
// New.
type Server struct {
	mu sync.Mutex
	// accounts are the tokens the simulator accepts: New's first, then
	// AddAccount's. Each has its own rate-limit pool.
	accounts      []*account
	now           func() time.Time
	pageSize      int
	rollbackPhase time.Duration
	rollbackFails bool
	apps          map[string]*app
	faults        []*Fault
	log           []Request
	counts        Counts
	start         time.Time // the simulator's clock when it started
	// limit is the rate limit every account's pool starts from
	// (ratelimit.go); unlimited unless an option sets it.
	limit pool

	pipelines  map[string]*pipeline // name -> pipeline
	promotions map[string]*promotion
	seq        int

	// app webhooks (webhooks.go)
	webhooks map[string][]webhookSub // app name -> subscriptions
	// log drains (webhooks.go: AddLogDrain)
	drains     map[string][]logDrain // app name -> drains
	deliveries []Delivery

	// log sessions (logs.go)
	sessions                     map[string]*logSession // id -> session, expired ones too
	created                      []*logSession
	unconnectedTTL, connectedTTL time.Duration
	plainLogs                    bool

	srv *httptest.Server
}

type pipeline struct {
	id, name  string
	stages    map[string]string // app name -> stage
	createdAt time.Time
}

type promotion struct {
	id, pipeline, sourceApp, sourceRelease string
	createdAt                              time.Time
	targets                                []promotionTarget
}

type promotionTarget struct {
	app, release string
	done         time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the simulator's clock (default time.Now). Release
// statuses, the releases' visibility, log session expiry and the rate-limit
// refill follow it.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithPageSize sets how many items one list response holds at most
// (default 200, Heroku's default page size).
func WithPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// WithRollbackReleasePhase sets how long a rollback release stays pending.
func WithRollbackReleasePhase(d time.Duration) Option {
	return func(s *Server) { s.rollbackPhase = d }
}

// WithFailingRollbackPhase makes every rollback release's release phase
// fail (its status ends "failed"), as when its release command exits
// non-zero: Heroku keeps the bad release live.
func WithFailingRollbackPhase() Option {
	return func(s *Server) { s.rollbackFails = true }
}

// New starts a simulated Platform API on 127.0.0.1 that accepts token.
func New(token string, opts ...Option) *Server {
	s := &Server{now: time.Now, pageSize: 200, apps: map[string]*app{}, sessions: map[string]*logSession{},
		pipelines: map[string]*pipeline{}, promotions: map[string]*promotion{},
		unconnectedTTL: DefaultLogSessionTTL, connectedTTL: DefaultLogStreamTTL,
		limit: pool{budget: HerokuRateLimit, max: HerokuRateLimit, refillPerSecond: HerokuRefillPerMinute / 60.0, lowest: -1}}
	for _, o := range opts {
		o(s)
	}
	s.start = s.now()
	s.addAccountLocked(token, Account)
	s.counts = Counts{ByStatus: map[int]int{}, ByApp: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the base URL of the simulated API.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the simulator down.
func (s *Server) Close() {
	s.mu.Lock()
	for _, ls := range s.sessions {
		ls.endStreams()
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// AddAccount accepts token too, as the account email's: its own
// rate-limit pool, full, and the apps OwnApp gives it.
func (s *Server) AddAccount(token, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addAccountLocked(token, email)
}

func (s *Server) addAccountLocked(token, email string) {
	a := &account{token: token, email: email, pool: s.limit}
	a.pool.at = s.now()
	s.accounts = append(s.accounts, a)
}

// RevokeToken revokes token, as `heroku authorizations:revoke` does: every
// request that bears it is answered 401 from then on.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.token == token {
			a.revoked = true
		}
	}
}

// accountOf is the account whose token authorization bears (nil: none, or
// revoked).
func (s *Server) accountOf(authorization string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if !a.revoked && authorization == "Bearer "+a.token {
			return a
		}
	}
	return nil
}

// OwnApp makes app (created if needed) the account email's alone: another
// account's token is refused it, 403 forbidden, as Heroku refuses an app
// the account is no collaborator of. An app no account owns is every
// account's.
func (s *Server) OwnApp(app, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appFor(app).owner = email
}

// AddApp adds an app with no releases.
func (s *Server) AddApp(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appFor(name)
}

func (s *Server) appFor(name string) *app {
	a, ok := s.apps[name]
	if !ok {
		a = &app{id: uuidFrom("app", name, 0), name: name, createdAt: s.now()}
		s.apps[name] = a
	}
	return a
}

// AddRelease adds a release to app (created if needed) and returns its id.
// A release created now writes its API event lines into the app's log at
// once (one scheduled for later, when it comes due: PublishEvents).
func (s *Server) AddRelease(appName string, spec ReleaseSpec) string {
	s.mu.Lock()
	a := s.appFor(appName)
	id := s.addReleaseLocked(a, spec).id
	ev := s.apiEventsLocked(a, s.now())
	s.mu.Unlock()
	s.publish(ev)
	return id
}

func (s *Server) addReleaseLocked(a *app, spec ReleaseSpec) *release {
	if spec.Version == 0 {
		spec.Version = 1
		if n := len(a.releases); n > 0 {
			spec.Version = a.releases[n-1].spec.Version + 1
		}
	}
	if spec.Status == "" {
		spec.Status = "succeeded"
	}
	if spec.CreatedAt.IsZero() {
		spec.CreatedAt = s.now()
	}
	if spec.SlugID == "" {
		spec.SlugID = uuidFrom("slug", a.name, spec.Version)
	}
	if spec.User == "" {
		spec.User = Account
	}
	if spec.CreatedAt.Before(a.createdAt) {
		a.createdAt = spec.CreatedAt
	}
	r := &release{spec: spec, id: uuidFrom("release", a.name, spec.Version)}
	a.releases = append(a.releases, r)
	sort.Slice(a.releases, func(i, j int) bool { return a.releases[i].spec.Version < a.releases[j].spec.Version })
	return r
}

// AddPipeline makes a pipeline of apps, each at its stage ("staging",
// "production").
func (s *Server) AddPipeline(name string, stages map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pipelines[name] = &pipeline{id: uuidFrom("pipeline", name, 0), name: name, stages: stages, createdAt: s.now()}
}

// InjectFault adds a fault; faults are matched in the order added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Requests returns the API requests received so far (log streams are not
// API requests and are not kept). Counts counts them without copying.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Releases returns app's releases visible now, oldest first.
func (s *Server) Releases(appName string) []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appName]
	if !ok {
		return nil
	}
	return s.visibleLocked(a, s.now())
}

func (s *Server) visibleLocked(a *app, now time.Time) []Release {
	var out []Release
	for _, r := range a.releases {
		if r.spec.CreatedAt.After(now) {
			continue
		}
		out = append(out, r.at(now))
	}
	// Heroku's current release is the newest one that succeeded.
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Status == "succeeded" {
			out[i].Current = true
			break
		}
	}
	return out
}

func (r *release) at(now time.Time) Release {
	out := Release{
		ID: r.id, Version: r.spec.Version, Description: r.spec.Description,
		Status: r.spec.Status, CreatedAt: r.spec.CreatedAt, UpdatedAt: r.spec.CreatedAt,
		SlugID: r.spec.SlugID, User: r.spec.User,
	}
	if done := r.spec.CreatedAt.Add(r.spec.PendingFor); now.Before(done) {
		out.Status = "pending"
	} else {
		out.UpdatedAt = done
	}
	return out
}

// randomUUID makes a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// uuidFrom makes a stable, well-formed UUID from its parts, so the
// simulator's ids are the same on every run.
// NamedSlug is the slug identity (a UUID) of the build an app's recording
// names: releases naming the same build share it.
func NamedSlug(app, name string) string { return uuidFrom("named-slug", app+"/"+name, 0) }

func uuidFrom(kind, name string, n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", kind, name, n)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// isUUID reports whether s is a UUID in its canonical 8-4-4-4-12 form, the
// schema's "uuid" format.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
