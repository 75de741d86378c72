package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/internal/check"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/fsutil"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	var out string
	var apply []string
	cf := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "snapshot [--out FILE] [--kubeconfig FILE] [--context NAME] [--cluster FILE --apply PATH...]",
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
could not be checked; that gate then counts as unmet.

With --apply PATH (repeatable) snapshot predicts, offline, the snapshot the
cluster will give once policy files are applied. It takes the snapshot of
--cluster FILE (or reads the live cluster, with --kubeconfig/--context) and
applies PATH as 'kubectl apply -f' with its _stages.sh, or Terraform, would.
PATH is what 'render --rollout --out DIR' writes (YAML, JSON or -o hcl .tf
files, read as 'check --policies' reads them):
  - an object of the files replaces the snapshot's of the same kind,
    namespace and name, or is added;
  - calico-plan's own policies the files no longer have are left out,
    exactly as 'check --existing' leaves them out (_stages.sh deletes them;
    files with the observe policy of the profile, --config, are a complete
    rollout: every namespace);
  - the stage labels of _stages.sh (or kubernetes_labels resources) are set
    on the namespaces, beside their other labels.
Objects of kinds the snapshot could not read are not added (a warning says
so). A file that does not load is an error, and nothing is written.

This is a prediction from files, not what the cluster reports: the cluster
may reject an object, another client may change it, or the apply may never
happen. The file says so (its header and 'predicted:'), and so does the
staged-deployed gate it meets. For the promote gates the real thing is a
fresh 'calico-plan snapshot' taken after applying; use the prediction where
there is no cluster to apply to (a demo, a pull request's what-if).`,
		Example: `  # the current kubeconfig context
  calico-plan snapshot --out cluster.yaml

  # another context; commit the result for CI
  calico-plan snapshot --context homelab --out ci/cluster.yaml
  calico-plan waves --cluster ci/cluster.yaml -o md

  # offline: the snapshot the cluster will give once rollout/ is applied
  # (a prediction; after 'kubectl apply', take a real snapshot)
  calico-plan render --rollout --cluster cluster.yaml --out rollout/
  calico-plan snapshot --cluster cluster.yaml --apply rollout/ --out after.yaml
  calico-plan waves --cluster after.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshot(cmd, g, cf, apply, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the snapshot to this file (atomically) instead of stdout")
	cmd.Flags().StringVar(&cf.cluster, "cluster", "", "with --apply: the snapshot file (from 'calico-plan snapshot') to apply the files to, instead of a live cluster")
	cmd.Flags().StringArrayVar(&apply, "apply", nil, "predict offline: apply these policy files or directories (render --rollout --out DIR) to the snapshot (repeatable)")
	cf.registerLive(cmd)
	return cmd
}

// runSnapshot writes the facts snapshotFacts gives, to --out or stdout,
// with a summary on stderr.
func runSnapshot(cmd *cobra.Command, g *globals, cf *clusterFlags, apply []string, out string) error {
	f, err := snapshotFacts(cmd, g, cf, apply)
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
	from := "read from " + f.Source
	if f.Predicted != nil {
		from = "PREDICTED: " + strings.Join(f.Predicted.Applied, ", ") + " applied to " + f.Predicted.From + ", not read from a cluster"
	}
	summary := fmt.Sprintf("%d namespaces, %d CronJobs, %d nodes, %d NetworkPolicies, %d Calico objects (%s); %s",
		len(f.Namespaces), len(f.CronJobs), len(f.Nodes), len(f.NetworkPolicies), len(f.CalicoObjects), api, from)
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
}

// snapshotFacts reads the live cluster, or with --apply predicts the facts
// after the files are applied to --cluster FILE (or the live cluster with
// --kubeconfig/--context), printing what the files change.
func snapshotFacts(cmd *cobra.Command, g *globals, cf *clusterFlags, apply []string) (*cluster.Facts, error) {
	live := cf.kubeconfig != "" || cf.context != ""
	switch {
	case len(apply) == 0 && cf.cluster != "":
		return nil, fmt.Errorf("--cluster FILE is the snapshot --apply applies files to: give --apply PATH (or leave out --cluster to read the live cluster)")
	case len(apply) == 0:
		return cf.readLive(cmd.Context())
	case cf.cluster != "" && live:
		return nil, fmt.Errorf("--apply: give --cluster FILE or --kubeconfig/--context (the facts to apply the files to), not both")
	case cf.cluster == "" && !live:
		return nil, fmt.Errorf("--apply needs the facts to apply the files to: --cluster FILE (a snapshot), or --kubeconfig/--context to read the live cluster first")
	}
	prof, err := g.profile()
	if err != nil {
		return nil, err
	}
	var f *cluster.Facts
	if cf.cluster != "" {
		f, err = cluster.LoadSnapshot(cf.cluster)
	} else {
		f, err = cf.readLive(cmd.Context())
	}
	if err != nil {
		return nil, err
	}
	res, err := check.ApplyFiles(f, apply, prof.Rollout.ObservePolicy.Name)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
	for _, s := range res.NotApplied {
		fmt.Fprintln(g.stderr, "warning: not applied:", s)
	}
	for _, l := range []struct {
		what  string
		items []string
	}{{"replaced", res.Replaced}, {"added", res.Added}, {"left out (calico-plan policies the files no longer have)", res.Superseded}, {"labels set", res.Labels}} {
		if len(l.items) > 0 {
			fmt.Fprintf(g.stderr, "apply: %d %s: %s\n", len(l.items), l.what, strings.Join(l.items, ", "))
		}
	}
	return res.Facts, nil
}
