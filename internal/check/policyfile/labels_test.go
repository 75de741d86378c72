package policyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
	"github.com/calico-plan/calico-plan/render"
)

// The stage labels render writes, as a script and as Terraform, read back
// as the same labels; the script's delete lines are not labels.
func TestReadNamespaceLabelsRoundTrip(t *testing.T) {
	p := profile.Default()
	labels := render.StageLabels(p, map[string]string{"recruiter-responder": "enforced", "n8n": "staged", "odd ns'": "observe"})
	dir := t.TempDir()
	var sh, tf bytes.Buffer
	require.NoError(t, render.EncodeStagesScript(&sh, "header", p, labels, render.FlavorCalico))
	require.NoError(t, os.WriteFile(filepath.Join(dir, render.StagesScriptName), sh.Bytes(), 0o644))
	tfDir := filepath.Join(dir, "tf")
	require.NoError(t, os.MkdirAll(tfDir, 0o755))
	require.NoError(t, render.EncodeStageLabelsHCL(&tf, "header", labels[:2]))
	require.NoError(t, os.WriteFile(filepath.Join(tfDir, "_stages.tf"), tf.Bytes(), 0o644))

	got, probs := ReadNamespaceLabels([]string{dir})
	require.Empty(t, probs)
	var want []NamespaceLabels
	for _, l := range labels[:2] {
		want = append(want, NamespaceLabels{Namespace: l.Namespace, Labels: map[string]string{l.Key: l.Value}})
	}
	for _, l := range labels {
		want = append(want, NamespaceLabels{Namespace: l.Namespace, Labels: map[string]string{l.Key: l.Value}})
	}
	for i := range got {
		require.NotEmpty(t, got[i].File)
		require.Positive(t, got[i].Line)
		got[i].File, got[i].Line = "", 0
	}
	require.Equal(t, want, got, "Terraform files first, then the script; quoted names unquoted")
}

// A line render does not write is a problem naming the file and line;
// a kubernetes_labels resource of another kind is ignored, one that is not
// static is a problem.
func TestReadNamespaceLabelsProblems(t *testing.T) {
	dir := t.TempDir()
	script := "set -eu\nkubectl=${KUBECTL:-kubectl}\n\"$kubectl\" \"$@\" label namespace a egress.calico-plan/stage=staged --overwrite\nkubectl annotate ns a x=y\n\"$kubectl\" \"$@\" label namespace 'b\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_stages.sh"), []byte(script), 0o644))
	tf := `resource "kubernetes_labels" "cm" {
  api_version = "v1"
  kind        = "ConfigMap"
  metadata { name = "x" }
  labels = { a = "b" }
}
resource "kubernetes_labels" "ns" {
  api_version = "v1"
  kind        = "Namespace"
  metadata { name = var.ns }
  labels = { a = "b" }
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "labels.tf"), []byte(tf), 0o644))
	got, probs := ReadNamespaceLabels([]string{dir})
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Namespace)
	require.Len(t, probs, 3)
	require.Contains(t, probs[0].String(), filepath.Join(dir, "labels.tf")+":10")
	require.Contains(t, probs[0].String(), "kubernetes_labels.ns")
	require.Contains(t, probs[0].String(), "not statically known")
	require.Contains(t, probs[1].String(), filepath.Join(dir, "_stages.sh")+":4")
	require.Contains(t, probs[1].String(), `"kubectl annotate ns a x=y" is not a kubectl command of the stage script`)
	require.Contains(t, probs[2].String(), ":5")
	require.Contains(t, probs[2].String(), "unbalanced quotes")

	_, probs = ReadNamespaceLabels([]string{filepath.Join(dir, "missing")})
	require.Len(t, probs, 1)
}
