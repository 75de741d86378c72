package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/calico-plan/calico-plan/flows"
)

// Modes of an observation.
const (
	ModeAggregation = "aggregation"
	ModeRaw         = "raw"
)

// Bucket is one push-down aggregation bucket: the documents sharing an
// allowlist key, with the evidence Elasticsearch computed for them.
type Bucket struct {
	// Flow carries the key fields: source namespace, type and first
	// workload (Source.NameAggr); destination type, namespace, name_aggr,
	// IP, port and labels (the labels every document of the destination
	// carries); service; proto, action, reporter. Start/End, NumFlows and
	// Bytes repeat the evidence. For a would-deny bucket Policies.Pending
	// holds a synthetic staged deny by the allowlist's policy.
	Flow flows.Flow
	// Docs is the bucket's document count.
	Docs int64
	// Flows and Bytes are the sums of num_flows and bytes_in + bytes_out.
	Flows, Bytes int64
	// First is the earliest start_time, Last the latest end_time (epoch s).
	First, Last int64
	// Days are the UTC days (Unix time / 86400) the documents' windows
	// touch, sorted.
	Days []int64
	// Workloads are the smallest source_name_aggr values, sorted (at most
	// Query.WorkloadSamples).
	Workloads []string
	// Overlap sums the documents with end_time >= Query.OverlapFrom.
	Overlap Sums
	// WouldDeny marks documents the staged allowlist policy would deny.
	WouldDeny bool
}

// Sums are counters of a subset of documents.
type Sums struct {
	Docs, Flows, Bytes int64
}

// Handler receives what an observation reads. Push-down mode calls Bucket,
// raw mode calls Flow (overlap reports end_time >= Query.OverlapFrom). The
// values passed are reused after the call returns.
type Handler interface {
	Bucket(b *Bucket) error
	Flow(f *flows.Flow, overlap bool) error
}

// ReporterCount counts documents of a reporter other than src that were
// counted, not read.
type ReporterCount struct {
	Docs    int64 `json:"docs"`
	Overlap int64 `json:"overlap,omitempty"`
}

// Result summarizes an observation.
type Result struct {
	Mode    string   `json:"mode"`
	Index   string   `json:"index"`
	Indices []string `json:"indices"`
	// FellBack says why the push-down aggregation was not used.
	FellBack string `json:"fellBack,omitempty"`
	Pages    int    `json:"pages"`
	Buckets  int64  `json:"buckets,omitempty"`
	// Docs are the source-reported documents covered; OverlapDocs those
	// with end_time >= Query.OverlapFrom.
	Docs        int64 `json:"docs"`
	OverlapDocs int64 `json:"overlapDocs,omitempty"`
	// OtherReporters counts the window's documents by reporter ("dst", or
	// "-" when missing) that were not read: dst copies never count for
	// egress.
	OtherReporters map[string]ReporterCount `json:"otherReporters,omitempty"`
	// Decode are the decoder statistics (raw mode), or the documents of
	// buckets whose key could not be decoded (push-down).
	Decode flows.Stats `json:"decode"`
	// Partial is set when --allow-partial let shard failures or time-outs
	// through.
	Partial       bool          `json:"partial,omitempty"`
	Warnings      []string      `json:"warnings,omitempty"`
	BytesSent     int64         `json:"bytesSent"`
	BytesReceived int64         `json:"bytesReceived"`
	Requests      int64         `json:"requests"`
	Elapsed       time.Duration `json:"elapsed"`
}

// PartialWarningPrefix starts the Result.Warnings entries of partial
// results accepted with Query.AllowPartial.
const PartialWarningPrefix = "partial result accepted (--allow-partial): "

// PartialError reports a search that timed out or lost shards.
type PartialError struct {
	Op       string
	TimedOut bool
	Failed   int
	Total    int
	Reasons  []string
}

func (e *PartialError) Error() string {
	return "elasticsearch: " + e.summary() + ": the result would be incomplete, so nothing was merged (--allow-partial accepts it with a warning)"
}

// summary says what failed: "<op>: 1 of 3 shards failed (<reasons>)".
func (e *PartialError) summary() string {
	var what string
	switch {
	case e.TimedOut && e.Failed > 0:
		what = fmt.Sprintf("timed out and %d of %d shards failed", e.Failed, e.Total)
	case e.TimedOut:
		what = "timed out"
	default:
		what = fmt.Sprintf("%d of %d shards failed", e.Failed, e.Total)
	}
	msg := e.Op + ": " + what
	if len(e.Reasons) > 0 {
		msg += " (" + strings.Join(e.Reasons, "; ") + ")"
	}
	return msg
}

