// Package allowlist turns flows into per-namespace egress allowlists with
// evidence, keeps them in a reviewable store (one YAML file per namespace),
// and judges how stable each namespace's allowlist is.
package allowlist

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/flows"
)

// Peer kinds.
const (
	PeerDNS              = "dns"              // the cluster DNS (rendered from the profile)
	PeerNamespace        = "namespace"        // pods in a namespace (the own one included), optionally by labels
	PeerNetworkSet       = "networkset"       // a namespaced NetworkSet
	PeerGlobalNetworkSet = "globalnetworkset" // a GlobalNetworkSet
	PeerHost             = "host"             // a host endpoint (node)
	PeerPrivate          = "private"          // private (RFC 1918) network
	PeerPublic           = "public"           // public network
	// PeerSpecial is a special-purpose range (Name: its class, see
	// SpecialClasses): loopback, link-local, CGNAT, documentation,
	// broadcast, multicast, unique-local. Never public.
	PeerSpecial = "special"
)

var peerKindOrder = map[string]int{
	PeerDNS: 0, PeerNamespace: 1, PeerNetworkSet: 2, PeerGlobalNetworkSet: 3, PeerHost: 4, PeerPrivate: 5, PeerPublic: 6, PeerSpecial: 7,
}

// ValidPeerKind reports whether k is a known peer kind.
func ValidPeerKind(k string) bool { _, ok := peerKindOrder[k]; return ok }

// Peer is the destination side of an allowlist entry.
type Peer struct {
	Kind string `yaml:"kind" json:"kind"`
	// Namespace of a namespace or networkset peer.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Name of a networkset, globalnetworkset or host peer.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Labels select pods of a namespace peer (empty: every pod in it), or
	// are the labels of a network set peer.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Nets are the exact addresses seen (as CIDRs), when flows carried IPs.
	// Empty for a private/public peer means "any address of that class".
	Nets []string `yaml:"nets,omitempty" json:"nets,omitempty"`
}

// String is a compact human-readable form.
func (p Peer) String() string {
	var b strings.Builder
	b.WriteString(p.Kind)
	switch p.Kind {
	case PeerNamespace:
		b.WriteString(" " + p.Namespace)
		if len(p.Labels) > 0 {
			b.WriteString(" {" + LabelSelector(p.Labels) + "}")
		}
	case PeerNetworkSet:
		b.WriteString(" " + p.Namespace + "/" + p.Name)
	case PeerGlobalNetworkSet, PeerHost, PeerSpecial:
		if p.Name != "" {
			b.WriteString(" " + p.Name)
		}
	}
	if len(p.Nets) > 0 {
		b.WriteString(" " + strings.Join(p.Nets, ","))
	}
	return b.String()
}

// Summary is String with at most maxNets of the nets spelled out and the
// rest counted ("public 1.2.3.4/32,5.6.7.8/32 and 1,998 more"): for
// warnings and rule annotations of entries with many addresses.
func (p Peer) Summary(maxNets int) string {
	if len(p.Nets) <= maxNets {
		return p.String()
	}
	q := p
	q.Nets = p.Nets[:maxNets]
	return q.String() + " and " + FormatCount(int64(len(p.Nets)-maxNets)) + " more"
}

// FormatCount writes an integer with thousands separators (1,234,567).
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// LabelSelector renders labels as a Calico selector ("a == 'x' && b == 'y'"),
// keys sorted.
func LabelSelector(labels map[string]string) string {
	keys := sortedKeys(labels)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " == '" + labels[k] + "'"
	}
	return strings.Join(parts, " && ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PortSpec is a protocol and destination port. Port 0 on a port-carrying
// protocol means the port was not recorded (aggregation level 3): the rule
// then covers every port of the protocol.
type PortSpec struct {
	Proto flows.Protocol
	Port  uint16
}

// AnyPort reports whether the spec covers every port of its protocol.
func (p PortSpec) AnyPort() bool { return p.Port == 0 }

// String renders "TCP/5432", "UDP/53", "TCP/*" (any port) or "ICMP".
func (p PortSpec) String() string {
	if !p.Proto.HasPorts() {
		return p.Proto.CalicoName()
	}
	if p.Port == 0 {
		return p.Proto.CalicoName() + "/*"
	}
	return p.Proto.CalicoName() + "/" + strconv.Itoa(int(p.Port))
}

// ParsePortSpec parses the String form.
func ParsePortSpec(s string) (PortSpec, error) {
	proto, port, hasPort := strings.Cut(s, "/")
	pr, ok := flows.ParseProtocol(proto)
	if !ok {
		return PortSpec{}, fmt.Errorf("port %q: unknown protocol %q", s, proto)
	}
	ps := PortSpec{Proto: pr}
	if !pr.HasPorts() {
		if hasPort {
			return PortSpec{}, fmt.Errorf("port %q: protocol %s has no ports", s, proto)
		}
		return ps, nil
	}
	if !hasPort {
		return PortSpec{}, fmt.Errorf("port %q: want PROTO/PORT or PROTO/*", s)
	}
	if port == "*" {
		return ps, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return PortSpec{}, fmt.Errorf("port %q: %q is not 1-65535 or *", s, port)
	}
	ps.Port = uint16(n)
	return ps, nil
}

// Less orders specs by protocol, then port.
func (p PortSpec) Less(q PortSpec) bool {
	if p.Proto != q.Proto {
		return p.Proto < q.Proto
	}
	return p.Port < q.Port
}

// Time is a UTC timestamp with second precision, written as RFC 3339.
type Time int64

// T converts to time.Time (UTC).
func (t Time) T() time.Time { return time.Unix(int64(t), 0).UTC() }

// IsZero reports whether the time is unset.
func (t Time) IsZero() bool { return t == 0 }

// String renders RFC 3339 ("" when unset).
func (t Time) String() string {
	if t == 0 {
		return ""
	}
	return t.T().Format(time.RFC3339)
}

// MarshalYAML implements yaml.Marshaler.
func (t Time) MarshalYAML() (any, error) { return t.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *Time) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "" {
		*t = 0
		return nil
	}
	v, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not an RFC 3339 time", n.Line, n.Value)
	}
	*t = Time(v.Unix())
	return nil
}

