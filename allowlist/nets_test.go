package allowlist

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

func TestAggregatePrefixesIsExact(t *testing.T) {
	require.Equal(t, prefixes("10.0.0.0/31"), AggregatePrefixes(prefixes("10.0.0.1/32", "10.0.0.0/32")))
	require.Equal(t, prefixes("10.0.0.0/30"), AggregatePrefixes(prefixes("10.0.0.1/32", "10.0.0.0/32", "10.0.0.2/31", "10.0.0.3/32")))
	require.Equal(t, prefixes("10.0.0.1/32", "10.0.0.2/32"), AggregatePrefixes(prefixes("10.0.0.2/32", "10.0.0.1/32")), "not siblings: never widened")
	require.Equal(t, prefixes("10.0.0.0/8", "2001:db8::1/128"), AggregatePrefixes(prefixes("2001:db8::1/128", "10.1.2.3/32", "10.0.0.0/8")))
	require.Equal(t, prefixes("10.0.0.0/29"), AggregatePrefixes(prefixes("10.0.0.0/30", "10.0.0.4/32", "10.0.0.5/32", "10.0.0.6/31", "10.0.0.5/32")), "merges cascade")
}

func lim(max int) CollapseLimits { return CollapseLimits{Max: max, MinV4: 16, MinV6: 48} }

func TestCollapsePrefixesBound(t *testing.T) {
	in := prefixes("149.154.167.220/32", "149.154.167.41/32", "149.154.166.110/32", "91.108.56.130/32", "91.108.56.131/32")
	require.Len(t, CollapsePrefixes(in, lim(8)), 4, "already under the bound: only exact aggregation")
	got := CollapsePrefixes(in, lim(2))
	require.Equal(t, prefixes("91.108.56.130/31", "149.154.166.0/23"), got)
	for _, p := range in {
		require.True(t, Covered(p, got))
	}
	// The widest allowed prefix stops the collapse: the bound is not met.
	got = CollapsePrefixes(prefixes("1.1.1.1/32", "200.1.1.1/32", "100.1.1.1/32"), lim(1))
	require.Len(t, got, 3)
}

// Old code: two widened sibling /16s were joined into a /15 (and further),
// past the documented widest prefix.
func TestCollapseNeverWiderThanTheLimit(t *testing.T) {
	in := prefixes("10.102.1.1/32", "10.102.200.3/32", "10.102.9.9/32", "10.103.4.4/32", "10.103.77.1/32", "10.103.250.250/32")
	got := CollapsePrefixes(in, lim(1))
	require.Equal(t, prefixes("10.102.0.0/16", "10.103.0.0/16"), got, "two /16s, not 10.102.0.0/15")

	// With the default profile these are inside the Service range
	// (10.96.0.0/12): never widened at all.
	got = CollapsePrefixes(in, NetLimits(profile.Default()))
	require.Equal(t, AggregatePrefixes(in), got)
}

func TestCollapseRespectsFences(t *testing.T) {
	l := lim(1)
	l.Fences = SpecialPrefixes()
	// 192.0.2.0/24 is a documentation range between the two: any common
	// supernet crosses it.
	got := CollapsePrefixes(prefixes("192.0.1.5/32", "192.0.3.5/32"), l)
	require.Equal(t, prefixes("192.0.1.5/32", "192.0.3.5/32"), got)
	// Inside one special range widening is allowed (a link-local peer).
	got = CollapsePrefixes(prefixes("169.254.1.1/32", "169.254.2.2/32"), l)
	require.Equal(t, prefixes("169.254.0.0/22"), got)
	// A closed range is never overlapped: pod addresses stay exact.
	l.Closed = prefixes("10.10.0.0/16")
	got = CollapsePrefixes(prefixes("10.10.1.1/32", "10.10.1.2/32"), l)
	require.Equal(t, prefixes("10.10.1.1/32", "10.10.1.2/32"), got)
}

// Property: whatever the input, the collapse covers every input address,
// and every prefix it adds obeys the limits.
func TestCollapseLimitsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	prof := profile.Default()
	l := NetLimits(prof)
	for round := 0; round < 200; round++ {
		var in []netip.Prefix
		n := 1 + r.IntN(300)
		for i := 0; i < n; i++ {
			var a netip.Addr
			switch r.IntN(4) {
			case 0: // private, pods and Services included
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			case 1: // near the special ranges
				a = netip.AddrFrom4([4]byte{[]byte{100, 169, 192, 198, 203, 127}[r.IntN(6)], byte(r.IntN(256)), byte(r.IntN(4)), byte(r.IntN(256))})
			case 2:
				a = netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			default:
				var b [16]byte
				b[0], b[1], b[2], b[15] = 0x20, 0x01, byte(r.IntN(3)), byte(r.IntN(256))
				b[5] = byte(r.IntN(256))
				a = netip.AddrFrom16(b)
			}
			in = append(in, netip.PrefixFrom(a, a.BitLen()))
		}
		l.Max = 1 + r.IntN(20)
		exact := AggregatePrefixes(in)
		got := CollapsePrefixes(in, l)
		set := NewPrefixSet(got)
		for _, p := range in {
			require.True(t, set.Covers(p), "%s lost", p)
		}
		exactSet := NewPrefixSet(exact)
		for _, p := range got {
			if exactSet.Covers(p) {
				continue // not widened
			}
			require.True(t, l.Allowed(p), "round %d: %s breaks the limits", round, p)
		}
		for i := 1; i < len(got); i++ {
			require.Negative(t, comparePrefix(got[i-1], got[i]), "sorted")
			require.False(t, got[i-1].Overlaps(got[i]), "disjoint")
		}
	}
}

func TestPrefixSetCovers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 50; round++ {
		var in []netip.Prefix
		for i := 0; i < 40; i++ {
			a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))})
			p, _ := a.Prefix(20 + r.IntN(13))
			in = append(in, p)
		}
		s := NewPrefixSet(in)
		for i := 0; i < 200; i++ {
			a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))})
			p, _ := a.Prefix(22 + r.IntN(11))
			require.Equal(t, Covered(p, in), s.Covers(p), "%s in %v", p, in)
		}
		require.False(t, s.Covers(netip.MustParsePrefix("::1/128")))
	}
}

func TestAddressCount(t *testing.T) {
	require.Equal(t, "262", AddressCount(prefixes("10.0.0.0/24", "10.0.0.1/32", "10.0.1.0/30", "10.0.2.2/31")).String())
	require.Equal(t, "1,000", FormatAddressCount(big.NewInt(1000)))
	require.Equal(t, "about 2^80", FormatAddressCount(AddressCount(prefixes("2001:db8::/48"))))
	require.Equal(t, "65,536", FormatAddressCount(AddressCount(prefixes("20.1.0.0/16"))))
}
