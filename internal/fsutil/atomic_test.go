package fsutil

import (
	"errors"
	"os"
	"path/filepath"
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
