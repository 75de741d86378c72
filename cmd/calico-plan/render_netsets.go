package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/render"
)

// netSetFlags are render's --network-sets flags.
type netSetFlags struct {
	domains  bool
	enabled  bool
	min      int
	prefixV4 int
	prefixV6 int
}

const networkSetsHelp = `

--network-sets (Calico flavors) offers GlobalNetworkSets where many observed
public addresses share a prefix (--network-set-min, default 4, in one
--network-set-prefix-v4 /24 or --network-set-prefix-v6 /48): each set holds
exactly the observed addresses (never the whole prefix; ownership is not
looked up), is written as _network-sets (YAML, JSON or HCL), and the policies
select it (calico-plan.io/network-set == '<name>', namespaceSelector global())
instead of listing the addresses. Apply the sets with the policies; widen a
set to the owner's published ranges by editing it if you trust them.`

func addNetSetFlags(cmd *cobra.Command) *netSetFlags {
	f := &netSetFlags{}
	fs := cmd.Flags()
	fs.BoolVar(&f.domains, "domains", false, "Calico Enterprise: render public entries that have dest_domains evidence as destination.domains rules (DNS policy), keeping the addresses as evidence")
	fs.BoolVar(&f.enabled, "network-sets", false, "offer GlobalNetworkSets for public addresses that share a prefix, and select them in the policies (Calico flavors)")
	fs.IntVar(&f.min, "network-set-min", 4, "distinct observed addresses a prefix needs to become a suggested set")
	fs.IntVar(&f.prefixV4, "network-set-prefix-v4", 24, "IPv4 prefix length the addresses of a suggested set share")
	fs.IntVar(&f.prefixV6, "network-set-prefix-v6", 48, "IPv6 prefix length the addresses of a suggested set share")
	cmd.Long += networkSetsHelp + domainsHelp
	return f
}

const domainsHelp = `

--domains (Calico Enterprise only, Calico flavors): a public entry whose flow
logs carried dest_domains (the names Felix's DNS cache tied to the addresses)
renders as one destination.domains rule per protocol and port set instead of
the addresses, as Calico Enterprise's own recommender does for public egress.
Prerequisites: Calico Enterprise (the OSS API has no domains and rejects the
rule) with DNS policy, and pods resolving names through the cluster DNS that
Felix watches (the policy's DNS rule allows it). The names are hints, not
proof: review them. The observed addresses stay in the allowlist as evidence
and are named in the rule's calico-plan.io/observed-nets annotation.`

// checkDomains refuses --domains where no rule can carry domains.
func (f *netSetFlags) checkDomains(flavor render.Flavor) error {
	if f.domains && flavor == render.FlavorK8s {
		return fmt.Errorf("--domains needs a Calico flavor (Calico Enterprise): a Kubernetes NetworkPolicy has no domain rules")
	}
	return nil
}

// suggest returns the suggested sets of the namespaces to render and adds
// them to the output; nil when --network-sets is not given.
func (f *netSetFlags) suggest(g *globals, flavor render.Flavor, targets []*allowlist.Namespace, out *renderOutput) ([]render.SuggestedSet, error) {
	if !f.enabled {
		return nil, nil
	}
	if flavor == render.FlavorK8s {
		return nil, fmt.Errorf("--network-sets needs a Calico flavor: a Kubernetes NetworkPolicy cannot select a GlobalNetworkSet")
	}
	if f.min < 2 || f.prefixV4 < 8 || f.prefixV4 > 32 || f.prefixV6 < 16 || f.prefixV6 > 128 {
		return nil, fmt.Errorf("--network-set-min must be at least 2, --network-set-prefix-v4 8-32, --network-set-prefix-v6 16-128")
	}
	sets := render.SuggestNetworkSets(targets, render.NetworkSetOptions{MinAddresses: f.min, PrefixV4: f.prefixV4, PrefixV6: f.prefixV6})
	if len(sets) == 0 {
		fmt.Fprintf(g.stderr, "network sets: no %d or more observed public addresses share a prefix; none suggested\n", f.min)
		return nil, nil
	}
	objs := make([]any, len(sets))
	for i, s := range sets {
		objs[i] = s.Object()
		fmt.Fprintf(g.stderr, "network set %s: %d observed addresses in %s, used by %s\n", s.Name, allowlist.AddressCount(s.Nets).Int64(), s.Prefix, strings.Join(s.Namespaces, ", "))
	}
	if err := out.add("", "_network-sets", render.Header(""), objs, nil); err != nil {
		return nil, err
	}
	return sets, nil
}
