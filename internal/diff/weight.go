package diff

import (
	"github.com/calico-plan/calico-plan/internal/netset"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/policy/selector"
	"github.com/calico-plan/calico-plan/render"
)

// Traffic weighting: every port of every allowlist entry is a "point" of
// observed traffic (the destination it went to, the port, the evidence).
// A removed or narrowed region is weighted by the points it covered that
// the new policies no longer cover; an added region by the points it
// covers (why it is there).

type level uint8

const (
	levelNone    level = iota // the region does not hold the traffic
	levelPartial              // it may hold part of it (labels, addresses or ports not known exactly)
	levelFull                 // it holds all of it
)

func minLevel(a, b level) level {
	if a < b {
		return a
	}
	return b
}

// region is a set of addresses: the union of inc minus the union of exc;
// unknown when the addresses are not known at all.
type region struct {
	inc, exc []netip.Prefix
	known    bool
}

// endpoint is a destination endpoint: pods of a namespace, or a network set.
type endpoint struct {
	ns     string // empty for a global network set
	labels map[string]string
	set    bool
}

// point is one port of one allowlist entry.
type point struct {
	ns       string // the source namespace
	entry    *allowlist.Entry
	port     *allowlist.PortEvidence
	proto    string
	portNum  uint16 // 0: any port of the protocol
	dest     []endpoint
	addrs    region
	services []string
}

func (p *point) id() string { return p.ns + "\x00" + p.entry.Peer.String() + "\x00" + p.port.Port }

// weigher matches points against rule regions.
type weigher struct {
	prof *config.Profile
	nsl  cluster.NamespaceLabels
	sels map[string]*selector.Selector
}

func newWeigher(prof *config.Profile, nsl cluster.NamespaceLabels) *weigher {
	return &weigher{prof: prof, nsl: nsl, sels: map[string]*selector.Selector{}}
}

func (w *weigher) sel(s string) *selector.Selector {
	if x, ok := w.sels[s]; ok {
		return x
	}
	x, err := selector.Parse(s)
	if err != nil {
		x = nil
	}
	w.sels[s] = x
	return x
}

var eqTerm = regexp.MustCompile(`^\s*([A-Za-z0-9./_-]+)\s*==\s*['"]([^'"]*)['"]\s*$`)

// points returns the traffic points of a namespace's allowlist.
func (w *weigher) points(n *allowlist.Namespace) []*point {
	var out []*point
	for ei := range n.Egress {
		e := &n.Egress[ei]
		base := point{ns: n.Namespace, entry: e, services: e.Services}
		peer := e.Peer
		nets, _ := peer.Prefixes()
		switch peer.Kind {
		case allowlist.PeerDNS:
			base.addrs = region{inc: config.Prefixes(w.prof.DNS.Addresses), known: true}
			if w.prof.DNS.Form == config.DNSFormSelector {
				labels := map[string]string{}
				for _, t := range strings.Split(w.prof.DNS.Selector, "&&") {
					if m := eqTerm.FindStringSubmatch(t); m != nil {
						labels[m[1]] = m[2]
					}
				}
				base.dest = []endpoint{{ns: w.prof.DNS.Namespace, labels: labels}}
			}
		case allowlist.PeerNamespace:
			base.dest = []endpoint{{ns: peer.Namespace, labels: peer.Labels}}
			if pods := config.Prefixes(w.prof.Networks.Pods); len(pods) > 0 {
				base.addrs = region{inc: pods, known: true}
			}
		case allowlist.PeerNetworkSet:
			base.dest = []endpoint{{ns: peer.Namespace, labels: peer.Labels, set: true}}
		case allowlist.PeerGlobalNetworkSet:
			base.dest = []endpoint{{labels: peer.Labels, set: true}}
		case allowlist.PeerHost:
			if len(nets) > 0 {
				base.addrs = region{inc: nets, known: true}
			} else if nodes := config.Prefixes(w.prof.Networks.Nodes); len(nodes) > 0 {
				base.addrs = region{inc: nodes, known: true}
			}
		case allowlist.PeerPrivate:
			if len(nets) > 0 {
				base.addrs = region{inc: nets, known: true}
			} else {
				base.addrs = region{inc: config.Prefixes(w.prof.Networks.Private), known: true}
			}
		case allowlist.PeerPublic:
			if len(nets) > 0 {
				base.addrs = region{inc: nets, known: true}
			} else {
				inc, exc := render.PublicRegion(w.prof)
				base.addrs = region{inc: inc, exc: exc, known: true}
			}
		case allowlist.PeerSpecial:
			if len(nets) > 0 {
				base.addrs = region{inc: nets, known: true}
			} else {
				base.addrs = region{inc: allowlist.SpecialClassPrefixes(peer.Name), known: true}
			}
		}
		for pi := range e.Ports {
			pt := base
			pt.port = &e.Ports[pi]
			spec, err := allowlist.ParsePortSpec(pt.port.Port)
			if err != nil {
				continue
			}
			pt.proto = spec.Proto.CalicoName()
			pt.portNum = spec.Port
			out = append(out, &pt)
		}
	}
	return out
}

