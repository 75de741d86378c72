package selector

import (
	"slices"
	"strings"
)

// canonical renders the canonical form described on Selector.String.
func canonical(n *node) string {
	norm := normalize(*n)
	var b strings.Builder
	write(&b, &norm, precOr)
	return b.String()
}

// normalize returns an equivalent tree in canonical shape. It never changes
// all() or global(): their meaning depends on where the selector is used
// (Calico rewrites them inside namespace selectors), so identities such as
// "all() && x == x" are not applied.
func normalize(n node) node {
	switch n.op {
	case opIn, opNotIn:
		if len(n.set) == 1 {
			op := opEq
			if n.op == opNotIn {
				op = opNe
			}
			return node{op: op, key: n.key, value: n.set[0]}
		}
		return n
	case opNot:
		k := normalize(n.kids[0])
		switch k.op {
		case opNot:
			return k.kids[0]
		case opEq:
			k.op = opNe
			return k
		case opNe:
			k.op = opEq
			return k
		case opIn:
			k.op = opNotIn
			return k
		case opNotIn:
			k.op = opIn
			return k
		}
		return node{op: opNot, kids: []node{k}}
	case opAnd, opOr:
		var kids []node
		for _, k := range n.kids {
			k = normalize(k)
			if k.op == n.op {
				kids = append(kids, k.kids...)
			} else {
				kids = append(kids, k)
			}
		}
		type keyed struct {
			s string
			n node
		}
		ks := make([]keyed, len(kids))
		for i := range kids {
			var b strings.Builder
			write(&b, &kids[i], precOr)
			ks[i] = keyed{b.String(), kids[i]}
		}
		slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.s, b.s) })
		ks = slices.CompactFunc(ks, func(a, b keyed) bool { return a.s == b.s })
		if len(ks) == 1 {
			return ks[0].n
		}
		out := make([]node, len(ks))
		for i := range ks {
			out[i] = ks[i].n
		}
		return node{op: n.op, kids: out}
	}
	return n
}

const (
	precOr = iota
	precAnd
	precUnary
)

func write(b *strings.Builder, n *node, ctx int) {
	switch n.op {
	case opAll:
		b.WriteString("all()")
	case opGlobal:
		b.WriteString("global()")
	case opHas:
		b.WriteString("has(")
		b.WriteString(n.key)
		b.WriteByte(')')
	case opEq:
		writeBinary(b, n.key, " == ", n.value)
	case opNe:
		writeBinary(b, n.key, " != ", n.value)
	case opContains:
		writeBinary(b, n.key, " contains ", n.value)
	case opStartsWith:
		writeBinary(b, n.key, " starts with ", n.value)
	case opEndsWith:
		writeBinary(b, n.key, " ends with ", n.value)
	case opIn, opNotIn:
		b.WriteString(n.key)
		if n.op == opIn {
			b.WriteString(" in {")
		} else {
			b.WriteString(" not in {")
		}
		for i, v := range n.set {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, v)
		}
		b.WriteByte('}')
	case opNot:
		b.WriteByte('!')
		write(b, &n.kids[0], precUnary)
	case opAnd, opOr:
		prec, sep := precAnd, " && "
		if n.op == opOr {
			prec, sep = precOr, " || "
		}
		paren := ctx > prec
		if paren {
			b.WriteByte('(')
		}
		for i := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			write(b, &n.kids[i], prec+1)
		}
		if paren {
			b.WriteByte(')')
		}
	}
}

func writeBinary(b *strings.Builder, key, op, value string) {
	b.WriteString(key)
	b.WriteString(op)
	writeQuoted(b, value)
}

// writeQuoted quotes with double quotes unless the value contains one.
// Calico string literals have no escapes, so a value containing both quote
// characters has no parseable spelling; such values cannot come from Parse.
func writeQuoted(b *strings.Builder, v string) {
	q := byte('"')
	if strings.IndexByte(v, '"') >= 0 {
		q = '\''
	}
	b.WriteByte(q)
	b.WriteString(v)
	b.WriteByte(q)
}
