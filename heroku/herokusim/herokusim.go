// Package herokusim is a simulated Heroku Platform API, served over HTTP,
// that speaks Heroku's wire format: Accept and Bearer auth, error bodies
// {"id","message"}, Range / Content-Range / Next-Range with 206, ETag and
// If-None-Match with 304, Ratelimit-Remaining with 429 rate_limit, releases
// that go from pending to succeeded or failed on the fake's own clock, and
// rollbacks that create "Rollback to vN". Faults can be injected.
//
// It is part of the binary, not only of the tests: relwatch replay and
// relwatch demo run the watcher against it on a virtual clock, and the tests
// run the real heroku-go client against it.
package herokusim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AcceptHeader is the media type Heroku requires in Accept.
const AcceptHeader = "application/vnd.heroku+json; version=3"

// ReleaseSpec describes a release to add to the fake.
type ReleaseSpec struct {
	Version     int           // 0: the next version
	Description string        // as Heroku writes it: "Deploy abc123", "Rollback to v41"
	Status      string        // the final status: "succeeded" (default) or "failed"
	CreatedAt   time.Time     // zero: the fake's now; a future time hides it until then
	PendingFor  time.Duration // how long the release phase runs (status "pending")
	SlugID      string        // zero: derived from the version
	User        string        // email of who made it
}

// Release is a release as the fake will serve it at a given moment.
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

// Fault is a failure the fake injects into matching requests.
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

// Request is one request the fake received, kept for assertions.
type Request struct {
	Method, Path, Range, IfNoneMatch, Accept string
	Authorized                               bool
	Status                                   int
	Body                                     string
	RequestID                                string // the Request-Id answered
}

type release struct {
	spec ReleaseSpec
	id   string
}

type app struct {
	id       string
	name     string
	releases []*release // by version ascending
}

// Server is the fake Platform API. Its zero value is not usable: call New.
type Server struct {
	mu            sync.Mutex
	token         string
	now           func() time.Time
	pageSize      int
	rollbackPhase time.Duration
	apps          map[string]*app
	faults        []*Fault
	log           []Request
	// rate limit: a token bucket like Heroku's (4500, refilled ~75/min)
	budget, budgetMax float64
	refillPerSecond   float64
	budgetAt          time.Time
	rateLimited       bool

	pipelines  map[string]*pipeline // name -> pipeline
	promotions map[string][]promotionTarget
	sessions   map[string]*logSession // id -> open session
	created    []*logSession
	sessionSeq int

	srv *httptest.Server
}

type pipeline struct {
	id, name string
	stages   map[string]string // app name -> stage
}

type promotionTarget struct {
	app, release string
	done         time.Time
}

// logSession is one tail the fake serves at /log-sessions/{id}.
type logSession struct {
	app       string
	streaming bool
	opts      map[string]any
	lines     chan []byte
	closed    chan struct{}
	once      sync.Once
}

func (ls *logSession) end() { ls.once.Do(func() { close(ls.closed) }) }

// Option configures a Server.
type Option func(*Server)

// WithClock sets the fake's clock (default time.Now). Release statuses, the
// releases' visibility and the rate-limit refill follow it.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithPageSize sets how many releases one list response holds at most
// (default 200, Heroku's default).
func WithPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// WithRollbackReleasePhase sets how long a rollback release stays pending.
func WithRollbackReleasePhase(d time.Duration) Option {
	return func(s *Server) { s.rollbackPhase = d }
}

// WithRateLimit turns on the rate limit: budget requests, refilled at
// perMinute a minute on the fake's clock, up to budget.
func WithRateLimit(budget int, perMinute float64) Option {
	return func(s *Server) {
		s.rateLimited = true
		s.budget, s.budgetMax = float64(budget), float64(budget)
		s.refillPerSecond = perMinute / 60
	}
}

