package observe

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

// enterpriseExtra pads demo records with the fields a real Calico Enterprise
// flows.log line carries (process info, TCP stats, host), so records are
// about 1.1 KB like the real thing.
const enterpriseExtra = `,"nat_outgoing_ports":null,"process_name":"-","num_process_names":0,"process_id":"-","num_process_ids":0,"process_args":["-"],"num_process_args":0,"original_source_ips":null,"num_original_source_ips":0,"num_flows_started":3,"num_flows_completed":2}`

// benchRecords encodes the demo cluster, replicated until it has at least
// `keys` distinct allowlist keys, as Calico Enterprise JSON lines.
func benchRecords(tb testing.TB, replicas int) (lines [][]byte, distinct int) {
	tb.Helper()
	opt := demo.DefaultOptions()
	opt.Days, opt.Replicas = 2, replicas
	p := config.Default()
	agg := allowlist.NewAggregator(allowlist.NewClassifier(p))
	var buf bytes.Buffer
	err := demo.Generate(opt, func(f *flows.Flow) error {
		agg.Add(f)
		buf.Reset()
		if err := flows.WriteEnterpriseJSON(&buf, f); err != nil {
			return err
		}
		line := bytes.TrimRight(buf.Bytes(), "\n")
		line = append(append(line[:len(line)-1:len(line)-1], enterpriseExtra...), '\n')
		lines = append(lines, append([]byte(nil), line...))
		return nil
	})
	require.NoError(tb, err)
	return lines, agg.Len()
}

// repeatReader yields the lines over and over until n records were read.
type repeatReader struct {
	lines [][]byte
	n, i  int
	cur   []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		if len(r.cur) == 0 {
			if r.i >= r.n {
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			}
			r.cur = r.lines[r.i%len(r.lines)]
			r.i++
		}
		c := copy(p[total:], r.cur)
		r.cur = r.cur[c:]
		total += c
	}
	return total, nil
}

func avgSize(lines [][]byte) float64 {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return float64(n) / float64(len(lines))
}

// aggregateStream is what observe does for one input: decode on `workers`
// goroutines, one aggregator each, merged at the end.
func aggregateStream(tb testing.TB, r io.Reader, workers int) *allowlist.Aggregator {
	p := config.Default()
	aggs := make([]*allowlist.Aggregator, workers)
	for i := range aggs {
		aggs[i] = allowlist.NewAggregator(allowlist.NewClassifier(p))
	}
	st, err := flows.Decode(context.Background(), r, "bench", flows.Options{Workers: workers}, func(w int, f *flows.Flow) error {
		aggs[w].Add(f)
		return nil
	})
	require.NoError(tb, err)
	require.Zero(tb, st.Bad)
	for _, a := range aggs[1:] {
		aggs[0].Merge(a)
	}
	return aggs[0]
}

// BenchmarkObserve measures decoding plus aggregation of ~1.1 KB Calico
// Enterprise JSON lines, on one core and on all cores.
//
//	go test ./internal/observe -run '^$' -bench BenchmarkObserve -benchtime 1000000x
func BenchmarkObserve(b *testing.B) {
	lines, distinct := benchRecords(b, 20)
	size := avgSize(lines)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			agg := aggregateStream(b, &repeatReader{lines: lines, n: b.N}, workers)
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			b.ReportMetric(size, "bytes/record")
			if agg.Len() != distinct && b.N >= len(lines) {
				b.Fatalf("distinct keys %d, want %d", agg.Len(), distinct)
			}
		})
	}
}

