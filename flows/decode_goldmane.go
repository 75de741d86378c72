package flows

import (
	"strconv"
	"strings"
)

// Goldmane Flow objects in JSON (flow-logs.md §4.3, §5). Two encodings
// reach us:
//
//   - emitter JSON (encoding/json of the generated struct, what the Goldmane
//     emitter POSTs as NDJSON): snake_case proto names, enums as integers,
//     int64 as numbers, zero values omitted;
//   - protojson (grpcurl, the OTLP exporter sample): lowerCamelCase names,
//     enums by name, int64 as strings, zero values omitted.
//
// The top-level "Key" is capitalised in both. This decoder accepts either
// spelling of every key, enums as number or name and int64 as number or
// string, so mixed inputs decode too. A FlowResult wrapper
// ({"id":..,"flow":{..}}) is unwrapped. It uses the same in-place scanner
// as the Enterprise decoder; it does not depend on a generated proto
// package.

// jsonObjectDecoder holds the helpers the Goldmane and Whisker decoders
// share.
type jsonObjectDecoder struct {
	strReader
	labels  boundedCache[[]string]
	scratch []byte
}

func newJSONObjectDecoder() jsonObjectDecoder {
	return jsonObjectDecoder{strReader: strReader{in: newInterner()}, labels: newBoundedCache[[]string](cacheMaxEntries, cacheMaxBytes, cacheFront)}
}

// members calls fn for each member of the object at b[i] and returns the
// index after the object. fn must consume the value and return the index
// after it. The key slice is only valid until fn decodes a nested object.
func (d *jsonObjectDecoder) members(b []byte, i int, field string, fn func(key []byte, vi int) (int, *recErr)) (int, *recErr) {
	if i >= len(b) {
		return i, errEOF(i, field)
	}
	if b[i] != '{' {
		return i, errType(i, field, "an object", b)
	}
	i = skipWS(b, i+1)
	if i >= len(b) {
		return i, errEOF(i, field)
	}
	if b[i] == '}' {
		return i + 1, nil
	}
	for {
		key, vi, err := readKey(b, i, &d.scratch, field)
		if err != nil {
			return vi, err
		}
		end, err := fn(key, vi)
		if err != nil {
			return end, err
		}
		var more bool
		if i, more, err = afterValue(b, end, '}', field); err != nil {
			return i, err
		}
		if !more {
			return i, nil
		}
	}
}

// int64At reads an int64 written as a number (emitter) or a decimal string
// (protojson); null gives 0.
func (d *jsonObjectDecoder) int64At(b []byte, i int, field string) (int64, int, *recErr) {
	switch b[i] {
	case '"':
		s, _, end, err := d.rawString(b, i, field)
		if err != nil {
			return 0, end, err
		}
		v, ok := parseIntDigits(s)
		if !ok {
			return 0, end, errType(i, field, "an integer", b)
		}
		return v, end, nil
	case 'n':
		end, err := skipLiteral(b, i, "null", field)
		return 0, end, err
	}
	return parseIntAt(b, i, field)
}

// countAt reads a counter (int64 in the proto); a negative count is a bad
// value.
func (d *jsonObjectDecoder) countAt(b []byte, i int, field string) (int64, int, *recErr) {
	v, end, err := d.int64At(b, i, field)
	if err == nil && v < 0 {
		return 0, end, negativeCount(i, field, v)
	}
	return v, end, err
}

// portAt reads a port (int64 in the proto) and checks its range.
func (d *jsonObjectDecoder) portAt(b []byte, i int, field string) (uint16, int, *recErr) {
	v, end, err := d.int64At(b, i, field)
	if err != nil {
		return 0, end, err
	}
	if v < 0 || v > 65535 {
		return 0, end, errValue(i, field, ReasonBadValue, "port "+strconv.FormatInt(v, 10)+" out of range 0-65535")
	}
	return uint16(v), end, nil
}

