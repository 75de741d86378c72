package allowlist

import (
	"net/netip"
	"sort"

	"github.com/calico-plan/calico-plan/flows"
)

// acc accumulates the evidence of one key.
type acc struct {
	ev Evidence
	// nets holds the destination addresses (as /32 or /128 prefixes, or
	// prefixes loaded from the store) with the time each was first seen.
	nets      map[netip.Prefix]Time
	workloads []string // sorted, at most the sample size
	services  []string // sorted, at most the sample size
	domains   []string // sorted, at most MaxDomains (Calico Enterprise dest_domains)
	// folded says how nets were folded (nil: exact addresses; fold.go).
	folded *NetsFolded
	// cutoff is, once truncated, the last prefix kept: a later one can
	// never be among the first maxAddresses (invalid: none).
	cutoff netip.Prefix
}

// addSample inserts v into a sorted sample bounded to max entries, keeping
// the smallest values, so that merging samples is associative and
// commutative.
func addSample(s []string, v string, max int) []string {
	i := sort.SearchStrings(s, v)
	if i < len(s) && s[i] == v {
		return s
	}
	if len(s) >= max {
		if i >= max {
			return s
		}
		s = s[:max-1]
	}
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// merge folds o into a; r (nil when no profile is at hand) folds the
// addresses when there are too many.
func (a *acc) merge(o *acc, samples int, r *netRules) {
	a.ev.Merge(o.ev)
	a.mergeNets(o, r)
	for _, w := range o.workloads {
		a.workloads = addSample(a.workloads, w, samples)
	}
	for _, s := range o.services {
		a.services = addSample(a.services, s, samples)
	}
	for _, d := range o.domains {
		a.domains = addSample(a.domains, d, MaxDomains)
	}
}

// nsMeta is what the aggregator knows of a source namespace as a whole.
type nsMeta struct {
	first, last Time
	records     int64
}

func (m *nsMeta) see(start, end Time) {
	if m.first == 0 || start < m.first {
		m.first = start
	}
	if end > m.last {
		m.last = end
	}
}

// Stats counts what the aggregator did with the flows it was given.
type Stats struct {
	// Records is every flow offered; Used those that contributed.
	Records int64 `yaml:"records" json:"records"`
	Used    int64 `yaml:"used" json:"used"`
	// Skipped counts flows left out, by reason (dst-reported copies,
	// sources that are not pods, invalid names, ...).
	Skipped map[string]int64 `yaml:"skipped,omitempty" json:"skipped,omitempty"`
	// LabelsDropped counts labels left out of selectors because their key
	// or value is not a valid Kubernetes label.
	LabelsDropped int64 `yaml:"labelsDropped,omitempty" json:"labelsDropped,omitempty"`
	// From and To bound the flows used.
	From Time `yaml:"from,omitempty" json:"from,omitempty"`
	To   Time `yaml:"to,omitempty" json:"to,omitempty"`
}

// Unattributed counts flows that could not be tied to a source namespace.
func (s *Stats) Unattributed() int64 {
	return s.Skipped[SkipSourceNotPod] + s.Skipped[SkipNoSourceNS] + s.Skipped[SkipInvalidSourceNS]
}

func (s *Stats) merge(o *Stats) {
	s.Records += o.Records
	s.Used += o.Used
	s.LabelsDropped += o.LabelsDropped
	for k, v := range o.Skipped {
		if s.Skipped == nil {
			s.Skipped = map[string]int64{}
		}
		s.Skipped[k] += v
	}
	if s.From == 0 || (o.From != 0 && o.From < s.From) {
		s.From = o.From
	}
	if o.To > s.To {
		s.To = o.To
	}
}

// Aggregator folds flows into per-namespace allowlist accumulators. It is
// pure (flows in, accumulators out) and merging two aggregators is
// associative and commutative, so parallel decoding gives the same result as
// serial decoding. An Aggregator is not safe for concurrent use: give each
// worker its own and Merge them.
type Aggregator struct {
	c       *Classifier
	rules   *netRules
	accs    map[key]*acc
	ns      map[string]*nsMeta
	samples int
	Stats   Stats
}

// NewAggregator returns an empty aggregator using a classifier.
func NewAggregator(c *Classifier) *Aggregator {
	s := c.prof.Aggregation.WorkloadSamples
	return &Aggregator{c: c, rules: newNetRules(c.prof), accs: map[key]*acc{}, ns: map[string]*nsMeta{}, samples: s}
}

// Classifier returns the aggregator's classifier.
func (a *Aggregator) Classifier() *Classifier { return a.c }

// Len returns the number of distinct accumulators (allowlist keys).
func (a *Aggregator) Len() int { return len(a.accs) }

// Add folds one flow in. The flow is not retained.
func (a *Aggregator) Add(f *flows.Flow) {
	a.AddEvidence(f, Evidence{})
}

// AddEvidence folds in a flow whose evidence was computed elsewhere (for
// example an Elasticsearch aggregation bucket): f supplies the key fields;
// ev, when it has FirstSeen set, replaces the evidence derived from f
// (counters, times and the days its window spans).
func (a *Aggregator) AddEvidence(f *flows.Flow, ev Evidence) {
	a.Stats.Records++
	var keys [2]key
	n, skip, dropped := a.c.classify(f, &keys)
	if n == 0 {
		if a.Stats.Skipped == nil {
			a.Stats.Skipped = map[string]int64{}
		}
		a.Stats.Skipped[skip]++
		return
	}
	a.Stats.Used++
	a.Stats.LabelsDropped += int64(dropped)
	if ev.FirstSeen == 0 {
		ev = Evidence{Flows: f.NumFlows, Bytes: f.Bytes, FirstSeen: Time(f.Start), LastSeen: Time(f.End)}
		if ev.LastSeen < ev.FirstSeen {
			ev.LastSeen = ev.FirstSeen
		}
	}
	if a.Stats.From == 0 || ev.FirstSeen < a.Stats.From {
		a.Stats.From = ev.FirstSeen
	}
	if ev.LastSeen > a.Stats.To {
		a.Stats.To = ev.LastSeen
	}
	m := a.ns[keys[0].ns]
	if m == nil {
		m = &nsMeta{}
		a.ns[keys[0].ns] = m
	}
	m.see(ev.FirstSeen, ev.LastSeen)
	m.records++

	workload := f.Source.NameAggr
	if workload == "" {
		workload = f.Source.Name
	}
	var service string
	if f.Service.Known() && a.c.nameValid(f.Service.Name) && (f.Service.Namespace == "" || a.c.nsValid(f.Service.Namespace)) {
		service = f.Service.Namespace + "/" + f.Service.Name
	}
	for i := 0; i < n; i++ {
		k := keys[i]
		ac := a.accs[k]
		if ac == nil {
			ac = &acc{}
			a.accs[k] = ac
		}
		ac.ev.fold(&ev)
		if k.hasNets {
			ip := addrOf(f)
			ac.addNet(netip.PrefixFrom(ip, ip.BitLen()), ev.FirstSeen, a.rules)
		}
		ac.addSamples(f, k.kind, workload, service, a.samples)
	}
}

// fold adds the evidence of one flow (or one aggregated bucket).
func (e *Evidence) fold(ev *Evidence) {
	e.Flows += ev.Flows
	e.Bytes += ev.Bytes
	if e.FirstSeen == 0 || ev.FirstSeen < e.FirstSeen {
		e.FirstSeen = ev.FirstSeen
	}
	if ev.LastSeen > e.LastSeen {
		e.LastSeen = ev.LastSeen
	}
	if len(ev.Days) > 0 {
		e.Days.Union(ev.Days)
	} else {
		// A window ending exactly at midnight does not touch the next day.
		last := ev.LastSeen
		if last > ev.FirstSeen {
			last--
		}
		e.Days.AddRange(DayOf(int64(ev.FirstSeen)), DayOf(int64(last)))
	}
}

// addSamples adds a flow's workload, service and domains to the entry's
// bounded samples.
func (ac *acc) addSamples(f *flows.Flow, kind string, workload, service string, samples int) {
	if workload != "" && samples > 0 {
		ac.workloads = addSample(ac.workloads, workload, samples)
	}
	if service != "" && samples > 0 {
		ac.services = addSample(ac.services, service, samples)
	}
	if len(f.DestDomains) > 0 && (kind == PeerPublic || kind == PeerPrivate || kind == PeerSpecial) {
		for _, d := range f.DestDomains {
			if d = NormalizeDomain(d); d != "" {
				ac.domains = addSample(ac.domains, d, MaxDomains)
			}
		}
	}
}

// Merge folds b into a. b must not be used afterwards.
func (a *Aggregator) Merge(b *Aggregator) {
	for k, bac := range b.accs {
		if ac := a.accs[k]; ac != nil {
			ac.merge(bac, a.samples, a.rules)
		} else {
			a.accs[k] = bac
		}
	}
	for ns, bm := range b.ns {
		m := a.ns[ns]
		if m == nil {
			a.ns[ns] = bm
			continue
		}
		m.see(bm.first, bm.last)
		m.records += bm.records
	}
	a.Stats.merge(&b.Stats)
}

// Namespaces returns the source namespaces seen, sorted.
func (a *Aggregator) Namespaces() []string {
	out := make([]string, 0, len(a.ns))
	for ns := range a.ns {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}
