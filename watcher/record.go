package watcher

import (
	"encoding/json"
	"slices"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/store"
)

// storedRecord is the watch as the store keeps it.
func (wt *Watch) storedRecord() store.WatchRecord {
	r := wt.Release
	rec := store.WatchRecord{
		App: wt.App,
		Release: store.ReleaseRecord{ID: r.ID, Version: r.Version, Description: r.Description, Status: r.Status,
			SlugID: r.SlugID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt},
		FirstRelease: wt.FirstVersion, State: wt.State, LiveAt: wt.LiveAt, Until: wt.Until,
		BaselineFrom: wt.BaselineFrom, BaselineTo: wt.BaselineTo,
		Anomalous: wt.Anomalous, RolledBack: wt.RolledBack, Judged: wt.Judged, Quarantined: wt.Quarantined, ApprovedBy: wt.ApprovedBy, Joined: wt.Joined,
		Coverage: wt.Last.Coverage, Verdict: string(wt.Last.Verdict.Status), VerdictMode: string(wt.Last.Verdict.Mode),
		Findings: ownFindings(wt.Last.Verdict.Findings),
	}
	if b := wt.Baseline; b != nil {
		kept := *b
		if kept.Scales == nil {
			kept.Scales = []analysis.Scale{}
		}
		// Times, plain numbers and arrays: it cannot fail to marshal.
		rec.Baseline, _ = json.Marshal(kept)
	}
	for _, iv := range wt.Exclude {
		rec.Exclude = append(rec.Exclude, store.Span{From: iv.From, To: iv.To})
	}
	return rec
}

// watchFromRecord is a stored watch, resumed.
func watchFromRecord(rec store.WatchRecord) *Watch {
	r := rec.Release
	wt := &Watch{
		App: rec.App,
		Release: heroku.Release{ID: r.ID, Version: r.Version, Description: r.Description, Status: r.Status,
			SlugID: r.SlugID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt},
		FirstVersion: rec.FirstRelease, State: rec.State, LiveAt: rec.LiveAt, Until: rec.Until,
		BaselineFrom: rec.BaselineFrom, BaselineTo: rec.BaselineTo,
		Anomalous: rec.Anomalous, RolledBack: rec.RolledBack, Judged: rec.Judged, Quarantined: rec.Quarantined, ApprovedBy: rec.ApprovedBy, Joined: rec.Joined,
	}
	if len(rec.Baseline) > 0 {
		var b analysis.Baseline
		err := json.Unmarshal(rec.Baseline, &b)
		if err != nil {
			// A latency baseline that does not read (a record from a
			// newer relwatch) leaves the latency unjudged, not the watch.
			var rest struct {
				analysis.Baseline
				Latency json.RawMessage `json:"latency"`
			}
			if err = json.Unmarshal(rec.Baseline, &rest); err == nil {
				b = rest.Baseline
			}
		}
		if err == nil {
			wt.Baseline = &b
		}
		// One that does not read at all is learnt again from the source
		// (Watcher.baseline), if it still has the traffic.
	}
	for _, s := range rec.Exclude {
		wt.Exclude = append(wt.Exclude, analysis.Interval{From: s.From, To: s.To})
	}
	wt.Last.Coverage = rec.Coverage
	wt.Last.Verdict.Status = analysis.Status(rec.Verdict)
	wt.Last.Verdict.Mode = analysis.Mode(rec.VerdictMode)
	wt.Last.Verdict.Findings = ownFindings(rec.Findings)
	return wt
}

// ownFindings is a copy of fs (nil when empty), so that a watch and its
// record share no array. A stored finding is the analysis's own
// (evidence.Finding): nothing to convert.
func ownFindings(fs []analysis.Finding) []analysis.Finding {
	if len(fs) == 0 {
		return nil
	}
	return slices.Clone(fs)
}

// evidenceJSON is a decision's evidence as stored: the findings, in the
// store's format.
func evidenceJSON(fs []analysis.Finding) string {
	if fs == nil {
		fs = []analysis.Finding{} // "[]", as ever
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return "[]"
	}
	return string(b)
}
