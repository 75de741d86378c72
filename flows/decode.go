package flows

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Format is an input encoding Decode understands.
type Format int

const (
	// FormatAuto detects the format from the input.
	FormatAuto Format = iota
	// FormatEnterprise is a Calico Enterprise flows.log JSON line or an
	// Elasticsearch _source document (one per line, pretty-printed, or a
	// JSON array of them).
	FormatEnterprise
	// FormatESSearch is a saved Elasticsearch _search response:
	// {"hits":{"hits":[{"_source":{...}}]}}.
	FormatESSearch
	// FormatLinseedList is a Linseed list response: {"total_hits":N,"items":[...]}.
	FormatLinseedList
	// FormatGoldmane is a Goldmane Flow in the emitter or the protojson
	// encoding: one per line, pretty-printed, or a JSON array.
	FormatGoldmane
	// FormatWhisker is a Whisker GET /flows response {"items":[FlowResponse...]}
	// or one bare FlowResponse per line.
	FormatWhisker
	// FormatWhiskerSSE is a Whisker watch stream: "data: {...}" lines.
	FormatWhiskerSSE
	// FormatPacketLog is kernel LOG lines written by a Calico Log rule
	// (journalctl -k, kern.log, dmesg, logcli output, a saved Loki
	// query_range answer); see packetlog.go.
	FormatPacketLog
)

var formatNames = [...]string{"auto", "enterprise", "es-search", "linseed-list", "goldmane", "whisker", "whisker-sse", "packet-log"}

// String returns the format's flag spelling.
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText renders the format's name, so reports in JSON or YAML read
// "enterprise" rather than a number.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText accepts what MarshalText writes.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFormat accepts the spellings String returns (case-insensitive).
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return Format(i), nil
		}
	}
	return FormatAuto, fmt.Errorf("unknown input format %q (want one of %s)", s, strings.Join(formatNames[:], ", "))
}

// Reasons a record is rejected; the keys of Stats.ByReason.
const (
	ReasonMalformedJSON  = "malformed JSON"
	ReasonWrongType      = "wrong type"
	ReasonBadValue       = "bad value"
	ReasonUnknownEnum    = "unknown enum"
	ReasonBadPolicy      = "bad policy string"
	ReasonNotFlow        = "not a flow record"
	ReasonTruncatedLine  = "truncated line"
	ReasonTruncatedDoc   = "truncated document"
	ReasonTruncatedGzip  = "truncated gzip"
	ReasonLineTooLong    = "line too long"
	ReasonStreamError    = "stream error"
	maxExamples          = 10
	defaultChunkSize     = 512 << 10
	defaultMaxLineLength = 32 << 20
)

// Problem locates one bad record.
type Problem struct {
	File string
	// Line is the 1-based line of the record (or, for a syntax error, of the
	// error); Column the 1-based byte column where the problem was found, 0
	// when unknown.
	Line   int
	Column int
	// Record is the record's index in its JSON array for document inputs
	// (hits.hits[Record], items[Record]); -1 for line-oriented inputs, where
	// Line identifies the record.
	Record int
	// Field names the offending field, as a path for document inputs
	// ("hits.hits[3]._source.dest_port"); empty when the record as a whole
	// is bad.
	Field string
	// Reason is one of the Reason* constants (the Stats.ByReason key).
	Reason string
	Msg    string
}

// String renders "file:line[:col]: field: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// DecodeError is returned in strict mode for the first bad record.
type DecodeError struct {
	Problem Problem
	Err     error // the underlying error, if any (a *GzipError, a *json.SyntaxError)
}

