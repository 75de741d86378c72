package flows

import (
	"strconv"

	"github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// GoldmaneFieldError reports a Goldmane flow field this build cannot map:
// an enum value it does not know (a newer Calico) or an out-of-range number.
// Callers count and report these; one bad flow is never fatal.
type GoldmaneFieldError struct {
	// Field is the proto path, e.g. "Key.dest_type" or
	// "Key.policies.pending_policies[1].trigger.kind".
	Field string
	// Value is the offending number, or Text the offending string (both
	// zero when Reason states the value).
	Value int64
	Text  string
	// Reason describes the problem.
	Reason string
}

func (e *GoldmaneFieldError) Error() string {
	if e.Value == 0 && e.Text == "" {
		return "goldmane flow: " + e.Field + ": " + e.Reason
	}
	v := strconv.FormatInt(e.Value, 10)
	if e.Text != "" {
		v = strconv.Quote(e.Text)
	}
	return "goldmane flow: " + e.Field + ": " + e.Reason + " " + v
}

// FromGoldmane maps one Goldmane gRPC flow (Calico OSS v3.30+) to a Flow.
// See FillFromGoldmane.
func FromGoldmane(f *goldmanepb.Flow) (*Flow, error) {
	var out Flow
	if err := FillFromGoldmane(&out, f); err != nil {
		return nil, err
	}
	return &out, nil
}

// FillFromGoldmane overwrites *dst with the mapping of f, so that a caller
// streaming many flows can reuse one Flow. dst shares the label slices of f
// (strings are immutable; do not modify f's label slices afterwards). On
// error *dst is left in an unspecified state.
//
// Mapping:
//   - Names: Goldmane sends only the aggregated name. It becomes NameAggr for
//     every type. Name is left empty for a Network peer ("pub"/"pvt", like
//     the "-" of Enterprise flow logs) and for a pod prefix ("api-7d9c-*"),
//     and is the same value for host endpoints, NetworkSets and pods without
//     a generateName, where the aggregated name is the full name.
//   - "-" or empty namespaces and service fields become "".
//   - Labels: Goldmane always collects them, so they are never nil; an
//     endpoint without labels (always the case for Network) gets an empty,
//     non-nil slice.
//   - Enum values this build does not know produce a *GoldmaneFieldError.
func FillFromGoldmane(dst *Flow, f *goldmanepb.Flow) error {
	*dst = Flow{}
	if f == nil {
		return &GoldmaneFieldError{Field: "flow", Reason: "missing", Text: "nil"}
	}
	k := f.GetKey()
	if k == nil {
		return &GoldmaneFieldError{Field: "Key", Reason: "missing", Text: "nil"}
	}
	dst.Start, dst.End = f.GetStartTime(), f.GetEndTime()

	st, err := goldmaneEndpointType("Key.source_type", k.GetSourceType())
	if err != nil {
		return err
	}
	dt, err := goldmaneEndpointType("Key.dest_type", k.GetDestType())
	if err != nil {
		return err
	}
	fillGoldmaneEndpoint(&dst.Source, st, k.GetSourceName(), k.GetSourceNamespace(), f.GetSourceLabels())
	fillGoldmaneEndpoint(&dst.Dest, dt, k.GetDestName(), k.GetDestNamespace(), f.GetDestLabels())
	if dst.Dest.Port, err = goldmanePort("Key.dest_port", k.GetDestPort()); err != nil {
		return err
	}

	dst.Service.Namespace = dashEmpty(k.GetDestServiceNamespace())
	dst.Service.Name = dashEmpty(k.GetDestServiceName())
	dst.Service.PortName = dashEmpty(k.GetDestServicePortName())
	if dst.Service.Port, err = goldmanePort("Key.dest_service_port", k.GetDestServicePort()); err != nil {
		return err
	}

	if p := k.GetProto(); p != "" && p != "-" {
		proto, ok := ParseProtocol(p)
		if !ok {
			return &GoldmaneFieldError{Field: "Key.proto", Reason: "unknown protocol", Text: p}
		}
		dst.Proto = proto
	}

	switch r := k.GetReporter(); r {
	case goldmanepb.Reporter_ReporterUnspecified, goldmanepb.Reporter_Src, goldmanepb.Reporter_Dst:
		dst.Reporter = Reporter(r)
	default:
		return enumError("Key.reporter", int32(r))
	}
	if dst.Action, err = goldmaneAction("Key.action", k.GetAction()); err != nil {
		return err
	}

	if pt := k.GetPolicies(); pt != nil {
		if dst.Policies.Enforced, err = goldmaneHits("Key.policies.enforced_policies", pt.GetEnforcedPolicies()); err != nil {
			return err
		}
		if dst.Policies.Pending, err = goldmaneHits("Key.policies.pending_policies", pt.GetPendingPolicies()); err != nil {
			return err
		}
	}

	// Goldmane has no num_flows. Felix reports as live every connection
	// active during a bucket, so a connection open for an hour is live in
	// 240 buckets, and a List sums those: NumFlows counts the connections
	// started in the flow's window, each connection once. Connections that
	// were already open when an observation window began are counted by
	// the caller, which knows where the window begins (see
	// goldmane.OpenConnections).
	for _, c := range [...]struct {
		field string
		v     int64
	}{
		{"num_connections_started", f.GetNumConnectionsStarted()}, {"num_connections_live", f.GetNumConnectionsLive()},
		{"num_connections_completed", f.GetNumConnectionsCompleted()},
		{"bytes_in", f.GetBytesIn()}, {"bytes_out", f.GetBytesOut()},
		{"packets_in", f.GetPacketsIn()}, {"packets_out", f.GetPacketsOut()},
	} {
		if c.v < 0 {
			return &GoldmaneFieldError{Field: c.field, Reason: strconv.FormatInt(c.v, 10) + " is negative"}
		}
	}
	dst.NumFlows = f.GetNumConnectionsStarted()
	dst.Bytes = f.GetBytesIn() + f.GetBytesOut()
	dst.Packets = f.GetPacketsIn() + f.GetPacketsOut()
	// Impossible values (times, a zero port: Goldmane never aggregates
	// ports away) make the flow unmappable, like an unknown enum.
	if field, msg := dst.badValue(true); field != ffNone {
		return &GoldmaneFieldError{Field: goldmaneFieldNames[field], Reason: msg}
	}
	return nil
}

func fillGoldmaneEndpoint(e *Endpoint, t EndpointType, name, ns string, labels []string) {
	e.Type = t
	name = dashEmpty(name)
	e.NameAggr = name
	switch t {
	case EndpointNetwork:
		// "pub"/"pvt" name a class of addresses, not an endpoint.
	case EndpointWorkload:
		if name != "" && name[len(name)-1] != '*' {
			e.Name = name // a pod without generateName: the prefix is the name
		}
	default:
		e.Name = name
	}
	e.Namespace = dashEmpty(ns)
	if labels == nil {
		labels = []string{}
	}
	e.Labels = labels
}

func dashEmpty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func enumError(field string, v int32) *GoldmaneFieldError {
	return &GoldmaneFieldError{Field: field, Value: int64(v), Reason: "unknown enum value (newer Calico?)"}
}

func goldmaneEndpointType(field string, t goldmanepb.EndpointType) (EndpointType, error) {
	if t < goldmanepb.EndpointType_EndpointTypeUnspecified || t > goldmanepb.EndpointType_Network {
		return EndpointUnknown, enumError(field, int32(t))
	}
	return EndpointType(t), nil
}

func goldmaneAction(field string, a goldmanepb.Action) (Action, error) {
	if a < goldmanepb.Action_ActionUnspecified || a > goldmanepb.Action_Pass {
		return ActionUnknown, enumError(field, int32(a))
	}
	return Action(a), nil
}

func goldmanePort(field string, p int64) (uint16, error) {
	if p < 0 || p > 65535 {
		return 0, &GoldmaneFieldError{Field: field, Value: p, Reason: "port out of range"}
	}
	return uint16(p), nil
}

func goldmaneHits(field string, in []*goldmanepb.PolicyHit) ([]PolicyHit, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]PolicyHit, 0, len(in))
	for i, h := range in {
		if h == nil {
			continue
		}
		var ph PolicyHit
		if err := fillGoldmaneHit(&ph, h); err != nil {
			// Build the field path only on the error path.
			err.Field = field + "[" + strconv.Itoa(i) + "]." + err.Field
			return nil, err
		}
		out = append(out, ph)
	}
	for i := 1; i < len(out); i++ {
		if out[i].Index < out[i-1].Index {
			SortHits(out) // Goldmane usually sends them in order already
			break
		}
	}
	return out, nil
}

// fillGoldmaneHit returns an error whose Field is relative to the hit.
func fillGoldmaneHit(dst *PolicyHit, h *goldmanepb.PolicyHit) *GoldmaneFieldError {
	k := h.GetKind()
	// 0-10 are v3.30/v3.31; 11 (ClusterNetworkPolicy) is v3.32.
	if k < goldmanepb.PolicyKind_KindUnspecified || k > goldmanepb.PolicyKind_ClusterNetworkPolicy {
		return enumError("kind", int32(k))
	}
	a := h.GetAction()
	if a < goldmanepb.Action_ActionUnspecified || a > goldmanepb.Action_Pass {
		return enumError("action", int32(a))
	}
	*dst = PolicyHit{
		Index:     int(h.GetPolicyIndex()),
		Tier:      h.GetTier(),
		Kind:      PolicyKind(k),
		Namespace: h.GetNamespace(),
		Name:      h.GetName(),
		Action:    Action(a),
		RuleIndex: int(h.GetRuleIndex()),
	}
	if t := h.GetTrigger(); t != nil {
		dst.Trigger = new(PolicyHit)
		if err := fillGoldmaneHit(dst.Trigger, t); err != nil {
			err.Field = "trigger." + err.Field
			return err
		}
	}
	return nil
}
