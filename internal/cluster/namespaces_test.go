package cluster

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNamespaceList(t *testing.T) {
	in := `apiVersion: v1
kind: NamespaceList
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: recruiter-responder
    labels: {tier: 4-aux}
- apiVersion: v1
  kind: Namespace
  metadata: {name: kube-system}
`
	got, err := ParseNamespaces(strings.NewReader(in), "ns.yaml")
	require.NoError(t, err)
	require.Equal(t, NamespaceLabels{
		"recruiter-responder": {"tier": "4-aux", "kubernetes.io/metadata.name": "recruiter-responder"},
		"kube-system":         {"kubernetes.io/metadata.name": "kube-system"},
	}, got)
	require.Equal(t, []string{"kube-system", "recruiter-responder"}, got.Names())
}

func TestParseMultiDocumentNamespaces(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {tier: 3-edge}}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
	got, err := ParseNamespaces(strings.NewReader(in), "ns.yaml")
	require.NoError(t, err)
	require.Equal(t, "3-edge", got["a"]["tier"])
	require.Contains(t, got, "b")
}

func TestParseNamespacesErrors(t *testing.T) {
	for in, want := range map[string]string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n":                                                    `ns.yaml:1: document 0: kind "Pod" is not Namespace`,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: B_x}\n": `ns.yaml:5: document 1: metadata.name: "B_x" is not a valid namespace name`,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {tier: \"${x}\"}}\n":                    `metadata.labels[tier]: "${x}" is not a valid label value`,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nspec: {bogus: 1}\n":                            `unknown field "bogus"`,
		"": "no namespaces found",
		// a YAML syntax error at its line in the file
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: [b\n": `ns.yaml:7: document 1: error converting YAML to JSON: did not find expected`,
	} {
		_, err := ParseNamespaces(strings.NewReader(in), "ns.yaml")
		require.ErrorContains(t, err, want, in)
	}
}
