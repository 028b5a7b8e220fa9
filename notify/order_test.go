package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store"
)

// flakyEnqueueDB refuses, once, to store the row of key (a PostgreSQL
// failover, a statement past StoreTimeout), and stores the rest.
type flakyEnqueueDB struct {
	*store.DB
	key  string
	once sync.Once
}

func (d *flakyEnqueueDB) Enqueue(ctx context.Context, row store.OutboxRow) (int64, bool, error) {
	failed := false
	if row.Key == d.key {
		d.once.Do(func() { failed = true })
	}
	if failed {
		return 0, false, errors.New("pq: canceling statement due to user request")
	}
	return d.DB.Enqueue(ctx, row)
}

// The outbox fails to take the anomaly once (it is said from memory,
// while "Rolling back" and "rolled back" are stored): the thread still
// reads anomaly, Rolling back, rolled back, and its opening ends "rolled
// back". The stored rows went out first, the anomaly last.
func TestAnEventTheOutboxRefusedKeepsItsPlaceInTheThread(t *testing.T) {
	rig := slackRig(t)
	c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	story := notifytest.Story()
	db := &flakyEnqueueDB{DB: openDB(t, c), key: story[1].Key()}
	var slow sync.Once
	rig.onAccepted(func(text string) {
		if strings.Contains(text, "is live") {
			slow.Do(func() { time.Sleep(200 * time.Millisecond) }) // the opening takes a moment
		}
	})
	w := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
		Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now})
	for _, e := range story {
		w.Notify(context.Background(), e)
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	assertStoryOnce(t, rig.said())
}

// lostAckDB stores the row of key and then answers an error, as a
// PostgreSQL whose commit went through while the answer was lost (or came
// after StoreTimeout). The answer comes once the outbox was read after the
// row was stored (or after a second, when nothing reads it meanwhile): the
// moment where the row is in the outbox and its event not yet among
// those to say from memory.
type lostAckDB struct {
	*store.DB
	key      string
	once     sync.Once
	stored   atomic.Bool
	read     chan struct{} // closed by the first read after the row of key was stored
	readOnce sync.Once
}

func (d *lostAckDB) Enqueue(ctx context.Context, row store.OutboxRow) (int64, bool, error) {
	id, added, err := d.DB.Enqueue(ctx, row)
	lost := false
	if err == nil && row.Key == d.key {
		d.once.Do(func() { lost = true })
	}
	if lost {
		d.stored.Store(true)
		select {
		case <-d.read:
		case <-time.After(time.Second):
		}
		return 0, false, errors.New("read tcp 10.0.0.2:51234->10.0.0.9:5432: i/o timeout")
	}
	return id, added, err
}

func (d *lostAckDB) Undelivered(ctx context.Context, chat string, limit int) ([]store.OutboxRow, error) {
	rows, err := d.DB.Undelivered(ctx, chat, limit)
	if d.stored.Load() {
		d.readOnce.Do(func() { close(d.read) })
	}
	return rows, err
}

// The outbox took the anomaly but its answer was lost: the worker keeps it
// to say from memory, and finds it among the outbox's rows. It is said
// once, in its place, also when the outbox is read (every 10 ms here) while
// the answer is on its way (before, the row went out then, and the event
// from memory after it: said twice).
func TestAnEventStoredWhoseAnswerWasLostIsSaidOnce(t *testing.T) {
	rig := slackRig(t)
	c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	story := notifytest.Story()
	db := &lostAckDB{DB: openDB(t, c), key: story[1].Key(), read: make(chan struct{})}
	w := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
		Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now, Stale: 40 * time.Millisecond})
	for _, e := range story {
		w.Notify(context.Background(), e)
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	said := rig.said()
	if n := countIn(said, "repeat share: 78.6% now vs 15.1% before"); n != 1 {
		t.Errorf("the anomaly is in the chat %d times, want once:\n%s", n, strings.Join(said, "\n"))
	}
	if !strings.Contains(said[0], "⏪ rolled back to v41") {
		t.Errorf("the opening message does not show the outcome: %s", said[0])
	}
}
