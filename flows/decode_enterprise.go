package flows

import (
	"encoding/binary"
	"strconv"
)

// eeDecoder decodes Calico Enterprise flow-log objects (flows.log lines and
// Elasticsearch _source documents, flow-logs.md §2.3) with a hand-rolled
// scanner over the object's bytes. One decoder belongs to one worker: its
// intern table and caches are not locked.
//
// Slices in the decoded Flow (labels, domains, policy hits) come from the
// decoder's caches and are shared by every record with the same raw value;
// they are never modified after they are handed out, so callers may keep
// them but must not write to them. Strings are interned or freshly
// allocated; both are safe to retain.
type eeDecoder struct {
	strReader
	labels  hashCache[[]string]     // raw source_labels/dest_labels value
	domains hashCache[[]string]     // raw dest_domains value
	traces  hashCache[Trace]        // raw policies object
	hits    boundedCache[PolicyHit] // raw policy string
	scratch []byte                  // unescaped keys
	tmp     []PolicyHit
}

func newEEDecoder() *eeDecoder {
	return &eeDecoder{
		strReader: strReader{in: newInterner()},
		labels:    newHashCache[[]string](cacheMaxEntries, cacheMaxBytes),
		domains:   newHashCache[[]string](cacheMaxEntries, cacheMaxBytes),
		traces:    newHashCache[Trace](cacheMaxEntries, cacheMaxBytes),
		hits:      newBoundedCache[PolicyHit](cacheMaxEntries, cacheMaxBytes, cacheFront),
	}
}

// emptyLabels is the shared value of {"labels":[]}: collected, none.
var emptyLabels = []string{}

func (d *eeDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	return false, d.decode(b, f)
}

// eeField identifies a flow-log key the decoder handles.
type eeField uint8

const (
	fUnknown eeField = iota
	fSkip            // known, not needed
	fStart
	fEnd
	fSourceIP
	fSourceName
	fSourceNameAggr
	fSourceNamespace
	fSourcePort
	fSourceType
	fSourceLabels
	fDestIP
	fDestName
	fDestNameAggr
	fDestNamespace
	fDestPort
	fDestType
	fDestLabels
	fServiceNamespace
	fServiceName
	fServicePortName
	fServicePortNameAlias
	fServicePort
	fDestDomains
	fProto
	fAction
	fReporter
	fPolicies
	fNumFlows
	fBytesIn
	fBytesOut
	fPacketsIn
	fPacketsOut
	fCount // a counter the model does not keep, checked for a negative value
	fLast
)

// eeKey is one key of Felix's JSON output, in the order Felix writes them
// (EE felix/collector/flowlog/json_serializer.go), with the quote and colon
// of compact JSON so a predicted key is matched with one comparison.
type eeKey struct {
	quoted string
	id     eeField
	// w0 and w1 are the first and last 8 bytes of quoted, so keys of 8 to
	// 16 bytes compare with two loads (every Felix key is at least 8).
	w0, w1 uint64
}

// name returns the key without its quotes and colon.
func (k *eeKey) name() string { return k.quoted[1 : len(k.quoted)-2] }

// match reports whether b[i:] starts with the key.
func (k *eeKey) match(b []byte, i int) bool {
	n := len(k.quoted)
	if len(b)-i <= n || n < 8 {
		return false
	}
	if binary.LittleEndian.Uint64(b[i:]) != k.w0 || binary.LittleEndian.Uint64(b[i+n-8:]) != k.w1 {
		return false
	}
	return n <= 16 || string(b[i+8:i+n-8]) == k.quoted[8:n-8]
}

