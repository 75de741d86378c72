package estest

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// aggNode is a compiled aggregation.
type aggNode struct {
	name string
	typ  string
	// field and its mapping (first index where it is mapped).
	field  string
	ft     Field
	mapped bool

	size      int
	orderKey  bool // order by _key (else _count desc, _key asc)
	orderDesc bool
	missing   any

	minDocCount int
	offsetMs    float64

	// filterByIndex holds a filter aggregation's filter compiled per index.
	filterByIndex map[*index]pred
	path          string // nested path of a nested aggregation

	subs []*aggNode
}

var knownAggParams = map[string]map[string]bool{
	"terms":          {"field": true, "size": true, "order": true, "missing": true, "min_doc_count": true, "shard_size": true},
	"min":            {"field": true, "missing": true},
	"max":            {"field": true, "missing": true},
	"sum":            {"field": true, "missing": true},
	"date_histogram": {"field": true, "calendar_interval": true, "offset": true, "min_doc_count": true, "time_zone": true, "format": true},
	"nested":         {"path": true},
	"reverse_nested": {"path": true},
}

// compileAggs checks and compiles an "aggs" object. path is the nested
// context ("" at the top level).
func compileAggs(v any, ixs []*index, path string) ([]*aggNode, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("aggregations must be an object")
	}
	var out []*aggNode
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		def, ok := m[name].(map[string]any)
		if !ok {
			return nil, badRequest("aggregation [%s] must be an object", name)
		}
		n := &aggNode{name: name}
		var subDef any
		for k, body := range def {
			switch k {
			case "aggs", "aggregations":
				subDef = body
				continue
			case "meta":
				continue
			}
			if n.typ != "" {
				return nil, badRequest("found two aggregation type definitions in [%s]: [%s] and [%s]", name, n.typ, k)
			}
			n.typ = k
			if err := n.compile(body, ixs, path); err != nil {
				return nil, err
			}
		}
		if n.typ == "" {
			return nil, badRequest("missing definition for aggregation [%s]", name)
		}
		subPath := path
		switch n.typ {
		case "nested":
			subPath = n.path
		case "reverse_nested":
			subPath = n.path
		}
		if subDef != nil {
			subs, err := compileAggs(subDef, ixs, subPath)
			if err != nil {
				return nil, err
			}
			n.subs = subs
		}
		out = append(out, n)
	}
	return out, nil
}

func (n *aggNode) compile(body any, ixs []*index, path string) error {
	if n.typ == "composite" {
		return badRequest("[composite] aggregation cannot be used with a parent aggregation")
	}
	if n.typ == "filter" {
		n.filterByIndex = map[*index]pred{}
		for _, ix := range ixs {
			p, err := compileQuery(body, ix, path)
			if err != nil {
				return err
			}
			n.filterByIndex[ix] = p
		}
		return nil
	}
	known, ok := knownAggParams[n.typ]
	if !ok {
		return badRequest("Unknown aggregation type [%s] did you mean [terms]?", n.typ)
	}
	m, ok := body.(map[string]any)
	if !ok {
		return badRequest("[%s] aggregation malformed", n.typ)
	}
	for k := range m {
		if !known[k] {
			return badRequest("[%s] unknown field [%s]", n.typ, k)
		}
	}
	if n.typ == "nested" || n.typ == "reverse_nested" {
		return n.compileNested(m, ixs, path)
	}
	n.field, _ = m["field"].(string)
	if n.field == "" {
		return badRequest("Required one of fields [field, script], but none were specified.")
	}
	for _, ix := range ixs {
		f, mapped, err := fieldFor(ix, n.field, path, "aggregation")
		if err != nil {
			return err
		}
		if mapped && !n.mapped {
			n.ft, n.mapped = f, true
		}
	}
	n.missing = m["missing"]
	switch n.typ {
	case "terms":
		return n.compileTerms(m)
	case "date_histogram":
		return n.compileDateHistogram(m)
	}
	return nil
}

