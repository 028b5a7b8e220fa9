package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestString(t *testing.T) {
	got := String("token xoxb-123456 refused; again xoxb-123456; key abc", "xoxb-123456", "abc", "")
	if got != "token [redacted] refused; again [redacted]; key abc" {
		t.Fatalf("String = %q (a secret left, or a short value taken for one)", got)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	base := fmt.Errorf("open: %w (key s3cr3t-key)", fs.ErrNotExist)
	err := Error(base, "s3cr3t-key")
	if err.Error() != "open: file does not exist (key [redacted])" || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Error = %q, is ErrNotExist %v", err, errors.Is(err, fs.ErrNotExist))
	}
	if Error(nil, "x") != nil || Error(base, "absent") != base {
		t.Fatal("nil and secret-free errors must come back as they are")
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, "hk-SECRET", "", "abc")
	n, err := w.Write([]byte("level=ERROR msg=refused token=hk-SECRET abc\n"))
	if err != nil || n != len("level=ERROR msg=refused token=hk-SECRET abc\n") || b.String() != "level=ERROR msg=refused token=[redacted] abc\n" {
		t.Fatalf("wrote %q (%d, %v)", b.String(), n, err)
	}
}

// Every occurrence goes, in a Writer as in String, and a secret of exactly
// the minimum length is one while a shorter value is not.
func TestEveryOccurrenceAndTheMinimumLength(t *testing.T) {
	exact, short := "k3y-ab", "k3y-a" // minLen and one less
	if len(exact) != minLen || len(short) != minLen-1 {
		t.Fatalf("fixture lengths %d, %d; minLen %d", len(exact), len(short), minLen)
	}
	line := "a=hk-SECRET b=hk-SECRET c=" + exact + " d=" + short + "z\n"
	want := "a=[redacted] b=[redacted] c=[redacted] d=" + short + "z\n"
	if got := String(line, "hk-SECRET", exact, short); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	var b bytes.Buffer
	if _, err := NewWriter(&b, "hk-SECRET", exact, short).Write([]byte(line)); err != nil || b.String() != want {
		t.Errorf("Writer wrote %q (%v), want %q", b.String(), err, want)
	}
}
