package observe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	es "github.com/calico-plan/calico-plan/flows/elasticsearch"
	"github.com/calico-plan/calico-plan/flows/elasticsearch/estest"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

const esTestIndex = "tigera_secure_ee_flows.cluster.fluentd-20261113-000001"

func esDemoData(t *testing.T) (opt demo.Options, fs []flows.Flow) {
	t.Helper()
	opt = demo.DefaultOptions()
	require.NoError(t, demo.Generate(opt, func(f *flows.Flow) error { fs = append(fs, *f); return nil }))
	return opt, fs
}

// esServer serves flows from one index of the default pattern.
func esServer(t *testing.T, fs []flows.Flow) (*estest.Server, [][]byte) {
	t.Helper()
	srv, err := estest.NewServer(estest.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	srv.CreateIndex(esTestIndex, nil)
	docs, err := srv.AddFlows(esTestIndex, "cluster", fs)
	require.NoError(t, err)
	return srv, docs
}

func esClient(t *testing.T, url string) *es.Client {
	t.Helper()
	c, err := es.NewClient(es.Config{URL: url, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond})
	require.NoError(t, err)
	return c
}

func esOpenStore(t *testing.T, dir string) *allowlist.Store {
	t.Helper()
	st, err := allowlist.Open(dir, config.Default())
	require.NoError(t, err)
	return st
}

// esRendered returns the store's files, with _store.yaml's source records
// left out (they name the source, which differs between file and
// Elasticsearch observations) unless keepSources.
func esRendered(t *testing.T, st *allowlist.Store, keepSources bool) map[string]string {
	t.Helper()
	files, err := st.Render()
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(v)
	}
	if !keepSources {
		var m allowlist.Meta
		require.NoError(t, yaml.Unmarshal(files[allowlist.MetaFile], &m))
		m.Sources = nil
		b, err := yaml.Marshal(&m)
		require.NoError(t, err)
		out[allowlist.MetaFile] = string(b)
	}
	return out
}

func esWriteNDJSON(t *testing.T, docs [][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flows.ndjson")
	require.NoError(t, os.WriteFile(p, append(bytes.Join(docs, []byte("\n")), '\n'), 0o644))
	return p
}

func TestElasticsearchPushDownRawAndFileAgree(t *testing.T) {
	opt, fs := esDemoData(t)
	srv, docs := esServer(t, fs)
	ctx := context.Background()
	from := opt.Start
	to := opt.Start.Add(time.Duration(opt.Days)*24*time.Hour + time.Second)

	fileStore := esOpenStore(t, t.TempDir())
	fres, err := Files(ctx, fileStore, FileOptions{Paths: []string{esWriteNDJSON(t, docs)}, Workers: 1})
	require.NoError(t, err)
	require.Zero(t, fres.Decode.Bad)
	want := esRendered(t, fileStore, false)

	for _, raw := range []bool{false, true} {
		st := esOpenStore(t, t.TempDir())
		res, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), From: from, To: to, Raw: raw, PageSize: 100})
		require.NoError(t, err)
		mode := es.ModeAggregation
		if raw {
			mode = es.ModeRaw
		}
		require.Equal(t, mode, res.Search.Mode)
		require.Greater(t, res.Search.Pages, 1, "several pages")
		require.Equal(t, fres.Stats, res.Stats, "mode %s: aggregation statistics", mode)
		got := esRendered(t, st, false)
		require.Equal(t, len(want), len(got))
		for name := range want {
			require.Equal(t, want[name], got[name], "mode %s: %s", mode, name)
		}
		require.Len(t, st.Meta.Sources, 1)
		src := st.Meta.Sources[0]
		require.Equal(t, allowlist.SourceElasticsearch, src.Kind)
		require.Equal(t, srv.URL+" index=tigera_secure_ee_flows.cluster.* cluster=cluster", src.ID)
		require.Equal(t, allowlist.Time(to.Unix()), src.Watermark)
		require.Equal(t, int64(len(docs)), src.Records)
	}
	ns := fileStore.Namespace("recruiter-responder")
	require.NotNil(t, ns)
	require.NotEmpty(t, ns.WouldDeny, "the demo's would-deny flow is classified")
	require.NotEmpty(t, ns.Denied)
}

