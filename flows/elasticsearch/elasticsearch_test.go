package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	es "github.com/calico-plan/calico-plan/flows/elasticsearch"
	"github.com/calico-plan/calico-plan/flows/elasticsearch/estest"
	"github.com/calico-plan/calico-plan/internal/demo"
)

const (
	index   = "tigera_secure_ee_flows.cluster.fluentd-20261113-000001"
	pattern = "tigera_secure_ee_flows.cluster.*"
	secret  = "s3cr3t-Pa55w0rd"
	apiKey  = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
)

// dataset is two days of the demo cluster.
type dataset struct {
	start, end time.Time
	flows      []flows.Flow
	src, dst   int
}

func newDataset(t *testing.T) *dataset {
	t.Helper()
	opt := demo.DefaultOptions()
	opt.Days = 2
	d := &dataset{start: opt.Start, end: opt.Start.Add(48*time.Hour + time.Second)}
	require.NoError(t, demo.Generate(opt, func(f *flows.Flow) error {
		d.flows = append(d.flows, *f)
		if f.Reporter == flows.ReporterSrc {
			d.src++
		} else {
			d.dst++
		}
		return nil
	}))
	return d
}

func (d *dataset) query() es.Query {
	return es.Query{From: d.start, To: d.end, WouldDeny: es.WouldDeny{Tier: "egress-allowlist", K8sName: "egress-allowlist"}}
}

func newServer(t *testing.T, opt estest.Options, d *dataset) *estest.Server {
	t.Helper()
	opt.RecordResponses = true
	srv, err := estest.NewServer(opt)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	srv.CreateIndex(index, nil)
	if d != nil {
		_, err = srv.AddFlows(index, "cluster", d.flows)
		require.NoError(t, err)
	}
	return srv
}

func newClient(t *testing.T, cfg es.Config) *es.Client {
	t.Helper()
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = time.Millisecond, 4*time.Millisecond
	}
	c, err := es.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// collector keeps what the source delivers.
type collector struct {
	buckets []es.Bucket
	flows   []flows.Flow
	overlap int
}

func (c *collector) Bucket(b *es.Bucket) error {
	cp := *b
	cp.Days = append([]int64(nil), b.Days...)
	cp.Workloads = append([]string(nil), b.Workloads...)
	c.buckets = append(c.buckets, cp)
	return nil
}

func (c *collector) Flow(f *flows.Flow, overlap bool) error {
	c.flows = append(c.flows, *f)
	if overlap {
		c.overlap++
	}
	return nil
}

func (c *collector) docs() int64 {
	var n int64
	for _, b := range c.buckets {
		n += b.Docs
	}
	return n
}

// searches returns the recorded _search requests whose composite
// aggregation uses the given first source.
func composites(reqs []estest.Request, first string) []estest.Request {
	var out []estest.Request
	for _, r := range reqs {
		m := r.JSON()
		aggs, _ := m["aggs"].(map[string]any)
		k, _ := aggs["k"].(map[string]any)
		comp, _ := k["composite"].(map[string]any)
		srcs, _ := comp["sources"].([]any)
		if len(srcs) == 0 {
			continue
		}
		if _, ok := srcs[0].(map[string]any)[first]; ok {
			out = append(out, r)
		}
	}
	return out
}

