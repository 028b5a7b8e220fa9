// Package evidence is the record of a judgement: one signal's finding with
// the numbers behind it. The analysis makes findings; the store keeps
// them as they are; notify words them. One definition, so that a field
// added here is kept everywhere, with no copy to forget (issue 18). It
// imports nothing of relwatch's: every floor may use it.
package evidence

import "time"

// Signal names one thing the analysis measures.
type Signal string

// Status is the outcome for one signal or for a whole verdict.
type Status string

// Mode is what a finding was judged against.
type Mode string

// Gap says why a finding could not be judged; Have and Need give its
// numbers.
type Gap string

// Finding is one signal's outcome with the evidence behind it, as numbers,
// so a person can check it.
type Finding struct {
	Signal Signal `json:"signal"`
	// Route is the route the finding is of, where an app guards several
	// ("" for an app that guards one).
	Route  string `json:"route,omitempty"`
	Status Status `json:"status"`
	// Trigger is true for signals that may roll a release back on their own.
	Trigger bool `json:"trigger"`
	Mode    Mode `json:"mode"`
	// Baseline and Current are shares (0..1), requests/s, or seconds (a
	// latency quantile); for the absolute mode Baseline is the guardrail.
	Baseline        float64 `json:"baseline"`
	Current         float64 `json:"current"`
	BaselineSample  int64   `json:"baseline_sample"` // requests behind the value
	CurrentSample   int64   `json:"current_sample"`
	BaselineSeconds int     `json:"baseline_seconds"`
	CurrentSeconds  int     `json:"current_seconds"`
	Z               float64 `json:"z"`
	ZThreshold      float64 `json:"z_threshold"`
	// Dispersion is the baseline's dispersion factor at the window's
	// length; for latency, the spread of its windows' log quantile.
	Dispersion float64 `json:"dispersion"`
	// MinIncrease and MinRatio are the minimum effect (shares: both; rates:
	// the ratio).
	MinIncrease float64 `json:"min_increase,omitempty"`
	MinRatio    float64 `json:"min_ratio,omitempty"`
	// Burst is the baseline's worst window of the same length (share, or
	// the lowest first-attempt rate for a collapse); 0 when the baseline
	// had no such window.
	Burst float64 `json:"burst"`
	// FirstAttempts says the rates are of first attempts (requests minus
	// repeats); TotalBaseline and TotalCurrent are then the total rates.
	FirstAttempts bool      `json:"first_attempts,omitempty"`
	TotalBaseline float64   `json:"total_baseline,omitempty"`
	TotalCurrent  float64   `json:"total_current,omitempty"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Gap           Gap       `json:"gap,omitempty"`
	Have          float64   `json:"have,omitempty"`
	Need          float64   `json:"need,omitempty"`
	// Detail is what the outside world said, verbatim (a failed probe's
	// error).
	Detail string `json:"detail,omitempty"`
}
