package notify_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// TestALongAnnouncementSentAgainIsStillMarked: an announcement sent a
// second time because the chat could not say whether it kept the first
// ends "(sent again: ...)", so that people who see it twice know why.
// The note was added at the end of the headline, and the headline is cut
// to the chat's limit (Slack's 3,000 characters a text, Zulip's 10,000 a
// message): a release description or a reason long enough (a pasted
// commit message, a --reason with a log in it) cut the note off, and the
// channel saw the same long announcement twice, unmarked.
func TestALongAnnouncementSentAgainIsStillMarked(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			db := openDB(t, c)
			rig.failFind()
			var slowed atomic.Bool
			rig.onAccepted(func(text string) {
				if strings.Contains(text, "is live (Deploy 1a2b3c") && slowed.CompareAndSwap(false, true) {
					time.Sleep(300 * time.Millisecond) // kept, answered after CallTimeout
				}
			})
			story := notifytest.Story()[:1]
			story[0].Description = "Deploy 1a2b3c: " + strings.Repeat("index writer: keep the crate's checksum; ", 300)
			w := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
				CallTimeout: 100 * time.Millisecond, Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now})
			w.Notify(context.Background(), story[0])
			if err := closeWithin(t, w, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			said := rig.said()
			if n, marked := countIn(said, "is live (Deploy 1a2b3c"), countIn(said, strings.TrimSpace(notify.ResentNote)); n != 2 || marked != 1 {
				var heads []string
				for _, s := range said {
					heads = append(heads, fmt.Sprintf("%d chars, ending %q", len(s), s[max(0, len(s)-200):]))
				}
				t.Fatalf("the opening is in the chat %d times (%d marked as sent again), want 2 (1):\n%s", n, marked, strings.Join(heads, "\n"))
			}
		})
	}
}
