package policy

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/calico-plan/calico-plan/flows"
	apiv3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/projectcalico/api/pkg/lib/numorstring"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// Name formats from libcalico-go's v3 validator (Calico v3.31).
const nameLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"

var (
	tierNameRegex       = regexp.MustCompile("^" + nameLabelFmt + "$")
	nsPolicyNameRegex   = regexp.MustCompile(`^((` + nameLabelFmt + `)(\.` + nameLabelFmt + `)?|((?:knp|ossg)\.default\.(` + nameLabelFmt + `(\.` + nameLabelFmt + `)*)))$`)
	globalPolicyNameRgx = regexp.MustCompile(`^(` + nameLabelFmt + `\.)?` + nameLabelFmt + `$`)
)

const maxNameLength = 253

var (
	selAllNamespaced = selector.Has(LabelNamespace)
	selNonNamespaced = selector.Not(selector.Has(LabelNamespace))
	selAllWithSA     = selector.Has(LabelServiceAccount)
)

type direction uint8

const (
	dirIngress direction = iota
	dirEgress
)

func (d direction) String() string {
	if d == dirIngress {
		return "ingress"
	}
	return "egress"
}

func (l *Loader) namespaceOf(d *diag, meta *metav1.ObjectMeta) string {
	if meta.Namespace != "" {
		return meta.Namespace
	}
	ns := l.DefaultNamespace
	if ns == "" {
		ns = "default"
	}
	if d.name != "" && !strings.Contains(d.name, "/") {
		d.name = ns + "/" + d.name
	}
	return ns
}

// keep reports whether an object with these diagnostics is loaded.
func (l *Loader) keep(d *diag) bool {
	if d.unusable {
		return false
	}
	return !d.invalid || l.AllowInvalid
}

func parseOrder(order *float64) float64 {
	if order == nil {
		return math.Inf(1)
	}
	return *order
}

// validatePolicyName applies Calico's name regex and the tiered-name rule.
func validatePolicyName(d *diag, name, tier string, global bool) {
	if name == "" {
		d.fatalf("metadata.name", "missing name")
		return
	}
	if len(name) > maxNameLength {
		d.errf("metadata.name", "name is too long by %d bytes", len(name)-maxNameLength)
	}
	re := nsPolicyNameRegex
	if global {
		re = globalPolicyNameRgx
	}
	if !re.MatchString(name) {
		d.errf("metadata.name", "name %q must consist of lower case alphanumeric characters or '-', with at most one '.' separating a tier prefix", name)
		return
	}
	if strings.HasPrefix(name, "knp.default.") || strings.HasPrefix(name, "ossg.") {
		return
	}
	t := tier
	if t == "" {
		t = TierDefault
	}
	prefix, _, dotted := strings.Cut(name, ".")
	switch {
	case !dotted && t == TierDefault:
	case dotted && prefix == t:
	case !dotted:
		d.errf("metadata.name", "policy in tier %q must be named %q", t, t+"."+name)
	default:
		d.errf("metadata.name", "name %q has tier prefix %q but the policy is in tier %q", name, prefix, t)
	}
}

func validateTypes(d *diag, types []apiv3.PolicyType) (ingress, egress bool) {
	for i, t := range types {
		f := fmt.Sprintf("spec.types[%d]", i)
		switch t {
		case apiv3.PolicyTypeIngress:
			if ingress {
				d.errf(f, "'Ingress' type specified more than once")
			}
			ingress = true
		case apiv3.PolicyTypeEgress:
			if egress {
				d.errf(f, "'Egress' type specified more than once")
			}
			egress = true
		default:
			d.errf(f, "invalid policy type %q (want Ingress or Egress)", t)
		}
	}
	return ingress, egress
}

