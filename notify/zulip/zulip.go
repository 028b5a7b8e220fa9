// Package zulip posts relwatch's announcements to a Zulip stream and topic
// through Zulip's REST API, the way the crates.io team announces deployments
// in its "deployments" topic: each release opens with one message, its
// story follows in the same topic, and the opening message is edited to show
// the outcome.
package zulip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/relwatch/relwatch/internal/redact"
	"github.com/relwatch/relwatch/notify"
)

// Config is one Zulip destination. Email and APIKey (the bot's) come from
// ZULIP_EMAIL and ZULIP_API_KEY, Site from ZULIP_SITE.
type Config struct {
	// Name is the chat's name in logs, metrics and the store, which keys
	// its threads and outbox rows by it (default "zulip"): two Zulip
	// chats need one each.
	Name   string
	Site   string // https://rust-lang.zulipchat.com
	Email  string
	APIKey string
	Stream string
	Topic  string // default "deployments"
	HTTP   *http.Client
}

// maxTopic is Zulip's longest topic, and maxContent its longest message,
// in characters (max_topic_length, max_message_length).
const (
	maxTopic   = 60
	maxContent = 10000
)

// clockSkew is how far Zulip's clock may be behind the worker's.
const clockSkew = time.Minute

// moreLines ends a message whose evidence lines did not all fit.
const moreLines = "\n* … and %d more"

// Notifier is a notify.Chat for Zulip.
type Notifier struct {
	conf Config
}

// New returns a Notifier for conf.
func New(conf Config) *Notifier {
	if conf.Topic = strings.TrimSpace(conf.Topic); conf.Topic == "" {
		conf.Topic = "deployments"
	}
	// Zulip keeps at most maxTopic characters of a topic, cutting a longer
	// one to end "...": posting and looking up (Find) use the topic as
	// Zulip keeps it, or the look-up never finds what was posted.
	if r := []rune(conf.Topic); len(r) > maxTopic {
		conf.Topic = string(r[:maxTopic-3]) + "..."
	}
	if conf.Name == "" {
		conf.Name = "zulip"
	}
	if conf.HTTP == nil {
		conf.HTTP = &http.Client{}
	}
	conf.Site = strings.TrimRight(conf.Site, "/")
	return &Notifier{conf: conf}
}

// Name implements notify.Chat.
func (n *Notifier) Name() string { return n.conf.Name }

// APIError is an error answer of Zulip's API.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("zulip answered %d: %s", e.Status, e.Msg)
	}
	return fmt.Sprintf("zulip answered %d %s: %s", e.Status, e.Code, e.Msg)
}

type answer struct {
	Result     string  `json:"result"`
	Msg        string  `json:"msg"`
	Code       string  `json:"code"`
	ID         int64   `json:"id"`
	RetryAfter float64 `json:"retry-after"`
	Email      string  `json:"email"`
	FullName   string  `json:"full_name"`
	URI        string  `json:"uri"` // an upload's path on the site
	// POST /api/v1/register, fetching the realm's settings:
	QueueID      string   `json:"queue_id"`
	AllowEditing *bool    `json:"realm_allow_message_editing"`
	EditLimit    *float64 `json:"realm_message_content_edit_limit_seconds"` // null or 0: no limit
	Messages     []struct {
		ID        int64  `json:"id"`
		Content   string `json:"content"`
		Timestamp int64  `json:"timestamp"` // when Zulip took it, in Unix seconds
	} `json:"messages"`
}

