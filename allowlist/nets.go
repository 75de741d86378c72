package allowlist

import (
	"math/big"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"

	"github.com/calico-plan/calico-plan/internal/netset"
	"github.com/calico-plan/calico-plan/profile"
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
func SortPrefixes(ps []netip.Prefix) { slices.SortFunc(ps, comparePrefix) }

// AggregatePrefixes returns the smallest list of prefixes covering exactly
// the same addresses: covered prefixes are dropped and sibling pairs merged.
// It never widens the set. The result is sorted. O(n log n).
//
// It is hand-written rather than go4.org/netipx's IPSetBuilder (whose
// IPSet().Prefixes() gives the same list): with netipx, rendering one
// namespace of 200,000 addresses allocated 448 MB instead of 251 MB
// (BenchmarkRenderAddresses, 2026-12-04), and the same pass also serves
// listing without sibling merges (merge false, the store's form), which
// netipx does not offer.
func AggregatePrefixes(in []netip.Prefix) []netip.Prefix {
	return aggregateNets(in, 0, 0, true)
}

// aggregateNets sorts and drops covered prefixes; with merge, it also joins
// sibling pairs into their parent as long as the parent is no shorter than
// minV4 / minV6 bits.
func aggregateNets(in []netip.Prefix, minV4, minV6 int, merge bool) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.IsValid() {
			ps = append(ps, p.Masked())
		}
	}
	SortPrefixes(ps)
	// A stack of disjoint prefixes in address order: a prefix is covered
	// only by the top (anything lower ends before the top starts), and a
	// merge can only cascade down the stack.
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && netset.Contains(out[n-1], p) {
			continue
		}
		out = append(out, p)
		for merge {
			n := len(out)
			if n < 2 || !siblings(out[n-2], out[n-1]) {
				break
			}
			min := minV6
			if out[n-1].Addr().Is4() {
				min = minV4
			}
			if out[n-1].Bits()-1 < min {
				break
			}
			parent, _ := out[n-1].Addr().Prefix(out[n-1].Bits() - 1)
			out = append(out[:n-2], parent)
		}
	}
	return out
}

func siblings(a, b netip.Prefix) bool {
	if a.Bits() != b.Bits() || a.Bits() == 0 || a.Addr().Is4() != b.Addr().Is4() || a == b {
		return false
	}
	pa, _ := a.Addr().Prefix(a.Bits() - 1)
	pb, _ := b.Addr().Prefix(b.Bits() - 1)
	return pa == pb
}

// CollapseLimits bound how far CollapsePrefixes may widen.
type CollapseLimits struct {
	// Max is the number of prefixes wanted (aggregation.maxCIDRs).
	Max int
	// MinV4 and MinV6 are the shortest prefix lengths a widened prefix may
	// have (aggregation.minPrefixV4 / minPrefixV6).
	MinV4, MinV6 int
	// Closed ranges are never overlapped by a widened prefix: widening
	// there would open addresses of other workloads (pods, Services).
	Closed []netip.Prefix
	// Fences are class boundaries (private and special ranges): a widened
	// prefix lies inside a fence or outside it, never across it.
	Fences []netip.Prefix
}

// NetLimits returns the collapse limits of a profile: its bound and widest
// prefixes, its pod and Service ranges closed, its private ranges and the
// special ranges as fences.
func NetLimits(p *profile.Profile) CollapseLimits {
	agg := p.Aggregation
	l := CollapseLimits{Max: agg.MaxCIDRs, MinV4: agg.MinPrefixV4, MinV6: agg.MinPrefixV6}
	l.Closed = append(profile.Prefixes(p.Networks.Pods), profile.Prefixes(p.Networks.Services)...)
	l.Fences = append(profile.Prefixes(p.Networks.Private), SpecialPrefixes()...)
	return l
}

// Allowed reports whether a widened prefix s respects the limits: no
// shorter than the family's widest, no overlap with a closed range, not
// across a fence.
func (l *CollapseLimits) Allowed(s netip.Prefix) bool {
	min := l.MinV6
	if s.Addr().Is4() {
		min = l.MinV4
	}
	if s.Bits() < min {
		return false
	}
	for _, c := range l.Closed {
		if s.Overlaps(c) {
			return false
		}
	}
	for _, f := range l.Fences {
		if s.Overlaps(f) && !netset.Contains(f, s) {
			return false
		}
	}
	return true
}

