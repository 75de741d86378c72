package flows

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// A real Calico 3.30/3.31 Goldmane flow in protojson form (from the README of
// FredrickB/calico-flow-logs-otlphttp-exporter, also in
// shared/samples/goldmane-flow-protojson-otlphttp-exporter-readme.json).
const goldmaneProtojsonSample = `{
  "Key": {
    "sourceName": "longhorn-manager-*",
    "sourceNamespace": "longhorn-system",
    "sourceType": "WorkloadEndpoint",
    "destName": "instance-manager-318f1eac2bc7c775b7a6d2e68e9e2800",
    "destNamespace": "longhorn-system",
    "destType": "WorkloadEndpoint",
    "destPort": "8503",
    "destServiceName": "-",
    "destServiceNamespace": "-",
    "destServicePortName": "-",
    "proto": "tcp",
    "reporter": "Src",
    "action": "Allow",
    "policies": {
      "enforcedPolicies": [
        {"kind": "CalicoNetworkPolicy", "namespace": "longhorn-system", "name": "allow-same-namespace", "tier": "default", "action": "Allow"}
      ],
      "pendingPolicies": [
        {"kind": "CalicoNetworkPolicy", "namespace": "longhorn-system", "name": "allow-same-namespace", "tier": "default", "action": "Allow"}
      ]
    }
  },
  "startTime": "1764970845",
  "endTime": "1764970860",
  "sourceLabels": ["app=longhorn-manager", "longhorn.io/admission-webhook=long horn-admission-webhook"],
  "destLabels": ["longhorn.io/component=instance-manager"],
  "packetsIn": "11", "packetsOut": "14", "bytesIn": "957", "bytesOut": "1226",
  "numConnectionsStarted": "1", "numConnectionsCompleted": "1", "numConnectionsLive": "1"
}`

func podToPodFlow() *pb.Flow {
	return &pb.Flow{
		Key: &pb.FlowKey{
			SourceName: "api-7d9c5f-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
			DestName: "postgres-*", DestNamespace: "dbaas", DestType: pb.EndpointType_WorkloadEndpoint,
			DestPort:        5432,
			DestServiceName: "pg-cluster-rw", DestServiceNamespace: "dbaas", DestServicePortName: "postgres", DestServicePort: 5432,
			Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
			Policies: &pb.PolicyTrace{
				EnforcedPolicies: []*pb.PolicyHit{
					{Kind: pb.PolicyKind_Profile, Name: "kns.shop", Action: pb.Action_Allow, PolicyIndex: 1},
					{Kind: pb.PolicyKind_GlobalNetworkPolicy, Tier: "default", Name: "observe", Action: pb.Action_Pass, PolicyIndex: 0, RuleIndex: 1},
				},
			},
		},
		StartTime: 1700000000, EndTime: 1700000015,
		SourceLabels: []string{"app=api"}, DestLabels: []string{"cnpg.io/cluster=pg-cluster"},
		PacketsIn: 10, PacketsOut: 12, BytesIn: 1000, BytesOut: 2000,
		NumConnectionsStarted: 3, NumConnectionsCompleted: 2, NumConnectionsLive: 1,
	}
}

