package flows

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the hand-rolled JSON scanning primitives the decoders
// share. They work on a record's bytes in place: no tokens, no reflection,
// no allocation. Values the decoders do not need are skipped with
// bytes.IndexByte for strings and bracket matching (respecting strings) for
// nested objects and arrays; skipped values are checked for balance, not
// fully validated (a skipped "x": tru is accepted).

// recErr describes why one record could not be decoded.
type recErr struct {
	Off    int // byte offset in the record where the problem was found
	Field  string
	Reason string
	Msg    string
	// EOF is set when the record ended before the JSON value did: on the
	// last line of an input without a trailing newline this is a truncated
	// line, elsewhere malformed JSON.
	EOF bool
}

func errMalformed(off int, field, msg string) *recErr {
	return &recErr{Off: off, Field: field, Reason: ReasonMalformedJSON, Msg: msg}
}

func errEOF(off int, field string) *recErr {
	return &recErr{Off: off, Field: field, Reason: ReasonMalformedJSON, Msg: "unexpected end of record", EOF: true}
}

func errType(off int, field, want string, b []byte) *recErr {
	return &recErr{Off: off, Field: field, Reason: ReasonWrongType, Msg: "want " + want + ", got " + jsonKind(b, off)}
}

func errValue(off int, field, reason, msg string) *recErr {
	return &recErr{Off: off, Field: field, Reason: reason, Msg: msg}
}

// jsonKind names the kind of JSON value starting at b[i], for messages.
func jsonKind(b []byte, i int) string {
	if i >= len(b) {
		return "end of record"
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := scanString(b, i)
		if end > 0 && end-i <= 42 {
			return "string " + string(b[i:end])
		}
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case bytes.HasPrefix(b[i:], []byte("true")) || bytes.HasPrefix(b[i:], []byte("false")):
		return "boolean"
	case bytes.HasPrefix(b[i:], []byte("null")):
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(b, i)
		if end-i <= 24 {
			return "number " + string(b[i:end])
		}
		return "number"
	}
	return "invalid character " + strconv.QuoteRune(rune(b[i]))
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return i
		}
		i++
	}
	return i
}

// scanString expects b[i] == '"' and returns the index just past the closing
// quote and whether the string contains a backslash escape. end is -1 when
// the string is not terminated.
//
// Most strings in flow logs are short keys and names, where a call to
// bytes.IndexByte costs more than the search, so the search looks at 8
// bytes at a time (SWAR) for either '"' or '\\' and falls back to a byte
// loop after the first backslash.
func scanString(b []byte, i int) (end int, esc bool) {
	j := i + 1
	for j+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[j:])
		m := hasZeroByte(x^(swarLo*'"')) | hasZeroByte(x^(swarLo*'\\'))
		if m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if b[j] == '"' {
				return j + 1, false
			}
			return scanEscaped(b, j)
		}
		j += 8
	}
	for ; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j + 1, false
		case '\\':
			return scanEscaped(b, j)
		}
	}
	return -1, false
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// hasZeroByte sets the high bit of each zero byte of x; the lowest set bit
// is exact (higher ones may be false positives).
func hasZeroByte(x uint64) uint64 { return (x - swarLo) &^ x & swarHi }

// scanEscaped finishes a string from the backslash at b[j].
func scanEscaped(b []byte, j int) (int, bool) {
	for ; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return -1, true
}

// scanNumber returns the end of the run of number characters at b[i].
func scanNumber(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			i++
			continue
		}
		break
	}
	return i
}

// isDelim reports whether c may follow a scalar value.
func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int, field string) (int, *recErr) {
	if i >= len(b) {
		return i, errEOF(i, field)
	}
	switch c := b[i]; c {
	case '"':
		end, _ := scanString(b, i)
		if end < 0 {
			return i, errEOF(len(b), field)
		}
		return end, nil
	case '{', '[':
		return skipNested(b, i, field)
	case 't':
		return skipLiteral(b, i, "true", field)
	case 'f':
		return skipLiteral(b, i, "false", field)
	case 'n':
		return skipLiteral(b, i, "null", field)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			end := scanNumber(b, i)
			if end < len(b) && !isDelim(b[end]) {
				return i, errMalformed(end, field, "invalid character "+strconv.QuoteRune(rune(b[end]))+" in number")
			}
			return end, nil
		}
		return i, errMalformed(i, field, "invalid character "+strconv.QuoteRune(rune(c))+" looking for a value")
	}
}

