package watcher

import (
	"encoding/json"

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
		Findings: findingRecords(wt.Last.Verdict.Findings),
	}
	if b := wt.Baseline; b != nil {
		rec.Baseline = &store.BaselineRecord{From: b.From, To: b.To, Seconds: b.Seconds, Active: b.Active, Clusters: b.Clusters, MaxClusterRepeatShare: b.MaxClusterRepeatShare, ClustersPast: b.ClustersPast, Requests: b.Requests, Errors: b.Errors,
			Repeats: b.Repeats, HasRepeats: b.HasRepeats, RecentRate: b.RecentRate, RecentFirstRate: b.RecentFirstRate}
		for _, sc := range b.Scales {
			rec.Baseline.Scales = append(rec.Baseline.Scales, store.ScaleRecord(sc))
		}
		if b.Latency != nil {
			// Plain numbers and arrays: it cannot fail to marshal.
			rec.Baseline.Latency, _ = json.Marshal(b.Latency)
		}
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
	if b := rec.Baseline; b != nil {
		wt.Baseline = &analysis.Baseline{From: b.From, To: b.To, Seconds: b.Seconds, Active: b.Active, Clusters: b.Clusters, MaxClusterRepeatShare: b.MaxClusterRepeatShare, ClustersPast: b.ClustersPast, Requests: b.Requests, Errors: b.Errors,
			Repeats: b.Repeats, HasRepeats: b.HasRepeats, RecentRate: b.RecentRate, RecentFirstRate: b.RecentFirstRate}
		for _, sc := range b.Scales {
			wt.Baseline.Scales = append(wt.Baseline.Scales, analysis.Scale(sc))
		}
		if len(b.Latency) > 0 {
			var lb analysis.LatencyBaseline
			if err := json.Unmarshal(b.Latency, &lb); err == nil {
				wt.Baseline.Latency = &lb
			}
			// A latency baseline that does not read (a record from a
			// newer relwatch) leaves the latency unjudged, not the watch.
		}
	}
	for _, s := range rec.Exclude {
		wt.Exclude = append(wt.Exclude, analysis.Interval{From: s.From, To: s.To})
	}
	wt.Last.Coverage = rec.Coverage
	wt.Last.Verdict.Status = analysis.Status(rec.Verdict)
	wt.Last.Verdict.Mode = analysis.Mode(rec.VerdictMode)
	wt.Last.Verdict.Findings = FindingsOf(rec.Findings)
	return wt
}

// FindingsOf are stored findings (a watch record's, a decision's evidence)
// as the analysis made them, for the words notify has for them.
func FindingsOf(fs []store.Finding) []analysis.Finding {
	var out []analysis.Finding
	for _, f := range fs {
		out = append(out, analysis.Finding{
			Signal: analysis.Signal(f.Signal), Route: f.Route, Status: analysis.Status(f.Status), Trigger: f.Trigger, Mode: analysis.Mode(f.Mode),
			Baseline: f.Baseline, Current: f.Current, BaselineSample: f.BaselineSample, CurrentSample: f.CurrentSample,
			BaselineSeconds: f.BaselineSeconds, CurrentSeconds: f.CurrentSeconds, Z: f.Z, ZThreshold: f.ZThreshold,
			Dispersion: f.Dispersion, MinIncrease: f.MinIncrease, MinRatio: f.MinRatio, Burst: f.Burst,
			FirstAttempts: f.FirstAttempts, TotalBaseline: f.TotalBaseline, TotalCurrent: f.TotalCurrent,
			From: f.From, To: f.To, Gap: analysis.Gap(f.Gap), Have: f.Have, Need: f.Need, Detail: f.Detail,
		})
	}
	return out
}

func findingRecords(fs []analysis.Finding) []store.Finding {
	out := make([]store.Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, store.Finding{
			Signal: string(f.Signal), Route: f.Route, Status: string(f.Status), Trigger: f.Trigger, Mode: string(f.Mode),
			Baseline: f.Baseline, Current: f.Current, BaselineSample: f.BaselineSample, CurrentSample: f.CurrentSample,
			BaselineSeconds: f.BaselineSeconds, CurrentSeconds: f.CurrentSeconds, Z: f.Z, ZThreshold: f.ZThreshold,
			Dispersion: f.Dispersion, MinIncrease: f.MinIncrease, MinRatio: f.MinRatio, Burst: f.Burst,
			FirstAttempts: f.FirstAttempts, TotalBaseline: f.TotalBaseline, TotalCurrent: f.TotalCurrent,
			From: f.From, To: f.To, Gap: string(f.Gap), Have: f.Have, Need: f.Need, Detail: f.Detail,
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
