package notify

import (
	"context"
	"errors"
)

// Observer is told how each announcement to a chat ended, and of each chat
// call that failed: relwatch's own numbers (package telemetry) count them,
// as Alertmanager counts its integrations' notifications. Its methods are
// called from the chat's delivery goroutines and must return at once.
type Observer interface {
	// Announced: the chat has the announcement (posted now, or found there
	// already after a restart).
	Announced(chat string, kind Kind)
	// CallFailed: one chat call (open, reply, edit, find) failed; it is
	// tried again while the announcement's time lasts. reason is one of
	// FailureReasons.
	CallFailed(chat, call, reason string)
	// GaveUp: the announcement will never reach the chat. reason is one of
	// GiveUpReasons.
	GaveUp(chat string, kind Kind, reason string)
}

// FailureReasons are why a chat call fails, as FailureReason names them.
var FailureReasons = []string{"rate_limited", "rejected", "timeout", "error"}

// GiveUpReasons are why an announcement never reaches a chat: the chat
// rejected it for good, its tries ran out (GiveUp), its stored copy was
// unreadable, the queue was full or closed, or the worker stopped with it
// in memory (without an outbox).
var GiveUpReasons = []string{"rejected", "retries_exhausted", "unreadable", "queue_full", "closed", "stopped"}

// FailureReason names why a chat call failed: rate_limited (the chat said
// slow down), rejected (an answer trying again will not change), timeout
// (no answer in time), or error (the rest: 5xx, connection refused, ...).
func FailureReason(err error) string {
	var ra *RetryAfterError
	var perm *PermanentError
	switch {
	case errors.As(err, &ra):
		return "rate_limited"
	case errors.As(err, &perm):
		return "rejected"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// ended tells the observer how e's delivery to the chat ended; err is what
// deliver returned (nil: delivered). An event of a kind this chat does not
// post is no announcement of it (an unreadable one has no kind: it counts).
func (t *Threads) ended(e Event, err error) {
	o := t.opts.Observer
	if o == nil || err != errUnreadable && t.kinds != nil && !t.kinds[e.Kind] {
		return
	}
	var perm *PermanentError
	switch {
	case err == nil:
		o.Announced(t.chat.Name(), e.Kind)
	case errors.Is(err, ErrQueueFull):
		o.GaveUp(t.chat.Name(), e.Kind, "queue_full")
	case errors.Is(err, errClosed):
		o.GaveUp(t.chat.Name(), e.Kind, "closed")
	case errors.Is(err, errUnreadable):
		o.GaveUp(t.chat.Name(), e.Kind, "unreadable")
	case errors.As(err, &perm):
		o.GaveUp(t.chat.Name(), e.Kind, "rejected")
	case errors.Is(err, context.Canceled):
		o.GaveUp(t.chat.Name(), e.Kind, "stopped")
	default:
		o.GaveUp(t.chat.Name(), e.Kind, "retries_exhausted")
	}
}

// callFailed tells the observer a chat call failed.
func (t *Threads) callFailed(call string, err error) {
	if o := t.opts.Observer; o != nil {
		o.CallFailed(t.chat.Name(), call, FailureReason(err))
	}
}

var (
	errClosed     = errors.New("closed")
	errUnreadable = errors.New("unreadable")
)