// inferTypes applies the API server's defaulting and warns about rules that
// the explicit types make inert.
func inferTypes(d *diag, types []apiv3.PolicyType, nIngress, nEgress int) (ingress, egress bool) {
	if len(types) > 0 {
		ingress, egress = validateTypes(d, types)
		if !ingress && nIngress > 0 {
			d.warnf("spec.ingress", "ingress rules are ignored: types does not include Ingress")
		}
		if !egress && nEgress > 0 {
			d.warnf("spec.egress", "egress rules are ignored: types does not include Egress")
		}
		return ingress, egress
	}
	if nIngress == 0 && nEgress == 0 {
		d.warnf("spec.types", "policy has no rules and no types: Calico infers [Ingress]; a default-deny egress policy must set types: [Egress]")
	}
	return nIngress > 0 || nEgress == 0, nEgress > 0
}

func (l *Loader) parseSelector(d *diag, field, s string) *selector.Selector {
	sel, err := selector.Parse(s)
	if err != nil {
		d.fatalf(field, "%v", err)
		return nil
	}
	return sel
}

func validateStagedAction(d *diag, action string) string {
	switch action {
	case "":
		return StagedSet
	case StagedSet, StagedDelete, StagedLearn, StagedIgnore:
		return action
	}
	d.errf("spec.stagedAction", "invalid stagedAction %q (want Set, Delete, Learn or Ignore)", action)
	return StagedSet
}

// calicoNP handles NetworkPolicy and StagedNetworkPolicy.
func (l *Loader) calicoNP(set *Set, d *diag, kind Kind, meta *metav1.ObjectMeta, spec *apiv3.NetworkPolicySpec, stagedAction string) {
	ns := l.namespaceOf(d, meta)
	p := &Policy{Kind: kind, Namespace: ns, Name: meta.Name, Tier: spec.Tier, Order: spec.Order, Source: d.source()}
	if p.Tier == "" {
		p.Tier = TierDefault
	}
	validatePolicyName(d, meta.Name, spec.Tier, false)
	validateTierRef(d, spec.Tier)
	if kind.Staged() {
		p.StagedAction = validateStagedAction(d, stagedAction)
		if p.StagedAction == StagedDelete {
			empty := apiv3.NetworkPolicySpec{Tier: spec.Tier}
			if !equalJSON(empty, *spec) {
				d.errf("spec", "spec fields, except tier, must all be empty when stagedAction is Delete")
			}
		}
	}
	if p.StagedAction != StagedDelete {
		p.Ingress, p.Egress = inferTypes(d, spec.Types, len(spec.Ingress), len(spec.Egress))
	}
	if strings.Contains(spec.Selector, "global()") {
		d.errf("spec.selector", "global() can only be used in an EntityRule namespaceSelector")
	}
	if strings.Contains(spec.ServiceAccountSelector, "global()") {
		d.errf("spec.serviceAccountSelector", "global() can only be used in an EntityRule namespaceSelector")
	}
	// Effective selector, as libcalico-go's NetworkPolicy update processor
	// builds it.
	var parts []*selector.Selector
	if spec.Selector != "" {
		if s := l.parseSelector(d, "spec.selector", spec.Selector); s != nil {
			parts = append(parts, s)
		}
	}
	parts = append(parts, selector.Eq(LabelNamespace, ns))
	if spec.ServiceAccountSelector != "" {
		if s := l.parseSelector(d, "spec.serviceAccountSelector", spec.ServiceAccountSelector); s != nil {
			parts = append(parts, s.WithPrefix(ServiceAccountLabelPrefix))
		}
	}
	p.Selector = selector.And(parts...)
	cc := ruleCtx{policyNS: ns}
	p.ingress = l.rules(d, &cc, "spec.ingress", spec.Ingress, dirIngress)
	p.egress = l.rules(d, &cc, "spec.egress", spec.Egress, dirEgress)
	l.finishPolicy(set, d, p)
}

