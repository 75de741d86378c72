package rollout

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/render"
)

// PlanOptions shape a wave plan.
type PlanOptions struct {
	// PerWave bounds the namespaces of one wave (0: profile rollout.perWave).
	PerWave int
	// Flavor is the enforced policy flavor ("calico" or "k8s"); the k8s
	// flavor adds a note on the observe policy.
	Flavor render.Flavor
	// ObserveCommand is the observe command shown as the next step
	// (default "calico-plan observe --from FLOWS", with StoreArgs).
	ObserveCommand string
	// StoreArgs are the flags the next commands need to find the store
	// and profile (" --store DIR --config FILE"; empty for the defaults),
	// and ClusterArgs those that give cluster facts (" --cluster FILE"),
	// added to the commands that judge gates or render.
	StoreArgs, ClusterArgs string
}

// Plan is the rollout plan from the current state.
type Plan struct {
	// JudgedAt is the time stability was judged at (newest observed flow).
	JudgedAt allowlist.Time `json:"judgedAt"`
	// Facts says where the cluster facts came from ("none" without).
	Facts   string `json:"facts"`
	PerWave int    `json:"perWave"`
	// Tiers are the scheduled tiers in rollout order.
	Tiers      []string `json:"tiers"`
	Waves      []Wave   `json:"waves"`
	Deferred   []Listed `json:"deferred"`
	Excluded   []Listed `json:"excluded"`
	Unassigned []Listed `json:"unassigned"`
	// Next is the first wave not wholly enforced and what blocks it; nil
	// when every wave is enforced.
	Next  *NextWave `json:"next,omitempty"`
	Notes []string  `json:"notes,omitempty"`
}

// NextWave is the wave to move next: its namespaces' next stage, which of
// them are ready and which gates block the others.
type NextWave struct {
	Number int    `json:"number"`
	Tier   string `json:"tier"`
	// To is the stage its least advanced namespaces move to next.
	To      string        `json:"to"`
	Ready   []string      `json:"ready"`
	Blocked []BlockedName `json:"blocked"`
	// Command promotes the wave's ready namespaces.
	Command string `json:"command"`
}

// BlockedName is a namespace of the next wave with the gates that block
// its next promotion.
type BlockedName struct {
	Name  string `json:"name"`
	Stage string `json:"stage"`
	Gates []Gate `json:"gates"`
}

// Wave is a group of namespaces of one tier to move together.
type Wave struct {
	Number int    `json:"number"`
	Tier   string `json:"tier"`
	// Pinned marks a wave of the profile's pinned namespaces (the pilot).
	Pinned     bool            `json:"pinned,omitempty"`
	Namespaces []NamespacePlan `json:"namespaces"`
}

// NamespacePlan is one namespace's place in a wave.
type NamespacePlan struct {
	Name  string `json:"name"`
	Stage string `json:"stage"`
	// State is the stability state (Stable, Stabilizing, Learning, NoData).
	State string `json:"state"`
	// UnmetGates are the unmet gates of the next promotion (none once
	// enforced).
	UnmetGates []Gate `json:"unmetGates"`
	// Next is the exact next command, with a comment after '#'.
	Next string `json:"next"`
	// Peers counts the allowlist entries.
	Peers    int            `json:"peers"`
	StableAt allowlist.Time `json:"stableAt,omitempty"`
	// WouldDeny summarizes flows the staged policy would deny since staging.
	WouldDeny []string `json:"wouldDeny,omitempty"`
	// AddressGaps are public ports without packet-log addresses: they
	// render as any public address, and the address-evidence gate holds
	// the namespace before enforced (allowlist.Namespace.AddressGaps).
	AddressGaps []string `json:"addressGaps,omitempty"`

	pinned int // index in rollout.pinned, or len(pinned)
	doubt  bool
}

// Listed is a namespace outside the waves, with why.
type Listed struct {
	Name   string `json:"name"`
	Tier   string `json:"tier,omitempty"`
	Stage  string `json:"stage"`
	State  string `json:"state,omitempty"`
	Reason string `json:"reason"`
}

