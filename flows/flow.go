// Package flows holds calico-plan's normalized flow model, the decoders for
// every Calico flow-log format (Calico Enterprise flow logs and Elasticsearch
// documents, Goldmane in its three JSON encodings, Whisker) and the sources
// that read them.
//
// Every source produces Flow values; nothing downstream knows which format a
// flow came from.
//
// The JSON decoders are hand-written scanners, not encoding/json: flow logs
// run to gigabytes, and decoding in place from the read chunks, with
// interned strings and label slices shared between records, keeps observe at
// about one allocation per record (BenchmarkDecode, BenchmarkObserve; the
// README's Performance table). The Calico Enterprise decoder's main loop is
// kept whole on purpose: splitting it cost about 5% per record
// (hack/lint/complexity-exclude.txt has the figures).
package flows

import (
	"net/netip"
	"strconv"
	"strings"
)

// EndpointType is the kind of a flow endpoint. The numeric values match
// Goldmane's EndpointType enum.
type EndpointType uint8

const (
	EndpointUnknown    EndpointType = 0
	EndpointWorkload   EndpointType = 1 // "wep": a pod
	EndpointHost       EndpointType = 2 // "hep": a host endpoint
	EndpointNetworkSet EndpointType = 3 // "ns": a NetworkSet or GlobalNetworkSet
	EndpointNetwork    EndpointType = 4 // "net": an address no endpoint or set covers
)

// String returns the flow-log spelling: wep, hep, ns, net ("-" when unknown).
func (t EndpointType) String() string {
	switch t {
	case EndpointWorkload:
		return "wep"
	case EndpointHost:
		return "hep"
	case EndpointNetworkSet:
		return "ns"
	case EndpointNetwork:
		return "net"
	}
	return "-"
}

// ParseEndpointType accepts the flow-log spelling (wep, hep, ns, net) and the
// Goldmane enum names (WorkloadEndpoint, HostEndpoint, NetworkSet, Network).
func ParseEndpointType(s string) (EndpointType, bool) {
	switch s {
	case "wep", "WorkloadEndpoint":
		return EndpointWorkload, true
	case "hep", "HostEndpoint":
		return EndpointHost, true
	case "ns", "NetworkSet":
		return EndpointNetworkSet, true
	case "net", "Network":
		return EndpointNetwork, true
	case "EndpointTypeUnspecified":
		return EndpointUnknown, true
	}
	return EndpointUnknown, false
}

// Action is a policy verdict. The numeric values match Goldmane's Action enum.
type Action uint8

const (
	ActionUnknown Action = 0
	ActionAllow   Action = 1
	ActionDeny    Action = 2
	ActionPass    Action = 3
)

// String returns the lower-case flow-log spelling.
func (a Action) String() string {
	switch a {
	case ActionAllow:
		return "allow"
	case ActionDeny:
		return "deny"
	case ActionPass:
		return "pass"
	}
	return "-"
}

// ParseAction accepts allow/deny/pass in any case and Goldmane's
// ActionUnspecified.
func ParseAction(s string) (Action, bool) {
	switch s {
	case "allow", "Allow", "ALLOW":
		return ActionAllow, true
	case "deny", "Deny", "DENY":
		return ActionDeny, true
	case "pass", "Pass", "PASS":
		return ActionPass, true
	case "ActionUnspecified":
		return ActionUnknown, true
	}
	return ActionUnknown, false
}

// Reporter says which endpoint's Felix reported a flow. The numeric values
// match Goldmane's Reporter enum.
type Reporter uint8

const (
	ReporterUnknown Reporter = 0
	ReporterSrc     Reporter = 1
	ReporterDst     Reporter = 2
)

// String returns src, dst or "-".
func (r Reporter) String() string {
	switch r {
	case ReporterSrc:
		return "src"
	case ReporterDst:
		return "dst"
	}
	return "-"
}

// ParseReporter accepts src/dst and Goldmane's Src/Dst/ReporterUnspecified.
func ParseReporter(s string) (Reporter, bool) {
	switch s {
	case "src", "Src":
		return ReporterSrc, true
	case "dst", "Dst":
		return ReporterDst, true
	case "ReporterUnspecified":
		return ReporterUnknown, true
	}
	return ReporterUnknown, false
}

// Protocol is an IANA IP protocol number; 0 means unknown. It is the one
// protocol type of the module (flows, allowlists, the policy evaluator and
// diff), with both spellings: String gives the flow-log one ("tcp",
// "icmp6"), CalicoName the one a Calico rule takes ("TCP", "ICMPv6").
type Protocol uint8

const (
	ProtoICMP    Protocol = 1
	ProtoIPIP    Protocol = 4
	ProtoTCP     Protocol = 6
	ProtoUDP     Protocol = 17
	ProtoESP     Protocol = 50
	ProtoICMPv6  Protocol = 58
	ProtoSCTP    Protocol = 132
	ProtoUDPLite Protocol = 136
)

var protoNames = map[Protocol]string{
	ProtoICMP: "icmp", ProtoIPIP: "ipip", ProtoTCP: "tcp", ProtoUDP: "udp",
	ProtoESP: "esp", ProtoICMPv6: "icmp6", ProtoSCTP: "sctp", ProtoUDPLite: "udplite",
}

// String returns the flow-log spelling (tcp, udp, icmp, icmp6, sctp, ...) or
// the decimal number.
func (p Protocol) String() string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(int(p))
}

