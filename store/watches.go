package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/relwatch/relwatch/evidence"
)

// WatchFormat is the format of the watch records this code writes. A record
// in a newer format is refused (written by a newer relwatch); format 0 is
// the watcher's own JSON that relwatch wrote before records had a format,
// read through legacyWatch.
const WatchFormat = 1

// WatchRecord is one watch as the store keeps it: a format of its own,
// versioned, so that changing the watcher's in-memory watch cannot silently
// change what is on disk. `relwatch status --format json` prints it.
type WatchRecord struct {
	Format       int           `json:"format"`
	App          string        `json:"app"`
	Release      ReleaseRecord `json:"release"`
	FirstRelease int           `json:"first_release"` // the first of a run of replacements: the baseline is from before it
	State        string        `json:"state"`         // watching, or how the watch ended
	LiveAt       time.Time     `json:"live_at"`
	Until        time.Time     `json:"until"`
	BaselineFrom time.Time     `json:"baseline_from"`
	BaselineTo   time.Time     `json:"baseline_to"`
	// Baseline is the analysis' Baseline, as its JSON (nil: none yet),
	// kept so that a restarted worker whose metrics source forgets
	// (router logs live in memory) still judges against the same one.
	Baseline    json.RawMessage    `json:"baseline"`
	Exclude     []Span             `json:"exclude"` // restart blips of earlier releases left out of the baseline
	Anomalous   bool               `json:"anomalous"`
	RolledBack  bool               `json:"rolled_back"`
	Judged      bool               `json:"judged"`                     // a tick found the release healthy on all its signals
	Quarantined int                `json:"quarantined_from,omitempty"` // this slug was rolled back from that release before
	ApprovedBy  string             `json:"approved_by,omitempty"`      // who ended the watch healthy by approving the release
	Joined      bool               `json:"joined,omitempty"`           // the release went live before the worker started
	Coverage    float64            `json:"coverage"`                   // share of the seconds since going live that had data
	Verdict     string             `json:"verdict"`                    // healthy, anomalous or inconclusive at the last tick
	VerdictMode string             `json:"verdict_mode"`               // relative (against the baseline) or absolute (guardrails)
	Findings    []evidence.Finding `json:"findings"`
	Updated     time.Time          `json:"updated"`
}

