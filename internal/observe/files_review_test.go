package observe

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

// demoLines returns the demo cluster as Calico Enterprise JSON lines.
func demoLines(t *testing.T) [][]byte {
	t.Helper()
	opt := demo.DefaultOptions()
	opt.Days = 2
	var lines [][]byte
	var buf bytes.Buffer
	require.NoError(t, demo.Generate(opt, func(f *flows.Flow) error {
		buf.Reset()
		if err := flows.WriteEnterpriseJSON(&buf, f); err != nil {
			return err
		}
		lines = append(lines, append([]byte(nil), buf.Bytes()...))
		return nil
	}))
	require.Greater(t, len(lines), 20)
	return lines
}

func observeFile(t *testing.T, st *allowlist.Store, path string) *Result {
	t.Helper()
	res, err := Files(context.Background(), st, FileOptions{Paths: []string{path}, Workers: 1})
	require.NoError(t, err)
	return res
}

// wholeStore observes content as one file into a fresh store.
func wholeStore(t *testing.T, content []byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "whole.log")
	require.NoError(t, os.WriteFile(p, content, 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	observeFile(t, st, p)
	return namespaceFiles(t, st)
}

// A live flows.log read in three steps: complete lines; then only the
// start of the next line (nothing complete since the last run); then the
// rest. The partial line must be left for the run that sees it complete,
// not consumed (and counted as bad) by the run that sees it partial.
func TestFilesPartialLineRightAfterResumePoint(t *testing.T) {
	lines := demoLines(t)
	all := bytes.Join(lines, nil)
	half := bytes.Join(lines[:len(lines)/2], nil)
	next := lines[len(lines)/2]

	dir := t.TempDir()
	live := filepath.Join(dir, "flows.log")
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(live, half, 0o644))
	observeFile(t, st, live)

	// Felix has written part of the next line only.
	partial := append(append([]byte(nil), half...), next[:len(next)/2]...)
	require.NoError(t, os.WriteFile(live, partial, 0o644))
	res := observeFile(t, st, live)
	require.Zero(t, res.Decode.Bad, "an incomplete last line is not a bad record: %v", res.Decode.Examples)

	require.NoError(t, os.WriteFile(live, all, 0o644))
	res = observeFile(t, st, live)
	require.Zero(t, res.Decode.Bad, "the completed line must be read whole: %v", res.Decode.Examples)
	require.Zero(t, st.Meta.Ingest.Bad)

	requireSameFiles(t, wholeStore(t, all), namespaceFiles(t, st))
}

