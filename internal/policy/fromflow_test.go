package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
)

func TestFromFlow(t *testing.T) {
	f := &flows.Flow{
		Source: flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: "api-7d9c-*", Namespace: "shop",
			Labels: []string{"app=api", "tier=web"}, IP: netip.MustParseAddr("::ffff:10.10.1.2"), Port: 40312},
		Dest:    flows.Endpoint{Type: flows.EndpointWorkload, Name: "pg-0", NameAggr: "pg-*", Namespace: "dbaas", Labels: []string{"cnpg.io/cluster=pg"}, Port: 5432},
		Service: flows.Service{Namespace: "dbaas", Name: "pg-rw", PortName: "postgres", Port: 5432},
		Proto:   flows.ProtoTCP,
	}
	got := FromFlow(f)
	require.Equal(t, EndpointWorkload, got.Src.Kind)
	require.Equal(t, "shop", got.Src.Namespace)
	require.Equal(t, "api-7d9c-*", got.Src.Name, "the aggregated name stands in for a missing name")
	require.Equal(t, netip.MustParseAddr("10.10.1.2"), got.Src.IP, "IPv4-mapped addresses are unmapped")
	require.Equal(t, NetClassNone, got.Src.Class, "no class when the IP is known")
	v, ok := got.Src.Labels.Get("tier")
	require.True(t, ok)
	require.Equal(t, "web", v)
	require.Equal(t, "pg-0", got.Dst.Name)
	require.False(t, got.Dst.IP.IsValid())
	require.Equal(t, NetClassPod, got.Dst.Class)
	require.Nil(t, got.Dst.NamedPorts, "named ports are unknown")
	require.Equal(t, ProtoTCP, got.Proto)
	require.Equal(t, uint16(40312), got.SrcPort)
	require.Equal(t, uint16(5432), got.DstPort)
	require.Equal(t, ServiceRef{Namespace: "dbaas", Name: "pg-rw"}, got.DstService)

	for _, c := range []struct {
		ep   flows.Endpoint
		want NetClass
	}{
		{flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub"}, NetClassPublic},
		{flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pvt"}, NetClassPrivate},
		{flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "-"}, NetClassNone},
		{flows.Endpoint{Type: flows.EndpointHost, NameAggr: "node-1"}, NetClassNode},
		{flows.Endpoint{Type: flows.EndpointNetworkSet, NameAggr: "usenet"}, NetClassNone},
		{flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("1.1.1.1")}, NetClassNone},
	} {
		fl := FromFlow(&flows.Flow{Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "x"}, Dest: c.ep})
		require.Equal(t, c.want, fl.Dst.Class, "%+v", c.ep)
	}
	require.Equal(t, "pub", NetClassPublic.String())
	require.Equal(t, "-", NetClassNone.String())
}

// classEndpoint is a network endpoint known only by its class.
func classEndpoint(c NetClass) Endpoint { return Endpoint{Kind: EndpointNetwork, Class: c} }

func TestAddressClasses(t *testing.T) {
	const pols = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [443]}}
  - {action: Allow, protocol: TCP, destination: {nets: [10.0.0.0/8], ports: [5432]}}
  - {action: Allow, protocol: TCP, destination: {nets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [6379]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.160.0/20], ports: [8443]}}
  - {action: Allow, protocol: TCP, destination: {notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [80]}}
  - {action: Allow, protocol: TCP, destination: {nets: [10.10.0.0/16], ports: [9000]}}
  - {action: Deny}