func TestFromGoldmane(t *testing.T) {
	tests := []struct {
		name  string
		build func() *pb.Flow
		want  func() *Flow
	}{
		{
			name:  "pod to pod through a service",
			build: podToPodFlow,
			want: func() *Flow {
				return &Flow{
					Start: 1700000000, End: 1700000015,
					Source:  Endpoint{Type: EndpointWorkload, NameAggr: "api-7d9c5f-*", Namespace: "shop", Labels: []string{"app=api"}},
					Dest:    Endpoint{Type: EndpointWorkload, NameAggr: "postgres-*", Namespace: "dbaas", Labels: []string{"cnpg.io/cluster=pg-cluster"}, Port: 5432},
					Service: Service{Namespace: "dbaas", Name: "pg-cluster-rw", PortName: "postgres", Port: 5432},
					Proto:   ProtoTCP, Action: ActionAllow, Reporter: ReporterSrc,
					Policies: Trace{Enforced: []PolicyHit{
						{Index: 0, Tier: "default", Kind: KindGlobalNetworkPolicy, Name: "observe", Action: ActionPass, RuleIndex: 1},
						{Index: 1, Kind: KindProfile, Name: "kns.shop", Action: ActionAllow},
					}},
					NumFlows: 3, Bytes: 3000, Packets: 22, // connections started, not live ones
				}
			},
		},
		{
			name: "pod to pub:443, no service, network has no labels",
			build: func() *pb.Flow {
				return &pb.Flow{
					Key: &pb.FlowKey{
						SourceName: "web-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
						DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 443,
						DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
						Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
					},
					StartTime: 1700000015, EndTime: 1700000030,
					SourceLabels:          []string{"app=web"},
					NumConnectionsStarted: 1, BytesOut: 10,
				}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000015, End: 1700000030,
					Source: Endpoint{Type: EndpointWorkload, NameAggr: "web-*", Namespace: "shop", Labels: []string{"app=web"}},
					Dest:   Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 443},
					Proto:  ProtoTCP, Action: ActionAllow, Reporter: ReporterSrc,
					NumFlows: 1, Bytes: 10,
				}
			},
		},
		{
			name: "pod to pvt:53 udp, empty namespace",
			build: func() *pb.Flow {
				return &pb.Flow{
					Key: &pb.FlowKey{
						SourceName: "web-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
						DestName: "pvt", DestType: pb.EndpointType_Network, DestPort: 53,
						DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
						Proto: "udp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
					},
					StartTime: 1700000001, EndTime: 1700000016, PacketsIn: 1, PacketsOut: 1,
				}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000001, End: 1700000016,
					Source: Endpoint{Type: EndpointWorkload, NameAggr: "web-*", Namespace: "shop", Labels: []string{}},
					Dest:   Endpoint{Type: EndpointNetwork, NameAggr: "pvt", Labels: []string{}, Port: 53},
					Proto:  ProtoUDP, Action: ActionAllow, Reporter: ReporterSrc, Packets: 2,
				}
			},
		},
		{
			name: "staged would-deny: pending end-of-tier hit with a staged trigger",
			build: func() *pb.Flow {
				return &pb.Flow{
					Key: &pb.FlowKey{
						SourceName: "worker-*", SourceNamespace: "jobs", SourceType: pb.EndpointType_WorkloadEndpoint,
						DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 6667,
						Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
						Policies: &pb.PolicyTrace{
							EnforcedPolicies: []*pb.PolicyHit{
								{Kind: pb.PolicyKind_GlobalNetworkPolicy, Tier: "default", Name: "wave1-egress-observe-tier34", Action: pb.Action_Allow, RuleIndex: 1},
							},
							PendingPolicies: []*pb.PolicyHit{
								{
									Kind: pb.PolicyKind_EndOfTier, Tier: "default", Action: pb.Action_Deny, PolicyIndex: 0, RuleIndex: -1,
									Trigger: &pb.PolicyHit{Kind: pb.PolicyKind_StagedNetworkPolicy, Namespace: "jobs", Name: "egress-allowlist", Tier: "default", Action: pb.Action_ActionUnspecified, RuleIndex: 0},
								},
							},
						},
					},
					StartTime: 1700000010, EndTime: 1700000025, NumConnectionsStarted: 2, NumConnectionsLive: 0,
				}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000010, End: 1700000025,
					Source: Endpoint{Type: EndpointWorkload, NameAggr: "worker-*", Namespace: "jobs", Labels: []string{}},
					Dest:   Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 6667},
					Proto:  ProtoTCP, Action: ActionAllow, Reporter: ReporterSrc,
					Policies: Trace{
						Enforced: []PolicyHit{{Tier: "default", Kind: KindGlobalNetworkPolicy, Name: "wave1-egress-observe-tier34", Action: ActionAllow, RuleIndex: 1}},
						Pending: []PolicyHit{{
							Tier: "default", Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: RuleEndOfTier,
							Trigger: &PolicyHit{Tier: "default", Kind: KindStagedNetworkPolicy, Namespace: "jobs", Name: "egress-allowlist"},
						}},
					},
					NumFlows: 2,
				}
			},
		},
		{
			name: "host endpoint and namespaced network set keep their names",
			build: func() *pb.Flow {
				return &pb.Flow{
					Key: &pb.FlowKey{
						SourceName: "node-1-eth0", SourceNamespace: "-", SourceType: pb.EndpointType_HostEndpoint,
						DestName: "telegram", DestNamespace: "bots", DestType: pb.EndpointType_NetworkSet, DestPort: 443,
						Proto: "6", Reporter: pb.Reporter_Src, Action: pb.Action_Deny,
					},
					StartTime: 1700000000, EndTime: 1700000015,
				}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000000, End: 1700000015,
					Source: Endpoint{Type: EndpointHost, Name: "node-1-eth0", NameAggr: "node-1-eth0", Labels: []string{}},
					Dest:   Endpoint{Type: EndpointNetworkSet, Name: "telegram", NameAggr: "telegram", Namespace: "bots", Labels: []string{}, Port: 443},
					Proto:  ProtoTCP, Action: ActionDeny, Reporter: ReporterSrc,
				}
			},
		},
		{
			name: "pod without generateName: the aggregated name is the pod name",
			build: func() *pb.Flow {
				return &pb.Flow{Key: &pb.FlowKey{
					SourceName: "-", SourceType: pb.EndpointType_Network,
					DestName: "instance-manager-318f", DestNamespace: "longhorn-system", DestType: pb.EndpointType_WorkloadEndpoint,
					DestPort: 8503, Proto: "tcp", Reporter: pb.Reporter_Dst, Action: pb.Action_Allow,
				}, StartTime: 1700000000, EndTime: 1700000015}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000000, End: 1700000015,
					Source: Endpoint{Type: EndpointNetwork, Labels: []string{}},
					Dest:   Endpoint{Type: EndpointWorkload, Name: "instance-manager-318f", NameAggr: "instance-manager-318f", Namespace: "longhorn-system", Labels: []string{}, Port: 8503},
					Proto:  ProtoTCP, Action: ActionAllow, Reporter: ReporterDst,
				}
			},
		},
		{
			name: "v3.32 ClusterNetworkPolicy kind maps",
			build: func() *pb.Flow {
				return &pb.Flow{Key: &pb.FlowKey{
					SourceType: pb.EndpointType_WorkloadEndpoint, SourceName: "a-*", DestType: pb.EndpointType_Network, DestName: "pub",
					Policies: &pb.PolicyTrace{EnforcedPolicies: []*pb.PolicyHit{{Kind: pb.PolicyKind_ClusterNetworkPolicy, Tier: "kube-admin", Name: "x", Action: pb.Action_Deny, RuleIndex: 1}}},
				}, StartTime: 1700000000, EndTime: 1700000015}
			},
			want: func() *Flow {
				return &Flow{
					Start: 1700000000, End: 1700000015,
					Source:   Endpoint{Type: EndpointWorkload, NameAggr: "a-*", Labels: []string{}},
					Dest:     Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}},
					Policies: Trace{Enforced: []PolicyHit{{Tier: "kube-admin", Kind: KindClusterNetworkPolicy, Name: "x", Action: ActionDeny, RuleIndex: 1}}},
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromGoldmane(tc.build())
			require.NoError(t, err)
			require.Equal(t, tc.want(), got)
			require.NotNil(t, got.Source.Labels, "Goldmane labels are always collected")
			require.NotNil(t, got.Dest.Labels, "Goldmane labels are always collected")
		})
	}
}

