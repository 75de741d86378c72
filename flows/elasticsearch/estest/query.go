package estest

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// esError is an error answer in Elasticsearch's shape.
type esError struct {
	status int
	typ    string
	reason string
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

func badRequest(format string, a ...any) *esError {
	return &esError{status: 400, typ: "parsing_exception", reason: fmt.Sprintf(format, a...)}
}

// row is a document, or one nested object of it.
type row struct {
	d    *doc
	n    *fieldSet
	path string
}

func (r row) values(field string) []any {
	id, ok := r.d.index.tab.ids[field]
	if !ok {
		return nil
	}
	if r.n != nil && strings.HasPrefix(field, r.path+".") {
		return r.n.get(id)
	}
	return r.d.fields.get(id)
}

type pred func(r row) bool

// compileQuery checks and compiles a query for one index. path is the
// nested path the query runs in ("" at the top level).
func compileQuery(q any, ix *index, path string) (pred, error) {
	m, ok := q.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, badRequest("query malformed, must start with start_object and hold exactly one query")
	}
	for typ, body := range m {
		switch typ {
		case "match_all":
			return func(row) bool { return true }, nil
		case "bool":
			return compileBool(body, ix, path)
		case "term", "terms", "range", "exists", "wildcard":
			return compileLeaf(typ, body, ix, path)
		case "nested":
			return compileNested(body, ix, path)
		default:
			return nil, badRequest("unknown query [%s]", typ)
		}
	}
	return nil, nil
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func compileBool(body any, ix *index, path string) (pred, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, badRequest("[bool] query malformed")
	}
	var must, not, should []pred
	msm := -1
	for k, v := range m {
		var dst *[]pred
		switch k {
		case "filter", "must":
			dst = &must
		case "must_not":
			dst = &not
		case "should":
			dst = &should
		case "minimum_should_match":
			switch x := v.(type) {
			case float64:
				msm = int(x)
			case string:
				n, err := strconv.Atoi(x)
				if err != nil {
					return nil, badRequest("[bool] minimum_should_match %q is not supported by estest", x)
				}
				msm = n
			}
			continue
		case "boost", "_name":
			continue
		default:
			return nil, badRequest("[bool] query does not support [%s]", k)
		}
		for _, c := range asList(v) {
			p, err := compileQuery(c, ix, path)
			if err != nil {
				return nil, err
			}
			*dst = append(*dst, p)
		}
	}
	if msm < 0 {
		msm = 0
		if len(must) == 0 && len(not) == 0 && len(should) > 0 {
			msm = 1
		}
	}
	return func(r row) bool {
		for _, p := range must {
			if !p(r) {
				return false
			}
		}
		for _, p := range not {
			if p(r) {
				return false
			}
		}
		if msm > 0 {
			n := 0
			for _, p := range should {
				if p(r) {
					n++
					if n >= msm {
						return true
					}
				}
			}
			return false
		}
		return true
	}, nil
}

func compileNested(body any, ix *index, path string) (pred, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, badRequest("[nested] query malformed")
	}
	p, _ := m["path"].(string)
	if p == "" {
		return nil, badRequest("[nested] requires 'path' field")
	}
	ignore, _ := m["ignore_unmapped"].(bool)
	for k := range m {
		switch k {
		case "path", "query", "ignore_unmapped", "score_mode", "boost", "_name":
		default:
			return nil, badRequest("[nested] query does not support [%s]", k)
		}
	}
	f, _, found := ix.lookup(p)
	if !found || f.Type != "nested" {
		if ignore {
			return func(row) bool { return false }, nil
		}
		return nil, &esError{status: 400, typ: "query_shard_exception", reason: fmt.Sprintf("[nested] failed to find nested object under path [%s]", p)}
	}
	inner, err := compileQuery(m["query"], ix, p)
	if err != nil {
		return nil, err
	}
	return func(r row) bool {
		for _, n := range r.d.nestedObjs(p) {
			if inner(row{d: r.d, n: n, path: p}) {
				return true
			}
		}
		return false
	}, nil
}

// fieldFor resolves a field for a query or aggregation running in path;
// a nested field outside its nested context is a request error.
func fieldFor(ix *index, name, path, what string) (Field, bool, error) {
	f, np, ok := ix.lookup(name)
	if !ok {
		return Field{}, false, nil
	}
	if np != "" && np != path {
		return Field{}, false, badRequest("estest: [%s] on field [%s] which is inside nested path [%s]: wrap it in a nested %s (Elasticsearch would silently match nothing)", what, name, np, what)
	}
	return f, true, nil
}

func compileLeaf(typ string, body any, ix *index, path string) (pred, error) {
	m, ok := body.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, badRequest("[%s] query malformed", typ)
	}
	if typ == "exists" {
		return existsQuery(m, ix, path)
	}
	var name string
	var arg any
	for k, v := range m {
		if k == "boost" || k == "_name" {
			continue
		}
		if name != "" {
			return nil, badRequest("[%s] query doesn't support multiple fields, found [%s] and [%s]", typ, name, k)
		}
		name, arg = k, v
	}
	f, mapped, err := fieldFor(ix, name, path, "query")
	if err != nil {
		return nil, err
	}
	if !mapped {
		return func(row) bool { return false }, nil
	}
	switch typ {
	case "term":
		return termQuery(f, name, arg)
	case "terms":
		return termsQuery(f, name, arg)
	case "wildcard":
		return wildcardQuery(f, name, arg)
	case "range":
		return rangeQuery(f, name, arg)
	}
	return nil, badRequest("unknown query [%s]", typ)
}

