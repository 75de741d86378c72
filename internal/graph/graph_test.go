package graph

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/graph/formats/dot"
	"gonum.org/v1/gonum/graph/formats/dot/ast"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// demoStore aggregates the demo dataset into a fresh store, with one
// namespace staged and one enforced so every stage is drawn.
func demoStore(t *testing.T) *allowlist.Store {
	t.Helper()
	p := config.Default()
	st, err := allowlist.Open(filepath.Join(t.TempDir(), "allowlists"), p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { a.Add(f); return nil }))
	st.Apply(a)
	labels := map[string]map[string]string{}
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		labels[n.Name] = n.Labels
	}
	st.SetNamespaceLabels(labels)
	require.NoError(t, st.Save())
	st, err = allowlist.OpenExisting(st.Dir, p)
	require.NoError(t, err)
	st.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	st.Namespace("nextcloud").Rollout.Stage = allowlist.StageEnforced
	return st
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/graph -update to create it")
	require.Equal(t, string(want), string(got), "%s differs; rerun with -update after checking the change", path)
}

func TestDemoGolden(t *testing.T) {
	st := demoStore(t)
	g := Build(st.Namespaces(), st.Namespace, Options{Denied: true, WouldDeny: true})
	var mm, dt bytes.Buffer
	require.NoError(t, WriteMermaid(&mm, g))
	require.NoError(t, WriteDot(&dt, g))
	golden(t, "demo.mmd", mm.Bytes())
	golden(t, "demo.dot", dt.Bytes())

	// Deterministic: a second build of the same store is byte-identical.
	var again bytes.Buffer
	require.NoError(t, WriteMermaid(&again, Build(st.Namespaces(), st.Namespace, Options{Denied: true, WouldDeny: true})))
	require.Equal(t, mm.String(), again.String())
}

// The graph's totals are the store's: every allowlist entry's flows land
// on exactly one allowed edge of its namespace.
func TestEdgesCarryTheStoresTraffic(t *testing.T) {
	st := demoStore(t)
	g := Build(st.Namespaces(), st.Namespace, Options{})
	perNS := map[string]int64{}
	for _, e := range g.Edges {
		require.Equal(t, EdgeAllowed, e.Kind, "denied edges drawn without Options.Denied")
		perNS[strings.TrimPrefix(e.From, "ns/")] += e.Flows
	}
	for _, n := range st.Namespaces() {
		var want int64
		for _, e := range n.Egress {
			for _, p := range e.Ports {
				want += p.Flows
			}
		}
		require.Equal(t, want, perNS[n.Namespace], n.Namespace)
	}
	// One namespace only: its own node, its peers, nothing else's edges.
	one := Build([]*allowlist.Namespace{st.Namespace("nextcloud")}, st.Namespace, Options{})
	for _, e := range one.Edges {
		require.Equal(t, "ns/nextcloud", e.From)
	}
	require.NotEmpty(t, one.Edges)
	for _, n := range one.Nodes {
		if n.ID == "ns/nextcloud" {
			require.Equal(t, allowlist.StageEnforced, n.Stage)
		}
	}
}

// hostile is a graph whose every label tries to break out of its quoting.
func hostile() *Graph {
	bad := "a\"b\n]) --> x[\"pwned\"] |x| #quot; <script>alert(1)</script> `code` & \\ \\n }; digraph z {"
	return &Graph{
		Nodes: []Node{
			{ID: "ns/a", Label: bad, Kind: KindNamespace, Stage: "staged", Tier: bad},
			{ID: "peer/" + bad, Label: bad, Kind: KindPeer},
		},
		Edges: []Edge{{From: "ns/a", To: "peer/" + bad, Kind: EdgeDenied, Ports: []string{bad}, Detail: bad, Flows: 3}},
	}
}

func TestMermaidLabelsCannotChangeStructure(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteMermaid(&b, hostile()))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	node := regexp.MustCompile(`^  n\d+(\["[^"\n<>|` + "`" + `]*"\]|\(\["[^"\n<>|` + "`" + `]*"\]\))$`)
	nodeBR := regexp.MustCompile(`^  n\d+\["[^"\n<>|` + "`" + `]*<br/>[^"\n<>|` + "`" + `]*"\]$`)
	edge := regexp.MustCompile(`^  n\d+ (-->|-\.->)\|"[^"\n<>|` + "`" + `]*"\| n\d+$`)
	var nodes, edges int
	for _, l := range lines[1:] {
		switch {
		case node.MatchString(l) || nodeBR.MatchString(l):
			nodes++
		case edge.MatchString(l):
			edges++
		case strings.HasPrefix(l, "  classDef ") || strings.HasPrefix(l, "  class n") || strings.HasPrefix(l, "  linkStyle "):
		default:
			t.Fatalf("line %q is none of the writer's own statements:\n%s", l, b.String())
		}
	}
	require.Equal(t, "flowchart LR", lines[0])
	require.Equal(t, 2, nodes)
	require.Equal(t, 1, edges)
	require.Contains(t, b.String(), "#60;script#62;")
	require.Contains(t, b.String(), "#35;quot;", "a literal entity in a name stays literal text")
}

