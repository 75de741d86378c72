package render

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-plan/calico-plan/allowlist"
)

// Suggested network sets (render --network-sets).
//
// Where many observed public addresses share a prefix (by default 4 or
// more in one IPv4 /24 or IPv6 /48: one provider's block, as a CDN or a
// messaging service hands them out), a GlobalNetworkSet holding exactly
// the observed addresses lets every policy name the set instead of
// repeating a long CIDR list, and gives the operator one place to widen it
// to the owner's published ranges. The set holds the observed addresses
// only: never the whole prefix, so it is never wider than the evidence.
// Ownership is not looked up (no registry data is consulted): the shared
// prefix is the only hint, and the set's annotation says so.

// NetworkSetLabel selects a suggested set.
const NetworkSetLabel = "calico-plan.io/network-set"

// NetworkSetOptions tune the suggestion.
type NetworkSetOptions struct {
	// MinAddresses is how many distinct observed addresses a prefix needs
	// (default 4).
	MinAddresses int
	// PrefixV4 and PrefixV6 are the shared prefix lengths (default 24, 48).
	PrefixV4, PrefixV6 int
}

// SuggestedSet is one suggested GlobalNetworkSet.
type SuggestedSet struct {
	Name   string       `json:"name"`
	Prefix netip.Prefix `json:"prefix"`
	// Nets are the observed addresses inside Prefix, aggregated.
	Nets []netip.Prefix `json:"nets"`
	// Namespaces use the addresses.
	Namespaces []string `json:"namespaces"`
}

// SuggestNetworkSets finds the prefixes many observed public addresses of
// the namespaces share.
func SuggestNetworkSets(nss []*allowlist.Namespace, opt NetworkSetOptions) []SuggestedSet {
	if opt.MinAddresses <= 0 {
		opt.MinAddresses = 4
	}
	if opt.PrefixV4 <= 0 || opt.PrefixV4 > 32 {
		opt.PrefixV4 = 24
	}
	if opt.PrefixV6 <= 0 || opt.PrefixV6 > 128 {
		opt.PrefixV6 = 48
	}
	type group struct {
		addrs map[netip.Prefix]bool
		ns    map[string]bool
	}
	groups := map[netip.Prefix]*group{}
	for _, n := range nss {
		for _, e := range n.RenderedEgress() {
			if e.Peer.Kind != allowlist.PeerPublic || len(e.Ports) == 0 || e.Folded != nil {
				continue
			}
			ps, err := e.Peer.Prefixes()
			if err != nil {
				continue
			}
			for _, p := range ps {
				bits := opt.PrefixV4
				if p.Addr().Is6() {
					bits = opt.PrefixV6
				}
				if p.Bits() > 0 && p.Bits() < bits {
					continue // already wider than the shared prefix
				}
				owner := netip.PrefixFrom(p.Addr(), bits).Masked()
				g := groups[owner]
				if g == nil {
					g = &group{addrs: map[netip.Prefix]bool{}, ns: map[string]bool{}}
					groups[owner] = g
				}
				g.addrs[p] = true
				g.ns[n.Namespace] = true
			}
		}
	}
	var out []SuggestedSet
	for owner, g := range groups {
		if len(g.addrs) < opt.MinAddresses {
			continue
		}
		var ps []netip.Prefix
		for p := range g.addrs {
			ps = append(ps, p)
		}
		var nss []string
		for ns := range g.ns {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		out = append(out, SuggestedSet{Name: setName(owner), Prefix: owner, Nets: allowlist.AggregatePrefixes(ps), Namespaces: nss})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Prefix, out[j].Prefix
		if a.Addr() != b.Addr() {
			return a.Addr().Less(b.Addr())
		}
		return a.Bits() < b.Bits()
	})
	return out
}

// setName is a DNS-label name for a prefix: calico-plan-149-154-167-0-24.
func setName(p netip.Prefix) string {
	s := strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(p.String())
	return "calico-plan-" + strings.Trim(strings.ReplaceAll(s, "--", "-0-"), "-")
}

// Object is the set as a GlobalNetworkSet.
func (s SuggestedSet) Object() *v3.GlobalNetworkSet {
	nets := make([]string, len(s.Nets))
	for i, p := range s.Nets {
		nets[i] = p.String()
	}
	return &v3.GlobalNetworkSet{
		TypeMeta: metav1.TypeMeta{Kind: "GlobalNetworkSet", APIVersion: "projectcalico.org/v3"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name,
			Labels: map[string]string{ManagedByLabel: ManagedByValue, NetworkSetLabel: s.Name},
			Annotations: map[string]string{
				"calico-plan.io/shared-prefix": s.Prefix.String(),
				"calico-plan.io/note":          fmt.Sprintf("%d observed addresses share %s (ownership not looked up); used by %s. Widen to the owner's published ranges if you trust them.", allowlist.AddressCount(s.Nets).Int64(), s.Prefix, strings.Join(s.Namespaces, ", ")),
			}},
		Spec: v3.GlobalNetworkSetSpec{Nets: nets},
	}
}

// splitBySets takes the addresses of a public entry that a suggested set
// holds out of the entry: it returns the entry with the rest, and the
// destinations that select the sets used.
func splitBySets(e allowlist.Entry, sets []SuggestedSet) (allowlist.Entry, []v3.EntityRule) {
	if len(sets) == 0 || e.Peer.Kind != allowlist.PeerPublic || len(e.Peer.Nets) == 0 || e.Folded != nil {
		return e, nil
	}
	ps, err := e.Peer.Prefixes()
	if err != nil {
		return e, nil
	}
	var rest []string
	used := map[string]bool{}
	var order []string
	for _, p := range ps {
		in := ""
		for _, s := range sets {
			if allowlist.Covered(p, s.Nets) {
				in = s.Name
				break
			}
		}
		if in == "" {
			rest = append(rest, p.String())
			continue
		}
		if !used[in] {
			used[in] = true
			order = append(order, in)
		}
	}
	if len(order) == 0 {
		return e, nil
	}
	var dests []v3.EntityRule
	for _, name := range order {
		dests = append(dests, v3.EntityRule{Selector: NetworkSetLabel + " == '" + name + "'", NamespaceSelector: "global()"})
	}
	e.Peer.Nets = rest
	return e, dests
}
