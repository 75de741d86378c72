package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/render"
)

type renderOpts struct {
	namespaces     []string
	all            bool
	flavor         string
	output         string
	out            string
	allowUnstable  bool
	includeExclude bool
	// --wave N / --rollout (waves.go): the stage decides each flavor.
	wave    int
	rollout bool
	cf      clusterFlags
}

func newRenderCmd(g *globals) *cobra.Command {
	o := &renderOpts{}
	cmd := &cobra.Command{
		Use:   "render (--namespace NS... | --all | --wave N | --rollout) [--flavor calico|calico-staged|k8s] [-o yaml|json] [--out DIR]",
		Short: "Write default-deny egress policies from the allowlists",
		Long: `render turns allowlists into policy. Each namespace gets one policy that
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
by their labels; external addresses as the observed CIDRs collapsed to at most
aggregation.maxCIDRs prefixes, or, when flow logs carried no addresses, as
"any private" / "any public" address on the observed ports (warned).

Enforcing flavors (calico, k8s) refuse namespaces that are not Stable, unless
--allow-unstable: an allowlist missing a rare flow is an outage. Namespaces on
the profile's exclusion list are skipped by --all.

--wave N renders the namespaces of wave N of 'calico-plan waves', and
--rollout the complete desired state: the tier, the observe
GlobalNetworkPolicy (profile rollout.observePolicy, leaving out staged and
enforced namespaces) and every staged and enforced namespace's policy. There
the stage decides: staged namespaces get calico-staged, enforced ones --flavor
(calico or k8s; rendered even if no longer Stable, since dropping the policy
would lift enforcement). Both add each namespace's stage label (profile
rollout.stageLabel) as Namespace objects, or kubernetes_labels resources with
-o hcl, and take the cluster flags of 'calico-plan waves'.`,
		Example: `  calico-plan render --namespace recruiter-responder --flavor calico-staged
  calico-plan render --all --flavor calico --out policies/
  calico-plan render --namespace n8n -o json
  calico-plan render --wave 1 --cluster cluster.yaml
  calico-plan render --rollout --out policies/ -o hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.wave != 0 || o.rollout {
				return runRenderRollout(cmd, g, o)
			}
			if o.cf != (clusterFlags{}) {
				return fmt.Errorf("--cluster, --namespaces, --kubeconfig and --context go with --wave or --rollout")
			}
			return runRender(g, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.namespaces, "namespace", nil, "namespace to render (repeatable)")
	f.BoolVar(&o.all, "all", false, "render every namespace in the store (excluded ones skipped)")
	f.StringVar(&o.flavor, "flavor", "calico", "policy flavor: calico, calico-staged or k8s")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json (or hcl with --wave/--rollout)")
	f.StringVar(&o.out, "out", "", "write one file per namespace into this directory instead of stdout")
	f.BoolVar(&o.allowUnstable, "allow-unstable", false, "render enforcing policy for namespaces that are not Stable")
	f.IntVar(&o.wave, "wave", 0, "render wave N of 'calico-plan waves', each namespace in the flavor its stage calls for")
	f.BoolVar(&o.rollout, "rollout", false, "render the complete desired state: tier, observe policy, every staged and enforced policy, stage labels (-o yaml, json or hcl)")
	o.cf.register(cmd)
	return cmd
}

func runRender(g *globals, o *renderOpts) error {
	flavor, err := render.ParseFlavor(o.flavor)
	if err != nil {
		return err
	}
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("unknown output format %q (want yaml or json)", o.output)
	}
	if o.all == (len(o.namespaces) > 0) {
		return fmt.Errorf("give either --namespace NS (repeatable) or --all")
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	prof := st.Profile()
	var targets []*allowlist.Namespace
	if o.all {
		for _, n := range st.Namespaces() {
			if prof.Excluded(n.Namespace) {
				fmt.Fprintf(g.stderr, "skipping %s: excluded by the profile\n", n.Namespace)
				continue
			}
			targets = append(targets, n)
		}
	} else {
		for _, name := range o.namespaces {
			n := st.Namespace(name)
			if n == nil {
				return fmt.Errorf("namespace %q is not in the store %s (observed namespaces: %s)", name, st.Dir, strings.Join(st.Names(), ", "))
			}
			targets = append(targets, n)
		}
	}
	enforcing := flavor != render.FlavorCalicoStaged
	var refused []string
	for _, src := range st.Meta.Sources {
		if src.Partial && enforcing && !o.allowUnstable {
			return fmt.Errorf("source %s %s was read partially, so allowlists may miss entries; observe it again completely, or pass --allow-unstable", src.Kind, src.ID)
		}
	}
	files := map[string][]byte{}
	var stdout bytes.Buffer
	ext := "." + o.output
	var objs []any
	if flavor != render.FlavorK8s {
		tier := render.Tier(prof)
		objs = append(objs, tier)
		if o.out != "" {
			var b bytes.Buffer
			if err := encodeObjects(&b, o.output, render.Header(""), tier); err != nil {
				return err
			}
			files["_tier"+ext] = b.Bytes()
		}
	}
	for _, n := range targets {
		a := allowlist.Assess(n, st.Meta.Observation.To, prof.Stability)
		if enforcing && a.State != allowlist.StateStable && !o.allowUnstable {
			refused = append(refused, fmt.Sprintf("%s (%s: %s)", n.Namespace, a.State, a.Reason))
			continue
		}
		source := filepath.ToSlash(filepath.Join(st.Dir, n.Namespace+".yaml"))
		pol, err := render.Namespace(n, render.Options{Flavor: flavor, Profile: prof, Source: source})
		if err != nil {
			return err
		}
		for _, w := range pol.Warnings {
			fmt.Fprintf(g.stderr, "warning: %s: %s\n", n.Namespace, w)
		}
		if o.out != "" {
			var b bytes.Buffer
			if err := encodeObjects(&b, o.output, render.Header(source), pol.Objects...); err != nil {
				return err
			}
			files[n.Namespace+ext] = b.Bytes()
		} else {
			objs = append(objs, pol.Objects...)
		}
	}
	if len(refused) > 0 {
		fmt.Fprintf(g.stderr, "not rendered (not Stable; see 'calico-plan status', or pass --allow-unstable):\n  %s\n", strings.Join(refused, "\n  "))
	}
	if o.out != "" {
		written, err := fsutil.WriteFiles(o.out, files)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "%d files in %s (%d changed)\n", len(files), o.out, len(written))
	} else if len(objs) > 0 && (flavor == render.FlavorK8s || len(objs) > 1) {
		if err := encodeObjects(&stdout, o.output, render.Header(""), objs...); err != nil {
			return err
		}
		if _, err := g.stdout.Write(stdout.Bytes()); err != nil {
			return err
		}
	}
	if len(refused) > 0 && len(refused) == len(targets) {
		return fmt.Errorf("nothing rendered")
	}
	return nil
}

func encodeObjects(b *bytes.Buffer, format, header string, objs ...any) error {
	if format == "json" {
		return render.EncodeJSON(b, objs...)
	}
	return render.EncodeYAML(b, header, objs...)
}
