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
	for _, command := range []string{
		"pause crates-io 30m because <!channel> migration, see <https://evil.example|the runbook> & <@U0BOSS>",
		"rollback crates-io because <!here> downloads broken <https://evil.example|status>",
	} {
		ack, err := srv.SlashCommand("U_ANA", command, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		text, kind := notifytest.PayloadText(ack)
		if kind != "in_channel" {
			t.Fatalf("answer %q (%s): not to the channel", text, kind)
		}
		for _, raw := range []string{"<!channel>", "<!here>", "<https://evil.example|", "<@U0BOSS>", " & "} {
			if strings.Contains(text, raw) {
				t.Errorf("the channel's answer carries %q unescaped: %q", raw, text)
			}
		}
		if !strings.Contains(text, "&lt;!") || !strings.Contains(text, "evil.example") {
			t.Errorf("the answer lost the person's words: %q", text)
		}
	}
}
