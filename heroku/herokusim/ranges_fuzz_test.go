package herokusim

import (
	"net/http"
	"testing"
)

// FuzzParseRange: any Range header is served, or refused with Heroku's 400
// or 416, never a panic; a served one names a field the list has and a
// page size from 1 to 1000.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"version ..; max=10, order=desc", "version ]41..; max=10, order=desc", "version ..; max=2; order=desc",
		"version .., order=desc", "id ..; max=10;", "version ..3", "", ";;", "version ]..[", "name ..; max=99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		rs, err := parseRange(h, []string{"id", "version"}, 200)
		if err != nil {
			if err.status != http.StatusBadRequest && err.status != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("%q: status %d", h, err.status)
			}
			return
		}
		if (rs.field != "id" && rs.field != "version") || rs.max < 1 || rs.max > maxPageSize {
			t.Fatalf("%q: served %+v", h, rs)
		}
		if rs.start == "" && rs.end != "" {
			t.Fatalf("%q: an end without a start served", h)
		}
	})
}
