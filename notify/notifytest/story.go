package notifytest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// Story is a release's events as the watcher sends them for the crates.io
// incident: watch.started, anomaly, rollback.started, rollback.succeeded.
func Story() []notify.Event {
	fired := analysis.Finding{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.151, Current: 0.786,
		BaselineSample: 2163865, CurrentSample: 146388, Z: 193.6, ZThreshold: 4, MinIncrease: 0.1, MinRatio: 1.5, Mode: analysis.Relative}
	h := notify.Header{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118"}
	seen := notify.Seen{Reason: "repeat share 78.6% over the last 30s", Summary: "repeat share 78.6% (was 15.1%)", Route: "download",
		Findings: []analysis.Finding{fired},
		Trend:    &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{1200, 1190, 4800, 4900}, ErrorShare: []float64{0, 0, 0, 0}, Release: 2}}
	step := notify.RollbackStep{Seen: seen, By: store.Automatic, Auto: true, Target: 41, Rollback: 43}
	facts := []struct {
		kind notify.Kind
		fact notify.Fact
	}{
		{notify.WatchStarted, notify.WatchStart{WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true}},
		{notify.Anomaly, notify.Anomalous{Seen: seen, Auto: true, Target: 41}},
		{notify.RollbackStarted, step},
		{notify.RollbackSucceeded, step},
	}
	var out []notify.Event
	for _, f := range facts {
		e := notify.Event{Header: h, Fact: f.fact}
		e.Kind = f.kind
		out = append(out, e)
	}
	return out
}

// FastRetries retries every 10 ms, for tests.
func FastRetries() retry.Backoff { return retry.NewConstant(10 * time.Millisecond) }

// Deliver sends events to chat through a notify.Threads and waits until
// they are delivered.
func Deliver(t testing.TB, chat notify.Chat, events []notify.Event, opts notify.ThreadOptions) {
	t.Helper()
	if opts.Backoff == nil {
		opts.Backoff = FastRetries
	}
	if opts.GiveUp == 0 {
		opts.GiveUp = 5 * time.Second
	}
	th := notify.NewThreads(context.Background(), chat, opts)
	for _, e := range events {
		if err := th.Notify(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Pictured is Story with a trend worth drawing on each verdict: 20
// baseline buckets of repeat share alternating 10% and 20%, then 78% from
// 2 min after live; the rollback at 4 min.
func Pictured() []notify.Event {
	live := time.Date(2023, 7, 20, 14, 0, 0, 0, time.UTC)
	t := &notify.Trend{Bucket: 30 * time.Second, Release: 20, LiveAt: live}
	for i := range 30 {
		share := 0.10 + 0.10*float64(i%2)
		if i >= 24 {
			share = 0.78
		}
		t.Rate, t.ErrorShare, t.RepeatShare = append(t.Rate, 1200), append(t.ErrorShare, 0), append(t.RepeatShare, share)
	}
	events := Story()
	for i := range events {
		events[i].At = live.Add(4 * time.Minute)
		switch f := events[i].Fact.(type) {
		case notify.Anomalous:
			f.Seen = pictured(f.Seen, t, live)
			events[i].Fact = f
		case notify.RollbackStep:
			f.Seen = pictured(f.Seen, t, live)
			events[i].Fact = f
		}
	}
	return events
}

// pictured is s with trend t, its finding begun 2 min after live.
func pictured(s notify.Seen, t *notify.Trend, live time.Time) notify.Seen {
	s.Trend = t
	s.Findings = slices.Clone(s.Findings)
	s.Findings[0].From = live.Add(2 * time.Minute)
	return s
}