func (n *Notifier) call(ctx context.Context, method, path string, form url.Values) (answer, error) {
	if form == nil {
		return n.send(ctx, method, path, nil, "")
	}
	return n.send(ctx, method, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// send makes one API call with body of contentType (none when body is nil).
func (n *Notifier) send(ctx context.Context, method, path string, body io.Reader, contentType string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.conf.Site+path, body)
	if err != nil {
		return answer{}, &notify.PermanentError{Err: fmt.Errorf("zulip: %w", err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth(n.conf.Email, n.conf.APIKey)
	resp, err := n.conf.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{}, fmt.Errorf("zulip %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var a answer
	jsonErr := json.Unmarshal(raw, &a)
	if resp.StatusCode == http.StatusOK && jsonErr == nil && a.Result == "success" {
		return a, nil
	}
	ae := &APIError{Status: resp.StatusCode, Code: a.Code, Msg: a.Msg}
	if jsonErr != nil {
		ae.Msg = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	// Zulip's words go into logs and errors: never the key, should it be
	// quoted back.
	ae.Msg = redact.String(ae.Msg, n.conf.APIKey)
	err = fmt.Errorf("zulip %s %s: %w", method, path, ae)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || a.Code == "RATE_LIMIT_HIT":
		after := time.Duration(a.RetryAfter * float64(time.Second))
		if h := resp.Header.Get("Retry-After"); h != "" {
			if s, perr := strconv.ParseFloat(h, 64); perr == nil {
				after = time.Duration(s * float64(time.Second))
			}
		}
		return a, &notify.RetryAfterError{After: after, Err: err}
	case resp.StatusCode >= 500:
		return a, err
	case resp.StatusCode >= 400:
		return a, &notify.PermanentError{Err: err}
	}
	return a, err
}

// content renders m as Zulip markdown. A mention in what people wrote (a
// release description, a reason) is made silent: @**all** would notify
// every subscriber of the stream; @_**all** only names it.
func content(m notify.Message) string {
	var head, tail strings.Builder
	if m.Status != "" {
		head.WriteString("**" + m.Status + "** · ")
	}
	// The note of an announcement sent again stays when the headline is
	// cut: it tells people why they see it twice.
	body, note := notify.SplitNote(m.Headline)
	head.WriteString(silent(plain(body)))
	if m.Trend != "" {
		tail.WriteString("\n`" + m.Trend + "`")
	}
	if m.Override != "" {
		tail.WriteString("\nOverride: `" + m.Override + "`")
	}
	// Zulip cuts a message over maxContent characters: the evidence
	// gives way first, so what is posted is what Zulip keeps (Find
	// compares it) and the override command stays.
	more := len([]rune(fmt.Sprintf(moreLines, len(m.Evidence)))) // the longest note
	room := maxContent - len([]rune(tail.String())) - more
	b := []rune(head.String())
	if n := room - len([]rune(note)); len(b) > n {
		b = append(b[:max(0, n-1)], '…')
	}
	b = append(b, []rune(note)...)
	for i, l := range m.Evidence {
		// A line may quote a route, and with all_routes the paths the
		// app is sent name its routes: text, as the headline is.
		line := []rune("\n* " + silent(plain(l)))
		if len(b)+len(line) > room && !(i == len(m.Evidence)-1 && len(b)+len(line) <= room+more) {
			b = append(b, []rune(fmt.Sprintf(moreLines, len(m.Evidence)-i))...)
			break
		}
		b = append(b, line...)
	}
	return string(b) + tail.String()
}

// plain keeps what people wrote in a headline (a release description, a
// reason) from acting as markdown: a masked link ([text](url)) shows as
// written, and an odd backtick, which only people's text brings (relwatch's
// own come in pairs), is escaped with all the others, so that none opens a
// code span that takes the override command with it.
func plain(s string) string {
	s = strings.ReplaceAll(s, "](", "]\\(")
	if strings.Count(s, "`")%2 == 1 {
		s = strings.ReplaceAll(s, "`", "\\`")
	}
	return s
}

// silent makes every mention in s silent: @**name** and @*group* (and
// the wildcards, @**all**, @**topic**) become @_**name** and @_*group*.
func silent(s string) string { return strings.ReplaceAll(s, "@*", "@_*") }

func (n *Notifier) post(ctx context.Context, m notify.Message) (int64, error) {
	a, err := n.call(ctx, http.MethodPost, "/api/v1/messages", url.Values{
		"type": {"stream"}, "to": {n.conf.Stream}, "topic": {n.conf.Topic}, "content": {content(m)},
	})
	return a.ID, err
}

// Open implements notify.Chat: the reference is the message id.
func (n *Notifier) Open(ctx context.Context, m notify.Message) (string, error) {
	id, err := n.post(ctx, m)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// Reply implements notify.Chat: replies go to the same topic.
func (n *Notifier) Reply(ctx context.Context, _ string, m notify.Message) error {
	_, err := n.post(ctx, m)
	return err
}

// Edit implements notify.Chat.
func (n *Notifier) Edit(ctx context.Context, ref string, m notify.Message) error {
	if _, err := strconv.ParseInt(ref, 10, 64); err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("zulip: bad message id %q", ref)}
	}
	_, err := n.call(ctx, http.MethodPatch, "/api/v1/messages/"+ref, url.Values{"content": {content(m)}})
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && editRefused(ae.Msg) {
		return notify.EditRefused(fmt.Errorf("%w (Zulip's organization settings, Message editing: a time limit longer than the watch, or any time, lets relwatch mark the outcome on the opening)", err))
	}
	return err
}

// editRefused reports whether Zulip's answer to an edit is its refusal of
// any edit of that message by the bot: the organization's time limit for
// editing has passed (600 s by default), editing is turned off, or the
// message is another user's (an opening posted by a bot since replaced).
// Zulip says so in words only (code BAD_REQUEST), in the bot's language:
// an answer in another language stays a failed delivery.
func editRefused(msg string) bool {
	msg = strings.ToLower(msg)
	// "Invalid message(s)": the opening was deleted.
	for _, refusal := range []string{"time limit for editing", "turned off message editing", "permission to edit this message", "invalid message(s)"} {
		if strings.Contains(msg, refusal) {
			return true
		}
	}
	return false
}

// Attach implements notify.Attacher: the file is uploaded (POST
// /api/v1/user_uploads, multipart), then a message in the release's topic
// links it, which Zulip shows as the picture.
func (n *Notifier) Attach(ctx context.Context, _ string, f notify.File) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("filename", f.Name)
	if err == nil {
		_, err = part.Write(f.Data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("zulip: build the upload of %s: %w", f.Name, err)}
	}
	a, err := n.send(ctx, http.MethodPost, "/api/v1/user_uploads", &body, w.FormDataContentType())
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Name, err)
	}
	if !strings.HasPrefix(a.URI, "/user_uploads/") {
		return fmt.Errorf("upload %s: zulip answered no /user_uploads/ path (%q)", f.Name, a.URI)
	}
	_, err = n.call(ctx, http.MethodPost, "/api/v1/messages", url.Values{
		"type": {"stream"}, "to": {n.conf.Stream}, "topic": {n.conf.Topic}, "content": {fmt.Sprintf("[%s](%s)", f.Name, a.URI)},
	})
	return err
}

// Find implements notify.Finder: it reads the bot's newest 100 messages in
// the topic (GET /api/v1/messages, narrowed to the stream, the topic and
// the bot as sender, as markdown) and looks for one whose content is m's.
// Zulip keeps nothing but the content on a message (send-message's
// local_id and queue_id only echo to the sender's event queue), so the
// content is what is matched: m is rendered from the same stored
// announcement as the message that may have been sent, so it renders the
// same. ref is not needed: a release's story is the topic.
func (n *Notifier) Find(ctx context.Context, _ string, m notify.Message) (string, bool, error) {
	narrow, err := json.Marshal([]map[string]string{
		{"operator": "stream", "operand": n.conf.Stream},
		{"operator": "topic", "operand": n.conf.Topic},
		{"operator": "sender", "operand": n.conf.Email},
	})
	if err != nil {
		return "", false, &notify.PermanentError{Err: fmt.Errorf("zulip: %w", err)}
	}
	q := url.Values{"anchor": {"newest"}, "num_before": {"100"}, "num_after": {"0"}, "apply_markdown": {"false"}, "narrow": {string(narrow)}}
	a, err := n.call(ctx, http.MethodGet, "/api/v1/messages?"+q.Encode(), nil)
	if err != nil {
		return "", false, err
	}
	want := strings.TrimSpace(content(m))
	// The topic holds every release's story, and two announcements may
	// read alike (a second resume): a message Zulip took before the
	// announcement existed is not it. A restated one is the original's,
	// said before its At.
	var since int64
	if at := m.Event.At; !at.IsZero() && !m.Event.Restated {
		since = at.Add(-clockSkew).Unix()
	}
	for i := len(a.Messages) - 1; i >= 0; i-- {
		if a.Messages[i].Timestamp < since {
			continue
		}
		if strings.TrimSpace(a.Messages[i].Content) == want {
			return strconv.FormatInt(a.Messages[i].ID, 10), true, nil
		}
	}
	return "", false, nil
}

// EditLimit says how long after posting the organization lets the bot
// edit a message's content (0: any time), or that it may not at all
// (editing false). It registers an event queue fetching the realm's
// settings (POST /api/v1/register), the one way Zulip's API tells them,
// and deletes the queue at once (Zulip would after 10 idle minutes).
func (n *Notifier) EditLimit(ctx context.Context) (limit time.Duration, editing bool, err error) {
	a, err := n.call(ctx, http.MethodPost, "/api/v1/register", url.Values{"event_types": {`["realm"]`}, "fetch_event_types": {`["realm"]`}})
	if err != nil {
		return 0, false, err
	}
	if a.QueueID != "" {
		_, _ = n.call(ctx, http.MethodDelete, "/api/v1/events", url.Values{"queue_id": {a.QueueID}})
	}
	if a.AllowEditing != nil && !*a.AllowEditing {
		return 0, false, nil
	}
	if a.EditLimit == nil {
		return 0, true, nil
	}
	return time.Duration(*a.EditLimit * float64(time.Second)), true, nil
}

// Check verifies the bot's credentials (GET /api/v1/users/me) and that
// Zulip knows its stream (GET /api/v1/get_stream_id) without posting, and
// says who it is.
func (n *Notifier) Check(ctx context.Context) (string, error) {
	a, err := n.call(ctx, http.MethodGet, "/api/v1/users/me", nil)
	if err != nil {
		return "", err
	}
	// Zulip refuses every message to a stream it does not know, or the
	// bot cannot see ("Stream 'deploy' does not exist"): ask for it.
	if _, err := n.call(ctx, http.MethodGet, "/api/v1/get_stream_id?stream="+url.QueryEscape(n.conf.Stream), nil); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			return "", fmt.Errorf("stream %q: Zulip knows no such stream the bot can see, so every message to it would be refused (create it, or name an existing one in stream): %w", n.conf.Stream, err)
		}
		return "", fmt.Errorf("stream %q: %w", n.conf.Stream, err)
	}
	return fmt.Sprintf("%s (%s)", a.FullName, a.Email), nil
}
