package check

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

var managed = map[string]string{render.ManagedByLabel: render.ManagedByValue}

// applyFacts: two namespaces, the observe policy and a security tier, an
// enforced calico-plan policy in b and another team's NetworkPolicy in a.
func applyFacts(observe string) *cluster.Facts {
	f := cluster.New()
	f.Source = "snapshot cluster.yaml"
	f.CalicoAPI = cluster.CalicoAPIServer
	f.Namespaces = []cluster.Namespace{
		{Name: "b", Labels: map[string]string{"kubernetes.io/metadata.name": "b", "tier": "4-aux"}},
		{Name: "a", Labels: map[string]string{"kubernetes.io/metadata.name": "a", "tier": "4-aux"}},
	}
	f.CalicoObjects = []cluster.CalicoObject{
		{Kind: "Tier", Name: "security", Spec: map[string]any{"order": 100.0}},
		{Kind: "GlobalNetworkPolicy", Name: observe, Spec: map[string]any{"selector": "all()", "egress": []any{map[string]any{"action": "Allow"}}}},
		{Kind: "NetworkPolicy", Namespace: "b", Name: "egress-allowlist.b", Labels: managed, Spec: map[string]any{"tier": "egress-allowlist", "selector": "all()"}},
	}
	f.NetworkPolicies = []cluster.NetworkPolicy{{Namespace: "a", Name: "team-np"}}
	f.CronJobs = []cluster.CronJob{{Namespace: "a", Name: "backup", Schedule: "0 3 * * 0", PodPattern: cluster.PodPatternFor("backup")}}
	return f
}

func applyRollout(observe string) map[string]string {
	return map[string]string{
		"_observe-policy.yaml": `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: ` + observe + `
  labels: {app.kubernetes.io/managed-by: calico-plan}
spec:
  selector: all()
  namespaceSelector: egress.calico-plan/stage not in {"enforced", "staged"}
  order: 2000
  types: [Egress]
  egress: [{action: Log}, {action: Allow}]
`,
		"_tier.yaml": `apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: egress-allowlist
  labels: {app.kubernetes.io/managed-by: calico-plan}
spec: {order: 500, defaultAction: Deny}
`,
		"a.yaml": `apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: egress-allowlist.a
  namespace: a
  labels: {app.kubernetes.io/managed-by: calico-plan}
spec:
  tier: egress-allowlist
  order: 100
  selector: all()
  types: [Egress]
  egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
`,
		"_stages.sh": `set -eu
kubectl=${KUBECTL:-kubectl}
"$kubectl" "$@" label namespace a egress.calico-plan/stage=staged --overwrite
"$kubectl" "$@" label namespace b egress.calico-plan/stage=observe --overwrite
"$kubectl" "$@" delete --ignore-not-found -n a networkpolicies.projectcalico.org/egress-allowlist.a
`,
	}
}

// The files applied as kubectl apply and _stages.sh would: the observe
// policy replaced, the tier and staged policy added, b's calico-plan
// policy the rollout no longer has left out (as check --existing leaves it
// out), the security tier and another team's policy kept, the stage
// labels set beside the namespaces' other labels; CronJobs untouched.
func TestApplyFiles(t *testing.T) {
	observe := config.Default().Rollout.ObservePolicy.Name
	f := applyFacts(observe)
	before, err := cluster.MarshalSnapshot(f)
	require.NoError(t, err)
	dir := writeFiles(t, applyRollout(observe))

	res, err := ApplyFiles(f, []string{dir}, observe)
	require.NoError(t, err)
	require.Equal(t, []string{"GlobalNetworkPolicy " + observe}, res.Replaced)
	require.Equal(t, []string{"NetworkPolicy b/egress-allowlist.b"}, res.Superseded)
	require.Equal(t, []string{"StagedNetworkPolicy a/egress-allowlist.a", "Tier egress-allowlist"}, res.Added)
	require.Equal(t, 2, res.Objects, "the security tier and team-np")
	require.Equal(t, []string{"a: egress.calico-plan/stage=staged", "b: egress.calico-plan/stage=observe"}, res.Labels)
	require.Empty(t, res.NotApplied)

	got := res.Facts
	require.Equal(t, &cluster.Prediction{From: "snapshot cluster.yaml", Applied: []string{dir}}, got.Predicted)
	var names []string
	for _, o := range got.CalicoObjects {
		names = append(names, objectID(o.Kind, o.Namespace, o.Name))
	}
	require.Equal(t, []string{"GlobalNetworkPolicy " + observe, "StagedNetworkPolicy a/egress-allowlist.a", "Tier egress-allowlist", "Tier security"}, names)
	gnp, ok := got.CalicoObject("GlobalNetworkPolicy", "", observe)
	require.True(t, ok)
	require.Equal(t, `egress.calico-plan/stage not in {"enforced", "staged"}`, gnp.Spec["namespaceSelector"], "the file's spec replaced the snapshot's")
	require.Equal(t, managed, gnp.Labels)
	snp, _ := got.CalicoObject("StagedNetworkPolicy", "a", "egress-allowlist.a")
	require.Equal(t, 100.0, snp.Spec["order"], "numbers as a snapshot reads them back")
	require.Equal(t, []cluster.NetworkPolicy{{Namespace: "a", Name: "team-np"}}, got.NetworkPolicies)
	a, _ := got.Namespace("a")
	require.Equal(t, map[string]string{"kubernetes.io/metadata.name": "a", "tier": "4-aux", "egress.calico-plan/stage": "staged"}, a.Labels)
	require.Equal(t, f.CronJobs, got.CronJobs)

	// The input facts are not changed.
	after, err := cluster.MarshalSnapshot(f)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))

	// The prediction reads back as a snapshot that says it is one.
	b, err := cluster.MarshalSnapshot(got)
	require.NoError(t, err)
	require.Contains(t, string(b), "PREDICTED")
	back, err := cluster.ParseSnapshot(b, "after.yaml")
	require.NoError(t, err)
	require.Equal(t, got.Predicted, back.Predicted)
	require.Equal(t, "predicted snapshot after.yaml", back.Source)
}