func skipLiteral(b []byte, i int, lit, field string) (int, *recErr) {
	end := i + len(lit)
	if end > len(b) {
		if string(b[i:]) == lit[:len(b)-i] {
			return i, errEOF(len(b), field)
		}
		return i, errMalformed(i, field, "invalid literal")
	}
	if string(b[i:end]) != lit || (end < len(b) && !isDelim(b[end])) {
		return i, errMalformed(i, field, "invalid literal")
	}
	return end, nil
}

// maxDepth bounds the nesting of skipped values.
const maxDepth = 64

// skipNested skips an object or array starting at b[i], matching brackets
// and jumping over strings. It checks that brackets balance and match; the
// scalars inside are not validated.
func skipNested(b []byte, i int, field string) (int, *recErr) {
	var stack uint64 // bit d set: level d is an object
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _ := scanString(b, i)
			if end < 0 {
				return i, errEOF(len(b), field)
			}
			i = end
			continue
		case '{', '[':
			if depth == maxDepth {
				return i, errMalformed(i, field, "nested too deeply")
			}
			if b[i] == '{' {
				stack |= 1 << depth
			} else {
				stack &^= 1 << depth
			}
			depth++
		case '}', ']':
			if depth == 0 {
				return i, errMalformed(i, field, "unexpected "+string(b[i]))
			}
			depth--
			isObj := stack&(1<<depth) != 0
			if isObj != (b[i] == '}') {
				return i, errMalformed(i, field, "mismatched "+string(b[i]))
			}
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return i, errEOF(len(b), field)
}

// afterValue moves past the whitespace and the ',' that follow a member or
// element. It reports whether the container continues (a ',' was found) or
// closes (close was found, i is past it).
func afterValue(b []byte, i int, close byte, field string) (int, bool, *recErr) {
	i = skipWS(b, i)
	if i >= len(b) {
		return i, false, errEOF(i, field)
	}
	switch b[i] {
	case ',':
		return skipWS(b, i+1), true, nil
	case close:
		return i + 1, false, nil
	}
	return i, false, errMalformed(i, field, "invalid character "+strconv.QuoteRune(rune(b[i]))+" after value, want ',' or '"+string(close)+"'")
}

// readKey reads an object key at b[i] and the ':' after it. It returns the
// key bytes (unescaped into *scratch when needed) and the index of the value.
func readKey(b []byte, i int, scratch *[]byte, field string) (key []byte, vi int, err *recErr) {
	if i >= len(b) {
		return nil, i, errEOF(i, field)
	}
	if b[i] != '"' {
		return nil, i, errMalformed(i, field, "invalid character "+strconv.QuoteRune(rune(b[i]))+" looking for an object key")
	}
	end, esc := scanString(b, i)
	if end < 0 {
		return nil, i, errEOF(len(b), field)
	}
	key = b[i+1 : end-1]
	if esc {
		var ok bool
		*scratch, ok = unescape((*scratch)[:0], key)
		if !ok {
			return nil, i, errMalformed(i, field, "invalid escape in object key")
		}
		key = *scratch
	}
	j := end
	if j < len(b) && b[j] != ':' {
		j = skipWS(b, j)
	}
	if j >= len(b) {
		return nil, j, errEOF(j, field)
	}
	if b[j] != ':' {
		return nil, j, errMalformed(j, field, "invalid character "+strconv.QuoteRune(rune(b[j]))+" after object key, want ':'")
	}
	j++
	if j < len(b) && b[j] > ' ' {
		return key, j, nil
	}
	j = skipWS(b, j)
	if j >= len(b) {
		return nil, j, errEOF(j, field)
	}
	return key, j, nil
}

