package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

type stageChangeOpts struct {
	namespace, to, reason, by, now string
	force                          bool
	// promote only: a batch (--wave N, --tier T) and unknown gates.
	wave          int
	tiers         []string
	acceptUnknown bool
}

// promoteOpts are promote's flags: the stage change, the cluster facts its
// gates read, and --dry-run.
type promoteOpts struct {
	stageChangeOpts
	cf  clusterFlags
	dry dryRunFlag
}

// promoteHelp is promote's Long help (the cluster flags' help follows it).
const promoteHelp = `promote moves a namespace forward in the rollout and records it in the
namespace's allowlist file (rollout: stage, since, reason, by, history):

  observe → staged    its allowlist is deployed as a Calico StagedNetworkPolicy,
                      which denies nothing and reports in each flow's pending
                      trace what it would deny
  staged → enforced   the allowlist is enforced (calico or k8s flavor)

It checks the gates first and refuses with the list of unmet ones:
  observe → staged    stable, no-gap, cronjob-facts, cronjob-window/NAME,
                      cronjob-seen/NAME (see 'calico-plan waves --help')
  staged → enforced   staged-days (rollout.stagedDays days of observed flows
                      since staging, default 3), no-would-deny (no flow since
                      staging that the staged policy would deny),
                      staged-deployed (the staged policy is in the cluster)
Every promotion also needs the namespace in a scheduled tier (scope) and every
egress entry renderable in the target stage's flavor (renderable: a network set
without labels, for one, cannot be selected, and a policy without the entry
denies its traffic), and observe → enforced skips staging (stage-order), which
only --force allows.

--force promotes despite unmet gates; it needs --reason, and the unmet gates
are recorded with it in the history. A gate the facts cannot decide is
unknown, not failed: with only a Namespace list (--namespace-file) a
namespace whose flows show no CronJob pods has unknown CronJobs
(cronjob-facts?). --accept-unknown promotes past unknown gates (recorded),
and nothing else.

--wave N (a wave of 'calico-plan waves') and --tier T (every scheduled
namespace of the tier) promote a batch: each namespace of the batch in the
stage --to moves from is promoted when its gates pass, the others are listed
with the gates that block them (exit 1 when any is refused; the promoted ones
are saved). Gates are judged at the newest observed
flow; the promotion is stamped with the wall clock, or --at. --dry-run judges
the gates and prints the result without writing the store. With several -n,
each namespace is promoted in turn; the first refusal stops.

promote only changes the store (commit it). Then render and apply the policy
('calico-plan render --wave N' or 'render --rollout') and the namespace's stage
label, which takes it out of the observe policy.`