// dotUnquote reverses dotQuote for the test: the DOT string as Graphviz
// reads it.
func dotUnquote(t *testing.T, s string) string {
	t.Helper()
	require.True(t, len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"', "not a quoted DOT string: %s", s)
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(s[1 : len(s)-1])
}

// parseDot reads the writer's output with gonum's independent DOT parser
// and returns each node's and edge's attributes by their unquoted ids.
func parseDot(t *testing.T, src string) (nodes map[string]map[string]string, edges map[[3]string]map[string]string) {
	t.Helper()
	f, err := dot.ParseString(src)
	require.NoError(t, err, src)
	require.Len(t, f.Graphs, 1)
	attrs := func(as []*ast.Attr) map[string]string {
		m := map[string]string{}
		for _, a := range as {
			v := a.Val
			if strings.HasPrefix(v, `"`) {
				v = dotUnquote(t, v)
			}
			m[a.Key] = v
		}
		return m
	}
	nodes = map[string]map[string]string{}
	edges = map[[3]string]map[string]string{}
	for _, s := range f.Graphs[0].Stmts {
		switch s := s.(type) {
		case *ast.NodeStmt:
			nodes[dotUnquote(t, s.Node.ID)] = attrs(s.Attrs)
		case *ast.EdgeStmt:
			from, ok := s.From.(*ast.Node)
			require.True(t, ok)
			require.Nil(t, s.To.To, "one edge per statement")
			to, ok := s.To.Vertex.(*ast.Node)
			require.True(t, ok)
			a := attrs(s.Attrs)
			k := [3]string{dotUnquote(t, from.ID), dotUnquote(t, to.ID), a["label"]}
			require.NotContains(t, edges, k, "edge written twice")
			edges[k] = a
		}
	}
	return nodes, edges
}

func TestDotParsesAndLabelsRoundTrip(t *testing.T) {
	for name, g := range map[string]*Graph{"demo": Build(demoStore(t).Namespaces(), demoStore(t).Namespace, Options{Denied: true, WouldDeny: true}), "hostile": hostile()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteDot(&b, g))
			nodes, edges := parseDot(t, b.String())
			require.Equal(t, len(g.Nodes), len(nodes))
			require.Equal(t, len(g.Edges), len(edges))
			for _, n := range g.Nodes {
				got, ok := nodes[n.ID]
				require.True(t, ok, "node %q missing", n.ID)
				want := n.Label
				if n.Kind == KindNamespace && n.Stage != "" {
					want += "\n" + n.Stage
					if n.Tier != "" {
						want += " · " + n.Tier
					}
				}
				require.Equal(t, want, got["label"])
			}
			for _, e := range g.Edges {
				got, ok := edges[[3]string{e.From, e.To, e.label(4)}]
				require.True(t, ok, "edge %s -> %s %q missing", e.From, e.To, e.label(4))
				require.Equal(t, e.Kind != EdgeAllowed, got["style"] == "dashed")
			}
		})
	}
}

func TestJSONIsTheModel(t *testing.T) {
	g := hostile()
	b, err := json.Marshal(g)
	require.NoError(t, err)
	var back Graph
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, *g, back)
}

func TestEdgeLabelCountsWhatItLeavesOut(t *testing.T) {
	e := Edge{Kind: EdgeWouldDeny, Ports: []string{"TCP/1", "TCP/2", "TCP/3", "TCP/4", "TCP/5", "TCP/6"}, Detail: "1.2.3.4/32", Flows: 1234567}
	require.Equal(t, "TCP/1, TCP/2, TCP/3, TCP/4 +2 · 1.2.3.4/32 · 1,234,567 flows · would-deny", e.label(4))
	p := allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"1.1.1.1/32", "8.8.8.8/32", "9.9.9.9/32"}}
	id, detail := peerNode(p, 2)
	require.Equal(t, "peer/"+allowlist.PeerPublic, id)
	require.Equal(t, "1.1.1.1/32, 8.8.8.8/32 and 1 more", detail)
}
