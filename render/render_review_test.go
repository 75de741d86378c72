package render

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/policy"
	"github.com/calico-plan/calico-plan/profile"
)

func reviewNS(entries ...allowlist.Entry) *allowlist.Namespace {
	return &allowlist.Namespace{Version: allowlist.FormatVersion, Namespace: "shop", Egress: entries}
}

func reviewEntry(peer allowlist.Peer, ports ...string) allowlist.Entry {
	e := allowlist.Entry{Peer: peer}
	for _, p := range ports {
		e.Ports = append(e.Ports, allowlist.PortEvidence{Port: p, Evidence: allowlist.Evidence{Flows: 1}})
	}
	return e
}

// loadRendered runs a rendered policy through the Calico validator rules
// the evaluator's loader implements and returns the errors (not warnings).
func loadRendered(t *testing.T, pol *Policy) []error {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, EncodeYAML(&buf, "", pol.Objects...))
	_, errs := policy.Load(&buf, "rendered")
	var out []error
	for _, e := range errs {
		if pe, ok := e.(*policy.Error); ok && pe.Warning {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Calico accepts ports only with TCP, UDP and SCTP
// (numorstring.Protocol.SupportsPorts); a UDPLite rule with ports is
// rejected, so the renderer must allow every UDPLite port (and say so).
func TestCalicoUDPLitePortsAreValid(t *testing.T) {
	p := profile.Default()
	n := reviewNS(reviewEntry(allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"203.0.113.5/32"}}, "UDPLite/5000", "TCP/443"))
	for _, fl := range []Flavor{FlavorCalico, FlavorCalicoStaged} {
		pol, err := Namespace(n, Options{Flavor: fl, Profile: p})
		require.NoError(t, err)
		require.Empty(t, loadRendered(t, pol), "flavor %s", fl)
		require.Contains(t, pol.Warnings[0], "UDPLite")
	}
}

// Every demo namespace renders to policy the validator accepts, in every
// flavor, together with the tier.
func TestDemoRendersValidPolicy(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	for _, fl := range []Flavor{FlavorCalico, FlavorCalicoStaged, FlavorK8s} {
		for _, n := range s.Namespaces() {
			pol, err := Namespace(n, Options{Flavor: fl, Profile: p})
			if err != nil {
				continue // servarr in the k8s flavor: tested elsewhere
			}
			if fl != FlavorK8s {
				pol.Objects = append([]any{Tier(p)}, pol.Objects...)
			}
			require.Empty(t, loadRendered(t, pol), "%s %s", fl, n.Namespace)
		}
	}
}
