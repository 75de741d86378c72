package pods

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/calico-plan/calico-plan/flows"
)

// The names were computed independently (Python hashlib) from Calico's
// rule: "cali" + hex(sha1("<namespace>.<pod>"))[:11].
func TestVethName(t *testing.T) {
	require.Equal(t, "cali7f43e6e1aa2", VethName("cali", "shop", "api-7d9c8b6f5-x2k4q"))
	require.Equal(t, "calia4fc3c48bd8", VethName("cali", "shop", "web-0"))
	require.Equal(t, "cali4d5f75c480c", VethName("cali", "kube-system", "coredns-5d78c9869d-abcde"))
	require.Equal(t, "caliweb", VethName("caliweb", "shop", "web-0")[:7])
}

func podJSON(ns, name, generate, ip, phase, created string, labels string) string {
	s := `{"kind":"Pod","metadata":{"namespace":"` + ns + `","name":"` + name + `"`
	if generate != "" {
		s += `,"generateName":"` + generate + `"`
	}
	if created != "" {
		s += `,"creationTimestamp":"` + created + `"`
	}
	if labels != "" {
		s += `,"labels":` + labels
	}
	s += `},"spec":{},"status":{"phase":"` + phase + `"`
	if ip != "" {
		s += `,"podIP":"` + ip + `","podIPs":[{"ip":"` + ip + `"}]`
	}
	return s + `}}`
}

func list(items ...string) []byte {
	s := `{"apiVersion":"v1","kind":"List","items":[`
	for i, it := range items {
		if i > 0 {
			s += ","
		}
		s += it
	}
	return []byte(s + `]}`)
}

func TestAttributionByInterface(t *testing.T) {
	x := NewIndex("")
	require.NoError(t, x.Load(list(
		podJSON("shop", "api-7d9c8b6f5-x2k4q", "api-7d9c8b6f5-", "10.10.1.5", "Running", "2026-05-21T10:00:00Z", `{"app":"api","pod-template-hash":"7d9c8b6f5"}`),
		podJSON("shop", "web-0", "", "10.10.1.6", "Running", "2026-05-21T10:00:00Z", `{"app":"web"}`),
	), "day1.json"))
	// The StatefulSet pod came back the next day with another address:
	// the same identity, the same interface.
	require.NoError(t, x.Load(list(
		podJSON("shop", "web-0", "", "10.10.2.9", "Running", "2026-05-22T08:00:00Z", `{"app":"web"}`),
	), "day2.json"))
	ref, res := x.ByInterface("cali7f43e6e1aa2", 0)
	require.Equal(t, flows.ResolveFound, res)
	require.Equal(t, "shop", ref.Namespace)
	require.Equal(t, "api-7d9c8b6f5-*", ref.NameAggr)
	require.Equal(t, []string{"app=api", "pod-template-hash=7d9c8b6f5"}, ref.Labels)
	ref, res = x.ByInterface("calia4fc3c48bd8", 0)
	require.Equal(t, flows.ResolveFound, res)
	require.Equal(t, "web-0", ref.NameAggr)
	_, res = x.ByInterface("cali00000000000", 0)
	require.Equal(t, flows.ResolveUnknown, res)

	// Two identities on one interface name (a 44-bit collision, forced
	// here) are ambiguous, never guessed.
	x.byIface["calicollision1"] = []*Pod{{Namespace: "a", Name: "x"}, {Namespace: "b", Name: "y"}}
	_, res = x.ByInterface("calicollision1", 0)
	require.Equal(t, flows.ResolveAmbiguous, res)
}

func TestAttributionByIPWithReuse(t *testing.T) {
	x := NewIndex("cali")
	// A finished Job pod kept its address; a later pod got the same one.
	require.NoError(t, x.Load(list(
		podJSON("batch", "report-28001234-q8x7z", "report-28001234-", "10.10.1.7", "Succeeded", "2026-05-21T10:00:00Z", ""),
		podJSON("shop", "db-0", "", "10.10.1.7", "Running", "2026-05-22T00:00:00Z", `{"app":"db"}`),
		podJSON("shop", "cache-0", "", "10.10.1.8", "Running", "2026-05-21T00:00:00Z", ""),
		podJSON("other", "cache-0", "", "10.10.1.8", "Running", "2026-05-21T00:00:00Z", ""),
	), "pods.json"))
	ip := netip.MustParseAddr("10.10.1.7")
	after := int64(1779408000)  // 2026-05-22T00:00:00Z
	before := int64(1779364800) // 2026-05-21T12:00:00Z
	ref, res := x.ByIP(ip, after+60)
	require.Equal(t, flows.ResolveFound, res)
	require.Equal(t, "db-0", ref.Name)
	// Before db-0 existed only the Job pod could have held it, and when
	// it stopped is unknown: ambiguous.
	_, res = x.ByIP(ip, before)
	require.Equal(t, flows.ResolveAmbiguous, res)
	// Two running pods on one address: ambiguous.
	_, res = x.ByIP(netip.MustParseAddr("10.10.1.8"), after)
	require.Equal(t, flows.ResolveAmbiguous, res)
	_, res = x.ByIP(netip.MustParseAddr("10.10.9.9"), after)
	require.Equal(t, flows.ResolveUnknown, res)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pods.json")
	require.NoError(t, os.WriteFile(p, list(podJSON("shop", "a", "", "10.10.1.300", "Running", "", "")), 0o644))
	err := NewIndex("").LoadFile(p)
	require.ErrorContains(t, err, p+": items[0]: status.podIP: \"10.10.1.300\" is not an IP address")

	require.ErrorContains(t, NewIndex("").Load(list(podJSON("Shop!", "a", "", "", "Running", "", "")), "x.json"), "x.json: items[0]: metadata.namespace")
	require.ErrorContains(t, NewIndex("").Load([]byte(`{"kind":"NamespaceList","items":[]}`), "ns.json"), `kind "NamespaceList" is not a PodList`)
	// A YAML listing and a single Pod load too.
	x := NewIndex("")
	require.NoError(t, x.Load([]byte("kind: PodList\nitems:\n- metadata: {namespace: shop, name: web-0}\n  status: {podIP: 10.10.1.6}\n"), "pods.yaml"))
	require.NoError(t, x.Load([]byte(podJSON("shop", "web-1", "", "10.10.1.7", "Running", "", "")), "pod.json"))
	require.Equal(t, 2, x.Len())
}

func TestLoadLive(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", Annotations: map[string]string{"cni.projectcalico.org/podIP": "10.10.1.6/32"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy-x"}, Spec: corev1.PodSpec{HostNetwork: true},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.20.11"}},
	)
	x := NewIndex("")
	require.NoError(t, x.LoadLive(context.Background(), cs))
	require.Equal(t, 2, x.Len())
	ref, res := x.ByInterface("calia4fc3c48bd8", 0)
	require.Equal(t, flows.ResolveFound, res)
	require.Equal(t, "web-0", ref.Name)
	// The address from Calico's annotation (set at CNI ADD, before the
	// kubelet writes status.podIP).
	_, res = x.ByIP(netip.MustParseAddr("10.10.1.6"), 1779444672)
	require.Equal(t, flows.ResolveFound, res)
	// hostNetwork pods share the node's address: never a destination pod.
	_, res = x.ByIP(netip.MustParseAddr("10.0.20.11"), 1779444672)
	require.Equal(t, flows.ResolveUnknown, res)
}