// calicoGNP handles GlobalNetworkPolicy and StagedGlobalNetworkPolicy.
func (l *Loader) calicoGNP(set *Set, d *diag, kind Kind, meta *metav1.ObjectMeta, spec *apiv3.GlobalNetworkPolicySpec, stagedAction string) {
	p := &Policy{Kind: kind, Name: meta.Name, Tier: spec.Tier, Order: spec.Order, Source: d.source(),
		DoNotTrack: spec.DoNotTrack, PreDNAT: spec.PreDNAT, ApplyOnForward: spec.ApplyOnForward}
	if p.Tier == "" {
		p.Tier = TierDefault
	}
	if meta.Namespace != "" {
		d.warnf("metadata.namespace", "%s is cluster-scoped; namespace %q is ignored", kind, meta.Namespace)
	}
	validatePolicyName(d, meta.Name, spec.Tier, true)
	validateTierRef(d, spec.Tier)
	if kind.Staged() {
		p.StagedAction = validateStagedAction(d, stagedAction)
		if p.StagedAction == StagedDelete {
			empty := apiv3.GlobalNetworkPolicySpec{Tier: spec.Tier}
			if !equalJSON(empty, *spec) {
				d.errf("spec", "spec fields, except tier, must all be empty when stagedAction is Delete")
			}
		}
	}
	if spec.DoNotTrack && spec.PreDNAT {
		d.errf("spec.preDNAT", "preDNAT and doNotTrack cannot both be true")
	}
	if spec.PreDNAT && len(spec.Egress) > 0 {
		d.errf("spec.egress", "a preDNAT policy cannot have egress rules")
	}
	if spec.PreDNAT && slices.Contains(spec.Types, apiv3.PolicyTypeEgress) {
		d.errf("spec.types", "a preDNAT policy cannot have the Egress type")
	}
	if !spec.ApplyOnForward && (spec.DoNotTrack || spec.PreDNAT) {
		d.errf("spec.applyOnForward", "applyOnForward must be true when preDNAT or doNotTrack is true")
	}
	if p.StagedAction != StagedDelete {
		p.Ingress, p.Egress = inferTypes(d, spec.Types, len(spec.Ingress), len(spec.Egress))
	}
	for _, fs := range [][2]string{{"spec.selector", spec.Selector}, {"spec.serviceAccountSelector", spec.ServiceAccountSelector}, {"spec.namespaceSelector", spec.NamespaceSelector}} {
		if strings.Contains(fs[1], "global()") {
			d.errf(fs[0], "global() can only be used in an EntityRule namespaceSelector")
		}
	}
	// Effective selector, as libcalico-go's GlobalNetworkPolicy update
	// processor builds it (including its textual all() replacements, which
	// apply to the whole combined selector).
	var sel *selector.Selector
	if spec.Selector != "" {
		sel = l.parseSelector(d, "spec.selector", spec.Selector)
	}
	if spec.NamespaceSelector != "" {
		if ns := l.parseSelector(d, "spec.namespaceSelector", spec.NamespaceSelector); ns != nil {
			sel = selector.And(sel, ns.WithPrefix(NamespaceLabelPrefix)).SubstituteAll(selAllNamespaced)
		}
	}
	if spec.ServiceAccountSelector != "" {
		if sa := l.parseSelector(d, "spec.serviceAccountSelector", spec.ServiceAccountSelector); sa != nil {
			sel = selector.And(sel, sa.WithPrefix(ServiceAccountLabelPrefix)).SubstituteAll(selAllWithSA)
		}
	}
	if sel == nil {
		sel = selector.All()
	}
	p.Selector = sel
	cc := ruleCtx{global: true}
	p.ingress = l.rules(d, &cc, "spec.ingress", spec.Ingress, dirIngress)
	p.egress = l.rules(d, &cc, "spec.egress", spec.Egress, dirEgress)
	l.finishPolicy(set, d, p)
}

func (l *Loader) finishPolicy(set *Set, d *diag, p *Policy) {
	p.order = parseOrder(p.Order)
	p.sortKey = policySortKey(p)
	if l.keep(d) {
		set.Policies = append(set.Policies, p)
	}
}

// policySortKey is felix's tie-break key for policies of equal order in
// Calico v3.31: the v1 policy name, "<ns>/<name>" for namespaced policies,
// with "staged:" before the name of staged kinds and "knp.default." before
// Kubernetes policy names.
func policySortKey(p *Policy) string {
	name := p.Name
	if p.Kind == KindKubernetesNetworkPolicy || p.Kind == KindStagedKubernetesNetworkPolicy {
		name = "knp.default." + name
	}
	if p.Kind.Staged() {
		name = "staged:" + name
	}
	if p.Namespace != "" {
		return p.Namespace + "/" + name
	}
	return name
}

