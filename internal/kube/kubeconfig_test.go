package kube

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: home
clusters:
- name: home
  cluster: {server: "https://10.0.20.100:6443", insecure-skip-tls-verify: true}
- name: lab
  cluster: {server: "https://lab.example:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: abc}
contexts:
- name: home
  context: {cluster: home, user: admin}
- name: lab
  context: {cluster: lab, user: admin, namespace: calico-system}
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(p, []byte(testKubeconfig), 0o600))
	return p
}

func noInCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

func TestRESTConfigExplicitPathAndContext(t *testing.T) {
	noInCluster(t)
	t.Setenv("KUBECONFIG", "/nonexistent/ignored")
	p := writeKubeconfig(t)

	cfg, err := RESTConfig(p, "")
	require.NoError(t, err)
	require.Equal(t, "https://10.0.20.100:6443", cfg.Host, "current context")
	require.Equal(t, "abc", cfg.BearerToken)

	cfg, err = RESTConfig(p, "lab")
	require.NoError(t, err)
	require.Equal(t, "https://lab.example:6443", cfg.Host)

	_, err = RESTConfig(p, "missing")
	require.ErrorContains(t, err, `context "missing" does not exist`)

	_, err = RESTConfig(filepath.Join(t.TempDir(), "absent"), "")
	require.Error(t, err, "an explicit path must exist")
}

func TestRESTConfigFromKUBECONFIG(t *testing.T) {
	noInCluster(t)
	p := writeKubeconfig(t)
	t.Setenv("KUBECONFIG", "/nonexistent/first"+string(os.PathListSeparator)+p)
	cfg, err := RESTConfig("", "lab")
	require.NoError(t, err)
	require.Equal(t, "https://lab.example:6443", cfg.Host)
}

func TestRESTConfigNothingFound(t *testing.T) {
	noInCluster(t)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	_, err := RESTConfig("", "")
	require.ErrorContains(t, err, "no Kubernetes configuration found")
}
