package policy

import (
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

// FromFlow converts a flow-log record into the connection the evaluator
// replays: endpoint kinds, namespaces, names and labels ("key=value" pairs
// parsed with selector.FromKV), IPs, ports, protocol and the destination
// Service.
//
// An endpoint without an IP gets an address class instead, so that nets
// matches can still be decided where the class allows (see NetClass): a
// network named "pub" or "pvt" (Goldmane, aggregated flow logs) gets
// NetClassPublic or NetClassPrivate, a pod NetClassPod and a host endpoint
// NetClassNode. Named ports and service accounts are not in flow logs, so
// NamedPorts is nil (unknown) and ServiceAccount empty; ICMP type and code
// are unknown.
func FromFlow(f *flows.Flow) Flow {
	return Flow{
		Src:        endpointFromFlow(&f.Source),
		Dst:        endpointFromFlow(&f.Dest),
		Proto:      f.Proto,
		SrcPort:    f.Source.Port,
		DstPort:    f.Dest.Port,
		DstService: ServiceRef{Namespace: f.Service.Namespace, Name: f.Service.Name},
	}
}

func endpointFromFlow(e *flows.Endpoint) Endpoint {
	ep := Endpoint{
		Kind:      e.Type,
		Namespace: e.Namespace,
		Name:      e.Name,
		IP:        e.IP.Unmap(),
	}
	if ep.Name == "" {
		ep.Name = e.NameAggr
	}
	if len(e.Labels) > 0 {
		ep.Labels = selector.FromKV(e.Labels)
	}
	if !ep.IP.IsValid() {
		ep.Class = ClassOf(e)
	}
	return ep
}

// ClassOf returns the address class a flow endpoint without an IP belongs
// to: pub/pvt networks by their aggregated name, pods and host endpoints by
// their kind; NetClassNone otherwise (network sets, unknown networks).
func ClassOf(e *flows.Endpoint) NetClass {
	switch e.Type {
	case flows.EndpointNetwork:
		switch e.NameAggr {
		case "pub":
			return NetClassPublic
		case "pvt":
			return NetClassPrivate
		}
	case flows.EndpointWorkload:
		return NetClassPod
	case flows.EndpointHost:
		return NetClassNode
	}
	return NetClassNone
}
