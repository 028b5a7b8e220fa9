package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Folder is every file of dir, by name, with its content: what a test
// compares before and after a write that must leave a folder as it was.
func Folder(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(raw)
	}
	return out
}