// run is one observation in progress.
type run struct {
	c     *Client
	q     *Query
	h     Handler
	res   *Result
	prog  *progress
	start time.Time
	// labels maps a destination (labelKey) to the labels all its
	// documents carry.
	labels map[string][]string
	bucket Bucket
}

// Observe reads the window of q and hands it to h. On error nothing
// should be kept: the handler may have seen part of the data.
func (c *Client) Observe(ctx context.Context, q Query, h Handler) (*Result, error) {
	if q.Cluster == "" {
		q.Cluster = DefaultCluster
	}
	if q.Index == "" {
		q.Index = DefaultIndex(q.Cluster)
	}
	if IsSingleIndex(q.Index) {
		q.FilterCluster = true
	}
	if q.To.IsZero() || !q.From.Before(q.To) {
		return nil, fmt.Errorf("elasticsearch: empty window %s .. %s", q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	}
	s0, r0, n0 := c.Traffic()
	r := &run{c: c, q: &q, h: h, res: &Result{Mode: ModeAggregation, Index: q.Index}, start: time.Now()}
	if q.Raw {
		r.res.Mode = ModeRaw
	}
	r.prog = newProgress(q.Progress, r.start)
	defer func() {
		s, rc, n := c.Traffic()
		r.res.BytesSent, r.res.BytesReceived, r.res.Requests = s-s0, rc-r0, n-n0
		r.res.Elapsed = time.Since(r.start)
		r.prog.done()
	}()

	rep, err := c.checkMapping(ctx, &q)
	if err != nil {
		return r.res, err
	}
	r.res.Indices = rep.indices
	switch {
	case rep.unknown:
		r.warn("cannot read the mapping of " + q.Index + " (HTTP 403: the user lacks view_index_metadata); assuming the Calico Enterprise flow-log mapping")
	case len(rep.indices) == 0:
		return r.res, fmt.Errorf("elasticsearch: no index matches %q (check --es-cluster or --es-index; GET _cat/indices/tigera_secure_ee_flows*,calico_flowlogs*?v lists them)", q.Index)
	}
	if rep.fatal != "" {
		return r.res, fmt.Errorf("elasticsearch: %s: flow logs cannot be read from it (is %s a Calico flow-log index?)", rep.fatal, q.Index)
	}
	if !q.Raw && rep.pushDown != "" {
		r.res.Mode = ModeRaw
		r.res.FellBack = rep.pushDown
		r.warn("the aggregation push-down needs the Calico Enterprise flow-log mapping, but " + rep.pushDown +
			"; falling back to raw mode (every document is transferred; slower)")
	}
	if rep.noReporter && r.res.Mode == ModeRaw {
		// Without a reporter keyword nothing can be filtered or counted by
		// reporter: read every document, the classifier skips dst copies.
		q.noReporter = true
		r.warn("the mapping has no reporter keyword: reading documents of both reporters")
	} else if err := r.countReporters(ctx); err != nil {
		return r.res, err
	}
	if r.res.Mode == ModeRaw {
		err = r.raw(ctx)
	} else if err = r.countImpossible(ctx); err == nil {
		err = r.pushDown(ctx)
	}
	return r.res, err
}

func (r *run) warn(msg string) { r.res.Warnings = append(r.res.Warnings, msg) }

// search runs one _search (index "" for point-in-time searches), with
// response filtering (filter_path) when given.
func (c *Client) search(ctx context.Context, op, index string, body []byte, filterPath []string) ([]byte, error) {
	return c.do(ctx, op, body, func(rd io.Reader) esapi.Request {
		req := esapi.SearchRequest{Body: rd, FilterPath: filterPath}
		if index != "" {
			req.Index = []string{index}
		}
		return req
	})
}

// Response filtering keeps what the source reads and drops the rest
// (key_as_string, value_as_string, per-day doc counts, hit metadata): it
// roughly halves the aggregation pages.
var (
	compositeFilterPath = []string{
		"timed_out", "_shards",
		"aggregations.k.after_key",
		"aggregations.k.buckets.key",
		"aggregations.k.buckets.doc_count",
		"aggregations.k.buckets.*.value",       // min, max, sum
		"aggregations.k.buckets.*.doc_count",   // filter (overlap)
		"aggregations.k.buckets.*.*.value",     // sums under the filter
		"aggregations.k.buckets.*.buckets.key", // days, workloads
		"aggregations.k.buckets.labels.l.buckets.key",
		"aggregations.k.buckets.labels.l.buckets.docs.doc_count",
	}
	rawFilterPath = []string{"timed_out", "_shards", "pit_id", "hits.hits._source", "hits.hits.sort"}
)

// check fails on a timed-out or shard-failed response, unless partial
// results are allowed.
func (r *run) check(op string, env *envelope) error {
	if !env.TimedOut && env.Shards.Failed == 0 {
		return nil
	}
	pe := &PartialError{Op: op, TimedOut: env.TimedOut, Failed: env.Shards.Failed, Total: env.Shards.Total}
	for _, f := range env.Shards.Failures {
		reason := f.Reason.Type
		if f.Reason.Reason != "" {
			reason += ": " + f.Reason.Reason
		}
		pe.Reasons = append(pe.Reasons, fmt.Sprintf("%s[%d]: %s", f.Index, f.Shard, r.c.redact(reason)))
		if len(pe.Reasons) == 3 {
			break
		}
	}
	if !r.q.AllowPartial {
		return pe
	}
	r.res.Partial = true
	r.warn(PartialWarningPrefix + pe.summary())
	return nil
}

func decodeJSON(op string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("elasticsearch: %s: the response is not a search response: %v", op, err)
	}
	return nil
}

