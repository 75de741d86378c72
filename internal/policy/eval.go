package policy

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// NamedPort is a port name a workload's containers declare.
type NamedPort struct {
	Name  string
	Proto Protocol
	Port  uint16
}

// Endpoint is one side of a flow.
type Endpoint struct {
	Kind EndpointKind
	// Namespace is empty for non-namespaced endpoints (host endpoints,
	// GlobalNetworkSets, networks).
	Namespace string
	Name      string // informational
	// Labels are the endpoint's own labels (pod labels, set labels). The
	// automatic labels (projectcalico.org/namespace, .../orchestrator,
	// .../serviceaccount) and the inherited namespace and service-account
	// labels are added by the evaluator.
	Labels selector.Labels
	// IP is the endpoint's address; the zero value means unknown. Calico
	// matches nets/notNets and NetworkSet CIDRs against it, also for pods.
	IP netip.Addr
	// Class is the address class when IP is unknown (Goldmane's "pub" and
	// "pvt", a pod or a node): nets matches are then decided for the whole
	// class, see NetClass. Ignored when IP is valid.
	Class          NetClass
	ServiceAccount string // workloads; empty when unknown
	// NamedPorts are the workload's container ports with names. nil means
	// unknown (a rule with a named port then cannot be decided and does not
	// match); an empty non-nil slice means the workload has none.
	NamedPorts []NamedPort
}

// ServiceRef names a Kubernetes Service.
type ServiceRef struct {
	Namespace, Name string
}

// Flow is one connection to evaluate.
type Flow struct {
	Src, Dst Endpoint
	Proto    Protocol // 0: unknown
	SrcPort  uint16   // 0: unknown
	DstPort  uint16   // 0: unknown
	// ICMP type and code, for ICMP flows when ICMPKnown.
	ICMPType, ICMPCode uint8
	ICMPKnown          bool
	// DstService is the Service the connection was addressed to, when known
	// (matched by rules with destination.services).
	DstService ServiceRef
}

// Rule indices with special meaning in a Decision.
const (
	RuleEndOfTier = -1 // the tier's default action decided
	RuleProfile   = -2 // the profile decided (no tier applied, or the last one passed)
)

// Action is a verdict.
type Action uint8

const (
	ActionNone  Action = iota // the direction was not evaluated
	ActionAllow               // allowed
	ActionDeny                // denied
)

func (a Action) String() string {
	switch a {
	case ActionAllow:
		return "allow"
	case ActionDeny:
		return "deny"
	}
	return "-"
}

// Decision is the outcome of one direction of a flow.
type Decision struct {
	// Evaluated is false when the endpoint is not one Calico enforces policy
	// on (the egress side is not a workload or host endpoint, or the ingress
	// side is not); Action is then ActionNone.
	Evaluated bool
	Action    Action
	// unknownActs has a bit per action of the undecided rules, and
	// unknownHTTP for an http match that decided.
	unknownActs uint8
	// Tier and Policy identify what decided: the rule's policy, or the last
	// selecting policy of the tier for an end-of-tier action. Both are empty
	// when the profile decided.
	Tier   string
	Policy *Policy
	// RuleIndex is the deciding rule's index in the policy's rules for this
	// direction (for Kubernetes policies, Calico's converted rules), or
	// RuleEndOfTier, or RuleProfile when the profile decided by default
	// (Profile then names the profile; a loaded profile whose rule decided
	// gives that rule's index, with Policy nil).
	RuleIndex int
	Profile   string
	// Logged reports that a Log rule matched before the decision.
	Logged bool
	// Incomplete reports that some rule needed data the flow lacks (an
	// unknown IP, port, protocol, named ports, ICMP type, service, or an
	// address class only partly inside the rule's nets) and was treated as
	// not matching, or that an application-layer (http) match was ignored;
	// the decision may differ from the dataplane's. A rule is Incomplete
	// only when none of its other conditions rules it out. See Certain.
	Incomplete bool
	// Missing says what the undecided rules lacked.
	Missing Missing
	// UnknownRule and UnknownPolicy locate the first rule that could not be
	// decided (UnknownPolicy nil: a rule of the profile; its tier is
	// UnknownPolicy.Tier). Set only when Incomplete.
	UnknownRule   int32
	UnknownPolicy *Policy
}

const unknownHTTP = 1 << 7

// Certain reports whether the action is right even though the decision is
// Incomplete: every rule that could not be decided has the decided action
// (or is a Log rule), so whichever way it went the flow gets the same
// action. A decision an ignored http match made is never certain.
func (d *Decision) Certain() bool {
	if !d.Incomplete {
		return true
	}
	acts := d.unknownActs &^ (1 << actLog)
	if acts&unknownHTTP != 0 {
		return false
	}
	switch d.Action {
	case ActionAllow:
		return acts&^(1<<actAllow) == 0
	case ActionDeny:
		return acts&^(1<<actDeny) == 0
	}
	return false
}

// markUnknown records a rule that could not be decided.
func (d *Decision) markUnknown(m Missing, act uint8, idx int) {
	if !d.Incomplete {
		d.UnknownRule = int32(idx)
	}
	d.Incomplete = true
	d.Missing |= m
	d.unknownActs |= act
}

