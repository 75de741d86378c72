package goldmanepb

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The wire contract of Calico v3.30/v3.31 goldmane/proto/api.proto, as
// documented in shared/reference/flow-logs.md §4. A change here breaks
// compatibility with real Goldmane servers.
func TestFieldNumbers(t *testing.T) {
	want := map[protoreflect.ProtoMessage]map[string]protowire.Number{
		&FlowListRequest{}:   {"start_time_gte": 1, "start_time_lt": 2, "page": 3, "page_size": 4, "sort_by": 5, "filter": 6, "aggregation_interval": 7},
		&FlowListResult{}:    {"meta": 1, "flows": 2},
		&ListMetadata{}:      {"totalPages": 1, "totalResults": 2},
		&FlowStreamRequest{}: {"start_time_gte": 1, "filter": 2, "aggregation_interval": 3},
		&FlowResult{}:        {"id": 1, "flow": 2},
		&Filter{}: {"source_names": 1, "source_namespaces": 2, "dest_names": 3, "dest_namespaces": 4, "protocols": 5,
			"dest_ports": 6, "actions": 7, "policies": 8},
		&StringMatch{}: {"value": 1, "type": 2},
		&PortMatch{}:   {"port": 1},
		&SortOption{}:  {"sort_by": 1},
		&PolicyMatch{}: {"kind": 1, "tier": 2, "namespace": 3, "name": 4, "action": 5},
		&Flow{}: {"Key": 1, "start_time": 2, "end_time": 3, "source_labels": 4, "dest_labels": 5, "packets_in": 6,
			"packets_out": 7, "bytes_in": 8, "bytes_out": 9, "num_connections_started": 10, "num_connections_completed": 11,
			"num_connections_live": 12},
		&FlowKey{}: {"source_name": 1, "source_namespace": 2, "source_type": 3, "dest_name": 4, "dest_namespace": 5,
			"dest_type": 6, "dest_port": 7, "dest_service_name": 8, "dest_service_namespace": 9, "dest_service_port_name": 10,
			"dest_service_port": 11, "proto": 12, "reporter": 13, "action": 14, "policies": 15},
		&PolicyTrace{}: {"enforced_policies": 1, "pending_policies": 2},
		&PolicyHit{}: {"kind": 1, "namespace": 2, "name": 3, "tier": 4, "action": 5, "policy_index": 6, "rule_index": 7,
			"trigger": 8},
	}
	for m, fields := range want {
		md := m.ProtoReflect().Descriptor()
		require.Equal(t, protoreflect.FullName("goldmane."+string(md.Name())), md.FullName())
		require.Equal(t, len(fields), md.Fields().Len(), "%s has extra or missing fields", md.FullName())
		for name, num := range fields {
			fd := md.Fields().ByName(protoreflect.Name(name))
			require.NotNil(t, fd, "%s.%s", md.FullName(), name)
			require.Equal(t, num, fd.Number(), "%s.%s", md.FullName(), name)
		}
	}
	// PolicyMatch tier/namespace/name are strings in v3.31 (StringMatch in v3.32).
	pm := (&PolicyMatch{}).ProtoReflect().Descriptor().Fields()
	for _, n := range []protoreflect.Name{"tier", "namespace", "name"} {
		require.Equal(t, protoreflect.StringKind, pm.ByName(n).Kind())
	}
	require.Equal(t, "Key", (&Flow{}).ProtoReflect().Descriptor().Fields().ByNumber(1).JSONName())
}

func TestEnumValues(t *testing.T) {
	check := func(ed protoreflect.EnumDescriptor, want map[string]int32) {
		t.Helper()
		require.Equal(t, len(want), ed.Values().Len(), "%s", ed.FullName())
		for name, n := range want {
			v := ed.Values().ByName(protoreflect.Name(name))
			require.NotNil(t, v, "%s.%s", ed.FullName(), name)
			require.Equal(t, protoreflect.EnumNumber(n), v.Number(), "%s.%s", ed.FullName(), name)
		}
	}
	check(EndpointType(0).Descriptor(), map[string]int32{"EndpointTypeUnspecified": 0, "WorkloadEndpoint": 1, "HostEndpoint": 2, "NetworkSet": 3, "Network": 4})
	check(Reporter(0).Descriptor(), map[string]int32{"ReporterUnspecified": 0, "Src": 1, "Dst": 2})
	check(Action(0).Descriptor(), map[string]int32{"ActionUnspecified": 0, "Allow": 1, "Deny": 2, "Pass": 3})
	check(PolicyKind(0).Descriptor(), map[string]int32{
		"KindUnspecified": 0, "CalicoNetworkPolicy": 1, "GlobalNetworkPolicy": 2, "StagedNetworkPolicy": 3,
		"StagedGlobalNetworkPolicy": 4, "StagedKubernetesNetworkPolicy": 5, "NetworkPolicy": 6, "AdminNetworkPolicy": 7,
		"BaselineAdminNetworkPolicy": 8, "Profile": 9, "EndOfTier": 10, "ClusterNetworkPolicy": 11,
	})
	check(SortBy(0).Descriptor(), map[string]int32{"Time": 0, "DestName": 1, "DestNamespace": 2, "DestType": 3, "SourceName": 4, "SourceNamespace": 5, "SourceType": 6})
	check(MatchType(0).Descriptor(), map[string]int32{"Exact": 0, "Fuzzy": 1})
}

func TestMethodNames(t *testing.T) {
	require.Equal(t, "goldmane.Flows", Flows_ServiceDesc.ServiceName)
	require.Equal(t, "/goldmane.Flows/List", Flows_List_FullMethodName)
	require.Equal(t, "/goldmane.Flows/Stream", Flows_Stream_FullMethodName)
	require.True(t, Flows_ServiceDesc.Streams[0].ServerStreams)
	require.False(t, Flows_ServiceDesc.Streams[0].ClientStreams)
}

// A hand-encoded FlowKey (field 7 dest_port = 443, field 13 reporter = Src,
// field 3 source_type = Network) decodes into the right Go fields.
func TestDecodeHandEncoded(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, 4)
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	b = protowire.AppendVarint(b, 443)
	b = protowire.AppendTag(b, 13, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 12, protowire.BytesType)
	b = protowire.AppendString(b, "tcp")
	var k FlowKey
	require.NoError(t, proto.Unmarshal(b, &k))
	require.Equal(t, EndpointType_Network, k.SourceType)
	require.Equal(t, int64(443), k.DestPort)
	require.Equal(t, Reporter_Src, k.Reporter)
	require.Equal(t, "tcp", k.Proto)
}
