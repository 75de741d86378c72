// Package pods attributes packet-log lines to pods without trusting
// addresses: Calico names a pod's host-side interface "cali" plus the first
// 11 hex characters of SHA-1("<namespace>.<pod>")
// (libcalico-go VethNameForWorkload), so the IN= of a LOG line names the
// source pod whatever address it had, and IP reuse cannot confuse it.
//
// An Index is built from the pods that existed in the observed window:
// pod listings (kubectl get pods -A -o json, repeatable: take one per day
// to cover churn) or the live cluster. Destinations are mapped by OUT=
// (same-node pods) or by address, where exactly one running pod held it;
// anything else is left to the caller to report, never guessed.
package pods

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/flows"
)

// VethName is the host-side interface Calico's CNI plugin gives a pod.
func VethName(prefix, namespace, pod string) string {
	h := sha1.Sum([]byte(namespace + "." + pod))
	return prefix + hex.EncodeToString(h[:])[:11]
}

// Pod is what the index keeps of one pod.
type Pod struct {
	Namespace, Name string
	// NameAggr is the name flow logs aggregate the pod to:
	// generateName + "*" for controller-made pods, else the name.
	NameAggr string
	Labels   []string // "k=v", sorted
	IPs      []netip.Addr
	// Created is the pod's creation time (Unix s; 0 unknown).
	Created int64
	// Terminal: phase Succeeded or Failed; such a pod keeps its old
	// status.podIP, which a new pod may hold too.
	Terminal    bool
	HostNetwork bool
}

func (p *Pod) ident() string { return p.Namespace + "/" + p.Name }

func (p *Pod) ref() flows.PodRef {
	return flows.PodRef{Namespace: p.Namespace, Name: p.Name, NameAggr: p.NameAggr, Labels: p.Labels}
}

// Index resolves interfaces and addresses to pods. It implements
// flows.PodResolver.
type Index struct {
	prefix  string
	byIface map[string][]*Pod
	byIP    map[netip.Addr][]*Pod
	n       int
	sources []string
}

// NewIndex returns an empty index for an interface prefix ("" is cali).
func NewIndex(ifacePrefix string) *Index {
	if ifacePrefix == "" {
		ifacePrefix = flows.DefaultInterfacePrefix
	}
	return &Index{prefix: ifacePrefix, byIface: map[string][]*Pod{}, byIP: map[netip.Addr][]*Pod{}}
}

// Len returns how many pod records the index holds.
func (x *Index) Len() int { return x.n }

// Sources names the listings the index was built from.
func (x *Index) Sources() []string { return x.sources }

// Add inserts a pod. The same pod from several listings is kept once per
// listing (its addresses and phase may differ between them).
func (x *Index) Add(p Pod) {
	pp := &p
	x.n++
	if !p.HostNetwork {
		v := VethName(x.prefix, p.Namespace, p.Name)
		x.byIface[v] = append(x.byIface[v], pp)
		for _, ip := range p.IPs {
			x.byIP[ip] = append(x.byIP[ip], pp)
		}
	}
}

// newest returns the candidate created last (ties: the first).
func newest(c []*Pod) *Pod {
	best := c[0]
	for _, p := range c[1:] {
		if p.Created > best.Created {
			best = p
		}
	}
	return best
}

func distinct(c []*Pod) int {
	seen := map[string]bool{}
	for _, p := range c {
		seen[p.ident()] = true
	}
	return len(seen)
}

// ByInterface resolves a host-side interface name. The same
// namespace/name recreated (a StatefulSet pod) is the same identity; two
// identities sharing 44 bits of hash are ambiguous.
func (x *Index) ByInterface(iface string, _ int64) (flows.PodRef, flows.Resolution) {
	c := x.byIface[iface]
	switch {
	case len(c) == 0:
		return flows.PodRef{}, flows.ResolveUnknown
	case distinct(c) > 1:
		return flows.PodRef{}, flows.ResolveAmbiguous
	}
	return newest(c).ref(), flows.ResolveFound
}

