// Package render turns a namespace's allowlist into policy objects: a Calico
// v3 NetworkPolicy in a dedicated tier ending in an explicit Deny, the same
// as a StagedNetworkPolicy, or a Kubernetes NetworkPolicy. Objects are the
// upstream API types (projectcalico/api, k8s.io/api); encoders write YAML,
// JSON and Terraform HCL from them.
package render

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/projectcalico/api/pkg/lib/numorstring"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/netset"
)

// Flavor selects the kind of policy rendered.
type Flavor string

// Flavors.
const (
	FlavorCalico       Flavor = "calico"
	FlavorCalicoStaged Flavor = "calico-staged"
	FlavorK8s          Flavor = "k8s"
)

// ParseFlavor validates a flavor name.
func ParseFlavor(s string) (Flavor, error) {
	switch f := Flavor(s); f {
	case FlavorCalico, FlavorCalicoStaged, FlavorK8s:
		return f, nil
	}
	return "", fmt.Errorf("unknown flavor %q (want calico, calico-staged or k8s)", s)
}

// Facts are cluster facts that make some peers renderable precisely.
type Facts struct {
	// NodeIPs maps a node (host endpoint) name to its InternalIPs.
	NodeIPs map[string][]netip.Addr
	// NetworkSetNets maps "namespace/name" (namespaced) or "name"
	// (global) to the set's CIDRs, for the k8s flavor.
	NetworkSetNets map[string][]string
}

// Options configure rendering.
type Options struct {
	Flavor  Flavor
	Profile *config.Profile
	Facts   *Facts
	// Source names the allowlist file in generated comments.
	Source string
}

// Labels and annotations on generated objects.
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "calico-plan"
	SourceAnnotation = "calico-plan.io/allowlist"
	EntryAnnotation  = "calico-plan.io/entry"
)

// RuleSource ties a rendered egress rule to what it came from.
type RuleSource struct {
	// Index is the rule's position in the egress rules.
	Index int
	// Kind is "dns", "entry", "log" or "deny".
	Kind string
	// Entry indexes the namespace's Egress entries (Kind "entry").
	Entry int
	Peer  string
	Ports []string
}

// Policy is what one namespace renders to.
type Policy struct {
	Namespace string
	Name      string
	Objects   []any
	Rules     []RuleSource
	Warnings  []string
}

// PolicyName returns the policy name a flavor gives a namespace's
// allowlist: "<tier>.<namespace>" for Calico (tiered names must carry the
// tier), the profile's k8sName for Kubernetes.
func PolicyName(p *config.Profile, f Flavor, ns string) string {
	if f == FlavorK8s {
		return p.Policy.K8sName
	}
	return p.Policy.Tier + "." + ns
}

// Tier returns the dedicated tier object.
func Tier(p *config.Profile) *v3.Tier {
	t := v3.NewTier()
	t.Name = p.Policy.Tier
	t.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	order := p.Policy.TierOrder
	deny := v3.Deny
	t.Spec = v3.TierSpec{Order: &order, DefaultAction: &deny}
	return t
}

// Namespace renders one namespace's allowlist.
func Namespace(n *allowlist.Namespace, opt Options) (*Policy, error) {
	if opt.Profile == nil {
		return nil, fmt.Errorf("render: no profile")
	}
	switch opt.Flavor {
	case FlavorCalico, FlavorCalicoStaged:
		return renderCalico(n, opt)
	case FlavorK8s:
		return renderK8s(n, opt)
	}
	return nil, fmt.Errorf("render: unknown flavor %q", opt.Flavor)
}

// portGroup is the ports of one protocol for one entry.
type portGroup struct {
	proto flows.Protocol
	ports []uint16 // empty: every port of the protocol
	specs []string
}

// groupPorts groups an entry's ports by protocol, sorted.
func groupPorts(e allowlist.Entry) ([]portGroup, error) {
	specs, err := e.PortSpecs()
	if err != nil {
		return nil, err
	}
	by := map[flows.Protocol]*portGroup{}
	anyPort := map[flows.Protocol]bool{}
	for _, s := range specs {
		g := by[s.Proto]
		if g == nil {
			g = &portGroup{proto: s.Proto}
			by[s.Proto] = g
		}
		g.specs = append(g.specs, s.String())
		if !s.Proto.HasPorts() || s.AnyPort() {
			anyPort[s.Proto] = true
			continue
		}
		g.ports = append(g.ports, s.Port)
	}
	out := make([]portGroup, 0, len(by))
	for p, g := range by {
		if anyPort[p] {
			g.ports = nil
		}
		sort.Slice(g.ports, func(i, j int) bool { return g.ports[i] < g.ports[j] })
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].proto < out[j].proto })
	return out, nil
}

