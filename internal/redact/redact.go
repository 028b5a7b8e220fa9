// Package redact keeps secrets out of text. Every integration passes what
// an outside service said through it before it becomes an error (a
// service may quote the credential it refused), and the binary passes all
// it writes through a Writer that knows every configured secret.
package redact

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// Mark stands where a secret was.
const Mark = "[redacted]"

// minLen is the shortest value treated as a secret: shorter ones would
// redact ordinary words.
const minLen = 6

// String returns s with every occurrence of each secret replaced by Mark.
func String(s string, secrets ...string) string {
	for _, secret := range secrets {
		if isSecret(secret) {
			s = strings.ReplaceAll(s, secret, Mark)
		}
	}
	return s
}

// isSecret reports whether a configured value is long enough to be
// treated as a secret.
func isSecret(s string) bool { return len(s) >= minLen }

// Error returns err with its message redacted; errors.Is and errors.As
// still see the original. A nil err stays nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := String(msg, secrets...); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// Writer redacts secrets from what it writes to w. Each Write is redacted
// on its own: the binary's writers (its log lines, a command's output) write
// whole lines, so a secret is never split across two writes.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

// NewWriter returns a Writer to w for secrets (empty and short ones are
// ignored).
func NewWriter(w io.Writer, secrets ...string) *Writer {
	rw := &Writer{w: w}
	for _, s := range secrets {
		if isSecret(s) {
			rw.secrets = append(rw.secrets, []byte(s))
		}
	}
	return rw
}

// Write implements io.Writer; it reports len(p) written when all of the
// redacted text was.
func (rw *Writer) Write(p []byte) (int, error) {
	out := p
	for _, s := range rw.secrets {
		out = bytes.ReplaceAll(out, s, []byte(Mark))
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if _, err := rw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