func TestFromGoldmaneStagedVerdictHelpers(t *testing.T) {
	f := &pb.Flow{Key: &pb.FlowKey{
		SourceType: pb.EndpointType_WorkloadEndpoint, SourceName: "w-*", DestType: pb.EndpointType_Network, DestName: "pub",
		Policies: &pb.PolicyTrace{PendingPolicies: []*pb.PolicyHit{{
			Kind: pb.PolicyKind_EndOfTier, Tier: "default", Action: pb.Action_Deny, RuleIndex: -1, PolicyIndex: 2,
			Trigger: &pb.PolicyHit{Kind: pb.PolicyKind_StagedGlobalNetworkPolicy, Tier: "default", Name: "deny-egress"},
		}}},
	}, StartTime: 1700000000, EndTime: 1700000015}
	got, err := FromGoldmane(f)
	require.NoError(t, err)
	h, ok := Verdict(got.Policies.Pending)
	require.True(t, ok)
	require.Equal(t, KindStagedGlobalNetworkPolicy, h.Kind, "the verdict names the trigger")
	require.Equal(t, ActionDeny, h.Action)
	require.True(t, got.Policies.Pending[0].Staged())
	require.True(t, got.Policies.Pending[0].EndOfTier())
	require.Equal(t, "2|default|sgnp:deny-egress|deny|-1", got.Policies.Pending[0].String())
}