// CalicoName returns the spelling a Calico rule's protocol field takes
// (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or the decimal number.
func (p Protocol) CalicoName() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoICMP:
		return "ICMP"
	case ProtoICMPv6:
		return "ICMPv6"
	case ProtoSCTP:
		return "SCTP"
	case ProtoUDPLite:
		return "UDPLite"
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether the protocol carries port numbers.
func (p Protocol) HasPorts() bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoSCTP || p == ProtoUDPLite
}

// ParseCalicoProtocolName reads a protocol name as a Calico rule's
// protocol field spells it: TCP, UDP, ICMP, ICMPv6, SCTP or UDPLite. Calico
// matches the names case-sensitively; a name that matches only in another
// case is still returned, with exact false, so callers can say so.
func ParseCalicoProtocolName(s string) (p Protocol, exact, ok bool) {
	switch s {
	case "TCP":
		return ProtoTCP, true, true
	case "UDP":
		return ProtoUDP, true, true
	case "ICMP":
		return ProtoICMP, true, true
	case "ICMPv6":
		return ProtoICMPv6, true, true
	case "SCTP":
		return ProtoSCTP, true, true
	case "UDPLite":
		return ProtoUDPLite, true, true
	}
	switch strings.ToLower(s) {
	case "tcp":
		return ProtoTCP, false, true
	case "udp":
		return ProtoUDP, false, true
	case "icmp":
		return ProtoICMP, false, true
	case "icmpv6":
		return ProtoICMPv6, false, true
	case "sctp":
		return ProtoSCTP, false, true
	case "udplite":
		return ProtoUDPLite, false, true
	}
	return 0, false, false
}

// ParseProtocol accepts a protocol name in any case (tcp, UDP, icmp6,
// ICMPv6, ...) or a decimal number 1-255.
func ParseProtocol(s string) (Protocol, bool) {
	switch s {
	case "tcp", "TCP":
		return ProtoTCP, true
	case "udp", "UDP":
		return ProtoUDP, true
	}
	switch strings.ToLower(s) {
	case "icmp":
		return ProtoICMP, true
	case "icmp6", "icmpv6", "ipv6-icmp":
		return ProtoICMPv6, true
	case "sctp":
		return ProtoSCTP, true
	case "udplite":
		return ProtoUDPLite, true
	case "ipip":
		return ProtoIPIP, true
	case "esp":
		return ProtoESP, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 255 {
		return 0, false
	}
	return Protocol(n), true
}

// Endpoint is one side of a flow.
type Endpoint struct {
	Type EndpointType
	// Name is the full name (pod, host endpoint or set name); empty when the
	// flow log aggregated it away ("-").
	Name string
	// NameAggr is always set by Calico: "pub"/"pvt" for networks, a pod
	// prefix such as "api-7d9c-*" for pods, the set or host endpoint name.
	NameAggr string
	// Namespace is empty for non-namespaced endpoints ("-" in flow logs).
	Namespace string
	// Labels are "key=value" pairs as reported (the intersection across the
	// aggregated endpoints). Nil means labels were not collected; an empty,
	// non-nil slice means the endpoint has none (networks).
	Labels []string
	// IP is invalid when unknown (aggregated away, or a Goldmane flow).
	IP netip.Addr
	// Port is 0 when unknown.
	Port uint16
}

// Namespaced reports whether the endpoint belongs to a namespace.
func (e *Endpoint) Namespaced() bool { return e.Namespace != "" }

// Service is the Kubernetes Service a flow was addressed to before DNAT.
// All fields are empty when none was known ("-").
type Service struct {
	Namespace string
	Name      string
	PortName  string // "*" when several port names matched
	Port      uint16
}

// Known reports whether a service was recorded.
func (s Service) Known() bool { return s.Name != "" }

// Flow is one normalized flow record: a connection summary between two
// endpoints over a time window, as one reporter saw it.
type Flow struct {
	// Start and End bound the export window, in epoch seconds.
	Start, End int64

	Source, Dest Endpoint
	Service      Service
	Proto        Protocol
	// Action is the final enforced verdict.
	Action   Action
	Reporter Reporter
	Policies Trace
	// DestDomains are names Felix's DNS cache tied to the destination IP
	// (Calico Enterprise only); a hint, not proof.
	DestDomains []string

	// NumFlows counts connections active in the window (Calico Enterprise
	// num_flows; for Goldmane, connections started in it).
	NumFlows int64
	Bytes    int64 // in + out, relative to the reporter
	Packets  int64 // in + out

	// Origin says which kind of source the flow came from: flow logs
	// (Goldmane, Enterprise, Whisker) or kernel packet-log lines. The
	// store keeps the two apart (packet logs add addresses; flow logs stay
	// the source of counts and policy traces).
	Origin Origin
}

// Origin is the kind of source a flow came from.
type Origin uint8

const (
	// OriginFlowLog is a Calico flow log (Goldmane, Enterprise, Whisker).
	OriginFlowLog Origin = iota
	// OriginPacketLog is a kernel LOG line written by a Calico Log rule.
	OriginPacketLog
)

// String returns "flow-log" or "packet-log".
func (o Origin) String() string {
	if o == OriginPacketLog {
		return "packet-log"
	}
	return "flow-log"
}

// Trace holds a flow's policy hits: the enforced (dataplane) trace and the
// pending trace, which treats staged policies as enforced.
type Trace struct {
	Enforced []PolicyHit
	Pending  []PolicyHit
}
