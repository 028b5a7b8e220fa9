package zulip_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/zulip"
)

func newChat(z *notifytest.Zulip, stream, key string) *zulip.Notifier {
	return zulip.New(zulip.Config{Site: z.URL, Email: "relwatch-bot@zulip.example", APIKey: key, Stream: stream})
}

func TestTopicOfARelease(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), notifytest.Story(), notify.ThreadOptions{})

	calls := z.Calls()
	type want struct{ method, path, contains string }
	wants := []want{
		{"POST", "/api/v1/messages", "crates-io v42 is live"},
		{"POST", "/api/v1/messages", "* repeat share: 78.6% now vs 15.1% before"},
		{"PATCH", "/api/v1/messages/101", "**⚠️ looks bad** · crates-io v42 is live"},
		{"POST", "/api/v1/messages", "Rolling crates-io back from v42 to v41"},
		{"PATCH", "/api/v1/messages/101", "**⏪ rolling back to v41**"},
		{"POST", "/api/v1/messages", "rolled back to v41"},
		{"PATCH", "/api/v1/messages/101", "**⏪ rolled back to v41** · crates-io v42 is live"},
	}
	if len(calls) != len(wants) {
		t.Fatalf("%d calls, want %d: %+v", len(calls), len(wants), calls)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("relwatch-bot@zulip.example:k3y"))
	for i, w := range wants {
		c := calls[i]
		if c.Method != w.method || c.Path != w.path || !strings.Contains(c.Form.Get("content"), w.contains) || c.Auth != auth {
			t.Errorf("call %d: %s %s %q; want %s %s with %q", i, c.Method, c.Path, c.Form.Get("content"), w.method, w.path, w.contains)
		}
		if c.Method == "POST" && (c.Form.Get("type") != "stream" || c.Form.Get("to") != "t-crates-io" || c.Form.Get("topic") != "deployments") {
			t.Errorf("call %d form %v", i, c.Form)
		}
	}
	if got := z.Message(101); !strings.HasPrefix(got, "**⏪ rolled back to v41**") {
		t.Fatalf("the opening message reads %q", got)
	}
}

func TestContractErrors(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	ctx := context.Background()
	m := notify.Render(notifytest.Story()[0], notify.RenderOptions{})

	_, err := newChat(z, "t-crates-io", "wrong").Open(ctx, m)
	var perm *notify.PermanentError
	if err == nil || !strings.Contains(err.Error(), "401 UNAUTHORIZED") || !asPermanent(err, &perm) {
		t.Errorf("wrong key: %v", err)
	}
	_, err = newChat(z, "no-such-stream", "k3y").Open(ctx, m)
	if err == nil || !strings.Contains(err.Error(), "STREAM_DOES_NOT_EXIST") || !asPermanent(err, &perm) {
		t.Errorf("unknown stream: %v", err)
	}
	if err := newChat(z, "t-crates-io", "k3y").Edit(ctx, "999", m); err == nil || !strings.Contains(err.Error(), "BAD_REQUEST") {
		t.Errorf("edit of a missing message: %v", err)
	}
	who, err := newChat(z, "t-crates-io", "k3y").Check(ctx)
	if err != nil || !strings.Contains(who, "relwatch-bot@zulip.example") {
		t.Errorf("Check = %q, %v", who, err)
	}
}

func asPermanent(err error, target **notify.PermanentError) bool {
	for e := err; e != nil; {
		if p, ok := e.(*notify.PermanentError); ok {
			*target = p
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func TestRateLimitHonoured(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	limited := 0
	z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if limited < 2 {
			limited++
			notifytest.RateLimit(w, 300*time.Millisecond)
			return true
		}
		return false
	})
	start := time.Now()
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), notifytest.Story()[:1], notify.ThreadOptions{})
	if n := len(z.Calls()); n != 1 {
		t.Fatalf("%d messages after the 429s, want 1", n)
	}
	if waited := time.Since(start); waited < 600*time.Millisecond {
		t.Fatalf("retried after %s, sooner than retry-after asked", waited)
	}
}

