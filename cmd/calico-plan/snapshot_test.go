package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/calico-plan/calico-plan/internal/cluster"
)

// fakeLiveCluster makes the live cluster a fake one with the demo's
// namespaces n8n and nextcloud and the nextcloud-backup CronJob; react may
// add reactors. It returns how many times clients were built.
func fakeLiveCluster(t *testing.T, react func(*fake.Clientset)) *int {
	t.Helper()
	calls := 0
	old := newClusterClients
	t.Cleanup(func() { newClusterClients = old })
	newClusterClients = func(kubeconfig, context string) (cluster.Clients, error) {
		calls++
		cs := fake.NewClientset(
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n8n", Labels: map[string]string{"tier": "4-aux"}}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nextcloud", Labels: map[string]string{"tier": "3-edge"}}},
			&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "nextcloud", Name: "nextcloud-backup"}, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * 0"}},
		)
		if react != nil {
			react(cs)
		}
		return cluster.Clients{Kube: cs, Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), Host: "https://fake:6443"}, nil
	}
	return &calls
}

func TestSnapshotCommand(t *testing.T) {
	fakeLiveCluster(t, nil)
	out := filepath.Join(t.TempDir(), "cluster.yaml")
	_, errs := rolloutCLIOK(t, "snapshot", "--out", out, "--kubeconfig", "/dev/null")
	require.Contains(t, errs, out+": 2 namespaces, 1 CronJobs, 0 nodes, 0 NetworkPolicies, 0 Calico objects (no Calico API); read from cluster https://fake:6443")
	require.Contains(t, errs, "warning: could not check calico: neither projectcalico.org/v3")
	f, err := cluster.LoadSnapshot(out)
	require.NoError(t, err)
	require.Equal(t, []cluster.CronJob{{Namespace: "nextcloud", Name: "nextcloud-backup", Schedule: "0 3 * * 0", PodPattern: "nextcloud-backup-<unix-minutes>-*"}}, f.CronJobs)

	// Taking it again gives the same bytes.
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	stdout, _ := rolloutCLIOK(t, "snapshot", "--kubeconfig", "/dev/null")
	require.Equal(t, string(first), stdout)
}

func TestSnapshotCommandErrors(t *testing.T) {
	fakeLiveCluster(t, func(cs *fake.Clientset) {
		cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewUnauthorized("token has expired")
		})
	})
	_, _, err := rolloutCLI(t, "snapshot", "--kubeconfig", "/dev/null")
	require.ErrorContains(t, err, "kube: list namespaces on https://fake:6443: the API server rejected the credentials (expired or invalid token or certificate)")
}

func writeNamespaceList(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ns.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`apiVersion: v1
kind: NamespaceList
items:
- metadata: {name: n8n, labels: {tier: 4-aux}}
- metadata: {name: proxy, labels: {tier: 4-aux}}
`), 0o644))
	return p
}

func TestClusterFactsLoadingOrder(t *testing.T) {
	store, snap := rolloutDemo(t)
	nsFile := writeNamespaceList(t)
	calls := fakeLiveCluster(t, nil)

	// --cluster wins and is exclusive with --namespaces.
	_, _, err := rolloutCLI(t, "waves", "--store", store, "--cluster", snap, "--namespaces", nsFile)
	require.ErrorContains(t, err, "give --cluster FILE or --namespace-file FILE, not both")
	out, _ := rolloutCLIOK(t, "waves", "--store", store, "--cluster", snap, "--kubeconfig", "/dev/null")
	require.Contains(t, out, "cluster facts: snapshot "+snap)
	require.Zero(t, *calls, "a snapshot means no cluster access")

	// --namespaces: tiers known; without CronJob pods in its flows, the
	// namespace's CronJobs are unknown, for the operator to decide.
	out, errs := rolloutCLIOK(t, "waves", "--store", store, "--namespaces", nsFile, "-o", "md")
	require.Contains(t, errs, "warning: could not check cronjobs.batch: no CronJob facts: pass --cluster or a kubeconfig")
	require.Contains(t, out, "| proxy | observe | Stable | 2 | **cronjob-facts** (unknown): only a Namespace list was given, so proxy's CronJobs are not known")
	require.Contains(t, out, "Cluster facts: namespaces "+nsFile)

	// A kubeconfig: the live cluster.
	out, _ = rolloutCLIOK(t, "waves", "--store", store, "--kubeconfig", "/dev/null")
	require.Equal(t, 1, *calls)
	require.Contains(t, out, "cluster facts: cluster https://fake:6443")

	// Nothing: a note, tiers from the store (unassigned in this store).
	out, errs = rolloutCLIOK(t, "waves", "--store", store)
	require.Contains(t, errs, "note: no cluster facts (no --cluster, --namespace-file or kubeconfig)")
	require.Contains(t, out, "cluster facts: none")
	require.Equal(t, 1, *calls)
}

func TestLiveForbiddenCronJobsDegrade(t *testing.T) {
	store, _ := rolloutDemo(t)
	fakeLiveCluster(t, func(cs *fake.Clientset) {
		cs.PrependReactor("list", "cronjobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "", errors.New("RBAC"))
		})
	})
	out, errs := rolloutCLIOK(t, "waves", "--store", store, "--kubeconfig", "/dev/null", "-o", "md")
	require.Contains(t, errs, `warning: could not check cronjobs.batch: list cronjobs.batch is forbidden by RBAC (grant "list" on "cronjobs.batch" to check this) (CronJob gates (observe → staged) count as unmet)`)
	require.Contains(t, out, "**cronjob-facts**: list cronjobs.batch is forbidden by RBAC")
}

