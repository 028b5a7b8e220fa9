package notify_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// Every announcement the README quotes is what notify renders for that
// kind today: each case renders an event with the README's example's
// values, and the words quoted must be in the rendered text and, as they
// are, in the README (a line break there is a space).
func TestReadmeQuotesTheAnnouncementsAsRendered(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ")
	at := time.Date(2026, 11, 1, 12, 30, 45, 0, time.UTC)
	ev := func(kind notify.Kind, fact notify.Fact) string {
		return notify.Event{Header: notify.Header{Kind: kind, App: "crates-io", Release: 42, At: at}, Fact: fact}.Text()
	}
	fifteen := time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, rendered, quoted string }{
		{"watch.blind", ev(notify.Blind, notify.Unread{Route: "download", For: time.Minute, Err: "connection refused"}),
			"🙈 relwatch has not read the download traffic of crates-io v42 for 1m: "},
		{"watch.blind", ev(notify.Blind, notify.Unread{Route: "download", For: time.Minute, Err: "connection refused"}),
			"Until it can, crates-io v42 is not judged"},
		{"override.ended", ev(notify.PauseEnded, notify.Request{By: "ana", Reason: "migration", Until: time.Date(2026, 11, 1, 3, 50, 0, 0, time.UTC)}),
			"▶️ ana's pause of automatic rollback of crates-io ran out at 03:50 UTC (migration): relwatch rolls a bad release back on its own again"},
		{"watch.healthy, approved", ev(notify.WatchHealthy, notify.WatchEnd{By: "ana", Watched: 10 * time.Second, WatchFor: 20 * time.Minute}),
			"approved by ana after 10s of its 20m watch"},
		{"override.paused", ev(notify.Paused, notify.Request{By: "ana", Until: fifteen}), "until 15:00 UTC"},
		{"rollback.started, a person's", ev(notify.RollbackStarted, notify.RollbackStep{Seen: notify.Seen{Reason: "downloads broken"}, By: "ana", Target: 41}),
			"as ana asked: downloads broken"},
		{"anomaly, paused", ev(notify.Anomaly, notify.Anomalous{Seen: notify.Seen{Summary: "repeat share 78.7% (was 15.0%)"}, Auto: true, Target: 41, PausedBy: "ana", Until: fifteen}),
			"Would roll back to v41, but automatic rollback is paused by ana until 15:00 UTC"},
		{"rollback.started", ev(notify.RollbackStarted, notify.RollbackStep{Seen: notify.Seen{Summary: "repeat share 78.7% (was 15.0%)"}, By: store.Automatic, Auto: true, Target: 41}),
			"⏪ Rolling crates-io back from v42 to v41"},
		// The reason is the watcher's (watcher/rollback.go), the rest notify's.
		{"rollback.joined", ev(notify.RollbackJoined, notify.RollbackStep{Seen: notify.Seen{Reason: "already rolling back v42 since 12:30:45 UTC; the outcome follows here"}, By: "ana", Target: 41}),
			"ana asked to roll back crates-io v42 (to v41): already rolling back v42 since 12:30:45 UTC; the outcome follows here"},
		// The error is the roller's, as rollback's tests pin it.
		{"rollback.failed", ev(notify.RollbackFailed, notify.RollbackStep{By: store.Automatic, Auto: true, Target: 41, Attempts: 7,
			Err: "roll back crates-io v42: gave up after 7 attempt(s), 0 rollback request(s) sent: context deadline exceeded", Round: 1, Rounds: 3}),
			"failed after 7 attempt(s): roll back crates-io v42: gave up after 7 attempt(s), 0 rollback request(s) sent"},
		{"statuses", notify.Status(notify.Event{Header: notify.Header{Kind: notify.WatchHealthy}}), "✅ healthy"},
		{"statuses", notify.Status(notify.Event{Header: notify.Header{Kind: notify.RollbackSucceeded}, Fact: notify.RollbackStep{Target: 41}}), "⏪ rolled back to v41"},
		{"statuses", notify.Status(notify.Event{Header: notify.Header{Kind: notify.RollbackFailed}, Fact: notify.RollbackStep{Target: 41}}), "❌ rollback failed"},
		{"replaced", notify.ReplacedStatus(44), "↪ replaced by v44"},
		{"repeated", notify.RepeatedNote, "(repeated after restart)"},
		{"resent", notify.ResentNote, "(sent again: the chat's answer to it was lost)"},
		{"latency", notify.Short(analysis.Finding{Signal: analysis.LatencyP95, Mode: analysis.Relative, Baseline: 0.31, Current: 2.4}),
			"p95 latency 2.4 s (was 310 ms)"},
		{"error share on a route", notify.Short(analysis.Finding{Signal: analysis.ErrorShare, Mode: analysis.Relative, Baseline: 0.001, Current: 0.8, Route: "POST /login"}),
			"error share 80.0% (was 0.1%) on POST /login"},
		{"retries stopped", notify.Short(analysis.Finding{Signal: analysis.RetriesStopped, Mode: analysis.Relative}),
			"retries stopped: first attempts unchanged"},
	} {
		if !strings.Contains(c.rendered, c.quoted) {
			t.Errorf("%s renders %q, without %q", c.name, c.rendered, c.quoted)
		}
		if !strings.Contains(readme, c.quoted) {
			t.Errorf("%s: README does not quote %q (rendered: %q)", c.name, c.quoted, c.rendered)
		}
	}
}
