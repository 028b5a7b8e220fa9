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
