package heroku

import (
	"testing"
)

func TestRollbackTarget(t *testing.T) {
	rel := func(v int, status, desc string) Release {
		return Release{Version: v, Status: status, Description: desc}
	}
	releases := []Release{ // newest first, as Heroku lists them
		rel(45, StatusPending, "Deploy e5"),
		rel(44, StatusSucceeded, "Deploy d4"),
		rel(43, StatusFailed, "Deploy c3"),
		rel(42, StatusSucceeded, "Deploy b2"),
		rel(41, StatusSucceeded, "Promote staging v117"),
		rel(40, StatusSucceeded, "Deploy a0"),
	}
	unfit := func(bad ...int) func(Release) string {
		return func(r Release) string {
			for _, b := range bad {
				if r.Version == b {
					return "judged anomalous"
				}
			}
			return ""
		}
	}
	tests := []struct {
		name       string
		bad        int
		unfit      func(Release) string
		want       int
		wantPassed []int
	}{
		{"the newest earlier that succeeded, over a failed one", 44, nil, 42, nil},
		{"a pending release is never a target", 46, nil, 44, nil},
		{"an unfit release is passed over", 44, unfit(42), 41, []int{42}},
		{"every candidate unfit: none", 42, unfit(41, 40), 0, []int{41, 40}},
		{"nothing older", 40, nil, 0, nil},
		{"walking down past an unfit one skips a failed one", 45, unfit(44), 42, []int{44}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, passed, ok := RollbackTarget(releases, tt.bad, tt.unfit)
			if ok != (tt.want != 0) || got.Version != tt.want {
				t.Fatalf("RollbackTarget(v%d) = v%d, %v; want v%d", tt.bad, got.Version, ok, tt.want)
			}
			var pv []int
			for _, p := range passed {
				pv = append(pv, p.Release.Version)
				if p.Why == "" {
					t.Errorf("passed v%d without a reason", p.Release.Version)
				}
			}
			if len(pv) != len(tt.wantPassed) {
				t.Fatalf("passed %v, want %v", pv, tt.wantPassed)
			}
			for i := range pv {
				if pv[i] != tt.wantPassed[i] {
					t.Fatalf("passed %v, want %v", pv, tt.wantPassed)
				}
			}
		})
	}
}

func TestRolledBackAndCurrent(t *testing.T) {
	releases := []Release{
		{Version: 44, Status: StatusSucceeded, Description: "Rollback to v41"},
		{Version: 43, Status: StatusFailed, Description: "Deploy c3"},
		{Version: 42, Status: StatusSucceeded, Description: "Deploy b2"},
		{Version: 41, Status: StatusSucceeded, Description: "Deploy a1"},
	}
	rb := RolledBack(releases)
	if len(rb) != 1 || rb[42] != 44 {
		t.Fatalf("RolledBack = %v, want v42 rolled back by v44", rb)
	}
	if cur, ok := Current(releases); !ok || cur.Version != 44 {
		t.Fatalf("Current = v%d, %v; want v44", cur.Version, ok)
	}
	releases[2].Current = true // Heroku's own mark wins
	if cur, _ := Current(releases); cur.Version != 42 {
		t.Fatalf("Current with a mark = v%d, want v42", cur.Version)
	}
}

// Releases in any order (a cache, a fake): the target is still the newest
// earlier release that succeeded, and the next ones are passed over in
// order of version.
func TestRollbackTargetWhateverTheOrder(t *testing.T) {
	releases := []Release{
		{Version: 40, Status: StatusSucceeded}, {Version: 43, Status: StatusSucceeded},
		{Version: 41, Status: StatusSucceeded}, {Version: 44, Status: StatusPending}, {Version: 42, Status: StatusSucceeded},
	}
	unfit := func(r Release) string {
		if r.Version >= 42 {
			return "judged anomalous"
		}
		return ""
	}
	got, passed, ok := RollbackTarget(releases, 44, unfit)
	if !ok || got.Version != 41 || len(passed) != 2 || passed[0].Release.Version != 43 || passed[1].Release.Version != 42 {
		t.Fatalf("RollbackTarget = v%d %+v %v; want v41, passing over v43 then v42", got.Version, passed, ok)
	}
}

// Current is the release Heroku marks current; else the newest that
// succeeded, wherever it is in the list; else none.
func TestCurrent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		releases []Release
		want     int
	}{
		{"marked", []Release{{Version: 3, Status: StatusSucceeded}, {Version: 2, Status: StatusSucceeded, Current: true}}, 2},
		{"the only one", []Release{{Version: 1, Status: StatusSucceeded}}, 1},
		{"the newest that succeeded", []Release{{Version: 5, Status: StatusFailed}, {Version: 3, Status: StatusSucceeded}, {Version: 4, Status: StatusSucceeded}}, 4},
		{"none succeeded", []Release{{Version: 9, Status: StatusFailed}, {Version: 8, Status: StatusPending}}, 0},
		{"none", nil, 0},
	} {
		got, ok := Current(tc.releases)
		if ok != (tc.want != 0) || got.Version != tc.want {
			t.Errorf("%s: v%d %v, want v%d", tc.name, got.Version, ok, tc.want)
		}
	}
}
