// Package console is a notifier that prints announcements to a terminal or
// a log stream, one line each.
package console

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/relwatch/relwatch/notify"
)

// Notifier prints each event as "15:04:05 kind  text".
type Notifier struct {
	mu  sync.Mutex
	out io.Writer
	// Clock formats the time of events; when nil, the event's own time is
	// printed in UTC.
	Clock func(time.Time) string
}

// New returns a Notifier writing to out.
func New(out io.Writer) *Notifier { return &Notifier{out: out} }

// Notify implements notify.Notifier.
func (n *Notifier) Notify(_ context.Context, e notify.Event) error {
	stamp := e.At.UTC().Format("15:04:05")
	if n.Clock != nil {
		stamp = n.Clock(e.At)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := fmt.Fprintf(n.out, "%s  %-18s %s\n", stamp, e.Kind, e.Text())
	return err
}
