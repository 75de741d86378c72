package cluster

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func ptr[T any](v T) *T { return &v }

func kubeObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nextcloud", Labels: map[string]string{"tier": "3-edge"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n8n", Labels: map[string]string{"tier": "4-aux"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "nextcloud", Name: "nextcloud-backup"},
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * 0"}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "n8n", Name: "cleanup"},
			Spec: batchv1.CronJobSpec{Schedule: "@daily", TimeZone: ptr("Europe/London"), Suspend: ptr(true)}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "k8s-node-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: "k8s-node-1"},
			{Type: corev1.NodeInternalIP, Address: "10.0.20.11"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.9"},
		}}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "calico-system", Name: "whisker-allow-dns-clusterip"},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}},
	}
}

func calicoResources(group string) *metav1.APIResourceList {
	l := &metav1.APIResourceList{GroupVersion: group}
	for _, k := range CalicoKinds {
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: k.Resource, Kind: k.Kind, Namespaced: k.Namespaced})
	}
	return l
}

func calicoObj(group, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(group)
	u.SetKind(kind)
	u.SetName(name)
	if ns != "" {
		u.SetNamespace(ns)
	}
	return u
}

func dynamicClient(group string, objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	gv, _ := schema.ParseGroupVersion(group)
	kinds := map[schema.GroupVersionResource]string{}
	for _, k := range CalicoKinds {
		kinds[gv.WithResource(k.Resource)] = k.Kind + "List"
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, objs...)
}

func observeGNP(group string) *unstructured.Unstructured {
	return calicoObj(group, "GlobalNetworkPolicy", "", "wave1-egress-observe-tier34", map[string]any{
		"order": int64(2000), "selector": "all()", "namespaceSelector": `tier in {"3-edge", "4-aux"}`,
		"types":  []any{"Egress"},
		"egress": []any{map[string]any{"action": "Log"}, map[string]any{"action": "Allow"}},
	})
}

func TestReadLiveCalicoAPIServer(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	disc := cs.Discovery().(*fakediscovery.FakeDiscovery)
	disc.Resources = []*metav1.APIResourceList{calicoResources(CalicoAPIServer), calicoResources(CalicoCRDs)}
	dyn := dynamicClient(CalicoAPIServer,
		observeGNP(CalicoAPIServer),
		calicoObj(CalicoAPIServer, "GlobalNetworkSet", "", "telegram", map[string]any{"nets": []any{"149.154.160.0/20"}}),
		calicoObj(CalicoAPIServer, "NetworkSet", "servarr", "usenet", map[string]any{"nets": []any{"203.0.113.0/24"}}),
		calicoObj(CalicoAPIServer, "Tier", "", "egress-allowlist", map[string]any{"order": 500.0}),
	)
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dyn, Host: "https://10.0.20.100:6443"})
	require.NoError(t, err)

	require.Equal(t, CalicoAPIServer, f.CalicoAPI, "the API server is preferred when discovery shows it")
	require.Empty(t, f.Missing)
	require.Equal(t, []string{"kube-system", "n8n", "nextcloud"}, f.NamespaceLabels().Names())
	require.Equal(t, "3-edge", f.NamespaceLabels()["nextcloud"]["tier"])
	require.Equal(t, "nextcloud", f.NamespaceLabels()["nextcloud"]["kubernetes.io/metadata.name"], "the automatic name label is always there")

	require.Equal(t, []CronJob{
		{Namespace: "n8n", Name: "cleanup", Schedule: "@daily", TimeZone: "Europe/London", Suspend: true, PodPattern: "cleanup-<unix-minutes>-*"},
		{Namespace: "nextcloud", Name: "nextcloud-backup", Schedule: "0 3 * * 0", PodPattern: "nextcloud-backup-<unix-minutes>-*"},
	}, f.CronJobs)
	require.Equal(t, []Node{{Name: "k8s-node-1", InternalIPs: []string{"10.0.20.11"}}}, f.Nodes, "only InternalIPs")
	require.Len(t, f.NetworkPolicies, 1)
	require.Equal(t, "whisker-allow-dns-clusterip", f.NetworkPolicies[0].Name)

	gnp, ok := f.CalicoObject("GlobalNetworkPolicy", "", "wave1-egress-observe-tier34")
	require.True(t, ok)
	require.Equal(t, `tier in {"3-edge", "4-aux"}`, gnp.Spec["namespaceSelector"])
	require.Equal(t, 2000.0, gnp.Spec["order"], "numbers normalized as a snapshot reads them")
	require.Equal(t, map[string][]string{"telegram": {"149.154.160.0/20"}, "servarr/usenet": {"203.0.113.0/24"}}, f.NetworkSetNets())
	require.Equal(t, "10.0.20.11", f.NodeIPs()["k8s-node-1"][0].String())
}

