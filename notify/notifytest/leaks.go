package notifytest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify"
)

// gaveUp tells of each announcement given up.
type gaveUp struct{ gave chan struct{} }

func (g gaveUp) Announced(string, notify.Kind)      {}
func (g gaveUp) CallFailed(string, string, string)  {}
func (g gaveUp) GaveUp(string, notify.Kind, string) { g.gave <- struct{}{} }

// NoGoroutineLeftByTimeouts gives 300 announcements to the chat newChat
// makes for a loopback server that answers no request, each call timed
// out and given up, and fails t when the worker keeps a goroutine (or a
// connection) per timed-out call.
func NoGoroutineLeftByTimeouts(t *testing.T, newChat func(url string) notify.Chat) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read, so that the server sees the worker close the connection.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	g := gaveUp{gave: make(chan struct{}, 1)}
	th := notify.NewThreads(context.Background(), newChat(srv.URL), notify.ThreadOptions{
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
	announce(1, 20)
	before := testenv.SettledGoroutines()
	announce(21, 300)
	after := testenv.SettledGoroutines()
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
