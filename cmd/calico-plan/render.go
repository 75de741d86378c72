package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

type renderOpts struct {
	namespaces    []string
	all           bool
	flavor        string
	output        string
	out           string
	allowUnstable bool
	layout        string
	hclResource   string
	hclProviders  string
	hclStageLabel string
	// --wave N / --rollout (waves.go): the stage decides each flavor.
	wave    int
	rollout bool
	cf      clusterFlags
	netSets *netSetFlags
}

// renderHelp is render's Long help.
const renderHelp = `render turns allowlists into policy. Each namespace gets one policy that
allows exactly its allowlist (plus the cluster DNS rule from the profile) and
denies all other egress:

  --flavor calico-staged  a Calico StagedNetworkPolicy: it changes nothing and
                          reports in each flow's pending trace what it WOULD deny.
                          Deploy this first.
  --flavor calico         the same as an enforced projectcalico.org/v3
                          NetworkPolicy (default). It lives in its own tier
                          (profile policy.tier, default egress-allowlist, ordered
                          before the default tier, Tier object included) and ends in
                          an explicit Deny, so an allow-all policy in the default
                          tier cannot cancel it.
  --flavor k8s            a networking.k8s.io/v1 NetworkPolicy. Note: Calico puts it
                          in the default tier at order 1000, where a later allow-all
                          Calico policy still wins.

Peers render as: DNS from the profile (nets of the DNS listeners on UDP+TCP 53,
or a selector form); pods by namespace and their stable labels; network sets
by their labels (by their CIDRs from cluster facts when the flow logs recorded
no labels); external addresses as the observed CIDRs collapsed to at most
aggregation.maxCIDRs prefixes (never wider than aggregation.minPrefixV4/V6,
never over the pod or Service ranges, never across a private or special range;
every widening is warned with the addresses seen and opened), or, when flow
logs carried no addresses, as "any private" / "any public" address on the
observed ports (warned; "any public" leaves out the special ranges: loopback,
link-local with the metadata service 169.254.169.254, CGNAT, documentation,
broadcast, multicast). Special ranges are their own peer kind and always warned.

An entry no rule can express (a network set without labels, a host without
known addresses, a protocol a Kubernetes policy cannot name, an entry observe
had to truncate) is left out and reported with what to do. The staged flavor
renders the rest: the staged policy then reports that traffic as would-deny.
Enforcing flavors refuse such a namespace (exit code 1, the others are
written): fix the entry, or remove it from the allowlist if that traffic is
not wanted.

Enforcing flavors (calico, k8s) refuse namespaces that are not Stable, and
stores with a source read partially (observe --allow-partial), unless
--allow-unstable: an allowlist missing a rare flow is an outage. --rollout and
--wave refuse a partial source the same way whenever they render an enforced
namespace; staged policies only report, so they render with a warning. Namespaces on
the profile's exclusion list are skipped by --all. Cluster facts (--cluster,
--kubeconfig, --context) are read only when given; they supply network sets'
CIDRs and node addresses.

--wave N renders the namespaces of wave N of 'calico-plan waves', and
--rollout the complete desired state: the tier, the observe
GlobalNetworkPolicy (profile rollout.observePolicy, leaving out staged and
enforced namespaces) and every staged and enforced namespace's policy. There
the stage decides: staged namespaces get calico-staged, enforced ones --flavor
(calico or k8s; rendered even if no longer Stable, since dropping the policy
would lift enforcement). Both take the cluster flags of 'calico-plan waves'
and set each namespace's stage label (profile rollout.stageLabel): with
--out DIR as the script DIR/_stages.sh, of 'kubectl label --overwrite'
commands (that one label changes, every other label of the namespace stays)
and 'kubectl delete' of the calico-plan policies a namespace's stage no
longer has (after a rollback: its enforced policy); on stdout the same
commands are printed to stderr; with -o hcl as kubernetes_labels resources.
Apply a rollout with

  kubectl apply -f DIR && sh DIR/_stages.sh [--context NAME]

With --rollout --out DIR, the files an earlier --rollout wrote there that the
desired state no longer has (a namespace rolled back to observe) are
removed, and _stages.sh deletes their policies from the cluster
('kubectl apply' never deletes), so that applying DIR lifts enforcement.

With -o hcl each output directory is one Terraform module that applies as
generated: resource labels unique across its files, each policy depending on
its Tier when the Tier is in the module, and for a flat --out a _providers.tf
with required_providers (--hcl-required-providers). With --layout stacks,
apply the shared stack (Tier, observe policy) before the namespace stacks.`

