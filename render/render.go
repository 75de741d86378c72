// Package render turns a namespace's allowlist into policy objects: a Calico
// v3 NetworkPolicy in a dedicated tier ending in an explicit Deny, the same
// as a StagedNetworkPolicy, or a Kubernetes NetworkPolicy. Objects are the
// upstream API types (projectcalico/api, k8s.io/api); encoders write YAML,
// JSON and Terraform HCL from them.
package render

import (
	"errors"
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
	"github.com/calico-plan/calico-plan/internal/netset"
	"github.com/calico-plan/calico-plan/profile"
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
	Profile *profile.Profile
	Facts   *Facts
	// Source names the allowlist file in generated comments.
	Source string
	// NetworkSets are suggested GlobalNetworkSets (render --network-sets):
	// the Calico flavors select them instead of listing their addresses.
	NetworkSets []SuggestedSet
	// Domains (Calico Enterprise only, Calico flavors): public entries
	// with dest_domains evidence render as destination.domains rules; the
	// addresses stay in the allowlist as evidence (domains.go).
	Domains bool
}

// Labels and annotations on generated objects.
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "calico-plan"
	SourceAnnotation = "calico-plan.io/allowlist"
	EntryAnnotation  = "calico-plan.io/entry"
	// EvidenceAnnotation says where a rule's addresses came from when not
	// from flow logs ("packet-log": kernel LOG lines).
	EvidenceAnnotation = "calico-plan.io/evidence"
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
	// Unrenderable lists the egress entries left out: no rule can express
	// them (see IncompleteError).
	Unrenderable []Unrenderable
}

// Unrenderable is an egress entry no rule can express, with the reason and
// what to do about it.
type Unrenderable struct {
	// Entry indexes the namespace's Egress entries.
	Entry  int      `json:"entry"`
	Peer   string   `json:"peer"`
	Ports  []string `json:"ports"`
	Reason string   `json:"reason"`
}

// String renders "egress[3] networkset shop/partners (TCP/443): reason".
func (u Unrenderable) String() string {
	return fmt.Sprintf("egress[%d] %s (%s): %s", u.Entry, u.Peer, strings.Join(u.Ports, ", "), u.Reason)
}

// IncompleteError is returned, with the Policy of every other entry, when
// some egress entries cannot be rendered. The policy then denies what those
// entries allow: deploy it staged only, or fix the entries first.
type IncompleteError struct {
	Namespace string
	Flavor    Flavor
	Entries   []Unrenderable
}

func (e *IncompleteError) Error() string {
	parts := make([]string, len(e.Entries))
	for i, u := range e.Entries {
		parts[i] = u.String()
	}
	return fmt.Sprintf("namespace %s: %d egress entries cannot be rendered as %s: %s", e.Namespace, len(e.Entries), e.Flavor, strings.Join(parts, "; "))
}

// peerNetsShown is how many nets of a peer annotations and warnings spell out.
const peerNetsShown = 8

// entryLabel names an entry in warnings: its peer (nets abbreviated) and ports.
func entryLabel(e allowlist.Entry) string {
	ports := make([]string, len(e.Ports))
	for i, p := range e.Ports {
		ports[i] = p.Port
	}
	return e.Peer.Summary(peerNetsShown) + " (" + strings.Join(ports, ", ") + ")"
}

func portNames(e allowlist.Entry) []string {
	out := make([]string, len(e.Ports))
	for i, p := range e.Ports {
		out[i] = p.Port
	}
	return out
}

// PolicyName returns the policy name a flavor gives a namespace's
// allowlist: "<tier>.<namespace>" for Calico (tiered names must carry the
// tier), the profile's k8sName for Kubernetes.
func PolicyName(p *profile.Profile, f Flavor, ns string) string {
	if f == FlavorK8s {
		return p.Policy.K8sName
	}
	return p.Policy.Tier + "." + ns
}

// Tier returns the dedicated tier object.
func Tier(p *profile.Profile) *v3.Tier {
	t := v3.NewTier()
	t.Name = p.Policy.Tier
	t.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	order := p.Policy.TierOrder
	deny := v3.Deny
	t.Spec = v3.TierSpec{Order: &order, DefaultAction: &deny}
	return t
}

