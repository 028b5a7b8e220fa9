package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/store"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSQLite(t *testing.T) {
	suite(t, filepath.Join(t.TempDir(), "state.db"))
}

func TestIntegrationPostgresStore(t *testing.T) {
	suite(t, testenv.Postgres(t))
}

func suite(t *testing.T, dsn string) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	d, err := store.Open(ctx, dsn, store.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	t.Run("migrations are idempotent", func(t *testing.T) {
		again, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	})

	t.Run("pause, expire, resume", func(t *testing.T) {
		if err := d.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", Until: clk.Now().Add(30 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		p, ok, err := d.PauseOf(ctx, "crates-io")
		if err != nil || !ok || p.By != "ana" || p.Reason != "migration" {
			t.Fatalf("PauseOf = %+v %v %v", p, ok, err)
		}
		clk.Add(31 * time.Minute)
		if _, ok, _ := d.PauseOf(ctx, "crates-io"); ok {
			t.Fatal("an expired pause is still in force")
		}
		// A pause that has ended is no pause to resume: no "resumed", no
		// request for the worker to announce.
		if existed, err := d.Resume(ctx, "crates-io", "ana"); existed || err != nil {
			t.Fatalf("Resume of an expired pause = %v %v", existed, err)
		}
		d.SetPause(ctx, store.Pause{App: "crates-io", By: "ben"})
		if existed, err := d.Resume(ctx, "crates-io", "ana"); !existed || err != nil {
			t.Fatalf("Resume = %v %v", existed, err)
		}
		if existed, _ := d.Resume(ctx, "crates-io", "ana"); existed {
			t.Fatal("resumed twice")
		}
		reqs, err := d.PendingRequests(ctx, "crates-io")
		if err != nil || len(reqs) != 3 || reqs[0].Kind != store.KindPause || reqs[2].Kind != store.KindResume || reqs[2].By != "ana" {
			t.Fatalf("requests %+v %v", reqs, err)
		}
		for _, r := range reqs {
			d.FinishRequest(ctx, r.ID, "announced")
		}
		if reqs, _ := d.PendingRequests(ctx, "crates-io"); len(reqs) != 0 {
			t.Fatalf("%d requests left", len(reqs))
		}
	})

	t.Run("approve and request a rollback", func(t *testing.T) {
		d.Approve(ctx, "crates-io", 42, "ana", "looks fine")
		if by, _ := d.ApprovedBy(ctx, "crates-io", 42); by != "ana" {
			t.Fatalf("ApprovedBy = %q", by)
		}
		if by, _ := d.ApprovedBy(ctx, "crates-io", 43); by != "" {
			t.Fatalf("v43 approved by %q", by)
		}
		id, err := d.RequestRollback(ctx, "crates-io", 41, "ana", "downloads broken")
		if err != nil || id == 0 {
			t.Fatalf("RequestRollback = %d %v", id, err)
		}
		button, err := d.RequestRollbackOf(ctx, "crates-io", 42, "ben", "from the Slack button")
		if err != nil {
			t.Fatal(err)
		}
		reqs, _ := d.PendingRequests(ctx, "crates-io")
		if len(reqs) != 3 || reqs[1].ID != id || reqs[1].To != 41 || reqs[1].From != 0 || reqs[1].Reason != "downloads broken" ||
			reqs[2].ID != button || reqs[2].From != 42 || reqs[2].To != 0 || reqs[2].Kind != store.KindRollback {
			t.Fatalf("requests %+v", reqs)
		}
	})

	t.Run("watches", func(t *testing.T) {
		rec := func(v int, state string, coverage float64) store.WatchRecord {
			return store.WatchRecord{App: "crates-io", Release: store.ReleaseRecord{Version: v, Description: "Deploy x"}, State: state, Coverage: coverage,
				Exclude: []store.Span{{From: time.Unix(100, 0).UTC(), To: time.Unix(130, 0).UTC()}}}
		}
		for _, w := range []store.WatchRecord{rec(41, "healthy", 1), rec(42, "watching", 0.5), rec(42, "rolled_back", 0.75)} {
			if err := d.SaveWatch(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		w, ok, err := d.LatestWatch(ctx, "crates-io")
		if err != nil || !ok || w.Release.Version != 42 || w.State != "rolled_back" || w.Coverage != 0.75 || w.Format != store.WatchFormat ||
			len(w.Exclude) != 1 || !w.Exclude[0].To.Equal(time.Unix(130, 0)) {
			t.Fatalf("LatestWatch = %+v %v %v", w, ok, err)
		}
		all, err := d.Watches(ctx, "crates-io", 10)
		if err != nil || len(all) != 2 || all[1].Release.Version != 41 || all[1].State != "healthy" {
			t.Fatalf("Watches = %+v, %v; want v42 then v41", all, err)
		}
		if _, ok, _ := d.LatestWatch(ctx, "other"); ok {
			t.Fatal("a watch for an app never watched")
		}
	})

	t.Run("watch records of other formats", func(t *testing.T) {
		// A record written before records had a format: the watcher's own
		// JSON with Go's field names.
		legacy := `{"App":"legacy","Release":{"id":"r1","version":7,"description":"Deploy a","status":"succeeded"},"FirstVersion":7,` +
			`"Until":"2026-11-01T12:00:00Z","Exclude":[{"From":"2026-11-01T10:00:00Z","To":"2026-11-01T10:00:45Z"}],` +
			`"Last":{"Verdict":{"status":"healthy","findings":[{"signal":"error_share","status":"healthy","z":1.5}]},"Coverage":0.9},"State":"watching",` +
			`"Baseline":{"seconds":1800,"requests":9000,"bin_seconds":30,"request_dispersion":2.5,"error_dispersion":1.2,"repeat_dispersion":1.5}}`
		if err := d.Exec(ctx, `INSERT INTO watches (app, release, state, data, updated_ms) VALUES ('legacy', 7, 'watching', '`+legacy+`', 0)`); err != nil {
			t.Fatal(err)
		}
		w, ok, err := d.LatestWatch(ctx, "legacy")
		if err != nil || !ok || w.Release.ID != "r1" || w.FirstRelease != 7 || w.Coverage != 0.9 || len(w.Findings) != 1 ||
			w.Findings[0].Z != 1.5 || len(w.Exclude) != 1 || w.Until.IsZero() {
			t.Fatalf("legacy record = %+v, %v, %v", w, ok, err)
		}
		// Its one bin size stands for every scale, in the analysis' JSON.
		var b struct {
			Seconds  int              `json:"seconds"`
			Requests int64            `json:"requests"`
			Scales   []map[string]any `json:"scales"`
			Bin      *int             `json:"bin_seconds"`
		}
		if err := json.Unmarshal(w.Baseline, &b); err != nil || b.Seconds != 1800 || b.Requests != 9000 || b.Bin != nil || len(b.Scales) != 1 ||
			b.Scales[0]["seconds"] != 30.0 || b.Scales[0]["request_dispersion"] != 2.5 || b.Scales[0]["error_dispersion"] != 1.2 ||
			b.Scales[0]["repeat_dispersion"] != 1.5 || b.Scales[0]["first_dispersion"] != 2.5 {
			t.Fatalf("legacy baseline %s (%v)", w.Baseline, err)
		}
		if err := d.Exec(ctx, `INSERT INTO watches (app, release, state, data, updated_ms) VALUES ('future', 1, 'watching', '{"format": 99}', 0)`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.LatestWatch(ctx, "future"); err == nil || !strings.Contains(err.Error(), "format 99 is newer") {
			t.Fatalf("a record from a newer relwatch: %v", err)
		}
	})

	t.Run("journal", func(t *testing.T) {
		id, err := d.BeginRollback(ctx, store.JournalEntry{App: "crates-io", Bad: 42, Target: 41, Reason: "retry storm", By: "relwatch"})
		if err != nil {
			t.Fatal(err)
		}
		open, _ := d.Journal(ctx, "crates-io", true, 10)
		if len(open) != 1 || open[0].ID != id || open[0].Bad != 42 {
			t.Fatalf("open entries %+v", open)
		}
		// The release phase runs: the entry stays open, with the release.
		d.FinishRollback(ctx, id, store.JournalPending, 41, 43, "")
		if open, _ = d.Journal(ctx, "crates-io", true, 10); len(open) != 1 || open[0].Created != 43 || !open[0].Finished.IsZero() {
			t.Fatalf("pending entry %+v", open)
		}
		d.FinishRollback(ctx, id, "done", 41, 43, "")
		open, _ = d.Journal(ctx, "crates-io", true, 10)
		all, _ := d.Journal(ctx, "crates-io", false, 10)
		if len(open) != 0 || len(all) != 1 || all[0].Created != 43 || all[0].Outcome != "done" {
			t.Fatalf("after finishing: open %+v all %+v", open, all)
		}
	})

	t.Run("decisions", func(t *testing.T) {
		for i, a := range []string{"anomaly", "rollback"} {
			d.RecordDecision(ctx, store.DecisionRecord{App: "crates-io", Release: 42, At: clk.Now().Add(time.Duration(i) * time.Second), Action: a, Reason: "r", Evidence: "[]"})
		}
		decs, err := d.Decisions(ctx, "crates-io", 1)
		if err != nil || len(decs) != 1 || decs[0].Action != "rollback" {
			t.Fatalf("Decisions = %+v %v", decs, err)
		}
	})

	t.Run("threads", func(t *testing.T) {
		want := store.Thread{Ref: "C1/1.2", Opening: `{"headline":"x"}`, Key: "crates-io/v42/watch.started"}
		d.SaveThread(ctx, "slack", "crates-io/v42", want)
		got, ok, err := d.Thread(ctx, "slack", "crates-io/v42")
		if err != nil || !ok || got != want {
			t.Fatalf("Thread = %+v %v %v", got, ok, err)
		}
		if _, ok, err := d.Thread(ctx, "zulip", "crates-io/v42"); ok || err != nil {
			t.Fatalf("a thread of another chat: %v %v", ok, err)
		}
	})

	t.Run("outbox", func(t *testing.T) {
		row := store.OutboxRow{Chat: "slack", Key: "crates-io/v42/anomaly", Thread: "crates-io/v42", Payload: `{"kind":"anomaly"}`, ClaimedBy: "worker.1/7"}
		id, added, err := d.Enqueue(ctx, row)
		if err != nil || id == 0 || !added {
			t.Fatalf("Enqueue = %d %v %v", id, added, err)
		}
		// The same fact from another worker (or the next life of this one)
		// is not stored twice; another chat has a row of its own.
		again := row
		again.ClaimedBy, again.Payload = "worker.2/9", `{"kind":"anomaly","restated":true}`
		if id2, added, err := d.Enqueue(ctx, again); err != nil || added || id2 != id {
			t.Fatalf("Enqueue of the same key = %d %v %v, want %d and not added", id2, added, err, id)
		}
		zulip := row
		zulip.Chat = "zulip"
		if id3, added, err := d.Enqueue(ctx, zulip); err != nil || !added || id3 == id {
			t.Fatalf("Enqueue for another chat = %d %v %v", id3, added, err)
		}
		// A second insert after a conflict must not report a stale id.
		other := row
		other.Key = "crates-io/v42/rollback.started/1"
		id4, added, err := d.Enqueue(ctx, other)
		if err != nil || !added || id4 == id {
			t.Fatalf("Enqueue after a conflict = %d %v %v", id4, added, err)
		}

		rows, err := d.Undelivered(ctx, "slack", 10)
		if err != nil || len(rows) != 2 || rows[0].ID != id || rows[0].Payload != row.Payload || rows[0].Thread != row.Thread ||
			rows[0].ClaimedBy != "worker.1/7" || rows[0].Attempts != 0 || rows[1].ID != id4 {
			t.Fatalf("Undelivered = %+v %v", rows, err)
		}
		if before, ok, err := d.Claim(ctx, id, "worker.1/8", "worker.1/7"); err != nil || !ok || before != 0 {
			t.Fatalf("Claim = %d %v %v", before, ok, err)
		}
		if _, ok, _ := d.Claim(ctx, id, "worker.2/9", "worker.1/7"); ok {
			t.Fatal("claimed a row another worker took meanwhile")
		}
		if before, ok, _ := d.Claim(ctx, id, "worker.1/8", "worker.1/8"); !ok || before != 1 {
			t.Fatalf("a second send begun: before %d, ok %v; want 1 send counted", before, ok)
		}
		clk.Add(30 * time.Second)
		d.Touch(ctx, "worker.1/8")
		if rows, _ := d.Undelivered(ctx, "slack", 10); !rows[0].Claimed.Equal(clk.Now().Truncate(time.Millisecond)) {
			t.Fatalf("Touch did not renew the claim: %v, now %v", rows[0].Claimed, clk.Now())
		}
		d.Delivered(ctx, id, "delivered")
		if rows, _ := d.Undelivered(ctx, "slack", 10); len(rows) != 1 || rows[0].ID != id4 {
			t.Fatalf("after delivery: %+v", rows)
		}
		if _, ok, _ := d.Claim(ctx, id, "worker.1/8", "worker.1/8"); ok {
			t.Fatal("claimed a delivered row")
		}
		if _, added, _ := d.Enqueue(ctx, row); added {
			t.Fatal("a delivered fact was stored again")
		}
	})

	t.Run("quarantine", func(t *testing.T) {
		d.Quarantine(ctx, "crates-io", "slug-42", 42, "retry storm")
		rel, reason, ok, err := d.Quarantined(ctx, "crates-io", "slug-42")
		if err != nil || !ok || rel != 42 || reason != "retry storm" {
			t.Fatalf("Quarantined = %d %q %v %v", rel, reason, ok, err)
		}
	})
}

func TestDSNAndRedact(t *testing.T) {
	if got := store.DSN("", "", "postgres://u:p@h/db"); got != "postgres://u:p@h/db" {
		t.Errorf("DSN = %q", got)
	}
	if got := store.DSN("flag.db", "env.db", "postgres://x"); got != "flag.db" {
		t.Errorf("DSN = %q", got)
	}
	if got := store.DSN("", "", ""); got != "relwatch.db" {
		t.Errorf("DSN = %q", got)
	}
	if got := store.Redact("postgres://u:s3cret@h:5432/db"); strings.Contains(got, "s3cret") {
		t.Errorf("Redact = %q", got)
	}
	_, err := store.Open(context.Background(), "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a failed open must not print the password: %v", err)
	}
}

// A reader (status, check) creates and migrates nothing: a store relwatch
// never wrote is ErrNoState, and stays as it was; one the worker made is
// read.
func TestReadOnlyCreatesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		if _, err := store.Open(ctx, dsn, store.ReadOnly()); !errors.Is(err, store.ErrNoState) {
			t.Fatalf("read-only open of an empty store: %v, want ErrNoState", err)
		}
		// Still empty: the worker's Open finds no schema and makes it.
		w := openAt(t, dsn)
		if err := w.SetPause(ctx, store.Pause{App: "crates-io", By: "ana"}); err != nil {
			t.Fatal(err)
		}
		r, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatalf("read-only open of the worker's store: %v", err)
		}
		defer r.Close()
		if p, ok, err := r.PauseOf(ctx, "crates-io"); err != nil || !ok || p.By != "ana" {
			t.Fatalf("the pause read back: %+v %v %v", p, ok, err)
		}
	})
}
