package allowlist

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func pe(port string, flows int64) PortEvidence {
	return PortEvidence{Port: port, Evidence: Evidence{Flows: flows, FirstSeen: 1779444600, LastSeen: 1779444615}}
}

func TestRenderedEgressCombinesSources(t *testing.T) {
	n := &Namespace{Namespace: "shop", Egress: []Entry{
		{Peer: Peer{Kind: PeerDNS}, Ports: []PortEvidence{pe("UDP/53", 4)}},
		{Peer: Peer{Kind: PeerNamespace, Namespace: "dbaas"}, Ports: []PortEvidence{pe("TCP/5432", 3)}},
		{Peer: Peer{Kind: PeerPrivate}, Ports: []PortEvidence{pe("TCP/22", 1)}},
		{Peer: Peer{Kind: PeerPublic}, Ports: []PortEvidence{pe("TCP/443", 7), pe("TCP/8443", 2)}},
		// packet logs
		{Peer: Peer{Kind: PeerNamespace, Namespace: "dbaas", Labels: map[string]string{"app": "pg"}}, Ports: []PortEvidence{pe("TCP/5432", 2)}, Source: SourcePacketLog},
		{Peer: Peer{Kind: PeerNamespace, Namespace: "cache"}, Ports: []PortEvidence{pe("TCP/6379", 2)}, Source: SourcePacketLog},
		{Peer: Peer{Kind: PeerPublic, Nets: []string{"149.154.167.220/32"}}, Ports: []PortEvidence{pe("TCP/443", 2), pe("UDP/443", 1)}, Source: SourcePacketLog},
		{Peer: Peer{Kind: PeerSpecial, Name: "link-local", Nets: []string{"169.254.169.254/32"}}, Ports: []PortEvidence{pe("TCP/80", 1)}, Source: SourcePacketLog},
	}}
	r := n.RenderedEgress()
	require.Len(t, r, len(n.Egress))
	require.Equal(t, n.Egress[0], r[0])
	require.Equal(t, n.Egress[1], r[1])
	require.Equal(t, n.Egress[2], r[2], "no packet-log addresses on private TCP/22: the class renders")
	require.Equal(t, []PortEvidence{pe("TCP/8443", 2)}, r[3].Ports, "TCP/443 renders as the logged addresses")
	require.Empty(t, r[4].Ports, "a flow-log entry covers dbaas")
	require.Equal(t, n.Egress[5], r[5], "nothing else covers cache")
	require.Equal(t, n.Egress[6], r[6])
	require.Equal(t, n.Egress[7], r[7])
	require.Len(t, n.Egress[3].Ports, 2, "the store is not changed")

	gaps := n.AddressGaps()
	require.Equal(t, []AddressGap{{Entry: 3, Port: "TCP/8443"}}, gaps)
	// Special-range addresses (Goldmane calls link-local public) cover a
	// public port too.
	n.Egress[7].Ports = []PortEvidence{pe("TCP/8443", 1)}
	require.Empty(t, n.AddressGaps())
}

func TestPacketLogEntriesRoundTrip(t *testing.T) {
	n := &Namespace{Version: FormatVersion, Namespace: "shop", Egress: []Entry{
		{Peer: Peer{Kind: PeerPublic}, Ports: []PortEvidence{pe("TCP/443", 7)}},
		{Peer: Peer{Kind: PeerPublic, Nets: []string{"149.154.167.220/32"}}, Ports: []PortEvidence{pe("TCP/443", 2)}, Source: SourcePacketLog},
	}}
	n.buildAccs()
	require.Len(t, n.accs[ClassEgress], 2, "the two sources stay two keys")
	n.buildEntries(5, nil)
	require.Equal(t, "", n.Egress[0].Source)
	require.Equal(t, SourcePacketLog, n.Egress[1].Source)
	require.EqualValues(t, 7, n.Egress[0].Ports[0].Flows)
	require.EqualValues(t, 2, n.Egress[1].Ports[0].Flows)

	bad := Entry{Peer: Peer{Kind: PeerPublic}, Ports: []PortEvidence{pe("TCP/443", 1)}, Source: "syslog"}
	require.ErrorContains(t, validateEntry(&bad), `source: "syslog" is not packet-log`)
}

// Calico Enterprise flow logs carry addresses: packet-log addresses they
// already hold on a port add no rule.
func TestRenderedEgressSkipsAddressesFlowLogsHold(t *testing.T) {
	n := &Namespace{Namespace: "shop", Egress: []Entry{
		{Peer: Peer{Kind: PeerPublic, Nets: []string{"140.82.121.0/24"}}, Ports: []PortEvidence{pe("TCP/443", 7)}},
		{Peer: Peer{Kind: PeerPublic, Nets: []string{"140.82.121.4/32"}}, Ports: []PortEvidence{pe("TCP/443", 2), pe("TCP/22", 1)}, Source: SourcePacketLog},
		{Peer: Peer{Kind: PeerPublic, Nets: []string{"140.82.121.4/32", "151.101.1.1/32"}}, Ports: []PortEvidence{pe("TCP/443", 1)}, Source: SourcePacketLog},
	}}
	r := n.RenderedEgress()
	require.Equal(t, []PortEvidence{pe("TCP/22", 1)}, r[1].Ports, "TCP/443 is held by the flow-log entry; TCP/22 is not")
	require.Equal(t, n.Egress[2].Ports, r[2].Ports, "151.101.1.1 is not held: the port stays")
}
