package flows

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/sharedtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// encodeFlows is a set of flows exercising every field and hit kind.
func encodeFlows() []Flow {
	return []Flow{
		baseFlow,
		{
			Start: 1690000000, End: 1690000300,
			Source: Endpoint{Type: EndpointWorkload, Name: "web-6f7d-abcde", NameAggr: "web-6f7d-*", Namespace: "shop",
				Labels: []string{"app=web", `odd="quoted"\value`, "ünï=cödé"}, IP: netip.MustParseAddr("10.0.0.7"), Port: 51234},
			Dest: Endpoint{Type: EndpointWorkload, Name: "db-0", NameAggr: "db-0", Namespace: "data", Labels: nil,
				IP: netip.MustParseAddr("fd00::7"), Port: 5432},
			Service: Service{Namespace: "data", Name: "db", PortName: "*", Port: 5432},
			Proto:   Protocol(47), Action: ActionDeny, Reporter: ReporterDst,
			Policies: Trace{
				Enforced: []PolicyHit{
					hit("0|security|security.baseline|pass|3"),
					hit("1|app|data/app.db-ingress|deny|-1"),
				},
				Pending: []PolicyHit{
					hit("0|security|security.baseline|pass|3"),
					hit("1|app|data/app.staged:db-lockdown|allow|0"),
					hit("2|app|app.staged:global-lock|deny|1"),
					hit("3|default|data/knp.default.db-np|allow|2"),
					hit("4|default|data/staged:knp.default.db-snp|deny|-1"),
					hit("5|adminnetworkpolicy|kanp.adminnetworkpolicy.anp|pass|0"),
					hit("6|baselineadminnetworkpolicy|kbanp.baselineadminnetworkpolicy.default|deny|0"),
					hit("7|kube-admin|kcnp:cluster-pol|allow|1"),
					hit("8|app|eot:__NO_MATCH__|deny|-1"),
					hit("9|__PROFILE__|__PROFILE__.ksa.data.default|allow"),
				},
			},
			DestDomains: []string{"db.example.com", "db2.example.com"},
			NumFlows:    1, Bytes: 7, Packets: 1,
		},
		{ // Minimal: everything unknown or empty but the times (a record
			// without them is impossible).
			Start: 1700000000, End: 1700000000,
			Source: Endpoint{Labels: []string{}}, Dest: Endpoint{Type: EndpointHost, Name: "node-1", NameAggr: "node-1"},
		},
	}
}

func TestEnterpriseRoundTrip(t *testing.T) {
	flows := encodeFlows()
	// Plus every decodable sample record and a generated set.
	for _, name := range []string{"ee-linseed-fv-flow_logs_legacy.subset.ndjson", "ee-fake-log-generator-example-flows.subset.ndjson",
		"ee-observability-clinic-denied-flow.ndjson", "ee-ids-linseed-list-response.json", "ee-felix-testdata-flows.ndjson"} {
		if _, ok := sharedtest.Lookup(t, sharedtest.Samples, name); !ok {
			continue
		}
		flows = append(flows, decodeBytes(t, sampleBytes(t, name), Options{}).flows...)
	}
	flows = append(flows, decodeBytes(t, genEE(500, 13), Options{}).flows...)
	var buf bytes.Buffer
	for i := range flows {
		require.NoError(t, WriteEnterpriseJSON(&buf, &flows[i]))
	}
	require.True(t, bytes.HasSuffix(buf.Bytes(), []byte("\n")))
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		require.True(t, json.Valid([]byte(l)), l)
	}
	d := decodeBytes(t, buf.Bytes(), Options{})
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad, "%v", d.st.Examples)
	require.Equal(t, FormatEnterprise, d.st.Format)
	require.Len(t, d.flows, len(flows))
	for i := range flows {
		require.Equal(t, flows[i], d.flows[i], "flow %d", i)
	}
	// Deterministic.
	var again bytes.Buffer
	for i := range flows {
		require.NoError(t, WriteEnterpriseJSON(&again, &flows[i]))
	}
	require.Equal(t, buf.String(), again.String())
}

