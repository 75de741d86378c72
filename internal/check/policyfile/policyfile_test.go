package policyfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

const np = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: p
  namespace: shop
  labels: {app.kubernetes.io/managed-by: calico-plan}
spec: {selector: all(), types: [Egress], egress: [{action: Deny}]}
`

func TestLoadYAMLAndTerraform(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", "# comment only\n---\n"+np+"---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: GlobalNetworkSet\n  metadata: {name: s}\n  spec: {nets: [1.2.3.0/24]}\n")
	write(t, dir, "stack/main.tf", `
resource "kubectl_manifest" "ok" {
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "NetworkPolicy"
    metadata   = { name = "q", namespace = "shop" }
    spec       = { selector = "app == ", types = ["Egress"] }
  })
}

resource "kubectl_manifest" "dynamic" {
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "NetworkPolicy"
    metadata   = { name = var.name, namespace = "shop" }
  })
}

resource "kubernetes_network_policy_v1" "k8s" {
  metadata {
    name      = "deny"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}
`)
	write(t, dir, ".terraform/modules/x.tf", "not hcl {")
	write(t, dir, "README.md", "ignored")
	res := Load([]string{dir, filepath.Join(dir, "missing.yaml")}, nil)
	require.Equal(t, []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "stack/main.tf")}, res.Files, "hidden directories and other files are skipped")
	require.Len(t, res.Set.Policies, 2, "p and the Terraform k8s policy")
	require.Len(t, res.Set.NetworkSets, 1)

	var docs []string
	for _, d := range res.Docs {
		docs = append(docs, filepath.Base(d.File)+":"+string(rune('0'+d.Index)))
	}
	require.Equal(t, []string{"a.yaml:1", "a.yaml:2", "main.tf:0", "main.tf:1"}, docs, "blank documents keep their index")
	objs := res.Docs[1].Objects()
	require.Len(t, objs, 1)
	require.Equal(t, "GlobalNetworkSet", objs[0].Kind, "List items inherit nothing but are expanded")
	require.Equal(t, "calico-plan", res.Docs[0].Objects()[0].Labels["app.kubernetes.io/managed-by"])

	require.Equal(t, 3, res.Errors())
	var sel, static, missing *Problem
	for i := range res.Problems {
		p := &res.Problems[i]
		switch {
		case p.Field == "spec.selector":
			sel = p
		case p.Resource == "kubectl_manifest.dynamic":
			static = p
		case filepath.Base(p.File) == "missing.yaml":
			missing = p
		}
	}
	require.NotNil(t, sel)
	require.Equal(t, 0, sel.Doc)
	require.Equal(t, 2, sel.Line, "the resource block's line")
	require.Equal(t, "kubectl_manifest.ok", sel.Resource)
	require.Contains(t, sel.String(), "main.tf:2: doc 0 (kubectl_manifest.ok) (NetworkPolicy shop/q): spec.selector: invalid selector \"app == \" at position 7")
	require.NotNil(t, static)
	require.Equal(t, 15, static.Line, "the expression Terraform alone can evaluate")
	require.Contains(t, static.Msg, "resource skipped")
	require.NotNil(t, missing)
	require.Equal(t, -1, missing.Doc)
	require.Contains(t, missing.String(), "missing.yaml: no such file or directory")
}

func TestDuplicatesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", np)
	b := write(t, dir, "b.json", `{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"p","namespace":"shop"},"spec":{"selector":"all()","types":["Egress"]}}`)
	res := Load([]string{a, b, a}, nil)
	require.Equal(t, []string{a, b}, res.Files, "a path named twice is read once")
	require.Len(t, res.Set.Policies, 1)
	require.Len(t, res.Problems, 1)
	require.Contains(t, res.Problems[0].Msg, "duplicate of "+a)

	empty := t.TempDir()
	res = Load([]string{empty}, nil)
	require.Len(t, res.Problems, 1)
	require.Contains(t, res.Problems[0].Msg, "holds no policy files")
}
