package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

func TestDomainRules(t *testing.T) {
	p := profile.Default()
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	// Enterprise flow records: the same public peer with dest_domains,
	// including a cluster-internal name that must be dropped, and one
	// public peer without domains.
	f := flows.Flow{Start: 1779444600, End: 1779444900, Proto: flows.ProtoTCP, Action: flows.ActionAllow, Reporter: flows.ReporterSrc, NumFlows: 2,
		Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "shop", NameAggr: "api-*"},
		Dest:   flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}}
	for _, c := range []struct {
		ip      string
		domains []string
	}{{"140.82.121.4", []string{"github.com", "api.github.com."}}, {"140.82.121.6", []string{"GitHub.com", "kubernetes.default.svc.cluster.local"}}} {
		g := f
		g.Dest.IP = mustAddr(c.ip)
		g.DestDomains = c.domains
		a.Add(&g)
	}
	g := f
	g.Dest.IP, g.Dest.Port = mustAddr("151.101.1.1"), 8443
	a.Add(&g)
	s, err := allowlist.Open(t.TempDir(), p)
	require.NoError(t, err)
	s.Apply(a)
	_, err = s.Render()
	require.NoError(t, err)
	n := s.Namespace("shop")
	var withDomains *allowlist.Entry
	for i := range n.Egress {
		if len(n.Egress[i].Domains) > 0 {
			withDomains = &n.Egress[i]
		}
	}
	require.NotNil(t, withDomains)
	require.Equal(t, []string{"api.github.com", "github.com"}, withDomains.Domains, "normalized, cluster names dropped")

	pol, err := Namespace(n, Options{Flavor: FlavorCalico, Profile: p, Domains: true})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, EncodeYAML(&buf, "", pol.Objects...))
	out := buf.String()
	require.Contains(t, out, "domains:\n      - api.github.com\n      - github.com")
	require.Contains(t, out, "calico-plan.io/observed-nets: public 140.82.121.4/32,140.82.121.6/32")
	require.Contains(t, out, "151.101.1.1/32", "an entry without domains keeps its addresses")
	require.True(t, strings.Contains(strings.Join(pol.Warnings, "\n"), "needs Calico Enterprise with DNS policy"))
	// The domain rule carries no nets.
	m := pol.Objects[0].(map[string]any)
	for _, r := range m["spec"].(map[string]any)["egress"].([]any) {
		d, _ := r.(map[string]any)["destination"].(map[string]any)
		if _, ok := d["domains"]; ok {
			require.NotContains(t, d, "nets")
			require.NotContains(t, d, "notNets")
			require.NotContains(t, d, "selector")
		}
	}
	// Without --domains nothing changes.
	pol, err = Namespace(n, Options{Flavor: FlavorCalico, Profile: p})
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, EncodeYAML(&buf, "", pol.Objects...))
	require.NotContains(t, buf.String(), "domains:")
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
