package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const validNP = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: ok, namespace: shop}
spec: {selector: all(), types: [Egress], egress: [{action: Allow}]}
`

func TestLoadKindsListsAndSkipped(t *testing.T) {
	const manifests = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: egress-allowlist}
spec: {order: 500, defaultAction: Pass}
---
# a comment-only document is ignored
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress-allowlist.a, namespace: shop}
spec: {tier: egress-allowlist, types: [Egress]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec: {selector: all(), ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: s, namespace: shop}
spec: {stagedAction: Set, egress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: sg}
spec: {stagedAction: Delete}
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: sk, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: shop, labels: {role: partner}}
spec: {nets: [203.0.113.0/24, 198.51.100.7]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: dns, labels: {role: dns}}
spec: {nets: [169.254.20.10/32]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.shop}
spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: 4-aux}}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: k1, namespace: shop}
  spec: {podSelector: {}}
- apiVersion: v1
  kind: Service
  metadata: {name: svc}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicyList
items:
- metadata: {name: listed, namespace: other}
  spec: {selector: all()}
`
	set, errs := Load(strings.NewReader(manifests), "m.yaml")
	for _, e := range errs {
		require.True(t, e.(*Error).Warning, "unexpected error: %v", e)
	}
	require.Len(t, set.Tiers, 1)
	require.True(t, set.Tiers[0].DefaultPass)
	require.Len(t, set.Policies, 7)
	require.Len(t, set.NetworkSets, 2)
	require.Len(t, set.Profiles, 1)
	require.Equal(t, map[string]int{"apps/v1/Deployment": 1, "v1/ConfigMap": 1, "v1/Service": 1, "v1/Namespace": 1}, set.Skipped)
	require.Equal(t, map[string]string{"tier": "4-aux"}, set.Namespaces["shop"])
	require.Equal(t, 15, set.Documents)

	listed := set.Policy(KindNetworkPolicy, "other", "listed")
	require.NotNil(t, listed)
	require.Equal(t, "m.yaml", listed.Source.File)
	require.Equal(t, 14, listed.Source.Doc)
	require.Equal(t, "items[0]", listed.Source.Path)
	k1 := set.Policy(KindKubernetesNetworkPolicy, "shop", "k1")
	require.NotNil(t, k1)
	require.Equal(t, "knp.default.k1", k1.CalicoName())
	require.Equal(t, float64(KubernetesPolicyOrder), *k1.Order)
	require.True(t, k1.Ingress)
	require.False(t, k1.Egress)
	sg := set.Policy(KindStagedGlobalNetworkPolicy, "", "sg")
	require.Equal(t, StagedDelete, sg.StagedAction)
	require.Equal(t, StagedSet, set.Policy(KindStagedNetworkPolicy, "shop", "s").StagedAction)
	require.Len(t, set.NetworkSets[0].Nets, 2)
	require.Equal(t, "198.51.100.7/32", set.NetworkSets[0].Nets[1].String())
}

func TestTypesInference(t *testing.T) {
	cases := []struct {
		spec            string
		ingress, egress bool
	}{
		{`{}`, true, false},
		{`{ingress: [{action: Allow}]}`, true, false},
		{`{egress: [{action: Allow}]}`, false, true},
		{`{ingress: [{action: Allow}], egress: [{action: Allow}]}`, true, true},
		{`{types: [Egress]}`, false, true},
		{`{types: [Ingress, Egress]}`, true, true},
	}
	for _, tc := range cases {
		set := mustLoad(t, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns1}\nspec: "+tc.spec)
		require.Len(t, set.Policies, 1, tc.spec)
		require.Equal(t, tc.ingress, set.Policies[0].Ingress, tc.spec)
		require.Equal(t, tc.egress, set.Policies[0].Egress, tc.spec)
	}
	k8s := []struct {
		spec            string
		ingress, egress bool
	}{
		{`{podSelector: {}}`, true, false},
		{`{podSelector: {}, egress: [{}]}`, true, true},
		{`{podSelector: {}, policyTypes: [Egress]}`, false, true},
	}
	for _, tc := range k8s {
		set := mustLoad(t, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns1}\nspec: "+tc.spec)
		require.Equal(t, tc.ingress, set.Policies[0].Ingress, tc.spec)
		require.Equal(t, tc.egress, set.Policies[0].Egress, tc.spec)
	}
}

