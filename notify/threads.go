package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/internal/recent"
	"github.com/relwatch/relwatch/internal/wait"
	"github.com/relwatch/relwatch/store"
)

// Chat is one chat service seen as threads: an opening message per release,
// replies under it, and the opening message edited to show the outcome.
// notify/slack and notify/zulip implement it.
type Chat interface {
	// Name names the chat in logs ("slack", "zulip").
	Name() string
	// Open posts m as the opening message of a thread and returns a
	// reference to it.
	Open(ctx context.Context, m Message) (ref string, err error)
	// Reply posts m in the thread ref.
	Reply(ctx context.Context, ref string, m Message) error
	// Edit rewrites the opening message ref as m.
	Edit(ctx context.Context, ref string, m Message) error
}

// Finder is a chat that can look up what it already holds. Threads asks it
// about an announcement a stopped worker may have sent without recording
// it (the chat answered, the worker died before it wrote that down), so
// the announcement is found and kept instead of posted twice.
type Finder interface {
	// Find looks for m (by m.Key where the chat keeps it) among the
	// messages of thread ref, or among the channel's recent messages when
	// ref is "" (an opening message), and returns its reference.
	Find(ctx context.Context, ref string, m Message) (found string, ok bool, err error)
}

// File is a picture for a release's thread.
type File struct {
	Name  string // "crates-io-v42-anomaly.png"
	Title string
	Data  []byte
}

// Attacher is a chat that can put a file in a thread: the picture of a
// verdict. Threads attaches it after the text, best-effort.
type Attacher interface {
	// Attach uploads f into the thread ref.
	Attach(ctx context.Context, ref string, f File) error
}

// RetryAfterError is a chat's "slow down": try again after After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	if strings.Contains(e.Err.Error(), "retry after") { // slack-go's RateLimitedError says it
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryIn implements wait.Hint.
func (e *RetryAfterError) RetryIn() time.Duration { return e.After }

// PermanentError is an answer that trying again will not change (bad
// credentials, an unknown channel).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// ErrEditRefused is a chat's answer that the bot may no longer edit a
// message of its own (Zulip: past the organization's time limit for
// editing, 10 minutes by default, or editing turned off; Slack: the
// workspace's editing settings). The opening message then keeps the
// status it has; what happened is in the thread all the same, so the
// announcement is delivered, not given up.
var ErrEditRefused = errors.New("the chat no longer lets relwatch edit this message")

// EditRefused is the chat's answer err as ErrEditRefused: permanent.
func EditRefused(err error) error {
	return &PermanentError{Err: fmt.Errorf("%w: %w", ErrEditRefused, err)}
}

// ThreadOptions configure Threads.
type ThreadOptions struct {
	Render RenderOptions
	// Kinds, when set, are the only event kinds posted (the outcome edit of
	// the opening message still happens).
	Kinds []Kind
	// Queue bounds the events waiting to be stored (default 1000); past it
	// Notify refuses, it never blocks.
	Queue int
	// CallTimeout bounds one chat call (default 10 s); GiveUp bounds all
	// the tries of one call (default 5 min).
	CallTimeout, GiveUp time.Duration
	// StoreTimeout bounds one call to Memory or Outbox (default 5 s): a
	// hung database never stalls a chat for longer.
	StoreTimeout time.Duration
	// Backoff between tries (default exponential from 1 s, capped at 30 s).
	Backoff func() retry.Backoff
	Logger  *slog.Logger
	// Memory, when set, keeps thread references across restarts, so a
	// restarted worker replies in the thread it opened (store.DB is one).
	Memory ThreadMemory
	// Outbox, when set, keeps every announcement until the chat has it: a
	// worker that dies leaves its undelivered ones to the next. Holder
	// names this worker in it, uniquely: another worker takes its rows
	// over when its claim is Stale, or at once when it gave them back
	// (store.DB.ReleaseLeases, on its way out). A name shared by two
	// workers would let both deliver a row: Heroku can run two dynos of
	// one $DYNO during a restart.
	Outbox Outbox
	Holder string
	// Stale is how long a worker's claim on an announcement lasts
	// unrenewed before another worker delivers it (default OutboxStale);
	// this worker renews its own every Stale/4.
	Stale time.Duration
	// Now is the clock claims are judged on (default time.Now; the store's
	// clock in tests).
	Now func() time.Time
	// Observer, when set, is told how each announcement ended and of each
	// chat call that failed (relwatch's own numbers).
	Observer Observer
	// Picture, when set, draws an event's picture (notify/chart.ForThread):
	// nil for an event that has none. A chat that is an Attacher gets it
	// in the release's thread once the text is posted. It is best-effort:
	// tried once within CallTimeout, logged when it fails, and never fails
	// or repeats the announcement (a chat that refuses files, or lacks
	// Slack's files:write scope, still has the text).
	Picture func(Event) (File, bool, error)
}