// Namespace renders one namespace's allowlist. When some egress entries
// cannot be rendered it returns the policy of every other entry together
// with an *IncompleteError listing them (also in Policy.Unrenderable);
// every other error comes with a nil policy.
func Namespace(n *allowlist.Namespace, opt Options) (*Policy, error) {
	if opt.Profile == nil {
		return nil, fmt.Errorf("render: no profile")
	}
	var pol *Policy
	var err error
	switch opt.Flavor {
	case FlavorCalico, FlavorCalicoStaged:
		pol, err = renderCalico(n, opt)
	case FlavorK8s:
		pol, err = renderK8s(n, opt)
	default:
		return nil, fmt.Errorf("render: unknown flavor %q", opt.Flavor)
	}
	if err != nil {
		return nil, err
	}
	if len(pol.Unrenderable) > 0 {
		return pol, &IncompleteError{Namespace: n.Namespace, Flavor: opt.Flavor, Entries: pol.Unrenderable}
	}
	return pol, nil
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

// netTarget is one rule destination of a network-like peer: one family's
// nets, and the notNets of an address-less class.
type netTarget struct {
	nets, notNets []string
}

// splitFamilies turns prefixes into one target per family (IPv4 first):
// a rule's nets never mix families.
func splitFamilies(ps []netip.Prefix) []netTarget {
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

// PublicRegion is what an address-less public peer renders to: every IPv4
// address except the profile's private ranges and the special ranges
// (loopback, link-local with the metadata service, CGNAT, documentation,
// broadcast, multicast).
func PublicRegion(prof *profile.Profile) (nets, except []netip.Prefix) {
	for _, pr := range prof.Networks.Private {
		if pr.Addr().Is4() {
			except = append(except, pr.Prefix)
		}
	}
	for _, pr := range allowlist.SpecialPrefixes() {
		if pr.Addr().Is4() && !allowlist.Covered(pr, except) {
			except = append(except, pr)
		}
	}
	allowlist.SortPrefixes(except)
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, except
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// entryError is an entry that cannot be rendered: the reason and the fix.
type entryError struct{ msg string }

func (e *entryError) Error() string { return e.msg }

func cannot(f string, a ...any) error { return &entryError{msg: fmt.Sprintf(f, a...)} }

// peerNets returns the destinations a network-like entry (private, public,
// special, host) renders to, with a warning for everything broader than,
// or different from, what was observed.
func peerNets(e allowlist.Entry, prof *profile.Profile, facts *Facts) ([]netTarget, []string, error) {
	p := e.Peer
	label := entryLabel(e)
	if len(p.Nets) > 0 {
		ps, err := p.Prefixes()
		if err != nil {
			return nil, nil, err
		}
		return observedNets(e, ps, prof)
	}
	switch p.Kind {
	case allowlist.PeerPrivate:
		return splitFamilies(allowlist.AggregatePrefixes(profile.Prefixes(prof.Networks.Private))), []string{fmt.Sprintf("%s: no addresses were recorded (Goldmane or aggregated flow logs), so it renders as every private range on its ports", label)}, nil
	case allowlist.PeerPublic:
		nets, except := PublicRegion(prof)
		return []netTarget{{nets: prefixStrings(nets), notNets: prefixStrings(except)}}, []string{fmt.Sprintf(
			"%s: no addresses were recorded (Goldmane or aggregated flow logs) and no packet-log addresses either (observe --from kern.log or --loki adds them), so it renders as any public IPv4 address on its ports: 0.0.0.0/0 except the private and special ranges (loopback, link-local with the cloud metadata service 169.254.169.254, CGNAT, documentation, broadcast, multicast). Goldmane reports link-local destinations as public, so link-local egress other than DNS to the profile's dns.addresses is denied by this rule; the staged policy reports it as would-deny", label)}, nil
	case allowlist.PeerSpecial:
		ps := allowlist.SpecialClassPrefixes(p.Name)
		if len(ps) == 0 {
			return nil, nil, cannot("%q is not a special address class", p.Name)
		}
		return splitFamilies(ps), []string{fmt.Sprintf("%s: no addresses were recorded, so it renders as the whole %s", label, allowlist.SpecialDescription(p.Name))}, nil
	case allowlist.PeerHost:
		if facts != nil {
			if ips := facts.NodeIPs[p.Name]; len(ips) > 0 {
				ps := make([]netip.Prefix, len(ips))
				for i, a := range ips {
					ps[i] = netip.PrefixFrom(a, a.BitLen())
				}
				return splitFamilies(allowlist.AggregatePrefixes(ps)), nil, nil
			}
		}
		if len(prof.Networks.Nodes) == 0 {
			return nil, nil, cannot("no node addresses known: pass cluster facts (--cluster snapshot or a kubeconfig) or set networks.nodes in the profile")
		}
		return splitFamilies(allowlist.AggregatePrefixes(profile.Prefixes(prof.Networks.Nodes))), []string{fmt.Sprintf("%s: node address unknown, so it renders as the profile's node ranges", label)}, nil
	}
	return nil, nil, fmt.Errorf("%s: not a network peer", p)
}

// observedNets renders the addresses an entry recorded: collapsed to at most
// aggregation.maxCIDRs prefixes within the profile's limits, with every
// widening, folding and special range said.
func observedNets(e allowlist.Entry, ps []netip.Prefix, prof *profile.Profile) ([]netTarget, []string, error) {
	p := e.Peer
	label := entryLabel(e)
	var warns []string
	agg := prof.Aggregation
	if f := e.Folded; f != nil {
		if f.Truncated {
			return nil, nil, cannot("more than %s distinct networks were seen even with addresses widened to /%d (IPv4) and /%d (IPv6), the widest aggregation.minPrefixV4/V6 allow, so observe kept only the first %s (aggregation.maxAddresses) and no rule can allow them all; put these destinations into a GlobalNetworkSet (or a NetworkSet in the namespace) with a label, so that the flow logs name the set, or replace the entry with an address-less %s entry if any %s address is acceptable",
				allowlist.FormatCount(int64(f.Over)), f.IPv4, f.IPv6, allowlist.FormatCount(int64(f.Over)), p.Kind, p.Kind)
		}
		warns = append(warns, fmt.Sprintf("%s: more than %s distinct addresses were seen (aggregation.maxAddresses), so observe folded them into prefixes of up to /%d (IPv4) and /%d (IPv6): the rule allows every address of those prefixes", label, allowlist.FormatCount(int64(f.Over)), f.IPv4, f.IPv6))
	}
	lim := allowlist.NetLimits(prof)
	seen := allowlist.AggregatePrefixes(ps)
	out := allowlist.CollapsePrefixes(seen, lim)
	seenN, openN := allowlist.AddressCount(seen), allowlist.AddressCount(out)
	if openN.Cmp(seenN) > 0 {
		warns = append(warns, fmt.Sprintf("%s: widened: %s addresses seen (in %s prefixes), the rule opens %s (in %s prefixes) to stay within aggregation.maxCIDRs %d; none wider than /%d (IPv4) or /%d (IPv6), none overlapping the pod or Service ranges, none across a private or special range",
			label, allowlist.FormatAddressCount(seenN), allowlist.FormatCount(int64(len(seen))), allowlist.FormatAddressCount(openN), allowlist.FormatCount(int64(len(out))), agg.MaxCIDRs, agg.MinPrefixV4, agg.MinPrefixV6))
	}
	if len(out) > agg.MaxCIDRs {
		warns = append(warns, fmt.Sprintf("%s: TOO MANY PREFIXES: %s prefixes, more than aggregation.maxCIDRs %d even widened as far as the limits allow; rendered as they are rather than wider. Put these destinations into a GlobalNetworkSet (or a NetworkSet in the namespace) with a label, so that the flow logs name the set and one selector allows it",
			label, allowlist.FormatCount(int64(len(out))), agg.MaxCIDRs))
	}
	if p.Kind == allowlist.PeerSpecial {
		warns = append(warns, fmt.Sprintf("%s: special range, rendered as observed: %s; make sure the workload needs it", label, allowlist.SpecialDescription(p.Name)))
	} else if classes := specialClassesIn(out); len(classes) > 0 {
		descs := make([]string, len(classes))
		for i, c := range classes {
			descs[i] = allowlist.SpecialDescription(c)
		}
		warns = append(warns, fmt.Sprintf("%s: the nets include special ranges, which are neither %s nor public: %s; make sure the workload needs them", label, p.Kind, strings.Join(descs, "; ")))
	}
	return splitFamilies(out), warns, nil
}

// specialClassesIn lists the special classes the prefixes overlap.
func specialClassesIn(ps []netip.Prefix) []string {
	var out []string
	for _, r := range allowlist.SpecialRanges() {
		if len(out) > 0 && out[len(out)-1] == r.Class {
			continue
		}
		for _, p := range ps {
			if p.Overlaps(r.Prefix) {
				out = append(out, r.Class)
				break
			}
		}
	}
	return out
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
	b := &calicoRules{pol: &Policy{Namespace: n.Namespace, Name: PolicyName(prof, opt.Flavor, n.Namespace)}, domainRules: map[int][]string{}}
	for _, r := range calicoDNSRules(prof) {
		// One rule per protocol: it carries that protocol's DNS port only.
		b.add(r, RuleSource{Kind: "dns", Peer: "dns", Ports: []string{dnsPortSpec(r.Protocol.String(), prof)}})
	}
	for i, e := range n.RenderedEgress() {
		if e.Peer.Kind == allowlist.PeerDNS || len(e.Ports) == 0 {
			continue // the profile's DNS rule covers it; or another entry renders it (RenderedEgress)
		}
		if err := b.entry(n, i, e, opt); err != nil {
			return nil, err
		}
	}
	if prof.Policy.LogDenied {
		b.add(v3.Rule{Action: v3.Log}, RuleSource{Kind: "log"})
	}
	b.add(v3.Rule{Action: v3.Deny}, RuleSource{Kind: "deny"})
	if err := b.objects(n, opt); err != nil {
		return nil, err
	}
	return b.pol, nil
}

// calicoRules collects a Calico policy's egress rules with their sources.
type calicoRules struct {
	pol         *Policy
	rules       []v3.Rule
	domainRules map[int][]string // rule index -> destination.domains
}

func (b *calicoRules) add(r v3.Rule, src RuleSource) {
	src.Index = len(b.rules)
	b.rules = append(b.rules, r)
	b.pol.Rules = append(b.pol.Rules, src)
}

// entry adds the rules of egress entry i.
func (b *calicoRules) entry(n *allowlist.Namespace, i int, e allowlist.Entry, opt Options) error {
	pol := b.pol
	groups, err := groupPorts(e)
	if err != nil {
		return fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
	}
	if opt.Domains && e.Peer.Kind == allowlist.PeerPublic && len(e.Domains) > 0 {
		for _, g := range groups {
			r, src := domainRule(i, e, g.proto, g.ports, g.specs)
			b.add(r, src)
			b.domainRules[len(b.rules)-1] = e.Domains
		}
		pol.Warnings = append(pol.Warnings, domainWarning(e))
		return nil
	}
	// Addresses a suggested network set holds are selected by the set.
	rest, setDests := splitBySets(e, opt.NetworkSets)
	var dests []v3.EntityRule
	var warns []string
	if len(setDests) == 0 || len(rest.Peer.Nets) > 0 {
		dests, warns, err = calicoDestinations(n.Namespace, rest, opt.Profile, opt.Facts)
	}
	dests = append(dests, setDests...)
	if err != nil {
		if !pol.skip(i, e, err) {
			return fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		return nil
	}
	pol.Warnings = append(pol.Warnings, warns...)
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
			r.Metadata = &v3.RuleMetadata{Annotations: map[string]string{EntryAnnotation: e.Peer.Summary(peerNetsShown)}}
			if e.Source != "" {
				r.Metadata.Annotations[EvidenceAnnotation] = e.Source
			}
			b.add(r, RuleSource{Kind: "entry", Entry: i, Peer: e.Peer.Summary(peerNetsShown), Ports: g.specs})
		}
	}
	return nil
}

// objects builds the policy object (staged or enforced) from the rules.
func (b *calicoRules) objects(n *allowlist.Namespace, opt Options) error {
	prof, pol := opt.Profile, b.pol
	order := prof.Policy.Order
	spec := v3.NetworkPolicySpec{
		Tier:     prof.Policy.Tier,
		Order:    &order,
		Selector: "all()",
		Types:    []v3.PolicyType{v3.PolicyTypeEgress},
		Egress:   b.rules,
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
	if len(b.domainRules) > 0 {
		obj, err := withDomains(pol.Objects[len(pol.Objects)-1], b.domainRules)
		if err != nil {
			return err
		}
		pol.Objects[len(pol.Objects)-1] = obj
	}
	return nil
}

func calicoDNSRules(prof *profile.Profile) []v3.Rule {
	var rules []v3.Rule
	port := []numorstring.Port{numorstring.SinglePort(prof.DNS.Port)}
	for _, proto := range []string{"UDP", "TCP"} {
		p := numorstring.ProtocolFromString(proto)
		var dsts []v3.EntityRule
		if prof.DNS.Form == profile.DNSFormSelector {
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
func dnsPortSpec(proto string, prof *profile.Profile) string {
	return fmt.Sprintf("%s/%d", proto, prof.DNS.Port)
}

func nsSelector(ns string) string { return "kubernetes.io/metadata.name == '" + ns + "'" }

func labelsSelector(l map[string]string) string {
	if len(l) == 0 {
		return "all()"
	}
	return allowlist.LabelSelector(l)
}

// skip records an entry that cannot be rendered; other errors are returned.
func (pol *Policy) skip(i int, e allowlist.Entry, err error) bool {
	var ee *entryError
	if !errors.As(err, &ee) {
		return false
	}
	pol.Unrenderable = append(pol.Unrenderable, Unrenderable{Entry: i, Peer: e.Peer.Summary(peerNetsShown), Ports: portNames(e), Reason: ee.msg})
	return true
}

// setKey is how Facts.NetworkSetNets names a network set.
func setKey(p allowlist.Peer) string {
	if p.Kind == allowlist.PeerNetworkSet {
		return p.Namespace + "/" + p.Name
	}
	return p.Name
}

func calicoDestinations(ownNS string, e allowlist.Entry, prof *profile.Profile, facts *Facts) ([]v3.EntityRule, []string, error) {
	p := e.Peer
	switch p.Kind {
	case allowlist.PeerNamespace:
		d := v3.EntityRule{Selector: labelsSelector(p.Labels)}
		if p.Namespace != ownNS {
			d.NamespaceSelector = nsSelector(p.Namespace)
		}
		return []v3.EntityRule{d}, nil, nil
	case allowlist.PeerNetworkSet, allowlist.PeerGlobalNetworkSet:
		if len(p.Labels) == 0 {
			var nets []string
			if facts != nil {
				nets = facts.NetworkSetNets[setKey(p)]
			}
			if len(nets) == 0 {
				return nil, nil, cannot("the flow logs recorded no labels for this network set, so no selector can match it safely; label the set (kubectl label %s), observe again and remove this entry, or add the set's labels to the entry in the allowlist file, or pass cluster facts that have the set (--cluster snapshot or a kubeconfig) so that its CIDRs can be used", setKind(p))
			}
			targets, err := setTargets(nets)
			if err != nil {
				return nil, nil, err
			}
			out := make([]v3.EntityRule, len(targets))
			for i, t := range targets {
				out[i] = v3.EntityRule{Nets: t.nets}
			}
			return out, []string{fmt.Sprintf("%s: the flow logs recorded no labels for this network set, so it renders as the set's CIDRs in the cluster facts (%s); a later change of the set is not followed until you render again: label the set to select it instead", entryLabel(e), strings.Join(nets, ", "))}, nil
		}
		d := v3.EntityRule{Selector: allowlist.LabelSelector(p.Labels)}
		if p.Kind == allowlist.PeerGlobalNetworkSet {
			d.NamespaceSelector = "global()"
		} else if p.Namespace != ownNS {
			d.NamespaceSelector = nsSelector(p.Namespace)
		}
		return []v3.EntityRule{d}, nil, nil
	case allowlist.PeerPrivate, allowlist.PeerPublic, allowlist.PeerHost, allowlist.PeerSpecial:
		targets, warns, err := peerNets(e, prof, facts)
		if err != nil {
			return nil, nil, err
		}
		out := make([]v3.EntityRule, len(targets))
		for i, t := range targets {
			out[i] = v3.EntityRule{Nets: t.nets, NotNets: t.notNets}
		}
		return out, warns, nil
	}
	return nil, nil, cannot("peer kind %q cannot be rendered", p.Kind)
}

// setKind names a network set for kubectl ("globalnetworkset telegram").
func setKind(p allowlist.Peer) string {
	if p.Kind == allowlist.PeerNetworkSet {
		return "networkset -n " + p.Namespace + " " + p.Name + " KEY=VALUE"
	}
	return "globalnetworkset " + p.Name + " KEY=VALUE"
}

// setTargets splits a network set's CIDRs (cluster facts) by family.
func setTargets(nets []string) ([]netTarget, error) {
	ps := make([]netip.Prefix, 0, len(nets))
	for _, c := range nets {
		pr, err := profile.ParsePrefix(c)
		if err != nil {
			return nil, cannot("the cluster facts give the set an invalid CIDR: %v", err)
		}
		ps = append(ps, pr)
	}
	return splitFamilies(allowlist.AggregatePrefixes(ps)), nil
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
	for i, e := range n.RenderedEgress() {
		if e.Peer.Kind == allowlist.PeerDNS || len(e.Ports) == 0 {
			continue
		}
		groups, err := groupPorts(e)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
		}
		peers, warns, err := k8sPeers(n.Namespace, e, prof, opt.Facts)
		if err == nil {
			for _, g := range groups {
				if g.proto != flows.ProtoTCP && g.proto != flows.ProtoUDP && g.proto != flows.ProtoSCTP {
					err = cannot("protocol %s cannot be expressed in a Kubernetes NetworkPolicy (only TCP, UDP and SCTP); use --flavor calico", g.proto.CalicoName())
					break
				}
			}
		}
		if err != nil {
			if !pol.skip(i, e, err) {
				return nil, fmt.Errorf("namespace %s: egress[%d]: %w", n.Namespace, i, err)
			}
			continue
		}
		pol.Warnings = append(pol.Warnings, warns...)
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
		add(r, RuleSource{Kind: "entry", Entry: i, Peer: e.Peer.Summary(peerNetsShown), Ports: specs})
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

func k8sDNSRule(prof *profile.Profile) (networkingv1.NetworkPolicyEgressRule, error) {
	var r networkingv1.NetworkPolicyEgressRule
	if prof.DNS.Form == profile.DNSFormSelector {
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

func k8sPeers(ownNS string, e allowlist.Entry, prof *profile.Profile, facts *Facts) ([]networkingv1.NetworkPolicyPeer, []string, error) {
	p := e.Peer
	switch p.Kind {
	case allowlist.PeerNamespace:
		peer := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: copyMap(p.Labels)}}
		if p.Namespace != ownNS {
			peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": p.Namespace}}
		}
		return []networkingv1.NetworkPolicyPeer{peer}, nil, nil
	case allowlist.PeerNetworkSet, allowlist.PeerGlobalNetworkSet:
		var nets []string
		if facts != nil {
			nets = facts.NetworkSetNets[setKey(p)]
		}
		if len(nets) == 0 {
			return nil, nil, cannot("a Kubernetes NetworkPolicy cannot select a Calico network set; its CIDRs are needed (pass cluster facts that have the set: --cluster snapshot or a kubeconfig), or use --flavor calico")
		}
		var out []networkingv1.NetworkPolicyPeer
		for _, c := range nets {
			out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
		}
		return out, nil, nil
	case allowlist.PeerPrivate, allowlist.PeerPublic, allowlist.PeerHost, allowlist.PeerSpecial:
		targets, warn, err := peerNets(e, prof, facts)
		if err != nil {
			return nil, nil, err
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
	return nil, nil, cannot("peer kind %q cannot be rendered", p.Kind)
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
