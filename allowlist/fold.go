package allowlist

import (
	"fmt"
	"net/netip"

	"github.com/calico-plan/calico-plan/profile"
)

// Folding keeps an entry's address set bounded while observing. An
// accumulator holds at most aggregation.maxAddresses prefixes. Beyond that
// it folds: step by step every address is widened to a shorter prefix
// (IPv4 /28, /24, /20, /16; IPv6 /112, /96, ..., 16 bits a step), never
// shorter than aggregation.minPrefixV4 / minPrefixV6, never overlapping the
// pod or Service ranges and never across a private or special range (the
// limits CollapsePrefixes obeys). When even the widest step leaves more
// than maxAddresses prefixes, only the first maxAddresses (in address
// order) are kept and the entry is marked truncated: it cannot be rendered.
//
// The result depends only on the set of addresses seen, not on the order
// or grouping of the flows, so parallel decoding and several observe runs
// give the same file as one serial run: the step is the first at which the
// widened set has at most maxAddresses prefixes; the number of distinct
// widened prefixes only grows with the set; widening is idempotent and
// composes (widening to step s after step r < s is widening to step s);
// and the first N of a union are the first N of the unions' first N.

// NetsFolded records that an entry's addresses were folded while observing.
type NetsFolded struct {
	// Over: more than this many distinct addresses were seen for one port
	// of the entry (the aggregation.maxAddresses in force).
	Over int `yaml:"over" json:"over"`
	// IPv4 and IPv6 are the prefix lengths addresses were widened to,
	// where the pod/Service ranges and range boundaries allowed.
	IPv4 int `yaml:"ipv4" json:"ipv4"`
	IPv6 int `yaml:"ipv6" json:"ipv6"`
	// Truncated: even at the widest prefixes allowed more than Over
	// networks were seen; only the first Over (in address order) are kept,
	// so the entry cannot be rendered.
	Truncated bool `yaml:"truncated,omitempty" json:"truncated,omitempty"`
}

func (f *NetsFolded) validate() error {
	switch {
	case f.Over < 1:
		return fmt.Errorf("folded.over: must be at least 1")
	case f.IPv4 < 0 || f.IPv4 > 32:
		return fmt.Errorf("folded.ipv4: must be 0-32")
	case f.IPv6 < 0 || f.IPv6 > 128:
		return fmt.Errorf("folded.ipv6: must be 0-128")
	}
	return nil
}

// netRules are a profile's folding rules.
type netRules struct {
	max   int
	lim   CollapseLimits
	steps int // the widest step
}

const (
	foldBitsV4 = 4
	foldBitsV6 = 16
)

func newNetRules(p *profile.Profile) *netRules {
	r := &netRules{max: max(p.Aggregation.MaxAddresses, 1), lim: NetLimits(p)}
	s4 := (32 - r.lim.MinV4 + foldBitsV4 - 1) / foldBitsV4
	s6 := (128 - r.lim.MinV6 + foldBitsV6 - 1) / foldBitsV6
	r.steps = max(s4, s6, 0)
	return r
}

// level is the prefix length a family is widened to at a step.
func (r *netRules) level(v4 bool, step int) int {
	if v4 {
		return max(32-foldBitsV4*step, r.lim.MinV4)
	}
	return max(128-foldBitsV6*step, r.lim.MinV6)
}

// step returns the smallest step whose lengths are no longer than a fold's.
func (r *netRules) step(f *NetsFolded) int {
	if f == nil {
		return 0
	}
	for s := 0; s < r.steps; s++ {
		if r.level(true, s) <= f.IPv4 && r.level(false, s) <= f.IPv6 {
			return s
		}
	}
	return r.steps
}

// fold widens p as f says: the shortest allowed prefix containing p no
// shorter than f's length for its family, or p itself.
func (r *netRules) fold(p netip.Prefix, f *NetsFolded) netip.Prefix {
	if f == nil {
		return p
	}
	l := f.IPv6
	if p.Addr().Is4() {
		l = f.IPv4
	}
	for ; l < p.Bits(); l++ {
		if b, _ := p.Addr().Prefix(l); r.lim.Allowed(b) {
			return b
		}
	}
	return p
}

// addNet records a destination prefix first seen at t.
func (a *acc) addNet(p netip.Prefix, t Time, r *netRules) {
	if a.folded != nil {
		p = r.fold(p, a.folded)
	}
	if a.cutoff.IsValid() && comparePrefix(p, a.cutoff) > 0 {
		return // truncated: past the first maxAddresses for good
	}
	if a.nets == nil {
		a.nets = map[netip.Prefix]Time{}
	}
	if old, ok := a.nets[p]; !ok || t < old {
		a.nets[p] = t
	}
	if len(a.nets) > r.max {
		a.shrink(r, false)
	}
}

// mergeNets folds o's addresses into a's. r is nil when no profile is at
// hand (a file being loaded or edited): the store finalizes with its own.
func (a *acc) mergeNets(o *acc, r *netRules) {
	if o.folded != nil {
		f := *o.folded
		if a.folded != nil {
			f.Over = max(f.Over, a.folded.Over)
			f.IPv4, f.IPv6 = min(f.IPv4, a.folded.IPv4), min(f.IPv6, a.folded.IPv6)
			f.Truncated = f.Truncated || a.folded.Truncated
		}
		widened := a.folded == nil || f.IPv4 < a.folded.IPv4 || f.IPv6 < a.folded.IPv6
		a.folded = &f
		if widened && r != nil {
			a.remap(r)
		}
	}
	if len(o.nets) > 0 && a.nets == nil {
		a.nets = make(map[netip.Prefix]Time, len(o.nets))
	}
	for p, t := range o.nets {
		if r != nil {
			p = r.fold(p, a.folded)
		}
		if old, ok := a.nets[p]; !ok || t < old {
			a.nets[p] = t
		}
	}
	if r != nil && len(a.nets) > r.max {
		a.shrink(r, false)
	}
}

// shrink folds while more than r.max prefixes are held. At the widest step
// it keeps the first r.max; before the final call it lets the set grow to
// twice that first, so trimming costs O(log n) a prefix.
func (a *acc) shrink(r *netRules, final bool) {
	for s := r.step(a.folded); len(a.nets) > r.max && s < r.steps; {
		s++
		f := NetsFolded{Over: r.max, IPv4: r.level(true, s), IPv6: r.level(false, s)}
		if a.folded != nil {
			f.Over, f.Truncated = max(f.Over, a.folded.Over), a.folded.Truncated
		}
		a.folded = &f
		a.remap(r)
	}
	if len(a.nets) > r.max {
		if a.folded == nil { // no step at all (minPrefixV4 32 and minPrefixV6 128)
			a.folded = &NetsFolded{IPv4: 32, IPv6: 128}
		}
		a.folded.Over = max(a.folded.Over, r.max)
		a.folded.Truncated = true
		if final || len(a.nets) > 2*r.max {
			ps := a.prefixes()
			for _, p := range ps[r.max:] {
				delete(a.nets, p)
			}
			a.cutoff = ps[r.max-1]
		}
	}
}

// finalize brings the accumulator into its canonical form before it is
// written: every prefix widened as folded says, at most r.max kept.
func (a *acc) finalize(r *netRules) {
	if a.folded != nil {
		a.remap(r)
	}
	a.shrink(r, true)
}

// remap widens every held prefix as folded says.
func (a *acc) remap(r *netRules) {
	a.cutoff = netip.Prefix{}
	m := make(map[netip.Prefix]Time, len(a.nets))
	for p, t := range a.nets {
		q := r.fold(p, a.folded)
		if old, ok := m[q]; !ok || t < old {
			m[q] = t
		}
	}
	a.nets = m
}

// prefixes returns the held prefixes, sorted.
func (a *acc) prefixes() []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(a.nets))
	for p := range a.nets {
		ps = append(ps, p)
	}
	SortPrefixes(ps)
	return ps
}
