//go:build e2e

package kube

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGoldmaneKube runs observe --goldmane-kube against the real API
// server: it reads the secrets, finds the Service and its ready pod, and
// fails clearly where the port-forward cannot be opened (no kubelet runs
// here), bounded by --goldmane-kube-timeout when the kubelet does not
// answer at all.
func TestGoldmaneKube(t *testing.T) {
	observe := func(timeout string) (string, time.Duration, error) {
		start := time.Now()
		_, errs, err := calicoPlan("observe", "--store", filepath.Join(t.TempDir(), "store"), "--goldmane-kube",
			"--kubeconfig", env.srv.admin, "--goldmane-kube-timeout", timeout)
		return errs, time.Since(start), err
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		// The namespace stays (no namespace controller runs here).
		mustKubectl(t, "delete", "--ignore-not-found", "nodes", "e2e-closed-kubelet", "e2e-silent-kubelet")
		mustKubectl(t, "-n", "calico-system", "delete", "--ignore-not-found", "--grace-period=0", "--force", "pods", "--all")
	})
	apply := func(yaml string) {
		path := filepath.Join(dir, "obj.yaml")
		writeFile(t, path, yaml)
		mustKubectl(t, "apply", "-f", path)
	}

	apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: calico-system\n")
	errs, _, err := observe("10s")
	require.Error(t, err)
	require.Contains(t, errs, "calico-system/node-certs", "the missing secret is named")

	other, err := newPKI(dir)
	require.NoError(t, err)
	crt, key, err := other.issue("typha-client", nil, false)
	require.NoError(t, err)
	apply(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: node-certs, namespace: calico-system}
data: {tls.crt: %s, tls.key: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: goldmane-key-pair, namespace: calico-system}
data: {tls.crt: %s, tls.key: %s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: calico-system}
---
apiVersion: v1
kind: Service
metadata: {name: goldmane, namespace: calico-system}
spec:
  selector: {k8s-app: goldmane}
  ports: [{port: 7443, targetPort: 7443, protocol: TCP}]
`, b64(crt), b64(key), b64(other.caPEM), b64(key)))

	// Secrets and Service found, no pod behind it.
	errs, _, err = observe("10s")
	require.Error(t, err)
	require.Contains(t, errs, "goldmane-kube: client certificate from secret calico-system/node-certs, CA from secret calico-system/goldmane-key-pair")
	require.Contains(t, errs, `kube: service calico-system/goldmane: none of the 0 pods matching "k8s-app=goldmane" is running and ready`)

	// A ready pod on a node whose kubelet port is closed: the API server
	// cannot open the stream, and the error says where it failed.
	closed, err := freePort()
	require.NoError(t, err)
	node := func(name, ip string, port int) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata: {name: %s}\nstatus:\n  addresses: [{type: InternalIP, address: %q}]\n  daemonEndpoints: {kubeletEndpoint: {Port: %d}}\n", name, ip, port)
	}
	pod := func(name, nodeName string) {
		apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: calico-system, labels: {k8s-app: goldmane}}
spec:
  nodeName: %s
  automountServiceAccountToken: false
  containers: [{name: goldmane, image: goldmane, ports: [{containerPort: 7443}]}]
`, name, nodeName))
		mustKubectl(t, "-n", "calico-system", "patch", "pod", name, "--subresource=status", "--type=merge",
			"-p", `{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`)
	}
	apply(node("e2e-closed-kubelet", "127.0.0.1", closed))
	pod("goldmane-a", "e2e-closed-kubelet")
	errs, took, err := observe("20s")
	require.Error(t, err)
	require.Contains(t, errs, "kube: port-forward to pod calico-system/goldmane-a port 7443:")
	require.Contains(t, errs, "127.0.0.1:"+strconv.Itoa(closed), "the kubelet address the API server tried")
	t.Logf("closed kubelet port: failed in %s: %s", took.Round(time.Millisecond), errs)

	// A kubelet that accepts the connection and never answers (a hung
	// node): the API server would wait for its own timeouts;
	// --goldmane-kube-timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	mustKubectl(t, "-n", "calico-system", "delete", "pod", "goldmane-a", "--grace-period=0", "--force")
	apply(node("e2e-silent-kubelet", "127.0.0.1", silent.Addr().(*net.TCPAddr).Port))
	pod("goldmane-b", "e2e-silent-kubelet")
	errs, took, err = observe("2s")
	require.Error(t, err)
	t.Logf("silent kubelet: failed in %s: %s", took.Round(time.Millisecond), errs)
	require.Contains(t, errs, "--goldmane-kube: no port-forward to calico-system/goldmane within 2s (--goldmane-kube-timeout): kube: port-forward to pod calico-system/goldmane-b port 7443: context deadline exceeded")
	require.Less(t, took, 15*time.Second, "bounded by the timeout, not by the API server's own")
}
