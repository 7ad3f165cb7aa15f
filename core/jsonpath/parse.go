package jsonpath

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// maxInt is the largest magnitude of an index or slice bound (I-JSON).
const maxInt = 1<<53 - 1

// maxNesting bounds how deeply filter expressions, function calls and
// nested queries may nest in one selector, so parsing and evaluation
// recursion stay shallow.
const maxNesting = 64

// maxExprLen bounds the length of a selector in bytes.
const maxExprLen = 64 << 10

type parser struct {
	src   string
	pos   int
	depth int
}

// errAt builds a SyntaxError at byte offset pos.
func (p *parser) errAt(pos int, msg string) *SyntaxError {
	if pos > len(p.src) {
		pos = len(p.src)
	}
	col := utf8.RuneCountInString(p.src[:pos]) + 1
	if pos < len(p.src) {
		rest := p.src[pos:]
		r, _ := utf8.DecodeRuneInString(rest)
		switch {
		case typographicQuote(r) != "":
			msg = "typographic quote " + typographicQuote(r) + " found; JSONPath strings need straight quotes ' or \" (rich-text editors replace them: retype the quotes)"
		case strings.HasPrefix(rest, "=~"):
			msg = "the =~ operator is not JSONPath; use match(@.x, 'regexp') for a whole-string match or search(@.x, 'regexp') to find one"
		case isWord(rest, "and") || isWord(rest, "or") || isWord(rest, "not"):
			msg += "; write && for and, || for or, ! for not"
		case r == '(':
			if i := strings.LastIndexByte(p.src[:pos], '.'); i >= 0 {
				if _, ok := functions[p.src[i+1:pos]]; ok {
					msg += "; functions are called like " + p.src[i+1:pos] + "(@.x), not as methods"
				}
			}
		}
	}
	return &SyntaxError{Expr: p.src, Column: col, Msg: msg}
}

// isWord reports whether s starts with the word w.
func isWord(s, w string) bool {
	if !strings.HasPrefix(s, w) {
		return false
	}
	if len(s) == len(w) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[len(w):])
	return !isNameChar(r)
}

// errf builds a SyntaxError at the current position, naming what was found.
func (p *parser) errExpected(what string) *SyntaxError {
	return p.errAt(p.pos, "expected "+what+", found "+p.found())
}

// found describes the character at the current position.
func (p *parser) found() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case utf8.RuneError:
		return "invalid UTF-8"
	}
	if r < 0x20 || r == 0x7f {
		return "control character " + strconv.QuoteRune(r)
	}
	return strconv.QuoteRune(r)
}

