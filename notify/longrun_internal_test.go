package notify

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
)

// countedOpenings is a chat that tells of each thread it opens and each
// reply.
type countedOpenings struct{ opened, replied chan string }

func (c *countedOpenings) Name() string { return "test" }
func (c *countedOpenings) Open(_ context.Context, m Message) (string, error) {
	c.opened <- m.Headline
	return m.Headline, nil
}
func (c *countedOpenings) Reply(_ context.Context, ref string, _ Message) error {
	c.replied <- ref
	return nil
}
func (c *countedOpenings) Edit(context.Context, string, Message) error { return nil }

// TestThreadsKeepABoundedMemoryOfThreads announces 5,000 releases' watches,
// one after another, as a worker does over months: what Threads keeps of
// the threads it opened (each with its opening message) must not grow with
// them. A thread forgotten is read back from the thread memory, or, with
// none, an announcement in it opens a new one (as after a restart): the
// one forgotten is the least lately used, so a thread still in use (here
// the first release's, paused every 100 releases) is kept.
func TestThreadsKeepABoundedMemoryOfThreads(t *testing.T) {
	chat := &countedOpenings{opened: make(chan string, 1), replied: make(chan string, 1)}
	th := NewThreads(context.Background(), chat, ThreadOptions{GiveUp: 5 * time.Second})
	var first string
	announce := func(from, to int) {
		for v := from; v <= to; v++ {
			e := Event{Header: Header{Kind: WatchStarted, App: "crates-io", Release: v, At: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}, Fact: WatchStart{WatchFor: 20 * time.Minute}}
			if err := th.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			<-chat.opened
			if v%100 == 0 {
				p := Event{Header: Header{Kind: Paused, App: "crates-io", Release: 1, At: e.At}, Fact: Request{By: "@ana"}}
				if err := th.Notify(context.Background(), p); err != nil {
					t.Fatal(err)
				}
				select {
				case ref := <-chat.replied:
					if ref != first {
						t.Fatalf("v1's pause went to thread %q, not v1's (%q)", ref, first)
					}
				case h := <-chat.opened:
					t.Fatalf("v1's pause at v%d opened a new thread %q: v1's was forgotten", v, h)
				case <-time.After(10 * time.Second):
					t.Fatalf("v1's pause at v%d never reached the chat", v)
				}
			}
		}
	}
	kept := func() int {
		th.mu.Lock()
		defer th.mu.Unlock()
		return th.threads.Len()
	}
	e := Event{Header: Header{Kind: WatchStarted, App: "crates-io", Release: 1, At: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}, Fact: WatchStart{WatchFor: 20 * time.Minute}}
	if err := th.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	first = <-chat.opened
	announce(2, 500)
	at500 := kept()
	announce(501, 5000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
	at5000 := kept()
	t.Logf("threads kept: %d after 500 releases, %d after 5000", at500, at5000)
	if at5000 > maxThreads {
		t.Errorf("after 5000 releases Threads keeps %d threads (%d after 500): more than %d", at5000, at500, maxThreads)
	}
	th.mu.Lock()
	_, newest := th.threads.Get(threadKey("crates-io", 5000))
	th.mu.Unlock()
	if !newest {
		t.Error("the newest release's thread is not kept")
	}
}

// hangingChat answers no call: each waits until its time is up.
type hangingChat struct{}

func (hangingChat) Name() string { return "test" }
func (hangingChat) Open(ctx context.Context, _ Message) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}
func (hangingChat) Reply(ctx context.Context, _ string, _ Message) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hangingChat) Edit(ctx context.Context, _ string, _ Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAChatThatTimesOutLeavesNoGoroutines gives 400 announcements to a
// chat that answers none, each call timed out and given up: no goroutine is
// left behind per call, nor per announcement.
func TestAChatThatTimesOutLeavesNoGoroutines(t *testing.T) {
	gave := make(chan struct{}, 1)
	obs := &gaveUpCounter{gave: gave}
	th := NewThreads(context.Background(), hangingChat{}, ThreadOptions{
		CallTimeout: time.Millisecond, GiveUp: 3 * time.Millisecond, Observer: obs,
		Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) },
	})
	announce := func(from, to int) {
		for v := from; v <= to; v++ {
			e := Event{Header: Header{Kind: WatchStarted, App: "crates-io", Release: v}, Fact: WatchStart{WatchFor: 20 * time.Minute}}
			if err := th.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			<-gave
		}
	}
	announce(1, 20)
	runtime.GC()
	before := runtime.NumGoroutine()
	announce(21, 400)
	runtime.GC()
	after := runtime.NumGoroutine()
	t.Logf("goroutines: %d after 20 announcements given up, %d after 400", before, after)
	if after > before+2 {
		t.Errorf("%d goroutines after 400 announcements given up, %d after 20", after, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// gaveUpCounter tells of each announcement given up.
type gaveUpCounter struct{ gave chan struct{} }

func (g *gaveUpCounter) Announced(string, Kind)            {}
func (g *gaveUpCounter) CallFailed(string, string, string) {}
func (g *gaveUpCounter) GaveUp(_ string, _ Kind, _ string) { g.gave <- struct{}{} }
