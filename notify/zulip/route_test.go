package zulip_test

import (
	"strings"
	"testing"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
)

// TestARouteNameCannotLinkOrMention: with all_routes a route is named by
// the paths the app is sent (the router log's templates keep a rare
// segment as it came), so anyone on the internet names it: a request to
// "/[all healthy, no action](evil.example)" is a route. The evidence lines
// quote routes and were posted as Zulip markdown with mentions silenced
// but links live, so a context line showed a masked link relwatch never
// wrote, and a lone backtick opened a code span that ran into the trend
// and the override. Evidence is written as text, as the headline is.
func TestARouteNameCannotLinkOrMention(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	story := notifytest.Story()[:2]
	route := "GET /[all healthy, no action](evil.example)/@**all**/`x"
	f := story[1].Fact.(notify.Anomalous)
	f.Findings = append(append([]analysis.Finding(nil), f.Findings...), analysis.Finding{Signal: analysis.RetriesStopped, Status: analysis.Anomalous,
		Route: route, Current: 10, Baseline: 10, TotalCurrent: 20, TotalBaseline: 40})
	story[1].Fact = f
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{Render: notify.RenderOptions{WorkerApp: "w"}})
	seen := false
	for _, c := range z.Calls() {
		content := c.Form.Get("content")
		if !strings.Contains(content, "all healthy, no action") {
			continue
		}
		seen = true
		for _, live := range []string{"](", "@**all**", " `x"} {
			if strings.Contains(content, live) {
				t.Errorf("%s %s content lets a route name act as markdown (%q): %q", c.Method, c.Path, live, content)
			}
		}
	}
	if !seen {
		t.Fatalf("no message quotes the route: %+v", z.Calls())
	}
}
