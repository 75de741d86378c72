package check

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
)

// Replay is the store's evidence as flow records, for a check without
// flow-log files (Calico OSS: Goldmane keeps no history).
type Replay struct {
	Flows []flows.Flow
	// Entries counts the allowlist, denied and would-deny entry ports
	// replayed; Skipped the ones no flow can stand for, with why.
	Entries int
	Skipped []string
}

// ReplayStore turns every allowlist entry (observed allowed), denied entry
// (observed denied) and would-deny entry (observed allowed, reported as
// would-deny by a staged policy) of the store's namespaces into flow
// records, one per entry port and destination address (or one without an
// address when the entry has none), source-reported from a pod of the
// namespace named by the entry's first workload pattern, with the entry's
// flow count and first and last seen times. The profile's excluded
// namespaces are left out. The source pod's labels are unknown: a policy
// selecting pods by labels judges these records as it judges a pod without
// them.
func ReplayStore(st *allowlist.Store, prof *config.Profile) *Replay {
	r := &Replay{}
	for _, n := range st.Namespaces() {
		if prof.Excluded(n.Namespace) {
			continue
		}
		for _, set := range []struct {
			entries []allowlist.Entry
			action  flows.Action
		}{{n.Egress, flows.ActionAllow}, {n.Denied, flows.ActionDeny}, {n.WouldDeny, flows.ActionAllow}} {
			for i := range set.entries {
				r.entry(n.Namespace, &set.entries[i], set.action, prof)
			}
		}
	}
	return r
}

func (r *Replay) entry(ns string, e *allowlist.Entry, action flows.Action, prof *config.Profile) {
	src := flows.Endpoint{Type: flows.EndpointWorkload, Namespace: ns, NameAggr: ns + "-*"}
	if len(e.Workloads) > 0 {
		src.NameAggr = e.Workloads[0]
	}
	dsts, why := replayDests(e, prof)
	for _, pe := range e.Ports {
		r.Entries++
		if why != "" {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %s %s: %s", ns, e.Peer, pe.Port, why))
			continue
		}
		ps, err := allowlist.ParsePortSpec(pe.Port)
		if err != nil {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %s %s: %v", ns, e.Peer, pe.Port, err))
			continue
		}
		if ps.Proto.HasPorts() && ps.AnyPort() {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %s %s: any port, no port to replay", ns, e.Peer, pe.Port))
			continue
		}
		ev := pe.Evidence
		// The entry's flows are spread over its addresses, at least one each.
		per, rest := ev.Flows/int64(len(dsts)), ev.Flows%int64(len(dsts))
		for i, d := range dsts {
			d.Port = ps.Port
			f := flows.Flow{Start: int64(ev.FirstSeen), End: int64(ev.LastSeen), Source: src, Dest: d, Proto: ps.Proto,
				Action: action, Reporter: flows.ReporterSrc, NumFlows: max(per, 1)}
			if int64(i) < rest {
				f.NumFlows++
			}
			r.Flows = append(r.Flows, f)
		}
	}
}

// replayDests returns the destination endpoints of an entry (without the
// port), or why it cannot be replayed.
func replayDests(e *allowlist.Entry, prof *config.Profile) ([]flows.Endpoint, string) {
	p := &e.Peer
	labels := func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		sort.Strings(out)
		return out
	}
	nets := func(name string) ([]flows.Endpoint, string) {
		if len(p.Nets) == 0 {
			return []flows.Endpoint{{Type: flows.EndpointNetwork, NameAggr: name, Labels: []string{}}}, ""
		}
		var out []flows.Endpoint
		for _, s := range p.Nets {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil {
					return nil, fmt.Sprintf("address %q: %v", s, err)
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: name, Labels: []string{}, IP: pfx.Masked().Addr()})
		}
		return out, ""
	}
	switch p.Kind {
	case allowlist.PeerDNS:
		if prof.DNS.Form == config.DNSFormNets && len(prof.DNS.Addresses) > 0 {
			a := prof.DNS.Addresses[0].Prefix.Addr()
			name := "pvt"
			if !a.IsPrivate() {
				name = "pub"
			}
			return []flows.Endpoint{{Type: flows.EndpointNetwork, NameAggr: name, Labels: []string{}, IP: a}}, ""
		}
		return []flows.Endpoint{{Type: flows.EndpointWorkload, Namespace: prof.DNS.Namespace, NameAggr: "dns-*", Labels: selectorLabels(prof.DNS.Selector)}}, ""
	case allowlist.PeerNamespace:
		return []flows.Endpoint{{Type: flows.EndpointWorkload, Namespace: p.Namespace, NameAggr: p.Namespace + "-*", Labels: labels(p.Labels)}}, ""
	case allowlist.PeerNetworkSet:
		return []flows.Endpoint{{Type: flows.EndpointNetworkSet, Namespace: p.Namespace, Name: p.Name, NameAggr: p.Name, Labels: labels(p.Labels)}}, ""
	case allowlist.PeerGlobalNetworkSet:
		return []flows.Endpoint{{Type: flows.EndpointNetworkSet, Name: p.Name, NameAggr: p.Name, Labels: labels(p.Labels)}}, ""
	case allowlist.PeerHost:
		if len(p.Nets) > 0 {
			out, why := nets("pvt")
			for i := range out {
				out[i].Type, out[i].Name, out[i].NameAggr = flows.EndpointHost, p.Name, p.Name
			}
			return out, why
		}
		return []flows.Endpoint{{Type: flows.EndpointHost, Name: p.Name, NameAggr: p.Name}}, ""
	case allowlist.PeerPrivate:
		return nets("pvt")
	case allowlist.PeerPublic, allowlist.PeerSpecial:
		if p.Kind == allowlist.PeerSpecial && len(p.Nets) == 0 {
			return nil, "special range without addresses"
		}
		return nets("pub")
	}
	return nil, "peer kind " + p.Kind + " cannot be replayed"
}

// selectorLabels returns the labels an equality selector (a == 'x' &&
// b == "y") requires, for the DNS pods of a selector-form profile.
func selectorLabels(sel string) []string {
	var out []string
	for _, part := range strings.Split(sel, "&&") {
		k, v, ok := strings.Cut(part, "==")
		if !ok {
			continue
		}
		out = append(out, strings.TrimSpace(k)+"="+strings.Trim(strings.TrimSpace(v), `'"`))
	}
	sort.Strings(out)
	return out
}
