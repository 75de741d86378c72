package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteFilesSkipsUnchangedAndRollsForward(t *testing.T) {
	dir := t.TempDir()
	w, err := WriteFiles(dir, map[string][]byte{"a.yaml": []byte("1"), "b.yaml": []byte("2")})
	require.NoError(t, err)
	require.Equal(t, []string{"a.yaml", "b.yaml"}, w)
	st, _ := os.Stat(filepath.Join(dir, "a.yaml"))
	time.Sleep(10 * time.Millisecond)

	w, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("1"), "b.yaml": []byte("3")})
	require.NoError(t, err)
	require.Equal(t, []string{"b.yaml"}, w, "identical content is not rewritten")
	st2, _ := os.Stat(filepath.Join(dir, "a.yaml"))
	require.Equal(t, st.ModTime(), st2.ModTime())

	HookAfterJournal = func() error { return errors.New("crash") }
	_, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("new-a"), "b.yaml": []byte("new-b")})
	HookAfterJournal = nil
	require.Error(t, err)
	b, _ := os.ReadFile(filepath.Join(dir, "a.yaml"))
	require.Equal(t, "1", string(b), "nothing renamed before the crash")
	require.NoError(t, Recover(dir))
	for name, want := range map[string]string{"a.yaml": "new-a", "b.yaml": "new-b"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		require.Equal(t, want, string(b), "the committed journal rolls forward")
	}
	ents, _ := os.ReadDir(dir)
	require.Len(t, ents, 2, "no journal or temp files left")

	_, err = WriteFiles(dir, map[string][]byte{"../x": nil})
	require.ErrorContains(t, err, "invalid file name")
}

func TestLockExcludesASecondWriter(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	require.NoError(t, err)
	_, err = Lock(dir)
	require.ErrorContains(t, err, "in use by another calico-plan process")
	unlock()
	unlock2, err := Lock(dir)
	require.NoError(t, err)
	unlock2()
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f")
	require.NoError(t, WriteFile(p, []byte("x"), 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
	fi, _ := os.Stat(p)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// tempFiles lists the temp files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if isTemp(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

// A temp file deleted between the journal and its rename (by another
// program) is an error, never skipped: the old files stay, the write is
// dropped as a whole.
func TestWriteFilesFailsWhenATempFileVanishes(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteFiles(dir, map[string][]byte{"a.yaml": []byte("1"), "b.yaml": []byte("2")})
	require.NoError(t, err)
	HookAfterJournal = func() error {
		tmps := tempFiles(t, dir)
		require.Len(t, tmps, 2)
		return os.Remove(filepath.Join(dir, tmps[1]))
	}
	_, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("new-a"), "b.yaml": []byte("new-b")})
	HookAfterJournal = nil
	require.ErrorContains(t, err, "disappeared before the write could complete")
	require.Equal(t, map[string]string{"a.yaml": "1", "b.yaml": "2"}, snapshot(t, dir), "old files intact, no journal or temp file left")
}

// A journal whose write replaced some files while the new content of
// another was lost: readers and writers say the directory is inconsistent
// instead of reading or completing a mix.
func TestLostTempFileAfterARenameIsReported(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteFiles(dir, map[string][]byte{"a.yaml": []byte("1"), "b.yaml": []byte("2")})
	require.NoError(t, err)
	HookAfterJournal = func() error { return errors.New("crash") }
	_, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("new-a"), "b.yaml": []byte("new-b")})
	HookAfterJournal = nil
	require.Error(t, err)
	tmps := tempFiles(t, dir)
	require.Len(t, tmps, 2)
	// One rename happened, then the other temp file was lost.
	a, b := tmps[0], tmps[1]
	if strings.HasPrefix(b, ".a.yaml") {
		a, b = b, a
	}
	require.NoError(t, os.Rename(filepath.Join(dir, a), filepath.Join(dir, "a.yaml")))
	require.NoError(t, os.Remove(filepath.Join(dir, b)))

	err = ReadFiles(dir, func(string) bool { return true }, func(string, []byte) error { return nil })
	var ie *InconsistentError
	require.ErrorAs(t, err, &ie)
	require.ErrorContains(t, err, "b.yaml")
	require.ErrorAs(t, Recover(dir), &ie)
	_, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("x")})
	require.ErrorAs(t, err, &ie)
}

// ReadFiles reads the state a committed journal describes, ignores temp
// files of uncommitted writes, and changes nothing in the directory.
func TestReadFilesSeesTheCommittedStateAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteFiles(dir, map[string][]byte{"a.yaml": []byte("1"), "b.yaml": []byte("2")})
	require.NoError(t, err)
	HookAfterJournal = func() error { return errors.New("crash") }
	_, err = WriteFiles(dir, map[string][]byte{"a.yaml": []byte("new-a"), "c.yaml": []byte("new-c")})
	HookAfterJournal = nil
	require.Error(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".b.yaml.tmp-99"), []byte("uncommitted"), 0o644))
	before := snapshot(t, dir)

	got := map[string]string{}
	require.NoError(t, ReadFiles(dir, func(n string) bool { return strings.HasSuffix(n, ".yaml") }, func(n string, b []byte) error {
		got[n] = string(b)
		return nil
	}))
	require.Equal(t, map[string]string{"a.yaml": "new-a", "b.yaml": "2", "c.yaml": "new-c"}, got)
	require.Equal(t, before, snapshot(t, dir), "a reader changes nothing")

	// A writer completes the journal and drops the stray temp file.
	require.NoError(t, Recover(dir))
	require.Equal(t, map[string]string{"a.yaml": "new-a", "b.yaml": "2", "c.yaml": "new-c"}, snapshot(t, dir))
}
