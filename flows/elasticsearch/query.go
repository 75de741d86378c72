package elasticsearch

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/flows"
)

// Flow-log index patterns (flow-logs.md §2.1).
const (
	// DefaultCluster is the cluster name of a standalone or management
	// cluster.
	DefaultCluster = "cluster"
	// SingleIndexPattern is the single-index layout (Calico Cloud, newer
	// Linseed): every cluster in one index family, told apart by the
	// cluster field.
	SingleIndexPattern = "calico_flowlogs.*"
)

// DefaultIndex returns the multi-index read pattern of a cluster:
// tigera_secure_ee_flows.<cluster>.*.
func DefaultIndex(cluster string) string {
	if cluster == "" {
		cluster = DefaultCluster
	}
	return "tigera_secure_ee_flows." + cluster + ".*"
}

// IsSingleIndex reports whether an index pattern is the single-index
// layout, which needs a term filter on the cluster field.
func IsSingleIndex(index string) bool { return strings.HasPrefix(index, "calico_flowlogs") }

// Query says what to read.
type Query struct {
	// Index is the index pattern (default DefaultIndex(Cluster)).
	Index string
	// Cluster is the cluster name: part of the default index pattern, and
	// the value of the cluster term filter when FilterCluster is set.
	Cluster string
	// FilterCluster adds a term filter on the cluster field (the
	// single-index layout; set automatically for calico_flowlogs.*).
	FilterCluster bool

	// From and To bound the window on end_time: From <= end_time < To.
	From, To time.Time
	// OverlapFrom, when set, asks for the sums of the documents with
	// end_time >= OverlapFrom separately (Bucket.Overlap, Flow's overlap
	// flag): the part of the window the next incremental run reads again.
	OverlapFrom time.Time

	// Raw scans every document (point in time + search_after) instead of
	// pushing the aggregation down.
	Raw bool
	// PageSize is the composite page size (push-down, default 1000, lowered
	// automatically for long windows) or the documents per page (raw,
	// default 2000, at most 10000).
	PageSize int
	// KeepAlive is the point-in-time keep-alive between raw pages
	// (default 5m).
	KeepAlive time.Duration
	// AllowPartial downgrades timed-out searches and shard failures to
	// warnings (Result.Partial).
	AllowPartial bool

	// WouldDeny says which pending (staged) denies count as "would deny":
	// push-down mode marks those buckets with a synthetic pending trace.
	WouldDeny WouldDeny
	// WorkloadSamples is how many source workloads (source_name_aggr) each
	// bucket reports, smallest first (default 5).
	WorkloadSamples int

	// Progress, when set, receives progress lines (pages, keys, documents
	// covered, elapsed); give it only a terminal.
	Progress io.Writer

	// noReporter: the mapping has no reporter keyword to filter on.
	noReporter bool
}

// WouldDeny identifies the allowlist's staged policies: a staged Calico
// policy in Tier, or the staged Kubernetes policy named K8sName.
type WouldDeny struct {
	Tier    string
	K8sName string
}

// Field names of the flow-log mapping (flow-logs.md §2.2).
const (
	fieldStart       = "start_time"
	fieldEnd         = "end_time"
	fieldReporter    = "reporter"
	fieldAction      = "action"
	fieldCluster     = "cluster"
	fieldNumFlows    = "num_flows"
	fieldBytesIn     = "bytes_in"
	fieldBytesOut    = "bytes_out"
	fieldSrcNameAggr = "source_name_aggr"
	fieldDestLabels  = "dest_labels"
	fieldPolicies    = "policies"
	fieldPending     = "policies.pending_policies"
	fieldAllPolicies = "policies.all_policies"
	fieldLabels      = "dest_labels.labels"
)

// keyFields are the composite sources of the push-down aggregation: the
// fields the allowlist key is made of, in this order.
var keyFields = []string{
	"source_namespace", "source_type", "dest_type", "dest_namespace", "dest_name_aggr",
	"dest_service_namespace", "dest_service_name", "proto", "dest_port", "dest_ip", "action", "reporter",
}

