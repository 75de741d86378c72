package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/diff"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

type diffOpts struct {
	against []string
	base    string
	flavor  string
	out     *outputFlag
	cf      clusterFlags
	rollout bool
}

func newDiffCmd(g *globals) *cobra.Command {
	o := &diffOpts{}
	cmd := &cobra.Command{
		Use:   "diff (--policies PATH... | --base GIT_REF) [--flavor calico|calico-staged|k8s] [-o table|json|yaml|md]",
		Short: "Show what a change to the allowlists does to egress, weighted by the traffic it affects",
		Long: `diff compares egress policy by meaning, not text, and weighs every change by
observed traffic.

  --policies PATH... the policies rendered from the store now (every namespace,
                     Stable or not, with --flavor; the profile's excluded
                     namespaces only when the files have a policy for them)
                     against the committed policy files: YAML, JSON or Terraform
                     .tf, files or directories. Only calico-plan's policies are
                     compared (labelled app.kubernetes.io/managed-by: calico-plan,
                     or named as render names them, and the allowlist tier).
                     A rollout directory ('render --rollout --out DIR': it holds
                     the observe GlobalNetworkPolicy) is compared with the
                     desired state instead, like with like: each namespace in
                     the flavor of its stage (staged: calico-staged, enforced:
                     --flavor), the observe policy by the namespaces it covers,
                     and every stage change weighed as with --base. --rollout
                     forces this (for a 'render --wave N' directory).
  --base GIT_REF     the store as committed at GIT_REF (read with git ls-tree and
                     git show) against the store now, both rendered with --flavor.
                     A namespace whose rollout stage changed is a change even
                     when its allowlist is not: "n8n: staged -> enforced",
                     weighed by the flows the enforced policy now drops (those
                     the staged policy reported as would-deny, and entries no
                     rule can express).

Per namespace, each policy's egress rules become regions: destination peer
(canonical selectors, namespaces, services) x addresses x protocol x ports. So
rule order, formatting and equivalent selector spellings ("a == 'x' && b == 'y'"
and "b == \"y\" && a == \"x\"") are no change, and a narrowed rule shows as the
part it no longer allows. Each removal is weighted by the allowlist entries whose
traffic it carried and that nothing else allows any more ("- TCP/5432 to dbaas
{cnpg.io/cluster=pg-cluster}: 412 flows, last seen 2026-11-27 — this change would
cut them"); each addition by the entries that justify it. With --policies the
store now weighs both; with --base, removals are weighed by both stores.

Exit codes, as 'terraform plan -detailed-exitcode': 0 no changes, 2 changes,
1 error (a committed file that does not parse, a namespace that cannot be
rendered, a bad ref; the report is still printed when there is one).`,
		Example: `  calico-plan diff --policies policies/
  calico-plan diff --policies stacks/calico/egress.tf --flavor calico -o md > comment.md
  calico-plan diff --base origin/main -o md
  calico-plan diff --base HEAD~1 -o json | jq '.summary'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDiff(g, o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.against, "policies", nil, "committed policy files or directories (*.yaml, *.yml, *.json, *.tf; repeatable)")
	deprecatedAlias(cmd, "policies", "against")
	f.StringVar(&o.base, "base", "", "git ref of the store to compare the store now with (e.g. origin/main)")
	f.StringVar(&o.flavor, "flavor", "calico", "flavor the store is rendered with: calico, calico-staged or k8s")
	completeWords(cmd, "flavor", "calico", "calico-staged", "k8s")
	o.out = addOutputFlag(cmd, output.ReportFormats...)
	o.cf.register(cmd)
	f.BoolVar(&o.rollout, "rollout", false, "with --policies: compare with the desired state of 'render --rollout' (each namespace in its stage; automatic when the files hold the observe policy)")
	return cmd
}

func runDiff(g *globals, o *diffOpts) error {
	format, err := o.out.format()
	if err != nil {
		return err
	}
	if (len(o.against) > 0) == (o.base != "") {
		return fmt.Errorf("give --policies PATH (committed policy files) or --base GIT_REF (the store at a commit), not both")
	}
	fl, err := render.ParseFlavor(o.flavor)
	if err != nil {
		return err
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	nl, err := o.cf.namespaceLabels(context.Background())
	if err != nil {
		return err
	}
	opt := diff.Options{Profile: st.Profile(), Flavor: fl, NamespaceLabels: nl}
	if o.rollout && o.base != "" {
		return fmt.Errorf("--rollout goes with --policies (with --base, stage changes are always compared)")
	}
	if len(o.against) > 0 {
		// The desired state, for a rollout directory: enforced namespaces
		// in --flavor (calico when --flavor is calico-staged).
		enforced := fl
		if enforced == render.FlavorCalicoStaged {
			if o.rollout {
				return fmt.Errorf("--rollout --flavor calico-staged: the stage decides (staged namespaces get calico-staged); --flavor picks what enforced namespaces get: calico or k8s")
			}
			enforced = render.FlavorCalico
		}
		facts, err := diffFacts(o.cf.cluster, nl)
		if err != nil {
			return err
		}
		d, err := rollout.DesiredState(st, rollout.NewEnv(st, facts, 0), rollout.DesiredOptions{Enforced: enforced, AllowPartial: true})
		if err != nil {
			return err
		}
		opt.Desired = d
		if o.rollout {
			opt.Rollout = diff.RolloutOn
		}
	}
	var rep *diff.Report
	if o.base != "" {
		if rep, err = diff.Git(st, o.base, opt); err != nil {
			return err
		}
	} else {
		rep = diff.Files(st, o.against, opt)
	}
	switch format {
	case output.JSON:
		err = diff.WriteJSON(g.stdout, rep)
	case output.YAML:
		err = output.JSONToYAML(g.stdout, func(w io.Writer) error { return diff.WriteJSON(w, rep) })
	case output.MD:
		err = diff.WriteMarkdown(g.stdout, rep)
	default:
		err = diff.WriteText(g.stdout, rep)
	}
	if err != nil {
		return err
	}
	switch rep.Summary.ExitCode {
	case diff.ExitError:
		return &codeError{code: exitError, err: fmt.Errorf("diff: %s (see the report)", output.Plural(len(rep.Errors), "error"))}
	case diff.ExitChanges:
		return &codeError{code: exitChanges}
	}
	return nil
}

// diffFacts are the cluster facts of diff's desired state: the snapshot,
// or the namespace labels alone.
func diffFacts(snapshot string, nl cluster.NamespaceLabels) (*cluster.Facts, error) {
	if snapshot != "" {
		return cluster.LoadSnapshot(snapshot)
	}
	if nl != nil {
		return cluster.FromNamespaceLabels(nl, "namespaces"), nil
	}
	return nil, nil
}