// New starts a fake Platform API on 127.0.0.1 that accepts token.
func New(token string, opts ...Option) *Server {
	s := &Server{token: token, now: time.Now, pageSize: 200, apps: map[string]*app{}, sessions: map[string]*logSession{},
		pipelines: map[string]*pipeline{}, promotions: map[string][]promotionTarget{}}
	for _, o := range opts {
		o(s)
	}
	s.budgetAt = s.now()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the base URL of the fake API.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the fake down.
func (s *Server) Close() {
	s.mu.Lock()
	for _, ls := range s.sessions {
		ls.end()
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// EmitLog sends lines to every log stream of app a client is reading, as
// logplex would; a session nobody reads misses them. It waits until each
// stream has taken them.
func (s *Server) EmitLog(app string, lines ...string) {
	s.mu.Lock()
	var open []*logSession
	for _, ls := range s.sessions {
		if ls.app == app && ls.streaming {
			open = append(open, ls)
		}
	}
	s.mu.Unlock()
	for _, ls := range open {
		for _, l := range lines {
			select {
			case ls.lines <- []byte(l + "\n"):
			case <-ls.closed:
			}
		}
	}
}

// EndLogStreams ends every open log stream of app, as logplex does when a
// tail session expires or breaks.
func (s *Server) EndLogStreams(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ls := range s.sessions {
		if ls.app == app {
			ls.end()
			delete(s.sessions, id)
		}
	}
}

// LogSessions returns the options of every log session created for app.
func (s *Server) LogSessions(app string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, ls := range s.created {
		if ls.app == app {
			out = append(out, ls.opts)
		}
	}
	return out
}

// OpenLogStreams counts the streams of app a client is reading.
func (s *Server) OpenLogStreams(app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ls := range s.sessions {
		if ls.app == app && ls.streaming {
			n++
		}
	}
	return n
}

// SetRateBudget sets the remaining rate-limit budget (turning the limit on).
func (s *Server) SetRateBudget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.rateLimited {
		s.rateLimited = true
		s.budgetMax = 4500
		s.refillPerSecond = 75.0 / 60
	}
	s.budget = float64(n)
	s.budgetAt = s.now()
}

// AddApp adds an app with no releases.
func (s *Server) AddApp(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[name]; !ok {
		s.apps[name] = &app{id: uuidFrom("app", name, 0), name: name}
	}
}

// AddRelease adds a release to app (created if needed) and returns its id.
func (s *Server) AddRelease(appName string, spec ReleaseSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appName]
	if !ok {
		a = &app{id: uuidFrom("app", appName, 0), name: appName}
		s.apps[appName] = a
	}
	return s.addReleaseLocked(a, spec).id
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
		spec.User = "deployer@example.com"
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
	s.pipelines[name] = &pipeline{id: uuidFrom("pipeline", name, 0), name: name, stages: stages}
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

// Requests returns the requests received so far.
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

type herokuError struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, id, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(herokuError{ID: id, Message: msg})
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets log streams reach the client line by line.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	entry := Request{
		Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"),
		IfNoneMatch: r.Header.Get("If-None-Match"), Accept: r.Header.Get("Accept"),
		Authorized: r.Header.Get("Authorization") == "Bearer "+s.token,
		Body:       string(body),
	}
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		entry.Status = w.status
		s.mu.Lock()
		s.log = append(s.log, entry)
		s.mu.Unlock()
	}()
	// Every answer carries a Request-Id: the client's when it sent one,
	// else a new UUID (interagent/http-api-design, "Provide Request-Ids for
	// Introspection", which Heroku's API follows).
	entry.RequestID = r.Header.Get("Request-Id")
	if entry.RequestID == "" {
		entry.RequestID = randomUUID()
	}
	w.Header().Set("Request-Id", entry.RequestID)

	if strings.HasPrefix(r.URL.Path, "/log-sessions/") {
		// A logplex_url: the URL itself is the credential, as on Heroku.
		s.serveLogStream(w, r, strings.TrimPrefix(r.URL.Path, "/log-sessions/"))
		return
	}
	fault := s.takeFault(r)
	if fault != nil && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Header.Get("Accept") != AcceptHeader {
		writeError(w, http.StatusBadRequest, "bad_request",
			"Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.")
		return
	}
	if !entry.Authorized {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Invalid credentials provided.")
		return
	}
	if !s.spendBudget(w) {
		writeError(w, http.StatusTooManyRequests, "rate_limit",
			"Your account reached the API rate limit\nPlease wait a few minutes before making new requests")
		return
	}
	if fault != nil && fault.Status != 0 {
		writeError(w, fault.Status, fault.ID, fault.Message)
		return
	}
	if fault != nil && fault.DropAfterEffect {
		// Act, then lose the answer: the caller cannot tell what happened.
		s.route(httptest.NewRecorder(), r, body)
		if hj, ok := rw.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				w.status = -1
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if fault != nil && (fault.CutAfterEffect || fault.MalformAfterEffect) {
		rec := httptest.NewRecorder()
		s.route(rec, r, body)
		answer := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if fault.MalformAfterEffect {
			answer = []byte("<html><body>upstream answered</body></html>\n")
			w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(answer)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(answer[:len(answer)/2])
		w.Flush()
		panic(http.ErrAbortHandler) // close the connection mid-body
	}
	s.route(w, r, body)
}

func (s *Server) takeFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
			c := *f
			return &c
		}
	}
	return nil
}