// existsQuery compiles an [exists] query.
func existsQuery(m map[string]any, ix *index, path string) (pred, error) {
	name, _ := m["field"].(string)
	if name == "" {
		return nil, badRequest("[exists] must be provided with a [field]")
	}
	_, mapped, err := fieldFor(ix, name, path, "query")
	if err != nil {
		return nil, err
	}
	if !mapped {
		return func(row) bool { return false }, nil
	}
	return func(r row) bool { return len(r.values(name)) > 0 }, nil
}

// termQuery compiles a [term] query on field f (name).
func termQuery(f Field, name string, arg any) (pred, error) {
	if o, ok := arg.(map[string]any); ok {
		arg = o["value"]
	}
	want, err := queryValue(f, arg)
	if err != nil {
		return nil, err
	}
	return func(r row) bool {
		for _, v := range r.values(name) {
			if compare(f, v, want) == 0 {
				return true
			}
		}
		return false
	}, nil
}

// termsQuery compiles a [terms] query on field f (name).
func termsQuery(f Field, name string, arg any) (pred, error) {
	list, ok := arg.([]any)
	if !ok {
		return nil, badRequest("[terms] query requires an array of terms")
	}
	var wants []any
	for _, a := range list {
		w, err := queryValue(f, a)
		if err != nil {
			return nil, err
		}
		wants = append(wants, w)
	}
	return func(r row) bool {
		for _, v := range r.values(name) {
			for _, w := range wants {
				if compare(f, v, w) == 0 {
					return true
				}
			}
		}
		return false
	}, nil
}

// wildcardQuery compiles a [wildcard] query on field f (name).
func wildcardQuery(f Field, name string, arg any) (pred, error) {
	pat := ""
	switch x := arg.(type) {
	case string:
		pat = x
	case map[string]any:
		for k := range x {
			if k != "value" && k != "wildcard" && k != "boost" && k != "case_insensitive" && k != "rewrite" {
				return nil, badRequest("[wildcard] query does not support [%s]", k)
			}
		}
		pat, _ = x["value"].(string)
		if pat == "" {
			pat, _ = x["wildcard"].(string)
		}
	}
	if f.Type != "keyword" {
		return nil, badRequest("estest: [wildcard] on a %s field [%s]", f.Type, name)
	}
	return func(r row) bool {
		for _, v := range r.values(name) {
			if s, ok := v.(string); ok && globMatch(pat, s) {
				return true
			}
		}
		return false
	}, nil
}

// rangeQuery compiles a [range] query on field f (name).
func rangeQuery(f Field, name string, arg any) (pred, error) {
	o, ok := arg.(map[string]any)
	if !ok {
		return nil, badRequest("[range] query malformed")
	}
	rf := f
	if fm, ok := o["format"].(string); ok {
		if f.Type != "date" {
			return nil, badRequest("estest: [range] format on a %s field", f.Type)
		}
		if fm != "epoch_second" && fm != "epoch_millis" {
			return nil, badRequest("estest: [range] format %q not supported", fm)
		}
		rf.Format = fm
	}
	type bound struct {
		v         any
		op        string
		inclusive bool
	}
	var bounds []bound
	for k, v := range o {
		switch k {
		case "gte", "gt", "lte", "lt":
			var qv any
			if f.Type == "date" {
				ms, ok := dateMillis(rf, v)
				if !ok {
					return nil, badRequest("failed to parse date field [%v] with format [%s]", v, rf.Format)
				}
				qv = ms
			} else {
				var err error
				if qv, err = queryValue(f, v); err != nil {
					return nil, err
				}
			}
			bounds = append(bounds, bound{qv, k, k == "gte" || k == "lte"})
		case "format", "boost", "time_zone", "relation":
		default:
			return nil, badRequest("[range] query does not support [%s]", k)
		}
	}
	return func(r row) bool {
		for _, v := range r.values(name) {
			ok := true
			for _, b := range bounds {
				c := compare(f, v, b.v)
				switch b.op {
				case "gte":
					ok = ok && c >= 0
				case "gt":
					ok = ok && c > 0
				case "lte":
					ok = ok && c <= 0
				case "lt":
					ok = ok && c < 0
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

// queryValue converts a value given in a query to the field's stored form.
func queryValue(f Field, v any) (any, error) {
	if f.Type == "date" {
		ms, ok := dateMillis(f, v)
		if !ok {
			return nil, badRequest("failed to parse date [%v]", v)
		}
		return ms, nil
	}
	cv, ok := convert(f, v)
	if !ok {
		return nil, &esError{status: 400, typ: "query_shard_exception", reason: fmt.Sprintf("failed to create query: [%v] is not a valid %s value", v, f.Type)}
	}
	return cv, nil
}

// compare orders two stored values of a field (nil first).
func compare(f Field, a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch f.Type {
	case "ip":
		x, _ := netip.ParseAddr(a.(string))
		y, _ := netip.ParseAddr(b.(string))
		xa, ya := x.As16(), y.As16() // IPv4 as IPv4-mapped IPv6, as Elasticsearch orders them
		return bytes.Compare(xa[:], ya[:])
	case "keyword", "constant_keyword":
		return strings.Compare(a.(string), b.(string))
	}
	x, _ := a.(float64)
	y, _ := b.(float64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// globMatch matches Elasticsearch wildcard syntax: * any run, ? one
// character.
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pat) && (pat[px] == '?' || pat[px] == s[sx]):
			px++
			sx++
		case px < len(pat) && pat[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// matchIndices expands a comma-separated index expression with wildcards.
func matchIndices(expr string, all []*index) (out []*index, missing string) {
	seen := map[*index]bool{}
	for _, part := range strings.Split(expr, ",") {
		found := false
		for _, ix := range all {
			if globMatch(part, ix.name) {
				found = true
				if !seen[ix] {
					seen[ix] = true
					out = append(out, ix)
				}
			}
		}
		if !found && !strings.ContainsAny(part, "*?") {
			return nil, part
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, ""
}
