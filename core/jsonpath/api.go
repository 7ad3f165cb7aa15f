// Package jsonpath compiles JSONPath expressions (RFC 9535, plus the Goessner
// forms users paste from older docs) once and evaluates them many times
// directly over raw JSON bytes with gjson.
//
// CONTRACT (other packages code against exactly this API; the engine issue
// fills in the bodies):
//
//	func Compile(expr string) (*Path, error)        // *SyntaxError on bad input
//	func MustCompile(expr string) *Path
//	func (p *Path) String() string                  // the source text
//	func (p *Path) Values(doc []byte) [][]byte      // raw JSON of each node, RFC order
//	func (p *Path) Nodes(doc []byte) []Node         // values with normalized paths
//	func CompileFilter(expr string) (*Filter, error) // a filter expression, @ = document root
//	func (f *Filter) Match(doc []byte) bool
//
// doc must be valid JSON (callers validate first); results alias doc.
package jsonpath

import "errors"

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

func (e *SyntaxError) Error() string {
	return "invalid JSONPath at column " + itoa(e.Column) + ": " + e.Msg
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

var errUnimplemented = errors.New("jsonpath: engine not built yet")

// Path is a compiled JSONPath query.
type Path struct{ src string }

// Compile parses expr.
func Compile(expr string) (*Path, error) { return nil, errUnimplemented }

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

// Values returns the raw JSON of every node p selects in doc.
func (p *Path) Values(doc []byte) [][]byte { return nil }

// Nodes returns every node p selects in doc with its normalized path.
func (p *Path) Nodes(doc []byte) []Node { return nil }

// Filter is a compiled filter expression (the part inside ?(...)), evaluated
// with @ bound to a whole document; workflows use it for `when`.
type Filter struct{ src string }

// CompileFilter parses a filter expression such as
// "@.fields.priority == 'Urgent' && @.fields.total > 1000".
func CompileFilter(expr string) (*Filter, error) { return nil, errUnimplemented }

// Match reports whether doc satisfies f.
func (f *Filter) Match(doc []byte) bool { return false }
