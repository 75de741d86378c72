//go:build e2e

package kube

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/cluster"
)

// TestPredictedSnapshotEqualsTheCluster: 'snapshot --cluster FILE --apply
// DIR' predicts what a snapshot of the cluster gives after 'kubectl apply
// -f DIR && sh DIR/_stages.sh': the same namespaces and labels, policies,
// tiers and network sets, for a rollout that stages, enforces and (after a
// rollback) deletes. Only the header and 'predicted:' differ.
func TestPredictedSnapshotEqualsTheCluster(t *testing.T) {
	snap := snapshot(t)
	t.Cleanup(func() { restoreDemoCluster(t) })
	store := copyStore(t)
	promoteForced(t, store, snap, "recruiter-responder", "staged", "enforced")
	promoteForced(t, store, snap, "proxy", "staged")
	policies := filepath.Join(t.TempDir(), "policies")

	step := func(before string) string {
		t.Helper()
		mustCalicoPlan(t, "render", "--rollout", "--store", store, "--cluster", before, "--out", policies)
		predicted := filepath.Join(t.TempDir(), "predicted.yaml")
		mustCalicoPlan(t, "snapshot", "--cluster", before, "--apply", policies, "--out", predicted)
		mustKubectl(t, "apply", "-f", policies)
		runScript(t, filepath.Join(policies, "_stages.sh"))
		after := snapshot(t)

		p, err := cluster.LoadSnapshot(predicted)
		require.NoError(t, err)
		require.NotNil(t, p.Predicted)
		a, err := cluster.LoadSnapshot(after)
		require.NoError(t, err)
		require.Nil(t, a.Predicted)
		p.Predicted, p.Source, a.Source = nil, "", ""
		require.Equal(t, a, p, "the prediction is what the cluster then reports")
		return after
	}
	after := step(snap)
	f, err := cluster.LoadSnapshot(after)
	require.NoError(t, err)
	_, staged := f.CalicoObject("StagedNetworkPolicy", "proxy", "egress-allowlist.proxy")
	require.True(t, staged)

	// A rollback: _stages.sh deletes the enforced policy, the prediction
	// leaves it out.
	mustCalicoPlan(t, "rollback", "--store", store, "--namespace", "recruiter-responder", "--to", "observe", "--reason", "e2e", "--by", "e2e", "--now", "2026-11-30T00:00:00Z")
	after = step(after)
	f, err = cluster.LoadSnapshot(after)
	require.NoError(t, err)
	_, enforced := f.CalicoObject("NetworkPolicy", "recruiter-responder", "egress-allowlist.recruiter-responder")
	require.False(t, enforced)
}
