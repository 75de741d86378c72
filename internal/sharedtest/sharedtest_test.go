package sharedtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of
// stopping the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestModuleRootHoldsGoMod(t *testing.T) {
	root, err := ModuleRoot()
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "internal", "sharedtest"), wd)
}

func TestLocationIsNextToTheModuleRoot(t *testing.T) {
	t.Setenv(SamplesEnv, "")
	root, err := ModuleRoot()
	require.NoError(t, err)
	loc, err := Location(Samples)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(filepath.Dir(root), "shared", "samples"), loc)
	require.False(t, filepath.IsAbs(Samples))

	t.Setenv(PeerSuitesEnv, "/elsewhere/full-suites")
	loc, err = Location(PeerSuites)
	require.NoError(t, err)
	require.Equal(t, "/elsewhere/full-suites", loc)
}

func TestMissingDataSkipsOutsideCIAndFailsInCI(t *testing.T) {
	t.Setenv(SamplesEnv, t.TempDir())

	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Dir(r, Samples, "nope.ndjson")
	require.Contains(t, r.skipped, "nope.ndjson")
	require.Empty(t, r.failed)

	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	_, ok := Lookup(r, Samples, "nope.ndjson")
	require.False(t, ok)
	require.Contains(t, r.failed, "nope.ndjson is missing and CI=true")

	// Present data is returned, in CI or not.
	dir := os.Getenv(SamplesEnv)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "here.ndjson"), []byte("{}\n"), 0o644))
	r = &recorder{TB: t}
	require.Equal(t, filepath.Join(dir, "here.ndjson"), Dir(r, Samples, "here.ndjson"))
	require.Empty(t, r.failed+r.skipped)
}