// labelKeyFields group documents by destination for the label query.
var labelKeyFields = []string{"dest_type", "dest_namespace", "dest_name_aggr"}

// rawSourceFields are the _source fields raw mode fetches: what the
// decoder needs for the allowlist (identity, key, counters, policies) and
// every counter it checks for an impossible value.
var rawSourceFields = []string{
	"start_time", "end_time",
	"source_type", "source_name", "source_name_aggr", "source_namespace",
	"dest_type", "dest_name", "dest_name_aggr", "dest_namespace", "dest_ip", "dest_port", "dest_labels",
	"dest_service_namespace", "dest_service_name", "dest_service_port", "dest_service_port_num",
	"proto", "action", "reporter", "policies", "num_flows", "bytes_in", "bytes_out",
	"num_flows_started", "num_flows_completed", "packets_in", "packets_out",
}

type obj = map[string]any

func term(field string, v any) obj  { return obj{"term": obj{field: v}} }
func terms(field string, v any) obj { return obj{"terms": obj{field: v}} }

func endRange(gte, lt time.Time) obj {
	r := obj{"format": "epoch_second"}
	if !gte.IsZero() {
		r["gte"] = gte.Unix()
	}
	if !lt.IsZero() {
		r["lt"] = lt.Unix()
	}
	return obj{"range": obj{fieldEnd: r}}
}

// windowFilters are the filters every query shares: the time window and,
// in the single-index layout, the cluster.
func (q *Query) windowFilters() []any {
	f := []any{endRange(q.From, q.To)}
	if q.FilterCluster {
		f = append(f, term(fieldCluster, q.Cluster))
	}
	return f
}

// srcFilters are windowFilters restricted to source-reported flows
// (unless the mapping has no reporter keyword).
func (q *Query) srcFilters() []any {
	if q.noReporter {
		return q.windowFilters()
	}
	return append(q.windowFilters(), term(fieldReporter, "src"))
}

// impossibleCheck matches documents with an impossible value in field.
type impossibleCheck struct {
	field string
	query obj
	msg   string
}

// impossibleChecks are the per-document form of flows.CheckValues for the
// push-down aggregation, which folds documents together before anything
// can judge them: each query matches the documents with an impossible
// value in one field. They are left out of the aggregation (validFilter)
// and counted as bad documents (countImpossible).
//
// An aggregation cannot compare two fields of one document, so "end before
// start" and "longer than 2 days" are bounded instead: with end_time in
// the window [From, To), a start_time outside [From - 2 days, To) is
// impossible for a record that covers at most 2 days and does not end
// before it starts. Such a document that still starts inside those bounds
// adds no day outside them (the push-down counts the days of a document's
// start and end only). A destination port 0 cannot be told from one the
// flow log did not record (the mapping indexes null as 0): raw mode
// (--es-raw) reads the documents and tells them apart.
func (q *Query) impossibleChecks() []impossibleCheck {
	startFrom := max(flows.MinTime, q.From.Unix()-flows.MaxSpan)
	startTo := min(flows.MaxTime, q.To.Unix())
	not := func(o obj) obj { return obj{"bool": obj{"must_not": []any{o}}} }
	secs := func(field string, gte, lt int64) obj {
		return obj{"range": obj{field: obj{"format": "epoch_second", "gte": gte, "lt": lt}}}
	}
	checks := []impossibleCheck{
		{fieldStart, not(secs(fieldStart, startFrom, startTo)),
			"start_time missing, before 2015, or not within 2 days before end_time (a record covers at most 2 days and does not end before it starts)"},
		{fieldEnd, not(secs(fieldEnd, flows.MinTime, flows.MaxTime)), "end_time before 2015 or after 2100"},
	}
	for _, f := range []string{fieldNumFlows, "num_flows_started", "num_flows_completed", fieldBytesIn, fieldBytesOut, "packets_in", "packets_out"} {
		checks = append(checks, impossibleCheck{f, obj{"range": obj{f: obj{"lt": 0}}}, f + " negative"})
	}
	return checks
}

