package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// The target cluster's observe GNP (target-cluster.md §6).
const observeGNP = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: wave1-egress-observe-tier34
  annotations: {security.viktorbarzin.me/wave: "1"}
spec:
  order: 2000
  selector: all()
  namespaceSelector: tier in {"3-edge", "4-aux"}
  types: [Egress]
  egress:
  - action: Log
  - action: Allow
`

const k8sDenyAllEgress = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
`

type evalCase struct {
	name      string
	manifests string
	cfg       Config
	flow      Flow
	egress    string // who(Egress)
	ingress   string // who(Ingress)
	allowed   bool
	pending   string // who(Pending.Egress) when set
	logged    bool
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustEval(t, tc.manifests, tc.cfg)
			r := ev.Evaluate(tc.flow)
			require.Equal(t, tc.egress, who(r.Egress), "egress: %s", r.Egress)
			require.Equal(t, tc.ingress, who(r.Ingress), "ingress: %s", r.Ingress)
			require.Equal(t, tc.allowed, r.Allowed)
			if tc.pending != "" {
				require.Equal(t, tc.pending, who(r.Pending.Egress), "pending egress: %s", r.Pending.Egress)
			}
			require.Equal(t, tc.logged, r.Egress.Logged || r.Ingress.Logged)
		})
	}
}

var nsTiers = Config{NamespaceLabels: map[string]map[string]string{
	"shop":  {"tier": "4-aux"},
	"db":    {"tier": "1-cluster"},
	"infra": {"tier": "1-cluster"},
}}

func TestEvaluateTiersPassLog(t *testing.T) {
	web, db := pod("shop", "app", "web"), pod("db", "app", "pg")
	runEvalCases(t, []evalCase{
		{
			name: "no policy: profile allows both directions",
			flow: tcp(web, db, 5432), egress: "allow profile", ingress: "allow profile", allowed: true,
		},
		{
			name: "tiers run in ascending order: the lower order decides",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: late}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: early}
spec: {order: 50}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: late.deny}
spec: {tier: late, selector: all(), types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: early.allow}
spec: {tier: early, selector: all(), types: [Egress], egress: [{action: Allow}]}
`,
			flow: tcp(web, db, 5432), egress: "allow early/early.allow#0", ingress: "allow profile", allowed: true,
		},
		{
			name: "a tier without order runs after ordered tiers (even after default)",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: unordered}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: unordered.deny}
spec: {tier: unordered, selector: all(), types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow}
spec: {selector: all(), types: [Egress], egress: [{action: Allow}]}
`,
			flow: tcp(web, db, 5432), egress: "allow default/allow#0", ingress: "allow profile", allowed: true,
		},
		{
			name: "Pass skips the rest of the tier and the next tier decides",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: first}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: first.pass}
spec: {tier: first, order: 1, selector: all(), types: [Egress], egress: [{action: Pass}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: first.deny}
spec: {tier: first, order: 2, selector: all(), types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-pg}
spec: {selector: all(), types: [Egress], egress: [{action: Deny, protocol: TCP, destination: {ports: [5432]}}]}
`,
			flow: tcp(web, db, 5432), egress: "deny default/deny-pg#0", ingress: "allow profile", allowed: false,
		},
		{
			name: "Pass in the last applicable tier falls through to the profile",
			manifests: `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: pass-all}
spec: {selector: all(), types: [Egress], egress: [{action: Pass}]}
`,
			flow: tcp(web, db, 5432), egress: "allow profile", ingress: "allow profile", allowed: true,
		},
		{
			name: "Log is not terminal: a later Allow decides and the flow is logged",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: log-then-allow, namespace: shop}
spec: {types: [Egress], egress: [{action: Log}, {action: Allow}]}
`,
			flow: tcp(web, db, 5432), egress: "allow default/log-then-allow#1", ingress: "allow profile", allowed: true, logged: true,
		},
		{
			name: "end of tier denies an endpoint a rule-less policy selects",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-deny, namespace: shop}
