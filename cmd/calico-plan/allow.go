package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/rollout"
)

// allowOpts are allow's flags.
type allowOpts struct {
	ns, noEgress, removeNoEgress, reason string
	fromDenied, includeDenied, dryRun    bool
	// at: when a staged namespace's staged period restarts (--at; default
	// the wall clock).
	at string
}

func newAllowCmd(g *globals) *cobra.Command {
	o := &allowOpts{}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runAllow(g, o) },
	}
	f := cmd.Flags()
	repeatNamespace(cmd, &o.ns, g, "namespace whose allowlist to edit")
	f.BoolVar(&o.fromDenied, "from-denied", false, "move the wouldDeny entries into the egress allowlist, keeping their evidence")
	f.BoolVar(&o.includeDenied, "include-denied", false, "with --from-denied: move the denied entries too")
	f.BoolVar(&o.dryRun, "dry-run", false, "write nothing to the store: with --from-denied list what would move")
	f.StringVar(&o.noEgress, "no-egress", "", "declare that this CronJob needs no egress (needs --reason)")
	f.StringVar(&o.removeNoEgress, "remove-no-egress", "", "withdraw a no-egress declaration")
	f.StringVar(&o.reason, "reason", "", "why the CronJob needs no egress (recorded)")
	f.StringVar(&o.at, "at", "", "with --from-denied on a staged namespace: restart the staged period at this time (RFC 3339 or YYYY-MM-DD, e.g. the newest observed flow) instead of the wall clock")
	return cmd
}

func runAllow(g *globals, o *allowOpts) error {
	if o.ns == "" {
		return fmt.Errorf("--namespace is required")
	}
	modes := 0
	for _, on := range []bool{o.fromDenied, o.noEgress != "", o.removeNoEgress != ""} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return fmt.Errorf("give exactly one of --from-denied, --no-egress CRONJOB or --remove-no-egress CRONJOB")
	}
	if o.includeDenied && !o.fromDenied {
		return fmt.Errorf("--include-denied goes with --from-denied")
	}
	stamp, err := wallOrNow(o.at)
	if err != nil {
		return err
	}
	ns := o.ns
	return withStoreNamespace(g, ns, func(st *allowlist.Store, n *allowlist.Namespace) error {
		switch {
		case o.fromDenied:
			return allowFromDenied(g, o, st, n, stamp)
		case o.noEgress != "":
			replaced, err := n.SetNoEgress(o.noEgress, o.reason)
			if err != nil {
				return err
			}
			if err := (&dryRunFlag{on: o.dryRun}).save(g, st); err != nil {
				return err
			}
			verb := "declared"
			if replaced {
				verb = "updated"
			}
			fmt.Fprintf(g.stdout, "%s: %s %s as needing no egress (%s)\n", ns, verb, o.noEgress, o.reason)
		default:
			if !n.RemoveNoEgress(o.removeNoEgress) {
				return fmt.Errorf("%s: no no-egress declaration for %q", ns, o.removeNoEgress)
			}
			if err := (&dryRunFlag{on: o.dryRun}).save(g, st); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: removed the no-egress declaration for %s\n", ns, o.removeNoEgress)
		}
		return nil
	})
}

// allowFromDenied moves the namespace's wouldDeny (and with
// --include-denied its denied) entries into the egress allowlist.
func allowFromDenied(g *globals, o *allowOpts, st *allowlist.Store, n *allowlist.Namespace, stamp int64) error {
	ns, includeDenied := o.ns, o.includeDenied
	if o.dryRun {
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
	return nil
}