// Same facts and files, in any order: the same bytes.
func TestApplyFilesDeterministic(t *testing.T) {
	observe := config.Default().Rollout.ObservePolicy.Name
	dir := writeFiles(t, applyRollout(observe))
	encode := func(f *cluster.Facts) string {
		res, err := ApplyFiles(f, []string{dir}, observe)
		require.NoError(t, err)
		b, err := cluster.MarshalSnapshot(res.Facts)
		require.NoError(t, err)
		return string(b)
	}
	first := encode(applyFacts(observe))
	for i := 0; i < 5; i++ {
		require.Equal(t, first, encode(applyFacts(observe)))
	}
	rev := applyFacts(observe)
	for i, j := 0, len(rev.CalicoObjects)-1; i < j; i, j = i+1, j-1 {
		rev.CalicoObjects[i], rev.CalicoObjects[j] = rev.CalicoObjects[j], rev.CalicoObjects[i]
	}
	rev.Namespaces[0], rev.Namespaces[1] = rev.Namespaces[1], rev.Namespaces[0]
	require.Equal(t, first, encode(rev))
}

// A file that does not parse is an error naming the file; so is a label
// on a namespace the snapshot does not have. Kinds the snapshot could not
// read are left out, and said so.
func TestApplyFilesErrors(t *testing.T) {
	observe := config.Default().Rollout.ObservePolicy.Name
	files := applyRollout(observe)
	files["broken.yaml"] = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: a\n"
	dir := writeFiles(t, files)
	_, err := ApplyFiles(applyFacts(observe), []string{dir}, observe)
	require.ErrorContains(t, err, filepath.Join(dir, "broken.yaml"))

	files = applyRollout(observe)
	files["_stages.sh"] += "\"$kubectl\" \"$@\" label namespace gone egress.calico-plan/stage=staged --overwrite\n"
	dir = writeFiles(t, files)
	_, err = ApplyFiles(applyFacts(observe), []string{dir}, observe)
	require.ErrorContains(t, err, filepath.Join(dir, "_stages.sh")+":6: labels namespace gone, which the snapshot does not have")

	_, err = ApplyFiles(applyFacts(observe), []string{filepath.Join(dir, "nothing-here")}, observe)
	require.ErrorContains(t, err, "nothing-here")

	f := applyFacts(observe)
	f.AddMissing("stagednetworkpolicies.projectcalico.org", "stagednetworkpolicies is not served by projectcalico.org/v3")
	res, err := ApplyFiles(f, []string{writeFiles(t, applyRollout(observe))}, observe)
	require.NoError(t, err)
	require.Len(t, res.NotApplied, 1)
	require.Contains(t, res.NotApplied[0], "StagedNetworkPolicy a/egress-allowlist.a")
	require.Contains(t, res.NotApplied[0], "the snapshot could not read stagednetworkpolicies.projectcalico.org")
	_, ok := res.Facts.CalicoObject("StagedNetworkPolicy", "a", "egress-allowlist.a")
	require.False(t, ok, "a fresh snapshot would not show it either")
}

// The staged-deployed gate: unmet on the snapshot before the rollout with
// the staged policy is applied, met on the prediction after, and the
// reason says it is a prediction.
func TestApplyFilesMeetsStagedDeployed(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	n := st.Namespace("recruiter-responder")
	since := n.Observation.To - 4*24*3600
	n.Rollout = allowlist.Rollout{Stage: allowlist.StageStaged, Since: since}
	facts := demo.Cluster(demo.DefaultOptions())
	facts.Source = "snapshot cluster.yaml"
	env := rollout.NewEnv(st, facts, 0)
	dir := writeRollout(t, st)
	d, err := rollout.DesiredState(st, env, rollout.DesiredOptions{})
	require.NoError(t, err)
	var sh bytes.Buffer
	require.NoError(t, render.EncodeStagesScript(&sh, render.Header(""), p, d.Labels, render.FlavorCalico))
	require.NoError(t, os.WriteFile(filepath.Join(dir, render.StagesScriptName), sh.Bytes(), 0o644))

	gate := func(c *rollout.Check) rollout.Gate {
		for _, g := range c.Gates {
			if g.ID == rollout.GateStagedDeployed {
				return g
			}
		}
		t.Fatalf("no %s gate in %v", rollout.GateStagedDeployed, c.Gates)
		return rollout.Gate{}
	}
	before := gate(rollout.Evaluate(n, allowlist.StageEnforced, env))
	require.False(t, before.Met)
	require.Contains(t, before.Reason, "is not in the cluster facts")

	res, err := ApplyFiles(facts, []string{dir}, p.Rollout.ObservePolicy.Name)
	require.NoError(t, err)
	require.Contains(t, res.Added, "StagedNetworkPolicy recruiter-responder/egress-allowlist.recruiter-responder")
	require.Contains(t, res.Labels, "recruiter-responder: egress.calico-plan/stage=staged")
	after := gate(rollout.Evaluate(n, allowlist.StageEnforced, rollout.NewEnv(st, res.Facts, 0)))
	require.True(t, after.Met, after.Reason)
	require.Contains(t, after.Reason, "is in the predicted snapshot")
}
