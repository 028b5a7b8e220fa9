package notify_test

import (
	"strings"
	"testing"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// TestPeoplesTextCannotReorderTheSentence: a release description (or a
// reason, or a route named by the paths the app is sent) may hold
// Unicode's bidirectional controls. A right-to-left override (U+202E)
// or isolate (U+2067) shows everything after it, up to the end of the
// line, backwards: relwatch's own words after the quote ("— watching
// download for 20m", "Rolling back to v41") read reversed in the channel,
// or a description can make them read as something else. The chats get
// the text without those controls.
func TestPeoplesTextCannotReorderTheSentence(t *testing.T) {
	controls := "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
	story := notifytest.Story()[:2]
	story[0].Description = "Deploy 1a2b3c \u202eyhtlaeh\u202c and \u2067v41\u2069"
	f := story[1].Fact.(notify.Anomalous)
	f.Findings = append(append([]analysis.Finding(nil), f.Findings...), analysis.Finding{Signal: analysis.RetriesStopped, Status: analysis.Anomalous,
		Route: "GET /\u202edaolnwod", Current: 10, Baseline: 10, TotalCurrent: 20, TotalBaseline: 40})
	story[1].Fact = f
	for _, e := range story {
		m := notify.Render(e, notify.RenderOptions{})
		for _, s := range append([]string{m.Headline}, m.Evidence...) {
			if strings.ContainsAny(s, controls) {
				t.Errorf("%s: %q carries a bidirectional control", e.Kind, s)
			}
		}
	}
	for name, newRig := range map[string]func(*testing.T) chatRig{"slack": slackRig, "zulip": zulipRig} {
		t.Run(name, func(t *testing.T) {
			rig := newRig(t)
			notifytest.Deliver(t, rig.chat, story, notify.ThreadOptions{})
			said := rig.said()
			if len(said) == 0 {
				t.Fatal("nothing said")
			}
			for _, s := range said {
				if strings.ContainsAny(s, controls) || strings.Contains(s, `\u202e`) || strings.Contains(s, `\u2067`) {
					t.Errorf("the chat holds a bidirectional control: %q", s)
				}
			}
		})
	}
}