// validFilter matches the documents without an impossible value.
func (q *Query) validFilter() obj {
	checks := q.impossibleChecks()
	not := make([]any, len(checks))
	for i, c := range checks {
		not[i] = c.query
	}
	return obj{"bool": obj{"must_not": not}}
}

// aggFilters are srcFilters without documents with impossible values: the
// documents the push-down aggregation folds.
func (q *Query) aggFilters() []any {
	return append(q.srcFilters(), q.validFilter())
}

// impossibleBody counts the source-reported documents of the window with
// impossible values, per check.
func (q *Query) impossibleBody() []byte {
	sub := obj{}
	for _, c := range q.impossibleChecks() {
		sub[c.field] = obj{"filter": c.query}
	}
	invalid := obj{"bool": obj{"must_not": []any{q.validFilter()}}}
	return mustJSON(obj{
		"size": 0, "track_total_hits": false,
		"query": obj{"bool": obj{"filter": q.srcFilters()}},
		"aggs":  obj{"impossible": obj{"filter": invalid, "aggs": sub}},
	})
}

// patterns returns the wildcard patterns that match a trace entry denying
// by the allowlist's staged policy, in the three trace generations
// (flow-logs.md §3.2): legacy names carry "staged:" (after the tier, or
// before it as in the Docs' example), generation 3 names a staged kind.
func (w WouldDeny) patterns() []string {
	var p []string
	if w.Tier != "" {
		t := w.Tier
		p = append(p,
			"*|"+t+"|*staged:*|deny|*", // gen 2: ns/tier.staged:name, tier.staged:name
			"*|"+t+"|*staged:*|deny",   // gen 1: no rule index
			"*|"+t+"|snp:*|deny|*",     // gen 3: StagedNetworkPolicy
			"*|"+t+"|sgnp:*|deny|*",    // gen 3: StagedGlobalNetworkPolicy
		)
	}
	if w.K8sName != "" {
		n := w.K8sName
		p = append(p,
			"*|*|*staged:knp.default."+n+"|deny|*", // gen 2: ns/staged:knp.default.name
			"*|*|*staged:knp.default."+n+"|deny",   // gen 1
			"*|*|sknp:*/"+n+"|deny|*",              // gen 3
		)
	}
	return p
}

// query matches documents whose pending trace (or, when there is none,
// the deprecated all_policies) denies by the allowlist's staged policy;
// nil when no tier or name is configured.
func (w WouldDeny) query() obj {
	pats := w.patterns()
	if len(pats) == 0 {
		return nil
	}
	wild := func(field string) obj {
		should := make([]any, len(pats))
		for i, p := range pats {
			should[i] = obj{"wildcard": obj{field: obj{"value": p}}}
		}
		return obj{"bool": obj{"should": should, "minimum_should_match": 1}}
	}
	fallback := obj{"bool": obj{
		"must_not":             []any{obj{"exists": obj{"field": fieldPending}}},
		"should":               []any{wild(fieldAllPolicies)},
		"minimum_should_match": 1,
	}}
	return obj{"nested": obj{
		"path":  fieldPolicies,
		"query": obj{"bool": obj{"should": []any{wild(fieldPending), fallback}, "minimum_should_match": 1}},
	}}
}

// wouldDenyDocs matches allowed documents the staged allowlist would deny.
func (w WouldDeny) wouldDenyDocs() obj {
	wq := w.query()
	if wq == nil {
		return nil
	}
	return obj{"bool": obj{"filter": []any{term(fieldAction, "allow"), wq}}}
}

// mainQuery is the push-down query for ordinary buckets; wdQuery the one
// for would-deny buckets (nil when would-deny is not configured).
func (q *Query) mainQuery() obj {
	b := obj{"filter": q.aggFilters()}
	if wd := q.WouldDeny.wouldDenyDocs(); wd != nil {
		b["must_not"] = []any{wd}
	}
	return obj{"bool": b}
}