// MakePlan builds the wave plan for every namespace of the store and of
// the cluster facts: scheduled tiers in tiers.order become waves of at most
// PerWave namespaces of one tier, the pinned namespaces (the pilot) first in
// a wave of their own, then by progress (enforced, staged, observe), then
// lowest risk first (no CronJob doubts, Stable longest, fewest peers).
// Deferred tiers, excluded namespaces (profile list or stage excluded) and
// namespaces without a known tier are listed with the reason.
func MakePlan(st *allowlist.Store, env Env, opt PlanOptions) *Plan {
	if env.Flavor == "" {
		env.Flavor = opt.Flavor
	}
	p := env.Profile
	per := opt.PerWave
	if per <= 0 {
		per = p.Rollout.PerWave
	}
	if opt.ObserveCommand == "" {
		opt.ObserveCommand = "calico-plan observe" + opt.StoreArgs + " --from FLOWS"
	}
	plan := &Plan{JudgedAt: env.Now, Facts: "none", PerWave: per, Tiers: []string{},
		Waves: []Wave{}, Deferred: []Listed{}, Excluded: []Listed{}, Unassigned: []Listed{}}
	if env.Facts != nil {
		plan.Facts = env.Facts.Source
	}
	for _, t := range p.Tiers.Order {
		if !contains(p.Tiers.Deferred, t) {
			plan.Tiers = append(plan.Tiers, t)
		}
	}

	byTier := map[string][]NamespacePlan{}
	for _, n := range namespaces(st, env) {
		stage := Stage(n)
		tier, _ := env.Tier(n)
		a := assess(n, env)
		l := Listed{Name: n.Namespace, Tier: tier, Stage: stage, State: a.State}
		switch {
		case p.Excluded(n.Namespace):
			l.Reason = "on the profile's excludedNamespaces"
			plan.Excluded = append(plan.Excluded, l)
			continue
		case stage == allowlist.StageExcluded:
			l.Reason = "stage excluded" + reasonSuffix(n.Rollout.Reason)
			plan.Excluded = append(plan.Excluded, l)
			continue
		case tier == "":
			l.Reason = unassignedReason(n, env)
			plan.Unassigned = append(plan.Unassigned, l)
			continue
		case !contains(p.Tiers.Order, tier):
			l.Reason = fmt.Sprintf("tier %q is not in the profile's tiers.order", tier)
			plan.Unassigned = append(plan.Unassigned, l)
			continue
		case contains(p.Tiers.Deferred, tier):
			l.Reason = fmt.Sprintf("tier %s is deferred by the profile", tier)
			plan.Deferred = append(plan.Deferred, l)
			continue
		}
		byTier[tier] = append(byTier[tier], planNamespace(n, env, opt, a))
	}

	for _, tier := range plan.Tiers {
		list := byTier[tier]
		sort.SliceStable(list, func(i, j int) bool { return lessRisk(&list[i], &list[j]) })
		var pinned, rest []NamespacePlan
		for _, np := range list {
			if np.pinned < len(p.Rollout.Pinned) {
				pinned = append(pinned, np)
			} else {
				rest = append(rest, np)
			}
		}
		for _, group := range []struct {
			list   []NamespacePlan
			pinned bool
		}{{pinned, true}, {rest, false}} {
			for i := 0; i < len(group.list); i += per {
				end := min(i+per, len(group.list))
				plan.Waves = append(plan.Waves, Wave{Number: len(plan.Waves) + 1, Tier: tier, Pinned: group.pinned, Namespaces: group.list[i:end]})
			}
		}
	}
	sortListed(plan.Deferred, p.Tiers.Order)
	sortListed(plan.Excluded, nil)
	sortListed(plan.Unassigned, nil)
	plan.Next = nextWave(plan, opt)
	plan.Notes = planNotes(st, env, opt, plan)
	return plan
}