var eeOrder = func() []eeKey {
	keys := []struct {
		name string
		id   eeField
	}{
		{"start_time", fStart}, {"end_time", fEnd},
		{"source_ip", fSourceIP}, {"source_name", fSourceName}, {"source_name_aggr", fSourceNameAggr},
		{"source_namespace", fSourceNamespace}, {"nat_outgoing_ports", fSkip}, {"source_port", fSourcePort},
		{"source_type", fSourceType}, {"source_labels", fSourceLabels},
		{"dest_ip", fDestIP}, {"dest_name", fDestName}, {"dest_name_aggr", fDestNameAggr}, {"dest_namespace", fDestNamespace},
		{"dest_port", fDestPort}, {"dest_type", fDestType}, {"dest_labels", fDestLabels},
		{"dest_service_namespace", fServiceNamespace}, {"dest_service_name", fServiceName},
		{"dest_service_port", fServicePortName}, {"dest_service_port_num", fServicePort},
		{"dest_domains", fDestDomains}, {"proto", fProto}, {"action", fAction}, {"reporter", fReporter},
		{"policies", fPolicies}, {"bytes_in", fBytesIn}, {"bytes_out", fBytesOut},
		{"transit_bytes_in", fSkip}, {"transit_bytes_out", fSkip},
		{"num_flows", fNumFlows}, {"num_flows_started", fCount}, {"num_flows_completed", fCount},
		{"packets_in", fPacketsIn}, {"packets_out", fPacketsOut}, {"transit_packets_in", fSkip}, {"transit_packets_out", fSkip},
		{"http_requests_allowed_in", fSkip}, {"http_requests_denied_in", fSkip},
		{"process_name", fSkip}, {"num_process_names", fSkip}, {"process_id", fSkip}, {"num_process_ids", fSkip},
		{"process_args", fSkip}, {"num_process_args", fSkip}, {"original_source_ips", fSkip}, {"num_original_source_ips", fSkip},
		{"tcp_mean_send_congestion_window", fSkip}, {"tcp_min_send_congestion_window", fSkip}, {"tcp_mean_smooth_rtt", fSkip},
		{"tcp_max_smooth_rtt", fSkip}, {"tcp_mean_min_rtt", fSkip}, {"tcp_max_min_rtt", fSkip}, {"tcp_mean_mss", fSkip},
		{"tcp_min_mss", fSkip}, {"tcp_total_retransmissions", fSkip}, {"tcp_lost_packets", fSkip}, {"tcp_unrecovered_to", fSkip},
		{"host", fSkip}, {"@timestamp", fSkip},
		// Not written by Felix: only looked up, never predicted.
		{"dest_service_port_name", fServicePortNameAlias},
	}
	out := make([]eeKey, len(keys))
	for i, k := range keys {
		q := `"` + k.name + `":`
		out[i] = eeKey{quoted: q, id: k.id}
		if len(q) >= 8 {
			out[i].w0 = binary.LittleEndian.Uint64([]byte(q))
			out[i].w1 = binary.LittleEndian.Uint64([]byte(q[len(q)-8:]))
		}
	}
	return out
}()

// eePredicted is how many eeOrder entries are predicted (the alias is not).
var eePredicted = len(eeOrder) - 1

// eeKeyPos maps a key to its eeOrder position.
var eeKeyPos = func() map[string]int {
	m := make(map[string]int, len(eeOrder))
	for i, k := range eeOrder {
		m[k.quoted[1:len(k.quoted)-2]] = i
	}
	return m
}()

// eeFieldNames names the fields in problems.
var eeFieldNames = func() []string {
	names := make([]string, fLast)
	for _, k := range eeOrder {
		if k.id > fSkip && k.id != fCount {
			names[k.id] = k.quoted[1 : len(k.quoted)-2]
		}
	}
	return names
}()

