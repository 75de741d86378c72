package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

// rolloutCLI runs the CLI in-process with no live cluster configured.
func rolloutCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	noLiveCluster(t)
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), isTerminal: func() bool { return false }}
	cmd := buildRoot(g)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func rolloutCLIOK(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errs, err := rolloutCLI(t, args...)
	require.NoError(t, err, "calico-plan %s\nstderr: %s", strings.Join(args, " "), errs)
	return out, errs
}

// noLiveCluster makes sure no kubeconfig is found.
func noLiveCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

// rolloutDemo writes the demo store and a snapshot of the demo cluster
// (its namespaces plus the weekly nextcloud-backup CronJob).
func rolloutDemo(t *testing.T) (store, snapshot string) {
	t.Helper()
	dir := t.TempDir()
	store = filepath.Join(dir, "allowlists")
	p := config.Default()
	st, err := allowlist.Open(store, p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { a.Add(f); return nil }))
	st.Apply(a)
	require.NoError(t, st.Save())

	f := cluster.New()
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		f.Namespaces = append(f.Namespaces, cluster.Namespace{Name: n.Name, Labels: n.Labels})
	}
	f.CronJobs = []cluster.CronJob{{Namespace: "nextcloud", Name: "nextcloud-backup", Schedule: "0 3 * * 0", PodPattern: cluster.PodPatternFor("nextcloud-backup")}}
	// The cluster's observe policy, which the rollout manages (a cluster
	// without one gets none: rollout.observePolicy.manage existing).
	for _, o := range demo.Cluster(demo.DefaultOptions()).CalicoObjects {
		if o.Kind == "GlobalNetworkPolicy" && o.Name == p.Rollout.ObservePolicy.Name {
			f.CalicoObjects = append(f.CalicoObjects, o)
		}
	}
	b, err := cluster.MarshalSnapshot(f)
	require.NoError(t, err)
	snapshot = filepath.Join(dir, "cluster.yaml")
	require.NoError(t, os.WriteFile(snapshot, b, 0o644))
	return store, snapshot
}

func TestWavesCommandMatchesGolden(t *testing.T) {
	store, snap := rolloutDemo(t)
	out, _ := rolloutCLIOK(t, "waves", "--store", store, "--cluster", snap, "-o", "md")
	want, err := os.ReadFile("../../internal/rollout/testdata/waves.md")
	require.NoError(t, err)
	out = strings.Replace(out, "snapshot "+snap, "demo snapshot", 1)
	// The next commands repeat the flags the plan was made with.
	out = strings.ReplaceAll(strings.ReplaceAll(out, " --store "+store, ""), " --cluster "+snap, "")
	require.Equal(t, string(want), out)

	table, _ := rolloutCLIOK(t, "waves", "--store", store, "--cluster", snap)
	require.Contains(t, table, "1*    4-aux   recruiter-responder")
	require.Contains(t, table, "deferred:\n  immich (2-gpu): tier 2-gpu is deferred by the profile")
}