func typographicQuote(r rune) string {
	switch r {
	case '\u201c':
		return "“ (U+201C)"
	case '\u201d':
		return "” (U+201D)"
	case '\u2018':
		return "‘ (U+2018)"
	case '\u2019':
		return "’ (U+2019)"
	}
	return ""
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipS skips optional blank space (RFC 9535 S) and reports whether any was skipped.
func (p *parser) skipS() bool {
	start := p.pos
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) peekAt(off int) byte {
	if p.pos+off < len(p.src) {
		return p.src[p.pos+off]
	}
	return 0
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return p.errAt(p.pos, "expression nests too deeply (more than "+strconv.Itoa(maxNesting)+" levels)")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func checkSource(src string) *SyntaxError {
	if len(src) > maxExprLen {
		return &SyntaxError{Expr: src[:64] + "…", Column: 1, Msg: "selector is longer than " + strconv.Itoa(maxExprLen) + " bytes"}
	}
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return &SyntaxError{Expr: src, Column: utf8.RuneCountInString(src[:i]) + 1, Msg: "invalid UTF-8"}
	}
	return nil
}

// parseRoot parses a whole JSONPath query.
func parseRoot(src string) (*query, error) {
	if e := checkSource(src); e != nil {
		return nil, e
	}
	p := &parser{src: src}
	if p.pos >= len(src) {
		return nil, p.errAt(0, "empty selector; a JSONPath query starts with '$'")
	}
	if isBlank(p.peek()) {
		return nil, p.errAt(0, "leading blank space is not allowed; a JSONPath query starts with '$'")
	}
	if p.peek() != '$' {
		return nil, p.errExpected("'$' (a JSONPath query starts with the root '$')")
	}
	q, err := p.parseQuery()
	if err != nil {
		return nil, err
	}
	if p.pos < len(src) {
		if isBlank(p.peek()) {
			p.skipS()
			if p.pos >= len(src) {
				return nil, p.errAt(p.pos-1, "trailing blank space is not allowed")
			}
		}
		e := p.errExpected("'.', '..' or '[' to start the next segment")
		if r, _ := utf8.DecodeRuneInString(p.src[p.pos:]); p.pos > 0 && isNameChar(rune(p.src[p.pos-1])) && typographicQuote(r) == "" && !isBlank(p.src[p.pos]) {
			e.Msg += "; for a member name with other characters use brackets, e.g. ['custom-field']"
		}
		return nil, e
	}
	return q, nil
}

// parseQuery parses "$" or "@" followed by segments. Blank space before a
// segment is consumed only when a segment follows.
func (p *parser) parseQuery() (*query, error) {
	q := &query{relative: p.peek() == '@'}
	p.pos++
	q.singular = true
	for {
		save := p.pos
		p.skipS()
		c := p.peek()
		if c != '.' && c != '[' {
			p.pos = save
			break
		}
		seg, err := p.parseSegment()
		if err != nil {
			return nil, err
		}
		seg.computePrune()
		if seg.descendant || seg.spaced || len(seg.sels) != 1 || (seg.sels[0].kind != selName && seg.sels[0].kind != selIndex) {
			q.singular = false
		}
		q.segs = append(q.segs, seg)
	}
	q.computeRuns()
	return q, nil
}

func (p *parser) parseSegment() (segment, error) {
	var seg segment
	if p.peek() == '[' {
		sels, spaced, err := p.parseBracketed()
		seg.sels = sels
		seg.spaced = spaced
		return seg, err
	}
	// '.'
	p.pos++
	if p.peek() == '.' {
		p.pos++
		seg.descendant = true
		switch c := p.peek(); {
		case c == '[':
			sels, _, err := p.parseBracketed()
			seg.sels = sels
			return seg, err
		case c == '*':
			p.pos++
			seg.sels = []selector{{kind: selWildcard}}
			return seg, nil
		default:
			s, err := p.parseShorthand("a member name, '*' or '[' after '..'")
			seg.sels = []selector{s}
			return seg, err
		}
	}
	if p.peek() == '*' {
		p.pos++
		seg.sels = []selector{{kind: selWildcard}}
		return seg, nil
	}
	s, err := p.parseShorthand("a member name or '*' after '.'")
	seg.sels = []selector{s}
	return seg, err
}

func isNameFirst(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' ||
		r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0x10FFFF
}

func isNameChar(r rune) bool { return isNameFirst(r) || r >= '0' && r <= '9' }

func (p *parser) parseShorthand(expected string) (selector, error) {
	start := p.pos
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	if p.pos >= len(p.src) || !isNameFirst(r) || r == utf8.RuneError {
		if isBlank(p.peek()) {
			return selector{}, p.errAt(p.pos, "expected "+expected+", found "+p.found()+" (no blank space is allowed there)")
		}
		return selector{}, p.errExpected(expected)
	}
	for {
		if typographicQuote(r) != "" {
			return selector{}, p.errAt(p.pos, "")
		}
		p.pos += n
		if p.pos >= len(p.src) {
			break
		}
		r, n = utf8.DecodeRuneInString(p.src[p.pos:])
		if !isNameChar(r) {
			break
		}
	}
	return nameSelector(p.src[start:p.pos]), nil
}

func nameSelector(name string) selector {
	s := selector{kind: selName, name: name}
	if name != "" {
		s.key = gjson.Escape(name)
	}
	return s
}

// parseBracketed parses a bracketed selection and reports whether it had
// blank space inside the brackets (which makes a query non-singular: the
// RFC 9535 singular-query grammar has no room for it).
func (p *parser) parseBracketed() ([]selector, bool, error) {
	p.pos++ // '['
	var sels []selector
	spaced := false
	for {
		if p.skipS() {
			spaced = true
		}
		s, err := p.parseSelector()
		if err != nil {
			return nil, false, err
		}
		sels = append(sels, s)
		if p.skipS() {
			spaced = true
		}
		switch p.peek() {
		case ',':
			p.pos++
			continue
		case ']':
			p.pos++
			return sels, spaced, nil
		}
		return nil, false, p.errExpected("',' or ']' after a selector")
	}
}

func (p *parser) parseSelector() (selector, error) {
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		s, err := p.parseString()
		if err != nil {
			return selector{}, err
		}
		return nameSelector(s), nil
	case c == '*':
		p.pos++
		return selector{kind: selWildcard}, nil
	case c == '?':
		p.pos++
		if err := p.enter(); err != nil {
			return selector{}, err
		}
		defer p.leave()
		p.skipS()
		e, err := p.parseLogical()
		if err != nil {
			return selector{}, err
		}
		return selector{kind: selFilter, filter: e}, nil
	case c == '(':
		return p.parseScript()
	case c == '-' || c >= '0' && c <= '9' || c == ':':
		return p.parseIndexOrSlice()
	case c == ']':
		return selector{}, p.errAt(p.pos, "empty brackets: expected a selector (a quoted name, '*', an index, a slice or a '?' filter)")
	}
	return selector{}, p.errExpected("a selector (a quoted name, '*', an index, a slice or a '?' filter)")
}

