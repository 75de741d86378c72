package policy

import "strconv"

// Protocol is an IANA IP protocol number (the same numbering as
// flows.Protocol, so a flows.Protocol converts with a cast); 0 means
// unknown.
type Protocol uint8

const (
	ProtoICMP    Protocol = 1
	ProtoTCP     Protocol = 6
	ProtoUDP     Protocol = 17
	ProtoICMPv6  Protocol = 58
	ProtoSCTP    Protocol = 132
	ProtoUDPLite Protocol = 136
)

// String returns Calico's spelling (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or
// the number.
func (p Protocol) String() string {
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
	case 0:
		return ""
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether Calico matches ports for the protocol.
func (p Protocol) HasPorts() bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoSCTP || p == ProtoUDPLite
}

// EndpointKind is the kind of a flow endpoint. The values match
// flows.EndpointType (and Goldmane's enum), so a flows.EndpointType converts
// with a cast.
type EndpointKind uint8

const (
	EndpointUnknown    EndpointKind = 0
	EndpointWorkload   EndpointKind = 1 // a pod (workload endpoint)
	EndpointHost       EndpointKind = 2 // a host endpoint
	EndpointNetworkSet EndpointKind = 3 // a NetworkSet or GlobalNetworkSet
	EndpointNetwork    EndpointKind = 4 // an address no endpoint or set stands for
)

// String returns the flow-log spelling: wep, hep, ns, net ("-" when unknown).
func (k EndpointKind) String() string {
	switch k {
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
