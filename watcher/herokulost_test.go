package watcher_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// lostThenBlind is a proxy in front of the fake: the first rollback POST
// reaches Heroku (it makes the rollback) and its answer is lost; from then
// on, for one wall-clock window, every deep read of the release list (the
// roller's) is a proxy's 502 page. Polls (max=10) pass.
type lostThenBlind struct {
	mu     sync.Mutex
	act    bool // Heroku acts on the lost POST (else it never reached Heroku)
	pass   int  // POSTs that pass untouched before the one lost
	posted bool
	until  time.Time
	srv    *httptest.Server
}

func newLostThenBlind(t *testing.T, fake *herokusim.Server, blind time.Duration, act bool) *lostThenBlind {
	l := &lostThenBlind{act: act}
	target, _ := url.Parse(fake.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l.mu.Lock()
		first := req.Method == http.MethodPost && !l.posted && l.pass == 0
		if req.Method == http.MethodPost && l.pass > 0 {
			l.pass--
		}
		if first {
			l.posted, l.until = true, time.Now().Add(blind)
		}
		blinded := req.Method == http.MethodGet && strings.Contains(req.Header.Get("Range"), fmt.Sprintf("max=%d", rollback.ListDepth)) && time.Now().Before(l.until)
		l.mu.Unlock()
		if first {
			if l.act {
				proxy.ServeHTTP(httptest.NewRecorder(), req) // Heroku acts
			}
			panic(http.ErrAbortHandler) // and the answer is lost
		}
		if blinded {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// rollbackStory is the rig's rollback announcements, kind and text.
func rollbackStory(r *rig) []string {
	var story []string
	for _, e := range r.rec.Events() {
		if strings.HasPrefix(string(e.Kind), "rollback.") {
			story = append(story, string(e.Kind)+": "+e.Text())
		}
	}
	return story
}

// lostRig is a rig whose v42 is bad, behind a lostThenBlind proxy, with a
// journal in SQLite and rollback rounds of half a second of wall time.
func lostRig(t *testing.T, act bool, pass int, opts ...herokusim.Option) (*rig, *store.DB) {
	r := newRig(t, 1830, time.Second, opts...)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	l := newLostThenBlind(t, r.fake, 800*time.Millisecond, act)
	l.pass = pass
	db := openStore(t, sqliteState(t))
	r.w = rebuild(r, r.rec, func(c *watcher.Config) {
		client := heroku.New(l.srv.URL, "tok", heroku.WithTimeout(300*time.Millisecond))
		c.Heroku = client
		c.Roller = &rollback.Roller{Heroku: client, Timeout: 500 * time.Millisecond,
			Backoff: func() retry.Backoff { return retry.NewConstant(5 * time.Millisecond) }}
		c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
	})
	return r, db
}

// Heroku makes the rollback, its answer is lost, and no look at the
// release list answers before the round's deadline: the round cannot say
// how it ended. It was announced as failed, with "to roll back by hand
// now: heroku rollback v41" (a second rollback), and journaled as failed
// though Heroku had made it; nothing ever said it was made. Now the next
// poll says: one rollback release, announced as made, journaled done.
func TestALostRollbackNoLookCouldConfirmIsToldAsMade(t *testing.T) {
	for _, phase := range []time.Duration{0, 20 * time.Second} {
		t.Run(fmt.Sprintf("release phase %s", phase), func(t *testing.T) {
			r, db := lostRig(t, true, 0, herokusim.WithRollbackReleasePhase(phase))
			r.run(t, 1795, 1990)
			if rbs := r.rollbacks(); len(rbs) != 1 {
				t.Fatalf("rollback releases %+v, want one", rbs)
			}
			story := rollbackStory(r)
			if len(story) != 2 || !strings.HasPrefix(story[0], string(notify.RollbackStarted)) ||
				!strings.HasPrefix(story[1], string(notify.RollbackSucceeded)) || !strings.Contains(story[1], "v43") {
				t.Fatalf("the rollback was told as:\n%s\nwant started, then succeeded as v43", strings.Join(story, "\n"))
			}
			j, err := db.Journal(context.Background(), "crates-io", false, 5)
			if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Created != 43 {
				t.Fatalf("journal %+v (%v): want one entry, done, as v43", j, err)
			}
		})
	}
}

// The lost POST never reached Heroku: the next poll shows no rollback, the
// round is said to have failed (saying Heroku did not make it), and the
// next round makes it: one rollback release.
func TestALostRollbackHerokuNeverHadIsToldAsFailed(t *testing.T) {
	r, db := lostRig(t, false, 0)
	r.run(t, 1795, 1990)
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollback releases %+v, want one", rbs)
	}
	story := rollbackStory(r)
	var kinds []string
	for _, s := range story {
		kind, _, _ := strings.Cut(s, ":")
		kinds = append(kinds, kind)
	}
	if strings.Join(kinds, ",") != "rollback.started,rollback.failed,rollback.started,rollback.succeeded" ||
		!strings.Contains(story[1], "shows Heroku did not make it") || strings.Contains(story[1], "may have made") {
		t.Fatalf("the rollback was told as:\n%s\nwant a failed round saying Heroku did not make it, then one that succeeds", strings.Join(story, "\n"))
	}
	j, err := db.Journal(context.Background(), "crates-io", false, 5)
	if err != nil || len(j) != 2 || j[0].Outcome != "done" || j[1].Outcome != "failed" {
		t.Fatalf("journal %+v (%v): want the first round failed, the second done", j, err)
	}
}

// Round 1 makes v43, whose release phase fails; round 2's POST is lost
// before Heroku had it, and no look answers. The next poll must not take
// round 1's v43 for round 2's rollback: round 2 failed because Heroku did
// not make it, and v43 stays round 1's alone in the journal.
func TestALostRollbackIsNotAnEarlierRoundsRelease(t *testing.T) {
	r, db := lostRig(t, false, 1, herokusim.WithFailingRollbackPhase(), herokusim.WithRollbackReleasePhase(5*time.Second))
	r.run(t, 1795, 1900)
	j, err := db.Journal(context.Background(), "crates-io", false, 5)
	if err != nil || len(j) < 2 {
		t.Fatalf("journal %+v (%v): want two rounds at least", j, err)
	}
	first, second := j[len(j)-1], j[len(j)-2]
	if first.Created != 43 || first.Outcome != "failed" {
		t.Fatalf("round 1 %+v: want v43 made, its phase failed", first)
	}
	if second.Created != 0 || second.Outcome != "failed" || !strings.Contains(second.Error, "shows Heroku did not make it") {
		t.Fatalf("round 2 %+v: want failed, Heroku did not make it, no release of its own", second)
	}
}

// A person's rollback whose answer is lost, with no look answering: the
// same, told once as made, journaled done, by the person.
func TestAPersonsLostRollbackIsToldAsMade(t *testing.T) {
	r, db := lostRig(t, true, 0)
	r.run(t, 1795, 1810)
	if _, err := db.RequestRollbackOf(context.Background(), "crates-io", 42, "ana", "button"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1811, 1825)
	if rbs := r.rollbacks(); len(rbs) != 1 {
		t.Fatalf("rollback releases %+v, want one", rbs)
	}
	story := rollbackStory(r)
	if len(story) != 2 || !strings.HasPrefix(story[1], string(notify.RollbackSucceeded)) {
		t.Fatalf("the rollback was told as:\n%s\nwant started, then succeeded", strings.Join(story, "\n"))
	}
	j, err := db.Journal(context.Background(), "crates-io", false, 5)
	if err != nil || len(j) != 1 || j[0].Outcome != "done" || j[0].Created != 43 || j[0].By != "ana" {
		t.Fatalf("journal %+v (%v): want ana's rollback done as v43", j, err)
	}
	if reqs, _ := db.PendingRequests(context.Background(), "crates-io"); len(reqs) != 0 {
		t.Fatalf("requests left: %+v", reqs)
	}
}
