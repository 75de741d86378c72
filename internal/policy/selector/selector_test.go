package selector

import (
	"errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"testing"

	"github.com/stretchr/testify/require"
)

// Explicit matcher cases in the style of network-policy-api's
// policy-assistant: one selector, one label set, the expected verdict.
func TestMatchesOperators(t *testing.T) {
	labels := FromPairs(
		"app", "web",
		"tier", "frontend",
		"projectcalico.org/name", "kube-system",
		"app.kubernetes.io/name", "ingress-nginx",
		"empty", "",
	)
	cases := []struct {
		sel  string
		want bool
	}{
		// ==
		{`app == 'web'`, true},
		{`app == "db"`, false},
		{`missing == 'web'`, false},
		{`empty == ''`, true},
		// != is true when the key is absent
		{`app != 'db'`, true},
		{`app != 'web'`, false},
		{`missing != 'web'`, true},
		// in / not in (not in is true when absent)
		{`app in {'db', 'web'}`, true},
		{`app in {'db'}`, false},
		{`missing in {'web'}`, false},
		{`app in {}`, false},
		{`app not in {'db', 'cache'}`, true},
		{`app not in {'web'}`, false},
		{`missing not in {'web'}`, true},
		{`app notin {'db'}`, true}, // Calico also accepts the operator without the inner space
		// has / !has
		{`has(app)`, true},
		{`has(missing)`, false},
		{`!has(app)`, false},
		{`!has(missing)`, true},
		{`has( app )`, true},
		// contains / starts with / ends with (false when absent)
		{`tier contains 'ont'`, true},
		{`tier contains 'back'`, false},
		{`missing contains ''`, false},
		{`tier starts with 'front'`, true},
		{`tier starts with 'end'`, false},
		{`missing starts with ''`, false},
		{`tier ends with 'end'`, true},
		{`tier ends with 'front'`, false},
		{`missing ends with ''`, false},
		{`tier startswith 'f'`, true},
		// all() and global() (global() only means something in namespaceSelector)
		{`all()`, true},
		{``, true},
		{`   `, true},
		{`global()`, true},
		{`!all()`, false},
		// logic and precedence: ! binds tightest, then &&, then ||
		{`app == 'web' && tier == 'frontend'`, true},
		{`app == 'web' && tier == 'backend'`, false},
		{`app == 'db' || tier == 'frontend'`, true},
		{`app == 'db' || tier == 'backend'`, false},
		{`app == 'db' && tier == 'x' || has(app)`, true},
		{`app == 'db' && (tier == 'x' || has(app))`, false},
		{`!app == 'db'`, true},
		{`!!app == 'web'`, true},
		{`!(app == 'web' && has(tier))`, false},
		{`((app == 'web'))`, true},
		// prefixed label keys
		{`projectcalico.org/name == 'kube-system'`, true},
		{`app.kubernetes.io/name in {"ingress-nginx"}`, true},
		{`has(app.kubernetes.io/name) && projectcalico.org/name starts with "kube-"`, true},
		// quote styles
		{`app == "web"`, true},
		{`app == 'w"b'`, false},
	}
	for _, tc := range cases {
		sel, err := Parse(tc.sel)
		require.NoError(t, err, tc.sel)
		require.Equal(t, tc.want, sel.Matches(labels), "%q on %s", tc.sel, labels)
		// The canonical form selects the same.
		again := MustParse(sel.String())
		require.Equal(t, tc.want, again.Matches(labels), "canonical %q of %q", sel.String(), tc.sel)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		sel    string
		pos    int
		reason string // substring
	}{
		{`app ==`, 6, "expected a quoted string"},
		{`app == web`, 7, "expected a quoted string after '==', found label \"web\""},
		{`app = 'web'`, 4, "expected '=='"},
		{`app == 'web`, 7, "unterminated string"},
		{`app in ('a')`, 7, "expected '{'"},
		{`app in {'a'`, 11, "expected a string or '}'"},
		{`app in {'a' 'b'}`, 12, "expected a string or '}'"},
		{`app in {,}`, 8, "expected a string or '}'"},
		{`has(app`, 7, "expected ')' to close has("},
		{`has (app)`, 4, "expected an operator"},
		{`has()`, 4, "unexpected character"},
		{`all(x)`, 4, "expected ')' after all("},
		{`app == 'a' &&`, 13, "found end of selector"},
		{`app == 'a' & b == 'c'`, 11, "expected '&&'"},
		{`app == 'a' | b == 'c'`, 11, "expected '||'"},
		{`(app == 'a'`, 11, "expected ')'"},
		{`app == 'a')`, 10, "unexpected ')'"},
		{`app == 'a' b == 'c'`, 11, "unexpected label"},
		{`app`, 3, "expected an operator"},
		{`== 'a'`, 0, "expected a label"},
		{"app\n== 'a'", 3, "expected an operator"}, // only space and tab are blanks
		{`app == 'a' && !`, 15, "found end of selector"},
		{`app contains`, 12, "expected a quoted string"},
		{`app is 'a'`, 4, "expected an operator"},
		{`app@x == 'a'`, 3, "expected an operator"},
		{`$ == 'a'`, 0, "unexpected character"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.sel)
		require.Error(t, err, tc.sel)
		var pe *ParseError
		require.True(t, errors.As(err, &pe), tc.sel)
		require.Equal(t, tc.sel, pe.Selector)
		require.Equal(t, tc.pos, pe.Pos, "%q: %v", tc.sel, err)
		require.Contains(t, pe.Reason, tc.reason, tc.sel)
		require.Contains(t, err.Error(), "position")
	}
}

