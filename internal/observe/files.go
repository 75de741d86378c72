// Package observe runs an observation: it reads flow sources, aggregates
// them and merges the result into the allowlist store, remembering what was
// ingested so that the same data is never counted twice.
package observe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
)

// FileOptions configure a file observation.
type FileOptions struct {
	// Paths are files, directories, globs or "-" for stdin.
	Paths  []string
	Strict bool
	// Workers decode line-oriented inputs in parallel (0: all CPUs).
	Workers int
	// Stdin replaces os.Stdin (tests).
	Stdin io.Reader
	// Progress, when set, receives progress (records/s, bytes) while
	// reading.
	Progress *Progress
	// Packets tunes packet-log inputs (kernel LOG lines): prefix, pod
	// attribution. Nil: PacketLogOptionsFor the store's profile, without
	// pods.
	Packets *flows.PacketLogOptions
}

// PacketLogOptionsFor returns the packet-log options a profile sets.
func PacketLogOptionsFor(st *allowlist.Store, pods flows.PodResolver) *flows.PacketLogOptions {
	pl := st.Profile().PacketLogs
	nets := st.Profile().Networks
	return &flows.PacketLogOptions{Prefix: pl.Prefix, InterfacePrefix: pl.InterfacePrefix, DedupWindow: pl.DedupWindow.D(), Pods: pods,
		PodNets: config.Prefixes(nets.Pods), ServiceNets: config.Prefixes(nets.Services)}
}

// Input outcomes.
const (
	OutcomeIngested = "ingested"
	OutcomeResumed  = "resumed"
	OutcomeSkipped  = "already ingested"
	// OutcomeRejected: nothing of the input was counted or recorded (it
	// held no valid record, only bad ones, or it cannot be resumed).
	OutcomeRejected = "rejected"
)

// InputResult reports one input.
type InputResult struct {
	Name    string                  `json:"name"`
	Outcome string                  `json:"outcome"`
	Offset  int64                   `json:"offset,omitempty"`
	Decode  flows.Stats             `json:"decode"`
	Used    int64                   `json:"used"`
	Notes   []string                `json:"notes,omitempty"`
	Record  *allowlist.SourceRecord `json:"-"`
}

// Result reports a whole observation.
type Result struct {
	Inputs []InputResult   `json:"inputs"`
	Decode flows.Stats     `json:"decode"`
	Stats  allowlist.Stats `json:"aggregation"`
}

// Rejected returns the inputs that were rejected (OutcomeRejected).
func (r *Result) Rejected() []InputResult {
	var out []InputResult
	for _, in := range r.Inputs {
		if in.Outcome == OutcomeRejected {
			out = append(out, in)
		}
	}
	return out
}

// Files observes flow-log files into the store (the caller saves it). An
// input whose exact content was ingested before is skipped; a file that
// grew since (a live flows.log) is read from where the last run stopped.
// Bad records are counted and reported; with Strict the first one is an
// error and nothing is merged. An input that yields no valid record but
// bad ones is rejected (OutcomeRejected): nothing of it is counted or
// recorded, and its bad records are not added to the store's totals.
func Files(ctx context.Context, st *allowlist.Store, opt FileOptions) (*Result, error) {
	inputs, err := flows.ExpandInputs(opt.Paths)
	if err != nil {
		return nil, err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if opt.Progress != nil {
		expectInputs(opt.Progress, inputs)
	}
	res := &Result{}
	total := allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))
	var records []allowlist.SourceRecord
	var counted flows.Stats // decode totals of the inputs recorded as ingested
	for _, in := range inputs {
		ir, agg, err := observeInput(ctx, st, records, in, opt, workers)
		if err != nil {
			return nil, err
		}
		res.Inputs = append(res.Inputs, *ir)
		res.Decode.Merge(ir.Decode)
		if agg != nil {
			total.Merge(agg)
			records = append(records, *ir.Record)
			counted.Merge(ir.Decode)
		}
	}
	st.Apply(total)
	for _, r := range records {
		st.PutSource(r)
	}
	res.Stats = total.Stats
	// Bad records count once, with the input they came from: not for an
	// input rejected or skipped now (it is read again, or was counted).
	if counted.Bad > 0 {
		st.Meta.Ingest.Bad += counted.Bad
		for k, v := range counted.ByReason {
			if st.Meta.Ingest.BadByReason == nil {
				st.Meta.Ingest.BadByReason = map[string]int64{}
			}
			st.Meta.Ingest.BadByReason[k] += v
		}
	}
	return res, nil
}