// enumAt reads a proto enum written as a number (emitter) or a name
// (protojson); max is the highest known number. An unknown value (a newer
// Calico) is a bad record naming the field.
func (d *jsonObjectDecoder) enumAt(b []byte, i int, field, enum string, max int, byName func(string) (int, bool)) (int, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return 0, end, err
	}
	if b[i] == '"' {
		s, _, end, err := d.rawString(b, i, field)
		if err != nil {
			return 0, end, err
		}
		if v, ok := byName(string(s)); ok {
			return v, end, nil
		}
		if v, ok := parseIntDigits(s); ok && v >= 0 && v <= int64(max) {
			return int(v), end, nil
		}
		return 0, end, errValue(i, field, ReasonUnknownEnum, "unknown "+enum+" "+strconv.Quote(string(s)))
	}
	v, end, err := parseIntAt(b, i, field)
	if err != nil {
		return 0, end, err
	}
	if v < 0 || v > int64(max) {
		return 0, end, errValue(i, field, ReasonUnknownEnum, "unknown "+enum+" value "+strconv.FormatInt(v, 10))
	}
	return int(v), end, nil
}

func endpointTypeByName(s string) (int, bool) { t, ok := ParseEndpointType(s); return int(t), ok }
func reporterByName(s string) (int, bool)     { r, ok := ParseReporter(s); return int(r), ok }
func actionByName(s string) (int, bool)       { a, ok := ParseAction(s); return int(a), ok }

// policyKindByName accepts the enum names, including the pre-release
// spellings of 7 and 8 (ClusterNetworkPolicyAdminTier/BaselineTier) some
// builds between v3.31 and v3.32 used.
func policyKindByName(s string) (int, bool) {
	switch s {
	case "ClusterNetworkPolicyAdminTier":
		return int(KindAdminNetworkPolicy), true
	case "ClusterNetworkPolicyBaselineTier":
		return int(KindBaselineAdminNetworkPolicy), true
	}
	k, ok := ParsePolicyKind(s)
	return int(k), ok
}

// stringList reads an array of strings; null gives nil, [] gives empty.
// Results are cached by their raw bytes and shared (read-only).
func (d *jsonObjectDecoder) stringList(b []byte, i int, field string) ([]string, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return nil, end, err
	}
	if b[i] != '[' {
		return nil, i, errType(i, field, "an array of strings", b)
	}
	end, err := skipNested(b, i, field)
	if err != nil {
		return nil, end, err
	}
	raw := b[i:end]
	if v, ok := d.labels.get(raw); ok {
		return v, end, nil
	}
	out := emptyLabels
	j := skipWS(b, i+1)
	if b[j] != ']' {
		out = nil
		for {
			if b[j] != '"' {
				return nil, j, errType(j, field, "an array of strings", b)
			}
			s, _, e, err := d.rawString(b, j, field)
			if err != nil {
				return nil, e, err
			}
			out = append(out, d.in.str(s))
			var more bool
			if j, more, err = afterValue(b, e, ']', field); err != nil {
				return nil, j, err
			}
			if !more {
				break
			}
		}
		out = out[:len(out):len(out)]
	}
	d.labels.put(string(raw), out, 16*len(out))
	return out, end, nil
}

// pick returns the field path spelled as in the input, for problems: camel
// when key is its last element, else snake.
func pick(key []byte, snake, camel string) string {
	if string(key) == camel[strings.LastIndexByte(camel, '.')+1:] {
		return camel
	}
	return snake
}

// goldmaneDecoder decodes Goldmane Flow JSON objects.
type goldmaneDecoder struct {
	jsonObjectDecoder
	offs fieldOffsets
}

func newGoldmaneDecoder() *goldmaneDecoder {
	return &goldmaneDecoder{jsonObjectDecoder: newJSONObjectDecoder()}
}

func (g *goldmaneDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	return false, g.decode(b, f)
}

