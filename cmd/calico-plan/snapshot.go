package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/fsutil"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	var out string
	cf := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "snapshot [--out FILE] [--kubeconfig FILE] [--context NAME]",
		Short: "Save the cluster facts the rollout needs to a file (for CI without cluster access)",
		Long: `snapshot reads what calico-plan needs from the live cluster and writes it as
one deterministic YAML file: namespaces and their labels (tiers), CronJobs
(schedule, time zone, suspend, the pod name Calico reports for their Jobs),
node InternalIPs, Kubernetes NetworkPolicies, and the Calico policies, tiers
and network sets (from the Calico API server, projectcalico.org/v3, or else
the crd.projectcalico.org/v1 CRDs).

Every command that needs facts (waves, promote, render --wave/--rollout) takes
the file with --cluster, so CI can plan from a committed snapshot. The same
cluster state always gives the same bytes, so 'git diff' shows what changed.

Access is read-only: list on namespaces, cronjobs (batch), nodes,
networkpolicies (networking.k8s.io) and the Calico kinds. Credentials that
are rejected, or an API server that cannot be reached, are errors. A
resource RBAC forbids or the cluster does not serve (no CronJob permission,
no Calico API) is recorded under 'missing' with a warning saying which gate
could not be checked; that gate then counts as unmet.`,
		Example: `  # the current kubeconfig context
  calico-plan snapshot --out cluster.yaml

  # another context; commit the result for CI
  calico-plan snapshot --context homelab --out ci/cluster.yaml
  calico-plan waves --cluster ci/cluster.yaml -o md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := cf.readLive(cmd.Context())
			if err != nil {
				return err
			}
			b, err := cluster.MarshalSnapshot(f)
			if err != nil {
				return err
			}
			for _, m := range f.Missing {
				fmt.Fprintf(g.stderr, "warning: could not check %s: %s (%s)\n", m.Resource, m.Reason, m.Affects)
			}
			api := f.CalicoAPI
			if api == "" {
				api = "no Calico API"
			}
			summary := fmt.Sprintf("%d namespaces, %d CronJobs, %d nodes, %d NetworkPolicies, %d Calico objects (%s); read from %s",
				len(f.Namespaces), len(f.CronJobs), len(f.Nodes), len(f.NetworkPolicies), len(f.CalicoObjects), api, f.Source)
			if out == "" || out == "-" {
				_, err := g.stdout.Write(b)
				if err == nil {
					fmt.Fprintln(g.stderr, "snapshot:", summary)
				}
				return err
			}
			if err := fsutil.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "%s: %s\n", out, summary)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the snapshot to this file (atomically) instead of stdout")
	cf.registerLive(cmd)
	return cmd
}