// contentReader reads an input's (decompressed) content once, hashing it on
// the way: the content's identity is known when the decoder is done, with
// no second read. It keeps the hash state after the last newline too, the
// identity of the content up to its last complete line, which is what a
// run consumes when the input ends in a partial line or in gzip damage.
type contentReader struct {
	r       io.Reader
	h       hash.Cloner
	pos     int64 // bytes read
	lines   int   // newlines read
	lastNL  int64 // offset just past the last newline (0: none)
	atNL    hash.Cloner
	last    byte
	damaged *flows.GzipError // the (gzip) content ended in this damage at pos
	err     error            // the error that ended the content (sticky)
	head    string           // identity of the first allowlist.HeadBytes (when there are that many)
}

func newContentReader(r io.Reader) *contentReader {
	return &contentReader{r: r, h: sha256.New().(hash.Cloner)}
}

func (c *contentReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		chunk := p[:n]
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			c.h.Write(chunk[:i+1])
			c.atNL = clone(c.h)
			c.h.Write(chunk[i+1:])
			c.lastNL = c.pos + int64(i) + 1
			c.lines += bytes.Count(chunk, []byte{'\n'})
		} else {
			c.h.Write(chunk)
		}
		c.pos += int64(n)
		c.last = chunk[n-1]
	}
	if err != nil {
		var gz *flows.GzipError
		if errors.As(err, &gz) {
			c.damaged = gz
		}
		c.err = err
	}
	return n, err
}

// readTo reads (and drops) content until pos reaches at or the content
// ends; it reports whether pos reached at. A read error other than the
// end of the content (io.EOF, gzip damage) is returned.
func (c *contentReader) readTo(at int64, buf []byte) (bool, error) {
	for c.pos < at {
		want := len(buf)
		if rest := at - c.pos; rest < int64(want) {
			want = int(rest)
		}
		if _, err := c.Read(buf[:want]); err != nil {
			if errors.Is(err, io.EOF) || c.damaged != nil {
				return c.pos >= at, nil
			}
			return false, err
		}
	}
	return true, nil
}

// ended reports whether the content has ended (io.EOF or damage).
func (c *contentReader) ended() bool { return c.err != nil }

// id is the identity of the content read so far.
func (c *contentReader) id() string { return hashID(c.h) }

// idAtLastLine is the identity of the content up to its last newline.
func (c *contentReader) idAtLastLine() string {
	if c.atNL == nil {
		return hashID(sha256.New())
	}
	return hashID(c.atNL)
}

func clone(h hash.Cloner) hash.Cloner {
	c, err := h.Clone()
	if err != nil {
		panic(err) // crypto/sha256 always clones
	}
	return c
}

