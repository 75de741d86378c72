//go:build e2e

package kube

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/cluster"
)

// TestSnapshotReadsTheCluster: a snapshot of the live cluster has the demo
// cluster's facts (namespaces and labels, the CronJob, nodes and their
// addresses, the Calico objects through projectcalico.org/v3), nothing
// missing, and the same bytes when taken again.
func TestSnapshotReadsTheCluster(t *testing.T) {
	path := snapshot(t)
	live, err := cluster.LoadSnapshot(path)
	require.NoError(t, err)
	demo, err := cluster.LoadSnapshot(filepath.Join(env.root, "testdata/demo/cluster.yaml"))
	require.NoError(t, err)

	require.Empty(t, live.Missing)
	require.Equal(t, "projectcalico.org/v3", live.CalicoAPI)
	require.Equal(t, demo.CronJobs, live.CronJobs)
	require.Equal(t, demo.Nodes, live.Nodes)
	require.Equal(t, demo.CalicoObjects, live.CalicoObjects)
	got := map[string]map[string]string{}
	for _, n := range live.Namespaces {
		got[n.Name] = n.Labels
	}
	for _, n := range demo.Namespaces {
		require.Equal(t, n.Labels, got[n.Name], n.Name)
	}

	again := snapshot(t)
	require.Equal(t, readFile(t, path), readFile(t, again), "the same cluster state gives the same bytes")
}

// TestLiveEqualsSnapshot: waves, promote and render --rollout against the
// live API server give what the same commands give on the snapshot taken
// from it (output, store files, rendered files).
func TestLiveEqualsSnapshot(t *testing.T) {
	snap := snapshot(t)
	liveArgs := []string{"--kubeconfig", env.srv.admin}
	snapArgs := []string{"--cluster", snap}
	// The commands print their own flags in next-step hints, and where the
	// facts came from.
	// The table wraps long next-step commands as shell continuations, where
	// paths of other lengths break elsewhere: compare them unwrapped.
	unwrap := regexp.MustCompile(`[ \t]*\\\n[ \t]*`)
	replace := strings.NewReplacer("--kubeconfig "+env.srv.admin, "--cluster "+snap, "cluster "+env.srv.url, "snapshot "+snap).Replace
	norm := func(s string) string { return replace(unwrap.ReplaceAllString(s, " ")) }
	run := func(args []string, cluster []string) (string, string) {
		return mustCalicoPlan(t, append(append([]string{}, args...), cluster...)...)
	}

	for _, out := range []string{"table", "json", "md"} {
		args := []string{"waves", "--store", env.store, "-o", out}
		lo, le := run(args, liveArgs)
		so, se := run(args, snapArgs)
		require.Equal(t, unwrap.ReplaceAllString(so, " "), norm(lo), "waves -o %s", out)
		require.Equal(t, se, norm(le), "waves -o %s stderr", out)
		require.Contains(t, lo, "recruiter-responder")
	}

	// promote on two copies of the store, one with each source of facts.
	liveStore, snapStore := copyStore(t), copyStore(t)
	for _, ns := range []string{"recruiter-responder", "proxy"} {
		args := []string{"promote", "--namespace", ns, "--to", "staged", "--by", "e2e", "--reason", "e2e", "--now", "2026-11-28T08:00:00Z", "--force"}
		lo, le := run(append(args, "--store", liveStore), liveArgs)
		so, se := run(append(args, "--store", snapStore), snapArgs)
		require.Equal(t, so, strings.ReplaceAll(norm(lo), liveStore, snapStore), "promote %s", ns)
		require.Equal(t, se, strings.ReplaceAll(norm(le), liveStore, snapStore), "promote %s stderr", ns)
	}
	requireSameTree(t, liveStore, snapStore)
	promoteForced(t, liveStore, snap, "recruiter-responder", "enforced")

	for _, args := range [][]string{{"--rollout"}, {"--rollout", "--flavor", "k8s"}, {"--wave", "1"}, {"--rollout", "-o", "hcl"}} {
		base := append([]string{"render", "--store", liveStore}, args...)
		lo, le := run(base, liveArgs)
		so, se := run(base, snapArgs)
		require.Equal(t, so, lo, "render %v", args)
		require.Equal(t, se, norm(le), "render %v stderr", args)
		require.NotEmpty(t, lo)

		liveDir, snapDir := filepath.Join(t.TempDir(), "p"), filepath.Join(t.TempDir(), "p")
		run(append(base, "--out", liveDir), liveArgs)
		run(append(base, "--out", snapDir), snapArgs)
		requireSameTree(t, liveDir, snapDir)
	}
}

// requireSameTree requires two directories to hold the same files with the
// same bytes.
func requireSameTree(t *testing.T, a, b string) {
	t.Helper()
	files := func(root string) map[string]string {
		out := map[string]string{}
		require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = readFile(t, p)
			return nil
		}))
		return out
	}
	fa, fb := files(a), files(b)
	require.Equal(t, sortedKeys(fa), sortedKeys(fb))
	require.NotEmpty(t, fa)
	for name := range fa {
		require.Equal(t, fa[name], fb[name], name)
	}
}