// Outbox keeps announcements until a chat has them, one per chat and
// idempotency key (store.DB is one).
type Outbox interface {
	// Enqueue stores row unless the chat has one with its key already.
	Enqueue(ctx context.Context, row store.OutboxRow) (id int64, added bool, err error)
	// Undelivered returns the chat's announcements not delivered yet,
	// oldest first.
	Undelivered(ctx context.Context, chat string, limit int) ([]store.OutboxRow, error)
	// Claim takes row id for holder if from still holds it, counting a
	// send begun; before is the sends begun earlier.
	Claim(ctx context.Context, id int64, holder, from string) (before int, ok bool, err error)
	Delivered(ctx context.Context, id int64, outcome string) error
	// Touch renews this worker's claims.
	Touch(ctx context.Context, holder string) error
}

// ThreadMemory keeps chat threads: a release's opening message reference,
// the message, and the key of the announcement that opened it, per chat.
type ThreadMemory interface {
	Thread(ctx context.Context, chat, thread string) (store.Thread, bool, error)
	SaveThread(ctx context.Context, chat, thread string, t store.Thread) error
}

// OutboxStale is how long a worker's claim on an announcement lasts
// unrenewed before another worker delivers it, by default; live workers
// renew theirs four times as often.
const (
	OutboxStale = time.Minute
	// outboxBatch is how many undelivered rows one pass reads.
	outboxBatch = 200
)

// RepeatedNote marks an announcement sent again after a restart when the
// chat could not say whether it already had it; ResentNote, one sent again
// because the chat's answer to it was lost, when the chat could not say
// either.
const (
	RepeatedNote = " (repeated after restart)"
	ResentNote   = " (sent again: the chat's answer to it was lost)"
)

// SplitNote returns headline without the note that ends it, if one does
// (RepeatedNote, ResentNote), and the note. A chat that cuts a long
// headline to its limit cuts the body and keeps the note: it is what
// tells people why they see an announcement twice.
func SplitNote(headline string) (body, note string) {
	for _, n := range []string{RepeatedNote, ResentNote} {
		if b, ok := strings.CutSuffix(headline, n); ok {
			return b, n
		}
	}
	return headline, ""
}

// Threads delivers events to one chat in the background, in order per
// release thread, with bounded retries and bounded time: a chat that is
// down, slow or rejecting never delays the caller, and neither does the
// outbox. It implements Notifier.
//
// With an Outbox each event is stored under its idempotency key by one
// goroutine and delivered from the outbox by another, so a fact said again
// (by a restarted worker, or after a lost acknowledgement) reaches each
// chat once.
type Threads struct {
	chat   Chat
	opts   ThreadOptions
	kinds  map[Kind]bool
	log    *slog.Logger
	queue  chan Event    // Notify -> store
	wake   chan struct{} // store -> deliver
	stored chan struct{} // closed when the queue is drained into the outbox
	done   chan struct{} // closed when delivery has stopped

	// ctx is the life of the goroutines: ended by Close when its own
	// context ends.
	ctx    context.Context
	cancel context.CancelFunc

	// storing is held while an event goes into the outbox (or, refused,
	// into the memory list) and while pass reads the outbox and what
	// waits for the memory list: a row the store took whose answer was
	// lost is then read only once its event waits in memory, and is held
	// back for it, not said beside it.
	storing sync.Mutex

	mu     sync.Mutex
	closed bool
	memory []unstored // events to deliver from memory (not stored), in order
	// lastRow is the newest row this worker stored or read: an event it
	// could not store comes after it (a stopped worker's rows too), and
	// before the rows stored after.
	lastRow int64
	// unrecorded: events delivered from memory because the outbox did not
	// take them, to record there as delivered when it does (so a fact said
	// again after a restart is not said twice).
	unrecorded []Event
	// own: rows this worker stored and has not seen delivered, in order,
	// with their events: when the outbox cannot be read they are delivered
	// from here (a thread's story keeps its order), and recorded as
	// delivered (spoken) when it can.
	own    []ownRow
	spoken []spokenRow
	// threads: thread key -> its opening, as known; the maxThreads used
	// most lately.
	threads recent.Map[string, store.Thread]
	// editRefused: the chat refused an edit of an opening (ErrEditRefused)
	// and this worker has said so; later refusals are said quietly.
	editRefused bool
}