// parseScript accepts the Goessner script forms (@.length-N), meaning the
// N-th element from the end, and refuses every other script.
func (p *parser) parseScript() (selector, error) {
	start := p.pos
	refuse := func() (selector, error) {
		return selector{}, p.errAt(start, "script expressions are not supported (they are never executed); the only script form accepted is (@.length-N) for the N-th element from the end; use a filter '?' or a negative index such as [-1] instead")
	}
	p.pos++
	p.skipS()
	if !strings.HasPrefix(p.src[p.pos:], "@") {
		return refuse()
	}
	p.pos++
	p.skipS()
	if !strings.HasPrefix(p.src[p.pos:], ".length") && !strings.HasPrefix(p.src[p.pos:], "['length']") && !strings.HasPrefix(p.src[p.pos:], "[\"length\"]") {
		return refuse()
	}
	if p.peek() == '.' {
		p.pos += len(".length")
	} else {
		p.pos += len("['length']")
	}
	p.skipS()
	if p.peek() != '-' {
		return refuse()
	}
	p.pos++
	p.skipS()
	numStart := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == numStart {
		return refuse()
	}
	n, err := strconv.ParseInt(p.src[numStart:p.pos], 10, 64)
	if err != nil || n > maxInt {
		return selector{}, p.errAt(numStart, "number out of range in (@.length-N)")
	}
	p.skipS()
	if p.peek() != ')' {
		return refuse()
	}
	p.pos++
	if n == 0 {
		return selector{kind: selNever}, nil
	}
	return selector{kind: selIndex, idx: -n}, nil
}

