package notifytest

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
)

// Story is a release's events as the watcher sends them for the crates.io
// incident: watch.started, anomaly, rollback.started, rollback.succeeded.
func Story() []notify.Event {
	fired := analysis.Finding{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.151, Current: 0.786,
		BaselineSample: 2163865, CurrentSample: 146388, Z: 193.6, ZThreshold: 4, MinIncrease: 0.1, MinRatio: 1.5, Mode: analysis.Relative}
	base := notify.Event{App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118", Target: 41, Rollback: 43,
		WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Route: "download", Auto: true,
		Reason: "repeat share 78.6% over the last 30s", Summary: "repeat share 78.6% (was 15.1%)"}
	var out []notify.Event
	for _, k := range []notify.Kind{notify.WatchStarted, notify.Anomaly, notify.RollbackStarted, notify.RollbackSucceeded} {
		e := base
		e.Kind = k
		if k != notify.WatchStarted {
			e.Findings = []analysis.Finding{fired}
			e.Trend = &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{1200, 1190, 4800, 4900}, ErrorShare: []float64{0, 0, 0, 0}, Release: 2}
		}
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
		if events[i].Trend != nil {
			events[i].Trend = t
			events[i].Findings[0].From = live.Add(2 * time.Minute)
		}
	}
	return events
}
