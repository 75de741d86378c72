package allowlist

import "net/netip"

// Packet-log evidence and flow-log evidence describe the same traffic.
//
// Goldmane (Calico OSS) reports an external peer only as "pub" or "pvt", so
// its entries are class-only: "public, TCP/443, 1,204 flows". Kernel LOG
// lines of the same connections carry the exact addresses: "public
// 149.154.167.220/32, TCP/443, 310 connections", source packet-log. The
// store keeps both, apart (Entry.Source): flow logs stay the source of
// counts, policy traces and workloads; packet logs add addresses. Nothing
// sums the two.
//
// Rendering combines them (RenderedEgress): a class-only public or private
// port that packet logs saw addresses for renders as those addresses, not
// as the whole class; a class-only port without addresses still renders as
// the class, and AddressGaps names it (status, waves and promote's
// address-evidence gate). Where flow logs carry addresses themselves
// (Calico Enterprise), a packet-log port whose addresses flow-log entries
// of the same kind already hold on that port renders nothing more. Packet-log entries to peers inside the cluster
// (pods, DNS, nodes) render only where no flow-log entry covers the same
// peer, so a namespace observed by both does not get every rule twice.

// isClassOnly reports whether an entry is a private or public peer without
// addresses (Goldmane, aggregated flow logs).
func isClassOnly(e *Entry) bool {
	return e.Source == "" && len(e.Peer.Nets) == 0 && (e.Peer.Kind == PeerPublic || e.Peer.Kind == PeerPrivate)
}

// addressPorts returns, per peer kind, the ports packet logs saw addresses
// on.
func addressPorts(n *Namespace) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for i := range n.Egress {
		e := &n.Egress[i]
		if e.Source != SourcePacketLog || len(e.Peer.Nets) == 0 {
			continue
		}
		kind := e.Peer.Kind
		if kind == PeerSpecial {
			// Goldmane calls link-local and other special ranges public.
			kind = PeerPublic
		}
		m := out[kind]
		if m == nil {
			m = map[string]bool{}
			out[kind] = m
		}
		for _, p := range e.Ports {
			m[p.Port] = true
		}
	}
	return out
}

// peerCoverKey identifies an in-cluster peer for "does a flow-log entry
// cover it": the kind and the namespace or name.
func peerCoverKey(p *Peer) string {
	switch p.Kind {
	case PeerDNS:
		return PeerDNS
	case PeerNamespace:
		return PeerNamespace + "/" + p.Namespace
	case PeerHost, PeerNetworkSet, PeerGlobalNetworkSet:
		return p.Kind + "/" + p.Namespace + "/" + p.Name
	}
	return ""
}

// RenderedEgress returns the namespace's egress entries as rules render
// them, index for index with Egress: a class-only port that packet logs
// saw addresses for is taken out of its entry (the packet-log entry renders
// it, as addresses), and a packet-log entry to an in-cluster peer that a
// flow-log entry covers is emptied. An entry with no ports left renders
// nothing.
func (n *Namespace) RenderedEgress() []Entry {
	out := make([]Entry, len(n.Egress))
	copy(out, n.Egress)
	addr := addressPorts(n)
	covered := map[string]bool{}
	// flowNets: the addresses flow-log entries hold, per kind and port.
	flowNets := map[string][]netip.Prefix{}
	for i := range n.Egress {
		e := &n.Egress[i]
		if k := peerCoverKey(&e.Peer); k != "" && e.Source == "" {
			covered[k] = true
		}
		if e.Source == "" && len(e.Peer.Nets) > 0 {
			ps, err := e.Peer.Prefixes()
			if err != nil {
				continue
			}
			for _, p := range e.Ports {
				k := e.Peer.Kind + "/" + p.Port
				flowNets[k] = append(flowNets[k], ps...)
			}
		}
	}
	for i := range out {
		e := &out[i]
		switch {
		case isClassOnly(e) && len(addr[e.Peer.Kind]) > 0:
			var keep []PortEvidence
			for _, p := range e.Ports {
				if !addr[e.Peer.Kind][p.Port] {
					keep = append(keep, p)
				}
			}
			e.Ports = keep
		case e.Source == SourcePacketLog && len(e.Peer.Nets) == 0:
			if k := peerCoverKey(&e.Peer); k != "" && covered[k] {
				e.Ports = nil
			}
		case e.Source == SourcePacketLog && len(flowNets) > 0:
			ps, err := e.Peer.Prefixes()
			if err != nil {
				continue
			}
			var keep []PortEvidence
			for _, p := range e.Ports {
				held := flowNets[e.Peer.Kind+"/"+p.Port]
				all := len(held) > 0
				for _, x := range ps {
					all = all && Covered(x, held)
				}
				if !all {
					keep = append(keep, p)
				}
			}
			e.Ports = keep
		}
	}
	return out
}

// AddressGap is a class-only public port without packet-log addresses: it
// renders as any public address.
type AddressGap struct {
	Entry int    `json:"entry" yaml:"entry"`
	Port  string `json:"port" yaml:"port"`
}

// AddressGaps lists the public ports of a namespace's egress that have no
// address evidence: flow-log entries that name only the class "public"
// and no packet-log addresses on that port. Private class-only ports are
// not gaps (they stay inside the profile's private ranges).
func (n *Namespace) AddressGaps() []AddressGap {
	var out []AddressGap
	addr := addressPorts(n)
	for i := range n.Egress {
		e := &n.Egress[i]
		if !isClassOnly(e) || e.Peer.Kind != PeerPublic {
			continue
		}
		for _, p := range e.Ports {
			if !addr[PeerPublic][p.Port] {
				out = append(out, AddressGap{Entry: i, Port: p.Port})
			}
		}
	}
	return out
}
