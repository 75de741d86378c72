package render

import (
	"net/netip"
	"strings"
	"testing"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/profile"
)

func netsEntry(kind string, nets ...string) allowlist.Entry {
	return allowlist.Entry{Peer: allowlist.Peer{Kind: kind, Nets: nets}, Ports: []allowlist.PortEvidence{{Port: "TCP/443"}}}
}

// entryRules returns the Calico rules rendered for entries (the DNS rules
// and the final Deny left out).
func entryRules(t *testing.T, pol *Policy) []v3.Rule {
	t.Helper()
	var out []v3.Rule
	rules := pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress
	for _, src := range pol.Rules {
		if src.Kind == "entry" {
			out = append(out, rules[src.Index])
		}
	}
	return out
}

func renderedNets(t *testing.T, pol *Policy) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, r := range entryRules(t, pol) {
		for _, n := range r.Destination.Nets {
			out = append(out, netip.MustParsePrefix(n))
		}
	}
	return out
}

// Old code: six addresses in the Service range collapsed to 10.102.0.0/15,
// wider than the documented /16 and opening every Service in it, silently.
func TestCollapseStaysOutOfServiceRangeAndWithinLimit(t *testing.T) {
	p := profile.Default()
	p.Aggregation.MaxCIDRs = 2
	e := netsEntry(allowlist.PeerPrivate, "10.102.1.1/32", "10.102.9.9/32", "10.102.200.3/32", "10.103.4.4/32", "10.103.77.1/32", "10.103.250.250/32")
	pol, err := Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{e}}, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	require.Equal(t, e.Peer.Nets, entryRules(t, pol)[0].Destination.Nets, "inside networks.services: kept exact")
	w := strings.Join(pol.Warnings, "\n")
	require.Contains(t, w, "TOO MANY PREFIXES: 6 prefixes, more than aggregation.maxCIDRs 2")
	require.Contains(t, w, "GlobalNetworkSet")

	// Outside the cluster ranges the same shape widens to two /16s, never
	// a /15, and says how much it opened.
	e = netsEntry(allowlist.PeerPrivate, "10.202.1.1/32", "10.202.9.9/32", "10.202.200.3/32", "10.203.4.4/32", "10.203.77.1/32", "10.203.250.250/32")
	pol, err = Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{e}}, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	require.Equal(t, []string{"10.202.0.0/16", "10.203.0.0/16"}, entryRules(t, pol)[0].Destination.Nets)
	require.Contains(t, strings.Join(pol.Warnings, "\n"), "widened: 6 addresses seen (in 6 prefixes), the rule opens 131,072 (in 2 prefixes) to stay within aggregation.maxCIDRs 2")
}

// Old code: 2,000 public addresses became /14s and /15s (about 390k
// addresses opened) without a word.
func TestThousandsOfPublicAddressesNeverWiderThanSlash16(t *testing.T) {
	p := profile.Default()
	var nets []string
	for i := 0; i < 2000; i++ {
		// 20.0.0.0/14, spread: 4 /16s, 500 addresses each
		nets = append(nets, netip.AddrFrom4([4]byte{20, byte(i % 4), byte(i * 7 % 256), byte(1 + i%250)}).String()+"/32")
	}
	ps := make([]netip.Prefix, len(nets))
	for i, n := range nets {
		ps[i] = netip.MustParsePrefix(n)
	}
	ps = allowlist.AggregatePrefixes(ps)
	nets = nets[:0]
	for _, pr := range ps {
		nets = append(nets, pr.String())
	}
	e := netsEntry(allowlist.PeerPublic, nets...)
	pol, err := Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{e}}, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	got := renderedNets(t, pol)
	require.NotEmpty(t, got)
	set := allowlist.NewPrefixSet(got)
	for _, pr := range ps {
		require.True(t, set.Covers(pr), "%s lost", pr)
	}
	for _, pr := range got {
		require.GreaterOrEqual(t, pr.Bits(), 16, "%s is wider than minPrefixV4", pr)
	}
	require.Equal(t, []string{"20.0.0.0/17", "20.0.128.0/17", "20.1.0.0/17", "20.1.128.0/17", "20.2.0.0/17", "20.2.128.0/17", "20.3.0.0/17", "20.3.128.0/17"},
		entryRules(t, pol)[0].Destination.Nets, "the narrowest merges first, until maxCIDRs (8) is met")
	w := strings.Join(pol.Warnings, "\n")
	require.Contains(t, w, "2,000 addresses seen")
	require.Contains(t, w, "the rule opens 262,144 (in 8 prefixes)")
	require.Contains(t, w, "and 1,992 more (TCP/443)", "the warning names the entry without listing every address")
	require.Less(t, len(pol.Rules[2].Peer), 200, "the rule annotation abbreviates the addresses")
}

