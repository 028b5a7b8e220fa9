package herokusim

import (
	"net/http"
	"strconv"
	"time"
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

// pool is one account's rate limit: a pool of max requests refilled
// continuously at refillPerSecond, Heroku's GCRA.
type pool struct {
	budget, max, refillPerSecond float64
	// lowest is the least the pool held after a request spent from it
	// (LowestBudget); -1 before any.
	lowest  float64
	at      time.Time
	limited bool
}

// account is one Heroku account: a token, the email it acts as, and its
// rate-limit pool ("Each account has a pool of request tokens").
type account struct {
	token, email string
	pool         pool
	revoked      bool // RevokeToken: every request bearing it is 401
}

// WithRateLimit turns on the rate limit: a pool of budget requests for
// each account, refilled continuously at perMinute a minute on the
// simulator's clock, up to budget. Without it (or SetRateBudget) the
// simulator does not limit.
func WithRateLimit(budget int, perMinute float64) Option {
	return func(s *Server) {
		s.limit = pool{limited: true, budget: float64(budget), max: float64(budget), refillPerSecond: perMinute / 60, lowest: -1}
	}
}

// WithHerokuRateLimit is Heroku's rate limit: 4500 requests a token (an
// account), refilled at 75 a minute.
func WithHerokuRateLimit() Option { return WithRateLimit(HerokuRateLimit, HerokuRefillPerMinute) }

// SetRateBudget sets the remaining rate-limit budget of the first
// account, New's (turning the limit on).
func (s *Server) SetRateBudget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.accounts[0].pool
	p.limited = true
	p.budget = float64(n)
	p.at = s.now()
}

// spendBudget takes one request from acct's pool and sets
// Ratelimit-Remaining; it reports false when the pool is empty.
func (s *Server) spendBudget(w http.ResponseWriter, acct *account) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &acct.pool
	s.refillLocked(p)
	if p.budget < 1 {
		w.Header().Set("Ratelimit-Remaining", "0")
		return false
	}
	if p.limited {
		p.budget--
		if p.lowest < 0 || p.budget < p.lowest {
			p.lowest = p.budget
		}
	}
	w.Header().Set("Ratelimit-Remaining", strconv.Itoa(int(p.budget)))
	return true
}

// LowestBudget is the least the first account's rate-limit pool held
// after any request spent from it (rounded down), and false before any
// did: whether the clients together ever ate into what they meant to keep.
func (s *Server) LowestBudget() (int, bool) { return s.LowestBudgetOf(Account) }

// LowestBudgetOf is LowestBudget of the account email.
func (s *Server) LowestBudgetOf(email string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.email == email {
			return int(a.pool.lowest), a.pool.lowest >= 0
		}
	}
	return 0, false
}

// peekBudget sets Ratelimit-Remaining without spending: the reference
// returns it "with each request", refused ones included (the first
// account's when the token is no account's).
func (s *Server) peekBudget(w http.ResponseWriter, acct *account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == nil {
		acct = s.accounts[0]
	}
	s.refillLocked(&acct.pool)
	w.Header().Set("Ratelimit-Remaining", strconv.Itoa(int(acct.pool.budget)))
}

func (s *Server) refillLocked(p *pool) {
	now := s.now()
	if el := now.Sub(p.at).Seconds(); el > 0 && p.limited {
		p.budget = min(p.max, p.budget+el*p.refillPerSecond)
	}
	p.at = now
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
	if app := AppInPath(r.Path); app != "" {
		s.counts.ByApp[app]++
	}
}
