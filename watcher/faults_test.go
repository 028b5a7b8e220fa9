package watcher_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

// outage is Heroku answering 500 internal_server_error to an app's release
// requests while the rig's virtual clock is in [from, to): a proxy in front
// of the fake.
type outage struct {
	mu       sync.Mutex
	from, to time.Time
	now      time.Time // the rig's virtual time, as run last set it
	srv      *httptest.Server
	failed   int
}

// run ticks the rig from fromS to toS, telling the outage the time first
// (a request the watcher gave up on may still be served meanwhile).
func (o *outage) run(t *testing.T, r *rig, fromS, toS int) {
	t.Helper()
	for s := fromS; s <= toS; s++ {
		o.mu.Lock()
		o.now = t0.Add(time.Duration(s) * time.Second)
		o.mu.Unlock()
		r.run(t, s, s)
	}
}

func newOutage(t *testing.T, r *rig, from, to time.Time) *outage {
	o := &outage{from: from, to: to}
	target, _ := url.Parse(r.fake.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		o.mu.Lock()
		now := o.now
		o.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/apps/crates-io/releases") && !now.Before(o.from) && now.Before(o.to) {
			o.mu.Lock()
			o.failed++
			o.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Ratelimit-Remaining", "4000")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"id":"internal_server_error","message":"Internal server error."}`)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// throughOutage points the rig's watcher at Heroku through o, with
// rollback rounds that give up after a second of wall time; opts change
// the config after that.
func throughOutage(r *rig, o *outage, opts ...func(*watcher.Config)) {
	r.w = rebuild(r, r.rec, append([]func(*watcher.Config){func(c *watcher.Config) {
		client := heroku.New(o.srv.URL, "tok")
		c.Heroku = client
		c.Roller = &rollback.Roller{Heroku: client, Timeout: time.Second, // wall clock: a loaded CI machine must finish a good round in it
			Backoff: func() retry.Backoff { return retry.NewConstant(5 * time.Millisecond) }}
	}}, opts...)...)
}

func (r *rig) events(kind notify.Kind) []notify.Event {
	var out []notify.Event
	for _, e := range r.rec.Events() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestFailedRollbackIsTriedAgain: Heroku answers 500 for 30 s from just
// before the verdict. Each round in the outage fails and says so (with
// its attempts counted, not 0) and that relwatch tries again; the first
// round after the outage rolls back: one rollback.
func TestFailedRollbackIsTriedAgain(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	outageEnd := t0.Add(1865 * time.Second)
	o := newOutage(t, r, t0.Add(1835*time.Second), outageEnd)
	throughOutage(r, o)
	o.run(t, r, 1795, 1950)

	failed := r.events(notify.RollbackFailed)
	if len(failed) == 0 || len(failed) >= 3 {
		t.Fatalf("%d rollback.failed, want 1 or 2 (30 s apart in a 30 s outage): %v", len(failed), r.kinds())
	}
	for i, e := range failed {
		f := factOf[notify.RollbackStep](&e)
		if f.Round != i+1 || f.Attempts < 2 || !strings.Contains(e.Text(), fmt.Sprintf("failed after %d attempt(s)", f.Attempts)) ||
			!strings.Contains(e.Text(), "500 internal_server_error") || !strings.Contains(e.Text(), fmt.Sprintf("round %d of 3 failed", i+1)) ||
			!strings.Contains(e.Text(), "tries again") {
			t.Fatalf("failed round %d says %q (%d attempts)", f.Round, e.Text(), f.Attempts)
		}
	}
	// A round is said to start only when the roller decided to act: the
	// rounds in the outage never read the release list, so only the one
	// that succeeds started.
	started := r.events(notify.RollbackStarted)
	succeeded := r.events(notify.RollbackSucceeded)
	if len(started) != 1 || len(succeeded) != 1 || factOf[notify.RollbackStep](&started[0]).Round != len(failed)+1 || started[0].Key() == failed[0].Key() {
		t.Fatalf("want the round that succeeds started, the failed ones not: %v", r.kinds())
	}
	if at := succeeded[0].At; !at.After(outageEnd) || at.After(outageEnd.Add(35*time.Second)) {
		t.Fatalf("rolled back at %s: want within a round's spacing (30 s) after the outage ended (%s)", at.Sub(t0), outageEnd.Sub(t0))
	}
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollbacks %+v", rbs)
	}
}

// TestFailedRollbackRoundsAreBounded: Heroku never recovers. Three rounds,
// each announced, the last saying it was the last; then no more.
func TestFailedRollbackRoundsAreBounded(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	o := newOutage(t, r, t0.Add(1835*time.Second), t0.Add(9999*time.Second))
	throughOutage(r, o)
	o.run(t, r, 1795, 2100)
	failed := r.events(notify.RollbackFailed)
	if len(failed) != 3 || len(r.events(notify.RollbackStarted)) != 0 { // never read the release list: never decided to act
		t.Fatalf("%d rounds failed, want 3: %v", len(failed), r.kinds())
	}
	for i, e := range failed {
		if round := factOf[notify.RollbackStep](&e).Round; round != i+1 {
			t.Errorf("failure %d is round %d", i, round)
		}
	}
	if last := failed[2].Text(); !strings.Contains(last, "last of 3 rounds") || !strings.Contains(last, "Roll back by hand") {
		t.Fatalf("the last round says %q", last)
	}
	if gap := failed[1].At.Sub(failed[0].At); gap < 30*time.Second {
		t.Fatalf("rounds %s apart: want fresh evidence (30 s) between them", gap)
	}
}

// TestForbiddenAppIsThatAppsProblem: Heroku answers 403 for one app; the
// other app's bad release is still rolled back, the 403 is announced once,
// and no tick is fatal.
func TestForbiddenAppIsThatAppsProblem(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 7, Description: "Deploy docs", CreatedAt: t0})
	r.fake.InjectFault(herokusim.Fault{Path: "/apps/docs-rs", Status: http.StatusForbidden, ID: "forbidden", Message: "You do not have access to the app docs-rs.", Times: 1 << 20})
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		docs := c.Apps[0]
		docs.Name = "docs-rs"
		c.Apps = append(c.Apps, docs)
	})
	r.run(t, 1795, 1950) // run fails the test on an error from Tick
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("crates-io rollbacks %+v: the other app must be watched and rolled back", rbs)
	}
	forbidden := r.events(notify.Forbidden)
	if len(forbidden) != 1 || forbidden[0].App != "docs-rs" || !strings.Contains(forbidden[0].Text(), "403 forbidden") {
		t.Fatalf("forbidden announcements %+v", forbidden)
	}
}