func TestFromGoldmaneProtojsonSample(t *testing.T) {
	var f pb.Flow
	require.NoError(t, protojson.Unmarshal([]byte(goldmaneProtojsonSample), &f))
	got, err := FromGoldmane(&f)
	require.NoError(t, err)
	require.Equal(t, int64(1764970845), got.Start)
	require.Equal(t, int64(1764970860), got.End)
	require.Equal(t, Endpoint{Type: EndpointWorkload, NameAggr: "longhorn-manager-*", Namespace: "longhorn-system",
		Labels: []string{"app=longhorn-manager", "longhorn.io/admission-webhook=long horn-admission-webhook"}}, got.Source)
	require.Equal(t, "instance-manager-318f1eac2bc7c775b7a6d2e68e9e2800", got.Dest.Name)
	require.Equal(t, uint16(8503), got.Dest.Port)
	require.False(t, got.Service.Known(), `"-" service fields mean no service`)
	require.Equal(t, ProtoTCP, got.Proto)
	require.Equal(t, ReporterSrc, got.Reporter)
	require.Equal(t, []PolicyHit{{Tier: "default", Kind: KindCalicoNetworkPolicy, Namespace: "longhorn-system", Name: "allow-same-namespace", Action: ActionAllow}}, got.Policies.Enforced)
	require.Equal(t, got.Policies.Enforced, got.Policies.Pending)
	// One connection, started, completed and live in the same bucket:
	// counting started plus live would count it twice.
	require.Equal(t, int64(1), got.NumFlows, "connections started")
	require.Equal(t, int64(957+1226), got.Bytes)
	require.Equal(t, int64(25), got.Packets)
}

func TestFromGoldmaneErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *pb.Flow)
		field  string
		value  int64
		text   string
	}{
		{"unknown source type", func(f *pb.Flow) { f.Key.SourceType = 7 }, "Key.source_type", 7, ""},
		{"unknown dest type", func(f *pb.Flow) { f.Key.DestType = -1 }, "Key.dest_type", -1, ""},
		{"unknown reporter", func(f *pb.Flow) { f.Key.Reporter = 3 }, "Key.reporter", 3, ""},
		{"unknown action", func(f *pb.Flow) { f.Key.Action = 9 }, "Key.action", 9, ""},
		{"unknown policy kind", func(f *pb.Flow) { f.Key.Policies.EnforcedPolicies[1].Kind = 12 }, "Key.policies.enforced_policies[1].kind", 12, ""},
		{"unknown hit action", func(f *pb.Flow) { f.Key.Policies.EnforcedPolicies[0].Action = 4 }, "Key.policies.enforced_policies[0].action", 4, ""},
		{"unknown trigger kind", func(f *pb.Flow) {
			f.Key.Policies.PendingPolicies = []*pb.PolicyHit{{Kind: pb.PolicyKind_EndOfTier, Trigger: &pb.PolicyHit{Kind: 42}}}
		}, "Key.policies.pending_policies[0].trigger.kind", 42, ""},
		{"dest port out of range", func(f *pb.Flow) { f.Key.DestPort = 70000 }, "Key.dest_port", 70000, ""},
		{"service port negative", func(f *pb.Flow) { f.Key.DestServicePort = -5 }, "Key.dest_service_port", -5, ""},
		{"unknown protocol", func(f *pb.Flow) { f.Key.Proto = "quic" }, "Key.proto", 0, "quic"},
		{"missing key", func(f *pb.Flow) { f.Key = nil }, "Key", 0, "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := podToPodFlow()
			tc.mutate(f)
			got, err := FromGoldmane(f)
			require.Nil(t, got)
			var fe *GoldmaneFieldError
			require.True(t, errors.As(err, &fe), "want *GoldmaneFieldError, got %v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Equal(t, tc.value, fe.Value)
			require.Equal(t, tc.text, fe.Text)
			require.Contains(t, err.Error(), tc.field)
		})
	}
	_, err := FromGoldmane(nil)
	require.Error(t, err)
}

func TestFillFromGoldmaneReusesDestination(t *testing.T) {
	var dst Flow
	require.NoError(t, FillFromGoldmane(&dst, podToPodFlow()))
	require.Len(t, dst.Policies.Enforced, 2)
	// A second, smaller flow must not leave anything of the first behind.
	require.NoError(t, FillFromGoldmane(&dst, &pb.Flow{Key: &pb.FlowKey{DestType: pb.EndpointType_Network, DestName: "pub"}, StartTime: 1700000000, EndTime: 1700000015}))
	require.Equal(t, Flow{
		Start: 1700000000, End: 1700000015,
		Source: Endpoint{Labels: []string{}},
		Dest:   Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}},
	}, dst)
}

func BenchmarkFillFromGoldmane(b *testing.B) {
	f := podToPodFlow()
	var dst Flow
	b.ReportAllocs()
	for b.Loop() {
		if err := FillFromGoldmane(&dst, f); err != nil {
			b.Fatal(err)
		}
	}
}