spec: {selector: app == 'web', types: [Egress]}
`,
			flow: tcp(web, db, 5432), egress: "deny default/web-deny#eot", ingress: "allow profile", allowed: false,
		},
		{
			name: "end of tier does not touch endpoints no policy in the tier selects",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-deny, namespace: shop}
spec: {selector: app == 'web', types: [Egress]}
`,
			flow: tcp(pod("shop", "app", "worker"), db, 5432), egress: "allow profile", ingress: "allow profile", allowed: true,
		},
		{
			name: "end of tier is per direction: an egress-only policy leaves ingress to the profile",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pg-egress, namespace: db}
spec: {types: [Egress]}
`,
			flow: tcp(web, db, 5432), egress: "allow profile", ingress: "allow profile", allowed: true,
		},
		{
			name: "tier defaultAction Pass hands unmatched traffic to the next tier",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: allowlist}
spec: {order: 500, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allowlist.shop, namespace: shop}
spec: {tier: allowlist, types: [Egress], egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-rest, namespace: shop}
spec: {types: [Egress], egress: [{action: Deny}]}
`,
			flow: tcp(web, db, 5432), egress: "deny default/deny-rest#0", ingress: "allow profile", allowed: false,
		},
		{
			name: "policies of equal order run by name",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-deny, namespace: shop}
spec: {order: 10, types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-allow, namespace: shop}
spec: {order: 10, types: [Egress], egress: [{action: Allow}]}
`,
			flow: tcp(web, db, 5432), egress: "allow default/a-allow#0", ingress: "allow profile", allowed: true,
		},
		{
			name: "a policy without order runs after ordered ones",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-deny, namespace: shop}
spec: {types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: z-allow, namespace: shop}
spec: {order: 99999, types: [Egress], egress: [{action: Allow}]}
`,
			flow: tcp(web, db, 5432), egress: "allow default/z-allow#0", ingress: "allow profile", allowed: true,
		},
		{
			name: "ingress is evaluated on the destination workload",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pg-ingress, namespace: db}
spec:
  selector: app == 'pg'
  ingress: [{action: Allow, protocol: TCP, source: {namespaceSelector: tier == '4-aux'}, destination: {ports: [5432]}}]
`,
			cfg:  nsTiers,
			flow: tcp(web, db, 5432), egress: "allow profile", ingress: "allow default/pg-ingress#0", allowed: true,
		},
		{
			name: "ingress end of tier denies and the combined verdict is deny",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pg-ingress, namespace: db}
spec:
  selector: app == 'pg'
  ingress: [{action: Allow, protocol: TCP, source: {namespaceSelector: tier == '0-core'}}]
`,
			cfg:  nsTiers,
			flow: tcp(web, db, 5432), egress: "allow profile", ingress: "deny default/pg-ingress#eot", allowed: false,
		},
		{
			name: "no ingress evaluation towards a network",
			manifests: `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-in}
spec: {selector: all(), types: [Ingress]}
`,
			flow: tcp(web, network("1.1.1.1"), 443), egress: "allow profile", ingress: "n/a", allowed: true,
		},
	})
}

