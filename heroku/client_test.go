package heroku_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	hk "github.com/heroku/heroku-go/v5"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
)

const token = "s3cr3t-token-value"

func newFake(t *testing.T, opts ...herokusim.Option) *herokusim.Server {
	t.Helper()
	f := herokusim.New(token, opts...)
	t.Cleanup(f.Close)
	return f
}

func seed(f *herokusim.Server, n int) {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for v := 1; v <= n; v++ {
		f.AddRelease("crates-io", herokusim.ReleaseSpec{Version: v, Description: "Deploy abc" + string(rune('0'+v%10)), CreatedAt: base.Add(time.Duration(v) * time.Hour)})
	}
}

// heroku-go's own typed calls must decode everything the fake answers.
func TestHerokuGoTypedCallsDecodeFake(t *testing.T) {
	f := newFake(t)
	seed(f, 3)
	svc := hk.NewService(&http.Client{Transport: &hk.Transport{BearerToken: token}})
	svc.URL = f.URL()
	ctx := context.Background()

	app, err := svc.AppInfo(ctx, "crates-io")
	if err != nil || app.Name != "crates-io" || app.ID == "" {
		t.Fatalf("AppInfo = %+v, %v", app, err)
	}
	list, err := svc.ReleaseList(ctx, "crates-io", &hk.ListRange{Field: "version", Max: 10, Descending: true})
	if err != nil {
		t.Fatalf("ReleaseList: %v", err)
	}
	if len(list) != 3 || list[0].Version != 3 || !list[0].Current || list[1].Current || list[0].Slug == nil || list[0].App.Name != "crates-io" || list[0].User.Email == "" || list[0].CreatedAt.IsZero() {
		t.Fatalf("ReleaseList decoded %+v", list)
	}
	info, err := svc.ReleaseInfo(ctx, "crates-io", list[1].ID)
	if err != nil || info.Version != 2 || info.Status != "succeeded" {
		t.Fatalf("ReleaseInfo = %+v, %v", info, err)
	}
	byVersion, err := svc.ReleaseInfo(ctx, "crates-io", "1")
	if err != nil || byVersion.Version != 1 {
		t.Fatalf("ReleaseInfo by version = %+v, %v", byVersion, err)
	}
	rb, err := svc.ReleaseRollback(ctx, "crates-io", hk.ReleaseRollbackOpts{Release: list[1].ID})
	if err != nil || rb.Version != 4 || rb.Description != "Rollback to v2" {
		t.Fatalf("ReleaseRollback = %+v, %v", rb, err)
	}
	created, err := svc.ReleaseCreate(ctx, "crates-io", hk.ReleaseCreateOpts{Slug: list[0].Slug.ID, Description: hk.String("Deploy fix")})
	if err != nil || created.Version != 5 || created.Description != "Deploy fix" {
		t.Fatalf("ReleaseCreate = %+v, %v", created, err)
	}
	_, err = svc.ReleaseInfo(ctx, "crates-io", "99")
	var he hk.Error
	if !errors.As(err, &he) || he.ID != "not_found" || he.StatusCode != 404 {
		t.Fatalf("ReleaseInfo(99) error = %#v, want not_found 404", err)
	}
}

func TestListReleasesFollowsNextRange(t *testing.T) {
	f := newFake(t, herokusim.WithPageSize(2))
	seed(f, 7)
	c := heroku.New(f.URL(), token)
	got, notModified, err := c.ListReleases(context.Background(), "crates-io", 5, false)
	if err != nil || notModified {
		t.Fatalf("ListReleases: %v, notModified %v", err, notModified)
	}
	var versions []int
	for _, r := range got {
		versions = append(versions, r.Version)
	}
	if want := []int{7, 6, 5, 4, 3}; !equalInts(versions, want) {
		t.Fatalf("versions = %v, want %v", versions, want)
	}
	reqs := f.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages: %+v", len(reqs), reqs)
	}
	if reqs[0].Range != "version ..; max=5,order=desc" {
		t.Errorf("first Range = %q", reqs[0].Range)
	}
	if reqs[1].Range != "version ]6..; max=5, order=desc" {
		t.Errorf("second Range = %q, want the fake's Next-Range", reqs[1].Range)
	}
	for _, r := range reqs {
		if r.Accept != herokusim.AcceptHeader || !r.Authorized {
			t.Errorf("request %+v lacks Heroku's Accept or the bearer token", r)
		}
	}
}

