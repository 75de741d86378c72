// Package estest is an in-process Elasticsearch for tests: an httptest
// server that speaks the REST wire format for the requests the
// flows/elasticsearch source sends (mapping, _search with the query and
// aggregation subset it uses, point in time with search_after, closing the
// point in time), answering from an in-memory set of flow-log documents
// with responses in Elasticsearch's shape. It checks request bodies
// strictly: unknown query or aggregation types, unknown parameters, nested
// fields queried outside a nested query, a point-in-time search naming an
// index, all get the HTTP 400 a real cluster gives.
//
// It also injects faults (HTTP errors, connection resets, shard failures,
// time-outs) and records every request.
package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/flows"
)

// Field is one mapped field.
type Field struct {
	Type string `json:"type"`
	// Format of a date field ("epoch_second").
	Format string `json:"format,omitempty"`
	// NullValue replaces an explicit null when indexing.
	NullValue any `json:"null_value,omitempty"`
	// Properties of an object or nested field.
	Properties map[string]Field `json:"properties,omitempty"`
}

// FlowLogMapping returns the Calico Enterprise flow-log mapping
// (flow-logs.md §2.2): dynamic false, start/end_time epoch seconds,
// keywords, ip and port null values, nested labels and policies.
func FlowLogMapping() map[string]Field {
	kw := Field{Type: "keyword"}
	long := Field{Type: "long"}
	m := map[string]Field{
		"@timestamp":     {Type: "date"},
		"generated_time": {Type: "date"},
		"start_time":     {Type: "date", Format: "epoch_second"},
		"end_time":       {Type: "date", Format: "epoch_second"},
		"source_ip":      {Type: "ip", NullValue: "0.0.0.0"},
		"dest_ip":        {Type: "ip", NullValue: "0.0.0.0"},
		"source_port":    {Type: "long", NullValue: 0.0},
		"dest_port":      {Type: "long", NullValue: 0.0},
		"source_labels":  {Type: "nested", Properties: map[string]Field{"labels": kw}},
		"dest_labels":    {Type: "nested", Properties: map[string]Field{"labels": kw}},
		"policies": {Type: "nested", Properties: map[string]Field{
			"all_policies": kw, "enforced_policies": kw, "pending_policies": kw, "transit_policies": kw,
		}},
		"dest_service_port_num": {Type: "long", NullValue: 0.0},
		"original_source_ips":   {Type: "ip", NullValue: "0.0.0.0"},
		"nat_outgoing_ports":    {Type: "integer"},
	}
	for _, k := range []string{"action", "reporter", "proto", "source_type", "source_name", "source_name_aggr", "source_namespace",
		"dest_type", "dest_name", "dest_name_aggr", "dest_namespace", "dest_service_namespace", "dest_service_name",
		"dest_service_port", "dest_domains", "process_name", "process_id", "process_args", "host", "cluster"} {
		m[k] = kw
	}
	for _, k := range []string{"bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows", "num_flows_started",
		"num_flows_completed", "num_process_names", "num_process_ids", "num_process_args", "num_original_source_ips",
		"http_requests_allowed_in", "http_requests_denied_in", "transit_bytes_in", "transit_bytes_out",
		"transit_packets_in", "transit_packets_out"} {
		m[k] = long
	}
	return m
}

// Document turns a flow into an Elasticsearch flow-log document: the
// Felix flows.log line (flows.AppendEnterpriseJSON) plus what ingest adds
// (host, @timestamp in ms, cluster).
func Document(f *flows.Flow, cluster, host string) ([]byte, error) {
	b, err := flows.AppendEnterpriseJSON(nil, f)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("estest: unexpected encoder output %q", b)
	}
	b = b[:len(b)-1]
	b = append(b, `,"host":`...)
	b = strconv.AppendQuote(b, host)
	b = append(b, `,"@timestamp":`...)
	b = strconv.AppendInt(b, f.End*1000, 10)
	b = append(b, `,"cluster":`...)
	b = strconv.AppendQuote(b, cluster)
	b = append(b, '}')
	return b, nil
}

// symtab interns field names, value lists and nested objects across a
// server's documents, so that a million documents fit in memory: flow
// logs repeat the same few hundred values.
type symtab struct {
	ids  map[string]uint16
	vals map[string][]any
	objs map[string]*fieldSet
	kb   strings.Builder
}

func newSymtab() *symtab {
	return &symtab{ids: map[string]uint16{}, vals: map[string][]any{}, objs: map[string]*fieldSet{}}
}

func (t *symtab) id(name string) uint16 {
	id, ok := t.ids[name]
	if !ok {
		id = uint16(len(t.ids))
		t.ids[name] = id
	}
	return id
}

// valueKey appends a canonical rendering of values to the builder.
func (t *symtab) valueKey(vals []any) {
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			t.kb.WriteByte('s')
			t.kb.WriteString(x)
		case float64:
			t.kb.WriteByte('f')
			t.kb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
		t.kb.WriteByte(0)
	}
}

// fieldSet builds the interned, id-sorted form of flattened values.
func (t *symtab) fieldSet(m map[string][]any) fieldSet {
	fs := make(fieldSet, 0, len(m))
	for name, vals := range m {
		t.kb.Reset()
		t.kb.WriteString(name)
		t.kb.WriteByte(1)
		t.valueKey(vals)
		k := t.kb.String()
		shared, ok := t.vals[k]
		if !ok {
			shared = vals
			t.vals[k] = vals
		}
		fs = append(fs, fieldVal{id: t.id(name), vals: shared})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].id < fs[j].id })
	return fs
}

