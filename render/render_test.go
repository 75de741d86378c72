package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/profile"
)

var update = flag.Bool("update", false, "rewrite golden files")

func demoStore(t testing.TB, p *profile.Profile) *allowlist.Store {
	t.Helper()
	s, err := allowlist.Open(t.TempDir(), p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { a.Add(f); return nil }))
	s.Apply(a)
	_, err = s.Render()
	require.NoError(t, err)
	return s
}

// decodeStrict decodes JSON into an upstream type, rejecting unknown fields.
func decodeStrict(t *testing.T, m map[string]any, into any) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(into))
}

func TestGoldenDemo(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	for _, fl := range []Flavor{FlavorCalico, FlavorCalicoStaged, FlavorK8s} {
		var buf bytes.Buffer
		for _, n := range s.Namespaces() {
			pol, err := Namespace(n, Options{Flavor: fl, Profile: p, Source: "allowlists/" + n.Namespace + ".yaml"})
			if n.Namespace == "servarr" && fl == FlavorK8s {
				require.ErrorContains(t, err, "cannot select a Calico network set")
				continue
			}
			require.NoError(t, err, n.Namespace)
			require.NoError(t, EncodeYAML(&buf, Header("allowlists/"+n.Namespace+".yaml"), pol.Objects...))
		}
		golden := filepath.Join("testdata", "demo-"+string(fl)+".yaml")
		if *update {
			require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./render -update")
		require.Equal(t, string(want), buf.String(), "golden %s differs; run go test ./render -update and review the diff", golden)
	}
}

func TestCalicoPolicyDecodesIntoUpstreamTypes(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	n := s.Namespace("recruiter-responder")
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	m, err := ToMap(pol.Objects[0])
	require.NoError(t, err)
	var np v3.NetworkPolicy
	decodeStrict(t, m, &np)
	require.Equal(t, "NetworkPolicy", np.Kind)
	require.Equal(t, "projectcalico.org/v3", np.APIVersion)
	require.Equal(t, "egress-allowlist.recruiter-responder", np.Name, "tiered names carry the tier")
	require.Equal(t, "egress-allowlist", np.Spec.Tier)
	require.Equal(t, []v3.PolicyType{v3.PolicyTypeEgress}, np.Spec.Types, "explicit types: a rule-less or egress-only policy must not default to Ingress")
	require.Equal(t, "all()", np.Spec.Selector)
	rules := np.Spec.Egress
	require.Equal(t, v3.Deny, rules[len(rules)-1].Action, "ends in an explicit deny")
	require.Equal(t, []string{"10.96.0.10/32", "169.254.20.10/32"}, rules[0].Destination.Nets)
	require.Equal(t, "UDP", rules[0].Protocol.String())
	require.Equal(t, "TCP", rules[1].Protocol.String())
	for i, r := range rules[:len(rules)-1] {
		require.Equal(t, v3.Allow, r.Action, i)
		require.NotNil(t, r.Protocol, "rule %d: protocol required with ports", i)
		require.Nil(t, r.Destination.Services, "no services selector (cannot be combined with ports)")
		require.NotContains(t, r.Destination.Selector, "global()")
		if len(r.Destination.NotNets) > 0 {
			require.NotContains(t, r.Destination.NotNets, "0.0.0.0/0")
		}
	}
	// Pod peers: namespace selector plus stable labels, noise removed.
	var pg *v3.Rule
	for i := range rules {
		if rules[i].Destination.NamespaceSelector == "kubernetes.io/metadata.name == 'dbaas'" {
			pg = &rules[i]
		}
	}
	require.NotNil(t, pg)
	require.Equal(t, "cnpg.io/cluster == 'pg-cluster' && cnpg.io/instanceRole == 'primary' && role == 'primary'", pg.Destination.Selector)
	require.Equal(t, "5432", pg.Destination.Ports[0].String())

	tier, err := ToMap(Tier(p))
	require.NoError(t, err)
	var tt v3.Tier
	decodeStrict(t, tier, &tt)
	require.Equal(t, 500.0, *tt.Spec.Order)
	require.Equal(t, v3.Deny, *tt.Spec.DefaultAction)
}

func TestStagedFlavor(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	pol, err := Namespace(s.Namespace("n8n"), Options{Flavor: FlavorCalicoStaged, Profile: p})
	require.NoError(t, err)
	m, err := ToMap(pol.Objects[0])
	require.NoError(t, err)
	var sp v3.StagedNetworkPolicy
	decodeStrict(t, m, &sp)
	require.Equal(t, "StagedNetworkPolicy", sp.Kind)
	require.Equal(t, v3.StagedActionSet, sp.Spec.StagedAction)
	enforced, err := Namespace(s.Namespace("n8n"), Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	require.Equal(t, enforced.Objects[0].(*v3.NetworkPolicy).Spec.Egress, sp.Spec.Egress, "staged and enforced carry the same rules")
	// n8n's public 443 flows had no addresses: rendered as any public IPv4 on 443, warned.
	require.NotEmpty(t, pol.Warnings)
	found := false
	for _, r := range sp.Spec.Egress {
		if len(r.Destination.Nets) == 1 && r.Destination.Nets[0] == "0.0.0.0/0" {
			found = true
			// The private ranges and the special ones: loopback, link-local
			// (the metadata service), CGNAT, documentation, multicast, broadcast.
			require.Equal(t, []string{"10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
				"192.0.2.0/24", "192.168.0.0/16", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "255.255.255.255/32"}, r.Destination.NotNets)
		}
	}
	require.True(t, found)
}

func TestK8sFlavorDecodesIntoUpstreamTypes(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	pol, err := Namespace(s.Namespace("woodpecker"), Options{Flavor: FlavorK8s, Profile: p})
	require.NoError(t, err)
	m, err := ToMap(pol.Objects[0])
	require.NoError(t, err)
	var np networkingv1.NetworkPolicy
	decodeStrict(t, m, &np)
	require.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
	require.Empty(t, np.Spec.PodSelector.MatchLabels)
	dns := np.Spec.Egress[0]
	require.Equal(t, "10.96.0.10/32", dns.To[0].IPBlock.CIDR)
	require.Len(t, dns.Ports, 2)
	var apiRule *networkingv1.NetworkPolicyEgressRule
	for i, r := range np.Spec.Egress {
		for _, to := range r.To {
			if to.IPBlock != nil && to.IPBlock.CIDR == "10.0.20.100/32" {
				apiRule = &np.Spec.Egress[i]
			}
		}
	}
	require.NotNil(t, apiRule, "the Kubernetes API server by address")
	require.Equal(t, int32(6443), apiRule.Ports[0].Port.IntVal)
	require.Contains(t, strings.Join(pol.Warnings, " "), "default tier at order 1000")
}

func TestNetworkSetAndUnrenderable(t *testing.T) {
	p := profile.Default()
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerGlobalNetworkSet, Name: "telegram", Labels: map[string]string{"egress": "telegram"}}, Ports: []allowlist.PortEvidence{{Port: "TCP/443"}}},
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Ports: []allowlist.PortEvidence{{Port: "ICMP"}}},
	}}
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	rules := pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress
	require.Equal(t, "global()", rules[2].Destination.NamespaceSelector)
	require.Equal(t, "egress == 'telegram'", rules[2].Destination.Selector)
	require.Equal(t, "ICMP", rules[3].Protocol.String())
	require.Empty(t, rules[3].Destination.Ports)

	_, err = Namespace(n, Options{Flavor: FlavorK8s, Profile: p, Facts: &Facts{NetworkSetNets: map[string][]string{"telegram": {"149.154.160.0/20"}}}})
	require.ErrorContains(t, err, "protocol ICMP cannot be expressed in a Kubernetes NetworkPolicy")

	n.Egress[0].Peer.Labels = nil
	_, err = Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.ErrorContains(t, err, "no labels for this network set")
}

