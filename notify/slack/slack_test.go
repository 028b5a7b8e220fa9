package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store"
)

func TestThreadOfARelease(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), notifytest.Story(),
		notify.ThreadOptions{Render: notify.RenderOptions{WorkerApp: "my-relwatch"}})

	calls := srv.Calls()
	type want struct{ path, thread, contains string }
	wants := []want{
		{"/chat.postMessage", "", "crates-io v42 is live (Promote crates-io-staging v118)"},
		{"/chat.postMessage", "1700000000.000001", "repeat share: 78.6% now vs 15.1% before"},
		{"/chat.update", "", "⚠️ looks bad"},
		{"/chat.postMessage", "1700000000.000001", "Rolling crates-io back from v42 to v41"},
		{"/chat.update", "", "⏪ rolling back to v41"},
		{"/chat.postMessage", "1700000000.000001", "rolled back to v41"},
		{"/chat.update", "", "⏪ rolled back to v41"},
	}
	if len(calls) != len(wants) {
		for _, c := range calls {
			t.Logf("%s thread=%q ts=%q text=%q", c.Path, c.Form.Get("thread_ts"), c.Form.Get("ts"), c.Form.Get("text"))
		}
		t.Fatalf("%d calls, want %d", len(calls), len(wants))
	}
	for i, w := range wants {
		c := calls[i]
		if c.Path != w.path || c.Form.Get("thread_ts") != w.thread || c.Form.Get("channel") != "C0DEPLOY" {
			t.Errorf("call %d: %s channel %q thread %q; want %s thread %q", i, c.Path, c.Form.Get("channel"), c.Form.Get("thread_ts"), w.path, w.thread)
		}
		if !strings.Contains(c.Form.Get("blocks"), w.contains) {
			t.Errorf("call %d blocks lack %q: %s", i, w.contains, c.Form.Get("blocks"))
		}
		if c.Auth != "Bearer xoxb-test" && c.Form.Get("token") != "xoxb-test" {
			t.Errorf("call %d carries no token (header %q)", i, c.Auth)
		}
		if c.Path == "/chat.update" && (c.Form.Get("ts") != "1700000000.000001" || !strings.Contains(c.Form.Get("blocks"), "crates-io v42 is live")) {
			t.Errorf("call %d updates ts %q: want the opening message, rewritten with its status", i, c.Form.Get("ts"))
		}
	}
	if b := calls[0].Form.Get("blocks"); !strings.Contains(b, "heroku run -a my-relwatch relwatch pause crates-io") {
		t.Errorf("the opening message lacks the override command: %s", b)
	}
	if b := calls[1].Form.Get("blocks"); !strings.Contains(b, "rate ▃▃┃██") {
		t.Errorf("the anomaly lacks its sparkline: %s", b)
	}
}

func TestRateLimitedThenDelivered(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	first := true
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if first {
			first = false
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	start := time.Now()
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), notifytest.Story()[:1], notify.ThreadOptions{})
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d messages delivered, want 1 after the 429", n)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %s, before Slack's Retry-After of 1s", waited)
	}
}

// An error another try will not mend is tried once: retried, it held up
// every later announcement of the chat for the whole GiveUp.
func TestPermanentErrorIsNotRetried(t *testing.T) {
	for _, code := range []string{"channel_not_found", "token_expired", "edit_window_closed"} {
		srv := notifytest.NewSlack()
		tries := 0
		srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			tries++
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":false,"error":"` + code + `"}`))
			return true
		})
		notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0NOPE", APIURL: srv.GetAPIURL()}), notifytest.Story()[:1], notify.ThreadOptions{GiveUp: 2 * time.Second})
		srv.Stop()
		if tries != 1 {
			t.Errorf("%d tries of a %s", tries, code)
		}
	}
}

func TestCheck(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	who, err := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}).Check(context.Background())
	if err != nil || who == "" {
		t.Fatalf("Check = %q, %v", who, err)
	}
	for _, c := range srv.Calls() {
		if c.Path != "/conversations.history" {
			t.Fatalf("Check called %s: it reads, never posts", c.Path)
		}
	}
}

// TestCheckReadsTheChannel: Check asks conversations.history for one
// message: a bot not in the channel fails (it could not post); a missing
// history scope or a channel named rather than given by ID is said, not
// failed (posting works; a restarted worker's look-ups do not).
func TestCheckReadsTheChannel(t *testing.T) {
	for _, c := range []struct {
		channel, answer string
		fails           bool
		says            string
	}{
		{"C0DEPLOY", "not_in_channel", true, "is not in channel C0DEPLOY, so it cannot post there: invite it"},
		{"C0DEPLOY", "channel_not_found", true, "channel_not_found"},
		{"deployments", "channel_not_found", false, `channel "deployments" is a name: give its ID`},
		{"C0DEPLOY", "missing_scope", false, "without the channels:history scope"},
	} {
		srv := notifytest.NewSlack()
		srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/conversations.history" {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, c.answer)
			return true
		})
		who, err := slack.New(slack.Config{Token: "xoxb-test", Channel: c.channel, APIURL: srv.GetAPIURL()}).Check(context.Background())
		srv.Stop()
		if got := fmt.Sprint(who, err); (err != nil) != c.fails || !strings.Contains(got, c.says) {
			t.Errorf("%s, %s: Check = %q, %v; want failed %v, saying %q", c.channel, c.answer, who, err, c.fails, c.says)
		}
	}
}