func (e *DecodeError) Error() string { return e.Problem.String() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Stats summarizes one Decode call.
type Stats struct {
	Format  Format
	Records int64 // records emitted
	Bad     int64 // records skipped
	Bytes   int64 // input bytes read (after decompression)
	// ByReason counts bad records per Reason* constant.
	ByReason map[string]int64
	// Examples holds the first 10 problems, in input order.
	Examples []Problem
	// Warnings note input-wide caveats (loss of fidelity, guessed format).
	Warnings []string
	// Documents is set when the input held JSON documents (pretty-printed
	// records, an array, a response wrapper) rather than one record per
	// line: such an input cannot be resumed at a line boundary.
	Documents bool
	// Packets counts what the packet-log decoder did (packet-log inputs
	// only).
	Packets *PacketStats `json:"packets,omitempty"`
}

// Merge adds o to s (for totals over several inputs). Examples stay capped
// at 10 and keep s's first.
func (s *Stats) Merge(o Stats) {
	s.Records += o.Records
	s.Bad += o.Bad
	s.Bytes += o.Bytes
	for k, v := range o.ByReason {
		if s.ByReason == nil {
			s.ByReason = map[string]int64{}
		}
		s.ByReason[k] += v
	}
	for _, p := range o.Examples {
		if len(s.Examples) < maxExamples {
			s.Examples = append(s.Examples, p)
		}
	}
	s.Warnings = append(s.Warnings, o.Warnings...)
	if o.Packets != nil {
		if s.Packets == nil {
			s.Packets = &PacketStats{}
		}
		s.Packets.merge(o.Packets)
	}
}

// Options tune Decode.
type Options struct {
	// Format, when not FormatAuto, chooses the record decoder and
	// Stats.Format (Enterprise, ESSearch and LinseedList all use the
	// Enterprise decoder). The input's structure (one record per line,
	// pretty-printed records, a JSON array, a response wrapper, gzip) is
	// still detected.
	Format Format
	// Strict makes the first bad record an error (a *DecodeError).
	Strict bool
	// Workers > 1 decodes line-oriented input (NDJSON, SSE) on that many
	// goroutines. Document inputs (pretty-printed, arrays, _search and list
	// responses) are always decoded by one goroutine.
	Workers int
	// StartLine is the line number of the input's first byte, for inputs
	// resumed at an offset; 0 means 1.
	StartLine int
	// Packets tunes packet-log inputs (prefix, pod attribution); nil
	// uses the defaults and attributes nothing.
	Packets *PacketLogOptions
}

// chunkSize and maxLineLength are variables so tests can force many chunk
// boundaries and long-line handling on small inputs.
var (
	chunkSize     = defaultChunkSize
	maxLineLength = defaultMaxLineLength
)

// Decode detects the format of r (unless opt.Format is set) and calls emit
// for every valid record; name is used in problems. Gzip input is
// decompressed transparently (detected by its magic bytes).
//
// The *Flow passed to emit is reused after emit returns: copy the struct to
// keep it. Every string and slice in it stays valid and may be retained
// without copying, but slices (labels, policy hits, domains) may be shared
// between records — decoders cache repeated label sets and traces — so
// treat them as read-only.
//
// Line-oriented input (NDJSON, SSE) is read in chunks of 512 KB cut at
// newlines (small enough that every pass over a chunk stays in the CPU
// caches). With opt.Workers > 1 a reader (the calling goroutine) hands the
// chunks to Workers goroutines through a bounded channel and gets the
// buffers back through a bounded pool, so memory stays at about
// 2*Workers+2 chunks whatever the input size; emit is then called
// concurrently, with the worker number 0..Workers-1, so callers keep one
// sink per worker. Otherwise emit is called with worker 0 from the calling
// goroutine. Problems carry correct line numbers either way. Document
// input (pretty-printed, arrays, _search and list responses) is streamed
// by one goroutine.
//
// The Enterprise decoder does not allocate per record once its caches are
// warm; its per-worker caches (interned strings, label sets, traces) are
// bounded and reset when full, so memory does not grow with the input.
//
// A bad record (malformed JSON, wrong-typed field, unknown enum, unparsable
// policy string, truncated last line, truncated gzip) is skipped and counted
// in Stats; with opt.Strict the first one is returned as a *DecodeError. In
// parallel strict mode records after the bad one may already have been
// emitted by other workers. An error from emit aborts decoding and is
// returned as is, as is ctx.Err() when ctx is cancelled; a read error other
// than a gzip one is returned wrapped with name. Stats are returned in
// every case.
func Decode(ctx context.Context, r io.Reader, name string, opt Options, emit func(worker int, f *Flow) error) (Stats, error) {
	if opt.StartLine <= 0 {
		opt.StartLine = 1
	}
	if opt.Workers < 1 {
		opt.Workers = 1
	}
	if emit == nil {
		emit = func(int, *Flow) error { return nil }
	}
	run := &decodeRun{ctx: ctx, name: name, opt: opt, emit: emit}
	br := bufio.NewReaderSize(&stickyReader{r: r}, 64<<10)
	p, err := run.detect(br)
	if err != nil {
		return run.stats(), err
	}
	run.format = p.format
	run.documents = p.mode == modeDocRecords || p.mode == modeDocWrapper || p.mode == modeLokiDoc
	if p.format == FormatWhisker || p.format == FormatWhiskerSSE {
		run.warn(whiskerWarning)
	}
	if p.format == FormatPacketLog {
		// One decoder sees every line in order: a 5-tuple is counted once
		// per dedup window across the whole input.
		run.opt.Workers = 1
		run.packets = &PacketStats{}
	}
	switch p.mode {
	case modeEmpty:
		err = nil
	case modeLokiDoc:
		err = run.decodeLoki(p.reader, p)
	case modeLines, modeSSE:
		err = run.decodeLines(p.reader, p)
	default:
		err = run.decodeDocuments(p.reader, p)
	}
	return run.stats(), err
}

type inputMode int

const (
	modeEmpty inputMode = iota
	modeLines
	modeSSE
	modeDocRecords // pretty-printed records, one after another, or an array
	modeDocWrapper // _search, Linseed or Whisker list responses
	modeLokiDoc    // a Loki query_range answer (packet-log lines)
)

type plan struct {
	mode   inputMode
	format Format // record format; FormatAuto = decide per document element
	// hits: the record objects are Elasticsearch hits to unwrap (_source).
	hits   bool
	reader *bufio.Reader
	skip   int // bytes before the first value (a UTF-8 BOM)
}

// decodeRun holds the state of one Decode call.
type decodeRun struct {
	ctx    context.Context
	name   string
	opt    Options
	emit   func(int, *Flow) error
	format Format
	bytes  int64
	// documents: the input is JSON documents, not lines (Stats.Documents).
	documents bool

	// packets counts packet-log lines (packet-log inputs only).
	packets *PacketStats

	mu         sync.Mutex
	tallies    []*tally
	warnings   []string
	lineCounts []int // lines per chunk, by seq (parallel decoding)
}

func (r *decodeRun) warn(w string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.warnings {
		if x == w {
			return
		}
	}
	r.warnings = append(r.warnings, w)
}

func (r *decodeRun) newTally() *tally {
	t := &tally{}
	r.mu.Lock()
	r.tallies = append(r.tallies, t)
	r.mu.Unlock()
	return t
}

func (r *decodeRun) stats() Stats {
	s := Stats{Format: r.format, Bytes: r.bytes, Warnings: r.warnings, Documents: r.documents, Packets: r.packets}
	if r.packets != nil {
		s.Warnings = append(append([]string(nil), s.Warnings...), PacketLogWarnings(r.packets)...)
	}
	var ex []Problem
	for _, t := range r.tallies {
		s.Records += t.records
		s.Bad += t.bad
		for k, v := range t.byReason {
			if s.ByReason == nil {
				s.ByReason = map[string]int64{}
			}
			s.ByReason[k] += v
		}
		ex = append(ex, t.examples...)
	}
	sort.SliceStable(ex, func(i, j int) bool {
		if ex[i].Line != ex[j].Line {
			return ex[i].Line < ex[j].Line
		}
		return ex[i].Column < ex[j].Column
	})
	if len(ex) > maxExamples {
		ex = ex[:maxExamples]
	}
	s.Examples = ex
	return s
}

// tally counts one goroutine's records and problems.
type tally struct {
	records  int64
	bad      int64
	byReason map[string]int64
	examples []Problem
	// seqs holds, for each example, the chunk its Line is relative to
	// (parallel decoding), or -1 when Line is absolute.
	seqs []int
}

func (t *tally) add(p Problem, seq int) {
	t.bad++
	if t.byReason == nil {
		t.byReason = map[string]int64{}
	}
	t.byReason[p.Reason]++
	if len(t.examples) < maxExamples {
		t.examples = append(t.examples, p)
		t.seqs = append(t.seqs, seq)
	}
}

// problem records p and, in strict mode, returns it as an error.
func (r *decodeRun) problem(t *tally, p Problem, cause error) error {
	return r.problemIn(t, p, -1, cause)
}

// problemIn records p, whose Line is relative to chunk seq when seq >= 0.
func (r *decodeRun) problemIn(t *tally, p Problem, seq int, cause error) error {
	t.add(p, seq)
	if r.opt.Strict {
		return &DecodeError{Problem: p, Err: cause}
	}
	return nil
}

// setLines records how many lines chunk seq held (parallel decoding).
func (r *decodeRun) setLines(seq, n int) {
	r.mu.Lock()
	for len(r.lineCounts) <= seq {
		r.lineCounts = append(r.lineCounts, 0)
	}
	r.lineCounts[seq] = n
	r.mu.Unlock()
}

// chunkStarts returns the first line number of every chunk seen, plus one
// past the last, from the per-chunk line counts.
func (r *decodeRun) chunkStarts() []int {
	starts := make([]int, len(r.lineCounts)+1)
	starts[0] = r.opt.StartLine
	for i, n := range r.lineCounts {
		starts[i+1] = starts[i] + n
	}
	return starts
}

func lineAt(starts []int, seq int) int {
	if seq >= len(starts) {
		seq = len(starts) - 1
	}
	return starts[seq]
}

// fixLines turns chunk-relative problem lines into absolute ones.
func (r *decodeRun) fixLines() []int {
	starts := r.chunkStarts()
	for _, t := range r.tallies {
		for k, seq := range t.seqs {
			if seq >= 0 {
				t.examples[k].Line += lineAt(starts, seq)
				t.seqs[k] = -1
			}
		}
	}
	return starts
}

const whiskerWarning = "whisker input: flows carry no endpoint types (inferred: a namespace means a pod, PUBLIC/PRIVATE NETWORK a network), " +
	"no service fields and no connection counts (each record counts as one flow); labels were joined with \" | \" and are split back"

// ---- detection ----

const peekMax = 1 << 20

var gzipMagic = []byte{0x1f, 0x8b}

// detect chooses the input mode and record format by looking at the first
// bytes of the input.
func (r *decodeRun) detect(br *bufio.Reader) (plan, error) {
	p := plan{reader: br}
	head, err := br.Peek(2)
	if len(head) == 2 && bytes.Equal(head, gzipMagic) {
		br = bufio.NewReaderSize(&gzipReader{src: br}, 64<<10)
		p.reader = br
	} else if err != nil && len(head) == 0 && err != io.EOF {
		return p, r.readErr(err)
	}
	n := 4 << 10
	for {
		buf, err := br.Peek(n)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull && len(buf) == 0 {
			var gz *GzipError
			if errors.As(err, &gz) {
				// Nothing decodable: report the gzip problem, decode nothing.
				return plan{mode: modeEmpty}, r.gzipProblem(r.newTally(), gz, r.opt.StartLine)
			}
			return p, r.readErr(err)
		}
		full := err != nil || len(buf) < n // everything there is, or all we may look at
		if bytes.HasPrefix(buf, []byte("\xef\xbb\xbf")) {
			p.skip = 3
		}
		d, decided := classify(buf[p.skip:], full || n >= peekMax)
		if decided {
			p.mode, p.format, p.hits = d.mode, d.format, d.hits
			break
		}
		if n >= peekMax {
			break
		}
		n *= 2
		if n > br.Size() {
			// Grow the reader so Peek can look further.
			br = bufio.NewReaderSize(br, peekMax)
			p.reader = br
		}
	}
	if p.mode == modeEmpty {
		return p, nil
	}
	// A forced format chooses the record decoder; the structure (lines,
	// pretty-printed records, arrays, response wrappers) is always detected.
	if f := r.opt.Format; f != FormatAuto {
		switch {
		case p.mode == modeLokiDoc:
			f = FormatPacketLog // a Loki answer holds nothing else
		case f == FormatPacketLog:
			p.mode = modeLines
		case f == FormatWhiskerSSE:
			p.mode = modeSSE
		case p.mode == modeSSE:
			p.mode = modeLines
		}
		p.format = f
	}
	if p.format == FormatAuto && (p.mode == modeLines || p.mode == modeSSE) {
		p.format = FormatEnterprise
		if p.mode == modeSSE {
			p.format = FormatWhiskerSSE
		}
	}
	return p, nil
}

type detection struct {
	mode   inputMode
	format Format
	hits   bool
}

// classify decides from the first bytes (all of the input when final).
func classify(b []byte, final bool) (detection, bool) {
	i := skipWS(b, 0)
	if i >= len(b) {
		if final {
			return detection{mode: modeEmpty}, true
		}
		return detection{}, false
	}
	rest := b[i:]
	for _, pfx := range []string{"data:", "event:", "id:", "retry:", "error:", ":"} {
		if bytes.HasPrefix(rest, []byte(pfx)) {
			return detection{mode: modeSSE, format: FormatWhiskerSSE}, true
		}
	}
	if looksLikeKernelLog(rest) {
		return detection{mode: modeLines, format: FormatPacketLog}, true
	}
	switch b[i] {
	case '[':
		return classifyArray(b, i, final)
	case '{':
	default:
		// Not JSON at the start: decode line by line so every bad line is
		// reported and later good lines still count.
		return detection{mode: modeLines, format: FormatEnterprise}, true
	}
	k := scanKeys(b, i)
	if k.lokiData {
		return detection{mode: modeLokiDoc, format: FormatPacketLog}, true
	}
	if !k.complete && !final {
		if k.journal {
			return detection{mode: modeLines, format: FormatPacketLog}, true
		}
		if k.hits || k.items || k.flows {
			// Wrapper keys decide without seeing the whole object.
			return detection{mode: modeDocWrapper, format: k.recordFormat()}, true
		}
		return detection{}, false
	}
	if k.hits || k.items || (k.flows && !k.key) {
		return detection{mode: modeDocWrapper, format: k.recordFormat()}, true
	}
	if k.multiLine && !k.complete {
		// The first object does not scan. If the next line opens an
		// object, this is a malformed first line of one-record-per-line
		// input (a pretty-printed record's next line holds a key or a
		// closing brace): decode line by line, so that one bad line does
		// not take the records after it with it, in the format of the
		// next record.
		if j := nextLineStart(b, i); j < len(b) && b[j] == '{' {
			k2 := scanKeys(b, j)
			return detection{mode: modeLines, format: k2.recordFormat(), hits: k2.source}, true
		}
	}
	mode := modeLines
	if k.multiLine {
		mode = modeDocRecords
	}
	return detection{mode: mode, format: k.recordFormat(), hits: k.source}, true
}

// classifyArray decides an input that starts with '[' at b[i]. Normally
// that is a JSON array of records, whose element format is decided by the
// first element. But an array that closes on its own first line and is
// followed, on the next line, by a one-line object is the first line of a
// JSON-lines input (a stray "[1,2,3]"): it is decoded line by line, so
// that the array is one bad line, not one bad record per element, and the
// lines after it keep their own line numbers.
func classifyArray(b []byte, i int, final bool) (detection, bool) {
	array := detection{mode: modeDocRecords, format: FormatAuto}
	nl := bytes.IndexByte(b[i:], '\n')
	if nl < 0 {
		if final {
			return array, true // a one-line input: an array document
		}
		return detection{}, false
	}
	end, err := skipNested(b[:i+nl], i, "")
	if err != nil {
		return array, true // spans lines (pretty-printed) or is malformed
	}
	if j := skipWS(b, end); j < i+nl {
		return array, true // more on the array's line
	}
	j := skipWS(b, i+nl)
	if j >= len(b) {
		if final {
			return array, true
		}
		return detection{}, false
	}
	if b[j] != '{' {
		return array, true
	}
	k := scanKeys(b, j)
	if !k.complete && !final {
		return detection{}, false
	}
	if k.multiLine || k.hits || k.items || k.flows {
		return array, true
	}
	return detection{mode: modeLines, format: k.recordFormat(), hits: k.source}, true
}

// nextLineStart returns the index of the first non-blank byte after the
// line holding b[i] (len(b) when there is none).
func nextLineStart(b []byte, i int) int {
	nl := bytes.IndexByte(b[i:], '\n')
	if nl < 0 {
		return len(b)
	}
	return skipWS(b, i+nl+1)
}

// keyInfo is what the keys of an input's first object say about it.
type keyInfo struct {
	hits, items, flows, source, key, flow  bool
	aggr, proto, protocol, startStr, camel bool
	complete, multiLine                    bool
	// journal: journalctl -o json or logcli jsonl keys; lokiData: a Loki
	// answer's "data" next to "status".
	journal, lokiData, status, data bool
}

func (k keyInfo) recordFormat() Format {
	switch {
	case k.journal:
		return FormatPacketLog
	case k.hits || k.source:
		return FormatESSearch
	case k.key || k.flow || k.flows || k.camel:
		return FormatGoldmane
	case k.items:
		return FormatAuto // Linseed or Whisker: decided by an element
	case k.aggr || k.proto:
		return FormatEnterprise
	case k.protocol || k.startStr:
		return FormatWhisker
	}
	return FormatEnterprise
}

// scanKeys walks the top-level keys of the object at b[i], tolerating a
// truncated window.
func scanKeys(b []byte, i int) keyInfo {
	var k keyInfo
	var scratch []byte
	start := i
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		k.complete = true
		return k
	}
	for i < len(b) {
		key, vi, err := readKey(b, i, &scratch, "")
		if err != nil {
			break
		}
		switch string(key) {
		case "hits":
			k.hits = true
		case "items":
			k.items = true
		case "flows":
			k.flows = true
		case "_source":
			k.source = true
		case "Key":
			k.key = true
		case "flow":
			k.flow = true
		case "source_name_aggr", "dest_name_aggr", "num_flows", "num_flows_started", "dest_service_port_num", "dest_domains":
			k.aggr = true
		case "proto":
			k.proto = true
		case "protocol":
			k.protocol = true
		case "startTime", "sourceLabels", "numConnectionsStarted":
			k.camel = true
		case "start_time":
			if b[vi] == '"' {
				k.startStr = true
			}
		case "__REALTIME_TIMESTAMP", "MESSAGE":
			k.journal = true
		case "line":
			if b[vi] == '"' {
				k.journal = true
			}
		case "status":
			k.status = true
		case "data":
			k.data = true
		}
		k.lokiData = k.status && k.data
		end, err := skipValue(b, vi, "")
		if err != nil {
			break
		}
		var more bool
		i, more, err = afterValue(b, end, '}', "")
		if err != nil {
			break
		}
		if !more {
			k.complete = true
			k.multiLine = bytes.IndexByte(b[start:i], '\n') >= 0
			return k
		}
	}
	k.multiLine = bytes.IndexByte(b[start:], '\n') >= 0
	return k
}

