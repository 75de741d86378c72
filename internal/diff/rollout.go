package diff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/policy/selector"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// Rollout modes of Files.
const (
	// RolloutAuto compares with the desired state when the committed
	// files are a rollout: they hold the profile's observe policy, or a
	// calico-plan StagedNetworkPolicy while the flavor is not
	// calico-staged and the store has staged or enforced namespaces.
	RolloutAuto = "auto"
	RolloutOn   = "on"
	RolloutOff  = "off"
)

// isObservePolicy reports whether a committed object is the profile's
// observe GlobalNetworkPolicy.
func isObservePolicy(p *policyObj, opt *Options) bool {
	return p.Family == "global" && p.Kind == "GlobalNetworkPolicy" && p.Name == opt.Profile.Rollout.ObservePolicy.Name
}

// observeAttrs replaces the observe policy's egress regions, whose subject
// is its namespaceSelector (the coverage, compared by namespace), by one
// attribute naming its rules' actions in order.
func observeAttrs(p *policyObj) {
	var actions []string
	for _, a := range p.atoms {
		if len(actions) == 0 || actions[len(actions)-1] != a.group.Action {
			actions = append(actions, a.group.Action)
		}
	}
	p.Attrs["egress"] = strings.Join(actions, ", ")
	delete(p.Attrs, "selector")
	p.Egress, p.atoms = false, nil
}

// desiredObjects decodes the desired state's objects; tier says whether
// the Tier is compared.
func desiredObjects(d *rollout.Desired, storeLabel string, tier bool) ([]*policyObj, []string) {
	var out []*policyObj
	var errs []string
	for _, u := range d.Units {
		if u.Name == "_tier" && !tier {
			continue
		}
		source := "desired state"
		if u.Namespace != "" {
			source = "desired state, " + string(u.Stage) + " (" + storeLabel + "/" + u.Namespace + ".yaml)"
		}
		for _, obj := range u.Objects {
			m, err := render.ToMap(obj)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			js, err := json.Marshal(m)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			api, _ := m["apiVersion"].(string)
			kind, _ := m["kind"].(string)
			p, err := decodeObject(api, kind, js, source)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", u.Name, err))
				continue
			}
			if p != nil {
				p.Managed = true
				out = append(out, p)
			}
		}
	}
	return out, errs
}

// committedStage derives a namespace's stage from calico-plan's committed
// policies: a staged kind is staged, an enforcing one enforced, none
// observe.
func committedStage(objs []*policyObj) map[string]string {
	out := map[string]string{}
	for _, p := range objs {
		if p.Namespace == "" || p.Family == "tier" {
			continue
		}
		st := allowlist.StageEnforced
		if strings.HasPrefix(p.Kind, "Staged") {
			st = allowlist.StageStaged
		}
		if out[p.Namespace] != allowlist.StageEnforced {
			out[p.Namespace] = st
		}
	}
	return out
}

// addRolloutStages reports the namespaces whose stage in the committed
// files differs from the desired state, weighed like diff --base.
func addRolloutStages(rep *Report, st *allowlist.Store, old []*policyObj, d *rollout.Desired, opt Options) {
	was := committedStage(old)
	now := map[string]string{}
	for _, u := range d.Units {
		if u.Namespace != "" {
			now[u.Namespace] = u.Stage
		}
	}
	idx := map[string]int{}
	for i, x := range rep.Namespaces {
		idx[x.Namespace] = i
	}
	names := map[string]bool{}
	for ns := range was {
		names[ns] = true
	}
	for ns := range now {
		names[ns] = true
	}
	eopt := opt
	eopt.Flavor = d.Enforced
	for i := range rep.Namespaces {
		x := &rep.Namespaces[i]
		if x.Namespace != "" && now[x.Namespace] != allowlist.StageEnforced && (d.Rollout || now[x.Namespace] != "") {
			x.DropsNothing, x.FlowsCut = true, 0
		}
	}
	for ns := range names {
		from, to := was[ns], now[ns]
		if from == "" {
			from = allowlist.StageObserve
		}
		if to == "" {
			if !d.Rollout {
				continue // not in this wave: not compared
			}
			to = allowlist.StageObserve
		}
		n := st.Namespace(ns)
		if n == nil {
			n = &allowlist.Namespace{Namespace: ns}
		}
		c := stageChange(from, to, n, eopt)
		if c == nil {
			continue
		}
		rep.setStage(idx, ns, c).DropsNothing = to != allowlist.StageEnforced
	}
	sort.Slice(rep.Namespaces, func(i, j int) bool { return rep.Namespaces[i].Namespace < rep.Namespaces[j].Namespace })
}

