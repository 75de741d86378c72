package main

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
)

// exitCodeOf returns the process exit code main would give err.
func exitCodeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

// renderedDemo observes the demo dataset and renders every namespace's
// calico policy (Stable or not) into a directory; it returns the store and
// the directory.
func renderedDemo(t *testing.T) (string, string) {
	t.Helper()
	store := observeDemo(t)
	pol := filepath.Join(t.TempDir(), "policies")
	mustRun(t, "render", "--store", store, "--all", "--allow-unstable", "--flavor", "calico", "--out", pol)
	return store, pol
}

// handEdit edits a namespace file of the store as a reviewer would.
func handEdit(t *testing.T, store, ns string, edit func(*allowlist.Namespace)) {
	t.Helper()
	path := filepath.Join(store, ns+".yaml")
	n, err := allowlist.LoadNamespaceFile(path)
	require.NoError(t, err)
	edit(n)
	b, err := yaml.Marshal(n)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestCheckCommandOnTheDemo(t *testing.T) {
	_, pol := renderedDemo(t)
	out, errs, err := run(t, "", "check", "--policies", pol, "--flows", demoFlows, "--namespaces", demoNS)
	require.NoError(t, err, errs)
	require.Contains(t, out, "calico-plan check: 4908 flow records against 16 policies from 17 files; 48 probes in 16 namespaces")
	require.Contains(t, out, "0 would-deny, 0 unknown, 0 newly allowed; probes: 48 denied, 0 allowed, 0 unknown; 0 problems: ok (exit 0)")

	js, _, err := run(t, "", "check", "--policies", pol, "--flows", demoFlows, "-o", "json")
	require.NoError(t, err)
	var doc struct {
		Flows   []map[string]any `json:"flows"`
		Probes  []map[string]any `json:"probes"`
		Summary map[string]any   `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &doc))
	require.Len(t, doc.Flows, 4908)
	require.EqualValues(t, 0, doc.Summary["exitCode"])

	md, _, err := run(t, "", "check", "--policies", pol, "--flows", demoFlows, "-o", "md")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(md, "### calico-plan check: no problems\n"))

	// Flows from stdin, uncompressed.
	f, err := os.Open(demoFlows)
	require.NoError(t, err)
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	f.Close()
	out, _, err = run(t, string(plain), "check", "--policies", pol, "--flows", "-")
	require.NoError(t, err)
	require.Contains(t, out, "4908 flow records")
}

func TestCheckCommandExitCodes(t *testing.T) {
	store, pol := renderedDemo(t)
	handEdit(t, store, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})
	narrowed := filepath.Join(t.TempDir(), "narrowed")
	mustRun(t, "render", "--store", store, "--all", "--allow-unstable", "--out", narrowed)
	out, _, err := run(t, "", "check", "--policies", narrowed, "--flows", demoFlows, "--namespaces", demoNS)
	require.Equal(t, exitProblems, exitCodeOf(err))
	require.Contains(t, out, "WOULD DENY: observed allowed traffic the policies deny")
	require.Contains(t, out, "tasks/tasks-api-6a7b8-* -> dbaas/mysql-* TCP/3306")

	// An invalid file: reported, the rest evaluated, exit 1.
	require.NoError(t, os.WriteFile(filepath.Join(pol, "zz-bad.yaml"), []byte(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: bad, namespace: tasks}
spec: {selector: "app in {'a'", types: [Egress]}
`), 0o644))
	out, _, err = run(t, "", "check", "--policies", pol, "--flows", demoFlows)
	require.Equal(t, exitError, exitCodeOf(err))
	require.ErrorContains(t, err, "check: 1 policy file error (")
	require.Contains(t, out, "zz-bad.yaml:1: doc 0 (NetworkPolicy tasks/bad): spec.selector: invalid selector \"app in {'a'\" at position")
	require.Contains(t, out, "probes: 48 denied", "what loaded is still checked")

	// Usage errors.
	_, _, err = run(t, "", "check", "--flows", demoFlows)
	require.ErrorContains(t, err, "--policies is required")
	_, _, err = run(t, "", "check", "--policies", pol)
	require.ErrorContains(t, err, "--from or --from-store is required")
	_, _, err = run(t, "", "check", "--policies", pol, "--flows", "missing.log")
	require.ErrorContains(t, err, `input "missing.log" does not exist`)
	_, _, err = run(t, "", "check", "--policies", pol, "--flows", demoFlows, "-o", "xml")
	require.ErrorContains(t, err, `unknown output format "xml"`)
}

// check --from-store replays the store's evidence: the rendered
// policies pass, and removing an entry from the policy files makes its
// replayed flows would-deny (exit 3).
func TestCheckFlowsFromStore(t *testing.T) {
	store, pol := renderedDemo(t)
	out, errs, err := run(t, "", "check", "--store", store, "--policies", pol, "--from-store", "--namespaces", demoNS)
	require.NoError(t, err, errs)
	require.Contains(t, out, "flow records replayed from the store's evidence")
	require.Contains(t, out, "0 would-deny")

	// The committed policies lose tasks' MySQL rule; the store keeps it.
	handEdit(t, store, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})
	mustRun(t, "render", "--store", store, "--namespace", "tasks", "--allow-unstable", "--out", pol)
	orig := observeDemo(t)
	out, _, err = run(t, "", "check", "--store", orig, "--policies", pol, "--from-store", "--namespaces", demoNS)
	require.Equal(t, exitProblems, exitCodeOf(err), out)
	require.Regexp(t, `tasks/tasks-api-[^ ]+ -> dbaas/[^ ]+ TCP/3306: 1 records \(\d+ flows\)`, out)

	_, _, err = run(t, "", "check", "--store", store, "--policies", pol)
	require.ErrorContains(t, err, "--from or --from-store is required")
}