// snapshot --apply: the snapshot with the rollout applied offline, in
// which the staged policy of a staged namespace is deployed (the
// staged-deployed gate the snapshot before it leaves unmet); the same
// bytes every time; the ways to call it wrong.
func TestSnapshotApply(t *testing.T) {
	store, snap := rolloutDemo(t)
	cl := func(args ...string) []string { return append(args, "--store", store) }
	rolloutCLIOK(t, cl("promote", "--namespace", "proxy", "--to", "staged", "--by", "ci", "--now", "2026-11-28T08:00:00Z", "--reason", "wave 2", "--cluster", snap)...)
	dir := filepath.Join(t.TempDir(), "rollout")
	rolloutCLIOK(t, cl("render", "--rollout", "--cluster", snap, "--out", dir)...)

	unmet := func(facts string) []string {
		out, _ := rolloutCLIOK(t, cl("waves", "--cluster", facts, "--now", "2026-12-02T08:00:00Z", "-o", "json")...)
		var plan struct {
			Facts string `json:"facts"`
			Waves []struct {
				Namespaces []struct {
					Name       string
					UnmetGates []struct{ ID string } `json:"unmetGates"`
				} `json:"namespaces"`
			} `json:"waves"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &plan))
		for _, w := range plan.Waves {
			for _, n := range w.Namespaces {
				if n.Name == "proxy" {
					var ids []string
					for _, g := range n.UnmetGates {
						ids = append(ids, g.ID)
					}
					return ids
				}
			}
		}
		t.Fatal("proxy not in the plan")
		return nil
	}
	require.Contains(t, unmet(snap), "staged-deployed", "the snapshot predates the staged policy")

	after := filepath.Join(t.TempDir(), "after.yaml")
	_, errs := rolloutCLIOK(t, "snapshot", "--cluster", snap, "--apply", dir, "--out", after)
	require.Contains(t, errs, "apply: 1 replaced: GlobalNetworkPolicy wave1-egress-observe-tier34\n")
	require.Contains(t, errs, "apply: 2 added: StagedNetworkPolicy proxy/egress-allowlist.proxy, Tier egress-allowlist\n")
	require.Contains(t, errs, "apply: 1 labels set: proxy: egress.calico-plan/stage=staged\n")
	require.Contains(t, errs, after+": 20 namespaces, 1 CronJobs, 0 nodes, 0 NetworkPolicies, 3 Calico objects (no Calico API); PREDICTED: "+dir+" applied to snapshot "+snap+", not read from a cluster")
	require.NotContains(t, unmet(after), "staged-deployed")
	out, _ := rolloutCLIOK(t, cl("waves", "--cluster", after)...)
	require.Contains(t, out, "cluster facts: predicted snapshot "+after+"\n")

	first, err := os.ReadFile(after)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(first), "# calico-plan cluster snapshot, PREDICTED"))
	stdout, _ := rolloutCLIOK(t, "snapshot", "--cluster", snap, "--apply", dir)
	require.Equal(t, string(first), stdout, "the same input gives the same bytes")

	// Applied again to the prediction: nothing more to add.
	_, errs = rolloutCLIOK(t, "snapshot", "--cluster", after, "--apply", dir, "--out", after)
	require.Contains(t, errs, "apply: 3 replaced:")
	require.NotContains(t, errs, "added")
	require.NotContains(t, errs, "labels set")

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--apply", dir}, "--apply needs the facts to apply the files to: --cluster FILE"},
		{[]string{"--cluster", snap}, "--cluster FILE is the snapshot --apply applies files to"},
		{[]string{"--cluster", snap, "--apply", dir, "--context", "x"}, "not both"},
	} {
		_, _, err := rolloutCLI(t, append([]string{"snapshot"}, c.args...)...)
		require.ErrorContains(t, err, c.says, "%v", c.args)
	}
	broken := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("kind: [\n"), 0o644))
	out2 := filepath.Join(t.TempDir(), "never.yaml")
	_, _, err = rolloutCLI(t, "snapshot", "--cluster", snap, "--apply", dir, "--out", out2)
	require.ErrorContains(t, err, broken)
	require.NoFileExists(t, out2)
}

// --apply with --kubeconfig: the live cluster read, then the files
// applied; what the cluster cannot hold is said, not guessed.
func TestSnapshotApplyLive(t *testing.T) {
	fakeLiveCluster(t, nil)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "np.yaml"), []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: n8n}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: saas}
spec: {nets: [192.0.2.0/24]}
`), 0o644))
	out, errs := rolloutCLIOK(t, "snapshot", "--kubeconfig", "/dev/null", "--apply", dir)
	require.Contains(t, errs, "apply: 1 added: NetworkPolicy n8n/deny-egress")
	require.Contains(t, errs, "warning: not applied: GlobalNetworkSet saas ("+filepath.Join(dir, "np.yaml")+"): the snapshot has no Calico API")
	require.Contains(t, errs, "applied to cluster https://fake:6443, not read from a cluster")
	f, err := cluster.ParseSnapshot([]byte(out), "stdout")
	require.NoError(t, err)
	require.Len(t, f.NetworkPolicies, 1)
	require.Empty(t, f.CalicoObjects)
}
