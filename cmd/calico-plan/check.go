package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/pods"
)

type checkOpts struct {
	policies []string
	flows    []string
	cf       clusterFlags
	out      *outputFlag
	strict   bool
	pods     []string
}

func newCheckCmd(g *globals) *cobra.Command {
	o := &checkOpts{}
	cmd := &cobra.Command{
		Use:   "check --policies PATH... --from PATH... [--namespace-file FILE | --cluster FILE] [-o table|json|yaml|md]",
		Short: "Replay observed flows against a policy set: would it deny traffic you have?",
		Long: `check is the what-if of a pull request. It loads a policy set (YAML or JSON
manifests, or Terraform .tf files with kubectl_manifest, kubernetes_manifest or
kubernetes_network_policy_v1 resources; files or directories) and replays every
valid flow-log record against it with Calico's semantics: tiers, policy order,
Pass, Log, end-of-tier deny, profiles, Kubernetes NetworkPolicies in the default
tier at order 1000. Staged policies count as if promoted.

It reports, problems first:
  would-deny     observed allowed flows the set denies, with the deciding tier,
                 policy, rule and direction: these break traffic
  probes         for every namespace the set locks down (a policy that can deny
                 selects its pods for egress, or calico-plan rendered it), egress
                 it never used must be denied: an unobserved public address
                 (203.0.113.77:4444, TEST-NET-3), an unobserved private address
                 (192.168.255.77:4444) and a pod in an unobserved namespace
                 (calico-plan-probe). A probe that gets through names the policy
                 that let it, e.g. an observe GlobalNetworkPolicy [Log, Allow] at
                 order 2000 after a Kubernetes default deny
  unknown        flows the set cannot be judged on from what the flow log
                 recorded (a Goldmane "pub" peer against a narrow CIDR rule), with
                 the reason; never guessed
  newly allowed  observed denied flows the set would allow (informational)

Flows to port 53 of a bare pub/pvt network (no IP, as Goldmane reports them) are
evaluated against the profile's DNS listeners when dns.assumeNetworkPort53IsDNS
is true, and the report says so.

Namespace labels (for namespaceSelectors such as tier in {...}) come from
--cluster FILE (a snapshot), --namespace-file FILE ('kubectl get ns -o yaml'),
or a live cluster when --kubeconfig or --context is given (never implicitly,
so CI runs are reproducible); namespaces not in them still carry their
automatic name labels.

Exit codes: 0 no problems; 3 problems (a would-deny flow or a probe that got
through; with --strict also unknown verdicts); 1 error (unreadable input, or a
policy file that does not parse or validate: the report for what loaded is
still printed).`,
		Example: `  calico-plan render --all --flavor calico --out policies/
  calico-plan check --policies policies/ --from flows.log.gz --namespace-file ns.yaml
  calico-plan check --policies stacks/calico/ --from 'archive/*.log.gz' -o md > comment.md
  calico-plan check --policies policies/ --from flows.log -o json | jq '.summary'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.policies, "policies", nil, "policy files or directories: *.yaml, *.yml, *.json, *.tf (repeatable)")
	f.StringArrayVar(&o.flows, "from", nil, "flow-log files, directories or globs, '-' for stdin (repeatable; as observe --from)")
	deprecatedAlias(cmd, "from", "flows")
	o.cf.register(cmd)
	o.out = addOutputFlag(cmd, output.ReportFormats...)
	f.BoolVar(&o.strict, "strict", false, "count unknown verdicts as problems (exit 3)")
	f.StringArrayVar(&o.pods, "pods", nil, "pod listing (kubectl get pods -A -o json) that packet-log lines in --from are attributed to (repeatable): their exact addresses are judged")
	return cmd
}

// checkNamespaceLabels returns the namespace labels for check, from a
// --cluster snapshot or a --namespace-file list.
func checkNamespaceLabels(ctx context.Context, o *checkOpts) (cluster.NamespaceLabels, error) {
	return o.cf.namespaceLabels(ctx)
}

// loadNamespaceLabels reads namespace labels from a cluster snapshot or a
// Namespace list (at most one of them).
func loadNamespaceLabels(snapshot, namespaces string) (cluster.NamespaceLabels, error) {
	switch {
	case snapshot != "" && namespaces != "":
		return nil, fmt.Errorf("give --cluster FILE or --namespace-file FILE, not both")
	case snapshot != "":
		f, err := cluster.LoadSnapshot(snapshot)
		if err != nil {
			return nil, err
		}
		return f.NamespaceLabels(), nil
	case namespaces != "":
		return cluster.LoadNamespacesFile(namespaces)
	}
	return nil, nil
}

func runCheck(ctx context.Context, g *globals, o *checkOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	format, err := o.out.format()
	if err != nil {
		return err
	}
	if len(o.policies) == 0 {
		return fmt.Errorf("--policies is required (policy files or directories)")
	}
	if len(o.flows) == 0 {
		return fmt.Errorf("--from is required (flow-log files, directories, globs or -)")
	}
	prof, err := g.profile()
	if err != nil {
		return err
	}
	nl, err := checkNamespaceLabels(ctx, o)
	if err != nil {
		return err
	}
	inputs, err := flows.ExpandInputs(o.flows)
	if err != nil {
		return err
	}
	pl := prof.PacketLogs
	packets := &flows.PacketLogOptions{Prefix: pl.Prefix, InterfacePrefix: pl.InterfacePrefix, DedupWindow: pl.DedupWindow.D(),
		PodNets: config.Prefixes(prof.Networks.Pods), ServiceNets: config.Prefixes(prof.Networks.Services)}
	if len(o.pods) > 0 {
		idx := pods.NewIndex(pl.InterfacePrefix)
		for _, p := range o.pods {
			if err := idx.LoadFile(p); err != nil {
				return err
			}
		}
		packets.Pods = idx
	}
	pf := policyfile.Load(o.policies, nil)
	rep, err := check.Run(ctx, pf, inputs, check.Config{Profile: prof, NamespaceLabels: nl, Strict: o.strict, Stdin: g.stdin,
		KeepFlows: format == output.JSON || format == output.YAML, Packets: packets})
	if err != nil {
		return err
	}
	switch format {
	case output.JSON:
		err = check.WriteJSON(g.stdout, rep)
	case output.YAML:
		err = output.JSONToYAML(g.stdout, func(w io.Writer) error { return check.WriteJSON(w, rep) })
	case output.MD:
		err = check.WriteMarkdown(g.stdout, rep)
	default:
		err = check.WriteText(g.stdout, rep)
	}
	if err != nil {
		return err
	}
	if rep.Decode.Bad > 0 && format != output.Table {
		fmt.Fprintf(g.stderr, "warning: %d bad flow records skipped\n", rep.Decode.Bad)
	}
	switch rep.Summary.ExitCode {
	case check.ExitError:
		return &codeError{code: exitError, err: fmt.Errorf("check: %d policy file errors (the report covers what loaded)", rep.Summary.PolicyErrors)}
	case check.ExitProblems:
		return &codeError{code: exitProblems}
	}
	return nil
}