// TestRollbackCutBySIGTERMIsFinishedByTheNextWorker: the worker is told to
// stop (its tick's context ends) while Heroku has not answered the
// rollback POST. That is not a failed rollback: nothing is announced, the
// journal says interrupted, and the next worker finishes it, once.
func TestRollbackCutBySIGTERMIsFinishedByTheNextWorker(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	state := sqliteState(t)
	db := openStore(t, state)
	posted, quit := make(chan struct{}, 1), make(chan struct{})
	target, _ := url.Parse(r.fake.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			select {
			case posted <- struct{}{}:
			default:
			}
			select { // Heroku never answers; the worker gives up
			case <-req.Context().Done():
			case <-quit:
			}
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	defer hang.Close()
	defer close(quit) // before Close, which waits for the handlers
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		client := heroku.New(hang.URL, "tok")
		c.Heroku, c.Roller = client, &rollback.Roller{Heroku: client}
		c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
	})
	r.run(t, 1795, 1835)
	if len(r.events(notify.RollbackStarted)) != 0 {
		t.Fatal("rolled back before the test's SIGTERM")
	}
	// Tick until the rollback POST hangs, then stop the worker.
	var stopped error
	for s := 1836; s < 1900; s++ {
		r.now = t0.Add(time.Duration(s) * time.Second)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.w.Tick(ctx, r.now) }()
		select {
		case <-posted:
			stop()
			stopped = <-done
			s = 1900
		case err := <-done:
			stop()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if stopped != nil {
		t.Fatalf("the interrupted tick returned %v", stopped)
	}
	if f := r.events(notify.RollbackFailed); len(f) != 0 {
		t.Fatalf("an interrupted rollback was announced as failed: %s", f[0].Text())
	}
	j, _ := db.Journal(context.Background(), "crates-io", false, 5)
	if len(j) != 1 || j[0].Outcome != "interrupted" {
		t.Fatalf("journal %+v: want the rollback interrupted", j)
	}
	said := len(r.rec.Events())

	withState(r, openStore(t, state))
	r.run(t, 1901, 1960)
	var after []string
	for _, e := range r.rec.Events()[said:] {
		if e.Kind != notify.WatchStarted && e.Kind != notify.Anomaly {
			after = append(after, fmt.Sprintf("%s %v", e.Kind, e.Restated))
		}
	}
	if strings.Join(after, ",") != "rollback.started true,rollback.succeeded false" {
		t.Fatalf("the next worker said %v: want the rollback finished (its start restated)", after)
	}
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollbacks %+v", rbs)
	}
}

