package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
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
