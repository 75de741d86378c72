package cluster

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // CronJob spec.timeZone must resolve on machines without a zoneinfo database

	"github.com/robfig/cron/v3"
	networkingv1 "k8s.io/api/networking/v1"
)

// FactsVersion is the snapshot format this build reads and writes.
const FactsVersion = 1

// SnapshotKind is the kind a snapshot file declares.
const SnapshotKind = "ClusterSnapshot"

// Calico API groups the facts can come from.
const (
	// CalicoAPIServer is the Calico API server's aggregated API.
	CalicoAPIServer = "projectcalico.org/v3"
	// CalicoCRDs is the CRD storage Calico uses without its API server.
	CalicoCRDs = "crd.projectcalico.org/v1"
)

// Resources whose absence Facts.Missing records (resource.group, as
// kubectl names them).
const (
	ResourceNamespaces      = "namespaces"
	ResourceCronJobs        = "cronjobs.batch"
	ResourceNodes           = "nodes"
	ResourceNetworkPolicies = "networkpolicies.networking.k8s.io"
	// ResourceCalico stands for every Calico kind when neither Calico API
	// group is served; single kinds are recorded as "<plural>.<group>".
	ResourceCalico = "calico"
)

// NamespacesOnly is the reason recorded for what a Namespace list lacks
// (other than CronJobs, which get NoCronJobFacts).
const NamespacesOnly = "only namespaces were given (--namespace-file)"

// NoCronJobFacts is the reason CronJob gates are unmet when only namespaces
// (or nothing) are known.
const NoCronJobFacts = "no CronJob facts: pass --cluster or a kubeconfig"

// Facts are what calico-plan knows about a cluster beyond flow logs:
// namespaces and their labels, CronJobs, node addresses, and the policies
// already there. They come from a live cluster (Read), a snapshot file
// (LoadSnapshot) or a Namespace list (FromNamespaceLabels).
type Facts struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	// CalicoAPI is the API group Calico objects were read from
	// (projectcalico.org/v3 or crd.projectcalico.org/v1); empty when none.
	CalicoAPI       string          `json:"calicoAPI,omitempty"`
	Namespaces      []Namespace     `json:"namespaces"`
	CronJobs        []CronJob       `json:"cronJobs,omitempty"`
	Nodes           []Node          `json:"nodes,omitempty"`
	NetworkPolicies []NetworkPolicy `json:"networkPolicies,omitempty"`
	CalicoObjects   []CalicoObject  `json:"calicoObjects,omitempty"`
	// Missing lists what could not be read; the gates that need it count
	// as unmet.
	Missing []Missing `json:"missing,omitempty"`
	// Predicted is set on the facts 'calico-plan snapshot --apply' wrote:
	// policy files applied offline on a snapshot, a prediction of what the
	// cluster will report once they are applied, not a reading of it.
	Predicted *Prediction `json:"predicted,omitempty"`

	// Source says where the facts came from (not written to snapshots).
	Source string `json:"-"`
}

// Prediction says what predicted facts were made from.
type Prediction struct {
	// From is where the facts the files were applied to came from (their
	// Source: "snapshot FILE", "cluster HOST", or an earlier prediction).
	From string `json:"from"`
	// Applied are the paths of the files applied, in order.
	Applied []string `json:"applied"`
}

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// CronJob is a batch/v1 CronJob reduced to what the rollout gates need.
type CronJob struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Schedule  string `json:"schedule"`
	// TimeZone is spec.timeZone (empty: the controller's zone, UTC on
	// managed control planes and most kubeadm clusters).
	TimeZone string `json:"timeZone,omitempty"`
	Suspend  bool   `json:"suspend,omitempty"`
	// PodPattern is the name Calico reports for the CronJob's pods: its
	// Jobs are named <cronjob>-<scheduled time in Unix minutes>, their
	// pods <job>-<random>, aggregated to "<cronjob>-<minutes>-*".
	PodPattern string `json:"podPattern"`
}

// Node is a node and its InternalIP addresses.
type Node struct {
	Name        string   `json:"name"`
	InternalIPs []string `json:"internalIPs,omitempty"`
}

// NetworkPolicy is an existing networking.k8s.io/v1 NetworkPolicy.
type NetworkPolicy struct {
	Namespace string                         `json:"namespace"`
	Name      string                         `json:"name"`
	Spec      networkingv1.NetworkPolicySpec `json:"spec"`
}

// CalicoObject is an existing Calico object (policy, tier or network set)
// with its spec as read (JSON form).
type CalicoObject struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Spec      map[string]any    `json:"spec,omitempty"`
}

