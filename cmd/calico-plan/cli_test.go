package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/check/policyfile"
)

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), isTerminal: func() bool { return false }}
	cmd := buildRoot(g)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errs, err := run(t, "", args...)
	require.NoError(t, err, "stderr: %s", errs)
	return out, errs
}

const demoFlows = "../../testdata/demo/flows.log.gz"
const demoNS = "../../testdata/demo/namespaces.yaml"

func observeDemo(t *testing.T) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "allowlists")
	_, errs := mustRun(t, "observe", "--store", store, "--from", demoFlows, "--namespaces", demoNS)
	require.Contains(t, errs, "ingested (enterprise, 4908 records")
	return store
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".calico-plan.lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

func TestCommittedDemoDatasetMatchesGenerator(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "generate", "--out", dir)
	gunzip := func(p string) string {
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		b, err := io.ReadAll(zr)
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, gunzip(demoFlows), gunzip(filepath.Join(dir, "flows.log.gz")), "regenerate with 'make demo-data'")
	require.Equal(t, gunzip("../../testdata/demo/kern.log.gz"), gunzip(filepath.Join(dir, "kern.log.gz")), "regenerate with 'make demo-data'")
	for _, f := range []string{"namespaces.yaml", "cluster.yaml", "pods.json"} {
		want, _ := os.ReadFile(filepath.Join("../../testdata/demo", f))
		got, _ := os.ReadFile(filepath.Join(dir, f))
		require.Equal(t, string(want), string(got), f)
	}
}

func TestObserveIsIdempotentAndDeterministic(t *testing.T) {
	store := observeDemo(t)
	first := readDir(t, store)
	require.Contains(t, first, "recruiter-responder.yaml")
	require.Contains(t, first["recruiter-responder.yaml"], "tier: 4-aux")
	require.Contains(t, first["recruiter-responder.yaml"], "tierSource: label")

	// Same input again: skipped, byte-identical store.
	_, errs := mustRun(t, "observe", "--store", store, "--from", demoFlows)
	require.Contains(t, errs, "already ingested")
	require.Equal(t, first, readDir(t, store))

	// The same content decompressed, through stdin: still recognised.
	f, err := os.Open(demoFlows)
	require.NoError(t, err)
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	f.Close()
	_, errs, err = run(t, string(plain), "observe", "--store", store, "--from", "-")
	require.NoError(t, err)
	require.Contains(t, errs, "<stdin>: already ingested")
	require.Equal(t, first, readDir(t, store))

	// A second store from the same input is byte-identical (paths aside).
	other := observeDemo(t)
	second := readDir(t, other)
	for name, content := range first {
		if name == "_store.yaml" {
			continue
		}
		require.Equal(t, content, second[name], name)
	}
}

func TestObserveGrowingFileResumes(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "generate", "--out", dir, "--gzip=false", "--days", "3")
	all, err := os.ReadFile(filepath.Join(dir, "flows.log"))
	require.NoError(t, err)
	live := filepath.Join(dir, "live.log")
	cut := len(all)/2 + 17 // mid-line: the last line is still being written
	require.NoError(t, os.WriteFile(live, all[:cut], 0o644))
	inc := filepath.Join(dir, "inc")
	_, errs := mustRun(t, "observe", "--store", inc, "--from", live)
	require.Contains(t, errs, "the last line is incomplete")
	require.NotRegexp(t, `bad records? skipped`, errs)
	require.NoError(t, os.WriteFile(live, all, 0o644))
	_, errs = mustRun(t, "observe", "--store", inc, "--from", live)
	require.Contains(t, errs, "resumed")

	whole := filepath.Join(dir, "whole")
	mustRun(t, "observe", "--store", whole, "--from", filepath.Join(dir, "flows.log"))
	a, b := readDir(t, inc), readDir(t, whole)
	for name := range b {
		if name != "_store.yaml" {
			require.Equal(t, b[name], a[name], name)
		}
	}
}

func TestObserveBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.log")
	good := `{"start_time":1700000000,"end_time":1700000300,"source_type":"wep","source_namespace":"shop","source_name_aggr":"api-*","dest_type":"net","dest_name_aggr":"pub","dest_namespace":"-","dest_port":443,"proto":"tcp","action":"allow","reporter":"src","num_flows":1}`
	content := good + "\n" + strings.Replace(good, `"dest_port":443`, `"dest_port":"abc"`, 1) + "\n{not json\n"
	require.NoError(t, os.WriteFile(bad, []byte(content), 0o644))
	store := filepath.Join(dir, "s")
	_, errs := mustRun(t, "observe", "--store", store, "--from", bad)
	require.Contains(t, errs, "2 bad records skipped")
	require.Contains(t, errs, "bad.log:2")
	require.Contains(t, errs, "dest_port")
	require.Contains(t, errs, "bad.log:3")

	strict := filepath.Join(dir, "strict")
	_, _, err := run(t, "", "observe", "--store", strict, "--from", bad, "--strict")
	require.Error(t, err)
	require.Contains(t, err.Error(), "bad.log:2")
	_, statErr := os.Stat(filepath.Join(strict, "shop.yaml"))
	require.True(t, os.IsNotExist(statErr), "strict failure leaves no partial store")

	_, _, err = run(t, "", "observe", "--store", store, "--from", filepath.Join(dir, "missing-*.log"))
	require.ErrorContains(t, err, "missing-*.log")
	_, _, err = run(t, "", "observe", "--store", store)
	require.ErrorContains(t, err, "--from")
}

func TestStatusOutputs(t *testing.T) {
	store := observeDemo(t)
	out, _ := mustRun(t, "status", "--store", store, "--now", "2026-11-27")
	require.Contains(t, out, "NAMESPACE")
	require.Contains(t, out, "recruiter-responder")
	require.Regexp(t, `n8n\s+4-aux\s+observe\s+Learning`, out)
	require.Regexp(t, `f1-stream\s+4-aux\s+observe\s+Stabilizing`, out)
	require.Regexp(t, `tasks\s+4-aux\s+observe\s+Stable`, out)
	require.NotContains(t, out, "is 2", "judged at --now: no staleness warning")

	js, _ := mustRun(t, "status", "--store", store, "-o", "json")
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(js), &rep))
	require.Len(t, rep.Namespaces, 17)
	states := map[string]string{}
	for _, n := range rep.Namespaces {
		states[n.Name] = n.State
	}
	require.Equal(t, "Stable", states["woodpecker"])
	require.Equal(t, "Learning", states["recruiter-responder"], "a new address appeared two days before the end")

	md, _ := mustRun(t, "status", "--store", store, "-o", "md")
	require.Contains(t, md, "| NAMESPACE | TIER |")
	_, _, err := run(t, "", "status", "--store", store, "-o", "xml")
	require.ErrorContains(t, err, `unknown output format "xml"`)

	// -n shows only the named namespaces; the header says of how many.
	out, _ = mustRun(t, "status", "--store", store, "--now", "2026-11-27", "-n", "n8n", "-n", "tasks")
	require.Contains(t, out, "2 of 17 namespaces shown")
	require.Regexp(t, `n8n\s+4-aux`, out)
	require.NotContains(t, out, "recruiter-responder")
	js, _ = mustRun(t, "status", "--store", store, "-n", "tasks", "-o", "json")
	rep = statusReport{}
	require.NoError(t, json.Unmarshal([]byte(js), &rep))
	require.Len(t, rep.Namespaces, 1)
	require.Equal(t, "tasks", rep.Namespaces[0].Name)
	_, _, err = run(t, "", "status", "--store", store, "-n", "taks")
	require.ErrorContains(t, err, `did you mean "tasks"?`)
}