`
	src := pod("shop", "app", "web")
	v4 := Config{DefaultIPVersion: 4, PodNets: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")}}
	cases := []struct {
		name    string
		cfg     Config
		dst     Endpoint
		port    uint16
		want    string
		missing Missing
	}{
		{"public class inside 0/0 minus private", v4, classEndpoint(NetClassPublic), 443, "allow default/allow#0", 0},
		{"private class outside 0/0 minus private: certainly not rule 0", v4, classEndpoint(NetClassPrivate), 443, "deny default/allow#6", 0},
		{"public class outside 10/8", v4, classEndpoint(NetClassPublic), 5432, "deny default/allow#6", 0},
		{"private class only partly inside 10/8", v4, classEndpoint(NetClassPrivate), 5432, "deny default/allow#6", MissingClassPart},
		{"private class inside all of RFC 1918", v4, classEndpoint(NetClassPrivate), 6379, "allow default/allow#2", 0},
		{"private class with a narrower configured private range", Config{DefaultIPVersion: 4, PrivateNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			classEndpoint(NetClassPrivate), 5432, "allow default/allow#1", 0},
		{"public class partly inside a /20", v4, classEndpoint(NetClassPublic), 8443, "deny default/allow#6", MissingClassPart},
		{"public class outside the notNets", v4, classEndpoint(NetClassPublic), 80, "allow default/allow#4", 0},
		{"private class inside the notNets", v4, classEndpoint(NetClassPrivate), 80, "deny default/allow#6", 0},
		{"no family: the public class spans IPv6, which 0.0.0.0/0 lacks", Config{}, classEndpoint(NetClassPublic), 443, "deny default/allow#6", MissingClassPart},
		{"pod class inside the pod range", v4, Endpoint{Kind: EndpointWorkload, Namespace: "db", Class: NetClassPod}, 9000, "allow default/allow#5", 0},
		{"pod class undefined without pod ranges", Config{DefaultIPVersion: 4}, Endpoint{Kind: EndpointWorkload, Namespace: "db", Class: NetClassPod}, 9000, "deny default/allow#6", MissingAddress},
		{"no class, no IP", v4, Endpoint{Kind: EndpointNetwork}, 443, "deny default/allow#6", MissingAddress},
		{"an IP wins over the class", v4, Endpoint{Kind: EndpointNetwork, Class: NetClassPrivate, IP: netip.MustParseAddr("1.1.1.1")}, 443, "allow default/allow#0", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := mustEval(t, pols, c.cfg)
			r := ev.Evaluate(tcp(src, c.dst, c.port))
			require.Equal(t, c.want, who(r.Egress))
			require.Equal(t, c.missing, r.Egress.Missing, r.Egress.Missing.String())
			require.Equal(t, c.missing != 0, r.Egress.Incomplete)
			if c.missing != 0 {
				require.Equal(t, "allow", r.Egress.UnknownPolicy.Name)
				require.Equal(t, "default", r.Egress.UnknownPolicy.Tier)
				require.False(t, r.Egress.Certain(), "an undecided Allow before a Deny leaves the verdict open")
			} else {
				require.True(t, r.Egress.Certain())
			}
		})
	}
}

func TestIncompleteDetails(t *testing.T) {
	const pols = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: telegram, labels: {role: telegram}}
spec: {nets: [149.154.160.0/20]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Deny, destination: {nets: [10.0.0.0/8], selector: "app == 'db'"}}
  - {action: Allow, protocol: TCP, destination: {selector: "role == 'telegram'", namespaceSelector: global(), ports: [443]}}
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], ports: [443]}}
`
	ev := mustEval(t, pols, Config{DefaultIPVersion: 4})
	src := pod("shop")

	// Rule 0 needs an address (unknown) but its selector rules the flow
	// out: not undecided. Rule 1: the public class overlaps the selected
	// set: undecided. Rule 2 allows: the undecided rule would also have
	// allowed, so the verdict is certain.
	r := ev.Evaluate(tcp(src, classEndpoint(NetClassPublic), 443))
	require.Equal(t, "allow default/p#2", who(r.Egress))
	require.True(t, r.Egress.Incomplete)
	require.Equal(t, MissingSetMember, r.Egress.Missing)
	require.EqualValues(t, 1, r.Egress.UnknownRule)
	require.True(t, r.Egress.Certain())

	// The private class cannot be in the public set: decided.
	r = ev.Evaluate(tcp(src, classEndpoint(NetClassPrivate), 443))
	require.False(t, r.Egress.Incomplete)
	require.Equal(t, "allow default/p#2", who(r.Egress), "0.0.0.0/0 holds the whole private class")

	// A pod without IP or class: rule 0 is undecided (deny), so the allow
	// by rule 2 is not certain; the port is unknown too.
	r = ev.Evaluate(Flow{Src: src, Dst: pod("shop", "app", "db"), Proto: ProtoTCP})
	require.Equal(t, "deny default/p#eot", who(r.Egress))
	require.Equal(t, MissingAddress|MissingPort, r.Egress.Missing)
	require.EqualValues(t, 0, r.Egress.UnknownRule)
	require.Equal(t, "address unknown; port unknown", reverseOrder(r.Egress.Missing))
	require.False(t, r.Egress.Certain())
}