// A peer spread over more /16s than maxCIDRs keeps them all, loudly.
func TestTooManyPrefixesIsLoudNotWider(t *testing.T) {
	p := profile.Default()
	var nets []string
	for i := 0; i < 20; i++ {
		nets = append(nets, netip.AddrFrom4([4]byte{byte(30 + i), 1, 2, 3}).String()+"/32")
	}
	pol, err := Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{netsEntry(allowlist.PeerPublic, nets...)}}, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	require.Equal(t, nets, entryRules(t, pol)[0].Destination.Nets)
	w := strings.Join(pol.Warnings, "\n")
	require.Contains(t, w, "TOO MANY PREFIXES: 20 prefixes, more than aggregation.maxCIDRs 8")
	require.NotContains(t, w, "widened: ", "nothing was widened")
}

// Old code: "any public address" was 0.0.0.0/0 minus RFC 1918, which
// includes loopback, link-local (the metadata service) and CGNAT.
func TestAnyPublicLeavesOutSpecialRanges(t *testing.T) {
	p := profile.Default()
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Ports: []allowlist.PortEvidence{{Port: "TCP/443"}}}}}
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	r := entryRules(t, pol)[0]
	require.Equal(t, []string{"0.0.0.0/0"}, r.Destination.Nets)
	for _, must := range []string{"127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "224.0.0.0/4", "255.255.255.255/32", "192.0.2.0/24", "10.0.0.0/8"} {
		require.Contains(t, r.Destination.NotNets, must)
	}
	require.Contains(t, strings.Join(pol.Warnings, "\n"), "Goldmane reports link-local destinations as public")

	k8s, err := Namespace(n, Options{Flavor: FlavorK8s, Profile: p})
	require.NoError(t, err)
	np := k8s.Objects[0].(*networkingv1.NetworkPolicy)
	require.Contains(t, np.Spec.Egress[1].To[0].IPBlock.Except, "169.254.0.0/16")

	// The DNS rule still allows NodeLocal DNSCache on its link-local address.
	dns := pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress[0]
	require.Equal(t, []string{"10.96.0.10/32", "169.254.20.10/32"}, dns.Destination.Nets)
}

func TestSpecialPeersRenderWithAWarning(t *testing.T) {
	p := profile.Default()
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerSpecial, Name: allowlist.SpecialLinkLocal, Nets: []string{"169.254.169.254/32"}}, Ports: []allowlist.PortEvidence{{Port: "TCP/80"}}},
		{Peer: allowlist.Peer{Kind: allowlist.PeerSpecial, Name: allowlist.SpecialCGNAT}, Ports: []allowlist.PortEvidence{{Port: "UDP/41641"}}},
		netsEntry(allowlist.PeerPublic, "8.8.8.8/32", "2001:db8::1/128"),
	}}
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	rules := entryRules(t, pol)
	require.Equal(t, []string{"169.254.169.254/32"}, rules[0].Destination.Nets)
	require.Equal(t, []string{"100.64.0.0/10"}, rules[1].Destination.Nets)
	w := strings.Join(pol.Warnings, "\n")
	require.Contains(t, w, "special link-local 169.254.169.254/32 (TCP/80): special range, rendered as observed: link-local (169.254.0.0/16, fe80::/10): 169.254.169.254 is the cloud metadata service")
	require.Contains(t, w, "special cgnat (UDP/41641): no addresses were recorded, so it renders as the whole cgnat (100.64.0.0/10)")
	require.Contains(t, w, "the nets include special ranges, which are neither public nor public"[:40])
	require.Contains(t, w, "documentation (192.0.2.0/24")
}

