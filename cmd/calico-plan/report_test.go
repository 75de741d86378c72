package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
)

const demoCluster = "../../testdata/demo/cluster.yaml"

// has asserts that the report holds sub, printing only sub when not.
func has(t *testing.T, report, sub string) {
	t.Helper()
	if !strings.Contains(report, sub) {
		t.Fatalf("the report lacks %q", sub)
	}
}

// gitRepo makes a git repository and returns a function running git in it.
func gitRepo(t *testing.T) (string, func(args ...string)) {
	t.Helper()
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("init", "-q", "-b", "main")
	return repo, git
}

// reviewedChange edits the demo store's tasks namespace as a pull request
// would: MySQL removed, Redis moved to another port.
func reviewedChange(t *testing.T, store string) {
	t.Helper()
	handEdit(t, store, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
		for i := range n.Egress {
			for j := range n.Egress[i].Ports {
				if n.Egress[i].Ports[j].Port == "TCP/6379" {
					n.Egress[i].Ports[j].Port = "TCP/6380"
				}
			}
		}
	})
}

// golden compares got with testdata/report/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "report", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/calico-plan -run TestReport -update")
	require.Equal(t, string(want), got, "%s differs (go test ./cmd/calico-plan -run TestReport -update rewrites it)", path)
}

func TestReportGoldenFromTheDemoStore(t *testing.T) {
	repo, git := gitRepo(t)
	store := filepath.Join(repo, "allowlists")
	mustRun(t, "observe", "--store", store, "--from", demoFlows, "--namespace-file", demoNS)
	git("add", "-A")
	git("commit", "-q", "-m", "observed")

	// Nothing changed, the demo traffic replays cleanly: exit 0.
	out, _, err := run(t, "", "report", "--store", store, "--base", "HEAD", "--from", demoFlows, "--cluster", demoCluster)
	require.NoError(t, err)
	has(t, out, "## calico-plan report: no changes\n")
	has(t, out, "The change touches no namespace's egress.")

	reviewedChange(t, store)
	args := []string{"report", "--store", store, "--base", "HEAD", "--from", demoFlows, "--cluster", demoCluster}
	norm := func(s string) string { return strings.ReplaceAll(s, store, "STORE") }
	for _, format := range []string{"md", "html"} {
		out, errs, err := run(t, "", append(args, "-o", format)...)
		require.Equal(t, exitProblems, exitCodeOf(err), "the change cuts observed traffic: %v %s", err, errs)
		golden(t, "demo."+format, norm(out))
		again, _, _ := run(t, "", append(args, "-o", format)...)
		require.Equal(t, out, again, "byte-identical for the same input")

		file := filepath.Join(t.TempDir(), "report."+format)
		_, errs, err = run(t, "", append(args, "-o", format, "--out", file)...)
		require.Equal(t, exitProblems, exitCodeOf(err))
		require.Contains(t, errs, "wrote "+file+": problems (exit 3)")
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, out, string(b))
	}

	md, _, _ := run(t, "", append(args, "-o", "md")...)
	has(t, md, "- **−** TCP/3306 to dbaas \\{app.kubernetes.io/name=mysql\\}: 225 flows, last seen 2026-11-27, 14 days — this change would cut them")
	has(t, md, "| observed allowed traffic the policies deny | **224** |")
	has(t, md, "```mermaid\nflowchart LR\n")
	has(t, md, "· removed\"| ")
	has(t, md, "#### Wave 2: tier 4-aux ✱")
	has(t, md, "| tasks ✱ | observe | Stable |")

	// Without flows there is no check: changes alone exit 2.
	out, _, err = run(t, "", "report", "--store", store, "--base", "HEAD")
	require.Equal(t, exitChanges, exitCodeOf(err))
	has(t, out, "## calico-plan report: changes (not checked)")
	has(t, out, "### Check: not run\n\nNo recorded flows given \\(--from\\)")
}

func TestReportAgainstCommittedFiles(t *testing.T) {
	store, pol := renderedDemo(t)
	out, _, err := run(t, "", "report", "--store", store, "--policies", pol, "--namespace-file", demoNS)
	require.NoError(t, err)
	has(t, out, "## calico-plan report: no changes (not checked)")

	reviewedChange(t, store)
	out, _, err = run(t, "", "report", "--store", store, "--policies", pol, "--namespace-file", demoNS, "--from", demoFlows)
	require.Equal(t, exitProblems, exitCodeOf(err))
	has(t, out, "| tasks | 1 | 2 | 0 |")
	has(t, out, "so edges are not marked as changed")
	require.NotContains(t, out, "· removed\"|", "no base store: no edge is marked")

	// The cluster's other policies are replayed with the rendered ones: a
	// file that does not parse is an error, and the report still comes.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: x}\nspec: {order: nope}\n"), 0o644))
	out, _, err = run(t, "", "report", "--store", store, "--policies", pol, "--from", demoFlows, "--cluster-policies", bad)
	require.Equal(t, exitError, exitCodeOf(err))
	has(t, out, "## calico-plan report: error")
	has(t, out, "#### Policy files\n\n- "+bad)
}

func TestReportFlagErrors(t *testing.T) {
	store := observeDemo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "give --policies PATH"},
		{[]string{"--base", "HEAD", "--policies", "x"}, "not both"},
		{[]string{"--base", "HEAD", "-o", "json"}, `unknown output format "json" (want md, html)`},
		{[]string{"--base", "HEAD", "--flavor", "nope"}, "nope"},
		{[]string{"--base", "HEAD", "--cluster", demoCluster, "--namespace-file", demoNS}, "not both"},
		{[]string{"--base", "HEAD", "--from", demoFlows, "--pods", "no-such-pods.json"}, "no-such-pods.json"},
		{[]string{"--base", "HEAD", "--from", "no-such-flows.log"}, "no-such-flows.log"},
	} {
		_, _, err := run(t, "", append([]string{"report", "--store", store}, tc.args...)...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
	// A store outside git: a bad ref is an error with nothing to report.
	out, _, err := run(t, "", "report", "--store", store, "--base", "HEAD")
	require.Equal(t, exitError, exitCodeOf(err))
	require.Empty(t, out)
}

// A kubeconfig the command was not pointed at is not read (as check and
// diff): a CI machine's ~/.kube/config does not change the report.
func TestReportReadsALiveClusterOnlyWhenAskedTo(t *testing.T) {
	store, pol := renderedDemo(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	t.Setenv("KUBECONFIG", kc)
	out, _, err := run(t, "", "report", "--store", store, "--policies", pol)
	require.NoError(t, err)
	has(t, out, "Cluster facts: none.")

	_, _, err = run(t, "", "report", "--store", store, "--policies", pol, "--kubeconfig", kc)
	require.Error(t, err, "pointed at it, the report reads the (unreachable) cluster")
}