func (q *Query) wdQuery() obj {
	wd := q.WouldDeny.wouldDenyDocs()
	if wd == nil {
		return nil
	}
	return obj{"bool": obj{"filter": append(q.aggFilters(), wd)}}
}

func sumAgg(field string) obj { return obj{"sum": obj{"field": field}} }

// evidenceAggs are the per-bucket sub-aggregations: times, sums, UTC days
// and the workload sample.
func (q *Query) evidenceAggs() obj {
	aggs := obj{
		"first":     obj{"min": obj{"field": fieldStart}},
		"last":      obj{"max": obj{"field": fieldEnd}},
		"flows":     sumAgg(fieldNumFlows),
		"bytes_in":  sumAgg(fieldBytesIn),
		"bytes_out": sumAgg(fieldBytesOut),
		// The UTC days a document's window touches are the day of its start
		// and the day of its end minus one second (a window ending at
		// midnight does not touch the next day). The offset shifts the end
		// histogram's buckets to start at 00:00:01, so a bucket's key minus
		// one second is the day.
		"start_days": obj{"date_histogram": obj{"field": fieldStart, "calendar_interval": "day", "min_doc_count": 1}},
		"end_days":   obj{"date_histogram": obj{"field": fieldEnd, "calendar_interval": "day", "offset": "+1s", "min_doc_count": 1}},
		"workloads":  obj{"terms": obj{"field": fieldSrcNameAggr, "size": q.samples(), "order": obj{"_key": "asc"}}},
	}
	if !q.OverlapFrom.IsZero() {
		aggs["overlap"] = obj{
			"filter": endRange(q.OverlapFrom, time.Time{}),
			"aggs":   obj{"flows": sumAgg(fieldNumFlows), "bytes_in": sumAgg(fieldBytesIn), "bytes_out": sumAgg(fieldBytesOut)},
		}
	}
	return aggs
}

func (q *Query) samples() int {
	if q.WorkloadSamples > 0 {
		return q.WorkloadSamples
	}
	return 5
}

// compositeBody is a size-0 search with one composite aggregation "k".
func compositeBody(query obj, fields []string, size int, after json.RawMessage, sub obj) []byte {
	sources := make([]any, len(fields))
	for i, f := range fields {
		sources[i] = obj{f: obj{"terms": obj{"field": f, "missing_bucket": true}}}
	}
	comp := obj{"size": size, "sources": sources}
	if len(after) > 0 {
		comp["after"] = after
	}
	k := obj{"composite": comp}
	if len(sub) > 0 {
		k["aggs"] = sub
	}
	return mustJSON(obj{"size": 0, "track_total_hits": false, "query": query, "aggs": obj{"k": k}})
}

// labelsAggs collect, per destination, each label with the number of
// documents carrying it.
func labelsAggs() obj {
	return obj{"labels": obj{
		"nested": obj{"path": fieldDestLabels},
		"aggs": obj{"l": obj{
			"terms": obj{"field": fieldLabels, "size": 500},
			"aggs":  obj{"docs": obj{"reverse_nested": obj{}}},
		}},
	}}
}

// labelsQuery selects the documents whose destination labels matter:
// pods and network sets.
func (q *Query) labelsQuery() obj {
	return obj{"bool": obj{"filter": append(q.aggFilters(), terms("dest_type", []string{"wep", "ns"}))}}
}

// reportersBody counts the window's documents per reporter (the dst copies
// and unknown reporters are counted, not read), with the overlap part.
func (q *Query) reportersBody() []byte {
	t := obj{"terms": obj{"field": fieldReporter, "missing": "-", "size": 10}}
	if !q.OverlapFrom.IsZero() {
		t["aggs"] = obj{"overlap": obj{"filter": endRange(q.OverlapFrom, time.Time{})}}
	}
	return mustJSON(obj{
		"size": 0, "track_total_hits": false,
		"query": obj{"bool": obj{"filter": q.windowFilters()}},
		"aggs":  obj{"reporters": t},
	})
}