// ReleaseRecord is the watched release as Heroku described it.
type ReleaseRecord struct {
	ID          string    `json:"id"`
	Version     int       `json:"version"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	SlugID      string    `json:"slug_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Span is a stretch of time, [From, To).
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// SaveWatch stores a watch, replacing the app's record of the same release.
func (d *DB) SaveWatch(ctx context.Context, w WatchRecord) error {
	w.Format, w.Updated = WatchFormat, d.now()
	if w.Exclude == nil {
		w.Exclude = []Span{}
	}
	if w.Findings == nil {
		w.Findings = []evidence.Finding{}
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("save the watch of %s v%d: %w", w.App, w.Release.Version, err)
	}
	_, err = d.exec(ctx, `INSERT INTO watches (app, release, state, data, updated_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app, release) DO UPDATE SET state = excluded.state, data = excluded.data, updated_ms = excluded.updated_ms`,
		w.App, w.Release.Version, w.State, string(data), ms(w.Updated))
	if err != nil {
		return fmt.Errorf("save the watch of %s v%d: %w", w.App, w.Release.Version, err)
	}
	return nil
}

// Watches returns app's newest watches, newest release first, at most limit.
func (d *DB) Watches(ctx context.Context, app string, limit int) ([]WatchRecord, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT release, state, data, updated_ms FROM watches WHERE app = ? ORDER BY release DESC LIMIT ?`), app, limit)
	if err != nil {
		return nil, fmt.Errorf("read the watches of %s: %w", app, err)
	}
	defer rows.Close()
	var out []WatchRecord
	for rows.Next() {
		var release int
		var state, data string
		var updated int64
		if err := rows.Scan(&release, &state, &data, &updated); err != nil {
			return nil, fmt.Errorf("read the watches of %s: %w", app, err)
		}
		w, err := decodeWatch([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("read the watch of %s v%d: %w", app, release, err)
		}
		w.App, w.Release.Version, w.State, w.Updated = app, release, state, fromMS(updated)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the watches of %s: %w", app, err)
	}
	return out, nil
}

// LatestWatch returns the watch of app's newest watched release, if any.
func (d *DB) LatestWatch(ctx context.Context, app string) (WatchRecord, bool, error) {
	ws, err := d.Watches(ctx, app, 1)
	if err != nil || len(ws) == 0 {
		return WatchRecord{}, false, err
	}
	return ws[0], true, nil
}

func decodeWatch(data []byte) (WatchRecord, error) {
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return WatchRecord{}, fmt.Errorf("not a watch record: %w", err)
	}
	switch {
	case probe.Format > WatchFormat:
		return WatchRecord{}, fmt.Errorf("watch record format %d is newer than this relwatch reads (%d): upgrade relwatch", probe.Format, WatchFormat)
	case probe.Format == 0:
		return legacyWatch(data)
	}
	var w WatchRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return WatchRecord{}, fmt.Errorf("watch record format %d: %w", probe.Format, err)
	}
	if string(w.Baseline) == "null" {
		w.Baseline = nil // none yet
	}
	return w, nil
}

// legacyWatch reads a watch stored before records had a format: the JSON
// of the watcher's Watch struct of the time, with Go's field names.
func legacyWatch(data []byte) (WatchRecord, error) {
	var old struct {
		App          string
		Release      ReleaseRecord `json:"Release"`
		FirstVersion int
		BaselineFrom time.Time
		BaselineTo   time.Time
		LiveAt       time.Time
		Until        time.Time
		Baseline     json.RawMessage
		Exclude      []struct{ From, To time.Time }
		Anomalous    bool
		RolledBack   bool
		Last         struct {
			Verdict struct {
				Status   string             `json:"status"`
				Findings []evidence.Finding `json:"findings"`
			}
			Coverage float64
		}
		State       string
		Quarantined int
	}
	if err := json.Unmarshal(data, &old); err != nil {
		return WatchRecord{}, fmt.Errorf("watch record without a format: %w", err)
	}
	if old.Release.Version == 0 {
		return WatchRecord{}, errors.New("watch record without a format and without a release")
	}
	w := WatchRecord{
		App: old.App, Release: old.Release, FirstRelease: old.FirstVersion, State: old.State,
		LiveAt: old.LiveAt, Until: old.Until, BaselineFrom: old.BaselineFrom, BaselineTo: old.BaselineTo,
		Anomalous: old.Anomalous, RolledBack: old.RolledBack, Quarantined: old.Quarantined,
		Coverage: old.Last.Coverage, Verdict: old.Last.Verdict.Status, Findings: old.Last.Verdict.Findings,
		Judged: old.Last.Verdict.Status == "healthy",
	}
	b, err := legacyBaseline(old.Baseline)
	if err != nil {
		return WatchRecord{}, fmt.Errorf("watch record without a format: baseline: %w", err)
	}
	w.Baseline = b
	for _, iv := range old.Exclude {
		w.Exclude = append(w.Exclude, Span{From: iv.From, To: iv.To})
	}
	return w, nil
}

// legacyBaseline is a baseline of a record without a format as the
// analysis writes one now: it had one bin size, and its dispersions then
// stand for every scale (the first attempts' as the requests'); the other
// fields read as they were written.
func legacyBaseline(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	var bin struct {
		Seconds           int     `json:"bin_seconds"`
		RequestDispersion float64 `json:"request_dispersion"`
		ErrorDispersion   float64 `json:"error_dispersion"`
		RepeatDispersion  float64 `json:"repeat_dispersion"`
	}
	if err := json.Unmarshal(raw, &bin); err != nil {
		return nil, err
	}
	for _, k := range []string{"bin_seconds", "request_dispersion", "error_dispersion", "repeat_dispersion"} {
		delete(fields, k)
	}
	scale := map[string]any{"seconds": bin.Seconds, "request_dispersion": bin.RequestDispersion,
		"error_dispersion": bin.ErrorDispersion, "repeat_dispersion": bin.RepeatDispersion, "first_dispersion": bin.RequestDispersion}
	var err error
	if fields["scales"], err = json.Marshal([]any{scale}); err != nil {
		return nil, err
	}
	return json.Marshal(fields)
}