// A release description is written by whoever deploys (a commit message,
// a pipeline's text), a reason by whoever gives a command. Posted as Zulip
// markdown as is, "@**all**" in it notified every subscriber of the
// stream: a mention in them is a silent one (@_**all**), named, no ping.
func TestADescriptionCannotMention(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	story := notifytest.Story()[:1]
	story[0].Description = "Deploy 1a2b3c: fix for @**all** and @**Ana Lopez**"
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{})
	for _, c := range z.Calls() {
		content := c.Form.Get("content")
		for _, mention := range []string{"@**all**", "@**Ana Lopez**"} {
			if strings.Contains(content, mention) {
				t.Errorf("%s %s content carries the live mention %q: %q", c.Method, c.Path, mention, content)
			}
		}
		if !strings.Contains(content, "@_**all**") {
			t.Errorf("%s %s content does not name the mention silently: %q", c.Method, c.Path, content)
		}
	}
}

// A masked link in a description ("[all healthy](https://evil.example)")
// rendered as a link, and a lone backtick opened a code span that took the
// override command with it: people's text is written as text.
func TestADescriptionCannotLinkOrTakeTheOverride(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	story := notifytest.Story()[:1]
	story[0].Description = "Deploy `fix [rollback done, all healthy](https://evil.example/x)"
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{Render: notify.RenderOptions{WorkerApp: "w"}})
	posted := false
	for _, c := range z.Calls() {
		content := c.Form.Get("content")
		if content == "" {
			continue
		}
		posted = true
		if strings.Contains(content, "](") || strings.Contains(content, " `fix") {
			t.Errorf("%s %s content lets the description act as markdown: %q", c.Method, c.Path, content)
		}
		if !strings.Contains(content, "\\`fix [rollback done, all healthy]\\(https://evil.example/x)") || !strings.Contains(content, "Override: `heroku run -a w relwatch pause crates-io`") {
			t.Errorf("%s %s content: %q", c.Method, c.Path, content)
		}
	}
	if !posted {
		t.Fatal("nothing posted")
	}
}

// A description Heroku keeps as written may hold line breaks (a release
// made through the API with a commit message). In Zulip markdown a line
// that starts with ``` opens a code block that takes the rest of the
// message: the anomaly's evidence and the override command were shown as
// one grey block of code. Every line of every message is ours.
func TestADescriptionCannotOpenABlock(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	story := notifytest.Story()
	story[0].Description = "Deploy 1a2b3c\n```\n> quoted\n# heading"
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{})
	var posted int
	for _, c := range z.Calls() {
		content := c.Form.Get("content")
		if content == "" {
			continue
		}
		posted++
		for _, l := range strings.Split(content, "\n") {
			for _, opens := range []string{"```", "> quoted", "# heading"} {
				if strings.HasPrefix(l, opens) {
					t.Errorf("%s %s: a line of the description opens a block (%q): %q", c.Method, c.Path, opens, content)
				}
			}
		}
	}
	if posted == 0 {
		t.Fatal("nothing posted")
	}
}

