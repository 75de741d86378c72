package rollout

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
)

// observed returns a namespace observed from..to whose only entry (DNS)
// appeared at from, sampled from the given workloads.
func observed(t *testing.T, name, from, to string, workloads ...string) *allowlist.Namespace {
	t.Helper()
	f, tt := at(t, from), at(t, to)
	return &allowlist.Namespace{
		Version: allowlist.FormatVersion, Namespace: name, Tier: "4-aux", TierSource: "label",
		Rollout:     allowlist.Rollout{Stage: allowlist.StageObserve, Since: f},
		Observation: allowlist.Observation{From: f, To: tt},
		Egress: []allowlist.Entry{{
			Peer:      allowlist.Peer{Kind: allowlist.PeerDNS},
			Ports:     []allowlist.PortEvidence{{Port: "UDP/53", Evidence: allowlist.Evidence{Flows: 10, FirstSeen: f, LastSeen: tt}}},
			Workloads: workloads,
		}},
	}
}

func factsWith(ns string, jobs ...cluster.CronJob) *cluster.Facts {
	f := cluster.New()
	f.Source = "test"
	f.Namespaces = []cluster.Namespace{{Name: ns, Labels: map[string]string{"tier": "4-aux"}}}
	for i := range jobs {
		jobs[i].Namespace = ns
		jobs[i].PodPattern = cluster.PodPatternFor(jobs[i].Name)
	}
	f.CronJobs = jobs
	return f
}