func hashID(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// resumePoint is where an input's content starts to be new: the longest
// prefix an earlier run consumed (offset 0 when none), with the hash
// state and line count there.
type resumePoint struct {
	offset int64
	lines  int
	h      hash.Cloner
}

// identify reads the start of an input to tell which earlier file records
// it continues. Every record whose size fits in its first
// allowlist.HeadBytes is checked at once; a larger record is followed
// (its whole prefix hashed) only when its head matches this content's
// head, or when it has no head (recorded by an older calico-plan). keep is
// content read and kept for the decoder, from offset keepFrom to c.pos:
// the decoder can start at the resume point without reading the input
// again when keep covers it.
func identify(c *contentReader, known []allowlist.SourceRecord) (best resumePoint, keep []byte, keepFrom int64, err error) {
	best.h = clone(c.h)
	head, err := c.readHead(known, &best)
	if err != nil {
		return best, nil, 0, err
	}
	// Larger records whose head is this content's head: follow them.
	headID := c.id()
	if c.pos == allowlist.HeadBytes {
		c.head = headID
	}
	var follow []int64
	for _, r := range known {
		if r.Kind == allowlist.SourceFile && r.Bytes > c.pos && (r.Head == "" || r.Head == headID) {
			follow = append(follow, r.Bytes)
		}
	}
	if len(follow) == 0 || c.ended() {
		return best, head, 0, nil
	}
	slices.Sort(follow)
	follow = slices.Compact(follow)
	buf := make([]byte, 1<<20)
	for _, at := range follow {
		reached, err := c.readTo(at, buf)
		if err != nil {
			return best, nil, 0, err
		}
		if !reached {
			break
		}
		if c.matches(known, at) {
			best = resumePoint{offset: at, lines: c.lines, h: clone(c.h)}
		}
	}
	if best.offset != c.pos || c.ended() {
		return best, nil, c.pos, nil
	}
	// Read on a little, kept, to tell a content that ends right here
	// (already ingested) from one that goes on.
	keepFrom = c.pos
	n, rerr := c.Read(buf)
	if rerr != nil && !errors.Is(rerr, io.EOF) && c.damaged == nil {
		return best, nil, 0, rerr
	}
	return best, buf[:n], keepFrom, nil
}

// matches reports whether a file record of this size has the content read
// so far.
func (c *contentReader) matches(known []allowlist.SourceRecord, at int64) bool {
	id := c.id()
	for _, r := range known {
		if r.Kind == allowlist.SourceFile && r.Bytes == at && r.ID == id {
			return true
		}
	}
	return false
}

// readHead reads the head (allowlist.HeadBytes) and returns it, stopping at
// every record size inside it to check the record (best: the longest match).
func (c *contentReader) readHead(known []allowlist.SourceRecord, best *resumePoint) ([]byte, error) {
	var bounds []int64
	for _, r := range known {
		if r.Kind == allowlist.SourceFile && r.Bytes > 0 {
			bounds = append(bounds, r.Bytes)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	head := make([]byte, 0, allowlist.HeadBytes)
	for c.pos < allowlist.HeadBytes && !c.ended() {
		at := int64(allowlist.HeadBytes)
		for _, b := range bounds {
			if b > c.pos {
				at = min(at, b)
				break
			}
		}
		n, rerr := c.Read(head[c.pos:at])
		head = head[:c.pos]
		if rerr != nil && !errors.Is(rerr, io.EOF) && c.damaged == nil {
			return nil, rerr
		}
		if n > 0 && slices.Contains(bounds, c.pos) && c.matches(known, c.pos) {
			*best = resumePoint{offset: c.pos, lines: c.lines, h: clone(c.h)}
		}
	}
	return head, nil
}

// findFile returns the file record with the given content ID.
func findFile(known []allowlist.SourceRecord, id string) *allowlist.SourceRecord {
	for i := range known {
		if known[i].Kind == allowlist.SourceFile && known[i].ID == id {
			return &known[i]
		}
	}
	return nil
}

// observeInput observes one input. earlier are the records of the inputs
// this run observed before it (not yet in the store): the same content
// read twice in one run counts once, as across runs.
func observeInput(ctx context.Context, st *allowlist.Store, earlier []allowlist.SourceRecord, in flows.Input, opt FileOptions, workers int) (*InputResult, *allowlist.Aggregator, error) {
	ir := &InputResult{Name: in.Name}
	known := append(slices.Clip(st.Meta.Sources), earlier...)
	src, err := openInput(in, opt, known, ir)
	if err != nil {
		return nil, nil, err
	}
	if src == nil {
		if opt.Progress != nil {
			expectInputs(opt.Progress, []flows.Input{in}, -1)
		}
		return ir, nil, nil // already ingested
	}
	defer src.close()
	rd := src.rd
	if opt.Progress != nil {
		opt.Progress.Expect(-src.offset) // read from the resume point
		rd = opt.Progress.Reader(rd)
	}
	stats, agg, err := decodeInput(ctx, st, in.Name, rd, opt, workers, src.startLine)
	ir.Decode = stats
	if err != nil {
		return nil, nil, err
	}
	ir.Used = agg.Stats.Used
	rec := allowlist.SourceRecord{Kind: allowlist.SourceFile, Path: in.Name, Records: stats.Records, From: agg.Stats.From, To: agg.Stats.To}
	if in.Stdin {
		rec.ID = hashID(src.stdinHash)
		if findFile(known, rec.ID) != nil {
			ir.Outcome = OutcomeSkipped
			return ir, nil, nil
		}
	} else {
		done, err := src.settleFile(in.Name, ir, &rec)
		if err != nil {
			return nil, nil, err
		}
		if done {
			return ir, nil, nil
		}
	}
	if ir.Decode.Records == 0 && ir.Decode.Bad > 0 {
		return reject(ir), nil, nil
	}
	ir.Outcome = OutcomeIngested
	src.noteResumed(ir)
	ir.Record = &rec
	return ir, agg, nil
}

// inputSource is an opened input, positioned where its new content starts.
type inputSource struct {
	rd        io.Reader
	cr        *contentReader // files
	stdinHash hash.Hash      // standard input
	offset    int64          // the resume point
	startLine int
	closers   []io.Closer
}

func (s *inputSource) close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// noteResumed notes on a resumed input where it was resumed.
func (s *inputSource) noteResumed(ir *InputResult) {
	if s.offset > 0 {
		ir.Outcome = OutcomeResumed
		ir.Notes = append(ir.Notes, fmt.Sprintf("resumed at byte %d: the first %d bytes were ingested before", s.offset, s.offset))
	}
}

// openInput opens an input at the point where its content starts to be new.
// nil and no error: the input was ingested before (ir says so).
func openInput(in flows.Input, opt FileOptions, known []allowlist.SourceRecord, ir *InputResult) (*inputSource, error) {
	if in.Stdin {
		stdin := opt.Stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		s := &inputSource{stdinHash: sha256.New(), startLine: 1}
		s.rd = io.TeeReader(flows.Decompress(stdin), s.stdinHash)
		return s, nil
	}
	rc, err := in.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Name, err)
	}
	s := &inputSource{closers: []io.Closer{rc}}
	if err := s.resume(in, rc, known, ir); err != nil || ir.Outcome == OutcomeSkipped {
		s.close()
		return nil, err
	}
	return s, nil
}

// resume finds the resume point of a file's content and positions the
// source there (ir.Outcome OutcomeSkipped: nothing new).
func (s *inputSource) resume(in flows.Input, rc io.Reader, known []allowlist.SourceRecord, ir *InputResult) error {
	cr := newContentReader(rc)
	best, keep, keepFrom, err := identify(cr, known)
	if err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	if best.offset == cr.pos && cr.ended() && cr.damaged == nil && findFile(known, cr.id()) != nil {
		ir.Outcome = OutcomeSkipped
		return nil
	}
	s.offset, s.startLine = best.offset, best.lines+1
	if testHookFingerprinted != nil {
		testHookFingerprinted(in.Path)
	}
	if s.offset > 0 {
		ir.Offset = s.offset
	}
	if s.offset >= keepFrom && keepFrom+int64(len(keep)) == cr.pos {
		// Decode from the resume point: what was kept first, then the
		// rest as it is read (and hashed).
		s.cr = cr
		s.rd = io.MultiReader(bytes.NewReader(keep[s.offset-keepFrom:]), cr)
		return nil
	}
	// Content was read past the resume point without being kept (a record
	// with this head that did not match, or one from an older calico-plan
	// without a head): read the input again from the resume point.
	if testHookReread != nil {
		testHookReread(in.Path)
	}
	rc2, err := in.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	s.closers = append(s.closers, rc2)
	if _, err := io.CopyN(io.Discard, rc2, s.offset); err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	s.cr = &contentReader{r: rc2, h: best.h, pos: s.offset, lines: best.lines, head: cr.head}
	s.rd = s.cr
	return nil
}

// decodeInput decodes an input into one aggregator (one per worker, merged).
func decodeInput(ctx context.Context, st *allowlist.Store, name string, rd io.Reader, opt FileOptions, workers, startLine int) (flows.Stats, *allowlist.Aggregator, error) {
	aggs := make([]*allowlist.Aggregator, workers)
	for i := range aggs {
		aggs[i] = allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))
	}
	packets := opt.Packets
	if packets == nil {
		packets = PacketLogOptionsFor(st, nil)
	}
	stats, err := flows.Decode(ctx, rd, name, flows.Options{Strict: opt.Strict, Workers: workers, StartLine: startLine, Packets: packets},
		func(w int, f *flows.Flow) error {
			aggs[w].Add(f)
			if opt.Progress != nil {
				opt.Progress.Record()
			}
			return nil
		})
	if err != nil {
		return stats, nil, err
	}
	agg := aggs[0]
	for _, a := range aggs[1:] {
		agg.Merge(a)
	}
	return stats, agg, nil
}

