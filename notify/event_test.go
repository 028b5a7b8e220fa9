package notify_test

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store"
)

// flatRow is an event as relwatch wrote it into the outbox before events
// had facts of their kind: one flat object with every field of every
// kind (written out by hand, not by the code under test). KIND is
// replaced per kind.
const flatRow = `{"Kind":"KIND","At":"2026-11-01T12:00:00Z","App":"crates-io","Release":42,
"Description":"Promote crates-io-staging v118","Target":41,"Rollback":43,
"Reason":"repeat share 78.6% over the last 30s","Summary":"repeat share 78.6% (was 15.1%)",
"Findings":[{"signal":"repeat_share","status":"anomalous","trigger":true}],
"WatchFor":1200000000000,"Baseline":1800000000000,"Route":"download","Auto":true,
"AlertOnly":"no traffic from before it","Joined":true,"Replaces":40,"Attempts":3,
"Err":"503 unavailable","Trend":{"bucket":30000000000,"rate":[1200,null],"error_share":[0,0],"release":1},
"By":"ana","Until":"2026-11-01T13:00:00Z","PausedBy":"bo","Quarantined":39,"Origin":41,"OriginConfig":true,
"Against":{"From":"2026-11-01T11:30:00Z","To":"2026-11-01T12:00:00Z","Data":1740000000000,"LeftOut":0},
"Instance":7,"Restated":true,"Round":1,"Rounds":3,"Watched":600000000000,"Moot":true,"Unseen":true}`

// TestEventReadsOlderFlatRows: a row an older relwatch stored reads into
// the facts of its kind, every field its kind has, and writes back as the
// same flat object (so an older worker reads a newer one's rows too).
func TestEventReadsOlderFlatRows(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	trend := &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{1200, nan}, ErrorShare: []float64{0, 0}, Release: 1}
	seen := notify.Seen{Reason: "repeat share 78.6% over the last 30s", Summary: "repeat share 78.6% (was 15.1%)",
		Findings: []analysis.Finding{{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true}}, Trend: trend, Route: "download"}
	step := notify.RollbackStep{Seen: seen, By: "ana", Auto: true, Target: 41, Rollback: 43, Attempts: 3, Err: "503 unavailable", Round: 1, Rounds: 3}
	request := notify.Request{By: "ana", Reason: seen.Reason, Until: at.Add(time.Hour), Moot: true, Unseen: true}
	want := map[notify.Kind]notify.Fact{
		notify.WatchStarted: notify.WatchStart{Route: "download", WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute,
			Against: notify.Against{From: at.Add(-30 * time.Minute), To: at, Data: 29 * time.Minute},
			Auto:    true, AlertOnly: "no traffic from before it", Joined: true, Replaces: 40, Quarantined: 39},
		notify.Anomaly: notify.Anomalous{Seen: seen, Auto: true, AlertOnly: "no traffic from before it", Target: 41,
			Origin: 41, OriginConfig: true, PausedBy: "bo", Until: at.Add(time.Hour)},
		notify.WatchHealthy:      notify.WatchEnd{Seen: seen, WatchFor: 20 * time.Minute, By: "ana", Watched: 10 * time.Minute},
		notify.WatchInconclusive: notify.WatchEnd{Seen: seen, WatchFor: 20 * time.Minute, By: "ana", Watched: 10 * time.Minute},
		notify.RollbackStarted:   step,
		notify.RollbackSucceeded: step,
		notify.RollbackFailed:    step,
		notify.RollbackSkipped:   step,
		notify.RollbackJoined:    step,
		notify.Paused:            request,
		notify.Resumed:           request,
		notify.PauseEnded:        request,
		notify.Approved:          request,
		notify.Refused:           request,
		notify.PromotionStarted:  notify.Promotion{By: "ana", Reason: seen.Reason},
		notify.PromotionRefused:  notify.Promotion{By: "ana", Reason: seen.Reason},
		notify.Forbidden:         notify.Denied{Err: "503 unavailable"},
		notify.Blind:             notify.Unread{Route: "download", Err: "503 unavailable"}, // a kind newer than flat rows: what their fields give
	}
	for _, k := range notify.Kinds() {
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: no facts expected in this test: add the kind", k)
			continue
		}
		var e notify.Event
		if err := json.Unmarshal([]byte(strings.Replace(flatRow, "KIND", string(k), 1)), &e); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		h := notify.Header{Kind: k, At: at, App: "crates-io", Release: 42, Description: "Promote crates-io-staging v118", Instance: 7, Restated: true}
		if e.Header != h {
			t.Errorf("%s: header %+v, want %+v", k, e.Header, h)
		}
		if !sameFacts(e.Fact, w) {
			t.Errorf("%s: facts %#v, want %#v", k, e.Fact, w)
		}
		if want, got := (notify.Event{Fact: w}).Seen().Trend, e.Seen().Trend; (want == nil) != (got == nil) ||
			got != nil && (got.Bucket != 30*time.Second || got.Release != 1 || len(got.Rate) != 2 || got.Rate[0] != 1200 || got.Rate[1] == got.Rate[1]) {
			t.Errorf("%s: trend %+v, want %+v (a bucket without data stays NaN)", k, got, want)
		}
		if err := e.Check(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		// Written back: flat, the header's keys and the facts' own.
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(b, &keys); err != nil {
			t.Fatalf("%s: written %s: %v", k, b, err)
		}
		for _, key := range []string{"Kind", "At", "App", "Release", "Instance", "Restated"} {
			if _, ok := keys[key]; !ok {
				t.Errorf("%s: written %s lacks the header's %s", k, b, key)
			}
		}
		if _, ok := keys["Fact"]; ok {
			t.Errorf("%s: written %s nests its facts: an older relwatch would not read them", k, b)
		}
		var back notify.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if back.Header != e.Header || !sameFacts(back.Fact, e.Fact) {
			t.Errorf("%s: read back as %#v, want %#v", k, back, e)
		}
	}
}

