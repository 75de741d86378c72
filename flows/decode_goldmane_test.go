package flows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// An emitter-encoded flow (encoding/json of the generated struct): snake
// case, enums as numbers, int64 as numbers, zero values omitted (the
// Profile hit has no policy_index, rule_index or tier).
const gmEmitterFull = `{"Key":{"source_name":"checkout-5d8f-*","source_namespace":"shop","source_type":1,` +
	`"dest_name":"payments-gw","dest_namespace":"-","dest_type":3,"dest_port":8443,` +
	`"dest_service_name":"payments","dest_service_namespace":"pay","dest_service_port_name":"https","dest_service_port":443,` +
	`"proto":"tcp","reporter":1,"action":2,"policies":{` +
	`"enforced_policies":[{"kind":9,"name":"kns.shop","action":1}],` +
	`"pending_policies":[` +
	`{"kind":10,"tier":"app","action":2,"policy_index":1,"rule_index":-1,"trigger":{"kind":3,"namespace":"shop","name":"restrict-egress","tier":"app","action":2,"rule_index":-1}},` +
	`{"kind":2,"name":"baseline","tier":"security","action":3,"rule_index":4}]}},` +
	`"start_time":1700000000,"end_time":1700000015,"source_labels":["app=checkout"],` +
	`"packets_in":3,"packets_out":4,"bytes_in":300,"bytes_out":400,` +
	`"num_connections_started":5,"num_connections_completed":2,"num_connections_live":7}`

var gmEmitterFullFlow = Flow{
	Start: 1700000000, End: 1700000015,
	Source: Endpoint{Type: EndpointWorkload, NameAggr: "checkout-5d8f-*", Namespace: "shop", Labels: []string{"app=checkout"}},
	// A NetworkSet: the aggregated name is the set's name.
	Dest:    Endpoint{Type: EndpointNetworkSet, Name: "payments-gw", NameAggr: "payments-gw", Labels: []string{}, Port: 8443},
	Service: Service{Namespace: "pay", Name: "payments", PortName: "https", Port: 443},
	Proto:   ProtoTCP, Action: ActionDeny, Reporter: ReporterSrc,
	Policies: Trace{
		Enforced: []PolicyHit{{Kind: KindProfile, Name: "kns.shop", Action: ActionAllow}},
		Pending: []PolicyHit{
			{Index: 0, Tier: "security", Kind: KindGlobalNetworkPolicy, Name: "baseline", Action: ActionPass, RuleIndex: 4},
			{Index: 1, Tier: "app", Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: RuleEndOfTier,
				Trigger: &PolicyHit{Tier: "app", Kind: KindStagedNetworkPolicy, Namespace: "shop", Name: "restrict-egress", Action: ActionDeny, RuleIndex: RuleEndOfTier}},
		},
	},
	NumFlows: 5, Bytes: 700, Packets: 7, // connections started; live ones repeat across buckets
}

func TestGoldmaneEmitterRecord(t *testing.T) {
	d := decodeString(t, lines(gmEmitterFull, gmEmitterFull), Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatGoldmane, d.st.Format)
	require.Len(t, d.flows, 2)
	require.Equal(t, gmEmitterFullFlow, d.flows[0])
	eot := d.flows[0].Policies.Pending[1]
	require.True(t, eot.EndOfTier())
	require.True(t, eot.Staged(), "a staged trigger: would hit the staged default deny")
	require.Equal(t, "restrict-egress", eot.Policy().Name)
}

