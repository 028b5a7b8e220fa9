package zulip_test

import (
	"strings"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// A chat's `events` setting posts those kinds only; the opening message
// still ends showing the outcome.
func TestEventsFilter(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), notifytest.Story(),
		notify.ThreadOptions{Kinds: []notify.Kind{notify.WatchStarted, notify.RollbackSucceeded}})

	var posted []string
	for _, c := range z.Calls() {
		if c.Method == "POST" && c.Path == "/api/v1/messages" {
			posted = append(posted, c.Form.Get("content"))
		}
	}
	if len(posted) != 2 || !strings.Contains(posted[0], "crates-io v42 is live") || !strings.Contains(posted[1], "rolled back to v41") {
		t.Fatalf("posted %d messages, want the opening and rollback.succeeded only:\n%s", len(posted), strings.Join(posted, "\n---\n"))
	}
	if got := z.Message(101); !strings.HasPrefix(got, "**⏪ rolled back to v41**") {
		t.Fatalf("the opening message reads %q: the outcome edit must still happen", got)
	}
}
