package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// k8sPolicy converts a networking.k8s.io/v1 NetworkPolicy the way
// libcalico-go's converter does: a NetworkPolicy in the default tier at
// order 1000 whose selector requires projectcalico.org/orchestrator == 'k8s',
// with one Allow rule per (protocol, peer) pair of every Kubernetes rule.
func (l *Loader) k8sPolicy(set *Set, d *diag, np *networkingv1.NetworkPolicy) {
	l.k8sCommon(set, d, np, KindKubernetesNetworkPolicy, "")
}

func (l *Loader) stagedK8sPolicy(set *Set, d *diag, np *networkingv1.NetworkPolicy, stagedAction string) {
	l.k8sCommon(set, d, np, KindStagedKubernetesNetworkPolicy, stagedAction)
}

func (l *Loader) k8sCommon(set *Set, d *diag, np *networkingv1.NetworkPolicy, kind Kind, stagedAction string) {
	ns := l.namespaceOf(d, &np.ObjectMeta)
	order := float64(KubernetesPolicyOrder)
	p := &Policy{Kind: kind, Namespace: ns, Name: np.Name, Tier: TierDefault, Order: &order, Source: d.source()}
	if np.Name == "" {
		d.fatalf("metadata.name", "missing name")
	}
	for _, msg := range k8svalidation.IsDNS1123Subdomain(np.Name) {
		d.errf("metadata.name", "%s", msg)
	}
	if kind.Staged() {
		p.StagedAction = validateStagedAction(d, stagedAction)
		if p.StagedAction == StagedDelete && !reflect.DeepEqual(np.Spec, networkingv1.NetworkPolicySpec{}) {
			d.errf("spec", "spec fields must all be empty when stagedAction is Delete")
		}
	}
	// Kubernetes API defaulting: no policyTypes means Ingress, plus Egress
	// when there are egress rules.
	if len(np.Spec.PolicyTypes) == 0 {
		p.Ingress, p.Egress = true, len(np.Spec.Egress) > 0
	}
	for i, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.Ingress = true
		case networkingv1.PolicyTypeEgress:
			p.Egress = true
		default:
			d.errf(fmt.Sprintf("spec.policyTypes[%d]", i), "invalid policy type %q", t)
		}
	}
	if !p.Egress && len(np.Spec.Egress) > 0 {
		d.warnf("spec.egress", "egress rules are ignored: policyTypes does not include Egress")
	}
	podSel, ok := k8sSelector(d, "spec.podSelector", &np.Spec.PodSelector, true)
	if !ok {
		return
	}
	p.Selector = selector.And(podSel, selector.Eq(LabelNamespace, ns))
	for i := range np.Spec.Ingress {
		r := &np.Spec.Ingress[i]
		p.ingress = append(p.ingress, l.k8sRule(d, fmt.Sprintf("spec.ingress[%d]", i), "from", ns, r.From, r.Ports, dirIngress)...)
	}
	for i := range np.Spec.Egress {
		r := &np.Spec.Egress[i]
		p.egress = append(p.egress, l.k8sRule(d, fmt.Sprintf("spec.egress[%d]", i), "to", ns, r.To, r.Ports, dirEgress)...)
	}
	l.finishPolicy(set, d, p)
}

// k8sSelector converts a LabelSelector. For pods the result always requires
// projectcalico.org/orchestrator == 'k8s'. For namespaces a nil selector
// returns nil (the policy's own namespace) and an empty one all().
func k8sSelector(d *diag, f string, s *metav1.LabelSelector, pod bool) (*selector.Selector, bool) {
	if s == nil {
		if pod {
			return selector.Eq(LabelOrchestrator, OrchestratorK8s), true
		}
		return nil, true
	}
	for i, e := range s.MatchExpressions {
		if (e.Operator == metav1.LabelSelectorOpIn || e.Operator == metav1.LabelSelectorOpNotIn) && len(e.Values) == 0 {
			d.errf(fmt.Sprintf("%s.matchExpressions[%d].values", f, i), "values must be non-empty for operator %s", e.Operator)
		}
	}
	sel, err := selector.FromLabelSelector(s)
	if err != nil {
		var le *selector.LabelSelectorError
		if errors.As(err, &le) {
			d.fatalf(fmt.Sprintf("%s.matchExpressions[%d].operator", f, le.Index), "%s", le.Msg)
		} else {
			d.fatalf(f, "%v", err)
		}
		return nil, false
	}
	if pod {
		sel = selector.And(selector.Eq(LabelOrchestrator, OrchestratorK8s), sel)
	}
	return sel, true
}

