package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/relwatch/relwatch/heroku"
)

// The ledger counts thousandths of a request, Heroku's pool and refill
// (heroku.RateLimitPool, RateLimitRefillPerMinute) in them.
const (
	budgetMilli            = 1000
	budgetPoolMilli        = heroku.RateLimitPool * budgetMilli
	budgetRefillMilliPerMS = heroku.RateLimitRefillPerMinute * budgetMilli / 60000.0
)

// PollClaim is one worker's ask of a token's shared budget at a tick.
type PollClaim struct {
	// Token names the token: a digest of it, never the token.
	Token string
	// Heard is the budget (Ratelimit-Remaining) an answer from Heroku gave
	// this worker since HeardAfter, as it stood at HeardBy (when the
	// worker read it); Known is false when there is no answer to tell.
	Heard               int
	HeardAfter, HeardBy time.Time
	Known               bool
	// Want is how many polls the worker would make now, Urgent of them
	// for apps with something going on (a watch, a rollback, a release
	// pending or pushed); Reserve is what the polls of every worker leave
	// to rollbacks.
	Want, Urgent, Reserve int
	// IdleDue are the due times of the idle polls (Want less Urgent),
	// the longest waiting first; one not listed is due now. When the
	// budget is short, urgent polls come first, then the longest waiting
	// idle polls of every worker on the token: a worker's idle poll is
	// granted only if no other worker was refused an older one (or an
	// urgent one) at its last claim, so that the worker that claims first
	// does not starve the others.
	IdleDue []time.Time
}

// PollGrant is what a claim got: Granted polls, and the budget every
// worker on the token is left with (Known false: no worker has heard
// Heroku yet, and polls are not held back).
type PollGrant struct {
	Granted   int
	Remaining int
	Known     bool
}

