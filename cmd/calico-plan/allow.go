package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/rollout"
)

func newAllowCmd(g *globals) *cobra.Command {
	var ns, noEgress, removeNoEgress, reason, nowFlag string
	var fromDenied, includeDenied, dryRun bool
	cmd := &cobra.Command{
		Use:   "allow -n NS... (--from-denied [--include-denied] | --no-egress CRONJOB --reason TEXT | --remove-no-egress CRONJOB) [--dry-run]",
		Short: "Edit an allowlist after review: fold in would-deny flows, or declare a CronJob needs no egress",
		Long: `allow makes the reviewed, explicit edits the rollout gates ask for. Each is
written to the namespace's allowlist file, so the pull request shows it.

--from-denied moves the namespace's wouldDeny entries (allowed flows its
staged policy would deny, from the pending policy traces) into the egress
allowlist, keeping their evidence; --include-denied also moves the denied
entries (flows the dataplane denied). Review them first: 'calico-plan explain
--namespace NS' lists them with flows, times and workloads. Then render and
apply the staged policy again. --dry-run lists what would move (and with
--no-egress or --remove-no-egress checks the edit), writing nothing. For a
staged namespace the staged period restarts (the staged-days gate counts
again), since the staged policy changed.

--no-egress CRONJOB --reason TEXT declares that a CronJob needs no egress, so
the gates stop waiting to see its pods in flows (cronjob-seen/NAME) or two
runs in the window (cronjob-window/NAME). A reason is required.
--remove-no-egress withdraws such a declaration.`,
		Example: `  calico-plan explain --namespace recruiter-responder
  calico-plan allow --namespace recruiter-responder --from-denied
  calico-plan allow --namespace nextcloud --no-egress nextcloud-backup --reason "writes to the local PVC only"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ns == "" {
				return fmt.Errorf("--namespace is required")
			}
			modes := 0
			for _, on := range []bool{fromDenied, noEgress != "", removeNoEgress != ""} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return fmt.Errorf("give exactly one of --from-denied, --no-egress CRONJOB or --remove-no-egress CRONJOB")
			}
			if includeDenied && !fromDenied {
				return fmt.Errorf("--include-denied goes with --from-denied")
			}
			stamp, err := wallOrNow(nowFlag)
			if err != nil {
				return err
			}
			return withStoreNamespace(g, ns, func(st *allowlist.Store, n *allowlist.Namespace) error {
				switch {
				case fromDenied:
					if dryRun {
						for _, e := range n.WouldDeny {
							fmt.Fprintln(g.stdout, "would move (wouldDeny):", rollout.DescribeEntry(e))
						}
						if includeDenied {
							for _, e := range n.Denied {
								fmt.Fprintln(g.stdout, "would move (denied):", rollout.DescribeEntry(e))
							}
						}
						return nil
					}
					moved, err := st.FoldIntoEgress(ns, includeDenied)
					if err != nil {
						return err
					}
					if len(moved) == 0 {
						what := "wouldDeny"
						if includeDenied {
							what += " or denied"
						}
						fmt.Fprintf(g.stdout, "%s: no %s entries to move\n", ns, what)
						return nil
					}
					if n.Rollout.Stage == allowlist.StageStaged {
						// The staged policy changes: its quiet period starts again.
						now := allowlist.Time(stamp)
						n.Rollout.History = append(n.Rollout.History, allowlist.RolloutEvent{
							From: allowlist.StageStaged, To: allowlist.StageStaged, At: now, By: byName(),
							Reason: fmt.Sprintf("%d entries folded into the allowlist: the staged period restarts", len(moved)),
						})
						n.Rollout.Since = now
					}
					if err := st.Save(); err != nil {
						return err
					}
					for _, m := range moved {
						fmt.Fprintf(g.stdout, "moved (%s) into egress: %s\n", m.From, rollout.DescribeEntry(m.Entry))
					}
					if n.Rollout.Stage == allowlist.StageStaged {
						fmt.Fprintf(g.stdout, "%s: the allowlist changed while staged, so the staged-days gate counts again from now\n", ns)
					}
					fmt.Fprintf(g.stdout, "%s: %d entries allowed; render and apply the staged policy again ('calico-plan render --rollout')\n", ns, len(moved))
				case noEgress != "":
					replaced, err := n.SetNoEgress(noEgress, reason)
					if err != nil {
						return err
					}
					if err := (&dryRunFlag{on: dryRun}).save(g, st); err != nil {
						return err
					}
					verb := "declared"
					if replaced {
						verb = "updated"
					}
					fmt.Fprintf(g.stdout, "%s: %s %s as needing no egress (%s)\n", ns, verb, noEgress, reason)
				default:
					if !n.RemoveNoEgress(removeNoEgress) {
						return fmt.Errorf("%s: no no-egress declaration for %q", ns, removeNoEgress)
					}
					if err := (&dryRunFlag{on: dryRun}).save(g, st); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "%s: removed the no-egress declaration for %s\n", ns, removeNoEgress)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	repeatNamespace(cmd, &ns, g, "namespace whose allowlist to edit")
	f.BoolVar(&fromDenied, "from-denied", false, "move the wouldDeny entries into the egress allowlist, keeping their evidence")
	f.BoolVar(&includeDenied, "include-denied", false, "with --from-denied: move the denied entries too")
	f.BoolVar(&dryRun, "dry-run", false, "write nothing to the store: with --from-denied list what would move")
	f.StringVar(&noEgress, "no-egress", "", "declare that this CronJob needs no egress (needs --reason)")
	f.StringVar(&removeNoEgress, "remove-no-egress", "", "withdraw a no-egress declaration")
	f.StringVar(&reason, "reason", "", "why the CronJob needs no egress (recorded)")
	f.StringVar(&nowFlag, "at", "", "with --from-denied on a staged namespace: restart the staged period at this time (RFC 3339 or YYYY-MM-DD, e.g. the newest observed flow) instead of the wall clock")
	return cmd
}
