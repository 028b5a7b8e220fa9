package telemetry_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/telemetry"
)

// The real client against the simulated Heroku, with a budget of three
// requests: a poll (200), the same poll (304), a rollback (201), then a
// poll Heroku refuses (429); and a request nobody answers.
func TestHerokuRequestsCounted(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	base := time.Now().Add(-2 * time.Hour)
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy a", CreatedAt: base})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Deploy b", CreatedAt: base.Add(time.Hour)})
	fake.SetRateBudget(3)
	tel := telemetry.New(telemetry.Options{})
	if series(t, tel, "relwatch_heroku_ratelimit_remaining") > 0 {
		t.Error("relwatch_heroku_ratelimit_remaining exported before Heroku answered: a panel reads 0 as a spent budget")
	}
	c := heroku.New(fake.URL(), "tok", heroku.WithObserver(tel))

	rs, notModified, err := c.ListReleases(t.Context(), "crates-io", 10, true)
	if err != nil || notModified || len(rs) != 2 {
		t.Fatalf("first poll: %d releases, 304 %v, %v", len(rs), notModified, err)
	}
	if _, notModified, err = c.ListReleases(t.Context(), "crates-io", 10, true); err != nil || !notModified {
		t.Fatalf("second poll: 304 %v, %v", notModified, err)
	}
	if _, err := c.Rollback(t.Context(), "crates-io", rs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ListReleases(t.Context(), "crates-io", 10, false); !heroku.IsRateLimited(err) {
		t.Fatalf("poll past the budget: %v, want a 429", err)
	}
	gone := httptest.NewServer(nil)
	gone.Close()
	if _, _, err := heroku.New(gone.URL, "tok", heroku.WithObserver(tel), heroku.WithTimeout(time.Second)).ListReleases(t.Context(), "crates-io", 10, false); err == nil {
		t.Fatal("a closed server answered")
	}

	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{
		{"releases.list", "2xx", 1}, {"releases.list", "304", 1}, {"releases.list", "429", 1}, {"releases.list", "none", 1},
		{"rollback", "2xx", 1}, {"rollback", "4xx", 0},
	} {
		if got := counter(t, tel, "relwatch_heroku_requests_total", map[string]string{"endpoint": c.endpoint, "code": c.code}); got != c.want {
			t.Errorf("relwatch_heroku_requests_total{endpoint=%q,code=%q} = %v, want %v", c.endpoint, c.code, got, c.want)
		}
	}
	if got := counter(t, tel, "relwatch_heroku_request_duration_seconds", map[string]string{"endpoint": "releases.list"}); got != 4 {
		t.Errorf("releases.list durations observed: %v, want 4", got)
	}
	if got := counter(t, tel, "relwatch_heroku_ratelimit_remaining", nil); got != 0 {
		t.Errorf("relwatch_heroku_ratelimit_remaining = %v, want 0 (the budget is spent)", got)
	}
}

// With several tokens the budget relwatch says is the lowest of theirs:
// the token that runs out first, whichever answered last.
func TestLowestTokenBudget(t *testing.T) {
	fake := herokusim.New("tok-a")
	defer fake.Close()
	fake.AddAccount("tok-b", "team-b@example.com")
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 1, Description: "Deploy a"})
	fake.SetRateBudget(10) // account A's; B keeps Heroku's 4500
	tel := telemetry.New(telemetry.Options{})
	a := heroku.New(fake.URL(), "tok-a", heroku.WithObserver(tel.Token("HEROKU_API_KEY")))
	b := heroku.New(fake.URL(), "tok-b", heroku.WithObserver(tel.Token("TEAM_B_HEROKU_API_KEY")))
	for _, c := range []*heroku.Client{a, b} { // B answers last
		if _, _, err := c.ListReleases(t.Context(), "crates-io", 10, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter(t, tel, "relwatch_heroku_ratelimit_remaining", nil); got != 9 {
		t.Errorf("relwatch_heroku_ratelimit_remaining = %v, want 9 (A's, the lowest)", got)
	}
}