func validateTierRef(d *diag, tier string) {
	if tier != "" && !tierNameRegex.MatchString(tier) {
		d.errf("spec.tier", "invalid tier name %q", tier)
	}
}

// --- rules ------------------------------------------------------------------

type ruleCtx struct {
	policyNS string // namespace of a namespaced policy
	global   bool   // GlobalNetworkPolicy (services need a namespace)
	profile  bool
}

func (l *Loader) rules(d *diag, cc *ruleCtx, field string, rs []apiv3.Rule, dir direction) []rule {
	out := make([]rule, 0, len(rs))
	for i := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		r, ok := l.rule(d, cc, f, &rs[i], dir)
		if !ok {
			continue
		}
		out = append(out, r)
	}
	return out
}

func protocolNumber(p *numorstring.Protocol) (uint8, bool, bool) {
	if p == nil {
		return 0, true, true
	}
	if n, err := p.NumValue(); err == nil {
		return n, n != 0, n != 0
	}
	n, exact, ok := flows.ParseCalicoProtocolName(p.StrVal)
	return uint8(n), exact, ok
}

func portsSupported(proto uint8) bool {
	return proto == uint8(ProtoTCP) || proto == uint8(ProtoUDP) || proto == uint8(ProtoSCTP)
}

func (l *Loader) rule(d *diag, cc *ruleCtx, f string, ar *apiv3.Rule, dir direction) (rule, bool) {
	var r rule
	var ok bool
	if r.action, ok = compileAction(d, f, ar); !ok {
		return r, false
	}
	if ar.IPVersion != nil {
		if *ar.IPVersion != 4 && *ar.IPVersion != 6 {
			d.errf(f+".ipVersion", "ipVersion must be 4 or 6")
		} else {
			r.ipVersion = uint8(*ar.IPVersion)
		}
	}
	if !ruleProtocols(d, f, ar, &r) {
		return r, false
	}
	checkRulePorts(d, f, ar, r.proto)
	ruleICMP(d, f, ar, &r)
	checkRuleCIDRVersions(d, f, ar)
	ruleHTTP(d, f, ar, dir, &r)
	checkRuleServices(d, f, ar, dir)
	var okSrc, okDst bool
	r.src, okSrc = l.entity(d, cc, f+".source", &ar.Source)
	r.dst, okDst = l.entity(d, cc, f+".destination", &ar.Destination)
	if !okSrc || !okDst {
		return r, false
	}
	r.namedPortIn = len(r.src.ports.named)+len(r.src.notPorts.named)+len(r.dst.ports.named)+len(r.dst.notPorts.named) > 0
	return r, true
}

func compileAction(d *diag, f string, ar *apiv3.Rule) (ruleAction, bool) {
	switch ar.Action {
	case apiv3.Allow:
		return actAllow, true
	case apiv3.Deny:
		return actDeny, true
	case apiv3.Pass:
		return actPass, true
	case apiv3.Log:
		return actLog, true
	}
	d.fatalf(f+".action", "invalid action %q (want Allow, Deny, Log or Pass)", ar.Action)
	return 0, false
}

// ruleProtocols compiles protocol and notProtocol; false: the rule cannot
// be compiled.
func ruleProtocols(d *diag, f string, ar *apiv3.Rule, r *rule) bool {
	proto, exact, ok := protocolNumber(ar.Protocol)
	if !ok {
		d.fatalf(f+".protocol", "invalid protocol %q", ar.Protocol.String())
		return false
	} else if !exact {
		d.errf(f+".protocol", "protocol name %q must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite (case-sensitive) or 1-255", ar.Protocol.String())
	}
	r.proto = proto
	if ar.NotProtocol != nil {
		np, exact, ok := protocolNumber(ar.NotProtocol)
		if !ok {
			d.fatalf(f+".notProtocol", "invalid protocol %q", ar.NotProtocol.String())
			return false
		} else if !exact {
			d.errf(f+".notProtocol", "protocol name %q must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite (case-sensitive) or 1-255", ar.NotProtocol.String())
		}
		r.notProto = np
	}
	return true
}