// compileTerms reads a terms aggregation's size and order.
func (n *aggNode) compileTerms(m map[string]any) error {
	n.size = 10
	if s, ok := m["size"].(float64); ok {
		n.size = int(s)
	}
	n.minDocCount = 1
	if o, ok := m["order"].(map[string]any); ok {
		for k, v := range o {
			switch k {
			case "_key":
				n.orderKey = true
			case "_count":
			default:
				return badRequest("estest: terms order by [%s] not supported", k)
			}
			n.orderDesc = v == "desc"
		}
	} else {
		n.orderDesc = true
	}
	return nil
}

// compileDateHistogram reads a date_histogram's interval (daily only),
// time zone (UTC only), min_doc_count and offset.
func (n *aggNode) compileDateHistogram(m map[string]any) error {
	if n.mapped && n.ft.Type != "date" {
		return badRequest("Field [%s] of type [%s] is not supported for aggregation [date_histogram]", n.field, n.ft.Type)
	}
	ci, _ := m["calendar_interval"].(string)
	if ci != "day" && ci != "1d" {
		return badRequest("estest: calendar_interval %q not supported (only day)", ci)
	}
	if tz, ok := m["time_zone"].(string); ok && tz != "UTC" && tz != "Z" && tz != "+00:00" {
		return badRequest("estest: time_zone %q not supported", tz)
	}
	if s, ok := m["min_doc_count"].(float64); ok {
		n.minDocCount = int(s)
	}
	if off, ok := m["offset"].(string); ok {
		d, err := time.ParseDuration(strings.TrimPrefix(off, "+"))
		if err != nil {
			return badRequest("failed to parse setting [date_histogram.offset] with value [%s]", off)
		}
		n.offsetMs = float64(d.Milliseconds())
	}
	return nil
}

// compileNested reads a nested or reverse_nested aggregation's path.
func (n *aggNode) compileNested(m map[string]any, ixs []*index, path string) error {
	switch n.typ {
	case "nested":
		n.path, _ = m["path"].(string)
		for _, ix := range ixs {
			if f, _, ok := ix.lookup(n.path); ok && f.Type != "nested" {
				return &esError{status: 400, typ: "aggregation_execution_exception", reason: "[nested] nested path [" + n.path + "] is not nested"}
			}
		}
		return nil
	case "reverse_nested":
		n.path, _ = m["path"].(string)
		if path == "" {
			return badRequest("Reverse nested aggregation [%s] can only be used inside a [nested] aggregation", n.name)
		}
		return nil
	}
	return nil
}

// evalAggs computes aggregations over rows into out.
func evalAggs(nodes []*aggNode, rows []row, out map[string]any) {
	for _, n := range nodes {
		out[n.name] = n.eval(rows)
	}
}

func (n *aggNode) fieldOf(r row) (Field, bool) {
	if f, _, ok := r.d.index.lookup(n.field); ok {
		return f, true
	}
	return Field{}, false
}

func (n *aggNode) eval(rows []row) map[string]any {
	switch n.typ {
	case "min", "max", "sum":
		return n.evalMetric(rows)
	case "filter":
		return n.evalFilter(rows)
	case "nested":
		return n.evalNested(rows)
	case "reverse_nested":
		return n.evalReverseNested(rows)
	case "date_histogram":
		return n.evalDateHistogram(rows)
	case "terms":
		return n.evalTerms(rows)
	}
	return map[string]any{}
}

// evalMetric evaluates a min, max or sum aggregation.
func (n *aggNode) evalMetric(rows []row) map[string]any {
	var acc float64
	have := false
	switch n.typ {
	case "min":
		acc = math.Inf(1)
	case "max":
		acc = math.Inf(-1)
	}
	for _, r := range rows {
		vals := r.values(n.field)
		if len(vals) == 0 && n.missing != nil {
			if f, ok := n.fieldOf(r); ok {
				if cv, err := queryValue(f, n.missing); err == nil {
					vals = []any{cv}
				}
			}
		}
		for _, v := range vals {
			x, ok := v.(float64)
			if !ok {
				continue
			}
			have = true
			switch n.typ {
			case "min":
				acc = math.Min(acc, x)
			case "max":
				acc = math.Max(acc, x)
			default:
				acc += x
			}
		}
	}
	if n.typ == "sum" {
		return map[string]any{"value": acc}
	}
	if !have {
		return map[string]any{"value": nil}
	}
	out := map[string]any{"value": acc}
	if n.ft.Type == "date" {
		out["value_as_string"] = formatDate(n.ft, acc)
	}
	return out
}

