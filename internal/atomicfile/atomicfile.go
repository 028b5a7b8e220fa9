// Package atomicfile replaces files so that a reader finds the old content
// or the new, never a part of the new: each file is written under a
// temporary name in its own folder, flushed to disk, and only then renamed
// into place.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is one file Replace writes: its name in the folder, and what writes
// its content.
type File struct {
	Name  string
	Write func(w io.Writer) error
}

// WriteFile replaces the file at path with data (mode 0644): path holds its
// old content or data, never a part of data.
func WriteFile(path string, data []byte) error {
	return Replace(filepath.Dir(path), File{Name: filepath.Base(path), Write: func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}})
}

// Replace writes files into dir (mode 0644), all or none. Every file is
// written to a temporary name first, and only when all are written are
// they renamed into place, in order. A failure removes the temporaries and
// leaves dir as it was.
//
// The old files are taken aside first, the last one first, and the last
// file is renamed into place last: from the first rename until the last,
// the last file's name is absent. So a reader that needs that file (a
// scenario folder's scenario.toml) never finds it beside files it was not
// written with, even after a crash between two renames.
func Replace(dir string, files ...File) (err error) {
	temps := make([]string, len(files))
	var undo []func() // run in reverse on failure
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		for _, tmp := range temps {
			if tmp != "" {
				os.Remove(tmp) // gone already when it was renamed
			}
		}
	}()
	for i, f := range files {
		temps[i], err = writeTemp(dir, f)
		if err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f.Name), withoutPath(err))
		}
	}
	var backups []string
	existed := make([]bool, len(files))
	for i := len(files) - 1; i >= 0; i-- {
		final, backup := filepath.Join(dir, files[i].Name), temps[i]+".old"
		switch err = os.Rename(final, backup); {
		case err == nil:
			existed[i] = true
			backups = append(backups, backup)
			undo = append(undo, func() { os.Rename(backup, final) })
		case errors.Is(err, fs.ErrNotExist):
			err = nil
		default:
			return fmt.Errorf("replace %s: %w", final, err)
		}
	}
	for i, f := range files {
		final := filepath.Join(dir, f.Name)
		if err = os.Rename(temps[i], final); err != nil {
			return fmt.Errorf("replace %s: %w", final, err)
		}
		if !existed[i] {
			undo = append(undo, func() { os.Remove(final) })
		}
	}
	for _, b := range backups {
		os.Remove(b) // a leftover old file harms no reader; the new ones are in place
	}
	syncDir(dir)
	return nil
}

// withoutPath is err without the temporary file's name a *fs.PathError
// carries: the error names the file asked for, which the person knows,
// and says what went wrong with it ("no such file or directory").
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeTemp writes f to a new temporary file in dir and flushes it to disk;
// it returns the file's name, for removal, even when it fails.
func writeTemp(dir string, f File) (string, error) {
	tmp, err := os.CreateTemp(dir, "."+f.Name+".*.tmp")
	if err != nil {
		return "", err
	}
	err = tmp.Chmod(0o644) // CreateTemp's 0600 would hide a report from its readers
	if err == nil {
		bw := bufio.NewWriter(tmp)
		if err = f.Write(bw); err == nil {
			err = bw.Flush()
		}
	}
	if err == nil {
		err = tmp.Sync() // the content is on disk before its name is
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return tmp.Name(), err
}

// syncDir flushes dir's renames to disk where the system allows it (not
// every one opens a folder for that); the files are whole either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
