// Package notify turns what the watcher does into announcements, and sends
// them to chat. Each chat has a package of its own (notify/console, ...)
// that exports a Notifier.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/store"
)

// Kind names an event.
type Kind string

// The event kinds.
const (
	WatchStarted      Kind = "watch.started"
	Anomaly           Kind = "anomaly"
	WatchHealthy      Kind = "watch.healthy"
	WatchInconclusive Kind = "watch.inconclusive" // a watch ended without enough data to call it healthy
	RollbackStarted   Kind = "rollback.started"
	RollbackSucceeded Kind = "rollback.succeeded"
	RollbackFailed    Kind = "rollback.failed"
	RollbackSkipped   Kind = "rollback.skipped"
	// RollbackJoined: a person asked to roll back a release whose rollback
	// is under way already: the outcome follows in its thread.
	RollbackJoined   Kind = "rollback.joined"
	Paused           Kind = "override.paused"   // a person paused automatic rollback
	Resumed          Kind = "override.resumed"  // a person resumed it
	Approved         Kind = "override.approved" // a person approved the release
	PromotionStarted Kind = "promotion.started" // relwatch promote is about to deploy
	PromotionRefused Kind = "promotion.refused" // relwatch promote found staging broken
	Refused          Kind = "override.refused"  // someone not allowed tried a chat command
	// Forbidden: Heroku refuses the token access to one app (403); the
	// other apps are still watched.
	Forbidden Kind = "app.forbidden"
)

// Kinds returns every event kind, from the kinds table: the one list a
// notifier's `events` are checked against (TestKindsListsEveryKind finds a
// constant without a row).
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

// Event is one step of a release's story.
type Event struct {
	Kind        Kind
	At          time.Time
	App         string
	Release     int    // the watched release
	Description string // its description, as Heroku wrote it
	Target      int    // the release rolled back to, when there is one
	Rollback    int    // the "Rollback to vN" release Heroku created
	Reason      string // what was seen, with the evidence, or why something was not done
	Summary     string // what was seen, in a few words (values of the signal that fired)
	Findings    []analysis.Finding
	WatchFor    time.Duration
	Baseline    time.Duration
	Route       string
	Auto        bool // automatic rollback is on for the app, and for this watch
	// AlertOnly says why this watch may not roll back on its own though
	// the app's automatic rollback is on (a release joined after it went
	// live, with nothing from before it to compare with).
	AlertOnly string `json:",omitempty"`
	// Joined: relwatch started after the release went live.
	Joined      bool      `json:",omitempty"`
	Replaces    int       // a watched release this watch replaces
	Attempts    int       // tries a rollback took (each reads the release list, then maybe asks Heroku)
	Err         string    // what failed
	Trend       *Trend    // the route around the release, for sparklines
	By          string    // who, for overrides
	Until       time.Time // a pause's end (zero: until resumed)
	PausedBy    string    // on an anomaly: automatic rollback is paused by this person
	Quarantined int       // this slug was rolled back from this release before
	// Origin is the release the fault began under, when it is known;
	// OriginConfig says it changed only config on a build healthy before.
	Origin       int
	OriginConfig bool
	// Against is the baseline a watch started with, as used: its span,
	// the seconds of data in it, and the incidents it leaves out (zero
	// span: not known yet, the configured Baseline is said instead).
	Against Against
	// Instance tells apart facts of one kind about one release that may
	// happen more than once: the rollback's journal entry, the person's
	// request. 0 for the kinds that happen once per release.
	Instance int64
	// Restated is a fact a restarted worker says again from the state
	// store, in case the worker that stopped never stored it: its Key is
	// the original's, so where the original was stored it is not said twice.
	Restated bool
	// Round is the automatic rollback's round for this release, of Rounds:
	// after a failed round relwatch tries again at the next evidence while
	// the release is still bad and current.
	Round, Rounds int
	// Watched is how long the release had been watched when a person's
	// approval ended its watch (By names the person): the watch did not
	// run its course.
	Watched time.Duration
	// Moot marks an approval of a release whose watch is over (it ended,
	// or the release was rolled back): it changes nothing.
	Moot bool
}