// countReporters counts the window's documents by reporter.
func (r *run) countReporters(ctx context.Context) error {
	const op = "count documents by reporter"
	data, err := r.c.search(ctx, op, r.q.Index, r.q.reportersBody(), nil)
	if err != nil {
		return err
	}
	var resp reportersResponse
	if err := decodeJSON(op, data, &resp); err != nil {
		return err
	}
	if err := r.check(op, &resp.envelope); err != nil {
		return err
	}
	for _, b := range resp.Aggregations.Reporters.Buckets {
		if b.Key == "src" {
			r.prog.total = b.DocCount
			continue
		}
		key := b.Key
		if key != "dst" {
			key = "-"
		}
		if r.res.OtherReporters == nil {
			r.res.OtherReporters = map[string]ReporterCount{}
		}
		rc := r.res.OtherReporters[key]
		rc.Docs += b.DocCount
		if b.Overlap != nil {
			rc.Overlap += b.Overlap.DocCount
		}
		r.res.OtherReporters[key] = rc
	}
	return nil
}

// countImpossible counts the documents the push-down leaves out for an
// impossible value, as bad documents (raw mode decodes every document and
// judges it like a file record).
func (r *run) countImpossible(ctx context.Context) error {
	const op = "count documents with impossible values"
	data, err := r.c.search(ctx, op, r.q.Index, r.q.impossibleBody(), nil)
	if err != nil {
		return err
	}
	var resp impossibleResponse
	if err := decodeJSON(op, data, &resp); err != nil {
		return err
	}
	if err := r.check(op, &resp.envelope); err != nil {
		return err
	}
	agg := resp.Aggregations.Impossible
	var total struct {
		DocCount int64 `json:"doc_count"`
	}
	if raw, ok := agg["doc_count"]; !ok || json.Unmarshal(raw, &total.DocCount) != nil {
		return fmt.Errorf("elasticsearch: %s: no document count in the response", op)
	}
	if total.DocCount == 0 {
		return nil
	}
	st := &r.res.Decode
	st.Bad += total.DocCount
	if st.ByReason == nil {
		st.ByReason = map[string]int64{}
	}
	st.ByReason[flows.ReasonBadValue] += total.DocCount
	for _, c := range r.q.impossibleChecks() {
		var sub struct {
			DocCount int64 `json:"doc_count"`
		}
		if raw, ok := agg[c.field]; ok && json.Unmarshal(raw, &sub) == nil && sub.DocCount > 0 && len(st.Examples) < 10 {
			st.Examples = append(st.Examples, flows.Problem{File: "elasticsearch " + r.q.Index, Record: -1, Field: c.field, Reason: flows.ReasonBadValue,
				Msg: fmt.Sprintf("%s (%d documents, left out)", c.msg, sub.DocCount)})
		}
	}
	return nil
}

// ---- push-down ----

// maxBuckets stays under Elasticsearch's search.max_buckets (65,536 by
// default), which counts sub-aggregation buckets too.
const maxBuckets = 50000

