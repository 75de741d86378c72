package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/calico-plan/calico-plan/internal/graph"
)

// Edge kinds ChangeGraph adds to the graph package's (allowed, denied,
// would-deny): allowed egress the change adds, removes, or whose ports it
// changes.
const (
	EdgeAdded   = "added"
	EdgeRemoved = "removed"
	EdgeChanged = "changed"
)

// edgeKinds in legend order.
var edgeKinds = []string{graph.EdgeAllowed, EdgeAdded, EdgeChanged, EdgeRemoved, graph.EdgeDenied, graph.EdgeWouldDeny}

// kindText explains an edge kind in the legend.
var kindText = map[string]string{
	graph.EdgeAllowed:   "allowlisted, not changed",
	EdgeAdded:           "allowed by this change",
	EdgeChanged:         "ports changed by this change",
	EdgeRemoved:         "no longer allowed after this change",
	graph.EdgeDenied:    "denied by the dataplane (observed)",
	graph.EdgeWouldDeny: "would be denied by the staged policy",
}

// KindText explains an edge kind ("no longer allowed after this change").
func KindText(kind string) string { return kindText[kind] }

// edgeStyle is each kind's colour, shared by Mermaid and SVG; dashed kinds
// are not (or not yet) allowed.
var edgeStyle = map[string]struct {
	color  string
	dashed bool
}{
	graph.EdgeAllowed:   {"#555555", false},
	EdgeAdded:           {"#1a7f37", false},
	EdgeChanged:         {"#0969da", false},
	EdgeRemoved:         {"#8250df", true},
	graph.EdgeDenied:    {"#dc3545", true},
	graph.EdgeWouldDeny: {"#fd7e14", true},
}

// ChangeGraph compares the allowed egress of two graphs of the same
// namespaces (base: before the change, now: after): an allowed edge only
// in now becomes EdgeAdded, only in base EdgeRemoved (with base's
// traffic), in both with other ports EdgeChanged. Edges are matched by
// source, destination and detail (pod labels, addresses); denied and
// would-deny edges are now's. Nodes are now's, plus base's that now lacks.
func ChangeGraph(base, now *graph.Graph) *graph.Graph {
	type key struct{ from, to, detail string }
	old := map[key]graph.Edge{}
	for _, e := range base.Edges {
		if e.Kind == graph.EdgeAllowed {
			old[key{e.From, e.To, e.Detail}] = e
		}
	}
	out := &graph.Graph{}
	nodes := map[string]bool{}
	for _, n := range now.Nodes {
		nodes[n.ID] = true
		out.Nodes = append(out.Nodes, n)
	}
	matched := map[key]bool{}
	for _, e := range now.Edges {
		if e.Kind == graph.EdgeAllowed {
			k := key{e.From, e.To, e.Detail}
			b, ok := old[k]
			switch {
			case !ok:
				e.Kind = EdgeAdded
			case !slices.Equal(b.Ports, e.Ports):
				e.Kind = EdgeChanged
			}
			matched[k] = true
		}
		out.Edges = append(out.Edges, e)
	}
	for _, e := range base.Edges {
		if e.Kind != graph.EdgeAllowed || matched[key{e.From, e.To, e.Detail}] {
			continue
		}
		e.Kind = EdgeRemoved
		out.Edges = append(out.Edges, e)
		for _, id := range []string{e.From, e.To} {
			if !nodes[id] {
				nodes[id] = true
				for _, n := range base.Nodes {
					if n.ID == id {
						out.Nodes = append(out.Nodes, n)
					}
				}
			}
		}
	}
	slices.SortFunc(out.Nodes, func(a, b graph.Node) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Edges, func(a, b graph.Edge) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Detail, b.Detail))
	})
	return out
}

// writeMermaid writes g with the graph package's writer, then colours the
// edges of ChangeGraph's kinds (the writer dashes and names them).
func writeMermaid(w io.Writer, g *graph.Graph) error {
	if err := graph.WriteMermaid(w, g); err != nil {
		return err
	}
	for i, e := range g.Edges {
		st, ok := edgeStyle[e.Kind]
		if !ok || (e.Kind != EdgeAdded && e.Kind != EdgeChanged && e.Kind != EdgeRemoved) {
			continue
		}
		dash := ""
		if !st.dashed {
			dash = ",stroke-dasharray:0"
		}
		if _, err := fmt.Fprintf(w, "  linkStyle %d stroke:%s,color:%s,stroke-width:2px%s\n", i, st.color, st.color, dash); err != nil {
			return err
		}
	}
	return nil
}

