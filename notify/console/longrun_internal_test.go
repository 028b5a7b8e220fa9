package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
)

// TestConsoleKeepsABoundedMemoryOfThreads prints 5,000 releases' watches,
// one after another, as a worker with a console notifier does over months:
// what it keeps of the threads it opened must not grow with them, and a
// thread still in use (the first release's, paused every 100 releases)
// keeps its replies printed as replies.
func TestConsoleKeepsABoundedMemoryOfThreads(t *testing.T) {
	var out strings.Builder
	n := New(&out)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	say := func(e notify.Event) {
		t.Helper()
		if err := n.Notify(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	announce := func(from, to int) {
		for v := from; v <= to; v++ {
			out.Reset()
			say(notify.Event{Header: notify.Header{Kind: notify.WatchStarted, App: "crates-io", Release: v, At: at}, Fact: notify.WatchStart{WatchFor: 20 * time.Minute}})
			if v%100 == 0 {
				out.Reset()
				say(notify.Event{Header: notify.Header{Kind: notify.Paused, App: "crates-io", Release: 1, At: at}, Fact: notify.Request{By: "@ana"}})
				if !strings.Contains(out.String(), "└─ [override.paused]") {
					t.Fatalf("v1's pause at v%d printed as an opening: v1's thread was forgotten:\n%s", v, out.String())
				}
			}
		}
	}
	kept := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.opened.Len()
	}
	announce(1, 500)
	at500 := kept()
	announce(501, 5000)
	at5000 := kept()
	t.Logf("threads kept: %d after 500 releases, %d after 5000", at500, at5000)
	if at5000 > maxOpened {
		t.Errorf("after 5000 releases the console keeps %d threads (%d after 500): more than %d", at5000, at500, maxOpened)
	}
}