func TestEvaluateKubernetesDefaultDenyAndObserveGNP(t *testing.T) {
	web := pod("shop", "app", "web")
	pg := pod("db", "app", "pg")
	runEvalCases(t, []evalCase{
		{
			name:      "a Kubernetes deny-all egress alone denies at the end of the default tier",
			manifests: k8sDenyAllEgress, cfg: nsTiers,
			flow: tcp(web, pg, 5432), egress: "deny default/default-deny-egress#eot", ingress: "allow profile", allowed: false,
		},
		{
			name:      "the observe GNP (order 2000, default tier) cancels the Kubernetes deny-all",
			manifests: k8sDenyAllEgress + "---" + observeGNP, cfg: nsTiers,
			flow: tcp(web, pg, 5432), egress: "allow default/wave1-egress-observe-tier34#1", ingress: "allow profile", allowed: true, logged: true,
		},
		{
			name:      "the observe GNP does not cancel the deny in namespaces its namespaceSelector excludes",
			manifests: k8sDenyAllEgress + "---" + observeGNP,
			cfg:       Config{NamespaceLabels: map[string]map[string]string{"shop": {"tier": "1-cluster"}}},
			flow:      tcp(web, pg, 5432), egress: "deny default/default-deny-egress#eot", ingress: "allow profile", allowed: false,
		},
		{
			name: "the same deny in a tier ordered before default is not cancelled",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: egress-allowlist}
spec: {order: 500}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress-allowlist.shop, namespace: shop}
spec: {tier: egress-allowlist, selector: all(), types: [Egress]}
---` + observeGNP, cfg: nsTiers,
			flow: tcp(web, pg, 5432), egress: "deny egress-allowlist/egress-allowlist.shop#eot", ingress: "allow profile", allowed: false,
		},
		{
			name: "a Calico policy ordered below 1000 runs before Kubernetes policies",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: early-deny, namespace: shop}
spec: {order: 500, types: [Egress], egress: [{action: Deny, protocol: TCP}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}
`,
			flow: tcp(web, pg, 5432), egress: "deny default/early-deny#0", ingress: "allow profile", allowed: false,
		},
		{
			name:      "an empty egress rule ({}) allows everything",
			manifests: `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"allow-all","namespace":"shop"},"spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{}]}}`,
			flow:      udp(web, network("8.8.8.8"), 53), egress: "allow default/allow-all#0", ingress: "n/a", allowed: true,
		},
	})
}

func TestEvaluateStaged(t *testing.T) {
	web := pod("shop", "app", "web")
	dns := network("169.254.20.10")
	const staged = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: egress-allowlist}
spec: {order: 500}
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: egress-allowlist.shop, namespace: shop}
spec:
  tier: egress-allowlist
  order: 100
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {nets: [169.254.20.10/32, 10.96.0.10/32], ports: [53]}}
`
	runEvalCases(t, []evalCase{
		{
			name:      "staged policies do not enforce; the pending verdict shows the would-be end-of-tier deny",
			manifests: staged, flow: tcp(web, network("1.1.1.1"), 443),
			egress: "allow profile", ingress: "n/a", allowed: true, pending: "deny egress-allowlist/egress-allowlist.shop#eot",
		},
		{
			name:      "traffic the staged policy allows is allowed in both verdicts",
			manifests: staged, flow: udp(web, dns, 53),
			egress: "allow profile", ingress: "n/a", allowed: true, pending: "allow egress-allowlist/egress-allowlist.shop#0",
		},
	})

	// stagedAction Delete: ignored by Calico's pending trace, removes the
	// enforced policy in replace mode.
	const withDelete = k8sDenyAllEgress + `---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: default-deny-egress, namespace: shop}
spec: {stagedAction: Delete}
`
	flow := tcp(web, network("1.1.1.1"), 443)
	r := mustEval(t, withDelete, Config{}).Evaluate(flow)
	require.Equal(t, "deny default/default-deny-egress#eot", who(r.Egress))
	require.Equal(t, "deny default/default-deny-egress#eot", who(r.Pending.Egress))
	r = mustEval(t, withDelete, Config{PendingReplacesEnforced: true}).Evaluate(flow)
	require.Equal(t, "deny default/default-deny-egress#eot", who(r.Egress))
	require.Equal(t, "allow profile", who(r.Pending.Egress))
	require.True(t, r.Pending.Allowed)

	// stagedAction Set with the same name replaces the enforced policy in
	// replace mode, and is evaluated next to it in Calico's mode.
	const withSet = k8sDenyAllEgress + `---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: default-deny-egress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 443}]}]}