// maxThreads bounds the threads Threads keeps in memory: a worker that
// runs for weeks announces in a thread per release, and a release's thread
// is used while its story goes on. One forgotten (the least lately used)
// is read back from the thread memory, or, with none, an announcement in
// it opens a new one, as after a restart.
const maxThreads = 1024

// ownRow is a row this worker stored, with its event.
type ownRow struct {
	id int64
	e  Event
}

// spokenRow is a row handled while the outbox did not answer, and how.
type spokenRow struct {
	id      int64
	outcome string
}

// ErrQueueFull is Notify's answer when the chat has fallen too far behind.
var ErrQueueFull = errors.New("chat queue full: announcement dropped")

// NewThreads starts delivering to chat until Close. ctx carries the
// values of the caller; its end does not stop delivery (Close does).
func NewThreads(ctx context.Context, chat Chat, opts ThreadOptions) *Threads {
	if opts.Queue <= 0 {
		opts.Queue = 1000
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = 5 * time.Minute
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 5 * time.Second
	}
	if opts.Backoff == nil {
		opts.Backoff = func() retry.Backoff {
			return retry.WithCappedDuration(30*time.Second, retry.NewExponential(time.Second))
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stale <= 0 {
		opts.Stale = OutboxStale
	}
	t := &Threads{chat: chat, opts: opts, log: opts.Logger.With("chat", chat.Name()),
		queue: make(chan Event, opts.Queue), wake: make(chan struct{}, 1), stored: make(chan struct{}), done: make(chan struct{}),
		threads: recent.Map[string, store.Thread]{Max: maxThreads}}
	t.ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if len(opts.Kinds) > 0 {
		t.kinds = map[Kind]bool{}
		for _, k := range opts.Kinds {
			t.kinds[k] = true
		}
	}
	go t.store()
	go t.run()
	return t
}

// Notify queues e and returns at once: no chat and no database I/O
// happens here. An event whose facts are not its kind's is refused
// (Event.Check).
func (t *Threads) Notify(_ context.Context, e Event) error {
	if err := e.Check(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.ended(e, errClosed)
		return fmt.Errorf("%s: closed", t.chat.Name())
	}
	select {
	case t.queue <- e:
		return nil
	default:
		t.ended(e, ErrQueueFull)
		return fmt.Errorf("%s: %w", t.chat.Name(), ErrQueueFull)
	}
}

// Close stops taking events and waits until everything queued is stored
// and every announcement this worker may deliver now is delivered, until
// ctx ends; then it stops. What is left stays in the outbox for the next
// worker (or, without one, is dropped).
func (t *Threads) Close(ctx context.Context) error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.queue)
	}
	t.mu.Unlock()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-t.done: // done just as ctx ended
		return nil
	default:
		t.cancel()
		t.mu.Lock()
		left := len(t.queue) + len(t.memory)
		t.mu.Unlock()
		what := "the rest stays in the outbox for the next worker"
		if t.opts.Outbox == nil {
			what = "dropped"
		}
		return fmt.Errorf("%s: announcements not all delivered (%d in memory; %s): %w", t.chat.Name(), left, what, ctx.Err())
	}
}

func threadKey(app string, release int) string { return fmt.Sprintf("%s/v%d", app, release) }

func (t *Threads) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// store moves queued events into the outbox (or, without one or when it
// fails, into the memory list), in order.
func (t *Threads) store() {
	defer close(t.stored)
	defer t.poke()
	for e := range t.queue {
		t.storing.Lock()
		if t.opts.Outbox != nil {
			payload, err := json.Marshal(e)
			if err == nil {
				ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
				var id int64
				var added bool
				id, added, err = t.opts.Outbox.Enqueue(ctx, store.OutboxRow{Chat: t.chat.Name(), Key: e.Key(), Thread: threadKey(e.App, e.Release),
					Payload: string(payload), ClaimedBy: t.opts.Holder})
				cancel()
				if err == nil && added {
					t.mu.Lock()
					t.own = append(t.own, ownRow{id: id, e: e})
					t.lastRow = max(t.lastRow, id)
					t.mu.Unlock()
				}
			}
			if err == nil {
				t.storing.Unlock()
				t.poke()
				continue
			}
			t.log.Warn("announcement not stored; delivering it from memory", "kind", e.Kind, "app", e.App, "err", err)
		}
		t.mu.Lock()
		t.memory = append(t.memory, unstored{e: e, after: t.lastRow})
		t.mu.Unlock()
		t.storing.Unlock()
		t.poke()
	}
}