// nextWave finds the first wave with a namespace not yet enforced.
func nextWave(plan *Plan, opt PlanOptions) *NextWave {
	for _, w := range plan.Waves {
		to := ""
		for _, n := range w.Namespaces {
			switch {
			case n.Stage == allowlist.StageObserve:
				to = allowlist.StageStaged
			case n.Stage == allowlist.StageStaged && to == "":
				to = allowlist.StageEnforced
			}
		}
		if to == "" {
			continue
		}
		nw := &NextWave{Number: w.Number, Tier: w.Tier, To: to, Ready: []string{}, Blocked: []BlockedName{}}
		from := allowlist.StageObserve
		if to == allowlist.StageEnforced {
			from = allowlist.StageStaged
		}
		for _, n := range w.Namespaces {
			if n.Stage != from {
				continue
			}
			if len(n.UnmetGates) == 0 {
				nw.Ready = append(nw.Ready, n.Name)
			} else {
				nw.Blocked = append(nw.Blocked, BlockedName{Name: n.Name, Stage: n.Stage, Gates: n.UnmetGates})
			}
		}
		nw.Command = fmt.Sprintf("calico-plan promote%s%s --wave %d --to %s", opt.StoreArgs, opt.ClusterArgs, w.Number, to)
		return nw
	}
	return nil
}

// WriteNext writes what blocks the next wave, for the text output.
func (n *NextWave) WriteNext(w io.Writer) {
	fmt.Fprintf(w, "\nnext: wave %d (%s) to %s: %d of %d ready", n.Number, n.Tier, n.To, len(n.Ready), len(n.Ready)+len(n.Blocked))
	if len(n.Blocked) == 0 {
		fmt.Fprintf(w, "\n  %s\n", n.Command)
		return
	}
	fmt.Fprintf(w, "; blocked by:\n")
	for _, b := range n.Blocked {
		fmt.Fprintf(w, "  %s: %s\n", b.Name, gateList(b.Gates))
	}
	if len(n.Ready) > 0 {
		fmt.Fprintf(w, "  promote the ready ones (%s) now: %s\n", strings.Join(n.Ready, ", "), n.Command)
	}
}