func TestPushDownPagesThroughCompositeAggregation(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	q := d.query()
	q.PageSize = 25
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
	require.NoError(t, err)
	require.Equal(t, es.ModeAggregation, res.Mode)
	require.Equal(t, []string{index}, res.Indices)
	require.Equal(t, int64(d.src), c.docs(), "every source-reported document is in one bucket")
	require.Equal(t, int64(d.src), res.Docs)
	require.Equal(t, es.ReporterCount{Docs: int64(d.dst)}, res.OtherReporters["dst"], "dst copies are counted, not read")
	require.Equal(t, int64(len(c.buckets)), res.Buckets)
	require.Less(t, len(c.buckets), d.src, "buckets aggregate documents")

	var main []estest.Request // the ordinary buckets (the would-deny ones come from a second scan)
	for _, r := range composites(srv.Requests(), "source_namespace") {
		if _, ok := r.JSON()["query"].(map[string]any)["bool"].(map[string]any)["must_not"]; ok {
			main = append(main, r)
		}
	}
	require.Greater(t, len(main), 3, "several composite pages")
	for i, r := range main {
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "/"+pattern+"/_search", r.Path, "the index pattern is in the path")
		m := r.JSON()
		require.EqualValues(t, 0, m["size"])
		comp := m["aggs"].(map[string]any)["k"].(map[string]any)["composite"].(map[string]any)
		require.EqualValues(t, 25, comp["size"])
		var names []string
		for _, s := range comp["sources"].([]any) {
			for name, def := range s.(map[string]any) {
				terms := def.(map[string]any)["terms"].(map[string]any)
				require.Equal(t, name, terms["field"])
				require.Equal(t, true, terms["missing_bucket"], "documents lacking a field must not be dropped")
				names = append(names, name)
			}
		}
		require.Equal(t, []string{"source_namespace", "source_type", "dest_type", "dest_namespace", "dest_name_aggr",
			"dest_service_namespace", "dest_service_name", "proto", "dest_port", "dest_ip", "action", "reporter"}, names)
		sub := m["aggs"].(map[string]any)["k"].(map[string]any)["aggs"].(map[string]any)
		require.Contains(t, sub, "start_days")
		require.Equal(t, "+1s", sub["end_days"].(map[string]any)["date_histogram"].(map[string]any)["offset"])
		// after_key paging: each page continues after the previous page's after_key.
		if i == 0 {
			require.NotContains(t, comp, "after")
			continue
		}
		var prev struct {
			Aggregations struct {
				K struct {
					AfterKey map[string]any `json:"after_key"`
				} `json:"k"`
			} `json:"aggregations"`
		}
		require.NoError(t, json.Unmarshal(main[i-1].Response, &prev))
		require.Equal(t, prev.Aggregations.K.AfterKey, comp["after"])
	}
	// The filters: window on end_time, reporter src, would-deny excluded
	// through a nested query on the policies.
	body := string(main[0].Body)
	require.Contains(t, body, `{"range":{"end_time":{"format":"epoch_second","gte":`)
	require.Contains(t, body, `{"term":{"reporter":"src"}}`)
	require.Contains(t, body, `"must_not":[{"bool":{"filter":[{"term":{"action":"allow"}},{"nested":{"path":"policies"`)

	labels := composites(srv.Requests(), "dest_type")
	require.NotEmpty(t, labels)
	nested := labels[0].JSON()["aggs"].(map[string]any)["k"].(map[string]any)["aggs"].(map[string]any)["labels"].(map[string]any)
	require.Equal(t, map[string]any{"path": "dest_labels"}, nested["nested"])
	require.Equal(t, "dest_labels.labels", nested["aggs"].(map[string]any)["l"].(map[string]any)["terms"].(map[string]any)["field"])

	// Evidence of one bucket, checked against the documents.
	var pg *es.Bucket
	for i := range c.buckets {
		b := &c.buckets[i]
		if b.Flow.Source.Namespace == "recruiter-responder" && b.Flow.Dest.Port == 5432 {
			pg = b
		}
	}
	require.NotNil(t, pg)
	var docs, nflows, nbytes int64
	first, last := int64(1<<62), int64(0)
	for _, f := range d.flows {
		if f.Reporter == flows.ReporterSrc && f.Source.Namespace == "recruiter-responder" && f.Dest.Port == 5432 {
			docs++
			nflows += f.NumFlows
			nbytes += f.Bytes
			first, last = min(first, f.Start), max(last, f.End)
		}
	}
	require.Equal(t, docs, pg.Docs)
	require.Equal(t, nflows, pg.Flows)
	require.Equal(t, nbytes, pg.Bytes)
	require.Equal(t, first, pg.First)
	require.Equal(t, last, pg.Last)
	day := d.start.Unix() / 86400
	require.Equal(t, []int64{day, day + 1}, pg.Days, "a window ending at midnight does not touch the next day")
	require.Equal(t, []string{"recruiter-responder-api-7d9c8f5b6-*"}, pg.Workloads)
	require.Equal(t, "recruiter-responder-api-7d9c8f5b6-*", pg.Flow.Source.NameAggr)
	require.Equal(t, flows.Service{Namespace: "dbaas", Name: "pg-cluster-rw"}, pg.Flow.Service)
	require.ElementsMatch(t, []string{"cnpg.io/cluster=pg-cluster", "cnpg.io/instanceRole=primary", "role=primary", "controller-revision-hash=pg-cluster-7"}, pg.Flow.Dest.Labels)
	require.False(t, pg.Flow.Dest.IP.IsValid(), "0.0.0.0 (the null_value) is no address")
}

func TestEmptyIndexAndMissingIndex(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, nil)
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Empty(t, c.buckets)
	require.Zero(t, res.Docs)

	q := d.query()
	q.Cluster = "other"
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
	require.ErrorContains(t, err, `no index matches "tigera_secure_ee_flows.other.*"`)
}

func TestRetriesTransientFailures(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	isSearch := func(r *estest.Request) bool { return strings.HasSuffix(r.Path, "/_search") }
	srv.Inject(estest.Fault{Match: isSearch, Status: http.StatusTooManyRequests})
	srv.Inject(estest.Fault{Match: isSearch, Reset: true})
	srv.Inject(estest.Fault{Match: isSearch, Status: http.StatusBadGateway, ErrorType: "bad_gateway"})
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Equal(t, int64(d.src), c.docs())
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	require.Equal(t, []int{200, 429, 0, 502, 200}, statuses[:5], "mapping, then three failures retried")
	require.Equal(t, int64(len(srv.Requests())), res.Requests)

	// Exhaustion: a bounded number of attempts, then a clear error.
	srv.ResetRequests()
	srv.Inject(estest.Fault{Match: isSearch, Status: http.StatusServiceUnavailable, Times: -1})
	_, err = newClient(t, es.Config{URL: srv.URL, MaxRetries: 2}).Observe(context.Background(), d.query(), &collector{})
	var ee *es.Error
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.Attempts)
	require.Equal(t, http.StatusServiceUnavailable, ee.Status)
	require.Contains(t, err.Error(), "giving up after 3 attempts: HTTP 503 Service Unavailable")
	require.Len(t, srv.Requests(), 4, "mapping + 3 attempts")
}