`
	r = mustEval(t, withSet, Config{}).Evaluate(flow)
	require.Equal(t, "deny default/default-deny-egress#eot", who(r.Egress))
	require.Equal(t, "allow default/default-deny-egress#0", who(r.Pending.Egress))
	require.Equal(t, KindStagedKubernetesNetworkPolicy, r.Pending.Egress.Policy.Kind)
	r = mustEval(t, withSet, Config{PendingReplacesEnforced: true}).Evaluate(tcp(web, network("1.1.1.1"), 80))
	require.Equal(t, "deny default/default-deny-egress#eot", who(r.Pending.Egress))
	require.Equal(t, KindStagedKubernetesNetworkPolicy, r.Pending.Egress.Policy.Kind, "only the staged policy remains in the pending evaluation")
}

func TestEvaluatePortsAndNets(t *testing.T) {
	web := pod("shop", "app", "web")
	api := withPorts(pod("shop", "app", "api"), NamedPort{"http", ProtoTCP, 8080}, NamedPort{"dns", ProtoUDP, 5353})
	const namedIngress = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{ports: [{port: http}, {port: dns, protocol: UDP}]}]
`
	const endPort = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 8000, endPort: 8010}]}]
`
	const ipBlock = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cidr, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]
`
	runEvalCases(t, []evalCase{
		{name: "named port matches the destination's declared port", manifests: namedIngress,
			flow: tcp(web, api, 8080), egress: "allow profile", ingress: "allow default/api-http#0", allowed: true},
		{name: "named port: other port number", manifests: namedIngress,
			flow: tcp(web, api, 8081), egress: "allow profile", ingress: "deny default/api-http#eot", allowed: false},
		{name: "named port: protocol must match the declared one", manifests: namedIngress,
			flow: udp(web, api, 8080), egress: "allow profile", ingress: "deny default/api-http#eot", allowed: false},
		{name: "named UDP port in its own protocol rule", manifests: namedIngress,
			flow: udp(web, api, 5353), egress: "allow profile", ingress: "allow default/api-http#1", allowed: true},
		{name: "endPort: first port", manifests: endPort,
			flow: tcp(web, api, 8000), egress: "allow default/range#0", ingress: "allow profile", allowed: true},
		{name: "endPort: last port", manifests: endPort,
			flow: tcp(web, api, 8010), egress: "allow default/range#0", ingress: "allow profile", allowed: true},
		{name: "endPort: one below", manifests: endPort,
			flow: tcp(web, api, 7999), egress: "deny default/range#eot", ingress: "allow profile", allowed: false},
		{name: "endPort: one above", manifests: endPort,
			flow: tcp(web, api, 8011), egress: "deny default/range#eot", ingress: "allow profile", allowed: false},
		{name: "endPort: UDP is not TCP's default", manifests: endPort,
			flow: udp(web, api, 8005), egress: "deny default/range#eot", ingress: "allow profile", allowed: false},
		{name: "ipBlock: inside cidr", manifests: ipBlock,
			flow: tcp(web, network("10.2.3.4"), 443), egress: "allow default/cidr#0", ingress: "n/a", allowed: true},
		{name: "ipBlock: inside except", manifests: ipBlock,
			flow: tcp(web, network("10.1.2.3"), 443), egress: "deny default/cidr#eot", ingress: "n/a", allowed: false},
		{name: "ipBlock: outside cidr", manifests: ipBlock,
			flow: tcp(web, network("11.0.0.1"), 443), egress: "deny default/cidr#eot", ingress: "n/a", allowed: false},
		{name: "ipBlock matches a pod by its IP (Calico semantics)", manifests: ipBlock,
			flow: tcp(web, withIP(pod("db", "app", "pg"), "10.2.0.7"), 5432), egress: "allow default/cidr#0", ingress: "allow profile", allowed: true},
	})

	// A pod peer with an unknown IP cannot match nets: the decision says so.
	ev := mustEval(t, ipBlock, Config{})
	r := ev.Evaluate(tcp(web, pod("db"), 5432))
	require.Equal(t, ActionDeny, r.Egress.Action)
	require.True(t, r.Egress.Incomplete)
	r = ev.Evaluate(tcp(web, network("10.2.3.4"), 443))
	require.False(t, r.Egress.Incomplete)
}