// MarshalJSON renders the RFC 3339 string.
func (t Time) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(t.String())), nil }

// UnmarshalJSON reads the RFC 3339 string ("" is unset).
func (t *Time) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("time: want a quoted RFC 3339 string, got %s", b)
	}
	if s == "" {
		*t = 0
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	*t = Time(v.Unix())
	return nil
}

// Day is a UTC calendar day, counted from the Unix epoch.
type Day int32

// DayOf returns the UTC day of a Unix time.
func DayOf(unix int64) Day {
	d := unix / 86400
	if unix < 0 && unix%86400 != 0 {
		d--
	}
	return Day(d)
}

// String renders YYYY-MM-DD.
func (d Day) String() string { return time.Unix(int64(d)*86400, 0).UTC().Format("2006-01-02") }

// DaySet is a sorted set of days.
type DaySet []Day

// Add inserts a day, keeping the set sorted.
func (s *DaySet) Add(d Day) {
	v := *s
	n := len(v)
	if n > 0 && v[n-1] == d {
		return
	}
	if n == 0 || v[n-1] < d {
		*s = append(v, d)
		return
	}
	i := sort.Search(n, func(i int) bool { return v[i] >= d })
	if v[i] == d {
		return
	}
	v = append(v, 0)
	copy(v[i+1:], v[i:])
	v[i] = d
	*s = v
}

// AddRange inserts every day from a to b inclusive.
func (s *DaySet) AddRange(a, b Day) {
	for d := a; d <= b; d++ {
		s.Add(d)
	}
}

// Union adds every day of o.
func (s *DaySet) Union(o DaySet) {
	for _, d := range o {
		s.Add(d)
	}
}

// Contains reports membership.
func (s DaySet) Contains(d Day) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i] >= d })
	return i < len(s) && s[i] == d
}

// MarshalYAML writes runs of consecutive days as "FROM..TO".
func (s DaySet) MarshalYAML() (any, error) {
	out := []string{}
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if i == j {
			out = append(out, s[i].String())
		} else {
			out = append(out, s[i].String()+".."+s[j].String())
		}
		i = j + 1
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range out {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
	}
	return n, nil
}

// MarshalJSON writes the same ranges as YAML does.
func (s DaySet) MarshalJSON() ([]byte, error) {
	n, _ := s.MarshalYAML()
	parts := []string{}
	for _, c := range n.(*yaml.Node).Content {
		parts = append(parts, strconv.Quote(c.Value))
	}
	return []byte("[" + strings.Join(parts, ",") + "]"), nil
}

// UnmarshalYAML reads the range form.
func (s *DaySet) UnmarshalYAML(n *yaml.Node) error {
	var items []string
	if err := n.Decode(&items); err != nil {
		return err
	}
	if err := s.parse(items); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// UnmarshalJSON reads the range form.
func (s *DaySet) UnmarshalJSON(b []byte) error {
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	return s.parse(items)
}

func (s *DaySet) parse(items []string) error {
	*s = nil
	for _, it := range items {
		a, b, isRange := strings.Cut(it, "..")
		da, err := parseDay(a)
		if err != nil {
			return fmt.Errorf("days: %w", err)
		}
		db := da
		if isRange {
			if db, err = parseDay(b); err != nil {
				return fmt.Errorf("days: %w", err)
			}
			if db < da || db-da > 3660 {
				return fmt.Errorf("days: bad range %q", it)
			}
		}
		s.AddRange(da, db)
	}
	return nil
}

func parseDay(s string) (Day, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a YYYY-MM-DD date", s)
	}
	return DayOf(t.Unix()), nil
}