// A failing query (500) or an unsupported request (501) fails the same way
// each time: it is reported at once, not retried.
func TestDoesNotRetryPermanentServerErrors(t *testing.T) {
	d := newDataset(t)
	isSearch := func(r *estest.Request) bool { return strings.HasSuffix(r.Path, "/_search") }
	for _, code := range []int{http.StatusInternalServerError, http.StatusNotImplemented} {
		srv := newServer(t, estest.Options{}, d)
		srv.Inject(estest.Fault{Match: isSearch, Status: code, Times: -1})
		_, err := newClient(t, es.Config{URL: srv.URL, MaxRetries: 3}).Observe(context.Background(), d.query(), &collector{})
		var ee *es.Error
		require.ErrorAs(t, err, &ee, "HTTP %d", code)
		require.Equal(t, 1, ee.Attempts, "HTTP %d", code)
		require.Equal(t, code, ee.Status)
		require.Len(t, srv.Requests(), 2, "mapping + one attempt (HTTP %d)", code)
	}
}

func TestShardFailuresAndTimeOutsFailUnlessAllowed(t *testing.T) {
	d := newDataset(t)
	for _, f := range []estest.Fault{{ShardFailure: true}, {TimedOut: true}} {
		srv := newServer(t, estest.Options{}, d)
		onMain := func(r *estest.Request) bool { return bytes.Contains(r.Body, []byte(`"source_namespace"`)) }
		f.Match = onMain
		srv.Inject(f)
		_, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &collector{})
		var pe *es.PartialError
		require.ErrorAs(t, err, &pe)
		require.Contains(t, err.Error(), "nothing was merged")
		if f.ShardFailure {
			require.Contains(t, err.Error(), "1 of 1 shards failed")
			require.Contains(t, err.Error(), "node_not_connected_exception")
		} else {
			require.Contains(t, err.Error(), "timed out")
		}

		srv.Inject(f)
		q := d.query()
		q.AllowPartial = true
		var c collector
		res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
		require.NoError(t, err)
		require.True(t, res.Partial)
		require.NotEmpty(t, res.Warnings)
		require.Contains(t, res.Warnings[0], "partial result accepted")
	}
}

func TestAuthentication(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{Username: "elastic", Password: secret, APIKey: apiKey}, d)

	_, err := newClient(t, es.Config{URL: srv.URL, Username: "elastic", Password: "wrong-" + secret}).Observe(context.Background(), d.query(), &collector{})
	var ee *es.Error
	require.ErrorAs(t, err, &ee)
	require.Equal(t, http.StatusUnauthorized, ee.Status)
	require.Equal(t, 1, ee.Attempts, "authentication failures are not retried")
	require.Contains(t, err.Error(), "tigera-secure-es-elastic-user")
	require.NotContains(t, err.Error(), secret)

	srv.ResetRequests()
	var c collector
	_, err = newClient(t, es.Config{URL: srv.URL, Username: "elastic", Password: secret}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Equal(t, int64(d.src), c.docs())
	for _, r := range srv.Requests() {
		require.Equal(t, "Basic ZWxhc3RpYzpzM2NyM3QtUGE1NXcwcmQ=", r.Header.Get("Authorization"))
	}

	// User information in the URL works and never shows.
	u := strings.Replace(srv.URL, "http://", "http://elastic:"+secret+"@", 1)
	cl := newClient(t, es.Config{URL: u})
	require.Equal(t, srv.URL, cl.Endpoint())
	_, err = cl.Observe(context.Background(), d.query(), &collector{})
	require.NoError(t, err)

	srv.ResetRequests()
	_, err = newClient(t, es.Config{URL: srv.URL, APIKey: apiKey}).Observe(context.Background(), d.query(), &collector{})
	require.NoError(t, err)
	for _, r := range srv.Requests() {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		require.True(t, strings.EqualFold("ApiKey", scheme), scheme)
		require.Equal(t, apiKey, cred)
	}
}

