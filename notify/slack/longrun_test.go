package slack_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/slack"
)

// gaveUp tells of each announcement given up.
type gaveUp struct{ gave chan struct{} }

func (g gaveUp) Announced(string, notify.Kind)      {}
func (g gaveUp) CallFailed(string, string, string)  {}
func (g gaveUp) GaveUp(string, notify.Kind, string) { g.gave <- struct{}{} }

// TestASlackThatTimesOutLeavesNoGoroutines gives 300 announcements to a
// Slack that answers no request, each call timed out and given up: the
// worker keeps no goroutine (nor connection) per timed-out call.
func TestASlackThatTimesOutLeavesNoGoroutines(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read, so that the server sees the worker close the connection.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	chat := slack.New(slack.Config{Token: "xoxb-t0k3n", Channel: "C0123ABCD", APIURL: srv.URL})
	g := gaveUp{gave: make(chan struct{}, 1)}
	th := notify.NewThreads(context.Background(), chat, notify.ThreadOptions{
		CallTimeout: 5 * time.Millisecond, GiveUp: 12 * time.Millisecond, Observer: g,
		Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) },
	})
	announce := func(from, to int) {
		for v := from; v <= to; v++ {
			e := notify.Event{Header: notify.Header{Kind: notify.WatchStarted, App: "crates-io", Release: v}, Fact: notify.WatchStart{WatchFor: 20 * time.Minute}}
			if err := th.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			<-g.gave
		}
	}
	settled := func() int {
		// The server's side of a cancelled request ends when it sees the
		// connection closed: wait for the count to stop falling.
		n := runtime.NumGoroutine()
		for range 50 {
			runtime.GC()
			runtime.Gosched()
			m := runtime.NumGoroutine()
			if m >= n {
				return m
			}
			n = m
		}
		return n
	}
	announce(1, 20)
	before := settled()
	announce(21, 300)
	after := settled()
	t.Logf("goroutines: %d after 20 announcements given up, %d after 300", before, after)
	if after > before+10 {
		t.Errorf("%d goroutines after 300 announcements given up, %d after 20", after, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