func TestElasticsearchIncrementalResumeWithLateDocuments(t *testing.T) {
	opt, fs := esDemoData(t)
	start := opt.Start
	end := opt.Start.Add(time.Duration(opt.Days)*24*time.Hour + time.Second)
	// The first run happens 5 minutes after a window boundary: documents
	// ending at the boundary fall into the 10-minute overlap, and some of
	// them are indexed only after the first run.
	boundary := start.Add(7*24*time.Hour + 6*time.Hour)
	w := boundary.Add(5 * time.Minute)
	var early, late, future []flows.Flow
	lateN := 0
	for _, f := range fs {
		switch {
		case f.End >= w.Unix():
			future = append(future, f)
		case f.End == boundary.Unix() && lateN%2 == 0:
			late = append(late, f)
			lateN++
		default:
			if f.End == boundary.Unix() {
				lateN++
			}
			early = append(early, f)
		}
	}
	require.NotEmpty(t, late)
	require.NotEmpty(t, future)
	const overlap = 10 * time.Minute

	for _, raw := range []bool{false, true} {
		ctx := context.Background()
		// One run over everything.
		whole, _ := esServer(t, fs)
		one := esOpenStore(t, t.TempDir())
		_, err := Elasticsearch(ctx, one, ESOptions{Client: esClient(t, whole.URL), From: start, Overlap: overlap, Raw: raw,
			Now: func() time.Time { return end }})
		require.NoError(t, err)
		want := esRendered(t, one, true)
		want[allowlist.MetaFile] = strings.ReplaceAll(want[allowlist.MetaFile], whole.URL, "ES")

		// Two runs, the late documents arriving in between.
		srv, _ := esServer(t, early)
		client := esClient(t, srv.URL)
		dir := t.TempDir()
		st := esOpenStore(t, dir)
		r1, err := Elasticsearch(ctx, st, ESOptions{Client: client, From: start, Overlap: overlap, Raw: raw,
			Now: func() time.Time { return w }})
		require.NoError(t, err)
		require.False(t, r1.Resumed)
		rec := st.FindSource(allowlist.SourceElasticsearch, r1.SourceID)
		require.NotNil(t, rec)
		require.Equal(t, allowlist.Time(w.Unix()), rec.Watermark)
		require.NotNil(t, rec.Provisional)
		require.Equal(t, allowlist.Time(w.Add(-overlap).Unix()), rec.Provisional.From)
		require.NotZero(t, rec.Provisional.Ingest.Records)
		require.NoError(t, st.Save())

		_, err = srv.AddFlows(esTestIndex, "cluster", append(append([]flows.Flow(nil), late...), future...))
		require.NoError(t, err)
		st = esOpenStore(t, dir)
		srv.ResetRequests()
		r2, err := Elasticsearch(ctx, st, ESOptions{Client: client, Since: 7 * 24 * time.Hour, Overlap: overlap, Raw: raw,
			Now: func() time.Time { return end }})
		require.NoError(t, err)
		require.True(t, r2.Resumed)
		require.Equal(t, w.Add(-overlap), r2.From, "resumes at the watermark minus the overlap")
		require.Equal(t, end.UTC(), r2.To)
		// The second run's queries start at the overlap.
		for _, req := range srv.Requests() {
			if m := req.JSON(); m != nil && m["query"] != nil {
				require.Contains(t, string(req.Body), `"gte":`+esItoa(w.Add(-overlap).Unix()))
			}
		}
		got := esRendered(t, st, true)
		got[allowlist.MetaFile] = strings.ReplaceAll(got[allowlist.MetaFile], srv.URL, "ES")
		for name := range want {
			require.Equal(t, want[name], got[name], "raw=%v: %s", raw, name)
		}
		require.Equal(t, len(want), len(got))

		// A third run right away finds nothing new to count twice.
		r3, err := Elasticsearch(ctx, st, ESOptions{Client: client, Overlap: overlap, Raw: raw, Now: func() time.Time { return end }})
		require.NoError(t, err)
		require.True(t, r3.Resumed)
		again := esRendered(t, st, true)
		again[allowlist.MetaFile] = strings.ReplaceAll(again[allowlist.MetaFile], srv.URL, "ES")
		require.Equal(t, want, again, "re-reading the overlap changes nothing")
	}
}

func esItoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestElasticsearchFailureMergesNothing(t *testing.T) {
	opt, fs := esDemoData(t)
	srv, _ := esServer(t, fs)
	ctx := context.Background()
	to := opt.Start.Add(time.Duration(opt.Days)*24*time.Hour + time.Second)
	dir := t.TempDir()
	st := esOpenStore(t, dir)
	_, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), From: opt.Start, To: opt.Start.Add(7 * 24 * time.Hour), Overlap: 10 * time.Minute})
	require.NoError(t, err)
	before := esRendered(t, st, true)

	// Shard failure on the last page of the main aggregation, after other
	// pages were delivered; then the same with 5xx until the retries run out.
	lastPage := func(r *estest.Request) bool {
		return bytes.Contains(r.Body, []byte(`"source_namespace"`)) && bytes.Contains(r.Body, []byte(`"after"`))
	}
	for _, f := range []estest.Fault{{Match: lastPage, ShardFailure: true, Times: -1}, {Match: lastPage, Status: 503, Times: -1}} {
		srv.ClearFaults()
		srv.Inject(f)
		res, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), To: to, Overlap: 10 * time.Minute, PageSize: 50})
		require.Error(t, err)
		require.NotNil(t, res.Search)
		require.Greater(t, res.Search.Pages, 1, "pages were read before the failure")
		require.Equal(t, before, esRendered(t, st, true), "nothing merged: %v", err)
	}

	// --allow-partial: merged, marked, warned.
	srv.ClearFaults()
	srv.Inject(estest.Fault{Match: lastPage, ShardFailure: true})
	res, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), To: to, Overlap: 10 * time.Minute, PageSize: 50, AllowPartial: true})
	require.NoError(t, err)
	require.True(t, res.Search.Partial)
	rec := st.FindSource(allowlist.SourceElasticsearch, res.SourceID)
	require.True(t, rec.Partial)
	require.Equal(t, allowlist.Time(to.Unix()), rec.Watermark)
	require.Len(t, st.Meta.Warnings, 1)
	require.Contains(t, st.Meta.Warnings[0], "partial result accepted (--allow-partial): ")
	require.Contains(t, st.Meta.Warnings[0], "1 of 1 shards failed")
	require.NotEqual(t, before, esRendered(t, st, true))
}

func TestElasticsearchWindows(t *testing.T) {
	opt, fs := esDemoData(t)
	srv, _ := esServer(t, fs)
	ctx := context.Background()
	day := func(n int) time.Time { return opt.Start.Add(time.Duration(n) * 24 * time.Hour) }
	st := esOpenStore(t, t.TempDir())

	_, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), Now: func() time.Time { return day(3) }})
	require.ErrorContains(t, err, "no window")

	res, err := Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), Since: 2 * 24 * time.Hour, Overlap: time.Hour, Now: func() time.Time { return day(3) }})
	require.NoError(t, err)
	require.Equal(t, day(1), res.From)
	require.Equal(t, day(3), res.To)
	require.False(t, res.Resumed)

	// An explicit end before the watermark: nothing new.
	res, err = Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), Overlap: time.Hour, To: day(2)})
	require.NoError(t, err)
	require.True(t, res.UpToDate)

	// Jumping forward leaves a gap, recorded, and keeps the overlap's sums.
	res, err = Elasticsearch(ctx, st, ESOptions{Client: esClient(t, srv.URL), From: day(5), To: day(6), Overlap: time.Hour})
	require.NoError(t, err)
	require.True(t, res.Resumed)
	require.Equal(t, day(5), res.From)
	require.Equal(t, []allowlist.Gap{{From: allowlist.Time(day(3).Unix()), To: allowlist.Time(day(5).Unix()), Source: res.SourceID,
		Reason: "not read: --start-time skipped past the previous observation"}}, st.Meta.Gaps)

	// The same index through another URL (a new port-forward) would count
	// the same documents twice.
	other := esClient(t, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	_, err = Elasticsearch(ctx, st, ESOptions{Client: other, From: day(4), To: day(7)})
	require.ErrorContains(t, err, "would count it twice")
	require.ErrorContains(t, err, "Use the same --es URL as before ("+srv.URL+")")
}

