package telemetry_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/telemetry"
)

// counter reads one series of a counter family from the registry; 0 when
// the series does not exist.
func counter(t *testing.T, tel *telemetry.Telemetry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// fastThreads delivers to a slacktest chat with quick retries, counted by
// tel.
func fastThreads(t *testing.T, srv *notifytest.Slack, tel *telemetry.Telemetry, opts notify.ThreadOptions) *notify.Threads {
	t.Helper()
	chat := slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()})
	tel.Chat(chat.Name())
	opts.Observer = tel
	opts.Backoff = func() retry.Backoff { return retry.NewConstant(time.Millisecond) }
	if opts.GiveUp == 0 {
		opts.GiveUp = 10 * time.Second
	}
	return notify.NewThreads(t.Context(), chat, opts)
}

func watchStarted(app string, v int) notify.Event {
	return notify.Event{Header: notify.Header{Kind: notify.WatchStarted, At: time.Now(), App: app, Release: v, Description: "Deploy abc"},
		Fact: notify.WatchStart{Route: "download", WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute}}
}

// closeAll waits until every announcement is delivered or given up.
func closeAll(t *testing.T, th *notify.Threads) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Slack answers 500 twice, then takes the message: two failed tries, one
// announcement. Then it rejects the next for good (channel_not_found):
// one failed try, one given up. Then it says slow down, once.
func TestAnnouncementCountersFollowTheChat(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	var posts atomic.Int32
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/chat.postMessage" {
			return false
		}
		switch n := posts.Add(1); n {
		case 1, 2:
			http.Error(w, "upstream broke", http.StatusInternalServerError)
			return true
		case 4:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`))
			return true
		case 5:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	tel := telemetry.New(telemetry.Options{})
	th := fastThreads(t, srv, tel, notify.ThreadOptions{})
	for _, e := range []notify.Event{watchStarted("crates-io", 42), watchStarted("docs-rs", 7), watchStarted("play", 3)} {
		if err := th.Notify(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	closeAll(t, th)

	chat := map[string]string{"chat": "slack"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"relwatch_announcements_total", chat, 2}, // crates-io after two 500s; play after one 429
		{"relwatch_announcements_failed_total", map[string]string{"chat": "slack", "reason": "error"}, 2},
		{"relwatch_announcements_failed_total", map[string]string{"chat": "slack", "reason": "rejected"}, 1},
		{"relwatch_announcements_failed_total", map[string]string{"chat": "slack", "reason": "rate_limited"}, 1},
		{"relwatch_announcements_given_up_total", map[string]string{"chat": "slack", "reason": "rejected"}, 1},
		{"relwatch_announcements_given_up_total", map[string]string{"chat": "slack", "reason": "retries_exhausted"}, 0},
	} {
		if got := counter(t, tel, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("Slack holds %d messages, want 2", n)
	}
}

// A chat that never answers well: the announcement is given up when its
// time (GiveUp) runs out, and one that comes after Close is given up at
// once.
func TestAnnouncementGivenUpWhenTriesRunOut(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	})
	tel := telemetry.New(telemetry.Options{})
	th := fastThreads(t, srv, tel, notify.ThreadOptions{GiveUp: 200 * time.Millisecond})
	if err := th.Notify(t.Context(), watchStarted("crates-io", 42)); err != nil {
		t.Fatal(err)
	}
	closeAll(t, th)
	if err := th.Notify(t.Context(), watchStarted("crates-io", 43)); err == nil {
		t.Fatal("Notify after Close took the event")
	}
	if got := counter(t, tel, "relwatch_announcements_given_up_total", map[string]string{"reason": "retries_exhausted"}); got != 1 {
		t.Errorf("given up, retries exhausted: %v, want 1", got)
	}
	if got := counter(t, tel, "relwatch_announcements_given_up_total", map[string]string{"reason": "closed"}); got != 1 {
		t.Errorf("given up, closed: %v, want 1", got)
	}
	if got := counter(t, tel, "relwatch_announcements_failed_total", map[string]string{"reason": "error"}); got < 1 {
		t.Errorf("failed tries: %v, want at least 1", got)
	}
	if got := counter(t, tel, "relwatch_announcements_total", nil); got != 0 {
		t.Errorf("announced: %v, want 0", got)
	}
}

// An outbox row nobody can read is given up as unreadable; a kind the
// chat does not post is no announcement of it.
func TestAnnouncementUnreadableAndFiltered(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Enqueue(t.Context(), store.OutboxRow{Chat: "slack", Key: "crates-io/v41/anomaly", Thread: "crates-io/v41",
		Payload: "{not json", ClaimedBy: "worker.1/1"}); err != nil {
		t.Fatal(err)
	}
	srv := notifytest.NewSlack()
	defer srv.Stop()
	tel := telemetry.New(telemetry.Options{})
	th := fastThreads(t, srv, tel, notify.ThreadOptions{Outbox: db, Memory: db, Holder: "worker.1/1",
		Kinds: []notify.Kind{notify.WatchStarted}})
	for _, e := range []notify.Event{watchStarted("crates-io", 42), {Header: notify.Header{Kind: notify.WatchHealthy, At: time.Now(), App: "crates-io", Release: 42}}} {
		if err := th.Notify(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	closeAll(t, th)
	if got := counter(t, tel, "relwatch_announcements_given_up_total", map[string]string{"reason": "unreadable"}); got != 1 {
		t.Errorf("given up, unreadable: %v, want 1", got)
	}
	if got := counter(t, tel, "relwatch_announcements_total", nil); got != 1 {
		t.Errorf("announced: %v, want 1 (watch.started; watch.healthy is not posted to this chat)", got)
	}

}