// destNets returns the CIDR lists (v4 and v6 apart) a network-like peer
// renders to, collapsed under the profile's bound, plus notNets for the
// public class and a warning when the rendering is broader than observed.
type netTarget struct {
	nets, notNets []string
}

func peerNets(p allowlist.Peer, prof *config.Profile, facts *Facts) ([]netTarget, string, error) {
	agg := prof.Aggregation
	collapse := func(ps []netip.Prefix) []netTarget {
		ps = allowlist.CollapsePrefixes(ps, agg.MaxCIDRs, agg.MinPrefixV4, agg.MinPrefixV6)
		var v4, v6 []string
		for _, x := range ps {
			if x.Addr().Is4() {
				v4 = append(v4, x.String())
			} else {
				v6 = append(v6, x.String())
			}
		}
		var out []netTarget
		if len(v4) > 0 {
			out = append(out, netTarget{nets: v4})
		}
		if len(v6) > 0 {
			out = append(out, netTarget{nets: v6})
		}
		return out
	}
	if len(p.Nets) > 0 {
		ps, err := p.Prefixes()
		if err != nil {
			return nil, "", err
		}
		return collapse(ps), "", nil
	}
	switch p.Kind {
	case allowlist.PeerPrivate:
		return collapse(config.Prefixes(prof.Networks.Private)), fmt.Sprintf("%s: no addresses were recorded (Goldmane or aggregated flow logs), so it renders as every private range on its ports", p), nil
	case allowlist.PeerPublic:
		var not []string
		for _, pr := range prof.Networks.Private {
			if pr.Addr().Is4() {
				not = append(not, pr.String())
			}
		}
		return []netTarget{{nets: []string{"0.0.0.0/0"}, notNets: not}}, fmt.Sprintf("%s: no addresses were recorded, so it renders as any public IPv4 address on its ports", p), nil
	case allowlist.PeerHost:
		if facts != nil {
			if ips := facts.NodeIPs[p.Name]; len(ips) > 0 {
				ps := make([]netip.Prefix, len(ips))
				for i, a := range ips {
					ps[i] = netip.PrefixFrom(a, a.BitLen())
				}
				return collapse(ps), "", nil
			}
		}
		if len(prof.Networks.Nodes) == 0 {
			return nil, "", fmt.Errorf("%s: no node addresses known (pass cluster facts or set networks.nodes in the profile)", p)
		}
		return collapse(config.Prefixes(prof.Networks.Nodes)), fmt.Sprintf("%s: node address unknown, so it renders as the profile's node ranges", p), nil
	}
	return nil, "", fmt.Errorf("%s: not a network peer", p)
}

func meta(name, ns, source string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{ManagedByLabel: ManagedByValue}}
	if source != "" {
		m.Annotations = map[string]string{SourceAnnotation: source}
	}
	return m
}