// Allowed reports whether the direction lets the flow through (true when it
// was not evaluated).
func (d *Decision) Allowed() bool { return !d.Evaluated || d.Action == ActionAllow }

// String renders e.g. "allow by default/NetworkPolicy ns/p rule 2".
func (d Decision) String() string {
	if !d.Evaluated {
		return "n/a"
	}
	var b strings.Builder
	b.WriteString(d.Action.String())
	switch {
	case d.Policy != nil && d.RuleIndex == RuleEndOfTier:
		fmt.Fprintf(&b, " by end of tier %s (%s)", d.Tier, d.Policy.Ref())
	case d.Policy != nil:
		fmt.Fprintf(&b, " by %s/%s rule %d", d.Tier, d.Policy.Ref(), d.RuleIndex)
	default:
		fmt.Fprintf(&b, " by profile %s", d.Profile)
	}
	if d.Incomplete {
		b.WriteString(" (incomplete)")
	}
	return b.String()
}

// Verdict combines the two directions: the flow is allowed when egress
// allows it and ingress allows it or does not apply.
type Verdict struct {
	Allowed         bool
	Egress, Ingress Decision
}

// Result is the enforced verdict and the pending one (staged policies
// treated as enforced, like Calico's pending trace).
type Result struct {
	Verdict
	Pending Verdict
}

// Config carries the cluster facts evaluation needs.
type Config struct {
	// NamespaceLabels are the labels of each namespace. Every namespace also
	// gets kubernetes.io/metadata.name=<ns> and projectcalico.org/name=<ns>.
	// They are merged over the labels of Namespace objects in the Set.
	NamespaceLabels map[string]map[string]string
	// ServiceAccountLabels are the labels of service accounts, by namespace
	// and name (each also gets projectcalico.org/name=<sa>).
	ServiceAccountLabels map[string]map[string]map[string]string
	// PendingReplacesEnforced changes the pending evaluation from Calico's
	// (staged policies added next to the enforced ones; stagedAction Delete
	// ignored) to "what promotion would do": a staged policy with
	// stagedAction Set or Learn replaces the enforced policy of the same
	// kind, namespace and name, Delete removes it, and Ignore has no effect.
	PendingReplacesEnforced bool
	// HostEndpointDefaultDeny makes host endpoints that no tier applies to
	// deny (a host endpoint without profiles); the default models Calico's
	// automatic host endpoints with the allow-all default profile.
	HostEndpointDefaultDeny bool
	// DefaultIPVersion (4 or 6) is assumed for flows whose endpoints have no
	// known IP when a rule sets ipVersion, and restricts address classes to
	// that family; 0 leaves such rules unmatched and classes span both.
	DefaultIPVersion int
	// PrivateNets are the ranges flow logs call private ("pvt"); the public
	// class is every other address. Empty means DefaultPrivateNets.
	PrivateNets []netip.Prefix
	// PublicExcept are ranges an address-less public ("pub") endpoint is
	// assumed not to lie in (special ranges such as link-local, which
	// rendered "any public address" rules leave out); empty: none.
	PublicExcept []netip.Prefix
	// PodNets and NodeNets define the pod and node classes (pods and host
	// endpoints without a known IP); empty leaves them undefined, so nets
	// matches on such endpoints are Incomplete.
	PodNets, NodeNets []netip.Prefix
}

type scope uint8

const (
	scopeEnforced scope = iota
	scopePending
)

type tierInfo struct {
	tier  *Tier
	order float64
	// policies of the tier in evaluation order (all scopes)
	policies []*Policy
}

type tierPlan struct {
	tier   *Tier
	pols   []*Policy
	guards []guard // parallel to pols
}

// guard is a "key == value" the policy's selector requires; checking it
// first (with the previous lookup memoised, since policies of a tier often
// test the same key) skips most non-selecting policies cheaply. always marks
// a selector the plan's namespace alone satisfies.
type guard struct {
	key, value string
	always     bool
}

// plan is the ordered candidate policies for endpoints of one namespace (or
// for non-namespaced endpoints), per direction and scope.
type plan struct {
	ns          string
	nsLabels    selector.Labels // "pcns."-prefixed namespace labels
	tiers       [2][2][]tierPlan
	samePending [2]bool
	profile     *Profile // loaded kns.<ns> profile; nil: allow all
	profileName string
}

type netsetInfo struct {
	set    *NetworkSet
	labels selector.Labels // own + automatic + inherited namespace labels
}

