package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Clients are the API clients Read uses: the typed clientset (its
// discovery client decides between the Calico API server and the CRDs) and
// a dynamic client for Calico objects.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Host names the API server in messages.
	Host string
}

// NewClients builds the clients from a REST config (see kube.RESTConfig).
func NewClients(cfg *rest.Config) (Clients, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kube: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kube: %w", err)
	}
	return Clients{Kube: kc, Dynamic: dc, Host: cfg.Host}, nil
}

// CalicoKind is a Calico resource Read lists.
type CalicoKind struct {
	Resource   string // plural, as discovery lists it
	Kind       string
	Namespaced bool
}

// CalicoKinds are the Calico resources Read lists, in both API groups.
var CalicoKinds = []CalicoKind{
	{"networkpolicies", "NetworkPolicy", true},
	{"globalnetworkpolicies", "GlobalNetworkPolicy", false},
	{"stagednetworkpolicies", "StagedNetworkPolicy", true},
	{"stagedglobalnetworkpolicies", "StagedGlobalNetworkPolicy", false},
	{"stagedkubernetesnetworkpolicies", "StagedKubernetesNetworkPolicy", true},
	{"tiers", "Tier", false},
	{"networksets", "NetworkSet", true},
	{"globalnetworksets", "GlobalNetworkSet", false},
}

const pageSize = 500

// APIError is a failed API call, named by verb and resource, with advice.
type APIError struct {
	Verb, Resource, Host string
	Err                  error
}

func (e *APIError) Error() string {
	where := ""
	if e.Host != "" {
		where = " on " + e.Host
	}
	switch {
	case apierrors.IsUnauthorized(e.Err):
		return fmt.Sprintf("kube: %s %s%s: the API server rejected the credentials (expired or invalid token or certificate): log in again or pick another --context/--kubeconfig, or work offline with --cluster FILE: %v", e.Verb, e.Resource, where, e.Err)
	case apierrors.IsForbidden(e.Err):
		return fmt.Sprintf("kube: %s %s%s is forbidden by RBAC: grant the verb %q on %q (cluster-wide) to this user, or work offline with --cluster FILE: %v", e.Verb, e.Resource, where, e.Verb, e.Resource, e.Err)
	}
	var ue *url.Error
	var se apierrors.APIStatus
	if errors.As(e.Err, &ue) || !errors.As(e.Err, &se) {
		return fmt.Sprintf("kube: %s %s: cannot reach the API server%s (check the network, VPN and --context, or work offline with --cluster FILE): %v", e.Verb, e.Resource, where, e.Err)
	}
	return fmt.Sprintf("kube: %s %s%s: %v", e.Verb, e.Resource, where, e.Err)
}

func (e *APIError) Unwrap() error { return e.Err }

// optional reports whether a failure to read an optional resource may be
// recorded as missing instead of failing: RBAC forbids it, or the server
// does not serve it. Credentials and connectivity problems always fail.
func optional(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

func missingReason(verb, resource string, err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Sprintf("%s %s is forbidden by RBAC (grant %q on %q to check this)", verb, resource, verb, resource)
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s is not served by this cluster", resource)
	}
	return fmt.Sprintf("%s %s failed: %v", verb, resource, err)
}

// Read collects the facts from a live cluster. Namespaces are required; an
// optional resource that RBAC forbids or the cluster does not serve
// (CronJobs, nodes, NetworkPolicies, Calico objects) is recorded in
// Facts.Missing, and the gates that need it then count as unmet. Rejected
// credentials and an unreachable API server are errors.
func Read(ctx context.Context, c Clients) (*Facts, error) {
	f := New()
	f.Source = "cluster"
	if c.Host != "" {
		f.Source += " " + c.Host
	}
	if err := readNamespaces(ctx, c, f); err != nil {
		return nil, err
	}
	steps := []struct {
		resource string
		read     func(context.Context, Clients, *Facts) error
	}{
		{ResourceCronJobs, readCronJobs},
		{ResourceNodes, readNodes},
		{ResourceNetworkPolicies, readNetworkPolicies},
	}
	for _, s := range steps {
		if err := s.read(ctx, c, f); err != nil {
			if optional(err) {
				f.AddMissing(s.resource, missingReason("list", s.resource, err))
				continue
			}
			return nil, &APIError{Verb: "list", Resource: s.resource, Host: c.Host, Err: err}
		}
	}
	if err := readCalico(ctx, c, f); err != nil {
		return nil, err
	}
	f.Normalize()
	return f, nil
}

func readNamespaces(ctx context.Context, c Clients, f *Facts) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.Kube.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			return &APIError{Verb: "list", Resource: ResourceNamespaces, Host: c.Host, Err: err}
		}
		for _, ns := range list.Items {
			l := copyLabels(ns.Labels)
			if l == nil {
				l = map[string]string{}
			}
			l["kubernetes.io/metadata.name"] = ns.Name
			f.Namespaces = append(f.Namespaces, Namespace{Name: ns.Name, Labels: l})
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return nil
		}
	}
}

