package rollout

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

type fixtureNS struct {
	name, stage, from, newest string
	peers                     int
	workloads                 string
}

// writeStore writes namespace files (observed from..2026-11-20, the last
// new entry at newest, peers entries) and opens the store.
func writeStore(t *testing.T, p *config.Profile, list []fixtureNS) *allowlist.Store {
	t.Helper()
	dir := t.TempDir()
	for _, n := range list {
		var b strings.Builder
		fmt.Fprintf(&b, "version: 1\nnamespace: %s\ntier: unassigned\ntierSource: unassigned\nrollout: {stage: %s, since: %q}\n", n.name, n.stage, n.from)
		fmt.Fprintf(&b, "observation: {from: %q, to: \"2026-11-20T00:00:00Z\", lastNewEntry: \"\", state: \"\"}\negress:\n", n.from)
		for i := 0; i < n.peers; i++ {
			first := n.from
			if i == n.peers-1 {
				first = n.newest
			}
			fmt.Fprintf(&b, "  - peer: {kind: namespace, namespace: peer%d}\n    ports:\n      - {port: TCP/80, flows: 1, bytes: 1, firstSeen: %q, lastSeen: \"2026-11-20T00:00:00Z\", days: []}\n", i, first)
			if n.workloads != "" {
				fmt.Fprintf(&b, "    workloads: [%q]\n", n.workloads)
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, n.name+".yaml"), []byte(b.String()), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, allowlist.MetaFile), []byte("version: 1\n"), 0o644))
	st, err := allowlist.Open(dir, p)
	require.NoError(t, err)
	return st
}

func tierFacts(tiers map[string]string) *cluster.Facts {
	f := cluster.New()
	f.Source = "test"
	for ns, tier := range tiers {
		l := map[string]string{"kubernetes.io/metadata.name": ns}
		if tier != "" {
			l["tier"] = tier
		}
		f.Namespaces = append(f.Namespaces, cluster.Namespace{Name: ns, Labels: l})
	}
	f.Normalize()
	return f
}

func waveNames(p *Plan) [][]string {
	var out [][]string
	for _, w := range p.Waves {
		var names []string
		for _, n := range w.Namespaces {
			names = append(names, n.Name)
		}
		out = append(out, append([]string{fmt.Sprintf("%d %s pinned=%v", w.Number, w.Tier, w.Pinned)}, names...))
	}
	return out
}