// Each case puts a valid policy in document 0 and the broken object in
// document 1; the error must name file, document and field, and document 0
// must still load.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		field   string
		msg     string
		warning bool
	}{
		{"non-default tier needs tier.name", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: shop, namespace: shop}
spec: {tier: egress-allowlist}`, "metadata.name", `must be named "egress-allowlist.shop"`, false},
		{"tier prefix must match the tier", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: foo.bar}
spec: {}`, "metadata.name", `tier prefix "foo" but the policy is in tier "default"`, false},
		{"at most one dot", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a.b.c, namespace: shop}
spec: {tier: a}`, "metadata.name", "at most one '.'", false},
		{"services exclusive with selector", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}, selector: "a == 'b'"}}]}`,
			"spec.egress[0].destination.services", "cannot specify selector/notSelector and services", false},
		{"services not with ports", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, protocol: UDP, destination: {services: {name: kube-dns, namespace: kube-system}, ports: [53]}}]}`,
			"spec.egress[0].destination.ports", "cannot specify ports with a service selector", false},
		{"services only in egress destination", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, source: {services: {name: x}}}]}`, "spec.egress[0].source.services", "not allowed in an egress rule source", false},
		{"GNP services need a namespace", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {egress: [{action: Allow, destination: {services: {name: kube-dns}}}]}`, "spec.egress[0].destination.services.namespace", "must specify a namespace", false},
		{"ports need a protocol", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  egress:
  - {action: Allow}
  - {action: Log}
  - {action: Allow, destination: {ports: [443]}}`, "spec.egress[2].destination.ports", "must set protocol to TCP, UDP or SCTP", false},
		{"ports need a port-capable protocol", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, protocol: ICMP, destination: {notPorts: [1]}}]}`, "spec.egress[0].destination.notPorts", "must set protocol", false},
		{"catch-all notNets", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {notNets: [0.0.0.0/0]}}]}`, "spec.egress[0].destination.notNets[0]", "matches no traffic", false},
		{"IPv4 and IPv6 mixed", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {nets: [10.0.0.0/8, "fd00::/8"]}}]}`, "spec.egress[0].destination.nets", "both IPv4 and IPv6", false},
		{"IPv4 and IPv6 mixed across fields", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, source: {nets: [10.0.0.0/8]}, destination: {notNets: ["fd00::/8"]}}]}`, "spec.egress[0].destination.notNets", "both IPv4 and IPv6", false},
		{"ipVersion disagrees with CIDRs", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, ipVersion: 6, destination: {nets: [10.0.0.0/8]}}]}`, "spec.egress[0].destination.nets", "ipVersion does not match", false},
		{"bare address in nets", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {nets: [10.0.0.1]}}]}`, "spec.egress[0].destination.nets[0]", "write 10.0.0.1/32", false},
		{"host bits in a rule CIDR", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {nets: [10.0.0.1/8]}}]}`, "spec.egress[0].destination.nets[0]", "not strictly masked", false},
		{"preDNAT with egress rules", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {preDNAT: true, applyOnForward: true, egress: [{action: Allow}]}`, "spec.egress", "preDNAT policy cannot have egress rules", false},
		{"preDNAT needs applyOnForward", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {preDNAT: true, ingress: [{action: Allow}]}`, "spec.applyOnForward", "applyOnForward must be true", false},
		{"preDNAT and doNotTrack", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {preDNAT: true, doNotTrack: true, applyOnForward: true, ingress: [{action: Allow}]}`, "spec.preDNAT", "cannot both be true", false},
		{"tier names have no dots", `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: my.tier}
spec: {order: 10}`, "metadata.name", "no dots", false},
		{"the default tier's order is fixed", `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: default}
spec: {order: 100}`, "spec.order", "default tier order must be 1e+06", false},
		{"the adminnetworkpolicy tier's order is fixed", `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: adminnetworkpolicy}
spec: {}`, "spec.order", "adminnetworkpolicy tier order must be 1000", false},
		{"tier defaultAction", `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: t}
spec: {defaultAction: Allow}`, "spec.defaultAction", "must be Deny or Pass", false},
		{"selector that does not parse", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  egress:
  - {action: Allow}
  - {action: Allow}
  - {action: Allow, destination: {selector: "app == 'a' &&"}}`, "spec.egress[2].destination.selector", `invalid selector "app == 'a' &&" at position 13`, false},
		{"global() only in namespaceSelector", `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {selector: global()}`, "spec.selector", "global() can only be used", false},
		{"global() alone", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destination: {namespaceSelector: "global() && a == 'b'"}}]}`, "spec.egress[0].destination.namespaceSelector", "cannot be combined", false},
		{"unknown field", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, destinaton: {ports: [1]}}]}`, "spec.egress[0].destinaton", "unknown field", false},
		{"repeated type", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {types: [Egress, Egress]}`, "spec.types[1]", "specified more than once", false},
		{"stagedAction Delete with a spec", `
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: p, namespace: shop}
spec: {stagedAction: Delete, selector: all()}`, "spec", "must all be empty when stagedAction is Delete", false},
		{"invalid stagedAction", `
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: p}
spec: {stagedAction: Maybe}`, "spec.stagedAction", "invalid stagedAction", false},
		{"reserved NetworkSet label", `
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: s, namespace: shop, labels: {projectcalico.org/namespace: x}}
spec: {nets: [10.0.0.0/8]}`, "metadata.labels", "not a valid label name on a network set", false},
		{"icmp needs protocol ICMP", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: Allow, protocol: TCP, icmp: {type: 8}}]}`, "spec.egress[0].icmp", "requires protocol ICMP", false},
		{"invalid action", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {egress: [{action: allow}]}`, "spec.egress[0].action", "invalid action", false},
		{"Kubernetes named port with endPort", `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: http, endPort: 90}]}]}`, "spec.egress[0].ports[0].endPort", "Calico drops this rule", false},
		{"missing kind", `
apiVersion: v1
metadata: {name: x}`, "kind", "missing kind", false},
		{"list items are located", `
apiVersion: v1
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: NetworkPolicy
  metadata: {name: p, namespace: shop}
  spec: {selector: "a ="}`, "items[0].spec.selector", "expected '=='", false},
		{"rule-less policy without types (warning)", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {selector: all()}`, "spec.types", "infers [Ingress]", true},
		{"rules the types make inert (warning)", `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {types: [Ingress], egress: [{action: Deny}]}`, "spec.egress", "egress rules are ignored", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, errs := Load(strings.NewReader(validNP+"---"+tc.doc), "bad.yaml")
			var found *Error
			for _, err := range errs {
				var e *Error
				require.True(t, errors.As(err, &e))
				if e.Field == tc.field && strings.Contains(e.Msg, tc.msg) {
					found = e
				}
			}
			require.NotNil(t, found, "want %s: %q; got %v", tc.field, tc.msg, errs)
			require.Equal(t, "bad.yaml", found.File)
			require.Equal(t, 1, found.Doc)
			require.Equal(t, tc.warning, found.Warning)
			require.NotNil(t, set.Policy(KindNetworkPolicy, "shop", "ok"), "document 0 still loads")
			loaded := len(set.Policies) + len(set.Tiers) + len(set.NetworkSets)
			if tc.warning {
				require.Equal(t, 2, loaded, "a warning does not drop the object")
			} else {
				require.Equal(t, 1, loaded, "an invalid object is not loaded")
			}
		})
	}
}

func TestErrorFormatAndAllowInvalid(t *testing.T) {
	doc := validNP + `---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  egress:
  - {action: Allow, destination: {nets: ["10.0.0.0/8", "::/0"]}}
`
	_, errs := Load(strings.NewReader(doc), "f.yaml")
	require.Len(t, errs, 1)
	require.Equal(t, `f.yaml:7: doc 1 (NetworkPolicy shop/p): spec.egress[0].destination.nets: rule contains both IPv4 and IPv6 CIDRs`, errs[0].Error())

	l := &Loader{AllowInvalid: true}
	set, errs := l.Load(strings.NewReader(doc), "f.yaml")
	require.Len(t, errs, 1)
	require.Len(t, set.Policies, 2, "AllowInvalid keeps an invalid but compilable policy")

	// A selector that does not compile is never kept.
	set, errs = l.Load(strings.NewReader(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {selector: "a ==", types: [Egress]}`), "g.yaml")
	require.Len(t, errs, 1)
	require.Empty(t, set.Policies)
}

