package notify

import (
	"errors"
	"fmt"

	"github.com/relwatch/relwatch/control"
)

// OverrideText answers a person's command, at the command line and in chat
// alike: in the words the release's thread will show once the worker has
// carried it out, and what happens next.
func OverrideText(o control.Outcome) string {
	const next = " relwatch carries it out within one tick and announces it."
	switch o.Verb {
	case control.Pause:
		s := Event{Header: Header{Kind: Paused, App: o.App, At: o.At}, Fact: Request{By: o.By, Until: o.Until, Reason: o.Reason}}.Text()
		if r := o.Replaced; r != nil {
			s += fmt.Sprintf(" This replaces %s's pause %s", r.By, Until(r.Until, o.At))
			if r.Reason != "" {
				s += " (" + quote(r.Reason) + ")"
			}
			s += "."
		}
		if u := o.UnderWay; u != nil {
			s += fmt.Sprintf(" relwatch began rolling %s back from v%d to v%d at %s: a rollback Heroku has already is not stopped by a pause; the pause holds back the next.",
				o.App, u.Bad, u.Target, u.Started.UTC().Format("15:04:05 MST"))
		}
		return s
	case control.Resume:
		if !o.Existed {
			return fmt.Sprintf("%s was not paused: nothing to resume.", o.App)
		}
		return Event{Header: Header{Kind: Resumed, App: o.App}, Fact: Request{By: o.By}}.Text()
	case control.Approve:
		// The control plane does not know the releases: what the approval
		// does is the worker's to say (the release under watch ends
		// healthy; one made after the approval is not approved by it).
		return fmt.Sprintf("👍 %s approved %s v%d: if v%d is the release under watch, its watch ends healthy (an approval given before v%d was made is not taken).", o.By, o.App, o.Release, o.Release, o.Release) + next
	case control.Rollback:
		s := fmt.Sprintf("⏪ %s asked to roll %s back", o.By, o.App)
		switch {
		case o.Of != 0:
			s += fmt.Sprintf(" from v%d (only while v%d is still the current release)", o.Of, o.Of)
		case o.Release != 0:
			s += fmt.Sprintf(" to v%d", o.Release)
		}
		if o.Reason != "" {
			s += ": " + quote(o.Reason)
		}
		return s + "." + next + fmt.Sprintf(" (request %d)", o.Request)
	}
	return fmt.Sprintf("%s %s by %s.", o.Verb, o.App, o.By)
}

// RefusalText answers a command the control plane refused.
func RefusalText(err error) string {
	var na *control.NotAllowedError
	if errors.As(err, &na) {
		return fmt.Sprintf("Sorry %s, you may not %s apps with relwatch: ask to be added to allowed_users in config.toml.", na.Actor.Name, na.Command.Verb)
	}
	return "relwatch: " + err.Error() + "."
}