// ---- line-oriented inputs ----

// lineDecoder decodes one line of a line-oriented input.
type lineDecoder interface {
	// decodeLine decodes one non-blank line into f. skip reports a line
	// that carries no record (SSE framing).
	decodeLine(b []byte, f *Flow) (skip bool, err *recErr)
}

func (r *decodeRun) newLineDecoder(p plan) lineDecoder {
	if p.hits || p.format == FormatESSearch {
		// Elasticsearch hits, one per line (a plain document is decoded as
		// is when it has no _source).
		return &hitLineDecoder{ee: newEEDecoder()}
	}
	switch p.format {
	case FormatPacketLog:
		return r.newPacketDecoder()
	case FormatGoldmane:
		return newGoldmaneDecoder()
	case FormatWhisker:
		return newWhiskerDecoder()
	case FormatWhiskerSSE:
		return &sseDecoder{w: newWhiskerDecoder()}
	}
	return newEEDecoder()
}

// chunk is a run of complete lines.
type chunk struct {
	buf   []byte // backing buffer, returned to the pool after use
	data  []byte
	seq   int  // position in the input
	final bool // the input ends with data; its last line may lack '\n'
}

// chunkReader cuts the input into chunks at newlines. It does not count
// lines: the workers do as they walk them. In serial mode the caller keeps
// line (the line number of the next chunk's first byte) up to date; in
// parallel mode problems found here are recorded relative to a chunk seq.
type chunkReader struct {
	run      *decodeRun
	tally    *tally // reader-level problems (long lines, gzip)
	r        io.Reader
	carry    []byte
	line     int  // serial mode only
	relative bool // parallel mode
	seq      int
	rerr     error
	gz       *GzipError // set when the input ended with gzip damage
	done     bool
	errSeq   int // seq of a strict problem returned by next (parallel mode)
}

