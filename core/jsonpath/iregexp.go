package jsonpath

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// I-Regexp (RFC 9485) support for match() and search().
//
// A pattern is parsed with the RFC 9485 grammar and rewritten into Go
// regexp syntax, so anything outside I-Regexp (back-references, \d, lazy
// quantifiers, anchors, (?:...)) is refused rather than given Go's meaning.
// The rewriting keeps I-Regexp semantics: '.' matches any character except
// \n and \r, '^' and '$' are ordinary characters, and match() is anchored
// at both ends.

// maxPatternLen bounds the length of a regular expression in bytes.
const maxPatternLen = 4096

var errIRegexp = errors.New("not a valid I-Regexp")

type reParser struct {
	src string
	pos int
	out strings.Builder
	// depth counts open groups.
	depth int
}

// translateIRegexp rewrites an I-Regexp into Go regexp syntax.
func translateIRegexp(src string) (string, error) {
	if len(src) > maxPatternLen || !utf8.ValidString(src) {
		return "", errIRegexp
	}
	p := &reParser{src: src}
	if err := p.regexp(); err != nil {
		return "", err
	}
	if p.pos != len(p.src) {
		return "", errIRegexp
	}
	return p.out.String(), nil
}

func (p *reParser) peek() rune {
	if p.pos >= len(p.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

func (p *reParser) next() rune {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return r
}

func (p *reParser) regexp() error {
	if err := p.branch(); err != nil {
		return err
	}
	for p.peek() == '|' {
		p.pos++
		p.out.WriteByte('|')
		if err := p.branch(); err != nil {
			return err
		}
	}
	return nil
}

func (p *reParser) branch() error {
	for {
		r := p.peek()
		if r == -1 || r == '|' || r == ')' {
			return nil
		}
		if err := p.atom(); err != nil {
			return err
		}
		if err := p.quantifier(); err != nil {
			return err
		}
	}
}

func (p *reParser) quantifier() error {
	switch p.peek() {
	case '*', '+', '?':
		p.out.WriteRune(p.next())
		return nil
	case '{':
		p.pos++
		lo, ok := p.digits()
		if !ok {
			return errIRegexp
		}
		p.out.WriteByte('{')
		p.out.WriteString(lo)
		if p.peek() == ',' {
			p.pos++
			p.out.WriteByte(',')
			if hi, ok := p.digits(); ok {
				l, _ := strconv.Atoi(lo)
				h, _ := strconv.Atoi(hi)
				if h < l {
					return errIRegexp
				}
				p.out.WriteString(hi)
			}
		}
		if p.peek() != '}' {
			return errIRegexp
		}
		p.pos++
		p.out.WriteByte('}')
	}
	return nil
}

func (p *reParser) digits() (string, bool) {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == start || p.pos-start > 4 {
		return "", false // Go refuses counts over 1000 anyway
	}
	return p.src[start:p.pos], true
}

func isNormalChar(r rune) bool {
	switch {
	case r >= 0x00 && r <= 0x27, r == ',', r == '-', r >= 0x2F && r <= 0x3E,
		r >= 0x40 && r <= 0x5A, r >= 0x5E && r <= 0x7A, r >= 0x7E && r <= 0xD7FF,
		r >= 0xE000 && r <= 0x10FFFF:
		return true
	}
	return false
}

func (p *reParser) atom() error {
	r := p.peek()
	switch {
	case r == '(':
		p.pos++
		p.depth++
		if p.depth > maxNesting {
			return errIRegexp
		}
		p.out.WriteString("(?:")
		if err := p.regexp(); err != nil {
			return err
		}
		if p.peek() != ')' {
			return errIRegexp
		}
		p.pos++
		p.depth--
		p.out.WriteByte(')')
		return nil
	case r == '.':
		p.pos++
		p.out.WriteString(`[^\n\r]`)
		return nil
	case r == '[':
		return p.classExpr()
	case r == '^' || r == '$':
		// I-Regexp reads these as ordinary characters, but the compliance
		// suite (and the RFC 9485 mappings to PCRE and ECMAScript) give
		// them their anchor meaning: start and end of the string.
		p.pos++
		p.out.WriteRune(r)
		return nil
	case r == '\\':
		return p.escape(false)
	case isNormalChar(r):
		p.pos += utf8.RuneLen(r)
		writeLiteral(&p.out, r)
		return nil
	}
	return errIRegexp
}

// writeLiteral writes r so that Go regexp reads it as that character, in
// or out of a character class.
func writeLiteral(b *strings.Builder, r rune) {
	switch {
	case r < 0x20 || r == 0x7f || r >= 0x80:
		b.WriteString(`\x{`)
		b.WriteString(strconv.FormatInt(int64(r), 16))
		b.WriteByte('}')
	case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '_':
		b.WriteRune(r)
	default:
		b.WriteByte('\\')
		b.WriteRune(r)
	}
}

// singleEsc returns the character a SingleCharEsc stands for.
func singleEsc(r rune) (rune, bool) {
	switch {
	case r >= 0x28 && r <= 0x2B, r == '-', r == '.', r == '?', r >= 0x5B && r <= 0x5E, r >= 0x7B && r <= 0x7D:
		return r, true
	case r == 'n':
		return '\n', true
	case r == 'r':
		return '\r', true
	case r == 't':
		return '\t', true
	}
	return 0, false
}

var categories = map[string]bool{
	"L": true, "Ll": true, "Lm": true, "Lo": true, "Lt": true, "Lu": true,
	"M": true, "Mc": true, "Me": true, "Mn": true,
	"N": true, "Nd": true, "Nl": true, "No": true,
	"P": true, "Pc": true, "Pd": true, "Pe": true, "Pf": true, "Pi": true, "Po": true, "Ps": true,
	"Z": true, "Zl": true, "Zp": true, "Zs": true,
	"S": true, "Sc": true, "Sk": true, "Sm": true, "So": true,
	"C": true, "Cc": true, "Cf": true, "Cn": true, "Co": true,
}

// escape parses a backslash escape. A single character escape yields the
// character (literal) in rng for use as a range endpoint.
func (p *reParser) escape(inClass bool) error {
	_, err := p.escapeRune(inClass, true)
	return err
}

// escapeRune parses an escape at p.pos. For a SingleCharEsc it returns the
// character; for a category escape it writes the category and returns -1.
// When allowCategory is false a category escape is an error.
func (p *reParser) escapeRune(inClass, allowCategory bool) (rune, error) {
	p.pos++ // '\'
	if p.pos >= len(p.src) {
		return 0, errIRegexp
	}
	r := p.next()
	if c, ok := singleEsc(r); ok {
		writeLiteral(&p.out, c)
		return c, nil
	}
	if (r == 'p' || r == 'P') && allowCategory {
		if p.peek() != '{' {
			return 0, errIRegexp
		}
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			return 0, errIRegexp
		}
		name := p.src[p.pos+1 : p.pos+end]
		if !categories[name] {
			return 0, errIRegexp
		}
		p.pos += end + 1
		p.out.WriteByte('\\')
		p.out.WriteRune(r)
		p.out.WriteByte('{')
		p.out.WriteString(name)
		p.out.WriteByte('}')
		return -1, nil
	}
	return 0, errIRegexp
}

func isCCChar(r rune) bool {
	switch {
	case r >= 0x00 && r <= 0x2C, r >= 0x2E && r <= 0x5A, r >= 0x5E && r <= 0xD7FF, r >= 0xE000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// classExpr parses "[" ["^"] ("-" / CCE1) *CCE1 ["-"] "]".
func (p *reParser) classExpr() error {
	p.pos++ // '['
	p.out.WriteByte('[')
	if p.peek() == '^' {
		p.pos++
		p.out.WriteByte('^')
	}
	first := true
	for {
		r := p.peek()
		switch {
		case r == -1:
			return errIRegexp
		case r == ']':
			if first {
				return errIRegexp // an empty class
			}
			p.pos++
			p.out.WriteByte(']')
			return nil
		case r == '-':
			p.pos++
			// '-' is allowed only first or last.
			if !first && p.peek() != ']' {
				return errIRegexp
			}
			p.out.WriteString(`\-`)
			first = false
			continue
		}
		first = false
		// CCE1 = (CCchar ["-" CCchar]) / charClassEsc
		var lo rune
		if r == '\\' {
			c, err := p.escapeRune(true, true)
			if err != nil {
				return err
			}
			if c == -1 {
				continue // a category escape
			}
			lo = c
		} else if isCCChar(r) {
			p.pos += utf8.RuneLen(r)
			writeLiteral(&p.out, r)
			lo = r
		} else {
			return errIRegexp
		}
		if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
			p.pos++
			p.out.WriteByte('-')
			var hi rune
			r := p.peek()
			if r == '\\' {
				c, err := p.escapeRune(true, false)
				if err != nil {
					return err
				}
				hi = c
			} else if isCCChar(r) {
				p.pos += utf8.RuneLen(r)
				writeLiteral(&p.out, r)
				hi = r
			} else {
				return errIRegexp
			}
			if hi < lo {
				return errIRegexp
			}
		}
	}
}

// compileIRegexp compiles an I-Regexp for match (anchored) or search.
func compileIRegexp(src string, anchored bool) (*regexp.Regexp, error) {
	t, err := translateIRegexp(src)
	if err != nil {
		return nil, err
	}
	if anchored {
		t = `^(?:` + t + `)$`
	}
	return regexp.Compile(t)
}

type reKey struct {
	src      string
	anchored bool
}

type reEntry struct {
	re  *regexp.Regexp
	err error
}

// The cache of patterns that come from documents rather than selectors.
var (
	reMu    sync.Mutex
	reCache = map[reKey]reEntry{}
)

const reCacheSize = 256

func cachedIRegexp(src string, anchored bool) (*regexp.Regexp, error) {
	k := reKey{src, anchored}
	reMu.Lock()
	e, ok := reCache[k]
	reMu.Unlock()
	if ok {
		return e.re, e.err
	}
	re, err := compileIRegexp(src, anchored)
	reMu.Lock()
	if len(reCache) >= reCacheSize {
		clear(reCache)
	}
	reCache[k] = reEntry{re, err}
	reMu.Unlock()
	return re, err
}
