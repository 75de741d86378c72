package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/diff"
	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// Options say what a report compares and replays.
type Options struct {
	// Base is a git ref: the store at Base against the store now. Against
	// are committed policy files instead (exactly one of the two).
	Base    string
	Against []string
	Flavor  render.Flavor
	// Facts are the cluster facts (namespace labels, CronJobs); nil: none.
	Facts *cluster.Facts
	// Flows are the recorded traffic check replays (none: check does not
	// run); Policies the cluster's other policy files replayed beside the
	// policies rendered from the store.
	Flows    []flows.Input
	Policies []string
	Strict   bool
	Packets  *flows.PacketLogOptions
	// Now judges stability for the wave plan (0: the newest flow).
	Now     allowlist.Time
	PerWave int
	// StoreArgs and ClusterArgs go into the plan's next commands.
	StoreArgs, ClusterArgs string
}

// Make runs the diff, the check (when there are flows) and the wave plan
// on the store, draws the graph of the namespaces the diff changes and
// builds the report. An error is returned only when nothing can be
// reported (a bad ref, unreadable flows); errors inside a part (a policy
// file that does not parse, a namespace that cannot be rendered) are in
// the report, which then exits ExitError.
func Make(ctx context.Context, st *allowlist.Store, opt Options) (*Report, error) {
	if (opt.Base != "") == (len(opt.Against) > 0) {
		return nil, fmt.Errorf("give a base ref or committed policy files, not both or neither")
	}
	if opt.Flavor == "" {
		opt.Flavor = render.FlavorCalico
	}
	prof := st.Profile()
	in := Input{}
	dopt := diff.Options{Profile: prof, Flavor: opt.Flavor, NamespaceLabels: opt.Facts.NamespaceLabels()}
	var base []*allowlist.Namespace
	if opt.Base != "" {
		var err error
		if in.Diff, err = diff.Git(st, opt.Base, dopt); err != nil {
			return nil, err
		}
		if base, err = diff.StoreAtRef(opt.Base, st.Dir); err != nil {
			return nil, err
		}
		in.Title = fmt.Sprintf("The allowlist store %s at %s against the store now.", st.Dir, opt.Base)
	} else {
		in.Diff = diff.Files(st, opt.Against, dopt)
		in.Title = fmt.Sprintf("The policies rendered from the allowlist store %s against the committed files %s.", st.Dir, strings.Join(opt.Against, ", "))
	}

	// check: the policies rendered from the store now (the proposal), with
	// the cluster's other policies.
	if len(opt.Flows) == 0 {
		in.CheckNote = "No recorded flows given (--from): the proposed policies were not replayed against traffic."
	} else {
		rep, note, err := checkProposal(ctx, st, opt)
		if err != nil {
			return nil, err
		}
		in.Check, in.CheckNote = rep, note
	}

	// The graph of the namespaces the diff changes.
	var names []string
	seen := map[string]bool{}
	for _, d := range in.Diff.Namespaces {
		if d.Namespace != "" && !seen[d.Namespace] {
			seen[d.Namespace] = true
			names = append(names, d.Namespace)
		}
	}
	pick := func(nss []*allowlist.Namespace) []*allowlist.Namespace {
		var out []*allowlist.Namespace
		for _, n := range nss {
			if seen[n.Namespace] {
				out = append(out, n)
			}
		}
		return out
	}
	gopt := graph.Options{Denied: true, WouldDeny: true}
	switch {
	case len(names) == 0:
		in.GraphNote = "The change touches no namespace's egress."
	case opt.Base != "":
		byName := map[string]*allowlist.Namespace{}
		for _, n := range base {
			byName[n.Namespace] = n
		}
		known := func(ns string) *allowlist.Namespace {
			if n := st.Namespace(ns); n != nil {
				return n
			}
			return byName[ns]
		}
		in.Graph = ChangeGraph(graph.Build(pick(base), known, gopt), graph.Build(pick(st.Namespaces()), known, gopt))
		in.GraphNote = fmt.Sprintf("The egress of %s (%s), from the allowlists: at %s against now, edges marked added, changed (ports) or removed; observed denied and would-deny egress of the store now.",
			output.Plural(len(names), "changed namespace"), strings.Join(names, ", "), opt.Base)
	default:
		in.Graph = graph.Build(pick(st.Namespaces()), st.Namespace, gopt)
		in.GraphNote = fmt.Sprintf("The egress the store now holds for %s (%s). The other side is policy files, not allowlists, so edges are not marked as changed: the diff above lists what each change adds and removes.",
			output.Plural(len(names), "changed namespace"), strings.Join(names, ", "))
	}

	env := rollout.NewEnv(st, opt.Facts, opt.Now)
	enforced := opt.Flavor
	if enforced == render.FlavorCalicoStaged {
		enforced = render.FlavorCalico
	}
	in.Plan = rollout.MakePlan(st, env, rollout.PlanOptions{PerWave: opt.PerWave, Flavor: enforced, StoreArgs: opt.StoreArgs, ClusterArgs: opt.ClusterArgs})
	return Build(in), nil
}

// checkProposal renders every namespace of the store (Stable or not, the
// profile's excluded ones left out, as 'render --all --allow-unstable'
// does) with the tier, and replays the flows against them and the other
// policy files.
func checkProposal(ctx context.Context, st *allowlist.Store, opt Options) (*check.Report, string, error) {
	prof := st.Profile()
	var objs []any
	if opt.Flavor != render.FlavorK8s {
		objs = append(objs, render.Tier(prof))
	}
	var skipped []string
	for _, n := range st.Namespaces() {
		if prof.Excluded(n.Namespace) {
			continue
		}
		pol, err := render.Namespace(n, render.Options{Flavor: opt.Flavor, Profile: prof})
		if err != nil {
			skipped = append(skipped, n.Namespace)
			continue
		}
		objs = append(objs, pol.Objects...)
	}
	var buf bytes.Buffer
	if err := render.EncodeYAML(&buf, render.Header(st.Dir), objs...); err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "calico-plan-report-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "rendered.yaml")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		return nil, "", err
	}
	pf := policyfile.Load(append([]string{file}, opt.Policies...), nil)
	label := "rendered from " + st.Dir
	for i := range pf.Problems {
		if pf.Problems[i].File == file {
			pf.Problems[i].File = label
		}
	}
	for i := range pf.Files {
		if pf.Files[i] == file {
			pf.Files[i] = label
		}
	}
	rep, err := check.Run(ctx, pf, opt.Flows, check.Config{Profile: prof, NamespaceLabels: opt.Facts.NamespaceLabels(), Strict: opt.Strict, Packets: opt.Packets})
	if err != nil {
		return nil, "", err
	}
	note := fmt.Sprintf("The policies rendered from the store now (flavor %s)", opt.Flavor)
	if len(opt.Policies) > 0 {
		note += " and " + strings.Join(opt.Policies, ", ")
	}
	note += "."
	if len(skipped) > 0 {
		note += fmt.Sprintf(" Not rendered, so not checked: %s (see the diff's errors).", strings.Join(skipped, ", "))
	}
	return rep, note, nil
}