// next fills buf (len 0) and returns the next chunk; ok is false at the end
// of the input. A gzip error ends the input (see finish); other read errors
// are returned after the last complete lines.
func (c *chunkReader) next(buf []byte) (ck chunk, ok bool, err error) {
	if c.done {
		return chunk{}, false, nil
	}
	buf = append(buf[:0], c.carry...)
	c.carry = c.carry[:0]
	for {
		for len(buf) < cap(buf) && c.rerr == nil {
			n, err := c.r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			c.run.bytes += int64(n)
			if err != nil {
				c.rerr = err
			}
		}
		if c.rerr != nil {
			c.done = true
			data := buf
			clean := c.rerr == io.EOF
			if !clean {
				// Decode the complete lines; the incomplete tail belongs to
				// the damaged stream.
				k := bytes.LastIndexByte(buf, '\n')
				data = buf[:k+1]
			}
			ck = chunk{buf: buf, data: data, seq: c.seq, final: clean}
			c.seq++
			var gz *GzipError
			if errors.As(c.rerr, &gz) {
				c.gz = gz
			} else if !clean {
				return ck, len(data) > 0, c.run.readErr(c.rerr)
			}
			return ck, len(data) > 0, nil
		}
		if k := bytes.LastIndexByte(buf, '\n'); k >= 0 {
			c.carry = append(c.carry, buf[k+1:]...)
			ck = chunk{buf: buf, data: buf[:k+1], seq: c.seq}
			c.seq++
			return ck, true, nil
		}
		// A full buffer without a newline: one line longer than the buffer.
		if cap(buf) < maxLineLength {
			nb := make([]byte, len(buf), min(2*cap(buf), maxLineLength))
			copy(nb, buf)
			buf = nb
			continue
		}
		if err := c.skipLongLine(); err != nil {
			return chunk{}, false, err
		}
		buf = append(buf[:0], c.carry...)
		c.carry = c.carry[:0]
	}
}

