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
	"sort"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
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
	return &flows.PacketLogOptions{Prefix: pl.Prefix, InterfacePrefix: pl.InterfacePrefix, DedupWindow: pl.DedupWindow.D(), Pods: pods}
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

// fingerprint is the hash of an input's content (decompressed) and, for
// each earlier file record whose size fits, the hash of that many leading
// bytes, so that a file that grew since can be resumed.
type fingerprint struct {
	size     int64
	full     string
	endsNL   bool
	damaged  *flows.GzipError // the (gzip) content ended in this damage at size
	lastNL   int64            // offset just past the last newline
	prefixes map[int64]prefixInfo
}

type prefixInfo struct {
	hash  string
	lines int
}

func hashID(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// fingerprintContent hashes a content stream once, taking the prefix hashes
// at every boundary an earlier record could end at. A damaged gzip stream
// ends the content where it breaks (the decoder reports the damage).
func fingerprintContent(r io.Reader, boundaries []int64) (*fingerprint, error) {
	fp := &fingerprint{prefixes: map[int64]prefixInfo{}}
	h := sha256.New()
	var pos int64
	lines := 0
	bi := 0
	for bi < len(boundaries) && boundaries[bi] <= 0 {
		bi++
	}
	buf := make([]byte, 1<<20)
	var last byte
	for {
		want := len(buf)
		if bi < len(boundaries) && boundaries[bi]-pos < int64(want) {
			want = int(boundaries[bi] - pos)
		}
		n, err := r.Read(buf[:want])
		if n > 0 {
			chunk := buf[:n]
			h.Write(chunk)
			if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
				fp.lastNL = pos + int64(i) + 1
				lines += bytes.Count(chunk, []byte{'\n'})
			}
			pos += int64(n)
			last = chunk[n-1]
			for bi < len(boundaries) && boundaries[bi] == pos {
				fp.prefixes[pos] = prefixInfo{hash: hashID(h), lines: lines}
				bi++
			}
		}
		var gz *flows.GzipError
		if errors.As(err, &gz) {
			fp.damaged = gz
			break
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	fp.size = pos
	fp.full = hashID(h)
	fp.endsNL = last == '\n'
	return fp, nil
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
	var rd io.Reader
	var offset int64
	startLine := 1
	var fp *fingerprint
	var stdinHash hash.Hash
	if in.Stdin {
		stdin := opt.Stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		stdinHash = sha256.New()
		rd = io.TeeReader(flows.Decompress(stdin), stdinHash)
	} else {
		var bounds []int64
		for _, r := range known {
			if r.Kind == allowlist.SourceFile && r.Bytes > 0 {
				bounds = append(bounds, r.Bytes)
			}
		}
		sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
		rc, err := in.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		fp, err = fingerprintContent(rc, bounds)
		rc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		if findFile(known, fp.full) != nil {
			ir.Outcome = OutcomeSkipped
			return ir, nil, nil
		}
		for _, r := range known {
			pi, ok := fp.prefixes[r.Bytes]
			if r.Kind == allowlist.SourceFile && ok && pi.hash == r.ID && r.Bytes > offset {
				offset, startLine = r.Bytes, pi.lines+1
			}
		}
		if testHookFingerprinted != nil {
			testHookFingerprinted(in.Path)
		}
		rc, err = in.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		defer rc.Close()
		if offset > 0 {
			if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", in.Name, err)
			}
			ir.Offset = offset
		}
		// Read exactly the content fingerprinted: what a live file gains
		// meanwhile is read by the next run, which resumes at fp.size (or
		// at its last complete line). Damage the fingerprint met ends the
		// content there, as it did then.
		rd = &cutReader{r: io.LimitReader(rc, fp.size-offset), end: fp.damaged}
	}
	if opt.Progress != nil {
		rd = opt.Progress.Reader(rd)
	}
	aggs := make([]*allowlist.Aggregator, workers)
	for i := range aggs {
		aggs[i] = allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))
	}
	packets := opt.Packets
	if packets == nil {
		packets = PacketLogOptionsFor(st, nil)
	}
	stats, err := flows.Decode(ctx, rd, in.Name, flows.Options{Strict: opt.Strict, Workers: workers, StartLine: startLine, Packets: packets},
		func(w int, f *flows.Flow) error {
			aggs[w].Add(f)
			if opt.Progress != nil {
				opt.Progress.Record()
			}
			return nil
		})
	ir.Decode = stats
	if err != nil {
		return nil, nil, err
	}
	agg := aggs[0]
	for _, a := range aggs[1:] {
		agg.Merge(a)
	}
	ir.Used = agg.Stats.Used
	rec := allowlist.SourceRecord{Kind: allowlist.SourceFile, Path: in.Name, Records: stats.Records, From: agg.Stats.From, To: agg.Stats.To}
	resumed := func() {
		if offset > 0 {
			ir.Outcome = OutcomeResumed
			ir.Notes = append(ir.Notes, fmt.Sprintf("resumed at byte %d: the first %d bytes were ingested before", offset, offset))
		}
	}
	if in.Stdin {
		rec.ID = hashID(stdinHash)
		if findFile(known, rec.ID) != nil {
			ir.Outcome = OutcomeSkipped
			return ir, nil, nil
		}
	} else {
		consumed := fp.size
		switch {
		case fp.damaged != nil && stats.Documents && stats.Records > 0:
			// Records of a JSON document cut off by the damage: a complete
			// copy could not be resumed where this one breaks, so none of
			// them counts now.
			ir.Outcome = OutcomeRejected
			ir.Notes = append(ir.Notes, "the gzip stream breaks inside a JSON document: none of its records is counted (a complete copy of the file could not be resumed where this one breaks); observe the complete file")
			return ir, nil, nil
		case fp.damaged != nil:
			// Only the complete lines before the damage were decoded: the
			// part of the line the damage cut off is read again, whole,
			// from a complete copy of the file.
			consumed = fp.lastNL
		case !fp.endsNL && stats.ByReason[flows.ReasonTruncatedLine] > 0 && fp.lastNL >= offset:
			// The last line is still being written: leave it for the next run.
			// It is not a bad record: it is re-read once complete.
			consumed = fp.lastNL
			ir.Notes = append(ir.Notes, "the last line is incomplete (still being written?); it will be read on the next observe")
			ir.Decode.Bad--
			if ir.Decode.ByReason[flows.ReasonTruncatedLine]--; ir.Decode.ByReason[flows.ReasonTruncatedLine] == 0 {
				delete(ir.Decode.ByReason, flows.ReasonTruncatedLine)
			}
			ex := ir.Decode.Examples[:0]
			for _, p := range ir.Decode.Examples {
				if p.Reason != flows.ReasonTruncatedLine {
					ex = append(ex, p)
				}
			}
			ir.Decode.Examples = ex
		}
		if consumed < offset {
			consumed = offset
		}
		if ir.Decode.Records == 0 && ir.Decode.Bad > 0 {
			return reject(ir), nil, nil
		}
		if consumed == offset {
			// Only the start of a line since the last run: nothing
			// consumed, and the record of this prefix stays as it is.
			ir.Outcome = OutcomeIngested
			resumed()
			return ir, nil, nil
		}
		rec.Bytes = consumed
		rec.ID = fp.full
		if consumed != fp.size {
			id, err := hashPrefix(in, consumed)
			if err != nil {
				return nil, nil, err
			}
			rec.ID = id
		}
	}
	if ir.Decode.Records == 0 && ir.Decode.Bad > 0 {
		return reject(ir), nil, nil
	}
	ir.Outcome = OutcomeIngested
	resumed()
	ir.Record = &rec
	return ir, agg, nil
}

// reject marks an input that held bad records and no valid one: it is
// not counted, and not recorded as ingested, so that it is read again.
func reject(ir *InputResult) *InputResult {
	ir.Outcome = OutcomeRejected
	ir.Notes = append(ir.Notes, fmt.Sprintf("no valid flow record, only %d bad ones: not counted and not recorded as ingested (is it a flow log?)", ir.Decode.Bad))
	return ir
}

// cutReader reads r and then, instead of io.EOF, the damage that ended the
// content when it was fingerprinted (if any).
type cutReader struct {
	r   io.Reader
	end *flows.GzipError
}

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && c.end != nil {
		err = c.end
	}
	return n, err
}

func hashPrefix(in flows.Input, n int64) (string, error) {
	rc, err := in.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, rc, n); err != nil {
		return "", fmt.Errorf("%s: %w", in.Name, err)
	}
	return hashID(h), nil
}

// testHookFingerprinted, when set (tests), runs between fingerprinting an
// input and reading it.
var testHookFingerprinted func(path string)
