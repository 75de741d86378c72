package flows

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// Document inputs: anything that is not one record per line.
//
//   - a saved Elasticsearch _search response {"hits":{"hits":[{"_source":{..}}]}}
//     (_index, _id, sort and the other hit fields are ignored);
//   - a Linseed list response {"total_hits":N,"items":[..]};
//   - a Whisker GET /flows response {"total":{..},"items":[..]};
//   - a grpcurl Goldmane List response {"meta":{..},"flows":[{"flow":{..}}]};
//   - a JSON array of records (Enterprise documents, hits, Goldmane or
//     Whisker flows);
//   - pretty-printed records one after another.
//
// encoding/json's Decoder.Token streams down to the record array and each
// element is read as a json.RawMessage, then decoded by the same object
// decoders as line input. Memory is bounded by the largest element, not the
// document. Problems name the element (hits.hits[3]) and the line and
// column where it starts (or where the problem is, when known).

// lineTracker counts the newlines of everything the json.Decoder reads so
// byte offsets can be turned into line and column. Queries must not go
// backwards; newlines already passed are dropped, so memory is bounded by
// what the decoder has buffered.
type lineTracker struct {
	r      io.Reader
	run    *decodeRun
	off    int64   // bytes read
	nls    []int64 // offsets of newlines not yet passed
	head   int
	line   int   // line at the last query
	lastNL int64 // offset of the last newline passed (-1 - skipped bytes initially)
}

func (t *lineTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	for k := 0; k < n; {
		j := bytes.IndexByte(p[k:n], '\n')
		if j < 0 {
			break
		}
		t.nls = append(t.nls, t.off+int64(k+j))
		k += j + 1
	}
	t.off += int64(n)
	t.run.bytes += int64(n)
	return n, err
}

// pos returns the 1-based line and column of offset o.
func (t *lineTracker) pos(o int64) (line, col int) {
	for t.head < len(t.nls) && t.nls[t.head] < o {
		t.lastNL = t.nls[t.head]
		t.head++
		t.line++
	}
	if t.head > 4096 && t.head*2 > len(t.nls) {
		t.nls = append(t.nls[:0], t.nls[t.head:]...)
		t.head = 0
	}
	return t.line, int(o - t.lastNL)
}

type docWalker struct {
	run    *decodeRun
	dec    *json.Decoder
	lt     *lineTracker
	tally  *tally
	format Format // record format; FormatAuto until the first element is seen
	hits   bool   // records are Elasticsearch hits
	wrap   bool   // top-level objects are response wrappers
	ee     *eeDecoder
	gm     *goldmaneDecoder
	wh     *whiskerDecoder
	flow   Flow
	raw    json.RawMessage
	skip   json.RawMessage
	// stop is set when the input cannot be read further (syntax error,
	// truncation); the problem has been recorded.
	stop bool
}

func (r *decodeRun) decodeDocuments(br *bufio.Reader, p plan) error {
	if p.skip > 0 {
		_, _ = br.Discard(p.skip)
		r.bytes += int64(p.skip)
	}
	lt := &lineTracker{r: br, run: r, line: r.opt.StartLine, lastNL: -1 - int64(p.skip)}
	w := &docWalker{run: r, dec: json.NewDecoder(lt), lt: lt, tally: r.newTally(),
		format: p.format, hits: p.hits, wrap: p.mode == modeDocWrapper}
	switch w.format {
	case FormatESSearch, FormatLinseedList:
		w.format = FormatEnterprise
	}
	return w.run1()
}

