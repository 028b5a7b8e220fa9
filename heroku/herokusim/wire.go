package herokusim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Where Heroku's error bodies point ("url"): the Platform API reference's
// sections. Heroku's errors are {"id", "message", "url"} (reference,
// "Errors"; interagent/http-api-design, "Generate structured errors").
const (
	referenceURL  = "https://devcenter.heroku.com/articles/platform-api-reference"
	errorsURL     = referenceURL + "#errors"
	clientsURL    = referenceURL + "#clients"
	rangesURL     = referenceURL + "#ranges"
	rateLimitsURL = referenceURL + "#rate-limits"
)

type herokuError struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	URL     string `json:"url"`
}

func writeError(w http.ResponseWriter, status int, id, msg string) {
	url := errorsURL
	switch id {
	case "rate_limit":
		url = rateLimitsURL
	case "requested_range_not_satisfiable":
		url = rangesURL
	case "bad_request":
		if strings.Contains(msg, "Range") {
			url = rangesURL
		} else if strings.Contains(msg, "Accept") {
			url = clientsURL
		}
	}
	writeJSON(w, status, herokuError{ID: id, Message: msg, URL: url})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// acceptVersion is Heroku's media type with version 3 or one of its
// variants: Heroku's own clients send version=3.sdk, 3.pipelines,
// 3.review-apps, 3.webhooks, 3.docker-releases, ... (heroku/cli,
// src/lib/api.ts and its commands), and Heroku serves them all.
var acceptVersion = regexp.MustCompile(`^3(\.[a-z0-9][a-z0-9-]*)?$`)

// acceptsHeroku reports whether an Accept header names Heroku's media type
// with a version 3 variant, among any other media ranges it lists.
func acceptsHeroku(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/vnd.heroku+json" {
			continue
		}
		if acceptVersion.MatchString(params["version"]) {
			return true
		}
	}
	return false
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
	if strings.HasPrefix(r.URL.Path, logStreamPath) {
		// A logplex_url: the URL itself is the credential, as on Heroku;
		// it is not an API request and is not logged.
		s.serveLogStream(rw, r, strings.TrimPrefix(r.URL.Path, logStreamPath))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	acct := s.accountOf(r.Header.Get("Authorization"))
	entry := Request{
		Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"),
		IfNoneMatch: r.Header.Get("If-None-Match"), Accept: r.Header.Get("Accept"),
		Authorized: acct != nil,
		Body:       string(body),
	}
	if acct != nil {
		entry.AccountEmail = acct.email
	}
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		entry.Status = w.status
		s.mu.Lock()
		s.log = append(s.log, entry)
		s.countLocked(entry)
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

	// What came due on the clock is in the app's log before Heroku answers.
	s.PublishEvents()
	fault := s.takeFault(r)
	if fault != nil && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	// The buffered answer gets its ETag, and a GET whose ETag the client
	// already holds gets 304, before anything reaches the client.
	rec := httptest.NewRecorder()
	switch {
	case !acceptsHeroku(r.Header.Get("Accept")):
		s.peekBudget(w, acct)
		writeError(rec, http.StatusBadRequest, "bad_request",
			"Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.")
	case !entry.Authorized:
		s.peekBudget(w, acct)
		writeError(rec, http.StatusUnauthorized, "unauthorized", "Invalid credentials provided.")
	case !s.spendBudget(w, acct):
		writeError(rec, http.StatusTooManyRequests, "rate_limit",
			"Your account reached the API rate limit\nPlease wait a few minutes before making new requests")
	case fault != nil && fault.Status != 0:
		writeError(rec, fault.Status, fault.ID, fault.Message)
	case !s.reaches(acct, r.URL.Path):
		writeError(rec, http.StatusForbidden, "forbidden", "You do not have access to the app "+AppInPath(r.URL.Path)+".")
	default:
		s.route(rec, r, body, acct)
		s.PublishEvents() // a rollback or promotion just made writes its lines
		if fault != nil && s.answerFault(w, rec, fault) {
			return
		}
	}
	s.finish(w, r, rec)
}

// AppInPath is the app name or id of a path under /apps/{app} ("": none):
// what Counts.ByApp and the access rules read.
func AppInPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/apps/")
	if !ok {
		return ""
	}
	app, _, _ := strings.Cut(rest, "/")
	return app
}

// reaches says whether acct may act on what path names: an app another
// account owns (OwnApp) it may not.
func (s *Server) reaches(acct *account, path string) bool {
	name := AppInPath(path)
	if name == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		if a.name == name || a.id == name {
			return a.owner == "" || a.owner == acct.email
		}
	}
	return true // no such app: the route says not_found
}

// finish sends a buffered answer with an ETag over its body (Heroku: "All
// responses include an ETag", Platform API reference, "Caching"); a GET
// whose If-None-Match holds that ETag is answered 304 with no body.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
	payload := rec.Body.Bytes()
	sum := sha256.Sum256(payload)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("ETag", etag)
	ok := rec.Code == http.StatusOK || rec.Code == http.StatusPartialContent
	if r.Method == http.MethodGet && ok && etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(payload)
}

// etagMatches applies If-None-Match: a list of entity tags, or "*".
func etagMatches(ifNoneMatch, etag string) bool {
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// answerFault loses or spoils the answer of a request already acted on. It
// reports whether it answered.
func (s *Server) answerFault(w *statusWriter, rec *httptest.ResponseRecorder, f *Fault) bool {
	switch {
	case f.DropAfterEffect:
		// Act, then lose the answer: the caller cannot tell what happened.
		if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				w.status = -1
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case f.MalformAfterEffect:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		page := []byte("<html><body>upstream answered</body></html>\n")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(page)
		return true
	case f.CutAfterEffect:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		answer := rec.Body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(answer[:len(answer)/2])
		w.Flush()
		panic(http.ErrAbortHandler) // close the connection mid-body
	}
	return false
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
