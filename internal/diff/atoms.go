package diff

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	apiv3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/projectcalico/api/pkg/lib/numorstring"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// Own is the namespace selector of a namespaced policy's rule that names
// no namespaceSelector: the policy's own namespace.
const Own = "own"

// Peer is a rule's destination, and every other condition of the rule
// except its nets and ports, in canonical form: selectors as
// selector.String() gives them, address lists aggregated and sorted. Two
// rules with equal Peers differ only in the addresses and ports they allow.
type Peer struct {
	// NamespaceSelector is canonical, Own (the policy's namespace), or
	// empty (no endpoint constraint, or any namespace in a global policy).
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// Selector is canonical; all() when only namespaces are selected.
	Selector        string `json:"selector,omitempty"`
	NotSelector     string `json:"notSelector,omitempty"`
	NotNets         string `json:"notNets,omitempty"`
	Services        string `json:"services,omitempty"`
	ServiceAccounts string `json:"serviceAccounts,omitempty"`
	// Extra holds the remaining conditions (notPorts, notProtocol,
	// ipVersion, icmp, source, http), canonical text.
	Extra string `json:"extra,omitempty"`
}

// endpointConstraint reports whether the peer selects endpoints (pods,
// network sets, services) rather than only addresses.
func (p Peer) endpointConstraint() bool {
	return p.NamespaceSelector != "" || p.Selector != "" || p.NotSelector != "" || p.Services != "" || p.ServiceAccounts != ""
}

// Group identifies rules whose allowed regions are comparable: the same
// action, subject (the pods the policy applies to), protocol and peer.
type Group struct {
	Action   string `json:"action"`
	Subject  string `json:"subject"`
	Protocol string `json:"protocol"`
	Peer     Peer   `json:"peer"`
}

// portRange is an inclusive port range.
type portRange struct{ lo, hi uint16 }

// rect is the region one rule allows within its group: addresses x ports.
// Nil nets means any address; nil ports and named means any port.
type rect struct {
	nets  []netip.Prefix
	ports []portRange
	named []string
}

func (r rect) anyPort() bool { return r.ports == nil && r.named == nil }

type atom struct {
	group Group
	rect  rect
}

// policyObj is one policy (or Tier) with what the diff compares.
type policyObj struct {
	// Family groups kinds that are one object across promotion: calico
	// (NetworkPolicy, StagedNetworkPolicy), global (the global kinds),
	// k8s (networking.k8s.io NetworkPolicy, StagedKubernetesNetworkPolicy)
	// and tier.
	Family    string
	Kind      string
	Namespace string
	Name      string
	Source    string
	Managed   bool
	Labels    map[string]string
	// Attributes compared at the policy level, rendered as text.
	Attrs map[string]string
	// Egress says the policy governs egress (atoms are its egress rules).
	Egress bool
	atoms  []atom
	// nsSelector is a global policy's namespaceSelector as written.
	nsSelector string
}

// ID is "Kind ns/name".
func (p *policyObj) ID() string {
	if p.Namespace == "" {
		return p.Kind + " " + p.Name
	}
	return p.Kind + " " + p.Namespace + "/" + p.Name
}

func (p *policyObj) key() string { return p.Family + "\x00" + p.Namespace + "\x00" + p.Name }

