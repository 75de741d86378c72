package netset

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func ps(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

func TestRelate(t *testing.T) {
	pub := netip.MustParsePrefix("0.0.0.0/0")
	private := ps("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
	cases := []struct {
		name string
		s    netip.Prefix
		exc  []netip.Prefix
		set  []netip.Prefix
		want Rel
	}{
		{"public class vs any IPv4", pub, private, ps("0.0.0.0/0"), All},
		{"public class vs RFC 1918", pub, private, private, None},
		{"public class vs one /20", pub, private, ps("149.154.160.0/20"), Partial},
		{"public class vs 0/0 minus private, written as halves", pub, private, ps("0.0.0.0/1", "128.0.0.0/1"), All},
		{"private 10/8 vs 10/9 + 10.128/9", netip.MustParsePrefix("10.0.0.0/8"), nil, ps("10.0.0.0/9", "10.128.0.0/9"), All},
		{"region entirely excluded", netip.MustParsePrefix("10.1.0.0/16"), ps("10.0.0.0/8"), ps("0.0.0.0/0"), Empty},
		{"other family", netip.MustParsePrefix("::/0"), nil, ps("0.0.0.0/0"), None},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Relate(tc.s, tc.exc, tc.set))
		})
	}
}

func TestHalvesAndCover(t *testing.T) {
	a, b := Halves(netip.MustParsePrefix("10.0.0.0/8"))
	require.Equal(t, netip.MustParsePrefix("10.0.0.0/9"), a)
	require.Equal(t, netip.MustParsePrefix("10.128.0.0/9"), b)
	a6, b6 := Halves(netip.MustParsePrefix("2001:db8::/32"))
	require.Equal(t, netip.MustParsePrefix("2001:db8::/33"), a6)
	require.Equal(t, netip.MustParsePrefix("2001:db8:8000::/33"), b6)
	require.True(t, CoveredBy(netip.MustParsePrefix("10.0.0.0/8"), ps("10.0.0.0/9", "10.128.0.0/10", "10.192.0.0/10")))
	require.False(t, CoveredBy(netip.MustParsePrefix("10.0.0.0/8"), ps("10.0.0.0/9", "10.128.0.0/10")))
	require.True(t, Contains(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.2.3/32")))
	require.False(t, StrictlyInside(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")))
	require.Equal(t, Partial, Combine(All, None))
	require.Equal(t, All, Combine(Empty, All))
}