var nan = math.NaN()

// sameFacts compares facts but for their trends, which the test compares
// on its own (a bucket without data is NaN, which no value equals).
func sameFacts(a, b notify.Fact) bool {
	return reflect.DeepEqual(withoutTrend(a), withoutTrend(b))
}

func withoutTrend(f notify.Fact) notify.Fact {
	switch v := f.(type) {
	case notify.Anomalous:
		v.Trend = nil
		return v
	case notify.WatchEnd:
		v.Trend = nil
		return v
	case notify.RollbackStep:
		v.Trend = nil
		return v
	}
	return f
}

// TestFactsOfAnotherKindAreRefused: an event whose facts are not its
// kind's is a mistake of the code that made it; it is refused where it
// would be announced or stored, with the kind and the type named, never
// announced with zero facts.
func TestFactsOfAnotherKindAreRefused(t *testing.T) {
	e := notify.Event{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42}, Fact: notify.Request{By: "ana"}}
	err := e.Check()
	if err == nil || !strings.Contains(err.Error(), "anomaly") || !strings.Contains(err.Error(), "notify.Request") {
		t.Fatalf("Check = %v, want the kind and the facts' type named", err)
	}
	if _, err := json.Marshal(e); err == nil {
		t.Error("stored as JSON")
	}
	rec := &notify.Recorder{}
	if err := rec.Notify(context.Background(), e); err == nil || len(rec.Events()) != 0 {
		t.Errorf("recorded (err %v)", err)
	}
	srv := notifytest.NewSlack()
	defer srv.Stop()
	th := notify.NewThreads(context.Background(), slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}),
		notify.ThreadOptions{Backoff: notifytest.FastRetries, GiveUp: 5 * time.Second})
	if err := th.Notify(context.Background(), e); err == nil {
		t.Error("queued for chat")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := th.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := (notify.Event{Header: notify.Header{Kind: "anomly"}}).Check(); err == nil || !strings.Contains(err.Error(), `"anomly"`) {
		t.Errorf("unknown kind: %v", err)
	}
	// The kind's own facts, and none (the zero facts), are fine.
	for _, ok := range []notify.Event{{Header: e.Header, Fact: notify.Anomalous{}}, {Header: e.Header}} {
		if err := ok.Check(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	// A rollback's person: By names them; relwatch's own is not.
	if (notify.RollbackStep{By: store.Automatic}).ByPerson() || !(notify.RollbackStep{By: "ana"}).ByPerson() || (notify.RollbackStep{}).ByPerson() {
		t.Error("ByPerson")
	}
}

// FuzzEventJSON: an outbox row, whatever it holds, reads without a panic,
// and an event that reads writes back to one that reads the same.
func FuzzEventJSON(f *testing.F) {
	for _, k := range notify.Kinds() {
		f.Add([]byte(strings.Replace(flatRow, "KIND", string(k), 1)))
	}
	f.Add([]byte(`{"Kind":"anomaly","Findings":{}}`))
	f.Add([]byte(`{"Kind":"rollback.failed","Round":"1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e notify.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return
		}
		_ = e.Text()
		_ = e.Key()
		out, err := json.Marshal(e)
		if err != nil {
			if e.Check() == nil {
				t.Fatalf("%s read, but does not write: %v", b, err)
			}
			return
		}
		var back notify.Event
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s wrote %s, which does not read: %v", b, out, err)
		}
		if back.Header != e.Header || back.Text() != e.Text() {
			t.Fatalf("%s read back as %+v (%q), want %+v (%q)", b, back, back.Text(), e, e.Text())
		}
	})
}
