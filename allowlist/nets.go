package allowlist

import (
	"net/netip"
	"sort"

	"github.com/calico-plan/calico-plan/internal/netset"
)

// comparePrefix orders prefixes by family, address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if a.Addr().Is4() != b.Addr().Is4() {
		if a.Addr().Is4() {
			return -1
		}
		return 1
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// SortPrefixes sorts in place by family, address and length.
func SortPrefixes(ps []netip.Prefix) {
	sort.Slice(ps, func(i, j int) bool { return comparePrefix(ps[i], ps[j]) < 0 })
}

// AggregatePrefixes returns the smallest list of prefixes covering exactly
// the same addresses: covered prefixes are dropped and sibling pairs merged.
// It never widens the set. The result is sorted.
func AggregatePrefixes(in []netip.Prefix) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.IsValid() {
			ps = append(ps, p.Masked())
		}
	}
	for {
		SortPrefixes(ps)
		out := ps[:0]
		for _, p := range ps {
			if n := len(out); n > 0 && out[n-1].Addr().Is4() == p.Addr().Is4() && out[n-1].Overlaps(p) && out[n-1].Bits() <= p.Bits() {
				continue // covered by the previous (shorter or equal) prefix
			}
			out = append(out, p)
		}
		ps = out
		merged := false
		res := ps[:0:0]
		for i := 0; i < len(ps); i++ {
			if i+1 < len(ps) && siblings(ps[i], ps[i+1]) {
				parent, _ := ps[i].Addr().Prefix(ps[i].Bits() - 1)
				res = append(res, parent)
				i++
				merged = true
				continue
			}
			res = append(res, ps[i])
		}
		ps = res
		if !merged {
			return ps
		}
	}
}

func siblings(a, b netip.Prefix) bool {
	if a.Bits() != b.Bits() || a.Bits() == 0 || a.Addr().Is4() != b.Addr().Is4() || a == b {
		return false
	}
	pa, _ := a.Addr().Prefix(a.Bits() - 1)
	pb, _ := b.Addr().Prefix(b.Bits() - 1)
	return pa == pb
}

// CollapsePrefixes widens an aggregated prefix list until it has at most max
// entries, each step merging the two neighbours whose common supernet is
// the narrowest, and never producing a prefix shorter than minV4 (IPv4) or
// minV6 (IPv6) bits. When the bound cannot be met within those limits the
// result stays longer than max. Deterministic for a given input set.
func CollapsePrefixes(in []netip.Prefix, max, minV4, minV6 int) []netip.Prefix {
	ps := AggregatePrefixes(in)
	for len(ps) > max {
		best, bestBits := -1, -1
		for i := 0; i+1 < len(ps); i++ {
			a, b := ps[i], ps[i+1]
			if a.Addr().Is4() != b.Addr().Is4() {
				continue
			}
			bits := commonBits(a, b)
			min := minV6
			if a.Addr().Is4() {
				min = minV4
			}
			if bits < min {
				continue
			}
			if bits > bestBits {
				best, bestBits = i, bits
			}
		}
		if best < 0 {
			break
		}
		super, _ := ps[best].Addr().Prefix(bestBits)
		next := append([]netip.Prefix{}, ps[:best]...)
		next = append(next, super)
		next = append(next, ps[best+2:]...)
		ps = AggregatePrefixes(next)
	}
	return ps
}

// commonBits is the length of the longest prefix covering both.
func commonBits(a, b netip.Prefix) int {
	n := a.Bits()
	if b.Bits() < n {
		n = b.Bits()
	}
	for ; n > 0; n-- {
		pa, _ := a.Addr().Prefix(n)
		pb, _ := b.Addr().Prefix(n)
		if pa == pb {
			return n
		}
	}
	return 0
}

// Covered reports whether p lies inside one of the prefixes.
func Covered(p netip.Prefix, in []netip.Prefix) bool {
	for _, q := range in {
		if netset.Contains(q, p) {
			return true
		}
	}
	return false
}
