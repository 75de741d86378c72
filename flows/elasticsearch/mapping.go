package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// fieldType is one mapped field.
type fieldType struct {
	Type       string               `json:"type"`
	Path       string               `json:"path"` // alias target
	Properties map[string]fieldType `json:"properties"`
}

type indexMapping struct {
	Mappings struct {
		Properties map[string]fieldType `json:"properties"`
	} `json:"mappings"`
}

// wantField is a field the push-down aggregation relies on, with the types
// that serve.
type wantField struct {
	name  string
	types []string
}

var (
	keyword = []string{"keyword", "constant_keyword"}
	number  = []string{"long", "integer", "short", "unsigned_long"}
	date    = []string{"date", "date_nanos"}
	nested  = []string{"nested"}
)

// rawNeeds are the fields every mode filters on.
var rawNeeds = []wantField{{fieldEnd, date}}

// pushDownNeeds are the fields the aggregations read.
var pushDownNeeds = []wantField{
	{fieldStart, date},
	{"source_namespace", keyword}, {"source_type", keyword}, {"source_name_aggr", keyword},
	{"dest_type", keyword}, {"dest_namespace", keyword}, {"dest_name_aggr", keyword},
	{"dest_service_namespace", keyword}, {"dest_service_name", keyword},
	{"proto", keyword}, {"dest_port", number}, {"dest_ip", []string{"ip"}},
	{fieldAction, keyword}, {fieldReporter, keyword},
	{fieldNumFlows, number}, {fieldBytesIn, number}, {fieldBytesOut, number},
	{fieldDestLabels, nested}, {fieldLabels, keyword},
	{fieldPolicies, nested}, {fieldPending, keyword}, {fieldAllPolicies, keyword},
}

// mappingReport is what the mapping check found.
type mappingReport struct {
	// unknown is set when the mapping could not be read (no
	// view_index_metadata privilege): the standard mapping is assumed.
	unknown bool
	// noReporter is set when reporter is not a keyword: raw mode then reads
	// every reporter and leaves the dst copies to the classifier.
	noReporter bool
	indices    []string
	// fatal names a field no mode can do without.
	fatal string
	// pushDown is empty when the push-down aggregation can run, otherwise
	// why not (naming the field and index).
	pushDown string
}

// checkMapping reads GET /<index>/_mapping once.
func (c *Client) checkMapping(ctx context.Context, q *Query) (*mappingReport, error) {
	body, err := c.do(ctx, "read the mapping of "+q.Index, nil, func(io.Reader) esapi.Request {
		return esapi.IndicesGetMappingRequest{Index: []string{q.Index}}
	})
	var ee *Error
	if errors.As(err, &ee) && ee.Status == http.StatusForbidden {
		return &mappingReport{unknown: true}, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]indexMapping
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("elasticsearch: the mapping of %s is not JSON: %v", q.Index, err)
	}
	rep := &mappingReport{}
	for name := range m {
		rep.indices = append(rep.indices, name)
	}
	sort.Strings(rep.indices)
	if len(rep.indices) == 0 {
		return rep, nil
	}
	needs := rawNeeds
	if q.FilterCluster {
		needs = append(append([]wantField(nil), rawNeeds...), wantField{fieldCluster, keyword})
	}
	for _, idx := range rep.indices {
		props := m[idx].Mappings.Properties
		for _, w := range needs {
			if msg := checkField(props, w); msg != "" {
				rep.fatal = fmt.Sprintf("index %s: field %s %s", idx, w.name, msg)
				return rep, nil
			}
		}
		if checkField(props, wantField{fieldReporter, keyword}) != "" {
			rep.noReporter = true
		}
		if rep.pushDown != "" {
			continue
		}
		for _, w := range pushDownNeeds {
			if w.name == fieldPending || w.name == fieldAllPolicies || w.name == fieldPolicies {
				if q.WouldDeny.query() == nil {
					continue
				}
			}
			if msg := checkField(props, w); msg != "" {
				rep.pushDown = fmt.Sprintf("index %s: field %s %s", idx, w.name, msg)
				break
			}
		}
	}
	return rep, nil
}

// checkField returns "" when the field is mapped with one of the wanted
// types, otherwise what is wrong.
func checkField(props map[string]fieldType, w wantField) string {
	parts := strings.Split(w.name, ".")
	var f fieldType
	cur := props
	for i, p := range parts {
		ft, ok := cur[p]
		if !ok {
			return "is not mapped"
		}
		if ft.Type == "alias" && i == len(parts)-1 {
			if t, ok := props[ft.Path]; ok {
				ft = t
			}
		}
		f = ft
		cur = ft.Properties
	}
	for _, t := range w.types {
		if f.Type == t {
			return ""
		}
	}
	got := f.Type
	if got == "" {
		got = "object"
	}
	return fmt.Sprintf("is mapped as %s, want %s", got, strings.Join(w.types, " or "))
}
