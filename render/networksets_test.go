package render

import (
	"net/netip"
	"testing"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/profile"
)

func TestSuggestNetworkSets(t *testing.T) {
	ev := allowlist.Evidence{Flows: 3, FirstSeen: 1779444600, LastSeen: 1779444615}
	port := []allowlist.PortEvidence{{Port: "TCP/443", Evidence: ev}}
	shop := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"149.154.167.41/32", "149.154.167.50/32", "149.154.167.220/32", "91.108.56.130/32"}}, Ports: port, Source: allowlist.SourcePacketLog},
	}}
	chat := &allowlist.Namespace{Namespace: "chat", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"149.154.167.99/32", "2001:67c:4e8:f004::9/128"}}, Ports: port},
		// private addresses are never put in a public set
		{Peer: allowlist.Peer{Kind: allowlist.PeerPrivate, Nets: []string{"10.1.1.1/32", "10.1.1.2/32", "10.1.1.3/32", "10.1.1.4/32"}}, Ports: port},
	}}
	sets := SuggestNetworkSets([]*allowlist.Namespace{shop, chat}, NetworkSetOptions{})
	require.Len(t, sets, 1)
	s := sets[0]
	require.Equal(t, "calico-plan-149-154-167-0-24", s.Name)
	require.Equal(t, netip.MustParsePrefix("149.154.167.0/24"), s.Prefix)
	require.Equal(t, []string{"chat", "shop"}, s.Namespaces)
	obj := s.Object()
	require.Equal(t, []string{"149.154.167.41/32", "149.154.167.50/32", "149.154.167.99/32", "149.154.167.220/32"}, obj.Spec.Nets, "exactly the observed addresses, never the whole /24")
	require.Equal(t, s.Name, obj.Labels[NetworkSetLabel])

	// The policy selects the set and lists only what the set does not hold.
	p := profile.Default()
	pol, err := Namespace(shop, Options{Flavor: FlavorCalico, Profile: p, NetworkSets: sets})
	require.NoError(t, err)
	np := pol.Objects[0].(*v3.NetworkPolicy)
	var selected, listed bool
	for _, r := range np.Spec.Egress {
		if r.Destination.Selector == NetworkSetLabel+" == 'calico-plan-149-154-167-0-24'" {
			selected = true
			require.Equal(t, "global()", r.Destination.NamespaceSelector)
			require.Empty(t, r.Destination.Nets)
		}
		if len(r.Destination.Nets) > 0 && r.Action == v3.Allow && r.Destination.Nets[0] == "91.108.56.130/32" {
			listed = true
			require.Equal(t, []string{"91.108.56.130/32"}, r.Destination.Nets)
		}
	}
	require.True(t, selected && listed, "%+v", np.Spec.Egress)

	// Fewer addresses than the minimum: no set. Every address in a set:
	// no "any public" rule appears in its place.
	require.Empty(t, SuggestNetworkSets([]*allowlist.Namespace{chat}, NetworkSetOptions{}))
	only := &allowlist.Namespace{Namespace: "only", Egress: []allowlist.Entry{{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"149.154.167.41/32", "149.154.167.50/32"}}, Ports: port}}}
	sets = SuggestNetworkSets([]*allowlist.Namespace{only}, NetworkSetOptions{MinAddresses: 2})
	require.Len(t, sets, 1)
	pol, err = Namespace(only, Options{Flavor: FlavorCalico, Profile: p, NetworkSets: sets})
	require.NoError(t, err)
	for _, r := range pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress {
		require.NotContains(t, r.Destination.Nets, "0.0.0.0/0")
	}
}