// decode maps one Goldmane Flow onto f, the same way FillFromGoldmane maps
// the gRPC message: Goldmane sends only aggregated names, which become
// NameAggr (see goldmaneNames for Name). Goldmane always collects labels and
// omits empty lists, so missing labels are empty, not nil.
func (g *goldmaneDecoder) decode(b []byte, f *Flow) *recErr {
	*f = Flow{}
	i := skipWS(b, 0)
	if i >= len(b) {
		return errEOF(i, "")
	}
	var (
		haveKey                 bool
		started                 int64
		bin, bout, pin, pout    int64
		wrapStart, wrapEnd      = -1, -1
		srcLabels, dstLabels    []string
		srcLabelsOK, dstLabelOK bool
	)
	g.offs.reset()
	end, err := g.members(b, i, "", func(key []byte, vi int) (int, *recErr) {
		var end int
		var err *recErr
		switch string(key) {
		case "Key", "key":
			haveKey = true
			end, err = g.key(b, vi, f)
		case "start_time", "startTime":
			g.offs.start = vi
			f.Start, end, err = g.int64At(b, vi, pick(key, "start_time", "startTime"))
		case "end_time", "endTime":
			g.offs.end = vi
			f.End, end, err = g.int64At(b, vi, pick(key, "end_time", "endTime"))
		case "source_labels", "sourceLabels":
			srcLabels, end, err = g.stringList(b, vi, pick(key, "source_labels", "sourceLabels"))
			srcLabelsOK = true
		case "dest_labels", "destLabels":
			dstLabels, end, err = g.stringList(b, vi, pick(key, "dest_labels", "destLabels"))
			dstLabelOK = true
		case "packets_in", "packetsIn":
			pin, end, err = g.countAt(b, vi, pick(key, "packets_in", "packetsIn"))
		case "packets_out", "packetsOut":
			pout, end, err = g.countAt(b, vi, pick(key, "packets_out", "packetsOut"))
		case "bytes_in", "bytesIn":
			bin, end, err = g.countAt(b, vi, pick(key, "bytes_in", "bytesIn"))
		case "bytes_out", "bytesOut":
			bout, end, err = g.countAt(b, vi, pick(key, "bytes_out", "bytesOut"))
		case "num_connections_started", "numConnectionsStarted":
			started, end, err = g.countAt(b, vi, pick(key, "num_connections_started", "numConnectionsStarted"))
		case "num_connections_live", "numConnectionsLive":
			// Checked, not counted: see NumFlows below.
			_, end, err = g.countAt(b, vi, pick(key, "num_connections_live", "numConnectionsLive"))
		case "num_connections_completed", "numConnectionsCompleted":
			_, end, err = g.countAt(b, vi, pick(key, "num_connections_completed", "numConnectionsCompleted"))
		case "flow":
			// FlowResult {"id":..,"flow":{..}} as grpcurl prints List/Stream.
			end, err = skipValue(b, vi, "flow")
			if err == nil && b[vi] == '{' {
				wrapStart, wrapEnd = vi, end
			}
		default:
			end, err = skipValue(b, vi, "")
		}
		return end, err
	})
	if err != nil {
		return err
	}
	if j := skipWS(b, end); j < len(b) {
		return errMalformed(j, "", "data after the JSON object")
	}
	if !haveKey {
		if wrapStart >= 0 {
			if e := g.decode(b[wrapStart:wrapEnd], f); e != nil {
				e.Off += wrapStart
				e.Field = joinField("flow", e.Field)
				return e
			}
			return nil
		}
		return &recErr{Reason: ReasonNotFlow, Msg: "no \"Key\" object: not a Goldmane flow"}
	}
	if !srcLabelsOK || srcLabels == nil {
		srcLabels = emptyLabels
	}
	if !dstLabelOK || dstLabels == nil {
		dstLabels = emptyLabels
	}
	f.Source.Labels, f.Dest.Labels = srcLabels, dstLabels
	goldmaneNames(&f.Source)
	goldmaneNames(&f.Dest)
	// NumFlows counts the connections started in the flow's window, as
	// FillFromGoldmane does: Felix reports as live every connection active
	// during a bucket, so live counts repeat a long connection in every
	// bucket (and every started one once more), and Goldmane's List and
	// emitter sum them across buckets. A connection already open when the
	// file's first window began is not counted (its bytes are).
	f.NumFlows = started
	f.Bytes = bin + bout
	f.Packets = pin + pout
	// Goldmane never aggregates ports away: a port protocol without
	// dest_port (proto3 JSON omits a zero) has port 0.
	return checkFlow(f, true, &g.offs, &goldmaneFieldNames)
}

// goldmaneFieldNames are the proto names of the fields CheckValues judges.
var goldmaneFieldNames = [len(flowFieldNames)]string{"", "start_time", "end_time", "Key.dest_port",
	"num_connections_started", "bytes_in", "packets_in"}

