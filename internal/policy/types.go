package policy

import (
	"github.com/calico-plan/calico-plan/flows"
)

// Protocol is the flow model's protocol (an IANA protocol number; 0
// unknown). Calico's spelling is CalicoName.
type Protocol = flows.Protocol

// Protocols Calico rules name.
const (
	ProtoICMP    = flows.ProtoICMP
	ProtoTCP     = flows.ProtoTCP
	ProtoUDP     = flows.ProtoUDP
	ProtoICMPv6  = flows.ProtoICMPv6
	ProtoSCTP    = flows.ProtoSCTP
	ProtoUDPLite = flows.ProtoUDPLite
)

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