// decode decodes the object in b (surrounding whitespace allowed) into f.
//
// Felix writes keys in a fixed order, so the decoder predicts the next key
// and checks it with one comparison; when the prediction fails (other
// producers, optional keys, pretty-printing) it scans the key and looks it
// up, which also resynchronizes the prediction.
func (d *eeDecoder) decode(b []byte, f *Flow) *recErr {
	*f = Flow{}
	i := skipWS(b, 0)
	if i >= len(b) {
		return errEOF(i, "")
	}
	if b[i] != '{' {
		return errMalformed(i, "", "want a JSON object, got "+jsonKind(b, i))
	}
	i = skipWS(b, i+1)
	if i >= len(b) {
		return errEOF(i, "")
	}
	var (
		identity   bool
		portStated bool // dest_port was a number, not null or absent
		err        *recErr
		next       int
		v          int64
		offs       = fieldOffsets{-1, -1, -1}
	)
	if b[i] == '}' {
		i++
	} else {
		for {
			var id eeField
			var key []byte
			if next < eePredicted {
				if k := &eeOrder[next]; k.match(b, i) {
					id = k.id
					next++
					i += len(k.quoted)
					if b[i] <= ' ' {
						if i = skipWS(b, i); i >= len(b) {
							return errEOF(i, eeFieldNames[id])
						}
					}
					goto value
				}
			}
			key, i, err = readKey(b, i, &d.scratch, "")
			if err != nil {
				return err
			}
			if pos, ok := eeKeyPos[string(key)]; ok {
				id = eeOrder[pos].id
				next = pos + 1
			}
		value:
			switch id {
			case fUnknown, fSkip:
				// The field name is only built when there is a problem.
				if i, err = skipValue(b, i, ""); err != nil {
					if key != nil {
						err.Field = string(key)
					} else if next > 0 {
						q := eeOrder[next-1].quoted
						err.Field = q[1 : len(q)-2]
					}
				}
			case fStart:
				offs.start = i
				f.Start, i, err = intOrNull(b, i, "start_time")
			case fEnd:
				offs.end = i
				f.End, i, err = intOrNull(b, i, "end_time")
			case fSourceIP:
				i, err = d.ipAt(b, i, "source_ip", &f.Source)
			case fDestIP:
				i, err = d.ipAt(b, i, "dest_ip", &f.Dest)
			case fSourcePort:
				f.Source.Port, i, err = portAt(b, i, "source_port")
			case fDestPort:
				offs.destPort, portStated = i, b[i] != 'n'
				f.Dest.Port, i, err = portAt(b, i, "dest_port")
			case fSourceType:
				f.Source.Type, i, err = d.typeAt(b, i, "source_type")
				identity = true
			case fDestType:
				f.Dest.Type, i, err = d.typeAt(b, i, "dest_type")
				identity = true
			case fSourceName:
				f.Source.Name, i, err = d.text(b, i, "source_name")
			case fDestName:
				f.Dest.Name, i, err = d.text(b, i, "dest_name")
			case fSourceNameAggr:
				f.Source.NameAggr, i, err = d.text(b, i, "source_name_aggr")
				identity = true
			case fDestNameAggr:
				f.Dest.NameAggr, i, err = d.text(b, i, "dest_name_aggr")
				identity = true
			case fSourceNamespace:
				f.Source.Namespace, i, err = d.text(b, i, "source_namespace")
				identity = true
			case fDestNamespace:
				f.Dest.Namespace, i, err = d.text(b, i, "dest_namespace")
				identity = true
			case fSourceLabels:
				f.Source.Labels, i, err = d.labelsAt(b, i, "source_labels")
			case fDestLabels:
				f.Dest.Labels, i, err = d.labelsAt(b, i, "dest_labels")
			case fServiceNamespace:
				f.Service.Namespace, i, err = d.text(b, i, "dest_service_namespace")
			case fServiceName:
				f.Service.Name, i, err = d.text(b, i, "dest_service_name")
			case fServicePortName:
				f.Service.PortName, i, err = d.text(b, i, "dest_service_port")
			case fServicePortNameAlias:
				f.Service.PortName, i, err = d.text(b, i, "dest_service_port_name")
			case fServicePort:
				f.Service.Port, i, err = portAt(b, i, "dest_service_port_num")
			case fDestDomains:
				f.DestDomains, i, err = d.domainsAt(b, i)
			case fProto:
				f.Proto, i, err = d.protoAt(b, i)
			case fAction:
				f.Action, i, err = d.actionAt(b, i)
				identity = true
			case fReporter:
				f.Reporter, i, err = d.reporterAt(b, i)
				identity = true
			case fPolicies:
				f.Policies, i, err = d.policiesAt(b, i)
			case fNumFlows:
				f.NumFlows, i, err = countAt(b, i, "num_flows")
			case fBytesIn:
				v, i, err = countAt(b, i, "bytes_in")
				f.Bytes += v
			case fBytesOut:
				v, i, err = countAt(b, i, "bytes_out")
				f.Bytes += v
			case fPacketsIn:
				v, i, err = countAt(b, i, "packets_in")
				f.Packets += v
			case fPacketsOut:
				v, i, err = countAt(b, i, "packets_out")
				f.Packets += v
			case fCount:
				_, i, err = countAt(b, i, eeOrder[next-1].name())
			}
			if err != nil {
				return err
			}
			// Inline fast path for the usual ',' straight after a value.
			if i < len(b) && b[i] == ',' {
				i++
				if i < len(b) && b[i] == '"' {
					continue
				}
				if i = skipWS(b, i); i < len(b) && b[i] != '}' {
					continue
				}
				if i >= len(b) {
					return errEOF(i, "")
				}
				return errMalformed(i, "", "invalid character '}' after ',', want an object key")
			}
			var more bool
			if i, more, err = afterValue(b, i, '}', ""); err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	if i = skipWS(b, i); i < len(b) {
		return errMalformed(i, "", "data after the JSON object")
	}
	if !identity {
		return &recErr{Reason: ReasonNotFlow, Msg: "no flow-log fields (source_name_aggr, dest_name_aggr, *_type, *_namespace, action, reporter): not an Enterprise flow record"}
	}
	return checkFlow(f, portStated, &offs, nil)
}

// countAt reads a counter (null gives 0); a negative count is a bad value.
func countAt(b []byte, i int, field string) (int64, int, *recErr) {
	v, end, err := intOrNull(b, i, field)
	if err == nil && v < 0 {
		return 0, end, negativeCount(i, field, v)
	}
	return v, end, err
}

func intOrNull(b []byte, i int, field string) (int64, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return 0, end, err
	}
	return parseIntAt(b, i, field)
}

// portAt reads a port number; null (aggregated away) gives 0.
func portAt(b []byte, i int, field string) (uint16, int, *recErr) {
	v, end, err := intOrNull(b, i, field)
	if err != nil {
		return 0, end, err
	}
	if v < 0 || v > 65535 {
		return 0, end, errValue(i, field, ReasonBadValue, "port "+strconv.FormatInt(v, 10)+" out of range 0-65535")
	}
	return uint16(v), end, nil
}

func (d *eeDecoder) ipAt(b []byte, i int, field string, e *Endpoint) (int, *recErr) {
	s, null, end, err := d.rawString(b, i, field)
	if err != nil || null || len(s) == 0 || (len(s) == 1 && s[0] == '-') {
		return end, err
	}
	ip, ok := parseAddr(s)
	if !ok {
		return end, errValue(i, field, ReasonBadValue, "invalid IP address "+strconv.Quote(string(s)))
	}
	e.IP = ip
	return end, nil
}

func (d *eeDecoder) typeAt(b []byte, i int, field string) (EndpointType, int, *recErr) {
	s, null, end, err := d.rawString(b, i, field)
	if err != nil || null {
		return EndpointUnknown, end, err
	}
	switch string(s) {
	case "wep":
		return EndpointWorkload, end, nil
	case "net":
		return EndpointNetwork, end, nil
	case "ns":
		return EndpointNetworkSet, end, nil
	case "hep":
		return EndpointHost, end, nil
	case "-", "":
		return EndpointUnknown, end, nil
	}
	if t, ok := ParseEndpointType(string(s)); ok {
		return t, end, nil
	}
	return EndpointUnknown, end, errValue(i, field, ReasonUnknownEnum, "unknown endpoint type "+strconv.Quote(string(s))+" (want wep, hep, ns or net)")
}

func (d *eeDecoder) protoAt(b []byte, i int) (Protocol, int, *recErr) {
	c := b[i]
	if c == '-' || (c >= '0' && c <= '9') {
		v, end, err := parseIntAt(b, i, "proto")
		if err != nil {
			return 0, end, err
		}
		if v < 0 || v > 255 {
			return 0, end, errValue(i, "proto", ReasonBadValue, "protocol number "+strconv.FormatInt(v, 10)+" out of range")
		}
		return Protocol(v), end, nil
	}
	s, null, end, err := d.rawString(b, i, "proto")
	if err != nil || null {
		return 0, end, err
	}
	switch string(s) {
	case "tcp":
		return ProtoTCP, end, nil
	case "udp":
		return ProtoUDP, end, nil
	case "icmp":
		return ProtoICMP, end, nil
	case "-", "":
		return 0, end, nil
	}
	if p, ok := ParseProtocol(string(s)); ok {
		return p, end, nil
	}
	return 0, end, errValue(i, "proto", ReasonUnknownEnum, "unknown protocol "+strconv.Quote(string(s)))
}

func (d *eeDecoder) actionAt(b []byte, i int) (Action, int, *recErr) {
	s, null, end, err := d.rawString(b, i, "action")
	if err != nil || null {
		return ActionUnknown, end, err
	}
	switch string(s) {
	case "allow":
		return ActionAllow, end, nil
	case "deny":
		return ActionDeny, end, nil
	case "-", "":
		return ActionUnknown, end, nil
	}
	if a, ok := ParseAction(string(s)); ok {
		return a, end, nil
	}
	return ActionUnknown, end, errValue(i, "action", ReasonUnknownEnum, "unknown action "+strconv.Quote(string(s))+" (want allow or deny)")
}

func (d *eeDecoder) reporterAt(b []byte, i int) (Reporter, int, *recErr) {
	s, null, end, err := d.rawString(b, i, "reporter")
	if err != nil || null {
		return ReporterUnknown, end, err
	}
	switch string(s) {
	case "src":
		return ReporterSrc, end, nil
	case "dst":
		return ReporterDst, end, nil
	case "-", "":
		return ReporterUnknown, end, nil
	}
	if r, ok := ParseReporter(string(s)); ok {
		return r, end, nil
	}
	return ReporterUnknown, end, errValue(i, "reporter", ReasonUnknownEnum, "unknown reporter "+strconv.Quote(string(s))+" (want src or dst)")
}

// labelsAt reads {"labels":[...]} (or a bare array): null and a missing
// "labels" key mean not collected (nil); [] means none (empty, non-nil).
func (d *eeDecoder) labelsAt(b []byte, i int, field string) ([]string, int, *recErr) {
	switch b[i] {
	case 'n':
		end, err := skipLiteral(b, i, "null", field)
		return nil, end, err
	case '{', '[':
	default:
		return nil, i, errType(i, field, `{"labels":[...]}`, b)
	}
	end, err := skipNested(b, i, field)
	if err != nil {
		return nil, end, err
	}
	key := keyOf(b[i:end])
	if v, ok := d.labels.get(key); ok {
		return v, end, nil
	}
	var labels []string
	if b[i] == '[' {
		labels, _, err = d.stringList(b, i, field, emptyLabels)
	} else {
		labels, err = d.labelsObject(b, i, field)
	}
	if err != nil {
		return nil, end, err
	}
	d.labels.put(key, labels, 16*len(labels))
	return labels, end, nil
}

func (d *eeDecoder) labelsObject(b []byte, i int, field string) ([]string, *recErr) {
	var labels []string
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil
	}
	for {
		key, vi, err := readKey(b, i, &d.scratch, field)
		if err != nil {
			return nil, err
		}
		if string(key) == "labels" {
			labels, i, err = d.stringList(b, vi, field+".labels", emptyLabels)
		} else {
			i, err = skipValue(b, vi, field)
		}
		if err != nil {
			return nil, err
		}
		var more bool
		if i, more, err = afterValue(b, i, '}', field); err != nil {
			return nil, err
		}
		if !more {
			return labels, nil
		}
	}
}

