// Package control is relwatch's control plane: the overrides people give
// (pause, resume, approve, a person's rollback) and who may give them. The
// command line and Slack use it alike: they parse, control checks and
// writes the state store, and the worker carries the request out at its
// next tick. It knows no chat: a chat only carries its messages.
package control

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relwatch/relwatch/store"
)

// The verbs.
const (
	Pause    = "pause"
	Resume   = "resume"
	Approve  = "approve"
	Rollback = "rollback"
	Help     = "help"
)

// Command is one override.
type Command struct {
	Verb string // Pause, Resume, Approve, Rollback, Help
	App  string
	For  time.Duration // pause: how long (0: until resumed)
	// Release is, for approve, the release approved; for rollback, the
	// release to go back to (0: the newest earlier fit one).
	Release int
	// Of is the release a rollback is for (a chat button's): rolled back
	// only while it is still the current one. 0: whatever is current.
	Of     int
	Reason string
}

// Usage is the chat syntax Parse reads.
const Usage = "Usage: `/relwatch pause APP [30m|2h|1d, at most 7d] [because REASON]` · `/relwatch resume APP` · " +
	"`/relwatch approve APP vN` · `/relwatch rollback APP [vN] [because REASON]`"

// maxPause bounds a pause given in chat.
const maxPause = 7 * 24 * time.Hour

// Parse reads a command as people type it in chat:
//
//	pause crates-io 30m because migration
//	resume crates-io
//	approve crates-io v42
//	rollback crates-io v41 because downloads are broken
func Parse(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{}, errors.New("no command given")
	}
	c := Command{Verb: strings.ToLower(words[0])}
	switch c.Verb {
	case Help:
		return c, nil
	case Pause, Resume, Approve, Rollback:
	default:
		// Said before "which app?": "/relwatch status" must not ask for an
		// app only to refuse the command once it has one.
		return Command{}, fmt.Errorf("unknown command %q", c.Verb)
	}
	if len(words) < 2 {
		return Command{}, fmt.Errorf("%s: which app?", c.Verb)
	}
	// Heroku app names are lowercase only: Crates-IO can only be crates-io.
	c.App = strings.ToLower(words[1])
	rest := words[2:]
	// A reason is everything after "because" or "reason:".
	for i, w := range rest {
		if lw := strings.ToLower(w); lw == "because" || lw == "reason:" {
			c.Reason = strings.Join(rest[i+1:], " ")
			rest = rest[:i]
			break
		}
	}
	// "pause crates-io for 30m", "rollback crates-io to v41", and the
	// command line's --for and --to, say what the bare word says.
	if len(rest) == 2 {
		switch w := strings.ToLower(rest[0]); {
		case c.Verb == Pause && (w == "for" || w == "--for"),
			c.Verb == Rollback && (w == "to" || w == "--to"):
			rest = rest[1:]
		}
	}
	var err error
	switch c.Verb {
	case Pause:
		if len(rest) > 1 {
			return Command{}, fmt.Errorf("pause: unexpected %q (say the reason after \"because\")", strings.Join(rest[1:], " "))
		}
		if len(rest) == 1 {
			if c.For, err = pauseLength(rest[0]); err != nil {
				return Command{}, fmt.Errorf("pause: %w", err)
			}
		}
	case Resume:
		if len(rest) > 0 {
			return Command{}, fmt.Errorf("resume: unexpected %q", strings.Join(rest, " "))
		}
	case Approve:
		if len(rest) != 1 {
			return Command{}, errors.New("approve: which release? like: approve crates-io v42")
		}
		if c.Release, err = ParseRelease(rest[0]); err != nil {
			return Command{}, fmt.Errorf("approve: %w", err)
		}
	case Rollback:
		if len(rest) > 1 {
			return Command{}, fmt.Errorf("rollback: unexpected %q", strings.Join(rest[1:], " "))
		}
		if len(rest) == 1 {
			if c.Release, err = ParseRelease(rest[0]); err != nil {
				return Command{}, fmt.Errorf("rollback: %w", err)
			}
		}
	default:
		return Command{}, fmt.Errorf("unknown command %q", c.Verb)
	}
	return c, nil
}

// pauseLength reads a pause's length as people type it in chat
// (ParseLength), at most maxPause. Its refusal says which of the two is
// wrong: the word, or the length.
func pauseLength(word string) (time.Duration, error) {
	d, err := ParseLength(word)
	switch {
	case errors.Is(err, errTooLong) || err == nil && d > maxPause:
		return 0, fmt.Errorf("%s is longer than the 7-day limit of a pause from chat (at most 7d, or 168h)", word)
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration: say one like 30m, 2h, 1h30m or 1d (at most 7d)", word)
	case d <= 0:
		return 0, fmt.Errorf("%s is no time: say how long, like 30m, 2h or 1d (at most 7d)", word)
	}
	return d, nil
}

// errTooLong: more days than a duration holds (about 292 years).
var errTooLong = errors.New("more days than a duration holds")

