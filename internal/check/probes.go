package check

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/policy"
	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// Candidate probe addresses: the documentation ranges for public ones
// (TEST-NET-3, -2, -1), the top of the private ranges for private ones;
// each base is tried from .77 on, wrapping, so a re-run picks the same.
var (
	publicBases  = [][3]byte{{203, 0, 113}, {198, 51, 100}, {192, 0, 2}}
	privateBases = [][3]byte{{192, 168, 255}, {172, 31, 255}, {10, 255, 255}}
)

func candidates(bases [][3]byte) []netip.Addr {
	var out []netip.Addr
	for _, b := range bases {
		for k := 0; k < 254; k++ {
			out = append(out, netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte((77-1+k)%254 + 1)}))
		}
	}
	return out
}

// probes runs the effectiveness probes for every namespace the set locks
// down.
func (c *Checker) probes() {
	allowlisted := c.allowlistedNets()
	pub := c.pickAddress(candidates(publicBases), allowlisted, func(a netip.Addr) bool { return !c.prof.IsPrivate(a) })
	pvt := c.pickAddress(candidates(privateBases), allowlisted, func(a netip.Addr) bool {
		p := c.prof
		return p.IsPrivate(a) && !inAny(p.Networks.Pods, a) && !inAny(p.Networks.Services, a) && !inAny(p.Networks.Nodes, a)
	})
	known := c.knownNamespaces()
	probeNS := ProbeNamespace
	for i := 2; known[probeNS]; i++ {
		probeNS = fmt.Sprintf("%s-%d", ProbeNamespace, i)
	}
	managed := c.managedNamespaces()
	for _, ns := range sortedKeys(known) {
		src, workload, labels := c.representative(ns)
		why, k8s := c.lockReasons(src, managed[ns])
		if len(why) == 0 {
			continue
		}
		type target struct {
			kind, dest string
			ep         policy.Endpoint
			missing    string
		}
		var targets []target
		if pub.IsValid() {
			targets = append(targets, target{kind: ProbePublic, dest: fmt.Sprintf("%s:%d/TCP", pub, ProbePort), ep: policy.Endpoint{Kind: policy.EndpointNetwork, IP: pub}})
		} else {
			targets = append(targets, target{kind: ProbePublic, missing: "no unobserved, non-allowlisted public address left among the candidates"})
		}
		if pvt.IsValid() {
			targets = append(targets, target{kind: ProbePrivate, dest: fmt.Sprintf("%s:%d/TCP", pvt, ProbePort), ep: policy.Endpoint{Kind: policy.EndpointNetwork, IP: pvt}})
		} else {
			targets = append(targets, target{kind: ProbePrivate, missing: "no private address outside the pod, service and node networks left among the candidates"})
		}
		targets = append(targets, target{kind: ProbePod, dest: fmt.Sprintf("%s (any pod):%d/TCP", probeNS, ProbePort),
			ep: policy.Endpoint{Kind: policy.EndpointWorkload, Namespace: probeNS, Class: policy.NetClassPod, NamedPorts: []policy.NamedPort{}}})
		for _, t := range targets {
			pr := ProbeResult{Namespace: ns, Kind: t.kind, Destination: t.dest, Workload: workload, Labels: labels, Why: why}
			if t.missing != "" {
				pr.Verdict, pr.Reason = VerdictUnknown, t.missing
				c.rep.Probes = append(c.rep.Probes, pr)
				continue
			}
			v := c.ev.Evaluate(policy.Flow{Src: src, Dst: t.ep, Proto: policy.ProtoTCP, DstPort: ProbePort}).Pending
			pr.Egress = v.Egress
			switch {
			case !v.Egress.Certain():
				pr.Verdict, pr.Reason = VerdictUnknown, Unknown(&v.Egress, true)
			case v.Egress.Action == policy.ActionDeny:
				pr.Verdict = VerdictDeny
			default:
				pr.Verdict = VerdictAllow
				if d := &v.Egress; k8s != nil && d.Policy != nil && d.Tier == policy.TierDefault && d.Policy.Order != nil && *d.Policy.Order > policy.KubernetesPolicyOrder {
					pr.Hint = fmt.Sprintf("%s runs in the default tier at order %d; %s (order %g, same tier) allows what its end-of-tier deny would drop: render --flavor calico (own tier, explicit Deny), or take the namespace out of %s",
						k8s.Ref(), policy.KubernetesPolicyOrder, d.Policy.Ref(), *d.Policy.Order, d.Policy.Name)
				}
			}
			c.rep.Probes = append(c.rep.Probes, pr)
		}
	}
}