// Missing records a resource that could not be read and why.
type Missing struct {
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
	// Affects names what counts as unmet or unknown because of it.
	Affects string `json:"affects,omitempty"`
}

// What each optional resource feeds.
var affects = map[string]string{
	ResourceCronJobs:        "CronJob gates (observe → staged) count as unmet",
	ResourceNodes:           "host peers render as the profile's node ranges",
	ResourceNetworkPolicies: "existing Kubernetes NetworkPolicies are unknown",
	ResourceCalico:          "existing Calico policies, the observe policy's selector and network sets are unknown",
}

// AffectsOf says what a missing resource makes unknown.
func AffectsOf(resource string) string {
	if a, ok := affects[resource]; ok {
		return a
	}
	return affects[ResourceCalico]
}

// New returns empty facts of the current version.
func New() *Facts { return &Facts{Kind: SnapshotKind, Version: FactsVersion} }

// FromNamespaceLabels builds facts from namespaces alone (a --namespaces
// file). Everything else is recorded as missing, so CronJob gates count as
// unmet with NoCronJobFacts.
func FromNamespaceLabels(nl NamespaceLabels, source string) *Facts {
	f := New()
	f.Source = source
	for _, name := range nl.Names() {
		f.Namespaces = append(f.Namespaces, Namespace{Name: name, Labels: copyLabels(nl[name])})
	}
	for _, r := range []string{ResourceCronJobs, ResourceNodes, ResourceNetworkPolicies, ResourceCalico} {
		reason := NamespacesOnly
		if r == ResourceCronJobs {
			reason = NoCronJobFacts
		}
		f.AddMissing(r, reason)
	}
	f.Normalize()
	return f
}

func copyLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// AddMissing records a resource that could not be read (once).
func (f *Facts) AddMissing(resource, reason string) {
	for _, m := range f.Missing {
		if m.Resource == resource {
			return
		}
	}
	f.Missing = append(f.Missing, Missing{Resource: resource, Reason: reason, Affects: AffectsOf(resource)})
}

// MissingReason reports whether a resource is missing, and why.
func (f *Facts) MissingReason(resource string) (string, bool) {
	if f == nil {
		return NoCronJobFacts, true
	}
	for _, m := range f.Missing {
		if m.Resource == resource {
			return m.Reason, true
		}
	}
	return "", false
}