type k8sProtoPorts struct {
	proto uint8 // 0: any protocol (no ports given)
	all   bool
	ports portMatch
}

func k8sProto(p *corev1.Protocol) (uint8, bool) {
	if p == nil {
		return uint8(ProtoTCP), true
	}
	switch *p {
	case corev1.ProtocolTCP:
		return uint8(ProtoTCP), true
	case corev1.ProtocolUDP:
		return uint8(ProtoUDP), true
	case corev1.ProtocolSCTP:
		return uint8(ProtoSCTP), true
	}
	return 0, false
}

// k8sRule converts one Kubernetes ingress/egress rule into Calico rules (a
// rule's index among the policy's converted rules is Calico's rule index in
// traces). A rule Calico's converter cannot convert is dropped.
func (l *Loader) k8sRule(d *diag, f, peerField, ns string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, dir direction) []rule {
	groups, ok := k8sPortGroups(d, f, ports)
	if !ok {
		return nil
	}
	peerEntities, ok := k8sPeers(d, f, peerField, ns, peers)
	if !ok {
		return nil
	}
	var out []rule
	for _, g := range groups {
		for _, pe := range peerEntities {
			r := rule{action: actAllow, proto: g.proto}
			var portEnt *entity
			if dir == dirIngress {
				r.src = pe
				portEnt = &r.dst
			} else {
				r.dst = pe
				portEnt = &r.dst
			}
			if !g.all {
				portEnt.ports = g.ports
			}
			r.namedPortIn = len(portEnt.ports.named) > 0
			out = append(out, r)
		}
	}
	return out
}

// k8sPortGroups groups a rule's ports by protocol, in Calico's order; a port
// entry without a number opens every port of its protocol; no port entries
// at all open every protocol. false: the rule is dropped.
func k8sPortGroups(d *diag, f string, ports []networkingv1.NetworkPolicyPort) ([]*k8sProtoPorts, bool) {
	var groups []*k8sProtoPorts
	if len(ports) == 0 {
		groups = []*k8sProtoPorts{{all: true}}
	}
	for i := range ports {
		pp := &ports[i]
		pf := fmt.Sprintf("%s.ports[%d]", f, i)
		proto, ok := k8sProto(pp.Protocol)
		if !ok {
			d.errf(pf+".protocol", "invalid protocol %q (want TCP, UDP or SCTP); rule dropped", *pp.Protocol)
			return nil, false
		}
		var g *k8sProtoPorts
		for _, x := range groups {
			if x.proto == proto {
				g = x
			}
		}
		if g == nil {
			g = &k8sProtoPorts{proto: proto}
			groups = append(groups, g)
		}
		if !g.add(d, pf, pp) {
			return nil, false
		}
	}
	// Calico emits protocols in sorted order of their names.
	slices.SortFunc(groups, func(a, b *k8sProtoPorts) int {
		return compareStrings(protoName(a.proto), protoName(b.proto))
	})
	return groups, true
}

