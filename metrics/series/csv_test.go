package series

import (
	"os"
	"path/filepath"
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
		Header + "\n-1,download,10,0,0\n":                  `line 2: t_s "-1"`,
		"":                                                 "empty file",
	}
	for in, want := range tests {
		_, err := Parse(strings.NewReader(in), 5)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
	got, err := Parse(strings.NewReader(Header+"\n0,download,10,1,2\n2,download,5,0,0\n"), 3)
	if err != nil || !got["download"][0].OK || got["download"][1].OK || got["download"][2].Requests != 5 {
		t.Fatalf("Parse = %+v, %v; want second 1 without data", got, err)
	}
}

func FuzzParse(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join("..", "..", "cmd", "relwatch", "demodata", "crates-io-2023-07-20", "series.csv"))
	f.Add(raw[:min(len(raw), 400)])
	f.Add([]byte(Header + "\n0,download,10,1,2\n"))
	f.Add([]byte(Header + "\r\n0,download,10,1,2\r\n1,other,3,3,3\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Parse(strings.NewReader(string(in)), 100)
		if err != nil {
			return
		}
		for route, pts := range got {
			if len(pts) != 100 {
				t.Fatalf("route %q has %d points, want 100", route, len(pts))
			}
			for _, p := range pts {
				if p.Errors > p.Requests || p.Repeats > p.Requests || p.Requests < 0 {
					t.Fatalf("accepted an impossible point %+v", p)
				}
			}
		}
	})
}
