package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
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

// RetryAfterError is a chat's "slow down": try again after After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("%v (retry after %s)", e.Err, e.After) }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// PermanentError is an answer that trying again will not change (bad
// credentials, an unknown channel).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// ThreadOptions configure Threads.
type ThreadOptions struct {
	Render RenderOptions
	// Kinds, when set, are the only event kinds posted (the outcome edit of
	// the opening message still happens).
	Kinds []Kind
	// Queue bounds the events waiting (default 1000); past it Notify
	// refuses, it never blocks.
	Queue int
	// CallTimeout bounds one chat call (default 10 s); GiveUp bounds all
	// the tries of one call (default 5 min).
	CallTimeout, GiveUp time.Duration
	// Backoff between tries (default exponential from 1 s, capped at 30 s).
	Backoff func() retry.Backoff
	Logger  *slog.Logger
	// Memory, when set, keeps thread references across restarts, so a
	// restarted worker replies in the thread it opened (store.DB is one).
	Memory ThreadMemory
	// Outbox, when set, keeps every announcement until the chat has it: a
	// worker that dies leaves its undelivered ones to the next. Holder
	// names this worker in it.
	Outbox Outbox
	Holder string
}

// Outbox keeps announcements until a chat has them.
type Outbox interface {
	Enqueue(ctx context.Context, chat, payload, holder string) (int64, error)
	// ClaimStale takes the chat's undelivered announcements whose worker
	// stopped renewing its claim for stale, oldest first: ids and payloads
	// (each Event as JSON).
	ClaimStale(ctx context.Context, chat, holder string, stale time.Duration, limit int) ([]int64, []string, error)
	Delivered(ctx context.Context, id int64, outcome string) error
	// Touch renews this worker's claims.
	Touch(ctx context.Context, holder string) error
}

// outboxStale is how long an announcement's claim lasts unrenewed; live
// workers renew theirs every outboxTouch.
const (
	outboxStale = time.Minute
	outboxTouch = 15 * time.Second
)

// queued is an event waiting in memory, and its outbox row (0: none).
type queued struct {
	e  Event
	id int64
}

// ThreadMemory keeps chat threads: a release's opening message reference
// and text, per chat.
type ThreadMemory interface {
	Thread(ctx context.Context, chat, thread string) (ref, opening string, ok bool, err error)
	SaveThread(ctx context.Context, chat, thread, ref, opening string) error
}

// Threads delivers events to one chat in the background, in order, with
// bounded retries and bounded time: a chat that is down, slow or rejecting
// never delays the caller. It implements Notifier.
type Threads struct {
	chat  Chat
	opts  ThreadOptions
	kinds map[Kind]bool
	queue chan queued
	done  chan struct{}

	mu      sync.Mutex
	refs    map[string]string  // thread key -> opening message ref
	opening map[string]Message // thread key -> opening message
	closed  bool
}

// ErrQueueFull is Notify's answer when the chat has fallen too far behind.
var ErrQueueFull = errors.New("chat queue full: announcement dropped")

// NewThreads starts delivering to chat until Close.
func NewThreads(chat Chat, opts ThreadOptions) *Threads {
	if opts.Queue <= 0 {
		opts.Queue = 1000
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = 5 * time.Minute
	}
	if opts.Backoff == nil {
		opts.Backoff = func() retry.Backoff {
			return retry.WithCappedDuration(30*time.Second, retry.NewExponential(time.Second))
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Threads{chat: chat, opts: opts, queue: make(chan queued, opts.Queue), done: make(chan struct{}),
		refs: map[string]string{}, opening: map[string]Message{}}
	if len(opts.Kinds) > 0 {
		t.kinds = map[Kind]bool{}
		for _, k := range opts.Kinds {
			t.kinds[k] = true
		}
	}
	go t.run()
	return t
}

// Notify queues e and returns at once (after storing it in the outbox, when
// there is one: no chat I/O happens here).
func (t *Threads) Notify(ctx context.Context, e Event) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: closed", t.chat.Name())
	}
	q := queued{e: e}
	if t.opts.Outbox != nil {
		payload, err := json.Marshal(e)
		if err == nil {
			q.id, err = t.opts.Outbox.Enqueue(ctx, t.chat.Name(), string(payload), t.opts.Holder)
		}
		if err != nil {
			t.opts.Logger.Warn("announcement not stored; delivering from memory", "chat", t.chat.Name(), "err", err)
		}
	}
	select {
	case t.queue <- q:
		return nil
	default:
		return fmt.Errorf("%s: %w", t.chat.Name(), ErrQueueFull)
	}
}

// Close stops taking events and waits for the queue to drain, until ctx
// ends; what is left then is logged and dropped.
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
		return fmt.Errorf("%s: %d announcement(s) not delivered: %w", t.chat.Name(), len(t.queue), ctx.Err())
	}
}

func threadKey(e Event) string { return fmt.Sprintf("%s/v%d", e.App, e.Release) }

