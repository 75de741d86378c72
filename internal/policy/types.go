package policy

import (
	"strconv"

	"github.com/calico-plan/calico-plan/flows"
)

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

// EndpointKind is the kind of a flow endpoint: the flow model's type.
type EndpointKind = flows.EndpointType

// Endpoint kinds.
const (
	EndpointUnknown    = flows.EndpointUnknown
	EndpointWorkload   = flows.EndpointWorkload   // a pod (workload endpoint)
	EndpointHost       = flows.EndpointHost       // a host endpoint
	EndpointNetworkSet = flows.EndpointNetworkSet // a NetworkSet or GlobalNetworkSet
	EndpointNetwork    = flows.EndpointNetwork    // an address no endpoint or set stands for
)
