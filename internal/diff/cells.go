package diff

import (
	"github.com/calico-plan/calico-plan/internal/netset"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
)

// The region a group of rules allows is a union of rectangles, addresses
// times ports. Comparing two unions exactly: cut both axes into
// elementary pieces (disjoint prefixes, disjoint port intervals and named
// ports) such that every rectangle is a union of cells, mark which cells
// each side covers, and merge the differing cells back into rectangles.

var anyNets = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

func rectNets(r rect) []netip.Prefix {
	if r.nets == nil {
		return anyNets
	}
	return r.nets
}

// portElem is an elementary port interval or a named port.
type portElem struct {
	lo, hi uint16
	name   string
}

// partition returns disjoint prefixes covering the union of ps, each of
// them inside or disjoint from every prefix of ps.
func partition(ps []netip.Prefix) []netip.Prefix {
	uniq := map[netip.Prefix]bool{}
	for _, p := range ps {
		uniq[p.Masked()] = true
	}
	var all []netip.Prefix
	for p := range uniq {
		all = append(all, p)
	}
	allowlist.SortPrefixes(all)
	var out []netip.Prefix
	var split func(p netip.Prefix, subs []netip.Prefix)
	split = func(p netip.Prefix, subs []netip.Prefix) {
		var kids []netip.Prefix
		for _, s := range subs {
			if netset.StrictlyInside(s, p) {
				kids = append(kids, s)
			}
		}
		if len(kids) == 0 {
			out = append(out, p)
			return
		}
		a, b := netset.Halves(p)
		split(a, kids)
		split(b, kids)
	}
	for _, p := range all {
		root := true
		for _, q := range all {
			if netset.StrictlyInside(p, q) {
				root = false
				break
			}
		}
		if root {
			split(p, all)
		}
	}
	allowlist.SortPrefixes(out)
	return out
}

// portPartition returns the elementary port pieces of the rectangles.
func portPartition(rs []rect) []portElem {
	cuts := map[int]bool{}
	names := map[string]bool{}
	for _, r := range rs {
		if r.anyPort() {
			cuts[0], cuts[65536] = true, true
			continue
		}
		for _, pr := range r.ports {
			cuts[int(pr.lo)], cuts[int(pr.hi)+1] = true, true
		}
		for _, n := range r.named {
			names[n] = true
		}
	}
	var pts []int
	for c := range cuts {
		pts = append(pts, c)
	}
	sort.Ints(pts)
	var out []portElem
	for i := 0; i+1 < len(pts); i++ {
		e := portElem{lo: uint16(pts[i]), hi: uint16(pts[i+1] - 1)}
		for _, r := range rs {
			if portsContain(r, e) {
				out = append(out, e)
				break
			}
		}
	}
	var ns []string
	for n := range names {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	for _, n := range ns {
		out = append(out, portElem{name: n})
	}
	return out
}

func portsContain(r rect, e portElem) bool {
	if r.anyPort() {
		return true
	}
	if e.name != "" {
		for _, n := range r.named {
			if n == e.name {
				return true
			}
		}
		return false
	}
	for _, pr := range r.ports {
		if pr.lo <= e.lo && e.hi <= pr.hi {
			return true
		}
	}
	return false
}

func netsContain(r rect, p netip.Prefix) bool {
	for _, q := range rectNets(r) {
		if netset.Contains(q, p) {
			return true
		}
	}
	return false
}

func covered(rs []rect, n netip.Prefix, e portElem) bool {
	for _, r := range rs {
		if netsContain(r, n) && portsContain(r, e) {
			return true
		}
	}
	return false
}

// subtract returns the part of a's region not in b's, as rectangles.
func subtract(a, b []rect) []rect {
	if len(a) == 0 {
		return nil
	}
	all := append(append([]rect(nil), a...), b...)
	var prefixes []netip.Prefix
	for _, r := range all {
		prefixes = append(prefixes, rectNets(r)...)
	}
	nets := partition(prefixes)
	ports := portPartition(all)
	byNet := map[netip.Prefix][]portElem{}
	for _, n := range nets {
		for _, e := range ports {
			if covered(a, n, e) && !covered(b, n, e) {
				byNet[n] = append(byNet[n], e)
			}
		}
	}
	// Prefixes with the same ports merge into one rectangle.
	byPorts := map[string][]netip.Prefix{}
	portsOf := map[string][]portElem{}
	for n, es := range byNet {
		k := portKey(es)
		byPorts[k] = append(byPorts[k], n)
		portsOf[k] = es
	}
	var out []rect
	for k, ns := range byPorts {
		r := rect{nets: allowlist.AggregatePrefixes(ns)}
		if sameNets(r.nets, anyNets) {
			r.nets = nil
		}
		r.ports, r.named = mergePorts(portsOf[k])
		if len(r.ports) == 1 && r.ports[0] == (portRange{0, 65535}) && len(r.named) == namedIn(ports) {
			r.ports, r.named = nil, nil // every port
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return rectString(out[i]) < rectString(out[j]) })
	return out
}

func namedIn(es []portElem) int {
	n := 0
	for _, e := range es {
		if e.name != "" {
			n++
		}
	}
	return n
}

func sameNets(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func portKey(es []portElem) string {
	var b strings.Builder
	for _, e := range es {
		if e.name != "" {
			b.WriteString("n:" + e.name + ",")
		} else {
			b.WriteString(strconv.Itoa(int(e.lo)) + "-" + strconv.Itoa(int(e.hi)) + ",")
		}
	}
	return b.String()
}

// mergePorts joins adjacent intervals; elements come sorted.
func mergePorts(es []portElem) ([]portRange, []string) {
	var ranges []portRange
	var names []string
	for _, e := range es {
		if e.name != "" {
			names = append(names, e.name)
			continue
		}
		if n := len(ranges); n > 0 && int(ranges[n-1].hi)+1 == int(e.lo) {
			ranges[n-1].hi = e.hi
			continue
		}
		ranges = append(ranges, portRange{e.lo, e.hi})
	}
	return ranges, names
}

func rectString(r rect) string {
	return netsString(rectNets(r)) + "|" + portsString(r)
}

// portsString renders "5432", "8000-8100,9090", "http" ("" for any port).
func portsString(r rect) string {
	if r.anyPort() {
		return ""
	}
	var s []string
	for _, p := range r.ports {
		if p.lo == p.hi {
			s = append(s, strconv.Itoa(int(p.lo)))
		} else {
			s = append(s, strconv.Itoa(int(p.lo))+"-"+strconv.Itoa(int(p.hi)))
		}
	}
	s = append(s, r.named...)
	return strings.Join(s, ",")
}