func TestReadLiveFallsBackToCRDs(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{calicoResources(CalicoCRDs)}
	dyn := dynamicClient(CalicoCRDs, observeGNP(CalicoCRDs))
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dyn})
	require.NoError(t, err)
	require.Equal(t, CalicoCRDs, f.CalicoAPI)
	_, ok := f.CalicoObject("GlobalNetworkPolicy", "", "wave1-egress-observe-tier34")
	require.True(t, ok)
	require.Empty(t, f.Missing)
}

func TestReadLiveWithoutCalicoDegrades(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dynamicClient(CalicoAPIServer)})
	require.NoError(t, err)
	require.Empty(t, f.CalicoAPI)
	reason, missing := f.MissingReason(ResourceCalico)
	require.True(t, missing)
	require.Contains(t, reason, "neither projectcalico.org/v3 (Calico API server) nor crd.projectcalico.org/v1")
	ok, _ := f.HasCronJobFacts()
	require.True(t, ok, "CronJobs are unaffected")
}

func TestReadLiveOldCalicoWithoutStagedKinds(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	l := &metav1.APIResourceList{GroupVersion: CalicoCRDs}
	for _, k := range CalicoKinds {
		if k.Kind == "NetworkPolicy" || k.Kind == "GlobalNetworkPolicy" {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: k.Resource, Kind: k.Kind})
		}
	}
	cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{l}
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dynamicClient(CalicoCRDs, observeGNP(CalicoCRDs))})
	require.NoError(t, err)
	reason, missing := f.MissingReason("stagednetworkpolicies.crd.projectcalico.org")
	require.True(t, missing)
	require.Contains(t, reason, "not served")
	require.Len(t, f.CalicoObjects, 1)
}

func TestReadLiveForbiddenCronJobsDegrade(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	cs.PrependReactor("list", "cronjobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "", errors.New(`User "ci" cannot list resource "cronjobs" in API group "batch" at the cluster scope`))
	})
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dynamicClient(CalicoAPIServer)})
	require.NoError(t, err, "a missing optional resource degrades")
	ok, reason := f.HasCronJobFacts()
	require.False(t, ok)
	require.Contains(t, reason, `list cronjobs.batch is forbidden by RBAC (grant "list" on "cronjobs.batch"`)
	require.Len(t, f.Namespaces, 3)
	var m Missing
	for _, x := range f.Missing {
		if x.Resource == ResourceCronJobs {
			m = x
		}
	}
	require.Equal(t, "CronJob gates (observe → staged) count as unmet", m.Affects)
}

func TestReadLiveErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		resource string
		err      error
		want     []string
	}{
		"forbidden namespaces": {"namespaces", apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "", errors.New("no")),
			[]string{`list namespaces on https://h:6443 is forbidden by RBAC: grant the verb "list" on "namespaces"`}},
		"expired credentials": {"namespaces", apierrors.NewUnauthorized("token expired"),
			[]string{"list namespaces", "rejected the credentials (expired or invalid"}},
		"expired credentials on cronjobs": {"cronjobs", apierrors.NewUnauthorized("token expired"),
			[]string{"list cronjobs.batch", "rejected the credentials"}},
		"unreachable": {"namespaces", &url.Error{Op: "Get", URL: "https://h:6443/api/v1/namespaces", Err: errors.New("dial tcp 10.0.20.100:6443: connect: connection refused")},
			[]string{"list namespaces: cannot reach the API server on https://h:6443", "connection refused", "--cluster FILE"}},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(kubeObjects()...)
			cs.PrependReactor("list", tc.resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			_, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dynamicClient(CalicoAPIServer), Host: "https://h:6443"})
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
		})
	}
}

func TestReadLiveForbiddenCalicoKindDegrades(t *testing.T) {
	cs := fake.NewClientset(kubeObjects()...)
	cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{calicoResources(CalicoAPIServer)}
	dyn := dynamicClient(CalicoAPIServer, observeGNP(CalicoAPIServer))
	dyn.PrependReactor("list", "networksets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "projectcalico.org", Resource: "networksets"}, "", errors.New("no"))
	})
	f, err := Read(context.Background(), Clients{Kube: cs, Dynamic: dyn})
	require.NoError(t, err)
	reason, missing := f.MissingReason("networksets.projectcalico.org")
	require.True(t, missing)
	require.Contains(t, reason, "forbidden by RBAC")
	_, ok := f.CalicoObject("GlobalNetworkPolicy", "", "wave1-egress-observe-tier34")
	require.True(t, ok, "other kinds are still read")
}