func TestCanonicalString(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `all()`},
		{`app=='web'`, `app == "web"`},
		{`  app   ==   "web"  `, `app == "web"`},
		{`app == 'say "hi"'`, `app == 'say "hi"'`},
		{`b == '2' && a == '1'`, `a == "1" && b == "2"`},
		{`a == '1' && b == '2' && a == '1'`, `a == "1" && b == "2"`},
		{`(a == '1' && b == '2') && c == '3'`, `a == "1" && b == "2" && c == "3"`},
		{`c == '3' || (b == '2' || a == '1')`, `a == "1" || b == "2" || c == "3"`},
		{`(c == '3' || b == '2') && a == '1'`, `a == "1" && (b == "2" || c == "3")`},
		{`a == '1' || b == '2' && c == '3'`, `a == "1" || b == "2" && c == "3"`},
		{`k in {'b', 'a', 'b'}`, `k in {"a", "b"}`},
		{`k in {'a'}`, `k == "a"`},
		{`k not in {'a'}`, `k != "a"`},
		{`k in {'a',}`, `k == "a"`},
		{`!(k == 'a')`, `k != "a"`},
		{`!(k in {'a', 'b'})`, `k not in {"a", "b"}`},
		{`!!has(k)`, `has(k)`},
		{`!has(k)`, `!has(k)`},
		{`!(a == '1' && b == '2')`, `!(a == "1" && b == "2")`},
		{`k starts  with 'x'`, `k starts with "x"`},
		{`k notin {}`, `k not in {}`},
		{`global()`, `global()`},
		{`all() && a == '1'`, `a == "1" && all()`}, // all() is kept: its meaning depends on context
	}
	for _, tc := range cases {
		got := MustParse(tc.in).String()
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, got, MustParse(got).String(), "canonical form is a fixed point")
	}
	require.True(t, MustParse(`b == '2' && a == "1"`).Equal(MustParse(`a=='1'&&b=='2'`)))
	require.False(t, MustParse(`a == '1'`).Equal(MustParse(`a == '2'`)))
}

func TestRewrites(t *testing.T) {
	ns := MustParse(`tier in {'3-edge', '4-aux'} || all()`).WithPrefix("pcns.")
	require.Equal(t, `all() || pcns.tier in {"3-edge", "4-aux"}`, ns.String())
	sub := ns.SubstituteAll(Has("projectcalico.org/namespace"))
	require.Equal(t, `has(projectcalico.org/namespace) || pcns.tier in {"3-edge", "4-aux"}`, sub.String())
	require.False(t, sub.Matches(FromPairs("role", "x")))
	require.True(t, sub.Matches(FromPairs("projectcalico.org/namespace", "a")))
	g := Global().SubstituteGlobal(Not(Has("projectcalico.org/namespace")))
	require.Equal(t, `!has(projectcalico.org/namespace)`, g.String())
	require.True(t, Global().UsesGlobal())
	require.False(t, Eq("a", "b").UsesGlobal())
	require.Equal(t, `a == "1" && has(b)`, And(Eq("a", "1"), nil, Has("b")).String())
	require.Equal(t, `all()`, And().String())
	require.Equal(t, `a != "1" || b in {"x", "y"}`, Or(Ne("a", "1"), In("b", "y", "x")).String())
	require.Equal(t, `a not in {"x", "y"}`, NotIn("a", "x", "y").String())
	require.Equal(t, []Label{{"a", "1"}, {"c", "3"}}, MustParse(`a == '1' && has(b) && c == '3'`).RequiredEquals())
	require.Empty(t, MustParse(`a == '1' || c == '3'`).RequiredEquals())
}

func TestPossible(t *testing.T) {
	known := FromPairs("pcns.tier", "4-aux")
	isKnown := func(k string) bool { return len(k) > 5 && k[:5] == "pcns." }
	require.True(t, MustParse(`app == 'x' && pcns.tier == '4-aux'`).Possible(known, isKnown))
	require.False(t, MustParse(`app == 'x' && pcns.tier == '3-edge'`).Possible(known, isKnown))
	require.True(t, MustParse(`app == 'x' || pcns.tier == '3-edge'`).Possible(known, isKnown))
	require.False(t, MustParse(`!(app == 'x' || pcns.tier == '4-aux')`).Possible(known, isKnown))
	require.True(t, MustParse(`!has(pcns.other)`).Possible(known, isKnown))
}