func TestTLSWithSelfSignedCA(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{TLS: true}, d)
	require.True(t, strings.HasPrefix(srv.URL, "https://"))

	var c collector
	_, err := newClient(t, es.Config{URL: srv.URL, CACert: srv.CACertPEM}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Equal(t, int64(d.src), c.docs())

	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &collector{})
	require.Error(t, err, "verification is on by default")
	require.Contains(t, err.Error(), "--es-ca-cert")
	var ee *es.Error
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.Attempts, "certificate errors are not retried")

	_, err = newClient(t, es.Config{URL: srv.URL, InsecureSkipVerify: true}).Observe(context.Background(), d.query(), &collector{})
	require.NoError(t, err)

	// A certificate that names only the in-cluster service, behind a
	// port-forward: the name must be given.
	svc := "tigera-secure-es-http.tigera-elasticsearch.svc"
	named := newServer(t, estest.Options{TLS: true, CertNames: []string{svc}}, d)
	_, err = newClient(t, es.Config{URL: named.URL, CACert: named.CACertPEM}).Observe(context.Background(), d.query(), &collector{})
	require.ErrorContains(t, err, "--es-tls-server-name")
	_, err = newClient(t, es.Config{URL: named.URL, CACert: named.CACertPEM, TLSServerName: svc}).Observe(context.Background(), d.query(), &collector{})
	require.NoError(t, err)

	_, err = es.NewClient(es.Config{URL: srv.URL, CACert: []byte("not a certificate")})
	require.ErrorContains(t, err, "no PEM certificate")
}