func TestWaveOrdering(t *testing.T) {
	p := config.Default()
	p.Rollout.PerWave = 2
	p.Rollout.Pinned = []string{"pilot"}
	const old, mid, recent = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-19T00:00:00Z"
	st := writeStore(t, p, []fixtureNS{
		{name: "pilot", stage: "observe", from: old, newest: recent, peers: 9}, // pinned first even though Learning
		{name: "aa-big", stage: "observe", from: old, newest: old, peers: 6},   // Stable longest, many peers
		{name: "ab-small", stage: "observe", from: old, newest: old, peers: 1}, // Stable longest, fewest peers
		{name: "ac-later", stage: "observe", from: old, newest: mid, peers: 1}, // Stable since later
		{name: "ad-staged", stage: "staged", from: old, newest: old, peers: 3}, // in progress: ahead of observe
		{name: "ae-cron", stage: "observe", from: old, newest: old, peers: 1},  // CronJob never seen: doubt
		{name: "edge1", stage: "observe", from: old, newest: old, peers: 2},    // next tier
		{name: "gpu", stage: "observe", from: old, newest: old, peers: 1},      // deferred tier
		{name: "kube-system", stage: "observe", from: old, newest: old, peers: 1},
		{name: "servarr", stage: "excluded", from: old, newest: old, peers: 1},
		{name: "mystery", stage: "observe", from: old, newest: old, peers: 1}, // no tier label
		{name: "ghost", stage: "observe", from: old, newest: old, peers: 1},   // not in the facts
	})
	facts := tierFacts(map[string]string{
		"pilot": "4-aux", "aa-big": "4-aux", "ab-small": "4-aux", "ac-later": "4-aux", "ad-staged": "4-aux", "ae-cron": "4-aux",
		"edge1": "3-edge", "gpu": "2-gpu", "kube-system": "", "servarr": "4-aux", "mystery": "", "never-observed": "3-edge",
	})
	facts.CalicoObjects = []cluster.CalicoObject{{Kind: "StagedNetworkPolicy", Namespace: "ad-staged", Name: "egress-allowlist.ad-staged"}}
	facts.CronJobs = []cluster.CronJob{{Namespace: "ae-cron", Name: "nightly", Schedule: "0 2 * * *", PodPattern: cluster.PodPatternFor("nightly")}}
	plan := MakePlan(st, NewEnv(st, facts, at(t, "2026-11-20T00:00:00Z")), PlanOptions{})

	require.Equal(t, [][]string{
		{"1 4-aux pinned=true", "pilot"},
		{"2 4-aux pinned=false", "ad-staged", "ab-small"},
		{"3 4-aux pinned=false", "aa-big", "ac-later"},
		{"4 4-aux pinned=false", "ae-cron"},
		{"5 3-edge pinned=false", "edge1", "never-observed"},
	}, waveNames(plan), "tier order, pinned alone first, progress, no CronJob doubts, Stable longest, fewest peers; at most 2 per wave")

	require.Equal(t, []Listed{{Name: "gpu", Tier: "2-gpu", Stage: "observe", State: "Stable", Reason: "tier 2-gpu is deferred by the profile"}}, plan.Deferred)
	require.Equal(t, []Listed{
		{Name: "kube-system", Stage: "observe", State: "Stable", Reason: "on the profile's excludedNamespaces"},
		{Name: "servarr", Tier: "4-aux", Stage: "excluded", State: "Stable", Reason: "stage excluded"},
	}, plan.Excluded)
	require.Len(t, plan.Unassigned, 2)
	require.Equal(t, "ghost", plan.Unassigned[0].Name)
	require.Contains(t, plan.Unassigned[0].Reason, "not in the cluster facts")
	require.Equal(t, "mystery", plan.Unassigned[1].Name)
	require.Contains(t, plan.Unassigned[1].Reason, `no "tier" label`)

	byName := map[string]NamespacePlan{}
	for _, w := range plan.Waves {
		for _, n := range w.Namespaces {
			byName[n.Name] = n
		}
	}
	require.Equal(t, "calico-plan promote --namespace ab-small --to staged", byName["ab-small"].Next)
	require.Equal(t, "calico-plan observe --from FLOWS  # Stable at 2026-11-22T00:00:00Z if no new peer appears", byName["pilot"].Next)
	require.Equal(t, "calico-plan allow --namespace ae-cron --no-egress nightly --reason TEXT  # only if it truly needs no egress; else observe a run of it", byName["ae-cron"].Next)
	require.Equal(t, "calico-plan observe --from FLOWS  # no flows from this namespace yet", byName["never-observed"].Next)
	require.Equal(t, "NoData", byName["never-observed"].State)
	// ad-staged: staged since 2026-11-01, no would-deny: ready.
	require.Equal(t, "calico-plan promote --namespace ad-staged --to enforced", byName["ad-staged"].Next)
	require.Empty(t, byName["ab-small"].UnmetGates)

	// JSON shape.
	b, err := json.Marshal(plan)
	require.NoError(t, err)
	var doc struct {
		Waves []struct {
			Number     int    `json:"number"`
			Tier       string `json:"tier"`
			Namespaces []struct {
				Name       string            `json:"name"`
				Stage      string            `json:"stage"`
				State      string            `json:"state"`
				UnmetGates []json.RawMessage `json:"unmetGates"`
				Next       string            `json:"next"`
			} `json:"namespaces"`
		} `json:"waves"`
		Deferred, Excluded, Unassigned []json.RawMessage
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, 1, doc.Waves[0].Number)
	require.Equal(t, "4-aux", doc.Waves[0].Tier)
	require.NotNil(t, doc.Waves[1].Namespaces[1].UnmetGates, "unmetGates is [] rather than null")
	require.Contains(t, string(b), `"unmetGates":[]`)
}

