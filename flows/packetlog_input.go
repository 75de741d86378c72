package flows

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// looksLikeKernelLog decides, from the first lines of a non-JSON input,
// whether it is a kernel log: a line with a LOG line's fields, a syslog or
// journal line from the kernel, a journalctl header, or a dmesg line.
func looksLikeKernelLog(b []byte) bool {
	if len(b) == 0 || b[0] == '{' {
		return false
	}
	for n := 0; n < 64 && len(b) > 0; n++ {
		line := b
		if k := bytes.IndexByte(b, '\n'); k >= 0 {
			line, b = b[:k], b[k+1:]
		} else {
			b = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		switch {
		case packetLike(line):
			return true
		case bytes.HasPrefix(line, []byte("-- Journal begins")), bytes.HasPrefix(line, []byte("-- Logs begin")),
			bytes.HasPrefix(line, []byte("-- No entries --")), bytes.HasPrefix(line, []byte("-- Boot ")):
			return true
		case line[0] == '[':
			end := bytes.IndexByte(line, ']')
			if end < 0 {
				return false
			}
			if end+1 >= len(line) || line[end+1] != ' ' {
				return false
			}
			// dmesg's "[12345.678901] " (microseconds since boot).
			inner := bytes.TrimSpace(line[1:end])
			if _, err := strconv.ParseFloat(string(inner), 64); err == nil && bytes.IndexByte(inner, '.') > 0 {
				return true
			}
			_, _, e := dmesgEnvelope(line)
			return e == nil
		case line[0] >= '0' && line[0] <= '9':
			sp := bytes.IndexByte(line, ' ')
			if sp < 0 {
				return false
			}
			if _, ok := parseISO(string(line[:sp])); !ok {
				return false
			}
			rest := line[sp+1:]
			if h := bytes.IndexByte(rest, ' '); h > 0 && bytes.HasPrefix(rest[h:], []byte(" kernel: ")) {
				return true
			}
			// dmesg --time-format iso writes no host.
			if bytes.IndexByte(line[:sp], ',') >= 0 {
				return true
			}
			continue
		default:
			return false
		}
	}
	return false
}

func (r *decodeRun) newPacketDecoder() *packetDecoder {
	var opt PacketLogOptions
	if r.opt.Packets != nil {
		opt = *r.opt.Packets
	}
	if r.packets == nil {
		r.packets = &PacketStats{}
	}
	return newPacketDecoder(opt, r.packets)
}

// lokiAnswer is a Loki query_range (or query) answer.
type lokiAnswer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Error string `json:"error"`
}

// LokiStream is one stream of a Loki log-query answer.
type LokiStream struct {
	Stream map[string]string `json:"stream"`
	Values [][]string        `json:"values"`
}

// LokiEntry is one log line of a Loki answer with its stream's node.
type LokiEntry struct {
	Time int64 // Unix ns
	Node string
	Line string
	// Stream and Index locate the entry in the answer
	// (data.result[Stream].values[Index]).
	Stream, Index int
}

// LokiNodeLabels are the stream labels that name the node a line came
// from, in order of preference.
var LokiNodeLabels = []string{"node", "host", "hostname", "instance", "node_name"}