// TestEditRefused: the workspace's message editing settings
// (edit_window_closed), or a message the bot cannot update, are
// notify.ErrEditRefused: the opening keeps its status.
func TestEditRefused(t *testing.T) {
	// A deleted opening (message_not_found) is refused too: the reply
	// before the edit was posted, and must count as delivered.
	for answer, refused := range map[string]bool{"edit_window_closed": true, "cant_update_message": true, "message_not_found": true, "channel_not_found": false} {
		srv := notifytest.NewSlack()
		srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/chat.update" {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, answer)
			return true
		})
		err := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}).Edit(context.Background(), "C0DEPLOY/1700000000.000001", notify.Render(notifytest.Story()[0], notify.RenderOptions{}))
		srv.Stop()
		var perm *notify.PermanentError
		if !errors.As(err, &perm) || errors.Is(err, notify.ErrEditRefused) != refused {
			t.Errorf("%s: Edit = %v; want permanent, ErrEditRefused %v", answer, err, refused)
		}
	}
}

// memory is a notify.ThreadMemory in a map, as the store keeps it.
type memory struct {
	mu sync.Mutex
	m  map[string]store.Thread
}

func (m *memory) Thread(_ context.Context, chat, thread string) (store.Thread, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[chat+"|"+thread]
	return v, ok, nil
}

func (m *memory) SaveThread(_ context.Context, chat, thread string, t store.Thread) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[chat+"|"+thread] = t
	return nil
}

func TestRestartRepliesInTheSameThread(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	mem := &memory{m: map[string]store.Thread{}}
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
	run := func(events []notify.Event) {
		th := notify.NewThreads(context.Background(), chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, Memory: mem})
		for _, e := range events {
			th.Notify(context.Background(), e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		th.Close(ctx)
	}
	s := notifytest.Story()
	run(s[:1])  // the worker that opened the thread
	run(s[1:2]) // a restarted worker
	calls := srv.Calls()
	if len(calls) != 3 || calls[1].Form.Get("thread_ts") != "1700000000.000001" || calls[2].Path != "/chat.update" ||
		calls[2].Form.Get("ts") != "1700000000.000001" || !strings.Contains(calls[2].Form.Get("blocks"), "crates-io v42 is live") {
		for _, c := range calls {
			t.Logf("%s thread=%q ts=%q", c.Path, c.Form.Get("thread_ts"), c.Form.Get("ts"))
		}
		t.Fatal("after a restart the story must continue in the thread the first worker opened")
	}
}

// A release description is Heroku's, written by
// whoever deploys ("Deploy 1a2b3c: <!channel> ..." from a commit message).
// The blocks escape it; the top-level text (what mobile notifications and
// screen readers show, parsed as mrkdwn) must escape it too.
func TestTheMessagesTextIsEscapedAsItsBlocks(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	story := notifytest.Story()[:1]
	story[0].Description = "Deploy 1a2b3c: <!channel> see <https://evil.example|the fix> & more"
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story, notify.ThreadOptions{})
	calls := srv.Calls()
	if len(calls) == 0 {
		t.Fatal("nothing posted")
	}
	text, blocks := calls[0].Form.Get("text"), calls[0].Form.Get("blocks")
	if strings.Contains(blocks, "<!channel>") {
		t.Fatalf("blocks unescaped: %s", blocks)
	}
	for _, raw := range []string{"<!channel>", "<https://evil.example|the fix>", " & "} {
		if strings.Contains(text, raw) {
			t.Errorf("the message's text carries %q unescaped: %q", raw, text)
		}
	}
}

// A person's reason has no bound (--reason, a chat command), and escaping
// makes it longer: the message's text went out whole, past Slack's limit,
// and msg_too_long lost the announcement. It is cut as the blocks are.
func TestALongReasonStillReachesSlack(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	story := notifytest.Story()[:1]
	story[0].Description = strings.Repeat("downloads broken <see logs> ", 2000)
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story, notify.ThreadOptions{})
	calls := srv.Calls()
	if len(calls) == 0 {
		t.Fatal("nothing posted")
	}
	if n := len([]rune(calls[0].Form.Get("text"))); n > 3000 {
		t.Errorf("the message's text is %d characters, past the blocks' 3,000", n)
	}
}