// settleFile decides how much of a decoded file counts and fills its
// record (bytes, content ID, head). done: nothing is counted (ir says why).
func (s *inputSource) settleFile(name string, ir *InputResult, rec *allowlist.SourceRecord) (done bool, err error) {
	cr, offset := s.cr, s.offset
	consumed := cr.pos
	switch {
	case cr.damaged != nil && ir.Decode.Documents && ir.Decode.Records > 0:
		// Records of a JSON document cut off by the damage: a complete
		// copy could not be resumed where this one breaks, so none of
		// them counts now.
		ir.Outcome = OutcomeRejected
		ir.Notes = append(ir.Notes, "the gzip stream breaks inside a JSON document: none of its records is counted (a complete copy of the file could not be resumed where this one breaks); observe the complete file")
		return true, nil
	case cr.damaged != nil:
		// Only the complete lines before the damage were decoded: the
		// part of the line the damage cut off is read again, whole,
		// from a complete copy of the file.
		consumed = cr.lastNL
	case cr.last != '\n' && ir.Decode.ByReason[flows.ReasonTruncatedLine] > 0 && cr.lastNL >= offset:
		// The last line is still being written: leave it for the next run.
		// It is not a bad record: it is re-read once complete.
		consumed = cr.lastNL
		ir.Notes = append(ir.Notes, "the last line is incomplete (still being written?); it will be read on the next observe")
		uncountTruncatedLine(&ir.Decode)
	}
	if consumed < offset {
		consumed = offset
	}
	if ir.Decode.Records == 0 && ir.Decode.Bad > 0 {
		reject(ir)
		return true, nil
	}
	if consumed == offset {
		// Only the start of a line since the last run: nothing
		// consumed, and the record of this prefix stays as it is.
		ir.Outcome = OutcomeIngested
		s.noteResumed(ir)
		return true, nil
	}
	rec.Bytes = consumed
	switch consumed {
	case cr.pos:
		rec.ID = cr.id()
	case cr.lastNL:
		rec.ID = cr.idAtLastLine()
	default:
		return true, fmt.Errorf("%s: internal error: consumed %d bytes, neither the end (%d) nor the last line (%d)", name, consumed, cr.pos, cr.lastNL)
	}
	if consumed > allowlist.HeadBytes {
		rec.Head = cr.head
	}
	return false, nil
}

