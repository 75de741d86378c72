package diff

import (
	"fmt"
	"sort"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/render"
)

// StageChange is a namespace's rollout stage (allowlist rollout.stage)
// changing between the two sides: what the cluster does with the same
// allowlist changes with it.
type StageChange struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Effect says what the change does to traffic.
	Effect string `json:"effect"`
	// Drops is the observed traffic the namespace's policy drops from now
	// on and did not before: on the way to enforced, the flows the staged
	// policy reported as would-deny and the entries no rule of the
	// enforced flavor can express. Empty for the other changes.
	Drops Evidence `json:"drops"`
}

// stageOf is a namespace's stage, observe when unset.
func stageOf(n *allowlist.Namespace) string {
	if n == nil {
		return ""
	}
	if n.Rollout.Stage == "" {
		return allowlist.StageObserve
	}
	return n.Rollout.Stage
}

// enforcing reports whether a stage drops traffic.
func enforcing(stage string) bool { return stage == allowlist.StageEnforced }

// stageChange describes moving a namespace from one stage to another with
// the allowlist n (the newer side), or nil when the stage is the same.
func stageChange(from, to string, n *allowlist.Namespace, opt Options) *StageChange {
	if from == to {
		return nil
	}
	c := &StageChange{From: from, To: to, Drops: Evidence{Entries: []EntryRef{}}}
	switch {
	case enforcing(to):
		c.Effect = "enforced: the policy now drops every egress it does not allow"
		for i := range n.WouldDeny {
			c.Drops.addEntry(&n.WouldDeny[i], "would-deny since staging", false)
		}
		fl := opt.Flavor
		if fl == render.FlavorCalicoStaged {
			fl = render.FlavorCalico
		}
		pol, _ := render.Namespace(n, render.Options{Flavor: fl, Profile: opt.Profile})
		if pol != nil {
			for _, u := range pol.Unrenderable {
				if u.Entry >= 0 && u.Entry < len(n.Egress) {
					c.Drops.addEntry(&n.Egress[u.Entry], "not rendered: "+u.Reason, false)
				}
			}
		}
	case enforcing(from):
		c.Effect = "enforcement lifted: the namespace's egress is no longer dropped"
	case to == allowlist.StageStaged:
		c.Effect = "staged: the policy reports what it would deny and drops nothing; the namespace leaves the observe policy"
	case to == allowlist.StageExcluded:
		c.Effect = "out of the rollout: the observe policy keeps allowing and logging its egress"
	default:
		c.Effect = "back under the observe policy: nothing is dropped"
	}
	return c
}

// addEntry adds every port of an allowlist entry to the evidence.
func (e *Evidence) addEntry(en *allowlist.Entry, why string, partly bool) {
	peer := en.Peer.String()
	if why != "" {
		peer += " (" + why + ")"
	}
	for i := range en.Ports {
		e.addPort(peer, en, &en.Ports[i], partly)
	}
	e.sortEntries()
}

// addStageChanges adds the stage changes between the old and the new
// allowlists (namespaces on only one side count from or to observe) to
// the report, skipping the profile's excluded namespaces.
func addStageChanges(rep *Report, old, cur []*allowlist.Namespace, opt Options) {
	oldBy := map[string]*allowlist.Namespace{}
	for _, n := range old {
		oldBy[n.Namespace] = n
	}
	curBy := map[string]*allowlist.Namespace{}
	for _, n := range cur {
		curBy[n.Namespace] = n
	}
	names := map[string]bool{}
	for ns := range oldBy {
		names[ns] = true
	}
	for ns := range curBy {
		names[ns] = true
	}
	idx := map[string]int{}
	for i, d := range rep.Namespaces {
		idx[d.Namespace] = i
	}
	for ns := range names {
		if opt.Profile.Excluded(ns) {
			continue
		}
		from, to := stageOf(oldBy[ns]), stageOf(curBy[ns])
		if from == "" {
			from = allowlist.StageObserve
		}
		if to == "" {
			to = allowlist.StageObserve // gone from the store: no policy
		}
		n := curBy[ns]
		if n == nil {
			n = oldBy[ns]
		}
		c := stageChange(from, to, n, opt)
		if c == nil {
			continue
		}
		rep.setStage(idx, ns, c)
	}
	sort.Slice(rep.Namespaces, func(i, j int) bool { return rep.Namespaces[i].Namespace < rep.Namespaces[j].Namespace })
}

// setStage records a namespace's stage change in its diff (added to the
// report when the namespace has none yet; idx indexes rep.Namespaces by
// namespace) and returns that diff.
func (rep *Report) setStage(idx map[string]int, ns string, c *StageChange) *NamespaceDiff {
	i, ok := idx[ns]
	if !ok {
		rep.Namespaces = append(rep.Namespaces, NamespaceDiff{Namespace: ns, Added: []Change{}, Removed: []Change{}, Policies: []PolicyChange{}})
		i = len(rep.Namespaces) - 1
		idx[ns] = i
	}
	d := &rep.Namespaces[i]
	d.Stage, d.FlowsDropped = c, c.Drops.Flows
	return d
}

// stageNote is the weighting of a stage change.
func stageNote(c *StageChange) string {
	if !enforcing(c.To) || enforcing(c.From) {
		return c.Effect
	}
	e := &c.Drops
	if e.Flows == 0 {
		return c.Effect + "; no observed flow would be dropped (none was reported as would-deny since staging)"
	}
	return fmt.Sprintf("%s; %d observed flows would now be dropped, last seen %s, %s", c.Effect, e.Flows, day(e.LastSeen), output.Plural(e.Days, "day"))
}