func renderCalico(n *allowlist.Namespace, opt Options) (*Policy, error) {
	prof := opt.Profile
	pol := &Policy{Namespace: n.Namespace, Name: PolicyName(prof, opt.Flavor, n.Namespace)}
	var rules []v3.Rule
	add := func(r v3.Rule, src RuleSource) {
		src.Index = len(rules)
		rules = append(rules, r)
		pol.Rules = append(pol.Rules, src)
	}
	for _, r := range calicoDNSRules(prof) {
		// One rule per protocol: it carries that protocol's DNS port only.
		add(r, RuleSource{Kind: "dns", Peer: "dns", Ports: []string{dnsPortSpec(r.Protocol.String(), prof)}})
	}
	for i, e := range n.Egress {
		if e.Peer.Kind == allowlist.PeerDNS {
			continue // the profile's DNS rule covers it
		}
		groups, err := groupPorts(e)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		dests, warn, err := calicoDestinations(n.Namespace, e.Peer, prof, opt.Facts)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		if warn != "" {
			pol.Warnings = append(pol.Warnings, warn)
		}
		for gi, g := range groups {
			if len(g.ports) > 0 && !calicoMatchesPorts(g.proto) {
				// Calico's validator rejects ports with a protocol it
				// cannot match ports of (UDPLite): allow every port.
				pol.Warnings = append(pol.Warnings, fmt.Sprintf("%s: Calico cannot match %s ports, so %s renders as every %s port", e.Peer, g.proto.CalicoName(), strings.Join(g.specs, ", "), g.proto.CalicoName()))
				groups[gi].ports = nil
			}
		}
		for _, d := range dests {
			for _, g := range groups {
				r := v3.Rule{Action: v3.Allow, Destination: d}
				proto := calicoProtocol(g.proto)
				r.Protocol = &proto
				for _, p := range g.ports {
					r.Destination.Ports = append(r.Destination.Ports, numorstring.SinglePort(p))
				}
				r.Metadata = &v3.RuleMetadata{Annotations: map[string]string{EntryAnnotation: e.Peer.String()}}
				add(r, RuleSource{Kind: "entry", Entry: i, Peer: e.Peer.String(), Ports: g.specs})
			}
		}
	}
	if prof.Policy.LogDenied {
		add(v3.Rule{Action: v3.Log}, RuleSource{Kind: "log"})
	}
	add(v3.Rule{Action: v3.Deny}, RuleSource{Kind: "deny"})

	order := prof.Policy.Order
	spec := v3.NetworkPolicySpec{
		Tier:     prof.Policy.Tier,
		Order:    &order,
		Selector: "all()",
		Types:    []v3.PolicyType{v3.PolicyTypeEgress},
		Egress:   rules,
	}
	m := meta(pol.Name, n.Namespace, opt.Source)
	if opt.Flavor == FlavorCalicoStaged {
		sp := v3.NewStagedNetworkPolicy()
		sp.ObjectMeta = m
		sp.Spec = v3.StagedNetworkPolicySpec{
			StagedAction: v3.StagedActionSet,
			Tier:         spec.Tier, Order: spec.Order, Selector: spec.Selector, Types: spec.Types, Egress: spec.Egress,
		}
		pol.Objects = append(pol.Objects, sp)
	} else {
		np := v3.NewNetworkPolicy()
		np.ObjectMeta = m
		np.Spec = spec
		pol.Objects = append(pol.Objects, np)
	}
	return pol, nil
}

func calicoDNSRules(prof *config.Profile) []v3.Rule {
	var rules []v3.Rule
	port := []numorstring.Port{numorstring.SinglePort(prof.DNS.Port)}
	for _, proto := range []string{"UDP", "TCP"} {
		p := numorstring.ProtocolFromString(proto)
		var dsts []v3.EntityRule
		if prof.DNS.Form == config.DNSFormSelector {
			dsts = append(dsts, v3.EntityRule{
				NamespaceSelector: nsSelector(prof.DNS.Namespace),
				Selector:          prof.DNS.Selector,
				Ports:             port,
			})
		} else {
			var v4, v6 []string
			for _, a := range prof.DNS.Addresses {
				if a.Addr().Is4() {
					v4 = append(v4, a.String())
				} else {
					v6 = append(v6, a.String())
				}
			}
			for _, nets := range [][]string{v4, v6} {
				if len(nets) > 0 {
					dsts = append(dsts, v3.EntityRule{Nets: nets, Ports: port})
				}
			}
		}
		for _, d := range dsts {
			rules = append(rules, v3.Rule{Action: v3.Allow, Protocol: &p, Destination: d,
				Metadata: &v3.RuleMetadata{Annotations: map[string]string{EntryAnnotation: "dns (cluster profile)"}}})
		}
	}
	return rules
}

// dnsPortSpec is the port spec ("UDP/53") of the profile's DNS port.
func dnsPortSpec(proto string, prof *config.Profile) string {
	return fmt.Sprintf("%s/%d", proto, prof.DNS.Port)
}

func nsSelector(ns string) string { return "kubernetes.io/metadata.name == '" + ns + "'" }

func labelsSelector(l map[string]string) string {
	if len(l) == 0 {
		return "all()"
	}
	return allowlist.LabelSelector(l)
}

