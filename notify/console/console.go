// Package console is a notifier that prints announcements to a terminal or
// a log stream, laid out as the thread they make in chat: the opening
// message of a release, its replies under it, and the edits of the opening
// message.
package console

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/relwatch/relwatch/internal/recent"
	"github.com/relwatch/relwatch/notify"
)

// Notifier prints each event as a line of its release's thread.
type Notifier struct {
	mu  sync.Mutex
	out io.Writer
	// opened are the threads (app/vN) this notifier printed an opening
	// line for: as in chat, a release's first announcement opens its
	// thread, so no reply is ever printed before (or without) its
	// opening. The maxOpened used most lately are kept.
	opened recent.Map[string, struct{}]
	// Clock formats the time of events; when nil, the event's own time is
	// printed in UTC.
	Clock func(time.Time) string
	// Render holds what the texts need (the worker app for overrides).
	Render notify.RenderOptions
}

// maxOpened bounds the threads a Notifier remembers: a worker that runs
// for weeks opens one per release. The one forgotten is the least lately
// used; an announcement in it later prints as an opening line, as after a
// restart.
const maxOpened = 1024

// New returns a Notifier writing to out.
func New(out io.Writer) *Notifier { return &Notifier{out: out} }

// Notify implements notify.Notifier.
func (n *Notifier) Notify(_ context.Context, e notify.Event) error {
	stamp := e.At.UTC().Format("15:04:05")
	if n.Clock != nil {
		stamp = n.Clock(e.At)
	}
	m := notify.Render(e, n.Render)
	if e.Restated {
		// A log has no memory to check against: say that it is a repeat.
		m.Headline += " (said again after a restart)"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	thread := fmt.Sprintf("%s/v%d", e.App, e.Release)
	n.opened.Max = maxOpened
	_, known := n.opened.Get(thread)
	opening := e.Kind == notify.WatchStarted || !known
	n.opened.Put(thread, struct{}{})
	var b strings.Builder
	pad := strings.Repeat(" ", len(stamp)+2)
	if opening {
		fmt.Fprintf(&b, "%s  [%s] %s\n", stamp, e.Kind, m.Headline)
	} else {
		fmt.Fprintf(&b, "%s  └─ [%s] %s\n", stamp, e.Kind, m.Headline)
		pad += "   "
	}
	for _, l := range m.Evidence {
		fmt.Fprintf(&b, "%s• %s\n", pad, l)
	}
	if m.Trend != "" {
		fmt.Fprintf(&b, "%s%s\n", pad, m.Trend)
	}
	if m.Override != "" {
		fmt.Fprintf(&b, "%soverride: %s\n", pad, m.Override)
	}
	if m.Status != "" {
		fmt.Fprintf(&b, "%s(the opening message now reads \"%s · %s v%d ...\")\n", pad, m.Status, e.App, e.Release)
	}
	_, err := io.WriteString(n.out, b.String())
	return err
}
