package jsonpath

import (
	"errors"
	"strconv"
	"unsafe"
)

// Node is one result of a query.
type Node struct {
	Path  string // normalized path, RFC 9535 §2.7, e.g. $['stores'][0]['name']
	Value []byte // raw JSON of the value, a sub-slice of the document
}

// SyntaxError reports an invalid selector with the 1-based column of the
// offending character and what was expected there.
type SyntaxError struct {
	Expr   string
	Column int
	Msg    string
}

// Error returns the message with its column, e.g. "invalid JSONPath at
// column 5: expected ...".
func (e *SyntaxError) Error() string {
	return "invalid JSONPath at column " + strconv.Itoa(e.Column) + ": " + e.Msg
}

// ErrTooMuchWork is returned by Query when an evaluation exceeds MaxWork
// or MaxPathBytes.
var ErrTooMuchWork = errors.New("jsonpath: evaluation exceeded its work budget")

// Path is a compiled JSONPath query. It is safe for concurrent use.
type Path struct {
	src string
	q   *query
}

// Compile parses expr. On invalid input the error is a *SyntaxError.
func Compile(expr string) (*Path, error) {
	q, err := parseRoot(expr)
	if err != nil {
		return nil, err
	}
	return &Path{src: expr, q: q}, nil
}

// MustCompile is Compile that panics; for tests and constants only.
func MustCompile(expr string) *Path {
	p, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the source text of p.
func (p *Path) String() string { return p.src }

// Step is one child segment of a path that Steps accepts: a member name,
// a non-negative index, or a wildcard.
type Step struct {
	Name     string // the member name (unescaped) when neither Index nor Wildcard
	Index    int64
	IsIndex  bool
	Wildcard bool
}

// Steps returns p's segments when p is a chain of child segments each
// holding one name, non-negative index or wildcard selector, the shape of
// normalized paths and of what Leaves suggests. ok is false for any other
// query (descendants, slices, filters, several selectors, negative
// indexes).
func (p *Path) Steps() (steps []Step, ok bool) {
	if p.q.relative {
		return nil, false
	}
	steps = make([]Step, 0, len(p.q.segs))
	for i := range p.q.segs {
		seg := &p.q.segs[i]
		if seg.descendant || len(seg.sels) != 1 {
			return nil, false
		}
		switch sel := &seg.sels[0]; sel.kind {
		case selName:
			steps = append(steps, Step{Name: sel.name})
		case selIndex:
			if sel.idx < 0 {
				return nil, false
			}
			steps = append(steps, Step{Index: sel.idx, IsIndex: true})
		case selWildcard:
			steps = append(steps, Step{Wildcard: true})
		default:
			return nil, false
		}
	}
	return steps, true
}

// Canonical returns p in the form of a normalized path (RFC 9535 §2.7),
// with [*] for a wildcard, when Steps accepts p: $.a.b, $['a'].b and
// $["a"]['b'] are all $['a']['b'], and $.items[*].sku is
// $['items'][*]['sku'], the forms Leaves suggests. ok is false for any
// other query, which has no such form.
func (p *Path) Canonical() (string, bool) {
	steps, ok := p.Steps()
	if !ok {
		return "", false
	}
	b := []byte{'$'}
	for _, st := range steps {
		switch {
		case st.Wildcard:
			b = append(b, "[*]"...)
		case st.IsIndex:
			b = append(b, '[')
			b = strconv.AppendInt(b, st.Index, 10)
			b = append(b, ']')
		default:
			b = appendName(b, st.Name)
		}
	}
	return string(b), true
}

// Values returns the raw JSON of every node p selects in doc, in RFC 9535
// order. The slices alias doc. It returns nil when nothing is selected or
// when the evaluation exceeds its work budget.
func (p *Path) Values(doc []byte) [][]byte {
	vs, _ := p.Select(doc)
	return vs
}

// Select is Values that reports ErrTooMuchWork instead of returning nil
// when the evaluation exceeds its work budget.
func (p *Path) Select(doc []byte) ([][]byte, error) {
	root, ok := rootOf(doc)
	if !ok {
		return nil, nil
	}
	e := getEvaluator(root, false)
	defer putEvaluator(e)
	if p.q.singular {
		raw, ok := e.lookup(p.q.segs, root, nil)
		if *e.over {
			return nil, ErrTooMuchWork
		}
		if !ok {
			return nil, nil
		}
		return [][]byte{sub(doc, raw)}, nil
	}
	ns := e.run(p.q.segs, node{raw: root, path: -1})
	if *e.over {
		return nil, ErrTooMuchWork
	}
	if len(ns) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(ns))
	for i, n := range ns {
		out[i] = sub(doc, n.raw)
	}
	return out, nil
}

// Nodes returns every node p selects in doc with its normalized path. It
// returns nil when nothing is selected or when the evaluation exceeds its
// work budget.
func (p *Path) Nodes(doc []byte) []Node {
	ns, _ := p.Query(doc)
	return ns
}

