package flows

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func inputPaths(ins []Input) []string {
	var out []string
	for _, in := range ins {
		if in.Stdin {
			out = append(out, "-")
			continue
		}
		out = append(out, in.Path)
	}
	return out
}

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"logs/flows.log", "logs/flows.log.1", "logs/flows.log.2", "logs/flows.log.10", "logs/flows.log.3.gz",
		"logs/a.ndjson", "logs/b.jsonl", "logs/c.json", "logs/d.txt", "logs/e.json.gz", "logs/f.log.gz",
		"logs/ignored.csv", "logs/flows.log.bak", "logs/.hidden.log", "logs/.hiddendir/x.log",
		"logs/sub/deeper/y.log", "other/z.json",
	} {
		writeFile(t, filepath.Join(dir, name), []byte("{}\n"))
	}
	j := func(p string) string { return filepath.Join(dir, p) }

	ins, err := ExpandInputs([]string{j("logs")})
	require.NoError(t, err)
	require.Equal(t, []string{
		j("logs/a.ndjson"), j("logs/b.jsonl"), j("logs/c.json"), j("logs/d.txt"), j("logs/e.json.gz"), j("logs/f.log.gz"),
		// Rotations oldest first, the live file last.
		j("logs/flows.log.10"), j("logs/flows.log.3.gz"), j("logs/flows.log.2"), j("logs/flows.log.1"), j("logs/flows.log"),
		j("logs/sub/deeper/y.log"),
	}, inputPaths(ins))
	require.Equal(t, ins[0].Path, ins[0].Name)

	// Globs, an explicit file of any name, stdin, duplicates dropped,
	// argument order kept.
	ins, err = ExpandInputs([]string{j("logs/flows.log*"), "-", j("logs/ignored.csv"), j("logs/flows.log"), j("other"), "-"})
	require.NoError(t, err)
	require.Equal(t, []string{
		j("logs/flows.log.10"), j("logs/flows.log.3.gz"), j("logs/flows.log.2"), j("logs/flows.log.1"), j("logs/flows.log"), j("logs/flows.log.bak"),
		"-", j("logs/ignored.csv"), j("other/z.json"),
	}, inputPaths(ins))
	require.Equal(t, StdinName, ins[6].Name)

	// A glob matching a directory walks it.
	ins, err = ExpandInputs([]string{j("o*")})
	require.NoError(t, err)
	require.Equal(t, []string{j("other/z.json")}, inputPaths(ins))

	// Nothing matched: errors that name the argument.
	_, err = ExpandInputs([]string{j("logs/*.parquet")})
	require.ErrorContains(t, err, "logs/*.parquet")
	_, err = ExpandInputs([]string{j("nope.log")})
	require.ErrorContains(t, err, "nope.log")
	require.ErrorContains(t, err, "does not exist")
	_, err = ExpandInputs([]string{j("logs/[")})
	require.ErrorContains(t, err, "logs/[")
	empty := j("empty")
	require.NoError(t, os.MkdirAll(filepath.Join(empty, "x"), 0o755))
	writeFile(t, filepath.Join(empty, "readme.md"), nil)
	_, err = ExpandInputs([]string{empty})
	require.ErrorContains(t, err, "holds no flow-log files")
}

func TestRotationParsing(t *testing.T) {
	for name, want := range map[string]int{"flows.log.3": 3, "flows.log.3.gz": 3, "flows.log": 0, "x.json.2": 0, "flows.log.0": 0, "flows.log.-1": 0} {
		_, n := rotation(name)
		require.Equal(t, want, n, name)
	}
	require.True(t, isFlowFileName("flows.log.7.gz"))
	require.False(t, isFlowFileName("flows.log.bak"))
	require.False(t, isFlowFileName("data.csv.gz"))
}

func TestOpenAndDecodeGzip(t *testing.T) {
	dir := t.TempDir()
	plain := genEE(2000, 11)
	gz := gzipBytes(t, plain)
	// Gzip is recognised by its magic bytes, not by the name.
	writeFile(t, filepath.Join(dir, "flows.log"), gz)
	writeFile(t, filepath.Join(dir, "plain.log"), plain)
	ins, err := ExpandInputs([]string{dir})
	require.NoError(t, err)
	require.Len(t, ins, 2)
	for _, in := range ins {
		for _, workers := range []int{1, 2} {
			var n atomic.Int64
			st, err := DecodeInput(context.Background(), in, Options{Workers: workers}, func(int, *Flow) error { n.Add(1); return nil })
			require.NoError(t, err)
			require.EqualValues(t, 2000, n.Load())
			require.EqualValues(t, 2000, st.Records)
			require.EqualValues(t, len(plain), st.Bytes, "bytes after decompression")
		}
	}
	// Decode also unwraps gzip given as a plain reader (stdin).
	d := decodeBytes(t, gz, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2000)
	// Concatenated gzip members read through.
	d = decodeBytes(t, append(gzipBytes(t, plain[:len(plain)/2]), gzipBytes(t, plain[len(plain)/2:])...), Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2000)
}