// lockReasons says why the set locks the namespace's egress down: a policy
// that selects the representative pod for egress and can deny (it has no
// unconditional Allow or Pass before an unconditional Deny, and its tier
// denies at its end unless it has such a Deny), or a calico-plan policy in
// the namespace.
func (c *Checker) lockReasons(src policy.Endpoint, managed string) (why []string, k8s *policy.Policy) {
	for _, p := range c.ev.Selecting(src, true, true) {
		act, _, ok := p.Unconditional(true)
		restricts := ok && act == "Deny"
		if !ok {
			t := c.ev.Tier(p.Tier)
			restricts = t == nil || !t.DefaultPass
		}
		if restricts {
			why = append(why, "selected for egress by "+p.Ref())
			if k8s == nil && p.Kind.Enforced() == policy.KindKubernetesNetworkPolicy {
				k8s = p
			}
		}
	}
	if managed != "" && len(why) == 0 {
		why = append(why, "rendered by calico-plan: "+managed)
	}
	return why, k8s
}

// representative returns a pod of the namespace to probe from: the
// workload seen most often as a flow source (ties by name), with its
// labels, or a pod without labels.
func (c *Checker) representative(ns string) (policy.Endpoint, string, map[string]string) {
	ep := policy.Endpoint{Kind: policy.EndpointWorkload, Namespace: ns, Class: policy.NetClassPod, NamedPorts: []policy.NamedPort{}}
	var best string
	var bw *workloadSeen
	for name, w := range c.workloads[ns] {
		if bw == nil || w.records > bw.records || (w.records == bw.records && name < best) {
			best, bw = name, w
		}
	}
	if bw == nil {
		return ep, "", nil
	}
	ep.Name = best
	ep.Labels = selector.FromKV(bw.labels)
	return ep, best, ep.Labels.Map()
}

// knownNamespaces are those the cluster facts, the policies or the flows
// name.
func (c *Checker) knownNamespaces() map[string]bool {
	out := map[string]bool{}
	for ns := range c.cfg.NamespaceLabels {
		out[ns] = true
	}
	for ns := range c.set.Namespaces {
		out[ns] = true
	}
	for _, p := range c.set.Policies {
		if p.Namespace != "" {
			out[p.Namespace] = true
		}
	}
	for ns := range c.workloads {
		out[ns] = true
	}
	return out
}

// allowlistedNets are the destination nets of the set's rules and network
// sets narrower than a whole class (0.0.0.0/0, ::/0 and the profile's
// private ranges are not "allowlisting" an address).
func (c *Checker) allowlistedNets() []netip.Prefix {
	classWide := map[netip.Prefix]bool{netip.MustParsePrefix("0.0.0.0/0"): true, netip.MustParsePrefix("::/0"): true}
	for _, p := range c.prof.Networks.Private {
		classWide[p.Masked()] = true
	}
	var out []netip.Prefix
	for _, p := range c.set.Policies {
		for _, n := range p.DestinationNets(true) {
			if !classWide[n.Masked()] {
				out = append(out, n)
			}
		}
	}
	for _, s := range c.set.NetworkSets {
		for _, n := range s.Nets {
			if !classWide[n.Masked()] {
				out = append(out, n)
			}
		}
	}
	return out
}

func (c *Checker) pickAddress(cands []netip.Addr, allowlisted []netip.Prefix, ok func(netip.Addr) bool) netip.Addr {
	for _, a := range cands {
		if !ok(a) || c.observed[a] {
			continue
		}
		listed := false
		for _, n := range allowlisted {
			if n.Contains(a) {
				listed = true
				break
			}
		}
		if !listed {
			return a
		}
	}
	return netip.Addr{}
}

func inAny(ps []config.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// probeSummary renders a probe's outcome in one line.
func probeSummary(p *ProbeResult) string {
	switch p.Verdict {
	case VerdictAllow:
		return "ALLOWED by " + decisionText(&p.Egress, true)
	case VerdictUnknown:
		return "unknown: " + p.Reason
	}
	return "denied by " + decisionText(&p.Egress, true)
}

// decisionText renders a decision: "tier egress-allowlist, NetworkPolicy
// ns/name rule 3 (Allow)", "... end of tier", or "profile kns.ns".
func decisionText(d *policy.Decision, egress bool) string {
	if !d.Evaluated {
		return "not evaluated"
	}
	var b strings.Builder
	switch {
	case d.Policy != nil && d.RuleIndex == policy.RuleEndOfTier:
		fmt.Fprintf(&b, "the end of tier %s (last policy %s)", d.Tier, d.Policy.Ref())
	case d.Policy != nil:
		fmt.Fprintf(&b, "%s rule %d (%s) in tier %s", d.Policy.Ref(), d.RuleIndex, d.Policy.RuleAction(egress, d.RuleIndex), d.Tier)
	case d.RuleIndex == policy.RuleProfile:
		fmt.Fprintf(&b, "profile %s (no policy selects the endpoint)", d.Profile)
	default:
		fmt.Fprintf(&b, "profile %s rule %d", d.Profile, d.RuleIndex)
	}
	return b.String()
}