// Normalize sorts every list so that equal facts encode to equal bytes.
func (f *Facts) Normalize() {
	sort.Slice(f.Namespaces, func(i, j int) bool { return f.Namespaces[i].Name < f.Namespaces[j].Name })
	sort.Slice(f.CronJobs, func(i, j int) bool {
		a, b := f.CronJobs[i], f.CronJobs[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	for i := range f.Nodes {
		sort.Strings(f.Nodes[i].InternalIPs)
	}
	sort.Slice(f.Nodes, func(i, j int) bool { return f.Nodes[i].Name < f.Nodes[j].Name })
	sort.Slice(f.NetworkPolicies, func(i, j int) bool {
		a, b := f.NetworkPolicies[i], f.NetworkPolicies[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	sort.Slice(f.CalicoObjects, func(i, j int) bool {
		a, b := f.CalicoObjects[i], f.CalicoObjects[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	sort.Slice(f.Missing, func(i, j int) bool { return f.Missing[i].Resource < f.Missing[j].Resource })
}

// NamespaceLabels returns the namespaces and their labels.
func (f *Facts) NamespaceLabels() NamespaceLabels {
	if f == nil {
		return nil
	}
	out := NamespaceLabels{}
	for _, n := range f.Namespaces {
		l := copyLabels(n.Labels)
		if l == nil {
			l = map[string]string{}
		}
		out[n.Name] = l
	}
	return out
}

// Namespace returns a namespace's facts.
func (f *Facts) Namespace(name string) (Namespace, bool) {
	if f != nil {
		for _, n := range f.Namespaces {
			if n.Name == name {
				return n, true
			}
		}
	}
	return Namespace{}, false
}

// CronJobsIn returns the CronJobs of a namespace, sorted by name.
func (f *Facts) CronJobsIn(ns string) []CronJob {
	if f == nil {
		return nil
	}
	var out []CronJob
	for _, c := range f.CronJobs {
		if c.Namespace == ns {
			out = append(out, c)
		}
	}
	return out
}

// HasCronJobFacts reports whether CronJobs were read; the reason says why
// not.
func (f *Facts) HasCronJobFacts() (bool, string) {
	if f == nil {
		return false, NoCronJobFacts
	}
	if r, missing := f.MissingReason(ResourceCronJobs); missing {
		return false, r
	}
	return true, ""
}

// NodeIPs maps node names to their InternalIPs (render.Facts.NodeIPs).
func (f *Facts) NodeIPs() map[string][]netip.Addr {
	if f == nil {
		return nil
	}
	out := map[string][]netip.Addr{}
	for _, n := range f.Nodes {
		for _, s := range n.InternalIPs {
			if a, err := netip.ParseAddr(s); err == nil {
				out[n.Name] = append(out[n.Name], a)
			}
		}
	}
	return out
}

// NetworkSetNets maps "namespace/name" (NetworkSet) and "name"
// (GlobalNetworkSet) to the set's nets (render.Facts.NetworkSetNets).
func (f *Facts) NetworkSetNets() map[string][]string {
	if f == nil {
		return nil
	}
	out := map[string][]string{}
	for _, o := range f.CalicoObjects {
		var key string
		switch o.Kind {
		case "NetworkSet":
			key = o.Namespace + "/" + o.Name
		case "GlobalNetworkSet":
			key = o.Name
		default:
			continue
		}
		list, _ := o.Spec["nets"].([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				out[key] = append(out[key], s)
			}
		}
	}
	return out
}

// CalicoObject finds a Calico object by kind and name; for the default
// tier, a "default."-prefixed name matches too (CRD storage may carry it).
func (f *Facts) CalicoObject(kind, namespace, name string) (CalicoObject, bool) {
	if f == nil {
		return CalicoObject{}, false
	}
	for _, o := range f.CalicoObjects {
		if o.Kind == kind && o.Namespace == namespace && (o.Name == name || o.Name == "default."+name) {
			return o, true
		}
	}
	return CalicoObject{}, false
}

// PodPatternFor is the pod name Calico reports for a CronJob's pods.
func PodPatternFor(cronJob string) string { return cronJob + "-<unix-minutes>-*" }

// jobSuffix is what follows "<cronjob>-" in a Job pod's name: the Job's
// scheduled time in Unix minutes (8 digits until the 22nd century), then
// the pod's random suffix, Calico's "*", or nothing.
var jobSuffix = regexp.MustCompile(`^[0-9]{8,}(-|\*|$)`)

// MatchesWorkload reports whether a workload name as Calico reports it
// (name_aggr "<cronjob>-29391660-*", or a full pod name) belongs to one of
// the CronJob's Jobs.
func (c CronJob) MatchesWorkload(w string) bool {
	rest, ok := strings.CutPrefix(w, c.Name+"-")
	return ok && jobSuffix.MatchString(rest)
}

// ParseSchedule parses a CronJob schedule the way the CronJob controller
// does: standard five fields or a descriptor (@weekly, @daily, @every 1h),
// in the given time zone (empty: UTC).
func ParseSchedule(schedule, timeZone string) (cron.Schedule, error) {
	s := strings.TrimSpace(schedule)
	if timeZone != "" {
		if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
			return nil, fmt.Errorf("schedule %q: TZ in the schedule is not allowed together with timeZone %q", schedule, timeZone)
		}
		if _, err := time.LoadLocation(timeZone); err != nil {
			return nil, fmt.Errorf("timeZone %q: unknown time zone", timeZone)
		}
		s = "CRON_TZ=" + timeZone + " " + s
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", schedule, err)
	}
	return sched, nil
}

// Runs returns the CronJob's scheduled run times in [from, to], at most
// max of them (max <= 0: no bound beyond 10000).
func (c CronJob) Runs(from, to time.Time, max int) ([]time.Time, error) {
	sched, err := ParseSchedule(c.Schedule, c.TimeZone)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 10000
	}
	var out []time.Time
	for t := sched.Next(from.Add(-time.Second)); !t.IsZero() && !t.After(to) && len(out) < max; t = sched.Next(t) {
		out = append(out, t.UTC())
	}
	return out, nil
}

// NthRunAfter returns the n-th (1-based) scheduled run at or after from;
// zero when the schedule never fires.
func (c CronJob) NthRunAfter(from time.Time, n int) (time.Time, error) {
	sched, err := ParseSchedule(c.Schedule, c.TimeZone)
	if err != nil {
		return time.Time{}, err
	}
	t := from.Add(-time.Second)
	for i := 0; i < n; i++ {
		if t = sched.Next(t); t.IsZero() {
			return time.Time{}, nil
		}
	}
	return t.UTC(), nil
}
