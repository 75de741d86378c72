package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
)

func sampleFacts() *Facts {
	f := New()
	f.CalicoAPI = CalicoAPIServer
	f.Namespaces = []Namespace{
		{Name: "nextcloud", Labels: map[string]string{"tier": "3-edge", "kubernetes.io/metadata.name": "nextcloud"}},
		{Name: "n8n", Labels: map[string]string{"tier": "4-aux", "kubernetes.io/metadata.name": "n8n"}},
	}
	f.CronJobs = []CronJob{{Namespace: "nextcloud", Name: "nextcloud-backup", Schedule: "0 3 * * 0", PodPattern: PodPatternFor("nextcloud-backup")}}
	f.Nodes = []Node{{Name: "k8s-node-1", InternalIPs: []string{"10.0.20.11"}}}
	f.NetworkPolicies = []NetworkPolicy{{Namespace: "calico-system", Name: "whisker", Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress"}}}}
	f.CalicoObjects = []CalicoObject{{Kind: "GlobalNetworkPolicy", Name: "wave1-egress-observe-tier34", Spec: map[string]any{
		"order": 2000.0, "namespaceSelector": `tier in {"3-edge", "4-aux"}`, "egress": []any{map[string]any{"action": "Log"}, map[string]any{"action": "Allow"}},
	}}}
	f.Missing = []Missing{{Resource: ResourceNodes, Reason: "forbidden", Affects: AffectsOf(ResourceNodes)}}
	return f
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := sampleFacts()
	b, err := MarshalSnapshot(f)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "# calico-plan cluster snapshot"))
	require.Contains(t, string(b), "kind: ClusterSnapshot\n")
	require.Contains(t, string(b), "version: 1\n")

	path := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	got, err := LoadSnapshot(path)
	require.NoError(t, err)
	require.Equal(t, "snapshot "+path, got.Source)
	got.Source = ""
	f.Normalize()
	require.Equal(t, f, got)

	again, err := MarshalSnapshot(got)
	require.NoError(t, err)
	require.Equal(t, string(b), string(again), "deterministic: same facts, same bytes")

	// List order does not change the bytes.
	f2 := sampleFacts()
	f2.Namespaces[0], f2.Namespaces[1] = f2.Namespaces[1], f2.Namespaces[0]
	b2, err := MarshalSnapshot(f2)
	require.NoError(t, err)
	require.Equal(t, string(b), string(b2))
}

func TestSnapshotErrors(t *testing.T) {
	good, err := MarshalSnapshot(sampleFacts())
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		doc  string
		want string
	}{
		"unknown field":        {strings.Replace(string(good), "calicoAPI:", "colour: blue\ncalicoAPI:", 1), `unknown field "colour"`},
		"unknown nested field": {strings.Replace(string(good), "  podPattern:", "  podPatern: x\n  podPattern:", 1), `unknown field "podPatern"`},
		"newer version":        {strings.Replace(string(good), "version: 1\n", "version: 2\n", 1), "snapshot version 2 was written by a newer calico-plan (this build reads version 1)"},
		"namespace list":       {"apiVersion: v1\nkind: NamespaceList\nitems: []\n", "pass it with --namespace-file"},
		"not a snapshot":       {"foo: bar\n", `kind "" is not ClusterSnapshot`},
		"bad schedule":         {strings.Replace(string(good), "0 3 * * 0", "0 3 * *", 1), "cronJobs[0] (nextcloud/nextcloud-backup): schedule"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSnapshot([]byte(tc.doc), "cluster.yaml")
			require.Error(t, err)
			require.Contains(t, err.Error(), "cluster.yaml: ")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
