package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/policy"
	"github.com/calico-plan/calico-plan/render"
)

// Existing is what a cluster snapshot adds to the policy files: the
// policies the cluster already has, as the files will be applied on them.
type Existing struct {
	// Objects counts the snapshot's objects kept; Replaced lists those a
	// file object replaces (same kind, namespace and name: 'kubectl apply'
	// or Terraform updates them) and Superseded calico-plan's own objects
	// the files leave out in the namespaces they manage (a rollout's
	// _stages.sh deletes them).
	Objects    int
	Replaced   []string
	Superseded []string
}

// objectKey identifies an object across the snapshot and the files: the
// API family (calico or k8s), kind, namespace and name.
func objectKey(family, kind, ns, name string) string {
	return family + "/" + kind + "/" + ns + "/" + name
}

func familyOf(apiVersion string) string {
	if strings.HasPrefix(apiVersion, "networking.k8s.io/") {
		return "k8s"
	}
	return "calico"
}

// WithExisting merges the snapshot's policies, tiers and network sets
// under the policy files of pf: a file's object replaces the snapshot's
// of the same identity, so the merged set has no duplicates; in every
// namespace where the files have a calico-plan policy (and, for a rollout
// with the observe policy, in every namespace), the snapshot's calico-plan
// policies the files do not have are left out. pf.Set is replaced by the
// merged set.
func WithExisting(pf *policyfile.Result, f *cluster.Facts, observePolicy string) (*Existing, error) {
	ex := &Existing{}
	inFiles := map[string]bool{}
	managedNS := map[string]bool{}
	rollout := false
	for _, d := range pf.Docs {
		for _, o := range d.Objects() {
			inFiles[objectKey(familyOf(o.APIVersion), o.Kind, o.Namespace, o.Name)] = true
			if o.Labels[render.ManagedByLabel] == render.ManagedByValue {
				if o.Namespace != "" {
					managedNS[o.Namespace] = true
				}
				if o.Kind == "GlobalNetworkPolicy" && o.Name == observePolicy {
					rollout = true
				}
			}
		}
	}
	var docs [][]byte
	add := func(apiVersion, kind, ns, name string, labels map[string]string, spec any) error {
		id := kind + " " + name
		if ns != "" {
			id = kind + " " + ns + "/" + name
		}
		if inFiles[objectKey(familyOf(apiVersion), kind, ns, name)] {
			ex.Replaced = append(ex.Replaced, id)
			return nil
		}
		if labels[render.ManagedByLabel] == render.ManagedByValue && ns != "" && (managedNS[ns] || rollout) {
			ex.Superseded = append(ex.Superseded, id)
			return nil
		}
		meta := map[string]any{"name": name}
		if ns != "" {
			meta["namespace"] = ns
		}
		if len(labels) > 0 {
			meta["labels"] = labels
		}
		b, err := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta, "spec": spec})
		if err != nil {
			return err
		}
		docs = append(docs, b)
		ex.Objects++
		return nil
	}
	if f != nil {
		api := f.CalicoAPI
		if api == "" || api == "crd.projectcalico.org/v1" {
			api = "projectcalico.org/v3"
		}
		for _, o := range f.CalicoObjects {
			if err := add(api, o.Kind, o.Namespace, o.Name, o.Labels, o.Spec); err != nil {
				return nil, err
			}
		}
		for _, np := range f.NetworkPolicies {
			if err := add("networking.k8s.io/v1", "NetworkPolicy", np.Namespace, np.Name, nil, np.Spec); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(ex.Replaced)
	sort.Strings(ex.Superseded)
	if len(docs) == 0 {
		return ex, nil
	}
	// JSON documents are YAML: one stream for the loader.
	stream := bytes.Join(docs, []byte("\n---\n"))
	set, errs := (&policy.Loader{}).Load(bytes.NewReader(stream), "cluster snapshot")
	if len(errs) > 0 {
		return nil, errs[0]
	}
	merged, errs := policy.Merge(set, pf.Set)
	if len(errs) > 0 {
		return nil, fmt.Errorf("cluster snapshot with the policy files: %w", errs[0])
	}
	pf.Set = merged
	return ex, nil
}

// AllowAll reports whether the group's traffic was decided by an allow-all
// rule: a rule of the deciding policy that allows every packet (no
// protocol, port, address or selector), as an observe policy's Allow does.
func (g *Group) AllowAll() bool {
	d := &g.Decision
	if d.Policy == nil || d.Action != policy.ActionAllow || g.Deciding == "" {
		return false
	}
	act, i, ok := d.Policy.Unconditional(g.Deciding == "egress")
	return ok && act == "Allow" && i == d.RuleIndex
}