// TestMemoryBoundedByEntries streams 10 M records with about 10 k distinct
// allowlist keys through decode + aggregation and checks the peak RSS stays
// under 200 MB: memory follows the number of entries, not the input size.
// It is a memory target, so it runs in `make bench` (which sets
// CALICO_PLAN_MEMTEST=1), not in `make test`; the README's memory figure is
// its log line.
func TestMemoryBoundedByEntries(t *testing.T) {
	if os.Getenv("CALICO_PLAN_MEMTEST") == "" {
		t.Skip("set CALICO_PLAN_MEMTEST=1 (make bench does)")
	}
	n := 10_000_000
	if v := os.Getenv("CALICO_PLAN_MEMTEST_RECORDS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	all, distinct := benchRecords(t, 135)
	// Keep a pool of one line per distinct key plus a sample of the rest
	// (dst copies, repeats), so the test's own data stays small.
	p := config.Default()
	seen := allowlist.NewAggregator(allowlist.NewClassifier(p))
	var lines [][]byte
	for i, l := range all {
		n := seen.Len()
		_, err := flows.Decode(context.Background(), bytes.NewReader(l), "pool", flows.Options{}, func(_ int, f *flows.Flow) error { seen.Add(f); return nil })
		require.NoError(t, err)
		if seen.Len() > n || i%16 == 0 {
			lines = append(lines, l)
		}
	}
	all = nil
	runtime.GC()
	debug.FreeOSMemory()
	// Reset the peak-RSS counter so it measures only the streaming.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	before := peakRSS(t)
	start := time.Now()
	agg := aggregateStream(t, bufio.NewReaderSize(&repeatReader{lines: lines, n: n}, 1<<20), runtime.GOMAXPROCS(0))
	el := time.Since(start)
	peak := peakRSS(t)
	t.Logf("%d records (%.0f bytes each, %.1f GB), %d distinct keys, %d workers: %.1f s, %.0f records/s, peak RSS %.0f MB (%.0f MB before streaming)",
		n, avgSize(lines), float64(n)*avgSize(lines)/1e9, agg.Len(), runtime.GOMAXPROCS(0), el.Seconds(), float64(n)/el.Seconds(), float64(peak)/1e6, float64(before)/1e6)
	require.Equal(t, distinct, agg.Len())
	require.GreaterOrEqual(t, agg.Len(), 10_000)
	require.Less(t, peak, int64(200e6), "peak RSS")
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb * 1024
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// benchFile writes n bench records to a file in dir (plain, or gzip when
// gz) and returns its path.
func benchFile(tb testing.TB, dir string, n int, gz bool) string {
	tb.Helper()
	lines, _ := benchRecords(tb, 20)
	name := filepath.Join(dir, "flows.log")
	if gz {
		name += ".gz"
	}
	f, err := os.Create(name)
	require.NoError(tb, err)
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	_, err = io.Copy(bw, &repeatReader{lines: lines, n: n})
	require.NoError(tb, err)
	require.NoError(tb, bw.Flush())
	if zw != nil {
		require.NoError(tb, zw.Close())
	}
	require.NoError(tb, f.Close())
	return name
}

// BenchmarkObserveFile measures observe end to end as the CLI runs it on
// one file into a fresh store: read, fingerprint, decode, aggregate and
// save. Each op reads the whole file once more; the page cache is warm.
//
//	go test ./internal/observe -run '^$' -bench BenchmarkObserveFile -benchtime 5x
func BenchmarkObserveFile(b *testing.B) {
	const n = 1_000_000
	for _, gz := range []bool{false, true} {
		b.Run("gzip="+strconv.FormatBool(gz), func(b *testing.B) {
			dir := b.TempDir()
			name := benchFile(b, dir, n, gz)
			fi, err := os.Stat(name)
			require.NoError(b, err)
			b.ReportMetric(float64(fi.Size()), "file-bytes")
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				st, err := allowlist.Open(filepath.Join(dir, "store"+strconv.Itoa(i)), config.Default())
				require.NoError(b, err)
				res, err := Files(context.Background(), st, FileOptions{Paths: []string{name}})
				require.NoError(b, err)
				require.NoError(b, st.Save())
				require.EqualValues(b, n, res.Decode.Records)
			}
			el := time.Since(start)
			b.ReportMetric(float64(n)*float64(b.N)/el.Seconds(), "records/s")
		})
	}
}
