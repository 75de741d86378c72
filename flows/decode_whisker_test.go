package flows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A FlowResponse as whisker-backend renders it (apis/v1/flows.go): enum
// names, RFC 3339 times with the server's offset, labels joined with " | ",
// pub/pvt renamed.
const whiskerItem = `{"start_time":"2025-06-01T12:00:00+02:00","end_time":"2025-06-01T12:00:15+02:00","action":"Deny",` +
	`"source_name":"checkout-5d8f-*","source_namespace":"shop","source_labels":"app=checkout | pod-template-hash=5d8f",` +
	`"dest_name":"PUBLIC NETWORK","dest_namespace":"","dest_labels":"","protocol":"tcp","dest_port":443,"reporter":"Src",` +
	`"policies":{"enforced":[{"kind":"EndOfTier","name":"","namespace":"","tier":"app","action":"Deny","policy_index":0,"rule_index":-1,` +
	`"trigger":{"kind":"CalicoNetworkPolicy","name":"egress","namespace":"shop","tier":"app","action":"Allow","policy_index":0,"rule_index":0,"trigger":null}}],` +
	`"pending":[]},"packets_in":1,"packets_out":2,"bytes_in":30,"bytes_out":40}`

var whiskerItemFlow = Flow{
	Start: 1748772000, End: 1748772015,
	Source: Endpoint{Type: EndpointWorkload, NameAggr: "checkout-5d8f-*", Namespace: "shop", Labels: []string{"app=checkout", "pod-template-hash=5d8f"}},
	Dest:   Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 443},
	Proto:  ProtoTCP, Action: ActionDeny, Reporter: ReporterSrc,
	Policies: Trace{Enforced: []PolicyHit{{Tier: "app", Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: RuleEndOfTier,
		Trigger: &PolicyHit{Tier: "app", Kind: KindCalicoNetworkPolicy, Namespace: "shop", Name: "egress", Action: ActionAllow}}}},
	NumFlows: 1, Bytes: 70, Packets: 3,
}

func TestWhiskerList(t *testing.T) {
	doc := `{"total":{"totalPages":1},"items":[` + whiskerItem + `,` +
		strings.Replace(strings.Replace(whiskerItem, `"PUBLIC NETWORK"`, `"PRIVATE NETWORK"`, 1), `"source_namespace":"shop"`, `"source_namespace":"Global"`, 1) + `]}`
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatWhisker, d.st.Format)
	require.Len(t, d.flows, 2)
	require.Equal(t, whiskerItemFlow, d.flows[0])
	require.Equal(t, "pvt", d.flows[1].Dest.NameAggr)
	require.Equal(t, EndpointNetwork, d.flows[1].Dest.Type)
	// "Global" means no namespace, so no type can be inferred.
	require.Equal(t, Endpoint{Type: EndpointUnknown, Name: "checkout-5d8f-*", NameAggr: "checkout-5d8f-*",
		Labels: []string{"app=checkout", "pod-template-hash=5d8f"}}, d.flows[1].Source)
	require.Equal(t, []string{whiskerWarning}, d.st.Warnings, "one warning per input")
}

func TestWhiskerSSE(t *testing.T) {
	in := "retry: 1000\n\n" +
		"data: " + whiskerItem + "\n\n" +
		"event: flow\nid: 42\ndata:" + whiskerItem + "\r\n\r\n" +
		": keep-alive\n" +
		"error: goldmane unavailable\n\n" +
		"data: {\"start_time\":\"yesterday\",\"source_name\":\"a\"}\n\n" +
		"data: " + whiskerItem[:60] + "\n\n" +
		"garbage line\n" +
		"data: \n\n"
	for _, workers := range []int{1, 2} {
		d := decodeString(t, in, Options{Workers: workers})
		require.NoError(t, d.err)
		require.Equal(t, FormatWhiskerSSE, d.st.Format)
		require.Len(t, d.flows, 2)
		for _, f := range d.flows {
			require.Equal(t, whiskerItemFlow, f)
		}
		require.Equal(t, []string{whiskerWarning}, d.st.Warnings)
		require.EqualValues(t, 4, d.st.Bad)
		var got []string
		for _, p := range d.st.Examples {
			got = append(got, p.Reason+"|"+p.Field)
		}
		require.Equal(t, []string{
			ReasonStreamError + "|", ReasonBadValue + "|start_time", ReasonMalformedJSON + "|end_time", ReasonMalformedJSON + "|",
		}, got)
		require.Equal(t, 10, d.st.Examples[0].Line)
		require.Contains(t, d.st.Examples[0].Msg, "server sent error: goldmane unavailable")
		require.Equal(t, 12, d.st.Examples[1].Line)
		require.Equal(t, len("data: ")+len(`{"start_time":`)+1, d.st.Examples[1].Column, "column counts the data: prefix")
	}
}

func TestWhiskerBareRecordsAndErrors(t *testing.T) {
	d := decodeString(t, lines(whiskerItem, `{"start_time":"2025-06-01T12:00:00Z","protocol":"tcp"}`, strings.Replace(whiskerItem, `"Deny"`, `"Drop"`, 1)), Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatWhisker, d.st.Format)
	require.Len(t, d.flows, 1)
	require.Equal(t, ReasonNotFlow, d.st.Examples[0].Reason)
	require.Equal(t, "action", d.st.Examples[1].Field)
	require.Equal(t, ReasonUnknownEnum, d.st.Examples[1].Reason)
	// Labels as an array are accepted; epoch seconds too.
	f := one(t, strings.Replace(strings.Replace(whiskerItem, `"source_labels":"app=checkout | pod-template-hash=5d8f"`, `"source_labels":["a=b"]`, 1),
		`"start_time":"2025-06-01T12:00:00+02:00"`, `"start_time":1748772000`, 1))
	require.Equal(t, []string{"a=b"}, f.Source.Labels)
	require.Equal(t, int64(1748772000), f.Start)
}
