package diff

import (
	"sort"

	"github.com/calico-plan/calico-plan/allowlist"
)

// Egress regions per namespace: the rects of each rule group on both
// sides, compared exactly and weighted by the traffic points they hold.

// regionGroup is one rule group (action, subject, protocol, peer) of a
// namespace with its rects on each side.
type regionGroup struct {
	g   Group
	old []rect
	cur []rect
}

// regionGroups are a namespace's rule groups by group key.
type regionGroups map[string]*regionGroup

// egressRegions groups the atoms of both sides' egress policies by
// namespace and rule group.
func egressRegions(oldBy, curBy map[string]*policyObj) map[string]regionGroups {
	perNS := map[string]regionGroups{}
	addEgressAtoms(perNS, oldBy, true)
	addEgressAtoms(perNS, curBy, false)
	return perNS
}

// addEgressAtoms adds the atoms of one side's egress policies to perNS,
// as old or current rects of their group.
func addEgressAtoms(perNS map[string]regionGroups, objs map[string]*policyObj, isOld bool) {
	for _, p := range objs {
		if !p.Egress {
			continue
		}
		gs := perNS[p.Namespace]
		if gs == nil {
			gs = regionGroups{}
			perNS[p.Namespace] = gs
		}
		for _, a := range p.atoms {
			e := gs.group(a.group)
			if isOld {
				e.old = append(e.old, a.rect)
			} else {
				e.cur = append(e.cur, a.rect)
			}
		}
	}
}

// group returns the entry of a rule group, new when there is none.
func (gs regionGroups) group(g Group) *regionGroup {
	gk := groupKey(g)
	e := gs[gk]
	if e == nil {
		e = &regionGroup{g: g}
		gs[gk] = e
	}
	return e
}

// sortedKeys returns the group keys in order.
func (gs regionGroups) sortedKeys() []string {
	keys := make([]string, 0, len(gs))
	for k := range gs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// removalPoints returns the traffic points that weight removals: those of
// each allowlist in turn, a later one's point replacing an earlier one's
// with the same id in place.
func removalPoints(w *weigher, nss []*allowlist.Namespace) []*point {
	var pts []*point
	seen := map[string]int{}
	for _, n := range nss {
		for _, pt := range w.points(n) {
			if i, ok := seen[pt.id()]; ok {
				pts[i] = pt
				continue
			}
			seen[pt.id()] = len(pts)
			pts = append(pts, pt)
		}
	}
	return pts
}

// additionPoints returns the traffic points that weight additions: the
// allowlist's, none without one.
func additionPoints(w *weigher, n *allowlist.Namespace) []*point {
	if n == nil {
		return nil
	}
	return w.points(n)
}

// regionDiff compares one namespace's egress regions and records the
// changes in its diff.
type regionDiff struct {
	w  *weigher
	ns string
	d  *NamespaceDiff
	gs regionGroups
	// oldAll and curAll are every atom of each side, for what still
	// holds a point elsewhere.
	oldAll, curAll []atom
	// cut are the ids of the points whose flows FlowsCut already counts.
	cut map[string]bool
}

// newRegionDiff prepares the comparison of a namespace's rule groups.
func newRegionDiff(w *weigher, ns string, d *NamespaceDiff, gs regionGroups) *regionDiff {
	rd := &regionDiff{w: w, ns: ns, d: d, gs: gs, cut: map[string]bool{}}
	for _, e := range gs {
		for _, r := range e.old {
			rd.oldAll = append(rd.oldAll, atom{group: e.g, rect: r})
		}
		for _, r := range e.cur {
			rd.curAll = append(rd.curAll, atom{group: e.g, rect: r})
		}
	}
	return rd
}

// compare records, group by group in key order, the removed regions
// weighted by remPts and the added ones weighted by addPts.
func (rd *regionDiff) compare(remPts, addPts []*point) {
	for _, k := range rd.gs.sortedKeys() {
		e := rd.gs[k]
		for _, r := range subtract(e.old, e.cur) {
			rd.d.Removed = append(rd.d.Removed, rd.removed(e, r, remPts))
		}
		for _, r := range subtract(e.cur, e.old) {
			rd.d.Added = append(rd.d.Added, rd.added(e, r, addPts))
		}
	}
}

// removed weighs a removed region by the points it held that the old
// policies allowed and nothing allows fully any more, and adds their
// flows to FlowsCut once per point.
func (rd *regionDiff) removed(e *regionGroup, r rect, pts []*point) Change {
	c := newChange(e.g, r, rd.ns)
	for _, pt := range pts {
		if rd.w.covers(&e.g, r, rd.ns, pt) == levelNone || rd.bestLevel(rd.oldAll, pt) == levelNone {
			continue
		}
		now := rd.bestLevel(rd.curAll, pt)
		if now == levelFull {
			continue // still allowed by another rule
		}
		c.Evidence.add(pt, now == levelPartial || rd.w.covers(&e.g, r, rd.ns, pt) == levelPartial)
		if !rd.cut[pt.id()] {
			rd.cut[pt.id()] = true
			rd.d.FlowsCut += pt.port.Flows
		}
	}
	return c
}

// added weighs an added region by the points it holds.
func (rd *regionDiff) added(e *regionGroup, r rect, pts []*point) Change {
	c := newChange(e.g, r, rd.ns)
	for _, pt := range pts {
		if l := rd.w.covers(&e.g, r, rd.ns, pt); l != levelNone {
			c.Evidence.add(pt, l == levelPartial)
		}
	}
	return c
}

// bestLevel returns how much of the point's traffic the atoms hold
// together: the highest level any of them holds.
func (rd *regionDiff) bestLevel(atoms []atom, pt *point) level {
	best := levelNone
	for i := range atoms {
		if l := rd.w.covers(&atoms[i].group, atoms[i].rect, rd.ns, pt); l > best {
			best = l
		}
	}
	return best
}
