// Package notify turns what the watcher does into announcements, and sends
// them to chat. Each chat has a package of its own (notify/console, ...)
// that exports a Notifier.
package notify

import (
	"context"
	"encoding/json"
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
	PauseEnded       Kind = "override.ended"    // a timed pause ran out: automatic rollback is on again
	Approved         Kind = "override.approved" // a person approved the release
	PromotionStarted Kind = "promotion.started" // relwatch promote is about to deploy
	PromotionRefused Kind = "promotion.refused" // relwatch promote found staging broken
	Refused          Kind = "override.refused"  // someone not allowed tried a chat command
	// Forbidden: Heroku refuses the token access to one app (403); the
	// other apps are still watched.
	Forbidden Kind = "app.forbidden"
	// Blind: a watch has not read its release's traffic for a while (its
	// source fails): until it can, nothing judges the release.
	Blind Kind = "watch.blind"
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

// Event is one step of a release's story: the header every kind has (what,
// when, which release, and whether it is said again), and the facts of its
// kind (Fact), of the type its row in the kinds table names.
type Event struct {
	Header
	// Fact is what this kind of event says beyond the header: WatchStart,
	// Anomalous, WatchEnd, RollbackStep, Request, Promotion or Denied, as
	// the kind's row says (Event.Check). Nil reads as the zero facts.
	Fact Fact
}

// Header is what every event has, whatever its kind: its identity (Key)
// and where it belongs in a release's story.
type Header struct {
	Kind        Kind
	At          time.Time
	App         string
	Release     int    // the watched release
	Description string // its description, as Heroku wrote it
	// Instance tells apart facts of one kind about one release that may
	// happen more than once: the rollback's journal entry, the person's
	// request. 0 for the kinds that happen once per release.
	Instance int64
	// Restated is a fact a restarted worker says again from the state
	// store, in case the worker that stopped never stored it: its Key is
	// the original's, so where the original was stored it is not said twice.
	Restated bool
}

// Fact is the facts of one kind of event: one of the types below.
type Fact interface{ fact() }

// Seen is what the signals showed: the verdict and its evidence, carried
// by the verdicts (anomaly, the watch's end) and by the rollback they cause.
type Seen struct {
	Reason   string // what was seen, with the evidence, or why something was not done
	Summary  string // what was seen, in a few words (values of the signal that fired)
	Findings []analysis.Finding
	Trend    *Trend // the route around the release, for sparklines
	Route    string // the route it was seen on
}

// evidence is the Seen of the facts that embed it (Event.Seen).
func (s Seen) evidence() Seen { return s }

// short is what was seen, in a few words.
func (s Seen) short() string {
	if s.Summary != "" {
		return s.Summary
	}
	return s.Reason
}

// WatchStart is watch.started's facts: what the watch is, and whether it
// may act.
type WatchStart struct {
	Route    string
	WatchFor time.Duration
	Baseline time.Duration // the configured baseline (Against says the one used, when known)
	// Against is the baseline a watch started with, as used: its span,
	// the seconds of data in it, and the incidents it leaves out (zero
	// span: not known yet, Baseline is said instead).
	Against Against
	Auto    bool // automatic rollback is on for the app, and for this watch
	// AlertOnly says why this watch may not roll back on its own though
	// the app's automatic rollback is on (a release joined after it went
	// live, with nothing from before it to compare with).
	AlertOnly string `json:",omitempty"`
	// Joined: relwatch started after the release went live.
	Joined      bool `json:",omitempty"`
	Replaces    int  // a watched release this watch replaces
	Quarantined int  // this slug was rolled back from this release before
}

// Anomalous is anomaly's facts: what was seen, where it began, and what
// relwatch does about it.
type Anomalous struct {
	Seen
	Auto      bool   // relwatch rolls back on its own
	AlertOnly string `json:",omitempty"` // why it may not, though the app's automatic rollback is on
	Target    int    // the release a rollback goes back to (0: none fit)
	// Origin is the release the fault began under, when it is known;
	// OriginConfig says it changed only config on a build healthy before.
	Origin       int
	OriginConfig bool
	// PausedBy: automatic rollback is paused by this person, Until then
	// (zero: until resumed).
	PausedBy string
	Until    time.Time
}

// WatchEnd is the facts of a watch's end (watch.healthy,
// watch.inconclusive).
type WatchEnd struct {
	Seen
	WatchFor time.Duration
	// By names the person whose approval ended the watch, after Watched
	// of it: the watch did not run its course.
	By      string
	Watched time.Duration
}

// RollbackStep is the facts of a rollback's steps (rollback.started,
// .succeeded, .failed, .skipped, .joined): who asked and why, where to,
// and how it went.
type RollbackStep struct {
	Seen
	By       string // who: Automatic, or the person who asked
	Auto     bool   // relwatch's own rollback
	Target   int    // the release rolled back to
	Rollback int    // the "Rollback to vN" release Heroku created
	Attempts int    // tries it took (each reads the release list, then maybe asks Heroku)
	Err      string // what failed
	// NoTarget: it failed because Target cannot be gone back to (not older
	// than the release, not there, or it did not succeed): the advice is
	// not to roll back to it by hand.
	NoTarget bool
	// Round is the automatic rollback's round for this release, of Rounds:
	// after a failed round relwatch tries again at the next evidence while
	// the release is still bad and current.
	Round, Rounds int
}

// ByPerson reports whether the rollback is a person's (By names them)
// rather than relwatch's own.
func (r RollbackStep) ByPerson() bool { return r.By != "" && r.By != store.Automatic }

// asked is a person's rollback's "as ana asked: why".
func (r RollbackStep) asked() string {
	s := fmt.Sprintf("as %s asked", r.By)
	if r.Reason != "" {
		s += ": " + quote(r.Reason)
	}
	return s
}

// Request is the facts of what a person asked in chat or at the command
// line (override.paused, .resumed, .approved, .refused).
type Request struct {
	By     string
	Reason string
	Until  time.Time // a pause's end (zero: until resumed)
	// Moot marks an approval of a release whose watch is over (it ended,
	// or the release was rolled back): it changes nothing.
	Moot bool
	// Unseen marks an approval of a release relwatch has not seen: one
	// made after the approval is not taken (the approval was a typo).
	Unseen bool
}

// Promotion is the facts of relwatch promote (promotion.started,
// .refused): who deploys, and why it goes or not. The header's
// Description names what is deployed, its App the targets.
type Promotion struct {
	By     string
	Reason string
}

// Unread is watch.blind's facts: the route whose traffic could not be
// read, for how long, and the source's last error.
type Unread struct {
	Route string
	For   time.Duration
	Err   string
}

// Denied is app.forbidden's facts: Heroku's refusal.
type Denied struct {
	Err string
	// Token is the variable of a token Heroku refuses (401): every app
	// of it is denied, not this one alone. "": a 403, this app's.
	Token string
}

func (WatchStart) fact()   {}
func (Anomalous) fact()    {}
func (WatchEnd) fact()     {}
func (RollbackStep) fact() {}
func (Request) fact()      {}
func (Promotion) fact()    {}
func (Denied) fact()       {}
func (Unread) fact()       {}

// Seen is the evidence e carries: the verdict's, or the rollback's
// (zero for the kinds that carry none).
func (e Event) Seen() Seen {
	if s, ok := e.Fact.(interface{ evidence() Seen }); ok {
		return s.evidence()
	}
	return Seen{}
}

// Check reports an event whose facts are not of the type its kind's row
// names: a mistake of the code that made it, never of the outside world.
func (e Event) Check() error {
	k, ok := kindOf(e.Kind)
	if !ok {
		return fmt.Errorf("notify: unknown event kind %q", e.Kind)
	}
	if e.Fact != nil && !k.fits(e.Fact) {
		return fmt.Errorf("notify: a %s event carries %T, not the facts of its kind", e.Kind, e.Fact)
	}
	return nil
}

// MarshalJSON writes the header and the facts as one flat object, as
// events were written before they had facts of their kind: an outbox row
// stored by an older relwatch reads the same.
func (e Event) MarshalJSON() ([]byte, error) {
	if err := e.Check(); err != nil && e.Fact != nil {
		return nil, err
	}
	h, err := json.Marshal(e.Header)
	if err != nil || e.Fact == nil {
		return h, err
	}
	f, err := json.Marshal(e.Fact)
	if err != nil {
		return nil, err
	}
	// f is never {}: every type of facts has a field it always writes.
	return append(append(h[:len(h)-1], ','), f[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON wrote, and the flat events of older
// relwatch: the header, then the facts its kind's row names.
func (e *Event) UnmarshalJSON(b []byte) error {
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return err
	}
	*e = Event{Header: h}
	k, ok := kindOf(h.Kind)
	if !ok {
		return nil // a kind this relwatch does not know: its header still reads
	}
	f, err := k.decode(b)
	if err != nil {
		return fmt.Errorf("%s event: %w", h.Kind, err)
	}
	e.Fact = f
	return nil
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
	return fmt.Sprintf("%s: %s", rel, e.Kind)
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
// kinds table: a new kind is a constant and a row (and, when no type of
// facts fits it, a type of its own).
type kindSpec struct {
	kind Kind
	// once: a release's story has it at most once, so its Key needs no
	// instance nor time.
	once bool
	// text is the announcement; rel is "app vN".
	text func(e Event, rel string) string
	// decode reads the kind's facts out of a flat event; fits reports
	// whether facts are of the kind's type.
	decode func(b []byte) (Fact, error)
	fits   func(f Fact) bool
}

// row is the row of a kind whose facts are of type F: its text reads
// them typed (the zero F when an event carries none).
func row[F Fact](kind Kind, once bool, text func(e Event, f F, rel string) string) kindSpec {
	return kindSpec{kind: kind, once: once,
		text: func(e Event, rel string) string {
			f, _ := e.Fact.(F)
			return text(e, f, rel)
		},
		decode: func(b []byte) (Fact, error) {
			var f F
			err := json.Unmarshal(b, &f)
			return f, err
		},
		fits: func(f Fact) bool {
			_, ok := f.(F)
			return ok
		},
	}
}

// kinds is every event kind, in the order Kinds lists them.
var kinds = []kindSpec{
	row(WatchStarted, true, func(e Event, f WatchStart, rel string) string {
		s := fmt.Sprintf("%s is live (%s) — watching %s for %s against %s", rel, quote(e.Description), f.Route, Span(f.WatchFor), f.Against.text(f.Baseline))
		if f.Replaces != 0 {
			s += fmt.Sprintf(" (replaces the watch on v%d)", f.Replaces)
		}
		switch {
		case f.AlertOnly != "":
			s += "; alert only: " + f.AlertOnly
		case !f.Auto:
			s += "; alert only, automatic rollback is off"
		case f.Joined:
			s += "; relwatch started after it went live, and may act: it has the traffic from before it"
		}
		s += "."
		if f.Quarantined != 0 {
			s = fmt.Sprintf("🚨 QUARANTINED SLUG: this is the build that was rolled back from v%d. ", f.Quarantined) + s + " No benefit of the doubt: judged on half the usual evidence."
		}
		return s
	}),
	row(Anomaly, true, func(e Event, f Anomalous, rel string) string {
		s := fmt.Sprintf("⚠️ %s looks bad: %s.", rel, f.short()) + f.origin(e.Release)
		switch {
		case f.PausedBy != "" && f.Target != 0:
			s += fmt.Sprintf(" Would roll back to v%d, but %s.", f.Target, PausedBy(f.PausedBy, f.Until, e.At))
		case f.PausedBy != "":
			// No fit release to go back to (never "v0"): a resume would
			// not roll it back either.
			s += fmt.Sprintf(" No earlier release is fit to go back to automatically, and %s.", PausedBy(f.PausedBy, f.Until, e.At))
		case f.Auto && f.Target != 0:
			s += fmt.Sprintf(" Rolling back to v%d.", f.Target)
		case f.Target != 0 && f.AlertOnly != "":
			s += fmt.Sprintf(" Alert only (%s): to roll back, `heroku rollback v%d -a %s`.", f.AlertOnly, f.Target, e.App)
		case f.Target != 0:
			s += fmt.Sprintf(" Automatic rollback is off: to roll back, `heroku rollback v%d -a %s`.", f.Target, e.App)
		}
		return s
	}),
	row(WatchHealthy, true, func(e Event, f WatchEnd, rel string) string {
		if f.By != "" {
			return fmt.Sprintf("✅ %s approved by %s after %s of its %s watch: the watch ends healthy.", rel, f.By, Span(f.Watched), Span(f.WatchFor))
		}
		return fmt.Sprintf("✅ %s looks healthy after %s: %s.", rel, Span(f.WatchFor), f.Reason)
	}),
	row(WatchInconclusive, true, func(e Event, f WatchEnd, rel string) string {
		return fmt.Sprintf("❔ %s: the watch ended without enough data to judge it: %s.", rel, f.Reason)
	}),
	row(RollbackStarted, false, func(e Event, f RollbackStep, rel string) string {
		if f.ByPerson() {
			return fmt.Sprintf("⏪ Rolling %s back from v%d to v%d, %s.", e.App, e.Release, f.Target, f.asked())
		}
		return fmt.Sprintf("⏪ Rolling %s back from v%d to v%d: %s.", e.App, e.Release, f.Target, f.short())
	}),
	row(RollbackSucceeded, false, func(e Event, f RollbackStep, rel string) string {
		done := fmt.Sprintf("⏪ %s is rolled back to v%d (Heroku release v%d, \"Rollback to v%d\")", e.App, f.Target, f.Rollback, f.Target)
		if f.ByPerson() {
			return fmt.Sprintf("%s; v%d rolled back %s.", done, e.Release, f.asked())
		}
		return fmt.Sprintf("%s; v%d had %s.", done, e.Release, f.short())
	}),
	row(RollbackFailed, false, func(e Event, f RollbackStep, rel string) string {
		s := fmt.Sprintf("❌ Rollback of %s from v%d to v%d failed", e.App, e.Release, f.Target)
		if f.ByPerson() {
			s = fmt.Sprintf("❌ Rollback of %s from v%d to v%d, asked by %s, failed", e.App, e.Release, f.Target, f.By)
		}
		if f.Attempts > 0 {
			s += fmt.Sprintf(" after %d attempt(s)", f.Attempts)
		}
		s += ": " + quote(f.Err) + "."
		if f.NoTarget && f.ByPerson() {
			// Never `heroku rollback v42` for the bad v42 itself, nor for a
			// release that is not there.
			return s + fmt.Sprintf(" v%d was not rolled back: name a release older than v%d that succeeded, or none to go back to the newest earlier one that did.", e.Release, e.Release)
		}
		if f.Round > 0 && f.Round < f.Rounds {
			return s + fmt.Sprintf(" relwatch tries again at the next evidence while v%d is live and bad (round %d of %d failed); to roll back by hand now: `heroku rollback v%d -a %s`.",
				e.Release, f.Round, f.Rounds, f.Target, e.App)
		}
		if f.Round > 0 {
			s += fmt.Sprintf(" That was the last of %d rounds.", f.Rounds)
		}
		return s + fmt.Sprintf(" Roll back by hand: `heroku rollback v%d -a %s`.", f.Target, e.App)
	}),
	row(RollbackSkipped, false, func(e Event, f RollbackStep, rel string) string {
		return fmt.Sprintf("⏭ Not rolling back %s: %s.", rel, f.Reason)
	}),
	row(RollbackJoined, false, func(e Event, f RollbackStep, rel string) string {
		return fmt.Sprintf("⏪ %s asked to roll back %s (to v%d): %s.", f.By, rel, f.Target, quote(f.Reason))
	}),
	row(Paused, false, func(e Event, f Request, rel string) string {
		s := fmt.Sprintf("⏸ %s paused automatic rollback of %s %s", f.By, e.App, Until(f.Until, e.At))
		if f.Reason != "" {
			s += ": " + quote(f.Reason)
		}
		return s + ". Anomalies are still announced."
	}),
	row(Resumed, false, func(e Event, f Request, rel string) string {
		return fmt.Sprintf("▶️ %s resumed automatic rollback of %s.", f.By, e.App)
	}),
	row(PauseEnded, false, func(e Event, f Request, rel string) string {
		s := fmt.Sprintf("▶️ %s's pause of automatic rollback of %s ran out at %s", f.By, e.App, f.Until.UTC().Format("15:04 MST"))
		if f.Reason != "" {
			s += " (" + quote(f.Reason) + ")"
		}
		return s + ": relwatch rolls a bad release back on its own again."
	}),
	row(Approved, false, func(e Event, f Request, rel string) string {
		s := fmt.Sprintf("👍 %s approved %s", f.By, rel)
		if f.Reason != "" {
			s += " (" + quote(f.Reason) + ")"
		}
		if f.Moot {
			return s + ", but its watch is over: nothing changes."
		}
		if f.Unseen {
			return s + fmt.Sprintf(", but relwatch has not seen v%d: if it is made after this approval, the approval is not taken, and its watch goes on.", e.Release)
		}
		return s + "."
	}),
	row(PromotionStarted, false, func(e Event, f Promotion, rel string) string {
		return fmt.Sprintf("🚀 Deploying %s to %s now: %s. relwatch watches the new release.", quote(e.Description), e.App, f.Reason)
	}),
	row(PromotionRefused, false, func(e Event, f Promotion, rel string) string {
		return fmt.Sprintf("🛑 Not deploying %s to %s: %s.", quote(e.Description), e.App, f.Reason)
	}),
	row(Refused, false, func(e Event, f Request, rel string) string {
		return fmt.Sprintf("🚫 Refused a chat command from %s (%s): not in allowed_users.", f.By, quote(f.Reason))
	}),
	row(Blind, true, func(e Event, f Unread, rel string) string {
		return fmt.Sprintf("🙈 relwatch has not read the %s traffic of %s for %s: %s. Until it can, %s is not judged: no anomaly is seen and nothing rolls it back on its own.", f.Route, rel, Span(f.For), quote(f.Err), rel)
	}),
	row(Forbidden, false, func(e Event, f Denied, rel string) string {
		if f.Token != "" {
			return fmt.Sprintf("🚫 Heroku refuses the token in %s: %s. The releases of %s are not watched until %s holds a token Heroku accepts (apps of other tokens are).", f.Token, quote(f.Err), e.App, f.Token)
		}
		return fmt.Sprintf("🚫 Heroku refuses relwatch access to %s: %s. Its releases are not watched until the token may read them (the other apps are).", e.App, quote(f.Err))
	}),
}

// maxQuote bounds, in characters, what an announcement quotes of words
// from outside relwatch (a release description, a person's reason, an
// error's text): none has a bound of its own, and a chat cuts a message
// to its limit (Slack's 3,000 characters a text, Zulip's 10,000), which
// cut relwatch's own words after the quote with it.
const maxQuote = 1000

// quote is s as an announcement quotes it: at most maxQuote characters,
// ending "…" when cut.
func quote(s string) string {
	r := []rune(s)
	if len(r) <= maxQuote {
		return s
	}
	return string(r[:maxQuote-1]) + "…"
}

// origin says where the fault began, when that decides the target: under
// an earlier release than the watched one (release), or with a config
// change.
func (f Anomalous) origin(release int) string {
	switch {
	case f.Origin == 0:
		return ""
	case f.OriginConfig:
		return fmt.Sprintf(" It began with v%d's config change on a build that ran healthy before it, so the build's earlier release is fit to go back to.", f.Origin)
	case f.Origin != release:
		return fmt.Sprintf(" It began under v%d, before v%d went live: no release since, nor one of v%d's build, is gone back to.", f.Origin, release, f.Origin)
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
		return fmt.Sprintf("the %s before", Span(configured))
	}
	s := fmt.Sprintf("%s of traffic from %s to %s", Span(b.Data), b.From.UTC().Format("15:04"), b.To.UTC().Format("15:04 MST"))
	if b.LeftOut > 0 {
		s += fmt.Sprintf(", leaving out %s of incident", Span(b.LeftOut))
	}
	if b.Incident > 0 {
		s += fmt.Sprintf(" — itself an incident (%s errors, past the %s guardrail): the guardrail judges too", Percent(b.Incident), Percent(b.Guardrail))
	}
	return s
}

// PausedBy is the one wording of a pause in force at now: "automatic
// rollback is paused by ana until 15:00 UTC".
func PausedBy(by string, until, now time.Time) string {
	return fmt.Sprintf("automatic rollback is paused by %s %s", by, Until(until, now))
}

// Until says how long a pause lasts, said at now: "until resumed", "until
// 15:00 UTC", or, for an end 12 hours or more after now (the time of day
// alone would read as today's), "until 15:00 UTC on Jul 22".
func Until(t, now time.Time) string {
	if t.IsZero() {
		return "until resumed"
	}
	s := "until " + t.UTC().Format("15:04 MST")
	if t.Sub(now) >= 12*time.Hour {
		s += t.UTC().Format(" on Jan 2")
	}
	return s
}

// Span writes a duration the way people do: "20m", "1h30m", "45s",
// "4m30s": the one rule for it (status says times left so too).
func Span(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
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

// Notify implements Notifier. It refuses what Threads refuses (an event
// whose facts are not its kind's), so tests see the mistake.
func (r *Recorder) Notify(_ context.Context, e Event) error {
	if err := e.Check(); err != nil {
		return err
	}
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