// Evaluator evaluates flows against a compiled policy set. It is immutable
// and safe for concurrent use.
type Evaluator struct {
	cfg         Config
	tiers       []*tierInfo
	plans       map[string]*plan
	hostPlan    *plan // non-namespaced endpoints (host endpoints)
	unknownPlan *plan // namespaces neither configured nor referenced
	saLabels    map[string]map[string]selector.Labels
	netsets     []netsetInfo
	setIndex    map[netip.Prefix][]int32
	setLens4    []int
	setLens6    []int
	// selSets maps each rule selector to the NetworkSets whose labels it
	// matches; most match none, which spares the per-flow CIDR lookup.
	selSets map[*selector.Selector][]int32
	// classes are the address-class regions; entRel relates every rule
	// entity's nets ([0]) and notNets ([1]) to them, and setRel every
	// NetworkSet's nets.
	classes [numNetClasses]classDef
	entRel  map[*entity]*[2]classRels
	setRel  []classRels
	// Skipped lists policies the evaluator ignores: doNotTrack and preDNAT
	// policies, which Calico applies to host endpoints in separate chains.
	Skipped []*Policy
	// MissingTiers lists tiers that policies reference but no Tier object
	// defines; like felix, the evaluator runs them after every defined tier
	// with the Deny default action (the Calico API would reject the policies).
	MissingTiers []string
}

// NewEvaluator compiles a policy set with the cluster facts. The Set must
// not be modified afterwards.
func NewEvaluator(set *Set, cfg Config) (*Evaluator, error) {
	e := &Evaluator{cfg: cfg, plans: map[string]*plan{}, setIndex: map[netip.Prefix][]int32{}}
	if cfg.DefaultIPVersion != 0 && cfg.DefaultIPVersion != 4 && cfg.DefaultIPVersion != 6 {
		return nil, fmt.Errorf("DefaultIPVersion must be 0, 4 or 6, not %d", cfg.DefaultIPVersion)
	}
	e.buildTiers(set)
	e.buildPlans(set, cfg)
	e.buildServiceAccounts(cfg)
	e.buildNetworkSets(set)
	e.relateRules(set)
	return e, nil
}

