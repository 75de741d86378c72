package rollout

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

// DesiredOptions choose what part of the desired state to build.
type DesiredOptions struct {
	// Enforced is the flavor enforced namespaces get: calico (default) or
	// k8s. Staged namespaces always get calico-staged.
	Enforced render.Flavor
	// Wave limits the state to the namespaces of wave N of the plan (and
	// their stage labels); 0 is the complete rollout: the tier, the
	// observe policy, every staged and enforced namespace and every stage
	// label.
	Wave int
	// AllowPartial renders enforced namespaces from a store with a
	// partial source (--allow-unstable); otherwise that is an error.
	AllowPartial bool
}

// Unit is one file's worth of the desired state: a namespace's policy or a
// shared object (the tier, the observe policy).
type Unit struct {
	// Name is the file's base name: "_tier", "_observe-policy", or the
	// namespace.
	Name string
	// Namespace is "" for shared objects.
	Namespace string
	// Stage and Flavor are the namespace's stage and the flavor it is
	// rendered in ("" for shared objects).
	Stage  string
	Flavor render.Flavor
	// Source is the allowlist file the policy comes from.
	Source  string
	Objects []any
	// Unrenderable are the entries left out of the policy.
	Unrenderable []render.Unrenderable
}

// Desired is what should be deployed: the objects, in file units, and the
// stage label of every namespace whose label matters.
type Desired struct {
	// Rollout is true for the complete rollout, false for one wave.
	Rollout  bool
	Wave     int
	Enforced render.Flavor
	Units    []Unit
	Labels   []render.StageLabel
	// Stages maps every namespace of the store (the profile's excluded
	// ones left out) to its stage.
	Stages map[string]string
	// Messages are the warnings and notes for the operator, in order,
	// each a full line ("warning: ...", "note: ...").
	Messages []string
	// Namespaces counts the namespace units.
	Namespaces int
	// ObservePolicy says the observe GlobalNetworkPolicy is part of the
	// state (profile rollout.observePolicy.manage).
	ObservePolicy bool
}

// What names the state: "rollout" or "wave N".
func (d *Desired) What() string {
	if d.Rollout {
		return "rollout"
	}
	return fmt.Sprintf("wave %d", d.Wave)
}

// Unit returns the unit of a namespace, or nil.
func (d *Desired) Unit(ns string) *Unit {
	for i := range d.Units {
		if d.Units[i].Namespace == ns && ns != "" {
			return &d.Units[i]
		}
	}
	return nil
}

// FlavorFor returns the flavor a stage renders in: calico-staged for
// staged, the enforced flavor for enforced, "" for the others (no
// policy).
func FlavorFor(stage string, enforced render.Flavor) render.Flavor {
	switch stage {
	case allowlist.StageStaged:
		return render.FlavorCalicoStaged
	case allowlist.StageEnforced:
		if enforced == "" {
			return render.FlavorCalico
		}
		return enforced
	}
	return ""
}

// RenderFacts turns cluster facts into what the renderer uses (nil
// without facts).
func RenderFacts(f *cluster.Facts) *render.Facts {
	if f == nil {
		return nil
	}
	return &render.Facts{NodeIPs: f.NodeIPs(), NetworkSetNets: f.NetworkSetNets()}
}

