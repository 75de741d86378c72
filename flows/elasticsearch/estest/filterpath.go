package estest

import "strings"

// filterPath is Elasticsearch's response filtering (the filter_path
// parameter): comma-separated dotted paths whose segments may be "*" (any
// one key, or a part of a key: "bucket*") or "**" (any number of keys).
// Arrays are transparent. Only inclusive filters are supported.
type filterPath [][]string

func parseFilterPath(s string) filterPath {
	if s == "" {
		return nil
	}
	var fp filterPath
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			fp = append(fp, strings.Split(p, "."))
		}
	}
	return fp
}

// advance returns the patterns' remainders after matching key.
func advance(pats filterPath, key string) filterPath {
	var out filterPath
	for _, p := range pats {
		if len(p) == 0 {
			continue
		}
		if p[0] == "**" {
			out = append(out, p) // ** goes on matching
			out = append(out, advance(filterPath{p[1:]}, key)...)
			continue
		}
		if globMatch(p[0], key) {
			out = append(out, p[1:])
		}
	}
	return out
}

// complete reports whether some pattern is fully matched (everything
// below is kept).
func (fp filterPath) complete() bool {
	for _, p := range fp {
		if len(p) == 0 || (len(p) == 1 && p[0] == "**") {
			return true
		}
	}
	return false
}

// apply filters a decoded JSON value; ok is false when nothing is kept.
func (fp filterPath) apply(v any) (any, bool) {
	if fp.complete() {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			next := advance(fp, k)
			if len(next) == 0 {
				continue
			}
			if fe, ok := next.apply(e); ok {
				out[k] = fe
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range x {
			if fe, ok := fp.apply(e); ok {
				out = append(out, fe)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// keeps reports whether the value at path is kept whole, or in part.
func (fp filterPath) keeps(path ...string) (whole, part bool) {
	cur := fp
	for _, k := range path {
		cur = advance(cur, k)
		if len(cur) == 0 {
			return false, false
		}
	}
	return cur.complete(), true
}
