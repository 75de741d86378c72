package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

const (
	benchNamespaces = 150
	benchFlows      = 1_000_000
)

// benchManifests generates 200 policies across 150 namespaces, shaped like
// the target cluster after a rollout: per-namespace allowlists (some still
// staged) in a tier before default, Kubernetes ingress policies, Calico
// policies in the default tier, and a few global policies including the
// observe GNP, plus GlobalNetworkSets.
func benchManifests() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...); b.WriteString("\n---\n") }
	w(`apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: egress-allowlist}
spec: {order: 500}`)
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: dns, labels: {role: dns}}
spec: {nets: [169.254.20.10/32, 10.96.0.10/32]}`)
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: telegram, labels: {role: telegram}}
spec: {nets: [149.154.160.0/20, 91.108.4.0/22]}`)
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: nodes, labels: {role: nodes}}
spec: {nets: [10.0.20.0/24]}`)
	n := 0
	// 100 allowlists (80 enforced, 20 staged).
	for i := 0; i < 100; i++ {
		kind := "NetworkPolicy"
		if i%5 == 4 {
			kind = "StagedNetworkPolicy"
		}
		w(`apiVersion: projectcalico.org/v3
kind: %s
metadata: {name: egress-allowlist.ns%d, namespace: ns%d}
spec:
  tier: egress-allowlist
  order: 100
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'dbaas'", ports: [5432, 3306]}}
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "kubernetes.io/metadata.name == 'redis'", selector: "app == 'redis'", ports: [6379]}}
  - {action: Allow, protocol: TCP, destination: {namespaceSelector: "projectcalico.org/name == 'ns%d'", ports: ["8000:8100"]}}
  - {action: Allow, protocol: TCP, destination: {selector: "role == 'telegram'", namespaceSelector: global(), ports: [443]}}
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [443]}}`,
			kind, i, i, (i+1)%benchNamespaces)
		n++
	}
	// 60 Kubernetes ingress policies.
	for i := 0; i < 60; i++ {
		w(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: ns%d}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {tier: 3-edge}}}, {podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http}, {port: 9090}]
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{port: 9100, endPort: 9110}]`, i*2)
		n++
	}
	// 30 Calico policies in the default tier.
	for i := 0; i < 30; i++ {
		w(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: worker-rules, namespace: ns%d}
spec:
  order: 1500
  selector: app == 'worker' && env in {'prod', 'staging'}
  types: [Ingress, Egress]
  ingress: [{action: Deny, source: {notSelector: has(trusted)}}, {action: Allow}]
  egress: [{action: Deny, protocol: TCP, destination: {ports: [25]}}, {action: Pass}]`, 3+i*5)
		n++
	}
	// 10 global policies.
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: wave1-egress-observe-tier34}
spec: {order: 2000, selector: all(), namespaceSelector: 'tier in {"3-edge", "4-aux"}', types: [Egress], egress: [{action: Log}, {action: Allow}]}`)
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: baseline}
spec:
  order: 3000
  namespaceSelector: kubernetes.io/metadata.name not in {"kube-system", "calico-system"}
  types: [Ingress, Egress]
  ingress: [{action: Allow, source: {namespaceSelector: all()}}]
  egress: [{action: Allow, protocol: UDP, destination: {selector: role == 'dns', namespaceSelector: global(), ports: [53]}}]`)
	w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: hosts}
spec: {selector: has(node), types: [Ingress], ingress: [{action: Allow, protocol: TCP, destination: {ports: [22, 6443]}}]}`)
	for i := 0; i < 7; i++ {
		w(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: team-%d}
spec:
  order: %d
  selector: team == 'team-%d'
  namespaceSelector: has(tier)
  types: [Egress]
  egress: [{action: Allow, protocol: TCP, destination: {selector: "role == 'nodes'", namespaceSelector: global(), ports: [6443]}}]`, i, 900+i, i)
	}
	n += 10
	if n != 200 {
		panic(n)
	}
	return b.String()
}

type benchTuple struct {
	src, dst uint16
	port     uint16
	proto    Protocol
}

type benchData struct {
	ev     *Evaluator
	eps    []Endpoint
	tuples []benchTuple
}

var benchOnce atomic.Pointer[benchData]

func loadBench(tb testing.TB) *benchData {
	if d := benchOnce.Load(); d != nil {
		return d
	}
	set, errs := Load(strings.NewReader(benchManifests()), "bench.yaml")
	for _, err := range errs {
		if e, ok := err.(*Error); !ok || !e.Warning {
			require.NoError(tb, err)
		}
	}
	require.Len(tb, set.Policies, 200)
	tiersLabels := []string{"0-core", "1-cluster", "2-gpu", "3-edge", "4-aux"}
	cfg := Config{NamespaceLabels: map[string]map[string]string{}}
	for i := 0; i < benchNamespaces; i++ {
		cfg.NamespaceLabels[fmt.Sprintf("ns%d", i)] = map[string]string{"tier": tiersLabels[i%5], "team": fmt.Sprintf("team-%d", i%9)}
	}
	ev, err := NewEvaluator(set, cfg)
	require.NoError(tb, err)

	rng := rand.New(rand.NewPCG(1, 2))
	apps := []string{"web", "api", "worker", "redis", "pg"}
	var eps []Endpoint
	for ns := 0; ns < benchNamespaces; ns++ {
		for _, app := range apps {
			l := selector.FromPairs("app", app, "env", []string{"prod", "staging", "dev"}[rng.IntN(3)],
				"pod-template-hash", fmt.Sprintf("%x", rng.Uint32()), "team", fmt.Sprintf("team-%d", rng.IntN(9)))
			eps = append(eps, Endpoint{
				Kind: EndpointWorkload, Namespace: fmt.Sprintf("ns%d", ns), Labels: l,
				ServiceAccount: app,
				IP:             netip.AddrFrom4([4]byte{10, 10, byte(ns), byte(rng.IntN(250) + 1)}),
				NamedPorts:     []NamedPort{{"http", ProtoTCP, 8080}, {"metrics", ProtoTCP, 9100}},
			})
		}
	}
	nPods := len(eps)
	for _, ip := range []string{"169.254.20.10", "10.96.0.10", "149.154.167.99", "1.1.1.1", "142.250.74.46", "10.0.20.100", "192.168.1.5"} {
		eps = append(eps, Endpoint{Kind: EndpointNetwork, IP: netip.MustParseAddr(ip)})
	}
	eps = append(eps, Endpoint{Kind: EndpointHost, IP: netip.MustParseAddr("10.0.20.11"), Labels: selector.FromPairs("node", "k8s-node1")})
	ports := []uint16{53, 443, 5432, 6379, 8080, 8050, 9100, 9105, 25, 22, 6443, 3306}
	tuples := make([]benchTuple, benchFlows)
	for i := range tuples {
		t := benchTuple{src: uint16(rng.IntN(nPods)), port: ports[rng.IntN(len(ports))], proto: ProtoTCP}
		if rng.IntN(10) < 6 {
			t.dst = uint16(rng.IntN(nPods))
		} else {
			t.dst = uint16(nPods + rng.IntN(len(eps)-nPods))
		}
		if t.port == 53 && rng.IntN(2) == 0 {
			t.proto = ProtoUDP
		}
		tuples[i] = t
	}
	d := &benchData{ev: ev, eps: eps, tuples: tuples}
	benchOnce.Store(d)
	return d
}

func (d *benchData) flow(i int) Flow {
	t := d.tuples[i%len(d.tuples)]
	return Flow{Src: d.eps[t.src], Dst: d.eps[t.dst], Proto: t.proto, DstPort: t.port}
}

// BenchmarkEvaluate replays 1,000,000 generated flows (cycling when b.N is
// larger) on one goroutine. Run with -benchtime=1000000x for exactly one
// pass.
func BenchmarkEvaluate(b *testing.B) {
	d := loadBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	var allowed int
	for i := 0; i < b.N; i++ {
		if d.ev.Evaluate(d.flow(i)).Allowed {
			allowed++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
	b.ReportMetric(float64(allowed)/float64(b.N), "allowed/op")
}

// BenchmarkEvaluateParallel is BenchmarkEvaluate on every GOMAXPROCS
// goroutine (the Evaluator is shared).
func BenchmarkEvaluateParallel(b *testing.B) {
	d := loadBench(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1) * 7919)
		for pb.Next() {
			d.ev.Evaluate(d.flow(i))
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

func TestEvaluateAllocationFree(t *testing.T) {
	d := loadBench(t)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		d.ev.Evaluate(d.flow(i))
		i++
	})
	require.Zero(t, allocs)
	// The generated mix exercises every outcome the benchmark claims to.
	var allow, deny, pendingDiff, logged int
	for i := 0; i < 20000; i++ {
		r := d.ev.Evaluate(d.flow(i))
		if r.Allowed {
			allow++
		} else {
			deny++
		}
		if r.Allowed != r.Pending.Allowed {
			pendingDiff++
		}
		if r.Egress.Logged {
			logged++
		}
	}
	require.Positive(t, allow)
	require.Positive(t, deny)
	require.Positive(t, pendingDiff)
	require.Positive(t, logged)
}
