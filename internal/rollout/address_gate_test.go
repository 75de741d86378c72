package rollout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
)

func TestAddressEvidenceGate(t *testing.T) {
	ev := allowlist.Evidence{Flows: 3, FirstSeen: 1779444600, LastSeen: 1779444615}
	n := &allowlist.Namespace{Namespace: "shop", Rollout: allowlist.Rollout{Stage: allowlist.StageStaged}, Egress: []allowlist.Entry{
		{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: ev}}},
	}}
	prof := config.Default()
	require.True(t, prof.PacketLogs.RequireAddresses, "on by default")
	g := AddressEvidenceGate(n, prof)
	require.False(t, g.Met)
	require.Contains(t, g.Reason, "egress[0] public TCP/443")
	require.Contains(t, g.Reason, "packetLogs.requireAddresses: false")

	// The gate is part of → enforced, not of → staged.
	env := Env{Profile: prof, Now: 1779444615}
	ids := func(c *Check) []string {
		var out []string
		for _, g := range c.Gates {
			out = append(out, g.ID)
		}
		return out
	}
	require.Contains(t, ids(Evaluate(n, allowlist.StageEnforced, env)), GateAddressEvidence)
	n.Rollout.Stage = allowlist.StageObserve
	require.NotContains(t, ids(Evaluate(n, allowlist.StageStaged, env)), GateAddressEvidence)

	// Packet-log addresses on the port meet it.
	n.Egress = append(n.Egress, allowlist.Entry{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"149.154.167.220/32"}},
		Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: ev}}, Source: allowlist.SourcePacketLog})
	require.True(t, AddressEvidenceGate(n, prof).Met)

	// Configurable: off, the gap is said but does not hold the namespace.
	n.Egress = n.Egress[:1]
	prof.PacketLogs.RequireAddresses = false
	g = AddressEvidenceGate(n, prof)
	require.True(t, g.Met)
	require.Contains(t, g.Reason, "allowed: packetLogs.requireAddresses is false")
}