// ByPerson reports whether a rollback event is a person's (By names them)
// rather than relwatch's own.
func (e Event) ByPerson() bool { return e.By != "" && e.By != store.Automatic }

// asked is a person's rollback's "as ana asked: why".
func (e Event) asked() string {
	s := fmt.Sprintf("as %s asked", e.By)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Key is the event's idempotency key: the same fact has the same key
// whichever worker says it and whenever, so an outbox keeps one row per
// chat and key and a chat is never told it twice. It is made from the
// event's identity (app, release, kind, instance), never from its text.
func (e Event) Key() string {
	k := fmt.Sprintf("%s/v%d/%s", e.App, e.Release, e.Kind)
	switch {
	case e.Instance != 0:
		k += fmt.Sprintf("/%d", e.Instance)
	case !once(e.Kind):
		// Nothing durable names this fact (a refusal, a promotion, a
		// rollback without a journal): its time does.
		k += "@" + e.At.UTC().Format(time.RFC3339Nano)
	}
	return k
}

// once reports whether a release's story has kind at most once.
func once(kind Kind) bool {
	k, _ := kindOf(kind)
	return k.once
}

// Text is the announcement, as a deployment thread would read it.
func (e Event) Text() string {
	rel := fmt.Sprintf("%s v%d", e.App, e.Release)
	if k, ok := kindOf(e.Kind); ok {
		return k.text(e, rel)
	}
	return fmt.Sprintf("%s: %s %s", rel, e.Kind, e.Reason)
}

// kindOf is the row of kind in the kinds table.
func kindOf(kind Kind) (kindSpec, bool) {
	for _, k := range kinds {
		if k.kind == kind {
			return k, true
		}
	}
	return kindSpec{}, false
}

// kindSpec is what notify knows of an event kind, in one row of the
// kinds table: a new kind is a constant and a row (and the Event fields its
// text reads).
type kindSpec struct {
	kind Kind
	// once: a release's story has it at most once, so its Key needs no
	// instance nor time.
	once bool
	// text is the announcement; rel is "app vN".
	text func(e Event, rel string) string
}

// kinds is every event kind, in the order Kinds lists them.
var kinds = []kindSpec{
	{kind: WatchStarted, once: true, text: func(e Event, rel string) string {
		s := fmt.Sprintf("%s is live (%s) — watching %s for %s against %s", rel, e.Description, e.Route, short(e.WatchFor), e.Against.text(e.Baseline))
		if e.Replaces != 0 {
			s += fmt.Sprintf(" (replaces the watch on v%d)", e.Replaces)
		}
		switch {
		case e.AlertOnly != "":
			s += "; alert only: " + e.AlertOnly
		case !e.Auto:
			s += "; alert only, automatic rollback is off"
		case e.Joined:
			s += "; relwatch started after it went live, and may act: it has the traffic from before it"
		}
		s += "."
		if e.Quarantined != 0 {
			s = fmt.Sprintf("🚨 QUARANTINED SLUG: this is the build that was rolled back from v%d. ", e.Quarantined) + s + " No benefit of the doubt: judged on half the usual evidence."
		}
		return s
	}},
	{kind: Anomaly, once: true, text: func(e Event, rel string) string {
		s := fmt.Sprintf("⚠️ %s looks bad: %s.", rel, e.short()) + e.origin()
		switch {
		case e.PausedBy != "":
			s += fmt.Sprintf(" Would roll back to v%d, but %s.", e.Target, PausedBy(e.PausedBy, e.Until))
		case e.Auto && e.Target != 0:
			s += fmt.Sprintf(" Rolling back to v%d.", e.Target)
		case e.Target != 0 && e.AlertOnly != "":
			s += fmt.Sprintf(" Alert only (%s): to roll back, `heroku rollback v%d -a %s`.", e.AlertOnly, e.Target, e.App)
		case e.Target != 0:
			s += fmt.Sprintf(" Automatic rollback is off: to roll back, `heroku rollback v%d -a %s`.", e.Target, e.App)
		}
		return s
	}},
	{kind: WatchHealthy, once: true, text: func(e Event, rel string) string {
		if e.By != "" {
			return fmt.Sprintf("✅ %s approved by %s after %s of its %s watch: the watch ends healthy.", rel, e.By, short(e.Watched), short(e.WatchFor))
		}
		return fmt.Sprintf("✅ %s looks healthy after %s: %s.", rel, short(e.WatchFor), e.Reason)
	}},
	{kind: WatchInconclusive, once: true, text: func(e Event, rel string) string {
		return fmt.Sprintf("❔ %s: the watch ended without enough data to judge it: %s.", rel, e.Reason)
	}},
	{kind: RollbackStarted, once: false, text: func(e Event, rel string) string {
		if e.ByPerson() {
			return fmt.Sprintf("⏪ Rolling %s back from v%d to v%d, %s.", e.App, e.Release, e.Target, e.asked())
		}
		return fmt.Sprintf("⏪ Rolling %s back from v%d to v%d: %s.", e.App, e.Release, e.Target, e.short())
	}},
	{kind: RollbackSucceeded, once: false, text: func(e Event, rel string) string {
		done := fmt.Sprintf("⏪ %s is rolled back to v%d (Heroku release v%d, \"Rollback to v%d\")", e.App, e.Target, e.Rollback, e.Target)
		if e.ByPerson() {
			return fmt.Sprintf("%s; v%d rolled back %s.", done, e.Release, e.asked())
		}
		return fmt.Sprintf("%s; v%d had %s.", done, e.Release, e.short())
	}},
	{kind: RollbackFailed, once: false, text: func(e Event, rel string) string {
		s := fmt.Sprintf("❌ Rollback of %s from v%d to v%d failed", e.App, e.Release, e.Target)
		if e.ByPerson() {
			s = fmt.Sprintf("❌ Rollback of %s from v%d to v%d, asked by %s, failed", e.App, e.Release, e.Target, e.By)
		}
		if e.Attempts > 0 {
			s += fmt.Sprintf(" after %d attempt(s)", e.Attempts)
		}
		s += ": " + e.Err + "."
		if e.Round > 0 && e.Round < e.Rounds {
			return s + fmt.Sprintf(" relwatch tries again at the next evidence while v%d is live and bad (round %d of %d failed); to roll back by hand now: `heroku rollback v%d -a %s`.",
				e.Release, e.Round, e.Rounds, e.Target, e.App)
		}
		if e.Round > 0 {
			s += fmt.Sprintf(" That was the last of %d rounds.", e.Rounds)
		}
		return s + fmt.Sprintf(" Roll back by hand: `heroku rollback v%d -a %s`.", e.Target, e.App)
	}},
	{kind: RollbackSkipped, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("⏭ Not rolling back %s: %s.", rel, e.Reason)
	}},
	{kind: RollbackJoined, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("⏪ %s asked to roll back %s (to v%d): %s.", e.By, rel, e.Target, e.Reason)
	}},
	{kind: Paused, once: false, text: func(e Event, rel string) string {
		s := fmt.Sprintf("⏸ %s paused automatic rollback of %s %s", e.By, e.App, Until(e.Until))
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		return s + ". Anomalies are still announced."
	}},
	{kind: Resumed, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("▶️ %s resumed automatic rollback of %s.", e.By, e.App)
	}},
	{kind: Approved, once: false, text: func(e Event, rel string) string {
		s := fmt.Sprintf("👍 %s approved %s", e.By, rel)
		if e.Reason != "" {
			s += " (" + e.Reason + ")"
		}
		if e.Moot {
			return s + ", but its watch is over: nothing changes."
		}
		return s + "."
	}},
	{kind: PromotionStarted, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("🚀 Deploying %s to %s now: %s. relwatch watches the new release.", e.Description, e.App, e.Reason)
	}},
	{kind: PromotionRefused, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("🛑 Not deploying %s to %s: %s.", e.Description, e.App, e.Reason)
	}},
	{kind: Refused, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("🚫 Refused a chat command from %s (%s): not in allowed_users.", e.By, e.Reason)
	}},
	{kind: Forbidden, once: false, text: func(e Event, rel string) string {
		return fmt.Sprintf("🚫 Heroku refuses relwatch access to %s: %s. Its releases are not watched until the token may read them (the other apps are).", e.App, e.Err)
	}},
}