// Evidence is what was observed for one port of an entry.
type Evidence struct {
	Flows     int64  `yaml:"flows" json:"flows"`
	Bytes     int64  `yaml:"bytes" json:"bytes"`
	FirstSeen Time   `yaml:"firstSeen" json:"firstSeen"`
	LastSeen  Time   `yaml:"lastSeen" json:"lastSeen"`
	Days      DaySet `yaml:"days" json:"days"`
	// LastNewAddress is when an address outside the entry's earlier nets
	// was last seen first (entries with nets only).
	LastNewAddress Time `yaml:"lastNewAddress,omitempty" json:"lastNewAddress,omitempty"`
}

// Merge folds o into e. Sums add; times, day sets and addresses are
// semilattices, so merging is associative and commutative.
func (e *Evidence) Merge(o Evidence) {
	e.Flows += o.Flows
	e.Bytes += o.Bytes
	if e.FirstSeen == 0 || (o.FirstSeen != 0 && o.FirstSeen < e.FirstSeen) {
		e.FirstSeen = o.FirstSeen
	}
	if o.LastSeen > e.LastSeen {
		e.LastSeen = o.LastSeen
	}
	if o.LastNewAddress > e.LastNewAddress {
		e.LastNewAddress = o.LastNewAddress
	}
	e.Days.Union(o.Days)
}

// PortEvidence is one port of an entry with its evidence.
type PortEvidence struct {
	Port     string `yaml:"port" json:"port"`
	Evidence `yaml:",inline" json:",inline"`
}

// Entry is one peer of a namespace's allowlist with the ports used and the
// evidence for each.
type Entry struct {
	Peer  Peer           `yaml:"peer" json:"peer"`
	Ports []PortEvidence `yaml:"ports" json:"ports"`
	// Workloads is a sample of source workloads (pod name prefixes).
	Workloads []string `yaml:"workloads,omitempty" json:"workloads,omitempty"`
	// Services names the Kubernetes Services the traffic was addressed to.
	Services []string `yaml:"services,omitempty" json:"services,omitempty"`
	// Folded is set when more distinct addresses were seen than
	// aggregation.maxAddresses, so observe widened the nets (fold.go).
	Folded *NetsFolded `yaml:"folded,omitempty" json:"folded,omitempty"`
	// Source is "packet-log" for evidence from kernel LOG lines (flows
	// counts connections: a 5-tuple once per dedup window), empty for flow
	// logs (Goldmane, Enterprise). The two are kept apart and never
	// summed; see addresses.go for how render combines them.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	// Domains are the names Calico Enterprise's DNS cache tied to the
	// destination addresses (flow logs' dest_domains): a hint, not proof,
	// used by render --domains. At most MaxDomains, the first in order.
	Domains []string `yaml:"domains,omitempty" json:"domains,omitempty"`
}

// MaxDomains bounds the domains kept per entry and port.
const MaxDomains = 64

// NormalizeDomain returns the domain in the form an entry keeps it (lower
// case, no trailing dot), or "" when it is not a DNS name a rule may carry:
// not a valid name (a leading "*." wildcard allowed), or a cluster-internal
// name (".svc.", ".cluster.local", ".local"), which Enterprise flow logs
// report for in-cluster Services under some cluster domains.
func NormalizeDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	name := strings.TrimPrefix(d, "*.")
	if name == "" || len(validation.IsDNS1123Subdomain(name)) > 0 || !strings.Contains(name, ".") {
		return ""
	}
	if strings.Contains("."+name+".", ".svc.") || strings.HasSuffix(name, ".cluster.local") || strings.HasSuffix(name, ".local") {
		return ""
	}
	return d
}

// SourcePacketLog is Entry.Source for packet-log evidence.
const SourcePacketLog = "packet-log"

// originOf maps Entry.Source to a key origin.
func originOf(source string) flows.Origin {
	if source == SourcePacketLog {
		return flows.OriginPacketLog
	}
	return flows.OriginFlowLog
}

func sourceOf(o flows.Origin) string {
	if o == flows.OriginPacketLog {
		return SourcePacketLog
	}
	return ""
}

// Total sums the evidence of every port.
func (e Entry) Total() Evidence {
	var t Evidence
	for _, p := range e.Ports {
		t.Merge(p.Evidence)
	}
	return t
}

// PortSpecs parses the entry's ports.
func (e Entry) PortSpecs() ([]PortSpec, error) {
	out := make([]PortSpec, 0, len(e.Ports))
	for _, p := range e.Ports {
		ps, err := ParsePortSpec(p.Port)
		if err != nil {
			return nil, err
		}
		out = append(out, ps)
	}
	return out, nil
}

// Prefixes parses the peer's nets.
func (p Peer) Prefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(p.Nets))
	for _, n := range p.Nets {
		pr, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("peer nets: %q is not a CIDR", n)
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}
