package selector

import (
	"fmt"
	"strings"
)

// MaxLabelLength is the longest label key the tokenizer accepts (Calico's
// limit).
const MaxLabelLength = 512

// ParseError describes why a selector failed to parse.
type ParseError struct {
	Selector string // the selector text
	Pos      int    // 0-based byte offset of the offending input
	Reason   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid selector %q at position %d: %s", e.Selector, e.Pos, e.Reason)
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tLabel
	tString
	tLBrace
	tRBrace
	tComma
	tEq
	tNe
	tIn
	tNot
	tNotIn
	tContains
	tStartsWith
	tEndsWith
	tAll
	tHas
	tLParen
	tRParen
	tAnd
	tOr
	tGlobal
)

var tokNames = [...]string{
	tEOF: "end of selector", tLabel: "label", tString: "string literal", tLBrace: "'{'",
	tRBrace: "'}'", tComma: "','", tEq: "'=='", tNe: "'!='", tIn: "'in'", tNot: "'!'",
	tNotIn: "'not in'", tContains: "'contains'", tStartsWith: "'starts with'",
	tEndsWith: "'ends with'", tAll: "'all()'", tHas: "'has()'", tLParen: "'('",
	tRParen: "')'", tAnd: "'&&'", tOr: "'||'", tGlobal: "'global()'",
}

type token struct {
	kind tokKind
	pos  int
	val  string
}

func (t token) describe() string {
	switch t.kind {
	case tLabel:
		return fmt.Sprintf("label %q", t.val)
	case tString:
		return fmt.Sprintf("string %q", t.val)
	}
	return tokNames[t.kind]
}

func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

type lexer struct {
	in   string
	pos  int
	toks []token
}