func TestListReleasesETag(t *testing.T) {
	f := newFake(t)
	seed(f, 2)
	c := heroku.New(f.URL(), token)
	ctx := context.Background()
	first, nm, err := c.ListReleases(ctx, "crates-io", 10, true)
	if err != nil || nm || len(first) != 2 {
		t.Fatalf("first poll: %v %v %d", err, nm, len(first))
	}
	second, nm, err := c.ListReleases(ctx, "crates-io", 10, true)
	if err != nil || !nm || len(second) != 2 || second[0].Version != 2 {
		t.Fatalf("second poll: err %v, notModified %v, %+v", err, nm, second)
	}
	reqs := f.Requests()
	if reqs[1].IfNoneMatch == "" || reqs[1].Status != http.StatusNotModified {
		t.Fatalf("second request %+v: want If-None-Match answered 304", reqs[1])
	}
	f.AddRelease("crates-io", herokusim.ReleaseSpec{Description: "Deploy new"})
	third, nm, err := c.ListReleases(ctx, "crates-io", 10, true)
	if err != nil || nm || third[0].Version != 3 {
		t.Fatalf("after a new release: err %v, notModified %v, %+v", err, nm, third)
	}
	if rem, ok := c.RateLimitRemaining(); !ok || rem <= 0 {
		t.Errorf("RateLimitRemaining = %d, %v", rem, ok)
	}
}

func TestErrorsAreTypedAndRedacted(t *testing.T) {
	f := newFake(t)
	seed(f, 2)
	ctx := context.Background()

	wrong := heroku.New(f.URL(), "wrong-"+token)
	_, _, err := wrong.ListReleases(ctx, "crates-io", 10, false)
	if !heroku.IsUnauthorized(err) || heroku.Retryable(err) {
		t.Fatalf("wrong token: %v, want unauthorized and not retryable", err)
	}
	if !strings.Contains(err.Error(), "401 unauthorized") || strings.Contains(err.Error(), token) {
		t.Fatalf("error %q must name 401 unauthorized and never the token", err)
	}

	c := heroku.New(f.URL(), token)
	_, _, err = c.ListReleases(ctx, "no-such-app", 10, false)
	if !heroku.IsNotFound(err) || heroku.Retryable(err) || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("unknown app: %v", err)
	}

	f.InjectFault(herokusim.Fault{Path: "/apps/crates-io/releases", Status: 503, ID: "unavailable", Message: "down for maintenance"})
	_, _, err = c.ListReleases(ctx, "crates-io", 10, false)
	var ae *heroku.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.ID != "unavailable" || !heroku.Retryable(err) {
		t.Fatalf("503: %#v", err)
	}

	// A POST whose answer is lost after Heroku acted: the error says no
	// answer came, and the rollback is there all the same. (Go's transport
	// resends a GET on its own, so the POST is the case that matters.)
	f.InjectFault(herokusim.Fault{Method: "POST", Path: "/apps/crates-io/releases", DropAfterEffect: true})
	_, err = c.Rollback(ctx, "crates-io", f.Releases("crates-io")[0].ID)
	var te *heroku.TransportError
	if !errors.As(err, &te) || !heroku.Retryable(err) {
		t.Fatalf("dropped answer: %#v, want a retryable TransportError", err)
	}
	if rels := f.Releases("crates-io"); len(rels) != 3 || rels[2].Description != "Rollback to v1" {
		t.Fatalf("after the dropped POST the fake holds %+v; want the rollback made", rels)
	}

	f.SetRateBudget(0)
	_, _, err = c.ListReleases(ctx, "crates-io", 10, false)
	if !heroku.IsRateLimited(err) || !heroku.Retryable(err) || !strings.Contains(err.Error(), "rate_limit") {
		t.Fatalf("rate limited: %v", err)
	}
	if rem, ok := c.RateLimitRemaining(); !ok || rem != 0 {
		t.Fatalf("RateLimitRemaining after 429 = %d, %v; want 0", rem, ok)
	}
}