func checkRulePorts(d *diag, f string, ar *apiv3.Rule, proto uint8) {
	hasPorts := len(ar.Source.Ports)+len(ar.Source.NotPorts)+len(ar.Destination.Ports)+len(ar.Destination.NotPorts) > 0
	if !hasPorts || ar.Protocol != nil && portsSupported(proto) {
		return
	}
	for _, pf := range []struct {
		name string
		n    int
	}{{"source.ports", len(ar.Source.Ports)}, {"source.notPorts", len(ar.Source.NotPorts)}, {"destination.ports", len(ar.Destination.Ports)}, {"destination.notPorts", len(ar.Destination.NotPorts)}} {
		if pf.n > 0 {
			d.errf(f+"."+pf.name, "rules that specify ports must set protocol to TCP, UDP or SCTP")
		}
	}
}

func ruleICMP(d *diag, f string, ar *apiv3.Rule, r *rule) {
	proto := r.proto
	icmpProto := proto == uint8(ProtoICMP) || proto == uint8(ProtoICMPv6)
	r.icmp = compileICMP(d, f+".icmp", ar.ICMP)
	r.notICMP = compileICMP(d, f+".notICMP", ar.NotICMP)
	if ar.ICMP != nil && (ar.Protocol == nil || !icmpProto) {
		d.errf(f+".icmp", "icmp requires protocol ICMP or ICMPv6")
	}
	if ar.NotICMP != nil && (ar.Protocol == nil || !icmpProto) {
		d.errf(f+".notICMP", "notICMP requires protocol ICMP or ICMPv6")
	}
	if ar.IPVersion != nil {
		if (proto == uint8(ProtoICMP) || r.notProto == uint8(ProtoICMP)) && *ar.IPVersion != 4 {
			d.errf(f+".ipVersion", "ipVersion must be 4 with protocol ICMP")
		}
		if (proto == uint8(ProtoICMPv6) || r.notProto == uint8(ProtoICMPv6)) && *ar.IPVersion != 6 {
			d.errf(f+".ipVersion", "ipVersion must be 6 with protocol ICMPv6")
		}
	}
}

// checkRuleCIDRVersions checks IPv4/IPv6 consistency across the rule's CIDRs.
func checkRuleCIDRVersions(d *diag, f string, ar *apiv3.Rule) {
	var seen4, seen6 bool
	for _, nf := range []struct {
		name string
		nets []string
	}{{"source.nets", ar.Source.Nets}, {"source.notNets", ar.Source.NotNets}, {"destination.nets", ar.Destination.Nets}, {"destination.notNets", ar.Destination.NotNets}} {
		var v4, v6 bool
		for _, n := range nf.nets {
			pfx, err := netip.ParsePrefix(n)
			if err != nil {
				continue // reported when compiling the entity
			}
			v4 = v4 || pfx.Addr().Is4()
			v6 = v6 || !pfx.Addr().Is4()
		}
		if ar.IPVersion != nil && ((v4 && *ar.IPVersion != 4) || (v6 && *ar.IPVersion != 6)) {
			d.errf(f+"."+nf.name, "rule ipVersion does not match the CIDR version")
		}
		if v4 && seen6 || v6 && seen4 || v4 && v6 {
			d.errf(f+"."+nf.name, "rule contains both IPv4 and IPv6 CIDRs")
		}
		seen4, seen6 = seen4 || v4, seen6 || v6
	}
}

func ruleHTTP(d *diag, f string, ar *apiv3.Rule, dir direction, r *rule) {
	if ar.HTTP == nil {
		return
	}
	r.http = true
	if ar.Action != apiv3.Allow {
		d.errf(f+".http", "application-layer (http) matches are only valid in Allow rules")
	}
	if dir == dirEgress {
		d.errf(f+".http", "application-layer (http) matches are not allowed in egress rules")
	}
	if ar.Protocol != nil && r.proto != uint8(ProtoTCP) {
		d.errf(f+".protocol", "http matches require protocol TCP")
	}
}