// v42's watch ended healthy; later someone pauses automatic rollback of the app. With no watch open
// the watcher announces the pause in the current release's thread
// (watcher/state.go requests). The reply is right; the opening message
// must keep its outcome ("✅ healthy") and offer no buttons again.
func TestPauseAfterTheWatchEndedKeepsTheOutcome(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	h := notify.Header{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118"}
	start := notify.Event{Header: h, Fact: notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true}}
	start.Kind = notify.WatchStarted
	healthy := notify.Event{Header: h, Fact: notify.WatchEnd{Seen: notify.Seen{Reason: "no signal moved"}, WatchFor: 20 * time.Minute}}
	healthy.Kind = notify.WatchHealthy
	pause := notify.Event{Header: h, Fact: notify.Request{By: "ana", Reason: "db migration"}}
	pause.Kind, pause.Instance, pause.At = notify.Paused, 7, time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)

	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true}),
		[]notify.Event{start, healthy, pause}, notify.ThreadOptions{})
	opening := srv.Messages()[0]
	if !strings.Contains(opening.Blocks, "✅ healthy") {
		t.Errorf("the opening message lost its outcome: %s", opening.Text)
	}
	if strings.Contains(opening.Blocks, slack.ActionRollback) {
		t.Errorf("the ended release's opening offers its buttons again")
	}
}

// A pause during the watch sets the opening
// message to "⏸ paused"; once resumed, automatic rollback is on again and
// the opening must not go on saying "paused".
func TestResumeClearsPausedStatus(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	h := notify.Header{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118"}
	start := notify.Event{Header: h, Fact: notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true}}
	start.Kind = notify.WatchStarted
	pause := notify.Event{Header: h, Fact: notify.Request{By: "ana"}}
	pause.Kind, pause.Instance = notify.Paused, 7
	resume := notify.Event{Header: h, Fact: notify.Request{By: "ana"}}
	resume.Kind, resume.Instance = notify.Resumed, 8
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}),
		[]notify.Event{start, pause, resume}, notify.ThreadOptions{})
	if opening := srv.Messages()[0]; strings.Contains(opening.Text, "paused") {
		t.Errorf("after the resume the opening message still reads %q", opening.Text)
	}
}

// TestEveryRouteBrokenStillAnnounced: a release that breaks every route
// of an app guarding all_routes (50 of them) fires on each; the anomaly's
// summary and evidence name them all. Slack refuses a section text over
// 3000 characters (invalid_blocks, not retried): the anomaly and the
// rollback's messages must still arrive, and the opening show the outcome.
func TestEveryRouteBrokenStillAnnounced(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	story := notifytest.Story()
	a := story[1].Fact.(notify.Anomalous)
	proto := a.Findings[0]
	a.Findings = nil
	var short []string
	for i := range 50 {
		f := proto
		f.Route = fmt.Sprintf("/api/v1/crates/{crate}/route-%02d & more", i)
		a.Findings = append(a.Findings, f)
		short = append(short, notify.Short(f))
	}
	a.Summary = strings.Join(short, ", ")
	story[1].Fact = a
	for _, i := range []int{2, 3} {
		s := story[i].Fact.(notify.RollbackStep)
		s.Seen = a.Seen
		story[i].Fact = s
	}
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story, notify.ThreadOptions{})
	msgs := srv.Messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages in Slack, want the story's 4", len(msgs))
	}
	for i, want := range []string{"crates-io v42 is live", "crates-io v42 looks bad", "Rolling crates-io back from v42 to v41", "is rolled back to v41"} {
		if !strings.Contains(msgs[i].Blocks, want) {
			t.Errorf("message %d lacks %q: %.300s", i, want, msgs[i].Blocks)
		}
	}
	if !strings.Contains(msgs[0].Blocks, "⏪ rolled back to v41") {
		t.Errorf("the opening does not show the outcome: %.300s", msgs[0].Blocks)
	}
}