// parseInt parses an RFC 9535 int: "0" / ["-"] DIGIT1 *DIGIT within ±(2^53-1).
func (p *parser) parseInt(what string) (int64, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == digits {
		return 0, p.errExpected("a digit in " + what)
	}
	text := p.src[start:p.pos]
	if p.src[digits] == '0' && p.pos-digits > 1 {
		return 0, p.errAt(digits, "leading zeros are not allowed in "+what)
	}
	if text == "-0" {
		return 0, p.errAt(start, "-0 is not allowed in "+what+"; use 0")
	}
	if p.pos-digits > 16 {
		return 0, p.errAt(start, what+" is out of range (at most ±9007199254740991)")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n > maxInt || n < -maxInt {
		return 0, p.errAt(start, what+" is out of range (at most ±9007199254740991)")
	}
	return n, nil
}

func (p *parser) parseIndexOrSlice() (selector, error) {
	var s selector
	if p.peek() != ':' {
		n, err := p.parseInt("an index")
		if err != nil {
			return s, err
		}
		save := p.pos
		p.skipS()
		if p.peek() != ':' {
			p.pos = save
			return selector{kind: selIndex, idx: n}, nil
		}
		s.start, s.hasStart = n, true
	}
	s.kind = selSlice
	p.pos++ // ':'
	p.skipS()
	if c := p.peek(); c == '-' || c >= '0' && c <= '9' {
		n, err := p.parseInt("a slice end")
		if err != nil {
			return s, err
		}
		s.end, s.hasEnd = n, true
		p.skipS()
	}
	if p.peek() == ':' {
		p.pos++
		p.skipS()
		if c := p.peek(); c == '-' || c >= '0' && c <= '9' {
			n, err := p.parseInt("a slice step")
			if err != nil {
				return s, err
			}
			s.step, s.hasS = n, true
		}
	}
	return s, nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		v := hexVal(p.src[p.pos+i])
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	p.pos += 4
	return r, true
}

// parseString parses a single- or double-quoted string literal with the
// RFC 9535 escapes and returns its value.
func (p *parser) parseString() (string, error) {
	quote := p.src[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	plain := p.pos
	for {
		if p.pos >= len(p.src) {
			msg := "unterminated string: missing closing " + string(quote)
			for _, r := range p.src[start:] {
				if q := typographicQuote(r); q != "" {
					msg += "; it contains the typographic quote " + q + ": use straight quotes ' or \" only"
					break
				}
			}
			return "", &SyntaxError{Expr: p.src, Column: utf8.RuneCountInString(p.src[:start]) + 1, Msg: msg}
		}
		c := p.src[p.pos]
		switch {
		case c == quote:
			var s string
			if b.Len() == 0 {
				s = p.src[plain:p.pos]
			} else {
				b.WriteString(p.src[plain:p.pos])
				s = b.String()
			}
			p.pos++
			return s, nil
		case c < 0x20:
			return "", p.errAt(p.pos, "control character "+p.found()+" must be escaped in a string")
		case c == '\\':
			b.WriteString(p.src[plain:p.pos])
			esc := p.pos
			p.pos++
			if p.pos >= len(p.src) {
				return "", p.errAt(esc, "unterminated escape sequence")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '/':
				b.WriteByte('/')
			case '\\':
				b.WriteByte('\\')
			case quote:
				b.WriteByte(quote)
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errAt(esc, "invalid \\u escape: expected 4 hex digits")
				}
				switch {
				case r >= 0xDC00 && r <= 0xDFFF:
					return "", p.errAt(esc, "invalid \\u escape: lone low surrogate")
				case r >= 0xD800 && r <= 0xDBFF:
					if p.peek() != '\\' || p.peekAt(1) != 'u' {
						return "", p.errAt(esc, "invalid \\u escape: high surrogate not followed by a \\u low surrogate")
					}
					p.pos += 2
					r2, ok := p.hex4()
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return "", p.errAt(esc, "invalid \\u escape: high surrogate not followed by a low surrogate")
					}
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				}
				b.WriteRune(r)
			default:
				return "", p.errAt(esc, "invalid escape sequence \\"+string(rune(e))+" in a "+string(quote)+"-quoted string")
			}
			plain = p.pos
		default:
			p.pos++
		}
	}
}

// ---- filter expressions ----

func (p *parser) parseLogical() (lexpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	first, err := p.parseBasic()
	if err != nil {
		return nil, err
	}
	return p.logicalFrom(first)
}

// logicalFrom parses the rest of a logical expression whose first basic
// expression is already parsed.
func (p *parser) logicalFrom(first lexpr) (lexpr, error) {
	and, err := p.andFrom(first)
	if err != nil {
		return nil, err
	}
	terms := []lexpr{and}
	for {
		save := p.pos
		p.skipS()
		if p.peek() == '|' && p.peekAt(1) == '|' {
			p.pos += 2
			p.skipS()
			b, err := p.parseBasic()
			if err != nil {
				return nil, err
			}
			t, err := p.andFrom(b)
			if err != nil {
				return nil, err
			}
			terms = append(terms, t)
			continue
		}
		p.pos = save
		break
	}
	if len(terms) == 1 {
		return and, nil
	}
	return orExpr{terms}, nil
}

func (p *parser) andFrom(first lexpr) (lexpr, error) {
	terms := []lexpr{first}
	for {
		save := p.pos
		p.skipS()
		if p.peek() == '&' && p.peekAt(1) == '&' {
			p.pos += 2
			p.skipS()
			t, err := p.parseBasic()
			if err != nil {
				return nil, err
			}
			terms = append(terms, t)
			continue
		}
		p.pos = save
		break
	}
	if len(terms) == 1 {
		return first, nil
	}
	return andExpr{terms}, nil
}