// ParseLength reads a length of time as people type it: Go's durations
// (30m, 2h, 1h30m, -5m) or whole days, alone or before one (1d, 7d,
// 1d12h). The command line's pause --for reads it too, unbounded.
func ParseLength(word string) (time.Duration, error) {
	s := strings.ToLower(word)
	days, hours, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(days)
	switch {
	case err != nil || n < 0 || strings.HasPrefix(days, "+"):
		return 0, fmt.Errorf("%q: not a number of days", word)
	case int64(n) > int64(math.MaxInt64/day)-1:
		return 0, fmt.Errorf("%q: %w", word, errTooLong)
	case strings.HasPrefix(hours, "-") || strings.HasPrefix(hours, "+"):
		return 0, fmt.Errorf("%q: a sign after the days", word)
	}
	d := time.Duration(n) * day
	if hours != "" {
		rest, err := time.ParseDuration(hours)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", word, err)
		}
		if rest > math.MaxInt64-d {
			return 0, fmt.Errorf("%q: %w", word, errTooLong)
		}
		d += rest
	}
	return d, nil
}

const day = 24 * time.Hour

// ParseRelease reads a release as people write it: v42, or 42.
func ParseRelease(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a release like v42", s)
	}
	return v, nil
}

// Store is what the control plane writes: *store.DB.
type Store interface {
	SetPause(ctx context.Context, p store.Pause) error
	Resume(ctx context.Context, app, by string) (bool, error)
	Approve(ctx context.Context, app string, release int, by, reason string) error
	RequestRollback(ctx context.Context, app string, to int, by, reason string) (int64, error)
	RequestRollbackOf(ctx context.Context, app string, release int, by, reason string) (int64, error)
}

// PauseReader reads the pause in force (*store.DB does): a Store that
// has it lets a pause say whose it replaces.
type PauseReader interface {
	PauseOf(ctx context.Context, app string) (store.Pause, bool, error)
}

// JournalReader reads the rollback journal (*store.DB does): a Store that
// has it lets a pause say that a rollback is under way already.
type JournalReader interface {
	Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error)
}

// Actor is who gives a command.
type Actor struct {
	Name string // as announcements show it: "ana" (the CLI), "@ana" (Slack)
	// Chat is true for a command from chat, which ChatUser, the chat's
	// user ID, must be allowed to give; false for a person at the command
	// line, whose access to the worker's dyno (heroku run) is their
	// permission.
	Chat     bool
	ChatUser string
}

// Plane checks and carries out commands.
type Plane struct {
	Store Store
	// Apps are the apps relwatch watches; a command for any other is
	// refused (a typo must not pause nothing, silently).
	Apps []string
	// ChatUsers may give commands from chat; anyone else in chat is
	// refused.
	ChatUsers []string
	Now       func() time.Time // default time.Now
}

// Outcome is what a command did.
type Outcome struct {
	Command
	By      string
	At      time.Time // when it was given (the plane's clock)
	Until   time.Time // pause: its end (zero: until resumed)
	Existed bool      // resume: there was a pause to end
	// Replaced is, for a pause, another person's pause in force that it
	// took the place of (nil: none): its end is the new one's now.
	Replaced *store.Pause
	// UnderWay is, for a pause, relwatch's own rollback of the app begun
	// and not finished when it was given (nil: none): one Heroku has is
	// not stopped by the pause.
	UnderWay *store.JournalEntry
	Request  int64 // rollback: the request the worker carries out
}

// NotAllowedError is a command from a chat user not allowed to give it.
type NotAllowedError struct {
	Actor   Actor
	Command Command
}

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("%s may not %s %s: not among the allowed chat users", e.Actor.Name, e.Command.Verb, e.Command.App)
}

// UnknownAppError is a command for an app relwatch does not watch.
type UnknownAppError struct {
	App        string
	Configured []string
}

func (e *UnknownAppError) Error() string {
	if len(e.Configured) == 0 {
		return fmt.Sprintf("relwatch watches no app, not %q", e.App)
	}
	if len(e.Configured) <= maxNamedApps {
		return fmt.Sprintf("relwatch does not watch %q; it watches %s", e.App, strings.Join(e.Configured, ", "))
	}
	// A thousand names would not fit in a chat answer: the nearest say
	// what was meant.
	return fmt.Sprintf("relwatch does not watch %q; of the %d apps it watches, the nearest are %s, and %d more",
		e.App, len(e.Configured), strings.Join(nearestApps(e.App, e.Configured, maxNamedApps), ", "), len(e.Configured)-maxNamedApps)
}

// maxNamedApps bounds the configured apps an UnknownAppError names.
const maxNamedApps = 5

