package heroku

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Release is the part of a Heroku release that relwatch reads.
type Release struct {
	ID          string    `json:"id"`
	Version     int       `json:"version"`
	Description string    `json:"description"`
	Status      string    `json:"status"` // pending, succeeded or failed
	Current     bool      `json:"current"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	SlugID      string    `json:"slug_id,omitempty"`
	User        string    `json:"user,omitempty"`
}

// Release statuses as Heroku reports them.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

var rollbackDescription = regexp.MustCompile(`^Rollback to v(\d+)\b`)

// RollsBackTo reports whether the release is a rollback and, if so, the
// version it rolled back to (Heroku describes it "Rollback to vN").
func (r Release) RollsBackTo() (int, bool) {
	m := rollbackDescription.FindStringSubmatch(r.Description)
	if m == nil {
		return 0, false
	}
	v, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, false
	}
	return v, true
}

// LiveAt is when the release went live: Heroku updates a release when its
// release phase ends, so a succeeded release's UpdatedAt is that moment.
func (r Release) LiveAt() time.Time {
	if r.Status == StatusSucceeded && r.UpdatedAt.After(r.CreatedAt) {
		return r.UpdatedAt
	}
	return r.CreatedAt
}

// Current returns the app's current release: the one Heroku marks current,
// else the newest that succeeded.
func Current(releases []Release) (Release, bool) {
	best := -1
	for i, r := range releases {
		if r.Current {
			return r, true
		}
		if r.Status == StatusSucceeded && (best < 0 || r.Version > releases[best].Version) {
			best = i
		}
	}
	if best < 0 {
		return Release{}, false
	}
	return releases[best], true
}

// Previous returns the release that was live before version v: the newest
// earlier release that succeeded. It is the rule for what a rollback of v
// goes back to; RollbackTarget adds what an automatic rollback must avoid.
func Previous(releases []Release, v int) (Release, bool) {
	t, _, ok := RollbackTarget(releases, v, nil)
	return t, ok
}

// Passed is a release RollbackTarget did not go back to, and why.
type Passed struct {
	Release Release
	Why     string
}

// RollbackTarget returns the release to roll back to from bad: the newest
// earlier release that succeeded and that unfit has nothing against (unfit
// returns why a release must not be gone back to, "" when it may; nil
// accepts every release). passed lists, newest first, the releases that
// succeeded but were unfit; ok is false when no release is left.
func RollbackTarget(releases []Release, bad int, unfit func(Release) string) (target Release, passed []Passed, ok bool) {
	// The candidates, newest first: every earlier release that succeeded.
	// Releases come newest first from Heroku, but not always (a fake, a
	// cache): sort by version.
	var candidates []Release
	for _, r := range releases {
		if r.Version < bad && r.Status == StatusSucceeded {
			candidates = append(candidates, r)
		}
	}
	slices.SortFunc(candidates, func(x, y Release) int { return y.Version - x.Version })
	for _, r := range candidates {
		why := ""
		if unfit != nil {
			why = unfit(r)
		}
		if why == "" {
			return r, passed, true
		}
		passed = append(passed, Passed{Release: r, Why: why})
	}
	return Release{}, passed, false
}

// RolledBack returns the releases that were rolled back from, each with the
// rollback release that replaced it: a "Rollback to vN" release replaces
// the release that was live just before it.
func RolledBack(releases []Release) map[int]int {
	out := map[int]int{}
	for _, r := range releases {
		if _, ok := r.RollsBackTo(); !ok || r.Status == StatusFailed {
			continue
		}
		if from, ok := Previous(releases, r.Version); ok {
			out[from.Version] = r.Version
		}
	}
	return out
}

// String names the release the way people do: v42 (Deploy 3f1c2aa).
func (r Release) String() string { return fmt.Sprintf("v%d (%s)", r.Version, r.Description) }