// stringList reads an array of strings (or null: nil). empty is returned
// for [].
func (d *eeDecoder) stringList(b []byte, i int, field string, empty []string) ([]string, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return nil, end, err
	}
	if b[i] != '[' {
		return nil, i, errType(i, field, "an array of strings", b)
	}
	i = skipWS(b, i+1)
	if i >= len(b) {
		return nil, i, errEOF(i, field)
	}
	if b[i] == ']' {
		return empty, i + 1, nil
	}
	var out []string
	for {
		if i >= len(b) {
			return nil, i, errEOF(i, field)
		}
		if b[i] != '"' {
			return nil, i, errType(i, field, "an array of strings", b)
		}
		s, _, end, err := d.rawString(b, i, field)
		if err != nil {
			return nil, end, err
		}
		out = append(out, d.in.str(s))
		var more bool
		if i, more, err = afterValue(b, end, ']', field); err != nil {
			return nil, i, err
		}
		if !more {
			return out[:len(out):len(out)], i, nil
		}
	}
}

func (d *eeDecoder) domainsAt(b []byte, i int) ([]string, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", "dest_domains")
		return nil, end, err
	}
	if b[i] != '[' {
		return nil, i, errType(i, "dest_domains", "an array of strings", b)
	}
	end, err := skipNested(b, i, "dest_domains")
	if err != nil {
		return nil, end, err
	}
	key := keyOf(b[i:end])
	if v, ok := d.domains.get(key); ok {
		return v, end, nil
	}
	v, _, err := d.stringList(b, i, "dest_domains", nil)
	if err != nil {
		return nil, end, err
	}
	d.domains.put(key, v, 16*len(v))
	return v, end, nil
}

