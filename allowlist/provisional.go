package allowlist

import (
	"net/netip"
	"sort"
	"strings"
)

// Provisional sums make incremental reads from a time-based source
// (Elasticsearch) exact. Each run reads the window [from, to) and the next
// run starts again at to - overlap, to pick up documents that were indexed
// late. Re-reading is harmless for the evidence that is a semilattice
// (first and last seen, days, addresses, workloads), but the sums (flows,
// bytes) and the ingest counters would count the overlap twice. So a run
// keeps, in its SourceRecord, what it counted for [to - overlap, to); the
// next run subtracts exactly that before merging its own window, which
// reads the overlap again in full (late documents included).
//
// Besides one entry per allowlist key, Provisional holds entries of two
// reserved classes:
//   - class "ingest": the store-wide ingest counters of the window; Port
//     names the counter ("records", "used", "labelsDropped",
//     "skipped:<reason>") and Flows holds its value.
//   - class "window": Flows holds the window's start (Unix seconds), where
//     the next run must resume for the subtraction to be exact.
const (
	ProvisionalIngest = "ingest"
	ProvisionalWindow = "window"
)

const (
	provRecords       = "records"
	provUsed          = "used"
	provLabelsDropped = "labelsDropped"
	provSkipped       = "skipped:"
)

// ProvisionalSums returns what an aggregator that saw only a provisional
// window counted: the sums of every key (keys with zero sums left out),
// the ingest counters and the window start. The result is sorted.
func ProvisionalSums(a *Aggregator, windowStart Time) []ProvisionalSum {
	var out []ProvisionalSum
	for k, ac := range a.accs {
		if ac.ev.Flows == 0 && ac.ev.Bytes == 0 {
			continue
		}
		p := Peer{Kind: k.kind, Namespace: k.peerNS, Name: k.peerName, Labels: parseCanonLabels(k.labels)}
		if k.hasNets {
			ps := make([]netip.Prefix, 0, len(ac.nets))
			for pr := range ac.nets {
				ps = append(ps, pr)
			}
			for _, pr := range AggregatePrefixes(ps) {
				p.Nets = append(p.Nets, pr.String())
			}
		}
		out = append(out, ProvisionalSum{
			Namespace: k.ns, Class: classFields[k.class], Peer: p,
			Port: PortSpec{Proto: k.proto, Port: k.port}.String(), Flows: ac.ev.Flows, Bytes: ac.ev.Bytes,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		if pa, pb := a.Peer.String(), b.Peer.String(); pa != pb {
			return pa < pb
		}
		return a.Port < b.Port
	})
	ingest := func(name string, v int64) {
		if v != 0 {
			out = append(out, ProvisionalSum{Class: ProvisionalIngest, Port: name, Flows: v})
		}
	}
	ingest(provRecords, a.Stats.Records)
	ingest(provUsed, a.Stats.Used)
	ingest(provLabelsDropped, a.Stats.LabelsDropped)
	reasons := make([]string, 0, len(a.Stats.Skipped))
	for r := range a.Stats.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ingest(provSkipped+r, a.Stats.Skipped[r])
	}
	if windowStart != 0 {
		out = append(out, ProvisionalSum{Class: ProvisionalWindow, Port: "start", Flows: int64(windowStart)})
	}
	return out
}

// ProvisionalWindowStart returns the start of the provisional window the
// sums were counted over (0 when unknown).
func ProvisionalWindowStart(sums []ProvisionalSum) Time {
	for _, s := range sums {
		if s.Class == ProvisionalWindow {
			return Time(s.Flows)
		}
	}
	return 0
}

// ProvisionalRecords returns the records the provisional window counted.
func ProvisionalRecords(sums []ProvisionalSum) int64 {
	for _, s := range sums {
		if s.Class == ProvisionalIngest && s.Port == provRecords {
			return s.Flows
		}
	}
	return 0
}

// SubtractProvisional takes provisional sums back out of the store: the
// key sums from the namespaces' accumulators and the ingest counters from
// the store's totals, so that re-reading their window counts it once.
// Values never go below zero. It returns the number of key entries the
// store no longer has (edited out by hand): their sums stay counted.
func (s *Store) SubtractProvisional(sums []ProvisionalSum) (unmatched int) {
	st := &s.Meta.Ingest.Stats
	for _, p := range sums {
		switch p.Class {
		case ProvisionalWindow:
			continue
		case ProvisionalIngest:
			switch {
			case p.Port == provRecords:
				st.Records = sub(st.Records, p.Flows)
			case p.Port == provUsed:
				st.Used = sub(st.Used, p.Flows)
			case p.Port == provLabelsDropped:
				st.LabelsDropped = sub(st.LabelsDropped, p.Flows)
			case strings.HasPrefix(p.Port, provSkipped):
				r := strings.TrimPrefix(p.Port, provSkipped)
				if v, ok := st.Skipped[r]; ok {
					if v = sub(v, p.Flows); v == 0 {
						delete(st.Skipped, r)
					} else {
						st.Skipped[r] = v
					}
				}
			}
			continue
		}
		k, ok := provisionalKey(p)
		n := s.ns[p.Namespace]
		if !ok || n == nil || n.accs[k.class] == nil || n.accs[k.class][k] == nil {
			unmatched++
			continue
		}
		ac := n.accs[k.class][k]
		ac.ev.Flows = sub(ac.ev.Flows, p.Flows)
		ac.ev.Bytes = sub(ac.ev.Bytes, p.Bytes)
	}
	return unmatched
}

func sub(a, b int64) int64 {
	if b >= a {
		return 0
	}
	return a - b
}

// provisionalKey rebuilds the accumulator key of an entry.
func provisionalKey(p ProvisionalSum) (key, bool) {
	class := -1
	for i, f := range classFields {
		if f == p.Class {
			class = i
		}
	}
	ps, err := ParsePortSpec(p.Port)
	if err != nil && p.Port == "0" { // protocol unknown
		ps, err = PortSpec{}, nil
	}
	if class < 0 || err != nil {
		return key{}, false
	}
	return key{
		ns: p.Namespace, class: Class(class), kind: p.Peer.Kind,
		peerNS: p.Peer.Namespace, peerName: p.Peer.Name, labels: canonFromMap(p.Peer.Labels),
		hasNets: len(p.Peer.Nets) > 0, proto: ps.Proto, port: ps.Port,
	}, true
}