func TestGoldmaneProtojsonRecord(t *testing.T) {
	in := `{"Key":{"sourceName":"checkout-5d8f-*","sourceNamespace":"shop","sourceType":"WorkloadEndpoint",` +
		`"destName":"payments-gw","destNamespace":"-","destType":"NetworkSet","destPort":"8443",` +
		`"destServiceName":"payments","destServiceNamespace":"pay","destServicePortName":"https","destServicePort":"443",` +
		`"proto":"tcp","reporter":"Src","action":"Deny","policies":{` +
		`"enforcedPolicies":[{"kind":"Profile","name":"kns.shop","action":"Allow"}],` +
		`"pendingPolicies":[{"kind":"GlobalNetworkPolicy","name":"baseline","tier":"security","action":"Pass","ruleIndex":"4"},` +
		`{"kind":"EndOfTier","tier":"app","action":"Deny","policyIndex":"1","ruleIndex":"-1","trigger":{"kind":"StagedNetworkPolicy","namespace":"shop","name":"restrict-egress","tier":"app","action":"Deny","ruleIndex":"-1"}}]}},` +
		`"startTime":"1700000000","endTime":"1700000015","sourceLabels":["app=checkout"],` +
		`"packetsIn":"3","packetsOut":"4","bytesIn":"300","bytesOut":"400",` +
		`"numConnectionsStarted":"5","numConnectionsCompleted":"2","numConnectionsLive":"7"}`
	// One per line, pretty-printed, and in an array: all the same flow.
	for _, doc := range []string{lines(in), prettyJSON(in), "[" + in + "," + gmEmitterFull + "]"} {
		d := decodeString(t, doc, Options{})
		require.NoError(t, d.err)
		require.Zero(t, d.st.Bad, "%v", d.st.Examples)
		require.Equal(t, FormatGoldmane, d.st.Format)
		for _, f := range d.flows {
			require.Equal(t, gmEmitterFullFlow, f)
		}
	}
}

func TestGoldmaneZeroValuesAndNames(t *testing.T) {
	// Everything omitted but the key and the times: zero values, empty
	// (not nil) labels.
	const times = `"start_time":1700000000,"end_time":1700000015`
	f := one(t, `{"Key":{"source_name":"x"},`+times+`}`)
	require.Equal(t, Flow{Start: 1700000000, End: 1700000015, Source: Endpoint{Name: "x", NameAggr: "x", Labels: []string{}}, Dest: Endpoint{Labels: []string{}}}, f)
	// Network peers keep Name empty; host endpoints carry their name.
	f = one(t, `{"Key":{"source_name":"node-1","source_type":2,"dest_name":"pvt","dest_type":"Network","dest_namespace":"-","dest_service_name":"-","dest_service_namespace":"-","dest_service_port_name":"-"},`+times+`}`)
	require.Equal(t, Endpoint{Type: EndpointHost, Name: "node-1", NameAggr: "node-1", Labels: []string{}}, f.Source)
	require.Equal(t, Endpoint{Type: EndpointNetwork, NameAggr: "pvt", Labels: []string{}}, f.Dest)
	require.Equal(t, Service{}, f.Service)
	// Enum numbers written as strings, v3.32's ClusterNetworkPolicy and the
	// pre-release names of 7/8.
	f = one(t, `{"Key":{"source_type":"1","policies":{"enforcedPolicies":[{"kind":11,"name":"c","tier":"kube-admin","action":"Deny"},`+
		`{"kind":"ClusterNetworkPolicyAdminTier","name":"a","policy_index":1},{"kind":"ClusterNetworkPolicyBaselineTier","name":"b","policyIndex":2}]}},`+times+`}`)
	require.Equal(t, EndpointWorkload, f.Source.Type)
	require.Equal(t, []PolicyKind{KindClusterNetworkPolicy, KindAdminNetworkPolicy, KindBaselineAdminNetworkPolicy},
		[]PolicyKind{f.Policies.Enforced[0].Kind, f.Policies.Enforced[1].Kind, f.Policies.Enforced[2].Kind})
	// Hits are sorted by policy index.
	f = one(t, `{"Key":{"policies":{"pending_policies":[{"kind":2,"name":"b","tier":"t","policy_index":1},{"kind":2,"name":"a","tier":"t"}]}},`+times+`}`)
	require.Equal(t, "a", f.Policies.Pending[0].Name)
	require.Nil(t, f.Policies.Enforced)
	// Null labels and a null trigger.
	f = one(t, `{"Key":{"policies":{"enforced_policies":[{"kind":2,"name":"a","tier":"t","trigger":null}]}},"source_labels":null,`+times+`}`)
	require.Nil(t, f.Policies.Enforced[0].Trigger)
	require.Equal(t, []string{}, f.Source.Labels)
}