func TestEvaluateSelectorsAndSets(t *testing.T) {
	cfg := Config{NamespaceLabels: map[string]map[string]string{
		"a1": {"team": "a"}, "a2": {"team": "a"}, "b1": {"team": "b"},
	}}
	const gnpNS = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: team-a-egress}
spec:
  selector: all()
  namespaceSelector: team == 'a'
  types: [Egress]
  egress: [{action: Deny}]
`
	const netsets = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: node-local-dns, labels: {role: dns}}
spec: {nets: [169.254.20.10/32, 10.96.0.10/32]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: a1, labels: {role: partner}}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allowlist, namespace: a1}
spec:
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {selector: role == 'dns', namespaceSelector: global(), ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {selector: role == 'partner', ports: [443]}}
  - {action: Deny}
`
	runEvalCases(t, []evalCase{
		{name: "GNP namespaceSelector selects pods of matching namespaces", manifests: gnpNS, cfg: cfg,
			flow: tcp(pod("a2"), network("1.1.1.1"), 443), egress: "deny default/team-a-egress#0", ingress: "n/a"},
		{name: "GNP namespaceSelector skips other namespaces", manifests: gnpNS, cfg: cfg,
			flow: tcp(pod("b1"), network("1.1.1.1"), 443), egress: "allow profile", ingress: "n/a", allowed: true},
		{name: "GNP namespaceSelector never selects host endpoints", manifests: gnpNS, cfg: cfg,
			flow: tcp(host("10.0.20.5"), network("1.1.1.1"), 443), egress: "allow profile", ingress: "n/a", allowed: true},
		{name: "GNP namespaceSelector on an unconfigured namespace sees its automatic labels only", manifests: gnpNS, cfg: cfg,
			flow: tcp(pod("zz"), network("1.1.1.1"), 443), egress: "allow profile", ingress: "n/a", allowed: true},
		{name: "GlobalNetworkSet labels apply to a network peer inside its nets (global())", manifests: netsets, cfg: cfg,
			flow: udp(pod("a1"), network("169.254.20.10"), 53), egress: "allow default/allowlist#0", ingress: "n/a", allowed: true},
		{name: "an address outside every set has no labels", manifests: netsets, cfg: cfg,
			flow: udp(pod("a1"), network("169.254.20.11"), 53), egress: "deny default/allowlist#2", ingress: "n/a"},
		{name: "a namespaced NetworkSet is selected by a selector in its own namespace", manifests: netsets, cfg: cfg,
			flow: tcp(pod("a1"), network("203.0.113.9"), 443), egress: "allow default/allowlist#1", ingress: "n/a", allowed: true},
		{name: "a networkset peer carries its own labels", manifests: netsets, cfg: cfg,
			flow:   tcp(pod("a1"), Endpoint{Kind: EndpointNetworkSet, Namespace: "a1", Labels: selector.FromPairs("role", "partner")}, 443),
			egress: "allow default/allowlist#1", ingress: "n/a", allowed: true},
		{name: "global() does not select namespaced sets", manifests: netsets, cfg: cfg,
			flow:   udp(pod("a1"), Endpoint{Kind: EndpointNetworkSet, Namespace: "a1", Labels: selector.FromPairs("role", "dns")}, 53),
			egress: "deny default/allowlist#2", ingress: "n/a"},
		{name: "'!=' selects endpoints without the label",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-prod, namespace: a1}
spec: {selector: env != 'prod', types: [Egress]}
`, cfg: cfg,
			flow: tcp(pod("a1", "app", "x"), network("1.1.1.1"), 443), egress: "deny default/not-prod#eot", ingress: "n/a"},
		{name: "namespaced rule selector is limited to the policy's namespace",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: to-db, namespace: a1}
spec: {types: [Egress], egress: [{action: Allow, destination: {selector: app == 'db'}}, {action: Deny}]}
`, cfg: cfg,
			flow: tcp(pod("a1"), pod("a2", "app", "db"), 5432), egress: "deny default/to-db#1", ingress: "allow profile"},
		{name: "serviceAccounts.names match the peer's service account",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-sa, namespace: a1}
spec: {ingress: [{action: Allow, source: {serviceAccounts: {names: [builder]}}}]}
`, cfg: cfg,
			flow: tcp(withSA(pod("a1"), "builder"), pod("a1", "app", "x"), 80), egress: "allow profile", ingress: "allow default/from-sa#0", allowed: true},
		{name: "destination.services matches the flow's service",
			manifests: `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: to-dns, namespace: a1}
