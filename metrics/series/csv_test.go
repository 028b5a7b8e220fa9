package series

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := map[string]string{
		"t_s,route,requests\n":                             "line 1: header",
		Header + "\n0,download,10,0,0\n1,download,x,0,0\n": `line 3: requests "x"`,
		Header + "\n0,download,10,11,0\n":                  "line 2: errors 11 or repeats 0 exceed requests 10",
		Header + "\n0,download,10,0,0\n0,download,9,0,0\n": `line 3: a second row for t_s 0, route "download"`,
		Header + "\n5,download,10,0,0\n":                   "line 2: t_s 5 is past the recording",
		Header + "\n0,,10,0,0\n":                           "line 2: route is empty",
		Header + "\n0,download,10,0\n":                     "line 2: 4 fields",
		Header + "\n0,download,10,0,0,1\n":                 "line 2: 6 fields",
		Header + "\n-1,download,10,0,0\n":                  `line 2: t_s "-1"`,
		"":                                                 "empty file",
		// Out of time order, a second given twice is found at the end: the
		// error names the later line.
		Header + "\n3,download,1,0,0\n1,download,1,0,0\n0,other,1,0,0\n3,download,2,0,0\n2,download,1,0,0\n": `line 5: a second row for t_s 3, route "download"`,
	}
	for in, want := range tests {
		_, err := Parse(strings.NewReader(in), 5)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseKeepsRowsInTimeOrder(t *testing.T) {
	got, err := Parse(strings.NewReader(Header+"\r\n4,download,5,0,0\r\n0,download,10,1,2\n1,other,3,3,3\n\n2,download,7,0,1\n"), 5)
	if err != nil {
		t.Fatal(err)
	}
	var secs []int
	for s, p := range got["download"].All() {
		secs = append(secs, s)
		if !p.OK {
			t.Errorf("second %d not OK", s)
		}
	}
	if len(got) != 2 || got["download"].Len() != 3 || !slices.Equal(secs, []int{0, 2, 4}) {
		t.Fatalf("routes %d, download seconds %v", len(got), secs)
	}
	if p, ok := got["download"].At(0); !ok || p.Requests != 10 || p.Errors != 1 || p.Repeats != 2 {
		t.Errorf("At(0) = %+v, %v", p, ok)
	}
	if _, ok := got["download"].At(1); ok {
		t.Error("second 1 has no row: it must have no data")
	}
	var out bytes.Buffer
	if err := Write(&out, got, 4); err != nil {
		t.Fatal(err)
	}
	// Second 4 is past the 4 s written.
	if want := Header + "\n0,download,10,1,2\n1,other,3,3,3\n2,download,7,0,1\n"; out.String() != want {
		t.Errorf("Write =\n%s\nwant\n%s", out.String(), want)
	}
}

func TestWriteThenParseRoundTrips(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cmd", "relwatch", "demodata", "crates-io-2023-07-20", "series.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(bytes.NewReader(raw), 3600)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, tab, 3600); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.ReplaceAll(raw, []byte("\r"), nil), out.Bytes()) {
		t.Error("the demo's series.csv does not come back as it was")
	}
}

