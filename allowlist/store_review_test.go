package allowlist

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

// A flow without a protocol (Goldmane "-" or "", flow-log null or 0) must
// not reach the store: its port spec would be "0", which the store cannot
// read back, so one such record would make every later command fail.
func TestUnknownProtocolIsSkippedAndStoreStaysReadable(t *testing.T) {
	p := profile.Default()
	dir := t.TempDir()
	s, err := Open(dir, p)
	require.NoError(t, err)
	f := srcFlow()
	f.Proto = 0
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("8.8.4.4")}
	ok := srcFlow()
	ok.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
	a := aggregate(p, []flows.Flow{f, ok})
	require.Equal(t, int64(1), a.Stats.Skipped[SkipUnknownProtocol])
	require.Equal(t, int64(1), a.Stats.Used)
	s.Apply(a)
	require.NoError(t, s.Save())
	s2, err := Open(dir, p)
	require.NoError(t, err)
	require.Len(t, s2.Namespace("shop").Egress, 1)
	require.Equal(t, "TCP/443", s2.Namespace("shop").Egress[0].Ports[0].Port)
}

// Gaps recorded in another order (two sources, two runs) give the same
// store files: same input, byte-identical output.
func TestGapOrderIsDeterministic(t *testing.T) {
	p := profile.Default()
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
	gaps := []Gap{
		{From: 1763000000, To: 1763003600, Source: "goldmane b", Reason: "retention overrun"},
		{From: 1763000000, To: 1763007200, Source: "goldmane a", Reason: "retention overrun"},
		{From: 1763000000, To: 1763003600, Source: "goldmane a", Reason: "retention overrun"},
	}
	var outs []map[string]string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		s, err := Open(t.TempDir(), p)
		require.NoError(t, err)
		s.Apply(aggregate(p, []flows.Flow{f}))
		for _, i := range order {
			s.AddGap(gaps[i])
		}
		outs = append(outs, renderStore(t, s))
	}
	require.Equal(t, outs[0], outs[1])
	require.Equal(t, outs[0], outs[2])
}