// DesiredState builds what should be deployed from the store, its stages
// and the cluster facts of env: every staged namespace as a Calico
// StagedNetworkPolicy, every enforced one in opt.Enforced (even when no
// longer Stable, since leaving it out would lift enforcement), for the
// complete rollout the tier and the observe GlobalNetworkPolicy (leaving
// out staged and enforced namespaces), and the stage labels. Entries no
// rule can express are left out and reported. A partial source is an
// error when an enforced namespace is rendered, unless opt.AllowPartial.
// It is the one definition of the desired state: render --rollout and
// --wave write it, diff and check compare with it.
func DesiredState(st *allowlist.Store, env Env, opt DesiredOptions) (*Desired, error) {
	if opt.Wave < 0 {
		return nil, fmt.Errorf("--wave: waves are numbered from 1 (see 'calico-plan waves')")
	}
	enforced := opt.Enforced
	if enforced == "" {
		enforced = render.FlavorCalico
	}
	if enforced == render.FlavorCalicoStaged {
		return nil, fmt.Errorf("--flavor calico-staged: with waves the stage decides (staged namespaces get calico-staged); --flavor picks what enforced namespaces get: calico or k8s")
	}
	prof := st.Profile()
	d := &Desired{Rollout: opt.Wave == 0, Wave: opt.Wave, Enforced: enforced, Stages: Stages(st, env)}
	targets, err := d.targets(st, env)
	if err != nil {
		return nil, err
	}
	if err := d.checkPartial(st, targets, opt.AllowPartial); err != nil {
		return nil, err
	}
	var nsUnits []Unit
	anyCalico, anyK8s := false, false
	for _, ns := range targets {
		u, err := d.namespaceUnit(st, env, ns)
		if err != nil {
			return nil, err
		}
		switch {
		case u == nil:
			continue
		case u.Flavor == render.FlavorK8s:
			anyK8s = true
		default:
			anyCalico = true
		}
		nsUnits = append(nsUnits, *u)
	}
	if d.Rollout || anyCalico {
		d.Units = append(d.Units, Unit{Name: "_tier", Objects: []any{render.Tier(prof)}})
	}
	if d.Rollout {
		ok, msg := manageObservePolicy(env, d.Stages)
		if ok {
			d.Units = append(d.Units, Unit{Name: "_observe-policy", Objects: []any{render.ObservePolicy(prof, d.Stages)}})
		}
		if msg != "" {
			d.Messages = append(d.Messages, msg)
		}
		d.ObservePolicy = ok
	}
	d.Units = append(d.Units, nsUnits...)
	d.Namespaces = len(nsUnits)
	if anyK8s {
		current := ""
		if gnp, ok := env.Facts.CalicoObject("GlobalNetworkPolicy", "", prof.Rollout.ObservePolicy.Name); ok {
			current, _ = gnp.Spec["namespaceSelector"].(string)
		}
		d.Messages = append(d.Messages, "note: "+render.K8sEnforcementNote(prof, current, d.Stages))
	}
	return d, nil
}

func (d *Desired) warn(format string, a ...any) {
	d.Messages = append(d.Messages, "warning: "+fmt.Sprintf(format, a...))
}

// targets returns the namespaces the state renders (every staged and
// enforced one, or the wave's) and sets the stage labels.
func (d *Desired) targets(st *allowlist.Store, env Env) ([]string, error) {
	var targets []string
	if d.Rollout {
		for _, ns := range st.Names() {
			if s := d.Stages[ns]; s == allowlist.StageStaged || s == allowlist.StageEnforced {
				targets = append(targets, ns)
			}
		}
	} else {
		plan := MakePlan(st, env, PlanOptions{Flavor: d.Enforced})
		var err error
		if targets, err = plan.WaveNamespaces(d.Wave); err != nil {
			return nil, err
		}
	}
	labelStages := LabelStages(st, env)
	if !d.Rollout {
		inWave := map[string]bool{}
		for _, ns := range targets {
			inWave[ns] = true
		}
		for ns := range labelStages {
			if !inWave[ns] {
				delete(labelStages, ns)
			}
		}
	}
	d.Labels = render.StageLabels(st.Profile(), labelStages)
	return targets, nil
}

// checkPartial applies the partial-source rule: allowlists from a source
// read partially may miss entries, so an enforced policy rendered from
// them is an outage (an error unless allowed); staged policies only
// report, so they render with a warning.
func (d *Desired) checkPartial(st *allowlist.Store, targets []string, allow bool) error {
	var enforcing []string
	for _, ns := range targets {
		if Stage(st.Namespace(ns)) == allowlist.StageEnforced {
			enforcing = append(enforcing, ns)
		}
	}
	for _, src := range st.Meta.Sources {
		if !src.Partial {
			continue
		}
		if len(enforcing) > 0 && !allow {
			return fmt.Errorf("source %s %s was read partially, so allowlists may miss entries; observe it again completely, or pass --allow-unstable (enforced here: %s)", src.Kind, src.ID, strings.Join(enforcing, ", "))
		}
		d.warn("source %s %s was read partially, so allowlists may miss entries", src.Kind, src.ID)
	}
	return nil
}

