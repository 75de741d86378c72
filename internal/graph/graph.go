// Package graph draws the egress the store holds: namespaces, the peers
// they reach, the ports and how much traffic, and each namespace's rollout
// stage. Mermaid (which forges render in Markdown, so it fits a pull-request
// comment) and Graphviz dot are written from one model.
package graph

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
)

// Node kinds.
const (
	KindNamespace = "namespace" // a namespace of the store (drawn with its stage)
	KindPeer      = "peer"      // anything else egress goes to
)

// Edge kinds: what the evidence says about the traffic.
const (
	EdgeAllowed   = "allowed"    // allowlisted egress
	EdgeDenied    = "denied"     // the dataplane denied it (never allowlisted)
	EdgeWouldDeny = "would-deny" // allowed today, denied by the staged policy
)

// Node is a namespace or a peer.
type Node struct {
	ID    string `json:"id"` // stable: "ns/<name>" or "peer/<kind>/<name>"
	Label string `json:"label"`
	Kind  string `json:"kind"`
	Stage string `json:"stage,omitempty"` // namespaces of the store
	Tier  string `json:"tier,omitempty"`
}

// Edge is the egress of one namespace to one peer of one kind.
type Edge struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Kind  string   `json:"kind"`
	Ports []string `json:"ports"`
	// Detail names what the peer node does not: pod labels, addresses.
	Detail string `json:"detail,omitempty"`
	Flows  int64  `json:"flows"`
	Bytes  int64  `json:"bytes"`
}

// Graph is the egress of the chosen namespaces.
type Graph struct {
	Nodes []Node `json:"nodes"` // sorted by ID
	Edges []Edge `json:"edges"` // sorted by From, To, Kind, Detail
}

// Options choose what Build draws.
type Options struct {
	// Denied and WouldDeny add those sections as edges of their own kind.
	Denied, WouldDeny bool
	// MaxPorts and MaxNets bound what an edge label spells out (the rest
	// is counted); 0 means 4 ports and 2 addresses.
	MaxPorts, MaxNets int
}

// Build draws the egress of namespaces; stage and tier of a namespace peer
// come from known (the whole store) when it is there.
func Build(namespaces []*allowlist.Namespace, known func(string) *allowlist.Namespace, opt Options) *Graph {
	if opt.MaxPorts <= 0 {
		opt.MaxPorts = 4
	}
	if opt.MaxNets <= 0 {
		opt.MaxNets = 2
	}
	nodes := map[string]Node{}
	addNS := func(name string) string {
		id := "ns/" + name
		if _, ok := nodes[id]; !ok {
			n := Node{ID: id, Label: name, Kind: KindNamespace}
			if a := known(name); a != nil {
				n.Stage, n.Tier = stage(a), a.Tier
			}
			nodes[id] = n
		}
		return id
	}
	type edgeKey struct{ from, to, kind, detail string }
	edges := map[edgeKey]*Edge{}
	add := func(from string, kind string, e allowlist.Entry) {
		to, detail := peerNode(e.Peer, opt.MaxNets)
		if e.Peer.Kind == allowlist.PeerNamespace {
			to = addNS(e.Peer.Namespace)
		} else if _, ok := nodes[to]; !ok {
			nodes[to] = Node{ID: to, Label: peerLabel(e.Peer), Kind: KindPeer}
		}
		k := edgeKey{from, to, kind, detail}
		ed := edges[k]
		if ed == nil {
			ed = &Edge{From: from, To: to, Kind: kind, Detail: detail}
			edges[k] = ed
		}
		for _, p := range e.Ports {
			if !slices.Contains(ed.Ports, p.Port) {
				ed.Ports = append(ed.Ports, p.Port)
			}
			ed.Flows += p.Flows
			ed.Bytes += p.Bytes
		}
	}
	for _, n := range namespaces {
		from := addNS(n.Namespace)
		for _, e := range n.Egress {
			add(from, EdgeAllowed, e)
		}
		if opt.Denied {
			for _, e := range n.Denied {
				add(from, EdgeDenied, e)
			}
		}
		if opt.WouldDeny {
			for _, e := range n.WouldDeny {
				add(from, EdgeWouldDeny, e)
			}
		}
	}
	g := &Graph{}
	for _, n := range nodes {
		g.Nodes = append(g.Nodes, n)
	}
	slices.SortFunc(g.Nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range edges {
		slices.Sort(e.Ports)
		g.Edges = append(g.Edges, *e)
	}
	slices.SortFunc(g.Edges, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Detail, b.Detail))
	})
	return g
}

func stage(n *allowlist.Namespace) string {
	if n.Rollout.Stage == "" {
		return allowlist.StageObserve
	}
	return n.Rollout.Stage
}

// peerNode returns the node a peer is drawn as, and what the edge label
// adds about it (pod labels of a namespace peer, addresses of a network).
func peerNode(p allowlist.Peer, maxNets int) (id, detail string) {
	switch p.Kind {
	case allowlist.PeerNamespace:
		if len(p.Labels) > 0 {
			detail = "{" + allowlist.LabelSelector(p.Labels) + "}"
		}
		return "ns/" + p.Namespace, detail
	case allowlist.PeerNetworkSet:
		return "peer/networkset/" + p.Namespace + "/" + p.Name, ""
	case allowlist.PeerGlobalNetworkSet, allowlist.PeerHost:
		return "peer/" + p.Kind + "/" + p.Name, ""
	}
	if len(p.Nets) > 0 {
		detail = strings.Join(p.Nets[:min(len(p.Nets), maxNets)], ", ")
		if n := len(p.Nets) - maxNets; n > 0 {
			detail += " and " + strconv.Itoa(n) + " more"
		}
	}
	name := p.Kind
	if p.Kind == allowlist.PeerSpecial && p.Name != "" {
		name += "/" + p.Name
	}
	return "peer/" + name, detail
}

func peerLabel(p allowlist.Peer) string {
	switch p.Kind {
	case allowlist.PeerNetworkSet:
		return "NetworkSet " + p.Namespace + "/" + p.Name
	case allowlist.PeerGlobalNetworkSet:
		return "GlobalNetworkSet " + p.Name
	case allowlist.PeerHost:
		return "host " + p.Name
	case allowlist.PeerDNS:
		return "cluster DNS"
	case allowlist.PeerPublic:
		return "public internet"
	case allowlist.PeerPrivate:
		return "private networks"
	case allowlist.PeerSpecial:
		if p.Name != "" {
			return "special: " + p.Name
		}
		return "special addresses"
	}
	return p.Kind
}

// label is an edge's text: its ports (MaxPorts of them, the rest counted),
// the peer detail and the flows.
func (e *Edge) label(maxPorts int) string {
	ports := strings.Join(e.Ports[:min(len(e.Ports), maxPorts)], ", ")
	if n := len(e.Ports) - maxPorts; n > 0 {
		ports += fmt.Sprintf(" +%d", n)
	}
	parts := []string{ports}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	parts = append(parts, allowlist.FormatCount(e.Flows)+" flows")
	if e.Kind != EdgeAllowed {
		parts = append(parts, e.Kind)
	}
	return strings.Join(parts, " · ")
}