spec: {types: [Egress], egress: [{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}]}
`, cfg: cfg,
			flow: func() Flow {
				f := udp(pod("a1"), pod("kube-system", "k8s-app", "kube-dns"), 53)
				f.DstService = ServiceRef{Namespace: "kube-system", Name: "kube-dns"}
				return f
			}(),
			egress: "allow default/to-dns#0", ingress: "allow profile", allowed: true},
		{name: "a loaded kns.<ns> profile replaces the allow-all namespace profile",
			manifests: `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.a1}
spec: {egress: [{action: Deny}], ingress: [{action: Allow}]}
`, cfg: cfg,
			flow: tcp(pod("a1"), network("1.1.1.1"), 443), egress: "deny profile", ingress: "n/a"},
	})
}

func TestEvaluateKubernetesPeers(t *testing.T) {
	cfg := Config{NamespaceLabels: map[string]map[string]string{"prod": {"env": "prod"}, "dev": {"env": "dev"}}}
	mk := func(peer string) string {
		return `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-in, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [` + peer + `]}]
`
	}
	db := pod("prod", "app", "db")
	cases := []struct {
		peer string
		src  Endpoint
		want bool
	}{
		{`{podSelector: {matchLabels: {app: api}}}`, pod("prod", "app", "api"), true},
		{`{podSelector: {matchLabels: {app: api}}}`, pod("dev", "app", "api"), false}, // absent namespaceSelector: own namespace
		{`{podSelector: {}}`, pod("prod"), true},
		{`{podSelector: {}}`, pod("dev"), false},
		{`{namespaceSelector: {}}`, pod("dev"), true}, // empty namespaceSelector: every namespace
		{`{namespaceSelector: {matchLabels: {env: dev}}}`, pod("dev", "app", "x"), true},
		{`{namespaceSelector: {matchLabels: {env: dev}}}`, pod("prod", "app", "x"), false},
		{`{namespaceSelector: {matchLabels: {env: dev}}, podSelector: {matchLabels: {app: api}}}`, pod("dev", "app", "api"), true},
		{`{namespaceSelector: {matchLabels: {env: dev}}, podSelector: {matchLabels: {app: api}}}`, pod("dev", "app", "web"), false},
		{`{namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}}`, pod("dev"), true},
		{`{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [dev]}]}}`, pod("dev"), true},
		{`{podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}}`, pod("prod"), true},
		{`{podSelector: {matchExpressions: [{key: app, operator: Exists}]}}`, pod("prod"), false},
		{`{namespaceSelector: {}}`, host("10.0.0.1"), false}, // pods only
	}
	for _, tc := range cases {
		ev := mustEval(t, mk(tc.peer), cfg)
		r := ev.Evaluate(tcp(tc.src, db, 5432))
		require.Equal(t, tc.want, r.Ingress.Action == ActionAllow, "peer %s from %s/%s", tc.peer, tc.src.Namespace, tc.src.Labels)
	}
}

func TestEvaluateMiscRuleFields(t *testing.T) {
	const pol = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: misc}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Deny, protocol: ICMP, icmp: {type: 8}}
  - {action: Allow, protocol: ICMP}
  - {action: Deny, notProtocol: TCP}
  - {action: Allow, protocol: TCP, destination: {notPorts: ["1:1023"]}}
  - {action: Allow, ipVersion: 6, protocol: TCP}
`
	ev := mustEval(t, pol, Config{})
	src := pod("x")
	dst := network("1.1.1.1")
	ping := Flow{Src: src, Dst: dst, Proto: ProtoICMP, ICMPType: 8, ICMPKnown: true}
	require.Equal(t, "deny default/misc#0", who(ev.Evaluate(ping).Egress))
	ping.ICMPType = 0
	require.Equal(t, "allow default/misc#1", who(ev.Evaluate(ping).Egress))
	ping.ICMPKnown = false
	r := ev.Evaluate(ping)
	require.Equal(t, "allow default/misc#1", who(r.Egress))
	require.True(t, r.Egress.Incomplete, "icmp type unknown for rule 0")
	require.Equal(t, "deny default/misc#2", who(ev.Evaluate(udp(src, dst, 53)).Egress))
	require.Equal(t, "allow default/misc#3", who(ev.Evaluate(tcp(src, dst, 8443)).Egress))
	require.Equal(t, "deny default/misc#eot", who(ev.Evaluate(tcp(src, dst, 443)).Egress))
	v6 := tcp(src, network("2001:db8::1"), 443)
	require.Equal(t, "allow default/misc#4", who(ev.Evaluate(v6).Egress))
	// Without IPs the family is unknown unless configured.
	noIP := tcp(src, Endpoint{Kind: EndpointNetwork}, 443)
	r = ev.Evaluate(noIP)
	require.Equal(t, "deny default/misc#eot", who(r.Egress))
	require.True(t, r.Egress.Incomplete)
	ev6, err := NewEvaluator(mustLoad(t, pol), Config{DefaultIPVersion: 6})
	require.NoError(t, err)
	require.Equal(t, "allow default/misc#4", who(ev6.Evaluate(noIP).Egress))
}

