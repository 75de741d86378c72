// Package fsutil writes files atomically: one file with temp + fsync +
// rename, and a set of files in one directory all-or-nothing through a
// roll-forward journal.
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// WriteFile writes data to path atomically: a temp file in the same
// directory, fsync, rename, fsync of the directory. A crash leaves either
// the old or the new content, never a mix.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(dir, filepath.Base(path), data, perm, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func writeTemp(dir, base string, data []byte, perm os.FileMode, sync bool) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// JournalName is the journal file a multi-file write leaves while it runs.
const JournalName = ".calico-plan-journal"

type journal struct {
	Renames []rename `yaml:"renames"`
}

type rename struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// HookAfterJournal, when set (tests only), runs after the journal is
// written and before any rename, to simulate a crash at that point.
var HookAfterJournal func() error

// WriteFiles writes a set of files (names relative to dir) all-or-nothing.
// Files whose content on disk is already identical are not touched. Each
// new file is written to a temp file and fsynced; then a journal listing
// the renames is committed atomically; then the renames run and the journal
// is removed. Recover completes an interrupted write.
func WriteFiles(dir string, files map[string][]byte) (written []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := Recover(dir); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.ContainsAny(n, `/\`) || n == "" || n == JournalName {
			return nil, fmt.Errorf("invalid file name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var j journal
	cleanup := func() {
		for _, r := range j.Renames {
			os.Remove(filepath.Join(dir, r.From))
		}
	}
	for _, n := range names {
		old, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil && bytes.Equal(old, files[n]) {
			continue
		}
		// With many files, one filesystem sync below replaces a sync per file.
		tmp, err := writeTemp(dir, n, files[n], 0o644, !canSyncFS)
		if err != nil {
			cleanup()
			return nil, err
		}
		j.Renames = append(j.Renames, rename{From: filepath.Base(tmp), To: n})
		written = append(written, n)
	}
	if len(j.Renames) == 0 {
		return nil, nil
	}
	if canSyncFS {
		if err := syncFS(dir); err != nil {
			cleanup()
			return nil, err
		}
	}
	jb, err := yaml.Marshal(&j)
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := WriteFile(filepath.Join(dir, JournalName), jb, 0o644); err != nil {
		cleanup()
		return nil, err
	}
	if HookAfterJournal != nil {
		if err := HookAfterJournal(); err != nil {
			return nil, err
		}
	}
	if err := Recover(dir); err != nil {
		return nil, err
	}
	return written, nil
}

// Recover completes a multi-file write that was interrupted after its
// journal was committed, and removes temp files of writes that were
// interrupted before.
func Recover(dir string) error {
	jpath := filepath.Join(dir, JournalName)
	jb, err := os.ReadFile(jpath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		var j journal
		if err := yaml.Unmarshal(jb, &j); err != nil {
			return fmt.Errorf("%s: corrupt journal: %w", jpath, err)
		}
		for _, r := range j.Renames {
			if strings.ContainsAny(r.From+r.To, `/\`) {
				return fmt.Errorf("%s: invalid entry %q -> %q", jpath, r.From, r.To)
			}
			from := filepath.Join(dir, r.From)
			if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
				continue // already renamed
			}
			if err := os.Rename(from, filepath.Join(dir, r.To)); err != nil {
				return err
			}
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		if err := os.Remove(jpath); err != nil {
			return err
		}
	}
	// Temp files not named by a committed journal belong to a write that
	// never committed: the old files are still intact.
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			os.Remove(filepath.Join(dir, n))
		}
	}
	return syncDir(dir)
}
