package allowlist

import (
	"net/netip"
	"sort"
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

// NewProvisional describes what an aggregator that saw only the window
// starting at from counted: the sums of every key (keys with zero sums left
// out, sorted) and the ingest counters.
func NewProvisional(a *Aggregator, from Time) *Provisional {
	p := &Provisional{From: from, Ingest: a.Stats}
	p.Ingest.From, p.Ingest.To = 0, 0
	for k, ac := range a.accs {
		if ac.ev.Flows == 0 && ac.ev.Bytes == 0 {
			continue
		}
		peer := Peer{Kind: k.kind, Namespace: k.peerNS, Name: k.peerName, Labels: parseCanonLabels(k.labels)}
		if k.hasNets {
			ps := make([]netip.Prefix, 0, len(ac.nets))
			for pr := range ac.nets {
				ps = append(ps, pr)
			}
			for _, pr := range AggregatePrefixes(ps) {
				peer.Nets = append(peer.Nets, pr.String())
			}
		}
		p.Sums = append(p.Sums, ProvisionalSum{
			Namespace: k.ns, Class: classFields[k.class], Peer: peer,
			Port: PortSpec{Proto: k.proto, Port: k.port}.String(), Flows: ac.ev.Flows, Bytes: ac.ev.Bytes,
		})
	}
	sort.Slice(p.Sums, func(i, j int) bool {
		a, b := &p.Sums[i], &p.Sums[j]
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
	return p
}

// SubtractProvisional takes a provisional window back out of the store:
// the key sums from the namespaces' accumulators and the ingest counters
// from the store's totals, so that re-reading the window counts it once.
// Values never go below zero. It returns the number of key entries the
// store no longer has (edited out by hand): their sums stay counted.
func (s *Store) SubtractProvisional(p *Provisional) (unmatched int) {
	if p == nil {
		return 0
	}
	st := &s.Meta.Ingest.Stats
	st.Records = sub(st.Records, p.Ingest.Records)
	st.Used = sub(st.Used, p.Ingest.Used)
	st.LabelsDropped = sub(st.LabelsDropped, p.Ingest.LabelsDropped)
	for r, n := range p.Ingest.Skipped {
		if v, ok := st.Skipped[r]; ok {
			if v = sub(v, n); v == 0 {
				delete(st.Skipped, r)
			} else {
				st.Skipped[r] = v
			}
		}
	}
	for _, ps := range p.Sums {
		k, ok := provisionalKey(ps)
		n := s.ns[ps.Namespace]
		if !ok || n == nil || n.accs[k.class] == nil || n.accs[k.class][k] == nil {
			unmatched++
			continue
		}
		ac := n.accs[k.class][k]
		ac.ev.Flows = sub(ac.ev.Flows, ps.Flows)
		ac.ev.Bytes = sub(ac.ev.Bytes, ps.Bytes)
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