func TestWavesWithoutFactsAndK8sNote(t *testing.T) {
	p := config.Default()
	st := writeStore(t, p, []fixtureNS{{name: "n8n", stage: "observe", from: "2026-11-01T00:00:00Z", newest: "2026-11-01T00:00:00Z", peers: 1}})
	plan := MakePlan(st, NewEnv(st, nil, at(t, "2026-11-20T00:00:00Z")), PlanOptions{Flavor: render.FlavorK8s})
	require.Empty(t, plan.Waves, "without labels the store's tier is unassigned")
	require.Contains(t, plan.Unassigned[0].Reason, "no namespace labels were given (pass --cluster FILE, --namespace-file FILE or a kubeconfig)")
	require.Contains(t, plan.Notes[0], "no cluster facts")
	require.Contains(t, plan.Notes[len(plan.Notes)-1], "k8s flavor: Calico puts a Kubernetes NetworkPolicy in the default tier at order 1000")

	// With namespaces only, the tier is known and, no CronJob pods seen,
	// the CronJobs are unknown: the operator decides.
	facts := cluster.FromNamespaceLabels(cluster.NamespaceLabels{"n8n": {"tier": "4-aux"}}, "namespaces ns.yaml")
	plan = MakePlan(st, NewEnv(st, facts, at(t, "2026-11-20T00:00:00Z")), PlanOptions{})
	n := plan.Waves[0].Namespaces[0]
	require.Len(t, n.UnmetGates, 1)
	require.Equal(t, GateCronJobFacts, n.UnmetGates[0].ID)
	require.True(t, n.UnmetGates[0].Unknown)
	require.Equal(t, "calico-plan promote --namespace n8n --to staged --accept-unknown  # only unknown gates left (cronjob-facts?): decide, or give --cluster FILE from 'calico-plan snapshot'", n.Next)
	require.Equal(t, []string{"could not check cronjobs.batch: no CronJob facts: pass --cluster or a kubeconfig (CronJob gates (observe → staged) count as unmet)"}, plan.Notes,
		"one note for a Namespace list, not one per resource it lacks")

	// Staged, but the staged policy is not in the cluster: apply it first.
	st = writeStore(t, p, []fixtureNS{{name: "n8n", stage: "staged", from: "2026-11-01T00:00:00Z", newest: "2026-11-01T00:00:00Z", peers: 1}})
	plan = MakePlan(st, NewEnv(st, facts, at(t, "2026-11-20T00:00:00Z")), PlanOptions{})
	n = plan.Waves[0].Namespaces[0]
	require.Equal(t, []string{GateStagedDeployed}, gateIDs(n.UnmetGates))
	require.Equal(t, "calico-plan render --rollout --out policies/  # apply the staged policy of n8n (kubectl apply -f policies/ && sh policies/_stages.sh), then take a new snapshot (calico-plan snapshot --out cluster.yaml)", n.Next)
}

func gateIDs(gs []Gate) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func TestLabelStages(t *testing.T) {
	p := config.Default()
	const from = "2026-11-01T00:00:00Z"
	st := writeStore(t, p, []fixtureNS{
		{name: "fresh", stage: "observe", from: from, newest: from, peers: 1},
		{name: "back", stage: "observe", from: from, newest: from, peers: 1},
		{name: "staged", stage: "staged", from: from, newest: from, peers: 1},
		{name: "bt", stage: "excluded", from: from, newest: from, peers: 1},
		{name: "kube-system", stage: "staged", from: from, newest: from, peers: 1},
	})
	st.Namespace("back").Rollout.History = []allowlist.RolloutEvent{{From: "staged", To: "observe"}}
	e := NewEnv(st, nil, at(t, "2026-11-20T00:00:00Z"))
	require.Equal(t, map[string]string{"back": "observe", "staged": "staged", "bt": "excluded"}, LabelStages(st, e),
		"never-promoted namespaces need no label; the profile's excluded ones are never touched")
	require.Equal(t, map[string]string{"fresh": "observe", "back": "observe", "staged": "staged", "bt": "excluded"}, Stages(st, e))
}