// esBenchFlows makes n source-reported flow documents over `keys` distinct
// allowlist keys: 200 namespaces × keys/200 destinations (pods with labels,
// public networks, global network sets), n/keys windows of 5 minutes
// spread over a week.
func esBenchFlows(n, keys int) []flows.Flow {
	const namespaces = 200
	perNS := keys / namespaces
	windows := n / keys
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Unix()
	step := int64(7*24*3600) / int64(windows)
	out := make([]flows.Flow, 0, n)
	for w := 0; w < windows; w++ {
		start := base + int64(w)*step
		for k := 0; k < keys; k++ {
			ns, d := k/perNS, k%perNS
			f := flows.Flow{Start: start, End: start + 300, Proto: flows.ProtoTCP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc,
				NumFlows: int64(1 + (k+w)%7), Bytes: int64(1000 + (k*31+w*17)%5000), Packets: 10,
				Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "ns-" + strconv.Itoa(ns), NameAggr: "app-" + strconv.Itoa(ns) + "-7d9c8f5b6-*",
					Labels: []string{"app=app-" + strconv.Itoa(ns), "pod-template-hash=7d9c8f5b6"}}}
			switch d % 3 {
			case 0:
				f.Dest = flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "db-" + strconv.Itoa(d%10), NameAggr: "db-" + strconv.Itoa(d) + "-*",
					Port: uint16(5000 + d), Labels: []string{"app=db-" + strconv.Itoa(d), "role=primary", "pod-template-hash=5f6b7c8d9"}}
				f.Service = flows.Service{Namespace: f.Dest.Namespace, Name: "db-" + strconv.Itoa(d), PortName: "tcp", Port: f.Dest.Port}
			case 1:
				f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: uint16(8000 + d), Labels: []string{}}
			default:
				f.Dest = flows.Endpoint{Type: flows.EndpointNetworkSet, NameAggr: "set-" + strconv.Itoa(d), Name: "set-" + strconv.Itoa(d),
					Port: uint16(9000 + d), Labels: []string{"provider=p" + strconv.Itoa(d)}}
			}
			hit := flows.PolicyHit{Index: 0, Tier: "default", Kind: flows.KindGlobalNetworkPolicy, Name: "observe-all", Action: flows.ActionAllow, RuleIndex: 0}
			f.Policies = flows.Trace{Enforced: []flows.PolicyHit{hit}, Pending: []flows.PolicyHit{hit}}
			out = append(out, f)
		}
	}
	return out
}

type esBenchFixture struct {
	srv      *estest.Server
	from, to time.Time
	docs     int
}

var esBenchOnce struct {
	sync.Once
	fx  *esBenchFixture
	err error
}