func newPromoteCmd(g *globals) *cobra.Command {
	o := &promoteOpts{}
	cmd := &cobra.Command{
		Use:   "promote (-n NS... | --wave N | --tier T) --to staged|enforced [--reason TEXT] [--force] [--accept-unknown] [--by NAME] [--dry-run]",
		Short: "Move a namespace to staged or enforced once its gates pass",
		Long:  promoteHelp + clusterFlagsHelp,
		Example: `  calico-plan promote --namespace recruiter-responder --to staged --reason "pilot"
  calico-plan promote --namespace n8n --to enforced --cluster cluster.yaml
  calico-plan promote --namespace nextcloud --to staged --force --reason "backup verified by hand on 2026-11-29"
  calico-plan promote --wave 2 --to staged --cluster cluster.yaml
  calico-plan promote --tier 4-aux --to enforced --cluster cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPromote(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	repeatNamespace(cmd, &o.namespace, g, "namespace to promote")
	f.StringVar(&o.to, "to", "", "stage to promote to: staged or enforced")
	f.StringVar(&o.reason, "reason", "", "why (recorded in the history; required with --force)")
	f.BoolVar(&o.force, "force", false, "promote despite unmet gates (recorded with them)")
	f.BoolVar(&o.acceptUnknown, "accept-unknown", false, "promote past gates the facts cannot decide (marked unknown, e.g. CronJobs with only a Namespace list); recorded")
	f.IntVar(&o.wave, "wave", 0, "promote the namespaces of wave N of 'calico-plan waves' that pass their gates")
	f.StringArrayVar(&o.tiers, "tier", nil, "promote the scheduled namespaces of tier T that pass their gates (repeatable)")
	f.StringVar(&o.by, "by", "", "who promotes (recorded; default: $USER)")
	byDefault(cmd, &o.by)
	f.StringVar(&o.now, "at", "", "stamp the promotion with this time (RFC 3339 or YYYY-MM-DD) instead of the wall clock")
	deprecatedAlias(cmd, "at", "now")
	completeWords(cmd, "to", allowlist.StageStaged, allowlist.StageEnforced)
	o.dry.register(cmd, "")
	o.cf.register(cmd)
	return cmd
}

// runPromote is promote: a batch (--wave N, --tier T: runPromoteBatch),
// or the namespace named, once its gates pass.
func runPromote(ctx context.Context, g *globals, o *promoteOpts) error {
	if o.wave != 0 || len(o.tiers) > 0 {
		return runPromoteBatch(ctx, g, o)
	}
	if o.namespace == "" || o.to == "" {
		return fmt.Errorf("--namespace and --to are required")
	}
	if o.force && o.reason == "" {
		return fmt.Errorf("--force needs --reason TEXT: say why the unmet gates are acceptable (it is recorded in the history)")
	}
	at, err := wallOrNow(o.now)
	if err != nil {
		return err
	}
	facts, err := o.cf.load(ctx, g)
	if err != nil {
		return err
	}
	return withStoreNamespace(g, o.namespace, func(st *allowlist.Store, n *allowlist.Namespace) error {
		return promoteNamespace(g, o, rollout.NewEnv(st, facts, 0), at, st, n)
	})
}

// promoteNamespace promotes one namespace when its gates pass (or --force,
// --accept-unknown allow it) and saves the store; refused, it prints the
// gates and the would-deny flows that block it.
func promoteNamespace(g *globals, o *promoteOpts, env rollout.Env, at int64, st *allowlist.Store, n *allowlist.Namespace) error {
	from := rollout.Stage(n)
	c, err := rollout.Promote(n, o.to, env, o.change(at))
	var refused *rollout.RefusedError
	if errors.As(err, &refused) {
		printRefusal(g.stderr, c, n.Namespace)
	}
	if err != nil {
		return err
	}
	if err := o.dry.save(g, st); err != nil {
		return err
	}
	printGates(g.stdout, c)
	forced := ""
	if n.Rollout.Forced {
		forced = fmt.Sprintf(", FORCED past %d unmet gate(s)", len(c.Unmet()))
	}
	fmt.Fprintf(g.stdout, "promoted %s: %s → %s at %s%s\n", n.Namespace, from, n.Rollout.Stage, n.Rollout.Since, forced)
	args := g.globalArgs() + o.cf.String()
	printApplyHint(g.stdout, st, n, waveOf(st, env, n.Namespace), args)
	if n.Rollout.Stage == allowlist.StageStaged {
		printEnforceHint(g.stdout, st, n, args)
	}
	return nil
}

// change is the promotion --to asks for, stamped at.
func (o *stageChangeOpts) change(at int64) rollout.Change {
	return rollout.Change{At: allowlist.Time(at), Reason: o.reason, By: o.by, Force: o.force, AcceptUnknown: o.acceptUnknown}
}

// printRefusal prints why a promotion was refused: the gates, and the
// would-deny flows since staging with the commands to review and fold
// them in.
func printRefusal(w io.Writer, c *rollout.Check, ns string) {
	printGates(w, c)
	if len(c.WouldDeny) > 0 {
		fmt.Fprintf(w, "would-deny flows since staging (review: calico-plan explain --namespace %s; fold in: calico-plan allow --namespace %s --from-denied):\n", ns, ns)
		for _, e := range c.WouldDeny {
			fmt.Fprintln(w, "  "+rollout.DescribeEntry(e))
		}
	}
}

// printEnforceHint prints when and how a namespace just staged can be
// promoted to enforced: after rollout.stagedDays days of flows.
func printEnforceHint(w io.Writer, st *allowlist.Store, n *allowlist.Namespace, args string) {
	days := st.Profile().Rollout.StagedDays
	fmt.Fprintf(w, "then, once the staged policy has seen %d days of flows (observe after %s): calico-plan waves%s; calico-plan promote%s --namespace %s --to enforced\n",
		days, n.Rollout.Since.T().AddDate(0, 0, days).Format(time.RFC3339), args, args, n.Namespace)
}

func newRollbackCmd(g *globals) *cobra.Command {
	o := &stageChangeOpts{}
	dry := &dryRunFlag{}
	cmd := &cobra.Command{
		Use:   "rollback -n NS... [--to observe|staged|excluded] [--reason TEXT] [--by NAME] [--dry-run]",
		Short: "Move a namespace back to staged or observe (no gates)",
		Long: `rollback moves a namespace back in the rollout and records it in the
history; no gates apply. Without --to it goes one stage back (enforced →
staged, staged → observe); --to observe from enforced goes straight back.
--to excluded takes a namespace out of the rollout for good (it stays under
the observe policy's Log+Allow), and rollback --to observe brings it back.

Rolling back to staged restarts the staged clock: promoting to enforced again
needs rollout.stagedDays more days of flows without would-deny traffic.

rollback only changes the store. Then render and apply the desired state
('calico-plan render --rollout'), which drops the enforced policy, and the
namespace's stage label, which puts it back under the observe policy.`,
		Example: `  # the enforced allowlist broke something: back to staged, keep watching
  calico-plan rollback --namespace n8n --reason "webhook to a new SaaS endpoint denied"

  # leave servarr under Log+Allow for good (BitTorrent peers)
  calico-plan rollback --namespace servarr --to excluded --reason "130+ peer IPs"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.namespace == "" {
				return fmt.Errorf("--namespace is required")
			}
			at, err := wallOrNow(o.now)
			if err != nil {
				return err
			}
			return withStoreNamespace(g, o.namespace, func(st *allowlist.Store, n *allowlist.Namespace) error {
				from := rollout.Stage(n)
				if err := rollout.Rollback(n, o.to, rollout.Change{At: allowlist.Time(at), Reason: o.reason, By: o.by}); err != nil {
					return err
				}
				if err := dry.save(g, st); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "rolled back %s: %s → %s at %s\n", n.Namespace, from, n.Rollout.Stage, n.Rollout.Since)
				printApplyHint(g.stdout, st, n, 0, g.globalArgs())
				return nil
			})
		},
	}
	f := cmd.Flags()
	repeatNamespace(cmd, &o.namespace, g, "namespace to roll back")
	f.StringVar(&o.to, "to", "", "stage to go back to: observe, staged or excluded (default: one stage back)")
	f.StringVar(&o.reason, "reason", "", "why (recorded in the history)")
	f.StringVar(&o.by, "by", "", "who rolls back (recorded; default: $USER)")
	byDefault(cmd, &o.by)
	f.StringVar(&o.now, "at", "", "stamp the change with this time (RFC 3339 or YYYY-MM-DD) instead of the wall clock")
	deprecatedAlias(cmd, "at", "now")
	completeWords(cmd, "to", allowlist.StageObserve, allowlist.StageStaged, allowlist.StageExcluded)
	dry.register(cmd, "")
	return cmd
}

// withStoreNamespace locks the store, opens it and runs fn on one
// namespace; fn saves.
func withStoreNamespace(g *globals, ns string, fn func(*allowlist.Store, *allowlist.Namespace) error) error {
	w, err := g.openStoreForWrite(false)
	if err != nil {
		return err
	}
	defer w.close()
	st := w.st
	n := st.Namespace(ns)
	if n == nil {
		return fmt.Errorf("%w; a namespace gets one when observe sees its flows", unknownNamespace(st, ns, "has no allowlist in the store"))
	}
	return fn(st, n)
}

func printGates(w io.Writer, c *rollout.Check) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "gates for %s → %s:\n", c.From, c.To)
	for _, gt := range c.Gates {
		mark := "ok  "
		if !gt.Met {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, gt.ID, gt.Reason)
	}
}

// printApplyHint prints the commands that apply a stage change; args are
// the flags (store, config, cluster facts) the commands need.
func printApplyHint(w io.Writer, st *allowlist.Store, n *allowlist.Namespace, wave int, args string) {
	p := st.Profile()
	fmt.Fprintf(w, "next: commit %s, then apply the desired state, the stage label %s=%s and the deletions:\n", st.Dir, p.Rollout.StageLabel, n.Rollout.Stage)
	if wave > 0 {
		fmt.Fprintf(w, "  calico-plan render --rollout%s --out policies/   # or only this wave: calico-plan render --wave %d%s\n", args, wave, args)
	} else {
		fmt.Fprintf(w, "  calico-plan render --rollout%s --out policies/\n", args)
	}
	fmt.Fprintf(w, "  kubectl apply -f policies/ && sh policies/%s\n", render.StagesScriptName)
}

// waveOf returns the wave a namespace is in (0: none).
func waveOf(st *allowlist.Store, env rollout.Env, ns string) int {
	for _, w := range rollout.MakePlan(st, env, rollout.PlanOptions{}).Waves {
		for _, n := range w.Namespaces {
			if n.Name == ns {
				return w.Number
			}
		}
	}
	return 0
}

// runPromoteBatch is promote --wave N / --tier T: every namespace of the
// batch in the stage --to moves from is promoted when its gates pass; the
// others are reported with the gates that block them.
func runPromoteBatch(ctx context.Context, g *globals, o *promoteOpts) error {
	if err := checkBatchFlags(&o.stageChangeOpts); err != nil {
		return err
	}
	at, err := wallOrNow(o.now)
	if err != nil {
		return err
	}
	facts, err := o.cf.load(ctx, g)
	if err != nil {
		return err
	}
	w, err := g.openStoreForWrite(false)
	if err != nil {
		return err
	}
	defer w.close()
	st := w.st
	env := rollout.NewEnv(st, facts, 0)
	what, targets, err := batchTargets(rollout.MakePlan(st, env, rollout.PlanOptions{}), &o.stageChangeOpts)
	if err != nil {
		return err
	}
	from := allowlist.StageObserve
	if o.to == allowlist.StageEnforced {
		from = allowlist.StageStaged
	}
	var promoted, refused, skipped []string
	for _, ns := range targets {
		n := st.Namespace(ns)
		if n == nil {
			skipped = append(skipped, ns+" (not observed yet)")
			continue
		}
		if stage := rollout.Stage(n); stage != from && !(o.to == allowlist.StageEnforced && o.force && stage == allowlist.StageObserve) {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", ns, stage))
			continue
		}
		ok, err := promoteInBatch(g, n, from, &o.stageChangeOpts, env, at)
		switch {
		case err != nil:
			return err
		case ok:
			promoted = append(promoted, ns)
		default:
			refused = append(refused, ns)
		}
	}
	if len(promoted) > 0 {
		if err := o.dry.save(g, st); err != nil {
			return err
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(g.stdout, "not %s, left alone: %s\n", from, strings.Join(skipped, ", "))
	}
	fmt.Fprintf(g.stdout, "%s: %d promoted to %s, %d refused\n", what, len(promoted), o.to, len(refused))
	if len(promoted) > 0 {
		args := g.globalArgs() + o.cf.String()
		fmt.Fprintf(g.stdout, "next: commit %s, then apply the desired state: calico-plan render --rollout%s --out policies/ && kubectl apply -f policies/ && sh policies/%s\n", st.Dir, args, render.StagesScriptName)
	}
	if len(refused) > 0 {
		return fmt.Errorf("%s: %d of %d namespaces refused (gates above; fix them, --accept-unknown for unknown ones, or --force --reason TEXT)", what, len(refused), len(promoted)+len(refused))
	}
	return nil
}

// checkBatchFlags validates promote --wave/--tier's flags.
func checkBatchFlags(o *stageChangeOpts) error {
	switch {
	case o.namespace != "":
		return fmt.Errorf("give --namespace, --wave or --tier, not several")
	case o.wave != 0 && len(o.tiers) > 0:
		return fmt.Errorf("give --wave N or --tier T, not both")
	case o.wave < 0:
		return fmt.Errorf("--wave: waves are numbered from 1 (see 'calico-plan waves')")
	case o.to != allowlist.StageStaged && o.to != allowlist.StageEnforced:
		return fmt.Errorf("--to staged or --to enforced is required")
	case o.force && o.reason == "":
		return fmt.Errorf("--force needs --reason TEXT: say why the unmet gates are acceptable (it is recorded in the history)")
	}
	return nil
}

// batchTargets names the batch and lists its namespaces: the wave's, or
// the scheduled namespaces of the tiers.
func batchTargets(plan *rollout.Plan, o *stageChangeOpts) (string, []string, error) {
	if o.wave != 0 {
		targets, err := plan.WaveNamespaces(o.wave)
		return fmt.Sprintf("wave %d", o.wave), targets, err
	}
	what := "tier " + strings.Join(o.tiers, ", ")
	want := map[string]bool{}
	for _, t := range o.tiers {
		want[t] = true
	}
	var targets []string
	for _, wv := range plan.Waves {
		if !want[wv.Tier] {
			continue
		}
		for _, n := range wv.Namespaces {
			targets = append(targets, n.Name)
		}
	}
	if len(targets) == 0 {
		return what, nil, fmt.Errorf("%s: no scheduled namespace (scheduled tiers: %s; see 'calico-plan waves')", what, strings.Join(plan.Tiers, ", "))
	}
	return what, targets, nil
}

// promoteInBatch promotes one namespace of a batch and prints the result:
// promoted, or refused with its unmet gates (ok false, no error).
func promoteInBatch(g *globals, n *allowlist.Namespace, from string, o *stageChangeOpts, env rollout.Env, at int64) (bool, error) {
	c, err := rollout.Promote(n, o.to, env, o.change(at))
	var ref *rollout.RefusedError
	if errors.As(err, &ref) {
		fmt.Fprintf(g.stdout, "%s: REFUSED, %d unmet gate(s):\n", n.Namespace, len(c.Unmet()))
		for _, gt := range c.Unmet() {
			fmt.Fprintf(g.stdout, "    %s\n", gt)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	note := ""
	if n.Rollout.Forced {
		note = " (FORCED)"
	}
	for _, u := range n.Rollout.History[len(n.Rollout.History)-1].Unmet {
		if strings.HasPrefix(u, "accepted as unknown: ") {
			note += " (" + u + ")"
		}
	}
	fmt.Fprintf(g.stdout, "%s: promoted %s → %s%s\n", n.Namespace, from, o.to, note)
	return true, nil
}
