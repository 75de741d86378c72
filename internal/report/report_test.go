package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"

	"github.com/calico-plan/calico-plan/internal/check"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/diff"
	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/rollout"
)

// hostile is a value a flow log, a store or a policy file could carry:
// quotes, markup, a line break that would start a heading, backticks, a
// table pipe, a link and a mention.
const hostile = "evil\"ns'<script>alert(1)</script>\n# heading `code` | a | b [x](javascript:alert(1)) @here &amp;"

// hostileInput puts the hostile value in every text the report shows.
func hostileInput() Input {
	h := hostile
	d := &diff.Report{Mode: diff.ModeGit, Flavor: "calico", Old: "store " + h + " at HEAD", New: "store now",
		Namespaces: []diff.NamespaceDiff{{Namespace: h,
			Added:    []diff.Change{{Group: diff.Group{Action: "Allow"}, Text: "TCP/1 to " + h, Evidence: diff.Evidence{Flows: 3, Entries: []diff.EntryRef{{Peer: h, Workloads: []string{h}}}}}},
			Removed:  []diff.Change{{Group: diff.Group{Action: "Allow"}, Text: "TCP/2 to " + h}},
			Policies: []diff.PolicyChange{{Policy: h, Change: h}},
			FlowsCut: 7,
		}},
		Notes: []string{h}, Errors: []string{h}}
	d.Summary = diff.Summary{ChangedNamespaces: 1, Added: 1, Removed: 1, PolicyChanges: 1, FlowsCut: 7, ExitCode: diff.ExitError, Result: "error"}
	c := &check.Report{
		Groups: []*check.Group{
			{Status: check.StatusWouldDeny, Verdict: check.VerdictUnknown, Source: h, Dest: h, Port: h, Why: h, Records: 2, Flows: 5},
			{Status: check.StatusUnknown, Verdict: check.VerdictUnknown, Source: h, Dest: h, Port: h, Why: h, Records: 1, Flows: 1},
		},
		Probes: []check.ProbeResult{
			{Namespace: h, Kind: check.ProbePublic, Destination: h, Workload: h, Why: []string{h}, Verdict: check.VerdictUnknown, Reason: h, Hint: h},
		},
		Problems:    []policyfile.Problem{{File: h, Doc: -1, Msg: h}},
		Assumptions: []string{h},
		Summary:     check.Summary{Flows: 3, WouldDeny: 2, Unknown: 1, Probes: 1, ProbesUnknown: 1, Problems: 2, ExitCode: check.ExitProblems, Result: "problems"},
	}
	// A probe that got through, by a policy the report names.
	c.Probes = append(c.Probes, check.ProbeResult{Namespace: h, Kind: check.ProbePod, Destination: h, Workload: h, Why: []string{h}, Verdict: check.VerdictAllow, Hint: h + " hint"})
	p := &rollout.Plan{Facts: h, PerWave: 5, Tiers: []string{h},
		Waves: []rollout.Wave{{Number: 1, Tier: h, Namespaces: []rollout.NamespacePlan{
			{Name: h, Stage: "observe", State: h, UnmetGates: []rollout.Gate{{ID: h, Reason: h}}, Next: "calico-plan promote --namespace " + h},
		}}},
		Deferred: []rollout.Listed{{Name: h, Tier: h, Stage: "observe", Reason: h}},
		Notes:    []string{h},
	}
	g := &graph.Graph{
		Nodes: []graph.Node{{ID: "ns/" + h, Label: h, Kind: graph.KindNamespace, Stage: "staged", Tier: h}, {ID: "peer/x", Label: h, Kind: graph.KindPeer}},
		Edges: []graph.Edge{
			{From: "ns/" + h, To: "peer/x", Kind: EdgeAdded, Ports: []string{h}, Detail: h, Flows: 9},
			{From: "ns/" + h, To: "peer/x", Kind: EdgeRemoved, Ports: []string{"TCP/1"}, Detail: h, Flows: 1},
		},
	}
	return Input{Title: h, Diff: d, Check: c, CheckNote: h, Plan: p, Graph: g, GraphNote: h}
}

// parse parses an HTML document and returns its root.
func parse(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	require.NoError(t, err)
	return doc
}

// walk calls fn on every node.
func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