// evalFilter evaluates a filter aggregation.
func (n *aggNode) evalFilter(rows []row) map[string]any {
	var sub []row
	for _, r := range rows {
		if p := n.filterByIndex[r.d.index]; p != nil && p(r) {
			sub = append(sub, r)
		}
	}
	out := map[string]any{"doc_count": len(sub)}
	evalAggs(n.subs, sub, out)
	return out
}

// evalNested evaluates a nested aggregation (the nested objects become rows).
func (n *aggNode) evalNested(rows []row) map[string]any {
	var sub []row
	for _, r := range rows {
		for _, o := range r.d.nestedObjs(n.path) {
			sub = append(sub, row{d: r.d, n: o, path: n.path})
		}
	}
	out := map[string]any{"doc_count": len(sub)}
	evalAggs(n.subs, sub, out)
	return out
}

// evalReverseNested evaluates a reverse_nested aggregation (back to the documents).
func (n *aggNode) evalReverseNested(rows []row) map[string]any {
	var sub []row
	seen := map[*doc]bool{}
	for _, r := range rows {
		if !seen[r.d] {
			seen[r.d] = true
			sub = append(sub, row{d: r.d})
		}
	}
	out := map[string]any{"doc_count": len(sub)}
	evalAggs(n.subs, sub, out)
	return out
}

// evalDateHistogram evaluates a daily date_histogram.
func (n *aggNode) evalDateHistogram(rows []row) map[string]any {
	const day = 86400000.0
	groups := map[float64][]row{}
	for _, r := range rows {
		seen := map[float64]bool{}
		for _, v := range r.values(n.field) {
			x, ok := v.(float64)
			if !ok {
				continue
			}
			k := math.Floor((x-n.offsetMs)/day)*day + n.offsetMs
			if !seen[k] {
				seen[k] = true
				groups[k] = append(groups[k], r)
			}
		}
	}
	keys := make([]float64, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Float64s(keys)
	var buckets []any
	add := func(k float64, rs []row) {
		b := map[string]any{"key_as_string": formatDate(n.ft, k), "key": int64(k), "doc_count": len(rs)}
		evalAggs(n.subs, rs, b)
		buckets = append(buckets, b)
	}
	if n.minDocCount == 0 && len(keys) > 0 {
		for k := keys[0]; k <= keys[len(keys)-1]; k += day {
			add(k, groups[k])
		}
	} else {
		for _, k := range keys {
			if len(groups[k]) >= max(n.minDocCount, 1) {
				add(k, groups[k])
			}
		}
	}
	if buckets == nil {
		buckets = []any{}
	}
	return map[string]any{"buckets": buckets}
}

// evalTerms evaluates a terms aggregation.
func (n *aggNode) evalTerms(rows []row) map[string]any {
	type grp struct {
		key  any
		f    Field
		rows []row
	}
	groups := map[string]*grp{}
	for _, r := range rows {
		f, ok := n.fieldOf(r)
		if !ok {
			continue
		}
		vals := r.values(n.field)
		if len(vals) == 0 && n.missing != nil {
			if cv, err := queryValue(f, n.missing); err == nil {
				vals = []any{cv}
			}
		}
		seen := map[string]bool{}
		for _, v := range vals {
			ks := keyJSON(f, v)
			if seen[ks] {
				continue
			}
			seen[ks] = true
			g := groups[ks]
			if g == nil {
				g = &grp{key: v, f: f}
				groups[ks] = g
			}
			g.rows = append(g.rows, r)
		}
	}
	list := make([]*grp, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !n.orderKey && len(a.rows) != len(b.rows) {
			if n.orderDesc {
				return len(a.rows) > len(b.rows)
			}
			return len(a.rows) < len(b.rows)
		}
		c := compare(a.f, a.key, b.key)
		if n.orderKey && n.orderDesc {
			return c > 0
		}
		return c < 0
	})
	other := 0
	if len(list) > n.size {
		for _, g := range list[n.size:] {
			other += len(g.rows)
		}
		list = list[:n.size]
	}
	buckets := make([]any, 0, len(list))
	for _, g := range list {
		b := map[string]any{"key": keyValue(g.f, g.key), "doc_count": len(g.rows)}
		if g.f.Type == "date" {
			b["key_as_string"] = formatDate(g.f, g.key.(float64))
		}
		evalAggs(n.subs, g.rows, b)
		buckets = append(buckets, b)
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}
}

