package herokusim

import (
	"net/http"
	"strconv"
	"strings"
)

// Heroku's rate limit, as the Platform API reference ("Rate Limits")
// states it: "Each account has a pool of request tokens that can hold at
// most 4500 tokens. Each API call removes one token from the pool. Tokens
// are added to the account pool at a rate of roughly 75 per minute (or
// 4500 per hour), up to a maximum of 4500. If no tokens remain, further
// calls will return 429 Too Many Requests until more tokens become
// available." The remaining tokens come back "with each request in the
// RateLimit-Remaining response header". Server-side the API runs the
// Generic Cell Rate Algorithm (Heroku's blog, "A Fast Car Needs Good
// Brakes: How We Added Client Rate Throttling to the Platform API Gem",
// 2020, after brandur.org/rate-limiting): an emission interval T of 0.8 s
// (3600 s / 4500) and a tolerance of 4500 T; a call at t is allowed when
// max(TAT, t) + T - t <= 4500 T, and then TAT = max(TAT, t) + T; a refused
// call changes nothing. That is exactly a pool of 4500 tokens refilled
// continuously, one every T: the simulator keeps the pool (so a refill of
// zero, for tests, needs no special case). Every call counts, a 304 too:
// the reference knows no exception but GET /account/rate-limits, which
// the simulator does not serve. The reference documents no Retry-After on
// a 429, and Heroku's own clients (heroku-go's RoundTripWithRetryBackoff,
// the platform-api gem's rate throttling) back off on their own: the
// simulator sends none.

// HerokuRateLimit and HerokuRefillPerMinute are Heroku's pool and refill.
const (
	HerokuRateLimit       = 4500
	HerokuRefillPerMinute = 75
)

// WithRateLimit turns on the rate limit: a pool of budget requests,
// refilled continuously at perMinute a minute on the simulator's clock, up
// to budget. Without it (or SetRateBudget) the simulator does not limit.
func WithRateLimit(budget int, perMinute float64) Option {
	return func(s *Server) {
		s.rateLimited = true
		s.budget, s.budgetMax = float64(budget), float64(budget)
		s.refillPerSecond = perMinute / 60
	}
}

// WithHerokuRateLimit is Heroku's rate limit: 4500 requests a token (an
// account), refilled at 75 a minute.
func WithHerokuRateLimit() Option { return WithRateLimit(HerokuRateLimit, HerokuRefillPerMinute) }

// SetRateBudget sets the remaining rate-limit budget (turning the limit on).
func (s *Server) SetRateBudget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited = true
	s.budget = float64(n)
	s.budgetAt = s.now()
}

// spendBudget takes one request from the pool and sets
// Ratelimit-Remaining; it reports false when the pool is empty.
func (s *Server) spendBudget(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked()
	if s.budget < 1 {
		w.Header().Set("Ratelimit-Remaining", "0")
		return false
	}
	if s.rateLimited {
		s.budget--
		if s.lowest < 0 || s.budget < s.lowest {
			s.lowest = s.budget
		}
	}
	w.Header().Set("Ratelimit-Remaining", strconv.Itoa(int(s.budget)))
	return true
}

// LowestBudget is the least the rate-limit pool held after any request
// spent from it (rounded down), and false before any did: whether the
// clients together ever ate into what they meant to keep.
func (s *Server) LowestBudget() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.lowest), s.lowest >= 0
}

// peekBudget sets Ratelimit-Remaining without spending: the reference
// returns it "with each request", refused ones included.
func (s *Server) peekBudget(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked()
	w.Header().Set("Ratelimit-Remaining", strconv.Itoa(int(s.budget)))
}

func (s *Server) refillLocked() {
	now := s.now()
	if el := now.Sub(s.budgetAt).Seconds(); el > 0 && s.rateLimited {
		s.budget = min(s.budgetMax, s.budget+el*s.refillPerSecond)
	}
	s.budgetAt = now
}

// Counts counts the API requests the simulator answered (log streams are
// not API requests).
type Counts struct {
	Total    int
	ByStatus map[int]int    // by the status answered (0: the answer was dropped)
	ByApp    map[string]int // requests under /apps/{app}/, by the name or id in the path
}

// Counts returns the request counters so far.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counts{Total: s.counts.Total, ByStatus: make(map[int]int, len(s.counts.ByStatus)), ByApp: make(map[string]int, len(s.counts.ByApp))}
	for k, v := range s.counts.ByStatus {
		c.ByStatus[k] = v
	}
	for k, v := range s.counts.ByApp {
		c.ByApp[k] = v
	}
	return c
}

// countLocked counts one answered request.
func (s *Server) countLocked(r Request) {
	s.counts.Total++
	s.counts.ByStatus[max(r.Status, 0)]++
	if rest, ok := strings.CutPrefix(r.Path, "/apps/"); ok {
		app, _, _ := strings.Cut(rest, "/")
		if app != "" {
			s.counts.ByApp[app]++
		}
	}
}
