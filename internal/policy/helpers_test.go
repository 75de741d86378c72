package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// mustLoad loads manifests and fails on any error (warnings are allowed).
func mustLoad(t testing.TB, manifests string) *Set {
	t.Helper()
	set, errs := Load(strings.NewReader(manifests), "test.yaml")
	for _, err := range errs {
		if e, ok := err.(*Error); ok && e.Warning {
			continue
		}
		require.NoError(t, err)
	}
	return set
}

func mustEval(t testing.TB, manifests string, cfg Config) *Evaluator {
	t.Helper()
	ev, err := NewEvaluator(mustLoad(t, manifests), cfg)
	require.NoError(t, err)
	return ev
}

// pod builds a workload endpoint: pod("ns", "app", "web").
func pod(ns string, kv ...string) Endpoint {
	return Endpoint{Kind: EndpointWorkload, Namespace: ns, Labels: selector.FromPairs(kv...), NamedPorts: []NamedPort{}}
}

func withIP(ep Endpoint, ip string) Endpoint {
	ep.IP = netip.MustParseAddr(ip)
	return ep
}

func withSA(ep Endpoint, sa string) Endpoint {
	ep.ServiceAccount = sa
	return ep
}

func withPorts(ep Endpoint, ports ...NamedPort) Endpoint {
	ep.NamedPorts = ports
	return ep
}

func network(ip string) Endpoint {
	return Endpoint{Kind: EndpointNetwork, IP: netip.MustParseAddr(ip)}
}

func host(ip string, kv ...string) Endpoint {
	return Endpoint{Kind: EndpointHost, IP: netip.MustParseAddr(ip), Labels: selector.FromPairs(kv...)}
}

func tcp(src, dst Endpoint, port uint16) Flow {
	return Flow{Src: src, Dst: dst, Proto: ProtoTCP, DstPort: port}
}

func udp(src, dst Endpoint, port uint16) Flow {
	return Flow{Src: src, Dst: dst, Proto: ProtoUDP, DstPort: port}
}

// who summarises a decision as "action tier/name#rule" for compact asserts.
func who(d Decision) string {
	if !d.Evaluated {
		return "n/a"
	}
	s := d.Action.String()
	switch {
	case d.Policy != nil:
		s += " " + d.Tier + "/" + d.Policy.Name
		switch d.RuleIndex {
		case RuleEndOfTier:
			s += "#eot"
		default:
			s += "#" + itoa(d.RuleIndex)
		}
	default:
		s += " profile"
	}
	return s
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