// keyValue renders a stored value as a bucket key: numbers as integers
// where they are whole.
func keyValue(f Field, v any) any {
	if v == nil {
		return nil
	}
	if x, ok := v.(float64); ok {
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	}
	return v
}

func keyJSON(f Field, v any) string {
	b, _ := json.Marshal(keyValue(f, v))
	return string(b)
}

// ---- composite ----

type compSource struct {
	name   string
	field  string
	ft     Field
	mapped bool
}

type compBucket struct {
	key  []any
	body map[string]any // doc_count and sub-aggregations
}

type composite struct {
	sources []compSource
	size    int
	after   map[string]any
	subs    []*aggNode
}

// compileComposite checks a composite aggregation definition.
func compileComposite(def map[string]any, ixs []*index) (*composite, error) {
	body, ok := def["composite"].(map[string]any)
	if !ok {
		return nil, badRequest("[composite] aggregation malformed")
	}
	c := &composite{size: 10}
	for k, v := range body {
		switch k {
		case "size":
			s, ok := v.(float64)
			if !ok || s < 1 {
				return nil, badRequest("[size] must be greater than 0. Found [%v] in [composite]", v)
			}
			c.size = int(s)
		case "sources":
			srcs, err := compileCompositeSources(v, ixs)
			if err != nil {
				return nil, err
			}
			c.sources = append(c.sources, srcs...)
		case "after":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, badRequest("[after] must be an object")
			}
			c.after = m
		default:
			return nil, badRequest("[composite] unknown field [%s]", k)
		}
	}
	if c.after != nil {
		if len(c.after) != len(c.sources) {
			return nil, &esError{status: 400, typ: "illegal_argument_exception", reason: "[after] has " + strconv.Itoa(len(c.after)) + " value(s) but [sources] has " + strconv.Itoa(len(c.sources))}
		}
		for _, s := range c.sources {
			if _, ok := c.after[s.name]; !ok {
				return nil, &esError{status: 400, typ: "illegal_argument_exception", reason: "Missing value for [after." + s.name + "]"}
			}
		}
	}
	if sub, ok := def["aggs"]; ok {
		subs, err := compileAggs(sub, ixs, "")
		if err != nil {
			return nil, err
		}
		c.subs = subs
	}
	return c, nil
}

// compileCompositeSources reads a composite aggregation's sources (terms
// sources with missing_bucket only).
func compileCompositeSources(v any, ixs []*index) ([]compSource, error) {
	var out []compSource
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, badRequest("Composite [sources] cannot be null or empty")
	}
	for _, s := range list {
		sm, ok := s.(map[string]any)
		if !ok || len(sm) != 1 {
			return nil, badRequest("composite source must hold exactly one named value source")
		}
		for name, src := range sm {
			cs, err := compileCompositeSource(name, src, ixs)
			if err != nil {
				return nil, err
			}
			out = append(out, cs)
		}
	}
	return out, nil
}

