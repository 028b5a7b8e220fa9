package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A driver that misreads a DSN may quote the password, or pieces of it, in
// its own words: redactErr masks them.
func TestRedactErrMasksWhatADriverQuotes(t *testing.T) {
	dsn := "postgres://u:ab/s3cr3t-pw%21@h/db"
	for _, quoted := range []string{"s3cr3t-pw%21", "s3cr3t-pw!", "ab/s3cr3t-pw%21", "s3cr3t-pw%21@h/db"} {
		err := redactErr(dsn, fmt.Errorf("open state: connect to `database=%s`: %w", quoted, errors.ErrUnsupported))
		if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "open state: connect to") {
			t.Errorf("redactErr(%q) = %v", quoted, err)
		}
	}
	plain := fmt.Errorf("open state: %w", errors.ErrUnsupported)
	if got := redactErr(dsn, plain); got != plain {
		t.Errorf("an error that quotes no password changed: %v", got)
	}
}

// A short password (a local database's "p", "postgres") is masked where a
// driver quotes it alone, not inside the words of the error: every "p" of
// "open state postgres://..." was masked ("oxxxxxen state xxxxxostgres"),
// as was "postgres" in the URL's scheme.
func TestRedactErrLeavesWordsThatHoldAShortPassword(t *testing.T) {
	for _, tt := range []struct{ dsn, quoted, keep string }{
		{"postgres://postgres:p@127.0.0.1:1/relwatch", "p", "open state postgres://postgres:xxxxx@127.0.0.1:1/relwatch: dial tcp 127.0.0.1:1"},
		{"postgres://u:postgres@127.0.0.1:1/relwatch", "postgres", "open state postgres://u:xxxxx@127.0.0.1:1/relwatch: dial tcp 127.0.0.1:1"},
	} {
		err := redactErr(tt.dsn, fmt.Errorf("open state %s: dial tcp 127.0.0.1:1 (password %q, p p): %w", Redact(tt.dsn), tt.quoted, errors.ErrUnsupported))
		if !strings.Contains(err.Error(), tt.keep) || strings.Contains(err.Error(), fmt.Sprintf("%q", tt.quoted)) {
			t.Errorf("%s: %v", tt.dsn, err)
		}
	}
}
