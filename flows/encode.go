package flows

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Encoders for the synthetic demo datasets and round-trip tests. Output is
// deterministic: fixed key order, no maps, one line per flow.

var encBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// WriteEnterpriseJSON writes f as one Calico Enterprise flows.log JSON line
// (flow-logs.md §2.3), newline-terminated, with every field of the Flow
// model and the placeholders Felix uses: "-" for empty names, namespaces
// and service fields, null for unknown IPs and ports, labels as
// {"labels":[...]} (null when nil), and traces as generation-2 legacy
// strings in enforced_policies and pending_policies. Hits that have no
// legacy spelling (ClusterNetworkPolicy, EndOfTier without a trigger) are
// written in the kind-prefixed generation-3 form; an EndOfTier hit with a
// trigger is written as its trigger with rule index -1, which is how
// Felix records it. Bytes and packets are split between *_in (the larger
// half) and *_out, since the model keeps only totals.
//
// Decoding the line gives f back, except that an empty non-nil DestDomains
// comes back nil and EndOfTier hits come back as their trigger policy.
func WriteEnterpriseJSON(w io.Writer, f *Flow) error {
	bp := encBufPool.Get().(*[]byte)
	defer encBufPool.Put(bp)
	b, err := AppendEnterpriseJSON((*bp)[:0], f)
	*bp = b[:0]
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// AppendEnterpriseJSON appends the line WriteEnterpriseJSON writes.
func AppendEnterpriseJSON(b []byte, f *Flow) ([]byte, error) {
	b = append(b, `{"start_time":`...)
	b = strconv.AppendInt(b, f.Start, 10)
	b = append(b, `,"end_time":`...)
	b = strconv.AppendInt(b, f.End, 10)
	b = appendEEEndpoint(b, "source", &f.Source)
	b = appendEEEndpoint(b, "dest", &f.Dest)
	b = append(b, `,"dest_service_namespace":`...)
	b = appendDash(b, f.Service.Namespace)
	b = append(b, `,"dest_service_name":`...)
	b = appendDash(b, f.Service.Name)
	b = append(b, `,"dest_service_port":`...)
	b = appendDash(b, f.Service.PortName)
	b = append(b, `,"dest_service_port_num":`...)
	b = appendPortOrNull(b, f.Service.Port)
	b = append(b, `,"dest_domains":`...)
	if len(f.DestDomains) == 0 {
		b = append(b, "null"...)
	} else {
		b = appendStringArray(b, f.DestDomains)
	}
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, f.Proto.String())
	b = append(b, `,"action":`...)
	b = appendJSONString(b, f.Action.String())
	b = append(b, `,"reporter":`...)
	b = appendJSONString(b, f.Reporter.String())
	b = append(b, `,"policies":{"enforced_policies":`...)
	var err error
	if b, err = appendLegacyTrace(b, f.Policies.Enforced); err != nil {
		return b, err
	}
	b = append(b, `,"pending_policies":`...)
	if b, err = appendLegacyTrace(b, f.Policies.Pending); err != nil {
		return b, err
	}
	b = append(b, `},"bytes_in":`...)
	b = strconv.AppendInt(b, f.Bytes-f.Bytes/2, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, f.Bytes/2, 10)
	b = append(b, `,"num_flows":`...)
	b = strconv.AppendInt(b, f.NumFlows, 10)
	b = append(b, `,"packets_in":`...)
	b = strconv.AppendInt(b, f.Packets-f.Packets/2, 10)
	b = append(b, `,"packets_out":`...)
	b = strconv.AppendInt(b, f.Packets/2, 10)
	b = append(b, "}\n"...)
	return b, nil
}