func TestGoldmaneBadRecords(t *testing.T) {
	cases := []struct {
		in, field, reason, msg string
	}{
		{`{"Key":{"dest_type":7}}`, "Key.dest_type", ReasonUnknownEnum, "unknown EndpointType value 7"},
		{`{"Key":{"sourceType":"Pod"}}`, "Key.sourceType", ReasonUnknownEnum, `unknown EndpointType "Pod"`},
		{`{"Key":{"reporter":"Both"}}`, "Key.reporter", ReasonUnknownEnum, `unknown Reporter "Both"`},
		{`{"Key":{"action":9}}`, "Key.action", ReasonUnknownEnum, "unknown Action value 9"},
		{`{"Key":{"policies":{"pending_policies":[{"kind":2},{"kind":12}]}}}`, "Key.policies.pending_policies[1].kind", ReasonUnknownEnum, "unknown PolicyKind value 12"},
		{`{"Key":{"policies":{"enforcedPolicies":[{"kind":"FancyPolicy"}]}}}`, "Key.policies.enforced_policies[0].kind", ReasonUnknownEnum, `unknown PolicyKind "FancyPolicy"`},
		{`{"Key":{"policies":{"enforced_policies":[{"kind":10,"trigger":{"kind":2,"action":"Drop"}}]}}}`, "Key.policies.enforced_policies[0].trigger.action", ReasonUnknownEnum, `unknown Action "Drop"`},
		{`{"Key":{"destPort":"abc"}}`, "Key.destPort", ReasonWrongType, `want an integer, got string "abc"`},
		{`{"Key":{"dest_port":70000}}`, "Key.dest_port", ReasonBadValue, "out of range"},
		{`{"Key":{"dest_service_port":-1}}`, "Key.dest_service_port", ReasonBadValue, "out of range"},
		{`{"Key":{"proto":"quic"}}`, "Key.proto", ReasonUnknownEnum, `unknown protocol "quic"`},
		{`{"Key":{"source_name":5}}`, "Key.source_name", ReasonWrongType, "want a string, got number 5"},
		{`{"Key":{"policies":{"enforced_policies":[{"kind":2,"rule_index":-3}]}}}`, "Key.policies.enforced_policies[0].rule_index", ReasonBadValue, "rule index -3"},
		{`{"Key":{},"startTime":"yesterday"}`, "startTime", ReasonWrongType, "want an integer"},
		{`{"Key":{},"source_labels":"app=x"}`, "source_labels", ReasonWrongType, "want an array of strings"},
		{`{"Key":[]}`, "Key", ReasonWrongType, "want an object"},
		{`{"start_time":1}`, "", ReasonNotFlow, `no "Key" object`},
		{`{"id":"1","flow":{"Key":{"dest_type":99}}}`, "flow.Key.dest_type", ReasonUnknownEnum, "99"},
	}
	for _, c := range cases {
		t.Run(c.field+" "+c.in, func(t *testing.T) {
			p := onlyProblem(t, c.in+"\n", Options{Format: FormatGoldmane})
			require.Equal(t, c.field, p.Field)
			require.Equal(t, c.reason, p.Reason)
			require.Contains(t, p.Msg, c.msg)
			require.Equal(t, 1, p.Line)
		})
	}
	// Triggers nested beyond reason are rejected, not recursed forever.
	deep := `{"kind":2}`
	for i := 0; i < 20; i++ {
		deep = `{"kind":10,"trigger":` + deep + `}`
	}
	p := onlyProblem(t, `{"Key":{"policies":{"enforced_policies":[`+deep+`]}}}`+"\n", Options{Format: FormatGoldmane})
	require.Equal(t, ReasonBadValue, p.Reason)
	require.True(t, strings.HasSuffix(p.Field, ".trigger"))
}

func TestGoldmaneFlowResultWrapper(t *testing.T) {
	f := one(t, `{"id":"12","flow":`+gmEmitterFull+`}`)
	require.Equal(t, gmEmitterFullFlow, f)
}

// Found by FuzzDecodeGoldmane: an array of hits cut after a comma indexed
// past the end of the record.
func TestGoldmaneTruncatedHitArrayRegression(t *testing.T) {
	for _, in := range []string{
		`{"Key":{"policies":{"pending":[{"":0,"":0},`,
		`{"Key":{"policies":{"pending_policies":[`,
		`{"Key":{"policies":{"enforced_policies":[{"kind":2},   `,
	} {
		p := onlyProblem(t, in, Options{Format: FormatGoldmane})
		require.Equal(t, ReasonTruncatedLine, p.Reason, in)
		var e Flow
		require.NotNil(t, newGoldmaneDecoder().decode([]byte(in), &e))
		require.NotNil(t, newWhiskerDecoder().decode([]byte(`{"source_name":"a","policies":{"enforced":[{},`), &e))
	}
}