func TestTruncatedGzip(t *testing.T) {
	plain := genEE(3000, 12)
	gz := gzipBytes(t, plain)
	cut := gz[:len(gz)*6/10]
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.log.2.gz")
	writeFile(t, path, cut)
	for _, workers := range []int{1, 3} {
		for _, size := range []int{4096, defaultChunkSize} {
			withChunkSize(t, size, func() {
				var n atomic.Int64
				st, err := DecodeInput(context.Background(), Input{Name: path, Path: path}, Options{Workers: workers}, func(_ int, f *Flow) error {
					n.Add(1)
					return nil
				})
				require.Equal(t, st.Records, n.Load())
				require.NoError(t, err)
				require.Greater(t, st.Records, int64(1000), "the records before the damage are kept")
				require.Less(t, st.Records, int64(3000))
				require.EqualValues(t, 1, st.Bad)
				require.Equal(t, map[string]int64{ReasonTruncatedGzip: 1}, st.ByReason)
				p := st.Examples[0]
				require.Equal(t, path, p.File)
				require.Equal(t, int(st.Records)+1, p.Line, "the first line not fully decompressed")
				require.Contains(t, p.String(), path+":")
				require.Contains(t, p.Msg, "gzip stream truncated or corrupt")
			})
		}
	}
	// Strict: a *DecodeError wrapping the *GzipError, after the good records.
	rc, err := Input{Name: "x.gz", Path: path}.Open()
	require.NoError(t, err)
	defer rc.Close()
	d := decodeReader(t, rc, "x.gz", Options{Strict: true})
	var de *DecodeError
	require.ErrorAs(t, d.err, &de)
	var ge *GzipError
	require.ErrorAs(t, d.err, &ge)
	require.ErrorIs(t, d.err, io.ErrUnexpectedEOF)
	require.NotEmpty(t, d.flows)

	// A document cut inside the gzip stream.
	doc := gzipBytes(t, []byte(prettyJSON(`{"hits":{"hits":[{"_source":`+eeLine()+`},{"_source":`+eeLine()+`}]}}`)))
	d = decodeBytes(t, doc[:len(doc)-30], Options{})
	require.NoError(t, d.err)
	require.Equal(t, map[string]int64{ReasonTruncatedGzip: 1}, d.st.ByReason)

	// Only a damaged header: one problem, nothing decoded, no panic.
	for _, bad := range [][]byte{gz[:2], gz[:11], append(append([]byte{}, gz[:10]...), bytes.Repeat([]byte{0xff}, 64)...)} {
		d = decodeBytes(t, bad, Options{})
		require.NoError(t, d.err)
		require.Empty(t, d.flows)
		require.Equal(t, map[string]int64{ReasonTruncatedGzip: 1}, d.st.ByReason)
	}
}

func TestOpenStdinAndMissingFile(t *testing.T) {
	_, err := Input{Name: "missing", Path: filepath.Join(t.TempDir(), "missing")}.Open()
	require.Error(t, err)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	go func() {
		_, _ = w.Write(gzipBytes(t, []byte(lines(eeLine(), eeLine()))))
		w.Close()
	}()
	var n int
	st, err := DecodeInput(context.Background(), Input{Name: StdinName, Stdin: true}, Options{}, func(int, *Flow) error { n++; return nil })
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, FormatEnterprise, st.Format)
}

func TestStatsMerge(t *testing.T) {
	var total Stats
	d1 := decodeString(t, lines(strings.Repeat("x\n", 7)+eeLine()), Options{})
	d2 := decodeString(t, lines(strings.Repeat("y\n", 7)+eeLine()), Options{})
	total.Merge(d1.st)
	total.Merge(d2.st)
	require.EqualValues(t, 2, total.Records)
	require.EqualValues(t, 14, total.Bad)
	require.Len(t, total.Examples, 10)
	require.Equal(t, map[string]int64{ReasonMalformedJSON: 14}, total.ByReason)
	require.EqualValues(t, d1.st.Bytes+d2.st.Bytes, total.Bytes)
}
