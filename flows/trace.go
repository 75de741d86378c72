package flows

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PolicyKind is the kind of policy a trace entry names. The values 0-10
// match Goldmane's PolicyKind enum of Calico v3.30/v3.31; 11 is v3.32's
// ClusterNetworkPolicy.
type PolicyKind uint8

const (
	KindUnknown                       PolicyKind = 0
	KindCalicoNetworkPolicy           PolicyKind = 1
	KindGlobalNetworkPolicy           PolicyKind = 2
	KindStagedNetworkPolicy           PolicyKind = 3
	KindStagedGlobalNetworkPolicy     PolicyKind = 4
	KindStagedKubernetesNetworkPolicy PolicyKind = 5
	KindKubernetesNetworkPolicy       PolicyKind = 6
	KindAdminNetworkPolicy            PolicyKind = 7
	KindBaselineAdminNetworkPolicy    PolicyKind = 8
	KindProfile                       PolicyKind = 9
	KindEndOfTier                     PolicyKind = 10
	KindClusterNetworkPolicy          PolicyKind = 11
)

var kindNames = [...]string{
	"KindUnspecified", "CalicoNetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy",
	"StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy", "NetworkPolicy",
	"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "Profile", "EndOfTier", "ClusterNetworkPolicy",
}

// String returns Goldmane's enum name for the kind.
func (k PolicyKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParsePolicyKind accepts Goldmane's enum names.
func ParsePolicyKind(s string) (PolicyKind, bool) {
	for i, n := range kindNames {
		if n == s {
			return PolicyKind(i), true
		}
	}
	return KindUnknown, false
}

// Staged reports whether the kind is one of the staged policy kinds.
func (k PolicyKind) Staged() bool {
	return k == KindStagedNetworkPolicy || k == KindStagedGlobalNetworkPolicy || k == KindStagedKubernetesNetworkPolicy
}

// Rule index values with a special meaning.
const (
	RuleEndOfTier = -1 // no rule matched: the tier's default action applied
	RuleUnknown   = -2 // not recorded (4-part trace strings, "-")
)

// PolicyHit is one entry of a policy trace.
type PolicyHit struct {
	// Index is the position among the policies the trace traversed.
	Index int
	// Tier is empty for profiles.
	Tier string
	Kind PolicyKind
	// Namespace is empty for cluster-scoped kinds.
	Namespace string
	// Name is the policy name without any tier prefix; profiles are
	// "kns.<ns>" or "ksa.<ns>.<sa>".
	Name   string
	Action Action
	// RuleIndex is the matching rule, RuleEndOfTier or RuleUnknown.
	RuleIndex int
	// Trigger is set on a Goldmane EndOfTier hit: the first policy that
	// selected the flow and so triggered the tier's default action.
	Trigger *PolicyHit
}

// Policy returns the hit that names the deciding policy: the trigger for an
// EndOfTier hit that has one, the hit itself otherwise. The returned hit
// carries this hit's action and rule index.
func (h PolicyHit) Policy() PolicyHit {
	if h.Kind == KindEndOfTier && h.Trigger != nil {
		p := *h.Trigger
		p.Index, p.Action, p.RuleIndex, p.Trigger = h.Index, h.Action, RuleEndOfTier, nil
		if p.Tier == "" {
			p.Tier = h.Tier
		}
		return p
	}
	return h
}

// Staged reports whether the hit (or, for EndOfTier, its trigger) is a
// staged policy.
func (h PolicyHit) Staged() bool { return h.Policy().Kind.Staged() }

// EndOfTier reports whether the hit records a tier's default action.
func (h PolicyHit) EndOfTier() bool { return h.RuleIndex == RuleEndOfTier || h.Kind == KindEndOfTier }

// String renders the hit in the kind-prefixed (generation 3) trace format.
func (h PolicyHit) String() string {
	p := h.Policy()
	name := p.Name
	if p.Namespace != "" {
		name = p.Namespace + "/" + name
	}
	rule := strconv.Itoa(h.RuleIndex)
	if h.RuleIndex == RuleUnknown {
		rule = "-"
	}
	return fmt.Sprintf("%d|%s|%s:%s|%s|%s", h.Index, tierOrProfile(p.Tier, p.Kind), shortKind(p.Kind), name, h.Action, rule)
}

func tierOrProfile(tier string, k PolicyKind) string {
	if k == KindProfile {
		return "__PROFILE__"
	}
	return tier
}

var shortKinds = map[string]PolicyKind{
	"np": KindCalicoNetworkPolicy, "gnp": KindGlobalNetworkPolicy, "snp": KindStagedNetworkPolicy,
	"sgnp": KindStagedGlobalNetworkPolicy, "sknp": KindStagedKubernetesNetworkPolicy,
	"knp": KindKubernetesNetworkPolicy, "kcnp": KindClusterNetworkPolicy, "pro": KindProfile,
	"eot": KindEndOfTier, "kanp": KindAdminNetworkPolicy, "kbanp": KindBaselineAdminNetworkPolicy,
}

// shortKindNames is the inverse of shortKinds.
var shortKindNames = func() map[PolicyKind]string {
	m := make(map[PolicyKind]string, len(shortKinds))
	for s, k := range shortKinds {
		m[k] = s
	}
	return m
}()

func shortKind(k PolicyKind) string {
	if s, ok := shortKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// TraceError describes a policy-trace string that could not be parsed.
type TraceError struct {
	Entry  string
	Reason string
}

func (e *TraceError) Error() string {
	return fmt.Sprintf("policy trace entry %q: %s", e.Entry, e.Reason)
}

// ParsePolicyHit parses one policy-trace string in any of the three
// generations Calico has written:
//
//	gen 1 (4 parts, no rule index): 0|__PROFILE__|__PROFILE__.kns.kube-system|allow
//	gen 2 (legacy 5 parts):         1|tier|ns/tier.staged:name|deny|-1, ns2/staged:tier1.name, tier.name, ns/knp.default.name
//	gen 3 (kind-prefixed):          1|tier|snp:ns/name|deny|0, 0|__PROFILE__|pro:kns.default|allow|0
func ParsePolicyHit(s string) (PolicyHit, error) {
	var parts [5]string
	n := 0
	rest := s
	for n < 5 {
		i := strings.IndexByte(rest, '|')
		if i < 0 {
			parts[n] = rest
			n++
			rest = ""
			break
		}
		parts[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	if rest != "" || n < 4 {
		return PolicyHit{}, &TraceError{s, "want 4 or 5 '|'-separated parts"}
	}
	var h PolicyHit
	idx, err := strconv.Atoi(parts[0])
	if err != nil || idx < 0 {
		return PolicyHit{}, &TraceError{s, "policy index " + strconv.Quote(parts[0]) + " is not a non-negative integer"}
	}
	h.Index = idx
	h.Tier = parts[1]
	if h.Tier == "" {
		return PolicyHit{}, &TraceError{s, "empty tier"}
	}
	a, ok := ParseAction(parts[3])
	if !ok || a == ActionUnknown {
		return PolicyHit{}, &TraceError{s, "action " + strconv.Quote(parts[3]) + " is not allow, deny or pass"}
	}
	h.Action = a
	h.RuleIndex = RuleUnknown
	if n == 5 && parts[4] != "-" {
		r, err := strconv.Atoi(parts[4])
		if err != nil || r < RuleUnknown {
			return PolicyHit{}, &TraceError{s, "rule index " + strconv.Quote(parts[4]) + " is not an integer >= -2"}
		}
		h.RuleIndex = r
	}
	if err := parseNamePart(&h, parts[2]); err != nil {
		return PolicyHit{}, &TraceError{s, err.Error()}
	}
	if h.Kind == KindProfile {
		h.Tier = ""
	}
	return h, nil
}

func parseNamePart(h *PolicyHit, np string) error {
	if np == "" {
		return fmt.Errorf("empty policy name")
	}
	// Generation 3: "<kind>:[<ns>/]<name>" with a known short kind.
	if i := strings.IndexByte(np, ':'); i > 0 {
		if k, ok := shortKinds[np[:i]]; ok {
			h.Kind = k
			name := np[i+1:]
			if k != KindProfile && k != KindEndOfTier {
				if j := strings.IndexByte(name, '/'); j >= 0 {
					h.Namespace, name = name[:j], name[j+1:]
				}
			}
			if name == "" {
				return fmt.Errorf("empty policy name")
			}
			h.Name = name
			return nil
		}
	}
	// Legacy generations.
	if strings.HasPrefix(np, "__PROFILE__.") {
		h.Kind = KindProfile
		h.Name = strings.TrimPrefix(np, "__PROFILE__.")
		return nil
	}
	name := np
	if j := strings.IndexByte(name, '/'); j >= 0 {
		h.Namespace, name = name[:j], name[j+1:]
		if h.Namespace == "" {
			return fmt.Errorf("empty namespace")
		}
	}
	switch {
	case strings.HasPrefix(name, "staged:knp.default."):
		h.Kind, h.Name = KindStagedKubernetesNetworkPolicy, strings.TrimPrefix(name, "staged:knp.default.")
	case strings.HasPrefix(name, "knp.default."):
		h.Kind, h.Name = KindKubernetesNetworkPolicy, strings.TrimPrefix(name, "knp.default.")
	case strings.HasPrefix(name, "kanp.adminnetworkpolicy."):
		h.Kind, h.Name = KindAdminNetworkPolicy, strings.TrimPrefix(name, "kanp.adminnetworkpolicy.")
	case strings.HasPrefix(name, "kbanp.baselineadminnetworkpolicy."):
		h.Kind, h.Name = KindBaselineAdminNetworkPolicy, strings.TrimPrefix(name, "kbanp.baselineadminnetworkpolicy.")
	default:
		staged := false
		if k := strings.Index(name, "staged:"); k >= 0 {
			staged = true
			name = name[:k] + name[k+len("staged:"):]
		}
		if strings.HasPrefix(name, h.Tier+".") {
			name = name[len(h.Tier)+1:]
		} else if d := strings.IndexByte(name, '.'); d >= 0 {
			name = name[d+1:]
		}
		switch {
		case h.Namespace != "" && staged:
			h.Kind = KindStagedNetworkPolicy
		case h.Namespace != "":
			h.Kind = KindCalicoNetworkPolicy
		case staged:
			h.Kind = KindStagedGlobalNetworkPolicy
		default:
			h.Kind = KindGlobalNetworkPolicy
		}
		h.Name = name
	}
	if h.Name == "" {
		return fmt.Errorf("empty policy name")
	}
	return nil
}

// ParseTrace parses trace strings and returns the hits sorted by policy
// index (Calico stores them unordered). The first error is returned with the
// hits that did parse.
func ParseTrace(entries []string) ([]PolicyHit, error) {
	hits := make([]PolicyHit, 0, len(entries))
	var first error
	for _, e := range entries {
		h, err := ParsePolicyHit(e)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		hits = append(hits, h)
	}
	SortHits(hits)
	return hits, first
}

// SortHits orders hits by policy index, keeping the input order of ties.
func SortHits(hits []PolicyHit) {
	slices.SortStableFunc(hits, func(a, b PolicyHit) int { return cmp.Compare(a.Index, b.Index) })
}

// Verdict returns the hit that decided a trace: the first allow or deny in
// index order (pass entries continue to the next tier). ok is false when no
// entry decides.
func Verdict(hits []PolicyHit) (h PolicyHit, ok bool) {
	for _, x := range hits {
		if x.Action == ActionAllow || x.Action == ActionDeny {
			return x.Policy(), true
		}
	}
	return PolicyHit{}, false
}