func TestRolloutEndToEnd(t *testing.T) {
	store, snap := rolloutDemo(t)
	cl := func(args ...string) []string { return append(args, "--store", store, "--cluster", snap) }

	// A Stable namespace passes every gate.
	out, _ := rolloutCLIOK(t, cl("promote", "--namespace", "proxy", "--to", "staged", "--by", "ci", "--now", "2026-11-28T08:00:00Z", "--reason", "wave 2")...)
	require.Contains(t, out, "ok   cronjob-facts: no CronJobs in the namespace")
	require.Contains(t, out, "promoted proxy: observe → staged at 2026-11-28T08:00:00Z")
	require.Contains(t, out, "the stage label egress.calico-plan/stage=staged and the deletions:")
	require.Contains(t, out, "  kubectl apply -f policies/ && sh policies/_stages.sh\n")
	n, err := allowlist.LoadNamespaceFile(filepath.Join(store, "proxy.yaml"))
	require.NoError(t, err)
	require.Equal(t, "staged", n.Rollout.Stage)
	require.Equal(t, []allowlist.RolloutEvent{{From: "observe", To: "staged", At: n.Rollout.Since, Reason: "wave 2", By: "ci"}}, n.Rollout.History)

	// A Learning namespace is refused with its unmet gates.
	_, errs, err := rolloutCLI(t, cl("promote", "--namespace", "n8n", "--to", "staged", "--by", "ci")...)
	require.ErrorContains(t, err, "promoting n8n from observe to staged refused: 1 unmet gate(s):\n  - stable: Learning")
	require.Contains(t, errs, "FAIL stable: Learning")
	n, err = allowlist.LoadNamespaceFile(filepath.Join(store, "n8n.yaml"))
	require.NoError(t, err)
	require.Equal(t, "observe", n.Rollout.Stage, "a refusal leaves the store unchanged")

	// --force needs a reason and is recorded with the unmet gates.
	_, _, err = rolloutCLI(t, cl("promote", "--namespace", "recruiter-responder", "--to", "staged", "--force")...)
	require.ErrorContains(t, err, "--force needs --reason")
	out, _ = rolloutCLIOK(t, cl("promote", "--namespace", "recruiter-responder", "--to", "staged", "--force", "--reason", "pilot, reviewed by hand", "--by", "viktor", "--now", "2026-11-28")...)
	require.Contains(t, out, "FORCED past 1 unmet gate(s)")
	n, err = allowlist.LoadNamespaceFile(filepath.Join(store, "recruiter-responder.yaml"))
	require.NoError(t, err)
	require.True(t, n.Rollout.Forced)
	require.Len(t, n.Rollout.History[0].Unmet, 1)
	require.True(t, strings.HasPrefix(n.Rollout.History[0].Unmet[0], "stable: Learning"))

	// observe → enforced is not a valid step without --force.
	_, _, err = rolloutCLI(t, cl("promote", "--namespace", "tasks", "--to", "enforced")...)
	require.ErrorContains(t, err, "stage-order: observe → enforced skips the staged stage")

	// The plan shows the staged namespaces waiting for staged days.
	out, _ = rolloutCLIOK(t, cl("waves", "-o", "json")...)
	var plan struct {
		Waves []struct {
			Number     int    `json:"number"`
			Tier       string `json:"tier"`
			Namespaces []struct {
				Name, Stage, State, Next string
				UnmetGates               []struct{ ID, Reason string } `json:"unmetGates"`
			} `json:"namespaces"`
		} `json:"waves"`
		Deferred, Excluded, Unassigned []struct{ Name, Reason string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &plan))
	require.Equal(t, "recruiter-responder", plan.Waves[0].Namespaces[0].Name)
	proxy := plan.Waves[1].Namespaces[0]
	require.Equal(t, "proxy", proxy.Name, "staged namespaces lead their wave")
	require.Equal(t, "staged", proxy.Stage)
	require.Equal(t, "staged-days", proxy.UnmetGates[0].ID)
	require.Contains(t, proxy.UnmetGates[0].Reason, "observe flows after 2026-12-01T08:00:00Z")
	require.Equal(t, "staged-deployed", proxy.UnmetGates[1].ID, "the snapshot predates the staged policy")
	require.Contains(t, proxy.Next, "calico-plan render --rollout --store "+store+" --cluster "+snap+" --out policies/  # apply the staged policy of proxy")

	// render --wave 2: the staged policy of proxy, nothing for the others.
	out, errs = rolloutCLIOK(t, cl("render", "--wave", "2")...)
	require.Contains(t, out, "kind: StagedNetworkPolicy\nmetadata:\n")
	require.Contains(t, out, "name: egress-allowlist.proxy")
	require.Contains(t, out, "kind: Tier")
	require.NotContains(t, out, "kind: Namespace", "a Namespace object applied would remove the namespace's other labels")
	require.NotContains(t, out, "egress-allowlist.tasks")
	require.Contains(t, errs, "tasks: stage observe: nothing to render yet")
	require.Contains(t, errs, "kubectl label namespace proxy egress.calico-plan/stage=staged --overwrite")
	require.NotContains(t, errs, "kubectl label namespace tasks", "never left observe: no label needed")

	// render --rollout: tier, observe policy, staged policies, labels.
	out, _ = rolloutCLIOK(t, cl("render", "--rollout")...)
	require.Contains(t, out, "kind: GlobalNetworkPolicy")
	var gnp struct {
		Spec struct{ NamespaceSelector string } `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(strings.Split(out, "---\n")[1]), &gnp))
	require.Equal(t, `tier in {"3-edge", "4-aux"} && egress.calico-plan/stage not in {"enforced", "staged"} && kubernetes.io/metadata.name not in {"proxy", "recruiter-responder"}`, gnp.Spec.NamespaceSelector)
	require.Equal(t, 2, strings.Count(out, "kind: StagedNetworkPolicy"))
	require.NotContains(t, out, "kind: Namespace")
	require.NotContains(t, out, "name: tasks\n")

	hclOut, _ := rolloutCLIOK(t, cl("render", "--rollout", "-o", "hcl")...)
	require.Contains(t, hclOut, `resource "kubectl_manifest" "gnp_wave1_egress_observe_tier34"`)
	require.Contains(t, hclOut, `resource "kubernetes_labels" "stage_proxy"`)
	_, diags := hclsyntax.ParseConfig([]byte(hclOut), "rollout.tf", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	require.Contains(t, hclOut, `ignore_labels = ["^egress\\.calico-plan/stage$"]`, "the hint for a repository that manages its namespaces")
	noLabels, errs := rolloutCLIOK(t, cl("render", "--rollout", "-o", "hcl", "--hcl-stage-labels", "none")...)
	require.NotContains(t, noLabels, "kubernetes_labels")
	require.Contains(t, errs, "--hcl-stage-labels none")
	require.Contains(t, errs, "kubectl label namespace proxy egress.calico-plan/stage=staged --overwrite")

	jsonOut, _ := rolloutCLIOK(t, cl("render", "--rollout", "-o", "json")...)
	var list struct {
		Kind  string
		Items []struct{ Kind string }
	}
	require.NoError(t, json.Unmarshal([]byte(jsonOut), &list))
	require.Equal(t, "List", list.Kind)
	require.Equal(t, "Tier", list.Items[0].Kind)
	require.Equal(t, "GlobalNetworkPolicy", list.Items[1].Kind)

	dir := filepath.Join(t.TempDir(), "policies")
	_, errs = rolloutCLIOK(t, cl("render", "--rollout", "--out", dir)...)
	require.Contains(t, errs, "rollout: 5 files in "+dir)
	for _, f := range []string{"_tier.yaml", "_observe-policy.yaml", "_stages.sh", "proxy.yaml", "recruiter-responder.yaml"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	require.Contains(t, errs, "next: kubectl apply -f "+dir+" && sh "+dir+"/_stages.sh")
	script, err := os.ReadFile(filepath.Join(dir, "_stages.sh"))
	require.NoError(t, err)
	require.Contains(t, string(script), "\n\"$kubectl\" \"$@\" label namespace proxy egress.calico-plan/stage=staged --overwrite\n")
	require.NotContains(t, string(script), "namespace tasks", "never left observe: no label needed")
	// A _stage-labels.yaml an earlier version wrote (Namespace objects that
	// remove every other label when applied) is removed like any stale file.
	head, err := os.ReadFile(filepath.Join(dir, "_tier.yaml"))
	require.NoError(t, err)
	oldHeader := string(head[:strings.Index(string(head), "apiVersion:")])
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_stage-labels.yaml"), []byte(oldHeader+"apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    egress.calico-plan/stage: staged\n  name: proxy\n"), 0o644))
	_, errs = rolloutCLIOK(t, cl("render", "--rollout", "--out", dir)...)
	require.Contains(t, errs, "removed "+filepath.Join(dir, "_stage-labels.yaml"))
	require.NoFileExists(t, filepath.Join(dir, "_stage-labels.yaml"))

	// Enforce proxy (forced: the demo data ends before its staged days),
	// with the k8s flavor: the plan explains the observe policy.
	rolloutCLIOK(t, cl("promote", "--namespace", "proxy", "--to", "enforced", "--force", "--reason", "test", "--by", "ci", "--now", "2026-12-02")...)
	out, errs = rolloutCLIOK(t, cl("render", "--rollout", "--flavor", "k8s")...)
	require.Contains(t, out, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy")
	require.Contains(t, errs, "note: k8s flavor: Calico puts a Kubernetes NetworkPolicy in the default tier at order 1000")
	require.NotContains(t, errs, "is enforced but", "proxy is Stable")
	_, _, err = rolloutCLI(t, cl("render", "--rollout", "--flavor", "calico-staged")...)
	require.ErrorContains(t, err, "the stage decides")
	out, _ = rolloutCLIOK(t, cl("waves", "--flavor", "k8s")...)
	require.Contains(t, out, "note: k8s flavor:")
	require.Contains(t, out, "done")

	// Roll back one stage.
	out, _ = rolloutCLIOK(t, "rollback", "--store", store, "--namespace", "proxy", "--reason", "outage", "--by", "oncall", "--now", "2026-12-03")
	require.Contains(t, out, "rolled back proxy: enforced → staged at 2026-12-03T00:00:00Z")
	_, _, err = rolloutCLI(t, "rollback", "--store", store, "--namespace", "tasks")
	require.ErrorContains(t, err, "tasks is already observe")

	// Fold the recruiter-responder would-deny flow into its allowlist.
	out, _ = rolloutCLIOK(t, "allow", "--store", store, "--namespace", "recruiter-responder", "--from-denied", "--dry-run")
	require.Contains(t, out, "would move (wouldDeny): public 104.18.32.7/32 TCP/443")
	out, _ = rolloutCLIOK(t, "allow", "--store", store, "--namespace", "recruiter-responder", "--from-denied", "--at", "2026-11-29T06:00:00Z")
	require.Contains(t, out, "moved (wouldDeny) into egress: public 104.18.32.7/32 TCP/443")
	require.Contains(t, out, "the staged-days gate counts again from now")
	n, err = allowlist.LoadNamespaceFile(filepath.Join(store, "recruiter-responder.yaml"))
	require.NoError(t, err)
	require.Empty(t, n.WouldDeny)
	// The staged policy changed, so its quiet period restarts.
	require.Equal(t, allowlist.StageStaged, n.Rollout.Stage)
	require.Equal(t, time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC), n.Rollout.Since.T(), "--now: the data's time, not the wall clock")
	last := n.Rollout.History[len(n.Rollout.History)-1]
	require.Contains(t, last.Reason, "the staged period restarts")

	// Declare a CronJob without egress.
	_, _, err = rolloutCLI(t, "allow", "--store", store, "--namespace", "nextcloud", "--no-egress", "nextcloud-backup")
	require.ErrorContains(t, err, "a reason is required")
	rolloutCLIOK(t, "allow", "--store", store, "--namespace", "nextcloud", "--no-egress", "nextcloud-backup", "--reason", "uploads via the proxy namespace")
	n, err = allowlist.LoadNamespaceFile(filepath.Join(store, "nextcloud.yaml"))
	require.NoError(t, err)
	require.Equal(t, []allowlist.NoEgress{{Workload: "nextcloud-backup", Reason: "uploads via the proxy namespace"}}, n.NoEgress)
	_, _, err = rolloutCLI(t, "allow", "--store", store, "--namespace", "ghost", "--from-denied")
	require.ErrorContains(t, err, `namespace "ghost" has no allowlist in the store`)
}

// render --rollout and --wave refuse a store with a partial source when
// they would render an enforced policy, as enforcing render does; staged
// policies only report, so a rollout of staged namespaces renders with a
// warning. --allow-unstable overrides, as for render.
func TestRolloutRefusesPartialSource(t *testing.T) {
	store, snap := rolloutDemo(t)
	cl := func(args ...string) []string { return append(args, "--store", store, "--cluster", snap) }
	rolloutCLIOK(t, cl("promote", "--namespace", "proxy", "--to", "staged", "--by", "ci", "--now", "2026-11-28T08:00:00Z", "--reason", "wave 2")...)
	rolloutCLIOK(t, cl("promote", "--namespace", "proxy", "--to", "enforced", "--force", "--by", "ci", "--now", "2026-12-02T00:00:00Z", "--reason", "test")...)

	st, err := allowlist.Open(store, config.Default())
	require.NoError(t, err)
	st.Meta.Sources = append(st.Meta.Sources, allowlist.SourceRecord{Kind: allowlist.SourceElasticsearch, ID: "https://es:9200/calico_flowlogs.*", Records: 10, Partial: true})
	require.NoError(t, st.Save())

	_, _, renderErr := rolloutCLI(t, "render", "--store", store, "--all", "--flavor", "calico")
	require.ErrorContains(t, renderErr, "source elasticsearch https://es:9200/calico_flowlogs.* was read partially, so allowlists may miss entries; observe it again completely, or pass --allow-unstable")

	dir := filepath.Join(t.TempDir(), "policies")
	for _, args := range [][]string{{"--rollout"}, {"--rollout", "--flavor", "k8s"}, {"--wave", "2"}, {"--rollout", "-o", "hcl"}} {
		out, _, err := rolloutCLI(t, cl(append([]string{"render", "--out", dir}, args...)...)...)
		require.Error(t, err, args)
		require.Equal(t, renderErr.Error()+" (enforced here: proxy)", err.Error(), args)
		require.Empty(t, out)
		require.NoDirExists(t, dir, "nothing written")
	}
	out, errs := rolloutCLIOK(t, cl("render", "--rollout", "--allow-unstable")...)
	require.Contains(t, out, "name: egress-allowlist.proxy")
	require.Contains(t, errs, "warning: source elasticsearch https://es:9200/calico_flowlogs.* was read partially")

	// Staged only: nothing enforcing is rendered, so it renders, warned.
	rolloutCLIOK(t, "rollback", "--store", store, "--namespace", "proxy", "--reason", "test", "--by", "ci", "--now", "2026-12-03")
	out, errs = rolloutCLIOK(t, cl("render", "--rollout")...)
	require.Contains(t, out, "kind: StagedNetworkPolicy")
	require.Contains(t, errs, "warning: source elasticsearch https://es:9200/calico_flowlogs.* was read partially")
}

// promote --wave N promotes the namespaces of the wave whose gates pass and
// lists the others with their gates; with a Namespace list the CronJobs of
// a namespace without CronJob pods are unknown, which --accept-unknown
// lets the operator pass.
func TestPromoteWaveBatch(t *testing.T) {
	store := observeDemo(t)
	out, _, err := run(t, "", "promote", "--store", store, "--wave", "2", "--to", "staged", "--namespace-file", demoNS, "--at", "2026-11-27")
	require.Error(t, err)
	require.Contains(t, out, "proxy: REFUSED, 1 unmet gate(s):\n    cronjob-facts (unknown): only a Namespace list was given")
	require.Contains(t, out, "wave 2: 0 promoted to staged, 5 refused")

	out, _, err = run(t, "", "promote", "--store", store, "--wave", "2", "--to", "staged", "--namespace-file", demoNS, "--at", "2026-11-27", "--accept-unknown")
	require.ErrorContains(t, err, "wave 2: 2 of 5 namespaces refused")
	require.Contains(t, out, "proxy: promoted observe → staged (accepted as unknown: cronjob-facts)")
	require.Contains(t, out, "n8n: REFUSED, 2 unmet gate(s):\n    stable: Learning")
	require.Contains(t, out, "wave 2: 3 promoted to staged, 2 refused")

	// Saved: waves shows them staged; the tier batch finds them.
	out, _ = mustRun(t, "waves", "--store", store, "--namespaces", demoNS)
	require.Regexp(t, `2 +4-aux +proxy +staged`, out)
	require.Contains(t, out, "next: wave 1 (4-aux) to staged: 0 of 1 ready; blocked by:\n  recruiter-responder: stable,cronjob-facts?")
	_, _, err = run(t, "", "promote", "--store", store, "--tier", "9-none", "--to", "staged", "--namespaces", demoNS)
	require.ErrorContains(t, err, `tier 9-none: no scheduled namespace`)
	_, _, err = run(t, "", "promote", "--store", store, "--tier", "4-aux", "--wave", "2", "--to", "staged")
	require.ErrorContains(t, err, "not both")
}
