package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// render --namespace/--all --flavor k8s takes cluster facts: a network
// set peer renders as the set's CIDRs from the snapshot; without facts the
// namespace is refused with what to pass.
func TestRenderK8sWithClusterFacts(t *testing.T) {
	store := observeDemo(t)
	_, _, err := run(t, "", "render", "--store", store, "--namespace", "servarr", "--flavor", "k8s", "--allow-unstable")
	require.ErrorContains(t, err, "a Kubernetes NetworkPolicy cannot select a Calico network set; its CIDRs are needed (pass cluster facts that have the set: --cluster snapshot or a kubeconfig)")

	out, errs := mustRun(t, "render", "--store", store, "--namespace", "servarr", "--flavor", "k8s", "--allow-unstable", "--cluster", "../../testdata/demo/cluster.yaml")
	require.Contains(t, out, "kind: NetworkPolicy")
	require.Contains(t, out, "cidr: 81.171.92.0/24")
	require.Contains(t, out, "cidr: 94.75.253.0/24")
	require.NotContains(t, errs, "NOT RENDERED")

	out, _ = mustRun(t, "render", "--store", store, "--all", "--flavor", "k8s", "--allow-unstable", "--cluster", "../../testdata/demo/cluster.yaml")
	require.Contains(t, out, "cidr: 81.171.92.0/24")
}
