package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// wavesOpts are waves' flags.
type wavesOpts struct {
	now, flavor string
	out         *outputFlag
	perWave     int
	cf          clusterFlags
}

// wavesHelp is waves' Long help (the cluster flags' help follows it).
const wavesHelp = `waves turns the current state (the store's stages and stability, the cluster's
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
--es, --loki or --from). -o wide puts each full command on its row.`

func newWavesCmd(g *globals) *cobra.Command {
	o := &wavesOpts{}
	cmd := &cobra.Command{
		Use:   "waves [-o table|wide|json|yaml|md] [--per-wave N] [--cluster FILE | --namespace-file FILE | --kubeconfig FILE]",
		Short: "Plan the rollout: which namespaces to stage and enforce together, and the next command for each",
		Long:  wavesHelp + clusterFlagsHelp,
		Example: `  calico-plan waves
  calico-plan waves --cluster cluster.yaml -o md > WAVES.md
  calico-plan waves -o json | jq -r '.waves[0].namespaces[].next'
  calico-plan waves --namespace-file ns.yaml --per-wave 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWaves(cmd.Context(), g, o) },
	}
	o.out = addOutputFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML, output.MD)
	cmd.Flags().IntVar(&o.perWave, "per-wave", 0, "namespaces per wave (default: the profile's rollout.perWave)")
	cmd.Flags().StringVar(&o.flavor, "flavor", "calico", "flavor enforced namespaces get: calico or k8s (k8s adds a note on the observe policy)")
	completeWords(cmd, "flavor", "calico", "k8s")
	cmd.Flags().StringVar(&o.now, "now", "", "judge stability at this time (RFC 3339 or YYYY-MM-DD) instead of the newest observed flow")
	o.cf.register(cmd)
	return cmd
}

// runWaves is waves: the rollout plan of the store and the cluster facts,
// judged at --now or the newest observed flow, in the output format asked
// for.
func runWaves(ctx context.Context, g *globals, o *wavesOpts) error {
	f, err := o.out.format()
	if err != nil {
		return err
	}
	fl, err := enforcedFlavor(o.flavor)
	if err != nil {
		return err
	}
	judge, err := parseNow(o.now)
	if err != nil {
		return err
	}
	if o.perWave < 0 {
		return fmt.Errorf("--per-wave must be at least 1")
	}
	facts, err := o.cf.load(ctx, g)
	if err != nil {
		return err
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	plan := rollout.MakePlan(st, rollout.NewEnv(st, facts, judge), rollout.PlanOptions{PerWave: o.perWave, Flavor: fl,
		StoreArgs: g.globalArgs(), ClusterArgs: o.cf.String(), ObserveCommand: observeCommand(st, g.globalArgs())})
	return writePlan(g, plan, f, o.cf.String())
}

// writePlan writes the rollout plan in format f; clusterArgs are the
// cluster flags the table's commands need.
func writePlan(g *globals, plan *rollout.Plan, f output.Format, clusterArgs string) error {
	switch f {
	case output.JSON:
		return output.WriteJSON(g.stdout, plan)
	case output.YAML:
		return output.JSONToYAML(g.stdout, func(w io.Writer) error { return output.WriteJSON(w, plan) })
	case output.MD:
		return plan.WriteMarkdown(g.stdout)
	case output.Table:
		return printWavesTable(g, plan, g.globalArgs(), clusterArgs)
	}
	return plan.WriteText(g.stdout)
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

// runRenderRollout is render --wave N and render --rollout: it writes the
// desired state (rollout.DesiredState) in the output format asked for.
func runRenderRollout(ctx context.Context, g *globals, o *renderOpts) error {
	if err := checkRolloutFlags(o); err != nil {
		return err
	}
	enforced, err := enforcedFlavor(o.flavor)
	if err != nil {
		return err
	}
	facts, err := o.cf.load(ctx, g)
	if err != nil {
		return err
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	prof := st.Profile()
	rout, err := newRenderOutputFor(o, prof)
	if err != nil {
		return err
	}
	rout.enforced = enforced
	d, err := rollout.DesiredState(st, rollout.NewEnv(st, facts, 0), rollout.DesiredOptions{Enforced: enforced, Wave: o.wave, AllowPartial: o.allowUnstable})
	if err != nil {
		return err
	}
	for _, m := range d.Messages {
		fmt.Fprintln(g.stderr, m)
	}
	header := render.Header("") + "\nThe " + d.What() + " of the store " + filepath.ToSlash(st.Dir) + ": apply it as a whole."
	if err := writeDesired(g, rout, d, header); err != nil {
		return err
	}
	if o.rollout {
		if err := pruneRollout(g, o, rout, header); err != nil {
			return err
		}
	}
	if d.Namespaces == 0 && !o.rollout {
		fmt.Fprintf(g.stderr, "%s: no namespace is staged or enforced yet: promote them first (calico-plan promote --namespace NS --to staged)\n", d.What())
	}
	printStageLabelHints(g, o, rout, prof, d.Labels, enforced)
	return nil
}

// checkRolloutFlags validates the flags of render --wave and --rollout.
func checkRolloutFlags(o *renderOpts) error {
	switch {
	case o.wave > 0 && o.rollout:
		return fmt.Errorf("give --wave N or --rollout, not both")
	case o.wave < 0:
		return fmt.Errorf("--wave: waves are numbered from 1 (see 'calico-plan waves')")
	case o.all || len(o.namespaces) > 0:
		return fmt.Errorf("--wave and --rollout choose the namespaces; drop --namespace/--all")
	}
	return nil
}

// writeDesired adds the desired state's units and stage labels to the
// output under header and writes it.
func writeDesired(g *globals, rout *renderOutput, d *rollout.Desired, header string) error {
	rout.header = header
	for _, u := range d.Units {
		if err := rout.add(u.Namespace, u.Name, header, u.Objects, nil); err != nil {
			return err
		}
	}
	if len(d.Labels) > 0 {
		if err := rout.add("", "_stages", header, nil, d.Labels); err != nil {
			return err
		}
	}
	return rout.flush(g.stdout, g.stderr, d.What()+": ")
}

// pruneRollout removes the files an earlier --rollout wrote that the
// desired state no longer has, and says which; -o json files carry no
// header to recognize them by, which it notes.
func pruneRollout(g *globals, o *renderOpts, rout *renderOutput, header string) error {
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
	return nil
}

// printStageLabelHints tells how to set the stage labels the output does
// not set itself: the kubectl label commands when -o hcl leaves them out,
// otherwise the stage script to run (--out) or the commands to run after
// applying stdout.
func printStageLabelHints(g *globals, o *renderOpts, rout *renderOutput, prof *config.Profile, labels []render.StageLabel, enforced render.Flavor) {
	if len(labels) == 0 {
		return
	}
	if rout.hclStageLabelsOmitted() {
		// Only the labels: Terraform removes the policies of a file that
		// is gone, so the deletes of StageCommands are not needed.
		cmds := render.StageCommands(prof, labels, enforced, "kubectl")[:len(labels)]
		fmt.Fprintf(g.stderr, "stage labels: not in the Terraform output (--hcl-stage-labels none); label the namespaces with:\n  %s\n", strings.Join(cmds, "\n  "))
	}
	if o.output == "hcl" {
		return
	}
	if o.out != "" {
		script := stagesScriptPath(o, prof)
		fmt.Fprintf(g.stderr, "next: kubectl apply -f %s && sh %s   (%s sets the stage labels without touching other labels, and deletes the policies a namespace's stage no longer has)\n", o.out, script, render.StagesScriptName)
		return
	}
	cmds := render.StageCommands(prof, labels, enforced, "kubectl")
	fmt.Fprintf(g.stderr, "stage labels and stale policies (not in the output: a Namespace object would remove the namespace's other labels): after applying the output, run\n  %s\n", strings.Join(cmds, "\n  "))
}

// stagesScriptPath is where render --out writes the stage script: in DIR,
// or with --layout stacks in the shared stack's directory.
func stagesScriptPath(o *renderOpts, prof *config.Profile) string {
	if o.layout == "stacks" {
		return filepath.ToSlash(filepath.Join(o.out, prof.Terraform.SharedStack, render.StagesScriptName))
	}
	return filepath.ToSlash(filepath.Join(o.out, render.StagesScriptName))
}

// renderFacts turns cluster facts into what the renderer uses.
func renderFacts(f *cluster.Facts) *render.Facts { return rollout.RenderFacts(f) }