// checkRuleServices checks services placement and exclusivity.
func checkRuleServices(d *diag, f string, ar *apiv3.Rule, dir direction) {
	if dir == dirEgress && ar.Source.Services != nil {
		d.errf(f+".source.services", "services are not allowed in an egress rule source")
	}
	if dir == dirIngress && ar.Destination.Services != nil {
		d.errf(f+".destination.services", "services are not allowed in an ingress rule destination")
	}
	if ar.Destination.Services != nil && len(ar.Destination.Ports) > 0 {
		d.errf(f+".destination.ports", "cannot specify ports with a service selector")
	}
	if ar.Destination.Services != nil && len(ar.Destination.NotPorts) > 0 {
		d.errf(f+".destination.notPorts", "cannot specify notPorts with a service selector")
	}
}

func compileICMP(d *diag, f string, in *apiv3.ICMPFields) icmpMatch {
	var m icmpMatch
	if in == nil {
		return m
	}
	if in.Code != nil && in.Type == nil {
		d.errf(f+".code", "ICMP code specified without an ICMP type")
	}
	if in.Type != nil {
		if *in.Type < 0 || *in.Type > 254 {
			d.errf(f+".type", "ICMP type must be 0-254")
		}
		m.set = true
		m.typ = uint8(*in.Type)
	}
	if in.Code != nil {
		if *in.Code < 0 || *in.Code > 255 {
			d.errf(f+".code", "ICMP code must be 0-255")
		}
		m.hasCode = true
		m.code = uint8(*in.Code)
	}
	return m
}

// parseRuleNet parses a rule CIDR. Calico's validator wants a strictly
// masked CIDR (a bare address is rejected by the rule validator); the
// prefix is masked either way.
func parseRuleNet(d *diag, f, s string, negated bool) (netip.Prefix, bool) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		addr, aerr := netip.ParseAddr(s)
		if aerr != nil {
			d.fatalf(f, "invalid CIDR %q", s)
			return netip.Prefix{}, false
		}
		d.errf(f, "invalid CIDR %q: write %s/%d", s, addr.Unmap(), addr.Unmap().BitLen())
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), true
	}
	if pfx.Masked() != pfx {
		d.errf(f, "CIDR %q is not strictly masked (network address %s)", s, pfx.Masked())
		pfx = pfx.Masked()
	}
	if negated && pfx.Bits() == 0 {
		d.errf(f, "catch-all CIDR %q in notNets matches no traffic", s)
	}
	return pfx, true
}

func (l *Loader) entity(d *diag, cc *ruleCtx, f string, er *apiv3.EntityRule) (entity, bool) {
	var e entity
	ok := entityNets(d, f, er, &e)
	if !l.entitySelectors(d, cc, f, er, &e) {
		return e, false
	}
	var pok, nok bool
	e.ports, pok = compilePorts(d, f+".ports", er.Ports)
	e.notPorts, nok = compilePorts(d, f+".notPorts", er.NotPorts)
	ok = ok && pok && nok
	if er.Services != nil {
		e.svc = entityService(d, cc, f, er)
	}
	return e, ok
}

func entityNets(d *diag, f string, er *apiv3.EntityRule, e *entity) bool {
	ok := true
	for i, n := range er.Nets {
		if p, good := parseRuleNet(d, fmt.Sprintf("%s.nets[%d]", f, i), n, false); good {
			e.nets = append(e.nets, p)
		} else {
			ok = false
		}
	}
	for i, n := range er.NotNets {
		if p, good := parseRuleNet(d, fmt.Sprintf("%s.notNets[%d]", f, i), n, true); good {
			e.notNets = append(e.notNets, p)
		} else {
			ok = false
		}
	}
	return ok
}

