package flows

import (
	"bytes"
	"strings"
	"time"
)

// Whisker backend responses (flow-logs.md §6): GET /flows returns
// {"total":{..},"items":[FlowResponse..]} (handled by the document walker),
// GET /flows?watch=true an SSE stream of "data: <FlowResponse>" lines.
//
// A FlowResponse is a lossy rendering of a Goldmane flow: RFC 3339 times,
// pub/pvt renamed "PUBLIC NETWORK"/"PRIVATE NETWORK", labels joined with
// " | ", enums by name, and no endpoint types, service fields or connection
// counts. Decode adds a warning once per input saying so.

const (
	whiskerPublic  = "PUBLIC NETWORK"
	whiskerPrivate = "PRIVATE NETWORK"
	// whiskerGlobal is what some Whisker versions show for "no namespace";
	// Kubernetes namespace names are lower case, so it cannot be a real one.
	whiskerGlobal = "Global"
)

type whiskerDecoder struct {
	jsonObjectDecoder
	offs fieldOffsets
}

func newWhiskerDecoder() *whiskerDecoder {
	return &whiskerDecoder{jsonObjectDecoder: newJSONObjectDecoder()}
}

func (w *whiskerDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	return false, w.decode(b, f)
}

// decode maps one FlowResponse onto f. Endpoint types are inferred: the two
// network names give Network (NameAggr pub/pvt), a namespace gives
// WorkloadEndpoint, anything else stays unknown. Names follow the Goldmane
// mapping (goldmaneNames). NumFlows is 1.
func (w *whiskerDecoder) decode(b []byte, f *Flow) *recErr {
	*f = Flow{}
	i := skipWS(b, 0)
	if i >= len(b) {
		return errEOF(i, "")
	}
	var (
		names                bool
		bin, bout, pin, pout int64
	)
	w.offs.reset()
	end, err := w.members(b, i, "", func(key []byte, vi int) (int, *recErr) {
		var end, v int
		var err *recErr
		switch string(key) {
		case "start_time":
			w.offs.start = vi
			f.Start, end, err = w.timeAt(b, vi, "start_time")
		case "end_time":
			w.offs.end = vi
			f.End, end, err = w.timeAt(b, vi, "end_time")
		case "action":
			v, end, err = w.enumAt(b, vi, "action", "Action", int(ActionPass), actionByName)
			f.Action = Action(v)
		case "reporter":
			v, end, err = w.enumAt(b, vi, "reporter", "Reporter", int(ReporterDst), reporterByName)
			f.Reporter = Reporter(v)
		case "source_name":
			f.Source.NameAggr, end, err = w.text(b, vi, "source_name")
			names = true
		case "dest_name":
			f.Dest.NameAggr, end, err = w.text(b, vi, "dest_name")
			names = true
		case "source_namespace":
			f.Source.Namespace, end, err = w.text(b, vi, "source_namespace")
		case "dest_namespace":
			f.Dest.Namespace, end, err = w.text(b, vi, "dest_namespace")
		case "source_labels":
			f.Source.Labels, end, err = w.labelsAt(b, vi, "source_labels")
		case "dest_labels":
			f.Dest.Labels, end, err = w.labelsAt(b, vi, "dest_labels")
		case "protocol":
			f.Proto, end, err = w.protoAt(b, vi, "protocol")
		case "proto":
			f.Proto, end, err = w.protoAt(b, vi, "proto")
		case "dest_port":
			w.offs.destPort = vi
			f.Dest.Port, end, err = w.portAt(b, vi, "dest_port")
		case "policies":
			end, err = w.trace(b, vi, "policies", &f.Policies)
		case "packets_in":
			pin, end, err = w.countAt(b, vi, "packets_in")
		case "packets_out":
			pout, end, err = w.countAt(b, vi, "packets_out")
		case "bytes_in":
			bin, end, err = w.countAt(b, vi, "bytes_in")
		case "bytes_out":
			bout, end, err = w.countAt(b, vi, "bytes_out")
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
	if !names {
		return &recErr{Reason: ReasonNotFlow, Msg: "no source_name or dest_name: not a Whisker flow"}
	}
	whiskerEndpoint(&f.Source)
	whiskerEndpoint(&f.Dest)
	f.NumFlows = 1
	f.Bytes = bin + bout
	f.Packets = pin + pout
	// Whisker shows Goldmane flows, whose ports are never aggregated away.
	return checkFlow(f, true, &w.offs, nil)
}

func whiskerEndpoint(e *Endpoint) {
	if e.Namespace == whiskerGlobal {
		e.Namespace = ""
	}
	switch e.NameAggr {
	case whiskerPublic:
		e.Type, e.NameAggr = EndpointNetwork, "pub"
	case whiskerPrivate:
		e.Type, e.NameAggr = EndpointNetwork, "pvt"
	default:
		if e.Namespace != "" {
			e.Type = EndpointWorkload
		}
	}
	if e.Labels == nil {
		e.Labels = emptyLabels
	}
	goldmaneNames(e)
}

// labelsAt splits the " | "-joined label string (Kubernetes label keys and
// values cannot contain spaces, so the split is exact). An array is
// accepted too.
func (w *whiskerDecoder) labelsAt(b []byte, i int, field string) ([]string, int, *recErr) {
	if b[i] == '[' || b[i] == 'n' {
		return w.stringList(b, i, field)
	}
	s, _, end, err := w.rawString(b, i, field)
	if err != nil {
		return nil, end, err
	}
	if len(s) == 0 {
		return emptyLabels, end, nil
	}
	if v, ok := w.labels.get(s); ok {
		return v, end, nil
	}
	out := make([]string, 0, bytes.Count(s, []byte(" | "))+1)
	for _, part := range strings.Split(string(s), " | ") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, w.in.str([]byte(part)))
		}
	}
	w.labels.put(string(s), out, 16*len(out))
	return out, end, nil
}

// timeAt reads an RFC 3339 time (or epoch seconds).
func (w *whiskerDecoder) timeAt(b []byte, i int, field string) (int64, int, *recErr) {
	if b[i] != '"' {
		return w.int64At(b, i, field)
	}
	s, _, end, err := w.rawString(b, i, field)
	if err != nil || len(s) == 0 {
		return 0, end, err
	}
	t, perr := time.Parse(time.RFC3339Nano, string(s))
	if perr != nil {
		return 0, end, errValue(i, field, ReasonBadValue, "invalid RFC 3339 time: "+perr.Error())
	}
	return t.Unix(), end, nil
}

// sseDecoder decodes a Whisker watch stream line by line.
type sseDecoder struct {
	w *whiskerDecoder
}

func (s *sseDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	field, val, ok := bytes.Cut(b, []byte{':'})
	if !ok {
		return false, errMalformed(0, "", "unexpected line in event stream (want data:, event:, id: or error:)")
	}
	off := len(field) + 1
	if len(val) > 0 && val[0] == ' ' {
		val = val[1:]
		off++
	}
	switch string(field) {
	case "data":
		if skipWS(val, 0) == len(val) {
			return true, nil
		}
		if e := s.w.decode(val, f); e != nil {
			e.Off += off
			return false, e
		}
		return false, nil
	case "", "event", "id", "retry":
		return true, nil
	case "error":
		return false, &recErr{Off: off, Reason: ReasonStreamError, Msg: "server sent error: " + string(bytes.TrimSpace(val))}
	}
	return false, errMalformed(0, "", "unexpected line in event stream (want data:, event:, id: or error:)")
}