// covers says how much of the point's traffic a rule region of the
// namespace's policies allows.
func (w *weigher) covers(g *Group, r rect, policyNS string, pt *point) level {
	if g.Action != "Allow" {
		return levelNone
	}
	if g.Protocol != "any" && g.Protocol != pt.proto {
		return levelNone
	}
	lv := levelFull
	if hasPorts(g.Protocol) && !r.anyPort() {
		switch {
		case pt.portNum == 0:
			lv = levelPartial
		case portsContain(r, portElem{lo: pt.portNum, hi: pt.portNum}):
		case len(r.named) > 0:
			lv = levelPartial // a named port may be this number
		default:
			return levelNone
		}
	}
	if g.Subject != "all()" {
		lv = minLevel(lv, levelPartial)
	}
	pk := &g.Peer
	switch {
	case pk.Services != "":
		for _, s := range pt.services {
			if s == pk.Services {
				return lv
			}
		}
		return levelNone
	case pk.endpointConstraint():
		best := levelNone
		for _, d := range pt.dest {
			if l := w.endpointMatch(pk, policyNS, d); l > best {
				best = l
			}
		}
		if best == levelNone {
			return levelNone
		}
		lv = minLevel(lv, best)
		if pk.ServiceAccounts != "" {
			lv = minLevel(lv, levelPartial)
		}
	}
	if r.nets != nil {
		lv = minLevel(lv, relate(pt.addrs, r.nets, false))
	}
	if pk.NotNets != "" {
		not, _ := parseNets("notNets", strings.Split(pk.NotNets, ", "))
		lv = minLevel(lv, relate(pt.addrs, not, true))
	}
	if pk.Extra != "" {
		lv = minLevel(lv, levelPartial)
	}
	return lv
}

// endpointMatch matches a rule's endpoint selectors against a destination.
func (w *weigher) endpointMatch(pk *Peer, policyNS string, d endpoint) level {
	nsLevel := levelFull
	switch pk.NamespaceSelector {
	case "":
	case Own:
		if d.ns != policyNS {
			return levelNone
		}
	case "global()":
		if d.ns != "" {
			return levelNone
		}
	default:
		if d.ns == "" {
			return levelNone
		}
		s := w.sel(pk.NamespaceSelector)
		if s == nil {
			return levelPartial
		}
		labels := map[string]string{"kubernetes.io/metadata.name": d.ns, "projectcalico.org/name": d.ns}
		complete := false
		if l, ok := w.nsl[d.ns]; ok {
			complete = true
			for k, v := range l {
				labels[k] = v
			}
		}
		nsLevel = tri(s, labels, func(k string) bool { _, ok := labels[k]; return complete || ok })
	}
	lv := nsLevel
	labels := map[string]string{}
	for k, v := range d.labels {
		labels[k] = v
	}
	auto := map[string]bool{}
	if d.ns != "" {
		labels["projectcalico.org/namespace"] = d.ns
		auto["projectcalico.org/namespace"] = true
	}
	if !d.set {
		labels["projectcalico.org/orchestrator"] = "k8s"
		auto["projectcalico.org/orchestrator"] = true
	}
	// Pod labels are the stable ones: other keys may exist. A network
	// set's labels are all it has.
	known := func(k string) bool { _, ok := d.labels[k]; return d.set || ok || auto[k] }
	if pk.Selector != "" && pk.Selector != "all()" {
		s := w.sel(pk.Selector)
		if s == nil {
			return levelPartial
		}
		lv = minLevel(lv, tri(s, labels, known))
	}
	if pk.NotSelector != "" {
		s := w.sel(pk.NotSelector)
		if s == nil {
			return levelPartial
		}
		switch tri(s, labels, known) {
		case levelFull:
			return levelNone
		case levelPartial:
			lv = minLevel(lv, levelPartial)
		}
	}
	return lv
}

