package allowlist

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Folded is one entry FoldIntoEgress moved into the allowlist.
type Folded struct {
	// From is the list it came from: "wouldDeny" or "denied".
	From  string `json:"from"`
	Entry Entry  `json:"entry"`
}

// FoldIntoEgress moves a namespace's WouldDeny entries (egress its staged
// policy would deny) into Egress, and with includeDenied its Denied entries
// (egress the dataplane denied) too, keeping their evidence. It returns
// what moved; the caller saves the store.
//
// A would-deny flow was allowed by the dataplane, so observe already
// counted it under Egress as well: where Egress has the same peer and port,
// its counters are not added twice (the larger count is kept), while times,
// days, addresses and sample workloads are merged. Denied flows were never
// counted under Egress, so their counters add.
func (s *Store) FoldIntoEgress(ns string, includeDenied bool) ([]Folded, error) {
	n := s.ns[ns]
	if n == nil {
		return nil, fmt.Errorf("namespace %q is not in the store %s", ns, s.Dir)
	}
	n.ensureAccs()
	samples := s.prof.Aggregation.WorkloadSamples
	r := newNetRules(s.prof)
	classes := []Class{ClassWouldDeny}
	if includeDenied {
		classes = append(classes, ClassDenied)
	}
	var out []Folded
	dst := n.accs[ClassEgress]
	for _, c := range classes {
		src := n.accs[c]
		for _, e := range entriesFrom(src, samples, r) {
			out = append(out, Folded{From: classFields[c], Entry: e})
		}
		for k, a := range src {
			k.class = ClassEgress
			old := dst[k]
			switch {
			case old == nil:
				dst[k] = a
			case c == ClassWouldDeny:
				flows, bytes := max(old.ev.Flows, a.ev.Flows), max(old.ev.Bytes, a.ev.Bytes)
				old.merge(a, samples, r)
				old.ev.Flows, old.ev.Bytes = flows, bytes
			default:
				old.merge(a, samples, r)
			}
		}
		n.accs[c] = map[key]*acc{}
	}
	n.buildEntries(samples, r)
	return out, nil
}

// ensureAccs builds the accumulators of a namespace made from entries
// alone (a literal, not loaded or observed).
func (n *Namespace) ensureAccs() {
	for _, m := range n.accs {
		if m == nil {
			n.buildAccs()
			return
		}
	}
}

// SetNoEgress declares that a workload (a CronJob, by name) needs no
// egress, with the reason an operator gave. A declaration for the same
// workload is replaced. It reports whether one was replaced.
func (n *Namespace) SetNoEgress(workload, reason string) (bool, error) {
	if msgs := validation.IsDNS1123Subdomain(workload); len(msgs) > 0 {
		return false, fmt.Errorf("workload %q is not a valid object name", workload)
	}
	if reason == "" {
		return false, fmt.Errorf("a reason is required: say why %s needs no egress (it is recorded in the allowlist and reviewed)", workload)
	}
	replaced := false
	for i := range n.NoEgress {
		if n.NoEgress[i].Workload == workload {
			n.NoEgress[i].Reason = reason
			replaced = true
		}
	}
	if !replaced {
		n.NoEgress = append(n.NoEgress, NoEgress{Workload: workload, Reason: reason})
	}
	sort.Slice(n.NoEgress, func(i, j int) bool { return n.NoEgress[i].Workload < n.NoEgress[j].Workload })
	return replaced, nil
}

// RemoveNoEgress withdraws a declaration; it reports whether there was one.
func (n *Namespace) RemoveNoEgress(workload string) bool {
	for i, d := range n.NoEgress {
		if d.Workload == workload {
			n.NoEgress = append(n.NoEgress[:i], n.NoEgress[i+1:]...)
			return true
		}
	}
	return false
}

// NoEgressFor returns the declaration for a workload, if any.
func (n *Namespace) NoEgressFor(workload string) (NoEgress, bool) {
	for _, d := range n.NoEgress {
		if d.Workload == workload {
			return d, true
		}
	}
	return NoEgress{}, false
}