// skipLongLine discards input up to and including the next newline.
func (c *chunkReader) skipLongLine() error {
	p := Problem{File: c.run.name, Record: -1, Reason: ReasonLineTooLong,
		Msg: fmt.Sprintf("line longer than %d bytes skipped", maxLineLength)}
	var tmp [32 << 10]byte
	for {
		n, err := c.r.Read(tmp[:])
		c.run.bytes += int64(n)
		if k := bytes.IndexByte(tmp[:n], '\n'); k >= 0 {
			c.carry = append(c.carry, tmp[k+1:n]...)
			break
		}
		if err != nil {
			c.rerr = err
			break
		}
	}
	return c.reportHere(p, nil)
}

// reportHere records a problem at the current position: the line the next
// chunk would start with. The skipped line (if any) counts as one line.
func (c *chunkReader) reportHere(p Problem, cause error) error {
	if !c.relative {
		p.Line = c.line
		if p.Reason == ReasonLineTooLong {
			c.line++
		}
		return c.run.problem(c.tally, p, cause)
	}
	// A pseudo-chunk holding just this line.
	seq := c.seq
	c.seq++
	if p.Reason == ReasonLineTooLong {
		c.run.setLines(seq, 1)
	}
	err := c.run.problemIn(c.tally, p, seq, cause)
	if err != nil {
		c.errSeq = seq
	}
	return err
}

