package diff

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/config"
)

// objs decodes a YAML stream of policies.
func objs(t *testing.T, src string) side {
	t.Helper()
	var s side
	for i, doc := range strings.Split(src, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err)
		var head struct{ APIVersion, Kind string }
		require.NoError(t, yaml.Unmarshal([]byte(doc), &head))
		p, err := decodeObject(head.APIVersion, head.Kind, js, "doc")
		require.NoError(t, err, "doc %d", i)
		require.NotNil(t, p)
		s.objs = append(s.objs, p)
	}
	return s
}

// lines runs a comparison and lists the changes as "-text" / "+text" /
// "policy: change".
func lines(t *testing.T, old, cur string) []string {
	t.Helper()
	rep := &Report{}
	compare(rep, objs(t, old), objs(t, cur), nil, nil, nil, Options{Profile: config.Default()})
	var out []string
	for _, d := range rep.Namespaces {
		for _, p := range d.Policies {
			out = append(out, p.Policy+": "+p.Change)
		}
		for _, c := range d.Removed {
			out = append(out, "-"+c.Text)
		}
		for _, c := range d.Added {
			out = append(out, "+"+c.Text)
		}
	}
	return out
}

func calicoNP(rules string) string {
	return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress-allowlist.shop, namespace: shop}
spec:
  tier: egress-allowlist
  order: 100
  selector: all()
  types: [Egress]
  egress:
` + rules
}

func TestAtomNormalization(t *testing.T) {
	const base = `
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "a == 'x' && b == 'y'", ports: [5432, 5433]}}
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.160.0/20, 91.108.4.0/22], ports: [443]}}
  - {action: Deny}
`
	cases := []struct {
		name  string
		rules string
		want  []string
	}{
		{"identical", base, nil},
		{"rules reordered, selector respelled, ports and nets reordered", `
  - {action: Allow, protocol: TCP, destination: {nets: [91.108.4.0/22, 149.154.160.0/20], ports: [443]}}
  - {action: Allow, protocol: UDP, destination: {ports: [53], nets: [169.254.20.10/32, 10.96.0.10/32]}}
  - {action: Allow, protocol: TCP, destination: {selector: "b == \"y\" && a == \"x\"", namespaceSelector: "kubernetes.io/metadata.name == \"dbaas\"", ports: [5433, 5432]}}
  - {action: Deny}
`, nil},
		{"one rule split in two, a range for two ports, nets split in halves", `
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "(a == 'x') && (b == 'y')", ports: ["5432:5433"]}}
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32], ports: [53]}}
  - {action: Allow, protocol: UDP, destination: {nets: [169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.160.0/21, 149.154.168.0/21, 91.108.4.0/22], ports: [443]}}
  - {action: Deny}
`, nil},
		{"narrowed ports show the removed part", `
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "a == 'x' && b == 'y'", ports: [5432]}}
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.160.0/20, 91.108.4.0/22], ports: [443]}}
  - {action: Deny}
`, []string{"-TCP/5433 to dbaas {a=x, b=y}"}},
		{"narrowed nets show the removed part", `
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "a == 'x' && b == 'y'", ports: [5432, 5433]}}
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.164.0/22, 91.108.4.0/22], ports: [443]}}
  - {action: Deny}
`, []string{
			"-TCP/443 to 149.154.160.0/22, 149.154.168.0/21",
			"-UDP/53 to 169.254.20.10/32",
		}},
		{"widened ports and a new peer show as additions", base + `
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "a == 'x' && b == 'y'", ports: ["5432:5440"]}}
  - {action: Allow, protocol: TCP, destination: {selector: "app == 'web'", ports: [8080]}}
`, []string{
			"+TCP/5434-5440 to dbaas {a=x, b=y}",
			"+TCP/8080 to shop {app=web}",
		}},
		{"a different selector is a different peer", strings.Replace(base, "b == 'y'", "b == 'z'", 1), []string{
			"-TCP/5432-5433 to dbaas {a=x, b=y}",
			"+TCP/5432-5433 to dbaas {a=x, b=z}",
		}},
		{"any port replaces listed ports", strings.Replace(base, "ports: [5432, 5433]", "ports: []", 1), []string{
			"+TCP/0-5431,5434-65535 to dbaas {a=x, b=y}",
		}},
		{"the explicit deny dropped", strings.Replace(base, "  - {action: Deny}\n", "", 1), []string{
			"-deny any protocol to anywhere",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, lines(t, calicoNP(base), calicoNP(c.rules)))
		})
	}
}

func TestKubernetesAndCalicoFlavorsMeanTheSame(t *testing.T) {
	const k8s = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-allowlist, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.96.0.10/32}}, {ipBlock: {cidr: 169.254.20.10/32}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dbaas}}, podSelector: {matchLabels: {b: "y", a: x}}}]
    ports: [{protocol: TCP, port: 5432}]
  - to: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}]
    ports: [{protocol: TCP, port: 443}]
`
	calico := calicoNP(`
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", selector: "a == 'x' && b == 'y'", ports: [5432]}}
  - {action: Allow, protocol: TCP, destination: {selector: "app == 'web'", ports: [8080]}}
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [443]}}
  - {action: Deny}
`)
	require.Equal(t, []string{
		"KubernetesNetworkPolicy shop/egress-allowlist: removed",
		"NetworkPolicy shop/egress-allowlist.shop: added",
		"+deny any protocol to anywhere",
	}, lines(t, k8s, calico), "only the explicit Deny differs in meaning")
}

func TestPolicyLevelChanges(t *testing.T) {
	staged := strings.Replace(strings.Replace(calicoNP("  - {action: Deny}\n"), "kind: NetworkPolicy", "kind: StagedNetworkPolicy", 1), "order: 100", "order: 100\n  stagedAction: Set", 1)
	enforced := strings.Replace(calicoNP("  - {action: Deny}\n"), "order: 100", "order: 200", 1)
	require.Equal(t, []string{
		"NetworkPolicy shop/egress-allowlist.shop: kind StagedNetworkPolicy -> NetworkPolicy (enforced: the policy now drops traffic)",
		"NetworkPolicy shop/egress-allowlist.shop: order 100 -> 200",
		"NetworkPolicy shop/egress-allowlist.shop: stagedAction Set -> (none)",
	}, lines(t, staged, enforced))
	sel := strings.Replace(calicoNP("  - {action: Deny}\n"), "selector: all()", "selector: \"app == 'x'\"", 1)
	require.Equal(t, []string{
		"NetworkPolicy shop/egress-allowlist.shop: selector all() -> app == \"x\"",
		"-deny any protocol to anywhere",
		"+deny any protocol to anywhere (from app == \"x\")",
	}, lines(t, calicoNP("  - {action: Deny}\n"), sel), "who a rule applies to is part of its meaning")
}

func TestCellsPartition(t *testing.T) {
	got := partition(parsePrefixes(t, "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"))
	require.Contains(t, got, mustPrefix(t, "10.1.2.0/24"))
	require.Contains(t, got, mustPrefix(t, "10.0.0.0/16"))
	require.Contains(t, got, mustPrefix(t, "10.128.0.0/9"))
	// The pieces are disjoint and cover exactly the union.
	for i, a := range got {
		for j, b := range got {
			if i != j {
				require.False(t, a.Overlaps(b), "%s overlaps %s", a, b)
			}
		}
	}
	require.Equal(t, "10.0.0.0/8", netsString(got))
}
