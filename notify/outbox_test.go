package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/notify/zulip"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/store/storetest"
)

// clock is a settable clock shared by the store and the chat threads.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// chatRig is one chat fake and relwatch's client of it.
type chatRig struct {
	chat notify.Chat
	// said returns what the chat holds, as text: the opening message
	// first, then each reply, in order.
	said func() []string
	// onAccepted installs a hook run when the chat keeps a message, before
	// it answers.
	onAccepted func(f func(text string))
	// failFind makes the chat's look-up fail (Slack without the history
	// scope; Zulip down for reads).
	failFind func()
}

func slackRig(t *testing.T) chatRig {
	srv := notifytest.NewSlack()
	t.Cleanup(srv.Stop)
	return chatRig{
		chat: slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}),
		said: func() []string {
			var out []string
			for _, m := range srv.Messages() {
				out = append(out, m.Blocks)
			}
			return out
		},
		onAccepted: func(f func(string)) {
			srv.OnAccepted(func(c notifytest.Call) {
				if c.Path == "/chat.postMessage" {
					f(c.Form.Get("blocks"))
				}
			})
		},
		failFind: func() {
			srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/conversations.") {
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"ok":false,"error":"missing_scope","needed":"channels:history"}`))
					return true
				}
				return false
			})
		},
	}
}

func zulipRig(t *testing.T) chatRig {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	t.Cleanup(z.Close)
	return chatRig{
		chat: zulip.New(zulip.Config{Site: z.URL, Email: "relwatch-bot@zulip.example", APIKey: "k3y", Stream: "t-crates-io"}),
		said: func() []string {
			var out []string
			for _, m := range z.Messages() {
				out = append(out, m.Content)
			}
			return out
		},
		onAccepted: func(f func(string)) {
			z.OnAccepted(func(c notifytest.Call) {
				if c.Method == http.MethodPost {
					f(c.Form.Get("content"))
				}
			})
		},
		failFind: func() {
			z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet {
					http.Error(w, `{"result":"error","msg":"boom","code":"BAD_REQUEST"}`, http.StatusBadRequest)
					return true
				}
				return false
			})
		},
	}
}

func openDB(t *testing.T, c *clock) *store.DB {
	t.Helper()
	return storetest.Open(t, store.WithClock(c.Now))
}

// worker is one life of a worker's chat delivery.
func worker(rig chatRig, db *store.DB, c *clock, holder string) *notify.Threads {
	return notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
		Memory: db, Outbox: db, Holder: holder, Now: c.Now})
}

func closeWithin(t *testing.T, th *notify.Threads, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return th.Close(ctx)
}

// killedAfterTheChatTookIt runs a first worker through the story until the
// chat has kept rollback.started and the worker has not heard so, then
// stops it there (as SIGKILL would: it never records the delivery).
// rollback.succeeded was stored in its outbox and never sent.
func killedAfterTheChatTookIt(t *testing.T, rig chatRig, db *store.DB, c *clock, holder string) {
	t.Helper()
	story := notifytest.Story()
	first := worker(rig, db, c, holder)
	for _, e := range story[:2] {
		first.Notify(context.Background(), e)
	}
	hit, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rig.onAccepted(func(text string) {
		if strings.Contains(text, "Rolling crates-io back") {
			once.Do(func() { close(hit) })
			<-release
		}
	})
	for _, e := range story[2:] {
		first.Notify(context.Background(), e)
	}
	select {
	case <-hit:
	case <-time.After(10 * time.Second):
		t.Fatal("rollback.started never reached the chat")
	}
	if err := closeWithin(t, first, 10*time.Millisecond); err == nil {
		t.Fatal("the first worker finished delivering: the kill came too late")
	}
	rig.onAccepted(func(string) {})
	close(release)
}

func countIn(said []string, sub string) int {
	n := 0
	for _, s := range said {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// assertStoryOnce checks that each of the story's four announcements is in
// the chat exactly once, in order, and the opening message shows the end.
func assertStoryOnce(t *testing.T, said []string) {
	t.Helper()
	wants := []string{"crates-io v42 is live", "repeat share: 78.6% now vs 15.1% before", "Rolling crates-io back from v42 to v41", "is rolled back to v41"}
	if len(said) != len(wants) {
		t.Fatalf("the chat holds %d messages, want %d:\n%s", len(said), len(wants), strings.Join(said, "\n"))
	}
	for i, w := range wants {
		if !strings.Contains(said[i], w) || countIn(said, w) != 1 {
			t.Errorf("message %d: want %q once, in order:\n%s", i, w, strings.Join(said, "\n"))
		}
	}
	if !strings.Contains(said[0], "⏪ rolled back to v41") {
		t.Errorf("the opening message does not show the outcome: %s", said[0])
	}
	if n := countIn(said, notify.RepeatedNote); n != 0 {
		t.Errorf("%d messages marked as repeated, though the chat could be asked", n)
	}
}

// TestLostAnswerAnnouncedOnce: the chat kept rollback.started and the
// worker stopped before it knew (SIGTERM, the chat's answer later than the
// shutdown budget), giving its claims back on its way out. The restarted
// dyno (same name, another worker) takes its rows over at once, finds
// rollback.started in the chat instead of posting it again, says the rest,
// and ends the opening message with the outcome. A fact said again by the
// new worker is not said twice.
func TestLostAnswerAnnouncedOnce(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			db := openDB(t, c)
			killedAfterTheChatTookIt(t, rig, db, c, "worker.1/4/AAAAAA")
			if err := db.ReleaseLeases(context.Background(), "worker.1/4/AAAAAA"); err != nil {
				t.Fatal(err)
			}

			next := worker(rig, db, c, "worker.1/4/BBBBBB")
			restated := notifytest.Story()[2]
			restated.Restated = true
			next.Notify(context.Background(), restated)
			if err := closeWithin(t, next, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			assertStoryOnce(t, rig.said())
			if rows, _ := db.Undelivered(context.Background(), rig.chat.Name(), 10); len(rows) != 0 {
				t.Fatalf("delivered announcements still in the outbox (a next worker would say them again): %+v", rows)
			}
		})
	}
}

// TestAnotherWorkerWaitsForTheStaleClaim: another worker leaves a dead
// worker's announcements alone until the claim is stale, then delivers
// them, once. A worker of the same dyno name and process id is another
// worker too: Heroku may run two dynos named worker.1 at once during a
// restart, and it must not take the live one for itself restarted.
func TestAnotherWorkerWaitsForTheStaleClaim(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		for _, pair := range [][2]string{{"worker.1/100/AAAAAA", "worker.2/300/BBBBBB"}, {"worker.1/4/AAAAAA", "worker.1/4/BBBBBB"}} {
			dead, other := pair[0], pair[1]
			t.Run(name+", "+other, func(t *testing.T) {
				rig := newRig(t)
				c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
				db := openDB(t, c)
				killedAfterTheChatTookIt(t, rig, db, c, dead)
				before := len(rig.said())

				c.Add(notify.OutboxStale - time.Second)
				if err := closeWithin(t, worker(rig, db, c, other), 10*time.Second); err != nil {
					t.Fatal(err)
				}
				if n := len(rig.said()); n != before {
					t.Fatalf("%s delivered %s's claim younger than %s: %d messages, were %d", other, dead, notify.OutboxStale, n, before)
				}
				c.Add(2 * time.Second)
				if err := closeWithin(t, worker(rig, db, c, other), 10*time.Second); err != nil {
					t.Fatal(err)
				}
				assertStoryOnce(t, rig.said())
			})
		}
	}
}

// TestRepeatedAfterRestartWhenTheChatCannotSay: when the chat cannot be
// asked what it holds, the announcement goes out again, marked.
func TestRepeatedAfterRestartWhenTheChatCannotSay(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			db := openDB(t, c)
			killedAfterTheChatTookIt(t, rig, db, c, "worker.1/100")
			rig.failFind()
			c.Add(notify.OutboxStale + time.Second) // the dead worker's claims are stale
			next := worker(rig, db, c, "worker.1/200")
			if err := closeWithin(t, next, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			said := rig.said()
			if n, marked := countIn(said, "Rolling crates-io back"), countIn(said, "Rolling crates-io back from v42 to v41: repeat share 78.6% (was 15.1%)."+notify.RepeatedNote); n != 2 || marked != 1 {
				t.Fatalf("rollback.started %d times, %d marked as repeated; want the second marked:\n%s", n, marked, strings.Join(said, "\n"))
			}
			if countIn(said, "is rolled back to v41") != 1 || !strings.Contains(said[0], "⏪ rolled back to v41") {
				t.Fatalf("the rest of the story:\n%s", strings.Join(said, "\n"))
			}
		})
	}
}

// TestThreadOrderKeptBehindALiveWorker: a live worker's undelivered
// announcement of a thread holds back the newer ones of that thread (they
// would read out of order), not those of other threads.
func TestThreadOrderKeptBehindALiveWorker(t *testing.T) {
	rig := slackRig(t)
	c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, c)
	story := notifytest.Story()
	// A live worker (it renews its claims) stored the opening of v42 and
	// has not sent it yet.
	if _, _, err := db.Enqueue(context.Background(), store.OutboxRow{Chat: "slack", Key: story[0].Key(), Thread: "crates-io/v42",
		Payload: mustJSON(t, story[0]), ClaimedBy: "worker.9/1"}); err != nil {
		t.Fatal(err)
	}
	other := story[0]
	other.App, other.Release = "docs-rs", 7
	w := worker(rig, db, c, "worker.1/1")
	w.Notify(context.Background(), story[1]) // crates-io v42's anomaly: must wait
	w.Notify(context.Background(), other)    // another thread: goes
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	said := rig.said()
	if len(said) != 1 || !strings.Contains(said[0], "docs-rs v7 is live") {
		t.Fatalf("want only docs-rs's opening sent, got:\n%s", strings.Join(said, "\n"))
	}
	// The live worker dies; after the stale time its opening goes first.
	c.Add(notify.OutboxStale + time.Second)
	w = worker(rig, db, c, "worker.1/2")
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	said = rig.said()
	if len(said) != 3 || !strings.Contains(said[1], "crates-io v42 is live") || !strings.Contains(said[2], "repeat share: 78.6%") {
		t.Fatalf("want crates-io's opening, then its anomaly:\n%s", strings.Join(said, "\n"))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hungStore is a database that never answers: each call waits for its
// context to end.
type hungStore struct{ calls chan string }

func (h hungStore) wait(ctx context.Context, what string) error {
	h.calls <- what
	<-ctx.Done()
	return ctx.Err()
}
func (h hungStore) Enqueue(ctx context.Context, _ store.OutboxRow) (int64, bool, error) {
	return 0, false, h.wait(ctx, "enqueue")
}
func (h hungStore) Undelivered(ctx context.Context, _ string, _ int) ([]store.OutboxRow, error) {
	return nil, h.wait(ctx, "undelivered")
}
func (h hungStore) Claim(ctx context.Context, _ int64, _, _ string) (int, bool, error) {
	return 0, false, h.wait(ctx, "claim")
}
func (h hungStore) Delivered(ctx context.Context, _ int64, _ string) error {
	return h.wait(ctx, "delivered")
}
func (h hungStore) Touch(ctx context.Context, _ string) error { return h.wait(ctx, "touch") }
func (h hungStore) Thread(ctx context.Context, _, _ string) (store.Thread, bool, error) {
	return store.Thread{}, false, h.wait(ctx, "thread")
}
func (h hungStore) SaveThread(ctx context.Context, _, _ string, _ store.Thread) error {
	return h.wait(ctx, "save thread")
}

// TestHungDatabaseNeverStallsAnnouncements: with the outbox and the thread
// memory hanging, Notify still returns at once and the story still reaches
// the chat (from memory), each store call cut at StoreTimeout.
func TestHungDatabaseNeverStallsAnnouncements(t *testing.T) {
	rig := slackRig(t)
	hung := hungStore{calls: make(chan string, 1000)}
	th := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
		StoreTimeout: 20 * time.Millisecond, Memory: hung, Outbox: hung, Holder: "worker.1/1"})
	for _, e := range notifytest.Story() {
		if err := th.Notify(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeWithin(t, th, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	said := rig.said()
	if len(said) != 4 || !strings.Contains(said[0], "⏪ rolled back to v41") {
		t.Fatalf("the story with the database hung:\n%s", strings.Join(said, "\n"))
	}
	close(hung.calls)
	seen := map[string]bool{}
	for c := range hung.calls {
		seen[c] = true
	}
	if !seen["enqueue"] || !seen["thread"] || !seen["save thread"] {
		t.Fatalf("the store was not even asked: %v", seen)
	}
}

// downDB is the store with its connection cut while down is set.
type downDB struct {
	*store.DB
	down atomic.Bool
	// readsDown: the outbox takes rows but cannot be read (the store
	// stopped between the two).
	readsDown atomic.Bool
	// stopAt, when it reports true for an operation ("claim",
	// "delivered") on a row, cuts the connection just then.
	stopAt func(op string, id int64) bool
}

var errDown = errors.New("connect: connection refused")

func (d *downDB) Enqueue(ctx context.Context, row store.OutboxRow) (int64, bool, error) {
	if d.down.Load() {
		return 0, false, errDown
	}
	return d.DB.Enqueue(ctx, row)
}

func (d *downDB) Undelivered(ctx context.Context, chat string, limit int) ([]store.OutboxRow, error) {
	if d.down.Load() || d.readsDown.Load() {
		return nil, errDown
	}
	return d.DB.Undelivered(ctx, chat, limit)
}

func (d *downDB) Claim(ctx context.Context, id int64, holder, was string) (int, bool, error) {
	if d.down.Load() {
		return 0, false, errDown
	}
	if d.stopAt != nil && d.stopAt("claim", id) {
		d.down.Store(true)
		return 0, false, errDown
	}
	return d.DB.Claim(ctx, id, holder, was)
}

func (d *downDB) Delivered(ctx context.Context, id int64, outcome string) error {
	if d.down.Load() {
		return errDown
	}
	if d.stopAt != nil && d.stopAt("delivered", id) {
		d.down.Store(true)
		return errDown
	}
	return d.DB.Delivered(ctx, id, outcome)
}

func (d *downDB) Thread(ctx context.Context, chat, thread string) (store.Thread, bool, error) {
	if d.down.Load() {
		return store.Thread{}, false, errDown
	}
	return d.DB.Thread(ctx, chat, thread)
}

func (d *downDB) SaveThread(ctx context.Context, chat, thread string, th store.Thread) error {
	if d.down.Load() {
		return errDown
	}
	return d.DB.SaveThread(ctx, chat, thread, th)
}

// TestStoreOutageAnnouncementsSaidOnceAfterRestart: with the store down
// the story is said at once, from memory; when the store answers, what
// was said is recorded in the outbox as delivered, so a restarted worker
// saying it all again (as after a crash) says nothing twice.
func TestStoreOutageAnnouncementsSaidOnceAfterRestart(t *testing.T) {
	for _, readsOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("stored but unreadable %v", readsOnly), func(t *testing.T) { saidOnceAfterOutage(t, readsOnly) })
	}
}

// saidOnceAfterOutage: the store down from the start, or (readsOnly) taking
// the rows but not giving them back (stopped between the two): this
// worker's own rows are said from memory, in their thread's order.
func saidOnceAfterOutage(t *testing.T, readsOnly bool) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			db := &downDB{DB: openDB(t, c)}
			if readsOnly {
				db.readsDown.Store(true)
			} else {
				db.down.Store(true)
			}
			rolledBack := make(chan struct{})
			var once sync.Once
			rig.onAccepted(func(text string) {
				if strings.Contains(text, "is rolled back to v41") {
					once.Do(func() { close(rolledBack) })
				}
			})
			first := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
				Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now})
			for _, e := range notifytest.Story() {
				first.Notify(context.Background(), e)
			}
			select {
			case <-rolledBack: // said with the store down
			case <-time.After(10 * time.Second):
				t.Fatalf("the story was not said with the store down: %q", rig.said())
			}
			db.down.Store(false)
			db.readsDown.Store(false)
			if err := closeWithin(t, first, 10*time.Second); err != nil {
				t.Fatal(err)
			}

			next := worker(rig, db.DB, c, "worker.1/200")
			for _, e := range notifytest.Story() {
				e.Restated = true
				next.Notify(context.Background(), e)
			}
			if err := closeWithin(t, next, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			assertStoryOnce(t, rig.said())
		})
	}
}

// TestStoreStopsMidStoryKeepsItsOrder: the store stops as the anomaly's
// delivery is recorded (after "Rolling back" was stored), or as "Rolling
// back" is claimed; "rolled back", not stored, is said from memory. The
// row this worker stored comes first, from memory, so the chat never reads
// "Rolling back" after "rolled back" (nor the opening message set back to
// "rolling back"); when the store answers it is recorded, not said again.
// (The store-outage test of the real binary caught this order in CI.)
func TestStoreStopsMidStoryKeepsItsOrder(t *testing.T) {
	story := notifytest.Story()
	for _, at := range []struct{ op, key string }{{"delivered", story[1].Key()}, {"claim", story[2].Key()}} {
		for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
			t.Run(at.op+"/"+name, func(t *testing.T) { storyOrderThroughAStop(t, newRig(t), at.op, at.key) })
		}
	}
}

func storyOrderThroughAStop(t *testing.T, rig chatRig, op, key string) {
	c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	db := &downDB{DB: openDB(t, c)}
	story := notifytest.Story()
	stopped := make(chan struct{})
	stored := func(key string) (int64, bool) {
		rows, err := db.DB.Undelivered(context.Background(), rig.chat.Name(), 10)
		for _, r := range rows {
			if err == nil && r.Key == key {
				return r.ID, true
			}
		}
		return 0, false
	}
	var fired atomic.Bool
	db.stopAt = func(o string, id int64) bool {
		if o != op || fired.Load() {
			return false
		}
		if got, ok := stored(key); !ok || got != id {
			return false
		}
		// "Rolling back" is stored before the store stops.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if _, ok := stored(story[2].Key()); ok {
				break
			}
		}
		fired.Store(true)
		db.down.Store(true) // before the test goes on: "rolled back" is not stored
		close(stopped)
		return true
	}
	rolledBack := make(chan struct{})
	var saidOnce sync.Once
	rig.onAccepted(func(text string) {
		if strings.Contains(text, "is rolled back to v41") {
			saidOnce.Do(func() { close(rolledBack) })
		}
	})
	first := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
		Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now})
	for _, e := range story[:3] {
		first.Notify(context.Background(), e)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatalf("the store never stopped at %s of %s: %q", op, key, rig.said())
	}
	first.Notify(context.Background(), story[3])
	select {
	case <-rolledBack: // said with the store down
	case <-time.After(10 * time.Second):
		t.Fatalf("the story was not said with the store down: %q", rig.said())
	}
	db.down.Store(false)
	if err := closeWithin(t, first, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	next := worker(rig, db.DB, c, "worker.1/200")
	for _, e := range story {
		e.Restated = true
		next.Notify(context.Background(), e)
	}
	if err := closeWithin(t, next, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	assertStoryOnce(t, rig.said())
}

// The chat keeps the anomaly's reply but answers after CallTimeout (a slow
// API, a lost response). The retry does not post the same announcement a
// second time: it asks the chat first (Finder), as after a restart. A chat
// that cannot look up (Slack without the history scope, Zulip down for
// reads) is posted to again, as it must be (twice is better than never),
// and the second says so, as a restart's repeat does (it was unmarked).
func TestAKeptAnnouncementWhoseAnswerWasLateIsNotPostedAgain(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		for _, canFind := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/find=%v", name, canFind), func(t *testing.T) {
				rig := newRig(t)
				c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
				db := openDB(t, c)
				if !canFind {
					rig.failFind()
				}
				var slowed atomic.Bool
				rig.onAccepted(func(text string) {
					if strings.Contains(text, "looks bad: repeat share") && slowed.CompareAndSwap(false, true) {
						time.Sleep(300 * time.Millisecond) // kept, answered after CallTimeout
					}
				})
				w := notify.NewThreads(context.Background(), rig.chat, notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second,
					CallTimeout: 100 * time.Millisecond, Memory: db, Outbox: db, Holder: "worker.1/100", Now: c.Now})
				for _, e := range notifytest.Story() {
					w.Notify(context.Background(), e)
				}
				if err := closeWithin(t, w, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				said := rig.said()
				want, wantMarked := 1, 0
				if !canFind {
					want, wantMarked = 2, 1
				}
				if n, marked := countIn(said, "repeat share: 78.6% now vs 15.1% before"), countIn(said, strings.TrimSpace(notify.ResentNote)); n != want || marked != wantMarked {
					t.Fatalf("the anomaly is in the chat %d times (%d marked as sent again), want %d (%d):\n%s", n, marked, want, wantMarked, strings.Join(said, "\n"))
				}
			})
		}
	}
}

// TestAnOpeningThatWasNotAWatchStartIsNotRepliedAgain: an anomaly opened
// its release's thread (there was no watch.started message), the opening
// was remembered, and the worker died while it edited the opening, before
// it recorded the delivery. The restarted worker knows the thread was
// opened by this very announcement: it does not post it again as a reply
// (Zulip's look-up compares content, and the opening carries the status;
// Slack without the history scope cannot say at all).
func TestAnOpeningThatWasNotAWatchStartIsNotRepliedAgain(t *testing.T) {
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			db := openDB(t, c)
			anomaly := notifytest.Story()[1]
			ctx := context.Background()
			// The first life: the chat has the opening, the thread memory
			// too; the row was claimed (a send begun) and never recorded.
			m := notify.Render(anomaly, notify.RenderOptions{})
			ref, err := rig.chat.Open(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SaveThread(ctx, rig.chat.Name(), "crates-io/v42", store.Thread{Ref: ref, Opening: mustJSON(t, m), Key: m.Key}); err != nil {
				t.Fatal(err)
			}
			id, _, err := db.Enqueue(ctx, store.OutboxRow{Chat: rig.chat.Name(), Key: anomaly.Key(), Thread: "crates-io/v42", Payload: mustJSON(t, anomaly), ClaimedBy: "worker.1/100"})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, err := db.Claim(ctx, id, "worker.1/100", "worker.1/100"); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if name == "slack" {
				rig.failFind()
			}

			c.Add(notify.OutboxStale + time.Second) // the dead worker's claim is stale
			next := worker(rig, db, c, "worker.1/200")
			if err := closeWithin(t, next, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			said := rig.said()
			if n := countIn(said, "crates-io v42 looks bad"); n != 1 {
				t.Fatalf("the anomaly that opened the thread is in the chat %d times, want once:\n%s", n, strings.Join(said, "\n"))
			}
			if rows, _ := db.Undelivered(ctx, rig.chat.Name(), 10); len(rows) != 0 {
				t.Fatalf("the announcement is still undelivered: %+v", rows)
			}
		})
	}
}

// Two live workers share the outbox; the chat is down for longer than a
// claim stays fresh, and the worker whose rows they are keeps retrying.
// Its claims were renewed only between passes, so they went stale during
// the retry, and the other worker took the rows and sent the story too.
// Claims are renewed beside the passes: each announcement is sent once.
func TestALiveWorkerRetryingKeepsItsClaims(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	const stale = time.Second
	start := time.Now()
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasPrefix(r.URL.Path, "/conversations."): // no history scope: no look-up saves a repeat
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":false,"error":"missing_scope"}`))
			return true
		case r.URL.Path == "/chat.postMessage" && time.Since(start) < 5*stale/2:
			w.WriteHeader(http.StatusServiceUnavailable) // down, nothing kept
			return true
		}
		return false
	})
	db := storetest.Open(t) // the store's own clock: claims go stale in real time
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
	opts := func(holder string) notify.ThreadOptions {
		return notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 20 * stale, Memory: db, Outbox: db, Holder: holder, Stale: stale}
	}
	a := notify.NewThreads(context.Background(), chat, opts("worker.1/1/AAAAAA"))
	b := notify.NewThreads(context.Background(), chat, opts("worker.2/2/BBBBBB"))
	for _, e := range notifytest.Story() {
		a.Notify(context.Background(), e)
	}
	if err := closeWithin(t, a, 20*stale); err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, b, 20*stale); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != len(notifytest.Story()) {
		var said []string
		for _, m := range srv.Messages() {
			said = append(said, m.Text)
		}
		t.Fatalf("%d messages for a story of %d:\n%s", n, len(notifytest.Story()), strings.Join(said, "\n"))
	}
}