func (r *run) compositeSize() int {
	size := r.q.PageSize
	if size <= 0 {
		size = 1000
	}
	days := int(r.q.To.Sub(r.q.From)/(24*time.Hour)) + 2
	per := 2*days + r.q.samples() + 3
	if lim := maxBuckets / per; size > lim {
		size = lim
	}
	return max(size, 10)
}

// scanComposite pages through one composite aggregation.
func scanComposite[B any](ctx context.Context, r *run, op string, query obj, fields []string, sub obj, fn func(b *B) error) error {
	var after json.RawMessage
	size := r.compositeSize()
	for page := 1; ; page++ {
		pop := fmt.Sprintf("%s, page %d", op, page)
		data, err := r.c.search(ctx, pop, r.q.Index, compositeBody(query, fields, size, after, sub), compositeFilterPath)
		if errors.Is(err, errTooManyBuckets) && size > 10 {
			size /= 2
			page--
			r.warn(fmt.Sprintf("%s: too many buckets for the cluster's search.max_buckets; retrying with pages of %d keys", pop, size))
			continue
		}
		if err != nil {
			return err
		}
		var resp compositeResponse[B]
		if err := decodeJSON(pop, data, &resp); err != nil {
			return err
		}
		if err := r.check(pop, &resp.envelope); err != nil {
			return err
		}
		bs := resp.Aggregations.K.Buckets
		for i := range bs {
			if err := fn(&bs[i]); err != nil {
				return err
			}
		}
		r.res.Pages++
		r.prog.page(r.res.Pages, r.res.Buckets, r.res.Docs)
		if len(bs) < size || len(resp.Aggregations.K.AfterKey) == 0 || string(resp.Aggregations.K.AfterKey) == "null" {
			return nil
		}
		after = resp.Aggregations.K.AfterKey
	}
}

func (r *run) pushDown(ctx context.Context) error {
	r.labels = map[string][]string{}
	err := scanComposite(ctx, r, "destination labels", r.q.labelsQuery(), labelKeyFields, labelsAggs(), func(b *labelBucket) error {
		var ls []string
		for _, l := range b.Labels.L.Buckets {
			if l.Docs.DocCount >= b.DocCount {
				ls = append(ls, l.Key)
			}
		}
		if ls == nil {
			ls = []string{}
		}
		sort.Strings(ls)
		r.labels[labelKey(keyString(b.Key["dest_type"]), keyString(b.Key["dest_namespace"]), keyString(b.Key["dest_name_aggr"]))] = ls
		return nil
	})
	if err != nil {
		return err
	}
	sub := r.q.evidenceAggs()
	if err := scanComposite(ctx, r, "aggregate flows", r.q.mainQuery(), keyFields, sub, func(b *evidenceBucket) error {
		return r.emitBucket(b, false)
	}); err != nil {
		return err
	}
	if wq := r.q.wdQuery(); wq != nil {
		if err := scanComposite(ctx, r, "aggregate flows the staged allowlist would deny", wq, keyFields, sub, func(b *evidenceBucket) error {
			return r.emitBucket(b, true)
		}); err != nil {
			return err
		}
	}
	return nil
}

func labelKey(typ, ns, name string) string { return typ + "\x00" + ns + "\x00" + name }

// keyString decodes a composite key value: a string, or "" for null.
func keyString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// text normalizes a keyword value the way the flow-log decoder does:
// null and the "-" placeholder are empty.
func text(raw json.RawMessage) string {
	s := keyString(raw)
	if s == "-" {
		return ""
	}
	return s
}

func toInt(m metric) int64 {
	if m.Value == nil || math.IsNaN(*m.Value) || math.IsInf(*m.Value, 0) {
		return 0
	}
	if *m.Value >= math.MaxInt64 {
		return math.MaxInt64 // a sum past int64: never wrap to a negative count
	}
	return int64(math.Round(*m.Value))
}

// dayOf is the UTC day of a Unix time.
func dayOf(unix int64) int64 {
	d := unix / 86400
	if unix < 0 && unix%86400 != 0 {
		d--
	}
	return d
}

// keyProblem records a bucket whose key the flow-log decoder would reject.
func (r *run) keyProblem(docs int64, field, reason, msg string) {
	st := &r.res.Decode
	st.Bad += docs
	if st.ByReason == nil {
		st.ByReason = map[string]int64{}
	}
	st.ByReason[reason] += docs
	if len(st.Examples) < 10 {
		st.Examples = append(st.Examples, flows.Problem{File: "elasticsearch " + r.q.Index, Record: -1, Field: field, Reason: reason,
			Msg: fmt.Sprintf("%s (%d documents)", msg, docs)})
	}
}