// A success whose body cannot be read says what happened: the status, what
// was wrong with the body, Heroku's Request-Id; never the token; and it is
// retryable, since Heroku answered 2xx and may have acted.
func TestBadSuccessBodySaysWhatHappened(t *testing.T) {
	f := newFake(t)
	seed(f, 2)
	c := heroku.New(f.URL(), token)
	ctx := context.Background()
	for _, tt := range []struct {
		fault   herokusim.Fault
		problem string
	}{
		{herokusim.Fault{Method: "GET", MalformAfterEffect: true}, "200 OK, but the body is not valid JSON"},
		{herokusim.Fault{Method: "GET", CutAfterEffect: true}, "200 OK, but the body was cut short"},
	} {
		f.InjectFault(tt.fault)
		_, _, err := c.ListReleases(ctx, "crates-io", 10, false)
		var be *heroku.BadAnswerError
		if !errors.As(err, &be) || !heroku.Retryable(err) {
			t.Fatalf("%+v: %#v, want a retryable BadAnswerError", tt.fault, err)
		}
		reqs := f.Requests()
		last := reqs[len(reqs)-1]
		msg := err.Error()
		if !strings.Contains(msg, "list releases of crates-io: Heroku answered "+tt.problem) ||
			last.RequestID == "" || !strings.Contains(msg, "Request-Id "+last.RequestID) || strings.Contains(msg, token) {
			t.Fatalf("error %q: want the status, %q, Request-Id %s, and no token", msg, tt.problem, last.RequestID)
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	f := newFake(t)
	seed(f, 1)
	f.InjectFault(herokusim.Fault{Delay: 2 * time.Second})
	c := heroku.New(f.URL(), token, heroku.WithTimeout(100*time.Millisecond))
	_, _, err := c.ListReleases(context.Background(), "crates-io", 10, false)
	if !heroku.Retryable(err) {
		t.Fatalf("timeout: %v, want retryable", err)
	}
}

func TestPendingReleaseFollowsFakeClock(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := newFake(t, herokusim.WithClock(clock))
	f.AddRelease("app", herokusim.ReleaseSpec{Version: 1, CreatedAt: now.Add(-time.Hour), Description: "Deploy a"})
	f.AddRelease("app", herokusim.ReleaseSpec{Version: 2, CreatedAt: now, PendingFor: 90 * time.Second, Description: "Deploy b"})
	f.AddRelease("app", herokusim.ReleaseSpec{Version: 3, CreatedAt: now.Add(time.Hour), Description: "Deploy c"})
	c := heroku.New(f.URL(), token)
	rels, _, err := c.ListReleases(context.Background(), "app", 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Status != heroku.StatusPending || rels[0].Current || !rels[1].Current {
		t.Fatalf("at creation: %+v; want v2 pending, v1 current, v3 not yet visible", rels)
	}
	now = now.Add(90 * time.Second)
	rels, _, _ = c.ListReleases(context.Background(), "app", 10, false)
	if rels[0].Status != heroku.StatusSucceeded || !rels[0].Current || !rels[0].LiveAt().Equal(now) {
		t.Fatalf("after the release phase: %+v", rels[0])
	}
}

func TestRollbackTarget(t *testing.T) {
	for desc, want := range map[string]int{"Rollback to v41": 41, "Rollback to v7 by someone": 7, "Deploy 3f1c2aa": 0, "Promote x v118": 0} {
		got, ok := heroku.Release{Description: desc}.RollsBackTo()
		if got != want || ok != (want != 0) {
			t.Errorf("RollbackTarget(%q) = %d, %v; want %d", desc, got, ok, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