func calicoDestinations(ownNS string, p allowlist.Peer, prof *config.Profile, facts *Facts) ([]v3.EntityRule, string, error) {
	switch p.Kind {
	case allowlist.PeerNamespace:
		d := v3.EntityRule{Selector: labelsSelector(p.Labels)}
		if p.Namespace != ownNS {
			d.NamespaceSelector = nsSelector(p.Namespace)
		}
		return []v3.EntityRule{d}, "", nil
	case allowlist.PeerNetworkSet, allowlist.PeerGlobalNetworkSet:
		if len(p.Labels) == 0 {
			return nil, "", fmt.Errorf("%s: the flow logs recorded no labels for this network set, so no selector can match it safely; label the set and observe again, or edit the entry's labels", p)
		}
		d := v3.EntityRule{Selector: allowlist.LabelSelector(p.Labels)}
		if p.Kind == allowlist.PeerGlobalNetworkSet {
			d.NamespaceSelector = "global()"
		} else if p.Namespace != ownNS {
			d.NamespaceSelector = nsSelector(p.Namespace)
		}
		return []v3.EntityRule{d}, "", nil
	case allowlist.PeerPrivate, allowlist.PeerPublic, allowlist.PeerHost:
		targets, warn, err := peerNets(p, prof, facts)
		if err != nil {
			return nil, "", err
		}
		out := make([]v3.EntityRule, len(targets))
		for i, t := range targets {
			out[i] = v3.EntityRule{Nets: t.nets, NotNets: t.notNets}
		}
		return out, warn, nil
	}
	return nil, "", fmt.Errorf("peer kind %q cannot be rendered", p.Kind)
}

func renderK8s(n *allowlist.Namespace, opt Options) (*Policy, error) {
	prof := opt.Profile
	pol := &Policy{Namespace: n.Namespace, Name: PolicyName(prof, FlavorK8s, n.Namespace)}
	var rules []networkingv1.NetworkPolicyEgressRule
	add := func(r networkingv1.NetworkPolicyEgressRule, src RuleSource) {
		src.Index = len(rules)
		rules = append(rules, r)
		pol.Rules = append(pol.Rules, src)
	}
	dns, err := k8sDNSRule(prof)
	if err != nil {
		return nil, err
	}
	add(dns, RuleSource{Kind: "dns", Peer: "dns", Ports: []string{dnsPortSpec("UDP", prof), dnsPortSpec("TCP", prof)}})
	for i, e := range n.Egress {
		if e.Peer.Kind == allowlist.PeerDNS {
			continue
		}
		groups, err := groupPorts(e)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		peers, warn, err := k8sPeers(n.Namespace, e.Peer, prof, opt.Facts)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		if warn != "" {
			pol.Warnings = append(pol.Warnings, warn)
		}
		r := networkingv1.NetworkPolicyEgressRule{To: peers}
		var specs []string
		for _, g := range groups {
			var proto corev1Protocol
			switch g.proto {
			case flows.ProtoTCP:
				proto = "TCP"
			case flows.ProtoUDP:
				proto = "UDP"
			case flows.ProtoSCTP:
				proto = "SCTP"
			default:
				return nil, fmt.Errorf("namespace %s: egress[%d]: %s: protocol %s cannot be expressed in a Kubernetes NetworkPolicy (only TCP, UDP and SCTP); use --flavor calico", n.Namespace, i, e.Peer, g.proto.CalicoName())
			}
			specs = append(specs, g.specs...)
			if len(g.ports) == 0 {
				pr := proto.v1()
				r.Ports = append(r.Ports, networkingv1.NetworkPolicyPort{Protocol: &pr})
				continue
			}
			for _, port := range g.ports {
				pr := proto.v1()
				r.Ports = append(r.Ports, networkingv1.NetworkPolicyPort{Protocol: &pr, Port: intOrStringPort(port)})
			}
		}
		add(r, RuleSource{Kind: "entry", Entry: i, Peer: e.Peer.String(), Ports: specs})
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta(pol.Name, n.Namespace, opt.Source),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      rules,
		},
	}
	pol.Objects = append(pol.Objects, np)
	pol.Warnings = append(pol.Warnings, "k8s flavor: Calico places Kubernetes NetworkPolicies in the default tier at order 1000, so an allow-all Calico policy later in that tier (such as an observe GlobalNetworkPolicy at order 2000) cancels this default deny; exclude the namespace from that policy, or use --flavor calico")
	return pol, nil
}