// esBenchSetup builds the server once per process: 1,000,000 documents
// (BENCH_ES_DOCS overrides), 10,000 keys, responses cached so that the
// server only writes precomputed bytes during the measured runs (which is
// why the benchmark can time only the client).
func esBenchSetup(b *testing.B) *esBenchFixture {
	esBenchOnce.Do(func() {
		n := 1_000_000
		if s := os.Getenv("BENCH_ES_DOCS"); s != "" {
			n, _ = strconv.Atoi(s)
		}
		fs := esBenchFlows(n, 10_000)
		srv, err := estest.NewServer(estest.Options{Cache: true})
		if err != nil {
			esBenchOnce.err = err
			return
		}
		srv.CreateIndex(esTestIndex, nil)
		docs := make([][]byte, len(fs))
		for i := range fs {
			if docs[i], err = estest.Document(&fs[i], "cluster", "node-1"); err != nil {
				esBenchOnce.err = err
				return
			}
		}
		fs = nil
		if err := srv.Add(esTestIndex, docs...); err != nil {
			esBenchOnce.err = err
			return
		}
		esBenchOnce.fx = &esBenchFixture{srv: srv, docs: len(docs),
			from: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	})
	if esBenchOnce.err != nil {
		b.Fatal(esBenchOnce.err)
	}
	return esBenchOnce.fx
}

type esBenchRun struct {
	bytes   int64
	elapsed time.Duration
	store   map[string]string
}

func esBenchObserve(b *testing.B, fx *esBenchFixture, raw bool) esBenchRun {
	st, err := allowlist.Open(b.TempDir(), config.Default())
	require.NoError(b, err)
	client, err := es.NewClient(es.Config{URL: fx.srv.URL})
	require.NoError(b, err)
	start := time.Now()
	res, err := Elasticsearch(context.Background(), st, ESOptions{Client: client, From: fx.from, To: fx.to, Raw: raw, PageSize: map[bool]int{false: 1000, true: 5000}[raw]})
	el := time.Since(start)
	require.NoError(b, err)
	require.Equal(b, int64(fx.docs), res.Search.Docs)
	files, err := st.Render()
	require.NoError(b, err)
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(v)
	}
	return esBenchRun{bytes: res.Search.BytesSent + res.Search.BytesReceived, elapsed: el, store: out}
}

// BenchmarkElasticsearch compares the aggregation push-down with the raw
// scan on 1,000,000 documents / 10,000 keys: the bytes on the wire (request
// + response bodies), which is what the push-down saves, and the client's
// own time (queries sent, responses decoded, flows aggregated).
//
// The in-process server answers from precomputed responses, so no time
// figure here says anything about Elasticsearch's work (running the
// composite aggregation, or scanning and returning documents): only the
// bytes are comparable with a real cluster. The client times are reported
// as client-s metrics, without a ratio, and nothing is asserted on them.
//
//	go test ./internal/observe -run '^$' -bench BenchmarkElasticsearch -benchtime 1x
func BenchmarkElasticsearch(b *testing.B) {
	fx := esBenchSetup(b)
	// Warm-up: fills the server's response cache and checks that both
	// modes produce the same store.
	push, raw := esBenchObserve(b, fx, false), esBenchObserve(b, fx, true)
	require.Equal(b, push.store, raw.store, "push-down and raw agree")
	b.ResetTimer()
	var pushT, rawT time.Duration
	for i := 0; i < b.N; i++ {
		push, raw = esBenchObserve(b, fx, false), esBenchObserve(b, fx, true)
		pushT += push.elapsed
		rawT += raw.elapsed
	}
	pushT /= time.Duration(b.N)
	rawT /= time.Duration(b.N)
	b.ReportMetric(float64(push.bytes), "pushdown-bytes")
	b.ReportMetric(float64(raw.bytes), "raw-bytes")
	byteRatio := float64(raw.bytes) / float64(push.bytes)
	b.ReportMetric(byteRatio, "bytes-ratio")
	b.ReportMetric(pushT.Seconds(), "pushdown-client-s")
	b.ReportMetric(rawT.Seconds(), "raw-client-s")
	b.ReportMetric(0, "ns/op") // a server answering from a cache: no time to report
	b.Logf("%d documents, 10000 keys: push-down %d bytes, raw %d bytes: %.0fx fewer bytes. "+
		"Client-side time (decode + aggregate, against precomputed responses, not Elasticsearch's work): push-down %s, raw %s",
		fx.docs, push.bytes, raw.bytes, byteRatio, pushT.Round(time.Millisecond), rawT.Round(time.Millisecond))
	if fx.docs >= 1_000_000 {
		require.GreaterOrEqual(b, byteRatio, 50.0, "push-down transfers at least 50x fewer bytes")
	}
}