func tri(s *selector.Selector, labels map[string]string, known func(string) bool) level {
	l := selector.MakeLabels(labels)
	switch {
	case s.Certain(l, known):
		return levelFull
	case s.Possible(l, known):
		return levelPartial
	}
	return levelNone
}

// relate says how much of the region lies inside the prefixes (negated:
// outside them).
func relate(rg region, ps []netip.Prefix, negated bool) level {
	if !rg.known {
		return levelPartial
	}
	r := netset.Empty
	for _, p := range rg.inc {
		r = netset.Combine(r, netset.Relate(p, rg.exc, ps))
	}
	switch r {
	case netset.All:
		if negated {
			return levelNone
		}
		return levelFull
	case netset.None, netset.Empty:
		if negated {
			return levelFull
		}
		return levelNone
	}
	return levelPartial
}

// Evidence is the observed traffic behind a change.
type Evidence struct {
	Flows     int64          `json:"flows"`
	FirstSeen allowlist.Time `json:"firstSeen"`
	LastSeen  allowlist.Time `json:"lastSeen"`
	Days      int            `json:"days"`
	Entries   []EntryRef     `json:"entries"`
	days      allowlist.DaySet
}

// EntryRef is one allowlist entry port behind a change.
type EntryRef struct {
	Peer      string         `json:"peer"`
	Port      string         `json:"port"`
	Flows     int64          `json:"flows"`
	LastSeen  allowlist.Time `json:"lastSeen"`
	Days      int            `json:"days"`
	Workloads []string       `json:"workloads,omitempty"`
	// Partly says the change covers the entry only in part (labels,
	// addresses or ports not known exactly), or for a removal that other
	// rules may still allow part of it.
	Partly bool `json:"partly,omitempty"`
}

func (e *Evidence) add(pt *point, partly bool) {
	e.addPort(pt.entry.Peer.String(), pt.entry, pt.port, partly)
	e.sortEntries()
}

// addPort adds one port's evidence of an allowlist entry, named peer.
func (e *Evidence) addPort(peer string, en *allowlist.Entry, p *allowlist.PortEvidence, partly bool) {
	ev := p.Evidence
	e.Flows += ev.Flows
	if e.FirstSeen == 0 || (ev.FirstSeen != 0 && ev.FirstSeen < e.FirstSeen) {
		e.FirstSeen = ev.FirstSeen
	}
	if ev.LastSeen > e.LastSeen {
		e.LastSeen = ev.LastSeen
	}
	e.days.Union(ev.Days)
	e.Days = len(e.days)
	e.Entries = append(e.Entries, EntryRef{Peer: peer, Port: p.Port, Flows: ev.Flows,
		LastSeen: ev.LastSeen, Days: len(ev.Days), Workloads: en.Workloads, Partly: partly})
}

// sortEntries puts the entries with the most flows first (ties in the
// order they were added).
func (e *Evidence) sortEntries() {
	sort.SliceStable(e.Entries, func(i, j int) bool { return e.Entries[i].Flows > e.Entries[j].Flows })
}