// SVG layout: sources in the left column, destinations in the right one
// (a namespace that is both appears in both), an edge a curve between
// them, its width growing with the log of the flows. Labels that do not
// fit are shortened; the full text is the element's tooltip and the table
// under the picture has every edge.
const (
	svgWidth   = 1100
	svgBoxW    = 300
	svgBoxH    = 34
	svgRowH    = 46
	svgTop     = 40
	svgLeftX   = 10
	svgRightX  = svgWidth - svgBoxW - 10
	svgMaxText = 40
)

type svgNode struct {
	X, Y, W, H   int
	TX, TY, SY   int
	Label, Title string
	Sub          string
	Class        string
}

type svgEdge struct {
	D, Class, Width, Title string
	// Label (the ports) sits at the middle of the curve.
	Label  string
	LX, LY int
}

type svgView struct {
	Width, Height int
	Nodes         []svgNode
	Edges         []svgEdge
}

var stageFill = map[string]bool{"observe": true, "staged": true, "enforced": true, "excluded": true}

// layout places g for the HTML page.
func layout(g *graph.Graph) *svgView {
	if g == nil || len(g.Edges) == 0 {
		return nil
	}
	byID := map[string]graph.Node{}
	for _, n := range g.Nodes {
		byID[n.ID] = n
	}
	var left, right []string
	li, ri := map[string]int{}, map[string]int{}
	for _, e := range g.Edges {
		if _, ok := li[e.From]; !ok {
			li[e.From] = 0
			left = append(left, e.From)
		}
		if _, ok := ri[e.To]; !ok {
			ri[e.To] = 0
			right = append(right, e.To)
		}
	}
	slices.Sort(left)
	slices.Sort(right)
	v := &svgView{Width: svgWidth, Height: svgTop + svgRowH*max(len(left), len(right)) + 10}
	place := func(ids []string, x int, idx map[string]int) {
		for i, id := range ids {
			idx[id] = i
			n := byID[id]
			sn := svgNode{X: x, Y: svgTop + i*svgRowH, W: svgBoxW, H: svgBoxH, Title: n.Label, Class: "peer"}
			sn.TX, sn.TY, sn.SY = x+10, sn.Y+14, sn.Y+28
			sn.Label = shorten(n.Label, svgMaxText)
			if n.Kind == graph.KindNamespace {
				sn.Class = "ns"
				if stageFill[n.Stage] {
					sn.Class += " stage-" + n.Stage
				}
				sn.Sub = n.Stage
				if n.Tier != "" {
					sn.Sub += " · " + n.Tier
				}
				sn.Sub = shorten(sn.Sub, svgMaxText+8)
			}
			if sn.Sub == "" {
				sn.TY = sn.Y + 21
			} else {
				sn.Title += " (" + n.Stage + " · " + n.Tier + ")"
			}
			v.Nodes = append(v.Nodes, sn)
		}
	}
	place(left, svgLeftX, li)
	place(right, svgRightX, ri)
	for _, e := range g.Edges {
		y1 := svgTop + li[e.From]*svgRowH + svgBoxH/2
		y2 := svgTop + ri[e.To]*svgRowH + svgBoxH/2
		x1, x2 := svgLeftX+svgBoxW, svgRightX
		mid := (x1 + x2) / 2
		width := 1 + math.Log10(float64(max(e.Flows, 1)))/2
		title := byID[e.From].Label + " → " + byID[e.To].Label + ": " + edgeText(e)
		v.Edges = append(v.Edges, svgEdge{D: fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mid, y1, mid, y2, x2-6, y2),
			Class: "edge-" + e.Kind, Width: fmt.Sprintf("%.1f", width), Title: title,
			Label: shorten(strings.Join(e.Ports, ", "), 28), LX: mid, LY: (y1+y2)/2 - 4})
	}
	return v
}

// edgeText is an edge's ports, detail, flows and kind.
func edgeText(e graph.Edge) string {
	parts := []string{strings.Join(e.Ports, ", ")}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	parts = append(parts, fmt.Sprintf("%d flows", e.Flows))
	if e.Kind != graph.EdgeAllowed {
		parts = append(parts, e.Kind)
	}
	return strings.Join(parts, " · ")
}

func shorten(s string, n int) string {
	r := []rune(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
