package flows

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests on the real records in ../shared/samples from the module root (see
// its README), found by samplePath.

func TestSampleLinseedLegacyDocuments(t *testing.T) {
	data := sampleBytes(t, "ee-linseed-fv-flow_logs_legacy.subset.ndjson")
	d := decodeBytes(t, data, Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatEnterprise, d.st.Format)
	require.EqualValues(t, 8, d.st.Records)
	require.Zero(t, d.st.Bad)
	require.Len(t, d.flows, 8)

	// Line 1: level 2, dst-reported, service "-".
	require.Equal(t, Flow{
		Start: 1675468688, End: 1675469001,
		Source: Endpoint{Type: EndpointWorkload, NameAggr: "elastic-curator-27924480-*", Namespace: "tigera-elasticsearch",
			Labels: []string{"job-name=elastic-curator-27924480", "k8s-app=elastic-curator", "controller-uid=eb9af69a-7bb6-4618-baed-5a50097ee6c1"}},
		Dest: Endpoint{Type: EndpointWorkload, NameAggr: "coredns-565d847f94-*", Namespace: "kube-system",
			Labels: []string{"pod-template-hash=565d847f94", "k8s-app=kube-dns"}, Port: 53},
		Proto: ProtoUDP, Action: ActionAllow, Reporter: ReporterDst,
		Policies: Trace{
			Enforced: []PolicyHit{{Index: 0, Tier: "calico-system", Kind: KindCalicoNetworkPolicy, Namespace: "kube-system", Name: "cluster-dns", Action: ActionAllow, RuleIndex: 0}},
			Pending:  []PolicyHit{{Index: 0, Tier: "calico-system", Kind: KindCalicoNetworkPolicy, Namespace: "kube-system", Name: "cluster-dns", Action: ActionAllow, RuleIndex: 0}},
		},
		NumFlows: 54, Bytes: 7420 + 12910, Packets: 120,
	}, d.flows[0])

	// Line 4: src-reported, service filled.
	f := d.flows[3]
	require.Equal(t, Service{Namespace: "tigera-elasticsearch", Name: "tigera-secure-es-gateway-http", PortName: "es-gateway-elasticsearch-port", Port: 9200}, f.Service)
	require.Equal(t, uint16(5554), f.Dest.Port)
	require.Equal(t, ReporterSrc, f.Reporter)

	// Line 5: a net/pvt source with {"labels":[]} and a pass then a profile.
	f = d.flows[4]
	require.Equal(t, EndpointNetwork, f.Source.Type)
	require.Equal(t, "pvt", f.Source.NameAggr)
	require.Empty(t, f.Source.Namespace)
	require.NotNil(t, f.Source.Labels, "{\"labels\":[]} means collected, none")
	require.Empty(t, f.Source.Labels)
	want := []PolicyHit{
		{Index: 0, Tier: "calico-system", Kind: KindCalicoNetworkPolicy, Namespace: "kube-system", Name: "cluster-dns", Action: ActionPass, RuleIndex: 1},
		{Index: 1, Kind: KindProfile, Name: "kns.kube-system", Action: ActionAllow, RuleIndex: 0},
	}
	require.Equal(t, want, f.Policies.Enforced)
	require.Equal(t, want, f.Policies.Pending)
	require.False(t, f.Source.IP.IsValid())
	require.Zero(t, f.Source.Port)
}

func TestSampleFakeLogGeneratorAllPoliciesFallback(t *testing.T) {
	d := decodeBytes(t, sampleBytes(t, "ee-fake-log-generator-example-flows.subset.ndjson"), Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 8)
	require.Zero(t, d.st.Bad)
	profile := []PolicyHit{{Index: 0, Kind: KindProfile, Name: "kns.default", Action: ActionAllow, RuleIndex: 0}}
	for _, f := range d.flows {
		require.Nil(t, f.Policies.Enforced, "no enforced_policies key")
		require.Equal(t, profile, f.Policies.Pending, "only all_policies is present: it fills Pending")
	}

	// Line 1: egress to net/pub.
	f := d.flows[0]
	require.Equal(t, Endpoint{Type: EndpointWorkload, NameAggr: "frontend-755cdc7957-*", Namespace: "default",
		Labels: []string{"app=frontend", "pod-template-hash=755cdc7957"}}, f.Source)
	require.Equal(t, Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 80}, f.Dest)
	require.Equal(t, Service{}, f.Service)
	require.Nil(t, f.DestDomains)
	require.EqualValues(t, 2, f.NumFlows)
	require.EqualValues(t, 2540+763, f.Bytes)

	// Line 5 of the file (third here): net/pvt with dest_domains.
	f = d.flows[2]
	require.Equal(t, "pvt", f.Dest.NameAggr)
	require.Equal(t, []string{"frontend.default.svc.cluster.local"}, f.DestDomains)

	// Line 17 (seventh): dst-reported, named service port, port number.
	f = d.flows[6]
	require.Equal(t, Service{Namespace: "default", Name: "frontend", PortName: "http", Port: 80}, f.Service)
	require.Equal(t, uint16(8080), f.Dest.Port)
	require.Equal(t, ReporterDst, f.Reporter)
	require.EqualValues(t, 335698+6801924, f.Bytes)
}