func TestEvaluateHostEndpointDefault(t *testing.T) {
	f := tcp(host("10.0.20.5"), network("1.1.1.1"), 443)
	ev := mustEval(t, "", Config{})
	require.Equal(t, ActionAllow, ev.Evaluate(f).Egress.Action)
	ev = mustEval(t, "", Config{HostEndpointDefaultDeny: true})
	require.Equal(t, ActionDeny, ev.Evaluate(f).Egress.Action)
	require.Equal(t, netip.MustParseAddr("10.0.20.5"), f.Src.IP)
}

func TestEvaluateHTTPRulesAndMissingTiers(t *testing.T) {
	ev := mustEval(t, `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api'
  ingress: [{action: Allow, protocol: TCP, http: {methods: [GET]}}]
`, Config{})
	r := ev.Evaluate(tcp(pod("shop"), pod("shop", "app", "api"), 80))
	require.Equal(t, "allow default/api#0", who(r.Ingress))
	require.True(t, r.Ingress.Incomplete, "the HTTP match cannot be checked on a flow")

	set, errs := Load(strings.NewReader(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ghost.deny}
spec: {tier: ghost, selector: all(), types: [Egress], egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: late}
spec: {order: 99999999}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: late.allow}
spec: {tier: late, selector: all(), types: [Egress], egress: [{action: Allow}]}
`), "t.yaml")
	require.Empty(t, errs)
	ev, err := NewEvaluator(set, Config{})
	require.NoError(t, err)
	require.Equal(t, []string{"ghost"}, ev.MissingTiers)
	var names []string
	for _, tier := range ev.Tiers() {
		names = append(names, tier.Name)
	}
	require.Equal(t, []string{"adminnetworkpolicy", "default", "baselineadminnetworkpolicy", "late", "ghost"}, names)
	require.Equal(t, "allow late/late.allow#0", who(ev.Evaluate(tcp(pod("x"), network("1.1.1.1"), 443)).Egress))
}
