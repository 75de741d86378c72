//go:build e2e

package kube

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const stageLabel = "egress.calico-plan/stage"

// TestRolloutApplyKeepsNamespaceLabels applies render --rollout exactly as
// the README says (kubectl apply -f policies/ && sh policies/_stages.sh):
// every namespace keeps its other labels (the tier label the rollout plans
// by), the stage labels and policies are those of the store, applying
// again changes nothing, and after a rollback the enforced policy is gone.
func TestRolloutApplyKeepsNamespaceLabels(t *testing.T) {
	// Control: the form earlier versions wrote (a Namespace object with
	// only the stage label, _stage-labels.yaml) removes the tier label of
	// a namespace managed with kubectl apply. This is what the test below
	// would catch.
	dir := t.TempDir()
	ctl := filepath.Join(dir, "control-ns.yaml")
	writeFile(t, ctl, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-control\n  labels:\n    tier: 4-aux\n")
	mustKubectl(t, "apply", "-f", ctl)
	writeFile(t, ctl, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-control\n  labels:\n    "+stageLabel+": staged\n")
	mustKubectl(t, "apply", "-f", ctl)
	require.Equal(t, map[string]string{"kubernetes.io/metadata.name": "e2e-control", stageLabel: "staged"}, namespaceLabels(t)["e2e-control"],
		"a partial Namespace object applied removes the tier label")
	// (No namespace controller runs here, so it is not deleted; it stays
	// out of the comparisons below.)

	snap := snapshot(t)
	t.Cleanup(func() { restoreDemoCluster(t) })
	store := copyStore(t)
	promoteForced(t, store, snap, "recruiter-responder", "staged", "enforced")
	promoteForced(t, store, snap, "proxy", "staged")
	before := namespaceLabels(t)
	delete(before, "e2e-control")

	policies := filepath.Join(dir, "policies")
	apply := func() (string, string) {
		_, errs := mustCalicoPlan(t, "render", "--rollout", "--store", store, "--cluster", snap, "--out", policies)
		require.Contains(t, errs, "next: kubectl apply -f "+policies+" && sh "+filepath.Join(policies, "_stages.sh"))
		return mustKubectl(t, "apply", "-f", policies), runScript(t, filepath.Join(policies, "_stages.sh"))
	}
	applied, _ := apply()
	require.NotContains(t, applied, "namespace/", "no Namespace object is applied")

	after := namespaceLabels(t)
	delete(after, "e2e-control")
	want := map[string]map[string]string{}
	for ns, l := range before {
		want[ns] = maps.Clone(l)
		delete(want[ns], stageLabel)
	}
	want["recruiter-responder"][stageLabel] = "enforced"
	want["proxy"][stageLabel] = "staged"
	require.Equal(t, want, after, "only the stage labels changed")
	require.Equal(t, "4-aux", after["recruiter-responder"]["tier"])

	got := resourceVersions(t, "tiers.projectcalico.org,globalnetworkpolicies.projectcalico.org,networkpolicies.projectcalico.org,stagednetworkpolicies.projectcalico.org,networkpolicies.networking.k8s.io")
	require.Equal(t, []string{
		"GlobalNetworkPolicy//security.block-irc-and-dot", // the demo cluster's own
		"GlobalNetworkPolicy//wave1-egress-observe-tier34",
		"NetworkPolicy/recruiter-responder/egress-allowlist.recruiter-responder",
		"StagedNetworkPolicy/proxy/egress-allowlist.proxy",
		"Tier//egress-allowlist",
		"Tier//security",
	}, sortedKeys(got))

	// The plan reads the tiers from the labels, so nothing is "tier
	// unknown" after the apply, and the staged policy counts as deployed.
	waves, _ := mustCalicoPlan(t, "waves", "--store", store, "--kubeconfig", env.srv.admin)
	require.Contains(t, waves, "e2e-control: tier unknown", "the control namespace lost its tier")
	require.Equal(t, 1, strings.Count(waves, "tier unknown"), waves)
	require.NotContains(t, waves, "staged-deployed")

	// Applying the same output again is a no-op: no object changes.
	nsBefore := resourceVersions(t, "namespaces")
	require.Len(t, nsBefore, len(before)+1)
	applied, labelled := apply()
	for _, line := range strings.Split(strings.TrimSpace(applied), "\n") {
		require.True(t, strings.HasSuffix(line, " unchanged"), line)
	}
	require.NotContains(t, labelled, "namespace/recruiter-responder labeled")
	require.Contains(t, labelled, "namespace/recruiter-responder not labeled")
	require.Equal(t, got, resourceVersions(t, "tiers.projectcalico.org,globalnetworkpolicies.projectcalico.org,networkpolicies.projectcalico.org,stagednetworkpolicies.projectcalico.org,networkpolicies.networking.k8s.io"))
	require.Equal(t, nsBefore, resourceVersions(t, "namespaces"))

	// Roll recruiter-responder back to observe: the applied state drops its
	// enforced policy (kubectl apply alone would leave it), its label says
	// observe, and its tier label stays.
	mustCalicoPlan(t, "rollback", "--store", store, "--namespace", "recruiter-responder", "--to", "observe", "--reason", "e2e", "--by", "e2e", "--now", "2026-11-30T00:00:00Z")
	_, script := apply()
	require.Contains(t, script, `networkpolicy.projectcalico.org "egress-allowlist.recruiter-responder" deleted`)
	require.NoFileExists(t, filepath.Join(policies, "recruiter-responder.yaml"))
	require.Equal(t, []string{
		"GlobalNetworkPolicy//security.block-irc-and-dot",
		"GlobalNetworkPolicy//wave1-egress-observe-tier34",
		"StagedNetworkPolicy/proxy/egress-allowlist.proxy",
		"Tier//egress-allowlist",
		"Tier//security",
	}, sortedKeys(resourceVersions(t, "tiers.projectcalico.org,globalnetworkpolicies.projectcalico.org,networkpolicies.projectcalico.org,stagednetworkpolicies.projectcalico.org,networkpolicies.networking.k8s.io")))
	final := namespaceLabels(t)
	delete(final, "e2e-control")
	want["recruiter-responder"][stageLabel] = "observe"
	require.Equal(t, want, final)

	// The observe policy in the cluster now selects recruiter-responder
	// again (by its tier and its observe label) and still leaves proxy out.
	sel := mustKubectl(t, "get", "globalnetworkpolicies.projectcalico.org", "wave1-egress-observe-tier34", "-o", "jsonpath={.spec.namespaceSelector}")
	require.Equal(t, `tier in {"3-edge", "4-aux"} && `+stageLabel+` not in {"enforced", "staged"} && kubernetes.io/metadata.name not in {"proxy"}`, sel)
}