// reverseOrder renders Missing in a fixed order independent of bit order,
// to keep the assertion readable.
func reverseOrder(m Missing) string {
	var parts []string
	if m&MissingAddress != 0 {
		parts = append(parts, "address unknown")
	}
	if m&MissingPort != 0 {
		parts = append(parts, "port unknown")
	}
	return strings.Join(parts, "; ")
}

func TestMissingString(t *testing.T) {
	require.Equal(t, "", Missing(0).String())
	require.Equal(t, "protocol unknown; http match not checked", (MissingProtocol | MissingHTTP).String())
}

func TestClassEvaluationAllocationFree(t *testing.T) {
	ev := mustEval(t, `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: telegram, labels: {role: telegram}}
spec: {nets: [149.154.160.0/20]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: TCP, destination: {selector: "role == 'telegram'", namespaceSelector: global(), ports: [443]}}
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], notNets: [10.0.0.0/8], ports: [443]}}
`, Config{DefaultIPVersion: 4})
	f := tcp(pod("shop", "app", "web"), classEndpoint(NetClassPublic), 443)
	allocs := testing.AllocsPerRun(1000, func() { ev.Evaluate(f) })
	require.Zero(t, allocs)
}

func TestInspectHelpers(t *testing.T) {
	set := mustLoad(t, `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: observe}
spec:
  order: 2000
  selector: all()
  namespaceSelector: tier in {"3-edge", "4-aux"}
  types: [Egress]
  egress: [{action: Log}, {action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: lock, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - {action: Allow, protocol: TCP, destination: {nets: [1.2.3.0/24, 10.0.0.0/8], ports: [443]}}
  - {action: Deny}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
`)
	ev, err := NewEvaluator(set, Config{NamespaceLabels: map[string]map[string]string{"shop": {"tier": "4-aux"}}})
	require.NoError(t, err)
	names := func(ps []*Policy) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	require.Equal(t, []string{"deny-all", "observe", "lock"}, names(ev.Selecting(pod("shop", "app", "web"), true, false)), "evaluation order: no order runs last")
	require.Equal(t, []string{"deny-all", "observe"}, names(ev.Selecting(pod("shop", "app", "db"), true, false)))
	require.Empty(t, ev.Selecting(pod("other-ns"), true, false), "an unknown namespace has no tier label")
	require.Empty(t, ev.Selecting(pod("shop", "app", "web"), false, false), "no ingress policies")
	require.Equal(t, "default", ev.Tier("default").Name)
	require.Nil(t, ev.Tier("nope"))

	obs := set.Policy(KindGlobalNetworkPolicy, "", "observe")
	act, idx, ok := obs.Unconditional(true)
	require.True(t, ok)
	require.Equal(t, "Allow", act)
	require.Equal(t, 1, idx, "the Log rule is skipped")
	require.Equal(t, "Log", obs.RuleAction(true, 0))
	require.Equal(t, "", obs.RuleAction(true, 5))
	lock := set.Policy(KindNetworkPolicy, "shop", "lock")
	act, idx, ok = lock.Unconditional(true)
	require.True(t, ok)
	require.Equal(t, "Deny", act)
	require.Equal(t, 1, idx)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("1.2.3.0/24"), netip.MustParsePrefix("10.0.0.0/8")}, lock.DestinationNets(true))
	_, _, ok = set.Policy(KindKubernetesNetworkPolicy, "shop", "deny-all").Unconditional(true)
	require.False(t, ok, "a Kubernetes deny-all has no rule: the end of tier denies")
}

func TestMergeReportsDuplicatesAcrossSets(t *testing.T) {
	doc := `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {selector: all(), types: [Egress]}
`
	a, errs := Load(strings.NewReader(doc), "a.yaml")
	require.Empty(t, errs)
	b, errs := Load(strings.NewReader(doc), "b.yaml")
	require.Empty(t, errs)
	set, errs := Merge(a, b)
	require.Len(t, set.Policies, 1)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), "b.yaml: doc 0")
	require.Contains(t, errs[0].Error(), "duplicate of a.yaml doc 0")
}
