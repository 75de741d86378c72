// Package policy loads Calico and Kubernetes network policy manifests,
// validates them the way the Calico v3.31 API server does, compiles every
// selector once, and evaluates flows against the result with Calico's
// dataplane semantics: tiers, policy order, Pass, Log, end-of-tier actions,
// profiles, staged (pending) policies, namespace and service-account label
// inheritance, NetworkSets and named ports.
//
// Entry points: Load / LoadFiles (or a Loader with options) produce a Set;
// NewEvaluator compiles a Set with cluster facts (namespace labels) into an
// Evaluator whose Evaluate method is allocation-free.
//
// # How policies are compiled
//
// Selectors are rewritten into the single dataplane selector libcalico-go
// builds (libcalico-go/lib/backend/syncersv1/updateprocessors):
//   - a NetworkPolicy's selector is ANDed with projectcalico.org/namespace ==
//     '<ns>'; a GlobalNetworkPolicy's namespaceSelector is prefixed "pcns."
//     and all() becomes has(projectcalico.org/namespace); service-account
//     selectors are prefixed "pcsa.";
//   - in rules, a namespaceSelector (prefixed, all() and global() rewritten
//     to has(/!has(projectcalico.org/namespace)) or, in a NetworkPolicy, the
//     policy's own namespace restricts the selector as soon as selector,
//     notSelector, namespaceSelector or serviceAccounts is used; notSelector
//     stays unrestricted;
//   - Kubernetes NetworkPolicies become default-tier policies at order 1000
//     named knp.default.<name>, selecting projectcalico.org/orchestrator ==
//     'k8s', with one Allow rule per (protocol, peer) of every Kubernetes rule.
//
// Endpoints are matched against their own labels plus the automatic ones
// (projectcalico.org/namespace, .../orchestrator=k8s, .../serviceaccount)
// and the inherited "pcns.<key>" namespace and "pcsa.<key>" service-account
// labels. A rule selector also matches an endpoint whose IP lies in a
// NetworkSet or GlobalNetworkSet the selector selects, as Calico's IP sets
// do.
//
// # Evaluation (Calico v3.31 felix semantics)
//
// Tiers run by ascending order (no order: last; tiers referenced without a
// Tier object: after those), ties by name. A tier applies to an endpoint and
// direction only when one of its policies selects the endpoint for that
// direction. Policies run by order (none: last) then by felix's name key;
// rules top to bottom: Allow/Deny decide, Pass goes to the next tier, Log
// marks the flow and continues. A tier whose selecting policies matched no
// rule applies its default action (Deny, rule index -1, reported under the
// last selecting policy; or Pass). When no tier decides, the profile does:
// allow-all kns.<ns> unless a Profile of that name was loaded (rule index
// -2). Staged policies take no part in the enforced verdict; the pending
// verdict adds them as if enforced (stagedAction Delete ignored), like
// felix's pending trace, or, with Config.PendingReplacesEnforced, lets them
// replace the enforced policy of the same name.
//
// Egress is evaluated when the source is a workload or host endpoint,
// ingress when the destination is one; the flow is allowed when every
// evaluated direction allows it.
//
// Endpoints without an IP may carry an address class (NetClass: the
// "pub"/"pvt" of Goldmane and aggregated flow logs, pods, nodes; FromFlow
// sets it). A nets/notNets match, and the CIDRs of a NetworkSet a selector
// selects, is then certain when the rule's addresses hold all of the class
// or none of it, and otherwise undecided: the rule does not match and the
// Decision is Incomplete, with what was missing and the first undecided
// rule. Decision.Certain tells whether the action holds whichever way the
// undecided rules would have gone.
//
// Known gaps: preDNAT/doNotTrack policies and applyOnForward (host
// forwarding) are not evaluated; Profile labelsToApply is ignored; an HTTP
// match is treated as matching (flagged Incomplete); source services cannot
// be matched (flows carry only the destination service); destination
// services are matched by the service the flow was addressed to, not by
// endpoint membership.
package policy