// ParseLokiStreams reads the entries of a Loki streams answer, sorted by
// time (ties in answer order). Values are [<ns epoch string>, <line>] (a
// third element, structured metadata, is ignored). bad receives each value
// that is not well formed.
func ParseLokiStreams(result []LokiStream, bad func(stream, index int, field, msg string)) []LokiEntry {
	var out []LokiEntry
	for si, s := range result {
		node := ""
		for _, l := range LokiNodeLabels {
			if v := s.Stream[l]; v != "" {
				node = v
				break
			}
		}
		for vi, v := range s.Values {
			if len(v) < 2 {
				bad(si, vi, "", "want [timestamp, line]")
				continue
			}
			ns, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				bad(si, vi, "0", strconv.Quote(v[0])+" is not a nanosecond timestamp")
				continue
			}
			out = append(out, LokiEntry{Time: ns, Node: node, Line: v[1], Stream: si, Index: vi})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out
}

// decodeLoki decodes a saved Loki query_range answer: the whole answer is
// read (logcli and the API page at 5,000 lines, so answers stay small),
// its entries merged across streams by time and decoded in that order.
func (r *decodeRun) decodeLoki(br *bufio.Reader, p plan) error {
	t := r.newTally()
	cr := &countingReader{r: br}
	var ans lokiAnswer
	dec := json.NewDecoder(cr)
	err := dec.Decode(&ans)
	r.bytes += cr.n
	if err != nil {
		return r.problem(t, Problem{File: r.name, Line: r.opt.StartLine, Record: -1, Reason: ReasonMalformedJSON,
			Msg: "Loki answer: " + err.Error()}, err)
	}
	if ans.Status != "success" {
		msg := "Loki answer status is " + strconv.Quote(ans.Status)
		if ans.Error != "" {
			msg += ": " + ans.Error
		}
		return r.problem(t, Problem{File: r.name, Line: r.opt.StartLine, Record: -1, Field: "status", Reason: ReasonNotFlow, Msg: msg}, nil)
	}
	if ans.Data.ResultType != "streams" {
		return r.problem(t, Problem{File: r.name, Line: r.opt.StartLine, Record: -1, Field: "data.resultType", Reason: ReasonNotFlow,
			Msg: strconv.Quote(ans.Data.ResultType) + " is not a log query's answer (want \"streams\": a metric query's counts carry no addresses per line)"}, nil)
	}
	var streams []LokiStream
	if err := json.Unmarshal(ans.Data.Result, &streams); err != nil {
		return r.problem(t, Problem{File: r.name, Line: r.opt.StartLine, Record: -1, Field: "data.result", Reason: ReasonWrongType, Msg: err.Error()}, err)
	}
	var perr error
	entries := ParseLokiStreams(streams, func(si, vi int, field, msg string) {
		f := fmt.Sprintf("data.result[%d].values[%d]", si, vi)
		if field != "" {
			f += "[" + field + "]"
		}
		if perr == nil {
			perr = r.problem(t, Problem{File: r.name, Line: r.opt.StartLine, Record: vi, Field: f, Reason: ReasonBadValue, Msg: msg}, nil)
		}
	})
	if perr != nil {
		return perr
	}
	d := r.newPacketDecoder()
	var f Flow
	for i, e := range entries {
		if i&1023 == 1023 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		line := []byte(e.Line)
		line = line[skipUptime(line, 0):]
		skip, re := d.decodeMessage(envelope{time: e.Time, node: e.Node, msg: line}, &f)
		if re != nil {
			p := Problem{File: r.name, Line: r.opt.StartLine, Record: e.Index,
				Field: fmt.Sprintf("data.result[%d].values[%d]: %s", e.Stream, e.Index, re.Field), Reason: re.Reason, Msg: re.Msg}
			if err := r.problem(t, p, nil); err != nil {
				return err
			}
			continue
		}
		if skip {
			continue
		}
		t.records++
		if err := r.emit(0, &f); err != nil {
			return err
		}
	}
	return nil
}

// PacketLines decodes packet-log lines one at a time, as they arrive from
// a source that pages (observe --loki), keeping one dedup window across
// pages. It is not safe for concurrent use.
type PacketLines struct {
	run *decodeRun
	t   *tally
	d   *packetDecoder
	f   Flow
}

// NewPacketLines returns a decoder for lines read from a source named
// name (used in problems).
func NewPacketLines(name string, opt Options) *PacketLines {
	r := &decodeRun{name: name, opt: opt, format: FormatPacketLog, documents: true}
	if r.opt.StartLine <= 0 {
		r.opt.StartLine = 1
	}
	p := &PacketLines{run: r, t: r.newTally()}
	p.d = r.newPacketDecoder()
	return p
}

// Entry decodes one line; emit receives the flow of a counted line. With
// opt.Strict a bad line is returned as a *DecodeError.
func (p *PacketLines) Entry(e LokiEntry, emit func(f *Flow) error) error {
	line := []byte(e.Line)
	line = line[skipUptime(line, 0):]
	skip, re := p.d.decodeMessage(envelope{time: e.Time, node: e.Node, msg: line}, &p.f)
	if re != nil {
		pr := Problem{File: p.run.name, Record: -1, Field: re.Field, Reason: re.Reason,
			Msg: re.Msg + " (line at " + strconv.FormatInt(e.Time, 10) + " ns, node " + strconv.Quote(e.Node) + ")"}
		return p.run.problem(p.t, pr, nil)
	}
	if skip {
		return nil
	}
	p.t.records++
	return emit(&p.f)
}

// Stats returns what was decoded so far.
func (p *PacketLines) Stats() Stats { return p.run.stats() }

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