// namespaceUnit renders one namespace in the flavor of its stage (nil when
// its stage has no policy). Entries no rule can express are left out and
// reported: promote gates on them, and leaving the namespace out would
// lift its enforcement altogether.
func (d *Desired) namespaceUnit(st *allowlist.Store, env Env, ns string) (*Unit, error) {
	prof := st.Profile()
	n := st.Namespace(ns)
	stage := Stage(n)
	fl := FlavorFor(stage, d.Enforced)
	if fl == "" {
		d.Messages = append(d.Messages, fmt.Sprintf("%s: stage %s: nothing to render yet (next: see 'calico-plan waves')", ns, stage))
		return nil, nil
	}
	a := allowlist.Assess(n, env.Now, prof.Stability)
	if stage == allowlist.StageEnforced && a.State != allowlist.StateStable {
		d.warn("%s is enforced but %s (%s): rendered anyway, since leaving it out would lift enforcement; review with 'calico-plan explain --namespace %s'", ns, a.State, a.Reason, ns)
	}
	source := filepath.ToSlash(filepath.Join(st.Dir, ns+".yaml"))
	pol, err := render.Namespace(n, render.Options{Flavor: fl, Profile: prof, Facts: RenderFacts(env.Facts), Source: source})
	var incomplete *render.IncompleteError
	if err != nil && !errors.As(err, &incomplete) {
		return nil, err
	}
	what := "the policy denies this traffic when enforced"
	if fl == render.FlavorCalicoStaged {
		what = "the staged policy reports its flows as would-deny"
	}
	for _, u := range pol.Unrenderable {
		d.warn("%s: NOT RENDERED: %s (%s)", ns, u, what)
	}
	for _, w := range pol.Warnings {
		if fl == render.FlavorK8s && strings.HasPrefix(w, "k8s flavor:") {
			continue // said once, with the selector change
		}
		d.warn("%s: %s", ns, w)
	}
	return &Unit{Name: ns, Namespace: ns, Stage: stage, Flavor: fl, Source: source, Objects: pol.Objects, Unrenderable: pol.Unrenderable}, nil
}

// manageObservePolicy decides, from rollout.observePolicy.manage and the
// cluster facts, whether the complete rollout includes the observe
// policy, and says why when it does not (or when that is unclear).
func manageObservePolicy(env Env, stages map[string]string) (bool, string) {
	op := env.Profile.Rollout.ObservePolicy
	var moved []string
	for ns, s := range stages {
		if s == allowlist.StageStaged || s == allowlist.StageEnforced {
			moved = append(moved, ns)
		}
	}
	sort.Strings(moved)
	switch op.Manage {
	case config.ObserveManageAlways:
		return true, ""
	case config.ObserveManageNever:
		if len(moved) == 0 {
			return false, ""
		}
		return false, fmt.Sprintf("note: the observe policy %s is not rendered (rollout.observePolicy.manage: never): make sure it leaves out the staged and enforced namespaces (%s), or their policies see no would-deny and a Kubernetes policy cannot deny what it allows", op.Name, strings.Join(moved, ", "))
	}
	if _, ok := env.Facts.CalicoObject("GlobalNetworkPolicy", "", op.Name); ok {
		return true, ""
	}
	if env.Facts == nil {
		return false, fmt.Sprintf("warning: the observe policy %s is not rendered: without cluster facts it is unknown whether the cluster has it, and the profile (rollout.observePolicy.manage: existing) never creates an allow-all policy; pass --cluster FILE or a kubeconfig, or set manage: always to create it", op.Name)
	}
	if r, missing := env.Facts.MissingReason(cluster.ResourceCalico); missing {
		return false, fmt.Sprintf("warning: the observe policy %s is not rendered: the cluster facts have no Calico objects (%s), so it is unknown whether the cluster has it; pass --cluster FILE (from 'calico-plan snapshot') or a kubeconfig, or set rollout.observePolicy.manage: always", op.Name, r)
	}
	return false, fmt.Sprintf("note: the cluster has no GlobalNetworkPolicy %s, so none is rendered: the profile (rollout.observePolicy.manage: existing) never creates an allow-all policy; set manage: always to create one", op.Name)
}
