package check

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// writeRollout writes the store's desired state as 'render --rollout --out'.
func writeRollout(t *testing.T, st *allowlist.Store) string {
	t.Helper()
	d, err := rollout.DesiredState(st, rollout.NewEnv(st, demo.Cluster(demo.DefaultOptions()), 0), rollout.DesiredOptions{})
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "rollout")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, u := range d.Units {
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header(""), u.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(dir, u.Name+".yaml"), b.Bytes(), 0o644))
	}
	return dir
}

// check checks exactly what will be applied: the rollout output on the
// cluster's existing policies. The rollout's observe policy replaces the
// cluster's (no duplicate), the cluster's security tier keeps denying IRC,
// and a stale calico-plan policy the rollout dropped is left out. Without
// the existing policies, the observe policy's allow-all rule would let the
// denied IRC traffic through: a problem.
func TestCheckRolloutOnExistingPolicies(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	st.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	dir := writeRollout(t, st)
	flowsPath := demoFlows(t)
	cfg := Config{Profile: p, NamespaceLabels: demoNamespaces()}

	alone := runCheck(t, flowsPath, cfg, dir)
	require.Equal(t, ExitProblems, alone.Summary.ExitCode)
	require.Positive(t, alone.Summary.AllowAll)
	var b strings.Builder
	require.NoError(t, WriteText(&b, alone))
	require.Contains(t, b.String(), "ALLOW-ALL: traffic denied today that an allow-all rule would let through")
	require.Contains(t, b.String(), "TCP/6667")

	// The snapshot as files beside the rollout: the observe policy twice.
	facts := demo.Cluster(demo.DefaultOptions())
	stale := cluster.CalicoObject{Kind: "NetworkPolicy", Namespace: "recruiter-responder", Name: "egress-allowlist.recruiter-responder",
		Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue},
		Spec:   map[string]any{"tier": "egress-allowlist", "order": 100.0, "selector": "all()", "types": []any{"Egress"}, "egress": []any{map[string]any{"action": "Deny"}}}}
	facts.CalicoObjects = append(facts.CalicoObjects, stale)

	pf := policyfile.Load([]string{dir}, nil)
	ex, err := WithExisting(pf, facts, p.Rollout.ObservePolicy.Name)
	require.NoError(t, err)
	require.Equal(t, []string{"GlobalNetworkPolicy " + p.Rollout.ObservePolicy.Name}, ex.Replaced)
	require.Equal(t, []string{"NetworkPolicy recruiter-responder/egress-allowlist.recruiter-responder"}, ex.Superseded)
	require.Equal(t, 3, ex.Objects, "network set, security tier and policy, none of them in the files")
	ins, err := flowsInputs(flowsPath)
	require.NoError(t, err)
	rep, err := Run(context.Background(), pf, ins, cfg)
	require.NoError(t, err)
	require.Empty(t, rep.Problems, "no duplicate objects")
	require.Zero(t, rep.Summary.NewlyAllowed, "the security tier still denies IRC and DNS over TLS")
	require.Zero(t, rep.Summary.WouldDeny)
	require.Equal(t, ExitOK, rep.Summary.ExitCode)
}
