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

// translateIRegexp rewrites an I-Regexp into Go regexp syntax. It also
// returns the size of the pattern in instructions of the compiled program
// (estimated, counting repetitions expanded), which matching costs per
// byte of input.
func translateIRegexp(src string) (string, int, error) {
	if len(src) > maxPatternLen || !utf8.ValidString(src) {
		return "", 0, errIRegexp
	}
	p := &reParser{src: src}
	size, err := p.regexp()
	if err != nil {
		return "", 0, err
	}
	if p.pos != len(p.src) {
		return "", 0, errIRegexp
	}
	return p.out.String(), size, nil
}

// maxReSize caps size estimates (Go refuses such programs anyway).
const maxReSize = 1 << 24

func addSize(a, b int) int { return min(a+b, maxReSize) }

func mulSize(a, n int) int {
	if n != 0 && a > maxReSize/n {
		return maxReSize
	}
	return a * n
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

// regexp, branch, atom and quantifier return the size of what they
// parsed (see translateIRegexp).
func (p *reParser) regexp() (int, error) {
	size, err := p.branch()
	if err != nil {
		return 0, err
	}
	for p.peek() == '|' {
		p.pos++
		p.out.WriteByte('|')
		b, err := p.branch()
		if err != nil {
			return 0, err
		}
		size = addSize(size, b+1)
	}
	return size, nil
}

func (p *reParser) branch() (int, error) {
	size := 0
	for {
		r := p.peek()
		if r == -1 || r == '|' || r == ')' {
			return size, nil
		}
		a, err := p.atom()
		if err != nil {
			return 0, err
		}
		a, err = p.quantifier(a)
		if err != nil {
			return 0, err
		}
		size = addSize(size, a)
	}
}

// quantifier parses an optional quantifier of an atom of the given size
// and returns the size of the piece.
func (p *reParser) quantifier(size int) (int, error) {
	switch p.peek() {
	case '*', '+', '?':
		p.out.WriteRune(p.next())
		return addSize(size, 1), nil
	case '{':
		p.pos++
		lo, ok := p.digits()
		if !ok {
			return 0, errIRegexp
		}
		p.out.WriteByte('{')
		p.out.WriteString(lo)
		l, _ := strconv.Atoi(lo)
		n := max(l, 1)
		if p.peek() == ',' {
			p.pos++
			p.out.WriteByte(',')
			n = l + 1
			if hi, ok := p.digits(); ok {
				h, _ := strconv.Atoi(hi)
				if h < l {
					return 0, errIRegexp
				}
				p.out.WriteString(hi)
				n = max(h, 1)
			}
		}
		if p.peek() != '}' {
			return 0, errIRegexp
		}
		p.pos++
		p.out.WriteByte('}')
		return addSize(mulSize(size, n), 1), nil
	}
	return size, nil
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

func (p *reParser) atom() (int, error) {
	r := p.peek()
	switch {
	case r == '(':
		p.pos++
		p.depth++
		if p.depth > maxNesting {
			return 0, errIRegexp
		}
		p.out.WriteString("(?:")
		size, err := p.regexp()
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, errIRegexp
		}
		p.pos++
		p.depth--
		p.out.WriteByte(')')
		return addSize(size, 1), nil
	case r == '.':
		p.pos++
		p.out.WriteString(`[^\n\r]`)
		return 1, nil
	case r == '[':
		return p.classExpr()
	case r == '^' || r == '$':
		// I-Regexp reads these as ordinary characters, but the compliance
		// suite (and the RFC 9485 mappings to PCRE and ECMAScript) give
		// them their anchor meaning: start and end of the string.
		p.pos++
		p.out.WriteRune(r)
		return 1, nil
	case r == '\\':
		c, err := p.escapeRune(false, true)
		if c == -1 {
			return categorySize, err
		}
		return 1, err
	case isNormalChar(r):
		p.pos += utf8.RuneLen(r)
		writeLiteral(&p.out, r)
		return 1, nil
	}
	return 0, errIRegexp
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

// categorySize is the size of a character class holding a category
// escape such as \p{L}: matching one costs a search of the category's
// ranges, two to three times a plain instruction.
const categorySize = 3

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

// classExpr parses "[" ["^"] ("-" / CCE1) *CCE1 ["-"] "]" and returns
// its size.
func (p *reParser) classExpr() (int, error) {
	p.pos++ // '['
	p.out.WriteByte('[')
	if p.peek() == '^' {
		p.pos++
		p.out.WriteByte('^')
	}
	first := true
	size := 1
	for {
		r := p.peek()
		switch {
		case r == -1:
			return 0, errIRegexp
		case r == ']':
			if first {
				return 0, errIRegexp // an empty class
			}
			p.pos++
			p.out.WriteByte(']')
			return size, nil
		case r == '-':
			p.pos++
			// '-' is allowed only first or last.
			if !first && p.peek() != ']' {
				return 0, errIRegexp
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
				return 0, err
			}
			if c == -1 {
				size = categorySize
				continue // a category escape
			}
			lo = c
		} else if isCCChar(r) {
			p.pos += utf8.RuneLen(r)
			writeLiteral(&p.out, r)
			lo = r
		} else {
			return 0, errIRegexp
		}
		if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
			p.pos++
			p.out.WriteByte('-')
			var hi rune
			r := p.peek()
			if r == '\\' {
				c, err := p.escapeRune(true, false)
				if err != nil {
					return 0, err
				}
				hi = c
			} else if isCCChar(r) {
				p.pos += utf8.RuneLen(r)
				writeLiteral(&p.out, r)
				hi = r
			} else {
				return 0, errIRegexp
			}
			if hi < lo {
				return 0, errIRegexp
			}
		}
	}
}

// compileIRegexp compiles an I-Regexp for match (anchored) or search.
func compileIRegexp(src string, anchored bool) (*regexp.Regexp, error) {
	e := compileIRegexpSized(src, anchored)
	return e.re, e.err
}

// compileIRegexpSized is compileIRegexp that also returns the size of the
// pattern (see translateIRegexp).
func compileIRegexpSized(src string, anchored bool) reEntry {
	t, size, err := translateIRegexp(src)
	if err != nil {
		return reEntry{err: err}
	}
	if anchored {
		t = `^(?:` + t + `)$`
		size += 2
	}
	re, err := regexp.Compile(t)
	return reEntry{re: re, size: size, err: err}
}

// Work units of regular expressions (see MaxWork, about 50 ns each):
// compiling costs reCompileCost per byte of pattern (a pattern of 4 KiB
// of \p{L} takes 20 to 60 ms to compile), and matching one byte of input
// against a pattern costs about 1 to 7.5 ns per instruction of its
// program.
const (
	reCompileCost = 256
	reMatchBytes  = 16 // byte × instruction products per unit
)

// compileCost is the work of compiling a pattern of n bytes.
func compileCost(n int) int { return 1 + n*reCompileCost }

// matchCost is the work of matching n bytes against a pattern of size
// instructions.
func matchCost(n, size int) int {
	size = max(size, 1)
	return 1 + n/reMatchBytes*size + n%reMatchBytes*size/reMatchBytes
}

type reKey struct {
	src      string
	anchored bool
}

type reEntry struct {
	re   *regexp.Regexp
	size int
	err  error
}

// The cache of patterns that come from documents rather than selectors.
var (
	reMu    sync.Mutex
	reCache = map[reKey]reEntry{}
)

const reCacheSize = 256

// cachedIRegexp returns the compiled pattern from the cache, or compiles
// it when spend, given the cost of compiling, allows; it reports false
// when it does not.
func cachedIRegexp(src string, anchored bool, spend func(int) bool) (reEntry, bool) {
	k := reKey{src, anchored}
	reMu.Lock()
	e, ok := reCache[k]
	reMu.Unlock()
	if ok {
		return e, true
	}
	if !spend(compileCost(len(src))) {
		return reEntry{}, false
	}
	// src may alias the caller's document (decodeString, rootOf): the
	// cache outlives the call, so its key (and anything compiled from it)
	// gets memory of its own.
	k.src = strings.Clone(src)
	e = compileIRegexpSized(k.src, anchored)
	reMu.Lock()
	if len(reCache) >= reCacheSize {
		clear(reCache)
	}
	reCache[k] = e
	reMu.Unlock()
	return e, true
}