func (w *docWalker) run1() error {
	for n := 0; !w.stop; n++ {
		if err := w.run.ctx.Err(); err != nil {
			return err
		}
		if !w.dec.More() {
			tok, err := w.dec.Token()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return w.streamErr(err)
			}
			return w.fail(ReasonMalformedJSON, "unexpected "+tokenString(tok)+" at top level", nil)
		}
		switch w.peek() {
		case '[':
			if _, err := w.dec.Token(); err != nil {
				return w.streamErr(err)
			}
			if err := w.array(""); err != nil {
				return err
			}
		case '{':
			if w.wrap {
				if _, err := w.dec.Token(); err != nil {
					return w.streamErr(err)
				}
				if err := w.wrapper(); err != nil {
					return err
				}
				continue
			}
			if err := w.element("", -1); err != nil {
				return err
			}
		default:
			w.skip = w.skip[:0]
			if err := w.dec.Decode(&w.skip); err != nil {
				return w.streamErr(err)
			}
			if err := w.problemAt(w.dec.InputOffset()-int64(len(w.skip)), ReasonNotFlow, "", -1,
				"top-level "+jsonKind(w.skip, 0)+" is not a flow record", nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// peek returns the first byte of the next value (dec.More has buffered it).
func (w *docWalker) peek() byte {
	var c [1]byte
	if n, _ := w.dec.Buffered().Read(c[:]); n == 1 {
		return c[0]
	}
	return 0
}

func tokenString(t json.Token) string {
	if d, ok := t.(json.Delim); ok {
		return strconv.Quote(d.String())
	}
	return "value"
}

// wrapper walks a response object whose '{' has been read: hits.hits,
// items and flows hold the records; other members are skipped.
func (w *docWalker) wrapper() error {
	for w.dec.More() && !w.stop {
		tok, err := w.dec.Token()
		if err != nil {
			return w.streamErr(err)
		}
		key, _ := tok.(string)
		switch key {
		case "hits":
			w.hits = true
			if err := w.hitsValue(); err != nil {
				return err
			}
		case "items", "flows":
			if key == "flows" && w.format == FormatAuto {
				w.format = FormatGoldmane
			}
			if err := w.arrayValue(key); err != nil {
				return err
			}
		default:
			if err := w.skipValue(); err != nil {
				return err
			}
		}
	}
	if w.stop {
		return nil
	}
	if _, err := w.dec.Token(); err != nil {
		return w.streamErr(err)
	}
	return nil
}

// hitsValue reads the value of the top-level "hits": normally an object
// whose "hits" member is the array; a bare array is accepted.
func (w *docWalker) hitsValue() error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.streamErr(err)
	}
	switch tok {
	case json.Delim('['):
		return w.array("hits")
	case json.Delim('{'):
	default:
		return nil
	}
	for w.dec.More() && !w.stop {
		tok, err := w.dec.Token()
		if err != nil {
			return w.streamErr(err)
		}
		if k, _ := tok.(string); k == "hits" {
			if err := w.arrayValue("hits.hits"); err != nil {
				return err
			}
			continue
		}
		if err := w.skipValue(); err != nil {
			return err
		}
	}
	if w.stop {
		return nil
	}
	_, err = w.dec.Token()
	if err != nil {
		return w.streamErr(err)
	}
	return nil
}

// arrayValue reads a member value expected to be an array of records.
func (w *docWalker) arrayValue(path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.streamErr(err)
	}
	switch tok {
	case json.Delim('['):
		return w.array(path)
	case json.Delim('{'):
		return w.skipRest(1)
	}
	return nil // null or a scalar: no records
}

