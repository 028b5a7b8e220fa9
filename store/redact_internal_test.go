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