func TestRawModeScansWithPointInTime(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	q := d.query()
	q.Raw = true
	q.PageSize = 100
	q.OverlapFrom = d.end.Add(-6 * time.Hour)
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
	require.NoError(t, err)
	require.Equal(t, es.ModeRaw, res.Mode)
	require.Len(t, c.flows, d.src)
	require.Equal(t, int64(d.src), res.Docs)
	require.Equal(t, d.src/100+1, res.Pages)
	require.Equal(t, int64(d.src), res.Decode.Records)
	require.Zero(t, res.Decode.Bad)
	for _, f := range c.flows {
		require.Equal(t, flows.ReporterSrc, f.Reporter)
	}
	var lastWindow int
	for _, f := range d.flows {
		if f.Reporter == flows.ReporterSrc && f.End >= q.OverlapFrom.Unix() {
			lastWindow++
		}
	}
	require.Equal(t, lastWindow, c.overlap)

	reqs := srv.Requests()
	var pitID string
	var pages []estest.Request
	for _, r := range reqs {
		switch {
		case strings.HasSuffix(r.Path, "/_pit") && r.Method == http.MethodPost:
			require.Equal(t, "/"+pattern+"/_pit", r.Path)
			require.Equal(t, "300s", r.Query.Get("keep_alive"))
			var open struct{ ID string }
			require.NoError(t, json.Unmarshal(r.Response, &open))
			pitID = open.ID
		case r.Path == "/_search":
			pages = append(pages, r)
		}
	}
	require.NotEmpty(t, pitID)
	require.Len(t, pages, res.Pages)
	for i, p := range pages {
		m := p.JSON()
		require.Equal(t, map[string]any{"id": pitID, "keep_alive": "300s"}, m["pit"])
		require.Equal(t, []any{map[string]any{"_shard_doc": "asc"}}, m["sort"])
		require.EqualValues(t, 100, m["size"])
		require.Contains(t, m["_source"], "policies")
		require.NotContains(t, m["_source"], "source_labels", "only what the allowlist needs is fetched")
		if i == 0 {
			require.NotContains(t, m, "search_after")
			continue
		}
		var prev struct {
			Hits struct {
				Hits []struct {
					Sort []any `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		require.NoError(t, json.Unmarshal(pages[i-1].Response, &prev))
		require.Equal(t, prev.Hits.Hits[len(prev.Hits.Hits)-1].Sort, m["search_after"])
	}
	last := reqs[len(reqs)-1]
	require.Equal(t, http.MethodDelete, last.Method)
	require.Equal(t, "/_pit", last.Path)
	require.Equal(t, map[string]any{"id": pitID}, last.JSON())
	require.Zero(t, srv.OpenPITs())
}

func TestRawModeClosesThePointInTimeOnError(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	srv.Inject(estest.Fault{Match: func(r *estest.Request) bool { return bytes.Contains(r.Body, []byte("search_after")) }, Status: 503, Times: -1})
	q := d.query()
	q.Raw = true
	q.PageSize = 100
	_, err := newClient(t, es.Config{URL: srv.URL, MaxRetries: 1}).Observe(context.Background(), q, &collector{})
	require.ErrorContains(t, err, "page 2: giving up after 2 attempts: HTTP 503")
	reqs := srv.Requests()
	require.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method)
	require.Zero(t, srv.OpenPITs())

	// Also when the caller gives up.
	srv.ClearFaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(ctx, q, handlerFunc(func() {
		n++
		if n == 150 {
			cancel()
		}
	}))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, srv.OpenPITs())
}

type handlerFunc func()

func (h handlerFunc) Bucket(*es.Bucket) error { h(); return nil }
func (h handlerFunc) Flow(*flows.Flow, bool) error {
	h()
	return nil
}

func TestMissingMappingFieldFallsBackToRaw(t *testing.T) {
	d := newDataset(t)
	m := estest.FlowLogMapping()
	delete(m, "dest_service_name")
	srv, err := estest.NewServer(estest.Options{})
	require.NoError(t, err)
	defer srv.Close()
	srv.CreateIndex(index, m)
	_, err = srv.AddFlows(index, "cluster", d.flows)
	require.NoError(t, err)
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Equal(t, es.ModeRaw, res.Mode)
	require.Contains(t, res.FellBack, "field dest_service_name is not mapped")
	require.Contains(t, res.Warnings[0], index)
	require.Len(t, c.flows, d.src)

	// Without the time field nothing can be read.
	delete(m, "end_time")
	srv2, err := estest.NewServer(estest.Options{})
	require.NoError(t, err)
	defer srv2.Close()
	srv2.CreateIndex(index, m)
	_, err = newClient(t, es.Config{URL: srv2.URL}).Observe(context.Background(), d.query(), &c)
	require.ErrorContains(t, err, "field end_time is not mapped")
}

func TestSingleIndexFiltersByCluster(t *testing.T) {
	d := newDataset(t)
	srv, err := estest.NewServer(estest.Options{})
	require.NoError(t, err)
	defer srv.Close()
	const single = "calico_flowlogs.linseed-20261113-000001"
	srv.CreateIndex(single, nil)
	_, err = srv.AddFlows(single, "prod", d.flows)
	require.NoError(t, err)
	_, err = srv.AddFlows(single, "staging", d.flows[:100])
	require.NoError(t, err)
	q := d.query()
	q.Index, q.Cluster = es.SingleIndexPattern, "prod"
	var c collector
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
	require.NoError(t, err)
	require.Equal(t, int64(d.src), c.docs(), "only the prod cluster's documents")
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "_search") {
			require.Equal(t, "/calico_flowlogs.*/_search", r.Path)
			require.Contains(t, string(r.Body), `{"term":{"cluster":"prod"}}`)
		}
	}
}

// eeDoc builds a document with a given pending trace (and optionally only
// all_policies, as old documents have).
func eeDoc(t *testing.T, f flows.Flow, pending []string, allOnly bool) []byte {
	t.Helper()
	b, err := estest.Document(&f, "cluster", "node")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	p := map[string]any{"enforced_policies": []string{"0|default|gnp:observe|allow|0"}}
	if allOnly {
		p["all_policies"] = pending
	} else {
		p["pending_policies"] = pending
	}
	m["policies"] = p
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

func TestWouldDenyAcrossTraceGenerations(t *testing.T) {
	base := flows.Flow{Start: 1795000000, End: 1795000300, Proto: flows.ProtoTCP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc, NumFlows: 1, Bytes: 100,
		Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "app", NameAggr: "app-*"},
		Dest:   flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Labels: []string{}}}
	cases := []struct {
		trace   []string
		allOnly bool
		want    bool
	}{
		{[]string{"0|egress-allowlist|app/egress-allowlist.staged:app|deny|-1"}, false, true},  // gen 2 (Felix)
		{[]string{"0|egress-allowlist|app/staged:egress-allowlist.app|deny|-1"}, false, true},  // gen 2 (Docs spelling)
		{[]string{"0|egress-allowlist|egress-allowlist.staged:app|deny"}, false, true},         // gen 1
		{[]string{"0|egress-allowlist|snp:app/app|deny|-1"}, false, true},                      // gen 3
		{[]string{"0|egress-allowlist|sgnp:allowlist|deny|2"}, false, true},                    // gen 3 global
		{[]string{"0|default|app/staged:knp.default.egress-allowlist|deny|-1"}, false, true},   // k8s flavor
		{[]string{"0|default|sknp:app/egress-allowlist|deny|-1"}, false, true},                 // k8s flavor, gen 3
		{[]string{"0|egress-allowlist|app/egress-allowlist.staged:app|deny|-1"}, true, true},   // all_policies fallback
		{[]string{"0|egress-allowlist|app/egress-allowlist.staged:app|allow|3"}, false, false}, // staged allow
		{[]string{"0|egress-allowlist|app/egress-allowlist.enforced|deny|-1"}, false, false},   // not staged
		{[]string{"0|other-tier|app/other-tier.staged:x|deny|-1"}, false, false},               // other tier
		{[]string{"0|default|app/staged:knp.default.someone-else|deny|-1"}, false, false},      // other k8s policy
		{[]string{"0|__PROFILE__|__PROFILE__.kns.app|allow|0"}, false, false},                  // no policy
		{nil, false, false},
	}
	srv := newServer(t, estest.Options{}, nil)
	for i, c := range cases {
		f := base
		f.Dest.Port = uint16(1000 + i)
		require.NoError(t, srv.Add(index, eeDoc(t, f, c.trace, c.allOnly)))
	}
	q := es.Query{From: time.Unix(1794999000, 0), To: time.Unix(1795001000, 0), WouldDeny: es.WouldDeny{Tier: "egress-allowlist", K8sName: "egress-allowlist"}}
	var col collector
	_, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &col)
	require.NoError(t, err)
	require.Len(t, col.buckets, len(cases))
	for _, b := range col.buckets {
		i := int(b.Flow.Dest.Port) - 1000
		require.Equal(t, cases[i].want, b.WouldDeny, "case %d: %v", i, cases[i].trace)
		if b.WouldDeny {
			h, ok := flows.Verdict(b.Flow.Policies.Pending)
			require.True(t, ok)
			require.Equal(t, flows.ActionDeny, h.Action)
			require.True(t, h.Kind.Staged())
			require.Equal(t, "egress-allowlist", h.Tier)
		} else {
			require.Empty(t, b.Flow.Policies.Pending)
		}
	}
}

func TestLabelsAreTheIntersectionAcrossDocuments(t *testing.T) {
	mk := func(start int64, labels ...string) flows.Flow {
		return flows.Flow{Start: start, End: start + 300, Proto: flows.ProtoTCP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc, NumFlows: 1,
			Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "app", NameAggr: "app-*"},
			Dest:   flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "db", NameAggr: "pg-*", Port: 5432, Labels: labels}}
	}
	srv := newServer(t, estest.Options{}, nil)
	_, err := srv.AddFlows(index, "cluster", []flows.Flow{
		mk(1795000000, "app=pg", "role=primary", "pod-template-hash=aaa"),
		mk(1795000300, "app=pg", "role=primary", "pod-template-hash=bbb"),
		mk(1795000600, "role=primary", "app=pg"),
	})
	require.NoError(t, err)
	var col collector
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), es.Query{From: time.Unix(1795000000, 0), To: time.Unix(1795001000, 0)}, &col)
	require.NoError(t, err)
	require.Len(t, col.buckets, 1)
	require.Equal(t, []string{"app=pg", "role=primary"}, col.buckets[0].Flow.Dest.Labels)
	require.EqualValues(t, 3, col.buckets[0].Docs)
}

func TestTooManyBucketsShrinksThePage(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	srv.Inject(estest.Fault{Match: func(r *estest.Request) bool { return bytes.Contains(r.Body, []byte(`"source_namespace"`)) },
		Status: 400, ErrorType: "too_many_buckets_exception", Reason: "Trying to create too many buckets. Must be less than or equal to: [65536]"})
	q := d.query()
	q.PageSize = 40
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
	require.NoError(t, err)
	require.Equal(t, int64(d.src), c.docs())
	require.Contains(t, strings.Join(res.Warnings, "\n"), "retrying with pages of 20 keys")
}

func TestServerThatIsNotElasticsearch(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{NoProductHeader: true}, d)
	_, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &collector{})
	require.ErrorContains(t, err, "not Elasticsearch")
}

func TestCredentialsNeverInErrors(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{Username: "elastic", Password: secret}, d)
	// The server echoes a secret in an error reason (some proxies do).
	srv.Inject(estest.Fault{Status: 503, Times: -1, Reason: "upstream rejected Authorization: Basic ZWxhc3RpYzpzM2NyM3QtUGE1NXcwcmQ= for user elastic/" + secret})
	withUser := strings.Replace(srv.URL, "http://", "http://elastic:"+secret+"@", 1)
	var errs []error
	_, err := newClient(t, es.Config{URL: withUser, MaxRetries: 1}).Observe(context.Background(), d.query(), &collector{})
	errs = append(errs, err)
	_, err = newClient(t, es.Config{URL: srv.URL, APIKey: apiKey, MaxRetries: 1}).Observe(context.Background(), d.query(), &collector{})
	errs = append(errs, err)
	srv.ClearFaults()
	_, err = newClient(t, es.Config{URL: srv.URL, Username: "elastic", Password: secret + "x"}).Observe(context.Background(), d.query(), &collector{})
	errs = append(errs, err)
	_, err = newClient(t, es.Config{URL: "http://elastic:" + secret + "@127.0.0.1:1", MaxRetries: 1}).Observe(context.Background(), d.query(), &collector{})
	errs = append(errs, err)
	tlsSrv := newServer(t, estest.Options{TLS: true}, d)
	_, err = newClient(t, es.Config{URL: strings.Replace(tlsSrv.URL, "https://", "https://elastic:"+secret+"@", 1)}).Observe(context.Background(), d.query(), &collector{})
	errs = append(errs, err)
	_, err = es.NewClient(es.Config{URL: "ftp://elastic:" + secret + "@host"})
	errs = append(errs, err)
	for i, err := range errs {
		require.Error(t, err, "case %d", i)
		msg := err.Error()
		require.NotContains(t, msg, secret, "case %d", i)
		require.NotContains(t, msg, apiKey, "case %d", i)
		require.NotContains(t, msg, "ZWxhc3RpYzpzM2NyM3QtUGE1NXcwcmQ=", "case %d", i)
	}
	require.Contains(t, errs[0].Error(), "[REDACTED]")
	require.Contains(t, errs[3].Error(), "connection refused")

	cfg := es.Config{URL: withUser, Password: secret, APIKey: apiKey}
	for _, s := range []string{cfg.String(), cfg.GoString()} {
		require.NotContains(t, s, secret)
		require.NotContains(t, s, apiKey)
	}
}

func TestProgressOnATerminal(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	var out bytes.Buffer
	q := d.query()
	q.Progress = &out
	q.PageSize = 50
	_, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &collector{})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out.String()), "\r")
	require.Greater(t, len(lines), 2)
	last := lines[len(lines)-1]
	require.Contains(t, last, "keys")
	require.Contains(t, last, "documents")
	require.True(t, strings.HasSuffix(out.String(), "\n"))

	q.Progress = nil
	out.Reset()
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &collector{})
	require.NoError(t, err)
	require.Empty(t, out.String(), "silent when not a terminal")
}

func TestWorkloadSampleIsTheSmallestNames(t *testing.T) {
	srv := newServer(t, estest.Options{}, nil)
	var fs []flows.Flow
	names := []string{"zeta-*", "alpha-*", "mid-*", "beta-*", "omega-*", "gamma-*", "delta-*"}
	for i, n := range names {
		fs = append(fs, flows.Flow{Start: 1795000000 + int64(i), End: 1795000300, Proto: flows.ProtoUDP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc, NumFlows: 1,
			Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "app", NameAggr: n},
			Dest:   flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 53, Labels: []string{}}})
	}
	_, err := srv.AddFlows(index, "cluster", fs)
	require.NoError(t, err)
	var col collector
	_, err = newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), es.Query{From: time.Unix(1795000000, 0), To: time.Unix(1795001000, 0), WorkloadSamples: 3}, &col)
	require.NoError(t, err)
	require.Len(t, col.buckets, 1)
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	require.Equal(t, sorted[:3], col.buckets[0].Workloads)
}

func TestClientConfigErrors(t *testing.T) {
	_, err := es.NewClient(es.Config{})
	require.ErrorContains(t, err, "no URL or cloud ID")
	_, err = es.NewClient(es.Config{URL: "localhost:9200"})
	require.ErrorContains(t, err, "not an http(s)://host:port URL")
	_, err = es.NewClient(es.Config{URL: "https://a:9200", CloudID: "x:eQ=="})
	require.ErrorContains(t, err, "not both")
	_, err = newClient(t, es.Config{URL: "http://127.0.0.1:1", MaxRetries: -1}).Observe(context.Background(), es.Query{From: time.Unix(1, 0), To: time.Unix(1, 0)}, &collector{})
	require.ErrorContains(t, err, "empty window")
	require.False(t, errors.Is(err, context.Canceled))
}

// roundTripFunc records where requests go without sending them.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCloudIDResolvesToTheDeploymentURL(t *testing.T) {
	var got []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.Scheme+"://"+r.URL.Host+" "+r.Header.Get("Authorization"))
		return nil, errors.New("not sent")
	})
	id := "prod:" + base64.StdEncoding.EncodeToString([]byte("us-central1.gcp.cloud.es.io$abc123$kib456"))
	c, err := es.NewClient(es.Config{CloudID: id, APIKey: "a2V5", MaxRetries: -1, Transport: rt})
	require.NoError(t, err)
	require.Equal(t, "cloud:prod", c.Endpoint())
	_, err = c.Observe(context.Background(), es.Query{From: time.Unix(1, 0), To: time.Unix(2, 0)}, &collector{})
	require.Error(t, err)
	require.Equal(t, []string{"https://abc123.us-central1.gcp.cloud.es.io APIKey a2V5"}, got)

	for _, bad := range []string{"prod", "prod:!!", "prod:" + base64.StdEncoding.EncodeToString([]byte("onlyhost"))} {
		_, err := es.NewClient(es.Config{CloudID: bad})
		require.ErrorContains(t, err, "is not name:base64(host$uuid...)", bad)
	}
}

func TestMappingUnreadableOrWithoutReporter(t *testing.T) {
	d := newDataset(t)
	// A user without view_index_metadata: the standard mapping is assumed.
	srv := newServer(t, estest.Options{}, d)
	srv.Inject(estest.Fault{Match: func(r *estest.Request) bool { return strings.HasSuffix(r.Path, "/_mapping") }, Status: 403, ErrorType: "security_exception"})
	var c collector
	res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), d.query(), &c)
	require.NoError(t, err)
	require.Equal(t, es.ModeAggregation, res.Mode)
	require.Contains(t, res.Warnings[0], "view_index_metadata")
	require.Equal(t, int64(d.src), c.docs())

	// A custom index without a reporter keyword: raw, every reporter read.
	m := estest.FlowLogMapping()
	delete(m, "reporter")
	srv2, err := estest.NewServer(estest.Options{})
	require.NoError(t, err)
	defer srv2.Close()
	srv2.CreateIndex(index, m)
	_, err = srv2.AddFlows(index, "cluster", d.flows)
	require.NoError(t, err)
	var c2 collector
	res, err = newClient(t, es.Config{URL: srv2.URL}).Observe(context.Background(), d.query(), &c2)
	require.NoError(t, err)
	require.Equal(t, es.ModeRaw, res.Mode)
	require.Contains(t, res.FellBack, "field reporter is not mapped")
	require.Len(t, c2.flows, d.src+d.dst, "dst copies are left to the classifier")
}

// Documents with impossible values are bad documents, never evidence, in
// both modes. Before, one document starting at -1 gave its bucket a first
// seen in 1969 and a day set of 20,000 days, and negative byte counts were
// summed into the evidence.
func TestImpossibleDocumentsAreBadNotEvidence(t *testing.T) {
	d := newDataset(t)
	srv := newServer(t, estest.Options{}, d)
	start := d.start.Unix() + 3600
	good := flows.Flow{
		Start: start, End: start + 300,
		Source: flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: "evil-7d9c-*", Namespace: "evil", Labels: []string{"app=evil"}},
		Dest:   flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 443},
		Proto:  flows.ProtoTCP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc,
		NumFlows: 2, Bytes: 1000, Packets: 10,
	}
	doc := func(f flows.Flow, edits ...string) []byte {
		b, err := estest.Document(&f, "cluster", "node-0")
		require.NoError(t, err)
		s := string(b)
		for i := 0; i+1 < len(edits); i += 2 {
			require.Contains(t, s, edits[i])
			s = strings.Replace(s, edits[i], edits[i+1], 1)
		}
		return []byte(s)
	}
	startAt := func(v int64) string { return `"start_time":` + strconv.FormatInt(v, 10) }
	bad := map[string][]byte{
		"start_time -1":           doc(good, startAt(start), startAt(-1)),
		"start_time 0":            doc(good, startAt(start), startAt(0)),
		"start after end":         doc(good, startAt(start), startAt(d.end.Unix()+60)),
		"a ten-day record":        doc(good, startAt(start), startAt(start-10*86400)),
		"negative bytes_in":       doc(good, `"bytes_in":500`, `"bytes_in":-5000`),
		"negative bytes_out":      doc(good, `"bytes_out":500`, `"bytes_out":-1`),
		"negative num_flows":      doc(good, `"num_flows":2`, `"num_flows":-40`),
		"negative packets_in":     doc(good, `"packets_in":5`, `"packets_in":-5`),
		"negative flows started":  doc(good, `"num_flows":2`, `"num_flows":2,"num_flows_started":-1`),
		"negative flows complete": doc(good, `"num_flows":2`, `"num_flows":2,"num_flows_completed":-1`),
	}
	docs := [][]byte{doc(good)}
	for _, b := range bad {
		docs = append(docs, b)
	}
	require.NoError(t, srv.Add(index, docs...))

	for _, raw := range []bool{false, true} {
		q := d.query()
		q.Raw = raw
		var c collector
		res, err := newClient(t, es.Config{URL: srv.URL}).Observe(context.Background(), q, &c)
		require.NoError(t, err)
		require.EqualValues(t, len(bad), res.Decode.Bad, "raw=%v: %v", raw, res.Decode.Examples)
		require.Equal(t, map[string]int64{flows.ReasonBadValue: int64(len(bad))}, res.Decode.ByReason)
		fields := map[string]bool{}
		for _, p := range res.Decode.Examples {
			fields[strings.TrimPrefix(p.Field[strings.LastIndex(p.Field, "]")+1:], "._source.")] = true
			require.Contains(t, p.File, "elasticsearch "+pattern)
		}
		for _, f := range []string{"start_time", "bytes_in", "num_flows", "packets_in", "num_flows_started", "num_flows_completed"} {
			require.True(t, fields[f], "raw=%v: %s reported; got %v", raw, f, res.Decode.Examples)
		}
		// The good document is the only evidence for namespace evil.
		var flowsSum, bytesSum, docsSum int64
		first, last := int64(1<<62), int64(0)
		var days []int64
		if raw {
			for _, f := range c.flows {
				if f.Source.Namespace == "evil" {
					flowsSum, bytesSum, docsSum = flowsSum+f.NumFlows, bytesSum+f.Bytes, docsSum+1
					first, last = min(first, f.Start), max(last, f.End)
				}
			}
		} else {
			for _, b := range c.buckets {
				if b.Flow.Source.Namespace == "evil" {
					flowsSum, bytesSum, docsSum = flowsSum+b.Flows, bytesSum+b.Bytes, docsSum+b.Docs
					first, last = min(first, b.First), max(last, b.Last)
					days = append(days, b.Days...)
				}
			}
			require.Equal(t, []int64{start / 86400}, days)
		}
		require.Equal(t, [5]int64{1, 2, 1000, start, start + 300}, [5]int64{docsSum, flowsSum, bytesSum, first, last}, "raw=%v", raw)
	}
}
