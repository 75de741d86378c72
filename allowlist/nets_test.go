package allowlist

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
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
}

func TestCollapsePrefixesBound(t *testing.T) {
	in := prefixes("149.154.167.220/32", "149.154.167.41/32", "149.154.166.110/32", "91.108.56.130/32", "91.108.56.131/32")
	require.Len(t, CollapsePrefixes(in, 8, 16, 48), 4, "already under the bound: only exact aggregation")
	got := CollapsePrefixes(in, 2, 16, 48)
	require.Equal(t, prefixes("91.108.56.130/31", "149.154.166.0/23"), got)
	for _, p := range in {
		require.True(t, Covered(p, got))
	}
	// The widest allowed prefix stops the collapse: the bound is not met.
	got = CollapsePrefixes(prefixes("1.1.1.1/32", "200.1.1.1/32", "100.1.1.1/32"), 1, 16, 48)
	require.Len(t, got, 3)
}