func appendEEEndpoint(b []byte, side string, e *Endpoint) []byte {
	b = append(b, `,"`...)
	b = append(b, side...)
	b = append(b, `_ip":`...)
	if e.IP.IsValid() {
		b = append(b, '"')
		b = e.IP.AppendTo(b)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	for _, kv := range [...]struct{ k, v string }{{"_name", e.Name}, {"_name_aggr", e.NameAggr}, {"_namespace", e.Namespace}} {
		b = append(b, `,"`...)
		b = append(b, side...)
		b = append(b, kv.k...)
		b = append(b, `":`...)
		b = appendDash(b, kv.v)
	}
	b = append(b, `,"`...)
	b = append(b, side...)
	b = append(b, `_port":`...)
	b = appendPortOrNull(b, e.Port)
	b = append(b, `,"`...)
	b = append(b, side...)
	b = append(b, `_type":`...)
	b = appendJSONString(b, e.Type.String())
	b = append(b, `,"`...)
	b = append(b, side...)
	b = append(b, `_labels":`...)
	if e.Labels == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"labels":`...)
		b = appendStringArray(b, e.Labels)
		b = append(b, '}')
	}
	return b
}

func appendDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, `"-"`...)
	}
	return appendJSONString(b, s)
}

func appendPortOrNull(b []byte, p uint16) []byte {
	if p == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, uint64(p), 10)
}

func appendStringArray(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendLegacyTrace(b []byte, hits []PolicyHit) ([]byte, error) {
	b = append(b, '[')
	for i, h := range hits {
		if i > 0 {
			b = append(b, ',')
		}
		s, err := LegacyTraceString(h)
		if err != nil {
			return b, err
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']'), nil
}

// LegacyTraceString renders a hit as a generation-2 trace string
// (flow-logs.md §3.2), falling back to the generation-3 form for kinds the
// legacy form cannot express. The result is checked by parsing it back; a
// hit neither form can carry (an empty tier, a name containing '|', an
// unknown kind) is an error.
func LegacyTraceString(h PolicyHit) (string, error) {
	p := h.Policy()
	p.Trigger = nil
	if p.Kind == KindProfile {
		p.Tier = ""
	}
	tier := p.Tier
	var name string
	switch p.Kind {
	case KindGlobalNetworkPolicy:
		name = tier + "." + p.Name
	case KindCalicoNetworkPolicy:
		name = p.Namespace + "/" + tier + "." + p.Name
	case KindKubernetesNetworkPolicy:
		name = p.Namespace + "/knp.default." + p.Name
	case KindStagedGlobalNetworkPolicy:
		name = tier + ".staged:" + p.Name
	case KindStagedNetworkPolicy:
		name = p.Namespace + "/" + tier + ".staged:" + p.Name
	case KindStagedKubernetesNetworkPolicy:
		name = p.Namespace + "/staged:knp.default." + p.Name
	case KindAdminNetworkPolicy:
		name = "kanp.adminnetworkpolicy." + p.Name
	case KindBaselineAdminNetworkPolicy:
		name = "kbanp.baselineadminnetworkpolicy." + p.Name
	case KindProfile:
		tier, name = "__PROFILE__", "__PROFILE__."+p.Name
	}
	if name != "" {
		s := strconv.Itoa(p.Index) + "|" + tier + "|" + name + "|" + p.Action.String() + "|" + strconv.Itoa(p.RuleIndex)
		if q, err := ParsePolicyHit(s); err == nil && sameHit(p, q) {
			return s, nil
		}
	}
	s := p.String()
	if p.RuleIndex == RuleUnknown {
		s = s[:len(s)-1] + "-2"
	}
	q, err := ParsePolicyHit(s)
	if err != nil {
		return "", fmt.Errorf("policy hit %+v cannot be written as a trace string: %w", p, err)
	}
	if !sameHit(p, q) {
		return "", fmt.Errorf("policy hit %+v cannot be written as a trace string (%q reads back as %+v)", p, s, q)
	}
	return s, nil
}

func sameHit(a, b PolicyHit) bool {
	return a.Index == b.Index && a.Tier == b.Tier && a.Kind == b.Kind && a.Namespace == b.Namespace &&
		a.Name == b.Name && a.Action == b.Action && a.RuleIndex == b.RuleIndex
}

// WriteGoldmaneJSON writes f as one Goldmane Flow JSON line,
// newline-terminated: the emitter encoding (snake_case keys, enums as
// numbers, int64 as numbers) or, with protojson, the protojson encoding
// (lowerCamelCase keys, enum names, int64 as strings). Zero values are
// omitted as both encoders do; empty namespaces and service fields are
// written as "-" as Goldmane does. NameAggr is the Goldmane name.
//
// Goldmane has no full names, IPs, source ports or domains, so those are
// dropped; NumFlows is written as num_connections_started (decoding adds
// num_connections_live, which is omitted); bytes and packets are split as
// in WriteEnterpriseJSON. Decoding the line gives f back apart from the
// dropped fields and nil labels, which come back empty.
func WriteGoldmaneJSON(w io.Writer, f *Flow, protojson bool) error {
	bp := encBufPool.Get().(*[]byte)
	defer encBufPool.Put(bp)
	b := appendGoldmaneJSON((*bp)[:0], f, protojson)
	*bp = b[:0]
	_, err := w.Write(b)
	return err
}

// AppendGoldmaneJSON appends the line WriteGoldmaneJSON writes.
func AppendGoldmaneJSON(b []byte, f *Flow, protojson bool) []byte {
	return appendGoldmaneJSON(b, f, protojson)
}

type gmWriter struct {
	b     []byte
	pj    bool
	first bool
}

func (g *gmWriter) key(snake, camel string) {
	if !g.first {
		g.b = append(g.b, ',')
	}
	g.first = false
	g.b = append(g.b, '"')
	if g.pj {
		g.b = append(g.b, camel...)
	} else {
		g.b = append(g.b, snake...)
	}
	g.b = append(g.b, `":`...)
}

func (g *gmWriter) str(snake, camel, v string) {
	if v != "" {
		g.key(snake, camel)
		g.b = appendJSONString(g.b, v)
	}
}

func (g *gmWriter) int(snake, camel string, v int64) {
	if v == 0 {
		return
	}
	g.key(snake, camel)
	if g.pj {
		g.b = append(g.b, '"')
		g.b = strconv.AppendInt(g.b, v, 10)
		g.b = append(g.b, '"')
	} else {
		g.b = strconv.AppendInt(g.b, v, 10)
	}
}

func (g *gmWriter) enum(snake, camel string, v int, name string) {
	if v == 0 {
		return
	}
	g.key(snake, camel)
	if g.pj {
		g.b = appendJSONString(g.b, name)
	} else {
		g.b = strconv.AppendInt(g.b, int64(v), 10)
	}
}

func (g *gmWriter) open(snake, camel string) {
	g.key(snake, camel)
	g.b = append(g.b, '{')
	g.first = true
}

func (g *gmWriter) close() {
	g.b = append(g.b, '}')
	g.first = false
}

func (g *gmWriter) strings(snake, camel string, ss []string) {
	if len(ss) > 0 {
		g.key(snake, camel)
		g.b = appendStringArray(g.b, ss)
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var goldmaneTypeNames = [...]string{"EndpointTypeUnspecified", "WorkloadEndpoint", "HostEndpoint", "NetworkSet", "Network"}
var goldmaneReporterNames = [...]string{"ReporterUnspecified", "Src", "Dst"}
var goldmaneActionNames = [...]string{"ActionUnspecified", "Allow", "Deny", "Pass"}

func enumName(names []string, v int) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return strconv.Itoa(v)
}

func appendGoldmaneJSON(b []byte, f *Flow, pj bool) []byte {
	g := &gmWriter{b: append(b, '{'), pj: pj, first: true}
	g.open("Key", "Key")
	k := f
	g.str("source_name", "sourceName", k.Source.NameAggr)
	g.str("source_namespace", "sourceNamespace", dashIfEmpty(k.Source.Namespace))
	g.enum("source_type", "sourceType", int(k.Source.Type), enumName(goldmaneTypeNames[:], int(k.Source.Type)))
	g.str("dest_name", "destName", k.Dest.NameAggr)
	g.str("dest_namespace", "destNamespace", dashIfEmpty(k.Dest.Namespace))
	g.enum("dest_type", "destType", int(k.Dest.Type), enumName(goldmaneTypeNames[:], int(k.Dest.Type)))
	g.int("dest_port", "destPort", int64(k.Dest.Port))
	g.str("dest_service_name", "destServiceName", dashIfEmpty(k.Service.Name))
	g.str("dest_service_namespace", "destServiceNamespace", dashIfEmpty(k.Service.Namespace))
	g.str("dest_service_port_name", "destServicePortName", dashIfEmpty(k.Service.PortName))
	g.int("dest_service_port", "destServicePort", int64(k.Service.Port))
	if k.Proto != 0 {
		g.str("proto", "proto", k.Proto.String())
	}
	g.enum("reporter", "reporter", int(k.Reporter), enumName(goldmaneReporterNames[:], int(k.Reporter)))
	g.enum("action", "action", int(k.Action), enumName(goldmaneActionNames[:], int(k.Action)))
	if len(k.Policies.Enforced) > 0 || len(k.Policies.Pending) > 0 {
		g.open("policies", "policies")
		g.hits("enforced_policies", "enforcedPolicies", k.Policies.Enforced)
		g.hits("pending_policies", "pendingPolicies", k.Policies.Pending)
		g.close()
	}
	g.close()
	g.int("start_time", "startTime", f.Start)
	g.int("end_time", "endTime", f.End)
	g.strings("source_labels", "sourceLabels", f.Source.Labels)
	g.strings("dest_labels", "destLabels", f.Dest.Labels)
	g.int("packets_in", "packetsIn", f.Packets-f.Packets/2)
	g.int("packets_out", "packetsOut", f.Packets/2)
	g.int("bytes_in", "bytesIn", f.Bytes-f.Bytes/2)
	g.int("bytes_out", "bytesOut", f.Bytes/2)
	g.int("num_connections_started", "numConnectionsStarted", f.NumFlows)
	g.b = append(g.b, "}\n"...)
	return g.b
}

func (g *gmWriter) hits(snake, camel string, hits []PolicyHit) {
	if len(hits) == 0 {
		return
	}
	g.key(snake, camel)
	g.b = append(g.b, '[')
	for i := range hits {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.hit(&hits[i])
	}
	g.b = append(g.b, ']')
}

func (g *gmWriter) hit(h *PolicyHit) {
	g.b = append(g.b, '{')
	g.first = true
	g.enum("kind", "kind", int(h.Kind), h.Kind.String())
	g.str("namespace", "namespace", h.Namespace)
	g.str("name", "name", h.Name)
	g.str("tier", "tier", h.Tier)
	g.enum("action", "action", int(h.Action), enumName(goldmaneActionNames[:], int(h.Action)))
	g.int("policy_index", "policyIndex", int64(h.Index))
	g.int("rule_index", "ruleIndex", int64(h.RuleIndex))
	if h.Trigger != nil {
		g.key("trigger", "trigger")
		g.hit(h.Trigger)
	}
	g.close()
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; no HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
