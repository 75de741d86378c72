package main

import (
	"context"
	"fmt"
	"io"
	"strings"

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
	// fromStore replays the store's evidence; existing applies the files
	// on the --cluster snapshot's policies.
	fromStore bool
	existing  bool
}

func newCheckCmd(g *globals) *cobra.Command {
	o := &checkOpts{}
	cmd := &cobra.Command{
		Use:   "check --policies PATH... (--from PATH... | --from-store) [--namespace-file FILE | --cluster FILE [--existing]] [-o table|json|yaml|md]",
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

To check exactly what will be applied, give the rollout output ('render
--rollout --out DIR', YAML or the -o hcl stacks) with --existing and the
cluster snapshot: the snapshot's policies, tiers and network sets stay, an
object of the files replaces the snapshot's of the same kind and name (as
'kubectl apply' and Terraform update it), and calico-plan's own policies the
files no longer have are left out (_stages.sh deletes them). Observed denied
traffic that an allow-all rule (an observe policy's Log+Allow) would let
through is a problem: the policy that denies it today is not in the set.

Without flow-log files (Calico OSS: Goldmane keeps no history), replay the
store's evidence with --from-store: every allowlist entry (observed allowed),
denied entry (observed denied) and would-deny entry (allowed, but reported by
a staged policy) becomes flow records, one per port and recorded address,
from a pod of the namespace, with the entry's flow count. Or keep the flows
'observe --goldmane' reads with its --tee FILE and pass them with --from.

Namespace labels (for namespaceSelectors such as tier in {...}) come from
--cluster FILE (a snapshot), --namespace-file FILE ('kubectl get ns -o yaml'),
or a live cluster when --kubeconfig or --context is given (never implicitly,
so CI runs are reproducible); namespaces not in them still carry their
automatic name labels.

Exit codes: 0 no problems; 3 problems (a would-deny flow, a probe that got
through, or denied traffic an allow-all rule lets through; with --strict also
unknown verdicts); 1 error (unreadable input, or a
policy file that does not parse or validate: the report for what loaded is
still printed).`,
		Example: `  calico-plan render --all --flavor calico --out policies/
  calico-plan check --policies policies/ --from flows.log.gz --namespace-file ns.yaml
  calico-plan check --policies stacks/calico/ --from 'archive/*.log.gz' -o md > comment.md
  calico-plan check --policies policies/ --from flows.log -o json | jq '.summary'
  calico-plan check --policies rollout/ --cluster cluster.yaml --existing --from-store`,
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
	f.BoolVar(&o.fromStore, "from-store", false, "replay the store's evidence as flows: every allowlist entry and denied or would-deny entry, per port and address, with its flow count (CI without flow-log files, e.g. Calico OSS)")
	f.BoolVar(&o.existing, "existing", false, "with --cluster: check the policy files applied on the snapshot's existing policies (a file's object replaces the snapshot's of the same kind and name)")
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
	if len(o.flows) == 0 && !o.fromStore {
		return fmt.Errorf("--from or --from-store is required (flow-log files, directories, globs or -; or the store's evidence)")
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
	replay, err := checkReplay(g, o, prof)
	if err != nil {
		return err
	}
	pf := policyfile.Load(o.policies, nil)
	ex, err := checkExisting(o, pf, prof)
	if err != nil {
		return err
	}
	cfg := check.Config{Profile: prof, NamespaceLabels: nl, Strict: o.strict, Stdin: g.stdin,
		KeepFlows: format == output.JSON || format == output.YAML, Packets: packets}
	if replay != nil {
		cfg.Replay = replay.Flows
	}
	rep, err := check.Run(ctx, pf, inputs, cfg)
	if err != nil {
		return err
	}
	rep.Assumptions = append(rep.Assumptions, checkNotes(o, ex, replay)...)
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
		return &codeError{code: exitError, err: fmt.Errorf("check: %s (the report covers what loaded)", output.Plural(rep.Summary.PolicyErrors, "policy file error"))}
	case check.ExitProblems:
		return &codeError{code: exitProblems}
	}
	return nil
}

// checkReplay replays the store's evidence for --from-store (nil without).
func checkReplay(g *globals, o *checkOpts, prof *config.Profile) (*check.Replay, error) {
	if !o.fromStore {
		return nil, nil
	}
	st, err := g.openStore()
	if err != nil {
		return nil, err
	}
	replay := check.ReplayStore(st, prof)
	for _, s := range replay.Skipped {
		fmt.Fprintf(g.stderr, "warning: --from-store: not replayed: %s\n", s)
	}
	return replay, nil
}

// checkExisting merges the --cluster snapshot's policies under the files
// for --existing (nil without).
func checkExisting(o *checkOpts, pf *policyfile.Result, prof *config.Profile) (*check.Existing, error) {
	if !o.existing {
		return nil, nil
	}
	if o.cf.cluster == "" {
		return nil, fmt.Errorf("--existing needs --cluster FILE: the snapshot's policies are what the cluster has")
	}
	facts, err := cluster.LoadSnapshot(o.cf.cluster)
	if err != nil {
		return nil, err
	}
	return check.WithExisting(pf, facts, prof.Rollout.ObservePolicy.Name)
}

// checkNotes are the report's assumptions about --existing and
// --from-store.
func checkNotes(o *checkOpts, ex *check.Existing, replay *check.Replay) []string {
	var out []string
	if ex != nil {
		note := fmt.Sprintf("the policy files are applied on the cluster snapshot %s: %d of its objects kept", o.cf.cluster, ex.Objects)
		if len(ex.Replaced) > 0 {
			note += fmt.Sprintf(", %d replaced by the files (%s)", len(ex.Replaced), strings.Join(ex.Replaced, ", "))
		}
		if len(ex.Superseded) > 0 {
			note += fmt.Sprintf(", %d calico-plan policies the files no longer have left out (_stages.sh deletes them: %s)", len(ex.Superseded), strings.Join(ex.Superseded, ", "))
		}
		out = append(out, note)
	}
	if replay != nil {
		out = append(out, fmt.Sprintf("%d flow records replayed from the store's evidence (%d allowlist, denied and would-deny entry ports with their flow counts; %d not replayable); the replayed source pods carry no labels",
			len(replay.Flows), replay.Entries, len(replay.Skipped)))
	}
	return out
}