// spendBudget takes one request from the rate-limit bucket and sets
// Ratelimit-Remaining; it reports false when the bucket is empty.
func (s *Server) spendBudget(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.rateLimited {
		w.Header().Set("Ratelimit-Remaining", "4500")
		return true
	}
	now := s.now()
	if el := now.Sub(s.budgetAt).Seconds(); el > 0 {
		s.budget = min(s.budgetMax, s.budget+el*s.refillPerSecond)
	}
	s.budgetAt = now
	if s.budget < 1 {
		w.Header().Set("Ratelimit-Remaining", "0")
		return false
	}
	s.budget--
	w.Header().Set("Ratelimit-Remaining", strconv.Itoa(int(s.budget)))
	return true
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "apps" && r.Method == http.MethodGet:
		s.getApp(w, parts[1])
	case len(parts) == 3 && parts[0] == "apps" && parts[2] == "releases" && r.Method == http.MethodGet:
		s.listReleases(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "apps" && parts[2] == "releases" && r.Method == http.MethodPost:
		s.createRelease(w, parts[1], body)
	case len(parts) == 3 && parts[0] == "apps" && parts[2] == "log-sessions" && r.Method == http.MethodPost:
		s.createLogSession(w, parts[1], body)
	case len(parts) == 4 && parts[0] == "apps" && parts[2] == "releases" && r.Method == http.MethodGet:
		s.getRelease(w, parts[1], parts[3])
	case len(parts) == 2 && parts[0] == "pipelines" && r.Method == http.MethodGet:
		s.getPipeline(w, parts[1])
	case len(parts) == 3 && parts[0] == "pipelines" && parts[2] == "pipeline-couplings" && r.Method == http.MethodGet:
		s.listCouplings(w, parts[1])
	case len(parts) == 1 && parts[0] == "pipeline-promotions" && r.Method == http.MethodPost:
		s.promote(w, body)
	case len(parts) == 3 && parts[0] == "pipeline-promotions" && parts[2] == "promotion-targets" && r.Method == http.MethodGet:
		s.promotionTargets(w, parts[1])
	default:
		writeError(w, http.StatusNotFound, "not_found", "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?")
	}
}

func (s *Server) appLocked(w http.ResponseWriter, name string) *app {
	if a, ok := s.apps[name]; ok {
		return a
	}
	for _, a := range s.apps { // an app can be named by its id too
		if a.id == name {
			return a
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "Couldn't find that app.")
	return nil
}

func (s *Server) getApp(w http.ResponseWriter, name string) {
	s.mu.Lock()
	a := s.appLocked(w, name)
	s.mu.Unlock()
	if a == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": a.id, "name": a.name, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
		"web_url": "https://" + a.name + ".herokuapp.com/",
	})
}

