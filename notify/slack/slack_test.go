package slack_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
)

// story is a release's events as the watcher sends them for the crates.io
// incident.
func story() []notify.Event {
	fired := analysis.Finding{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.151, Current: 0.786,
		BaselineSample: 2163865, CurrentSample: 146388, Z: 193.6, ZThreshold: 4, MinEffect: "+10.0% and x1.50"}
	base := notify.Event{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118", Target: 41, Rollback: 43,
		WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true,
		Reason: "repeat share 78.6% over the last 30s", Summary: "repeat share 78.6% (was 15.1%)"}
	var out []notify.Event
	for _, k := range []notify.Kind{notify.WatchStarted, notify.Anomaly, notify.RollbackStarted, notify.RollbackSucceeded} {
		e := base
		e.Kind = k
		if k != notify.WatchStarted {
			e.Findings = []analysis.Finding{fired}
			e.Trend = &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{1200, 1190, 4800, 4900}, ErrorShare: []float64{0, 0, 0, 0}, Release: 2}
		}
		out = append(out, e)
	}
	return out
}

func fast() func() retry.Backoff {
	return func() retry.Backoff { return retry.NewConstant(10 * time.Millisecond) }
}

func deliver(t *testing.T, chat notify.Chat, events []notify.Event) {
	t.Helper()
	th := notify.NewThreads(chat, notify.ThreadOptions{Render: notify.RenderOptions{WorkerApp: "my-relwatch"}, Backoff: fast(), GiveUp: 5 * time.Second})
	for _, e := range events {
		if err := th.Notify(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestThreadOfARelease(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story())

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
	deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story()[:1])
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d messages delivered, want 1 after the 429", n)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %s, before Slack's Retry-After of 1s", waited)
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	tries := 0
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		tries++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`))
		return true
	})
	deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0NOPE", APIURL: srv.GetAPIURL()}), story()[:1])
	if tries != 1 {
		t.Fatalf("%d tries of a channel_not_found", tries)
	}
}

func TestCheck(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	who, err := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}).Check(context.Background())
	if err != nil || who == "" {
		t.Fatalf("Check = %q, %v", who, err)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("Check posted %d messages", n)
	}
}

// memory is a notify.ThreadMemory in a map, as the store keeps it.
type memory struct {
	mu sync.Mutex
	m  map[string][2]string
}

func (m *memory) Thread(_ context.Context, chat, thread string) (string, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[chat+"|"+thread]
	return v[0], v[1], ok, nil
}

func (m *memory) SaveThread(_ context.Context, chat, thread, ref, opening string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[chat+"|"+thread] = [2]string{ref, opening}
	return nil
}

func TestRestartRepliesInTheSameThread(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	mem := &memory{m: map[string][2]string{}}
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
	run := func(events []notify.Event) {
		th := notify.NewThreads(chat, notify.ThreadOptions{Backoff: fast(), Memory: mem})
		for _, e := range events {
			th.Notify(context.Background(), e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		th.Close(ctx)
	}
	s := story()
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