// parseBasic parses a paren-expr, a comparison or a test expression.
func (p *parser) parseBasic() (lexpr, error) {
	if p.peek() == '!' {
		bang := p.pos
		p.pos++
		p.skipS()
		if p.peek() == '(' {
			e, err := p.parseParen()
			if err != nil {
				return nil, err
			}
			return notExpr{e}, nil
		}
		start := p.pos
		o, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		t, err := p.testOf(o, start)
		if err != nil {
			return nil, err
		}
		save := p.pos
		p.skipS()
		if _, isCmp := p.parseCmpOp(); isCmp {
			return nil, p.errAt(bang, "'!' negates only a test or a parenthesized expression; write !(... == ...) to negate a comparison")
		}
		p.pos = save
		return notExpr{t}, nil
	}
	if p.peek() == '(' {
		return p.parseParen()
	}
	start := p.pos
	l, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	return p.basicFrom(l, start)
}

// basicFrom parses the rest of a comparison or test expression whose first
// operand (starting at byte start) is already parsed.
func (p *parser) basicFrom(l operand, start int) (lexpr, error) {
	save := p.pos
	p.skipS()
	op, ok := p.parseCmpOp()
	if !ok {
		if p.peek() == '=' {
			return nil, p.errAt(p.pos, "'=' is not a comparison operator; use '=='")
		}
		p.pos = save
		return p.testOf(l, start)
	}
	if err := p.comparable(l, start); err != nil {
		return nil, err
	}
	p.skipS()
	rstart := p.pos
	if p.pos >= len(p.src) {
		return nil, p.errExpected("a value to compare with after the comparison operator")
	}
	r, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	if err := p.comparable(r, rstart); err != nil {
		return nil, err
	}
	return cmpExpr{op: op, l: l, r: r}, nil
}

func (p *parser) parseParen() (lexpr, error) {
	open := p.pos
	p.pos++
	p.skipS()
	e, err := p.parseLogical()
	if err != nil {
		return nil, err
	}
	p.skipS()
	if p.peek() != ')' {
		if p.pos >= len(p.src) {
			return nil, p.errAt(p.pos, "missing ')' to close the '(' at column "+strconv.Itoa(utf8.RuneCountInString(p.src[:open])+1))
		}
		return nil, p.errExpected("')', '&&' or '||'")
	}
	p.pos++
	return e, nil
}

// parseCmpOp parses a comparison operator, accepting the Goessner
// spellings === and !== for == and !=.
func (p *parser) parseCmpOp() (cmpOp, bool) {
	c, d := p.peek(), p.peekAt(1)
	switch {
	case c == '=' && d == '=':
		p.pos += 2
		if p.peek() == '=' {
			p.pos++
		}
		return opEq, true
	case c == '!' && d == '=':
		p.pos += 2
		if p.peek() == '=' {
			p.pos++
		}
		return opNe, true
	case c == '<' && d == '=':
		p.pos += 2
		return opLe, true
	case c == '>' && d == '=':
		p.pos += 2
		return opGe, true
	case c == '<':
		p.pos++
		return opLt, true
	case c == '>':
		p.pos++
		return opGt, true
	}
	return 0, false
}

// testOf turns an operand that stands alone into a test expression.
func (p *parser) testOf(o operand, start int) (lexpr, error) {
	switch o.kind {
	case opndQuery:
		return existExpr{o.q}, nil
	case opndFunc:
		if o.f.sig.result == typeValue {
			return nil, p.errAt(start, "the result of "+o.f.name+"() is a value and must be compared (for example "+o.f.name+"(...) > 0)")
		}
		return funcTest{o.f}, nil
	case opndLiteral:
		return nil, p.errAt(start, "a literal cannot stand alone in a filter; compare it with something (for example @.x == "+p.src[start:p.pos]+")")
	}
	return o.l, nil
}