func gate(t *testing.T, c *Check, id string) Gate {
	t.Helper()
	for _, g := range c.Gates {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("no gate %q in %v", id, c.Gates)
	return Gate{}
}

func env(t *testing.T, p *config.Profile, f *cluster.Facts, now string) Env {
	return Env{Profile: p, Facts: f, Now: at(t, now)}
}

func TestCronJobGates(t *testing.T) {
	p := config.Default()
	// Monday 2026-11-23 to Saturday 2026-11-28: a 5-day window.
	const from, to5, to14 = "2026-11-23T00:00:00Z", "2026-11-28T00:00:00Z", "2026-12-07T00:00:00Z"
	seen := "backup-29391660-*"
	for _, tc := range []struct {
		name         string
		to           string
		job          cluster.CronJob
		workloads    []string
		wouldDeny    []string
		denied       []string
		noEgress     string
		windowMet    bool
		seenMet      bool
		windowReason string
		seenReason   string
	}{
		{name: "weekly against 5 days is not covered", to: to5, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, workloads: []string{seen},
			windowMet: false, seenMet: true, windowReason: "covers 0 run(s) of \"0 3 * * 0\", two are needed: observe until after 2026-12-06T03:00:00Z"},
		{name: "weekly against 14 days is covered", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, workloads: []string{seen},
			windowMet: true, seenMet: true, windowReason: "covers at least two runs"},
		{name: "every 30 minutes is covered", to: to5, job: cluster.CronJob{Name: "backup", Schedule: "*/30 * * * *"}, workloads: []string{seen},
			windowMet: true, seenMet: true},
		{name: "@weekly descriptor", to: to5, job: cluster.CronJob{Name: "backup", Schedule: "@weekly"}, workloads: []string{seen},
			windowMet: false, seenMet: true, windowReason: "covers 0 run(s)"},
		{name: "time zone shifts the runs", to: "2026-11-24T07:00:00Z", job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * *", TimeZone: "America/New_York"}, workloads: []string{seen},
			windowMet: false, seenMet: true, windowReason: "covers 1 run(s) of \"0 3 * * *\" (America/New_York)"},
		{name: "pods never seen", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, workloads: []string{"web-5d6e7-*"},
			windowMet: true, seenMet: false, seenReason: "pods never seen in flows (no workload matching backup-<unix-minutes>-*); if it needs no egress: calico-plan allow --namespace ns --no-egress backup --reason TEXT"},
		{name: "a deployment named like the cronjob does not count", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, workloads: []string{"backup-7d9c8f5b6-*"},
			windowMet: true, seenMet: false},
		{name: "seen only in would-deny flows", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, wouldDeny: []string{seen},
			windowMet: true, seenMet: true, seenReason: "pods seen in flows as backup-29391660-*"},
		{name: "seen only in denied flows", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, denied: []string{seen},
			windowMet: true, seenMet: true},
		{name: "declared without egress", to: to5, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, noEgress: "writes to a local PVC",
			windowMet: true, seenMet: true, windowReason: "declared to need no egress: writes to a local PVC", seenReason: "declared to need no egress: writes to a local PVC"},
		{name: "full samples may hide the pods", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"}, workloads: []string{"a-*", "b-*", "c-*", "d-*", "e-*"},
			windowMet: true, seenMet: false, seenReason: "1 entries keep only 5 sample workloads, so its pods may be hidden"},
		{name: "suspended and never seen", to: to5, job: cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0", Suspend: true},
			windowMet: true, seenMet: false, windowReason: "suspended: no runs are scheduled", seenReason: "suspended and pods never seen"},
		{name: "bad schedule", to: to14, job: cluster.CronJob{Name: "backup", Schedule: "61 * * * *"}, workloads: []string{seen},
			windowMet: false, seenMet: true, windowReason: `schedule "61 * * * *"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := observed(t, "ns", from, tc.to, tc.workloads...)
			entry := func(ws []string) []allowlist.Entry {
				return []allowlist.Entry{{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Workloads: ws,
					Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: allowlist.Evidence{Flows: 1, FirstSeen: at(t, from), LastSeen: at(t, from)}}}}}
			}
			if tc.wouldDeny != nil {
				n.WouldDeny = entry(tc.wouldDeny)
			}
			if tc.denied != nil {
				n.Denied = entry(tc.denied)
			}
			if tc.noEgress != "" {
				_, err := n.SetNoEgress(tc.job.Name, tc.noEgress)
				require.NoError(t, err)
			}
			c := Evaluate(n, allowlist.StageStaged, env(t, p, factsWith("ns", tc.job), tc.to))
			require.True(t, gate(t, c, GateCronJobFacts).Met)
			w, s := gate(t, c, GateCronWindow+"backup"), gate(t, c, GateCronSeen+"backup")
			require.Equal(t, tc.windowMet, w.Met, w.Reason)
			require.Equal(t, tc.seenMet, s.Met, s.Reason)
			require.Contains(t, w.Reason, tc.windowReason)
			require.Contains(t, s.Reason, tc.seenReason)
		})
	}
}

func TestCronJobFactsGate(t *testing.T) {
	p := config.Default()
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	forbidden := factsWith("ns")
	forbidden.AddMissing(cluster.ResourceCronJobs, "list cronjobs.batch is forbidden by RBAC")
	for name, tc := range map[string]struct {
		facts  *cluster.Facts
		met    bool
		reason string
	}{
		"no facts":        {nil, false, "no CronJob facts: pass --cluster or a kubeconfig"},
		"namespaces only": {cluster.FromNamespaceLabels(cluster.NamespaceLabels{"ns": {"tier": "4-aux"}}, "ns.yaml"), false, "only a Namespace list was given, so ns's CronJobs are not known"},
		"forbidden":       {forbidden, false, "forbidden by RBAC"},
		"no cronjobs":     {factsWith("ns"), true, "no CronJobs in the namespace"},
		"two cronjobs":    {factsWith("ns", cluster.CronJob{Name: "a", Schedule: "@hourly"}, cluster.CronJob{Name: "b", Schedule: "@hourly"}), true, "2 CronJobs: a, b"},
	} {
		t.Run(name, func(t *testing.T) {
			c := Evaluate(n, allowlist.StageStaged, env(t, p, tc.facts, "2026-11-20T00:00:00Z"))
			g := gate(t, c, GateCronJobFacts)
			require.Equal(t, tc.met, g.Met)
			require.Contains(t, g.Reason, tc.reason)
		})
	}
}

func TestStableGapAndScopeGates(t *testing.T) {
	p := config.Default()
	f := factsWith("ns")
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	c := Evaluate(n, allowlist.StageStaged, env(t, p, f, "2026-11-20T00:00:00Z"))
	require.True(t, c.OK(), "%v", c.Unmet())
	require.Equal(t, "tier 4-aux is scheduled", gate(t, c, GateScope).Reason)
	require.Equal(t, "no gap since 2026-11-01T00:00:00Z", gate(t, c, GateNoGap).Reason)

	// Learning: a new entry 1 day ago.
	young := observed(t, "ns", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z")
	g := gate(t, Evaluate(young, allowlist.StageStaged, env(t, p, f, "2026-11-20T00:00:00Z")), GateStable)
	require.False(t, g.Met)
	require.Contains(t, g.Reason, "Learning: ")
	require.Contains(t, g.Reason, "Stable at 2026-11-26T00:00:00Z if no new peer appears")

	// A gap that ended restarts the window; an open one fails the gate.
	closed := allowlist.Gap{From: at(t, "2026-11-05T00:00:00Z"), To: at(t, "2026-11-06T00:00:00Z"), Source: "goldmane", Reason: "retention overrun"}
	e := env(t, p, f, "2026-11-20T00:00:00Z")
	e.Gaps = []allowlist.Gap{closed}
	g = gate(t, Evaluate(n, allowlist.StageStaged, e), GateNoGap)
	require.True(t, g.Met)
	require.Contains(t, g.Reason, "the window restarts at 2026-11-06T00:00:00Z after the gap")
	open := allowlist.Gap{From: at(t, "2026-11-19T00:00:00Z"), To: at(t, "2026-11-21T00:00:00Z"), Source: "goldmane", Reason: "collector down"}
	e.Gaps = []allowlist.Gap{open}
	g = gate(t, Evaluate(n, allowlist.StageStaged, e), GateNoGap)
	require.False(t, g.Met)
	require.Contains(t, g.Reason, "overlaps the window")

	for name, tc := range map[string]struct {
		ns, label string
		want      string
	}{
		"deferred":     {"ns", "1-cluster", "tier 1-cluster is deferred by the profile"},
		"unknown tier": {"ns", "9-moon", `tier "9-moon" is not in the profile's tiers.order`},
		"no label":     {"ns", "", `tier unknown: the namespace has no "tier" label`},
		"excluded":     {"kube-system", "4-aux", "on the profile's excludedNamespaces"},
	} {
		t.Run(name, func(t *testing.T) {
			f := cluster.New()
			l := map[string]string{}
			if tc.label != "" {
				l["tier"] = tc.label
			}
			f.Namespaces = []cluster.Namespace{{Name: tc.ns, Labels: l}}
			n := observed(t, tc.ns, "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
			g := gate(t, Evaluate(n, allowlist.StageStaged, env(t, p, f, "2026-11-20T00:00:00Z")), GateScope)
			require.False(t, g.Met)
			require.Contains(t, g.Reason, tc.want)
		})
	}
	// Without facts the store's tier is used.
	g = gate(t, Evaluate(n, allowlist.StageStaged, env(t, p, nil, "2026-11-20T00:00:00Z")), GateScope)
	require.True(t, g.Met)
}

func TestStagedGates(t *testing.T) {
	p := config.Default() // stagedDays 3
	staged := func(to string) *allowlist.Namespace {
		n := observed(t, "ns", "2026-11-01T00:00:00Z", to)
		n.Rollout = allowlist.Rollout{Stage: allowlist.StageStaged, Since: at(t, "2026-11-20T12:00:00Z")}
		return n
	}
	f := factsWith("ns")

	n := staged("2026-11-22T00:00:00Z")
	c := Evaluate(n, allowlist.StageEnforced, env(t, p, f, "2026-11-22T00:00:00Z"))
	d := gate(t, c, GateStagedDays)
	require.False(t, d.Met)
	require.Equal(t, "staged since 2026-11-20T12:00:00Z; flows observed only until 2026-11-22T00:00:00Z (1.5d of 3 days): observe flows after 2026-11-23T12:00:00Z", d.Reason)
	require.True(t, gate(t, c, GateNoWouldDeny).Met)
	_, hasCron := func() (Gate, bool) {
		for _, g := range c.Gates {
			if g.ID == GateCronJobFacts {
				return g, true
			}
		}
		return Gate{}, false
	}()
	require.False(t, hasCron, "staged → enforced does not re-check observe gates")

	n = staged("2026-11-23T12:00:00Z")
	c = Evaluate(n, allowlist.StageEnforced, env(t, p, f, "2026-11-23T12:00:00Z"))
	dep := gate(t, c, GateStagedDeployed)
	require.False(t, dep.Met, "a quiet staged period proves nothing if the staged policy was never applied")
	require.Contains(t, dep.Reason, "StagedNetworkPolicy ns/egress-allowlist.ns is not in the cluster facts")
	require.Contains(t, gate(t, Evaluate(n, allowlist.StageEnforced, env(t, p, nil, "2026-11-23T12:00:00Z")), GateStagedDeployed).Reason, "no cluster facts")
	noCalico := factsWith("ns")
	noCalico.AddMissing(cluster.ResourceCalico, "neither API served")
	require.Contains(t, gate(t, Evaluate(n, allowlist.StageEnforced, env(t, p, noCalico, "2026-11-23T12:00:00Z")), GateStagedDeployed).Reason, "cannot check that StagedNetworkPolicy ns/egress-allowlist.ns is deployed: neither API served")

	f.CalicoObjects = []cluster.CalicoObject{{Kind: "StagedNetworkPolicy", Namespace: "ns", Name: "egress-allowlist.ns"}}
	c = Evaluate(n, allowlist.StageEnforced, env(t, p, f, "2026-11-23T12:00:00Z"))
	require.True(t, c.OK(), "%v", c.Unmet())

	// A would-deny entry seen before staging does not count; one after does.
	n.WouldDeny = []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"104.18.32.7/32"}}, Workloads: []string{"api-*"},
			Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: allowlist.Evidence{Flows: 4, FirstSeen: at(t, "2026-11-21T00:00:00Z"), LastSeen: at(t, "2026-11-22T06:00:00Z")}}}},
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"9.9.9.9/32"}},
			Ports: []allowlist.PortEvidence{{Port: "TCP/853", Evidence: allowlist.Evidence{Flows: 1, FirstSeen: at(t, "2026-11-10T00:00:00Z"), LastSeen: at(t, "2026-11-10T06:00:00Z")}}}},
	}
	c = Evaluate(n, allowlist.StageEnforced, env(t, p, f, "2026-11-23T12:00:00Z"))
	w := gate(t, c, GateNoWouldDeny)
	require.False(t, w.Met)
	require.Len(t, c.WouldDeny, 1)
	require.Contains(t, w.Reason, "4 flows since 2026-11-20T12:00:00Z would be denied by the staged policy: public 104.18.32.7/32 TCP/443 (4 flows, last 2026-11-22T06:00:00Z, from api-*)")
	require.Contains(t, w.Reason, "calico-plan allow --namespace ns --from-denied")
	require.NotContains(t, w.Reason, "9.9.9.9")

	// A staged namespace with no flows since staging has no evidence.
	idle := staged("2026-11-19T00:00:00Z")
	d = gate(t, Evaluate(idle, allowlist.StageEnforced, env(t, p, f, "2026-11-30T00:00:00Z")), GateStagedDays)
	require.False(t, d.Met, "days count observed flows, not the wall clock")
	require.True(t, strings.Contains(d.Reason, "(0d of 3 days)"), d.Reason)
}
