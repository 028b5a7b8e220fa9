package watcher

import (
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// TestMadeBefore: a request is the one a journaled rollback was made for
// only when the same person's rollback began when the request was there,
// of the release it named, if it named one.
func TestMadeBefore(t *testing.T) {
	asked := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	a := &appState{persons: []store.JournalEntry{
		{ID: 7, App: "crates-io", Bad: 42, By: "@ana", Started: asked.Add(time.Second)},
		{ID: 3, App: "crates-io", Bad: 40, By: "@bo", Started: asked.Add(-time.Hour)},
	}}
	for _, c := range []struct {
		name string
		r    store.Request
		want int64
	}{
		{"the rollback it led to", store.Request{By: "@ana", At: asked}, 7},
		{"its release named", store.Request{By: "@ana", At: asked, From: 42}, 7},
		{"another release named", store.Request{By: "@ana", At: asked, From: 43}, 0},
		{"another person's", store.Request{By: "@cy", At: asked}, 0},
		{"asked after the rollback began", store.Request{By: "@bo", At: asked}, 0},
	} {
		e, ok := a.madeBefore(c.r)
		if ok != (c.want != 0) || e.ID != c.want {
			t.Errorf("%s: madeBefore = %d, %v; want %d", c.name, e.ID, ok, c.want)
		}
	}
}
