package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

func newWavesCmd(g *globals) *cobra.Command {
	var now, flavor string
	var out *outputFlag
	var perWave int
	cf := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "waves [-o table|wide|json|yaml|md] [--per-wave N] [--cluster FILE | --namespace-file FILE | --kubeconfig FILE]",
		Short: "Plan the rollout: which namespaces to stage and enforce together, and the next command for each",
		Long: `waves turns the current state (the store's stages and stability, the cluster's
tiers and CronJobs) into the rollout plan:

  - waves in tier order (profile tiers.order, least critical first), each of at
    most --per-wave namespaces of one tier (profile rollout.perWave, default 5);
  - the pinned namespaces (profile rollout.pinned, default recruiter-responder:
    the pilot) first, in a wave of their own;
  - then namespaces already under way (enforced, then staged), then the lowest
    risk: no CronJob doubts, Stable longest, fewest peers;
  - deferred tiers (profile tiers.deferred) listed but not scheduled; excluded
    namespaces (profile excludedNamespaces, or stage excluded) and namespaces
    without a known tier listed with the reason.

For each namespace: its stage (observe, staged, enforced), its stability
state, the gates its next promotion still fails, and the exact next command.

Gates, observe → staged:
  stable                 allowlist Stable (see 'calico-plan status')
  no-gap                 no observation gap in the window judged
  cronjob-facts          the namespace's CronJobs are known (cluster facts)
  cronjob-window/NAME    the window covers two scheduled runs of the CronJob
  cronjob-seen/NAME      its pods were seen in flows, or it is declared to
                         need no egress ('calico-plan allow --no-egress')
Gates, staged → enforced:
  staged-days            staged for rollout.stagedDays (default 3) days of
                         observed flows
  no-would-deny          no flow since staging would be denied by the staged
                         policy ('calico-plan allow --from-denied' after review)
  staged-deployed        the staged policy exists in the cluster (cluster
                         facts), so a quiet staged period means something
Gates of every promotion:
  scope                  the namespace is in a scheduled tier
  renderable             every egress entry renders in the target stage's
                         flavor (calico-staged, then --flavor): no network set
                         without labels (unless the cluster facts have its
                         CIDRs), no entry observe had to truncate

Stability is judged at the newest observed flow (or --now), never the wall
clock. With --flavor k8s the plan explains why the observe policy must leave
enforced namespaces out, and shows the selector that does.

The table fits 100 columns: NEXT names the step (a * marks the pinned wave)
and the commands follow the table once each, with the flags they need; the
observe command names the sources the store was observed from (--goldmane,
--es, --loki or --from). -o wide puts each full command on its row.` + clusterFlagsHelp,
		Example: `  calico-plan waves
  calico-plan waves --cluster cluster.yaml -o md > WAVES.md
  calico-plan waves -o json | jq -r '.waves[0].namespaces[].next'
  calico-plan waves --namespace-file ns.yaml --per-wave 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := out.format()
			if err != nil {
				return err
			}
			fl, err := enforcedFlavor(flavor)
			if err != nil {
				return err
			}
			judge, err := parseNow(now)
			if err != nil {
				return err
			}
			if perWave < 0 {
				return fmt.Errorf("--per-wave must be at least 1")
			}
			facts, err := cf.load(cmd.Context(), g)
			if err != nil {
				return err
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			plan := rollout.MakePlan(st, rollout.NewEnv(st, facts, judge), rollout.PlanOptions{PerWave: perWave, Flavor: fl,
				StoreArgs: g.globalArgs(), ClusterArgs: cf.String(), ObserveCommand: observeCommand(st, g.globalArgs())})
			switch f {
			case output.JSON:
				return output.WriteJSON(g.stdout, plan)
			case output.YAML:
				return output.JSONToYAML(g.stdout, func(w io.Writer) error { return output.WriteJSON(w, plan) })
			case output.MD:
				return plan.WriteMarkdown(g.stdout)
			case output.Table:
				return printWavesTable(g, plan, g.globalArgs(), cf.String())
			}
			return plan.WriteText(g.stdout)
		},
	}
	out = addOutputFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML, output.MD)
	cmd.Flags().IntVar(&perWave, "per-wave", 0, "namespaces per wave (default: the profile's rollout.perWave)")
	cmd.Flags().StringVar(&flavor, "flavor", "calico", "flavor enforced namespaces get: calico or k8s (k8s adds a note on the observe policy)")
	completeWords(cmd, "flavor", "calico", "k8s")
	cmd.Flags().StringVar(&now, "now", "", "judge stability at this time (RFC 3339 or YYYY-MM-DD) instead of the newest observed flow")
	cf.register(cmd)
	return cmd
}

// enforcedFlavor validates the flavor enforced namespaces render as.
func enforcedFlavor(s string) (render.Flavor, error) {
	fl, err := render.ParseFlavor(s)
	if err != nil {
		return "", err
	}
	if fl == render.FlavorCalicoStaged {
		return "", fmt.Errorf("--flavor calico-staged: with waves the stage decides (staged namespaces get calico-staged); --flavor picks what enforced namespaces get: calico or k8s")
	}
	return fl, nil
}

// runRenderRollout is render --wave N and render --rollout: every
// namespace gets the flavor its stage calls for (staged → calico-staged,
// enforced → --flavor), with the stage labels, and for --rollout the
// observe policy and the tier: the complete desired state.
func runRenderRollout(cmd *cobra.Command, g *globals, o *renderOpts) error {
	switch {
	case o.wave > 0 && o.rollout:
		return fmt.Errorf("give --wave N or --rollout, not both")
	case o.wave < 0:
		return fmt.Errorf("--wave: waves are numbered from 1 (see 'calico-plan waves')")
	case o.all || len(o.namespaces) > 0:
		return fmt.Errorf("--wave and --rollout choose the namespaces; drop --namespace/--all")
	}
	enforced, err := enforcedFlavor(o.flavor)
	if err != nil {
		return err
	}
	facts, err := o.cf.load(cmd.Context(), g)
	if err != nil {
		return err
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	prof := st.Profile()
	rout, err := newRenderOutput(o.output, o.layout, o.hclResource, o.out, prof)
	if err != nil {
		return err
	}
	rout.enforced = enforced
	if err := rout.hclFlags(o.hclProviders, o.hclStageLabel); err != nil {
		return err
	}
	env := rollout.NewEnv(st, facts, 0)
	stages := rollout.Stages(st, env)

	var targets []string
	if o.rollout {
		for _, ns := range st.Names() {
			if s := stages[ns]; s == allowlist.StageStaged || s == allowlist.StageEnforced {
				targets = append(targets, ns)
			}
		}
	} else {
		plan := rollout.MakePlan(st, env, rollout.PlanOptions{Flavor: enforced})
		if targets, err = plan.WaveNamespaces(o.wave); err != nil {
			return err
		}
	}

	type file struct {
		name string
		objs []any
	}
	var files []file
	var labels []render.StageLabel
	labelStages := rollout.LabelStages(st, env)
	if !o.rollout {
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
	labels = render.StageLabels(prof, labelStages)

	// A partial source means allowlists may miss entries: an enforced
	// policy rendered from them is an outage. Refused exactly as enforcing
	// render refuses it; staged policies only report, so they render.
	var enforcing []string
	for _, ns := range targets {
		if rollout.Stage(st.Namespace(ns)) == allowlist.StageEnforced {
			enforcing = append(enforcing, ns)
		}
	}
	for _, src := range st.Meta.Sources {
		if !src.Partial {
			continue
		}
		if len(enforcing) > 0 && !o.allowUnstable {
			return fmt.Errorf("source %s %s was read partially, so allowlists may miss entries; observe it again completely, or pass --allow-unstable (enforced here: %s)", src.Kind, src.ID, strings.Join(enforcing, ", "))
		}
		fmt.Fprintf(g.stderr, "warning: source %s %s was read partially, so allowlists may miss entries\n", src.Kind, src.ID)
	}

	var nsFiles []file
	anyCalico, anyK8s := false, false
	rf := renderFacts(facts)
	for _, ns := range targets {
		n := st.Namespace(ns)
		stage := rollout.Stage(n)
		var fl render.Flavor
		switch stage {
		case allowlist.StageStaged:
			fl = render.FlavorCalicoStaged
		case allowlist.StageEnforced:
			fl = enforced
		default:
			fmt.Fprintf(g.stderr, "%s: stage %s: nothing to render yet (next: see 'calico-plan waves')\n", ns, stage)
			continue
		}
		a := allowlist.Assess(n, env.Now, prof.Stability)
		if stage == allowlist.StageEnforced && a.State != allowlist.StateStable {
			fmt.Fprintf(g.stderr, "warning: %s is enforced but %s (%s): rendered anyway, since leaving it out would lift enforcement; review with 'calico-plan explain --namespace %s'\n", ns, a.State, a.Reason, ns)
		}
		source := filepath.ToSlash(filepath.Join(st.Dir, ns+".yaml"))
		pol, err := render.Namespace(n, render.Options{Flavor: fl, Profile: prof, Facts: rf, Source: source})
		var incomplete *render.IncompleteError
		if err != nil && !errors.As(err, &incomplete) {
			return err
		}
		// Entries no rule can express are left out and reported: promote
		// gates on them, and leaving the namespace out would lift its
		// enforcement altogether.
		printUnrenderable(g, ns, fl, pol.Unrenderable)
		for _, w := range pol.Warnings {
			if fl == render.FlavorK8s && strings.HasPrefix(w, "k8s flavor:") {
				continue // said once below, with the selector change
			}
			fmt.Fprintf(g.stderr, "warning: %s: %s\n", ns, w)
		}
		if fl == render.FlavorK8s {
			anyK8s = true
		} else {
			anyCalico = true
		}
		nsFiles = append(nsFiles, file{ns, pol.Objects})
	}
	if o.rollout || anyCalico {
		files = append(files, file{"_tier", []any{render.Tier(prof)}})
	}
	if o.rollout {
		files = append(files, file{"_observe-policy", []any{render.ObservePolicy(prof, stages)}})
	}
	files = append(files, nsFiles...)

	if anyK8s {
		current := ""
		if gnp, ok := facts.CalicoObject("GlobalNetworkPolicy", "", prof.Rollout.ObservePolicy.Name); ok {
			current, _ = gnp.Spec["namespaceSelector"].(string)
		}
		fmt.Fprintln(g.stderr, "note:", render.K8sEnforcementNote(prof, current, stages))
	}

	what := "rollout"
	if !o.rollout {
		what = fmt.Sprintf("wave %d", o.wave)
	}
	header := render.Header("") + "\nThe " + what + " of the store " + filepath.ToSlash(st.Dir) + ": apply it as a whole."
	rout.header = header
	for _, f := range files {
		ns := ""
		if !strings.HasPrefix(f.name, "_") {
			ns = f.name
		}
		if err := rout.add(ns, f.name, header, f.objs, nil); err != nil {
			return err
		}
	}
	if len(labels) > 0 {
		if err := rout.add("", "_stages", header, nil, labels); err != nil {
			return err
		}
	}
	if err := rout.flush(g.stdout, g.stderr, what+": "); err != nil {
		return err
	}
	if o.rollout {
		removed, err := rout.pruneStale(header)
		if err != nil {
			return fmt.Errorf("removing stale rollout files: %w", err)
		}
		for _, p := range removed {
			fmt.Fprintf(g.stderr, "removed %s: no longer part of the rollout (its namespace is back in observe, excluded, or gone from the store)\n", p)
		}
		if o.out != "" && o.output == "json" {
			fmt.Fprintf(g.stderr, "note: -o json files carry no header, so files of namespaces no longer staged or enforced are not removed from %s: delete them by hand\n", o.out)
		}
	}
	if len(nsFiles) == 0 && !o.rollout {
		fmt.Fprintf(g.stderr, "%s: no namespace is staged or enforced yet: promote them first (calico-plan promote --namespace NS --to staged)\n", what)
	}
	if len(labels) > 0 && rout.hclStageLabelsOmitted() {
		// Only the labels: Terraform removes the policies of a file that
		// is gone, so the deletes of StageCommands are not needed.
		cmds := render.StageCommands(prof, labels, enforced, "kubectl")[:len(labels)]
		fmt.Fprintf(g.stderr, "stage labels: not in the Terraform output (--hcl-stage-labels none); label the namespaces with:\n  %s\n", strings.Join(cmds, "\n  "))
	}
	if len(labels) > 0 && o.output != "hcl" {
		if o.out != "" {
			script := filepath.ToSlash(filepath.Join(o.out, render.StagesScriptName))
			if o.layout == "stacks" {
				script = filepath.ToSlash(filepath.Join(o.out, prof.Terraform.SharedStack, render.StagesScriptName))
			}
			fmt.Fprintf(g.stderr, "next: kubectl apply -f %s && sh %s   (%s sets the stage labels without touching other labels, and deletes the policies a namespace's stage no longer has)\n", o.out, script, render.StagesScriptName)
		} else {
			cmds := render.StageCommands(prof, labels, enforced, "kubectl")
			fmt.Fprintf(g.stderr, "stage labels and stale policies (not in the output: a Namespace object would remove the namespace's other labels): after applying the output, run\n  %s\n", strings.Join(cmds, "\n  "))
		}
	}
	return nil
}

// renderFacts turns cluster facts into what the renderer uses.
func renderFacts(f *cluster.Facts) *render.Facts {
	if f == nil {
		return nil
	}
	return &render.Facts{NodeIPs: f.NodeIPs(), NetworkSetNets: f.NetworkSetNets()}
}