// namespaces returns the store's namespaces plus placeholders for those
// only the cluster facts know (never observed: NoData).
func namespaces(st *allowlist.Store, env Env) []*allowlist.Namespace {
	out := st.Namespaces()
	if env.Facts == nil {
		return out
	}
	for _, fn := range env.Facts.Namespaces {
		if st.Namespace(fn.Name) == nil {
			out = append(out, &allowlist.Namespace{Version: allowlist.FormatVersion, Namespace: fn.Name,
				Tier: allowlist.TierUnassigned, TierSource: allowlist.TierUnassigned, Rollout: allowlist.Rollout{Stage: allowlist.StageObserve}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

var progress = map[string]int{allowlist.StageEnforced: 0, allowlist.StageStaged: 1, allowlist.StageObserve: 2}

func lessRisk(a, b *NamespacePlan) bool {
	if a.pinned != b.pinned {
		return a.pinned < b.pinned
	}
	if progress[a.Stage] != progress[b.Stage] {
		return progress[a.Stage] < progress[b.Stage]
	}
	if a.doubt != b.doubt {
		return !a.doubt
	}
	as, bs := a.State == allowlist.StateStable, b.State == allowlist.StateStable
	if as != bs {
		return as
	}
	if a.StableAt != b.StableAt {
		// Earlier is better: Stable longer, or Stable sooner. Unknown last.
		if a.StableAt == 0 || b.StableAt == 0 {
			return b.StableAt == 0
		}
		return a.StableAt < b.StableAt
	}
	if a.Peers != b.Peers {
		return a.Peers < b.Peers
	}
	return a.Name < b.Name
}

func sortListed(l []Listed, order []string) {
	rank := map[string]int{}
	for i, t := range order {
		rank[t] = i + 1
	}
	sort.SliceStable(l, func(i, j int) bool {
		if rank[l[i].Tier] != rank[l[j].Tier] {
			return rank[l[i].Tier] < rank[l[j].Tier]
		}
		return l[i].Name < l[j].Name
	})
}

func planNamespace(n *allowlist.Namespace, env Env, opt PlanOptions, a allowlist.Assessment) NamespacePlan {
	p := env.Profile
	np := NamespacePlan{Name: n.Namespace, Stage: Stage(n), State: a.State, Peers: len(n.Egress), UnmetGates: []Gate{}, pinned: len(p.Rollout.Pinned)}
	if a.State != allowlist.StateNoData {
		np.StableAt = a.StableAt
	}
	for _, gp := range n.AddressGaps() {
		np.AddressGaps = append(np.AddressGaps, "public "+gp.Port)
	}
	for i, pn := range p.Rollout.Pinned {
		if pn == n.Namespace {
			np.pinned = i
			break
		}
	}
	var c *Check
	switch np.Stage {
	case allowlist.StageObserve:
		c = Evaluate(n, allowlist.StageStaged, env)
	case allowlist.StageStaged:
		c = Evaluate(n, allowlist.StageEnforced, env)
		// Doubts about CronJobs matter for ordering at every stage.
		for _, g := range Evaluate(n, allowlist.StageStaged, env).Unmet() {
			if isCronGate(g.ID) {
				np.doubt = true
			}
		}
	case allowlist.StageEnforced:
		np.Next = ""
		return np
	}
	for _, g := range c.Unmet() {
		if g.ID == GateScope {
			continue // listed as deferred/excluded/unassigned instead
		}
		np.UnmetGates = append(np.UnmetGates, g)
		if isCronGate(g.ID) {
			np.doubt = true
		}
	}
	for _, e := range c.WouldDeny {
		np.WouldDeny = append(np.WouldDeny, DescribeEntry(e))
	}
	np.Next = nextCommand(n, np, c, opt)
	return np
}

// onlyUnknown reports whether every unmet gate is unknown (and there is
// at least one).
func onlyUnknown(np NamespacePlan) bool {
	for _, g := range np.UnmetGates {
		if !g.Unknown {
			return false
		}
	}
	return len(np.UnmetGates) > 0
}

// gateIDs lists gate IDs, an unknown one with a "?".
func gateList(gs []Gate) string {
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
		if g.Unknown {
			ids[i] += "?"
		}
	}
	return strings.Join(ids, ",")
}

func isCronGate(id string) bool {
	return id == GateCronJobFacts || strings.HasPrefix(id, GateCronWindow) || strings.HasPrefix(id, GateCronSeen)
}

func unmet(np NamespacePlan, id string) bool {
	for _, g := range np.UnmetGates {
		if g.ID == id || (strings.HasSuffix(id, "/") && strings.HasPrefix(g.ID, id)) {
			return true
		}
	}
	return false
}

// nextCommand picks the one command that moves the namespace on.
func nextCommand(n *allowlist.Namespace, np NamespacePlan, c *Check, opt PlanOptions) string {
	ns := n.Namespace
	a := c.Assessment
	obs := opt.ObserveCommand
	// st: a command on the store; gated: one that also needs the facts.
	st := func(sub string) string { return "calico-plan " + sub + opt.StoreArgs }
	gated := func(sub string) string { return st(sub) + opt.ClusterArgs }
	if np.Stage == allowlist.StageStaged {
		switch {
		case unmet(np, GateNoWouldDeny):
			return fmt.Sprintf("%s --namespace %s --from-denied  # after reviewing the would-deny flows: %s --namespace %s", st("allow"), ns, st("explain"), ns)
		case unmet(np, GateStagedDeployed):
			return fmt.Sprintf("%s --out policies/  # apply the staged policy of %s (kubectl apply -f policies/ && sh policies/_stages.sh), then take a new snapshot (calico-plan snapshot --out cluster.yaml)", gated("render --rollout"), ns)
		case unmet(np, GateAddressEvidence):
			return fmt.Sprintf("%s --from kern.log --pods pods.json  # the LOG lines of %s's public egress: addresses instead of any public address (or --loki URL)", st("observe"), ns)
		case unmet(np, GateStagedDays):
			if c.stagedReadyAt != 0 {
				return fmt.Sprintf("%s  # staged since %s: promote to enforced once flows after %s are observed", obs, n.Rollout.Since, c.stagedReadyAt)
			}
			return fmt.Sprintf("%s --namespace %s --to observe  # the staged time is unknown; then promote again", st("rollback"), ns)
		}
		return fmt.Sprintf("%s --namespace %s --to enforced", gated("promote"), ns)
	}
	switch {
	case a.State == allowlist.StateNoData:
		return obs + "  # no flows from this namespace yet"
	case unmet(np, GateStable):
		return fmt.Sprintf("%s  # Stable at %s if no new peer appears", obs, a.StableAt)
	case unmet(np, GateNoGap):
		return obs + "  # observe past the end of the open gap"
	case onlyUnknown(np):
		return fmt.Sprintf("%s --namespace %s --to staged --accept-unknown  # only unknown gates left (%s): decide, or give --cluster FILE from 'calico-plan snapshot'", gated("promote"), ns, gateList(np.UnmetGates))
	case unmet(np, GateCronJobFacts):
		return "calico-plan snapshot --out cluster.yaml  # then pass --cluster cluster.yaml: CronJob gates need cluster facts"
	case unmet(np, GateCronWindow) && c.cronReadyAt != 0:
		return fmt.Sprintf("%s  # until after %s, so the window covers two runs of every CronJob", obs, c.cronReadyAt)
	case unmet(np, GateCronSeen) && c.unseenCron != "":
		return fmt.Sprintf("%s --namespace %s --no-egress %s --reason TEXT  # only if it truly needs no egress; else observe a run of it", st("allow"), ns, c.unseenCron)
	case len(np.UnmetGates) > 0:
		return fmt.Sprintf("%s --namespace %s --to staged --force --reason TEXT  # gates unmet: see unmetGates", gated("promote"), ns)
	}
	return fmt.Sprintf("%s --namespace %s --to staged", gated("promote"), ns)
}

func planNotes(st *allowlist.Store, env Env, opt PlanOptions, plan *Plan) []string {
	var notes []string
	if env.Facts == nil {
		notes = append(notes, "no cluster facts: tiers come from the store (observe --namespace-file), and CronJob gates are unmet; pass --cluster FILE (from 'calico-plan snapshot') or use a kubeconfig")
	} else {
		for _, m := range env.Facts.Missing {
			if m.Reason == cluster.NamespacesOnly {
				continue // the CronJob note says it
			}
			notes = append(notes, fmt.Sprintf("could not check %s: %s (%s)", m.Resource, m.Reason, m.Affects))
		}
	}
	if len(st.Names()) == 0 {
		notes = append(notes, "the store is empty: run 'calico-plan observe' first")
	}
	stages := Stages(st, env)
	current := ""
	if gnp, ok := env.Facts.CalicoObject("GlobalNetworkPolicy", "", env.Profile.Rollout.ObservePolicy.Name); ok {
		current, _ = gnp.Spec["namespaceSelector"].(string)
	}
	if opt.Flavor == render.FlavorK8s {
		notes = append(notes, render.K8sEnforcementNote(env.Profile, current, stages))
	}
	return notes
}

// Stages maps every namespace of the store to its stage, leaving out the
// profile's excluded namespaces (calico-plan does not label them).
func Stages(st *allowlist.Store, env Env) map[string]string {
	out := map[string]string{}
	for _, n := range st.Namespaces() {
		if env.Profile.Excluded(n.Namespace) {
			continue
		}
		out[n.Namespace] = Stage(n)
	}
	return out
}

// LabelStages is Stages limited to the namespaces whose stage label
// matters: those not in observe, and those back in observe after a
// rollback (their old label must be overwritten). A namespace that never
// left observe needs no label: without one the observe policy selects it.
func LabelStages(st *allowlist.Store, env Env) map[string]string {
	out := Stages(st, env)
	for ns, stage := range out {
		if stage == allowlist.StageObserve && len(st.Namespace(ns).Rollout.History) == 0 {
			delete(out, ns)
		}
	}
	return out
}

// WaveNamespaces returns the namespaces of wave number (1-based).
func (p *Plan) WaveNamespaces(number int) ([]string, error) {
	for _, w := range p.Waves {
		if w.Number == number {
			out := make([]string, len(w.Namespaces))
			for i, n := range w.Namespaces {
				out[i] = n.Name
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("wave %d does not exist: the plan has %d waves (see 'calico-plan waves')", number, len(p.Waves))
}