// Zulip keeps at most 60 characters of a topic, cutting a longer one to 57
// and "...": the messages go to the topic as Zulip cut it, and a look-up
// after a restart (which narrows on the topic) has to ask for that topic,
// or it never finds what a stopped worker sent and says it again.
func TestALongTopicIsFoundAsZulipKeepsIt(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	topic := "deployments of crates-io to production, announced by relwatch"
	if len([]rune(topic)) <= 60 {
		t.Fatalf("the topic is not over Zulip's 60 characters: %d", len(topic))
	}
	chat := zulip.New(zulip.Config{Site: z.URL, Email: "relwatch-bot@zulip.example", APIKey: "k3y", Stream: "t-crates-io", Topic: topic})
	ctx := context.Background()
	m := notify.Render(notifytest.Story()[0], notify.RenderOptions{})
	ref, err := chat.Open(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	found, ok, err := chat.Find(ctx, "", m)
	if err != nil || !ok || found != ref {
		t.Fatalf("Find = %q, %v, %v; want the opening %s Zulip holds in topic %q", found, ok, err, ref, z.Messages()[0].Topic)
	}
}

// Zulip keeps at most 10000 characters of a message, cutting a longer one
// ("[message truncated]"). A release that breaks every route of an app
// guarding all_routes names each in its anomaly: the look-up after a
// restart or a lost answer (Find, which compares content) has to find the
// message as Zulip kept it, or the anomaly is posted twice.
func TestALongMessageIsFoundAsZulipKeepsIt(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	chat := newChat(z, "t-crates-io", "k3y")
	e := notifytest.Story()[1]
	a := e.Fact.(notify.Anomalous)
	proto := a.Findings[0]
	a.Findings = nil
	var short []string
	for i := range 50 {
		f := proto
		f.Route = fmt.Sprintf("/api/v1/crates/{crate}/route-%02d", i)
		a.Findings = append(a.Findings, f)
		short = append(short, notify.Short(f))
	}
	a.Summary = strings.Join(short, ", ")
	e.Fact = a
	ctx := context.Background()
	m := notify.Render(e, notify.RenderOptions{})
	if err := chat.Reply(ctx, "", m); err != nil {
		t.Fatal(err)
	}
	kept := z.Messages()[0].Content
	if !strings.Contains(kept, "crates-io v42 looks bad") {
		t.Fatalf("Zulip keeps %.200q", kept)
	}
	found, ok, err := chat.Find(ctx, "", m)
	if err != nil || !ok || found != "101" {
		t.Fatalf("Find = %q, %v, %v; want message 101, which Zulip keeps as %d characters", found, ok, err, len([]rune(kept)))
	}
}

// Zulip keeps nothing but the content on a message, and a topic holds
// every release's story: two announcements may read alike (ana resumes
// automatic rollback twice in a day). Asked after a lost answer whether
// it has the second, Zulip must not answer with the first, posted long
// before the second announcement existed: the second would never be said.
func TestAnEarlierMessageThatReadsAlikeIsNotTheOne(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	chat := newChat(z, "t-crates-io", "k3y")
	ctx := context.Background()
	resumed := func(at time.Time, instance int64) notify.Message {
		e := notify.Event{Header: notify.Header{Kind: notify.Resumed, At: at, App: "crates-io", Release: 42, Instance: instance}, Fact: notify.Request{By: "@ana"}}
		return notify.Render(e, notify.RenderOptions{})
	}
	first := resumed(time.Now(), 7)
	if err := chat.Reply(ctx, "", first); err != nil {
		t.Fatal(err)
	}
	if found, ok, err := chat.Find(ctx, "", first); err != nil || !ok || found != "101" {
		t.Fatalf("the first resume: Find = %q, %v, %v", found, ok, err)
	}
	second := resumed(time.Now().Add(3*time.Hour), 9)
	if found, ok, err := chat.Find(ctx, "", second); err != nil || ok {
		t.Fatalf("the second resume, never posted: Find = %q, %v, %v; want not found (message %s is the first one's)", found, ok, err, found)
	}
}

// announcements is a notify.Observer that keeps how each announcement
// ended, and signals ended at each.
type announcements struct {
	ended  chan struct{}
	mu     sync.Mutex
	said   []notify.Kind
	gaveUp []string
}

func (a *announcements) Announced(_ string, k notify.Kind) {
	a.mu.Lock()
	a.said = append(a.said, k)
	a.mu.Unlock()
	a.ended <- struct{}{}
}

func (a *announcements) GaveUp(_ string, k notify.Kind, reason string) {
	a.mu.Lock()
	a.gaveUp = append(a.gaveUp, string(k)+": "+reason)
	a.mu.Unlock()
	a.ended <- struct{}{}
}

func (a *announcements) CallFailed(_, _, _ string) {}

// TestAnOpeningPastTheEditLimitIsLeftAsItIs: a Zulip organization lets its
// members (the bot too) edit a message for 10 minutes by default. A
// release rolled back 11 minutes into its watch, and a newer release 30
// minutes later: Zulip refuses both edits of the old opening (its outcome,
// then "replaced"). Each announcement is still delivered (the thread says
// what happened), nothing is logged as undelivered, and the refusal is
// said once, as a warning that names the setting.
func TestAnOpeningPastTheEditLimitIsLeftAsItIs(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	later := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	z.SetClock(clock)
	chat := newChat(z, "t-crates-io", "k3y")
	var logs testenv.Buffer
	obs := &announcements{ended: make(chan struct{}, 10)}
	th := notify.NewThreads(context.Background(), chat, notify.ThreadOptions{Observer: obs, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock})
	// deliver sends events and waits until the chat's delivery of each ended.
	deliver := func(events ...notify.Event) {
		t.Helper()
		for _, e := range events {
			if err := th.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		for range events {
			select {
			case <-obs.ended:
			case <-time.After(10 * time.Second):
				t.Fatalf("an announcement never ended:\n%s", logs.String())
			}
		}
	}
	story := notifytest.Story()
	deliver(story[0])
	later(11 * time.Minute)
	deliver(story[1:]...)
	later(30 * time.Minute)
	next := story[0]
	next.Release = 44
	next.Fact = notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true, Replaces: 42}
	deliver(next)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}

	if len(obs.gaveUp) != 0 || len(obs.said) != 5 {
		t.Errorf("announced %v, given up %v; want all 5 announced", obs.said, obs.gaveUp)
	}
	opening := z.Messages()[0]
	if opening.Edits != 0 || strings.Contains(opening.Content, "rolled back") {
		t.Errorf("the opening was edited past the limit (%d edits): %s", opening.Edits, opening.Content)
	}
	var rolledBack bool
	for _, m := range z.Messages() {
		rolledBack = rolledBack || strings.Contains(m.Content, "is rolled back to v41")
	}
	if !rolledBack {
		t.Errorf("the thread does not say the release was rolled back:\n%v", z.Messages())
	}
	out := logs.String()
	if strings.Contains(out, "announcement not delivered") {
		t.Errorf("a refused edit was logged as an undelivered announcement:\n%s", out)
	}
	if n := strings.Count(out, "level=WARN msg=\"the chat refused to edit"); n != 1 {
		t.Errorf("the refusal was warned of %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "Message editing") {
		t.Errorf("the warning does not name the setting:\n%s", out)
	}
}

// TestEditRefusals: Zulip's refusals of any edit by the bot are
// notify.ErrEditRefused (the limit, editing turned off, a message of
// another bot's); its other 400s are not (a deleted message, a bad
// request: the announcement's own failure).
func TestEditRefusals(t *testing.T) {
	for msg, refused := range map[string]bool{
		"The time limit for editing this message has passed": true,
		"Your organization has turned off message editing":   true,
		"Invalid message(s)":                             true, // the opening was deleted
		"You don't have permission to edit this message": true,
		"Nothing to change":                              false,
	} {
		z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
		z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPatch {
				return false
			}
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"result":"error","msg":%q,"code":"BAD_REQUEST"}`, msg)
			return true
		})
		err := newChat(z, "t-crates-io", "k3y").Edit(context.Background(), "101", notify.Render(notifytest.Story()[0], notify.RenderOptions{}))
		z.Close()
		var perm *notify.PermanentError
		if !errors.As(err, &perm) || errors.Is(err, notify.ErrEditRefused) != refused {
			t.Errorf("%q: Edit = %v; want permanent, ErrEditRefused %v", msg, err, refused)
		}
	}
}

// TestEditLimit reads the organization's settings as Zulip gives them:
// null or 0 (before Zulip 6.0) is no limit; editing turned off is none.
func TestEditLimit(t *testing.T) {
	for _, c := range []struct {
		realm   string
		limit   time.Duration
		editing bool
	}{
		{`"realm_allow_message_editing":true,"realm_message_content_edit_limit_seconds":600`, 10 * time.Minute, true},
		{`"realm_allow_message_editing":true,"realm_message_content_edit_limit_seconds":null`, 0, true},
		{`"realm_allow_message_editing":true,"realm_message_content_edit_limit_seconds":0`, 0, true},
		{`"realm_allow_message_editing":false,"realm_message_content_edit_limit_seconds":600`, 0, false},
	} {
		z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
		z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/api/v1/register" {
				return false
			}
			fmt.Fprintf(w, `{"result":"success","msg":"","queue_id":"",%s}`, c.realm)
			return true
		})
		limit, editing, err := newChat(z, "t-crates-io", "k3y").EditLimit(context.Background())
		z.Close()
		if err != nil || limit != c.limit || editing != c.editing {
			t.Errorf("%s: EditLimit = %s, %v, %v; want %s, %v", c.realm, limit, editing, err, c.limit, c.editing)
		}
	}
}