// A file that grows while it is being observed: what is appended after the
// content was fingerprinted must not be counted now and again by the next
// run.
func TestFilesGrowingWhileRead(t *testing.T) {
	lines := demoLines(t)
	all := bytes.Join(lines, nil)
	cut := len(lines) / 2
	first := bytes.Join(lines[:cut], nil)

	dir := t.TempDir()
	live := filepath.Join(dir, "flows.log")
	require.NoError(t, os.WriteFile(live, first, 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)

	testHookFingerprinted = func(path string) {
		// Felix appends the rest (and a partial line) between the
		// fingerprint and the read.
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(all[len(first):])
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	res := observeFile(t, st, live)
	testHookFingerprinted = nil
	n1 := res.Decode.Records

	res = observeFile(t, st, live)
	require.Equal(t, int64(len(lines)), n1+res.Decode.Records, "every record counted exactly once")
	requireSameFiles(t, wholeStore(t, all), namespaceFiles(t, st))
}

// The same content under two names in one run (a copy, a backup, a gzip
// -k of a rotated log) is counted once, as it is when the names are
// observed in two runs.
func TestFilesSameContentTwiceInOneRun(t *testing.T) {
	lines := demoLines(t)
	all := bytes.Join(lines, nil)
	half := bytes.Join(lines[:len(lines)/2], nil)
	dir := t.TempDir()
	a := filepath.Join(dir, "flows.log.1")
	b := filepath.Join(dir, "copy", "flows.log.1")
	c := filepath.Join(dir, "copy", "flows.log.2")
	require.NoError(t, os.MkdirAll(filepath.Dir(b), 0o755))
	require.NoError(t, os.WriteFile(a, all, 0o644))
	require.NoError(t, os.WriteFile(b, all, 0o644))
	require.NoError(t, os.WriteFile(c, half, 0o644)) // an earlier state of the same log
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	res, err := Files(context.Background(), st, FileOptions{Paths: []string{c, a, b}, Workers: 1})
	require.NoError(t, err)
	require.Equal(t, int64(len(lines)), res.Decode.Records, "every record counted once")
	require.Equal(t, OutcomeResumed, res.Inputs[1].Outcome)
	require.Equal(t, OutcomeSkipped, res.Inputs[2].Outcome)
	requireSameFiles(t, wholeStore(t, all), namespaceFiles(t, st))
}

// Reading exactly the fingerprinted content must not hide gzip damage at
// its end.
func TestFilesTruncatedGzipStillReported(t *testing.T) {
	lines := demoLines(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(bytes.Join(lines, nil))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	dir := t.TempDir()
	p := filepath.Join(dir, "flows.log.1.gz")
	require.NoError(t, os.WriteFile(p, gz.Bytes()[:gz.Len()*2/3], 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	res := observeFile(t, st, p)
	require.EqualValues(t, 1, res.Decode.ByReason[flows.ReasonTruncatedGzip], "%v", res.Decode.Examples)
	require.Greater(t, res.Decode.Records, int64(0))
}

// gzipCutMidLine gzips content and cuts the compressed stream so that
// what decompresses before the damage ends inside a line.
func gzipCutMidLine(t *testing.T, content []byte) (whole, cut []byte) {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	whole = gz.Bytes()
	for n := len(whole) * 2 / 3; n > len(whole)/3; n -= 7 {
		zr, err := gzip.NewReader(bytes.NewReader(whole[:n]))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.Error(t, err, "a cut stream is damaged")
		if len(got) > 0 && got[len(got)-1] != '\n' {
			return whole, whole[:n]
		}
	}
	t.Fatal("no cut ends mid-line")
	return nil, nil
}

// A gzip log copied while it was still being written (cut off mid-line),
// then observed again once complete: the line the damage cut is read
// whole from the complete copy, nothing is lost or counted twice, and the
// only bad record is the damage itself.
func TestFilesTruncatedGzipThenComplete(t *testing.T) {
	lines := demoLines(t)
	all := bytes.Join(lines, nil)
	whole, cut := gzipCutMidLine(t, all)
	dir := t.TempDir()
	p := filepath.Join(dir, "flows.log.1.gz")
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(p, cut, 0o644))
	res := observeFile(t, st, p)
	require.Equal(t, map[string]int64{flows.ReasonTruncatedGzip: 1}, res.Decode.ByReason, "%v", res.Decode.Examples)
	n1 := res.Decode.Records

	// The same damaged copy again: nothing new, nothing counted.
	meta := st.Meta.Ingest
	res, err = Files(context.Background(), st, FileOptions{Paths: []string{p}, Workers: 1})
	require.NoError(t, err)
	require.Zero(t, res.Decode.Records)
	require.Equal(t, meta, st.Meta.Ingest)

	require.NoError(t, os.WriteFile(p, whole, 0o644))
	res = observeFile(t, st, p)
	require.Zero(t, res.Decode.Bad, "the cut line is read whole: %v", res.Decode.Examples)
	require.Equal(t, OutcomeResumed, res.Inputs[0].Outcome)
	require.Equal(t, int64(len(lines)), n1+res.Decode.Records, "every record counted exactly once")
	require.Equal(t, map[string]int64{flows.ReasonTruncatedGzip: 1}, st.Meta.Ingest.BadByReason)
	requireSameFiles(t, wholeStore(t, all), namespaceFiles(t, st))
}

// A gzip stream that breaks inside a JSON document cannot be resumed where
// it breaks: none of its records counts until the complete file is read.
func TestFilesTruncatedGzipDocumentIsRejected(t *testing.T) {
	lines := demoLines(t)
	var doc bytes.Buffer
	doc.WriteString("[\n")
	for i, l := range lines {
		if i > 0 {
			doc.WriteString(",\n")
		}
		doc.Write(bytes.TrimRight(l, "\n"))
	}
	doc.WriteString("\n]\n")
	whole, cut := gzipCutMidLine(t, doc.Bytes())
	dir := t.TempDir()
	p := filepath.Join(dir, "search.json.gz")
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(p, cut, 0o644))
	res := observeFile(t, st, p)
	require.Equal(t, OutcomeRejected, res.Inputs[0].Outcome, "%v", res.Inputs[0].Notes)
	require.Empty(t, st.Meta.Sources)
	require.Empty(t, st.Names())

	require.NoError(t, os.WriteFile(p, whole, 0o644))
	res = observeFile(t, st, p)
	require.Equal(t, OutcomeIngested, res.Inputs[0].Outcome)
	require.Equal(t, int64(len(lines)), res.Decode.Records)
	require.Zero(t, st.Meta.Ingest.Bad)
	requireSameFiles(t, wholeStore(t, doc.Bytes()), namespaceFiles(t, st))
}
