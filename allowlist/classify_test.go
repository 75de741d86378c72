package allowlist

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

func srcFlow() flows.Flow {
	return flows.Flow{
		Start: 1763000000, End: 1763000300,
		Source:   flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: "api-7d9c-*", Namespace: "shop", Labels: []string{"app=api"}},
		Proto:    flows.ProtoTCP,
		Action:   flows.ActionAllow,
		Reporter: flows.ReporterSrc,
		NumFlows: 3, Bytes: 100,
	}
}

func classifyOne(t *testing.T, c *Classifier, f flows.Flow) (key, string) {
	t.Helper()
	var ks [2]key
	n, skip, _ := c.classify(&f, &ks)
	if n == 0 {
		return key{}, skip
	}
	return ks[0], ""
}

func TestClassifyPeers(t *testing.T) {
	c := NewClassifier(profile.Default())
	ip := netip.MustParseAddr
	cases := []struct {
		name string
		mod  func(f *flows.Flow)
		want key
		skip string
	}{
		{"dns via NodeLocal IP", func(f *flows.Flow) {
			f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: ip("169.254.20.10"), Port: 53}
		}, key{kind: PeerDNS, proto: flows.ProtoUDP, port: 53}, ""},
		{"dns to bare network without IP is assumed cluster DNS", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pvt", Port: 53}
		}, key{kind: PeerDNS, proto: flows.ProtoTCP, port: 53}, ""},
		{"port 53 to an unknown public resolver is NOT the cluster DNS", func(f *flows.Flow) {
			f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: ip("1.1.1.1"), Port: 53}
		}, key{kind: PeerPublic, hasNets: true, proto: flows.ProtoUDP, port: 53}, ""},
		{"coredns pods in kube-system", func(f *flows.Flow) {
			f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "kube-system", NameAggr: "coredns-*", Port: 53, Labels: []string{"k8s-app=kube-dns"}}
		}, key{kind: PeerDNS, proto: flows.ProtoUDP, port: 53}, ""},
		{"a DNS server pod in another namespace is a namespace peer", func(f *flows.Flow) {
			f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "technitium", NameAggr: "technitium-*", Port: 53, Labels: []string{"app=technitium", "pod-template-hash=abc"}}
		}, key{kind: PeerNamespace, peerNS: "technitium", labels: "app=technitium", proto: flows.ProtoUDP, port: 53}, ""},
		{"pod with noise and invalid labels", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "dbaas", Port: 5432, Labels: []string{"pod-template-hash=1", "cnpg.io/cluster=pg", "bad key=x", "role=primary", "app.kubernetes.io/version=v1", "v=${jndi:x}"}}
		}, key{kind: PeerNamespace, peerNS: "dbaas", labels: "cnpg.io/cluster=pg,role=primary", proto: flows.ProtoTCP, port: 5432}, ""},
		{"namespaced network set", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetworkSet, Namespace: "shop", NameAggr: "partners", Port: 443}
		}, key{kind: PeerNetworkSet, peerNS: "shop", peerName: "partners", proto: flows.ProtoTCP, port: 443}, ""},
		{"global network set", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetworkSet, NameAggr: "telegram", Port: 443}
		}, key{kind: PeerGlobalNetworkSet, peerName: "telegram", proto: flows.ProtoTCP, port: 443}, ""},
		{"host endpoint with IP", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointHost, NameAggr: "node-1", IP: ip("10.0.20.11"), Port: 9100}
		}, key{kind: PeerHost, peerName: "node-1", hasNets: true, proto: flows.ProtoTCP, port: 9100}, ""},
		{"private by IP", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pvt", IP: ip("10.0.20.100"), Port: 6443}
		}, key{kind: PeerPrivate, hasNets: true, proto: flows.ProtoTCP, port: 6443}, ""},
		{"public without IP", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
		}, key{kind: PeerPublic, proto: flows.ProtoTCP, port: 443}, ""},
		{"level 3: port unknown", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub"}
		}, key{kind: PeerPublic, proto: flows.ProtoTCP, port: 0}, ""},
		{"icmp carries no port", func(f *flows.Flow) {
			f.Proto, f.Dest = flows.ProtoICMP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 8}
		}, key{kind: PeerPublic, proto: flows.ProtoICMP}, ""},
		{"dst-reported copy", func(f *flows.Flow) { f.Reporter = flows.ReporterDst }, key{}, SkipDstReported},
		{"source is a host endpoint", func(f *flows.Flow) { f.Source.Type = flows.EndpointHost }, key{}, SkipSourceNotPod},
		{"no source namespace", func(f *flows.Flow) { f.Source.Namespace = "" }, key{}, SkipNoSourceNS},
		{"invalid source namespace", func(f *flows.Flow) { f.Source.Namespace = "Shop_1" }, key{}, SkipInvalidSourceNS},
		{"invalid dest namespace", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "x'; drop", Port: 1}
		}, key{}, SkipInvalidPeer},
		{"unknown network name", func(f *flows.Flow) {
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "weird", Port: 1}
		}, key{}, SkipUnknownPeer},
		{"pass action", func(f *flows.Flow) {
			f.Action = flows.ActionPass
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
		}, key{}, SkipUnknownAction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := srcFlow()
			tc.mod(&f)
			got, skip := classifyOne(t, c, f)
			require.Equal(t, tc.skip, skip)
			if tc.skip == "" {
				tc.want.ns, tc.want.class = "shop", ClassEgress
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestClassifyDNSAssumptionOff(t *testing.T) {
	p := profile.Default()
	p.DNS.AssumeNetworkPort53IsDNS = false
	f := srcFlow()
	f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 53}
	got, _ := classifyOne(t, NewClassifier(p), f)
	require.Equal(t, PeerPublic, got.kind)
}

func TestClassifyDeniedAndWouldDeny(t *testing.T) {
	c := NewClassifier(profile.Default())
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 6667}
	f.Action = flows.ActionDeny
	var ks [2]key
	n, _, _ := c.classify(&f, &ks)
	require.Equal(t, 1, n)
	require.Equal(t, ClassDenied, ks[0].class)

	// Allowed today, but our staged policy would deny it: counts twice.
	f.Action = flows.ActionAllow
	for _, tr := range [][]string{
		{"0|egress-allowlist|shop/egress-allowlist.staged:shop|deny|-1"}, // gen 2
		{"0|egress-allowlist|snp:shop/shop|deny|-1"},                     // gen 3
		{"0|default|shop/staged:knp.default.egress-allowlist|deny|-1"},   // staged k8s flavor
	} {
		hits, err := flows.ParseTrace(tr)
		require.NoError(t, err)
		f.Policies.Pending = hits
		n, _, _ = c.classify(&f, &ks)
		require.Equal(t, 2, n, tr)
		require.Equal(t, ClassEgress, ks[0].class)
		require.Equal(t, ClassWouldDeny, ks[1].class)
	}
	// A staged deny from someone else's tier is not our breakage signal.
	hits, _ := flows.ParseTrace([]string{"0|security|shop/security.staged:x|deny|-1"})
	f.Policies.Pending = hits
	n, _, _ = c.classify(&f, &ks)
	require.Equal(t, 1, n)
}