// keyFlow fills f from a composite key; it returns false (and records
// the problem) when a value is one the decoder would reject.
func (r *run) keyFlow(key map[string]json.RawMessage, docs int64, f *flows.Flow) bool {
	*f = flows.Flow{}
	bad := func(field, reason, msg string) bool {
		r.keyProblem(docs, field, reason, msg)
		return false
	}
	var ok bool
	for _, ep := range []struct {
		field string
		t     *flows.EndpointType
	}{{"source_type", &f.Source.Type}, {"dest_type", &f.Dest.Type}} {
		if s := text(key[ep.field]); s != "" {
			if *ep.t, ok = flows.ParseEndpointType(s); !ok {
				return bad(ep.field, flows.ReasonUnknownEnum, "unknown endpoint type "+strconv.Quote(s))
			}
		}
	}
	f.Source.Namespace = text(key["source_namespace"])
	f.Dest.Namespace = text(key["dest_namespace"])
	f.Dest.NameAggr = text(key["dest_name_aggr"])
	f.Service.Namespace = text(key["dest_service_namespace"])
	f.Service.Name = text(key["dest_service_name"])
	if s := text(key["proto"]); s != "" {
		if f.Proto, ok = flows.ParseProtocol(s); !ok {
			if s != "0" {
				return bad("proto", flows.ReasonUnknownEnum, "unknown protocol "+strconv.Quote(s))
			}
		}
	}
	if s := text(key["action"]); s != "" {
		if f.Action, ok = flows.ParseAction(s); !ok {
			return bad("action", flows.ReasonUnknownEnum, "unknown action "+strconv.Quote(s))
		}
	}
	if s := text(key["reporter"]); s != "" {
		if f.Reporter, ok = flows.ParseReporter(s); !ok {
			return bad("reporter", flows.ReasonUnknownEnum, "unknown reporter "+strconv.Quote(s))
		}
	}
	if raw := key["dest_port"]; len(raw) > 0 && string(raw) != "null" {
		var p float64
		if err := json.Unmarshal(raw, &p); err != nil || p < 0 || p > 65535 || p != math.Trunc(p) {
			return bad("dest_port", flows.ReasonBadValue, "port "+string(raw)+" out of range 0-65535")
		}
		f.Dest.Port = uint16(p)
	}
	if s := keyString(key["dest_ip"]); s != "" && s != "-" {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return bad("dest_ip", flows.ReasonBadValue, "invalid IP address "+strconv.Quote(s))
		}
		if !ip.IsUnspecified() { // 0.0.0.0 is the mapping's null_value
			f.Dest.IP = ip
		}
	}
	return true
}

func (r *run) emitBucket(eb *evidenceBucket, wouldDeny bool) error {
	r.res.Buckets++
	r.res.Docs += eb.DocCount
	b := &r.bucket
	if !r.keyFlow(eb.Key, eb.DocCount, &b.Flow) {
		return nil
	}
	f := &b.Flow
	b.Docs = eb.DocCount
	b.Flows = toInt(eb.Flows)
	b.Bytes = toInt(eb.BytesIn) + toInt(eb.BytesOut)
	b.First = toInt(eb.First) / 1000
	b.Last = toInt(eb.Last) / 1000
	if b.Last < b.First {
		b.Last = b.First
	}
	b.Days = b.Days[:0]
	for _, d := range eb.StartDays.Buckets {
		b.Days = append(b.Days, dayOf(d.Key/1000))
	}
	for _, d := range eb.EndDays.Buckets {
		b.Days = append(b.Days, dayOf(d.Key/1000-1))
	}
	sort.Slice(b.Days, func(i, j int) bool { return b.Days[i] < b.Days[j] })
	b.Days = dedupe(b.Days)
	b.Workloads = b.Workloads[:0]
	for _, w := range eb.Workloads.Buckets {
		if s := text(w.Key); s != "" {
			b.Workloads = append(b.Workloads, s)
		}
	}
	sort.Strings(b.Workloads)
	b.Overlap = Sums{}
	if eb.Overlap != nil {
		b.Overlap = Sums{Docs: eb.Overlap.DocCount, Flows: toInt(eb.Overlap.Flows), Bytes: toInt(eb.Overlap.BytesIn) + toInt(eb.Overlap.BytesOut)}
		r.res.OverlapDocs += b.Overlap.Docs
	}
	b.WouldDeny = wouldDeny
	if len(b.Workloads) > 0 {
		f.Source.NameAggr = b.Workloads[0]
	}
	if f.Dest.Type == flows.EndpointWorkload || f.Dest.Type == flows.EndpointNetworkSet {
		if ls, ok := r.labels[labelKey(keyString(eb.Key["dest_type"]), keyString(eb.Key["dest_namespace"]), keyString(eb.Key["dest_name_aggr"]))]; ok {
			f.Dest.Labels = ls
		}
	}
	f.Start, f.End = b.First, b.Last
	f.NumFlows, f.Bytes = b.Flows, b.Bytes
	if wouldDeny {
		f.Policies.Pending = r.q.WouldDeny.syntheticTrace(f.Source.Namespace)
	}
	return r.h.Bucket(b)
}