func TestRenderCommand(t *testing.T) {
	store := observeDemo(t)
	out, errs := mustRun(t, "render", "--store", store, "--namespace", "tasks")
	require.Contains(t, out, "kind: Tier")
	require.Contains(t, out, "kind: NetworkPolicy")
	require.Contains(t, out, "name: egress-allowlist.tasks")
	require.Empty(t, errs)

	// Enforcing flavors refuse namespaces that are not Stable.
	_, errs, err := run(t, "", "render", "--store", store, "--namespace", "n8n")
	require.ErrorContains(t, err, "nothing rendered")
	require.Contains(t, errs, "n8n (Learning")
	staged, _ := mustRun(t, "render", "--store", store, "--namespace", "n8n", "--flavor", "calico-staged")
	require.Contains(t, staged, "kind: StagedNetworkPolicy")

	dir := t.TempDir()
	_, errs = mustRun(t, "render", "--store", store, "--all", "--flavor", "calico-staged", "--out", dir)
	require.Contains(t, errs, "skipping kube-system: excluded by the profile")
	files := readDir(t, dir)
	require.Contains(t, files, "_tier.yaml")
	require.Contains(t, files, "recruiter-responder.yaml")
	require.NotContains(t, files, "kube-system.yaml")
	require.True(t, strings.HasPrefix(files["n8n.yaml"], "# Generated by calico-plan from "))

	js, _ := mustRun(t, "render", "--store", store, "--namespace", "tasks", "-o", "json")
	var list struct {
		Kind  string `json:"kind"`
		Items []any  `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &list))
	require.Equal(t, "List", list.Kind)

	k8s, errs := mustRun(t, "render", "--store", store, "--namespace", "tasks", "--flavor", "k8s")
	require.Contains(t, k8s, "apiVersion: networking.k8s.io/v1")
	require.NotContains(t, k8s, "kind: Tier")
	require.Contains(t, errs, "order 1000")

	_, _, err = run(t, "", "render", "--store", store, "--namespace", "nope")
	require.ErrorContains(t, err, `namespace "nope" is not in the store`)
	_, _, err = run(t, "", "render", "--store", store)
	require.ErrorContains(t, err, "--namespace NS")
	_, _, err = run(t, "", "render", "--store", store, "--all", "--flavor", "cilium")
	require.ErrorContains(t, err, `unknown flavor "cilium"`)
}

func TestExplainCommand(t *testing.T) {
	store := observeDemo(t)
	out, _ := mustRun(t, "explain", "--store", store, "--namespace", "recruiter-responder")
	require.Contains(t, out, "state Learning")
	require.Contains(t, out, "namespace dbaas")
	require.Contains(t, out, "TCP/5432")
	require.Contains(t, out, "dbaas/pg-cluster-rw")
	require.Contains(t, out, "explicit default deny")
	require.Contains(t, out, "Denied egress")
	require.Contains(t, out, "9.9.9.9/32")
	require.Contains(t, out, "Would be denied by the staged policy")

	js, _ := mustRun(t, "explain", "--store", store, "--namespace", "tasks", "-o", "json")
	var ex explainReport
	require.NoError(t, json.Unmarshal([]byte(js), &ex))
	require.Equal(t, "egress-allowlist.tasks", ex.Policy)
	last := ex.Rules[len(ex.Rules)-1]
	require.Equal(t, "Deny", last.Action)
	var mysql *explainRule
	for i, r := range ex.Rules {
		if strings.Contains(r.Peer, "namespace dbaas") {
			mysql = &ex.Rules[i]
		}
	}
	require.NotNil(t, mysql)
	require.Equal(t, []string{"TCP/3306"}, mysql.Ports)
	require.Greater(t, mysql.Evidence.Flows, int64(0))
	require.Len(t, mysql.Evidence.Days, 14)

	md, _ := mustRun(t, "explain", "--store", store, "--namespace", "tasks", "-o", "md")
	require.Contains(t, md, "### Egress allowlist for `tasks`")
}

func TestProfileAndVersion(t *testing.T) {
	out, _ := mustRun(t, "profile")
	require.Contains(t, out, "labelKey: tier")
	require.Contains(t, out, "# ")
	eff, _ := mustRun(t, "profile", "--effective")
	require.Contains(t, eff, "labelKey: tier")
	require.NotContains(t, eff, "# ")

	bad := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("version: 1\ndnss: {}\n"), 0o644))
	_, _, err := run(t, "", "--config", bad, "profile", "--effective")
	require.ErrorContains(t, err, `p.yaml:2: dnss: unknown key`)

	v, _ := mustRun(t, "version")
	require.Contains(t, v, "calico-plan")
}

func TestHelpTeaches(t *testing.T) {
	for _, c := range []string{"observe", "status", "render", "explain", "profile", "generate"} {
		out, _ := mustRun(t, c, "--help")
		require.Contains(t, out, "Example", c)
	}
	out, _ := mustRun(t, "--help")
	require.Contains(t, out, "Exit codes")
}

func TestRenderHCL(t *testing.T) {
	store := observeDemo(t)
	out, _ := mustRun(t, "render", "--store", store, "--namespace", "tasks", "-o", "hcl")
	require.Contains(t, out, `resource "kubectl_manifest" "tier_egress_allowlist"`)
	require.Contains(t, out, `resource "kubectl_manifest" "egress_allowlist_tasks"`)
	require.Contains(t, out, "yaml_body = yamlencode({")
	objs, errs := policyfile.ReadHCL("out.tf", []byte(out))
	require.Empty(t, errs)
	require.Len(t, objs, 2, "the tier and the policy read back")

	manifest, _ := mustRun(t, "render", "--store", store, "--namespace", "tasks", "-o", "hcl", "--hcl-resource", "kubernetes_manifest")
	require.Contains(t, manifest, `resource "kubernetes_manifest" "egress_allowlist_tasks"`)

	k8s, _ := mustRun(t, "render", "--store", store, "--namespace", "tasks", "-o", "hcl", "--flavor", "k8s")
	require.Contains(t, k8s, `resource "kubernetes_network_policy_v1"`)
	require.NotContains(t, k8s, "kubectl_manifest")

	// Stack-per-service layout, with a namespace mapped to another stack.
	cfg := filepath.Join(t.TempDir(), "profile.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("version: 1\nterraform:\n  stackDirs: {tasks: todo-app}\n"), 0o644))
	dir := t.TempDir()
	_, errs2 := mustRun(t, "--config", cfg, "render", "--store", store, "--all", "--flavor", "calico-staged", "-o", "hcl", "--layout", "stacks", "--out", dir)
	require.Contains(t, errs2, "stack directories under")
	b, err := os.ReadFile(filepath.Join(dir, "todo-app", "egress_allowlist.tf"))
	require.NoError(t, err)
	require.Contains(t, string(b), "# Generated by calico-plan from ")
	require.Contains(t, string(b), `"StagedNetworkPolicy"`)
	_, err = os.Stat(filepath.Join(dir, "calico", "egress_allowlist_tier.tf"))
	require.NoError(t, err, "the Tier goes to the shared stack")
	_, err = os.Stat(filepath.Join(dir, "n8n", "egress_allowlist.tf"))
	require.NoError(t, err)

	_, _, err = run(t, "", "render", "--store", store, "--all", "--layout", "stacks")
	require.ErrorContains(t, err, "--out DIR")
	_, _, err = run(t, "", "render", "--store", store, "--all", "-o", "hcl", "--hcl-resource", "helm_release")
	require.ErrorContains(t, err, `unknown --hcl-resource "helm_release"`)
}

func TestRenderContinuesPastANamespaceThatCannotRender(t *testing.T) {
	store := observeDemo(t)
	dir := t.TempDir()
	_, _, err := run(t, "", "render", "--store", store, "--all", "--flavor", "k8s", "--out", dir, "--allow-unstable")
	require.Error(t, err)
	require.Contains(t, err.Error(), "1 namespaces could not be rendered")
	require.Contains(t, err.Error(), "servarr")
	files := readDir(t, dir)
	require.Contains(t, files, "tasks.yaml", "the other namespaces are still written")
	require.NotContains(t, files, "servarr.yaml")
}
