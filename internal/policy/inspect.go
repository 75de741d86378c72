package policy

import (
	"net/netip"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// Selecting returns the policies that select the endpoint for a direction
// (egress when egress is true), in evaluation order: the enforced ones, or
// with pending the pending scope's (staged policies as if enforced).
func (e *Evaluator) Selecting(ep Endpoint, egress, pending bool) []*Policy {
	var tmp [6]selector.Label
	pl, view := e.prepare(&ep, &tmp)
	dir, sc := dirIngress, scopeEnforced
	if egress {
		dir = dirEgress
	}
	if pending {
		sc = scopePending
	}
	var out []*Policy
	for _, tp := range pl.tiers[dir][sc] {
		for i, p := range tp.pols {
			if tp.guards[i].always || p.Selector.MatchesView(&view) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Tier returns the evaluator's tier of that name (loaded, built in, or
// implied by a policy), or nil.
func (e *Evaluator) Tier(name string) *Tier {
	for _, t := range e.tiers {
		if t.tier.Name == name {
			return t.tier
		}
	}
	return nil
}

// Unconditional returns the action ("Allow", "Deny" or "Pass") and index of
// the policy's first rule for the direction that matches every packet (no
// protocol, port, address, selector, service or other condition), skipping
// Log rules; ok is false when there is none. A policy whose first such rule
// is Allow or Pass does not restrict what it selects.
func (p *Policy) Unconditional(egress bool) (action string, index int, ok bool) {
	rules := p.ingress
	if egress {
		rules = p.egress
	}
	for i := range rules {
		r := &rules[i]
		if r.action == actLog || !r.unconditional() {
			continue
		}
		return r.action.String(), i, true
	}
	return "", 0, false
}

// RuleAction returns the action of the policy's rule i for the direction
// ("Allow", "Deny", "Pass" or "Log"), or "" when there is no such rule.
func (p *Policy) RuleAction(egress bool, i int) string {
	rules := p.ingress
	if egress {
		rules = p.egress
	}
	if i < 0 || i >= len(rules) {
		return ""
	}
	return rules[i].action.String()
}

// DestinationNets returns the destination nets of the policy's rules for the
// direction, in rule order.
func (p *Policy) DestinationNets(egress bool) []netip.Prefix {
	rules := p.ingress
	if egress {
		rules = p.egress
	}
	var out []netip.Prefix
	for i := range rules {
		out = append(out, rules[i].dst.nets...)
	}
	return out
}

func (r *rule) unconditional() bool {
	return r.ipVersion == 0 && r.proto == 0 && r.notProto == 0 && !r.icmp.set && !r.notICMP.set &&
		!r.http && r.src.empty() && r.dst.empty()
}

func (en *entity) empty() bool {
	return en.sel == nil && en.notSel == nil && len(en.nets) == 0 && len(en.notNets) == 0 &&
		en.ports.empty() && en.notPorts.empty() && en.svc == nil
}

// String returns the Calico spelling of a rule action.
func (a ruleAction) String() string {
	switch a {
	case actAllow:
		return "Allow"
	case actDeny:
		return "Deny"
	case actPass:
		return "Pass"
	case actLog:
		return "Log"
	}
	return ""
}

// Merge adds sets loaded separately into one Set and reports the policies,
// tiers and network sets defined in more than one of them (the later
// definition is dropped, as LoadFiles does).
func Merge(sets ...*Set) (*Set, []error) {
	out := NewSet()
	for _, s := range sets {
		out.Merge(s)
	}
	return out, checkDuplicates(out)
}
