// Package notifytest holds fakes of the chats' HTTP APIs for tests: a
// slacktest server with the chat.update handler it lacks and a capture of
// every payload, and a Zulip server that enforces the API's contract.
package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack/slacktest"
)

// Call is one request a fake received.
type Call struct {
	Method, Path, Auth string
	Form               url.Values
}

// Slack is a slacktest server whose chat.postMessage and chat.update are
// captured, answer with unique timestamps, and can be told to fail.
type Slack struct {
	*slacktest.Server
	mu    sync.Mutex
	calls []Call
	seq   int
	fail  func(w http.ResponseWriter, r *http.Request) bool
}

// NewSlack starts a slacktest server with the capture handlers.
func NewSlack() *Slack {
	s := &Slack{}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.handle)
		c.Handle("/chat.update", s.handle)
	})
	s.Server.Start()
	return s
}

// FailWith installs f: it sees each chat call first and, returning true,
// answers it instead of the normal handler.
func (s *Slack) FailWith(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// Calls returns the captured requests.
func (s *Slack) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Slack) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil && fail(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Form: r.PostForm})
	s.seq++
	ts := fmt.Sprintf("1700000000.%06d", s.seq)
	s.mu.Unlock()
	if r.URL.Path == "/chat.update" {
		ts = r.PostForm.Get("ts")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": ts, "text": r.PostForm.Get("text")})
}

// Zulip is a fake Zulip server: it checks basic auth, the required fields
// and that the stream exists, like the real API, and keeps every message.
type Zulip struct {
	*httptest.Server
	Email, APIKey string
	Streams       map[string]bool

	mu       sync.Mutex
	calls    []Call
	messages map[int64]string // id -> content
	nextID   int64
	fail     func(w http.ResponseWriter, r *http.Request) bool
}

// NewZulip starts a fake Zulip that accepts email/apiKey and knows streams.
func NewZulip(email, apiKey string, streams ...string) *Zulip {
	z := &Zulip{Email: email, APIKey: apiKey, Streams: map[string]bool{}, messages: map[int64]string{}, nextID: 100}
	for _, s := range streams {
		z.Streams[s] = true
	}
	z.Server = httptest.NewServer(http.HandlerFunc(z.serve))
	return z
}

// FailWith installs f: it sees each request first and, returning true,
// answers it instead of the normal handler.
func (z *Zulip) FailWith(f func(w http.ResponseWriter, r *http.Request) bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.fail = f
}

// Calls returns the requests received, in order.
func (z *Zulip) Calls() []Call {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]Call(nil), z.calls...)
}

// Message returns a message's current content.
func (z *Zulip) Message(id int64) string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.messages[id]
}

// RateLimit answers like Zulip's rate limiter.
func RateLimit(w http.ResponseWriter, after time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatFloat(after.Seconds(), 'f', 3, 64))
	zerr(w, http.StatusTooManyRequests, "RATE_LIMIT_HIT", "API usage exceeded rate limit", map[string]any{"retry-after": after.Seconds()})
}

func zerr(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"result": "error", "msg": msg, "code": code}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (z *Zulip) serve(w http.ResponseWriter, r *http.Request) {
	z.mu.Lock()
	fail := z.fail
	z.mu.Unlock()
	if fail != nil && fail(w, r) {
		return
	}
	_ = r.ParseForm()
	user, key, ok := r.BasicAuth()
	z.mu.Lock()
	z.calls = append(z.calls, Call{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Form: r.PostForm})
	z.mu.Unlock()
	if !ok || user != z.Email || key != z.APIKey {
		zerr(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid API key", nil)
		return
	}
	ok200 := func(extra map[string]any) {
		body := map[string]any{"result": "success", "msg": ""}
		for k, v := range extra {
			body[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/users/me":
		ok200(map[string]any{"email": z.Email, "full_name": "relwatch bot", "user_id": 7})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/messages":
		f := r.PostForm
		for _, k := range []string{"type", "to", "content"} {
			if f.Get(k) == "" {
				zerr(w, http.StatusBadRequest, "REQUEST_VARIABLE_MISSING", fmt.Sprintf("Missing '%s' argument", k), map[string]any{"var_name": k})
				return
			}
		}
		if f.Get("type") != "stream" || f.Get("topic") == "" {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "Stream messages need type=stream and a topic", nil)
			return
		}
		if !z.Streams[f.Get("to")] {
			zerr(w, http.StatusBadRequest, "STREAM_DOES_NOT_EXIST", fmt.Sprintf("Stream '%s' does not exist", f.Get("to")), map[string]any{"stream": f.Get("to")})
			return
		}
		z.mu.Lock()
		z.nextID++
		id := z.nextID
		z.messages[id] = f.Get("content")
		z.mu.Unlock()
		ok200(map[string]any{"id": id})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/v1/messages/"):
		id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v1/messages/"), 10, 64)
		z.mu.Lock()
		_, exists := z.messages[id]
		if err == nil && exists && r.PostForm.Get("content") != "" {
			z.messages[id] = r.PostForm.Get("content")
		}
		z.mu.Unlock()
		if err != nil || !exists {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid message(s)", nil)
			return
		}
		ok200(nil)
	default:
		zerr(w, http.StatusNotFound, "BAD_REQUEST", "Not Found", nil)
	}
}