// Slack parses <, > and & in every mrkdwn text, code spans included: the
// override command's placeholder, when worker_app is not configured
// ("heroku run -a <worker-app> ..."), read as a link sequence, not as the
// command to type. Every text object of the blocks carries them escaped.
func TestTheOverrideCommandIsEscaped(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), notifytest.Story()[:1], notify.ThreadOptions{})
	calls := srv.Calls()
	if len(calls) == 0 {
		t.Fatal("nothing posted")
	}
	var blocks []struct {
		Text     *struct{ Text string }  `json:"text"`
		Elements []struct{ Text string } `json:"elements"`
	}
	if err := json.Unmarshal([]byte(calls[0].Form.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, b := range blocks {
		if b.Text != nil {
			texts = append(texts, b.Text.Text)
		}
		for _, e := range b.Elements {
			texts = append(texts, e.Text)
		}
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "heroku run -a &lt;worker-app&gt; relwatch pause crates-io") {
		t.Errorf("the override command is not escaped for mrkdwn:\n%s", all)
	}
}

// A description is whoever deployed's words: "hotfix, @here please
// check #general". Slack parses a mrkdwn text object's plain text on its
// own (channel names linked, certain mentions parsed) unless it is
// verbatim, and then the rollback of that release would ping the channel.
// Every mrkdwn text object relwatch posts is verbatim; what it formats on
// purpose (bold, code) Slack still formats.
func TestEveryMrkdwnTextIsVerbatim(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	story := notifytest.Story()
	story[0].Description = "hotfix, @here please check #general"
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true}), story, notify.ThreadOptions{})
	var seen int
	// walk finds every text object, however deep a block keeps it.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(path, x)
			}
		case map[string]any:
			if v["type"] == "mrkdwn" {
				seen++
				if v["verbatim"] != true {
					t.Errorf("%s: a mrkdwn text Slack would parse on its own: %q", path, v["text"])
				}
			}
			for _, x := range v {
				walk(path, x)
			}
		}
	}
	for _, c := range srv.Calls() {
		if raw := c.Form.Get("blocks"); raw != "" {
			var blocks any
			if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
				t.Fatalf("%s: %v", c.Path, err)
			}
			walk(c.Path, blocks)
		}
	}
	if seen == 0 {
		t.Fatal("no mrkdwn text posted")
	}
}

// Find reads every page of a long thread (an app's thread of refused chat
// commands grows for good): the reply looked for is among the newest, past
// the first page of 200 (before, only that page was read, and a reply
// whose answer was lost was posted again).
func TestFindReadsEveryPageOfTheThread(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
	ctx := context.Background()
	opening := notify.Render(notifytest.Story()[0], notify.RenderOptions{})
	ref, err := chat.Open(ctx, opening)
	if err != nil {
		t.Fatal(err)
	}
	var last notify.Message
	for i := range 450 {
		last = notify.Message{Event: opening.Event, Headline: fmt.Sprintf("reply %d", i), Key: fmt.Sprintf("crates-io/v42/refused/%d", i)}
		if err := chat.Reply(ctx, ref, last); err != nil {
			t.Fatal(err)
		}
	}
	found, ok, err := chat.Find(ctx, ref, last)
	if err != nil || !ok {
		t.Fatalf("the newest reply of 450 not found: %q %v %v", found, ok, err)
	}
	if msgs := srv.Messages(); found != "C0DEPLOY/"+msgs[len(msgs)-1].TS {
		t.Errorf("found %s, want the newest reply %s", found, msgs[len(msgs)-1].TS)
	}
	if _, ok, err := chat.Find(ctx, ref, notify.Message{Key: "crates-io/v42/never"}); ok || err != nil {
		t.Errorf("a message never sent was found: %v %v", ok, err)
	}
}

// TestBlocksSlackRefusesStillAnnounce: Slack counts Block Kit's limits
// its own way (a text object's 3,000 "characters"); should it refuse the
// blocks relwatch sends (invalid_blocks, msg_blocks_too_long), nothing is
// posted, and without another try the rollback was never announced (a
// permanent error). The text alone is sent instead, with the evidence: the
// story is told, every step of it, its opening edited to its end.
func TestBlocksSlackRefusesStillAnnounce(t *testing.T) {
	for _, code := range []string{"invalid_blocks", "msg_blocks_too_long"} {
		srv := notifytest.NewSlack()
		refused := 0
		srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
			if err := r.ParseForm(); err != nil {
				return false
			}
			if b := r.PostForm.Get("blocks"); b != "" && b != "[]" {
				refused++
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"ok":false,"error":"` + code + `"}`))
				return true
			}
			return false
		})
		story := notifytest.Story()
		notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true}), story, notify.ThreadOptions{GiveUp: 2 * time.Second})
		srv.Stop()
		msgs := srv.Messages()
		if refused == 0 || len(msgs) != len(story) {
			t.Fatalf("%s: %d messages in Slack after %d refusals, want the story's %d", code, len(msgs), refused, len(story))
		}
		all := ""
		for _, m := range msgs {
			all += m.Text + "\n"
		}
		for _, want := range []string{"v41", "repeat share 78.6%", "rolled back"} {
			if !strings.Contains(strings.ToLower(all), strings.ToLower(want)) {
				t.Errorf("%s: the text-only story lacks %q:\n%s", code, want, all)
			}
		}
		if msgs[0].Edits == 0 || msgs[0].Blocks != "[]" {
			t.Errorf("%s: the opening was not edited to its end without its old blocks (edits %d, blocks %s)", code, msgs[0].Edits, msgs[0].Blocks)
		}
	}
}