import (
	"math"
	"net/netip"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// Kind identifies the resource a Policy came from.
type Kind uint8

const (
	KindNetworkPolicy Kind = iota + 1
	KindGlobalNetworkPolicy
	KindStagedNetworkPolicy
	KindStagedGlobalNetworkPolicy
	KindKubernetesNetworkPolicy
	KindStagedKubernetesNetworkPolicy
)

var kindNames = [...]string{
	KindNetworkPolicy:                 "NetworkPolicy",
	KindGlobalNetworkPolicy:           "GlobalNetworkPolicy",
	KindStagedNetworkPolicy:           "StagedNetworkPolicy",
	KindStagedGlobalNetworkPolicy:     "StagedGlobalNetworkPolicy",
	KindKubernetesNetworkPolicy:       "KubernetesNetworkPolicy",
	KindStagedKubernetesNetworkPolicy: "StagedKubernetesNetworkPolicy",
}

// String returns the Calico kind name (KubernetesNetworkPolicy for a
// networking.k8s.io/v1 NetworkPolicy, as in Calico's flow-log traces).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Unknown"
}

// Staged reports whether the kind is one of the staged kinds.
func (k Kind) Staged() bool {
	return k == KindStagedNetworkPolicy || k == KindStagedGlobalNetworkPolicy || k == KindStagedKubernetesNetworkPolicy
}

// Global reports whether the kind is cluster-scoped.
func (k Kind) Global() bool {
	return k == KindGlobalNetworkPolicy || k == KindStagedGlobalNetworkPolicy
}

// Enforced returns the kind a staged kind becomes when promoted (the kind
// itself for enforced kinds).
func (k Kind) Enforced() Kind {
	switch k {
	case KindStagedNetworkPolicy:
		return KindNetworkPolicy
	case KindStagedGlobalNetworkPolicy:
		return KindGlobalNetworkPolicy
	case KindStagedKubernetesNetworkPolicy:
		return KindKubernetesNetworkPolicy
	}
	return k
}

// StagedAction values (projectcalico.org/v3 StagedAction).
const (
	StagedSet    = "Set"
	StagedDelete = "Delete"
	StagedLearn  = "Learn"
	StagedIgnore = "Ignore"
)

// Well-known tiers and their fixed orders.
const (
	TierDefault                    = "default"
	TierAdminNetworkPolicy         = "adminnetworkpolicy"
	TierBaselineAdminNetworkPolicy = "baselineadminnetworkpolicy"

	DefaultTierOrder                    = 1_000_000
	AdminNetworkPolicyTierOrder         = 1_000
	BaselineAdminNetworkPolicyTierOrder = 10_000_000

	// KubernetesPolicyOrder is the order Calico gives converted Kubernetes
	// NetworkPolicies in the default tier.
	KubernetesPolicyOrder = 1000
)

// Automatic labels and the prefixes under which endpoints inherit their
// namespace's and service account's labels.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	LabelName           = "projectcalico.org/name"
	LabelK8sNamespace   = "kubernetes.io/metadata.name"
	OrchestratorK8s     = "k8s"

	NamespaceLabelPrefix      = "pcns."
	ServiceAccountLabelPrefix = "pcsa."
)

// Source locates the manifest a resource was read from.
type Source struct {
	File string
	Doc  int    // 0-based document index in the file
	Path string // field path of the object inside the document ("" or "items[3]")
}

// Tier is a projectcalico.org/v3 Tier.
type Tier struct {
	Name string
	// Order is nil when unset (the tier then runs after every ordered tier).
	Order *float64
	// DefaultPass is true for defaultAction: Pass; the default is Deny.
	DefaultPass bool
	// Implicit marks a tier that was not loaded but exists in every cluster
	// (default, adminnetworkpolicy, baselineadminnetworkpolicy) or that a
	// policy referenced without a Tier object.
	Implicit bool
	Source   Source
}

func (t *Tier) orderValue() float64 {
	if t.Order == nil {
		return math.Inf(1)
	}
	return *t.Order
}

// Policy is a compiled policy of any kind. Exported fields describe it;
// the rules are compiled for evaluation.
type Policy struct {
	Kind      Kind
	Namespace string // empty for global kinds
	// Name is the metadata name as written (for a Kubernetes NetworkPolicy
	// the Kubernetes name; Calico shows it as knp.default.<name>).
	Name string
	Tier string
	// Order is nil when unset: the policy runs after all ordered policies.
	Order        *float64
	StagedAction string // staged kinds only: Set (default), Delete, Learn or Ignore
	Ingress      bool   // the policy governs ingress (explicit or inferred types)
	Egress       bool   // the policy governs egress
	// Selector is the effective endpoint selector in Calico's dataplane form:
	// namespace restriction, namespaceSelector (over "pcns." labels) and
	// serviceAccountSelector (over "pcsa." labels) folded in.
	Selector *selector.Selector
	// DoNotTrack, PreDNAT and ApplyOnForward are GlobalNetworkPolicy flags.
	// Policies with DoNotTrack or PreDNAT apply to host endpoints in
	// separate chains and are not evaluated (see Evaluator).
	DoNotTrack, PreDNAT, ApplyOnForward bool
	Source                              Source

	ingress, egress []rule
	order           float64 // +Inf when Order is nil
	sortKey         string  // Calico's tie-break key
}

