// Package diff compares two egress policy sets by meaning, not text, and
// weights every change by the traffic it affects: a traffic-weighted
// semantic diff for pull requests.
//
// Each policy's egress rules are normalized into regions: for a group of
// rules with the same action, subject (the pods the policy applies to),
// protocol and destination peer (canonical selectors via
// internal/policy/selector, aggregated notNets, services, other
// conditions), the union of their addresses times ports. The regions of
// all egress policies of a namespace are compared exactly, so rule order,
// formatting, equivalent selector spellings and the split of ports or nets
// over rules do not count as change; a narrowed rule (fewer ports, fewer or
// smaller nets) shows as the part it no longer allows. Removed regions are
// weighted by the allowlist entries (flows, last seen, days) whose traffic
// they carried and that nothing else allows any more; added regions by the
// entries that justify them. Policy-level changes (added or removed
// policies, kind, tier, order, selector, types, staged action) are listed
// beside them.
//
// Two modes: Files compares the policies rendered from the store now with
// committed policy files; Git compares the store at a git ref with the
// store now, both rendered the same way.
package diff

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// Exit codes, as terraform plan -detailed-exitcode.
const (
	ExitNoChanges = 0
	ExitError     = 1
	ExitChanges   = 2
)

// Modes.
const (
	ModeFiles = "files"
	ModeGit   = "git"
)

// Options configure a diff.
type Options struct {
	// Profile is the cluster profile (policy naming, DNS, address ranges);
	// nil means config.Default().
	Profile *config.Profile
	// Flavor renders the store (default calico).
	Flavor render.Flavor
	// NamespaceLabels, when known, make namespaceSelectors exact while
	// weighting (otherwise only the name labels are known).
	NamespaceLabels cluster.NamespaceLabels
	// Desired is the desired state (rollout.DesiredState) Files compares
	// with in rollout mode: each namespace in the flavor of its stage, the
	// tier and the observe policy, with the stage changes weighed.
	Desired *rollout.Desired
	// Rollout is RolloutAuto (""), RolloutOn or RolloutOff: whether Files
	// compares with Desired (auto: when the committed files are a rollout).
	Rollout string
}

// Change is one added or removed region.
type Change struct {
	Group Group `json:"group"`
	// Nets are the addresses (empty: any address); Ports the ports ("":
	// any port).
	Nets  []string `json:"nets"`
	Ports string   `json:"ports"`
	// Text is the human-readable form: "TCP/5432 to dbaas {app=pg}".
	Text string `json:"text"`
	// Evidence is the observed traffic: for a removal the traffic it
	// would cut, for an addition the traffic that justifies it.
	Evidence Evidence `json:"evidence"`
}

// PolicyChange is a change of a whole policy or of one of its attributes.
type PolicyChange struct {
	Policy string `json:"policy"`
	Change string `json:"change"`
}

