package pods

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFelixWarnings(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "felix.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`apiVersion: v1
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: FelixConfiguration
  metadata: {name: default}
  spec: {logActionRateLimit: 10/second, logPrefix: calico-packet}
- apiVersion: projectcalico.org/v3
  kind: FelixConfiguration
  metadata: {name: node.k8s-node-3}
  spec: {bpfEnabled: true, logPrefix: "cp %t"}
`), 0o644))
	ws, err := FelixWarnings(p, "calico-packet")
	require.NoError(t, err)
	require.Len(t, ws, 3)
	require.Contains(t, ws[0], "logActionRateLimit 10/second (burst 5): packet-log lines are a sample")
	require.Contains(t, ws[1], "eBPF dataplane")
	require.Contains(t, ws[2], `logPrefix "cp %t"`)

	require.NoError(t, os.WriteFile(p, []byte("kind: FelixConfiguration\nmetadata: {name: default}\nspec: {}\n"), 0o644))
	ws, err = FelixWarnings(p, "calico-packet")
	require.NoError(t, err)
	require.Empty(t, ws)
	require.NoError(t, os.WriteFile(p, []byte("kind: PodList\nitems: []\n"), 0o644))
	_, err = FelixWarnings(p, "calico-packet")
	require.ErrorContains(t, err, `kind "PodList" is not FelixConfiguration`)
}