func joinField(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// key decodes the FlowKey object.
func (g *goldmaneDecoder) key(b []byte, i int, f *Flow) (int, *recErr) {
	if b[i] == 'n' {
		return skipLiteral(b, i, "null", "Key")
	}
	return g.members(b, i, "Key", func(key []byte, vi int) (int, *recErr) {
		var end, v int
		var err *recErr
		switch string(key) {
		case "source_name", "sourceName":
			f.Source.NameAggr, end, err = g.text(b, vi, pick(key, "Key.source_name", "Key.sourceName"))
		case "source_namespace", "sourceNamespace":
			f.Source.Namespace, end, err = g.text(b, vi, pick(key, "Key.source_namespace", "Key.sourceNamespace"))
		case "source_type", "sourceType":
			v, end, err = g.enumAt(b, vi, pick(key, "Key.source_type", "Key.sourceType"), "EndpointType", int(EndpointNetwork), endpointTypeByName)
			f.Source.Type = EndpointType(v)
		case "dest_name", "destName":
			f.Dest.NameAggr, end, err = g.text(b, vi, pick(key, "Key.dest_name", "Key.destName"))
		case "dest_namespace", "destNamespace":
			f.Dest.Namespace, end, err = g.text(b, vi, pick(key, "Key.dest_namespace", "Key.destNamespace"))
		case "dest_type", "destType":
			v, end, err = g.enumAt(b, vi, pick(key, "Key.dest_type", "Key.destType"), "EndpointType", int(EndpointNetwork), endpointTypeByName)
			f.Dest.Type = EndpointType(v)
		case "dest_port", "destPort":
			g.offs.destPort = vi
			f.Dest.Port, end, err = g.portAt(b, vi, pick(key, "Key.dest_port", "Key.destPort"))
		case "dest_service_name", "destServiceName":
			f.Service.Name, end, err = g.text(b, vi, pick(key, "Key.dest_service_name", "Key.destServiceName"))
		case "dest_service_namespace", "destServiceNamespace":
			f.Service.Namespace, end, err = g.text(b, vi, pick(key, "Key.dest_service_namespace", "Key.destServiceNamespace"))
		case "dest_service_port_name", "destServicePortName":
			f.Service.PortName, end, err = g.text(b, vi, pick(key, "Key.dest_service_port_name", "Key.destServicePortName"))
		case "dest_service_port", "destServicePort":
			f.Service.Port, end, err = g.portAt(b, vi, pick(key, "Key.dest_service_port", "Key.destServicePort"))
		case "proto":
			f.Proto, end, err = g.protoAt(b, vi, "Key.proto")
		case "reporter":
			v, end, err = g.enumAt(b, vi, "Key.reporter", "Reporter", int(ReporterDst), reporterByName)
			f.Reporter = Reporter(v)
		case "action":
			v, end, err = g.enumAt(b, vi, "Key.action", "Action", int(ActionPass), actionByName)
			f.Action = Action(v)
		case "policies":
			end, err = g.trace(b, vi, "Key.policies", &f.Policies)
		default:
			end, err = skipValue(b, vi, "Key")
		}
		return end, err
	})
}

// protoAt reads a protocol name ("tcp") or number.
func (d *jsonObjectDecoder) protoAt(b []byte, i int, field string) (Protocol, int, *recErr) {
	if c := b[i]; c == '-' || (c >= '0' && c <= '9') {
		v, end, err := parseIntAt(b, i, field)
		if err != nil {
			return 0, end, err
		}
		if v < 0 || v > 255 {
			return 0, end, errValue(i, field, ReasonBadValue, "protocol number "+strconv.FormatInt(v, 10)+" out of range")
		}
		return Protocol(v), end, nil
	}
	s, _, end, err := d.rawString(b, i, field)
	if err != nil || len(s) == 0 || string(s) == "-" {
		return 0, end, err
	}
	p, ok := ParseProtocol(string(s))
	if !ok {
		return 0, end, errValue(i, field, ReasonUnknownEnum, "unknown protocol "+strconv.Quote(string(s)))
	}
	return p, end, nil
}

// trace decodes a PolicyTrace (Goldmane) or the Whisker {"enforced",
// "pending"} object.
func (d *jsonObjectDecoder) trace(b []byte, i int, field string, t *Trace) (int, *recErr) {
	if b[i] == 'n' {
		return skipLiteral(b, i, "null", field)
	}
	return d.members(b, i, field, func(key []byte, vi int) (int, *recErr) {
		var end int
		var err *recErr
		switch string(key) {
		case "enforced_policies", "enforcedPolicies", "enforced":
			t.Enforced, end, err = d.hits(b, vi, field+".enforced_policies")
		case "pending_policies", "pendingPolicies", "pending":
			t.Pending, end, err = d.hits(b, vi, field+".pending_policies")
		default:
			end, err = skipValue(b, vi, field)
		}
		return end, err
	})
}

// hits decodes an array of PolicyHit objects, sorted by policy index.
func (d *jsonObjectDecoder) hits(b []byte, i int, field string) ([]PolicyHit, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return nil, end, err
	}
	if b[i] != '[' {
		return nil, i, errType(i, field, "an array of policy hits", b)
	}
	j := skipWS(b, i+1)
	if j >= len(b) {
		return nil, j, errEOF(j, field)
	}
	if b[j] == ']' {
		return nil, j + 1, nil
	}
	var out []PolicyHit
	for n := 0; ; n++ {
		if j >= len(b) {
			return nil, j, errEOF(j, field)
		}
		h, end, err := d.hit(b, j, 0)
		if err != nil {
			// Field paths are only built for problems.
			err.Field = joinField(field+"["+strconv.Itoa(n)+"]", err.Field)
			return nil, end, err
		}
		out = append(out, h)
		var more bool
		if j, more, err = afterValue(b, end, ']', field); err != nil {
			return nil, j, err
		}
		if !more {
			break
		}
	}
	SortHits(out)
	return out, j, nil
}