// finish reports gzip damage at the end of the input, once the lines
// before it have been counted.
func (c *chunkReader) finish() error {
	if c.gz == nil {
		return nil
	}
	gz := c.gz
	c.gz = nil
	return c.reportHere(Problem{File: c.run.name, Record: -1, Reason: ReasonTruncatedGzip,
		Msg: "gzip stream truncated or corrupt (" + gz.Err.Error() + "); the rest of the input is lost"}, gz)
}

func (r *decodeRun) gzipProblem(t *tally, gz *GzipError, line int) error {
	p := Problem{File: r.name, Line: line, Record: -1, Reason: ReasonTruncatedGzip,
		Msg: "gzip stream truncated or corrupt (" + gz.Err.Error() + "); the rest of the input is lost"}
	return r.problem(t, p, gz)
}

func (r *decodeRun) readErr(err error) error {
	return fmt.Errorf("%s: read: %w", r.name, err)
}

// lineWorker decodes chunks with its own decoder, Flow and tally.
type lineWorker struct {
	run   *decodeRun
	id    int
	dec   lineDecoder
	flow  Flow
	tally *tally
}

// errAborted stops a worker whose chunk lies after an abort point.
var errAborted = errors.New("aborted")

// decodeChunk decodes the lines of ck and returns how many newlines it
// passed. Problem lines are base + the line's index in the chunk; with
// relative set they are recorded relative to ck.seq. It returns the first
// error (a strict problem or emit's error). abort, when set, is polled to
// stop early.
func (w *lineWorker) decodeChunk(ck *chunk, base int, relative bool, abort *atomic.Int64) (int, error) {
	data := ck.data
	line := 0
	run := w.run
	seq := -1
	if relative {
		seq = ck.seq
	}
	for ; len(data) > 0; line++ {
		if line&1023 == 1023 {
			if abort != nil && int64(ck.seq) > abort.Load() {
				return line, errAborted
			}
			if err := run.ctx.Err(); err != nil {
				return line, err
			}
		}
		var ln []byte
		last := false
		if k := bytes.IndexByte(data, '\n'); k >= 0 {
			ln, data = data[:k], data[k+1:]
		} else {
			ln, data, last = data, nil, ck.final
		}
		if k := len(ln); k > 0 && ln[k-1] == '\r' {
			ln = ln[:k-1]
		}
		if len(ln) == 0 || (ln[0] <= ' ' && skipWS(ln, 0) == len(ln)) {
			continue
		}
		if len(ln) > maxLineLength {
			// Normally cut off by the chunk reader; a long line can also
			// arrive whole right after one it skipped.
			p := Problem{File: run.name, Line: base + line, Record: -1, Reason: ReasonLineTooLong,
				Msg: fmt.Sprintf("line longer than %d bytes skipped", maxLineLength)}
			if err := run.problemIn(w.tally, p, seq, nil); err != nil {
				return line, err
			}
			continue
		}
		skip, e := w.dec.decodeLine(ln, &w.flow)
		if e != nil {
			p := Problem{File: run.name, Line: base + line, Column: e.Off + 1, Record: -1, Field: e.Field, Reason: e.Reason, Msg: e.Msg}
			if e.EOF && last {
				p.Reason = ReasonTruncatedLine
				p.Msg = "last line is incomplete (" + strconv.Itoa(len(ln)) + " bytes, no newline): file still being written or cut off"
				p.Column = 0
			}
			if err := run.problemIn(w.tally, p, seq, nil); err != nil {
				return line, err
			}
		} else if !skip {
			w.tally.records++
			if err := run.emit(w.id, &w.flow); err != nil {
				return line, err
			}
		}
	}
	if len(ck.data) > 0 && ck.data[len(ck.data)-1] != '\n' {
		line-- // the last line has no newline
	}
	return line, nil
}