func TestLabels(t *testing.T) {
	l := FromPairs("b", "2", "a", "1", "b", "3")
	require.Equal(t, 2, l.Len())
	v, ok := l.Get("b")
	require.True(t, ok)
	require.Equal(t, "3", v, "a later duplicate wins")
	_, ok = l.Get("c")
	require.False(t, ok)
	require.Equal(t, "a=1,b=3", l.String())
	require.Equal(t, map[string]string{"a": "1", "b": "3"}, l.Map())
	require.Equal(t, "p.a=1,p.b=3", l.WithPrefix("p.").String())
	m := Merge(nil, FromPairs("x", "first"), FromPairs("x", "second", "a", "0"), FromPairs("z", "9"))
	require.Equal(t, "a=0,x=first,z=9", m.String())
	big := make([]string, 0, 40)
	for i := 0; i < 20; i++ {
		big = append(big, string(rune('a'+i)), "v")
	}
	bl := FromPairs(big...)
	require.True(t, bl.Has("t"))
	require.False(t, bl.Has("u"))

	view := NewView(Layer{Prefix: "projectcalico.org/", Labels: FromPairs("projectcalico.org/namespace", "ns")},
		Layer{Labels: FromPairs("app", "web", "pcns.x", "own")},
		Layer{Prefix: "pcns.", Labels: FromPairs("pcns.x", "inherited", "pcns.y", "1")})
	for _, tc := range []struct{ key, want string }{
		{"projectcalico.org/namespace", "ns"}, {"app", "web"}, {"pcns.x", "own"}, {"pcns.y", "1"},
	} {
		got, ok := view.Get(tc.key)
		require.True(t, ok, tc.key)
		require.Equal(t, tc.want, got, tc.key)
	}
	_, ok = view.Get("pcns.z")
	require.False(t, ok)
	require.True(t, MustParse(`app == 'web' && pcns.y == '1'`).MatchesView(&view))
	require.Equal(t, "app=web,pcns.x=own,pcns.y=1,projectcalico.org/namespace=ns", view.Flatten().String())
}

func BenchmarkMatches(b *testing.B) {
	sel := MustParse(`app.kubernetes.io/name in {"api", "web"} && tier != 'db' && !has(legacy) && projectcalico.org/namespace starts with 'shop'`)
	l := FromPairs("app.kubernetes.io/name", "web", "tier", "frontend", "projectcalico.org/namespace", "shop-prod", "pod-template-hash", "abc")
	b.ReportAllocs()
	n := 0
	for i := 0; i < b.N; i++ {
		if sel.Matches(l) {
			n++
		}
	}
	if n != b.N {
		b.Fatal("selector should match")
	}
}

func TestMatchesAllocationFree(t *testing.T) {
	sel := MustParse(`a in {'1','2','3','4','5','6','7','8','9','10'} && b contains 'x' || !has(c)`)
	l := FromPairs("a", "7", "b", "xyz")
	require.Zero(t, testing.AllocsPerRun(1000, func() { sel.Matches(l) }))
}

func TestFromKV(t *testing.T) {
	l := FromKV([]string{"app=web", "projectcalico.org/namespace=shop", "flag", "eq=a=b"})
	require.Equal(t, "app=web,eq=a=b,flag=,projectcalico.org/namespace=shop", l.String())
}

func TestFromLabelSelector(t *testing.T) {
	sel, err := FromLabelSelector(&metav1.LabelSelector{
		MatchLabels: map[string]string{"b": "2", "a": "1"},
		MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "stage"}},
			{Key: "tmp", Operator: metav1.LabelSelectorOpDoesNotExist},
		},
	})
	require.NoError(t, err)
	require.True(t, sel.Matches(MakeLabels(map[string]string{"a": "1", "b": "2", "env": "prod"})))
	require.False(t, sel.Matches(MakeLabels(map[string]string{"a": "1", "b": "2", "env": "dev"})))
	require.False(t, sel.Matches(MakeLabels(map[string]string{"a": "1", "b": "2", "env": "prod", "tmp": "x"})))
	require.True(t, sel.Equal(MustParse(`b == "2" && a == "1" && env in {"stage","prod"} && !has(tmp)`)))
	all, err := FromLabelSelector(&metav1.LabelSelector{})
	require.NoError(t, err)
	require.True(t, all.IsAll())
	_, err = FromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a"}, {Key: "b", Operator: "Near"}}})
	require.ErrorContains(t, err, `matchExpressions[0]: invalid operator ""`)
}