// observeCoverage compares which namespaces the committed and the desired
// observe policy select, by their namespaceSelector, over the store's
// namespaces and those of the namespace labels. A namespace's labels are
// the known ones (or its name label and the tier the store recorded),
// without the stage label: the policies' name clauses decide, as they do
// before the stage labels are applied.
func observeCoverage(st *allowlist.Store, oldSel, newSel string, opt Options) (lost, gained []string, err error) {
	o, err := selector.Parse(orAll(oldSel))
	if err != nil {
		return nil, nil, fmt.Errorf("committed observe policy: namespaceSelector: %w", err)
	}
	n, err := selector.Parse(orAll(newSel))
	if err != nil {
		return nil, nil, err
	}
	prof := opt.Profile
	labels := map[string]map[string]string{}
	for _, ns := range st.Namespaces() {
		l := map[string]string{"kubernetes.io/metadata.name": ns.Namespace}
		if ns.Tier != "" && ns.Tier != allowlist.TierUnassigned {
			l[prof.Tiers.LabelKey] = ns.Tier
		} else if t, _ := prof.TierFor(ns.Namespace, nil); t != "" {
			l[prof.Tiers.LabelKey] = t
		}
		labels[ns.Namespace] = l
	}
	for ns, l := range opt.NamespaceLabels {
		m := map[string]string{"kubernetes.io/metadata.name": ns}
		for k, v := range l {
			m[k] = v
		}
		labels[ns] = m
	}
	names := make([]string, 0, len(labels))
	for ns := range labels {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		l := labels[ns]
		delete(l, prof.Rollout.StageLabel)
		ls := selector.MakeLabels(l)
		was, is := o.Matches(ls), n.Matches(ls)
		switch {
		case was && !is:
			lost = append(lost, ns)
		case !was && is:
			gained = append(gained, ns)
		}
	}
	return lost, gained, nil
}

func orAll(s string) string {
	if strings.TrimSpace(s) == "" {
		return "all()"
	}
	return s
}

// addObserveCoverage adds the observe policy's coverage change to the
// cluster-scoped part of the report.
func addObserveCoverage(rep *Report, st *allowlist.Store, old, cur []*policyObj, opt Options) {
	var o, c *policyObj
	for _, p := range old {
		if isObservePolicy(p, &opt) {
			o = p
		}
	}
	for _, p := range cur {
		if isObservePolicy(p, &opt) {
			c = p
		}
	}
	if o == nil || c == nil {
		return
	}
	lost, gained, err := observeCoverage(st, o.nsSelector, c.nsSelector, opt)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		return
	}
	if len(lost)+len(gained) == 0 {
		return
	}
	i := -1
	for j := range rep.Namespaces {
		if rep.Namespaces[j].Namespace == "" {
			i = j
		}
	}
	if i < 0 {
		rep.Namespaces = append(rep.Namespaces, NamespaceDiff{Added: []Change{}, Removed: []Change{}, Policies: []PolicyChange{}})
		i = len(rep.Namespaces) - 1
	}
	d := &rep.Namespaces[i]
	if len(lost) > 0 {
		d.Policies = append(d.Policies, PolicyChange{Policy: c.ID(), Change: "no longer logs and allows the egress of " + strings.Join(lost, ", ") + " (their own policy decides)"})
	}
	if len(gained) > 0 {
		d.Policies = append(d.Policies, PolicyChange{Policy: c.ID(), Change: "logs and allows the egress of " + strings.Join(gained, ", ") + " again"})
	}
	sort.Slice(rep.Namespaces, func(i, j int) bool { return rep.Namespaces[i].Namespace < rep.Namespaces[j].Namespace })
}