func TestSampleObservabilityDeniedFlow(t *testing.T) {
	d := decodeBytes(t, sampleBytes(t, "ee-observability-clinic-denied-flow.ndjson"), Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
	f := d.flows[0]
	require.Equal(t, Endpoint{Type: EndpointWorkload, Name: "multitool", NameAggr: "multitool", Namespace: "default",
		Labels: []string{"run=multitool"}, IP: netip.MustParseAddr("10.48.116.157")}, f.Source)
	require.Equal(t, Endpoint{Type: EndpointWorkload, Name: "checkoutservice-598d5b586d-wsvmz", NameAggr: "checkoutservice-598d5b586d-*",
		Namespace: "hipstershop", Labels: []string{"app=checkoutservice", "pod-template-hash=598d5b586d", "tenant=hipstershop"},
		IP: netip.MustParseAddr("10.48.127.224"), Port: 5050}, f.Dest)
	require.Equal(t, Service{}, f.Service)
	require.Equal(t, ActionDeny, f.Action)
	require.Equal(t, ReporterDst, f.Reporter)
	require.Nil(t, f.DestDomains, "no dest_domains key")
	require.Nil(t, f.Policies.Enforced)
	// Listed out of order in the file; sorted by index here.
	require.Equal(t, []PolicyHit{
		{Index: 0, Tier: "security", Kind: KindGlobalNetworkPolicy, Name: "tenant-histershop", Action: ActionPass, RuleIndex: 0},
		{Index: 1, Tier: "app-hipstershop", Kind: KindCalicoNetworkPolicy, Namespace: "hipstershop", Name: "checkoutservice", Action: ActionDeny, RuleIndex: RuleEndOfTier},
	}, f.Policies.Pending)
	require.False(t, f.Policies.Pending[1].Staged())
	require.True(t, f.Policies.Pending[1].EndOfTier())
	require.EqualValues(t, 1, f.NumFlows)
	require.EqualValues(t, 300, f.Bytes)
	require.EqualValues(t, 5, f.Packets)
}

func TestSampleGoldmaneProtojson(t *testing.T) {
	d := decodeBytes(t, sampleBytes(t, "goldmane-flow-protojson-otlphttp-exporter-readme.json"), Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatGoldmane, d.st.Format)
	require.Zero(t, d.st.Bad)
	require.Len(t, d.flows, 1)
	hit := PolicyHit{Index: 0, Tier: "default", Kind: KindCalicoNetworkPolicy, Namespace: "longhorn-system", Name: "allow-same-namespace", Action: ActionAllow, RuleIndex: 0}
	require.Equal(t, Flow{
		Start: 1764970845, End: 1764970860,
		Source: Endpoint{Type: EndpointWorkload, NameAggr: "longhorn-manager-*", Namespace: "longhorn-system", Labels: []string{
			"app.kubernetes.io/instance=longhorn", "app.kubernetes.io/managed-by=Helm", "app.kubernetes.io/name=longhorn",
			"app.kubernetes.io/version=v1.8.1", "app=longhorn-manager", "controller-revision-hash=5bb8c89b95",
			"helm.sh/chart=longhorn-1.8.1", "longhorn.io/admission-webhook=long horn-admission-webhook",
			"longhorn.io/conversion-webhook=longhorn-conversion-webhook", "longhorn.io/recovery-backend=longhorn-recovery-backend",
			"pod-template-generation=2"}},
		// A pod without generateName: its aggregated name is its name.
		Dest: Endpoint{Type: EndpointWorkload, Name: "instance-manager-318f1eac2bc7c775b7a6d2e68e9e2800",
			NameAggr: "instance-manager-318f1eac2bc7c775b7a6d2e68e9e2800", Namespace: "longhorn-system", Labels: []string{
				"longhorn.io/component=instance-manager", "longhorn.io/data-engine=v1", "longhorn.io/instance-manager-image=imi-7d4dc4d4",
				"longhorn.io/instance-manager-type=aio", "longhorn.io/managed-by=longhorn-manager", "longhorn.io/node=k8s-worker-2"}, Port: 8503},
		Proto: ProtoTCP, Action: ActionAllow, Reporter: ReporterSrc,
		Policies: Trace{Enforced: []PolicyHit{hit}, Pending: []PolicyHit{hit}},
		// started 1 + live 1
		NumFlows: 1, Bytes: 957 + 1226, Packets: 11 + 14,
	}, d.flows[0])
}

func TestSampleFelixTruncatedLastLine(t *testing.T) {
	data := sampleBytes(t, "ee-felix-testdata-flows.ndjson")
	for _, workers := range []int{1, 2} {
		d := decodeBytes(t, data, Options{Workers: workers})
		require.NoError(t, d.err)
		require.Len(t, d.flows, 3)
		require.EqualValues(t, 3, d.st.Records)
		require.EqualValues(t, 1, d.st.Bad)
		require.Equal(t, map[string]int64{ReasonTruncatedLine: 1}, d.st.ByReason)
		p := d.st.Examples[0]
		require.Equal(t, "test", p.File)
		require.Equal(t, 4, p.Line)
		require.Equal(t, ReasonTruncatedLine, p.Reason)
		require.Contains(t, p.String(), "test:4: last line is incomplete")
	}
	d := decodeBytes(t, data, Options{})
	// 4-part strings: rule index unknown; all_policies is the only field.
	require.Equal(t, []PolicyHit{{Index: 1, Kind: KindProfile, Name: "kns.tigera-compliance", Action: ActionAllow, RuleIndex: RuleUnknown}}, d.flows[2].Policies.Pending)
	require.Equal(t, Service{}, d.flows[0].Service, "service keys absent")
	require.Equal(t, "intrusion-detection-controller-5bdcdd9c97-*", d.flows[0].Source.NameAggr)
	require.Equal(t, "tigera-intrusion-detection", d.flows[0].Source.Namespace)
	require.EqualValues(t, 41, d.flows[0].NumFlows)

	// Strict: the truncated line is the error.
	d = decodeBytes(t, data, Options{Strict: true})
	var de *DecodeError
	require.ErrorAs(t, d.err, &de)
	require.Equal(t, 4, de.Problem.Line)
	require.Len(t, d.flows, 3)
}

func TestSampleLinseedListResponse(t *testing.T) {
	d := decodeBytes(t, sampleBytes(t, "ee-ids-linseed-list-response.json"), Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatLinseedList, d.st.Format)
	require.Len(t, d.flows, 1)
	f := d.flows[0]
	require.Equal(t, Service{Namespace: "tigera-elasticsearch", Name: "tigera-secure-es-http", PortName: "https"}, f.Service)
	require.Equal(t, Endpoint{Type: EndpointWorkload, NameAggr: "calico-kube-controllers-5655748c58-*", Namespace: "calico-system",
		Labels: []string{"k8s-app=calico-kube-controllers", "pod-template-hash=5655748c58"}}, f.Source)
	require.Equal(t, "tigera-secure-es-7f5dee596fef130f-*", f.Dest.NameAggr)
	require.Len(t, f.Dest.Labels, 12)
	require.Equal(t, uint16(9200), f.Dest.Port)
	prof := []PolicyHit{{Index: 0, Kind: KindProfile, Name: "kns.calico-system", Action: ActionAllow, RuleIndex: RuleUnknown}}
	require.Equal(t, prof, f.Policies.Enforced)
	require.Equal(t, prof, f.Policies.Pending)
	require.Equal(t, int64(1615227904), f.Start)
	require.Equal(t, int64(1615228205), f.End)
	require.EqualValues(t, 3529+1730, f.Bytes)
	require.EqualValues(t, 39, f.Packets)
	require.Equal(t, ReporterSrc, f.Reporter)
}

func TestSampleDocsDatatypesIsNotJSON(t *testing.T) {
	data := sampleBytes(t, "ee-docs-datatypes-example.jsonish.txt")
	d := decodeBytes(t, data, Options{})
	require.NoError(t, d.err)
	require.Empty(t, d.flows)
	require.EqualValues(t, 1, d.st.Bad)
	p := d.st.Examples[0]
	// The trailing comma inside pending_policies: the ']' on line 44,
	// column 7, is where a value was expected.
	require.Equal(t, 44, p.Line)
	require.Equal(t, 7, p.Column)
	require.Equal(t, ReasonMalformedJSON, p.Reason)
	require.Equal(t, "test:44:7: invalid JSON: invalid character ']' looking for beginning of value; the rest of the input is skipped", p.String())

	d = decodeBytes(t, data, Options{Strict: true})
	var de *DecodeError
	require.ErrorAs(t, d.err, &de)
	require.Equal(t, 44, de.Problem.Line)
	require.Contains(t, d.err.Error(), "test:44:7:")

	// With the comma removed it is a pretty-printed document, with the
	// documentation's staged:-before-the-tier spelling.
	fixed := bytes.Replace(data, []byte(`deny|1",       `), []byte(`deny|1"`), 1)
	require.NotEqual(t, data, fixed)
	d = decodeBytes(t, fixed, Options{})
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad, "%v", d.st.Examples)
	require.Len(t, d.flows, 1)
	f := d.flows[0]
	require.Equal(t, netip.MustParseAddr("192.168.47.9"), f.Source.IP)
	require.Equal(t, uint16(42106), f.Source.Port)
	require.Equal(t, "access-6b687c8dcb-zn5s2", f.Source.Name)
	require.Equal(t, "nginx-86c57db685-h6792", f.Dest.Name)
	require.Equal(t, []PolicyHit{
		{Index: 0, Tier: "tier1", Kind: KindCalicoNetworkPolicy, Namespace: "ns1", Name: "policy1", Action: ActionPass, RuleIndex: 3},
		{Index: 1, Tier: "default", Kind: KindCalicoNetworkPolicy, Namespace: "policy-demo", Name: "access-nginx", Action: ActionAllow, RuleIndex: 2},
	}, f.Policies.Enforced)
	require.Equal(t, []PolicyHit{
		{Index: 0, Tier: "tier1", Kind: KindCalicoNetworkPolicy, Namespace: "ns1", Name: "policy1", Action: ActionPass, RuleIndex: 3},
		{Index: 1, Tier: "tier2", Kind: KindStagedNetworkPolicy, Namespace: "ns2", Name: "policy1", Action: ActionDeny, RuleIndex: 1},
	}, f.Policies.Pending)
	require.True(t, f.Policies.Pending[1].Staged())
}

// Every sample goes through auto-detection, serial and parallel, to the
// same result.
func TestSamplesSerialEqualsParallel(t *testing.T) {
	for _, name := range []string{
		"ee-linseed-fv-flow_logs_legacy.subset.ndjson", "ee-fake-log-generator-example-flows.subset.ndjson",
		"ee-observability-clinic-denied-flow.ndjson", "goldmane-flow-protojson-otlphttp-exporter-readme.json",
		"ee-felix-testdata-flows.ndjson", "ee-ids-linseed-list-response.json", "ee-docs-datatypes-example.jsonish.txt",
	} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(samplePath(t, name))
			require.NoError(t, err)
			defer f.Close()
			serial := decodeReader(t, f, name, Options{})
			require.NoError(t, serial.err)
			par := decodeBytes(t, sampleBytes(t, name), Options{Workers: 3})
			require.NoError(t, par.err)
			require.Equal(t, sortedFlowKeys(serial.flows), sortedFlowKeys(par.flows))
			require.Equal(t, serial.st.Bad, par.st.Bad)
			require.Equal(t, serial.st.Format, par.st.Format)
		})
	}
}