// afterPass is called by run after each pass; a test sets it to store
// events in the moment between a pass and what run makes of it.
var afterPass = func(handled int) {}

// unstored is an event the outbox did not take, delivered from memory:
// after this worker's rows up to after, before the rows it stored later.
type unstored struct {
	e     Event
	after int64
}

// run delivers: at once what a previous life of this worker left, then
// each time something is stored, and every Stale/4 what stopped workers
// left; until Close.
func (t *Threads) run() {
	defer close(t.done)
	tick := time.NewTicker(t.opts.Stale / 4)
	defer tick.Stop()
	// This worker's claims are renewed beside the passes, not between
	// them: a pass can spend minutes retrying one call (GiveUp), and
	// claims renewed only between passes went stale meanwhile, so that
	// another live worker took the rows and sent them too.
	t.touch()
	stop := make(chan struct{})
	var renewing sync.WaitGroup
	renewing.Go(func() { t.renew(stop) })
	defer func() {
		close(stop)
		renewing.Wait()
	}()
	for {
		// Whether everything was stored is asked before the pass: asked
		// after, the last events could be stored while the pass found
		// nothing, and be left unsaid.
		drained := false
		select {
		case <-t.stored:
			drained = true
		default:
		}
		handled := t.pass()
		afterPass(handled)
		if t.ctx.Err() != nil {
			return
		}
		if drained {
			if handled == 0 {
				return // closing, and nothing left this worker may deliver
			}
			continue
		}
		select {
		case <-t.wake:
		case <-t.stored:
		case <-tick.C: // what stopped workers left
		case <-t.ctx.Done():
			return
		}
	}
}

// renew renews this worker's outbox claims every Stale/4 until stop.
func (t *Threads) renew(stop <-chan struct{}) {
	tick := time.NewTicker(t.opts.Stale / 4)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.touch()
		case <-stop:
			return
		case <-t.ctx.Done():
			return
		}
	}
}

func (t *Threads) touch() {
	if t.opts.Outbox == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
	defer cancel()
	if err := t.opts.Outbox.Touch(ctx, t.opts.Holder); err != nil {
		t.log.Warn("cannot renew outbox claims", "err", err)
	}
}

// pass delivers what may be delivered now and returns how many
// announcements it handled (delivered or given up).
func (t *Threads) pass() int {
	handled := 0
	var waits map[string]int64
	if t.opts.Outbox != nil && !t.record() {
		// The store does not take what was said: this worker's own rows
		// are said from memory meanwhile, as when it cannot be read.
		handled += t.passOwn()
	} else if t.opts.Outbox != nil {
		known := t.ownIDs()
		t.storing.Lock()
		ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
		rows, err := t.opts.Outbox.Undelivered(ctx, t.chat.Name(), outboxBatch)
		cancel()
		waits = t.waits()
		t.storing.Unlock()
		if err != nil {
			t.log.Warn("cannot read the outbox; delivering this worker's own announcements from memory", "err", err)
			handled += t.passOwn()
		} else {
			t.keepOwn(rows, known)
			t.mu.Lock()
			for _, r := range rows {
				t.lastRow = max(t.lastRow, r.ID)
			}
			t.mu.Unlock()
		}
		now := t.opts.Now()
		// A thread's rows go out in order: one this worker may not deliver
		// yet (a live worker's) holds back the newer ones of its thread,
		// and so does an event delivered from memory the ones stored after
		// it.
		held := map[string]bool{}
		for _, r := range rows {
			if t.ctx.Err() != nil {
				break
			}
			if after, ok := waits[r.Thread]; ok && r.ID > after {
				held[r.Thread] = true
			}
			if held[r.Thread] {
				continue
			}
			if !t.mayDeliver(r, now) || !t.deliverRow(r) {
				held[r.Thread] = true
				continue
			}
			handled++
		}
	}
	for t.ctx.Err() == nil {
		t.mu.Lock()
		if len(t.memory) == 0 {
			t.mu.Unlock()
			break
		}
		u := t.memory[0]
		e := u.e
		t.memory = t.memory[1:]
		t.mu.Unlock()
		// This worker's rows of e's thread stored before e came before it:
		// said after it, an older fact ("Rolling back") would follow a
		// newer one ("rolled back") and set the opening back. The rows
		// stored after e wait for it (pass's waits).
		handled += t.passOwnOf(threadKey(e.App, e.Release), u.after)
		err := t.deliver(e, false)
		t.ended(e, err)
		if err == nil && t.opts.Outbox != nil {
			t.mu.Lock()
			t.unrecorded = append(t.unrecorded, e)
			t.mu.Unlock()
		}
		handled++
		t.poke() // the rows that waited for e go out in the next pass
	}
	return handled
}