func newRenderCmd(g *globals) *cobra.Command {
	o := &renderOpts{}
	cmd := &cobra.Command{
		Use:   "render (--namespace NS... | --all | --wave N | --rollout) [--flavor calico|calico-staged|k8s] [-o yaml|json|hcl] [--out DIR]",
		Short: "Write default-deny egress policies from the allowlists",
		Long:  renderHelp,
		Example: `  calico-plan render --namespace recruiter-responder --flavor calico-staged
  calico-plan render --all --flavor calico --out policies/
  calico-plan render --namespace n8n -o json
  calico-plan render --wave 1 --cluster cluster.yaml
  calico-plan render --rollout --out policies/ -o hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRender(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.namespaces, "namespace", "n", nil, "namespace to render (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	f.BoolVar(&o.all, "all", false, "render every namespace in the store (excluded ones skipped)")
	f.StringVar(&o.flavor, "flavor", "calico", "policy flavor: calico, calico-staged or k8s")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml, json or hcl (Terraform)")
	outputFormats(cmd, "yaml", "json", "hcl")
	completeWords(cmd, "flavor", "calico", "calico-staged", "k8s")
	f.StringVar(&o.layout, "layout", "flat", "with --out: flat (one file per namespace) or stacks (DIR/<stack>/egress_allowlist.tf per namespace; stack names from the profile's terraform.stackDirs)")
	f.StringVar(&o.hclResource, "hcl-resource", "", "Terraform resource for Calico objects with -o hcl: kubectl_manifest (yaml_body = yamlencode({...})) or kubernetes_manifest (default: the profile's terraform.resource)")
	f.StringVar(&o.hclProviders, "hcl-required-providers", "", "with -o hcl: write _providers.tf (terraform { required_providers }) so --out DIR is a root module terraform init sets up: auto (flat --out, not stacks), always (every stack too, or on stdout), never (default: the profile's terraform.requiredProviders)")
	f.StringVar(&o.hclStageLabel, "hcl-stage-labels", "", "with -o hcl and --rollout/--wave: stage labels as kubernetes_labels resources, or none (labelled with the kubectl commands printed instead) (default: the profile's terraform.stageLabels)")
	f.StringVar(&o.out, "out", "", "write one file per namespace into this directory instead of stdout")
	f.BoolVar(&o.allowUnstable, "allow-unstable", false, "render enforcing policy for namespaces that are not Stable, or from a store with a partial source")
	f.IntVar(&o.wave, "wave", 0, "render wave N of 'calico-plan waves', each namespace in the flavor its stage calls for")
	f.BoolVar(&o.rollout, "rollout", false, "render the complete desired state: tier, observe policy, every staged and enforced policy, stage labels (-o yaml, json or hcl)")
	o.cf.register(cmd)
	o.netSets = addNetSetFlags(cmd)
	return cmd
}

// runRender is render: --wave and --rollout write the desired state
// (runRenderRollout); --namespace and --all each namespace's policy in one
// flavor, with the cluster facts when they are given.
func runRender(ctx context.Context, g *globals, o *renderOpts) error {
	if o.wave != 0 || o.rollout {
		return runRenderRollout(ctx, g, o)
	}
	if o.cf.namespaces != "" {
		return fmt.Errorf("--namespace-file goes with --wave or --rollout (it has no network sets or nodes); give --cluster FILE or a kubeconfig for render's facts")
	}
	var rf *render.Facts
	if o.cf != (clusterFlags{}) {
		facts, err := o.cf.load(ctx, g)
		if err != nil {
			return err
		}
		rf = renderFacts(facts)
	}
	return renderNamespaces(g, o, rf)
}

// renderNamespaces is render --namespace and --all: the tier and network
// sets the flavor needs, then each namespace's policy; namespaces refused
// or failed are reported, the others written.
func renderNamespaces(g *globals, o *renderOpts, facts *render.Facts) error {
	flavor, err := render.ParseFlavor(o.flavor)
	if err != nil {
		return err
	}
	if o.all == (len(o.namespaces) > 0) {
		return fmt.Errorf("give either --namespace NS (repeatable) or --all")
	}
	st, err := g.openStoreFor(o.namespaces) // --all, --wave, --rollout: every file must read
	if err != nil {
		return err
	}
	out, err := newRenderOutputFor(o, st.Profile())
	if err != nil {
		return err
	}
	out.header = render.Header("")
	targets, err := renderTargets(g, st, o)
	if err != nil {
		return err
	}
	enforcing := flavor != render.FlavorCalicoStaged
	if err := checkObservedSources(g, st, enforcing && !o.allowUnstable); err != nil {
		return err
	}
	sets, err := addSharedObjects(g, o, st.Profile(), flavor, targets, out)
	if err != nil {
		return err
	}
	opt := rollout.SelectedOptions{Flavor: flavor, AllowUnstable: o.allowUnstable, Facts: facts, NetworkSets: sets, Domains: o.netSets.domains}
	refused, failed, err := addNamespacePolicies(g, st, targets, opt, out)
	if err != nil {
		return err
	}
	return finishRender(g, out, refused, failed, len(targets))
}

// renderTargets returns the namespaces to render: those named, each of
// which must be in the store, or with --all every namespace of the store
// the profile does not exclude (the excluded ones said to be skipped).
func renderTargets(g *globals, st *allowlist.Store, o *renderOpts) ([]*allowlist.Namespace, error) {
	var targets []*allowlist.Namespace
	if o.all {
		for _, n := range st.Namespaces() {
			if st.Profile().Excluded(n.Namespace) {
				fmt.Fprintf(g.stderr, "skipping %s: excluded by the profile\n", n.Namespace)
				continue
			}
			targets = append(targets, n)
		}
		return targets, nil
	}
	for _, name := range o.namespaces {
		n := st.Namespace(name)
		if n == nil {
			return nil, unknownNamespace(st, name, "is not in the store")
		}
		targets = append(targets, n)
	}
	return targets, nil
}

// checkObservedSources warns when observe skipped bad flow records and,
// with refusePartial (an enforcing flavor without --allow-unstable),
// refuses a store with a source read partially: its allowlists may miss
// entries.
func checkObservedSources(g *globals, st *allowlist.Store, refusePartial bool) error {
	if bad := st.Meta.Ingest.Bad; bad > 0 {
		fmt.Fprintf(g.stderr, "warning: %d bad flow records were skipped while observing (see 'calico-plan status'): allowlists may miss their traffic\n", bad)
	}
	for _, src := range st.Meta.Sources {
		if src.Partial && refusePartial {
			return fmt.Errorf("source %s %s was read partially, so allowlists may miss entries; observe it again completely, or pass --allow-unstable", src.Kind, src.ID)
		}
	}
	return nil
}

// addSharedObjects adds the objects the namespaces' policies share: the
// tier (Calico flavors) and, with --network-sets, the suggested network
// sets, which it returns; it refuses --domains where no rule can carry
// them.
func addSharedObjects(g *globals, o *renderOpts, prof *config.Profile, flavor render.Flavor, targets []*allowlist.Namespace, out *renderOutput) ([]render.SuggestedSet, error) {
	if flavor != render.FlavorK8s {
		if err := out.add("", "_tier", render.Header(""), []any{render.Tier(prof)}, nil); err != nil {
			return nil, err
		}
	}
	sets, err := o.netSets.suggest(g, flavor, targets, out)
	if err != nil {
		return nil, err
	}
	if err := o.netSets.checkDomains(flavor); err != nil {
		return nil, err
	}
	return sets, nil
}

// addNamespacePolicies renders each target (rollout.RenderSelected), adds
// the policies to the output with their warnings and left-out entries on
// stderr, and returns the namespaces refused (not Stable) and failed.
func addNamespacePolicies(g *globals, st *allowlist.Store, targets []*allowlist.Namespace, opt rollout.SelectedOptions, out *renderOutput) (refused, failed []string, err error) {
	for _, n := range targets {
		r := rollout.RenderSelected(st, n, opt)
		switch {
		case r.Refused != "":
			refused = append(refused, r.Refused)
			continue
		case r.Failed != "":
			failed = append(failed, r.Failed)
			continue
		}
		for _, w := range r.Policy.Warnings {
			fmt.Fprintf(g.stderr, "warning: %s: %s\n", n.Namespace, w)
		}
		printUnrenderable(g, n.Namespace, opt.Flavor, r.Policy.Unrenderable)
		if err := out.add(n.Namespace, n.Namespace, render.Header(r.Source), r.Policy.Objects, nil); err != nil {
			return nil, nil, err
		}
	}
	return refused, failed, nil
}

// finishRender lists the refused namespaces (nothing rendered when all of
// targets were), writes the output, and then fails when any namespace
// could not be rendered.
func finishRender(g *globals, out *renderOutput, refused, failed []string, targets int) error {
	if len(refused) > 0 {
		fmt.Fprintf(g.stderr, "not rendered (not Stable; see 'calico-plan status', or pass --allow-unstable):\n  %s\n", strings.Join(refused, "\n  "))
		if len(refused) == targets {
			return fmt.Errorf("nothing rendered")
		}
	}
	if err := out.flush(g.stdout, g.stderr, ""); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d namespaces could not be rendered:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// printUnrenderable reports the entries a rendered policy left out.
func printUnrenderable(g *globals, ns string, fl render.Flavor, us []render.Unrenderable) {
	what := "the policy denies this traffic when enforced"
	if fl == render.FlavorCalicoStaged {
		what = "the staged policy reports its flows as would-deny"
	}
	for _, u := range us {
		fmt.Fprintf(g.stderr, "warning: %s: NOT RENDERED: %s (%s)\n", ns, u, what)
	}
}
