package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store/storetest"
)

// Two Slack notifiers (#deploys with every event, #incidents with the
// same) on one store, as the worker wires them: each channel gets the
// whole story in a thread of its own. They shared one name, so one outbox
// row per announcement and one thread memory: a channel got nothing, or
// replies under the other's opening message.
func TestTwoSlackChannelsEachGetTheStory(t *testing.T) {
	sl := notifytest.NewSlack()
	defer sl.Stop()
	cfg := fmt.Sprintf(`
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[notifiers]]
type = "slack"
channel = "C0DEPLOY"
api_url = %q
[[notifiers]]
type = "slack"
channel = "C0INCIDENT"
api_url = %q
`, demoSeries(t), sl.GetAPIURL(), sl.GetAPIURL())
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	chats, err := buildChats(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t)
	ctx := context.Background()
	n, closeAll := buildNotifiers(ctx, c, chats, io.Discard, slog.New(slog.DiscardHandler), db, "worker.1/100", nil)
	for _, e := range notifytest.Story() {
		if err := n.Notify(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	closing, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	closeAll(closing)
	per := map[string][]string{}
	for _, m := range sl.Messages() {
		per[m.Channel] = append(per[m.Channel], m.Text)
	}
	for _, ch := range []string{"C0DEPLOY", "C0INCIDENT"} {
		if len(per[ch]) != len(notifytest.Story()) {
			t.Errorf("channel %s holds %d of the story's %d messages:\n%s", ch, len(per[ch]), len(notifytest.Story()), strings.Join(per[ch], "\n"))
		}
	}
}

// A Zulip stream that does not exist (a typo, or one never created) makes
// Zulip refuse every message ("Stream 'deploy' does not exist"): check
// asks Zulip for the stream and fails naming it, rather than passing on
// the bot's credentials alone.
func TestCheckSaysAZulipStreamThatDoesNotExist(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	zu := notifytest.NewZulip("bot@zulip.example", "zkey", "deploys")
	defer zu.Close()
	zu.SetEditLimit(0)
	t.Setenv("HEROKU_API_KEY", "tok")
	t.Setenv("ZULIP_EMAIL", "bot@zulip.example")
	t.Setenv("ZULIP_API_KEY", "zkey")
	config := func(stream string) string {
		return writeConfig(t, fmt.Sprintf(`
[heroku]
api_url = %q
[[apps]]
name = "crates-io"
route = "download"
metrics = { source = "series", path = %q }
[[notifiers]]
type = "zulip"
stream = %q
site = %q
`, fake.URL(), demoSeries(t), stream, zu.URL))
	}
	code, out, errOut := runMain(t, context.Background(), "check", "--config", config("deploy"))
	if code != 1 || !strings.Contains(out, `FAIL notifiers[0] (zulip): stream "deploy":`) {
		t.Errorf("a stream Zulip does not know: exit %d, want 1 and the stream named\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, context.Background(), "check", "--config", config("deploys"))
	if code != 0 || !strings.Contains(out, "notifiers[0] (zulip): credentials ok") {
		t.Errorf("the stream there: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range zu.Calls() {
		if c.Path == "/api/v1/messages" && c.Method != http.MethodGet {
			t.Errorf("check posted to Zulip: %+v", c)
		}
	}
}
