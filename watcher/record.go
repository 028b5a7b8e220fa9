package watcher

import (
	"encoding/json"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/store"
)

// record is the watch as the store keeps it.
func (wt *Watch) record() store.WatchRecord {
	r := wt.Release
	rec := store.WatchRecord{
		App: wt.App,
		Release: store.ReleaseRecord{ID: r.ID, Version: r.Version, Description: r.Description, Status: r.Status,
			SlugID: r.SlugID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt},
		FirstRelease: wt.FirstVersion, State: wt.State, LiveAt: wt.LiveAt, Until: wt.Until,
		BaselineFrom: wt.BaselineFrom, BaselineTo: wt.BaselineTo,
		Anomalous: wt.Anomalous, RolledBack: wt.RolledBack, Quarantined: wt.Quarantined,
		Coverage: wt.Last.Coverage, Verdict: string(wt.Last.Verdict.Status), Findings: findingRecords(wt.Last.Verdict.Findings),
	}
	if b := wt.Baseline; b != nil {
		rec.Baseline = &store.BaselineRecord{From: b.From, To: b.To, Seconds: b.Seconds, Requests: b.Requests, Errors: b.Errors,
			Repeats: b.Repeats, HasRepeats: b.HasRepeats, RequestDispersion: b.RequestDispersion, ErrorDispersion: b.ErrorDispersion,
			RepeatDispersion: b.RepeatDispersion, BinSeconds: b.BinSeconds, RecentRate: b.RecentRate}
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
		Anomalous: rec.Anomalous, RolledBack: rec.RolledBack, Quarantined: rec.Quarantined,
	}
	if b := rec.Baseline; b != nil {
		wt.Baseline = &analysis.Baseline{From: b.From, To: b.To, Seconds: b.Seconds, Requests: b.Requests, Errors: b.Errors,
			Repeats: b.Repeats, HasRepeats: b.HasRepeats, RequestDispersion: b.RequestDispersion, ErrorDispersion: b.ErrorDispersion,
			RepeatDispersion: b.RepeatDispersion, BinSeconds: b.BinSeconds, RecentRate: b.RecentRate}
	}
	for _, s := range rec.Exclude {
		wt.Exclude = append(wt.Exclude, analysis.Interval{From: s.From, To: s.To})
	}
	wt.Last.Coverage = rec.Coverage
	wt.Last.Verdict.Status = analysis.Status(rec.Verdict)
	for _, f := range rec.Findings {
		wt.Last.Verdict.Findings = append(wt.Last.Verdict.Findings, analysis.Finding{
			Signal: analysis.Signal(f.Signal), Status: analysis.Status(f.Status), Trigger: f.Trigger,
			Baseline: f.Baseline, Current: f.Current, BaselineSample: f.BaselineSample, CurrentSample: f.CurrentSample,
			BaselineSeconds: f.BaselineSeconds, CurrentSeconds: f.CurrentSeconds, Z: f.Z, ZThreshold: f.ZThreshold,
			Dispersion: f.Dispersion, From: f.From, To: f.To, Note: f.Note,
		})
	}
	return wt
}

func findingRecords(fs []analysis.Finding) []store.Finding {
	out := make([]store.Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, store.Finding{
			Signal: string(f.Signal), Status: string(f.Status), Trigger: f.Trigger,
			Baseline: f.Baseline, Current: f.Current, BaselineSample: f.BaselineSample, CurrentSample: f.CurrentSample,
			BaselineSeconds: f.BaselineSeconds, CurrentSeconds: f.CurrentSeconds, Z: f.Z, ZThreshold: f.ZThreshold,
			Dispersion: f.Dispersion, From: f.From, To: f.To, Note: f.Note,
		})
	}
	return out
}

// evidenceJSON is a decision's evidence as stored: the findings, in the
// store's format.
func evidenceJSON(fs []analysis.Finding) string {
	b, err := json.Marshal(findingRecords(fs))
	if err != nil {
		return "[]"
	}
	return string(b)
}
