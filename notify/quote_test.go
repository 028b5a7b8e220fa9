package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// TestALongQuoteLeavesRelwatchsOwnWords: a release description (Heroku's,
// written by whoever deploys) and a person's reason (--reason, a chat
// command) have no bound, and the announcement quotes them inside
// relwatch's own sentence. The chat cuts a message to its limit (Slack's
// 3,000 characters a text, Zulip's 10,000), and what came after the
// quote was cut with it: the watch's "alert only, automatic rollback is
// off", an approval's "but its watch is over: nothing changes", a pause's
// end's "relwatch rolls a bad release back on its own again". The quote
// gives way, marked, and relwatch's words stay.
func TestALongQuoteLeavesRelwatchsOwnWords(t *testing.T) {
	long := strings.Repeat("index writer: keep the crate's checksum; ", 300) // 12,300 characters
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	h := notify.Header{App: "crates-io", Release: 42, At: at, Description: "Deploy 1a2b3c: " + long}
	events := []notify.Event{
		{Header: h, Fact: notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: false}},
		{Header: h, Fact: notify.Request{By: "@ana", Reason: long, Moot: true}},
		{Header: h, Fact: notify.Request{By: "@ana", Reason: long, Until: at}},
	}
	events[0].Kind, events[1].Kind, events[2].Kind = notify.WatchStarted, notify.Approved, notify.PauseEnded
	events[2].At = at.Add(time.Minute)
	events[1].At = at.Add(2 * time.Minute)
	wants := []string{"alert only, automatic rollback is off.", "but its watch is over: nothing changes.", "relwatch rolls a bad release back on its own again."}
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			notifytest.Deliver(t, rig.chat, events, notify.ThreadOptions{})
			said := rig.said()
			for _, want := range wants {
				if countIn(said, want) != 1 {
					t.Errorf("no announcement ends %q", want)
				}
			}
			if t.Failed() {
				for _, s := range said {
					t.Logf("%d characters, ending %q", len([]rune(s)), s[max(0, len(s)-300):])
				}
			}
		})
	}
}
