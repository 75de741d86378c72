package observe

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
)

// rereads counts the inputs read a second time while f runs.
func rereads(t *testing.T, f func()) int {
	t.Helper()
	n := 0
	testHookReread = func(string) { n++ }
	defer func() { testHookReread = nil }()
	f()
	return n
}

// bigLines returns demo lines and the index where their content first
// exceeds allowlist.HeadBytes twice over, so both halves are larger than a
// head.
func bigLines(t *testing.T) (lines [][]byte, cut int) {
	t.Helper()
	lines = demoLines(t)
	n := 0
	for i, l := range lines {
		n += len(l)
		if n > 2*allowlist.HeadBytes {
			require.Greater(t, len(lines), 2*i, "demo content too small for the test")
			return lines, i + 1
		}
	}
	t.Fatal("demo content too small for the test")
	return nil, 0
}

// Observing a file reads it once: a new file, a file that grew since the
// last run (resumed where that run stopped), the same file again
// (skipped), its gzip copy (skipped). Each record counts once.
func TestFilesReadOnce(t *testing.T) {
	lines, cut := bigLines(t)
	all := bytes.Join(lines, nil)
	dir := t.TempDir()
	live := filepath.Join(dir, "flows.log")
	require.NoError(t, os.WriteFile(live, bytes.Join(lines[:cut], nil), 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)

	var counted int64
	n := rereads(t, func() {
		res := observeFile(t, st, live)
		counted += res.Decode.Records
		require.Equal(t, OutcomeIngested, res.Inputs[0].Outcome)
		require.NotEmpty(t, st.Meta.Sources[0].Head, "a record larger than a head remembers its head")

		require.NoError(t, os.WriteFile(live, all, 0o644))
		res = observeFile(t, st, live)
		counted += res.Decode.Records
		require.Equal(t, OutcomeResumed, res.Inputs[0].Outcome)
		require.EqualValues(t, len(bytes.Join(lines[:cut], nil)), res.Inputs[0].Offset)

		res = observeFile(t, st, live)
		require.Equal(t, OutcomeSkipped, res.Inputs[0].Outcome)

		gz := filepath.Join(dir, "flows.log.gz")
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, err := zw.Write(all)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		require.NoError(t, os.WriteFile(gz, b.Bytes(), 0o644))
		res = observeFile(t, st, gz)
		require.Equal(t, OutcomeSkipped, res.Inputs[0].Outcome)
	})
	require.Zero(t, n, "no input is read twice")
	require.EqualValues(t, len(lines), counted)
	requireSameFiles(t, wholeStore(t, all), namespaceFiles(t, st))
}

// A record from an older calico-plan has no head: the file is followed to
// the record's size as before (read again from there when it does not
// match), and the result is the same.
func TestFilesRecordWithoutHead(t *testing.T) {
	lines, cut := bigLines(t)
	all := bytes.Join(lines, nil)
	dir := t.TempDir()
	live := filepath.Join(dir, "flows.log")
	require.NoError(t, os.WriteFile(live, bytes.Join(lines[:cut], nil), 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	first := observeFile(t, st, live).Decode.Records
	for i := range st.Meta.Sources {
		st.Meta.Sources[i].Head = ""
	}
	// An unrelated file, larger than the record: followed to the
	// record's size, no match, read again from the start.
	other := filepath.Join(dir, "other.log")
	require.NoError(t, os.WriteFile(other, bytes.Join(lines[cut:], nil), 0o644))
	var second int64
	n := rereads(t, func() {
		second = observeFile(t, st, other).Decode.Records
	})
	require.Equal(t, 1, n, "the unrelated file is read again after following the headless record")
	require.EqualValues(t, len(lines)-cut, second)

	// The grown file: resumed at the headless record, read once.
	require.NoError(t, os.WriteFile(live, append(all, bytes.Join(lines[:3], nil)...), 0o644))
	var res *Result
	n = rereads(t, func() { res = observeFile(t, st, live) })
	require.Zero(t, n)
	require.Equal(t, OutcomeResumed, res.Inputs[0].Outcome)
	require.EqualValues(t, len(lines)+3, first+res.Decode.Records, "the grown file counts each of its records once")
}

// A file with the same head as a record but other content after it (a log
// rewritten from the same start) is read again from the longest prefix
// that matches, and counted from there.
func TestFilesSameHeadOtherContent(t *testing.T) {
	lines, cut := bigLines(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	require.NoError(t, os.WriteFile(a, bytes.Join(lines[:cut], nil), 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	observeFile(t, st, a)

	// Same first line(s) covering the head, then different lines, and
	// longer than the record.
	var b bytes.Buffer
	headLines := 0
	for _, l := range lines {
		if b.Len() >= allowlist.HeadBytes {
			break
		}
		b.Write(l)
		headLines++
	}
	require.Less(t, headLines, cut)
	rest := lines[cut:]
	for _, l := range rest {
		b.Write(l)
	}
	bpath := filepath.Join(dir, "b.log")
	require.NoError(t, os.WriteFile(bpath, b.Bytes(), 0o644))
	var res *Result
	n := rereads(t, func() { res = observeFile(t, st, bpath) })
	require.Equal(t, 1, n)
	require.Equal(t, OutcomeIngested, res.Inputs[0].Outcome, "nothing of b was ingested before")
	require.EqualValues(t, headLines+len(rest), res.Decode.Records)
}
