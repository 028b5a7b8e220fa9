package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/console"
)

func TestTextsReadLikeAnnouncements(t *testing.T) {
	h := notify.Header{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118"}
	seen := notify.Seen{Reason: "repeat share 78.6% over the last 30s", Summary: "repeat share 78.6% (was 15.1%)", Route: "download"}
	step := notify.RollbackStep{Seen: seen, Auto: true, Target: 41, Rollback: 43, Attempts: 3, Err: "503 unavailable"}
	facts := map[notify.Kind]notify.Fact{
		notify.WatchStarted:      notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true},
		notify.Anomaly:           notify.Anomalous{Seen: seen, Auto: true, Target: 41},
		notify.RollbackStarted:   step,
		notify.RollbackSucceeded: step,
		notify.RollbackFailed:    step,
		notify.RollbackSkipped:   step,
		notify.WatchHealthy:      notify.WatchEnd{Seen: seen, WatchFor: 20 * time.Minute},
	}
	tests := map[notify.Kind][]string{
		notify.WatchStarted:      {"crates-io v42 is live (Promote crates-io-staging v118)", "watching download for 20m against the 30m before"},
		notify.Anomaly:           {"crates-io v42 looks bad", "repeat share 78.6% (was 15.1%)", "Rolling back to v41"},
		notify.RollbackStarted:   {"Rolling crates-io back from v42 to v41", "78.6% (was 15.1%)"},
		notify.RollbackSucceeded: {"rolled back to v41", "v43", "v42 had repeat share 78.6% (was 15.1%)"},
		notify.RollbackFailed:    {"failed after 3 attempt(s): 503 unavailable", "heroku rollback v41 -a crates-io"},
		notify.RollbackSkipped:   {"Not rolling back crates-io v42"},
		notify.WatchHealthy:      {"crates-io v42 looks healthy after 20m"},
	}
	for kind, wants := range tests {
		e := notify.Event{Header: h, Fact: facts[kind]}
		e.Kind = kind
		for _, w := range wants {
			if !strings.Contains(e.Text(), w) {
				t.Errorf("%s: %q lacks %q", kind, e.Text(), w)
			}
		}
	}
	alertOnly := notify.Event{Header: h, Fact: notify.Anomalous{Seen: seen, Target: 41}}
	alertOnly.Kind = notify.Anomaly
	if !strings.Contains(alertOnly.Text(), "Automatic rollback is off") {
		t.Errorf("alert-only anomaly: %q", alertOnly.Text())
	}
}

type failing struct{}

func (failing) Notify(context.Context, notify.Event) error { return errors.New("chat down") }

func TestMultiDeliversToAllAndJoinsErrors(t *testing.T) {
	var buf bytes.Buffer
	rec := &notify.Recorder{}
	m := notify.Multi{failing{}, console.New(&buf), rec}
	err := m.Notify(context.Background(), notify.Event{Header: notify.Header{Kind: notify.WatchHealthy, App: "a", Release: 1, At: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}})
	if err == nil || !strings.Contains(err.Error(), "chat down") {
		t.Fatalf("err = %v", err)
	}
	if len(rec.Events()) != 1 || !strings.HasPrefix(buf.String(), "10:00:00  [watch.healthy]") {
		t.Fatalf("recorder %d events, console %q", len(rec.Events()), buf.String())
	}
}