// Ref returns "Kind ns/name" (or "Kind name").
func (p *Policy) Ref() string {
	if p.Namespace != "" {
		return p.Kind.String() + " " + p.Namespace + "/" + p.Name
	}
	return p.Kind.String() + " " + p.Name
}

// CalicoName returns the name Calico uses in traces: knp.default.<name> for
// Kubernetes policies, the metadata name otherwise.
func (p *Policy) CalicoName() string {
	if p.Kind == KindKubernetesNetworkPolicy || p.Kind == KindStagedKubernetesNetworkPolicy {
		return "knp.default." + p.Name
	}
	return p.Name
}

// NumRules returns the number of compiled ingress and egress rules (for a
// Kubernetes policy, after Calico's per-protocol, per-peer expansion).
func (p *Policy) NumRules() (ingress, egress int) { return len(p.ingress), len(p.egress) }

// NetworkSet is a NetworkSet (Namespace set) or GlobalNetworkSet.
type NetworkSet struct {
	Global    bool
	Namespace string
	Name      string
	Labels    selector.Labels // as written in metadata.labels
	Nets      []netip.Prefix
	Source    Source
}

// Profile is a projectcalico.org/v3 Profile. A profile named kns.<ns>
// replaces the allow-all namespace profile Calico generates for namespace
// <ns>; labelsToApply is not modelled.
type Profile struct {
	Name    string
	Source  Source
	ingress []rule
	egress  []rule
}

// Set is the result of loading manifests.
type Set struct {
	Tiers       []*Tier
	Policies    []*Policy
	NetworkSets []*NetworkSet
	Profiles    []*Profile
	// Namespaces holds the labels of Namespace objects found in the input
	// (the evaluator merges them under Config.NamespaceLabels).
	Namespaces map[string]map[string]string
	// Skipped counts documents of unrelated kinds, by "apiVersion/kind".
	Skipped map[string]int
	// Documents counts the objects read (list items count individually).
	Documents int
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{Namespaces: map[string]map[string]string{}, Skipped: map[string]int{}}
}

// Merge appends the contents of o to s.
func (s *Set) Merge(o *Set) {
	s.Tiers = append(s.Tiers, o.Tiers...)
	s.Policies = append(s.Policies, o.Policies...)
	s.NetworkSets = append(s.NetworkSets, o.NetworkSets...)
	s.Profiles = append(s.Profiles, o.Profiles...)
	for k, v := range o.Namespaces {
		s.Namespaces[k] = v
	}
	for k, v := range o.Skipped {
		s.Skipped[k] += v
	}
	s.Documents += o.Documents
}

// Policy returns the policy of the given kind, namespace and name, or nil.
func (s *Set) Policy(kind Kind, namespace, name string) *Policy {
	for _, p := range s.Policies {
		if p.Kind == kind && p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// ruleAction is a compiled rule's action.
type ruleAction uint8

const (
	actAllow ruleAction = iota + 1
	actDeny
	actPass
	actLog
)

type portRange struct{ lo, hi uint16 }

type portMatch struct {
	ranges []portRange
	named  []string
}

func (p *portMatch) empty() bool { return len(p.ranges) == 0 && len(p.named) == 0 }

type serviceMatch struct {
	name, namespace string
}

type entity struct {
	sel      *selector.Selector // nil: no selector constraint
	notSel   *selector.Selector
	nets     []netip.Prefix
	notNets  []netip.Prefix
	ports    portMatch
	notPorts portMatch
	svc      *serviceMatch
}

type icmpMatch struct {
	set     bool
	typ     uint8
	hasCode bool
	code    uint8
}

type rule struct {
	action      ruleAction
	ipVersion   uint8 // 0 any
	proto       uint8 // 0 any
	notProto    uint8 // 0 none
	icmp        icmpMatch
	notICMP     icmpMatch
	src, dst    entity
	http        bool // has an application-layer match the evaluator cannot check
	namedPortIn bool // some port list names a port
}
