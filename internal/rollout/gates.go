// Package rollout moves namespaces through the observe → staged → enforced
// rollout: the gates a promotion must pass, the stage transitions with
// their history, and the wave plan. Everything here is a pure function of
// the allowlist store, the cluster facts, the profile and a time; the
// commands load those and save the store.
package rollout

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

// Gate IDs. CronJob gates carry the CronJob's name after the slash.
const (
	// GateScope: the namespace is in a scheduled tier (known, in
	// tiers.order, not deferred) and not on the profile's exclusion list.
	GateScope = "scope"
	// GateStageOrder: enforcing straight from observe skips the staged
	// stage (only --force does that).
	GateStageOrder = "stage-order"
	// GateStable: allowlist.Assess says Stable.
	GateStable = "stable"
	// GateNoGap: no observation gap overlaps the window judged.
	GateNoGap = "no-gap"
	// GateCronJobFacts: the namespace's CronJobs are known.
	GateCronJobFacts = "cronjob-facts"
	// GateCronWindow + name: the window covers two scheduled runs.
	GateCronWindow = "cronjob-window/"
	// GateCronSeen + name: the CronJob's pods were seen in flows (or it is
	// declared to need no egress).
	GateCronSeen = "cronjob-seen/"
	// GateStagedDays: staged for rollout.stagedDays days of observed data.
	GateStagedDays = "staged-days"
	// GateNoWouldDeny: no flow since staging would be denied by the
	// namespace's staged policy.
	GateNoWouldDeny = "no-would-deny"
	// GateStagedDeployed: the staged policy exists in the cluster, so the
	// would-deny check had something to report (cluster facts).
	GateStagedDeployed = "staged-deployed"
	// GateRenderable: every egress entry can be rendered in the flavor the
	// target stage deploys (a network set without labels, for one, cannot
	// be selected): a policy without an entry denies its traffic.
	GateRenderable = "renderable"
	// GateAddressEvidence: before enforcing, every public port of the
	// namespace has exact addresses from packet logs (Goldmane reports
	// only "public", which renders as any public address). Off with
	// packetLogs.requireAddresses: false.
	GateAddressEvidence = "address-evidence"
)

// Gate is one promotion condition, met or not, with a human reason.
type Gate struct {
	ID     string `json:"id" yaml:"id"`
	Met    bool   `json:"met" yaml:"met"`
	Reason string `json:"reason" yaml:"reason"`
	// Unknown marks a gate the facts cannot decide (Met is false): the
	// operator decides (promote --accept-unknown).
	Unknown bool `json:"unknown,omitempty" yaml:"unknown,omitempty"`
}

// String renders "id: reason" ("id (unknown): reason").
func (g Gate) String() string {
	if g.Unknown {
		return g.ID + " (unknown): " + g.Reason
	}
	return g.ID + ": " + g.Reason
}

// Env is what gates are judged against besides the namespace itself.
type Env struct {
	Profile *config.Profile
	// Facts are the cluster facts; nil when none were given (CronJob gates
	// are then unmet with cluster.NoCronJobFacts).
	Facts *cluster.Facts
	// Gaps are the store-wide observation gaps.
	Gaps []allowlist.Gap
	// Now is the time stability is judged at: the newest observed flow
	// (or --now), never the wall clock.
	Now allowlist.Time
	// Flavor is the enforced policy flavor (calico or k8s; empty: calico),
	// which the renderable gate checks for → enforced.
	Flavor render.Flavor
}

// NewEnv builds the environment of a store; now 0 means the store's newest
// observed flow.
func NewEnv(st *allowlist.Store, facts *cluster.Facts, now allowlist.Time) Env {
	if now == 0 {
		now = st.Meta.Observation.To
	}
	return Env{Profile: st.Profile(), Facts: facts, Gaps: st.Meta.Gaps, Now: now}
}

// Tier resolves a namespace's tier: from the cluster facts' labels when the
// facts know the namespace, else as the store recorded it. The second value
// is where it came from (label, name-rule, store or "" when unknown).
func (e Env) Tier(n *allowlist.Namespace) (tier, source string) {
	if ns, ok := e.Facts.Namespace(n.Namespace); ok {
		if t, from := e.Profile.TierFor(n.Namespace, ns.Labels); from != "" {
			return t, from
		}
		return "", ""
	}
	if n.Tier != "" && n.Tier != allowlist.TierUnassigned {
		return n.Tier, "store"
	}
	if t, from := e.Profile.TierFor(n.Namespace, nil); from != "" {
		return t, from
	}
	return "", ""
}