func readCronJobs(ctx context.Context, c Clients, f *Facts) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.Kube.BatchV1().CronJobs("").List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range list.Items {
			f.CronJobs = append(f.CronJobs, cronJobFact(&list.Items[i]))
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return nil
		}
	}
}

func cronJobFact(cj *batchv1.CronJob) CronJob {
	out := CronJob{Namespace: cj.Namespace, Name: cj.Name, Schedule: cj.Spec.Schedule, PodPattern: PodPatternFor(cj.Name)}
	if cj.Spec.TimeZone != nil {
		out.TimeZone = *cj.Spec.TimeZone
	}
	if cj.Spec.Suspend != nil {
		out.Suspend = *cj.Spec.Suspend
	}
	return out
}

func readNodes(ctx context.Context, c Clients, f *Facts) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.Kube.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return err
		}
		for _, n := range list.Items {
			node := Node{Name: n.Name}
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					node.InternalIPs = append(node.InternalIPs, a.Address)
				}
			}
			f.Nodes = append(f.Nodes, node)
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return nil
		}
	}
}

func readNetworkPolicies(ctx context.Context, c Clients, f *Facts) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.Kube.NetworkingV1().NetworkPolicies("").List(ctx, opts)
		if err != nil {
			return err
		}
		for _, np := range list.Items {
			f.NetworkPolicies = append(f.NetworkPolicies, NetworkPolicy{Namespace: np.Namespace, Name: np.Name, Spec: np.Spec})
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return nil
		}
	}
}

// readCalico lists the Calico kinds through the dynamic client: from the
// Calico API server (projectcalico.org/v3) when discovery shows it, else
// from the CRDs (crd.projectcalico.org/v1). Neither → recorded as missing.
func readCalico(ctx context.Context, c Clients, f *Facts) error {
	group, served, err := calicoGroup(c)
	if err != nil {
		return err
	}
	if group == "" {
		f.AddMissing(ResourceCalico, fmt.Sprintf("neither %s (Calico API server) nor %s (Calico CRDs) is served", CalicoAPIServer, CalicoCRDs))
		return nil
	}
	f.CalicoAPI = group
	gv, _ := schema.ParseGroupVersion(group)
	for _, k := range CalicoKinds {
		resource := k.Resource + "." + gv.Group
		if !served[k.Resource] {
			f.AddMissing(resource, fmt.Sprintf("%s is not served by %s (Calico older than 3.30 has no staged policies)", k.Resource, group))
			continue
		}
		gvr := gv.WithResource(k.Resource)
		opts := metav1.ListOptions{Limit: pageSize}
		for {
			var ri dynamic.ResourceInterface = c.Dynamic.Resource(gvr)
			if k.Namespaced {
				ri = c.Dynamic.Resource(gvr).Namespace(metav1.NamespaceAll)
			}
			list, err := ri.List(ctx, opts)
			if err != nil {
				if optional(err) {
					f.AddMissing(resource, missingReason("list", resource, err))
					break
				}
				return &APIError{Verb: "list", Resource: resource, Host: c.Host, Err: err}
			}
			for _, item := range list.Items {
				obj := CalicoObject{Kind: k.Kind, Namespace: item.GetNamespace(), Name: item.GetName(), Labels: copyLabels(item.GetLabels())}
				if spec, ok := item.Object["spec"].(map[string]any); ok {
					if obj.Spec, err = jsonNormalize(spec); err != nil {
						return fmt.Errorf("kube: %s %s: spec: %w", k.Kind, item.GetName(), err)
					}
				}
				f.CalicoObjects = append(f.CalicoObjects, obj)
			}
			if opts.Continue = list.GetContinue(); opts.Continue == "" {
				break
			}
		}
	}
	return nil
}

// calicoGroup picks the Calico API group and the resources it serves.
func calicoGroup(c Clients) (string, map[string]bool, error) {
	disc := c.Kube.Discovery()
	var firstErr error
	for _, group := range []string{CalicoAPIServer, CalicoCRDs} {
		list, err := disc.ServerResourcesForGroupVersion(group)
		if err != nil {
			if apierrors.IsUnauthorized(err) {
				return "", nil, &APIError{Verb: "discover", Resource: group, Host: c.Host, Err: err}
			}
			// Not found, or an aggregated API server that is down (503):
			// try the next group.
			if firstErr == nil && !apierrors.IsNotFound(err) && !apierrors.IsServiceUnavailable(err) && !apierrors.IsForbidden(err) {
				var se apierrors.APIStatus
				if !errors.As(err, &se) {
					firstErr = &APIError{Verb: "discover", Resource: group, Host: c.Host, Err: err}
				}
			}
			continue
		}
		served := map[string]bool{}
		for _, r := range list.APIResources {
			served[r.Name] = true
		}
		if len(served) > 0 {
			return group, served, nil
		}
	}
	if firstErr != nil {
		return "", nil, firstErr
	}
	return "", nil, nil
}

// jsonNormalize makes a spec's numbers float64 (as a snapshot reads them
// back), so live facts and a snapshot round trip compare equal.
func jsonNormalize(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