func (t *Threads) run() {
	defer close(t.done)
	t.sweep() // what a stopped worker left undelivered goes first
	tick := time.NewTicker(outboxTouch)
	defer tick.Stop()
	for {
		select {
		case q, ok := <-t.queue:
			if !ok {
				return
			}
			t.finish(q.id, t.deliver(q.e))
		case <-tick.C:
			t.sweep()
		}
	}
}

// sweep renews this worker's outbox claims and delivers what stopped
// workers left behind.
func (t *Threads) sweep() {
	if t.opts.Outbox == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.opts.Outbox.Touch(ctx, t.opts.Holder); err != nil {
		t.opts.Logger.Warn("cannot renew outbox claims", "err", err)
	}
	ids, payloads, err := t.opts.Outbox.ClaimStale(ctx, t.chat.Name(), t.opts.Holder, outboxStale, 100)
	if err != nil {
		t.opts.Logger.Warn("cannot read the outbox", "err", err)
	}
	for i, id := range ids {
		var e Event
		if err := json.Unmarshal([]byte(payloads[i]), &e); err != nil {
			t.finish(id, fmt.Errorf("unreadable: %w", err))
			continue
		}
		t.opts.Logger.Info("delivering an announcement a stopped worker left", "chat", t.chat.Name(), "kind", e.Kind, "app", e.App)
		t.finish(id, t.deliver(e))
	}
}

func (t *Threads) finish(id int64, err error) {
	if id == 0 || t.opts.Outbox == nil {
		return
	}
	outcome := "delivered"
	if err != nil {
		outcome = "given up: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.opts.Outbox.Delivered(ctx, id, outcome); err != nil {
		t.opts.Logger.Warn("cannot mark the announcement delivered", "err", err)
	}
}

// deliver posts e to its thread; it returns the error of the first call
// that never succeeded.
func (t *Threads) deliver(e Event) error {
	log := t.opts.Logger.With("chat", t.chat.Name(), "app", e.App, "release", e.Release, "kind", e.Kind)
	m := Render(e, t.opts.Render)
	key := threadKey(e)
	t.mu.Lock()
	ref, haveThread := t.refs[key]
	t.mu.Unlock()
	if !haveThread && t.opts.Memory != nil {
		if r, opening, ok, err := t.opts.Memory.Thread(context.Background(), t.chat.Name(), key); err != nil {
			log.Warn("cannot read the thread memory", "err", err)
		} else if ok {
			var open Message
			_ = json.Unmarshal([]byte(opening), &open)
			t.mu.Lock()
			t.refs[key], t.opening[key] = r, open
			t.mu.Unlock()
			ref, haveThread = r, true
		}
	}

	post := t.kinds == nil || t.kinds[e.Kind]
	if e.Kind == WatchStarted || (!haveThread && post) {
		// A thread starts with its watch; an event with no thread (the
		// opening failed, or relwatch restarted) opens one so nothing is lost.
		if !post {
			return nil
		}
		err := t.try(log, "open", func(ctx context.Context) error {
			r, err := t.chat.Open(ctx, m)
			ref = r
			return err
		})
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.refs[key], t.opening[key] = ref, m
		t.mu.Unlock()
		if t.opts.Memory != nil {
			opening, _ := json.Marshal(m)
			if err := t.opts.Memory.SaveThread(context.Background(), t.chat.Name(), key, ref, string(opening)); err != nil {
				log.Warn("cannot remember the thread", "err", err)
			}
		}
		if e.Kind == WatchStarted {
			return nil
		}
	} else if post {
		reply := m
		reply.Status = "" // the status belongs on the opening message
		if err := t.try(log, "reply", func(ctx context.Context) error { return t.chat.Reply(ctx, ref, reply) }); err != nil {
			return err
		}
	}
	if m.Status == "" || ref == "" {
		return nil
	}
	t.mu.Lock()
	open := t.opening[key]
	t.mu.Unlock()
	open.Status = m.Status
	return t.try(log, "edit", func(ctx context.Context) error { return t.chat.Edit(ctx, ref, open) })
}

// try runs one chat call with retries under GiveUp; it logs and returns the
// last error when the call never succeeds.
func (t *Threads) try(log *slog.Logger, what string, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.opts.GiveUp)
	defer cancel()
	attempts := 0
	err := retry.Do(ctx, t.opts.Backoff(), func(ctx context.Context) error {
		attempts++
		callCtx, cancelCall := context.WithTimeoutCause(ctx, t.opts.CallTimeout, fmt.Errorf("%s gave no answer within %s", t.chat.Name(), t.opts.CallTimeout))
		err := call(callCtx)
		cancelCall()
		if err == nil {
			return nil
		}
		if c := context.Cause(callCtx); c != nil && errors.Is(err, context.DeadlineExceeded) {
			err = c
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			return err
		}
		log.Warn("chat call failed; will retry", "call", what, "attempt", attempts, "err", err)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			select {
			case <-time.After(ra.After):
			case <-ctx.Done():
			}
		}
		return retry.RetryableError(err)
	})
	if err != nil {
		log.Error("announcement not delivered", "call", what, "attempts", attempts, "err", err)
	}
	return err
}