// v42 is bad; a person's deploy v43 is in its release phase when the
// verdict comes, and its phase then fails. The round was skipped ("v43
// came after it") and automatic rollback was over for good: v42 stayed
// live and bad. The watcher waits for v43's phase, then rolls v42 back.
func TestANewerReleaseInItsPhaseIsWaitedFor(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy attempt", Status: "failed", PendingFor: 40 * time.Second}, 1835)
	r.run(t, 1795, 2100)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; want v42 rolled back to v41 once v43 failed: %v", rbs, r.kinds())
	}
	if _, skipped := last(r, notify.RollbackSkipped); skipped {
		t.Errorf("a round was skipped while v43 was in its phase: %v", r.kinds())
	}
}

// flakyDeepRead answers the first n deep reads of the release list (the
// rollback's depth) 503, as Heroku now and then does.
type flakyDeepRead struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (d *flakyDeepRead) RoundTrip(req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	fail := req.Method == http.MethodGet && strings.Contains(req.Header.Get("Range"), fmt.Sprintf("max=%d", rollback.ListDepth)) && d.n > 0
	if fail {
		d.n--
	}
	d.mu.Unlock()
	if fail {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusServiceUnavailable)
		rec.WriteString(`{"id":"unavailable","message":"try again"}`)
		return rec.Result(), nil
	}
	return d.next.RoundTrip(req)
}

// Behind a run of nine failed deploys the target is older than a poll
// reads, and one 503 on the deeper read made it "no release to go back to
// automatically", for good. The next evidence reads again.
func TestAFailedDeepReadIsNotNoTarget(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	for v := 42; v <= 50; v++ {
		r.release(herokusim.ReleaseSpec{Version: v, Description: fmt.Sprintf("Deploy try %d", v), Status: "failed"}, 1700+v)
	}
	tr := &flakyDeepRead{next: http.DefaultTransport, n: 1}
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		client := heroku.New(r.fake.URL(), "tok", heroku.WithTransport(tr))
		c.Heroku = client
		c.Roller = &rollback.Roller{Heroku: client, Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) }}
	})
	r.release(herokusim.ReleaseSpec{Version: 51, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 2100)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		s, _ := last(r, notify.RollbackSkipped)
		t.Fatalf("rollbacks %+v; want v51 rolled back to v41 (skipped: %q)", rbs, s.Text())
	}
}