// passOwn delivers from memory, in order, the rows this worker stored and
// cannot read back (the outbox does not answer); record marks them
// delivered when it does.
func (t *Threads) passOwn() int { return t.passOwnOf("", 0) }

// passOwnOf is passOwn for the rows of one thread ("" for every thread),
// up to row upTo (0: all).
func (t *Threads) passOwnOf(thread string, upTo int64) int {
	handled := 0
	for t.ctx.Err() == nil {
		t.mu.Lock()
		i := 0
		for i < len(t.own) && ((thread != "" && threadKey(t.own[i].e.App, t.own[i].e.Release) != thread) || (upTo > 0 && t.own[i].id > upTo)) {
			i++
		}
		if i == len(t.own) {
			t.mu.Unlock()
			break
		}
		r := t.own[i]
		t.own = append(t.own[:i:i], t.own[i+1:]...)
		t.mu.Unlock()
		err := t.deliver(r.e, false)
		t.ended(r.e, err)
		t.mu.Lock()
		t.spoken = append(t.spoken, spokenRow{r.id, "delivered from memory while the store did not answer"})
		t.mu.Unlock()
		handled++
	}
	return handled
}

// waits maps each thread with an event to deliver from memory to the
// newest row of it that may go out before that event.
func (t *Threads) waits() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := map[string]int64{}
	for _, u := range t.memory {
		k := threadKey(u.e.App, u.e.Release)
		if a, ok := w[k]; !ok || u.after < a {
			w[k] = u.after
		}
	}
	return w
}

// ownIDs is the set of own rows stored so far.
func (t *Threads) ownIDs() map[int64]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make(map[int64]bool, len(t.own))
	for _, r := range t.own {
		ids[r.id] = true
	}
	return ids
}

