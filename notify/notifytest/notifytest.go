// Package notifytest holds fakes of the chats' HTTP APIs for tests: a
// slacktest server with the chat.update handler it lacks and a capture of
// every payload, and a Zulip server that enforces the API's contract.
package notifytest

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack/slacktest"
)

// Call is one request a fake received.
type Call struct {
	Method, Path, Auth string
	Form               url.Values
}

// Slack is a slacktest server whose chat.postMessage and chat.update are
// captured, answer with unique timestamps, keep the messages (with their
// metadata) and can be told to fail; conversations.history and
// conversations.replies (which slacktest lacks) serve the kept messages.
type Slack struct {
	*slacktest.Server
	mu       sync.Mutex
	calls    []Call
	seq      int
	messages []*SlackMessage
	files    []*SlackFile
	fail     func(w http.ResponseWriter, r *http.Request) bool
	accepted func(Call)
	// AppToken is the app-level token apps.connections.open accepts
	// ("": any xapp- token).
	AppToken string
}

// SlackMessage is a message as the fake Slack holds it now.
type SlackMessage struct {
	Channel, TS, ThreadTS string
	Text, Blocks          string
	Metadata              map[string]any // as posted ("event_type", "event_payload"); nil if none
	Edits                 int            // chat.update calls on it
	Posted, Edited        time.Time      // when it was posted, last edited
}

// NewSlack starts a slacktest server with the capture handlers.
func NewSlack() *Slack {
	s := &Slack{}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.handle)
		c.Handle("/chat.update", s.handle)
		c.Handle("/conversations.history", s.history)
		c.Handle("/conversations.replies", s.replies)
		c.Handle("/files.getUploadURLExternal", s.uploadURL)
		c.Handle("/upload/", s.upload)
		c.Handle("/files.completeUploadExternal", s.completeUpload)
		c.Handle("/apps.connections.open", s.connectionsOpen)
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

// OnAccepted installs f: it is called with each chat.postMessage and
// chat.update once the message is kept, before the answer is written (a
// test can stop the client there: Slack has the message, the client never
// hears so).
func (s *Slack) OnAccepted(f func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted = f
}

// Calls returns the captured requests.
func (s *Slack) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Messages returns the messages Slack holds, in the order posted.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SlackMessage, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
	}
	return out
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
	f := r.PostForm
	call := Call{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Form: f}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	if !validBlocks(f.Get("blocks")) {
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":false,"error":"invalid_blocks"}`))
		return
	}
	ts := ""
	switch r.URL.Path {
	case "/chat.update":
		ts = f.Get("ts")
		var m *SlackMessage
		for _, x := range s.messages {
			if x.Channel == f.Get("channel") && x.TS == ts {
				m = x
			}
		}
		if m == nil {
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":false,"error":"message_not_found"}`))
			return
		}
		m.Text, m.Blocks, m.Edits, m.Edited = f.Get("text"), f.Get("blocks"), m.Edits+1, time.Now()
		if md := metadataOf(f); md != nil {
			m.Metadata = md // chat.update keeps the metadata unless given new
		}
	default:
		s.seq++
		ts = fmt.Sprintf("1700000000.%06d", s.seq)
		s.messages = append(s.messages, &SlackMessage{Channel: f.Get("channel"), TS: ts, ThreadTS: f.Get("thread_ts"),
			Text: f.Get("text"), Blocks: f.Get("blocks"), Metadata: metadataOf(f), Posted: time.Now()})
	}
	accepted := s.accepted
	s.mu.Unlock()
	if accepted != nil {
		accepted(call)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": f.Get("channel"), "ts": ts, "text": f.Get("text")})
}

// validBlocks reports whether blocks keep Block Kit's limits, as Slack
// checks them (answering invalid_blocks): at most 50 blocks, and at most
// 3000 characters in a text object (a section's text, a context's
// elements).
func validBlocks(raw string) bool {
	if raw == "" {
		return true
	}
	var blocks []struct {
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Elements []map[string]any `json:"elements"`
	}
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil || len(blocks) > 50 {
		return false
	}
	for _, b := range blocks {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > 3000 {
			return false
		}
		for _, e := range b.Elements {
			if text, ok := e["text"].(string); ok && utf8.RuneCountInString(text) > 3000 {
				return false
			}
		}
	}
	return true
}

