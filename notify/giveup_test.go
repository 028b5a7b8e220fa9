package notify_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/notify/zulip"
)

// TestAnAnnouncementGivenUpSaysWhy: a chat that answers every try with
// its "slow down" (Slack's 429 asking for longer than relwatch tries) or a
// 5xx (Zulip's 503) makes relwatch give the announcement up after GiveUp.
// The line that says it was given up, the one an operator finds the
// morning after, and the outbox's outcome, said "context deadline
// exceeded": the end of relwatch's own patience, not the chat's answer.
// They name the chat's last answer.
func TestAnAnnouncementGivenUpSaysWhy(t *testing.T) {
	cases := map[string]struct {
		chat func(t *testing.T) notify.Chat
		want []string
		once []string // said once, not twice
	}{
		"slack 429": {
			chat: func(t *testing.T) notify.Chat {
				srv := notifytest.NewSlack()
				t.Cleanup(srv.Stop)
				srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
					w.Header().Set("Retry-After", "60")
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				})
				return slack.New(slack.Config{Token: "xoxb-secret-token", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
			},
			want: []string{"rate limit", "1m0s"},
			once: []string{"retry after"},
		},
		"zulip 503": {
			chat: func(t *testing.T) notify.Chat {
				z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
				t.Cleanup(z.Close)
				z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
					http.Error(w, "<html>503 Service Temporarily Unavailable</html>", http.StatusServiceUnavailable)
					return true
				})
				return zulip.New(zulip.Config{Site: z.URL, Email: "relwatch-bot@zulip.example", APIKey: "k3y", Stream: "t-crates-io"})
			},
			want: []string{"503", "Service Temporarily Unavailable"},
			once: []string{"zulip answered 503: "},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var logs testenv.Buffer
			th := notify.NewThreads(context.Background(), c.chat(t), notify.ThreadOptions{Backoff: notifytest.FastRetries,
				GiveUp: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err := th.Notify(context.Background(), notifytest.Story()[2]); err != nil { // rollback.started
				t.Fatal(err)
			}
			if err := closeWithin(t, th, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "announcement not delivered") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no line says the announcement was not delivered:\n%s", logs.String())
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("the give-up line does not say %q: %s", w, line)
				}
			}
			for _, w := range c.once {
				if n := strings.Count(line, w); n != 1 {
					t.Errorf("the give-up line says %q %d times: %s", w, n, line)
				}
			}
			if strings.Contains(logs.String(), "secret-token") {
				t.Errorf("the token is in the log:\n%s", logs.String())
			}
		})
	}
}