// keepOwn forgets the own rows that are no longer undelivered: of those
// known (stored before rows were read), the ones rows lacks. A row stored
// while the outbox was read is not in rows and is kept.
func (t *Threads) keepOwn(rows []store.OutboxRow, known map[int64]bool) {
	if len(rows) == outboxBatch {
		return // a full batch: the newer rows are not in it
	}
	left := map[int64]bool{}
	for _, r := range rows {
		left[r.ID] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.own[:0]
	for _, r := range t.own {
		if left[r.id] || !known[r.id] {
			kept = append(kept, r)
		}
	}
	t.own = kept
}

// record stores, in order, what was delivered from memory while the
// outbox did not answer, as delivered: this worker's own rows, then the
// events it never took. It reports whether the outbox took them all.
func (t *Threads) record() bool {
	for t.ctx.Err() == nil {
		t.mu.Lock()
		if len(t.spoken) == 0 {
			t.mu.Unlock()
			break
		}
		r := t.spoken[0]
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
		err := t.opts.Outbox.Delivered(ctx, r.id, r.outcome)
		cancel()
		if err != nil {
			t.log.Warn("cannot record the announcements delivered while the store did not answer; will try again", "err", err)
			return false
		}
		t.mu.Lock()
		t.spoken = t.spoken[1:]
		t.mu.Unlock()
	}
	for t.ctx.Err() == nil {
		t.mu.Lock()
		if len(t.unrecorded) == 0 {
			t.mu.Unlock()
			return true
		}
		e := t.unrecorded[0]
		t.mu.Unlock()
		payload, err := json.Marshal(e)
		if err != nil {
			payload = []byte("{}")
		}
		ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
		id, _, err := t.opts.Outbox.Enqueue(ctx, store.OutboxRow{Chat: t.chat.Name(), Key: e.Key(), Thread: threadKey(e.App, e.Release),
			Payload: string(payload), ClaimedBy: t.opts.Holder})
		// Not added: the store took it before and its answer was lost.
		// The row is this event's, said now: delivered, not said again.
		if err == nil {
			err = t.opts.Outbox.Delivered(ctx, id, "delivered from memory while the store did not answer")
		}
		cancel()
		if err != nil {
			t.log.Warn("cannot record the announcements delivered while the store did not answer; will try again", "left", len(t.unrecorded), "err", err)
			return false
		}
		t.mu.Lock()
		t.unrecorded = t.unrecorded[1:]
		t.mu.Unlock()
	}
	return false
}

// mayDeliver reports whether this worker may deliver r now: it holds it,
// or its worker stopped renewing the claim or gave it back. A worker of
// the same dyno name is not taken for gone: during a restart Heroku may
// run the old dyno beside the new one, both named worker.1.
func (t *Threads) mayDeliver(r store.OutboxRow, now time.Time) bool {
	return r.ClaimedBy == t.opts.Holder || now.Sub(r.Claimed) > t.opts.Stale
}

// deliverRow claims r and delivers it; it returns false when r was not
// handled (another worker took it, or delivery stopped).
func (t *Threads) deliverRow(r store.OutboxRow) bool {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
	before, ok, err := t.opts.Outbox.Claim(ctx, r.ID, t.opts.Holder, r.ClaimedBy)
	cancel()
	if err != nil {
		t.log.Warn("cannot claim an announcement", "id", r.ID, "err", err)
		return false
	}
	if !ok {
		return false
	}
	if r.ClaimedBy != t.opts.Holder {
		t.log.Info("delivering an announcement another worker left", "key", r.Key, "left_by", r.ClaimedBy, "sends_begun", before)
	}
	outcome := "delivered"
	var e Event
	err = json.Unmarshal([]byte(r.Payload), &e)
	if err != nil {
		outcome, err = "given up: unreadable: "+err.Error(), errUnreadable
	} else if err = t.deliver(e, before > 0); err != nil {
		if t.ctx.Err() != nil {
			return false // stopped: the row stays ours, for our next life or the next worker
		}
		outcome = "given up: " + err.Error()
	}
	t.ended(e, err)
	t.mu.Lock()
	for i, o := range t.own {
		if o.id == r.ID {
			t.own = append(t.own[:i], t.own[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	ctx, cancel = context.WithTimeout(t.ctx, t.opts.StoreTimeout)
	defer cancel()
	if err := t.opts.Outbox.Delivered(ctx, r.ID, outcome); err != nil {
		// Recorded when the store answers, before the outbox is read
		// again: said again later, it would also set the thread's opening
		// back to an older status.
		t.log.Warn("cannot record the announcement's delivery; recording it when the store answers", "key", r.Key, "err", err)
		t.mu.Lock()
		t.spoken = append(t.spoken, spokenRow{r.ID, outcome})
		t.mu.Unlock()
	}
	return true
}

// thread returns the thread key's opening, from this worker's memory or
// the thread memory.
func (t *Threads) thread(key string, log *slog.Logger) (store.Thread, bool) {
	t.mu.Lock()
	kept, ok := t.threads.Get(key)
	t.mu.Unlock()
	if ok || t.opts.Memory == nil {
		return kept, ok
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
	defer cancel()
	th, ok, err := t.opts.Memory.Thread(ctx, t.chat.Name(), key)
	if err != nil {
		log.Warn("cannot read the thread memory", "err", err)
		return store.Thread{}, false
	}
	if ok {
		t.mu.Lock()
		t.threads.Put(key, th)
		t.mu.Unlock()
	}
	return th, ok
}

func (t *Threads) saveThread(key string, th store.Thread, log *slog.Logger) {
	t.mu.Lock()
	t.threads.Put(key, th)
	t.mu.Unlock()
	if t.opts.Memory == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.StoreTimeout)
	defer cancel()
	if err := t.opts.Memory.SaveThread(ctx, t.chat.Name(), key, th); err != nil {
		log.Warn("cannot remember the thread", "err", err)
	}
}

// find asks the chat whether it has m already (in thread ref, or among the
// opening messages for ""). unknown is true when the chat cannot say.
func (t *Threads) find(log *slog.Logger, ref string, m Message) (found string, ok, unknown bool) {
	f, can := t.chat.(Finder)
	if !can {
		return "", false, true
	}
	var err error
	err = t.try(log, "find", func(ctx context.Context) error {
		found, ok, err = f.Find(ctx, ref, m)
		return err
	})
	if err != nil {
		return "", false, true
	}
	return found, ok, false
}

// deliver posts e to its thread; maybeSent says a send of it began before
// (the chat may have it). It returns the error of the first call that
// never succeeded.
func (t *Threads) deliver(e Event, maybeSent bool) error {
	log := t.log.With("app", e.App, "release", e.Release, "kind", e.Kind)
	m := Render(e, t.opts.Render)
	key := threadKey(e.App, e.Release)
	th, haveThread := t.thread(key, log)

	post := t.kinds == nil || t.kinds[e.Kind]
	posted := false // the text went out now, so its picture follows it
	switch {
	case e.Kind == WatchStarted || (!haveThread && post):
		// A thread starts with its watch; an event with no thread (the
		// opening failed, or relwatch restarted) opens one so nothing is lost.
		if !post {
			return nil
		}
		if haveThread { // opened already: by this announcement, before a restart
			return t.replaced(e, log)
		}
		if maybeSent {
			ref, ok, unknown := t.find(log, "", m)
			switch {
			case ok:
				log.Info("the chat has this opening message already: a stopped worker sent it", "ref", ref)
				th = store.Thread{Ref: ref}
			case unknown:
				m.Headline += RepeatedNote
			}
		}
		if th.Ref == "" {
			err := t.try(log, "open", t.unlessKept("", &m, func(ctx context.Context) error {
				r, err := t.chat.Open(ctx, m)
				th.Ref = r
				return err
			}, func(ref string) { th.Ref = ref }))
			if err != nil {
				return err
			}
			posted = true
		}
		opening, _ := json.Marshal(m)
		th.Opening, th.Key = string(opening), m.Key
		t.saveThread(key, th, log)
		if e.Kind == WatchStarted {
			return t.replaced(e, log)
		}
	case post && th.Key != "" && th.Key == m.Key:
		// This announcement opened the thread already (before a restart,
		// or said again): it is not a reply to itself. Its status still
		// goes on the opening.
	case post:
		reply := m
		reply.Status = "" // the status belongs on the opening message
		found := false
		if maybeSent {
			ref, ok, unknown := t.find(log, th.Ref, reply)
			switch {
			case ok:
				log.Info("the chat has this announcement already: a stopped worker sent it", "ref", ref)
				found = true
			case unknown:
				reply.Headline += RepeatedNote
			}
		}
		if !found {
			if err := t.try(log, "reply", t.unlessKept(th.Ref, &reply, func(ctx context.Context) error { return t.chat.Reply(ctx, th.Ref, reply) }, func(string) {})); err != nil {
				return err
			}
			posted = true
		}
	}
	if (m.Status == "" && e.Kind != Resumed) || th.Ref == "" {
		if posted {
			t.attach(log, e, th.Ref)
		}
		return nil
	}
	err := t.editOpening(log, key, th, e.Kind, m.Status, m.Ended)
	if posted {
		t.attach(log, e, th.Ref)
	}
	return err
}

// attach puts e's picture in thread ref, once, best-effort: the text is
// what must arrive, so a picture that cannot be drawn or is refused is
// logged and left out, never retried (a retry could hold up the thread's
// next announcement).
func (t *Threads) attach(log *slog.Logger, e Event, ref string) {
	a, ok := t.chat.(Attacher)
	if !ok || t.opts.Picture == nil || ref == "" {
		return
	}
	f, ok, err := t.opts.Picture(e)
	if err != nil {
		log.Warn("cannot draw the verdict's picture; the text is posted without it", "err", err)
		return
	}
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeoutCause(t.ctx, t.opts.CallTimeout, fmt.Errorf("%s gave no answer to the upload within %s", t.chat.Name(), t.opts.CallTimeout))
	defer cancel()
	if err := a.Attach(ctx, ref, f); err != nil {
		if c := context.Cause(ctx); c != nil && errors.Is(err, context.DeadlineExceeded) {
			err = c
		}
		t.callFailed("attach", err)
		log.Warn("the chat did not take the verdict's picture; the text is posted without it", "file", f.Name, "err", err)
	}
}

// unlessKept is post for try, but once an attempt failed in a way the chat
// may have kept the message anyway (no answer in time, a lost answer, a
// 5xx: anything but its "slow down"), each retry first asks the chat
// (Finder) whether it has *m, in thread ref ("": among the openings), and
// gives kept what it found instead of posting it a second time. post
// sends *m as it stands.
func (t *Threads) unlessKept(ref string, m *Message, post func(ctx context.Context) error, kept func(found string)) func(ctx context.Context) error {
	f, canFind := t.chat.(Finder)
	mayHave := false
	return func(ctx context.Context) error {
		if mayHave {
			// A chat that cannot say is posted to again, marked: twice,
			// and said so, is better than never.
			cannotSay := !canFind
			if canFind {
				found, ok, err := f.Find(ctx, ref, *m)
				if err == nil && ok {
					t.log.Info("the chat kept an announcement whose answer was lost: not posted again", "kind", m.Event.Kind, "ref", found)
					kept(found)
					return nil
				}
				cannotSay = err != nil
			}
			if cannotSay && !strings.HasSuffix(m.Headline, RepeatedNote) && !strings.HasSuffix(m.Headline, ResentNote) {
				m.Headline += ResentNote
			}
		}
		err := post(ctx)
		var slow *RetryAfterError
		mayHave = mayHave || (err != nil && !errors.As(err, &slow))
		return err
	}
}

// editOpening rewrites a thread's opening message (key) to show the
// status an event of kind gives it, and remembers it so. An outcome stays:
// what comes after it (a pause) is said in the thread alone. A pause shows
// only over a story with no status yet (an alert says more), and a resume
// takes the pause's status away.
func (t *Threads) editOpening(log *slog.Logger, key string, th store.Thread, kind Kind, status string, ended bool) error {
	var open Message
	if err := json.Unmarshal([]byte(th.Opening), &open); err != nil {
		log.Warn("the remembered opening message is unreadable; not editing it", "err", err)
		return nil
	}
	paused := Status(Event{Header: Header{Kind: Paused}})
	switch {
	case open.Ended && !ended,
		kind == Paused && open.Status != "",
		kind == Resumed && open.Status != paused,
		status != "" && strings.HasSuffix(open.Status, status): // said already (before a restart)
		return nil
	}
	if kind == WatchStarted && open.Status != "" && open.Status != paused {
		// A newer release replaced this one's watch: what the story came
		// to (a failed rollback, an alert) stays beside it.
		status = open.Status + " · " + status
	}
	open.Status, open.Ended = status, ended
	if err := t.try(log, "edit", func(ctx context.Context) error { return t.chat.Edit(ctx, th.Ref, open) }); err != nil {
		if !errors.Is(err, ErrEditRefused) {
			return err
		}
		t.mu.Lock()
		first := !t.editRefused
		t.editRefused = true
		t.mu.Unlock()
		level := slog.LevelInfo
		if first {
			level = slog.LevelWarn
		}
		log.Log(t.ctx, level, "the chat refused to edit the story's opening message (its editing settings, or the message was deleted): it keeps its status, the thread says what happened", "status", status, "err", err)
		return nil
	}
	opening, _ := json.Marshal(open)
	th.Opening = string(opening)
	t.saveThread(key, th, log)
	return nil
}

// replaced ends the story of the release a new watch replaces: its opening
// message says so and offers no more actions.
func (t *Threads) replaced(e Event, log *slog.Logger) error {
	f, _ := e.Fact.(WatchStart)
	if e.Kind != WatchStarted || f.Replaces == 0 {
		return nil
	}
	old, ok := t.thread(threadKey(e.App, f.Replaces), log)
	if !ok {
		return nil
	}
	return t.editOpening(log.With("replaced", f.Replaces), threadKey(e.App, f.Replaces), old, e.Kind, ReplacedStatus(e.Release), true)
}

// try runs one chat call with retries under GiveUp; it logs and returns the
// last error when the call never succeeds.
func (t *Threads) try(log *slog.Logger, what string, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.GiveUp)
	defer cancel()
	attempts := 0
	var last error // the chat's last answer, before GiveUp ended the tries
	err := retry.Do(ctx, t.opts.Backoff(), func(ctx context.Context) error {
		attempts++
		callCtx, cancelCall := context.WithTimeoutCause(ctx, t.opts.CallTimeout, fmt.Errorf("%s gave no answer within %s", t.chat.Name(), t.opts.CallTimeout))
		err := call(callCtx)
		cancelCall()
		if err == nil {
			return nil
		}
		t.callFailed(what, err)
		if c := context.Cause(callCtx); c != nil && errors.Is(err, context.DeadlineExceeded) {
			err = c
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			return err
		}
		log.Warn("chat call failed; will retry", "call", what, "attempt", attempts, "err", err)
		wait.Hinted(ctx, err) // the chat's "slow down", if it said so
		return retry.RetryableError(err)
	})
	if last != nil && errors.Is(err, context.DeadlineExceeded) && t.ctx.Err() == nil {
		// GiveUp ended the tries: what is said (and kept as the outbox's
		// outcome) is the chat's last answer, not relwatch's patience.
		err = fmt.Errorf("given up after %s of tries: %w", t.opts.GiveUp, last)
	}
	if err != nil && !errors.Is(err, ErrEditRefused) { // said by editOpening
		log.Error("announcement not delivered", "call", what, "attempts", attempts, "err", err)
	}
	return err
}