func metadataOf(f url.Values) map[string]any {
	var md map[string]any
	if raw := f.Get("metadata"); raw != "" {
		_ = json.Unmarshal([]byte(raw), &md)
	}
	return md
}

// wire is a kept message as Slack's API returns it; metadata only when
// asked for (include_all_metadata).
func (m *SlackMessage) wire(withMetadata bool) map[string]any {
	out := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "bot_id": "B0RELWATCH"}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if withMetadata && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	return out
}

// history serves conversations.history: the channel's messages outside
// threads, newest first, at most limit.
func (s *Slack) history(w http.ResponseWriter, r *http.Request) {
	if !s.readCall(w, r) {
		return
	}
	f := r.Form
	limit, _ := strconv.Atoi(f.Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	s.mu.Lock()
	var msgs []map[string]any
	for i := len(s.messages) - 1; i >= 0 && len(msgs) < limit; i-- {
		if m := s.messages[i]; m.Channel == f.Get("channel") && m.ThreadTS == "" {
			msgs = append(msgs, m.wire(f.Get("include_all_metadata") == "1"))
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": msgs, "has_more": false})
}

// replies serves conversations.replies: the thread's parent and its
// replies, oldest first.
func (s *Slack) replies(w http.ResponseWriter, r *http.Request) {
	if !s.readCall(w, r) {
		return
	}
	f := r.Form
	s.mu.Lock()
	var msgs []map[string]any
	for _, m := range s.messages {
		if m.Channel == f.Get("channel") && (m.TS == f.Get("ts") || m.ThreadTS == f.Get("ts")) {
			msgs = append(msgs, m.wire(f.Get("include_all_metadata") == "1"))
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if len(msgs) == 0 {
		w.Write([]byte(`{"ok":false,"error":"thread_not_found"}`))
		return
	}
	// Pages as Slack's: limit (default 1000), and a cursor to the next.
	limit, _ := strconv.Atoi(f.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	from := 0
	if c := f.Get("cursor"); c != "" {
		var err error
		if from, err = strconv.Atoi(strings.TrimPrefix(c, "page:")); err != nil || from < 0 || from > len(msgs) {
			w.Write([]byte(`{"ok":false,"error":"invalid_cursor"}`))
			return
		}
	}
	page, next := msgs[from:], ""
	if len(page) > limit {
		page, next = page[:limit], "page:"+strconv.Itoa(from+limit)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": page, "has_more": next != "",
		"response_metadata": map[string]any{"next_cursor": next}})
}

// readCall parses and captures a read call; false when FailWith answered.
func (s *Slack) readCall(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil && fail(w, r) {
		return false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Form: r.Form})
	s.mu.Unlock()
	return true
}

// Zulip is a fake Zulip server: it checks basic auth, the required fields
// and that the stream exists, like the real API, and keeps every message.
type Zulip struct {
	*httptest.Server
	Email, APIKey string
	Streams       map[string]bool

	mu       sync.Mutex
	calls    []Call
	messages map[int64]*ZulipMessage
	nextID   int64
	uploads  []ZulipUpload
	fail     func(w http.ResponseWriter, r *http.Request) bool
	accepted func(Call)
	now      func() time.Time // the fake's clock (default time.Now)
	// editLimit is the organization's time limit for editing a message's
	// content (message_content_edit_limit_seconds): 10 minutes, Zulip's
	// default; 0 is none ("any time").
	editLimit time.Duration
	queues    map[string]bool // event queues registered and not deleted
	nextQueue int
}

// Queues is the number of event queues registered and not deleted.
func (z *Zulip) Queues() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return len(z.queues)
}

// zulipEditBuffer is the grace Zulip adds to the edit time limit
// (edit_limit_buffer).
const zulipEditBuffer = 20 * time.Second

// SetClock makes now the fake's clock: when messages are taken, and
// whether the time limit for editing one has passed.
func (z *Zulip) SetClock(now func() time.Time) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.now = now
}

// SetEditLimit sets the organization's time limit for editing a message
// (0: any time). The fake starts with Zulip's default, 10 minutes.
func (z *Zulip) SetEditLimit(d time.Duration) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.editLimit = d
}

// ZulipMessage is a message as the fake Zulip holds it now.
type ZulipMessage struct {
	ID                             int64
	Stream, Topic, Sender, Content string
	Edits                          int
	Posted, Edited                 time.Time // when it was posted, last edited
}

// NewZulip starts a fake Zulip that accepts email/apiKey and knows streams.
func NewZulip(email, apiKey string, streams ...string) *Zulip {
	z := &Zulip{Email: email, APIKey: apiKey, Streams: map[string]bool{}, messages: map[int64]*ZulipMessage{}, nextID: 100,
		now: time.Now, editLimit: 10 * time.Minute, queues: map[string]bool{}}
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

// OnAccepted installs f: it is called with each message posted or edited
// once Zulip keeps it, before the answer is written.
func (z *Zulip) OnAccepted(f func(Call)) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.accepted = f
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
	if m := z.messages[id]; m != nil {
		return m.Content
	}
	return ""
}

// Messages returns every message Zulip holds, oldest first.
func (z *Zulip) Messages() []ZulipMessage {
	z.mu.Lock()
	defer z.mu.Unlock()
	out := make([]ZulipMessage, 0, len(z.messages))
	for _, m := range z.messages {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
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
	if r.Method == http.MethodDelete {
		// Zulip reads a DELETE's form body too (Go's ParseForm does not).
		r.Method = http.MethodPost
		_ = r.ParseForm()
		r.Method = http.MethodDelete
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
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/get_stream_id":
		// A stream the user cannot see is as one that does not exist.
		name := r.URL.Query().Get("stream")
		if name == "" {
			zerr(w, http.StatusBadRequest, "REQUEST_VARIABLE_MISSING", "Missing 'stream' argument", map[string]any{"var_name": "stream"})
			return
		}
		if !z.Streams[name] {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("Invalid channel name '%s'", name), nil)
			return
		}
		ok200(map[string]any{"stream_id": 15})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/users/me":
		ok200(map[string]any{"email": z.Email, "full_name": "relwatch bot", "user_id": 7})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/register":
		// The realm's settings, as fetch_event_types ["realm"] gives them.
		z.mu.Lock()
		var limit any // null: no limit
		if z.editLimit > 0 {
			limit = int(z.editLimit / time.Second)
		}
		z.nextQueue++
		queue := fmt.Sprintf("q-%d", z.nextQueue)
		z.queues[queue] = true
		z.mu.Unlock()
		ok200(map[string]any{"queue_id": queue, "last_event_id": -1, "zulip_feature_level": 300,
			"realm_allow_message_editing": true, "realm_message_content_edit_limit_seconds": limit})
	case r.Method == http.MethodDelete && r.URL.Path == "/api/v1/events":
		z.mu.Lock()
		known := z.queues[r.PostForm.Get("queue_id")]
		delete(z.queues, r.PostForm.Get("queue_id"))
		z.mu.Unlock()
		if !known {
			zerr(w, http.StatusBadRequest, "BAD_EVENT_QUEUE_ID", "Bad event queue ID: "+r.PostForm.Get("queue_id"), map[string]any{"queue_id": r.PostForm.Get("queue_id")})
			return
		}
		ok200(nil)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/messages":
		z.getMessages(w, r, ok200)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/user_uploads":
		z.upload(w, r, ok200)
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
		z.messages[id] = &ZulipMessage{ID: id, Stream: f.Get("to"), Topic: zulipTopic(f.Get("topic")), Sender: user, Content: zulipContent(f.Get("content")), Posted: z.now()}
		accepted := z.accepted
		z.mu.Unlock()
		if accepted != nil {
			accepted(Call{Method: r.Method, Path: r.URL.Path, Form: f})
		}
		ok200(map[string]any{"id": id})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/v1/messages/"):
		id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v1/messages/"), 10, 64)
		z.mu.Lock()
		m, exists := z.messages[id]
		late := exists && z.editLimit > 0 && z.now().Sub(m.Posted) > z.editLimit+zulipEditBuffer
		if err == nil && exists && !late && r.PostForm.Get("content") != "" {
			m.Content = zulipContent(r.PostForm.Get("content"))
			m.Edits++
			m.Edited = z.now()
		}
		accepted := z.accepted
		z.mu.Unlock()
		if err != nil || !exists {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid message(s)", nil)
			return
		}
		if late && r.PostForm.Get("content") != "" {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "The time limit for editing this message has passed", nil)
			return
		}
		if accepted != nil {
			accepted(Call{Method: r.Method, Path: r.URL.Path, Form: r.PostForm})
		}
		ok200(nil)
	default:
		zerr(w, http.StatusNotFound, "BAD_REQUEST", "Not Found", nil)
	}
}