func FuzzParse(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join("..", "..", "cmd", "relwatch", "demodata", "crates-io-2023-07-20", "series.csv"))
	f.Add(raw[:min(len(raw), 400)])
	f.Add([]byte(Header + "\n0,download,10,1,2\n"))
	f.Add([]byte("\ufeff" + Header + "\r\n0,download,10,1,2\r\n"))
	f.Add([]byte(Header + "\n1," + strings.Repeat("x", 70000) + ",1,0,0\n"))
	f.Add([]byte(Header + "\r\n0,download,10,1,2\r\n1,other,3,3,3\n"))
	f.Add([]byte(Header + "\n5,download,10,1,2\n1,download,3,3,3\n5,download,1,0,0\n"))
	f.Add([]byte(HeaderLatency + "\n0,download,10,1,2,0:1;7:3;31:6\n1,other,3,3,3,\n"))
	f.Add([]byte(HeaderLatency + "\r\n2,download,4,0,0,12:4\r\n0,download,9,0,0,\n1,other,0,0,0,\n"))
	f.Add([]byte(HeaderLatency + "\n0,download,10,0,0,3:6;4:5\n"))
	f.Add([]byte(HeaderLatency + "\n0,download,10,0,0,5:1;3:1\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Parse(bytes.NewReader(in), 100)
		if err != nil {
			return
		}
		anyLatency := false
		for route, rows := range got {
			last := -1
			for sec, p := range rows.All() {
				if sec <= last || sec >= 100 {
					t.Fatalf("route %q: second %d after %d (want increasing, below 100)", route, sec, last)
				}
				last = sec
				if !p.OK || p.Errors > p.Requests || p.Repeats > p.Requests || p.Requests < 0 {
					t.Fatalf("accepted an impossible point %+v", p)
				}
				if p.Latency != nil && (p.Latency.Count() == 0 || p.Latency.Count() > p.Requests) {
					t.Fatalf("accepted a latency of %d responses for %d requests", p.Latency.Count(), p.Requests)
				}
				anyLatency = anyLatency || p.Latency != nil
			}
		}
		// What Write writes, Parse reads back the same.
		var out bytes.Buffer
		if err := Write(&out, got, 100); err != nil {
			t.Fatal(err)
		}
		withLatency := bytes.HasPrefix(out.Bytes(), []byte(HeaderLatency+"\n"))
		if withLatency != anyLatency {
			t.Fatalf("written with the latency column %v, some second has latency %v", withLatency, anyLatency)
		}
		again, err := Parse(&out, 100)
		if err != nil {
			t.Fatalf("Parse of Write's output: %v\n%s", err, out.String())
		}
		if len(again) != len(got) {
			t.Fatalf("%d routes came back as %d", len(got), len(again))
		}
		for route, rows := range got {
			if !equalRows(rows, again[route]) {
				t.Fatalf("route %q did not round-trip", route)
			}
			if again[route].HasLatency() != rows.HasLatency() {
				t.Fatalf("route %q: latency %v, written with the latency column %v, read back %v", route, rows.HasLatency(), withLatency, again[route].HasLatency())
			}
		}
	})
}

// equalRows reports whether a and b hold the same seconds and counts, the
// latency histograms compared by value.
func equalRows(a, b *Rows) bool {
	return b != nil && slices.Equal(a.secs, b.secs) && samePoints(a.pts, b.pts)
}

// A series.csv saved by a spreadsheet or Windows Notepad opens with a
// UTF-8 byte-order mark; it is read as the file without one (before, the
// header was refused as "\ufefft_s,route,...", which looked the same as
// the one wanted). scenario.toml with one was read already.
func TestParseReadsPastAByteOrderMark(t *testing.T) {
	got, err := Parse(strings.NewReader("\ufeff"+Header+"\r\n0,download,10,1,2\r\n"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := got["download"].At(0); !ok || p.Requests != 10 {
		t.Fatalf("At(0) = %+v, %v", p, ok)
	}
	// Only at the start: one elsewhere is in a field, and refused there.
	if _, err := Parse(strings.NewReader(Header+"\n\ufeff0,download,10,1,2\n"), 5); err == nil || !strings.Contains(err.Error(), "line 2: t_s") {
		t.Errorf("a mark on line 2: %v", err)
	}
}

// A line past the reader's 64 KB is said as such, not in bufio's words
// ("bufio.Scanner: token too long").
func TestParseSaysALineIsTooLong(t *testing.T) {
	in := Header + "\n0,download,1,0,0\n1," + strings.Repeat("x", 70000) + ",1,0,0\n"
	_, err := Parse(strings.NewReader(in), 5)
	if want := "line 3: longer than 65536 bytes"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