// origin says where the fault began, when that decides the target: under
// an earlier release than the watched one, or with a config change.
func (e Event) origin() string {
	switch {
	case e.Origin == 0:
		return ""
	case e.OriginConfig:
		return fmt.Sprintf(" It began with v%d's config change on a build that ran healthy before it, so the build's earlier release is fit to go back to.", e.Origin)
	case e.Origin != e.Release:
		return fmt.Sprintf(" It began under v%d, before v%d went live: no release since, nor one of v%d's build, is gone back to.", e.Origin, e.Release, e.Origin)
	}
	return ""
}

// Against is the baseline a watch is judged against, as used.
type Against struct {
	From, To time.Time
	Data     time.Duration // seconds with data in it
	LeftOut  time.Duration // incidents left out, within From..To
	// Incident is the baseline's error share when it is itself past the
	// guardrail (Guardrail): the only history is an incident, and the
	// guardrail judges too. Zero otherwise.
	Incident, Guardrail float64 `json:",omitempty"`
}

// text says the baseline: "the 30m before" when only the configured
// length is known, else what was used ("30m of traffic from 14:02 to 14:32
// UTC, leaving out 12m of incident").
func (b Against) text(configured time.Duration) string {
	if b.From.IsZero() {
		return fmt.Sprintf("the %s before", short(configured))
	}
	s := fmt.Sprintf("%s of traffic from %s to %s", short(b.Data), b.From.UTC().Format("15:04"), b.To.UTC().Format("15:04 MST"))
	if b.LeftOut > 0 {
		s += fmt.Sprintf(", leaving out %s of incident", short(b.LeftOut))
	}
	if b.Incident > 0 {
		s += fmt.Sprintf(" — itself an incident (%s errors, past the %s guardrail): the guardrail judges too", Percent(b.Incident), Percent(b.Guardrail))
	}
	return s
}

// PausedBy is the one wording of a pause in force: "automatic rollback is
// paused by ana until 15:00 UTC".
func PausedBy(by string, until time.Time) string {
	return fmt.Sprintf("automatic rollback is paused by %s %s", by, Until(until))
}

// Until says how long a pause lasts: "until resumed", or "until 15:00 UTC".
func Until(t time.Time) string {
	if t.IsZero() {
		return "until resumed"
	}
	return "until " + t.UTC().Format("15:04 MST")
}

// short writes a duration the way people do: "20m", "1h30m", "45s".
func short(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (e Event) short() string {
	if e.Summary != "" {
		return e.Summary
	}
	return e.Reason
}

// Notifier delivers events to one chat. Notify must return quickly: a slow
// chat must never hold up a rollback.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Multi sends each event to every notifier, and joins their errors.
type Multi []Notifier

// Notify implements Notifier.
func (m Multi) Notify(ctx context.Context, e Event) error {
	var errs []error
	for _, n := range m {
		if err := n.Notify(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Recorder keeps every event, in order (replay and tests read them back).
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Notify implements Notifier.
func (r *Recorder) Notify(_ context.Context, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// Events returns what was recorded so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
