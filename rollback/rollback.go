// Package rollback is the guarded rollback: it picks the target, re-checks
// before every attempt that the bad release is still the current one, calls
// Heroku, and after a lost answer looks before it tries again, so that the
// result is exactly one rollback or a clear failure. It never rolls back a
// rollback.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/internal/wait"
)

// Heroku is the part of the Platform API a rollback needs.
type Heroku interface {
	ListReleases(ctx context.Context, app string, max int, conditional bool) ([]heroku.Release, bool, error)
	Rollback(ctx context.Context, app, releaseID string) (heroku.Release, error)
}

// Outcome is how a rollback ended.
type Outcome string

// The outcomes.
const (
	Done    Outcome = "done"    // Heroku created the rollback release
	Skipped Outcome = "skipped" // nothing to do, or not safe to do: see Reason
	Failed  Outcome = "failed"  // it should have happened and did not: see Err
)

// Request asks for the rollback of one release.
type Request struct {
	App string
	Bad int // the version to roll back from
	// To is the version to roll back to; 0 picks the newest earlier
	// release that succeeded and that Unfit has nothing against.
	To int
	// Unfit says why a release must not be gone back to automatically
	// ("" when it may be); nil accepts every release. A person's --to is
	// not second-guessed.
	Unfit func(heroku.Release) string
	// Acting, when set, is told once, just before the first rollback
	// request goes to Heroku, that the roller decided to act (the bad
	// release is current, target is where it goes back to): nothing is
	// said to have started before.
	Acting func(target heroku.Release)
}

// Result is what happened.
type Result struct {
	Outcome  Outcome
	Target   heroku.Release // the release rolled back to
	Created  heroku.Release // the "Rollback to vN" release
	Attempts int            // calls to POST /apps/{app}/releases
	// Tries counts the rounds of look-then-act (read the release list,
	// then maybe POST): a rollback whose every look failed made Tries
	// tries and 0 Attempts.
	Tries  int
	Reason string // why it was skipped
	Err    error  // why it failed
	// Recovered is true when the answer to a POST was lost and the
	// rollback was found in the release list afterwards.
	Recovered bool
	// Permanent is true for a failure trying again cannot mend (a 4xx
	// such as 403, no release to roll back to).
	Permanent bool
	// Unconfirmed is true for a failure after a rollback request whose
	// answer was lost, when no look at the release list since could say
	// whether Heroku made it: it may have.
	Unconfirmed bool
	// NoTarget is true for a failure because the target cannot be gone
	// back to (the one asked for is not older than the bad release, not
	// among the releases read, or did not succeed; or none is fit): no
	// rollback request was sent for it, and the same target would fail
	// again.
	NoTarget bool
	// Waiting is true for a rollback skipped because a newer release is
	// in its release phase: it is not live yet, and if its phase fails
	// the bad release is live again (an automatic rollback looks again).
	Waiting bool
}

// Roller carries out rollbacks.
type Roller struct {
	Heroku Heroku
	// Timeout bounds a whole rollback, all attempts (default 2 min).
	Timeout time.Duration
	// Backoff returns the wait between attempts (default exponential from
	// 500 ms, capped at 10 s, with jitter).
	Backoff func() retry.Backoff
	Logger  *slog.Logger
}

// ListDepth is how many of the newest releases a rollback reads: enough to
// find a target behind a run of failed releases.
const ListDepth = 50

// errPermanent marks a failure that trying again cannot mend.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// Do rolls req.App back from req.Bad, once.
func (r *Roller) Do(ctx context.Context, req Request) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("app", req.App, "release", req.Bad)
	backoff := r.Backoff
	if backoff == nil {
		backoff = func() retry.Backoff {
			return retry.WithJitterPercent(20, retry.WithCappedDuration(10*time.Second, retry.NewExponential(500*time.Millisecond)))
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("rollback deadline of %s passed", timeout))
	defer cancel()

	var res Result
	posted := false // a POST went out whose answer we never read
	// unconfirmed: the last POST's answer was lost, and no look since
	// read the release list.
	unconfirmed := false
	listed := 0 // the newest release at the look before the first POST
	var lastErr error
	// keep remembers Heroku's last answer; an error that only says the
	// deadline passed tells nothing new.
	keep := func(ctx context.Context, err error) {
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
	}
	err := retry.Do(ctx, retry.WithMaxDuration(timeout, backoff()), func(ctx context.Context) error {
		res.Tries++
		releases, _, err := r.Heroku.ListReleases(ctx, req.App, ListDepth, false)
		if err != nil {
			keep(ctx, err)
			if heroku.Retryable(err) {
				wait.Hinted(ctx, err) // a 429's or 503's Retry-After holds for the look too
				return retry.RetryableError(err)
			}
			return errPermanent{err}
		}
		unconfirmed = false
		done, target, err := r.check(releases, req, posted, listed, &res)
		if done || err != nil {
			return err
		}
		res.Target = target
		if res.Attempts == 0 {
			for _, rel := range releases {
				listed = max(listed, rel.Version)
			}
			if req.Acting != nil {
				req.Acting(target)
			}
		}
		res.Attempts++
		logger.Info("rolling back", "to", target.Version, "attempt", res.Attempts)
		created, err := r.Heroku.Rollback(ctx, req.App, target.ID)
		if err == nil {
			res.Outcome, res.Created = Done, created
			return nil
		}
		keep(ctx, err)
		if !heroku.Retryable(err) {
			return errPermanent{err}
		}
		// The answer may be lost after Heroku acted (no answer, a 5xx from a
		// proxy, or a 2xx whose body was cut short or is no JSON, which
		// heroku.Retryable counts as retryable): the next attempt reads the
		// release list first and finds the rollback if Heroku made it.
		posted = true
		// Heroku's own error (its JSON, with an id) says it did not act; no
		// answer, a proxy's page or an unreadable success does not say.
		var herokuSaid *heroku.APIError
		unconfirmed = !errors.As(err, &herokuSaid) || herokuSaid.ID == ""
		logger.Warn("rollback attempt failed; will check the release list before trying again", "err", err)
		wait.Hinted(ctx, err) // Heroku's Retry-After, if it sent one
		return retry.RetryableError(err)
	})
	if res.Outcome != "" {
		return res
	}
	if err == nil {
		err = lastErr
	}
	if ctx.Err() != nil && lastErr != nil {
		err = fmt.Errorf("%w (%v)", lastErr, context.Cause(ctx))
		if errors.Is(lastErr, context.DeadlineExceeded) || errors.Is(lastErr, context.Canceled) {
			err = fmt.Errorf("%v", context.Cause(ctx))
		}
	}
	var perm errPermanent
	res.Outcome, res.Permanent, res.Unconfirmed = Failed, errors.As(err, &perm), unconfirmed
	res.Err = fmt.Errorf("roll back %s v%d: gave up after %d attempt(s), %d rollback request(s) sent: %w", req.App, req.Bad, res.Tries, res.Attempts, err)
	if unconfirmed {
		// Not a plain failure: Heroku may have made it. The next look at
		// the release list says (the next round finds the bad release no
		// longer current, and skips).
		res.Err = fmt.Errorf("%w; the answer to a rollback request was lost and no look at the release list since told how it ended: Heroku may have made the rollback", res.Err)
	}
	return res
}

