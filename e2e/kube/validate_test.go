//go:build e2e

package kube

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRenderedObjectsPassServerValidation applies every rendered object
// with --dry-run=server and strict field validation: every flavor for
// every namespace of the demo store, -o json, and the rollout output
// (render --rollout in both enforced flavors, render --wave N) with
// namespaces staged and enforced. Calico objects are validated through
// Calico's CRD schema served as projectcalico.org/v3 (see
// installCalicoCRDs): unknown or misspelt fields, wrong types and missing
// required fields fail; enums and selector syntax are not checked there.
func TestRenderedObjectsPassServerValidation(t *testing.T) {
	snap := snapshot(t)
	dir := t.TempDir()
	kinds := map[string]int{}
	total := 0
	count := func(what string, objs []string) {
		t.Logf("%s: %d objects accepted", what, len(objs))
		total += len(objs)
		for _, o := range objs {
			kinds[strings.SplitN(o, "/", 2)[0]]++
		}
	}
	for _, flavor := range []string{"calico", "calico-staged", "k8s"} {
		out := filepath.Join(dir, flavor)
		mustCalicoPlan(t, "render", "--store", env.store, "--all", "--flavor", flavor, "--allow-unstable", "--cluster", snap, "--out", out)
		objs := dryRunApply(t, out)
		count("render --all --flavor "+flavor, objs)
		// Every namespace of the store has its policy (the excluded
		// ones aside), with the Tier for the Calico flavors.
		nsObjs := 0
		for _, o := range objs {
			if strings.Contains(o, "networkpolic") {
				nsObjs++
			}
		}
		require.GreaterOrEqual(t, nsObjs, 15, "%s: %v", flavor, objs)
	}
	jsonOut, _ := mustCalicoPlan(t, "render", "--store", env.store, "--all", "--flavor", "calico", "--allow-unstable", "--cluster", snap, "-o", "json")
	jsonPath := filepath.Join(dir, "all.json")
	writeFile(t, jsonPath, jsonOut)
	count("render --all -o json", dryRunApply(t, jsonPath))

	store := copyStore(t)
	promoteForced(t, store, snap, "recruiter-responder", "staged", "enforced")
	promoteForced(t, store, snap, "proxy", "staged")
	promoteForced(t, store, snap, "n8n", "staged")
	for _, args := range [][]string{
		{"--rollout"},
		{"--rollout", "--flavor", "k8s"},
		{"--wave", "1"},
		{"--wave", "2"},
	} {
		out := filepath.Join(dir, strings.Join(args, ""))
		mustCalicoPlan(t, append([]string{"render", "--store", store, "--cluster", snap, "--out", out}, args...)...)
		objs := dryRunApply(t, out)
		count("render "+strings.Join(args, " "), objs)
		require.FileExists(t, filepath.Join(out, "_stages.sh"))
	}
	require.Positive(t, kinds["stagednetworkpolicy.projectcalico.org"])
	require.Positive(t, kinds["networkpolicy.projectcalico.org"])
	require.Positive(t, kinds["networkpolicy.networking.k8s.io"])
	require.Positive(t, kinds["globalnetworkpolicy.projectcalico.org"])
	require.Positive(t, kinds["tier.projectcalico.org"])
	t.Logf("objects validated by the API server: %d (%v)", total, kinds)

	// The validation can fail: the same policy with a misspelt field and
	// with a wrong type is rejected.
	good := readFile(t, filepath.Join(dir, "calico", "recruiter-responder.yaml"))
	for _, bad := range []struct{ from, to, want string }{
		{"  types:\n", "  typez:\n", `unknown field "spec.typez"`},
		{"  order: ", "  order: \"first\" # ", "spec.order"},
	} {
		require.Contains(t, good, bad.from)
		path := filepath.Join(dir, "bad.yaml")
		writeFile(t, path, strings.Replace(good, bad.from, bad.to, 1))
		out, err := kubectl(env.srv.admin, "apply", "--dry-run=server", "--validate=strict", "-f", path)
		require.Error(t, err, out)
		require.Contains(t, out, bad.want)
	}
}