// add adds one port entry to its protocol's group; false: the rule is dropped.
func (g *k8sProtoPorts) add(d *diag, pf string, pp *networkingv1.NetworkPolicyPort) bool {
	if pp.Port == nil {
		if pp.EndPort != nil {
			d.errf(pf+".endPort", "endPort requires port")
		}
		g.all = true
		return true
	}
	if pp.Port.Type == intstr.String { // a named port
		if pp.EndPort != nil {
			// Calico's converter cannot express "name:end" and drops the rule.
			d.errf(pf+".endPort", "endPort cannot be used with a named port; Calico drops this rule")
			return false
		}
		if !portNameRegex.MatchString(pp.Port.StrVal) {
			d.errf(pf+".port", "invalid port name %q; rule dropped", pp.Port.StrVal)
			return false
		}
		g.ports.named = append(g.ports.named, pp.Port.StrVal)
		return true
	}
	lo := pp.Port.IntVal
	hi := lo
	if pp.EndPort != nil {
		hi = *pp.EndPort
		if hi < lo {
			d.errf(pf+".endPort", "endPort %d is below port %d; rule dropped", hi, lo)
			return false
		}
	}
	if lo < 1 || hi > 65535 {
		d.errf(pf+".port", "port %d-%d out of range 1-65535; rule dropped", lo, hi)
		return false
	}
	g.ports.ranges = append(g.ports.ranges, portRange{uint16(lo), uint16(hi)})
	return true
}

// k8sPeers converts a rule's peers to entities (no peers: everything);
// false: the rule is dropped.
func k8sPeers(d *diag, f, peerField, ns string, peers []networkingv1.NetworkPolicyPeer) ([]entity, bool) {
	var peerEntities []entity
	if len(peers) == 0 {
		peerEntities = []entity{{}}
	}
	for i := range peers {
		pe := &peers[i]
		ef := fmt.Sprintf("%s.%s[%d]", f, peerField, i)
		var e entity
		var ok bool
		if pe.IPBlock != nil {
			if pe.PodSelector != nil || pe.NamespaceSelector != nil {
				d.errf(ef, "ipBlock cannot be combined with podSelector or namespaceSelector")
			}
			ok = k8sIPBlock(d, ef, pe.IPBlock, &e)
		} else {
			e.sel, ok = k8sPeerSelector(d, ef, ns, pe)
		}
		if !ok {
			return nil, false
		}
		peerEntities = append(peerEntities, e)
	}
	return peerEntities, true
}

func k8sIPBlock(d *diag, ef string, b *networkingv1.IPBlock, e *entity) bool {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		d.errf(ef+".ipBlock.cidr", "invalid CIDR %q; rule dropped", b.CIDR)
		return false
	}
	e.nets = []netip.Prefix{cidr.Masked()}
	for j, ex := range b.Except {
		xp, err := netip.ParsePrefix(ex)
		if err != nil {
			d.errf(fmt.Sprintf("%s.ipBlock.except[%d]", ef, j), "invalid CIDR %q; rule dropped", ex)
			return false
		}
		if !cidr.Masked().Contains(xp.Addr()) || xp.Bits() < cidr.Bits() {
			d.errf(fmt.Sprintf("%s.ipBlock.except[%d]", ef, j), "%s is not inside %s", ex, b.CIDR)
		}
		e.notNets = append(e.notNets, xp.Masked())
	}
	return true
}

func k8sPeerSelector(d *diag, ef, ns string, pe *networkingv1.NetworkPolicyPeer) (*selector.Selector, bool) {
	podSel, ok := k8sSelector(d, ef+".podSelector", pe.PodSelector, true)
	if !ok {
		return nil, false
	}
	nsSel, ok := k8sSelector(d, ef+".namespaceSelector", pe.NamespaceSelector, false)
	if !ok {
		return nil, false
	}
	if nsSel != nil {
		nsSel = nsSel.WithPrefix(NamespaceLabelPrefix).SubstituteAll(selAllNamespaced)
	} else {
		nsSel = selector.Eq(LabelNamespace, ns)
	}
	return selector.And(nsSel, podSel), true
}

func protoName(p uint8) string {
	if p == 0 {
		return ""
	}
	return Protocol(p).CalicoName()
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