func TestLegacyTraceString(t *testing.T) {
	cases := map[string]PolicyHit{
		"0|t1|t1.gp|allow|0":                                         {Tier: "t1", Kind: KindGlobalNetworkPolicy, Name: "gp", Action: ActionAllow},
		"1|t1|ns/t1.np|deny|-1":                                      {Index: 1, Tier: "t1", Kind: KindCalicoNetworkPolicy, Namespace: "ns", Name: "np", Action: ActionDeny, RuleIndex: -1},
		"0|default|ns/knp.default.kp|allow|2":                        {Tier: "default", Kind: KindKubernetesNetworkPolicy, Namespace: "ns", Name: "kp", Action: ActionAllow, RuleIndex: 2},
		"0|t1|t1.staged:sgp|pass|0":                                  {Tier: "t1", Kind: KindStagedGlobalNetworkPolicy, Name: "sgp", Action: ActionPass},
		"0|t1|ns/t1.staged:snp|allow|0":                              {Tier: "t1", Kind: KindStagedNetworkPolicy, Namespace: "ns", Name: "snp", Action: ActionAllow},
		"0|default|ns/staged:knp.default.skp|deny|0":                 {Tier: "default", Kind: KindStagedKubernetesNetworkPolicy, Namespace: "ns", Name: "skp", Action: ActionDeny},
		"0|adminnetworkpolicy|kanp.adminnetworkpolicy.a|allow|0":     {Tier: "adminnetworkpolicy", Kind: KindAdminNetworkPolicy, Name: "a", Action: ActionAllow},
		"0|banp|kbanp.baselineadminnetworkpolicy.b|deny|0":           {Tier: "banp", Kind: KindBaselineAdminNetworkPolicy, Name: "b", Action: ActionDeny},
		"2|__PROFILE__|__PROFILE__.kns.shop|allow|0":                 {Index: 2, Kind: KindProfile, Name: "kns.shop", Action: ActionAllow},
		"0|__PROFILE__|__PROFILE__.kns.shop|allow|-2":                {Kind: KindProfile, Name: "kns.shop", Action: ActionAllow, RuleIndex: RuleUnknown},
		"0|kube-admin|kcnp:c|deny|1":                                 {Tier: "kube-admin", Kind: KindClusterNetworkPolicy, Name: "c", Action: ActionDeny, RuleIndex: 1},
		"3|t|eot:__NO_MATCH__|deny|-1":                               {Index: 3, Tier: "t", Kind: KindEndOfTier, Name: "__NO_MATCH__", Action: ActionDeny, RuleIndex: -1},
		"0|t|np:n|allow|0":                                           {Tier: "t", Kind: KindCalicoNetworkPolicy, Name: "n", Action: ActionAllow}, // no namespace: no legacy form
		"1|app|shop/app.staged:restrict|deny|-1":                     {Index: 1, Tier: "app", Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: -1, Trigger: &PolicyHit{Tier: "app", Kind: KindStagedNetworkPolicy, Namespace: "shop", Name: "restrict", Action: ActionAllow}},
		"1|app|shop/app.restrict|deny|-1":                            {Index: 1, Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: -1, Trigger: &PolicyHit{Tier: "app", Kind: KindCalicoNetworkPolicy, Namespace: "shop", Name: "restrict"}},
		"0|t|t.name.with.dots|allow|0":                               {Tier: "t", Kind: KindGlobalNetworkPolicy, Name: "name.with.dots", Action: ActionAllow},
		"0|baselineadminnetworkpolicy|kbanp:b|deny|0":                {Tier: "baselineadminnetworkpolicy", Kind: KindBaselineAdminNetworkPolicy, Namespace: "", Name: "b", Action: ActionDeny},
		"0|adminnetworkpolicy|kanp.adminnetworkpolicy.x.y|allow|0":   {Tier: "adminnetworkpolicy", Kind: KindAdminNetworkPolicy, Name: "x.y", Action: ActionAllow},
		"4|security|security.tenant-histershop|pass|0":               {Index: 4, Tier: "security", Kind: KindGlobalNetworkPolicy, Name: "tenant-histershop", Action: ActionPass},
		"0|namespace-isolation|curl-ns/namespace-isolation.x|pass|0": {Tier: "namespace-isolation", Kind: KindCalicoNetworkPolicy, Namespace: "curl-ns", Name: "x", Action: ActionPass},
	}
	for want, h := range cases {
		got, err := LegacyTraceString(h)
		if want == "0|baselineadminnetworkpolicy|kbanp:b|deny|0" {
			// The legacy spelling reads back; the gen-3 one is not needed.
			require.NoError(t, err)
			require.Equal(t, "0|baselineadminnetworkpolicy|kbanp.baselineadminnetworkpolicy.b|deny|0", got)
			continue
		}
		require.NoError(t, err, want)
		require.Equal(t, want, got)
	}
	for _, bad := range []PolicyHit{
		{Kind: KindGlobalNetworkPolicy, Name: "no-tier", Action: ActionAllow},
		{Tier: "t", Kind: KindGlobalNetworkPolicy, Name: "pipe|name", Action: ActionAllow},
		{Tier: "t", Kind: KindUnknown, Name: "x", Action: ActionAllow},
		{Tier: "t", Kind: KindGlobalNetworkPolicy, Name: "x"}, // no action
	} {
		_, err := LegacyTraceString(bad)
		require.Error(t, err, "%+v", bad)
		f := baseFlow
		f.Policies.Enforced = []PolicyHit{bad}
		require.Error(t, WriteEnterpriseJSON(&bytes.Buffer{}, &f))
	}
}