// Old code: one network set without labels failed the whole namespace, in
// render and explain alike.
func TestNetworkSetWithoutLabelsLeavesOnlyItselfOut(t *testing.T) {
	p := profile.Default()
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerNamespace, Namespace: "dbaas"}, Ports: []allowlist.PortEvidence{{Port: "TCP/5432"}}},
		{Peer: allowlist.Peer{Kind: allowlist.PeerGlobalNetworkSet, Name: "telegram"}, Ports: []allowlist.PortEvidence{{Port: "TCP/443"}}},
		netsEntry(allowlist.PeerPublic, "1.1.1.1/32"),
	}}
	pol, err := Namespace(n, Options{Flavor: FlavorCalicoStaged, Profile: p})
	var inc *IncompleteError
	require.ErrorAs(t, err, &inc)
	require.NotNil(t, pol, "everything else is rendered")
	require.Len(t, pol.Unrenderable, 1)
	u := pol.Unrenderable[0]
	require.Equal(t, 1, u.Entry)
	require.Equal(t, "globalnetworkset telegram", u.Peer)
	require.Equal(t, []string{"TCP/443"}, u.Ports)
	require.Contains(t, u.Reason, "no labels for this network set")
	require.Contains(t, u.Reason, "label the set (kubectl label globalnetworkset telegram KEY=VALUE)")
	require.Contains(t, u.Reason, "pass cluster facts")
	sp := pol.Objects[0].(*v3.StagedNetworkPolicy)
	require.Len(t, sp.Spec.Egress, 2+2+1, "DNS, dbaas, 1.1.1.1, Deny")
	require.Equal(t, []RuleSource{{Index: 2, Kind: "entry", Entry: 0, Peer: "namespace dbaas", Ports: []string{"TCP/5432"}},
		{Index: 3, Kind: "entry", Entry: 2, Peer: "public 1.1.1.1/32", Ports: []string{"TCP/443"}}}, pol.Rules[2:4])

	// With the set's CIDRs from cluster facts it renders as those.
	pol, err = Namespace(n, Options{Flavor: FlavorCalico, Profile: p, Facts: &Facts{NetworkSetNets: map[string][]string{"telegram": {"149.154.160.0/20", "2001:b28:f23d::/48"}}}})
	require.NoError(t, err)
	rules := entryRules(t, pol)
	require.Equal(t, []string{"149.154.160.0/20"}, rules[1].Destination.Nets)
	require.Equal(t, []string{"2001:b28:f23d::/48"}, rules[2].Destination.Nets)
	require.Contains(t, strings.Join(pol.Warnings, "\n"), "renders as the set's CIDRs in the cluster facts")
}

// A Kubernetes policy cannot name ICMP: only that entry is left out.
func TestK8sUnrenderableProtocolLeavesOnlyItsEntryOut(t *testing.T) {
	p := profile.Default()
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Ports: []allowlist.PortEvidence{{Port: "ICMP"}}},
		netsEntry(allowlist.PeerPublic, "1.1.1.1/32"),
	}}
	pol, err := Namespace(n, Options{Flavor: FlavorK8s, Profile: p})
	require.ErrorContains(t, err, "protocol ICMP cannot be expressed in a Kubernetes NetworkPolicy")
	require.Len(t, pol.Unrenderable, 1)
	np := pol.Objects[0].(*networkingv1.NetworkPolicy)
	require.Len(t, np.Spec.Egress, 2, "DNS and 1.1.1.1")
}

// An entry observe had to truncate cannot be rendered: no rule can allow
// every address seen.
func TestTruncatedEntryIsNotRenderable(t *testing.T) {
	p := profile.Default()
	e := netsEntry(allowlist.PeerPublic, "20.0.0.0/16", "21.0.0.0/16")
	e.Folded = &allowlist.NetsFolded{Over: 2, IPv4: 16, IPv6: 48, Truncated: true}
	pol, err := Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{e}}, Options{Flavor: FlavorCalico, Profile: p})
	require.Error(t, err)
	require.Len(t, pol.Unrenderable, 1)
	require.Contains(t, pol.Unrenderable[0].Reason, "observe kept only the first 2 (aggregation.maxAddresses)")

	e.Folded.Truncated = false
	pol, err = Namespace(&allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{e}}, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	require.Contains(t, strings.Join(pol.Warnings, "\n"), "more than 2 distinct addresses were seen (aggregation.maxAddresses), so observe folded them into prefixes of up to /16")
}
