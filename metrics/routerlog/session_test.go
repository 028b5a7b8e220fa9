package routerlog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAllEvents(in string) (lines []string, ids []string, malformed int, err error) {
	r := bufio.NewReaderSize(strings.NewReader(in), maxLine)
	err = readEvents(r, func(l []byte) { lines = append(lines, string(l)) }, func() { malformed++ }, func(id string) { ids = append(ids, id) })
	return
}

func TestReadEvents(t *testing.T) {
	in := ": keep-alive\n" +
		"id: 1002\ndata: 2024-10-17T22:23:22.209776+00:00 app[web.1]: log line 1\n\n" +
		"id: 1003\r\ndata: line 2\r\ndata:line 3\r\n\r\n" + // CRLF, no space after the colon, two data lines
		"event: ping\nretry: 100\n\n" + // no data: nothing to read
		"id: 1004\n\n" + // an id alone moves the last event id
		"data: cut short, never dispatched\n"
	lines, ids, malformed, err := readAllEvents(in)
	if !errors.Is(err, io.EOF) || malformed != 0 {
		t.Fatalf("err %v, malformed %d", err, malformed)
	}
	want := []string{"2024-10-17T22:23:22.209776+00:00 app[web.1]: log line 1", "line 2", "line 3"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	if strings.Join(ids, ",") != "1002,1003,1004" {
		t.Fatalf("ids %q", ids)
	}
}

func TestReadEventsTooLong(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	big := strings.Repeat("data: "+strings.Repeat("y", 1000)+"\n", maxEvent/1000+2)
	lines, ids, malformed, _ := readAllEvents("id: 1\ndata: " + long + "\n\n" + "id: 2\n" + big + "\n" + "id: 3\ndata: fine\n\n")
	if malformed != 2 || len(lines) != 1 || lines[0] != "fine" || strings.Join(ids, ",") != "1,2,3" {
		t.Fatalf("lines %d %q, ids %q, malformed %d: want both long events skipped, their ids kept", len(lines), lines, ids, malformed)
	}
}

// FuzzReadEvents: any bytes, as server-sent events or as plain lines, end
// in an error (io.EOF at the latest), never a panic, and never yield a line
// longer than the limit or one with a newline in it.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("id: 1\ndata: a\n\n"))
	f.Add([]byte(": c\r\ndata:\r\n\r\nid\n\n"))
	f.Add([]byte("data: " + strings.Repeat("z", 300) + "\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		check := func(l []byte) {
			if len(l) > maxEvent || bytes.ContainsAny(l, "\n") {
				t.Fatalf("line %q", l)
			}
		}
		r := bufio.NewReaderSize(bytes.NewReader(in), 16) // a small buffer reaches the long-line paths
		if err := readEvents(r, check, func() {}, func(string) {}); err == nil {
			t.Fatal("readEvents ended without an error")
		}
		r = bufio.NewReaderSize(bytes.NewReader(in), 16)
		if err := readLines(r, check, func() {}); err == nil {
			t.Fatal("readLines ended without an error")
		}
	})
}