// buildTiers orders the tiers (loaded ones, the built-in ones, and any a
// policy references) and each tier's policies in evaluation order.
func (e *Evaluator) buildTiers(set *Set) {
	tiers := map[string]*Tier{}
	for _, t := range set.Tiers {
		if _, dup := tiers[t.Name]; !dup {
			tiers[t.Name] = t // the loader already reported duplicates
		}
	}
	for name, order := range map[string]float64{TierDefault: DefaultTierOrder, TierAdminNetworkPolicy: AdminNetworkPolicyTierOrder, TierBaselineAdminNetworkPolicy: BaselineAdminNetworkPolicyTierOrder} {
		if _, ok := tiers[name]; !ok {
			o := order
			tiers[name] = &Tier{Name: name, Order: &o, DefaultPass: name != TierDefault, Implicit: true}
		}
	}
	missing := map[string]bool{}
	for _, p := range set.Policies {
		if _, ok := tiers[p.Tier]; !ok {
			// Felix sorts tiers without a Tier object after all others.
			tiers[p.Tier] = &Tier{Name: p.Tier, Implicit: true}
			missing[p.Tier] = true
			e.MissingTiers = append(e.MissingTiers, p.Tier)
		}
	}
	byName := map[string]*tierInfo{}
	for _, t := range tiers {
		ti := &tierInfo{tier: t, order: t.orderValue()}
		e.tiers = append(e.tiers, ti)
		byName[t.Name] = ti
	}
	slices.SortFunc(e.tiers, func(a, b *tierInfo) int {
		if ma, mb := missing[a.tier.Name], missing[b.tier.Name]; ma != mb {
			if ma {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.order, b.order); c != 0 {
			return c
		}
		return strings.Compare(a.tier.Name, b.tier.Name)
	})
	for _, p := range set.Policies {
		if p.DoNotTrack || p.PreDNAT {
			e.Skipped = append(e.Skipped, p)
			continue
		}
		ti := byName[p.Tier]
		ti.policies = append(ti.policies, p)
	}
	slices.Sort(e.MissingTiers)
	for _, ti := range e.tiers {
		slices.SortStableFunc(ti.policies, func(a, b *Policy) int {
			if c := cmp.Compare(a.order, b.order); c != 0 {
				return c
			}
			return strings.Compare(a.sortKey, b.sortKey)
		})
	}
}

// scopeFilter decides which policies each scope evaluates.
type scopeFilter struct {
	replaceMode bool
	// replaced are the enforced policies a staged one replaces (replace mode).
	replaced map[*Policy]bool
}

func newScopeFilter(set *Set, cfg Config) scopeFilter {
	f := scopeFilter{replaceMode: cfg.PendingReplacesEnforced, replaced: map[*Policy]bool{}}
	if !cfg.PendingReplacesEnforced {
		return f
	}
	type key struct {
		kind     Kind
		ns, name string
	}
	enforced := map[key]*Policy{}
	for _, p := range set.Policies {
		if !p.Kind.Staged() {
			enforced[key{p.Kind, p.Namespace, p.Name}] = p
		}
	}
	for _, p := range set.Policies {
		if p.Kind.Staged() && p.StagedAction != StagedIgnore {
			if q := enforced[key{p.Kind.Enforced(), p.Namespace, p.Name}]; q != nil {
				f.replaced[q] = true
			}
		}
	}
	return f
}

func (f scopeFilter) inScope(p *Policy, sc scope) bool {
	if sc == scopeEnforced {
		return !p.Kind.Staged()
	}
	if p.Kind.Staged() {
		if p.StagedAction == StagedDelete {
			return false
		}
		return !(f.replaceMode && p.StagedAction == StagedIgnore)
	}
	return !f.replaced[p]
}

// namespaceLabels are the labels of every namespace the set or the
// configuration names (configured labels merged over the Namespace objects').
func namespaceLabels(set *Set, cfg Config) map[string]map[string]string {
	nsLabels := map[string]map[string]string{}
	for ns, l := range set.Namespaces {
		nsLabels[ns] = maps.Clone(l)
	}
	for ns, l := range cfg.NamespaceLabels {
		if nsLabels[ns] == nil {
			nsLabels[ns] = map[string]string{}
		}
		maps.Copy(nsLabels[ns], l)
	}
	for _, p := range set.Policies {
		if p.Namespace != "" && nsLabels[p.Namespace] == nil {
			nsLabels[p.Namespace] = map[string]string{}
		}
	}
	for _, s := range set.NetworkSets {
		if s.Namespace != "" && nsLabels[s.Namespace] == nil {
			nsLabels[s.Namespace] = map[string]string{}
		}
	}
	return nsLabels
}

// planBuilder builds the per-namespace plans.
type planBuilder struct {
	tiers    []*tierInfo
	scopes   scopeFilter
	nsLabels map[string]map[string]string
	profiles map[string]*Profile
}

// buildPlans builds a plan for every known namespace, host endpoints and
// namespaces nothing names.
func (e *Evaluator) buildPlans(set *Set, cfg Config) {
	b := planBuilder{tiers: e.tiers, scopes: newScopeFilter(set, cfg), nsLabels: namespaceLabels(set, cfg), profiles: map[string]*Profile{}}
	for _, p := range set.Profiles {
		b.profiles[p.Name] = p
	}
	for ns := range b.nsLabels {
		e.plans[ns] = b.build(ns, true)
	}
	e.hostPlan = b.build("", false)
	e.unknownPlan = b.build("?", false)
}

func (b *planBuilder) build(ns string, known bool) *plan {
	pl := &plan{ns: ns}
	var knownLabels selector.Labels
	isKnown := func(string) bool { return false }
	if known {
		m := maps.Clone(b.nsLabels[ns])
		if m == nil {
			m = map[string]string{}
		}
		m[LabelK8sNamespace] = ns
		m[LabelName] = ns
		pl.nsLabels = selector.MakeLabels(m).WithPrefix(NamespaceLabelPrefix)
		pl.profile = b.profiles["kns."+ns]
		pl.profileName = "kns." + ns
		// Namespaced plans only serve workload endpoints (the policed
		// namespaced kind), which all carry these labels.
		knownLabels = selector.Merge(nil, selector.FromPairs(LabelNamespace, ns, LabelOrchestrator, OrchestratorK8s), pl.nsLabels)
		isKnown = func(k string) bool {
			return k == LabelNamespace || k == LabelOrchestrator || strings.HasPrefix(k, NamespaceLabelPrefix)
		}
	} else if ns == "" {
		// Host endpoints: no namespace, no inherited namespace labels.
		pl.profileName = "projectcalico-default-allow"
		isKnown = func(k string) bool { return k == LabelNamespace || strings.HasPrefix(k, NamespaceLabelPrefix) }
	}
	pc := planContext{ns: ns, known: known, knownLabels: knownLabels, isKnown: isKnown}
	for dir := dirIngress; dir <= dirEgress; dir++ {
		for sc := scopeEnforced; sc <= scopePending; sc++ {
			for _, ti := range b.tiers {
				if tp, ok := b.tierPlan(ti, dir, sc, &pc); ok {
					pl.tiers[dir][sc] = append(pl.tiers[dir][sc], tp)
				}
			}
		}
		pl.samePending[dir] = samePlans(pl.tiers[dir][scopeEnforced], pl.tiers[dir][scopePending])
	}
	return pl
}

// planContext is what a plan's namespace tells about its endpoints.
type planContext struct {
	ns          string
	known       bool
	knownLabels selector.Labels
	isKnown     func(string) bool
}

// tierPlan lists the tier's policies that can select an endpoint of the
// plan in this direction and scope, with their guards; false: none can.
func (b *planBuilder) tierPlan(ti *tierInfo, dir direction, sc scope, pc *planContext) (tierPlan, bool) {
	var pols []*Policy
	for _, p := range ti.policies {
		if dir == dirIngress && !p.Ingress || dir == dirEgress && !p.Egress || !b.scopes.inScope(p, sc) {
			continue
		}
		if p.Namespace != "" && (!pc.known || p.Namespace != pc.ns) {
			continue
		}
		if !p.Selector.Possible(pc.knownLabels, pc.isKnown) {
			continue
		}
		pols = append(pols, p)
	}
	if len(pols) == 0 {
		return tierPlan{}, false
	}
	tp := tierPlan{tier: ti.tier, pols: pols, guards: make([]guard, len(pols))}
	for i, p := range pols {
		if pc.known && p.Selector.Certain(pc.knownLabels, pc.isKnown) {
			tp.guards[i].always = true
			continue
		}
		for _, eq := range p.Selector.RequiredEquals() {
			// The namespace and orchestrator labels are already implied by
			// the plan.
			if eq.Key != LabelNamespace && eq.Key != LabelOrchestrator {
				tp.guards[i] = guard{key: eq.Key, value: eq.Value}
				break
			}
		}
	}
	return tp, true
}

// buildServiceAccounts prefixes the service accounts' labels as Calico does.
func (e *Evaluator) buildServiceAccounts(cfg Config) {
	e.saLabels = map[string]map[string]selector.Labels{}
	for ns, sas := range cfg.ServiceAccountLabels {
		e.saLabels[ns] = map[string]selector.Labels{}
		for sa, l := range sas {
			m := maps.Clone(l)
			if m == nil {
				m = map[string]string{}
			}
			m[LabelName] = sa
			e.saLabels[ns][sa] = selector.MakeLabels(m).WithPrefix(ServiceAccountLabelPrefix)
		}
	}
}

// buildNetworkSets gives the network sets the labels Calico gives them and
// indexes their nets (by prefix, and the prefix lengths in use per family).
func (e *Evaluator) buildNetworkSets(set *Set) {
	for _, s := range set.NetworkSets {
		ls := []selector.Labels{s.Labels}
		if s.Namespace != "" {
			ls = append([]selector.Labels{selector.FromPairs(LabelNamespace, s.Namespace)}, ls...)
			if pl := e.plans[s.Namespace]; pl != nil {
				ls = append(ls, pl.nsLabels)
			}
		}
		idx := int32(len(e.netsets))
		e.netsets = append(e.netsets, netsetInfo{set: s, labels: selector.Merge(nil, ls...)})
		for _, n := range s.Nets {
			if !slices.Contains(e.setIndex[n], idx) {
				e.setIndex[n] = append(e.setIndex[n], idx)
			}
			if n.Addr().Is4() {
				if !slices.Contains(e.setLens4, n.Bits()) {
					e.setLens4 = append(e.setLens4, n.Bits())
				}
			} else if !slices.Contains(e.setLens6, n.Bits()) {
				e.setLens6 = append(e.setLens6, n.Bits())
			}
		}
	}
}

// relateRules precomputes, for every rule of the policies and profiles,
// which network sets its selectors match and how its nets relate to the
// address classes.
func (e *Evaluator) relateRules(set *Set) {
	e.classes = buildClasses(&e.cfg)
	e.setRel = make([]classRels, len(e.netsets))
	for i := range e.netsets {
		e.setRel[i] = relateClasses(&e.classes, e.netsets[i].set.Nets)
	}
	e.entRel = map[*entity]*[2]classRels{}
	e.selSets = map[*selector.Selector][]int32{}
	for _, p := range set.Policies {
		e.relate(p.ingress)
		e.relate(p.egress)
	}
	for _, p := range set.Profiles {
		e.relate(p.ingress)
		e.relate(p.egress)
	}
}

func (e *Evaluator) relate(rs []rule) {
	for i := range rs {
		for _, en := range []*entity{&rs[i].src, &rs[i].dst} {
			e.selectSets(en.sel)
			e.selectSets(en.notSel)
			if len(en.nets) > 0 || len(en.notNets) > 0 {
				if _, done := e.entRel[en]; !done {
					e.entRel[en] = &[2]classRels{relateClasses(&e.classes, en.nets), relateClasses(&e.classes, en.notNets)}
				}
			}
		}
	}
}

// selectSets records which network sets a rule selector matches.
func (e *Evaluator) selectSets(sel *selector.Selector) {
	if sel == nil {
		return
	}
	if _, done := e.selSets[sel]; done {
		return
	}
	var idx []int32
	for i := range e.netsets {
		if sel.Matches(e.netsets[i].labels) {
			idx = append(idx, int32(i))
		}
	}
	e.selSets[sel] = idx
}

func samePlans(a, b []tierPlan) bool {
	return slices.EqualFunc(a, b, func(x, y tierPlan) bool {
		return x.tier == y.tier && slices.Equal(x.pols, y.pols)
	})
}

// Tiers returns the tiers in evaluation order.
func (e *Evaluator) Tiers() []*Tier {
	out := make([]*Tier, len(e.tiers))
	for i, t := range e.tiers {
		out[i] = t.tier
	}
	return out
}

// --- evaluation -------------------------------------------------------------

const maxSets = 16

type epCtx struct {
	ep       *Endpoint
	proto    Protocol // the flow's protocol
	plan     *plan
	ip       netip.Addr
	labels   selector.View
	sets     [maxSets]int32
	nsets    int
	setsDone bool
	setsMore bool // more than maxSets sets contain the IP
}

type evalCtx struct {
	f      *Flow
	family uint8
	src    epCtx
	dst    epCtx
}

// prepare picks the endpoint's plan and builds its label view the way
// Calico sees the endpoint: automatic labels, the endpoint's own labels, and
// the inherited "pcns." namespace and "pcsa." service-account labels. tmp
// holds the labels built on the fly; it lives in the caller's frame (a
// context struct pointing into itself would escape to the heap).
func (e *Evaluator) prepare(ep *Endpoint, tmp *[6]selector.Label) (*plan, selector.View) {
	auto := tmp[0:0:3]
	pl := e.hostPlan
	var nsLabels, saLabels selector.Labels
	switch ep.Kind {
	case EndpointWorkload, EndpointNetworkSet:
		if ep.Namespace != "" {
			auto = append(auto, selector.Label{Key: LabelNamespace, Value: ep.Namespace})
			if p := e.plans[ep.Namespace]; p != nil {
				pl = p
				nsLabels = p.nsLabels
			} else {
				pl = e.unknownPlan
				tmp[3] = selector.Label{Key: NamespaceLabelPrefix + LabelK8sNamespace, Value: ep.Namespace}
				tmp[4] = selector.Label{Key: NamespaceLabelPrefix + LabelName, Value: ep.Namespace}
				nsLabels = selector.FromSorted(tmp[3:5])
			}
		}
		if ep.Kind == EndpointWorkload {
			auto = append(auto, selector.Label{Key: LabelOrchestrator, Value: OrchestratorK8s})
			if ep.ServiceAccount != "" {
				auto = append(auto, selector.Label{Key: LabelServiceAccount, Value: ep.ServiceAccount})
				if l, ok := e.saLabels[ep.Namespace][ep.ServiceAccount]; ok {
					saLabels = l
				} else {
					tmp[5] = selector.Label{Key: ServiceAccountLabelPrefix + LabelName, Value: ep.ServiceAccount}
					saLabels = selector.FromSorted(tmp[5:6])
				}
			}
		}
	}
	return pl, selector.NewView(
		selector.Layer{Prefix: autoLabelPrefix, Labels: selector.FromSorted(auto)},
		selector.Layer{Labels: ep.Labels},
		selector.Layer{Prefix: NamespaceLabelPrefix, Labels: nsLabels},
		selector.Layer{Prefix: ServiceAccountLabelPrefix, Labels: saLabels},
	)
}

// autoLabelPrefix is the common prefix of the automatic endpoint labels.
const autoLabelPrefix = "projectcalico.org/"

// Evaluate replays one flow. It does not allocate.
func (e *Evaluator) Evaluate(f Flow) Result {
	var c evalCtx
	var srcTmp, dstTmp [6]selector.Label
	c.f = &f
	c.src.ep, c.dst.ep = &f.Src, &f.Dst
	c.src.proto, c.dst.proto = f.Proto, f.Proto
	c.src.ip, c.dst.ip = f.Src.IP.Unmap(), f.Dst.IP.Unmap()
	c.src.plan, c.src.labels = e.prepare(&f.Src, &srcTmp)
	c.dst.plan, c.dst.labels = e.prepare(&f.Dst, &dstTmp)
	switch {
	case c.src.ip.Is4() || c.dst.ip.Is4():
		c.family = 4
	case c.src.ip.Is6() || c.dst.ip.Is6():
		c.family = 6
	default:
		c.family = uint8(e.cfg.DefaultIPVersion)
	}
	var r Result
	if policed(f.Src.Kind) {
		r.Egress = e.decide(&c, &c.src, dirEgress, scopeEnforced)
		if c.src.plan.samePending[dirEgress] {
			r.Pending.Egress = r.Egress
		} else {
			r.Pending.Egress = e.decide(&c, &c.src, dirEgress, scopePending)
		}
	}
	if policed(f.Dst.Kind) {
		r.Ingress = e.decide(&c, &c.dst, dirIngress, scopeEnforced)
		if c.dst.plan.samePending[dirIngress] {
			r.Pending.Ingress = r.Ingress
		} else {
			r.Pending.Ingress = e.decide(&c, &c.dst, dirIngress, scopePending)
		}
	}
	r.Allowed = r.Egress.Allowed() && r.Ingress.Allowed()
	r.Pending.Allowed = r.Pending.Egress.Allowed() && r.Pending.Ingress.Allowed()
	return r
}

func policed(k EndpointKind) bool { return k == EndpointWorkload || k == EndpointHost }

func (e *Evaluator) decide(c *evalCtx, ep *epCtx, dir direction, sc scope) Decision {
	d := Decision{Evaluated: true}
	tiers := ep.plan.tiers[dir][sc]
tiers:
	for ti := range tiers {
		tp := &tiers[ti]
		var last *Policy
		var memoKey, memoVal string
		var memoOK bool
		for i, p := range tp.pols {
			if g := &tp.guards[i]; !g.always {
				if g.key != "" {
					if g.key != memoKey {
						memoKey = g.key
						memoVal, memoOK = ep.labels.Get(g.key)
					}
					if !memoOK || memoVal != g.value {
						continue
					}
				}
				if !p.Selector.MatchesView(&ep.labels) {
					continue
				}
			}
			last = p
			rules := p.ingress
			if dir == dirEgress {
				rules = p.egress
			}
			first := !d.Incomplete
			act, idx := e.evalRules(c, rules, &d)
			if first && d.Incomplete {
				d.UnknownPolicy = p
			}
			switch act {
			case actAllow, actDeny:
				d.Action = ActionAllow
				if act == actDeny {
					d.Action = ActionDeny
				}
				d.Tier, d.Policy, d.RuleIndex = tp.tier.Name, p, idx
				return d
			case actPass:
				continue tiers
			}
		}
		if last != nil && !tp.tier.DefaultPass {
			d.Action, d.Tier, d.Policy, d.RuleIndex = ActionDeny, tp.tier.Name, last, RuleEndOfTier
			return d
		}
	}
	d.RuleIndex = RuleProfile
	d.Profile = ep.plan.profileName
	if ep.ep.Kind == EndpointHost {
		d.Action = ActionAllow
		if e.cfg.HostEndpointDefaultDeny {
			d.Action = ActionDeny
		}
		return d
	}
	prof := ep.plan.profile
	if prof == nil {
		d.Action = ActionAllow
		return d
	}
	rules := prof.ingress
	if dir == dirEgress {
		rules = prof.egress
	}
	act, idx := e.evalRules(c, rules, &d)
	if act == actAllow {
		d.Action = ActionAllow
		d.RuleIndex = idx
	} else {
		// Deny, Pass, or no rule matched: no profile accepted the packet.
		d.Action = ActionDeny
		if act != 0 {
			d.RuleIndex = idx
		}
	}
	return d
}

func (e *Evaluator) evalRules(c *evalCtx, rules []rule, d *Decision) (ruleAction, int) {
	for i := range rules {
		r := &rules[i]
		ok, miss := e.ruleMatches(c, r)
		if !ok {
			continue
		}
		if miss != 0 {
			// Nothing rules the rule out, but something it needs is
			// unknown: it does not match, and the decision says so.
			d.markUnknown(miss, 1<<r.action, i)
			continue
		}
		if r.http {
			d.markUnknown(MissingHTTP, unknownHTTP, i)
		}
		if r.action == actLog {
			d.Logged = true
			continue
		}
		return r.action, i
	}
	return 0, RuleEndOfTier
}

// ruleMatches reports whether no condition of the rule rules the flow out
// and, if so, what data the conditions it could not decide lacked (a rule
// with missing data does not match). Every condition is looked at, so a
// rule some known field excludes is never reported as undecided.
func (e *Evaluator) ruleMatches(c *evalCtx, r *rule) (bool, Missing) {
	f := c.f
	var miss Missing
	if r.proto != 0 {
		if f.Proto == 0 {
			miss |= MissingProtocol
		} else if uint8(f.Proto) != r.proto {
			return false, 0
		}
	}
	if r.notProto != 0 {
		if f.Proto == 0 {
			miss |= MissingProtocol
		} else if uint8(f.Proto) == r.notProto {
			return false, 0
		}
	}
	if r.ipVersion != 0 {
		if c.family == 0 {
			miss |= MissingIPVersion
		} else if c.family != r.ipVersion {
			return false, 0
		}
	}
	if r.icmp.set || r.notICMP.set {
		if !f.ICMPKnown {
			miss |= MissingICMP
		} else {
			if r.icmp.set && !icmpMatches(&r.icmp, f) {
				return false, 0
			}
			if r.notICMP.set && icmpMatches(&r.notICMP, f) {
				return false, 0
			}
		}
	}
	// Ports and nets first: they are cheap and usually decide.
	ok, m := e.portsMatch(&r.dst, &c.dst, f.DstPort)
	if !ok {
		return false, 0
	}
	miss |= m
	if ok, m = e.portsMatch(&r.src, &c.src, f.SrcPort); !ok {
		return false, 0
	}
	miss |= m
	if ok, m = e.entityMatches(c, &r.dst, &c.dst, true); !ok {
		return false, 0
	}
	miss |= m
	if ok, m = e.entityMatches(c, &r.src, &c.src, false); !ok {
		return false, 0
	}
	return true, miss | m
}

func icmpMatches(m *icmpMatch, f *Flow) bool {
	return f.ICMPType == m.typ && (!m.hasCode || f.ICMPCode == m.code)
}

func (e *Evaluator) portsMatch(en *entity, ep *epCtx, port uint16) (bool, Missing) {
	var miss Missing
	if !en.ports.empty() {
		if port == 0 {
			miss |= MissingPort
		} else {
			ok, m := e.portMatches(&en.ports, ep, port, ep.proto)
			if !ok && m == 0 {
				return false, 0
			}
			miss |= m
		}
	}
	if !en.notPorts.empty() {
		if port == 0 {
			miss |= MissingPort
		} else {
			ok, m := e.portMatches(&en.notPorts, ep, port, ep.proto)
			if ok {
				return false, 0
			}
			miss |= m
		}
	}
	return true, miss
}

// classMatch decides an address match for an endpoint without an IP: its
// address class wholly inside the entity's nets (which 0) or notNets (1),
// wholly outside, or undecided.
func (e *Evaluator) classMatch(c *evalCtx, en *entity, ep *epCtx, which int) (in bool, miss Missing) {
	cls := ep.ep.Class
	if cls == NetClassNone || cls >= numNetClasses {
		return false, MissingAddress
	}
	switch e.entRel[en][which][cls][familyIndex(c.family)] {
	case relAll:
		return true, 0
	case relNone:
		return false, 0
	case relPartial:
		return false, MissingClassPart
	}
	return false, MissingAddress
}

func (e *Evaluator) entityMatches(c *evalCtx, en *entity, ep *epCtx, isDst bool) (bool, Missing) {
	var miss Missing
	if len(en.nets) > 0 {
		if ep.ip.IsValid() {
			if !prefixesContain(en.nets, ep.ip) {
				return false, 0
			}
		} else {
			in, m := e.classMatch(c, en, ep, 0)
			if !in && m == 0 {
				return false, 0
			}
			miss |= m
		}
	}
	if len(en.notNets) > 0 {
		if ep.ip.IsValid() {
			if prefixesContain(en.notNets, ep.ip) {
				return false, 0
			}
		} else {
			in, m := e.classMatch(c, en, ep, 1)
			if in {
				return false, 0
			}
			miss |= m
		}
	}
	if en.sel != nil {
		ok, m := e.selectorMatches(c, en.sel, ep)
		if !ok && m == 0 {
			return false, 0
		}
		miss |= m
	}
	if en.notSel != nil {
		ok, m := e.selectorMatches(c, en.notSel, ep)
		if ok && m == 0 {
			return false, 0
		}
		miss |= m
	}
	if en.svc != nil {
		svc := &c.f.DstService
		if !isDst || svc.Name == "" {
			miss |= MissingService
		} else if svc.Name != en.svc.name || svc.Namespace != en.svc.namespace {
			return false, 0
		}
	}
	return true, miss
}

func prefixesContain(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// portMatches reports whether the port is in the list; a named port of a
// workload whose named ports are unknown leaves it undecided (false with
// MissingNamedPorts).
func (e *Evaluator) portMatches(m *portMatch, ep *epCtx, port uint16, proto Protocol) (bool, Missing) {
	for _, r := range m.ranges {
		if port >= r.lo && port <= r.hi {
			return true, 0
		}
	}
	if len(m.named) == 0 {
		return false, 0
	}
	if ep.ep.NamedPorts == nil {
		if ep.ep.Kind == EndpointWorkload {
			return false, MissingNamedPorts
		}
		return false, 0
	}
	for _, np := range ep.ep.NamedPorts {
		if np.Port != port || np.Proto != proto {
			continue
		}
		for _, n := range m.named {
			if n == np.Name {
				return true, 0
			}
		}
	}
	return false, 0
}

// selectorMatches matches a rule selector against an endpoint the way
// Calico's IP sets do: the endpoint's own (merged) labels, or the labels of
// any NetworkSet whose CIDRs contain the endpoint's IP. A bare network
// address is no endpoint: it has no labels to match (even all() or
// !has(k), which an empty label set satisfies, leave it out of the IP set)
// and is selected only through a NetworkSet. For an endpoint known only by
// its address class, a selected NetworkSet that holds the whole class
// matches and one that holds part of it leaves the match undecided (false
// with MissingSetMember).
func (e *Evaluator) selectorMatches(c *evalCtx, sel *selector.Selector, ep *epCtx) (bool, Missing) {
	if ep.ep.Kind != EndpointNetwork && sel.MatchesView(&ep.labels) {
		return true, 0
	}
	if len(e.netsets) == 0 {
		return false, 0
	}
	if !ep.ip.IsValid() {
		cls := ep.ep.Class
		if cls == NetClassNone || cls >= numNetClasses {
			return false, 0
		}
		fam := familyIndex(c.family)
		var miss Missing
		for _, i := range e.selSets[sel] {
			switch e.setRel[i][cls][fam] {
			case relAll:
				return true, 0
			case relPartial, relUndefined:
				miss = MissingSetMember
			}
		}
		return false, miss
	}
	cands := e.selSets[sel]
	if len(cands) == 0 {
		return false, 0
	}
	if len(cands) <= 4 {
		for _, i := range cands {
			if prefixesContain(e.netsets[i].set.Nets, ep.ip) {
				return true, 0
			}
		}
		return false, 0
	}
	if !ep.setsDone {
		e.findSets(ep)
	}
	for i := 0; i < ep.nsets; i++ {
		if sel.Matches(e.netsets[ep.sets[i]].labels) {
			return true, 0
		}
	}
	if ep.setsMore {
		for i := range e.netsets {
			ns := &e.netsets[i]
			if prefixesContain(ns.set.Nets, ep.ip) && sel.Matches(ns.labels) {
				return true, 0
			}
		}
	}
	return false, 0
}

func (e *Evaluator) findSets(ep *epCtx) {
	ep.setsDone = true
	lens := e.setLens6
	if ep.ip.Is4() {
		lens = e.setLens4
	}
	for _, bits := range lens {
		pfx, err := ep.ip.Prefix(bits)
		if err != nil {
			continue
		}
		for _, idx := range e.setIndex[pfx] {
			if ep.nsets == maxSets {
				ep.setsMore = true
				return
			}
			dup := false
			for i := 0; i < ep.nsets; i++ {
				if ep.sets[i] == idx {
					dup = true
					break
				}
			}
			if !dup {
				ep.sets[ep.nsets] = idx
				ep.nsets++
			}
		}
	}
}