// comparable checks that o may be an operand of a comparison.
func (p *parser) comparable(o operand, start int) error {
	switch o.kind {
	case opndQuery:
		if !o.q.singular {
			return p.errAt(start, "only a singular query (single names and indexes without blank space inside brackets; no wildcards, slices, filters or '..') can be compared")
		}
	case opndFunc:
		if o.f.sig.result != typeValue {
			return p.errAt(start, "the result of "+o.f.name+"() is a logical value and cannot be compared; use it directly as a test")
		}
	case opndLogical:
		return p.errAt(start, "a logical expression cannot be compared")
	}
	return nil
}

// parseOperand parses a literal, a query or a function call.
func (p *parser) parseOperand() (operand, error) {
	c := p.peek()
	switch {
	case c == '@' || c == '$':
		if err := p.enter(); err != nil {
			return operand{}, err
		}
		defer p.leave()
		q, err := p.parseQuery()
		if err != nil {
			return operand{}, err
		}
		return operand{kind: opndQuery, q: q}, nil
	case c == '\'' || c == '"':
		s, err := p.parseString()
		if err != nil {
			return operand{}, err
		}
		return operand{kind: opndLiteral, lit: stringValue(s)}, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.parseNumber()
	case c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
				p.pos++
				continue
			}
			break
		}
		word := p.src[start:p.pos]
		if p.peek() == '(' {
			return p.parseCall(word, start)
		}
		switch word {
		case "true":
			return operand{kind: opndLiteral, lit: value{kind: kTrue}}, nil
		case "false":
			return operand{kind: opndLiteral, lit: value{kind: kFalse}}, nil
		case "null":
			return operand{kind: opndLiteral, lit: value{kind: kNull}}, nil
		}
		if _, ok := functions[word]; ok && isBlank(p.peek()) {
			return operand{}, p.errAt(p.pos, "no blank space is allowed between a function name and '('")
		}
		if r, _ := utf8.DecodeRuneInString(p.src[p.pos:]); p.pos < len(p.src) && isNameChar(r) {
			return operand{}, p.errAt(start, "unknown name "+strconv.Quote(word+string(r)+"…")+"; expected @, $, a literal (true, false, null, a number or a quoted string) or a function call")
		}
		return operand{}, p.errAt(start, "unknown name "+strconv.Quote(word)+"; expected @, $, a literal (true, false, null, a number or a quoted string) or a function call")
	case c == 0 && p.pos >= len(p.src):
		return operand{}, p.errExpected("a filter expression")
	}
	return operand{}, p.errExpected("@, $, a literal, a function call, '!' or '('")
}