// Query is Nodes that reports ErrTooMuchWork instead of returning nil when
// the evaluation exceeds its budget.
func (p *Path) Query(doc []byte) ([]Node, error) {
	root, ok := rootOf(doc)
	if !ok {
		return nil, nil
	}
	e := getEvaluator(root, true)
	defer putEvaluator(e)
	if p.q.singular {
		var idxBuf [16]int
		idxs := idxBuf[:0]
		if len(p.q.segs) <= len(idxBuf) {
			idxs = idxBuf[:len(p.q.segs)]
		} else {
			idxs = make([]int, len(p.q.segs))
		}
		raw, ok := e.lookup(p.q.segs, root, idxs)
		if *e.over {
			return nil, ErrTooMuchWork
		}
		if !ok {
			return nil, nil
		}
		var buf [128]byte
		b := append(buf[:0], '$')
		for i := range p.q.segs {
			s := &p.q.segs[i].sels[0]
			if s.kind == selName {
				b = appendName(b, s.name)
			} else {
				b = appendIndex(b, idxs[i])
			}
		}
		return []Node{{Path: string(b), Value: sub(doc, raw)}}, nil
	}
	ns := e.run(p.q.segs, node{raw: root, path: -1})
	if *e.over {
		return nil, ErrTooMuchWork
	}
	if len(ns) == 0 {
		return nil, nil
	}
	out := make([]Node, len(ns))
	total := 0
	var chain []int32
	var b []byte
	for i, n := range ns {
		chain = chain[:0]
		for at := n.path; at >= 0; at = e.paths[at].parent {
			chain = append(chain, at)
		}
		b = append(b[:0], '$')
		for j := len(chain) - 1; j >= 0; j-- {
			pe := &e.paths[chain[j]]
			if pe.isIdx {
				b = appendIndex(b, pe.idx)
			} else {
				b = appendName(b, pe.name)
			}
		}
		total += len(b)
		if total > MaxPathBytes {
			return nil, ErrTooMuchWork
		}
		out[i] = Node{Path: string(b), Value: sub(doc, n.raw)}
	}
	return out, nil
}

// rootOf returns doc without surrounding blank space, as a string sharing
// doc's memory.
func rootOf(doc []byte) (string, bool) {
	i, j := 0, len(doc)
	for i < j && isBlank(doc[i]) {
		i++
	}
	for j > i && isBlank(doc[j-1]) {
		j--
	}
	if i == j {
		return "", false
	}
	return unsafe.String(&doc[i], j-i), true
}

// sub returns raw, a substring of doc's memory, as a sub-slice of doc
// (capacity-limited so appending never writes into doc).
func sub(doc []byte, raw string) []byte {
	if len(raw) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(doc)))
	at := uintptr(unsafe.Pointer(unsafe.StringData(raw)))
	if at >= base && at+uintptr(len(raw)) <= base+uintptr(len(doc)) {
		off := int(at - base)
		return doc[off : off+len(raw) : off+len(raw)]
	}
	return []byte(raw)
}

func appendIndex(b []byte, i int) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, ']')
}

// appendName appends ['name'] with the escaping of RFC 9535 §2.7.
func appendName(b []byte, name string) []byte {
	b = append(b, "['"...)
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x20 && c != '\'' && c != '\\' {
			continue
		}
		b = append(b, name[start:i]...)
		start = i + 1
		switch c {
		case '\'':
			b = append(b, `\'`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		}
	}
	b = append(b, name[start:]...)
	return append(b, "']"...)
}

// Filter is a compiled filter expression (the part inside ?(...)), evaluated
// with @ bound to a whole document; workflows use it for `when`. It is safe
// for concurrent use.
type Filter struct {
	src string
	e   lexpr
}

// CompileFilter parses a filter expression such as
// "@.fields.priority == 'Urgent' && @.fields.total > 1000". Blank space
// around the expression and a leading '?' (as pasted from a [?...]
// selector) are ignored; the Goessner operators === and !== are accepted.
// On invalid input the error is a *SyntaxError.
func CompileFilter(expr string) (*Filter, error) {
	e, err := parseFilter(expr)
	if err != nil {
		return nil, err
	}
	return &Filter{src: expr, e: e}, nil
}

// String returns the source text of f.
func (f *Filter) String() string { return f.src }

// Match reports whether doc satisfies f, with both @ and $ bound to the
// document. An evaluation that exceeds the work budget does not match.
func (f *Filter) Match(doc []byte) bool {
	m, _ := f.Test(doc)
	return m
}

// Test is Match that reports ErrTooMuchWork (and false) when the
// evaluation exceeds its work budget, so that a caller can tell "does not
// hold" from "could not be decided".
func (f *Filter) Test(doc []byte) (bool, error) {
	root, ok := rootOf(doc)
	if !ok {
		return false, nil
	}
	e := getEvaluator(root, false)
	defer putEvaluator(e)
	s := e.subEvaluator()
	m := s.test(f.e, root)
	if *e.over {
		return false, ErrTooMuchWork
	}
	return m, nil
}
