package scenario

import (
	"io"
	"maps"
	"syscall"
	"testing"

	"github.com/relwatch/relwatch/internal/atomicfile"
	"github.com/relwatch/relwatch/internal/testenv"
)

// TestAFailedWriteLeavesTheOldScenario: a write of a scenario over another
// that fails part way (the disk full while one of its files is written)
// leaves the old folder as it was, with no temporary file, and never the
// new series.csv beside the old scenario.toml, which a replay would take
// for a scenario.
func TestAFailedWriteLeavesTheOldScenario(t *testing.T) {
	old, err := Load(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load("../scenarios/crates-io-seed1")
	if err != nil {
		t.Fatal(err)
	}
	files, err := encode(other, "# the new one\n")
	if err != nil {
		t.Fatal(err)
	}
	if last := files[len(files)-1].Name; last != "scenario.toml" {
		t.Fatalf("%s is written last, want scenario.toml", last)
	}
	for i, broken := range files {
		dir := t.TempDir()
		if err := Write(dir, old); err != nil {
			t.Fatal(err)
		}
		before := testenv.Folder(t, dir)
		failing := append([]atomicfile.File(nil), files...)
		failing[i].Write = func(w io.Writer) error {
			if err := broken.Write(w); err != nil {
				return err
			}
			return syscall.ENOSPC // all of it written, and the disk full at its close
		}
		if err := atomicfile.Replace(dir, failing...); err == nil {
			t.Fatalf("%s failed, and the write did not", broken.Name)
		}
		if after := testenv.Folder(t, dir); !maps.Equal(after, before) {
			t.Errorf("%s failed: the folder changed from %d files to %d", broken.Name, len(before), len(after))
			for name, content := range after {
				if content != before[name] {
					t.Errorf("%s failed: %s is not the old one", broken.Name, name)
				}
			}
		}
	}
	// And a write that does not fail replaces both.
	dir := t.TempDir()
	if err := Write(dir, old); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Replace(dir, files...); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil || back.Name != other.Name || back.DurationS != other.DurationS || len(testenv.Folder(t, dir)) != 2 {
		t.Fatalf("the new scenario read back: %v, %v", back, err)
	}
}
