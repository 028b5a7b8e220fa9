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
	Format       int                `json:"format"`
	App          string             `json:"app"`
	Release      ReleaseRecord      `json:"release"`
	FirstRelease int                `json:"first_release"` // the first of a run of replacements: the baseline is from before it
	State        string             `json:"state"`         // watching, or how the watch ended
	LiveAt       time.Time          `json:"live_at"`
	Until        time.Time          `json:"until"`
	BaselineFrom time.Time          `json:"baseline_from"`
	BaselineTo   time.Time          `json:"baseline_to"`
	Baseline     *BaselineRecord    `json:"baseline"`
	Exclude      []Span             `json:"exclude"` // restart blips of earlier releases left out of the baseline
	Anomalous    bool               `json:"anomalous"`
	RolledBack   bool               `json:"rolled_back"`
	Judged       bool               `json:"judged"`                     // a tick found the release healthy on all its signals
	Quarantined  int                `json:"quarantined_from,omitempty"` // this slug was rolled back from that release before
	ApprovedBy   string             `json:"approved_by,omitempty"`      // who ended the watch healthy by approving the release
	Joined       bool               `json:"joined,omitempty"`           // the release went live before the worker started
	Coverage     float64            `json:"coverage"`                   // share of the seconds since going live that had data
	Verdict      string             `json:"verdict"`                    // healthy, anomalous or inconclusive at the last tick
	VerdictMode  string             `json:"verdict_mode"`               // relative (against the baseline) or absolute (guardrails)
	Findings     []evidence.Finding `json:"findings"`
	Updated      time.Time          `json:"updated"`
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

// BaselineRecord is a baseline's summary, kept so that a restarted worker
// whose metrics source forgets (router logs live in memory) still judges
// against the same baseline.
type BaselineRecord struct {
	From                  time.Time     `json:"from"`
	To                    time.Time     `json:"to"`
	Seconds               int           `json:"seconds"`
	Active                int           `json:"active"`
	Clusters              int           `json:"clusters"`
	MaxClusterRepeatShare float64       `json:"max_cluster_repeat_share"`
	ClustersPast          int           `json:"clusters_past,omitempty"`
	Requests              int64         `json:"requests"`
	Errors                int64         `json:"errors"`
	Repeats               int64         `json:"repeats"`
	HasRepeats            bool          `json:"has_repeats"`
	RecentRate            float64       `json:"recent_rate"`
	RecentFirstRate       float64       `json:"recent_first_rate"`
	Scales                []ScaleRecord `json:"scales"`
	// Latency is the baseline's response times (analysis.LatencyBaseline
	// as JSON: a histogram and, per window length, the spread and slowest
	// window of p50, p95 and p99); absent where the source gives none.
	// The store keeps it as the analysis wrote it.
	Latency json.RawMessage `json:"latency,omitempty"`
}

// ScaleRecord is the baseline through windows of one length: how bursty
// each count is, and its worst windows.
type ScaleRecord struct {
	Seconds           int     `json:"seconds"`
	RequestDispersion float64 `json:"request_dispersion"`
	ErrorDispersion   float64 `json:"error_dispersion"`
	RepeatDispersion  float64 `json:"repeat_dispersion"`
	FirstDispersion   float64 `json:"first_dispersion"`
	ShareWindows      int     `json:"share_windows"`
	MaxErrorShare     float64 `json:"max_error_share"`
	MaxRepeatShare    float64 `json:"max_repeat_share"`
	RateWindows       int     `json:"rate_windows"`
	MinFirstRate      float64 `json:"min_first_rate"`
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
		Baseline     *struct {
			BaselineRecord
			RequestDispersion float64 `json:"request_dispersion"`
			ErrorDispersion   float64 `json:"error_dispersion"`
			RepeatDispersion  float64 `json:"repeat_dispersion"`
			BinSeconds        int     `json:"bin_seconds"`
		}
		Exclude    []struct{ From, To time.Time }
		Anomalous  bool
		RolledBack bool
		Last       struct {
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
	if b := old.Baseline; b != nil {
		// One bin size then: it stands for every scale.
		w.Baseline = &b.BaselineRecord
		w.Baseline.Scales = []ScaleRecord{{Seconds: b.BinSeconds, RequestDispersion: b.RequestDispersion,
			ErrorDispersion: b.ErrorDispersion, RepeatDispersion: b.RepeatDispersion, FirstDispersion: b.RequestDispersion}}
	}
	for _, iv := range old.Exclude {
		w.Exclude = append(w.Exclude, Span{From: iv.From, To: iv.To})
	}
	return w, nil
}