// Check is the result of judging one transition's gates.
type Check struct {
	Namespace  string               `json:"namespace"`
	From       string               `json:"from"`
	To         string               `json:"to"`
	Gates      []Gate               `json:"gates"`
	Assessment allowlist.Assessment `json:"assessment"`
	// WouldDeny lists the entries the staged policy would have denied
	// since staging (staged → enforced).
	WouldDeny []allowlist.Entry `json:"wouldDeny,omitempty"`

	// hints for the next command
	cronReadyAt, stagedReadyAt allowlist.Time
	unseenCron                 string
}

// Unmet returns the gates not met, in order.
func (c *Check) Unmet() []Gate {
	out := []Gate{}
	for _, g := range c.Gates {
		if !g.Met {
			out = append(out, g)
		}
	}
	return out
}

// Unknown returns the gates the facts cannot decide, in order.
func (c *Check) Unknown() []Gate {
	out := []Gate{}
	for _, g := range c.Gates {
		if g.Unknown {
			out = append(out, g)
		}
	}
	return out
}

// cronJobPodRE matches the aggregated name of a CronJob's pods: Jobs are
// named <cronjob>-<scheduled time in Unix minutes>.
var cronJobPodRE = regexp.MustCompile(`-[0-9]{8,}-\*$`)

// cronLikeWorkloads returns the namespace's workload patterns that look
// like a CronJob's pods, sorted.
func cronLikeWorkloads(n *allowlist.Namespace) []string {
	seen := map[string]bool{}
	for _, set := range [][]allowlist.Entry{n.Egress, n.Denied, n.WouldDeny} {
		for _, e := range set {
			for _, w := range e.Workloads {
				if cronJobPodRE.MatchString(w) {
					seen[w] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for w := range seen {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// OK reports whether every gate is met.
func (c *Check) OK() bool { return len(c.Unmet()) == 0 }

// Stage returns a namespace's stage; an unset stage is observe.
func Stage(n *allowlist.Namespace) string {
	if n.Rollout.Stage == "" {
		return allowlist.StageObserve
	}
	return n.Rollout.Stage
}

// Evaluate judges the gates of moving a namespace to stage to. It checks
// only gates; Promote also checks that the transition is a valid one.
func Evaluate(n *allowlist.Namespace, to string, env Env) *Check {
	c := &Check{Namespace: n.Namespace, From: Stage(n), To: to, Gates: []Gate{}}
	c.Assessment = assess(n, env)
	c.Gates = append(c.Gates, scopeGate(n, env))
	switch {
	case to == allowlist.StageEnforced && c.From == allowlist.StageStaged:
		c.Gates = append(c.Gates, c.stagedGates(n, env)...)
	case to == allowlist.StageEnforced:
		c.Gates = append(c.Gates, Gate{ID: GateStageOrder, Reason: fmt.Sprintf("%s → enforced skips the staged stage, which shows what the policy would deny before it does: promote --to staged first", c.From)})
		c.Gates = append(c.Gates, c.observeGates(n, env)...)
	default:
		c.Gates = append(c.Gates, c.observeGates(n, env)...)
	}
	c.Gates = append(c.Gates, renderableGate(n, to, env))
	if to == allowlist.StageEnforced {
		c.Gates = append(c.Gates, AddressEvidenceGate(n, env.Profile))
	}
	return c
}

// AddressEvidenceGate: the namespace's public egress has exact addresses
// (from packet logs), so the enforced policy does not allow any public
// address where it was meant to lock egress down.
func AddressEvidenceGate(n *allowlist.Namespace, prof *config.Profile) Gate {
	g := Gate{ID: GateAddressEvidence}
	gaps := n.AddressGaps()
	if len(gaps) == 0 {
		g.Met = true
		g.Reason = "every public port has exact addresses (or there is no public egress)"
		return g
	}
	parts := make([]string, 0, len(gaps))
	for _, gp := range gaps {
		parts = append(parts, fmt.Sprintf("egress[%d] public %s", gp.Entry, gp.Port))
	}
	what := fmt.Sprintf("%d public ports have no packet-log addresses and would render as any public address: %s", len(gaps), strings.Join(parts, ", "))
	if !prof.PacketLogs.RequireAddresses {
		g.Met = true
		g.Reason = what + " (allowed: packetLogs.requireAddresses is false)"
		return g
	}
	g.Reason = what + "; observe the observe policy's LOG lines (observe --from kern.log --pods pods.json, or --loki URL; on Calico Enterprise, flow logs at aggregation level 1 or lower carry addresses, and render --domains uses dest_domains), or set packetLogs.requireAddresses: false to enforce anyway"
	return g
}

// renderableGate: the policy of the target stage renders every egress
// entry. One left out would be denied: by the enforced policy outright, and
// by the staged one as would-deny, which blocks enforcement anyway.
func renderableGate(n *allowlist.Namespace, to string, env Env) Gate {
	fl := render.FlavorCalicoStaged
	if to == allowlist.StageEnforced {
		fl = env.Flavor
		if fl == "" {
			fl = render.FlavorCalico
		}
	}
	g := Gate{ID: GateRenderable}
	var facts *render.Facts
	if env.Facts != nil {
		facts = &render.Facts{NodeIPs: env.Facts.NodeIPs(), NetworkSetNets: env.Facts.NetworkSetNets()}
	}
	_, err := render.Namespace(n, render.Options{Flavor: fl, Profile: env.Profile, Facts: facts})
	var incomplete *render.IncompleteError
	switch {
	case errors.As(err, &incomplete):
		parts := make([]string, len(incomplete.Entries))
		for i, u := range incomplete.Entries {
			parts[i] = u.String()
		}
		g.Reason = fmt.Sprintf("%d egress entries cannot be rendered as %s, so the policy would deny their traffic: %s", len(parts), fl, strings.Join(parts, "; "))
	case err != nil:
		g.Reason = fmt.Sprintf("the %s policy cannot be rendered: %v", fl, err)
	default:
		g.Met = true
		g.Reason = fmt.Sprintf("every egress entry renders as %s", fl)
	}
	return g
}

// assess is allowlist.Assess with the store-wide gaps that overlap the
// namespace's observation (as Store.Save records them in its file).
func assess(n *allowlist.Namespace, env Env) allowlist.Assessment {
	m := *n
	m.Observation.Gaps = gapsFor(n, env)
	return allowlist.Assess(&m, env.Now, env.Profile.Stability)
}

// gapsFor returns the namespace's recorded gaps plus the store-wide ones
// overlapping its observation, sorted and without duplicates.
func gapsFor(n *allowlist.Namespace, env Env) []allowlist.Gap {
	gaps := append([]allowlist.Gap(nil), n.Observation.Gaps...)
	for _, g := range env.Gaps {
		dup := false
		for _, o := range gaps {
			dup = dup || o == g
		}
		if !dup && g.To >= n.Observation.From && (env.Now == 0 || g.From <= env.Now) {
			gaps = append(gaps, g)
		}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i].From < gaps[j].From })
	return gaps
}

func scopeGate(n *allowlist.Namespace, env Env) Gate {
	g := Gate{ID: GateScope}
	p := env.Profile
	tier, _ := env.Tier(n)
	switch {
	case p.Excluded(n.Namespace):
		g.Reason = "on the profile's excludedNamespaces: never locked down"
	case tier == "":
		g.Reason = unassignedReason(n, env)
	case !contains(p.Tiers.Order, tier):
		g.Reason = fmt.Sprintf("tier %q is not in the profile's tiers.order (%s)", tier, strings.Join(p.Tiers.Order, ", "))
	case contains(p.Tiers.Deferred, tier):
		g.Reason = fmt.Sprintf("tier %s is deferred by the profile (tiers.deferred)", tier)
	default:
		g.Met = true
		g.Reason = fmt.Sprintf("tier %s is scheduled", tier)
	}
	return g
}

func unassignedReason(n *allowlist.Namespace, env Env) string {
	key := env.Profile.Tiers.LabelKey
	if env.Facts == nil {
		return "tier unknown: no namespace labels were given (pass --cluster FILE, --namespace-file FILE or a kubeconfig) and no tiers.nameRules prefix matches"
	}
	if _, ok := env.Facts.Namespace(n.Namespace); !ok {
		return "tier unknown: the namespace is not in the cluster facts (deleted, or the snapshot is older than the store) and no tiers.nameRules prefix matches"
	}
	return fmt.Sprintf("tier unknown: the namespace has no %q label and no tiers.nameRules prefix matches", key)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Check) observeGates(n *allowlist.Namespace, env Env) []Gate {
	a := c.Assessment
	var gates []Gate
	g := Gate{ID: GateStable, Met: a.State == allowlist.StateStable, Reason: a.State + ": " + a.Reason}
	if !g.Met && a.State != allowlist.StateNoData {
		g.Reason += fmt.Sprintf("; Stable at %s if no new peer appears", a.StableAt)
	}
	gates = append(gates, g)
	gates = append(gates, gapGate(n, a, env))
	gates = append(gates, c.cronGates(n, a, env)...)
	return gates
}

// gapGate: no gap may overlap the window judged. Assess restarts the
// window after a gap that ended, so an earlier gap is fine (and said so);
// a gap still open at the judging time is not.
func gapGate(n *allowlist.Namespace, a allowlist.Assessment, env Env) Gate {
	g := Gate{ID: GateNoGap}
	if a.State == allowlist.StateNoData {
		g.Reason = "no observation window yet"
		return g
	}
	gaps := gapsFor(n, env)
	var earlier *allowlist.Gap
	for i, gp := range gaps {
		if gp.To < n.Observation.From || gp.From > a.Now {
			continue
		}
		if gp.To > a.WindowStart && gp.From < a.Now {
			g.Reason = fmt.Sprintf("gap %s to %s (%s: %s) overlaps the window: observe past its end", gp.From, gp.To, gp.Source, gp.Reason)
			return g
		}
		earlier = &gaps[i]
	}
	g.Met = true
	if earlier != nil {
		g.Reason = fmt.Sprintf("the window restarts at %s after the gap %s to %s (%s)", a.WindowStart, earlier.From, earlier.To, earlier.Reason)
	} else {
		g.Reason = fmt.Sprintf("no gap since %s", a.WindowStart)
	}
	return g
}

func (c *Check) cronGates(n *allowlist.Namespace, a allowlist.Assessment, env Env) []Gate {
	ok, why := env.Facts.HasCronJobFacts()
	if !ok {
		if r, _ := env.Facts.MissingReason(cluster.ResourceNodes); env.Facts != nil && r == cluster.NamespacesOnly {
			// A Namespace list cannot say whether the namespace runs
			// CronJobs. Without a workload that looks like a CronJob's
			// pods, that is unknown, not failed: the operator decides.
			if like := cronLikeWorkloads(n); len(like) > 0 {
				return []Gate{{ID: GateCronJobFacts, Reason: fmt.Sprintf("only a Namespace list was given, and workloads that look like CronJob pods were seen (%s): their schedules are unknown; give --cluster FILE ('calico-plan snapshot') or a kubeconfig", strings.Join(like, ", "))}}
			}
			return []Gate{{ID: GateCronJobFacts, Unknown: true, Reason: fmt.Sprintf("only a Namespace list was given, so %s's CronJobs are not known, and no workload in its flows looks like a CronJob's pods (<cronjob>-<minutes>-*); if it runs no CronJob that needs egress, promote with --accept-unknown, else give --cluster FILE or a kubeconfig", n.Namespace)}}
		}
		return []Gate{{ID: GateCronJobFacts, Reason: why}}
	}
	jobs := env.Facts.CronJobsIn(n.Namespace)
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	gates := []Gate{{ID: GateCronJobFacts, Met: true, Reason: cronSummary(names)}}
	samples := env.Profile.Aggregation.WorkloadSamples
	for _, j := range jobs {
		decl, declared := n.NoEgressFor(j.Name)
		w := Gate{ID: GateCronWindow + j.Name}
		s := Gate{ID: GateCronSeen + j.Name}
		seen := seenWorkload(n, j)
		switch {
		case declared:
			w.Met, w.Reason = true, "declared to need no egress: "+decl.Reason
			s.Met, s.Reason = true, w.Reason
			gates = append(gates, w, s)
			continue
		case seen != "":
			s.Met, s.Reason = true, fmt.Sprintf("pods seen in flows as %s", seen)
		default:
			s.Reason = fmt.Sprintf("pods never seen in flows (no workload matching %s)", j.PodPattern)
			if hidden := fullSamples(n, samples); hidden > 0 {
				s.Reason += fmt.Sprintf("; %d entries keep only %d sample workloads, so its pods may be hidden: raise aggregation.workloadSamples and observe again", hidden, samples)
			}
			s.Reason += fmt.Sprintf("; if it needs no egress: calico-plan allow --namespace %s --no-egress %s --reason TEXT", n.Namespace, j.Name)
			if c.unseenCron == "" {
				c.unseenCron = j.Name
			}
		}
		w.Met, w.Reason = cronWindow(j, a, c)
		if j.Suspend && !s.Met {
			s.Reason = "suspended and " + s.Reason + " (its egress is unknown; declare it if it stays suspended)"
		}
		gates = append(gates, w, s)
	}
	return gates
}

func cronSummary(names []string) string {
	switch len(names) {
	case 0:
		return "no CronJobs in the namespace"
	case 1:
		return "1 CronJob: " + names[0]
	}
	return fmt.Sprintf("%d CronJobs: %s", len(names), strings.Join(names, ", "))
}

// cronWindow: the window judged must cover two scheduled runs.
func cronWindow(j cluster.CronJob, a allowlist.Assessment, c *Check) (bool, string) {
	if j.Suspend {
		return true, "suspended: no runs are scheduled"
	}
	if a.State == allowlist.StateNoData {
		return false, "no observation window yet"
	}
	from, to := a.WindowStart.T(), a.Now.T()
	runs, err := j.Runs(from, to, 2)
	if err != nil {
		return false, err.Error()
	}
	sched := fmt.Sprintf("%q", j.Schedule)
	if j.TimeZone != "" {
		sched += " (" + j.TimeZone + ")"
	}
	if len(runs) >= 2 {
		return true, fmt.Sprintf("the window from %s covers at least two runs of %s", a.WindowStart, sched)
	}
	second, err := j.NthRunAfter(from, 2)
	if err != nil {
		return false, err.Error()
	}
	if second.IsZero() {
		return false, fmt.Sprintf("schedule %s never fires twice", sched)
	}
	ready := allowlist.Time(second.Unix())
	if c.cronReadyAt < ready {
		c.cronReadyAt = ready
	}
	return false, fmt.Sprintf("the window %s to %s (%s) covers %d run(s) of %s, two are needed: observe until after %s",
		a.WindowStart, a.Now, fmtDays(to.Sub(from)), len(runs), sched, ready)
}

// seenWorkload returns the first sample workload (in any entry: allowed,
// would-deny or denied) that belongs to one of the CronJob's Jobs.
func seenWorkload(n *allowlist.Namespace, j cluster.CronJob) string {
	for _, list := range [][]allowlist.Entry{n.Egress, n.WouldDeny, n.Denied} {
		for _, e := range list {
			for _, w := range e.Workloads {
				if j.MatchesWorkload(w) {
					return w
				}
			}
		}
	}
	return ""
}

// fullSamples counts entries whose workload sample is full, so other
// workloads may have been left out of it.
func fullSamples(n *allowlist.Namespace, samples int) int {
	if samples <= 0 {
		return len(n.Egress) + len(n.WouldDeny) + len(n.Denied)
	}
	k := 0
	for _, list := range [][]allowlist.Entry{n.Egress, n.WouldDeny, n.Denied} {
		for _, e := range list {
			if len(e.Workloads) >= samples {
				k++
			}
		}
	}
	return k
}

func (c *Check) stagedGates(n *allowlist.Namespace, env Env) []Gate {
	since := n.Rollout.Since
	days := env.Profile.Rollout.StagedDays
	if days < 0 {
		days = 0
	}
	need := time.Duration(days) * 24 * time.Hour
	d := Gate{ID: GateStagedDays}
	data := n.Observation.To
	if env.Now != 0 && env.Now < data {
		data = env.Now
	}
	switch {
	case since == 0:
		d.Reason = "staged since an unknown time (rollout.since is empty): roll back and promote again"
	case data.T().Sub(since.T()) >= need:
		d.Met = true
		d.Reason = fmt.Sprintf("staged since %s; flows observed until %s (%s, %d needed)", since, data, fmtDays(data.T().Sub(since.T())), days)
	default:
		ready := since + allowlist.Time(need/time.Second)
		c.stagedReadyAt = ready
		observed := data.T().Sub(since.T())
		if observed < 0 {
			observed = 0
		}
		d.Reason = fmt.Sprintf("staged since %s; flows observed only until %s (%s of %d days): observe flows after %s", since, data, fmtDays(observed), days, ready)
	}
	w := Gate{ID: GateNoWouldDeny, Met: true}
	for _, e := range n.WouldDeny {
		if since != 0 && e.Total().LastSeen > since {
			c.WouldDeny = append(c.WouldDeny, e)
		}
	}
	if len(c.WouldDeny) == 0 {
		w.Reason = fmt.Sprintf("no flow since %s would be denied by the staged policy", since)
	} else {
		w.Met = false
		parts := make([]string, len(c.WouldDeny))
		var flows int64
		for i, e := range c.WouldDeny {
			parts[i] = DescribeEntry(e)
			flows += e.Total().Flows
		}
		w.Reason = fmt.Sprintf("%d flows since %s would be denied by the staged policy: %s; review them (calico-plan explain --namespace %s), then fold them into the allowlist: calico-plan allow --namespace %s --from-denied",
			flows, since, strings.Join(parts, "; "), n.Namespace, n.Namespace)
	}
	return []Gate{d, w, stagedDeployedGate(n, env)}
}

// stagedDeployedGate: without the staged policy in the cluster, no flow
// can show a would-deny, and a quiet staged period proves nothing.
func stagedDeployedGate(n *allowlist.Namespace, env Env) Gate {
	g := Gate{ID: GateStagedDeployed}
	name := env.Profile.Policy.Tier + "." + n.Namespace
	want := fmt.Sprintf("StagedNetworkPolicy %s/%s", n.Namespace, name)
	switch {
	case env.Facts == nil:
		g.Reason = fmt.Sprintf("cannot check that %s is deployed: no cluster facts (pass --cluster or a kubeconfig)", want)
	default:
		if _, ok := env.Facts.CalicoObject("StagedNetworkPolicy", n.Namespace, name); ok {
			g.Met, g.Reason = true, want+" is deployed"
			if env.Facts.Predicted != nil {
				g.Reason = want + " is in the predicted snapshot (files applied offline by 'snapshot --apply'; once they are applied, a fresh 'calico-plan snapshot' is the cluster's word)"
			}
			break
		}
		for _, r := range []string{cluster.ResourceCalico, "stagednetworkpolicies." + groupOf(env.Facts.CalicoAPI)} {
			if why, missing := env.Facts.MissingReason(r); missing {
				g.Reason = fmt.Sprintf("cannot check that %s is deployed: %s", want, why)
				return g
			}
		}
		g.Reason = fmt.Sprintf("%s is not in the cluster facts: apply the staged policy (calico-plan render --rollout), take a new snapshot, and let it report would-deny flows for rollout.stagedDays", want)
	}
	return g
}

func groupOf(apiVersion string) string {
	group, _, _ := strings.Cut(apiVersion, "/")
	return group
}

// DescribeEntry is a one-line summary of an entry: peer, ports, flows,
// last seen and sample workloads.
func DescribeEntry(e allowlist.Entry) string {
	ports := make([]string, len(e.Ports))
	for i, p := range e.Ports {
		ports[i] = p.Port
	}
	t := e.Total()
	s := fmt.Sprintf("%s %s (%d flows, last %s", e.Peer.Summary(8), strings.Join(ports, ","), t.Flows, t.LastSeen)
	if len(e.Workloads) > 0 {
		s += ", from " + strings.Join(e.Workloads, ", ")
	}
	return s + ")"
}

func fmtDays(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", d.Hours()/24), "0"), ".") + "d"
}