// NamespaceDiff is the diff of one namespace's egress policies (Namespace
// "" for cluster-scoped objects).
type NamespaceDiff struct {
	Namespace string         `json:"namespace"`
	Added     []Change       `json:"added"`
	Removed   []Change       `json:"removed"`
	Policies  []PolicyChange `json:"policies"`
	// FlowsCut sums the flows of the entries the removals affect: no rule
	// allows them any more, or (an entry's evidence is not per address or
	// label) possibly only part of them.
	FlowsCut int64 `json:"flowsCut"`
	// Stage is the namespace's rollout stage change (diff --base, and
	// --against a rollout), nil when the stage is the same.
	Stage *StageChange `json:"stage,omitempty"`
	// FlowsDropped sums the observed flows the stage change makes the
	// namespace's policy drop (Stage.Drops).
	FlowsDropped int64 `json:"flowsDropped,omitempty"`
	// DropsNothing says the namespace's new state drops no traffic (its
	// policy is staged, or it has none): removals change what is reported
	// or lift enforcement, and FlowsCut is 0 (rollout comparisons).
	DropsNothing bool     `json:"dropsNothing,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// Changed reports whether anything differs.
func (n *NamespaceDiff) Changed() bool {
	return len(n.Added)+len(n.Removed)+len(n.Policies) > 0 || n.Stage != nil
}

// Report is the result of a diff.
type Report struct {
	Mode   string `json:"mode"`
	Flavor string `json:"flavor"`
	// Old and New describe the two sides.
	Old string `json:"old"`
	New string `json:"new"`
	// Namespaces lists the namespaces that changed, sorted.
	Namespaces []NamespaceDiff `json:"namespaces"`
	// Compared counts the namespaces compared.
	Compared int      `json:"compared"`
	Notes    []string `json:"notes"`
	Errors   []string `json:"errors"`
	Summary  Summary  `json:"summary"`
}

// Summary counts the report.
type Summary struct {
	ChangedNamespaces int    `json:"changedNamespaces"`
	Added             int    `json:"added"`
	Removed           int    `json:"removed"`
	PolicyChanges     int    `json:"policyChanges"`
	FlowsCut          int64  `json:"flowsCut"`
	StageChanges      int    `json:"stageChanges"`
	FlowsDropped      int64  `json:"flowsDropped"`
	ExitCode          int    `json:"exitCode"`
	Result            string `json:"result"`
}

// side is one side of a comparison.
type side struct {
	objs []*policyObj
}

func (o *Options) defaults() {
	if o.Profile == nil {
		o.Profile = config.Default()
	}
	if o.Flavor == "" {
		o.Flavor = render.FlavorCalico
	}
}

// renderNamespaces renders namespaces the way 'render' does, as policy
// objects; a namespace that cannot be rendered is an error.
func renderNamespaces(nss []*allowlist.Namespace, opt Options, storeLabel string, tier bool) ([]*policyObj, []string) {
	var out []*policyObj
	var errs []string
	add := func(obj any, source string) error {
		m, err := render.ToMap(obj)
		if err != nil {
			return err
		}
		js, err := json.Marshal(m)
		if err != nil {
			return err
		}
		api, _ := m["apiVersion"].(string)
		kind, _ := m["kind"].(string)
		p, err := decodeObject(api, kind, js, source)
		if err != nil {
			return err
		}
		if p != nil {
			p.Managed = true
			out = append(out, p)
		}
		return nil
	}
	if tier && opt.Flavor != render.FlavorK8s {
		if err := add(render.Tier(opt.Profile), "rendered tier"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, n := range nss {
		source := "rendered from " + storeLabel + "/" + n.Namespace + ".yaml"
		pol, err := render.Namespace(n, render.Options{Flavor: opt.Flavor, Profile: opt.Profile})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: cannot be rendered as %s: %v", n.Namespace, opt.Flavor, err))
			continue
		}
		for _, o := range pol.Objects {
			if err := add(o, source); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", n.Namespace, err))
			}
		}
	}
	return out, errs
}

// Files compares the policies rendered from the store now (the proposal)
// with the committed policy files at paths (YAML, JSON, Terraform). Only
// calico-plan's policies are compared: those labelled
// app.kubernetes.io/managed-by: calico-plan or named as render names them,
// and the allowlist tier; other policies are listed in the notes. The
// store's namespaces are rendered whatever their stability, except the
// profile's excluded ones unless the files have a policy for them.
func Files(st *allowlist.Store, paths []string, opt Options) *Report {
	opt.defaults()
	prof := opt.Profile
	rep := &Report{Mode: ModeFiles, Flavor: string(opt.Flavor), Old: "committed " + strings.Join(paths, ", "), New: "store " + st.Dir + " now"}
	pf := policyfile.Load(paths, nil)
	for _, p := range pf.Problems {
		if p.Warning {
			rep.Notes = append(rep.Notes, p.String())
		} else {
			rep.Errors = append(rep.Errors, p.String())
		}
	}
	c := loadCommitted(pf, opt, rep)
	old, committedNS, unmanaged, global, observeOld, observeSrc := c.old, c.ns, c.unmanaged, c.global, c.observe, c.observeSrc
	useRollout := rolloutMode(st, opt, old.objs, observeOld != nil)
	if observeOld != nil {
		if useRollout {
			observeAttrs(observeOld)
			observeOld.Managed = true
			old.objs = append(old.objs, observeOld)
		} else {
			global = append(global, observeOld.ID()+" ("+observeSrc+")")
		}
	}
	if len(unmanaged) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("not compared, not calico-plan's: %s", strings.Join(unmanaged, "; ")))
	}
	if len(global) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("not compared, cluster-scoped (the store renders namespaced policies only): %s", strings.Join(global, "; ")))
	}
	hasTier := false
	for _, p := range old.objs {
		if p.Family == "tier" {
			hasTier = true
		}
	}
	if !hasTier && opt.Flavor != render.FlavorK8s {
		rep.Notes = append(rep.Notes, fmt.Sprintf("Tier %s is not in the committed files: not compared", prof.Policy.Tier))
	}
	var nss []*allowlist.Namespace
	for _, n := range st.Namespaces() {
		if prof.Excluded(n.Namespace) && !committedNS[n.Namespace] {
			continue
		}
		nss = append(nss, n)
	}
	var cur side
	var errs []string
	if useRollout {
		d := opt.Desired
		rep.Flavor = fmt.Sprintf("by stage (staged: %s, enforced: %s)", render.FlavorCalicoStaged, d.Enforced)
		rep.New = "desired " + d.What() + " of store " + st.Dir + " now"
		rep.Notes = append(rep.Notes, fmt.Sprintf("compared with the desired %s ('render --rollout'): each namespace in the flavor of its stage, observe namespaces without a policy", d.What()))
		cur.objs, errs = desiredObjects(d, st.Dir, hasTier)
		for _, p := range cur.objs {
			if isObservePolicy(p, &opt) {
				observeAttrs(p)
			}
		}
		rep.Errors = append(rep.Errors, errs...)
		errs = nil
	} else {
		cur.objs, errs = renderNamespaces(nss, opt, st.Dir, hasTier)
		rep.Errors = append(rep.Errors, errs...)
	}
	evidence := map[string]*allowlist.Namespace{}
	for _, n := range st.Namespaces() {
		evidence[n.Namespace] = n
	}
	compare(rep, old, cur, evidence, evidence, unrenderable(errs), opt)
	if useRollout {
		addRolloutStages(rep, st, old.objs, opt.Desired, opt)
		addObserveCoverage(rep, st, old.objs, cur.objs, opt)
		rep.summarize()
	}
	for _, d := range rep.Namespaces {
		for _, c := range d.Removed {
			if c.Group.Action == "Allow" && len(c.Evidence.Entries) == 0 {
				rep.Notes = append(rep.Notes, "removals are weighed by the store now, where an entry deleted by hand has no evidence left; 'diff --base REF' weighs them by the store at REF too")
				rep.summarize()
				return rep
			}
		}
	}
	return rep
}

// committed is what Files compares from the committed files.
type committed struct {
	old        side
	ns         map[string]bool // namespaces with a calico-plan policy
	unmanaged  []string
	global     []string
	observe    *policyObj // the profile's observe policy, if committed
	observeSrc string
}

// loadCommitted sorts the committed objects: calico-plan's policies and
// tier (compared), others (noted), and the observe policy (compared in
// rollout mode).
func loadCommitted(pf *policyfile.Result, opt Options, rep *Report) *committed {
	prof := opt.Profile
	c := &committed{ns: map[string]bool{}}
	for _, d := range pf.Docs {
		for _, o := range d.Objects() {
			source := fmt.Sprintf("%s: doc %d", d.File, d.Index)
			if d.Resource != "" {
				source = fmt.Sprintf("%s:%d (%s)", d.File, d.Line, d.Resource)
			}
			p, err := decodeObject(o.APIVersion, o.Kind, o.JSON, source)
			if err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %s %s: %v", source, o.Kind, o.Name, err))
				continue
			}
			if p == nil {
				continue
			}
			switch {
			case p.Family == "tier":
				if p.Name != prof.Policy.Tier {
					c.unmanaged = append(c.unmanaged, p.ID()+" ("+source+")")
					continue
				}
				if opt.Flavor == render.FlavorK8s {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s (%s) not compared: the k8s flavor uses no tier", p.ID(), source))
					continue
				}
			case isObservePolicy(p, &opt) && c.observe == nil:
				c.observe, c.observeSrc = p, source
				continue
			case p.Namespace == "":
				c.global = append(c.global, p.ID()+" ("+source+")")
				continue
			case !managed(p, prof, opt.Flavor):
				c.unmanaged = append(c.unmanaged, p.ID()+" ("+source+")")
				continue
			default:
				c.ns[p.Namespace] = true
			}
			p.Managed = true
			c.old.objs = append(c.old.objs, p)
		}
	}
	return c
}

// rolloutMode decides whether Files compares with the desired state: asked
// for, or (auto) the files hold the observe policy, or staged policies
// beside a --flavor that renders none while the store has a rollout under
// way.
func rolloutMode(st *allowlist.Store, opt Options, old []*policyObj, hasObserve bool) bool {
	if opt.Desired == nil || opt.Rollout == RolloutOff {
		return false
	}
	if opt.Rollout == RolloutOn || hasObserve {
		return true
	}
	rolling := false
	for _, n := range st.Namespaces() {
		if n.Rollout.Stage == allowlist.StageStaged || n.Rollout.Stage == allowlist.StageEnforced {
			rolling = true
		}
	}
	for _, p := range old {
		if p.Kind == "StagedNetworkPolicy" && opt.Flavor != render.FlavorCalicoStaged && rolling {
			return true
		}
	}
	return false
}

// managed reports whether a committed policy is calico-plan's.
func managed(p *policyObj, prof *config.Profile, fl render.Flavor) bool {
	if p.Labels[render.ManagedByLabel] == render.ManagedByValue {
		return true
	}
	switch p.Family {
	case "calico":
		return p.Name == render.PolicyName(prof, render.FlavorCalico, p.Namespace)
	case "k8s":
		return p.Name == render.PolicyName(prof, render.FlavorK8s, p.Namespace)
	}
	return false
}

var unrenderableRE = regexp.MustCompile(`^([a-z0-9-]+): cannot be rendered`)

// unrenderable returns the namespaces whose rendering failed: they are not
// compared (their committed policies would otherwise look removed).
func unrenderable(errs []string) map[string]bool {
	out := map[string]bool{}
	for _, e := range errs {
		if m := unrenderableRE.FindStringSubmatch(e); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// Git compares the store at a git ref (the allowlist files under st.Dir
// in that commit) with the store now, both rendered with the flavor. The
// profile's excluded namespaces are left out on both sides. Removals are
// weighted by the evidence of both stores (the newer one's where both
// have the entry), additions by the store now's.
func Git(st *allowlist.Store, ref string, opt Options) (*Report, error) {
	opt.defaults()
	base, err := StoreAtRef(ref, st.Dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Mode: ModeGit, Flavor: string(opt.Flavor), Old: "store " + st.Dir + " at " + ref, New: "store " + st.Dir + " now"}
	keep := func(nss []*allowlist.Namespace) []*allowlist.Namespace {
		var out []*allowlist.Namespace
		for _, n := range nss {
			if !opt.Profile.Excluded(n.Namespace) {
				out = append(out, n)
			}
		}
		return out
	}
	var old, cur side
	var errsOld, errsNew []string
	old.objs, errsOld = renderNamespaces(keep(base), opt, ref+":"+filepath.ToSlash(st.Dir), false)
	cur.objs, errsNew = renderNamespaces(keep(st.Namespaces()), opt, st.Dir, false)
	for _, e := range errsOld {
		rep.Errors = append(rep.Errors, "at "+ref+": "+e)
	}
	rep.Errors = append(rep.Errors, errsNew...)
	skip := unrenderable(errsOld)
	for ns := range unrenderable(errsNew) {
		skip[ns] = true
	}
	newEv := map[string]*allowlist.Namespace{}
	for _, n := range st.Namespaces() {
		newEv[n.Namespace] = n
	}
	bothEv := map[string]*allowlist.Namespace{}
	for _, n := range base {
		bothEv[n.Namespace] = n
	}
	compareGit(rep, old, cur, bothEv, newEv, skip, opt)
	addStageChanges(rep, base, st.Namespaces(), opt)
	rep.summarize()
	return rep, nil
}

func compareGit(rep *Report, old, cur side, baseEv, newEv map[string]*allowlist.Namespace, skip map[string]bool, opt Options) {
	// Removals: the base store's points, overridden by the store now's
	// where both have the entry.
	merged := map[string][]*allowlist.Namespace{}
	for ns, n := range baseEv {
		merged[ns] = append(merged[ns], n)
	}
	for ns, n := range newEv {
		merged[ns] = append(merged[ns], n)
	}
	compareWith(rep, old, cur, merged, newEv, skip, opt)
}

func compare(rep *Report, old, cur side, removedEv, addedEv map[string]*allowlist.Namespace, skip map[string]bool, opt Options) {
	merged := map[string][]*allowlist.Namespace{}
	for ns, n := range removedEv {
		merged[ns] = []*allowlist.Namespace{n}
	}
	compareWith(rep, old, cur, merged, addedEv, skip, opt)
}

// compareWith does the comparison. removedEv lists, per namespace, the
// allowlists whose points weight removals (later ones override earlier
// ones for the same entry port); addedEv the one that weights additions.
func compareWith(rep *Report, old, cur side, removedEv map[string][]*allowlist.Namespace, addedEv map[string]*allowlist.Namespace, skip map[string]bool, opt Options) {
	w := newWeigher(opt.Profile, opt.NamespaceLabels)
	byNS := nsDiffs{}
	oldBy, curBy := index(old.objs, skip), index(cur.objs, skip)
	for ns := range skip {
		rep.Notes = append(rep.Notes, fmt.Sprintf("namespace %s not compared: it cannot be rendered as %s", ns, opt.Flavor))
	}
	// Policy-level changes.
	comparePolicies(byNS, oldBy, curBy)
	// Egress regions per namespace: removals weighted by removedEv,
	// additions by addedEv.
	for ns, gs := range egressRegions(oldBy, curBy) {
		rd := newRegionDiff(w, ns, byNS.get(ns), gs)
		rd.compare(removalPoints(w, removedEv[ns]), additionPoints(w, addedEv[ns]))
	}
	rep.Compared = comparedNamespaces(oldBy, curBy)
	for _, d := range byNS {
		d.sortChanges()
		if d.Changed() {
			rep.Namespaces = append(rep.Namespaces, *d)
		}
	}
	sort.Slice(rep.Namespaces, func(i, j int) bool { return rep.Namespaces[i].Namespace < rep.Namespaces[j].Namespace })
	rep.summarize()
}

// nsDiffs are the namespaces' diffs while they are built, by namespace.
type nsDiffs map[string]*NamespaceDiff

// get returns the namespace's diff, empty when it is new.
func (m nsDiffs) get(ns string) *NamespaceDiff {
	d := m[ns]
	if d == nil {
		d = &NamespaceDiff{Namespace: ns, Added: []Change{}, Removed: []Change{}, Policies: []PolicyChange{}}
		m[ns] = d
	}
	return d
}

// comparePolicies records the policy-level changes: policies removed or
// added, and a kept policy's kind and attributes (tier, order, selector,
// types, staged action).
func comparePolicies(byNS nsDiffs, oldBy, curBy map[string]*policyObj) {
	for k, o := range oldBy {
		d := byNS.get(o.Namespace)
		c, ok := curBy[k]
		if !ok {
			d.Policies = append(d.Policies, PolicyChange{Policy: o.ID(), Change: "removed"})
			continue
		}
		d.Policies = append(d.Policies, policyChanges(o, c)...)
	}
	for k, c := range curBy {
		if _, ok := oldBy[k]; !ok {
			byNS.get(c.Namespace).Policies = append(byNS.get(c.Namespace).Policies, PolicyChange{Policy: c.ID(), Change: "added"})
		}
	}
}

// policyChanges lists how a policy kept on both sides changed: its kind,
// then each attribute that differs, in attribute order.
func policyChanges(o, c *policyObj) []PolicyChange {
	var out []PolicyChange
	if c.Kind != o.Kind {
		out = append(out, PolicyChange{Policy: c.ID(), Change: fmt.Sprintf("kind %s -> %s%s", o.Kind, c.Kind, promotion(o.Kind, c.Kind))})
	}
	for _, a := range sortedAttrs(o.Attrs, c.Attrs) {
		if o.Attrs[a] != c.Attrs[a] {
			out = append(out, PolicyChange{Policy: c.ID(), Change: fmt.Sprintf("%s %s -> %s", a, orNone(o.Attrs[a]), orNone(c.Attrs[a]))})
		}
	}
	return out
}

// comparedNamespaces counts the namespaces with a policy on either side.
func comparedNamespaces(oldBy, curBy map[string]*policyObj) int {
	nsSeen := map[string]bool{}
	for _, m := range []map[string]*policyObj{oldBy, curBy} {
		for _, p := range m {
			if p.Namespace != "" {
				nsSeen[p.Namespace] = true
			}
		}
	}
	return len(nsSeen)
}

// sortChanges puts the namespace's changes in report order: regions by
// text, policy changes by policy, then change.
func (d *NamespaceDiff) sortChanges() {
	sort.Slice(d.Removed, func(i, j int) bool { return d.Removed[i].Text < d.Removed[j].Text })
	sort.Slice(d.Added, func(i, j int) bool { return d.Added[i].Text < d.Added[j].Text })
	sort.Slice(d.Policies, func(i, j int) bool {
		if d.Policies[i].Policy != d.Policies[j].Policy {
			return d.Policies[i].Policy < d.Policies[j].Policy
		}
		return d.Policies[i].Change < d.Policies[j].Change
	})
}

func promotion(from, to string) string {
	if strings.HasPrefix(from, "Staged") && !strings.HasPrefix(to, "Staged") {
		return " (enforced: the policy now drops traffic)"
	}
	if !strings.HasPrefix(from, "Staged") && strings.HasPrefix(to, "Staged") {
		return " (back to staged: enforcement lifted)"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func sortedAttrs(a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func index(objs []*policyObj, skip map[string]bool) map[string]*policyObj {
	out := map[string]*policyObj{}
	for _, p := range objs {
		if skip[p.Namespace] && p.Namespace != "" {
			continue
		}
		if _, dup := out[p.key()]; !dup {
			out[p.key()] = p
		}
	}
	return out
}

func groupKey(g Group) string {
	b, _ := json.Marshal(g)
	return string(b)
}

func newChange(g Group, r rect, ns string) Change {
	c := Change{Group: g, Nets: []string{}, Ports: portsString(r), Text: describe(g, r, ns), Evidence: Evidence{Entries: []EntryRef{}}}
	for _, p := range r.nets {
		c.Nets = append(c.Nets, p.String())
	}
	return c
}

func (r *Report) summarize() {
	s := Summary{}
	for _, d := range r.Namespaces {
		s.ChangedNamespaces++
		s.Added += len(d.Added)
		s.Removed += len(d.Removed)
		s.PolicyChanges += len(d.Policies)
		s.FlowsCut += d.FlowsCut
		if d.Stage != nil {
			s.StageChanges++
			s.FlowsDropped += d.FlowsDropped
		}
	}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	if r.Errors == nil {
		r.Errors = []string{}
	}
	if r.Namespaces == nil {
		r.Namespaces = []NamespaceDiff{}
	}
	switch {
	case len(r.Errors) > 0:
		s.ExitCode, s.Result = ExitError, "error"
	case s.ChangedNamespaces > 0:
		s.ExitCode, s.Result = ExitChanges, "changes"
	default:
		s.ExitCode, s.Result = ExitNoChanges, "no changes"
	}
	r.Summary = s
}