// entitySelectors compiles the selector, namespace selector, service
// accounts and notSelector into e.sel and e.notSel; false: one does not parse.
func (l *Loader) entitySelectors(d *diag, cc *ruleCtx, f string, er *apiv3.EntityRule, e *entity) bool {
	if strings.Contains(er.Selector, "global()") {
		d.errf(f+".selector", "global() can only be used in an EntityRule namespaceSelector")
	}
	if strings.Contains(er.NotSelector, "global()") {
		d.errf(f+".notSelector", "global() can only be used in an EntityRule namespaceSelector")
	}
	var nsSel *selector.Selector
	if er.NamespaceSelector != "" {
		s := l.parseSelector(d, f+".namespaceSelector", er.NamespaceSelector)
		if s == nil {
			return false
		}
		if s.UsesGlobal() && !s.IsGlobal() {
			d.errf(f+".namespaceSelector", "global() cannot be combined with other selectors")
		}
		nsSel = s.WithPrefix(NamespaceLabelPrefix).SubstituteAll(selAllNamespaced).SubstituteGlobal(selNonNamespaced)
	} else if cc.policyNS != "" {
		nsSel = selector.Eq(LabelNamespace, cc.policyNS)
	}
	var parts []*selector.Selector
	if er.ServiceAccounts != nil {
		sa, ok := l.serviceAccountSelector(d, f, er.ServiceAccounts)
		if !ok {
			return false
		}
		if sa != nil {
			parts = append(parts, sa)
		}
	}
	if er.Selector != "" {
		s := l.parseSelector(d, f+".selector", er.Selector)
		if s == nil {
			return false
		}
		parts = append(parts, s)
	}
	if len(parts) > 0 {
		e.sel = selector.And(parts...)
	}
	if nsSel != nil && (e.sel != nil || er.NotSelector != "" || er.NamespaceSelector != "") {
		e.sel = selector.And(nsSel, e.sel)
	}
	if er.NotSelector != "" {
		e.notSel = l.parseSelector(d, f+".notSelector", er.NotSelector)
		if e.notSel == nil {
			return false
		}
	}
	return true
}

// serviceAccountSelector is the selector an entity's serviceAccounts stand
// for (nil: none); false: its selector does not parse.
func (l *Loader) serviceAccountSelector(d *diag, f string, sam *apiv3.ServiceAccountMatch) (*selector.Selector, bool) {
	var sa []*selector.Selector
	if sam.Selector != "" {
		s := l.parseSelector(d, f+".serviceAccounts.selector", sam.Selector)
		if s == nil {
			return nil, false
		}
		sa = append(sa, s.WithPrefix(ServiceAccountLabelPrefix))
	}
	if len(sam.Names) > 0 {
		sa = append(sa, selector.In(LabelServiceAccount, sam.Names...))
	}
	if len(sa) == 0 {
		return nil, true
	}
	return selector.And(sa...), true
}

func entityService(d *diag, cc *ruleCtx, f string, er *apiv3.EntityRule) *serviceMatch {
	if er.Services.Name == "" {
		d.errf(f+".services.name", "must specify a service name")
	}
	if er.NamespaceSelector != "" {
		d.errf(f+".services", "cannot specify namespaceSelector and services in the same rule")
	}
	if er.Selector != "" || er.NotSelector != "" {
		d.errf(f+".services", "cannot specify selector/notSelector and services in the same rule")
	}
	if er.ServiceAccounts != nil {
		d.errf(f+".services", "cannot specify serviceAccounts and services in the same rule")
	}
	if len(er.Nets) > 0 || len(er.NotNets) > 0 {
		d.errf(f+".services", "cannot specify nets/notNets and services in the same rule")
	}
	ns := er.Services.Namespace
	if ns == "" {
		if cc.global {
			d.errf(f+".services.namespace", "must specify a namespace in a global policy")
		}
		ns = cc.policyNS
	}
	return &serviceMatch{name: er.Services.Name, namespace: ns}
}

