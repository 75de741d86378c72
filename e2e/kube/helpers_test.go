//go:build e2e

package kube

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mustCalicoPlan runs calico-plan and fails the test on a non-zero exit.
func mustCalicoPlan(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errs, err := calicoPlan(args...)
	require.NoError(t, err, "calico-plan %s\nstderr:\n%s", strings.Join(args, " "), errs)
	return out, errs
}

// mustKubectl runs kubectl as the admin and fails the test on error.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(env.srv.admin, args...)
	require.NoError(t, err, "kubectl %s\n%s", strings.Join(args, " "), out)
	return out
}

// copyStore copies the demo store into a new temporary directory.
func copyStore(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "allowlists")
	require.NoError(t, os.CopyFS(dst, os.DirFS(env.store)))
	return dst
}

// snapshot takes a snapshot of the live cluster as the admin.
func snapshot(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	mustCalicoPlan(t, "snapshot", "--kubeconfig", env.srv.admin, "--out", path)
	return path
}

// promoteForced moves a namespace through the given stages, with --force
// (the demo data ends before a staged period could pass), at fixed times.
func promoteForced(t *testing.T, store, snap, ns string, stages ...string) {
	t.Helper()
	for i, st := range stages {
		mustCalicoPlan(t, "promote", "--store", store, "--cluster", snap, "--namespace", ns, "--to", st,
			"--force", "--reason", "e2e", "--by", "e2e", "--now", "2026-11-2"+string(rune('5'+i))+"T00:00:00Z")
	}
}

var dryRunLine = regexp.MustCompile(`(?m)^(\S+) (created|configured|unchanged) \(server dry run\)$`)

// dryRunApply applies path with server-side dry run and strict field
// validation, and returns the objects the server accepted.
func dryRunApply(t *testing.T, path string) []string {
	t.Helper()
	out := mustKubectl(t, "apply", "--dry-run=server", "--validate=strict", "-f", path)
	var objs []string
	for _, m := range dryRunLine.FindAllStringSubmatch(out, -1) {
		objs = append(objs, m[1])
	}
	require.NotEmpty(t, objs, out)
	return objs
}

// namespaceLabels returns every namespace's labels.
func namespaceLabels(t *testing.T) map[string]map[string]string {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustKubectl(t, "get", "namespaces", "-o", "json")), &list))
	out := map[string]map[string]string{}
	for _, it := range list.Items {
		out[it.Metadata.Name] = it.Metadata.Labels
	}
	return out
}

// resourceVersions returns "kind/namespace/name" → resourceVersion for the
// given resources.
func resourceVersions(t *testing.T, resources string) map[string]string {
	t.Helper()
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace, ResourceVersion string
			} `json:"metadata"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustKubectl(t, "get", resources, "-A", "-o", "json")), &list))
	out := map[string]string{}
	for _, it := range list.Items {
		out[it.Kind+"/"+it.Metadata.Namespace+"/"+it.Metadata.Name] = it.Metadata.ResourceVersion
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runScript runs a _stages.sh as the README says, with the admin's
// kubeconfig as the kubectl flag and the e2e kubectl.
func runScript(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("sh", script, "--kubeconfig", env.srv.admin)
	cmd.Env = append(os.Environ(), "KUBECTL="+env.tools.kubectl)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sh %s\n%s", script, out)
	return string(out)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// restoreDemoCluster undoes what applying a rollout did: the calico-plan
// objects and stage labels go, the demo cluster's objects are applied again.
func restoreDemoCluster(t *testing.T) {
	t.Helper()
	mustKubectl(t, "delete", "-A", "-l", "app.kubernetes.io/managed-by=calico-plan", "--ignore-not-found",
		"tiers.projectcalico.org,stagednetworkpolicies.projectcalico.org,networkpolicies.projectcalico.org,networkpolicies.networking.k8s.io")
	mustKubectl(t, "label", "namespaces", "--all", "egress.calico-plan/stage-")
	mustKubectl(t, "apply", "-f", env.seed)
}
