package slack_test

import (
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
)

// TestASlackThatTimesOutLeavesNoGoroutines gives 300 announcements to a
// Slack that answers no request, each call timed out and given up: the
// worker keeps no goroutine (nor connection) per timed-out call.
func TestASlackThatTimesOutLeavesNoGoroutines(t *testing.T) {
	notifytest.NoGoroutineLeftByTimeouts(t, func(url string) notify.Chat {
		return slack.New(slack.Config{Token: "xoxb-t0k3n", Channel: "C0123ABCD", APIURL: url})
	})
}