func (r *decodeRun) decodeLines(br *bufio.Reader, p plan) error {
	if p.skip > 0 {
		_, _ = br.Discard(p.skip)
		r.bytes += int64(p.skip)
	}
	cr := &chunkReader{run: r, tally: r.newTally(), r: br, line: r.opt.StartLine}
	if r.opt.Workers > 1 {
		cr.relative = true
		return r.decodeLinesParallel(cr, p)
	}
	w := &lineWorker{run: r, dec: r.newLineDecoder(p), tally: r.newTally()}
	// Start small so small inputs stay cheap; double up to chunkSize while
	// chunks come back full.
	buf := make([]byte, 0, min(chunkSize, 64<<10))
	var pooled *[]byte
	defer func() {
		if pooled != nil {
			putChunkBuf(pooled)
		}
	}()
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		ck, ok, err := cr.next(buf)
		if ok {
			n, derr := w.decodeChunk(&ck, cr.line, false, nil)
			cr.line += n
			if derr != nil {
				return derr
			}
			switch {
			case cap(ck.buf) > chunkSize:
				// Grown for a long line: keep using the normal buffer.
			case cap(ck.buf) < chunkSize && len(ck.buf) == cap(ck.buf):
				if 2*cap(ck.buf) >= chunkSize {
					pooled = getChunkBuf()
					buf = (*pooled)[:0]
				} else {
					buf = make([]byte, 0, 2*cap(ck.buf))
				}
			default:
				buf = ck.buf
			}
		}
		if err != nil {
			return err
		}
		if !ok && cr.done {
			return cr.finish()
		}
	}
}