// object interns a nested object.
func (t *symtab) object(path string, m map[string][]any) *fieldSet {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	t.kb.Reset()
	t.kb.WriteString(path)
	t.kb.WriteByte(2)
	for _, n := range names {
		t.kb.WriteString(n)
		t.kb.WriteByte(1)
		t.valueKey(m[n])
	}
	k := t.kb.String()
	if o, ok := t.objs[k]; ok {
		return o
	}
	fs := t.fieldSet(m)
	t.objs[k] = &fs
	return &fs
}

type fieldVal struct {
	id   uint16
	vals []any
}

// fieldSet is a document's (or nested object's) values, by field id.
type fieldSet []fieldVal

func (fs fieldSet) get(id uint16) []any {
	i := sort.Search(len(fs), func(i int) bool { return fs[i].id >= id })
	if i < len(fs) && fs[i].id == id {
		return fs[i].vals
	}
	return nil
}

type nestedVal struct {
	path string
	objs []*fieldSet
}

// doc is one indexed document.
type doc struct {
	index  *index
	num    int // the _id is "doc-<num>"
	seq    int // position in the index (the _shard_doc sort value)
	src    []byte
	fields fieldSet // values: string, float64 (numbers, dates in ms)
	nested []nestedVal
}

func (d *doc) nestedObjs(path string) []*fieldSet {
	for _, n := range d.nested {
		if n.path == path {
			return n.objs
		}
	}
	return nil
}

// index is one concrete index.
type index struct {
	name    string
	mapping map[string]Field
	docs    []*doc
	tab     *symtab
}

// lookup returns the mapping of a dotted field name (and the nested path
// it lives under, if any).
func (ix *index) lookup(name string) (f Field, nestedPath string, ok bool) {
	parts := strings.Split(name, ".")
	props := ix.mapping
	prefix := ""
	for i, p := range parts {
		ft, found := props[p]
		if !found {
			return Field{}, "", false
		}
		if ft.Type == "nested" && i < len(parts)-1 {
			nestedPath = prefix + p
		}
		prefix += p + "."
		if i == len(parts)-1 {
			return ft, nestedPath, true
		}
		props = ft.Properties
	}
	return Field{}, "", false
}

// parseDoc indexes a JSON document against the index's mapping.
func (ix *index) parseDoc(src []byte) (*doc, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("estest: document is not a JSON object: %w", err)
	}
	d := &doc{index: ix, src: src}
	flat := map[string][]any{}
	ix.flatten(d, flat, m, "", ix.mapping)
	d.fields = ix.tab.fieldSet(flat)
	return d, nil
}

func (ix *index) flatten(d *doc, out map[string][]any, m map[string]any, prefix string, props map[string]Field) {
	for k, v := range m {
		name := prefix + k
		f, mapped := props[k]
		if !mapped {
			continue // dynamic: false
		}
		switch f.Type {
		case "nested":
			var objs []map[string]any
			switch x := v.(type) {
			case map[string]any:
				objs = []map[string]any{x}
			case []any:
				for _, e := range x {
					if o, ok := e.(map[string]any); ok {
						objs = append(objs, o)
					}
				}
			}
			for _, o := range objs {
				sub := map[string][]any{}
				ix.flatten(d, sub, o, name+".", f.Properties)
				obj := ix.tab.object(name, sub)
				found := false
				for i := range d.nested {
					if d.nested[i].path == name {
						d.nested[i].objs = append(d.nested[i].objs, obj)
						found = true
					}
				}
				if !found {
					d.nested = append(d.nested, nestedVal{path: name, objs: []*fieldSet{obj}})
				}
			}
		case "object", "":
			if o, ok := v.(map[string]any); ok {
				ix.flatten(d, out, o, name+".", f.Properties)
			}
		default:
			vals := []any{v}
			if arr, ok := v.([]any); ok {
				vals = arr
			}
			for _, x := range vals {
				if x == nil {
					if f.NullValue == nil {
						continue
					}
					x = f.NullValue
				}
				if cv, ok := convert(f, x); ok {
					out[name] = append(out[name], cv)
				}
			}
		}
	}
}

// convert normalizes a source value for its field type: dates to ms.
func convert(f Field, v any) (any, bool) {
	switch f.Type {
	case "keyword", "constant_keyword":
		switch x := v.(type) {
		case string:
			return x, true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		case bool:
			return strconv.FormatBool(x), true
		}
	case "long", "integer", "short", "unsigned_long", "double", "float":
		switch x := v.(type) {
		case float64:
			return x, true
		case string:
			n, err := strconv.ParseFloat(x, 64)
			return n, err == nil
		}
	case "date":
		ms, ok := dateMillis(f, v)
		return ms, ok
	case "ip":
		if s, ok := v.(string); ok {
			if _, err := netip.ParseAddr(s); err == nil {
				return s, true
			}
		}
	}
	return nil, false
}

// dateMillis reads a date value in the field's format.
func dateMillis(f Field, v any) (float64, bool) {
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return float64(t.UnixMilli()), true
		}
		p, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false
		}
		n = p
	default:
		return 0, false
	}
	if f.Format == "epoch_second" {
		return n * 1000, true
	}
	return n, true
}

// formatDate renders a date (ms) in the field's format, as
// value_as_string and key_as_string do.
func formatDate(f Field, ms float64) string {
	if f.Format == "epoch_second" {
		return strconv.FormatInt(int64(ms/1000), 10)
	}
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05.000Z")
}
