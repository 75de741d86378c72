package selector

import (
	"testing"
)

// FuzzParseSelector checks that parsing never panics and that a parsed
// selector's canonical String() re-parses to an equivalent selector: the same
// canonical form, and the same verdict on a family of label sets built from
// the selector's own keys and values.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{
		``, `all()`, `global()`, `app == 'web'`, `app != "web"`, `a in {'x', 'y',}`, `a not in {}`,
		`has(projectcalico.org/name)`, `!has(a) && b contains 'x' || c starts with "y"`,
		`!(a == '1' || (b ends with '2' && !c in {'3'}))`, `k notin{'a'}`, `a startswith 'b'`,
		`app.kubernetes.io/name in {"api", "web"} && tier != 'db'`, `(((a == 'b')))`, `!!!has(x)`,
		`a == 'it"s'`, `a == "it's"`, `has( x )`, "a ==\t'b'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Pos < 0 || pe.Pos > len(s) || pe.Selector != s {
				t.Fatalf("bad error for %q: %#v", s, err)
			}
			return
		}
		canon := sel.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", s, canon, again.String())
		}
		for _, l := range probeLabelSets(&sel.root) {
			if sel.Matches(l) != again.Matches(l) {
				t.Fatalf("%q and its canonical form %q disagree on %s", s, canon, l)
			}
		}
	})
}

// probeLabelSets builds label sets from the keys and values a selector
// mentions: every key absent, every key set to each mentioned value (and to
// a value nobody mentions), one key at a time and all at once.
func probeLabelSets(n *node) []Labels {
	vals := map[string][]string{}
	var walk func(*node)
	walk = func(n *node) {
		switch n.op {
		case opEq, opNe, opContains, opStartsWith, opEndsWith:
			vals[n.key] = append(vals[n.key], n.value, n.value+"x", "x"+n.value)
		case opIn, opNotIn, opHas:
			vals[n.key] = append(vals[n.key], n.set...)
		}
		for i := range n.kids {
			walk(&n.kids[i])
		}
	}
	walk(n)
	out := []Labels{{}}
	var all []Label
	for k, vs := range vals {
		vs = append(vs, "", "zz-unmentioned")
		for _, v := range vs {
			out = append(out, FromSlice([]Label{{k, v}}))
		}
		all = append(all, Label{k, vs[0]})
		if len(out) > 200 {
			break
		}
	}
	return append(out, FromSlice(all))
}
