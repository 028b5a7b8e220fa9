package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/internal/testenv"
)

func content(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// full writes half of s, then fails as a full disk does.
func full(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		io.WriteString(w, s[:len(s)/2])
		return errors.New("no space left on device")
	}
}

// TestReplaceIsAllOrNone: when any file fails, none is replaced and no
// temporary stays; when none fails, all are, readable by all.
func TestReplaceIsAllOrNone(t *testing.T) {
	for _, old := range []map[string]string{{"a": "old a", "b": "old b"}, {"a": "old a"}, {}} {
		for broken := range 2 {
			dir := t.TempDir()
			for name, s := range old {
				os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644)
			}
			files := []File{{Name: "a", Write: content("new a")}, {Name: "b", Write: content("new b")}}
			files[broken].Write = full("new " + files[broken].Name)
			if err := Replace(dir, files...); err == nil {
				t.Fatalf("old %v: %s failed, and Replace did not", old, files[broken].Name)
			}
			if got := testenv.Folder(t, dir); !maps.Equal(got, old) {
				t.Errorf("old %v: %s failed, and the folder became %v", old, files[broken].Name, got)
			}
		}
		dir := t.TempDir()
		for name, s := range old {
			os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644)
		}
		if err := Replace(dir, File{Name: "a", Write: content("new a")}, File{Name: "b", Write: content("new b")}); err != nil {
			t.Fatal(err)
		}
		if got := testenv.Folder(t, dir); !maps.Equal(got, map[string]string{"a": "new a", "b": "new b"}) {
			t.Errorf("old %v: replaced by %v", old, got)
		}
		for _, name := range []string{"a", "b"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm()&0o044 != 0o044 {
				t.Errorf("%s: mode %v (%v), want readable by all as a report is", name, fi.Mode(), err)
			}
		}
	}
}

// TestWriteFile: a failed WriteFile (its folder gone) leaves nothing; a
// good one replaces the file whole.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chart.png")
	if err := WriteFile(path, []byte("old picture")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new picture")); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Folder(t, dir); !maps.Equal(got, map[string]string{"chart.png": "new picture"}) {
		t.Fatalf("folder %v", got)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "chart.png"), []byte("x")); err == nil {
		t.Fatal("a file written into a folder that does not exist")
	}
}

// A write that fails names the file asked for, never the temporary name
// it is first written under (".x.png.2819432455.tmp"), and keeps what
// went wrong (errors.Is finds it).
func TestAFailedWriteNamesTheFileAskedFor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.png")
	err := WriteFile(path, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".tmp") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile(%s): %v; want an error naming it, without the temporary file, that is fs.ErrNotExist", path, err)
	}
}