// CollapsePrefixes widens an aggregated prefix list until it has at most
// lim.Max entries. It merges the cheapest supernets first: those with the
// fewest host bits (IPv4 before IPv6 at equal cost), left to right, each
// merge replacing every prefix inside that supernet. A supernet is only
// used when lim.Allowed accepts it, so nothing is ever shorter than
// lim.MinV4 / lim.MinV6, overlaps a closed range or crosses a fence, and
// widened prefixes are not joined further into shorter ones. When the
// bound cannot be met within the limits the result stays longer than Max.
// Deterministic for a given input set; O(n log n + n·k) for k distinct
// common-prefix lengths among neighbours.
func CollapsePrefixes(in []netip.Prefix, lim CollapseLimits) []netip.Prefix {
	ps := AggregatePrefixes(in)
	if len(ps) <= lim.Max {
		return ps
	}
	// Merging a group at some length only creates neighbour pairs whose
	// common length already occurs between neighbours, so these are the
	// only lengths worth a pass.
	var present [2][129]bool
	for i := 0; i+1 < len(ps); i++ {
		a, b := ps[i], ps[i+1]
		if a.Addr().Is4() == b.Addr().Is4() {
			present[famIndex(a)][commonBits(a, b)] = true
		}
	}
	count := len(ps)
	for h := 1; h <= 128 && count > lim.Max; h++ {
		for fam, width := range [2]int{32, 128} {
			l := width - h
			if l < 0 || !present[fam][l] || count <= lim.Max {
				continue
			}
			ps, count = collapseLevel(ps, fam == 0, l, &lim, count)
		}
	}
	return ps
}

func famIndex(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// collapseLevel merges, left to right while count exceeds lim.Max, every
// run of two or more prefixes of one family inside the same /l supernet.
func collapseLevel(ps []netip.Prefix, v4 bool, l int, lim *CollapseLimits, count int) ([]netip.Prefix, int) {
	out := ps[:0]
	for i := 0; i < len(ps); {
		p := ps[i]
		if p.Addr().Is4() != v4 || p.Bits() <= l || count <= lim.Max {
			out = append(out, p)
			i++
			continue
		}
		blk, _ := p.Addr().Prefix(l)
		j := i + 1
		for j < len(ps) && ps[j].Addr().Is4() == v4 && ps[j].Bits() > l && blk.Contains(ps[j].Addr()) {
			j++
		}
		if j-i >= 2 && lim.Allowed(blk) {
			out = append(out, blk)
			count -= j - i - 1
		} else {
			out = append(out, ps[i:j]...)
		}
		i = j
	}
	return out, count
}

// commonBits is the length of the longest prefix covering both (same
// family), at most the shorter one's length.
func commonBits(a, b netip.Prefix) int {
	x, y := a.Addr().As16(), b.Addr().As16()
	n := 128
	for i := 0; i < 16; i++ {
		if d := x[i] ^ y[i]; d != 0 {
			n = i*8 + bits.LeadingZeros8(d)
			break
		}
	}
	if a.Addr().Is4() {
		n -= 96
	}
	if a.Bits() < n {
		n = a.Bits()
	}
	if b.Bits() < n {
		n = b.Bits()
	}
	return n
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

// PrefixSet answers "is this prefix inside the set" in O(log n).
type PrefixSet struct{ ps []netip.Prefix }

// NewPrefixSet builds a set of the union of the prefixes.
func NewPrefixSet(ps []netip.Prefix) PrefixSet { return PrefixSet{ps: aggregateNets(ps, 0, 0, false)} }

// Covers reports whether p lies inside the set's union.
func (s PrefixSet) Covers(p netip.Prefix) bool {
	p = p.Masked()
	// The last prefix starting at or before p; being disjoint, only it can
	// contain p.
	i, _ := slices.BinarySearchFunc(s.ps, p, comparePrefix)
	for _, k := range []int{i, i - 1} {
		if k >= 0 && k < len(s.ps) && netset.Contains(s.ps[k], p) {
			return true
		}
	}
	return false
}

// AddressCount is the number of addresses the prefixes cover, counting
// overlaps once.
func AddressCount(ps []netip.Prefix) *big.Int {
	n := new(big.Int)
	one := big.NewInt(1)
	var v4 uint64
	for _, p := range aggregateNets(ps, 0, 0, false) {
		host := p.Addr().BitLen() - p.Bits()
		if p.Addr().Is4() {
			v4 += 1 << host
			continue
		}
		n.Add(n, new(big.Int).Lsh(one, uint(host)))
	}
	return n.Add(n, new(big.Int).SetUint64(v4))
}

// FormatAddressCount writes an address count exactly with thousands
// separators, or as a power of two above 2^50 ("about 2^80").
func FormatAddressCount(n *big.Int) string {
	if n.BitLen() <= 50 {
		return FormatCount(n.Int64())
	}
	return "about 2^" + strconv.Itoa(n.BitLen()-1)
}
