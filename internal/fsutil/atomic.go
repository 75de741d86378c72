// Package fsutil writes files atomically: one file with temp + fsync +
// rename, and a set of files in one directory all-or-nothing through a
// roll-forward journal. Readers of such a directory (ReadFiles) see either
// the state before or after a write, and never change the directory.
package fsutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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

// isTemp reports whether name is a temp file of WriteFile or WriteFiles.
func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") }

// JournalName is the journal file a multi-file write leaves while it runs.
const JournalName = ".calico-plan-journal"

type journal struct {
	Renames []rename `yaml:"renames"`
}

type rename struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// SHA256 is the hex digest of the new content: once From is gone, it
	// tells a completed rename from a temp file that was lost. Journals of
	// older versions have none.
	SHA256 string `yaml:"sha256,omitempty"`
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// HookAfterJournal, when set (tests only), runs after the journal is
// written and before any rename, to simulate a crash at that point.
var HookAfterJournal func() error

// WriteFiles writes a set of files (names relative to dir) all-or-nothing.
// Files whose content on disk is already identical are not touched. Each
// new file is written to a temp file and fsynced; then a journal listing
// the renames is committed atomically; then the renames run and the journal
// is removed. The whole write holds an exclusive lock on dir, which
// ReadFiles waits for: a reader sees the files before or after the write.
// An interrupted earlier write is completed (or, if it never committed,
// discarded) first. A temp file that disappears before its rename is an
// error, never skipped.
func WriteFiles(dir string, files map[string][]byte) (written []string, err error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.ContainsAny(n, `/\`) || n == "" || n == "." || n == ".." || n == JournalName || isTemp(n) {
			return nil, fmt.Errorf("invalid file name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockDir(dir, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := recoverLocked(dir); err != nil {
		return nil, err
	}
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
		j.Renames = append(j.Renames, rename{From: filepath.Base(tmp), To: n, SHA256: digest(files[n])})
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
	if err := rollForward(dir, &j); err != nil {
		return nil, err
	}
	return written, nil
}

// entryState is where one journaled rename stands.
type entryState int

const (
	statePending entryState = iota // the temp file is there: not renamed yet
	stateDone                      // renamed: the target holds the new content
	stateLost                      // the temp file is gone, the target does not hold its content
)

// journalState reads dir's journal (nil when there is none) and where each
// of its renames stands.
func journalState(dir string) (*journal, []entryState, error) {
	jpath := filepath.Join(dir, JournalName)
	jb, err := os.ReadFile(jpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var j journal
	if err := yaml.Unmarshal(jb, &j); err != nil {
		return nil, nil, fmt.Errorf("%s: corrupt journal: %w", jpath, err)
	}
	states := make([]entryState, len(j.Renames))
	for i, r := range j.Renames {
		if strings.ContainsAny(r.From+r.To, `/\`) || !isTemp(r.From) || r.To == "" || isTemp(r.To) || r.To == JournalName {
			return nil, nil, fmt.Errorf("%s: invalid entry %q -> %q", jpath, r.From, r.To)
		}
		_, err := os.Lstat(filepath.Join(dir, r.From))
		switch {
		case err == nil:
			states[i] = statePending
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, err
		case r.SHA256 == "":
			states[i] = stateDone // an older journal: assume renamed
		default:
			b, err := os.ReadFile(filepath.Join(dir, r.To))
			if err == nil && digest(b) == r.SHA256 {
				states[i] = stateDone
			} else if err == nil || errors.Is(err, fs.ErrNotExist) {
				states[i] = stateLost
			} else {
				return nil, nil, err
			}
		}
	}
	return &j, states, nil
}

// journalOutcome decides what a journal found on disk means: apply it (the
// write committed and every new file is there or in place), discard it
// (a temp file is lost but nothing was renamed yet: the old files are
// intact), or neither (some files were replaced and another was lost: the
// directory mixes two states).
func journalOutcome(dir string, j *journal, states []entryState) (apply bool, err error) {
	var lost []string
	done := false
	for i, s := range states {
		switch s {
		case stateLost:
			lost = append(lost, fmt.Sprintf("%s (temp file %s)", j.Renames[i].To, j.Renames[i].From))
		case stateDone:
			done = true
		}
	}
	if len(lost) == 0 {
		return true, nil
	}
	if !done {
		return false, nil
	}
	return false, &InconsistentError{Dir: dir, Lost: lost}
}

// InconsistentError reports a directory that holds part of a committed
// write: some files were replaced, but the new content of others was lost
// (their temp files were deleted before the rename).
type InconsistentError struct {
	Dir  string
	Lost []string
}

func (e *InconsistentError) Error() string {
	return fmt.Sprintf("%s is inconsistent: the write recorded in %s replaced some files, but the new content of %s was lost before it could be renamed into place (deleted by another program); restore the directory from git or a backup",
		e.Dir, JournalName, strings.Join(e.Lost, ", "))
}

// rollForward completes the write j describes and removes the journal. A
// lost temp file is an error: before any rename, the write is discarded
// (journal and temp files removed, the old files stay); after one, the
// directory is reported inconsistent and left as it is.
func rollForward(dir string, j *journal) error {
	_, states, err := journalState(dir)
	if err != nil {
		return err
	}
	apply, err := journalOutcome(dir, j, states)
	if err != nil {
		return err
	}
	if !apply {
		var lost []string
		for i, s := range states {
			if s == stateLost {
				lost = append(lost, j.Renames[i].To)
			}
		}
		if err := discard(dir, j); err != nil {
			return err
		}
		return fmt.Errorf("%s: the temp files of %s disappeared before the write could complete (deleted by another program); nothing was changed", dir, strings.Join(lost, ", "))
	}
	return applyJournal(dir, j, states)
}

func applyJournal(dir string, j *journal, states []entryState) error {
	for i, r := range j.Renames {
		if states[i] != statePending {
			continue
		}
		if err := os.Rename(filepath.Join(dir, r.From), filepath.Join(dir, r.To)); err != nil {
			return fmt.Errorf("%s: completing the write of %s (journal %s): %w", dir, r.To, JournalName, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, JournalName)); err != nil {
		return err
	}
	return syncDir(dir)
}

// discard drops a journaled write of which nothing was renamed.
func discard(dir string, j *journal) error {
	if err := os.Remove(filepath.Join(dir, JournalName)); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	for _, r := range j.Renames {
		os.Remove(filepath.Join(dir, r.From))
	}
	return nil
}

// Recover completes a multi-file write that was interrupted after its
// journal was committed, and removes temp files of writes that were
// interrupted before. It holds dir's exclusive lock, as WriteFiles does
// (which recovers by itself); a missing dir is nothing to recover.
func Recover(dir string) error {
	unlock, err := lockDir(dir, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	return recoverLocked(dir)
}

func recoverLocked(dir string) error {
	j, states, err := journalState(dir)
	if err != nil {
		return err
	}
	if j != nil {
		apply, err := journalOutcome(dir, j, states)
		if err != nil {
			return err
		}
		if apply {
			err = applyJournal(dir, j, states)
		} else {
			// A lost temp file, nothing renamed: the write never
			// happened, the old files are intact.
			err = discard(dir, j)
		}
		if err != nil {
			return err
		}
	}
	// Temp files not named by a committed journal belong to a write that
	// never committed: the old files are still intact. Only a holder of
	// the exclusive lock may remove them: no write is under way.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, e := range ents {
		if n := e.Name(); isTemp(n) {
			os.Remove(filepath.Join(dir, n))
			removed = true
		}
	}
	if !removed {
		return nil
	}
	return syncDir(dir)
}

// ReadFiles reads the files of dir whose names keep accepts, as the last
// complete write (WriteFiles) left them, without changing anything in dir,
// and passes each to fn (in name order; data is fn's to keep). It holds a
// shared lock on dir while it reads, so no write runs meanwhile. A journal
// left by an interrupted write is read as if it had been completed (the
// state the write committed); temp files are never read. keep sees plain
// names only (never temp files or the journal). An error from fn stops the
// read and is returned.
func ReadFiles(dir string, keep func(name string) bool, fn func(name string, data []byte) error) error {
	unlock, err := lockDir(dir, false)
	if err != nil {
		return err
	}
	defer unlock()
	j, states, err := journalState(dir)
	if err != nil {
		return err
	}
	pending := map[string]string{} // target -> temp file holding its new content
	if j != nil {
		apply, err := journalOutcome(dir, j, states)
		if err != nil {
			return err
		}
		for i, r := range j.Renames {
			if apply && states[i] == statePending {
				pending[r.To] = r.From
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range ents {
		if n := e.Name(); !isTemp(n) && n != JournalName && !e.IsDir() && keep(n) {
			seen[n] = true
			names = append(names, n)
		}
	}
	for to := range pending {
		if !seen[to] && keep(to) {
			names = append(names, to)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		src := n
		if from, ok := pending[n]; ok {
			src = from
		}
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			return err
		}
		if err := fn(n, b); err != nil {
			return err
		}
	}
	return nil
}