// wireRelease is a release in Heroku's JSON shape.
func wireRelease(a *app, r Release) map[string]any {
	return map[string]any{
		"addon_plan_names":      []string{},
		"artifacts":             []any{},
		"app":                   map[string]string{"id": a.id, "name": a.name},
		"created_at":            r.CreatedAt.UTC().Format(time.RFC3339),
		"current":               r.Current,
		"description":           r.Description,
		"eligible_for_rollback": r.Status == "succeeded",
		"id":                    r.ID,
		"output_stream_url":     nil,
		"slug":                  map[string]string{"id": r.SlugID},
		"status":                r.Status,
		"updated_at":            r.UpdatedAt.UTC().Format(time.RFC3339),
		"user":                  map[string]string{"email": r.User, "id": uuidFrom("user", r.User, 0)},
		"version":               r.Version,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// rangeSpec is a parsed Range header: "version ..; max=10, order=desc" or a
// Next-Range "version ]41..; max=10, order=desc".
type rangeSpec struct {
	field            string
	start            string
	startExclusive   bool
	end              string
	max              int
	desc             bool
	startSet, endSet bool
}

func parseRange(h string, defaultMax int) (rangeSpec, error) {
	rs := rangeSpec{field: "id", max: defaultMax}
	if strings.TrimSpace(h) == "" {
		return rs, nil
	}
	head, params, _ := strings.Cut(h, ";")
	head = strings.TrimSpace(head)
	field, bounds, ok := strings.Cut(head, " ")
	if !ok {
		field, bounds = head, ""
	}
	rs.field = field
	bounds = strings.TrimSpace(bounds)
	if bounds != "" {
		start, end, ok := strings.Cut(bounds, "..")
		if !ok {
			return rs, fmt.Errorf("range bounds %q lack ..", bounds)
		}
		if strings.HasPrefix(start, "]") {
			rs.startExclusive = true
			start = start[1:]
		}
		rs.start, rs.end = start, end
		rs.startSet, rs.endSet = start != "", end != ""
	}
	for _, p := range strings.FieldsFunc(params, func(r rune) bool { return r == ',' || r == ';' }) {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return rs, fmt.Errorf("max %q is not between 1 and 1000", v)
			}
			rs.max = n
		case "order":
			if v != "asc" && v != "desc" {
				return rs, fmt.Errorf("order %q is not asc or desc", v)
			}
			rs.desc = v == "desc"
		default:
			return rs, fmt.Errorf("unknown range parameter %q", k)
		}
	}
	return rs, nil
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	a := s.appLocked(w, name)
	if a == nil {
		s.mu.Unlock()
		return
	}
	all := s.visibleLocked(a, s.now())
	pageSize := s.pageSize
	s.mu.Unlock()

	rs, err := parseRange(r.Header.Get("Range"), pageSize)
	if err == nil && rs.field != "version" && rs.field != "id" {
		err = fmt.Errorf("releases cannot be ranged by %q", rs.field)
	}
	if err != nil {
		w.Header().Set("Accept-Ranges", "id, version")
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable", err.Error())
		return
	}
	key := func(rel Release) string {
		if rs.field == "version" {
			return strconv.Itoa(rel.Version)
		}
		return rel.ID
	}
	less := func(a, b Release) bool {
		if rs.field == "version" {
			return a.Version < b.Version
		}
		return a.ID < b.ID
	}
	sort.Slice(all, func(i, j int) bool {
		if rs.desc {
			return less(all[j], all[i])
		}
		return less(all[i], all[j])
	})
	cmp := func(rel Release, bound string) int {
		if rs.field == "version" {
			b, _ := strconv.Atoi(bound)
			return rel.Version - b
		}
		return strings.Compare(rel.ID, bound)
	}
	var sel []Release
	for _, rel := range all {
		if rs.startSet {
			c := cmp(rel, rs.start)
			if rs.desc {
				c = -c
			}
			if c < 0 || (c == 0 && rs.startExclusive) {
				continue
			}
		}
		if rs.endSet {
			c := cmp(rel, rs.end)
			if rs.desc {
				c = -c
			}
			if c > 0 {
				continue
			}
		}
		sel = append(sel, rel)
	}
	limit := min(rs.max, pageSize)
	truncated := len(sel) > limit
	if truncated {
		sel = sel[:limit]
	}
	out := make([]map[string]any, 0, len(sel))
	for _, rel := range sel {
		out = append(out, wireRelease(a, rel))
	}
	payload, _ := json.Marshal(out)
	sum := sha256.Sum256(payload)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Accept-Ranges", "id, version")
	if len(sel) > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("%s %s..%s", rs.field, key(sel[0]), key(sel[len(sel)-1])))
	}
	status := http.StatusOK
	if truncated {
		status = http.StatusPartialContent
		order := "asc"
		if rs.desc {
			order = "desc"
		}
		w.Header().Set("Next-Range", fmt.Sprintf("%s ]%s..; max=%d, order=%s", rs.field, key(sel[len(sel)-1]), rs.max, order))
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(payload, '\n'))
}

