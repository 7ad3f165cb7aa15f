package jsonpath

// lengthHint is Hints' note on a filter query ending in .length: in the
// Goessner form users paste from old documentation, [?(@.length > 2)]
// meant the length of an array or string; in RFC 9535 it is the member
// named "length", which arrays and strings do not have, so the filter
// quietly selects nothing.
const lengthHint = `".length" in a filter selects a member named "length" (RFC 9535), not the length of an array or string as in older JSONPath; for that, use the length() function, e.g. [?length(@.items) > 2] instead of [?(@.items.length > 2)]`

// Hints returns notes on constructs of p that are valid but probably do
// not mean what their author expected (see lengthHint); none for most
// queries. Config validation shows them as warnings.
func (p *Path) Hints() []string { return hints(queryHasLength(p.q)) }

// Hints is Path.Hints for a filter expression.
func (f *Filter) Hints() []string { return hints(lexprHasLength(f.e)) }

func hints(length bool) []string {
	if length {
		return []string{lengthHint}
	}
	return nil
}

// queryHasLength reports whether a filter inside q tests a query ending in
// the member name "length".
func queryHasLength(q *query) bool {
	if q == nil {
		return false
	}
	for _, seg := range q.segs {
		for _, s := range seg.sels {
			if s.kind == selFilter && lexprHasLength(s.filter) {
				return true
			}
		}
	}
	return false
}

func lexprHasLength(e lexpr) bool {
	switch e := e.(type) {
	case orExpr:
		for _, t := range e.terms {
			if lexprHasLength(t) {
				return true
			}
		}
	case andExpr:
		for _, t := range e.terms {
			if lexprHasLength(t) {
				return true
			}
		}
	case notExpr:
		return lexprHasLength(e.e)
	case existExpr:
		return endsInLength(e.q) || queryHasLength(e.q)
	case funcTest:
		return funcHasLength(e.f)
	case cmpExpr:
		return operandHasLength(e.l) || operandHasLength(e.r)
	}
	return false
}

func operandHasLength(o operand) bool {
	switch o.kind {
	case opndQuery:
		return endsInLength(o.q) || queryHasLength(o.q)
	case opndFunc:
		return funcHasLength(o.f)
	case opndLogical:
		return lexprHasLength(o.l)
	}
	return false
}

// funcHasLength looks inside a function's arguments for filters only: a
// query ending in .length passed to a function (count(@.length)) is an
// explicit member lookup.
func funcHasLength(f *funcCall) bool {
	if f == nil {
		return false
	}
	for _, a := range f.args {
		if a.kind == opndQuery && queryHasLength(a.q) || a.kind == opndLogical && lexprHasLength(a.l) {
			return true
		}
		if a.kind == opndFunc && funcHasLength(a.f) {
			return true
		}
	}
	return false
}

// endsInLength reports whether q's last segment is a child segment
// selecting only the member "length".
func endsInLength(q *query) bool {
	if q == nil || len(q.segs) == 0 {
		return false
	}
	last := q.segs[len(q.segs)-1]
	return !last.descendant && len(last.sels) == 1 && last.sels[0].kind == selName && last.sels[0].name == "length"
}