func TestLoadRecoversFromBrokenDocuments(t *testing.T) {
	doc := "kind: [unclosed\n---\n" + validNP + "---\n" + validNP
	set, errs := Load(strings.NewReader(doc), "x.yaml")
	require.Len(t, set.Policies, 1)
	require.Len(t, errs, 2)
	require.Contains(t, errs[0].Error(), "x.yaml:1: doc 0: parsing YAML: did not find")
	require.Contains(t, errs[1].Error(), "duplicate of x.yaml doc 1")

	// A parse error deep in a later document names its line in the file.
	doc = validNP + "---\n# a comment\napiVersion: v1\nkind: [unclosed\n"
	_, errs = Load(strings.NewReader(doc), "y.yaml")
	require.Len(t, errs, 1)
	n := strings.Count(validNP, "\n")
	require.Equal(t, fmt.Sprintf("y.yaml:%d: doc 1: parsing YAML: did not find expected ',' or ']'", n+4), errs[0].Error())
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.json")
	require.NoError(t, os.WriteFile(a, []byte(validNP), 0o600))
	require.NoError(t, os.WriteFile(b, []byte(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s"},"spec":{"nets":["1.2.3.0/24"]}}`), 0o600))
	set, errs := LoadFiles([]string{a, b, filepath.Join(dir, "missing.yaml")})
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), "missing.yaml")
	require.Len(t, set.Policies, 1)
	require.Len(t, set.NetworkSets, 1)
	require.Equal(t, b, set.NetworkSets[0].Source.File)
}

func TestDefaultNamespace(t *testing.T) {
	set := mustLoad(t, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec: {podSelector: {}}`)
	require.Equal(t, "default", set.Policies[0].Namespace)
	l := &Loader{DefaultNamespace: "shop"}
	set, errs := l.Load(strings.NewReader(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec: {podSelector: {}}`), "x")
	require.Empty(t, errs)
	require.Equal(t, "shop", set.Policies[0].Namespace)
}

