package report

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"
	"strings"

	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/output"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"kindText": KindText,
	"statusText": func(s string) string {
		return map[string]string{StatusOK: "ok", StatusChanges: "changes", StatusProblem: "problem", StatusSkipped: "not run"}[s]
	},
	"plural": output.Plural,
	"join":   strings.Join,
}).Parse(htmlSource))

type htmlView struct {
	*Report
	SVG  *svgView
	Dot  string
	Kind []legendItem
}

type legendItem struct{ Kind, Text string }

// WriteHTML writes the report as one self-contained HTML page: inline CSS,
// the graph as inline SVG (tooltips name every edge) with a table of its
// edges and the Graphviz dot text, no script and no external URL. Every
// value is escaped by html/template.
func WriteHTML(w io.Writer, r *Report) error {
	v := htmlView{Report: r, SVG: layout(r.Graph.Graph)}
	if r.Graph.Graph != nil && len(r.Graph.Graph.Edges) > 0 {
		var dot bytes.Buffer
		if err := graph.WriteDot(&dot, r.Graph.Graph); err != nil {
			return err
		}
		v.Dot = dot.String()
	}
	for _, k := range r.Graph.Legend {
		v.Kind = append(v.Kind, legendItem{k, KindText(k)})
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