// check looks at the release list before an attempt. It returns done when
// the rollback must not (or need not) be attempted, with res filled in, and
// otherwise the target to roll back to.
func (r *Roller) check(releases []heroku.Release, req Request, posted bool, listed int, res *Result) (bool, heroku.Release, error) {
	var bad *heroku.Release
	for i := range releases {
		if releases[i].Version == req.Bad {
			bad = &releases[i]
		}
	}
	if bad == nil {
		res.Outcome, res.Reason = Skipped, fmt.Sprintf("v%d is not among the newest %d releases of %s", req.Bad, ListDepth, req.App)
		return true, heroku.Release{}, nil
	}
	if _, isRollback := bad.RollsBackTo(); isRollback {
		res.Outcome, res.Reason = Skipped, fmt.Sprintf("v%d is itself a rollback (%s); relwatch never rolls back a rollback", bad.Version, bad.Description)
		return true, heroku.Release{}, nil
	}
	target, err := pickTarget(releases, req)
	if err != nil {
		res.NoTarget = true
		return true, heroku.Release{}, errPermanent{err}
	}
	// Anything released after the bad one (and not failed) means someone
	// acted since: our own lost rollback, or a person's rollback or deploy.
	for _, rel := range releases { // newest first
		if rel.Version <= req.Bad {
			continue
		}
		// Ours: a rollback to the target, made after our first look, when
		// a POST's answer was lost.
		to, isRollback := rel.RollsBackTo()
		ours := posted && isRollback && to == target.Version && rel.Version > listed
		switch {
		case ours && rel.Status == heroku.StatusFailed:
			// Heroku made it and its release phase failed: a round that
			// failed, not one to make again.
			res.Outcome, res.Target, res.Created, res.Recovered = Failed, target, rel, true
			res.Err = errors.New(phaseFailed(rel.Version, target.Version, req.Bad))
		case rel.Status == heroku.StatusFailed:
			continue
		case ours:
			res.Outcome, res.Target, res.Created, res.Recovered = Done, target, rel, true
		case rel.Status == heroku.StatusPending:
			res.Outcome, res.Waiting = Skipped, true
			res.Reason = fmt.Sprintf("v%d (%s, pending) came after v%d and is in its release phase", rel.Version, rel.Description, req.Bad)
		default:
			res.Outcome = Skipped
			res.Reason = fmt.Sprintf("v%d is no longer the newest release: v%d (%s, %s) came after it", req.Bad, rel.Version, rel.Description, rel.Status)
		}
		return true, heroku.Release{}, nil
	}
	if bad.Status != heroku.StatusSucceeded {
		res.Outcome, res.Reason = Skipped, fmt.Sprintf("v%d is %s, not live", req.Bad, bad.Status)
		return true, heroku.Release{}, nil
	}
	return false, target, nil
}

func pickTarget(releases []heroku.Release, req Request) (heroku.Release, error) {
	if req.To == 0 {
		t, passed, ok := heroku.RollbackTarget(releases, req.Bad, req.Unfit)
		if ok {
			return t, nil
		}
		if len(passed) > 0 {
			return heroku.Release{}, fmt.Errorf("no release of %s before v%d to go back to automatically: v%d: %s", req.App, req.Bad, passed[0].Release.Version, passed[0].Why)
		}
		return heroku.Release{}, fmt.Errorf("no release of %s before v%d succeeded: nothing to roll back to", req.App, req.Bad)
	}
	for _, rel := range releases {
		if rel.Version != req.To {
			continue
		}
		if rel.Version >= req.Bad {
			return heroku.Release{}, fmt.Errorf("v%d is not older than v%d", req.To, req.Bad)
		}
		if rel.Status != heroku.StatusSucceeded {
			return heroku.Release{}, fmt.Errorf("v%d cannot be rolled back to: its status is %s", rel.Version, rel.Status)
		}
		return rel, nil
	}
	return heroku.Release{}, fmt.Errorf("v%d is not among the newest %d releases of %s", req.To, ListDepth, req.App)
}
