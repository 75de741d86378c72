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

// applied is what a set of policy files does to a cluster's objects when
// applied as 'kubectl apply -f' and a rollout's _stages.sh (or Terraform)
// would: which objects they replace, and which of calico-plan's own they
// leave out. check --existing and snapshot --apply share it.
type applied struct {
	inFiles   map[string]bool
	managedNS map[string]bool
	// rollout: the files hold the observe policy, so they are a complete
	// rollout and every namespace is managed.
	rollout bool
}

// fate of a cluster object under the files.
type fate int

const (
	kept fate = iota
	// replaced: the files have an object of the same kind, namespace and
	// name ('kubectl apply' or Terraform updates it).
	replaced
	// superseded: a calico-plan policy of a namespace the files manage
	// that the files no longer have (_stages.sh deletes it).
	superseded
)

func newApplied(pf *policyfile.Result, observePolicy string) *applied {
	a := &applied{inFiles: map[string]bool{}, managedNS: map[string]bool{}}
	for _, d := range pf.Docs {
		for _, o := range d.Objects() {
			a.inFiles[objectKey(familyOf(o.APIVersion), o.Kind, o.Namespace, o.Name)] = true
			if o.Labels[render.ManagedByLabel] == render.ManagedByValue {
				if o.Namespace != "" {
					a.managedNS[o.Namespace] = true
				}
				if o.Kind == "GlobalNetworkPolicy" && o.Name == observePolicy {
					a.rollout = true
				}
			}
		}
	}
	return a
}

// fate says what becomes of a cluster object when the files are applied.
func (a *applied) fate(apiVersion, kind, ns, name string, labels map[string]string) fate {
	if a.inFiles[objectKey(familyOf(apiVersion), kind, ns, name)] {
		return replaced
	}
	if labels[render.ManagedByLabel] == render.ManagedByValue && ns != "" && (a.managedNS[ns] || a.rollout) {
		return superseded
	}
	return kept
}

// objectID names an object in messages: "Kind name" or "Kind ns/name".
func objectID(kind, ns, name string) string {
	if ns != "" {
		return kind + " " + ns + "/" + name
	}
	return kind + " " + name
}

// snapshotAPI is the apiVersion the snapshot's Calico objects are read as
// (the CRDs' objects are the API server's).
func snapshotAPI(f *cluster.Facts) string {
	if f.CalicoAPI == "" || f.CalicoAPI == cluster.CalicoCRDs {
		return cluster.CalicoAPIServer
	}
	return f.CalicoAPI
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
	ap := newApplied(pf, observePolicy)
	var docs [][]byte
	add := func(apiVersion, kind, ns, name string, labels map[string]string, spec any) error {
		switch ap.fate(apiVersion, kind, ns, name, labels) {
		case replaced:
			ex.Replaced = append(ex.Replaced, objectID(kind, ns, name))
			return nil
		case superseded:
			ex.Superseded = append(ex.Superseded, objectID(kind, ns, name))
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
		api := snapshotAPI(f)
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
