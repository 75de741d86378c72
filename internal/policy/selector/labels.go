// Package selector implements Calico's label-selector language: parsing with
// positioned errors, allocation-free evaluation against a label set, a
// canonical string form, and the AST rewrites Calico applies when it turns
// policy selectors into dataplane selectors (key prefixes, all()/global()
// substitution).
//
// The grammar and the tokenizer's quirks follow libcalico-go's
// lib/selector (Calico v3.31): only space and tab are whitespace, string
// literals have no escapes, "has(" must be written without a space before
// the parenthesis, "not in"/"starts with"/"ends with" may be written with or
// without the inner space, a set literal may end with a trailing comma, and an
// empty selector means all().
//
// It is written here because Calico's parser lives in libcalico-go, which
// this module does not depend on (Calico's types come from projectcalico/api
// alone), and because evaluation must not allocate: the evaluator runs it
// for every candidate policy of every flow.
package selector

import (
	"maps"
	"slices"
	"strings"
)

// Label is one key/value pair.
type Label struct {
	Key, Value string
}

// Labels is an immutable label set, kept sorted by key with unique keys so
// that lookups are a binary search and never allocate. The zero value is the
// empty set. Build one with MakeLabels, FromPairs or FromSlice.
type Labels struct {
	kv []Label
}

// MakeLabels builds a label set from a map.
func MakeLabels(m map[string]string) Labels {
	if len(m) == 0 {
		return Labels{}
	}
	kv := make([]Label, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, Label{k, m[k]})
	}
	return Labels{kv: kv}
}

// FromPairs builds a label set from alternating keys and values
// ("app", "web", "tier", "1"). A later duplicate key wins. It panics on an odd
// number of arguments; it is meant for literals in code and tests.
func FromPairs(kv ...string) Labels {
	if len(kv)%2 != 0 {
		panic("selector.FromPairs: odd number of arguments")
	}
	ls := make([]Label, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, Label{kv[i], kv[i+1]})
	}
	return FromSlice(ls)
}

// FromSlice builds a label set from pairs in any order; for a repeated key the
// last pair wins. The slice is copied.
func FromSlice(ls []Label) Labels {
	if len(ls) == 0 {
		return Labels{}
	}
	kv := slices.Clone(ls)
	// Stable sort keeps the input order of duplicates, so "last wins" can be
	// applied by keeping the last of each run.
	slices.SortStableFunc(kv, func(a, b Label) int { return strings.Compare(a.Key, b.Key) })
	out := kv[:0]
	for i := 0; i < len(kv); i++ {
		if i+1 < len(kv) && kv[i+1].Key == kv[i].Key {
			continue
		}
		out = append(out, kv[i])
	}
	return Labels{kv: slices.Clip(out)}
}

// FromKV builds a label set from "key=value" strings, the form flow logs use;
// a string without '=' is a key with an empty value.
func FromKV(kvs []string) Labels {
	ls := make([]Label, 0, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		ls = append(ls, Label{k, v})
	}
	return FromSlice(ls)
}

// FromSorted wraps kv without copying it. kv must be sorted by key with
// unique keys and must not be modified while the Labels are in use; it is
// meant for hot paths that build small label sets in stack buffers.
func FromSorted(kv []Label) Labels { return Labels{kv: kv} }

// Get returns the value of key and whether it is present.
func (l Labels) Get(key string) (string, bool) {
	kv := l.kv
	lo, hi := 0, len(kv)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if kv[m].Key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(kv) && kv[lo].Key == key {
		return kv[lo].Value, true
	}
	return "", false
}

// Has reports whether key is present.
func (l Labels) Has(key string) bool {
	_, ok := l.Get(key)
	return ok
}

// Len is the number of labels.
func (l Labels) Len() int { return len(l.kv) }

// At returns the i-th label in key order.
func (l Labels) At(i int) Label { return l.kv[i] }

// Map returns the labels as a new map.
func (l Labels) Map() map[string]string {
	m := make(map[string]string, len(l.kv))
	for _, p := range l.kv {
		m[p.Key] = p.Value
	}
	return m
}