// syntheticTrace is a pending trace that ends in a deny by the allowlist's
// staged policy.
func (w WouldDeny) syntheticTrace(ns string) []flows.PolicyHit {
	h := flows.PolicyHit{Index: 0, Namespace: ns, Action: flows.ActionDeny, RuleIndex: flows.RuleEndOfTier}
	if w.Tier != "" {
		h.Tier, h.Kind, h.Name = w.Tier, flows.KindStagedNetworkPolicy, w.Tier
	} else {
		h.Tier, h.Kind, h.Name = "default", flows.KindStagedKubernetesNetworkPolicy, w.K8sName
	}
	return []flows.PolicyHit{h}
}

func dedupe(s []int64) []int64 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// ---- raw ----

func (r *run) raw(ctx context.Context) error {
	q := r.q
	size := q.PageSize
	if size <= 0 {
		size = 2000
	}
	size = min(size, 10000)
	ka := q.KeepAlive
	if ka <= 0 {
		ka = 5 * time.Minute
	}
	keepAlive := strconv.FormatInt(int64(ka/time.Second), 10) + "s"
	data, err := r.c.do(ctx, "open point in time on "+q.Index, nil, func(io.Reader) esapi.Request {
		return esapi.OpenPointInTimeRequest{Index: []string{q.Index}, KeepAlive: keepAlive}
	})
	if err != nil {
		return err
	}
	var open struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &open); err != nil || open.ID == "" {
		return fmt.Errorf("elasticsearch: open point in time on %s: no id in the response", q.Index)
	}
	pit := open.ID
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		body := mustJSON(obj{"id": pit})
		if _, err := r.c.do(cctx, "close point in time", body, func(rd io.Reader) esapi.Request {
			return esapi.ClosePointInTimeRequest{Body: rd}
		}); err != nil {
			r.warn(err.Error() + " (it expires by itself after " + keepAlive + ")")
		}
	}()
	var overlapFrom int64 = math.MaxInt64
	if !q.OverlapFrom.IsZero() {
		overlapFrom = q.OverlapFrom.Unix()
	}
	emit := func(_ int, f *flows.Flow) error {
		ov := f.End >= overlapFrom
		if ov {
			r.res.OverlapDocs++
		}
		return r.h.Flow(f, ov)
	}
	var after json.RawMessage
	for page := 1; ; page++ {
		op := fmt.Sprintf("scan %s, page %d", q.Index, page)
		data, err := r.c.search(ctx, op, "", q.rawBody(pit, keepAlive, size, after), rawFilterPath)
		if err != nil {
			return err
		}
		var p rawPage
		if err := decodeJSON(op, data, &p); err != nil {
			return err
		}
		if err := r.check(op, &p.envelope); err != nil {
			return err
		}
		if p.PitID != "" {
			pit = p.PitID
		}
		hits := p.Hits.Hits
		st, err := flows.Decode(ctx, bytes.NewReader(data), fmt.Sprintf("elasticsearch %s page %d", q.Index, page),
			flows.Options{Format: flows.FormatESSearch}, emit)
		r.res.Decode.Merge(st)
		if err != nil {
			return err
		}
		r.res.Docs += int64(len(hits))
		r.res.Pages++
		r.prog.page(r.res.Pages, -1, r.res.Docs)
		if len(hits) < size {
			r.res.Decode.Format = flows.FormatESSearch
			return nil
		}
		after = hits[len(hits)-1].Sort
		if len(after) == 0 {
			return fmt.Errorf("elasticsearch: %s: hits carry no sort values, cannot page on", op)
		}
	}
}