// TestARefusedTokenIsAnnouncedForEachOfItsApps: Heroku refuses the token
// (401: revoked or rotated): the tick is fatal for this watcher, and, told
// so after each tick (the worker does, when other tokens keep it running),
// each of its apps is announced once as not watched, naming the token's
// variable; another error announces nothing.
func TestARefusedTokenIsAnnouncedForEachOfItsApps(t *testing.T) {
	r := newRig(t, 0, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 7, Description: "Deploy docs", CreatedAt: t0})
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		docs := c.Apps[0]
		docs.Name = "docs-rs"
		c.Apps = append(c.Apps, docs)
		c.TokenEnv = "DOCS_HEROKU_API_KEY"
	})
	r.run(t, 1795, 1800)
	r.fake.RevokeToken("tok")
	for s := 1801; s <= 1803; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		err := r.w.Tick(context.Background(), now)
		if !errors.Is(err, watcher.ErrFatal) {
			t.Fatalf("tick at %ds with the token refused: %v, want fatal", s, err)
		}
		r.w.AnnounceRefused(context.Background(), err, now)
	}
	r.w.AnnounceRefused(context.Background(), errors.New("503 unavailable"), t0.Add(1804*time.Second)) // no refusal
	refused := r.events(notify.Forbidden)
	var apps []string
	for _, e := range refused {
		apps = append(apps, e.App)
		if txt := e.Text(); !strings.Contains(txt, "refuses the token in DOCS_HEROKU_API_KEY") {
			t.Errorf("announced %q", txt)
		}
	}
	slices.Sort(apps)
	if strings.Join(apps, ",") != "crates-io,docs-rs" {
		t.Fatalf("announced for %v, want each app once", apps)
	}
}

// downSource fails while down says so, as a Prometheus that is down.
type downSource struct {
	metrics.Source
	down func() bool
}

func (s downSource) Counts(ctx context.Context, route string, from, to time.Time) (metrics.Series, error) {
	if s.down() {
		return metrics.Series{}, errors.New("prometheus: connection refused")
	}
	return s.Source.Counts(ctx, route, from, to)
}

// TestAWatchThatCannotReadItsTrafficSaysSo: the source fails through a
// release: past a minute the watch says it is not judging the release,
// once, in the release's story; a failure shorter than that says nothing.
func TestAWatchThatCannotReadItsTrafficSaysSo(t *testing.T) {
	r := newRig(t, 0, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	down := func() bool {
		s := int(r.now.Sub(t0) / time.Second)
		return s >= 1810 && s < 1850 || s >= 1900 && s < 2000
	}
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		c.Apps[0].Source = downSource{c.Apps[0].Source, down}
	})
	r.run(t, 1795, 1880)
	if blind := r.events(notify.Blind); len(blind) != 0 {
		t.Fatalf("40 s without traffic announced: %+v", blind)
	}
	r.run(t, 1881, 2100)
	blind := r.events(notify.Blind)
	if len(blind) != 1 {
		t.Fatalf("%d watch.blind announcements, want 1: %v", len(blind), r.kinds())
	}
	if at := blind[0].At.Sub(t0) / time.Second; at != 1960 {
		t.Errorf("announced at %ds, want 1960 s (a minute after the source failed)", at)
	}
	if txt := blind[0].Text(); !strings.Contains(txt, "has not read the download traffic of crates-io v42 for 1m: ") || !strings.Contains(txt, "prometheus: connection refused") {
		t.Errorf("announced %q", txt)
	}
}

// TestAHugeRetryAfterDoesNotStopPolling: a proxy in front of Heroku
// answers the first poll 429 with Retry-After a day. The app is polled
// again within the idle interval all the same (Heroku's own pool refills
// in a minute), so the release made meanwhile is watched and, bad, rolled
// back; before, the app went unpolled for the day.
func TestAHugeRetryAfterDoesNotStopPolling(t *testing.T) {
	r := newRig(t, 1830, time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1800)
	target, _ := url.Parse(r.fake.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	refused := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		first := refused == 0 && req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/apps/crates-io/releases")
		if first {
			refused++
		}
		mu.Unlock()
		if first {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "86400")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"id":"rate_limit","message":"Your account reached the API rate limit."}`)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		client := heroku.New(srv.URL, "tok")
		c.Heroku = client
		c.Roller = &rollback.Roller{Heroku: client, Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) }}
		c.IdleInterval = 2 * time.Minute
	})
	r.run(t, 1700, 1950)

	mu.Lock()
	defer mu.Unlock()
	var rollbacks int
	for _, rel := range r.fake.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			rollbacks++
		}
	}
	if refused != 1 || rollbacks != 1 {
		t.Fatalf("%d polls refused, %d rollbacks; want the one refused and v42 rolled back: %v", refused, rollbacks, r.kinds())
	}
}