func (s *Server) findLocked(a *app, idOrVersion string, now time.Time) (Release, bool) {
	for _, rel := range s.visibleLocked(a, now) {
		if rel.ID == idOrVersion || strconv.Itoa(rel.Version) == idOrVersion {
			return rel, true
		}
	}
	return Release{}, false
}

func (s *Server) getRelease(w http.ResponseWriter, name, idOrVersion string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	rel, ok := s.findLocked(a, idOrVersion, s.now())
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
		return
	}
	writeJSON(w, http.StatusOK, wireRelease(a, rel))
}

// createRelease serves POST /apps/{app}/releases: a rollback when the body
// names a release, a new release of a slug otherwise.
func (s *Server) createRelease(w http.ResponseWriter, name string, body []byte) {
	var req struct {
		Release     *string `json:"release"`
		Slug        *string `json:"slug"`
		Description *string `json:"description"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	now := s.now()
	switch {
	case req.Release != nil:
		target, ok := s.findLocked(a, *req.Release, now)
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
			return
		}
		if target.Status != "succeeded" {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				fmt.Sprintf("Release v%d cannot be rolled back to: its status is %s.", target.Version, target.Status))
			return
		}
		r := s.addReleaseLocked(a, ReleaseSpec{
			Description: fmt.Sprintf("Rollback to v%d", target.Version),
			CreatedAt:   now, PendingFor: s.rollbackPhase, SlugID: target.SlugID, User: "relwatch@example.com",
		})
		rel, _ := s.findLocked(a, r.id, now)
		writeJSON(w, http.StatusCreated, wireRelease(a, rel))
	case req.Slug != nil && *req.Slug != "":
		desc := "Deploy " + *req.Slug
		if req.Description != nil {
			desc = *req.Description
		}
		r := s.addReleaseLocked(a, ReleaseSpec{Description: desc, CreatedAt: now, SlugID: *req.Slug})
		rel, _ := s.findLocked(a, r.id, now)
		writeJSON(w, http.StatusCreated, wireRelease(a, rel))
	default:
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Either release or slug is required.")
	}
}

func (s *Server) createLogSession(w http.ResponseWriter, name string, body []byte) {
	opts := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid JSON: "+err.Error())
			return
		}
	}
	for k := range opts {
		switch k {
		case "dyno", "dyno_name", "lines", "source", "tail":
		default:
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", fmt.Sprintf("Unknown parameter %q.", k))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appLocked(w, name) == nil {
		return
	}
	s.sessionSeq++
	id := uuidFrom("log-session", name, s.sessionSeq)
	ls := &logSession{app: name, opts: opts, lines: make(chan []byte), closed: make(chan struct{})}
	s.sessions[id] = ls
	s.created = append(s.created, ls)
	now := s.now().UTC().Format(time.RFC3339)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": id, "logplex_url": s.srv.URL + "/log-sessions/" + id, "created_at": now, "updated_at": now,
	})
}

func (s *Server) serveLogStream(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	ls, ok := s.sessions[id]
	if ok {
		ls.streaming = true
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	defer func() {
		s.mu.Lock()
		ls.streaming = false
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case line := <-ls.lines:
			if _, err := w.Write(line); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-ls.closed:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) pipelineLocked(w http.ResponseWriter, idOrName string) *pipeline {
	for _, p := range s.pipelines {
		if p.id == idOrName || p.name == idOrName {
			return p
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "Couldn't find that pipeline.")
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, idOrName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pipelineLocked(w, idOrName); p != nil {
		writeJSON(w, http.StatusOK, map[string]any{"id": p.id, "name": p.name, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z", "owner": nil})
	}
}

func (s *Server) listCouplings(w http.ResponseWriter, idOrName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelineLocked(w, idOrName)
	if p == nil {
		return
	}
	names := make([]string, 0, len(p.stages))
	for n := range p.stages {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []map[string]any{}
	for _, n := range names {
		a, ok := s.apps[n]
		if !ok {
			continue
		}
		out = append(out, map[string]any{"id": uuidFrom("coupling", n, 0), "app": map[string]string{"id": a.id},
			"pipeline": map[string]string{"id": p.id}, "stage": p.stages[n], "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"})
	}
	writeJSON(w, http.StatusOK, out)
}

// promote serves POST /pipeline-promotions: each target gets a release of
// the source's current slug, described "Promote <source> vN".
func (s *Server) promote(w http.ResponseWriter, body []byte) {
	var req struct {
		Pipeline struct{ ID string } `json:"pipeline"`
		Source   struct {
			App struct{ ID string } `json:"app"`
		} `json:"source"`
		Targets []struct {
			App struct{ ID string } `json:"app"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelineLocked(w, req.Pipeline.ID)
	if p == nil {
		return
	}
	src := s.appLocked(w, req.Source.App.ID)
	if src == nil {
		return
	}
	if len(req.Targets) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "At least one target is required.")
		return
	}
	now := s.now()
	var cur *Release
	for _, r := range s.visibleLocked(src, now) {
		if r.Current {
			r := r
			cur = &r
		}
	}
	if cur == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "The source app has no release to promote.")
		return
	}
	s.sessionSeq++
	id := uuidFrom("promotion", src.name, s.sessionSeq)
	var targets []promotionTarget
	for _, t := range req.Targets {
		a := s.appLocked(w, t.App.ID)
		if a == nil {
			return
		}
		rel := s.addReleaseLocked(a, ReleaseSpec{Description: fmt.Sprintf("Promote %s v%d", src.name, cur.Version),
			CreatedAt: now, SlugID: cur.SlugID, PendingFor: s.rollbackPhase})
		targets = append(targets, promotionTarget{app: a.id, release: rel.id, done: now.Add(s.rollbackPhase)})
	}
	s.promotions[id] = targets
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "pipeline": map[string]string{"id": p.id},
		"source": map[string]any{"app": map[string]string{"id": src.id}, "release": map[string]string{"id": cur.ID}},
		"status": "pending", "created_at": now.UTC().Format(time.RFC3339), "updated_at": nil})
}

func (s *Server) promotionTargets(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	targets, ok := s.promotions[id]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that promotion.")
		return
	}
	out := []map[string]any{}
	for i, t := range targets {
		status := "succeeded"
		if s.now().Before(t.done) {
			status = "pending"
		}
		out = append(out, map[string]any{"id": uuidFrom("target", id, i), "app": map[string]string{"id": t.app},
			"pipeline_promotion": map[string]string{"id": id}, "release": map[string]string{"id": t.release},
			"status": status, "error_message": nil})
	}
	writeJSON(w, http.StatusOK, out)
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

// uuidFrom makes a stable, well-formed UUID from its parts, so a fake's ids
// are the same on every run.
func uuidFrom(kind, name string, n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", kind, name, n)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}