// skipRest consumes tokens until depth containers are closed.
func (w *docWalker) skipRest(depth int) error {
	for depth > 0 {
		tok, err := w.dec.Token()
		if err != nil {
			return w.streamErr(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func (w *docWalker) skipValue() error {
	w.skip = w.skip[:0]
	if err := w.dec.Decode(&w.skip); err != nil {
		return w.streamErr(err)
	}
	return nil
}

// array decodes the elements of an array whose '[' has been read.
func (w *docWalker) array(path string) error {
	for i := 0; w.dec.More() && !w.stop; i++ {
		if i&1023 == 1023 {
			if err := w.run.ctx.Err(); err != nil {
				return err
			}
		}
		if err := w.element(path+"["+strconv.Itoa(i)+"]", i); err != nil {
			return err
		}
	}
	if w.stop {
		return nil
	}
	if _, err := w.dec.Token(); err != nil {
		return w.streamErr(err)
	}
	return nil
}

// element reads and decodes one record value.
func (w *docWalker) element(path string, idx int) error {
	w.raw = w.raw[:0]
	if err := w.dec.Decode(&w.raw); err != nil {
		return w.streamErr(err)
	}
	start := w.dec.InputOffset() - int64(len(w.raw))
	raw := w.raw
	if w.format == FormatAuto {
		w.sniff(raw)
	}
	var e *recErr
	switch w.format {
	case FormatGoldmane:
		e = w.goldmane().decode(raw, &w.flow)
	case FormatWhisker, FormatWhiskerSSE:
		e = w.whisker().decode(raw, &w.flow)
	default:
		if w.hits || w.isHit(raw) {
			e = decodeHit(w.enterprise(), raw, &w.flow)
		} else {
			e = w.enterprise().decode(raw, &w.flow)
		}
	}
	if e != nil {
		field := e.Field
		if path != "" {
			field = joinField(path, e.Field)
		}
		line, col := w.lt.pos(start)
		if e.Off > 0 && e.Off <= len(raw) {
			// Point at the problem inside the element.
			in := raw[:e.Off]
			if k := bytes.LastIndexByte(in, '\n'); k >= 0 {
				line += bytes.Count(in, []byte{'\n'})
				col = e.Off - k
			} else {
				col += e.Off
			}
		}
		return w.run.problem(w.tally, Problem{File: w.run.name, Line: line, Column: col, Record: idx,
			Field: field, Reason: e.Reason, Msg: e.Msg}, nil)
	}
	w.tally.records++
	return w.run.emit(0, &w.flow)
}

// isHit reports whether a record in an array of Enterprise documents is an
// Elasticsearch hit (an array of hits copied out of a response).
func (w *docWalker) isHit(raw []byte) bool {
	s, _, err := findMember(raw, "_source", &w.enterprise().scratch)
	return err == nil && s >= 0
}

// sniff decides the record format from the first element.
func (w *docWalker) sniff(raw []byte) {
	i := skipWS(raw, 0)
	k := scanKeys(raw, i)
	f := k.recordFormat()
	switch f {
	case FormatESSearch:
		w.hits = true
		f = FormatEnterprise
	case FormatAuto:
		f = FormatEnterprise
	}
	w.format = f
	if w.run.format == FormatAuto || w.run.format == FormatLinseedList && f == FormatWhisker {
		switch {
		case f == FormatEnterprise && w.hits:
			w.run.format = FormatESSearch
		case f == FormatEnterprise && w.wrap:
			w.run.format = FormatLinseedList
		default:
			w.run.format = f
		}
	}
	if f == FormatWhisker {
		w.run.warn(whiskerWarning)
	}
}

func (w *docWalker) enterprise() *eeDecoder {
	if w.ee == nil {
		w.ee = newEEDecoder()
	}
	return w.ee
}

func (w *docWalker) goldmane() *goldmaneDecoder {
	if w.gm == nil {
		w.gm = newGoldmaneDecoder()
	}
	return w.gm
}

func (w *docWalker) whisker() *whiskerDecoder {
	if w.wh == nil {
		w.wh = newWhiskerDecoder()
	}
	return w.wh
}

// problemAt records a problem at byte offset off of the input.
func (w *docWalker) problemAt(off int64, reason, field string, idx int, msg string, cause error) error {
	line, col := w.lt.pos(off)
	return w.run.problem(w.tally, Problem{File: w.run.name, Line: line, Column: col, Record: idx,
		Field: field, Reason: reason, Msg: msg}, cause)
}

// fail records a problem that ends the input.
func (w *docWalker) fail(reason, msg string, cause error) error {
	w.stop = true
	return w.problemAt(w.dec.InputOffset(), reason, "", -1, msg, cause)
}

// streamErr turns an error from the json.Decoder into a problem (syntax
// error, truncation, gzip damage: decoding cannot continue) or, for other
// read errors, a returned error.
func (w *docWalker) streamErr(err error) error {
	w.stop = true
	var syn *json.SyntaxError
	var gz *GzipError
	switch {
	case errors.As(err, &gz):
		line, _ := w.lt.pos(w.lt.off)
		return w.run.gzipProblem(w.tally, gz, line)
	case errors.As(err, &syn):
		return w.problemAt(w.syntaxPos(syn), ReasonMalformedJSON, "", -1, "invalid JSON: "+syn.Error()+"; the rest of the input is skipped", err)
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		// Token returns a bare io.EOF when the input ends inside an open
		// array or object; streamErr is only reached when more was due.
		return w.problemAt(w.lt.off, ReasonTruncatedDoc, "", -1, "input ends inside a JSON value (truncated document)", err)
	}
	return w.run.readErr(err)
}

// syntaxPos returns the input offset of the character a syntax error
// complains about. json.Decoder's SyntaxError.Offset counts only the bytes
// its scanner stepped through, which misses the delimiters Token consumed,
// so the failed value (still at the head of the decoder's buffer) is
// validated again on its own to find the exact position.
func (w *docWalker) syntaxPos(syn *json.SyntaxError) int64 {
	base := w.dec.InputOffset()
	data, _ := io.ReadAll(w.dec.Buffered())
	var v json.RawMessage
	var syn2 *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &syn2) && syn2.Offset > 0 {
		return base + syn2.Offset - 1
	}
	// Token errors report the absolute offset of the bad character.
	if syn.Offset >= base {
		return syn.Offset
	}
	return base
}