// ByIP resolves an address held at t (Unix s): exactly one identity among
// the pods that held it, had been created by t and had not finished, and
// no finished pod created after it (which would have held the address
// later, so it may have been reused). Otherwise unknown or ambiguous.
func (x *Index) ByIP(ip netip.Addr, t int64) (flows.PodRef, flows.Resolution) {
	c := x.byIP[ip.Unmap()]
	if len(c) == 0 {
		return flows.PodRef{}, flows.ResolveUnknown
	}
	var live, done []*Pod
	for _, p := range c {
		if p.Created != 0 && p.Created > t {
			continue
		}
		if p.Terminal {
			done = append(done, p)
		} else {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		if len(done) > 0 {
			return flows.PodRef{}, flows.ResolveAmbiguous
		}
		return flows.PodRef{}, flows.ResolveUnknown
	}
	if distinct(live) > 1 {
		return flows.PodRef{}, flows.ResolveAmbiguous
	}
	p := newest(live)
	for _, d := range done {
		if d.ident() != p.ident() && d.Created >= p.Created {
			return flows.PodRef{}, flows.ResolveAmbiguous
		}
	}
	return p.ref(), flows.ResolveFound
}

// FromAPI converts a Kubernetes Pod. name and i locate it for errors.
func FromAPI(p *corev1.Pod) (Pod, error) {
	if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
		return Pod{}, fmt.Errorf("metadata.namespace: %q is not a namespace name", p.Namespace)
	}
	if msgs := validation.IsDNS1123Subdomain(p.Name); len(msgs) > 0 {
		return Pod{}, fmt.Errorf("metadata.name: %q is not a pod name", p.Name)
	}
	out := Pod{Namespace: p.Namespace, Name: p.Name, NameAggr: p.Name, HostNetwork: p.Spec.HostNetwork}
	if g := p.GenerateName; g != "" && strings.HasPrefix(p.Name, g) {
		out.NameAggr = g + "*"
	}
	if !p.CreationTimestamp.IsZero() {
		out.Created = p.CreationTimestamp.Unix()
	}
	out.Terminal = p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	for k, v := range p.Labels {
		out.Labels = append(out.Labels, k+"="+v)
	}
	sort.Strings(out.Labels)
	seen := map[netip.Addr]bool{}
	add := func(s, field string) error {
		if s == "" {
			return nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not an IP address", field, s)
		}
		a = a.Unmap()
		if !seen[a] {
			seen[a] = true
			out.IPs = append(out.IPs, a)
		}
		return nil
	}
	if err := add(p.Status.PodIP, "status.podIP"); err != nil {
		return Pod{}, err
	}
	for i, ip := range p.Status.PodIPs {
		if err := add(ip.IP, fmt.Sprintf("status.podIPs[%d].ip", i)); err != nil {
			return Pod{}, err
		}
	}
	// Calico's own record, set at CNI ADD (and emptied at CNI DEL).
	for _, k := range []string{"cni.projectcalico.org/podIP", "cni.projectcalico.org/podIPs"} {
		for _, s := range strings.Split(p.Annotations[k], ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if pr, err := netip.ParsePrefix(s); err == nil {
				s = pr.Addr().String()
			}
			if err := add(s, "metadata.annotations["+k+"]"); err != nil {
				return Pod{}, err
			}
		}
	}
	return out, nil
}

// listing is what a pods file may hold: a PodList, a List of Pods, or one
// Pod.
type listing struct {
	Kind  string       `json:"kind"`
	Items []corev1.Pod `json:"items"`
}

// LoadFile adds the pods of a 'kubectl get pods -A -o json' (or -o yaml)
// file. Errors name the file and the item.
func (x *Index) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	return x.Load(b, path)
}

// Load adds the pods of a listing held in b (JSON or YAML); name is used
// in errors.
func (x *Index) Load(b []byte, name string) error {
	var l listing
	if err := yaml.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("%s: not a pod listing: %v", name, err)
	}
	var items []corev1.Pod
	switch l.Kind {
	case "PodList", "List":
		items = l.Items
	case "Pod":
		var p corev1.Pod
		if err := yaml.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		items = []corev1.Pod{p}
	default:
		return fmt.Errorf("%s: kind %q is not a PodList, List or Pod (want 'kubectl get pods -A -o json' output)", name, l.Kind)
	}
	var pods []Pod
	for i := range items {
		if k := items[i].Kind; k != "" && k != "Pod" {
			return fmt.Errorf("%s: items[%d]: kind %q is not Pod", name, i, k)
		}
		p, err := FromAPI(&items[i])
		if err != nil {
			return fmt.Errorf("%s: items[%d]: %v", name, i, err)
		}
		pods = append(pods, p)
	}
	for _, p := range pods {
		x.Add(p)
	}
	x.sources = append(x.sources, name)
	return nil
}

// LoadLive adds the pods the cluster has now, paging through the list.
// Pods deleted before now are not in it: lines from them stay
// unattributed (listings taken during the window cover them).
func (x *Index) LoadLive(ctx context.Context, cs kubernetes.Interface) error {
	opts := metav1.ListOptions{Limit: 500}
	var pods []Pod
	for {
		l, err := cs.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return fmt.Errorf("pods: list: %w", err)
		}
		for i := range l.Items {
			p, err := FromAPI(&l.Items[i])
			if err != nil {
				return fmt.Errorf("pods: %s/%s: %v", l.Items[i].Namespace, l.Items[i].Name, err)
			}
			pods = append(pods, p)
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	for _, p := range pods {
		x.Add(p)
	}
	x.sources = append(x.sources, "live cluster at "+time.Now().UTC().Format(time.RFC3339))
	return nil
}
