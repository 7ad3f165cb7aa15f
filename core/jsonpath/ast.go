package jsonpath

import (
	"regexp"
	"strings"
)

// A query is a compiled JSONPath query: absolute ($...) or relative (@...).
type query struct {
	relative bool
	segs     []segment
	// singular is true when every segment is a child segment with exactly
	// one name or index selector, so the query selects at most one node.
	singular bool
}

// A segment is a child segment ([...]) or a descendant segment (..[...]).
type segment struct {
	descendant bool
	spaced     bool // blank space inside the brackets
	sels       []selector
	// runLen > 1 marks the first of runLen consecutive child segments that
	// each hold one name selector gjson can look up; run is their combined
	// gjson path, so one pass over the document resolves them all.
	runLen int
	run    string
	// prune, for a descendant segment of name selectors only, holds each
	// name as a JSON string. A subtree whose raw JSON contains none of them
	// and no backslash cannot have such a member and is skipped.
	prune []string
}

// computePrune fills seg.prune when every selector is a name that JSON
// writes without escapes.
func (seg *segment) computePrune() {
	if !seg.descendant {
		return
	}
	var keys []string
	for _, s := range seg.sels {
		if s.kind != selName {
			return
		}
		for i := 0; i < len(s.name); i++ {
			if c := s.name[i]; c < 0x20 || c == '"' || c == '\\' {
				return
			}
		}
		keys = append(keys, `"`+s.name+`"`)
	}
	seg.prune = keys
}

// mayHold reports whether raw may contain a member the segment selects.
func (seg *segment) mayHold(raw string) bool {
	if seg.prune == nil || strings.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for _, k := range seg.prune {
		if strings.Contains(raw, k) {
			return true
		}
	}
	return false
}

// runnable reports whether seg can join a combined gjson path: one
// non-empty name that is not all digits (gjson reads digits as an array
// index).
func (seg *segment) runnable() bool {
	if seg.descendant || len(seg.sels) != 1 || seg.sels[0].kind != selName || seg.sels[0].key == "" {
		return false
	}
	for i := 0; i < len(seg.sels[0].name); i++ {
		if c := seg.sels[0].name[i]; c < '0' || c > '9' {
			return true
		}
	}
	return false
}

// computeRuns marks the runs of names that one gjson lookup resolves.
func (q *query) computeRuns() {
	for i := 0; i < len(q.segs); {
		j := i
		for j < len(q.segs) && q.segs[j].runnable() {
			j++
		}
		if j-i > 1 {
			keys := make([]string, 0, j-i)
			for k := i; k < j; k++ {
				keys = append(keys, q.segs[k].sels[0].key)
			}
			q.segs[i].runLen = j - i
			q.segs[i].run = strings.Join(keys, ".")
		}
		if j == i {
			j++
		}
		i = j
	}
}

type selKind uint8

const (
	selName selKind = iota
	selWildcard
	selIndex
	selSlice
	selFilter
	selNever // a Goessner (@.length-0) script, which never selects anything
)

// A selector is one selector of a segment.
type selector struct {
	kind selKind
	name string // selName: the member name, unescaped
	key  string // selName: the name escaped for gjson paths; "" if a path cannot express it
	idx  int64  // selIndex
	// selSlice: start, end, step with presence flags.
	start, end, step       int64
	hasStart, hasEnd, hasS bool
	filter                 lexpr // selFilter
}

// lexpr is a node of a logical (filter) expression.
type lexpr interface{ isLexpr() }

type orExpr struct{ terms []lexpr }
type andExpr struct{ terms []lexpr }
type notExpr struct{ e lexpr }

// existExpr tests that a filter query selects at least one node.
type existExpr struct{ q *query }

// funcTest is a function expression used as a test: its LogicalType result,
// or for NodesType results whether the node list is non-empty.
type funcTest struct{ f *funcCall }

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

// cmpExpr compares two comparables.
type cmpExpr struct {
	op   cmpOp
	l, r operand
}

func (orExpr) isLexpr()    {}
func (andExpr) isLexpr()   {}
func (notExpr) isLexpr()   {}
func (existExpr) isLexpr() {}
func (funcTest) isLexpr()  {}
func (cmpExpr) isLexpr()   {}

type operandKind uint8

const (
	opndLiteral operandKind = iota
	opndQuery               // a singular query (ValueType) or any query (NodesType)
	opndFunc
	opndLogical
)

// An operand is a comparable or a function argument.
type operand struct {
	kind operandKind
	lit  value
	q    *query
	f    *funcCall
	l    lexpr
}

type fnType uint8

const (
	typeValue fnType = iota
	typeLogical
	typeNodes
)

type fnID uint8

const (
	fnLength fnID = iota
	fnCount
	fnMatch
	fnSearch
	fnValue
)

type fnSig struct {
	id     fnID
	params []fnType
	result fnType
}

var functions = map[string]fnSig{
	"length": {fnLength, []fnType{typeValue}, typeValue},
	"count":  {fnCount, []fnType{typeNodes}, typeValue},
	"match":  {fnMatch, []fnType{typeValue, typeValue}, typeLogical},
	"search": {fnSearch, []fnType{typeValue, typeValue}, typeLogical},
	"value":  {fnValue, []fnType{typeNodes}, typeValue},
}

// funcCall is a call of a function extension.
type funcCall struct {
	name string
	sig  fnSig
	args []operand
	// re is the compiled regular expression of match/search when the
	// pattern is a string literal, reSize its size (see translateIRegexp);
	// reBad means that literal is not a valid I-Regexp, so the function is
	// always false.
	re     *regexp.Regexp
	reSize int
	reBad  bool
}