// uncountTruncatedLine takes the incomplete last line out of the bad records.
func uncountTruncatedLine(st *flows.Stats) {
	st.Bad--
	if st.ByReason[flows.ReasonTruncatedLine]--; st.ByReason[flows.ReasonTruncatedLine] == 0 {
		delete(st.ByReason, flows.ReasonTruncatedLine)
	}
	ex := st.Examples[:0]
	for _, p := range st.Examples {
		if p.Reason != flows.ReasonTruncatedLine {
			ex = append(ex, p)
		}
	}
	st.Examples = ex
}

// reject marks an input that held bad records and no valid one: it is
// not counted, and not recorded as ingested, so that it is read again.
func reject(ir *InputResult) *InputResult {
	ir.Outcome = OutcomeRejected
	ir.Notes = append(ir.Notes, fmt.Sprintf("no valid flow record, only %d bad ones: not counted and not recorded as ingested (is it a flow log?)", ir.Decode.Bad))
	return ir
}

// testHookFingerprinted, when set (tests), runs between reading the start
// of an input (to tell which earlier records it continues) and decoding
// it.
var testHookFingerprinted func(path string)

// testHookReread, when set (tests), runs when an input is read a second
// time (content read past the resume point without being kept).
var testHookReread func(path string)

// expectInputs announces the inputs' sizes to the progress reporter (times
// sign: -1 takes a skipped input back).
func expectInputs(p *Progress, inputs []flows.Input, sign ...int64) {
	k := int64(1)
	if len(sign) > 0 {
		k = sign[0]
	}
	for _, in := range inputs {
		if in.Stdin {
			p.UnknownSize()
			continue
		}
		if fi, err := os.Stat(in.Path); err == nil && fi.Mode().IsRegular() {
			p.Expect(k * fi.Size())
		} else {
			p.UnknownSize()
		}
	}
}