func TestEffectiveSelectors(t *testing.T) {
	set := mustLoad(t, `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: np, namespace: shop}
spec: {selector: app == 'web', serviceAccountSelector: role == 'x'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gnp}
spec: {selector: all(), namespaceSelector: tier == '4-aux'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gnp-empty-selector}
spec: {namespaceSelector: "!has(skip)"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}, matchExpressions: [{key: env, operator: In, values: [a, b]}]}}
`)
	sel := func(kind Kind, ns, name string) string { return set.Policy(kind, ns, name).Selector.String() }
	require.Equal(t, `app == "web" && pcsa.role == "x" && projectcalico.org/namespace == "shop"`, sel(KindNetworkPolicy, "shop", "np"))
	require.Equal(t, `has(projectcalico.org/namespace) && pcns.tier == "4-aux"`, sel(KindGlobalNetworkPolicy, "", "gnp"))
	// As in libcalico-go: with an empty selector the namespace selector
	// stands alone, so it can also match non-namespaced endpoints.
	require.Equal(t, `!has(pcns.skip)`, sel(KindGlobalNetworkPolicy, "", "gnp-empty-selector"))
	require.Equal(t, `app == "web" && env in {"a", "b"} && projectcalico.org/namespace == "shop" && projectcalico.org/orchestrator == "k8s"`,
		sel(KindKubernetesNetworkPolicy, "shop", "k"))
}

func TestDuplicateTiersAndSets(t *testing.T) {
	const tier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 1}\n"
	const gns = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {nets: [10.0.0.0/8]}\n"
	set, errs := Load(strings.NewReader(tier+"---\n"+tier+"---\n"+gns+"---\n"+gns), "d.yaml")
	require.Len(t, set.Tiers, 1)
	require.Len(t, set.NetworkSets, 1)
	require.Len(t, errs, 2)
	require.Equal(t, "d.yaml:6: doc 1 (Tier t): metadata.name: duplicate of d.yaml doc 0; this definition is ignored", errs[0].Error())
	require.Contains(t, errs[1].Error(), "doc 3 (GlobalNetworkSet s)")
}
