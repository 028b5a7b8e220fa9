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
