package graph

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// stageStyle colours a namespace by its rollout stage, the same in both
// formats: observe grey, staged amber, enforced green.
var stageStyle = map[string]struct{ fill, stroke string }{
	"observe":  {"#eeeeee", "#888888"},
	"staged":   {"#fff3cd", "#d39e00"},
	"enforced": {"#d4edda", "#28a745"},
	"excluded": {"#f8f9fa", "#cccccc"},
}

// edgeColor marks traffic the evidence says is denied (red) or would be
// denied by the staged policy (orange).
var edgeColor = map[string]string{EdgeDenied: "#dc3545", EdgeWouldDeny: "#fd7e14"}

// WriteMermaid writes g as a Mermaid flowchart (left to right). Node ids
// are positional (n0, n1, ...) and every label is quoted with Mermaid's
// entity escapes, so no name from a flow log can change the diagram's
// structure.
func WriteMermaid(w io.Writer, g *Graph) error {
	bw := bufio.NewWriter(w)
	ids := map[string]string{}
	fmt.Fprintln(bw, "flowchart LR")
	for i, n := range g.Nodes {
		id := "n" + fmt.Sprint(i)
		ids[n.ID] = id
		label := n.Label
		if n.Kind == KindNamespace && n.Stage != "" {
			label += "<br/>" + n.Stage
			if n.Tier != "" {
				label += " · " + n.Tier
			}
		}
		open, close := "[", "]"
		if n.Kind == KindPeer {
			open, close = "([", "])"
		}
		fmt.Fprintf(bw, "  %s%s\"%s\"%s\n", id, open, mermaidText(label, n.Kind == KindNamespace && n.Stage != ""), close)
	}
	var styled []string
	for i, e := range g.Edges {
		arrow := "-->"
		if e.Kind != EdgeAllowed {
			arrow = "-.->"
		}
		fmt.Fprintf(bw, "  %s %s|\"%s\"| %s\n", ids[e.From], arrow, mermaidText(e.label(4), false), ids[e.To])
		if c, ok := edgeColor[e.Kind]; ok {
			styled = append(styled, fmt.Sprintf("  linkStyle %d stroke:%s,color:%s", i, c, c))
		}
	}
	for _, s := range []string{"observe", "staged", "enforced", "excluded"} {
		st := stageStyle[s]
		fmt.Fprintf(bw, "  classDef %s fill:%s,stroke:%s\n", s, st.fill, st.stroke)
	}
	for i, n := range g.Nodes {
		if _, ok := stageStyle[n.Stage]; ok && n.Kind == KindNamespace {
			fmt.Fprintf(bw, "  class n%d %s\n", i, n.Stage)
		}
	}
	for _, s := range styled {
		fmt.Fprintln(bw, s)
	}
	return bw.Flush()
}

// mermaidText escapes text for a quoted Mermaid label: quotes, angle
// brackets, ampersands, '|', backticks and '#' (the entity marker) become
// Mermaid's numeric entity codes (#34; ...) and line breaks spaces, so a label cannot close its quotes or inject markup. keepBR
// keeps the one <br/> the writer itself put in.
func mermaidText(s string, keepBR bool) string {
	var parts []string
	if keepBR {
		parts = strings.Split(s, "<br/>")
	} else {
		parts = []string{s}
	}
	r := strings.NewReplacer("#", "#35;", "\"", "#34;", "<", "#60;", ">", "#62;", "&", "#38;", "\n", " ", "\r", " ", "|", "#124;", "`", "#96;")
	for i, p := range parts {
		parts[i] = r.Replace(p)
	}
	return strings.Join(parts, "<br/>")
}

// WriteDot writes g as a Graphviz digraph (left to right): namespaces are
// boxes filled by stage, peers ellipses, edge width grows with the log of
// the flows, denied and would-deny traffic dashed in red and orange.
func WriteDot(w io.Writer, g *Graph) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "digraph egress {")
	fmt.Fprintln(bw, "  rankdir=LR;")
	fmt.Fprintln(bw, `  node [fontname="Helvetica", fontsize=10];`)
	fmt.Fprintln(bw, `  edge [fontname="Helvetica", fontsize=9];`)
	for _, n := range g.Nodes {
		if n.Kind == KindNamespace {
			label := n.Label
			if n.Stage != "" {
				label += "\n" + n.Stage
				if n.Tier != "" {
					label += " · " + n.Tier
				}
			}
			attrs := fmt.Sprintf("shape=box, style=\"rounded,filled\", label=%s", dotQuote(label))
			if st, ok := stageStyle[n.Stage]; ok {
				attrs += fmt.Sprintf(", fillcolor=%s, color=%s", dotQuote(st.fill), dotQuote(st.stroke))
			} else {
				attrs += `, fillcolor="#ffffff"`
			}
			fmt.Fprintf(bw, "  %s [%s];\n", dotQuote(n.ID), attrs)
			continue
		}
		fmt.Fprintf(bw, "  %s [shape=ellipse, label=%s];\n", dotQuote(n.ID), dotQuote(n.Label))
	}
	for _, e := range g.Edges {
		width := 1 + math.Log10(float64(max(e.Flows, 1)))/2
		attrs := fmt.Sprintf("label=%s, penwidth=%.1f", dotQuote(e.label(4)), width)
		if c, ok := edgeColor[e.Kind]; ok {
			attrs += fmt.Sprintf(", style=dashed, color=%s, fontcolor=%s", dotQuote(c), dotQuote(c))
		}
		fmt.Fprintf(bw, "  %s -> %s [%s];\n", dotQuote(e.From), dotQuote(e.To), attrs)
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// dotQuote quotes s as a DOT string: backslashes and quotes escaped, line
// breaks as \n (a centred line break in Graphviz labels).
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