func k8sDNSRule(prof *config.Profile) (networkingv1.NetworkPolicyEgressRule, error) {
	var r networkingv1.NetworkPolicyEgressRule
	if prof.DNS.Form == config.DNSFormSelector {
		sel, err := matchLabelsFromSelector(prof.DNS.Selector)
		if err != nil {
			return r, fmt.Errorf("profile dns.selector: %w", err)
		}
		r.To = []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": prof.DNS.Namespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: sel},
		}}
	} else {
		for _, a := range prof.DNS.Addresses {
			r.To = append(r.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: a.String()}})
		}
	}
	for _, p := range []corev1Protocol{"UDP", "TCP"} {
		pr := p.v1()
		r.Ports = append(r.Ports, networkingv1.NetworkPolicyPort{Protocol: &pr, Port: intOrStringPort(prof.DNS.Port)})
	}
	return r, nil
}

// matchLabelsFromSelector converts "a == 'x' && b == 'y'" into match labels.
func matchLabelsFromSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, "&&") {
		k, v, ok := strings.Cut(part, "==")
		if !ok {
			return nil, fmt.Errorf("%q: only equality terms joined by && convert to a Kubernetes label selector", s)
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		if k == "" {
			return nil, fmt.Errorf("%q: empty label key", s)
		}
		out[k] = v
	}
	return out, nil
}

func k8sPeers(ownNS string, p allowlist.Peer, prof *config.Profile, facts *Facts) ([]networkingv1.NetworkPolicyPeer, string, error) {
	switch p.Kind {
	case allowlist.PeerNamespace:
		peer := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: copyMap(p.Labels)}}
		if p.Namespace != ownNS {
			peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": p.Namespace}}
		}
		return []networkingv1.NetworkPolicyPeer{peer}, "", nil
	case allowlist.PeerNetworkSet, allowlist.PeerGlobalNetworkSet:
		key := p.Name
		if p.Kind == allowlist.PeerNetworkSet {
			key = p.Namespace + "/" + p.Name
		}
		var nets []string
		if facts != nil {
			nets = facts.NetworkSetNets[key]
		}
		if len(nets) == 0 {
			return nil, "", fmt.Errorf("%s: a Kubernetes NetworkPolicy cannot select a Calico network set; its CIDRs are needed (pass a cluster snapshot with the set), or use --flavor calico", p)
		}
		var out []networkingv1.NetworkPolicyPeer
		for _, c := range nets {
			out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
		}
		return out, "", nil
	case allowlist.PeerPrivate, allowlist.PeerPublic, allowlist.PeerHost:
		targets, warn, err := peerNets(p, prof, facts)
		if err != nil {
			return nil, "", err
		}
		var out []networkingv1.NetworkPolicyPeer
		for _, t := range targets {
			for _, c := range t.nets {
				b := &networkingv1.IPBlock{CIDR: c}
				cp := netip.MustParsePrefix(c)
				for _, x := range t.notNets {
					xp := netip.MustParsePrefix(x)
					if netset.Contains(cp, xp) {
						b.Except = append(b.Except, x)
					}
				}
				out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: b})
			}
		}
		return out, warn, nil
	}
	return nil, "", fmt.Errorf("peer kind %q cannot be rendered", p.Kind)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// calicoMatchesPorts reports whether a Calico rule may give ports with the
// protocol (numorstring.Protocol.SupportsPorts: TCP, UDP and SCTP).
func calicoMatchesPorts(p flows.Protocol) bool {
	return p == flows.ProtoTCP || p == flows.ProtoUDP || p == flows.ProtoSCTP
}

// calicoProtocol spells a protocol the way a Calico rule takes it: a name
// for the named ones, the number otherwise.
func calicoProtocol(p flows.Protocol) numorstring.Protocol {
	switch p {
	case flows.ProtoTCP, flows.ProtoUDP, flows.ProtoICMP, flows.ProtoICMPv6, flows.ProtoSCTP, flows.ProtoUDPLite:
		return numorstring.ProtocolFromString(p.CalicoName())
	}
	return numorstring.ProtocolFromInt(uint8(p))
}
