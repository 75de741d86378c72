// Package netset relates address regions (a prefix minus a union of
// prefixes) to unions of prefixes exactly, by splitting prefixes only where
// the sets' boundaries fall. The policy evaluator uses it to decide a rule
// against an address class; the diff uses it to weigh changed rules.
//
// It is hand-written, not go4.org/netipx: an IPSet answers containment and
// overlap, but relating a region to a union (none, all, partial, empty)
// would build and subtract two IPSets per question, where this recursion
// allocates nothing and splits only where a boundary falls.
package netset

import "net/netip"

// Rel is how a region relates to a set of addresses.
type Rel uint8

const (
	None    Rel = iota // no address of the region is in the set
	All                // every address of the region is in the set
	Partial            // some are
	Empty              // the region itself is empty
)

// Combine joins the relations of two halves of a region.
func Combine(a, b Rel) Rel {
	switch {
	case a == Empty:
		return b
	case b == Empty:
		return a
	case a == b:
		return a
	}
	return Partial
}

// Contains reports whether q contains p (same family, q no longer than p).
func Contains(q, p netip.Prefix) bool {
	return q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr())
}

// StrictlyInside reports whether q lies inside p and is smaller.
func StrictlyInside(q, p netip.Prefix) bool {
	return q.Addr().Is4() == p.Addr().Is4() && q.Bits() > p.Bits() && p.Contains(q.Addr())
}

// Relate relates the region s minus the union of exc to the union of set.
func Relate(s netip.Prefix, exc, set []netip.Prefix) Rel {
	if CoveredBy(s, exc) {
		return Empty
	}
	split := false
	for _, n := range set {
		if Contains(n, s) {
			return All
		}
		if StrictlyInside(n, s) {
			split = true
		}
	}
	if !split {
		return None
	}
	a, b := Halves(s)
	return Combine(Relate(a, exc, set), Relate(b, exc, set))
}

// CoveredBy reports whether the union of exc covers all of s.
func CoveredBy(s netip.Prefix, exc []netip.Prefix) bool {
	split := false
	for _, e := range exc {
		if Contains(e, s) {
			return true
		}
		if StrictlyInside(e, s) {
			split = true
		}
	}
	if !split {
		return false
	}
	a, b := Halves(s)
	return CoveredBy(a, exc) && CoveredBy(b, exc)
}

// Halves splits a prefix into its two children.
func Halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	raw := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	i := p.Bits()
	raw[off+i/8] |= 0x80 >> (i % 8)
	addr := netip.AddrFrom16(raw)
	if p.Addr().Is4() {
		addr = addr.Unmap()
	}
	return netip.PrefixFrom(p.Addr(), bits), netip.PrefixFrom(addr, bits)
}
