package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	es "github.com/calico-plan/calico-plan/flows/elasticsearch"
)

// ESOptions configure an Elasticsearch observation.
type ESOptions struct {
	// Config says how to connect (ignored when Client is set).
	Config es.Config
	// Client, when set, is used instead of one built from Config.
	Client *es.Client

	// Index is the index pattern (default tigera_secure_ee_flows.<Cluster>.*);
	// Cluster the cluster name (default "cluster").
	Index, Cluster string

	// The window: the first observation of a source reads From..To, or
	// the last Since before To; To defaults to Now. Later observations
	// resume where the previous one stopped (minus its overlap).
	Since    time.Duration
	From, To time.Time
	// Overlap is re-read on the next observation to catch documents that
	// were indexed late (0: none).
	Overlap time.Duration

	Raw          bool
	AllowPartial bool
	PageSize     int
	KeepAlive    time.Duration
	// Progress receives progress lines (a terminal only).
	Progress io.Writer
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// ESResult reports an Elasticsearch observation.
type ESResult struct {
	// SourceID identifies the source in the store: the URL without user
	// information, the index pattern and the cluster.
	SourceID string `json:"sourceId"`
	// From and To are the window read (on end_time).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Resumed is set when the window continues an earlier observation.
	Resumed bool `json:"resumed"`
	// UpToDate is set when there was nothing new to read.
	UpToDate bool     `json:"upToDate,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Search reports the queries (nil when nothing was read).
	Search *es.Result `json:"search,omitempty"`
	// Stats is what the aggregator did with the documents.
	Stats allowlist.Stats `json:"aggregation"`
	// Unmatched counts provisional sums of the previous run whose allowlist
	// entry was removed from the store by hand.
	Unmatched int `json:"unmatched,omitempty"`
}

// ESSourceID is the store's name for an Elasticsearch source.
func ESSourceID(endpoint, index, cluster string) string {
	return endpoint + " index=" + index + " cluster=" + cluster
}

// Elasticsearch observes flow logs from Elasticsearch into the store (the
// caller saves it). Nothing is merged unless the whole window was read:
// an error leaves the store untouched. With AllowPartial, shard failures
// and time-outs are accepted, marked in the source record and recorded as
// store warnings.
func Elasticsearch(ctx context.Context, st *allowlist.Store, opt ESOptions) (*ESResult, error) {
	client, index, cluster, err := esTarget(opt)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	res := &ESResult{SourceID: ESSourceID(client.Endpoint(), index, cluster)}

	to := opt.To
	if to.IsZero() {
		to = now()
	}
	to = to.UTC().Truncate(time.Second)
	prev := st.FindSource(allowlist.SourceElasticsearch, res.SourceID)
	from, subtract, err := esWindow(st, prev, opt, to, res)
	if err != nil {
		return nil, err
	}
	res.From, res.To = from, to
	if !to.After(from) {
		res.UpToDate = true
		res.Notes = append(res.Notes, fmt.Sprintf("already read up to %s: nothing new", from.Format(time.RFC3339)))
		return res, nil
	}
	if err := esCheckOtherEndpoints(st, res.SourceID, index, cluster, from, to); err != nil {
		return nil, err
	}

	prof := st.Profile()
	var overlapFrom time.Time
	if opt.Overlap > 0 {
		overlapFrom = to.Add(-opt.Overlap)
		if overlapFrom.Before(from) {
			overlapFrom = from
		}
	}
	q := es.Query{
		Index: index, Cluster: cluster,
		From: from, To: to, OverlapFrom: overlapFrom,
		Raw: opt.Raw, PageSize: opt.PageSize, KeepAlive: opt.KeepAlive, AllowPartial: opt.AllowPartial,
		WouldDeny:       es.WouldDeny{Tier: prof.Policy.Tier, K8sName: prof.Policy.K8sName},
		WorkloadSamples: prof.Aggregation.WorkloadSamples,
		Progress:        opt.Progress,
	}
	sink := &esSink{agg: allowlist.NewAggregator(allowlist.NewClassifier(prof))}
	if !overlapFrom.IsZero() {
		sink.ov = allowlist.NewAggregator(allowlist.NewClassifier(prof))
	}
	sr, err := client.Observe(ctx, q, sink)
	res.Search = sr
	if err != nil {
		return res, err
	}
	sink.countOtherReporters(sr)
	esApply(st, prev, subtract, sink, q, res)
	return res, nil
}

// esTarget is the client, index and cluster the options name (defaults
// filled in).
func esTarget(opt ESOptions) (client *es.Client, index, cluster string, err error) {
	client = opt.Client
	if client == nil {
		if client, err = es.NewClient(opt.Config); err != nil {
			return nil, "", "", err
		}
	}
	cluster = opt.Cluster
	if cluster == "" {
		cluster = es.DefaultCluster
	}
	index = opt.Index
	if index == "" {
		index = es.DefaultIndex(cluster)
	}
	return client, index, cluster, nil
}

// countOtherReporters counts documents that were counted, not read: dst
// copies and unknown reporters, as the file decoder would have skipped them.
func (s *esSink) countOtherReporters(sr *es.Result) {
	for rep, c := range sr.OtherReporters {
		reason := allowlist.SkipDstReported
		if rep != "dst" {
			reason = allowlist.SkipReporterUnknown
		}
		esAddSkipped(&s.agg.Stats, reason, c.Docs)
		if s.ov != nil {
			esAddSkipped(&s.ov.Stats, reason, c.Overlap)
		}
	}
}

// esApply merges a whole window into the store and records the source
// (watermark, provisional overlap sums, partial reads as warnings).
func esApply(st *allowlist.Store, prev *allowlist.SourceRecord, subtract bool, sink *esSink, q es.Query, res *ESResult) {
	sr := res.Search
	var prevRecords int64
	var rec allowlist.SourceRecord
	if prev != nil {
		rec = *prev
		prevRecords = prev.Records
		if subtract {
			res.Unmatched = st.SubtractProvisional(prev.Provisional)
			if prev.Provisional != nil {
				prevRecords -= prev.Provisional.Ingest.Records
			}
			if res.Unmatched > 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("%d allowlist entries counted in the previous run's overlap were removed from the store since; their flows and bytes stay counted", res.Unmatched))
			}
		}
	}
	st.Apply(sink.agg)
	esAddBad(st, sr.Decode)

	a := sink.agg.Stats
	rec.Kind, rec.ID = allowlist.SourceElasticsearch, res.SourceID
	rec.Path = ""
	rec.Records = max(prevRecords, 0) + a.Records
	if a.From != 0 && (rec.From == 0 || a.From < rec.From) {
		rec.From = a.From
	}
	if a.To > rec.To {
		rec.To = a.To
	}
	rec.Watermark = allowlist.Time(q.To.Unix())
	rec.Provisional = nil
	if sink.ov != nil {
		rec.Provisional = allowlist.NewProvisional(sink.ov, allowlist.Time(q.OverlapFrom.Unix()))
	}
	if sr.Partial {
		rec.Partial = true
		for _, w := range sr.Warnings {
			if strings.HasPrefix(w, es.PartialWarningPrefix) {
				st.AddWarning(fmt.Sprintf("elasticsearch %s, window %s..%s: %s", res.SourceID, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), w))
			}
		}
	}
	st.PutSource(rec)
	res.Stats = a
}

// esWindow decides where to start reading, and whether the previous run's
// provisional sums are to be subtracted (the new window starts exactly
// where they were counted from).
func esWindow(st *allowlist.Store, prev *allowlist.SourceRecord, opt ESOptions, to time.Time, res *ESResult) (from time.Time, subtract bool, err error) {
	var resume time.Time
	if prev != nil && prev.Watermark != 0 {
		resume = prev.Watermark.T()
		if prev.Provisional != nil && prev.Provisional.From != 0 {
			resume = prev.Provisional.From.T()
		}
	}
	switch {
	case !resume.IsZero():
		res.Resumed = true
		from = resume
		subtract = prev.Provisional != nil
		if !opt.From.IsZero() && opt.From.After(prev.Watermark.T()) {
			// A deliberate jump forward: the skipped time is a gap, and the
			// overlap is not re-read, so its sums are final.
			from = opt.From.UTC().Truncate(time.Second)
			subtract = false
			st.AddGap(allowlist.Gap{From: prev.Watermark, To: allowlist.Time(from.Unix()), Source: res.SourceID, Reason: "not read: --start-time skipped past the previous observation"})
			res.Notes = append(res.Notes, fmt.Sprintf("skipping %s..%s (recorded as a gap)", prev.Watermark, from.Format(time.RFC3339)))
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("resuming at %s (read up to %s before, re-reading the overlap for late documents)",
				from.Format(time.RFC3339), prev.Watermark))
		}
	case !opt.From.IsZero():
		from = opt.From.UTC().Truncate(time.Second)
	case opt.Since > 0:
		from = to.Add(-opt.Since)
	default:
		return time.Time{}, false, errors.New("elasticsearch: no window: give --since (e.g. 7d) or --start-time")
	}
	return from, subtract, nil
}

// esCheckOtherEndpoints refuses to read a window that another endpoint of
// the same index already covered: the sums would count twice.
func esCheckOtherEndpoints(st *allowlist.Store, id, index, cluster string, from, to time.Time) error {
	suffix := " index=" + index + " cluster=" + cluster
	for _, r := range st.Meta.Sources {
		if r.Kind != allowlist.SourceElasticsearch || r.ID == id || !strings.HasSuffix(r.ID, suffix) || r.Watermark == 0 {
			continue
		}
		if from.Before(r.Watermark.T()) && (r.From == 0 || to.After(r.From.T())) {
			other := strings.TrimSuffix(r.ID, suffix)
			return fmt.Errorf("elasticsearch: the store already holds %s from %s up to %s; reading it again through another URL would count it twice. "+
				"Use the same --es URL as before (%s) so the observation resumes where it stopped, or start after it with --start-time %s "+
				"(a store describes one cluster: observe another cluster into another store)",
				index, other, r.Watermark, other, r.Watermark)
		}
	}
	return nil
}

func esAddSkipped(s *allowlist.Stats, reason string, n int64) {
	if n == 0 {
		return
	}
	s.Records += n
	if s.Skipped == nil {
		s.Skipped = map[string]int64{}
	}
	s.Skipped[reason] += n
}

func esAddBad(st *allowlist.Store, d flows.Stats) {
	if d.Bad == 0 {
		return
	}
	st.Meta.Ingest.Bad += d.Bad
	for k, v := range d.ByReason {
		if st.Meta.Ingest.BadByReason == nil {
			st.Meta.Ingest.BadByReason = map[string]int64{}
		}
		st.Meta.Ingest.BadByReason[k] += v
	}
}

// esSink feeds what the source reads into the aggregators: the whole
// window, and the overlap part alone (its sums become the provisional
// sums).
type esSink struct {
	agg, ov *allowlist.Aggregator
}

// Bucket folds a push-down bucket in as one AddEvidence call (plus one
// zero-sum call per further sampled workload). The aggregator's counters
// count calls; they are scaled to documents, so that push-down, raw and
// file observations of the same documents report the same totals.
func (s *esSink) Bucket(b *es.Bucket) error {
	ev := allowlist.Evidence{Flows: b.Flows, Bytes: b.Bytes, FirstSeen: allowlist.Time(b.First), LastSeen: allowlist.Time(b.Last)}
	for _, d := range b.Days {
		ev.Days.Add(allowlist.Day(d))
	}
	esAddScaled(s.agg, &b.Flow, ev, b.Docs)
	if len(b.Workloads) > 1 {
		saved := esCloneStats(s.agg.Stats)
		zero := ev
		zero.Flows, zero.Bytes = 0, 0
		for _, w := range b.Workloads[1:] {
			b.Flow.Source.NameAggr = w
			s.agg.AddEvidence(&b.Flow, zero)
		}
		b.Flow.Source.NameAggr = b.Workloads[0]
		s.agg.Stats = saved
	}
	if s.ov != nil && b.Overlap.Docs > 0 {
		evo := ev
		evo.Flows, evo.Bytes = b.Overlap.Flows, b.Overlap.Bytes
		esAddScaled(s.ov, &b.Flow, evo, b.Overlap.Docs)
	}
	return nil
}

// Flow folds one raw-mode document in.
func (s *esSink) Flow(f *flows.Flow, overlap bool) error {
	s.agg.Add(f)
	if overlap && s.ov != nil {
		s.ov.Add(f)
	}
	return nil
}

// esAddScaled calls AddEvidence once for docs documents and scales the
// aggregator's counters (records, used, skipped, labels dropped) by docs.
func esAddScaled(a *allowlist.Aggregator, f *flows.Flow, ev allowlist.Evidence, docs int64) {
	before := esCloneStats(a.Stats)
	a.AddEvidence(f, ev)
	if docs <= 1 {
		return
	}
	m := docs - 1
	st := &a.Stats
	st.Records += m
	st.Used += m * (st.Used - before.Used)
	st.LabelsDropped += m * (st.LabelsDropped - before.LabelsDropped)
	for k, v := range st.Skipped {
		if d := v - before.Skipped[k]; d > 0 {
			st.Skipped[k] += m * d
		}
	}
}

func esCloneStats(s allowlist.Stats) allowlist.Stats {
	c := s
	if s.Skipped != nil {
		c.Skipped = make(map[string]int64, len(s.Skipped))
		for k, v := range s.Skipped {
			c.Skipped[k] = v
		}
	}
	return c
}