// parseNumber parses a number literal: (int / "-0") [frac] [exp].
func (p *parser) parseNumber() (operand, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == digits {
		return operand{}, p.errExpected("a digit")
	}
	if p.src[digits] == '0' && p.pos-digits > 1 {
		return operand{}, p.errAt(digits, "leading zeros are not allowed in a number")
	}
	if p.peek() == '.' {
		p.pos++
		fs := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == fs {
			return operand{}, p.errExpected("a digit after the decimal point")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		es := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == es {
			return operand{}, p.errExpected("a digit in the exponent")
		}
	}
	f, err := strconv.ParseFloat(p.src[start:p.pos], 64)
	if err != nil && !math.IsInf(f, 0) {
		return operand{}, p.errAt(start, "invalid number")
	}
	return operand{kind: opndLiteral, lit: value{kind: kNumber, num: f, raw: p.src[start:p.pos]}}, nil
}

func (p *parser) parseCall(name string, start int) (operand, error) {
	sig, ok := functions[name]
	if !ok {
		return operand{}, p.errAt(start, "unknown function "+name+"(); the functions are length, count, match, search and value")
	}
	if err := p.enter(); err != nil {
		return operand{}, err
	}
	defer p.leave()
	p.pos++ // '('
	f := &funcCall{name: name, sig: sig}
	p.skipS()
	if p.peek() != ')' {
		for {
			astart := p.pos
			a, err := p.parseArg()
			if err != nil {
				return operand{}, err
			}
			i := len(f.args)
			if i >= len(sig.params) {
				return operand{}, p.errAt(astart, name+"() takes "+plural(len(sig.params), "argument"))
			}
			if err := p.checkArg(f, i, a, astart); err != nil {
				return operand{}, err
			}
			f.args = append(f.args, a)
			p.skipS()
			if p.peek() == ',' {
				p.pos++
				p.skipS()
				continue
			}
			if p.peek() == ')' {
				break
			}
			return operand{}, p.errExpected("',' or ')' in the arguments of " + name + "()")
		}
	}
	if len(f.args) != len(sig.params) {
		return operand{}, p.errAt(p.pos, name+"() takes "+plural(len(sig.params), "argument")+", got "+strconv.Itoa(len(f.args)))
	}
	p.pos++ // ')'
	if (sig.id == fnMatch || sig.id == fnSearch) && f.args[1].kind == opndLiteral {
		if f.args[1].lit.kind == kString {
			re := compileIRegexpSized(f.args[1].lit.str, sig.id == fnMatch)
			if re.err != nil {
				f.reBad = true
			} else {
				f.re, f.reSize = re.re, re.size
			}
		} else {
			f.reBad = true
		}
	}
	return operand{kind: opndFunc, f: f}, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// parseArg parses a function argument: a literal, a query, a logical
// expression or a function call.
func (p *parser) parseArg() (operand, error) {
	c := p.peek()
	if c == '!' || c == '(' {
		e, err := p.parseLogical()
		if err != nil {
			return operand{}, err
		}
		return operand{kind: opndLogical, l: e}, nil
	}
	start := p.pos
	o, err := p.parseOperand()
	if err != nil {
		return operand{}, err
	}
	save := p.pos
	p.skipS()
	c, d := p.peek(), p.peekAt(1)
	isOp := c == '=' || c == '<' || c == '>' || c == '!' && d == '='
	isLogic := c == '&' && d == '&' || c == '|' && d == '|'
	p.pos = save
	if !isOp && !isLogic {
		return o, nil
	}
	// The argument is a logical expression starting with o: go on from o
	// (never reparse it, which would be exponential in the nesting).
	first, err := p.basicFrom(o, start)
	if err != nil {
		return operand{}, err
	}
	e, err := p.logicalFrom(first)
	if err != nil {
		return operand{}, err
	}
	return operand{kind: opndLogical, l: e}, nil
}

// checkArg applies the RFC 9535 §2.4.3 type rules to argument i of f.
func (p *parser) checkArg(f *funcCall, i int, a operand, start int) error {
	want := f.sig.params[i]
	ord := ordinal(i) + " argument of " + f.name + "()"
	switch want {
	case typeValue:
		switch a.kind {
		case opndLiteral:
			return nil
		case opndQuery:
			if !a.q.singular {
				return p.errAt(start, "the "+ord+" must be a single value: use a singular query (names and indexes only), a literal or value(...)")
			}
			return nil
		case opndFunc:
			if a.f.sig.result != typeValue {
				return p.errAt(start, "the "+ord+" must be a value, but "+a.f.name+"() returns a logical value")
			}
			return nil
		}
		return p.errAt(start, "the "+ord+" must be a value, not a logical expression")
	case typeNodes:
		switch a.kind {
		case opndQuery:
			return nil
		case opndFunc:
			if a.f.sig.result == typeNodes {
				return nil
			}
		}
		return p.errAt(start, "the "+ord+" must be a query such as @.items[*]")
	case typeLogical:
		switch a.kind {
		case opndLogical, opndQuery:
			return nil
		case opndFunc:
			if a.f.sig.result != typeValue {
				return nil
			}
		}
		return p.errAt(start, "the "+ord+" must be a logical expression")
	}
	return nil
}

func ordinal(i int) string {
	switch i {
	case 0:
		return "first"
	case 1:
		return "second"
	case 2:
		return "third"
	}
	return strconv.Itoa(i+1) + "th"
}

// parseFilter parses a standalone filter expression for CompileFilter.
func parseFilter(src string) (lexpr, error) {
	if e := checkSource(src); e != nil {
		return nil, e
	}
	p := &parser{src: src}
	p.skipS()
	if p.peek() == '?' { // pasted from a [?...] selector
		p.pos++
		p.skipS()
	}
	if p.pos >= len(src) {
		return nil, p.errAt(p.pos, "empty filter expression")
	}
	e, err := p.parseLogical()
	if err != nil {
		return nil, err
	}
	p.skipS()
	if p.pos < len(src) {
		return nil, p.errExpected("'&&', '||' or the end of the expression")
	}
	return e, nil
}