const maxTriggerDepth = 8

// hit decodes one PolicyHit, with its trigger. Problems name fields
// relative to the hit ("kind", "trigger.action").
func (d *jsonObjectDecoder) hit(b []byte, i int, depth int) (PolicyHit, int, *recErr) {
	var h PolicyHit
	if i >= len(b) {
		return h, i, errEOF(i, "")
	}
	if b[i] != '{' {
		return h, i, errType(i, "", "a policy hit object", b)
	}
	end, err := d.members(b, i, "", func(key []byte, vi int) (int, *recErr) {
		var end, v int
		var n int64
		var err *recErr
		switch string(key) {
		case "kind":
			v, end, err = d.enumAt(b, vi, "kind", "PolicyKind", int(KindClusterNetworkPolicy), policyKindByName)
			h.Kind = PolicyKind(v)
		case "namespace":
			h.Namespace, end, err = d.text(b, vi, "namespace")
		case "name":
			h.Name, end, err = d.text(b, vi, "name")
		case "tier":
			h.Tier, end, err = d.text(b, vi, "tier")
		case "action":
			v, end, err = d.enumAt(b, vi, "action", "Action", int(ActionPass), actionByName)
			h.Action = Action(v)
		case "policy_index", "policyIndex":
			n, end, err = d.int64At(b, vi, pick(key, "policy_index", "policyIndex"))
			if err == nil && (n < 0 || n > 1<<31) {
				err = errValue(vi, "policy_index", ReasonBadValue, "policy index "+strconv.FormatInt(n, 10)+" out of range")
			}
			h.Index = int(n)
		case "rule_index", "ruleIndex":
			n, end, err = d.int64At(b, vi, pick(key, "rule_index", "ruleIndex"))
			if err == nil && (n < RuleUnknown || n > 1<<31) {
				err = errValue(vi, "rule_index", ReasonBadValue, "rule index "+strconv.FormatInt(n, 10)+" out of range")
			}
			h.RuleIndex = int(n)
		case "trigger":
			if b[vi] == 'n' {
				end, err = skipLiteral(b, vi, "null", "trigger")
				break
			}
			if depth >= maxTriggerDepth {
				return vi, errValue(vi, "trigger", ReasonBadValue, "triggers nested too deeply")
			}
			var t PolicyHit
			t, end, err = d.hit(b, vi, depth+1)
			if err != nil {
				err.Field = joinField("trigger", err.Field)
			} else {
				h.Trigger = &t
			}
		default:
			end, err = skipValue(b, vi, "")
		}
		return end, err
	})
	if h.Kind == KindProfile && h.Tier == "__PROFILE__" {
		h.Tier = ""
	}
	return h, end, err
}

// goldmaneNames sets Name from the aggregated name as FillFromGoldmane
// does: empty for a Network ("pub"/"pvt" name a class of addresses) and
// for a pod prefix ("api-7d9c-*"), the same value otherwise (host
// endpoints, NetworkSets, pods without a generateName, whose aggregated
// name is the full name).
func goldmaneNames(e *Endpoint) {
	n := e.NameAggr
	switch e.Type {
	case EndpointNetwork:
	case EndpointWorkload:
		if n != "" && n[len(n)-1] != '*' {
			e.Name = n
		}
	default:
		e.Name = n
	}
}
