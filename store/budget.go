package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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
	// Share is the part of the token's apps this worker holds (0: all):
	// when the budget is short, urgent polls come first, and of what is
	// left a worker's idle polls get its share, so that the worker that
	// claims first does not starve the others.
	Share float64
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
		err := d.db.QueryRowContext(ctx, d.q(`SELECT milli, at_ms, heard_ms, claim_ms FROM budgets WHERE token = ?`), c.Token).
			Scan(&milli, &atMS, &heardMS, &claimMS)
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
		grant := c.grant(int(left/budgetMilli) - c.Reserve)
		left -= int64(grant) * budgetMilli
		newClaim := claimMS
		if grant > 0 {
			newClaim = ms(now)
		}
		var res sql.Result
		if found {
			res, err = d.exec(ctx, `UPDATE budgets SET milli = ?, at_ms = ?, heard_ms = ?, claim_ms = ?
				WHERE token = ? AND milli = ? AND at_ms = ? AND heard_ms = ? AND claim_ms = ?`,
				left, ms(now), newHeard, newClaim, c.Token, milli, atMS, heardMS, claimMS)
		} else {
			res, err = d.exec(ctx, `INSERT INTO budgets (token, milli, at_ms, heard_ms, claim_ms) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (token) DO NOTHING`, c.Token, left, ms(now), newHeard, newClaim)
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
// idle ones, all of them when free covers every poll it wants, else its
// share of what the urgent ones left (at least one).
func (c PollClaim) grant(free int) int {
	if free <= 0 {
		return 0
	}
	urgent := min(max(c.Urgent, 0), c.Want, free)
	idle, left := c.Want-urgent, free-urgent
	if c.Share > 0 && c.Share < 1 && idle > left {
		left = max(1, int(math.Ceil(float64(left)*c.Share)))
	}
	return urgent + max(0, min(idle, left))
}