// policiesAt reads the policies object: enforced_policies → Enforced,
// pending_policies → Pending, falling back to the deprecated all_policies
// when pending is absent or empty. transit_policies (host endpoint
// preDNAT/forward hits) are ignored.
//
// Parsed arrays are cached by their raw bytes; pending_policies is usually
// byte-identical to enforced_policies and then shares its slice.
func (d *eeDecoder) policiesAt(b []byte, i int) (Trace, int, *recErr) {
	const field = "policies"
	switch b[i] {
	case 'n':
		end, err := skipLiteral(b, i, "null", field)
		return Trace{}, end, err
	case '{':
	default:
		return Trace{}, i, errType(i, field, "an object", b)
	}
	end, err := skipNested(b, i, field)
	if err != nil {
		return Trace{}, end, err
	}
	key := keyOf(b[i:end])
	if t, ok := d.traces.get(key); ok {
		return t, end, nil
	}
	t, j, err := d.parsePolicies(b, i)
	if err != nil {
		return Trace{}, j, err
	}
	d.traces.put(key, t, 96*(len(t.Enforced)+len(t.Pending)))
	return t, end, nil
}

// parsePolicies parses the policies object at b[i] (a cache miss).
func (d *eeDecoder) parsePolicies(b []byte, i int) (Trace, int, *recErr) {
	const field = "policies"
	var t Trace
	var enfRaw, pendRaw, allRaw []byte
	var enfAt, pendAt, allAt int
	j := skipWS(b, i+1)
	if j >= len(b) {
		return Trace{}, j, errEOF(j, field)
	}
	if b[j] == '}' {
		return Trace{}, j + 1, nil
	}
	for {
		key, vi, err := readKey(b, j, &d.scratch, field)
		if err != nil {
			return Trace{}, vi, err
		}
		end, err := skipValue(b, vi, field)
		if err != nil {
			return Trace{}, end, err
		}
		switch string(key) {
		case "enforced_policies":
			enfRaw, enfAt = b[vi:end], vi
		case "pending_policies":
			pendRaw, pendAt = b[vi:end], vi
		case "all_policies":
			allRaw, allAt = b[vi:end], vi
		}
		var more bool
		if j, more, err = afterValue(b, end, '}', field); err != nil {
			return Trace{}, j, err
		}
		if !more {
			break
		}
	}
	var err *recErr
	if enfRaw != nil {
		if t.Enforced, _, err = d.hitList(b, enfAt, "policies.enforced_policies"); err != nil {
			return Trace{}, j, err
		}
	}
	if pendRaw != nil {
		if enfRaw != nil && string(pendRaw) == string(enfRaw) {
			t.Pending = t.Enforced // usually identical: share the slice
		} else if t.Pending, _, err = d.hitList(b, pendAt, "policies.pending_policies"); err != nil {
			return Trace{}, j, err
		}
	}
	if len(t.Pending) == 0 && allRaw != nil {
		if t.Pending, _, err = d.hitList(b, allAt, "policies.all_policies"); err != nil {
			return Trace{}, j, err
		}
	}
	return t, j, nil
}

