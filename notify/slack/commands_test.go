package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relwatch/relwatch/control"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/store/storetest"
)

func TestSlashCommandsOverSocketMode(t *testing.T) {
	srv := notifytest.NewSocketMode()
	defer srv.Close()
	db := storetest.Open(t)
	rec := &notify.Recorder{}
	cmds := &slack.Commands{
		Client:   slack.NewSocketClient("xoxb-test", "xapp-test", srv.APIURL()),
		Control:  &control.Plane{Store: db, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}},
		Announce: rec,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmds.Run(ctx) }()

	t.Run("allowed user", func(t *testing.T) {
		ack, err := srv.SlashCommand("U_ANA", "pause crates-io 30m because migration", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		text, kind := notifytest.PayloadText(ack)
		if kind != "in_channel" || !strings.Contains(text, "@ana paused automatic rollback of crates-io until ") || !strings.Contains(text, ": migration") {
			t.Fatalf("answer %q (%s)", text, kind)
		}
		p, ok, _ := db.PauseOf(context.Background(), "crates-io")
		if !ok || p.By != "@ana" || p.Reason != "migration" {
			t.Fatalf("pause in the store: %+v %v", p, ok)
		}
	})
	t.Run("refused user", func(t *testing.T) {
		ack, err := srv.SlashCommand("U_MALLORY", "rollback crates-io", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		text, kind := notifytest.PayloadText(ack)
		if kind != "ephemeral" || !strings.Contains(text, "you may not rollback") {
			t.Fatalf("answer %q (%s)", text, kind)
		}
		if reqs, _ := db.PendingRequests(context.Background(), "crates-io"); len(reqs) != 1 || reqs[0].Kind != store.KindPause {
			t.Fatalf("a refused user's rollback was requested: %+v", reqs)
		}
		evs := rec.Events()
		if len(evs) != 1 || evs[0].Kind != notify.Refused || !strings.Contains(evs[0].Text(), "@mallory") {
			t.Fatalf("refusal announcements %+v", evs)
		}
	})
	t.Run("malformed command", func(t *testing.T) {
		ack, err := srv.SlashCommand("U_ANA", "pause crates-io whenever", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		text, kind := notifytest.PayloadText(ack)
		if kind != "ephemeral" || !strings.Contains(text, `"whenever" is not a duration`) || !strings.Contains(text, "Usage:") {
			t.Fatalf("answer %q (%s)", text, kind)
		}
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestButtons(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true})
	story := notifytest.Story()
	healthy := story[0]
	healthy.Kind, healthy.Fact = notify.WatchHealthy, notify.WatchEnd{WatchFor: 20 * time.Minute}
	notifytest.Deliver(t, chat, []notify.Event{story[0], healthy}, notify.ThreadOptions{})
	calls := srv.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, id := range []string{slack.ActionPause, slack.ActionRollback, slack.ActionApprove} {
		if !strings.Contains(calls[0].Form.Get("blocks"), `"action_id":"`+id+`"`) || !strings.Contains(calls[0].Form.Get("blocks"), `"value":"crates-io v42"`) {
			t.Errorf("the opening message lacks the %s button: %s", id, calls[0].Form.Get("blocks"))
		}
	}
	if calls[2].Path != "/chat.update" || strings.Contains(calls[2].Form.Get("blocks"), "relwatch_pause") {
		t.Errorf("once the watch ended healthy the buttons must go: %s", calls[2].Form.Get("blocks"))
	}

	sm := notifytest.NewSocketMode()
	defer sm.Close()
	db := storetest.Open(t)
	cmds := &slack.Commands{Client: slack.NewSocketClient("xoxb-test", "xapp-test", sm.APIURL()),
		Control: &control.Plane{Store: db, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cmds.Run(ctx)
	if _, err := sm.Click("U_ANA", slack.ActionApprove, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if by, _ := db.ApprovedBy(context.Background(), "crates-io", 42); by != "@ana" {
		t.Fatalf("approved by %q after the click", by)
	}
	if _, err := sm.Click("U_MALLORY", slack.ActionRollback, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustPending(t, db) {
		if r.Kind == store.KindRollback {
			t.Fatal("a refused user's click requested a rollback")
		}
	}
	// Roll back now is for the release the button is on, not whatever is
	// current when the worker gets to it.
	if _, err := sm.Click("U_ANA", slack.ActionRollback, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var rollbacks []store.Request
	for _, r := range mustPending(t, db) {
		if r.Kind == store.KindRollback {
			rollbacks = append(rollbacks, r)
		}
	}
	if len(rollbacks) != 1 || rollbacks[0].From != 42 || rollbacks[0].To != 0 {
		t.Fatalf("rollback requests after Ana's click: %+v; want one of v42", rollbacks)
	}
}

// TestReplacedReleaseLosesItsButtons: when a newer release replaces the
// watch, the older release's opening message says so and offers no
// buttons (they would act on a release that is no longer watched).
func TestReplacedReleaseLosesItsButtons(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true})
	v42 := notifytest.Story()[0]
	v44 := v42
	f := v44.Fact.(notify.WatchStart)
	f.Replaces = 42
	v44.Release, v44.Fact = 44, f
	notifytest.Deliver(t, chat, []notify.Event{v42, v44}, notify.ThreadOptions{})
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if b := msgs[0].Blocks; !strings.Contains(b, "↪ replaced by v44") || strings.Contains(b, slack.ActionRollback) || msgs[0].Edits != 1 {
		t.Errorf("v42's opening after v44 replaced it (%d edits): %s", msgs[0].Edits, b)
	}
	if b := msgs[1].Blocks; !strings.Contains(b, slack.ActionRollback) || !strings.Contains(b, `"value":"crates-io v44"`) {
		t.Errorf("v44's opening lacks its buttons: %s", b)
	}
}

// TestReplacedKeepsTheOutcome: a story that came to something (a failed
// rollback) keeps it on its opening beside the replacement, and the
// replacement said again (a restart) is not edited in twice (before, "❌
// rollback failed" became "↪ replaced by v44").
func TestReplacedKeepsTheOutcome(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL(), Buttons: true})
	story := notifytest.Story()
	failed := story[2]
	failed.Kind = notify.RollbackFailed
	v44 := story[0]
	f := v44.Fact.(notify.WatchStart)
	f.Replaces = 42
	v44.Release, v44.Fact = 44, f
	notifytest.Deliver(t, chat, []notify.Event{story[0], story[1], failed, v44, v44}, notify.ThreadOptions{})
	msgs := srv.Messages()
	if len(msgs) == 0 {
		t.Fatal("no messages")
	}
	b := msgs[0].Blocks
	if !strings.Contains(b, "❌ rollback failed · ↪ replaced by v44") || strings.Count(b, "replaced by") != 1 {
		t.Errorf("v42's opening after a failed rollback and v44 (%d edits): %s", msgs[0].Edits, b)
	}
	if msgs[0].Edits != 3 { // the anomaly, the failure, the replacement
		t.Errorf("v42's opening was edited %d times, want 3: %s", msgs[0].Edits, b)
	}
}

func mustPending(t *testing.T, db *store.DB) []store.Request {
	reqs, err := db.PendingRequests(context.Background(), "crates-io")
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// TestATypoAmongManyAppsIsAnswered: a typo of an app among a thousand was
// answered with every app's name, 23 KB, which Socket Mode does not send:
// the command was never acknowledged and the person saw operation_timeout.
func TestATypoAmongManyAppsIsAnswered(t *testing.T) {
	srv := notifytest.NewSocketMode()
	defer srv.Close()
	apps := make([]string, 1000)
	for i := range apps {
		apps[i] = fmt.Sprintf("crates-io-mirror-%04d", i)
	}
	cmds := &slack.Commands{
		Client:  slack.NewSocketClient("xoxb-test", "xapp-test", srv.APIURL()),
		Control: &control.Plane{Store: openStore(t), Apps: apps, ChatUsers: []string{"U_ANA"}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cmds.Run(ctx)
	ack, err := srv.SlashCommand("U_ANA", "pause crates-io-mirorr-0001 30m", 10*time.Second)
	if err != nil {
		t.Fatalf("a typo of an app was not answered (%v): the person sees operation_timeout", err)
	}
	text, _ := notifytest.PayloadText(ack)
	if !strings.Contains(text, `does not watch "crates-io-mirorr-0001"`) || !strings.Contains(text, "the nearest are crates-io-mirror-0001, ") ||
		!strings.Contains(text, "and 995 more") || len(text) > 1000 {
		t.Fatalf("answer (%d bytes) %q", len(text), text)
	}

	// However long the answer, it is sent, cut to what Slack shows.
	long := strings.Repeat("x", 5000)
	if ack, err = srv.SlashCommand("U_ANA", "pause "+long, 10*time.Second); err != nil {
		t.Fatalf("a long answer was not sent: %v", err)
	}
	if text, _ = notifytest.PayloadText(ack); utf8.RuneCountInString(text) != 4000 || !strings.HasSuffix(text, "…") {
		t.Fatalf("the answer to a 5,000-character app word has %d characters, ends %q; want 4,000, the last …", utf8.RuneCountInString(text), text[max(0, len(text)-20):])
	}
}

func openStore(t *testing.T) *store.DB { return storetest.Open(t) }

// TestASlowStoreStillAnswersWithinSlacksThreeSeconds: Slack wants a slash
// command answered within 3 seconds (operation_timeout otherwise). The
// answer waited for the store's write, with no deadline, on the one
// goroutine that reads every envelope: a write that hung (a row lock, a
// dead connection) left the person unanswered, and every later command
// and click too.
func TestASlowStoreStillAnswersWithinSlacksThreeSeconds(t *testing.T) {
	srv := notifytest.NewSocketMode()
	defer srv.Close()
	stuck := &stuckStore{writing: make(chan struct{}, 1), release: make(chan struct{})}
	cmds := &slack.Commands{
		Client:  slack.NewSocketClient("xoxb-test", "xapp-test", srv.APIURL()),
		Control: &control.Plane{Store: stuck, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cmds.Run(ctx)
	if _, err := srv.SlashCommand("U_ANA", "help", 10*time.Second); err != nil { // connected
		t.Fatal(err)
	}
	type answer struct {
		ack map[string]any
		err error
	}
	paused := make(chan answer, 1)
	go func() {
		ack, err := srv.SlashCommand("U_ANA", "pause crates-io 30m", 3*time.Second)
		paused <- answer{ack, err}
	}()
	<-stuck.writing
	// The pause's write hangs: another command is answered meanwhile.
	if _, err := srv.SlashCommand("U_ANA", "help", 3*time.Second); err != nil {
		t.Errorf("a command given while another's write hangs is not answered: %v", err)
	}
	close(stuck.release)
	a := <-paused
	if a.err != nil {
		t.Fatalf("the pause was not answered within Slack's 3 s (%v): the person sees operation_timeout", a.err)
	}
	text, kind := notifytest.PayloadText(a.ack)
	for _, want := range []string{"the state store did not answer within 2s", "`pause crates-io` may not have been done (or it may have been", "`relwatch status crates-io`"} {
		if !strings.Contains(text, want) || kind != "ephemeral" {
			t.Errorf("answer %q (%s); want it to say %q", text, kind, want)
		}
	}
}

// stuckStore is a state store whose writes hang until their context ends
// and the test releases them, as a PostgreSQL write waits on a row lock
// or a dead connection.
type stuckStore struct {
	writing chan struct{} // a write began
	release chan struct{}
}

func (s *stuckStore) hang(ctx context.Context) error {
	select {
	case s.writing <- struct{}{}:
	default:
	}
	<-ctx.Done()
	<-s.release
	return ctx.Err()
}

func (s *stuckStore) SetPause(ctx context.Context, _ store.Pause) error { return s.hang(ctx) }
func (s *stuckStore) Resume(ctx context.Context, _, _ string) (bool, error) {
	return false, s.hang(ctx)
}
func (s *stuckStore) Approve(ctx context.Context, _ string, _ int, _, _ string) error {
	return s.hang(ctx)
}
func (s *stuckStore) RequestRollback(ctx context.Context, _ string, _ int, _, _ string) (int64, error) {
	return 0, s.hang(ctx)
}
func (s *stuckStore) RequestRollbackOf(ctx context.Context, _ string, _ int, _, _ string) (int64, error) {
	return 0, s.hang(ctx)
}

// TestAFailedClickIsToldToThePerson: "Roll back now" clicked while the
// state store refused the write made no request, and the click was only
// logged: the person waited for a rollback that would never come.
func TestAFailedClickIsToldToThePerson(t *testing.T) {
	answers := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Text         string `json:"text"`
			ResponseType string `json:"response_type"`
		}
		json.NewDecoder(r.Body).Decode(&m)
		answers <- m.ResponseType + ": " + m.Text
	}))
	defer hook.Close()
	sm := notifytest.NewSocketMode()
	sm.ResponseURL = hook.URL + "/actions/T1/1/xyz"
	defer sm.Close()
	cmds := &slack.Commands{Client: slack.NewSocketClient("xoxb-test", "xapp-test", sm.APIURL()),
		Control: &control.Plane{Store: refusingStore{}, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cmds.Run(ctx)
	for _, click := range []struct{ user, want string }{
		{"U_ANA", "ephemeral: relwatch: rollback crates-io: dial tcp 10.0.0.5:5432: connect: connection refused."},
		{"U_MALLORY", "ephemeral: Sorry @mallory, you may not rollback apps with relwatch"},
	} {
		if _, err := sm.Click(click.user, slack.ActionRollback, "crates-io v42", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case a := <-answers:
			if !strings.HasPrefix(a, click.want) {
				t.Errorf("answer to %s's click: %q; want %q", click.user, a, click.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s's Roll back now was not carried out, and nothing told them so", click.user)
		}
	}
	// A click carried out is answered by the worker's announcement, not here.
	if _, err := sm.Click("U_ANA", slack.ActionApprove, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.Click("U_ANA", slack.ActionRollback, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if a := <-answers; !strings.Contains(a, "connection refused") {
		t.Errorf("the click carried out was answered: %q", a)
	}
}

// refusingStore takes approvals and refuses every other write, as a
// state store that is down does.
type refusingStore struct{}

var errRefused = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")

func (refusingStore) SetPause(context.Context, store.Pause) error                { return errRefused }
func (refusingStore) Resume(context.Context, string, string) (bool, error)       { return false, errRefused }
func (refusingStore) Approve(context.Context, string, int, string, string) error { return nil }
func (refusingStore) RequestRollback(context.Context, string, int, string, string) (int64, error) {
	return 0, errRefused
}
func (refusingStore) RequestRollbackOf(context.Context, string, int, string, string) (int64, error) {
	return 0, errRefused
}

// TestAPauseClickSaysWhosePauseItReplaces: ana's pause was in force; ben's
// Pause click replaced it without a word to him. A typed pause says whose
// it replaces; the click's answer now does too, to him alone. ana's click,
// which replaced nobody's, is not answered: the worker's announcement
// says it.
func TestAPauseClickSaysWhosePauseItReplaces(t *testing.T) {
	answers := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Text string `json:"text"`
		}
		json.NewDecoder(r.Body).Decode(&m)
		answers <- m.Text
	}))
	defer hook.Close()
	sm := notifytest.NewSocketMode()
	sm.ResponseURL = hook.URL + "/actions/T1/1/xyz"
	defer sm.Close()
	db := storetest.Open(t)
	cmds := &slack.Commands{Client: slack.NewSocketClient("xoxb-test", "xapp-test", sm.APIURL()),
		Control: &control.Plane{Store: db, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA", "U_BEN"}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cmds.Run(ctx)
	if _, err := sm.Click("U_ANA", slack.ActionPause, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.Click("U_BEN", slack.ActionPause, "crates-io v42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answers:
		if !strings.Contains(a, "@ana") {
			t.Errorf("ben's click was answered %q: want whose pause it replaced (@ana's)", a)
		}
		select {
		case more := <-answers:
			t.Errorf("answers before ben's: %q (ana's click replaced nobody's)", more)
		default:
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ben's pause replaced ana's, and nothing told him so")
	}
}
