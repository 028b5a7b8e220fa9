// Package wait is the one place relwatch honours a service's "try again
// after": Heroku's Retry-After on the rollback path, a chat's rate limit on
// an announcement. The retry loop itself is go-retry's, at each call site.
package wait

import (
	"context"
	"errors"
	"time"
)

// Hint is an error that says how long to wait before trying again.
type Hint interface {
	error
	RetryIn() time.Duration
}

// Hinted waits as long as err (or an error it wraps) asks, if it asks,
// unless ctx ends first; it reports how long that was.
func Hinted(ctx context.Context, err error) time.Duration {
	var h Hint
	if !errors.As(err, &h) || h.RetryIn() <= 0 {
		return 0
	}
	t := time.NewTimer(h.RetryIn())
	defer t.Stop()
	select {
	case <-t.C:
		return h.RetryIn()
	case <-ctx.Done():
		return 0
	}
}