// compileCompositeSource reads one named terms source.
func compileCompositeSource(name string, src any, ixs []*index) (compSource, error) {
	var cs compSource
	tm, ok := src.(map[string]any)
	if !ok || len(tm) != 1 || tm["terms"] == nil {
		return cs, badRequest("estest: composite source [%s] must be a terms source", name)
	}
	params := tm["terms"].(map[string]any)
	cs.name = name
	for pk, pv := range params {
		switch pk {
		case "field":
			cs.field, _ = pv.(string)
		case "missing_bucket":
			if b, _ := pv.(bool); !b {
				return cs, badRequest("estest: composite source [%s] without missing_bucket drops documents that lack the field", name)
			}
		case "order":
			if pv != "asc" {
				return cs, badRequest("estest: composite order %v not supported", pv)
			}
		default:
			return cs, badRequest("[terms] unknown field [%s]", pk)
		}
	}
	if cs.field == "" {
		return cs, badRequest("Required one of fields [field, script], but none were specified.")
	}
	for _, ix := range ixs {
		f, mapped, err := fieldFor(ix, cs.field, "", "aggregation")
		if err != nil {
			return cs, err
		}
		if mapped && !cs.mapped {
			cs.ft, cs.mapped = f, true
		}
		if mapped && f.Type != cs.ft.Type {
			return cs, &esError{status: 400, typ: "illegal_argument_exception", reason: "estest: field [" + cs.field + "] has different types across indices"}
		}
	}
	return cs, nil
}

// buckets computes every bucket of the composite, sorted by key.
func (c *composite) buckets(rows []row) []compBucket {
	type grp struct {
		key  []any
		rows []row
	}
	groups := map[string]*grp{}
	var order []string
	var kb strings.Builder
	for _, r := range rows {
		// Every combination of the sources' values (fields are single-valued
		// in flow logs; multi-valued ones multiply).
		combos := [][]any{{}}
		for _, s := range c.sources {
			vals := r.values(s.field)
			if len(vals) == 0 {
				vals = []any{nil}
			}
			var next [][]any
			for _, cmb := range combos {
				for _, v := range vals {
					next = append(next, append(append([]any(nil), cmb...), v))
				}
			}
			combos = next
		}
		for _, key := range combos {
			kb.Reset()
			for _, v := range key {
				switch x := v.(type) {
				case nil:
					kb.WriteByte('n')
				case string:
					kb.WriteByte('s')
					kb.WriteString(x)
				case float64:
					kb.WriteByte('f')
					kb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
				}
				kb.WriteByte(0)
			}
			ks := kb.String()
			g := groups[ks]
			if g == nil {
				g = &grp{key: key}
				groups[ks] = g
				order = append(order, ks)
			}
			g.rows = append(g.rows, r)
		}
	}
	out := make([]compBucket, 0, len(groups))
	for _, ks := range order {
		g := groups[ks]
		body := map[string]any{"doc_count": len(g.rows)}
		evalAggs(c.subs, g.rows, body)
		out = append(out, compBucket{key: g.key, body: body})
	}
	sort.Slice(out, func(i, j int) bool { return c.less(out[i].key, out[j].key) })
	return out
}

func (c *composite) less(a, b []any) bool {
	for i, s := range c.sources {
		if cmp := compare(s.ft, a[i], b[i]); cmp != 0 {
			return cmp < 0
		}
	}
	return false
}

// afterKey converts the request's after values to stored values.
func (c *composite) afterKey() ([]any, error) {
	if c.after == nil {
		return nil, nil
	}
	key := make([]any, len(c.sources))
	for i, s := range c.sources {
		v := c.after[s.name]
		if v == nil {
			continue
		}
		if s.ft.Type == "date" {
			key[i] = v // already ms
			continue
		}
		cv, ok := convert(s.ft, v)
		if !ok {
			return nil, &esError{status: 400, typ: "illegal_argument_exception", reason: "invalid value for [after." + s.name + "]"}
		}
		key[i] = cv
	}
	return key, nil
}

// page renders the buckets after the after key.
func (c *composite) page(all []compBucket) (map[string]any, error) {
	start := 0
	if ak, err := c.afterKey(); err != nil {
		return nil, err
	} else if ak != nil {
		start = sort.Search(len(all), func(i int) bool { return c.less(ak, all[i].key) })
	}
	end := min(start+c.size, len(all))
	buckets := make([]any, 0, end-start)
	var last map[string]any
	for _, b := range all[start:end] {
		key := map[string]any{}
		for i, s := range c.sources {
			key[s.name] = keyValue(s.ft, b.key[i])
		}
		body := map[string]any{"key": key}
		for k, v := range b.body {
			body[k] = v
		}
		buckets = append(buckets, body)
		last = key
	}
	out := map[string]any{"buckets": buckets}
	if last != nil {
		out["after_key"] = last
	}
	return out, nil
}
