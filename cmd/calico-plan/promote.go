package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

type stageChangeOpts struct {
	namespace, to, reason, by, now string
	force                          bool
}

func newPromoteCmd(g *globals) *cobra.Command {
	o := &stageChangeOpts{}
	cf := &clusterFlags{}
	dry := &dryRunFlag{}
	cmd := &cobra.Command{
		Use:   "promote -n NS... --to staged|enforced [--reason TEXT] [--force] [--by NAME] [--dry-run]",
		Short: "Move a namespace to staged or enforced once its gates pass",
		Long: `promote moves a namespace forward in the rollout and records it in the
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
are recorded with it in the history. Gates are judged at the newest observed
flow; the promotion is stamped with the wall clock, or --at. --dry-run judges
the gates and prints the result without writing the store. With several -n,
each namespace is promoted in turn; the first refusal stops.

promote only changes the store (commit it). Then render and apply the policy
('calico-plan render --wave N' or 'render --rollout') and the namespace's stage
label, which takes it out of the observe policy.` + clusterFlagsHelp,
		Example: `  calico-plan promote --namespace recruiter-responder --to staged --reason "pilot"
  calico-plan promote --namespace n8n --to enforced --cluster cluster.yaml
  calico-plan promote --namespace nextcloud --to staged --force --reason "backup verified by hand on 2026-11-29"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			facts, err := cf.load(cmd.Context(), g)
			if err != nil {
				return err
			}
			return withStoreNamespace(g, o.namespace, func(st *allowlist.Store, n *allowlist.Namespace) error {
				env := rollout.NewEnv(st, facts, 0)
				from := rollout.Stage(n)
				c, err := rollout.Promote(n, o.to, env, rollout.Change{At: allowlist.Time(at), Reason: o.reason, By: o.by, Force: o.force})
				var refused *rollout.RefusedError
				if errors.As(err, &refused) {
					printGates(g.stderr, c)
					if len(c.WouldDeny) > 0 {
						fmt.Fprintf(g.stderr, "would-deny flows since staging (review: calico-plan explain --namespace %s; fold in: calico-plan allow --namespace %s --from-denied):\n", n.Namespace, n.Namespace)
						for _, e := range c.WouldDeny {
							fmt.Fprintln(g.stderr, "  "+rollout.DescribeEntry(e))
						}
					}
				}
				if err != nil {
					return err
				}
				if err := dry.save(g, st); err != nil {
					return err
				}
				printGates(g.stdout, c)
				forced := ""
				if n.Rollout.Forced {
					forced = fmt.Sprintf(", FORCED past %d unmet gate(s)", len(c.Unmet()))
				}
				fmt.Fprintf(g.stdout, "promoted %s: %s → %s at %s%s\n", n.Namespace, from, n.Rollout.Stage, n.Rollout.Since, forced)
				args := g.globalArgs() + cf.String()
				printApplyHint(g.stdout, st, n, waveOf(st, env, n.Namespace), args)
				if n.Rollout.Stage == allowlist.StageStaged {
					fmt.Fprintf(g.stdout, "then, once the staged policy has seen %d days of flows (observe after %s): calico-plan waves%s; calico-plan promote%s --namespace %s --to enforced\n",
						st.Profile().Rollout.StagedDays, n.Rollout.Since.T().AddDate(0, 0, st.Profile().Rollout.StagedDays).Format(time.RFC3339), args, args, n.Namespace)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	repeatNamespace(cmd, &o.namespace, g, "namespace to promote")
	f.StringVar(&o.to, "to", "", "stage to promote to: staged or enforced")
	f.StringVar(&o.reason, "reason", "", "why (recorded in the history; required with --force)")
	f.BoolVar(&o.force, "force", false, "promote despite unmet gates (recorded with them)")
	f.StringVar(&o.by, "by", "", "who promotes (recorded; default: $USER)")
	byDefault(cmd, &o.by)
	f.StringVar(&o.now, "at", "", "stamp the promotion with this time (RFC 3339 or YYYY-MM-DD) instead of the wall clock")
	deprecatedAlias(cmd, "at", "now")
	completeWords(cmd, "to", allowlist.StageStaged, allowlist.StageEnforced)
	dry.register(cmd, "")
	cf.register(cmd)
	return cmd
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