// rawBody is one page of the raw scan.
func (q *Query) rawBody(pit string, keepAlive string, size int, after json.RawMessage) []byte {
	b := obj{
		"size":             size,
		"track_total_hits": false,
		"query":            obj{"bool": obj{"filter": q.srcFilters()}},
		"pit":              obj{"id": pit, "keep_alive": keepAlive},
		"sort":             []any{obj{"_shard_doc": "asc"}},
		"_source":          rawSourceFields,
	}
	if len(after) > 0 {
		b["search_after"] = after
	}
	return mustJSON(b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, slices, strings and numbers
	}
	return b
}

// ---- responses ----

type shardFailure struct {
	Index  string     `json:"index"`
	Shard  int        `json:"shard"`
	Reason errorCause `json:"reason"`
}

type shardsInfo struct {
	Total      int            `json:"total"`
	Successful int            `json:"successful"`
	Skipped    int            `json:"skipped"`
	Failed     int            `json:"failed"`
	Failures   []shardFailure `json:"failures"`
}

// envelope is the part of a _search response every mode checks.
type envelope struct {
	Took     int64      `json:"took"`
	TimedOut bool       `json:"timed_out"`
	Shards   shardsInfo `json:"_shards"`
	PitID    string     `json:"pit_id"`
	Hits     struct {
		Total *struct {
			Value int64 `json:"value"`
		} `json:"total"`
	} `json:"hits"`
}

type metric struct {
	Value *float64 `json:"value"`
}

type histogram struct {
	Buckets []struct {
		Key      int64 `json:"key"`
		DocCount int64 `json:"doc_count"`
	} `json:"buckets"`
}

type termsResult struct {
	Buckets []struct {
		Key      json.RawMessage `json:"key"`
		DocCount int64           `json:"doc_count"`
	} `json:"buckets"`
}

type evidenceBucket struct {
	Key       map[string]json.RawMessage `json:"key"`
	DocCount  int64                      `json:"doc_count"`
	First     metric                     `json:"first"`
	Last      metric                     `json:"last"`
	Flows     metric                     `json:"flows"`
	BytesIn   metric                     `json:"bytes_in"`
	BytesOut  metric                     `json:"bytes_out"`
	StartDays histogram                  `json:"start_days"`
	EndDays   histogram                  `json:"end_days"`
	Workloads termsResult                `json:"workloads"`
	Overlap   *struct {
		DocCount int64  `json:"doc_count"`
		Flows    metric `json:"flows"`
		BytesIn  metric `json:"bytes_in"`
		BytesOut metric `json:"bytes_out"`
	} `json:"overlap"`
}

type labelBucket struct {
	Key      map[string]json.RawMessage `json:"key"`
	DocCount int64                      `json:"doc_count"`
	Labels   struct {
		L struct {
			Buckets []struct {
				Key  string `json:"key"`
				Docs struct {
					DocCount int64 `json:"doc_count"`
				} `json:"docs"`
			} `json:"buckets"`
		} `json:"l"`
	} `json:"labels"`
}

type compositeResponse[B any] struct {
	envelope
	Aggregations struct {
		K struct {
			AfterKey json.RawMessage `json:"after_key"`
			Buckets  []B             `json:"buckets"`
		} `json:"k"`
	} `json:"aggregations"`
}

type impossibleResponse struct {
	envelope
	Aggregations struct {
		Impossible map[string]json.RawMessage `json:"impossible"`
	} `json:"aggregations"`
}

type reportersResponse struct {
	envelope
	Aggregations struct {
		Reporters struct {
			Buckets []struct {
				Key      string `json:"key"`
				DocCount int64  `json:"doc_count"`
				Overlap  *struct {
					DocCount int64 `json:"doc_count"`
				} `json:"overlap"`
			} `json:"buckets"`
		} `json:"reporters"`
	} `json:"aggregations"`
}

type rawPage struct {
	envelope
	Hits struct {
		Hits []struct {
			Sort json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}