// decodeObject turns one object's JSON into a policyObj; nil for kinds the
// diff does not compare.
func decodeObject(apiVersion, kind string, js []byte, source string) (*policyObj, error) {
	switch {
	case apiVersion == "projectcalico.org/v3" || apiVersion == "crd.projectcalico.org/v1":
		switch kind {
		case "NetworkPolicy", "StagedNetworkPolicy":
			var o struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     struct {
					apiv3.NetworkPolicySpec
					StagedAction string `json:"stagedAction"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(js, &o); err != nil {
				return nil, err
			}
			p := newObj("calico", kind, &o.Metadata, source)
			if kind == "StagedNetworkPolicy" {
				p.Attrs["stagedAction"] = defaultString(o.Spec.StagedAction, "Set")
			}
			return p, p.calico(&o.Spec.NetworkPolicySpec.Tier, o.Spec.Order, o.Spec.Types, o.Spec.Selector, "", o.Spec.ServiceAccountSelector, o.Spec.Ingress, o.Spec.Egress)
		case "GlobalNetworkPolicy", "StagedGlobalNetworkPolicy":
			var o struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     struct {
					apiv3.GlobalNetworkPolicySpec
					StagedAction string `json:"stagedAction"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(js, &o); err != nil {
				return nil, err
			}
			o.Metadata.Namespace = ""
			p := newObj("global", kind, &o.Metadata, source)
			if kind == "StagedGlobalNetworkPolicy" {
				p.Attrs["stagedAction"] = defaultString(o.Spec.StagedAction, "Set")
			}
			s := &o.Spec.GlobalNetworkPolicySpec
			return p, p.calico(&s.Tier, s.Order, s.Types, s.Selector, s.NamespaceSelector, s.ServiceAccountSelector, s.Ingress, s.Egress)
		case "StagedKubernetesNetworkPolicy":
			var o apiv3.StagedKubernetesNetworkPolicy
			if err := json.Unmarshal(js, &o); err != nil {
				return nil, err
			}
			np := networkingv1.NetworkPolicy{ObjectMeta: o.ObjectMeta, Spec: networkingv1.NetworkPolicySpec{
				PodSelector: o.Spec.PodSelector, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress, PolicyTypes: o.Spec.PolicyTypes}}
			p := newObj("k8s", kind, &np.ObjectMeta, source)
			p.Attrs["stagedAction"] = defaultString(string(o.Spec.StagedAction), "Set")
			return p, p.k8s(&np)
		case "Tier":
			var o apiv3.Tier
			if err := json.Unmarshal(js, &o); err != nil {
				return nil, err
			}
			p := newObj("tier", kind, &o.ObjectMeta, source)
			p.Attrs["order"] = floatString(o.Spec.Order)
			da := "Deny"
			if o.Spec.DefaultAction != nil {
				da = string(*o.Spec.DefaultAction)
			}
			p.Attrs["defaultAction"] = da
			return p, nil
		}
	case apiVersion == "networking.k8s.io/v1" && kind == "NetworkPolicy":
		var np networkingv1.NetworkPolicy
		if err := json.Unmarshal(js, &np); err != nil {
			return nil, err
		}
		p := newObj("k8s", "KubernetesNetworkPolicy", &np.ObjectMeta, source)
		return p, p.k8s(&np)
	}
	return nil, nil
}

func newObj(family, kind string, m *metav1.ObjectMeta, source string) *policyObj {
	return &policyObj{Family: family, Kind: kind, Namespace: m.Namespace, Name: m.Name, Source: source,
		Labels: m.Labels, Attrs: map[string]string{}}
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func floatString(f *float64) string {
	if f == nil {
		return "(none)"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// canonSel returns the canonical form of a selector ("" stays "").
func canonSel(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	sel, err := selector.Parse(s)
	if err != nil {
		return "", err
	}
	return sel.String(), nil
}

func (p *policyObj) calico(tier *string, order *float64, types []apiv3.PolicyType, sel, nsSel, saSel string, ingress, egress []apiv3.Rule) error {
	p.Attrs["tier"] = defaultString(*tier, "default")
	p.Attrs["order"] = floatString(order)
	p.nsSelector = nsSel
	subject, err := canonSel(sel)
	if err != nil {
		return fmt.Errorf("spec.selector: %w", err)
	}
	if subject == "" {
		subject = "all()"
	}
	if nsSel != "" {
		c, err := canonSel(nsSel)
		if err != nil {
			return fmt.Errorf("spec.namespaceSelector: %w", err)
		}
		subject = "namespaces " + c + ": " + subject
	}
	if saSel != "" {
		c, err := canonSel(saSel)
		if err != nil {
			return fmt.Errorf("spec.serviceAccountSelector: %w", err)
		}
		subject += " with service accounts " + c
	}
	p.Attrs["selector"] = subject
	var in, eg bool
	if len(types) == 0 {
		in, eg = len(ingress) > 0 || len(egress) == 0, len(egress) > 0
	}
	for _, t := range types {
		in = in || t == apiv3.PolicyTypeIngress
		eg = eg || t == apiv3.PolicyTypeEgress
	}
	p.Attrs["types"] = typesString(in, eg)
	p.Egress = eg
	if !eg {
		return nil
	}
	for i := range egress {
		a, err := calicoRule(&egress[i], subject, p.Namespace != "")
		if err != nil {
			return fmt.Errorf("spec.egress[%d]: %w", i, err)
		}
		p.atoms = append(p.atoms, a)
	}
	return nil
}

func typesString(in, eg bool) string {
	var t []string
	if in {
		t = append(t, "Ingress")
	}
	if eg {
		t = append(t, "Egress")
	}
	return "[" + strings.Join(t, ", ") + "]"
}

// protoName is a rule protocol in Calico's spelling (flows.Protocol's
// CalicoName for the protocols Calico names), "any" for none, or as written.
func protoName(p *numorstring.Protocol) string {
	if p == nil {
		return "any"
	}
	s := p.String()
	if n := calicoProtoName(s); n != "" {
		return n
	}
	if v, err := strconv.Atoi(s); err == nil && v >= 0 && v <= 255 {
		if n := flows.Protocol(v).CalicoName(); n != strconv.Itoa(v) {
			return n
		}
	}
	return s
}

// calicoProtoName is Calico's spelling of a protocol name in any case; ""
// when it names none.
func calicoProtoName(s string) string {
	if p, _, ok := flows.ParseCalicoProtocolName(s); ok {
		return p.CalicoName()
	}
	return ""
}

func hasPorts(proto string) bool {
	p, exact, ok := flows.ParseCalicoProtocolName(proto)
	return ok && exact && p.HasPorts()
}

func parseNets(field string, in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR", field, s)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func netsString(ps []netip.Prefix) string {
	ps = allowlist.AggregatePrefixes(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func calicoPorts(ps []numorstring.Port) ([]portRange, []string) {
	var ranges []portRange
	var named []string
	for _, p := range ps {
		if p.PortName != "" {
			named = append(named, p.PortName)
			continue
		}
		ranges = append(ranges, portRange{p.MinPort, p.MaxPort})
	}
	sort.Strings(named)
	return ranges, named
}

func portsText(ps []numorstring.Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func calicoRule(r *apiv3.Rule, subject string, namespaced bool) (atom, error) {
	a := atom{group: Group{Action: string(r.Action), Subject: subject, Protocol: protoName(r.Protocol)}}
	d := &r.Destination
	nets, err := parseNets("destination.nets", d.Nets)
	if err != nil {
		return a, err
	}
	a.rect.nets = nets
	notNets, err := parseNets("destination.notNets", d.NotNets)
	if err != nil {
		return a, err
	}
	pk := &a.group.Peer
	pk.NotNets = netsString(notNets)
	if pk.Selector, err = canonSel(d.Selector); err != nil {
		return a, fmt.Errorf("destination.selector: %w", err)
	}
	if pk.NotSelector, err = canonSel(d.NotSelector); err != nil {
		return a, fmt.Errorf("destination.notSelector: %w", err)
	}
	if pk.NamespaceSelector, err = canonSel(d.NamespaceSelector); err != nil {
		return a, fmt.Errorf("destination.namespaceSelector: %w", err)
	}
	if sa := d.ServiceAccounts; sa != nil {
		names := append([]string(nil), sa.Names...)
		sort.Strings(names)
		s, err := canonSel(sa.Selector)
		if err != nil {
			return a, fmt.Errorf("destination.serviceAccounts.selector: %w", err)
		}
		pk.ServiceAccounts = strings.Join(names, ",") + ";" + s
	}
	// Calico's meaning of the namespace selector: in a namespaced policy an
	// endpoint selector without one means the policy's namespace; a
	// namespace selector without an endpoint selector means every endpoint
	// in those namespaces.
	if pk.Selector != "" || pk.NotSelector != "" || pk.NamespaceSelector != "" || pk.ServiceAccounts != "" {
		if pk.NamespaceSelector == "" && namespaced {
			pk.NamespaceSelector = Own
		}
		if pk.Selector == "" {
			pk.Selector = "all()"
		}
	}
	if d.Services != nil {
		pk.Services = d.Services.Namespace + "/" + d.Services.Name
	}
	if hasPorts(a.group.Protocol) {
		a.rect.ports, a.rect.named = calicoPorts(d.Ports)
	}
	var extra []string
	if len(d.NotPorts) > 0 {
		extra = append(extra, "notPorts "+portsText(d.NotPorts))
	}
	if r.NotProtocol != nil {
		extra = append(extra, "notProtocol "+protoName(r.NotProtocol))
	}
	if r.IPVersion != nil {
		extra = append(extra, fmt.Sprintf("ipVersion %d", *r.IPVersion))
	}
	if r.ICMP != nil {
		extra = append(extra, "icmp "+icmpText(r.ICMP))
	}
	if r.NotICMP != nil {
		extra = append(extra, "notICMP "+icmpText(r.NotICMP))
	}
	if src, _ := json.Marshal(r.Source); string(src) != "{}" {
		extra = append(extra, "source "+string(src))
	}
	if r.HTTP != nil {
		h, _ := json.Marshal(r.HTTP)
		extra = append(extra, "http "+string(h))
	}
	a.group.Peer.Extra = strings.Join(extra, "; ")
	return a, nil
}

func icmpText(f *apiv3.ICMPFields) string {
	var s []string
	if f.Type != nil {
		s = append(s, fmt.Sprintf("type %d", *f.Type))
	}
	if f.Code != nil {
		s = append(s, fmt.Sprintf("code %d", *f.Code))
	}
	return strings.Join(s, " ")
}

func (p *policyObj) k8s(np *networkingv1.NetworkPolicy) error {
	p.Attrs["tier"] = "default"
	p.Attrs["order"] = "1000"
	sub, err := selector.FromLabelSelector(&np.Spec.PodSelector)
	if err != nil {
		return fmt.Errorf("spec.podSelector: %w", err)
	}
	subject := sub.String()
	p.Attrs["selector"] = subject
	in, eg := len(np.Spec.PolicyTypes) == 0, len(np.Spec.PolicyTypes) == 0 && len(np.Spec.Egress) > 0
	for _, t := range np.Spec.PolicyTypes {
		in = in || t == networkingv1.PolicyTypeIngress
		eg = eg || t == networkingv1.PolicyTypeEgress
	}
	p.Attrs["types"] = typesString(in, eg)
	p.Egress = eg
	if !eg {
		return nil
	}
	for i, r := range np.Spec.Egress {
		atoms, err := k8sRule(r, subject)
		if err != nil {
			return fmt.Errorf("spec.egress[%d]: %w", i, err)
		}
		p.atoms = append(p.atoms, atoms...)
	}
	return nil
}

// k8sRule converts a Kubernetes egress rule the way Calico does: one Allow
// per peer and protocol.
func k8sRule(r networkingv1.NetworkPolicyEgressRule, subject string) ([]atom, error) {
	type protoPorts struct {
		proto  string
		anyPrt bool
		rect   rect
	}
	var pps []*protoPorts
	if len(r.Ports) == 0 {
		pps = append(pps, &protoPorts{proto: "any", anyPrt: true})
	} else {
		by := map[string]*protoPorts{}
		for _, p := range r.Ports {
			proto := "TCP"
			if p.Protocol != nil {
				proto = calicoProtoName(string(*p.Protocol))
				if proto == "" {
					proto = string(*p.Protocol)
				}
			}
			pp := by[proto]
			if pp == nil {
				pp = &protoPorts{proto: proto}
				by[proto] = pp
				pps = append(pps, pp)
			}
			switch {
			case p.Port == nil:
				pp.anyPrt = true // every port of the protocol
			case p.Port.Type == intstr.String:
				pp.rect.named = append(pp.rect.named, p.Port.StrVal)
			default:
				hi := uint16(p.Port.IntVal)
				if p.EndPort != nil {
					hi = uint16(*p.EndPort)
				}
				pp.rect.ports = append(pp.rect.ports, portRange{uint16(p.Port.IntVal), hi})
			}
		}
		sort.Slice(pps, func(i, j int) bool { return pps[i].proto < pps[j].proto })
	}
	peers := r.To
	if len(peers) == 0 {
		peers = []networkingv1.NetworkPolicyPeer{{}}
	}
	var out []atom
	for i, peer := range peers {
		var pk Peer
		var nets []netip.Prefix
		switch {
		case peer.IPBlock != nil:
			var err error
			if nets, err = parseNets(fmt.Sprintf("to[%d].ipBlock.cidr", i), []string{peer.IPBlock.CIDR}); err != nil {
				return nil, err
			}
			ex, err := parseNets(fmt.Sprintf("to[%d].ipBlock.except", i), peer.IPBlock.Except)
			if err != nil {
				return nil, err
			}
			pk.NotNets = netsString(ex)
		case peer.NamespaceSelector != nil || peer.PodSelector != nil:
			pod, err := selector.FromLabelSelector(peer.PodSelector)
			if err != nil {
				return nil, fmt.Errorf("to[%d].podSelector: %w", i, err)
			}
			pk.Selector = pod.String()
			pk.NamespaceSelector = Own
			if peer.NamespaceSelector != nil {
				ns, err := selector.FromLabelSelector(peer.NamespaceSelector)
				if err != nil {
					return nil, fmt.Errorf("to[%d].namespaceSelector: %w", i, err)
				}
				pk.NamespaceSelector = ns.String()
			}
		}
		for _, pp := range pps {
			rc := pp.rect
			if pp.anyPrt || !hasPorts(pp.proto) {
				rc = rect{}
			}
			sort.Strings(rc.named)
			rc.nets = nets
			out = append(out, atom{group: Group{Action: "Allow", Subject: subject, Protocol: pp.proto, Peer: pk}, rect: rc})
		}
	}
	return out, nil
}