// requireInert asserts that the document has no script, no event handler,
// no link or resource outside the page, and no heading the hostile value
// made.
func requireInert(t *testing.T, doc *html.Node) {
	t.Helper()
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		require.NotEqual(t, "script", n.Data, "a script element")
		require.NotEqual(t, "iframe", n.Data)
		require.NotEqual(t, "img", n.Data)
		for _, a := range n.Attr {
			require.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "event handler %s on <%s>", a.Key, n.Data)
			if a.Key == "href" || a.Key == "src" {
				require.True(t, strings.HasPrefix(a.Val, "#"), "<%s %s=%q> leaves the page", n.Data, a.Key, a.Val)
			}
		}
		if len(n.Data) == 2 && n.Data[0] == 'h' && n.Data[1] >= '1' && n.Data[1] <= '6' {
			require.False(t, strings.HasPrefix(strings.TrimSpace(text(n)), "heading"), "the hostile value made a heading: %q", text(n))
		}
	})
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
	})
	return b.String()
}

func TestHostileValuesStayTextInHTML(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, Build(hostileInput())))
	out := b.String()
	require.NotContains(t, out, "<script")
	doc := parse(t, out)
	requireInert(t, doc)
	// The value survives as text, whole: escaped, not dropped or mangled.
	n := 0
	walk(doc, func(x *html.Node) {
		if x.Type == html.TextNode && strings.Contains(x.Data, hostile) {
			n++
		}
	})
	require.GreaterOrEqual(t, n, 20, "the hostile value is shown as text in every place")
	// The SVG shortens labels but keeps the full value in its tooltips.
	titles := 0
	walk(doc, func(x *html.Node) {
		if x.Type == html.ElementNode && x.Data == "title" && x.Parent != nil && x.Parent.Data == "path" {
			require.Contains(t, text(x), hostile)
			titles++
		}
	})
	require.Equal(t, 2, titles)

	// Every in-page link has its target, and ids are unique.
	ids := map[string]bool{}
	var links []string
	walk(doc, func(x *html.Node) {
		for _, a := range x.Attr {
			switch a.Key {
			case "id":
				require.False(t, ids[a.Val], "id %q twice", a.Val)
				ids[a.Val] = true
			case "href":
				links = append(links, strings.TrimPrefix(a.Val, "#"))
			}
		}
	})
	require.GreaterOrEqual(t, len(links), 8)
	for _, l := range links {
		require.True(t, ids[l], "link #%s has no target", l)
	}
}

func TestHostileValuesStayTextInMarkdown(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteMarkdown(&b, Build(hostileInput())))
	md := b.String()
	require.NotContains(t, md, "<script")

	// Render it as a forge does (GitHub-flavoured, raw HTML kept for
	// <details>): nothing hostile becomes markup.
	var out bytes.Buffer
	gm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	require.NoError(t, gm.Convert([]byte(md), &out))
	doc := parse(t, out.String())
	requireInert(t, doc)
	var tables, links int
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "a":
			links++
		case "table":
			tables++
			// Every row has the header's cells: no pipe split a cell.
			var width int
			walk(n, func(r *html.Node) {
				if r.Type != html.ElementNode || r.Data != "tr" {
					return
				}
				cells := 0
				for c := r.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
						cells++
					}
				}
				if width == 0 {
					width = cells
				}
				require.Equal(t, width, cells, "a row of %q", text(r))
			})
		}
	})
	require.Zero(t, links, "no link, mention or autolink from a value")
	require.GreaterOrEqual(t, tables, 6)

	// The escaped value reads back as the value (line break as a space).
	flat := strings.ReplaceAll(hostile, "\n", " ")
	require.GreaterOrEqual(t, strings.Count(text(doc), flat), 15, "the value is shown as text")

	// The mermaid block: one statement a line, every label quoted and
	// escaped, so no value changes the diagram.
	block := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindStringSubmatch(md)
	require.NotNil(t, block)
	stmt := regexp.MustCompile(`^(flowchart LR|  n\d+(\["[^"]*"\]|\(\["[^"]*"\]\))|  n\d+ (-->|-\.->)\|"[^"]*"\| n\d+|  classDef \w+ [^"]*|  class n\d+ \w+|  linkStyle \d+ [^"]*)$`)
	lines := strings.Split(strings.TrimSuffix(block[1], "\n"), "\n")
	for _, l := range lines {
		require.Regexp(t, stmt, l)
		require.NotContains(t, l, "`")
		require.NotContains(t, l, "<script")
	}
}

