package series

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocated returns the bytes fn allocates on the heap (a memory bound,
// not a timing: runtime.MemStats.TotalAlloc before and after).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 1 KB recording that declares a week and has 50 routes of one row each
// costs memory for its 50 rows, not for 50 x 604,800 seconds (which was
// 967 MB of points). The bound is generous: 1 MB.
func TestMemoryFollowsTheRowsNotTheDeclaredDuration(t *testing.T) {
	const week = 7 * 24 * 3600
	var b strings.Builder
	b.WriteString(Header + "\n")
	for i := range 50 {
		fmt.Fprintf(&b, "%d,route%02d,10,1,1\n", week-1-i, i)
	}
	csv := b.String()
	var tab Table
	var err error
	parsed := allocated(func() { tab, err = Parse(strings.NewReader(csv), week) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a %d-byte file of 50 rows over a declared week: %d bytes allocated by Parse", len(csv), parsed)
	if parsed > 1<<20 {
		t.Errorf("Parse allocated %d bytes for %d rows: memory must follow the rows", parsed, 50)
	}
	if len(tab) != 50 || tab["route07"].Len() != 1 {
		t.Fatalf("parsed %d routes", len(tab))
	}

	// A read allocates the window it asks for (an hour: 3,600 points of 32
	// bytes), whatever the recording declares.
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	src := Serve(start, tab, func() time.Time { return start.Add(week * time.Second) })
	from := start.Add((week - 3600) * time.Second)
	read := allocated(func() {
		s, err := src.Counts(context.Background(), "route07", from, from.Add(time.Hour))
		if err != nil || !s.Points[3600-1-7].OK || s.Points[3600-1-7].Requests != 10 {
			t.Errorf("Counts = %v, %+v", err, s.Points[3600-1-7])
		}
	})
	t.Logf("reading an hour of it: %d bytes allocated", read)
	if read > 256<<10 {
		t.Errorf("Counts allocated %d bytes for an hour's window", read)
	}
}

// A histogram costs only a row that has latency: the latency column with
// no times in it allocates as a file without it, and 500 rows with times
// take their histograms a few chunks at a time, not one allocation each.
func TestParseAllocatesHistogramsOnlyForRowsWithLatency(t *testing.T) {
	file := func(header, latency string) string {
		var b strings.Builder
		b.WriteString(header + "\n")
		for i := range 500 {
			fmt.Fprintf(&b, "%d,route%d,10,1,1%s\n", i/5, i%5, latency)
		}
		return b.String()
	}
	allocs := func(csv string) float64 {
		return testing.AllocsPerRun(20, func() {
			if _, err := Parse(strings.NewReader(csv), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
	without := allocs(file(Header, ""))
	empty := allocs(file(HeaderLatency, ","))
	with := allocs(file(HeaderLatency, ",0:2;7:3;12:5"))
	t.Logf("Parse of 500 rows: %.0f allocations without the latency column, %.0f with it empty, %.0f with times in every row", without, empty, with)
	if empty != without {
		t.Errorf("an empty latency column costs %.0f allocations more", empty-without)
	}
	if with > without+8 {
		t.Errorf("500 rows with latency cost %.0f allocations more: histograms must come in chunks", with-without)
	}
}
