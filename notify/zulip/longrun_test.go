package zulip_test

import (
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/zulip"
)

// TestAZulipThatTimesOutLeavesNoGoroutines gives 300 announcements to a
// Zulip that answers no request, each call timed out and given up: the
// worker keeps no goroutine (nor connection) per timed-out call.
func TestAZulipThatTimesOutLeavesNoGoroutines(t *testing.T) {
	notifytest.NoGoroutineLeftByTimeouts(t, func(url string) notify.Chat {
		return zulip.New(zulip.Config{Site: url, Email: "relwatch-bot@zulip.example", APIKey: "k3y", Stream: "t-crates-io"})
	})
}