// hitList parses an array of policy-trace strings, sorted by policy index.
// An empty array or null gives nil.
func (d *eeDecoder) hitList(b []byte, i int, field string) ([]PolicyHit, int, *recErr) {
	if b[i] == 'n' {
		end, err := skipLiteral(b, i, "null", field)
		return nil, end, err
	}
	if b[i] != '[' {
		return nil, i, errType(i, field, "an array of strings", b)
	}
	i = skipWS(b, i+1)
	if i >= len(b) {
		return nil, i, errEOF(i, field)
	}
	if b[i] == ']' {
		return nil, i + 1, nil
	}
	d.tmp = d.tmp[:0]
	for {
		if i >= len(b) {
			return nil, i, errEOF(i, field)
		}
		if b[i] != '"' {
			return nil, i, errType(i, field, "an array of strings", b)
		}
		end, esc := scanString(b, i)
		if end < 0 {
			return nil, i, errEOF(len(b), field)
		}
		raw := b[i+1 : end-1]
		h, ok := d.hits.get(raw)
		if !ok {
			s := raw
			if esc {
				var ok bool
				if d.sbuf, ok = unescape(d.sbuf[:0], raw); !ok {
					return nil, i, errMalformed(i, field, "invalid escape in string")
				}
				s = d.sbuf
			}
			var perr error
			h, perr = ParsePolicyHit(validString(s))
			if perr != nil {
				return nil, i, errValue(i, field, ReasonBadPolicy, perr.Error())
			}
			d.hits.put(string(raw), h, 64)
		}
		d.tmp = append(d.tmp, h)
		var more bool
		var err *recErr
		if i, more, err = afterValue(b, end, ']', field); err != nil {
			return nil, i, err
		}
		if !more {
			break
		}
	}
	out := make([]PolicyHit, len(d.tmp))
	copy(out, d.tmp)
	SortHits(out)
	return out, i, nil
}