// nearestApps returns the n names of apps nearest to typed: fewest edits
// first, then the longest shared prefix, then as configured.
func nearestApps(typed string, apps []string, n int) []string {
	// Heroku names are at most 30 characters: a longer word is no nearer
	// for its tail, and a chat word of thousands must cost no more.
	word := []rune(typed)
	if len(word) > 64 {
		word = word[:64]
	}
	type scored struct {
		name           string
		edits, sharing int
	}
	all := make([]scored, len(apps))
	for i, app := range apps {
		all[i] = scored{app, editDistance(word, []rune(app)), sharedPrefix(word, []rune(app))}
	}
	slices.SortStableFunc(all, func(a, b scored) int {
		if a.edits != b.edits {
			return a.edits - b.edits
		}
		return b.sharing - a.sharing
	})
	out := make([]string, 0, n)
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.name)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b: the fewest
// insertions, deletions and substitutions that turn one into the other.
func editDistance(a, b []rune) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range a {
		cur[0] = i + 1
		for j := range b {
			cost := 1
			if a[i] == b[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j+1]+1, cur[j]+1, prev[j]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sharedPrefix(a, b []rune) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Words is c as a person would type it again ("pause crates-io",
// "approve crates-io v42").
func (c Command) Words() string {
	if c.Verb == Approve {
		return fmt.Sprintf("%s %s v%d", c.Verb, c.App, c.Release)
	}
	return c.Verb + " " + c.App
}

// UnconfirmedError is a command whose store write did not answer within
// Within: it may or may not have been done (a PostgreSQL commit can land
// as the deadline strikes), and the person is told how to find out.
type UnconfirmedError struct {
	Command Command
	Within  time.Duration
	Err     error // the store's
}

func (e *UnconfirmedError) Error() string {
	return fmt.Sprintf("the state store did not answer within %s, so `%s` may not have been done (or it may have been: a write under way can still land). "+
		"Check with `relwatch status %s`, and try again if it is not there", e.Within, e.Command.Words(), e.Command.App)
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// errStoreSlow is why DoWithin gave a write up.
var errStoreSlow = errors.New("the state store did not answer in time")

// DoWithin is Do, given up after within: a person waiting for the answer
// (Slack's 3 s, a terminal) is told, with an *UnconfirmedError, rather than
// left waiting on a store that does not answer.
func (p *Plane) DoWithin(ctx context.Context, a Actor, c Command, within time.Duration) (Outcome, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, within, errStoreSlow)
	defer cancel()
	o, err := p.Do(ctx, a, c)
	if err != nil && context.Cause(ctx) == errStoreSlow {
		return o, &UnconfirmedError{Command: c, Within: within, Err: err}
	}
	return o, err
}

// Do checks that a may give c and that c's app is watched, and writes it
// for the worker, which carries it out within a tick and announces it.
func (p *Plane) Do(ctx context.Context, a Actor, c Command) (Outcome, error) {
	if a.Chat && (a.ChatUser == "" || !slices.Contains(p.ChatUsers, a.ChatUser)) {
		return Outcome{}, &NotAllowedError{Actor: a, Command: c}
	}
	if !slices.Contains(p.Apps, c.App) {
		return Outcome{}, &UnknownAppError{App: c.App, Configured: p.Apps}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	o := Outcome{Command: c, By: a.Name, At: now()}
	var err error
	switch c.Verb {
	case Pause:
		if c.For < 0 {
			return Outcome{}, fmt.Errorf("pause %s: %s is negative", c.App, c.For)
		}
		if c.For > 0 {
			o.Until = o.At.Add(c.For)
		}
		if r, ok := p.Store.(PauseReader); ok {
			// A pause replaces the one in force: its person is told whose
			// it ends (ana's pause until resumed, cut to ben's 30m).
			var was store.Pause
			var in bool
			if was, in, err = r.PauseOf(ctx, c.App); err != nil {
				return Outcome{}, fmt.Errorf("%s %s: %w", c.Verb, c.App, err)
			}
			if in && was.By != a.Name {
				o.Replaced = &was
			}
		}
		if r, ok := p.Store.(JournalReader); ok {
			// Too late for the rollback already sent: say so, rather than
			// let "paused" read as though it stopped it.
			open, err := r.Journal(ctx, c.App, true, 1)
			if err != nil {
				return Outcome{}, fmt.Errorf("%s %s: %w", c.Verb, c.App, err)
			}
			if len(open) == 1 && open[0].By == store.Automatic {
				o.UnderWay = &open[0]
			}
		}
		err = p.Store.SetPause(ctx, store.Pause{App: c.App, By: a.Name, Reason: c.Reason, Until: o.Until})
	case Resume:
		o.Existed, err = p.Store.Resume(ctx, c.App, a.Name)
	case Approve:
		if c.Release <= 0 {
			return Outcome{}, fmt.Errorf("approve %s: which release?", c.App)
		}
		err = p.Store.Approve(ctx, c.App, c.Release, a.Name, c.Reason)
	case Rollback:
		if c.Of != 0 {
			o.Request, err = p.Store.RequestRollbackOf(ctx, c.App, c.Of, a.Name, c.Reason)
		} else {
			o.Request, err = p.Store.RequestRollback(ctx, c.App, c.Release, a.Name, c.Reason)
		}
	default:
		return Outcome{}, fmt.Errorf("unknown command %q", c.Verb)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %s: %w", c.Verb, c.App, err)
	}
	return o, nil
}
