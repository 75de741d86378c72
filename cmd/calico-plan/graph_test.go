package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGraphCommand(t *testing.T) {
	store := observeDemo(t)

	out, _ := mustRun(t, "graph", "--store", store, "-n", "n8n", "-o", "json")
	var g struct {
		Nodes []struct{ ID, Stage, Tier string }
		Edges []struct{ From, To, Kind string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	require.NotEmpty(t, g.Edges)
	for _, e := range g.Edges {
		require.Equal(t, "ns/n8n", e.From, "only the chosen namespace's egress is drawn")
	}

	// A tier draws every namespace of it and nothing else.
	out, _ = mustRun(t, "graph", "--store", store, "--tier", "4-aux", "-o", "md")
	require.True(t, strings.HasPrefix(out, "```mermaid\nflowchart LR\n"), out)
	require.True(t, strings.HasSuffix(out, "```\n"))
	require.Contains(t, out, "n8n<br/>observe · 4-aux")
	out, _ = mustRun(t, "graph", "--store", store, "--tier", "4-aux", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	tier := map[string]string{}
	for _, n := range g.Nodes {
		tier[n.ID] = n.Tier
	}
	for _, e := range g.Edges {
		require.Equal(t, "4-aux", tier[e.From], "edge from %s", e.From)
	}

	out, _ = mustRun(t, "graph", "--store", store, "-n", "servarr", "-o", "dot", "--denied=false")
	require.True(t, strings.HasPrefix(out, "digraph egress {"))
	require.NotContains(t, out, "denied")
	out, _ = mustRun(t, "graph", "--store", store, "-n", "servarr", "-o", "dot")
	require.Contains(t, out, "denied")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "n8m"}, `namespace "n8m" is not in the store`},
		{[]string{"--tier", "9-none"}, `no namespace of the store`},
		{[]string{"-o", "svg"}, "svg"},
	} {
		_, _, err := run(t, "", append([]string{"graph", "--store", store}, tc.args...)...)
		require.ErrorContains(t, err, tc.want)
	}
	_, _, err := run(t, "", "graph", "--store", store, "-n", "n8m")
	require.ErrorContains(t, err, "n8n", "the error lists the observed namespaces")
}
