package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/control"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store/storetest"
)

// TestASlashCommandsAnswerEscapesTheReason: the answer to an allowed
// person's pause goes to the whole channel (in_channel), as mrkdwn. Its
// reason is the person's words, which Slack hands the app with mentions
// and links escaped to its own syntax ("@channel" arrives as <!channel>
// when the app escapes them): echoed as they came, the answer pinged
// everyone in the channel and showed a link whose words hide where it
// goes. The announcements escape & < >; so must the answer.
func TestASlashCommandsAnswerEscapesTheReason(t *testing.T) {
	srv := notifytest.NewSocketMode()
	defer srv.Close()
	db := storetest.Open(t)
	cmds := &slack.Commands{
		Client:  slack.NewSocketClient("xoxb-test", "xapp-test", srv.APIURL()),
		Control: &control.Plane{Store: db, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmds.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	}()
	// As Slack sends them: a typed & < > as &amp; &lt; &gt;, @channel as
	// <!channel>, a link as <url|words>, a mention as <@U...>.
	for _, tc := range []struct{ command, stored string }{
		{"pause crates-io 30m because <!channel> migration &gt;1h, see <https://evil.example|the runbook> &amp; <@U0BOSS>",
			"@channel migration >1h, see the runbook (https://evil.example) & @U0BOSS"},
		{"rollback crates-io because <!here> downloads broken <https://evil.example|status>",
			"@here downloads broken status (https://evil.example)"},
	} {
		ack, err := srv.SlashCommand("U_ANA", tc.command, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		text, kind := notifytest.PayloadText(ack)
		if kind != "in_channel" {
			t.Fatalf("answer %q (%s): not to the channel", text, kind)
		}
		for _, raw := range []string{"<!channel>", "<!here>", "<https://evil.example|", "<@U0BOSS>", " & ", "&amp;gt;", "&amp;amp;"} {
			if strings.Contains(text, raw) {
				t.Errorf("the channel's answer carries %q: %q", raw, text)
			}
		}
		if !strings.Contains(text, "evil.example") || !strings.Contains(text, "@") {
			t.Errorf("the answer lost the person's words: %q", text)
		}
		if strings.HasPrefix(tc.command, "pause") {
			p, ok, err := db.PauseOf(context.Background(), "crates-io")
			if err != nil || !ok || p.Reason != tc.stored {
				t.Errorf("pause stored with reason %q (ok %v, err %v), want the typed words %q", p.Reason, ok, err, tc.stored)
			}
			if !strings.Contains(text, "migration &gt;1h") || !strings.Contains(text, "&amp; @U0BOSS") {
				t.Errorf("the answer does not show the typed words escaped once: %q", text)
			}
		}
	}
}

// TestTypedIsWhatThePersonTyped: Slack's formatting of a command's text,
// read back as words.
func TestTypedIsWhatThePersonTyped(t *testing.T) {
	for in, want := range map[string]string{
		"a &lt; b &amp;&amp; c &gt; d":                      "a < b && c > d",
		"&amp;lt; stays as typed":                           "&lt; stays as typed",
		"ask <@U123|ana> in <#C9|ops>":                      "ask @ana in #ops",
		"ask <@U123> in <#C9>":                              "ask @U123 in #C9",
		"<!here> <!channel> <!everyone>":                    "@here @channel @everyone",
		"<!subteam^S1|@oncall> paged":                       "@oncall paged",
		"<!date^1392734382^{date}|Feb 18, 2014> done":       "Feb 18, 2014 done",
		"see <https://x.example/a?b=1&amp;c=2|the runbook>": "see the runbook (https://x.example/a?b=1&c=2)",
		"see <https://x.example>":                           "see https://x.example",
		"mail <mailto:ana@x.example|ana@x.example>":         "mail ana@x.example",
		"no formatting at all":                              "no formatting at all",
		"migration \u202eevah\u202c done":                   "migration evah done",
	} {
		if got := slack.Typed(in); got != want {
			t.Errorf("Typed(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzTyped: any text Slack sends reads back without a panic, and text
// without Slack's control characters is left as it is.
func FuzzTyped(f *testing.F) {
	for _, s := range []string{"<@U1|ana>", "<!here>", "&amp;&lt;", "<https://x|y>", "<<>>", "<|>", "<!^>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := slack.Typed(s)
		if !strings.ContainsAny(s, "<>&\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") && got != s {
			t.Errorf("Typed(%q) = %q: changed text without Slack's formatting", s, got)
		}
	})
}