// ClaimPolls is the budget of a token shared by the workers that use it, a
// ledger: what is left, refilled at Heroku's rate up to its pool, less
// every poll any worker claims. An answer from Heroku only lowers it (the
// token also pays for rollbacks, for reads polls do not claim, for a
// person's heroku CLI), unless no claim came after the answer's request
// could have been made: then it is the budget. N workers on one token so
// spend no more than one would, and the rollback reserve holds for all of
// them: a worker that claimed nothing polls nothing.
//
// A claim is two statements; two workers claiming at once are told apart
// by a compare-and-swap on the ledger, retried a few times.
func (d *DB) ClaimPolls(ctx context.Context, c PollClaim) (PollGrant, error) {
	if c.Token == "" {
		return PollGrant{}, errors.New("claim polls: no token digest")
	}
	now := d.now()
	refilled := func(milli int64, since time.Time) int64 {
		return min(budgetPoolMilli, milli+int64(max(0, float64(now.Sub(since).Milliseconds()))*budgetRefillMilliPerMS))
	}
	for range 8 {
		var milli, atMS, heardMS, claimMS int64
		var waitsText string
		err := d.db.QueryRowContext(ctx, d.q(`SELECT milli, at_ms, heard_ms, claim_ms, waits FROM budgets WHERE token = ?`), c.Token).
			Scan(&milli, &atMS, &heardMS, &claimMS, &waitsText)
		found := err == nil
		switch {
		case errors.Is(err, sql.ErrNoRows) && !c.Known:
			return PollGrant{Granted: c.Want}, nil // no worker has heard Heroku: not held back
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return PollGrant{}, fmt.Errorf("read the rate-limit budget: %w", err)
		}
		left := int64(budgetPoolMilli)
		if found {
			left = refilled(milli, fromMS(atMS))
		}
		newHeard := heardMS
		if c.Known && ms(c.HeardAfter) >= heardMS {
			heard := refilled(int64(c.Heard)*budgetMilli, c.HeardBy)
			if !found || ms(c.HeardAfter) > claimMS {
				left = heard // every claim so far was made before the answer's request
			} else {
				left = min(left, heard)
			}
			newHeard = ms(c.HeardAfter)
		}
		waits := readWaits(waitsText, now)
		grant, waiting, refused := c.grant(int(left/budgetMilli)-c.Reserve, waits.before(d.worker), now)
		waits.set(d.worker, waiting, refused, now)
		newWaits := waits.String()
		left -= int64(grant) * budgetMilli
		newClaim := claimMS
		if grant > 0 {
			newClaim = ms(now)
		}
		var res sql.Result
		if found {
			res, err = d.exec(ctx, `UPDATE budgets SET milli = ?, at_ms = ?, heard_ms = ?, claim_ms = ?, waits = ?
				WHERE token = ? AND milli = ? AND at_ms = ? AND heard_ms = ? AND claim_ms = ? AND waits = ?`,
				left, ms(now), newHeard, newClaim, newWaits, c.Token, milli, atMS, heardMS, claimMS, waitsText)
		} else {
			res, err = d.exec(ctx, `INSERT INTO budgets (token, milli, at_ms, heard_ms, claim_ms, waits) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (token) DO NOTHING`, c.Token, left, ms(now), newHeard, newClaim, newWaits)
		}
		if err != nil {
			return PollGrant{}, fmt.Errorf("claim polls: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return PollGrant{Granted: grant, Remaining: int(left / budgetMilli), Known: true}, nil
		}
		// Another worker claimed, or told an answer, in between: again.
	}
	return PollGrant{}, errors.New("claim polls: other workers kept claiming at once")
}

// grant is how many polls c gets of free: its urgent ones first, then its
// idle ones due no later than before (another worker's longest waiting
// poll; zero: none waits), the longest waiting first. It also says whether
// c leaves polls refused, and the due time of the longest waiting of them
// (zero: an urgent one).
func (c PollClaim) grant(free int, before time.Time, now time.Time) (granted int, waiting time.Time, refused bool) {
	urgent := min(max(c.Urgent, 0), c.Want)
	idle := c.Want - urgent
	u := min(urgent, max(free, 0))
	if u < urgent {
		return u, time.Time{}, true
	}
	due := func(i int) time.Time {
		if i < len(c.IdleDue) {
			return c.IdleDue[i]
		}
		return now
	}
	i := 0
	for i < min(idle, free-u) && (before.IsZero() || !due(i).After(before)) {
		i++
	}
	if i < idle {
		return u + i, due(i), true
	}
	return u + i, time.Time{}, false
}

// waitFresh is how long a worker's refused polls hold back the others'
// younger ones: a worker that died (or stopped claiming) holds none back
// longer. Workers claim every tick, 5 s apart by default.
const waitFresh = time.Minute

// waits are the refused polls of the workers on a token, by worker: the
// due time of the longest waiting one (0: an urgent one) and when the
// worker last claimed, in ms.
type waits map[string][2]int64

// readWaits reads the ledger's waits, those of the last waitFresh.
func readWaits(text string, now time.Time) waits {
	w := waits{}
	if text == "" {
		return w
	}
	var all waits
	if err := json.Unmarshal([]byte(text), &all); err != nil {
		return w // unreadable: as if nobody waited, the next claim rewrites it
	}
	for worker, v := range all {
		if v[1] >= ms(now.Add(-waitFresh)) {
			w[worker] = v
		}
	}
	return w
}

// before is the due time of the longest waiting poll another worker than
// self was refused (the zero time: none; a time before any due: an urgent
// one).
func (w waits) before(self string) time.Time {
	var oldest time.Time
	for worker, v := range w {
		if worker == self {
			continue
		}
		due := time.UnixMilli(v[0]).UTC()
		if oldest.IsZero() || due.Before(oldest) {
			oldest = due
		}
	}
	return oldest
}

// set records the worker's claim at now: refused polls, the longest
// waiting of them due at due (zero: urgent), or none.
func (w waits) set(worker string, due time.Time, refused bool, now time.Time) {
	if !refused {
		delete(w, worker)
		return
	}
	d := int64(1) // an urgent poll waits before every idle one
	if !due.IsZero() {
		d = due.UnixMilli()
	}
	w[worker] = [2]int64{d, now.UnixMilli()}
}

func (w waits) String() string {
	if len(w) == 0 {
		return ""
	}
	b, _ := json.Marshal(map[string][2]int64(w))
	return string(b)
}