func TestCIDRCollapseAndAnyPort(t *testing.T) {
	p := profile.Default()
	p.Aggregation.MaxCIDRs = 2
	n := &allowlist.Namespace{Namespace: "shop", Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"91.108.56.130/32", "149.154.166.110/32", "149.154.167.41/32", "2001:db8::1/128"}},
			Ports: []allowlist.PortEvidence{{Port: "TCP/443"}, {Port: "TCP/*"}, {Port: "UDP/443"}}},
	}}
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	rules := pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress[2:]
	// v4 and v6 never mix in one rule; TCP/* widens TCP to every port.
	require.Len(t, rules, 5)
	require.Equal(t, []string{"91.108.56.130/32", "149.154.166.0/23"}, rules[0].Destination.Nets)
	require.Equal(t, "TCP", rules[0].Protocol.String())
	require.Empty(t, rules[0].Destination.Ports)
	require.Equal(t, "UDP", rules[1].Protocol.String())
	require.Equal(t, []string{"2001:db8::1/128"}, rules[2].Destination.Nets)
	require.Equal(t, v3.Deny, rules[4].Action)
}

func TestSelectorDNSForm(t *testing.T) {
	p := profile.Default()
	p.DNS.Form = profile.DNSFormSelector
	n := &allowlist.Namespace{Namespace: "shop"}
	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	r := pol.Objects[0].(*v3.NetworkPolicy).Spec.Egress[0]
	require.Equal(t, "kubernetes.io/metadata.name == 'kube-system'", r.Destination.NamespaceSelector)
	require.Equal(t, "k8s-app == 'kube-dns'", r.Destination.Selector)
	k, err := Namespace(n, Options{Flavor: FlavorK8s, Profile: p})
	require.NoError(t, err)
	np := k.Objects[0].(*networkingv1.NetworkPolicy)
	require.Equal(t, map[string]string{"k8s-app": "kube-dns"}, np.Spec.Egress[0].To[0].PodSelector.MatchLabels)
}

func TestEncodersDeterministicAndParseable(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	pol, err := Namespace(s.Namespace("nextcloud"), Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	var a, b bytes.Buffer
	require.NoError(t, EncodeYAML(&a, Header("x"), Tier(p), pol.Objects[0]))
	require.NoError(t, EncodeYAML(&b, Header("x"), Tier(p), pol.Objects[0]))
	require.Equal(t, a.String(), b.String())
	require.True(t, strings.HasPrefix(a.String(), "# Generated by calico-plan from x."))
	require.NotContains(t, a.String(), "creationTimestamp")
	require.NotContains(t, a.String(), "source: {}")
	docs := strings.Split(a.String(), "\n---\n")
	require.Len(t, docs, 2)
	var np v3.NetworkPolicy
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), &np))
	require.Equal(t, pol.Objects[0].(*v3.NetworkPolicy).Spec, np.Spec)

	var j bytes.Buffer
	require.NoError(t, EncodeJSON(&j, Tier(p), pol.Objects[0]))
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(j.Bytes(), &list))
	require.Equal(t, "List", list.Kind)
	require.Len(t, list.Items, 2)
}