// hitLineDecoder decodes Elasticsearch hits ({"_index":..,"_source":{..}})
// one per line, as elasticdump and similar tools write them.
type hitLineDecoder struct{ ee *eeDecoder }

func (h *hitLineDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	return false, decodeHit(h.ee, b, f)
}

// decodeHit decodes the _source document of an Elasticsearch hit.
func decodeHit(ee *eeDecoder, b []byte, f *Flow) *recErr {
	start, end, err := findMember(b, "_source", &ee.scratch)
	if err != nil {
		return err
	}
	if start < 0 {
		if s, _, _ := findMember(b, "_id", &ee.scratch); s >= 0 {
			*f = Flow{}
			return &recErr{Reason: ReasonNotFlow, Msg: "Elasticsearch hit without _source"}
		}
		// Not a hit: a plain document.
		return ee.decode(b, f)
	}
	if e := ee.decode(b[start:end], f); e != nil {
		e.Off += start
		if e.Field != "" {
			e.Field = "_source." + e.Field
		} else {
			e.Field = "_source"
		}
		return e
	}
	return nil
}

// findMember returns the span of the value of the top-level key name of
// the object in b, or start -1 when it is absent.
func findMember(b []byte, name string, scratch *[]byte) (start, end int, err *recErr) {
	i := skipWS(b, 0)
	if i >= len(b) {
		return -1, -1, errEOF(i, "")
	}
	if b[i] != '{' {
		return -1, -1, errMalformed(i, "", "want a JSON object, got "+jsonKind(b, i))
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return -1, -1, nil
	}
	for {
		key, vi, err := readKey(b, i, scratch, "")
		if err != nil {
			return -1, -1, err
		}
		ve, err := skipValue(b, vi, string(key))
		if err != nil {
			return -1, -1, err
		}
		if string(key) == name {
			return vi, ve, nil
		}
		var more bool
		if i, more, err = afterValue(b, ve, '}', ""); err != nil {
			return -1, -1, err
		}
		if !more {
			return -1, -1, nil
		}
	}
}
