package notify

import (
	"context"
	"sync"
	"testing"
	"time"
)

// openings is a chat that keeps the headlines of the threads it opens.
type openings struct {
	mu   sync.Mutex
	said []string
}

func (o *openings) Name() string { return "test" }
func (o *openings) Open(_ context.Context, m Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.said = append(o.said, m.Headline)
	return "ts", nil
}
func (o *openings) Reply(context.Context, string, Message) error { return nil }
func (o *openings) Edit(context.Context, string, Message) error  { return nil }

// An event stored (here: kept in memory) just after a pass found nothing
// to say, with Close already asked, is still said before Close returns
// (before, run took the closed queue for "all said" and stopped: the event
// was dropped and Close answered nil).
func TestCloseSaysWhatWasStoredDuringTheLastPass(t *testing.T) {
	chat := &openings{}
	e := Event{Header: Header{Kind: WatchStarted, App: "crates-io", Release: 42}, Fact: WatchStart{WatchFor: 20 * time.Minute}}
	started := make(chan *Threads, 1)
	hooked := make(chan struct{})
	var once sync.Once
	afterPass = func(handled int) {
		if handled != 0 {
			return
		}
		once.Do(func() {
			// The pass found nothing; now the event comes, the queue
			// closes and is drained, before run looks at it.
			th := <-started
			if err := th.Notify(context.Background(), e); err != nil {
				t.Error(err)
			}
			th.mu.Lock()
			th.closed = true
			close(th.queue)
			th.mu.Unlock()
			<-th.stored
			close(hooked)
		})
	}
	defer func() { afterPass = func(int) {} }()
	th := NewThreads(context.Background(), chat, ThreadOptions{GiveUp: 5 * time.Second})
	started <- th
	<-hooked // run's first pass found nothing
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chat.mu.Lock()
	defer chat.mu.Unlock()
	if len(chat.said) != 1 {
		t.Fatalf("said %q, want the one event", chat.said)
	}
}