// goldmaneView is what survives a Goldmane encoding.
func goldmaneView(f Flow) Flow {
	f.Source.IP, f.Dest.IP, f.Source.Port = netip.Addr{}, netip.Addr{}, 0
	f.DestDomains = nil
	for _, e := range []*Endpoint{&f.Source, &f.Dest} {
		e.Name = ""
		goldmaneNames(e)
		if e.Labels == nil {
			e.Labels = []string{}
		}
	}
	return f
}

func TestGoldmaneRoundTrip(t *testing.T) {
	flows := encodeFlows()
	flows = append(flows, gmEmitterFullFlow)
	flows = append(flows, decodeBytes(t, genEE(300, 14), Options{}).flows...)
	for _, pj := range []bool{false, true} {
		var buf bytes.Buffer
		for i := range flows {
			require.NoError(t, WriteGoldmaneJSON(&buf, &flows[i], pj))
		}
		for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			require.True(t, json.Valid([]byte(l)), l)
			if pj {
				require.NotContains(t, l, `"source_name"`)
				require.NotContains(t, l, `"dest_type":`)
			} else {
				require.NotContains(t, l, `"sourceName"`)
			}
		}
		d := decodeBytes(t, buf.Bytes(), Options{})
		require.NoError(t, d.err)
		require.Zero(t, d.st.Bad, "%v", d.st.Examples)
		require.Equal(t, FormatGoldmane, d.st.Format)
		require.Len(t, d.flows, len(flows))
		for i := range flows {
			require.Equal(t, goldmaneView(flows[i]), d.flows[i], "flow %d protojson=%v", i, pj)
		}
	}
}

func TestEncodeGolden(t *testing.T) {
	var buf bytes.Buffer
	flows := encodeFlows()
	for i := range flows {
		require.NoError(t, WriteEnterpriseJSON(&buf, &flows[i]))
	}
	for i := range flows {
		require.NoError(t, WriteGoldmaneJSON(&buf, &flows[i], false))
	}
	for i := range flows {
		require.NoError(t, WriteGoldmaneJSON(&buf, &flows[i], true))
	}
	golden := filepath.Join("testdata", "encode.golden.ndjson")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./flows -run TestEncodeGolden -update")
	require.Equal(t, string(want), buf.String())
}

func TestAppendJSONString(t *testing.T) {
	s := "a\"b\\c\n\r\t\x01\x1f/<>&\u2028é\xff"
	b := appendJSONString(nil, s)
	require.Equal(t, `"a\"b\\c\n\r\t\u0001\u001f/<>&`+"\u2028"+`é\ufffd"`, string(b))
	var back string
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, strings.ToValidUTF8(s, "\uFFFD"), back)
}