// zulipTopic is the topic as Zulip keeps it: trimmed, and cut to 60
// characters (code points) ending "..." when longer (truncate_topic).
func zulipTopic(topic string) string {
	r := []rune(strings.TrimSpace(topic))
	if len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return string(r)
}

// zulipContent is a message's content as Zulip keeps it (normalize_body):
// trailing space and leading newlines trimmed, cut to 10000 characters
// (code points) ending "\n[message truncated]" when longer.
func zulipContent(content string) string {
	const truncated = "\n[message truncated]"
	r := []rune(strings.TrimLeft(strings.TrimRightFunc(content, unicode.IsSpace), "\n"))
	if len(r) > 10000 {
		return string(r[:10000-len(truncated)]) + truncated
	}
	return string(r)
}

// getMessages serves GET /api/v1/messages with anchor=newest, num_before
// and a narrow of stream, topic and sender operators; content is markdown
// when apply_markdown=false (else it is wrapped in <p>, as HTML).
func (z *Zulip) getMessages(w http.ResponseWriter, r *http.Request, ok200 func(map[string]any)) {
	q := r.URL.Query()
	if q.Get("anchor") != "newest" {
		zerr(w, http.StatusBadRequest, "BAD_REQUEST", "this fake serves anchor=newest only", nil)
		return
	}
	before, err := strconv.Atoi(q.Get("num_before"))
	if err != nil || before < 0 || before > 5000 {
		zerr(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid num_before", nil)
		return
	}
	var narrow []struct{ Operator, Operand string }
	if raw := q.Get("narrow"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &narrow); err != nil {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid narrow", nil)
			return
		}
	}
	markdown := q.Get("apply_markdown") == "false"
	var out []map[string]any
	for _, m := range z.Messages() {
		match := true
		for _, n := range narrow {
			switch n.Operator {
			case "stream", "channel":
				match = match && m.Stream == n.Operand
			case "topic":
				match = match && m.Topic == n.Operand
			case "sender":
				match = match && m.Sender == n.Operand
			default:
				zerr(w, http.StatusBadRequest, "BAD_NARROW", "Invalid narrow operator: "+n.Operator, nil)
				return
			}
		}
		if !match {
			continue
		}
		content := m.Content
		if !markdown {
			content = "<p>" + html.EscapeString(content) + "</p>"
		}
		out = append(out, map[string]any{"id": m.ID, "content": content, "subject": m.Topic, "sender_email": m.Sender, "timestamp": m.Posted.Unix()})
	}
	out = out[max(0, len(out)-before):]
	ok200(map[string]any{"messages": out, "found_newest": true, "found_oldest": len(out) <= before, "anchor": 0})
}

// connectionsOpen answers apps.connections.open as Slack does: a Socket
// Mode URL for the app-level token; not_allowed_token_type for a bot's or
// a user's token; invalid_auth for any other. Nothing listens at the URL.
func (s *Slack) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case s.AppToken == "" && strings.HasPrefix(token, "xapp-"), s.AppToken != "" && token == s.AppToken:
		fmt.Fprintf(w, `{"ok":true,"url":"ws://%s/link"}`, r.Host)
	case strings.HasPrefix(token, "xoxb-"), strings.HasPrefix(token, "xoxp-"):
		fmt.Fprint(w, `{"ok":false,"error":"not_allowed_token_type"}`)
	default:
		fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
	}
}
