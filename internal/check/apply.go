package check

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
)

// Applied is a cluster snapshot with policy files applied offline
// (ApplyFiles): a prediction of the snapshot the cluster will give once
// the files are applied, not what it reports.
type Applied struct {
	// Facts are the predicted facts (Facts.Predicted says from what).
	Facts *cluster.Facts
	// Existing says what became of the snapshot's objects: kept,
	// replaced by a file's object, or superseded (left out), by the rule
	// of check --existing (WithExisting).
	Existing
	// Added are the files' objects the snapshot did not have.
	Added []string
	// Labels are the namespace labels the files change, "ns: key=value".
	Labels []string
	// NotApplied are the files' objects left out of the prediction, with
	// why: kinds a snapshot does not record, and kinds the snapshot could
	// not read (a fresh snapshot would not show them either).
	NotApplied []string
	// Warnings are the files' problems Calico accepts.
	Warnings []string
}

// ApplyFiles predicts the facts after the policy files of paths are
// applied to the cluster f describes, as 'kubectl apply -f' and the
// stage script (or Terraform) would apply them:
//   - a file's object (policy, tier, network set, Kubernetes
//     NetworkPolicy) replaces the snapshot's of the same kind, namespace
//     and name, and is added when the snapshot has none;
//   - calico-plan's own policies the files no longer have are left out,
//     exactly as check --existing leaves them out (WithExisting);
//   - namespace labels the files set (a stage script's 'kubectl label
//     namespace' lines, kubernetes_labels resources, Namespace objects)
//     are set on the namespaces; other labels stay.
//
// Paths are read as check --policies reads them (policyfile), plus stage
// scripts (_stages.sh in a directory, or a *.sh file). A file that does
// not load, an object Calico would reject and a label on a namespace the
// snapshot does not have (kubectl label would fail) are errors naming the
// file. f is not changed; the result encodes deterministically
// (cluster.MarshalSnapshot).
func ApplyFiles(f *cluster.Facts, paths []string, observePolicy string) (*Applied, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no policy files to apply")
	}
	var policyPaths []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".sh") {
			policyPaths = append(policyPaths, p)
		}
	}
	pf := &policyfile.Result{}
	if len(policyPaths) > 0 {
		pf = policyfile.Load(policyPaths, nil)
	}
	res := &Applied{}
	var errs []string
	for _, p := range pf.Problems {
		if p.Warning {
			res.Warnings = append(res.Warnings, p.String())
		} else {
			errs = append(errs, p.String())
		}
	}
	labels, probs := policyfile.ReadNamespaceLabels(paths)
	for _, p := range probs {
		errs = append(errs, p.String())
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("the files cannot be applied: %s", strings.Join(errs, "; "))
	}

	out := copyFacts(f)
	ap := newApplied(pf, observePolicy)
	api := snapshotAPI(f)
	inSnapshot := map[string]bool{}
	for _, o := range f.CalicoObjects {
		inSnapshot[objectKey("calico", o.Kind, o.Namespace, o.Name)] = true
		switch ap.fate(api, o.Kind, o.Namespace, o.Name, o.Labels) {
		case replaced:
			res.Replaced = append(res.Replaced, objectID(o.Kind, o.Namespace, o.Name))
		case superseded:
			res.Superseded = append(res.Superseded, objectID(o.Kind, o.Namespace, o.Name))
		default:
			out.CalicoObjects = append(out.CalicoObjects, o)
			res.Objects++
		}
	}
	for _, np := range f.NetworkPolicies {
		inSnapshot[objectKey("k8s", "NetworkPolicy", np.Namespace, np.Name)] = true
		switch ap.fate("networking.k8s.io/v1", "NetworkPolicy", np.Namespace, np.Name, nil) {
		case replaced:
			res.Replaced = append(res.Replaced, objectID("NetworkPolicy", np.Namespace, np.Name))
		case superseded:
			res.Superseded = append(res.Superseded, objectID("NetworkPolicy", np.Namespace, np.Name))
		default:
			out.NetworkPolicies = append(out.NetworkPolicies, np)
			res.Objects++
		}
	}

	ns := namespaceIndex(out)
	seen := map[string]bool{}
	for _, d := range pf.Docs {
		for _, o := range d.Objects() {
			key := objectKey(familyOf(o.APIVersion), o.Kind, o.Namespace, o.Name)
			if seen[key] {
				continue // a duplicate: the loader reported it, the first counts
			}
			seen[key] = true
			if err := res.applyObject(out, ns, o, d.File, inSnapshot[key]); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range labels {
		where := fmt.Sprintf("%s:%d", l.File, l.Line)
		if err := res.setLabels(out, ns, l.Namespace, l.Labels, where, false); err != nil {
			return nil, err
		}
	}

	from := f.Source
	if from == "" {
		from = "cluster facts"
	}
	out.Predicted = &cluster.Prediction{From: from, Applied: append([]string(nil), paths...)}
	out.Source = "prediction from " + from
	out.Normalize()
	sort.Strings(res.Replaced)
	sort.Strings(res.Superseded)
	sort.Strings(res.Added)
	res.Facts = out
	return res, nil
}

// copyFacts copies what ApplyFiles changes (namespaces and their labels;
// the policy lists start empty and are filled with what is kept).
func copyFacts(f *cluster.Facts) *cluster.Facts {
	out := *f
	out.Namespaces = make([]cluster.Namespace, len(f.Namespaces))
	for i, n := range f.Namespaces {
		l := make(map[string]string, len(n.Labels))
		for k, v := range n.Labels {
			l[k] = v
		}
		out.Namespaces[i] = cluster.Namespace{Name: n.Name, Labels: l}
	}
	out.CronJobs = append([]cluster.CronJob(nil), f.CronJobs...)
	out.Nodes = append([]cluster.Node(nil), f.Nodes...)
	out.Missing = append([]cluster.Missing(nil), f.Missing...)
	out.CalicoObjects, out.NetworkPolicies = nil, nil
	return &out
}

// namespaceIndex maps namespace names to their index in f.Namespaces.
func namespaceIndex(f *cluster.Facts) map[string]int {
	m := make(map[string]int, len(f.Namespaces))
	for i, n := range f.Namespaces {
		m[n.Name] = i
	}
	return m
}

// isCalicoAPI reports whether an apiVersion is one of Calico's.
func isCalicoAPI(apiVersion string) bool {
	return apiVersion == cluster.CalicoAPIServer || apiVersion == cluster.CalicoCRDs
}

// calicoResource is the resource ("stagednetworkpolicies") of a Calico
// kind the snapshot records; "" for other kinds.
func calicoResource(kind string) string {
	for _, k := range cluster.CalicoKinds {
		if k.Kind == kind {
			return k.Resource
		}
	}
	return ""
}

// applyObject applies one object of a file to out.
func (res *Applied) applyObject(out *cluster.Facts, ns map[string]int, o policyfile.Object, file string, inSnapshot bool) error {
	id := objectID(o.Kind, o.Namespace, o.Name)
	notApplied := func(why string) {
		res.NotApplied = append(res.NotApplied, fmt.Sprintf("%s (%s): %s", id, file, why))
	}
	var body struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(o.JSON, &body); err != nil {
		return fmt.Errorf("%s: %s: %v", file, id, err)
	}
	switch {
	case o.APIVersion == "v1" && o.Kind == "Namespace":
		return res.setLabels(out, ns, o.Name, o.Labels, file, true)
	case o.APIVersion == "networking.k8s.io/v1" && o.Kind == "NetworkPolicy":
		if why, missing := out.MissingReason(cluster.ResourceNetworkPolicies); missing {
			notApplied("the snapshot could not read NetworkPolicies (" + why + ")")
			return nil
		}
		np := cluster.NetworkPolicy{Namespace: o.Namespace, Name: o.Name}
		if len(body.Spec) > 0 {
			if err := json.Unmarshal(body.Spec, &np.Spec); err != nil {
				return fmt.Errorf("%s: %s: spec: %v", file, id, err)
			}
		}
		out.NetworkPolicies = append(out.NetworkPolicies, np)
	case isCalicoAPI(o.APIVersion) && calicoResource(o.Kind) != "":
		if why, missing := out.MissingReason(cluster.ResourceCalico); missing {
			notApplied("the snapshot has no Calico API (" + why + ")")
			return nil
		}
		group := out.CalicoAPI // as the snapshot records what it could not read
		if group == "" {
			group = cluster.CalicoAPIServer
		}
		resource := calicoResource(o.Kind) + "." + strings.Split(group, "/")[0]
		if why, missing := out.MissingReason(resource); missing {
			notApplied("the snapshot could not read " + resource + " (" + why + ")")
			return nil
		}
		obj := cluster.CalicoObject{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Labels: o.Labels}
		if len(body.Spec) > 0 && string(body.Spec) != "null" {
			if err := json.Unmarshal(body.Spec, &obj.Spec); err != nil {
				return fmt.Errorf("%s: %s: spec: %v", file, id, err)
			}
		}
		out.CalicoObjects = append(out.CalicoObjects, obj)
	default:
		notApplied(fmt.Sprintf("a snapshot does not record %s %s", o.APIVersion, o.Kind))
		return nil
	}
	if !inSnapshot {
		res.Added = append(res.Added, id)
	}
	return nil
}

// setLabels sets labels on a namespace. A Namespace object (create) adds
// the namespace when the snapshot has none, as 'kubectl apply' creates it;
// a label command or resource on a missing namespace is an error, as
// 'kubectl label' fails.
func (res *Applied) setLabels(out *cluster.Facts, ns map[string]int, name string, labels map[string]string, where string, create bool) error {
	i, ok := ns[name]
	if !ok {
		if !create {
			return fmt.Errorf("%s: labels namespace %s, which the snapshot does not have ('kubectl label' would fail: namespace not found)", where, name)
		}
		out.Namespaces = append(out.Namespaces, cluster.Namespace{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}})
		i = len(out.Namespaces) - 1
		ns[name] = i
		res.Added = append(res.Added, "Namespace "+name)
	}
	n := &out.Namespaces[i]
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if old, ok := n.Labels[k]; ok && old == labels[k] {
			continue
		}
		n.Labels[k] = labels[k]
		res.Labels = append(res.Labels, fmt.Sprintf("%s: %s=%s", name, k, labels[k]))
	}
	return nil
}