// WithPrefix returns a copy whose keys all carry prefix (Calico stores a
// namespace's labels on its endpoints as "pcns.<key>").
func (l Labels) WithPrefix(prefix string) Labels {
	if len(l.kv) == 0 {
		return Labels{}
	}
	kv := make([]Label, len(l.kv))
	for i, p := range l.kv {
		kv[i] = Label{prefix + p.Key, p.Value}
	}
	// Prefixing every key preserves their relative order.
	return Labels{kv: kv}
}

// String renders the labels as "k=v,k2=v2" in key order.
func (l Labels) String() string {
	var b strings.Builder
	for i, p := range l.kv {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// Merge writes the union of the given label sets into buf (reusing its
// storage when it is large enough) and returns it. When a key occurs in more
// than one set, the set listed first wins. It allocates only when buf is too
// small, so callers on a hot path pass a stack array.
func Merge(buf []Label, sets ...Labels) Labels {
	n := 0
	for _, s := range sets {
		n += len(s.kv)
	}
	if cap(buf) < n {
		buf = make([]Label, 0, n)
	}
	out := buf[:0]
	switch len(sets) {
	case 0:
		return Labels{}
	case 1:
		out = append(out, sets[0].kv...)
		return Labels{kv: out}
	}
	// k-way merge by repeatedly picking the smallest head; k is tiny (<= 4).
	var idx [8]int
	var heads []int
	if len(sets) <= len(idx) {
		heads = idx[:len(sets)]
	} else {
		heads = make([]int, len(sets))
	}
	for {
		best := -1
		for i, s := range sets {
			if heads[i] >= len(s.kv) {
				continue
			}
			if best < 0 || s.kv[heads[i]].Key < sets[best].kv[heads[best]].Key {
				best = i
			}
		}
		if best < 0 {
			break
		}
		p := sets[best].kv[heads[best]]
		out = append(out, p)
		// Skip the same key in every set (the first set listed won above
		// because the comparison is strict).
		for i, s := range sets {
			if heads[i] < len(s.kv) && s.kv[heads[i]].Key == p.Key {
				heads[i]++
			}
		}
	}
	return Labels{kv: out}
}

// MaxLayers is the number of label sets a View can stack.
const MaxLayers = 4

// Layer is one label set of a View. When Prefix is not empty the layer
// holds only keys starting with it, so lookups of other keys skip it.
type Layer struct {
	Prefix string
	Labels Labels
}

// View stacks up to MaxLayers label sets without merging them, for hot
// paths where an entity's labels come from several sources (its own labels,
// automatic labels, inherited namespace labels). A lookup consults the
// layers in order and the first hit wins. Views are values meant to live on
// the stack.
type View struct {
	layers [MaxLayers]Layer
	n      int
}

// NewView stacks the non-empty layers, earliest first. It panics with more
// than MaxLayers non-empty layers.
func NewView(layers ...Layer) View {
	var v View
	for _, ly := range layers {
		if len(ly.Labels.kv) == 0 {
			continue
		}
		if v.n == MaxLayers {
			panic("selector.NewView: too many layers")
		}
		v.layers[v.n] = ly
		v.n++
	}
	return v
}

// Get returns the value of key from the first layer that has it.
func (v *View) Get(key string) (string, bool) {
	for i := 0; i < v.n; i++ {
		ly := &v.layers[i]
		if len(ly.Prefix) > 0 && (len(key) < len(ly.Prefix) || key[:len(ly.Prefix)] != ly.Prefix) {
			continue
		}
		if val, ok := ly.Labels.Get(key); ok {
			return val, true
		}
	}
	return "", false
}

// Flatten merges the view into one label set (earlier layers win).
func (v *View) Flatten() Labels {
	sets := make([]Labels, v.n)
	for i := 0; i < v.n; i++ {
		sets[i] = v.layers[i].Labels
	}
	return Merge(nil, sets...)
}