var portNameRegex = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func compilePorts(d *diag, f string, ps []numorstring.Port) (portMatch, bool) {
	var m portMatch
	for i, p := range ps {
		if p.PortName != "" {
			if !portNameRegex.MatchString(p.PortName) {
				d.fatalf(fmt.Sprintf("%s[%d]", f, i), "invalid port name %q", p.PortName)
				return m, false
			}
			m.named = append(m.named, p.PortName)
			continue
		}
		if p.MinPort > p.MaxPort {
			d.fatalf(fmt.Sprintf("%s[%d]", f, i), "port range %d:%d is reversed", p.MinPort, p.MaxPort)
			return m, false
		}
		m.ranges = append(m.ranges, portRange{p.MinPort, p.MaxPort})
	}
	return m, true
}

// --- tiers, sets, profiles --------------------------------------------------

func (l *Loader) tier(set *Set, d *diag, o *apiv3.Tier) {
	t := &Tier{Name: o.Name, Order: o.Spec.Order, Source: d.source()}
	if len(o.Name) > k8svalidation.DNS1123LabelMaxLength {
		d.errf("metadata.name", "tier name is too long by %d bytes", len(o.Name)-k8svalidation.DNS1123LabelMaxLength)
	}
	if !tierNameRegex.MatchString(o.Name) {
		d.errf("metadata.name", "tier name %q must consist of lower case alphanumeric characters or '-' (no dots)", o.Name)
	}
	fixed := map[string]float64{TierDefault: DefaultTierOrder, TierAdminNetworkPolicy: AdminNetworkPolicyTierOrder, TierBaselineAdminNetworkPolicy: BaselineAdminNetworkPolicyTierOrder}
	if want, ok := fixed[o.Name]; ok && (o.Spec.Order == nil || *o.Spec.Order != want) {
		d.errf("spec.order", "%s tier order must be %v", o.Name, want)
	}
	if o.Spec.DefaultAction != nil {
		switch *o.Spec.DefaultAction {
		case apiv3.Pass:
			t.DefaultPass = true
		case apiv3.Deny:
		default:
			d.errf("spec.defaultAction", "defaultAction must be Deny or Pass, not %q", *o.Spec.DefaultAction)
		}
	} else if o.Name == TierAdminNetworkPolicy || o.Name == TierBaselineAdminNetworkPolicy {
		t.DefaultPass = true
	}
	if l.keep(d) {
		set.Tiers = append(set.Tiers, t)
	}
}

func (l *Loader) networkSet(set *Set, d *diag, global bool, meta *metav1.ObjectMeta, nets []string) {
	ns := &NetworkSet{Global: global, Name: meta.Name, Labels: selector.MakeLabels(meta.Labels), Source: d.source()}
	if !global {
		ns.Namespace = l.namespaceOf(d, meta)
	}
	for k, v := range meta.Labels {
		if k == LabelNamespace {
			d.errf("metadata.labels", "%s is not a valid label name on a network set", LabelNamespace)
		}
		for _, msg := range k8svalidation.IsQualifiedName(k) {
			d.errf("metadata.labels", "label key %q: %s", k, msg)
		}
		for _, msg := range k8svalidation.IsValidLabelValue(v) {
			d.errf("metadata.labels", "label %q value %q: %s", k, v, msg)
		}
	}
	for i, n := range nets {
		f := fmt.Sprintf("spec.nets[%d]", i)
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			addr, aerr := netip.ParseAddr(n)
			if aerr != nil {
				d.fatalf(f, "invalid CIDR %q", n)
				continue
			}
			addr = addr.Unmap()
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		ns.Nets = append(ns.Nets, pfx.Masked())
	}
	if l.keep(d) {
		set.NetworkSets = append(set.NetworkSets, ns)
	}
}

func (l *Loader) profile(set *Set, d *diag, o *apiv3.Profile) {
	p := &Profile{Name: o.Name, Source: d.source()}
	if len(o.Spec.LabelsToApply) > 0 {
		d.warnf("spec.labelsToApply", "labelsToApply is not modelled by the evaluator")
	}
	cc := ruleCtx{profile: true}
	p.ingress = l.rules(d, &cc, "spec.ingress", o.Spec.Ingress, dirIngress)
	p.egress = l.rules(d, &cc, "spec.egress", o.Spec.Egress, dirEgress)
	if l.keep(d) {
		set.Profiles = append(set.Profiles, p)
	}
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }
