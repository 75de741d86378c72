package selector

import (
	"slices"
	"strings"
)

type opKind uint8

const (
	opAll opKind = iota
	opGlobal
	opEq
	opNe
	opIn
	opNotIn
	opHas
	opContains
	opStartsWith
	opEndsWith
	opNot
	opAnd
	opOr
)

// node is one AST node. Leaves use key/value/set; opNot has exactly one kid;
// opAnd/opOr have two or more kids (nested ones of the same kind are
// flattened).
type node struct {
	op    opKind
	key   string
	value string
	set   []string // sorted, unique (opIn, opNotIn)
	kids  []node
}

// Selector is a parsed Calico selector. It is immutable and safe for
// concurrent use.
type Selector struct {
	root  node
	canon string
}

// MustParse is Parse that panics on error; for literals in code and tests.
func MustParse(s string) *Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// Matches reports whether the labels satisfy the selector. It never
// allocates.
//
// global() evaluates to true here, as in Calico's selector library: its
// meaning ("non-namespaced endpoints") comes from the rewrite Calico applies
// to namespace selectors, see SubstituteGlobal.
func (s *Selector) Matches(l Labels) bool {
	v := View{n: 1}
	v.layers[0].Labels = l
	return s.root.eval(&v)
}

// MatchesView is Matches over a layered label view. It never allocates.
func (s *Selector) MatchesView(v *View) bool {
	return s.root.eval(v)
}

// String returns the canonical form: single spaces around operators,
// double-quoted values (single quotes when the value contains a double
// quote), set members sorted and de-duplicated, one-member sets written as
// == / !=, operands of && and || flattened, sorted and de-duplicated,
// negations of ==, !=, in and not in folded into the opposite operator,
// double negation removed, and only the parentheses precedence needs.
// Two selectors with the same String() select the same label sets.
func (s *Selector) String() string { return s.canon }

// Equal reports whether both selectors have the same canonical form.
func (s *Selector) Equal(o *Selector) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.canon == o.canon
}

// IsAll reports whether the selector is exactly all().
func (s *Selector) IsAll() bool { return s.root.op == opAll }

// IsGlobal reports whether the selector is exactly global().
func (s *Selector) IsGlobal() bool { return s.root.op == opGlobal }

// Uses reports whether the selector mentions global() anywhere.
func (s *Selector) UsesGlobal() bool { return s.root.uses(opGlobal) }

// UsesAll reports whether the selector mentions all() anywhere.
func (s *Selector) UsesAll() bool { return s.root.uses(opAll) }

func (n *node) uses(op opKind) bool {
	if n.op == op {
		return true
	}
	for i := range n.kids {
		if n.kids[i].uses(op) {
			return true
		}
	}
	return false
}

func (n *node) eval(l *View) bool {
	switch n.op {
	case opAll, opGlobal:
		return true
	case opEq:
		v, ok := l.Get(n.key)
		return ok && v == n.value
	case opNe:
		v, ok := l.Get(n.key)
		return !ok || v != n.value
	case opIn:
		v, ok := l.Get(n.key)
		return ok && setContains(n.set, v)
	case opNotIn:
		v, ok := l.Get(n.key)
		return !ok || !setContains(n.set, v)
	case opHas:
		_, ok := l.Get(n.key)
		return ok
	case opContains:
		v, ok := l.Get(n.key)
		return ok && strings.Contains(v, n.value)
	case opStartsWith:
		v, ok := l.Get(n.key)
		return ok && strings.HasPrefix(v, n.value)
	case opEndsWith:
		v, ok := l.Get(n.key)
		return ok && strings.HasSuffix(v, n.value)
	case opNot:
		return !n.kids[0].eval(l)
	case opAnd:
		for i := range n.kids {
			if !n.kids[i].eval(l) {
				return false
			}
		}
		return true
	case opOr:
		for i := range n.kids {
			if n.kids[i].eval(l) {
				return true
			}
		}
		return false
	}
	return false
}

func setContains(set []string, v string) bool {
	if len(set) <= 8 {
		for _, s := range set {
			if s == v {
				return true
			}
		}
		return false
	}
	lo, hi := 0, len(set)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if set[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(set) && set[lo] == v
}

func newSelector(root node) *Selector {
	return &Selector{root: root, canon: canonical(&root)}
}

// --- constructors -----------------------------------------------------------

// All returns all().
func All() *Selector { return newSelector(node{op: opAll}) }

// Global returns global().
func Global() *Selector { return newSelector(node{op: opGlobal}) }

// Eq returns key == value.
func Eq(key, value string) *Selector { return newSelector(node{op: opEq, key: key, value: value}) }

// Ne returns key != value.
func Ne(key, value string) *Selector { return newSelector(node{op: opNe, key: key, value: value}) }

// Has returns has(key).
func Has(key string) *Selector { return newSelector(node{op: opHas, key: key}) }

// In returns key in {values}.
func In(key string, values ...string) *Selector {
	return newSelector(node{op: opIn, key: key, set: sortedSet(values)})
}

// NotIn returns key not in {values}.
func NotIn(key string, values ...string) *Selector {
	return newSelector(node{op: opNotIn, key: key, set: sortedSet(values)})
}

// Not returns !s.
func Not(s *Selector) *Selector {
	return newSelector(node{op: opNot, kids: []node{s.root}})
}

// And returns the conjunction of the selectors (all() for none, the operand
// itself for one). Nil operands are skipped.
func And(sels ...*Selector) *Selector { return combine(opAnd, sels) }

// Or returns the disjunction of the selectors (all() for none). Nil operands
// are skipped.
func Or(sels ...*Selector) *Selector { return combine(opOr, sels) }

func combine(op opKind, sels []*Selector) *Selector {
	var kids []node
	for _, s := range sels {
		if s == nil {
			continue
		}
		if s.root.op == op {
			kids = append(kids, s.root.kids...)
		} else {
			kids = append(kids, s.root)
		}
	}
	switch len(kids) {
	case 0:
		return All()
	case 1:
		return newSelector(kids[0])
	}
	return newSelector(node{op: op, kids: kids})
}

func sortedSet(values []string) []string {
	set := slices.Clone(values)
	slices.Sort(set)
	return slices.Compact(set)
}

// --- rewrites ---------------------------------------------------------------

// WithPrefix returns a copy with every label key prefixed, the way Calico
// turns a namespaceSelector into a selector over the "pcns."-prefixed
// namespace labels its endpoints inherit.
func (s *Selector) WithPrefix(prefix string) *Selector {
	return newSelector(s.root.rewrite(func(n node) (node, bool) {
		switch n.op {
		case opEq, opNe, opIn, opNotIn, opHas, opContains, opStartsWith, opEndsWith:
			n.key = prefix + n.key
			return n, true
		}
		return n, false
	}))
}

// SubstituteAll returns a copy in which every all() is replaced by r.
func (s *Selector) SubstituteAll(r *Selector) *Selector {
	return newSelector(s.root.rewrite(func(n node) (node, bool) {
		if n.op == opAll {
			return r.root, true
		}
		return n, false
	}))
}

// SubstituteGlobal returns a copy in which every global() is replaced by r.
func (s *Selector) SubstituteGlobal(r *Selector) *Selector {
	return newSelector(s.root.rewrite(func(n node) (node, bool) {
		if n.op == opGlobal {
			return r.root, true
		}
		return n, false
	}))
}

// rewrite copies the tree, applying f to every node bottom-up; f returns the
// replacement and whether it replaced anything.
func (n node) rewrite(f func(node) (node, bool)) node {
	if len(n.kids) > 0 {
		kids := make([]node, len(n.kids))
		for i := range n.kids {
			kids[i] = n.kids[i].rewrite(f)
		}
		n.kids = kids
	}
	if r, ok := f(n); ok {
		return r
	}
	return n
}

type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// Possible reports whether some label set could satisfy the selector given
// that, for every key where isKnown returns true, the label is exactly as in
// known (present with that value, or absent). Keys for which isKnown is false
// may take any value. It is conservative (Kleene three-valued logic): false
// means the selector certainly fails; true means it may match.
func (s *Selector) Possible(known Labels, isKnown func(key string) bool) bool {
	return s.root.tri(known, isKnown) != triFalse
}

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (n *node) tri(l Labels, isKnown func(string) bool) tri {
	switch n.op {
	case opAll, opGlobal:
		return triTrue
	case opNot:
		switch n.kids[0].tri(l, isKnown) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	case opAnd:
		r := triTrue
		for i := range n.kids {
			switch n.kids[i].tri(l, isKnown) {
			case triFalse:
				return triFalse
			case triUnknown:
				r = triUnknown
			}
		}
		return r
	case opOr:
		r := triFalse
		for i := range n.kids {
			switch n.kids[i].tri(l, isKnown) {
			case triTrue:
				return triTrue
			case triUnknown:
				r = triUnknown
			}
		}
		return r
	}
	if !isKnown(n.key) {
		return triUnknown
	}
	v := View{n: 1}
	v.layers[0].Labels = l
	return boolTri(n.eval(&v))
}

// RequiredEquals returns the key/value pairs the selector requires through
// top-level "key == value" conjuncts (an endpoint lacking any of them cannot
// match). Callers use them to pre-filter selectors cheaply.
func (s *Selector) RequiredEquals() []Label {
	var out []Label
	switch s.root.op {
	case opEq:
		out = append(out, Label{s.root.key, s.root.value})
	case opAnd:
		for _, k := range s.root.kids {
			if k.op == opEq {
				out = append(out, Label{k.key, k.value})
			}
		}
	}
	return out
}

// Certain reports whether the selector matches every label set that agrees
// with known on the keys isKnown accepts, whatever the other labels are
// (the counterpart of Possible).
func (s *Selector) Certain(known Labels, isKnown func(key string) bool) bool {
	return s.root.tri(known, isKnown) == triTrue
}