func (lx *lexer) errf(pos int, format string, args ...any) *ParseError {
	return &ParseError{Selector: lx.in, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

func (lx *lexer) skipBlanks(p int) int {
	for p < len(lx.in) && isBlank(lx.in[p]) {
		p++
	}
	return p
}

// ident reads an identifier at p and returns it and the position after it.
func (lx *lexer) ident(p int) (string, int, *ParseError) {
	start := p
	for p < len(lx.in) && isIdentChar(lx.in[p]) {
		p++
	}
	if p == start {
		if start >= len(lx.in) {
			return "", p, lx.errf(start, "expected a label, found end of selector")
		}
		return "", p, lx.errf(start, "unexpected character %q", lx.in[start])
	}
	if p-start > MaxLabelLength {
		return "", p, lx.errf(start, "label longer than %d characters", MaxLabelLength)
	}
	return lx.in[start:p], p, nil
}

// word matches one or more words at p (blanks allowed, but not required,
// between them, as in Calico) followed by a word boundary.
func (lx *lexer) word(p int, words ...string) (int, bool) {
	for i, w := range words {
		if i > 0 {
			p = lx.skipBlanks(p)
		}
		if !strings.HasPrefix(lx.in[p:], w) {
			return 0, false
		}
		p += len(w)
	}
	if p < len(lx.in) && isIdentChar(lx.in[p]) {
		return 0, false
	}
	return p, true
}

func (lx *lexer) run() *ParseError {
	in := lx.in
	for {
		p := lx.skipBlanks(lx.pos)
		lx.pos = p
		if p >= len(in) {
			lx.toks = append(lx.toks, token{kind: tEOF, pos: p})
			return nil
		}
		var err *ParseError
		switch c := in[p]; c {
		case '(':
			lx.emit(tLParen, p, p+1, "")
		case ')':
			lx.emit(tRParen, p, p+1, "")
		case '{':
			lx.emit(tLBrace, p, p+1, "")
		case '}':
			lx.emit(tRBrace, p, p+1, "")
		case ',':
			lx.emit(tComma, p, p+1, "")
		case '"', '\'':
			end := strings.IndexByte(in[p+1:], c)
			if end < 0 {
				return lx.errf(p, "unterminated string")
			}
			lx.emit(tString, p, p+1+end+1, in[p+1:p+1+end])
		case '=', '!', '&', '|':
			err = lx.symbol(p)
		default:
			err = lx.wordToken(p)
		}
		if err != nil {
			return err
		}
	}
}

// emit appends a token that starts at p and continues lexing at end.
func (lx *lexer) emit(k tokKind, p, end int, val string) {
	lx.toks = append(lx.toks, token{kind: k, pos: p, val: val})
	lx.pos = end
}

// symbol lexes the operators spelled with =, !, & and |.
func (lx *lexer) symbol(p int) *ParseError {
	in := lx.in
	switch in[p] {
	case '=':
		if !strings.HasPrefix(in[p:], "==") {
			return lx.errf(p, "expected '=='")
		}
		lx.emit(tEq, p, p+2, "")
	case '!':
		if strings.HasPrefix(in[p:], "!=") {
			lx.emit(tNe, p, p+2, "")
		} else {
			lx.emit(tNot, p, p+1, "")
		}
	case '&':
		if !strings.HasPrefix(in[p:], "&&") {
			return lx.errf(p, "expected '&&'")
		}
		lx.emit(tAnd, p, p+2, "")
	case '|':
		if !strings.HasPrefix(in[p:], "||") {
			return lx.errf(p, "expected '||'")
		}
		lx.emit(tOr, p, p+2, "")
	}
	return nil
}

// wordToken lexes an operator word after a label, a function (has, all,
// global) or a label.
func (lx *lexer) wordToken(p int) *ParseError {
	in := lx.in
	if len(lx.toks) > 0 && lx.toks[len(lx.toks)-1].kind == tLabel {
		return lx.operatorWord(p)
	}
	if strings.HasPrefix(in[p:], "has(") {
		q := lx.skipBlanks(p + 4)
		id, q, err := lx.ident(q)
		if err != nil {
			return err
		}
		q = lx.skipBlanks(q)
		if q >= len(in) || in[q] != ')' {
			return lx.errf(q, "expected ')' to close has(")
		}
		lx.emit(tHas, p, q+1, id)
		return nil
	}
	for _, fn := range []struct {
		open string
		kind tokKind
	}{{"all(", tAll}, {"global(", tGlobal}} {
		if strings.HasPrefix(in[p:], fn.open) {
			q := lx.skipBlanks(p + len(fn.open))
			if q >= len(in) || in[q] != ')' {
				return lx.errf(q, "expected ')' after %s", fn.open)
			}
			lx.emit(fn.kind, p, q+1, "")
			return nil
		}
	}
	id, end, err := lx.ident(p)
	if err != nil {
		return err
	}
	lx.emit(tLabel, p, end, id)
	return nil
}

// operatorWord lexes the operator words that follow a label.
func (lx *lexer) operatorWord(p int) *ParseError {
	if end, ok := lx.word(p, "contains"); ok {
		lx.emit(tContains, p, end, "")
	} else if end, ok := lx.word(p, "starts", "with"); ok {
		lx.emit(tStartsWith, p, end, "")
	} else if end, ok := lx.word(p, "ends", "with"); ok {
		lx.emit(tEndsWith, p, end, "")
	} else if end, ok := lx.word(p, "not", "in"); ok {
		lx.emit(tNotIn, p, end, "")
	} else if end, ok := lx.word(p, "in"); ok {
		lx.emit(tIn, p, end, "")
	} else {
		return lx.errf(p, "expected an operator after label %q", lx.toks[len(lx.toks)-1].val)
	}
	return nil
}

type parser struct {
	lx   *lexer
	toks []token
	i    int
}

func (ps *parser) peek() token { return ps.toks[ps.i] }

func (ps *parser) errAt(t token, format string, args ...any) *ParseError {
	return ps.lx.errf(t.pos, format, args...)
}

// Parse parses a Calico selector. An empty (or blank) selector is all().
func Parse(s string) (*Selector, error) {
	lx := &lexer{in: s, toks: make([]token, 0, 16)}
	if err := lx.run(); err != nil {
		return nil, err
	}
	ps := &parser{lx: lx, toks: lx.toks}
	if ps.peek().kind == tEOF {
		return All(), nil
	}
	root, err := ps.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := ps.peek(); t.kind != tEOF {
		return nil, ps.errAt(t, "unexpected %s", t.describe())
	}
	return newSelector(root), nil
}

// maxDepth bounds parenthesis nesting so hostile input cannot exhaust the
// stack.
const maxDepth = 200

func (ps *parser) parseOr(depth int) (node, *ParseError) {
	first, err := ps.parseAnd(depth)
	if err != nil {
		return node{}, err
	}
	if ps.peek().kind != tOr {
		return first, nil
	}
	kids := appendFlat(nil, opOr, first)
	for ps.peek().kind == tOr {
		ps.i++
		n, err := ps.parseAnd(depth)
		if err != nil {
			return node{}, err
		}
		kids = appendFlat(kids, opOr, n)
	}
	return node{op: opOr, kids: kids}, nil
}

func (ps *parser) parseAnd(depth int) (node, *ParseError) {
	first, err := ps.parseOp(depth)
	if err != nil {
		return node{}, err
	}
	if ps.peek().kind != tAnd {
		return first, nil
	}
	kids := appendFlat(nil, opAnd, first)
	for ps.peek().kind == tAnd {
		ps.i++
		n, err := ps.parseOp(depth)
		if err != nil {
			return node{}, err
		}
		kids = appendFlat(kids, opAnd, n)
	}
	return node{op: opAnd, kids: kids}, nil
}

func appendFlat(kids []node, op opKind, n node) []node {
	if n.op == op {
		return append(kids, n.kids...)
	}
	return append(kids, n)
}

func (ps *parser) parseOp(depth int) (node, *ParseError) {
	negated := false
	for ps.peek().kind == tNot {
		negated = !negated
		ps.i++
	}
	t := ps.peek()
	var n node
	switch t.kind {
	case tHas:
		n = node{op: opHas, key: t.val}
		ps.i++
	case tAll:
		n = node{op: opAll}
		ps.i++
	case tGlobal:
		n = node{op: opGlobal}
		ps.i++
	case tLabel:
		ps.i++
		opTok := ps.peek()
		var op opKind
		switch opTok.kind {
		case tEq:
			op = opEq
		case tNe:
			op = opNe
		case tContains:
			op = opContains
		case tStartsWith:
			op = opStartsWith
		case tEndsWith:
			op = opEndsWith
		case tIn:
			op = opIn
		case tNotIn:
			op = opNotIn
		default:
			return node{}, ps.errAt(opTok, "expected an operator (==, !=, in, not in, contains, starts with, ends with) after label %q, found %s", t.val, opTok.describe())
		}
		ps.i++
		if op == opIn || op == opNotIn {
			lb := ps.peek()
			if lb.kind != tLBrace {
				return node{}, ps.errAt(lb, "expected '{' to start a set, found %s", lb.describe())
			}
			ps.i++
			var values []string
			for ps.peek().kind == tString {
				values = append(values, ps.peek().val)
				ps.i++
				if ps.peek().kind != tComma {
					break
				}
				ps.i++
			}
			if rb := ps.peek(); rb.kind != tRBrace {
				return node{}, ps.errAt(rb, "expected a string or '}' in set, found %s", rb.describe())
			}
			ps.i++
			n = node{op: op, key: t.val, set: sortedSet(values)}
		} else {
			v := ps.peek()
			if v.kind != tString {
				return node{}, ps.errAt(v, "expected a quoted string after %s, found %s", opTok.describe(), v.describe())
			}
			ps.i++
			n = node{op: op, key: t.val, value: v.val}
		}
	case tLParen:
		if depth >= maxDepth {
			return node{}, ps.errAt(t, "parentheses nested deeper than %d", maxDepth)
		}
		ps.i++
		inner, err := ps.parseOr(depth + 1)
		if err != nil {
			return node{}, err
		}
		if rp := ps.peek(); rp.kind != tRParen {
			return node{}, ps.errAt(rp, "expected ')', found %s", rp.describe())
		}
		ps.i++
		n = inner
	default:
		return node{}, ps.errAt(t, "expected a label, has(), all(), global(), '!' or '(', found %s", t.describe())
	}
	if negated {
		n = node{op: opNot, kids: []node{n}}
	}
	return n, nil
}