// unescape appends the decoded form of the JSON string body s to dst.
func unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return dst, false
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok2 = hex4(s, i+3)
				}
				if ok2 {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						i += 6
						r = d
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// parseIntAt parses the JSON number at b[i] as an int64. Fractions are
// truncated toward zero (epoch seconds written as floats); a value outside
// the int64 range is an error.
func parseIntAt(b []byte, i int, field string) (int64, int, *recErr) {
	j := i
	neg := false
	if j < len(b) && b[j] == '-' {
		neg = true
		j++
	}
	start := j
	var v uint64
	for j < len(b) {
		c := b[j] - '0'
		if c > 9 {
			break
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, i, errValue(i, field, ReasonBadValue, "number out of range")
		}
		v = v*10 + uint64(c)
		j++
	}
	if j == start {
		if j >= len(b) {
			return 0, i, errEOF(j, field)
		}
		return 0, i, errType(i, field, "a number", b)
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		end := scanNumber(b, i)
		if end < len(b) && !isDelim(b[end]) {
			return 0, i, errMalformed(end, field, "invalid character in number")
		}
		fv, err := strconv.ParseFloat(string(b[i:end]), 64)
		if err != nil || math.IsNaN(fv) || fv >= math.MaxInt64 || fv <= math.MinInt64 {
			return 0, i, errValue(i, field, ReasonBadValue, "invalid number "+strconv.Quote(string(b[i:end])))
		}
		return int64(fv), end, nil
	}
	if j < len(b) && !isDelim(b[j]) {
		return 0, i, errMalformed(j, field, "invalid character "+strconv.QuoteRune(rune(b[j]))+" in number")
	}
	if neg {
		if v > 1<<63 {
			return 0, i, errValue(i, field, ReasonBadValue, "number out of range")
		}
		return -int64(v), j, nil
	}
	if v > math.MaxInt64 {
		return 0, i, errValue(i, field, ReasonBadValue, "number out of range")
	}
	return int64(v), j, nil
}

// parseIntDigits parses s as a decimal int64 (protojson writes int64 as a
// string).
func parseIntDigits(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	return v, err == nil
}

// parseAddr parses an IP address; IPv4 is parsed in place without
// allocating. The unspecified addresses (0.0.0.0, ::), which Elasticsearch
// stores for null, give an invalid Addr.
func parseAddr(b []byte) (netip.Addr, bool) {
	var a [4]byte
	n, v, digits := 0, 0, 0
	for k := 0; k <= len(b); k++ {
		if k == len(b) || b[k] == '.' {
			if digits == 0 || n == 4 {
				return parseAddrSlow(b)
			}
			a[n] = byte(v)
			n++
			v, digits = 0, 0
			continue
		}
		c := b[k] - '0'
		if c > 9 || digits == 3 || (digits == 1 && v == 0) {
			return parseAddrSlow(b)
		}
		v = v*10 + int(c)
		if v > 255 {
			return netip.Addr{}, false
		}
		digits++
	}
	if n != 4 {
		return parseAddrSlow(b)
	}
	ip := netip.AddrFrom4(a)
	if ip.IsUnspecified() {
		return netip.Addr{}, true
	}
	return ip, true
}

func parseAddrSlow(b []byte) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, false
	}
	if ip.IsUnspecified() {
		return netip.Addr{}, true
	}
	return ip, true
}

// strReader reads JSON string values: unescaped into a reused buffer only
// when they hold escapes, interned when kept.
type strReader struct {
	in   *interner
	sbuf []byte
}

// rawString reads a string or null: the body (unescaped into d.sbuf when
// needed) and the index after the value.
func (d *strReader) rawString(b []byte, i int, field string) ([]byte, bool, int, *recErr) {
	switch b[i] {
	case '"':
		end, esc := scanString(b, i)
		if end < 0 {
			return nil, false, i, errEOF(len(b), field)
		}
		s := b[i+1 : end-1]
		if esc {
			var ok bool
			if d.sbuf, ok = unescape(d.sbuf[:0], s); !ok {
				return nil, false, i, errMalformed(i, field, "invalid escape in string")
			}
			s = d.sbuf
		}
		return s, false, end, nil
	case 'n':
		end, err := skipLiteral(b, i, "null", field)
		return nil, true, end, err
	}
	return nil, false, i, errType(i, field, "a string", b)
}

// text reads a string; null and the "-" placeholder give "".
func (d *strReader) text(b []byte, i int, field string) (string, int, *recErr) {
	s, _, end, err := d.rawString(b, i, field)
	if err != nil || len(s) == 0 || (len(s) == 1 && s[0] == '-') {
		return "", end, err
	}
	return d.in.str(s), end, nil
}