func TestChangeGraphMarksEdges(t *testing.T) {
	ns := graph.Node{ID: "ns/a", Label: "a", Kind: graph.KindNamespace}
	db := graph.Node{ID: "ns/db", Label: "db", Kind: graph.KindNamespace}
	web := graph.Node{ID: "peer/public", Label: "public internet", Kind: graph.KindPeer}
	old := graph.Node{ID: "peer/host/x", Label: "host x", Kind: graph.KindPeer}
	base := &graph.Graph{Nodes: []graph.Node{ns, db, old, web}, Edges: []graph.Edge{
		{From: "ns/a", To: "ns/db", Kind: graph.EdgeAllowed, Ports: []string{"TCP/5432"}, Flows: 10},
		{From: "ns/a", To: "peer/host/x", Kind: graph.EdgeAllowed, Ports: []string{"TCP/22"}, Flows: 4},
		{From: "ns/a", To: "peer/public", Kind: graph.EdgeAllowed, Ports: []string{"TCP/443"}, Detail: "1.2.3.4/32", Flows: 2},
	}}
	now := &graph.Graph{Nodes: []graph.Node{ns, db, web}, Edges: []graph.Edge{
		{From: "ns/a", To: "ns/db", Kind: graph.EdgeAllowed, Ports: []string{"TCP/5432", "TCP/5433"}, Flows: 11},
		{From: "ns/a", To: "peer/public", Kind: graph.EdgeAllowed, Ports: []string{"TCP/443"}, Detail: "1.2.3.4/32", Flows: 3},
		{From: "ns/a", To: "peer/public", Kind: graph.EdgeAllowed, Ports: []string{"TCP/80"}, Detail: "5.6.7.8/32", Flows: 1},
		{From: "ns/a", To: "peer/public", Kind: graph.EdgeWouldDeny, Ports: []string{"TCP/25"}, Flows: 1},
	}}
	g := ChangeGraph(base, now)
	kinds := map[string]string{}
	for _, e := range g.Edges {
		kinds[e.To+" "+e.Detail+" "+strings.Join(e.Ports, ",")] = e.Kind
	}
	require.Equal(t, map[string]string{
		"ns/db  TCP/5432,TCP/5433":       EdgeChanged,
		"peer/host/x  TCP/22":            EdgeRemoved,
		"peer/public 1.2.3.4/32 TCP/443": graph.EdgeAllowed,
		"peer/public 5.6.7.8/32 TCP/80":  EdgeAdded,
		"peer/public  TCP/25":            graph.EdgeWouldDeny,
	}, kinds)
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	require.Equal(t, []string{"ns/a", "ns/db", "peer/host/x", "peer/public"}, ids, "the removed edge's peer is kept")

	// Mermaid colours the change kinds after the graph package's output.
	var b bytes.Buffer
	require.NoError(t, writeMermaid(&b, g))
	require.Contains(t, b.String(), "linkStyle 0 stroke:#0969da")
	require.Contains(t, b.String(), "linkStyle 1 stroke:#8250df")
	require.Contains(t, b.String(), "stroke:#1a7f37")
}

func TestExitCodeIsTheWorstPart(t *testing.T) {
	d := func(code int) *diff.Report { return &diff.Report{Summary: diff.Summary{ExitCode: code}} }
	c := func(code int) *check.Report { return &check.Report{Summary: check.Summary{ExitCode: code}} }
	for _, tc := range []struct {
		in   Input
		code int
		res  string
	}{
		{Input{Diff: d(diff.ExitNoChanges)}, ExitOK, "no changes (not checked)"},
		{Input{Diff: d(diff.ExitNoChanges), Check: c(check.ExitOK)}, ExitOK, "no changes"},
		{Input{Diff: d(diff.ExitChanges), Check: c(check.ExitOK)}, ExitChanges, "changes, no problems"},
		{Input{Diff: d(diff.ExitChanges)}, ExitChanges, "changes (not checked)"},
		{Input{Diff: d(diff.ExitNoChanges), Check: c(check.ExitProblems)}, ExitProblems, "problems"},
		{Input{Diff: d(diff.ExitChanges), Check: c(check.ExitProblems)}, ExitProblems, "problems"},
		{Input{Diff: d(diff.ExitError), Check: c(check.ExitProblems)}, ExitError, "error"},
		{Input{Diff: d(diff.ExitChanges), Check: c(check.ExitError)}, ExitError, "error"},
	} {
		r := Build(tc.in)
		require.Equal(t, tc.code, r.ExitCode, "%+v", tc.in)
		require.Equal(t, tc.res, r.Result)
	}
}
