package slack

import "testing"

// A Slack user is named by their user name, as plain text: a <@U…>
// mention was escaped to literal text in Slack and meant nothing in Zulip.
func TestActorName(t *testing.T) {
	for _, c := range []struct{ id, name, want string }{
		{"U0123ANA", "ana", "@ana"},
		{"U0123ANA", "", "Slack user U0123ANA"},
	} {
		if got := actorName(c.id, c.name); got != c.want {
			t.Errorf("actorName(%q, %q) = %q, want %q", c.id, c.name, got, c.want)
		}
	}
}