// decodeLinesParallel runs the chunk reader on the calling goroutine and
// opt.Workers decoding goroutines. Chunks travel through a bounded channel
// and buffers come back through a bounded pool, so memory stays at about
// (2*Workers+2) chunks whatever the input size. Workers count the lines of
// their chunks; problem lines are made absolute at the end.
func (r *decodeRun) decodeLinesParallel(cr *chunkReader, p plan) error {
	nw := r.opt.Workers
	pd := &parallelDecode{
		run:     r,
		work:    make(chan chunk, nw),
		nbuf:    2*nw + 2,
		results: make([]chunkResult, nw),
	}
	pd.pool = make(chan []byte, pd.nbuf)
	pd.abort.Store(math.MaxInt64)
	var wg sync.WaitGroup
	for id := 0; id < nw; id++ {
		w := &lineWorker{run: r, id: id, dec: r.newLineDecoder(p), tally: r.newTally()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pd.worker(w)
		}()
	}
	readErr := pd.feed(cr)
	close(pd.work)
	wg.Wait()
	starts := r.fixLines()

	if err := r.ctx.Err(); err != nil {
		return err
	}
	if pd.firstHard != nil {
		return pd.firstHard
	}
	// The strict problem of the earliest chunk (lines within a chunk are
	// found in order, so the worker's first is the chunk's first).
	var best *DecodeError
	bestSeq := math.MaxInt
	for _, res := range pd.results {
		var de *DecodeError
		if res.err != nil && errors.As(res.err, &de) && res.seq < bestSeq {
			best, bestSeq = de, res.seq
		}
	}
	var rde *DecodeError
	if errors.As(readErr, &rde) && cr.errSeq < bestSeq {
		best, bestSeq = rde, cr.errSeq
	}
	if best != nil {
		best.Problem.Line += lineAt(starts, bestSeq)
		return best
	}
	return readErr
}

// parallelDecode is the state decodeLinesParallel's reader and workers share.
type parallelDecode struct {
	run   *decodeRun
	work  chan chunk
	nbuf  int
	pool  chan []byte
	abort atomic.Int64 // chunks with seq > abort are skipped
	// results are each worker's first error and its chunk.
	results   []chunkResult
	firstHard error // emit and context errors, first by time
	hardOnce  sync.Once
}

type chunkResult struct {
	err error
	seq int
}

// worker decodes chunks until the work channel closes, returning every
// buffer to the pool.
func (pd *parallelDecode) worker(w *lineWorker) {
	res := &pd.results[w.id]
	for ck := range pd.work {
		if res.err == nil && int64(ck.seq) <= pd.abort.Load() {
			n, err := w.decodeChunk(&ck, 0, true, &pd.abort)
			pd.run.setLines(ck.seq, n)
			if err != nil && err != errAborted {
				*res = chunkResult{err, ck.seq}
				pd.stopAfter(ck.seq, err)
			}
		}
		if cap(ck.buf) <= chunkSize {
			pd.pool <- ck.buf[:0]
		} else {
			// A buffer grown for a long line is dropped; nil tells the
			// reader to allocate a normal one.
			pd.pool <- nil
		}
	}
}

// stopAfter records a worker's error: a strict problem stops decoding after
// its chunk (earlier chunks finish so the first problem wins); any other
// error stops it at once.
func (pd *parallelDecode) stopAfter(seq int, err error) {
	var de *DecodeError
	if !errors.As(err, &de) {
		pd.hardOnce.Do(func() { pd.firstHard = err })
		pd.abort.Store(-1)
		return
	}
	for {
		cur := pd.abort.Load()
		if int64(seq) >= cur || pd.abort.CompareAndSwap(cur, int64(seq)) {
			break
		}
	}
}

// feed reads chunks into the work channel, with buffers from the pool (at
// most nbuf allocated), until the input ends, the context ends or decoding
// is aborted; it returns the reader's error.
func (pd *parallelDecode) feed(cr *chunkReader) error {
	r := pd.run
	allocated := 0
	var owned []*[]byte // full-size buffers to give back to chunkPool
	defer func() {
		for _, b := range owned {
			putChunkBuf(b)
		}
	}()
	done := r.ctx.Done()
	for {
		var buf []byte
		got := false
		select {
		case buf = <-pd.pool:
			got = true
		default:
			if allocated < pd.nbuf {
				b := getChunkBuf()
				owned = append(owned, b)
				buf, got = (*b)[:0], true
				allocated++
			} else {
				select {
				case buf = <-pd.pool:
					got = true
				case <-done:
				}
			}
		}
		if !got || r.ctx.Err() != nil {
			return nil
		}
		if buf == nil {
			buf = make([]byte, 0, chunkSize)
		}
		ck, ok, err := cr.next(buf)
		if ok {
			if int64(ck.seq) > pd.abort.Load() {
				return nil
			}
			select {
			case pd.work <- ck:
			case <-done:
			}
		}
		if err != nil {
			return err
		}
		if !ok && cr.done {
			return cr.finish()
		}
	}
}

// chunkPool keeps full-size chunk buffers between Decode calls, so decoding
// many files does not allocate (and zero) new multi-megabyte buffers each
// time.
var chunkPool sync.Pool

func getChunkBuf() *[]byte {
	if b, ok := chunkPool.Get().(*[]byte); ok && cap(*b) == chunkSize {
		return b
	}
	b := make([]byte, 0, chunkSize)
	return &b
}

func putChunkBuf(b *[]byte) {
	if cap(*b) == chunkSize {
		*b = (*b)[:0]
		chunkPool.Put(b)
	}
}

// stickyReader repeats the first read error (other than io.EOF) on every
// later Read. bufio.Reader.Peek hands an error to its caller once and then
// forgets it; format detection peeks, so without this a failing read there
// would look like a clean end of input.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
