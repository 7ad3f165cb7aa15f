package jsonpath

import "unicode/utf8"

// test evaluates a logical expression with @ bound to cur.
func (e *evaluator) test(x lexpr, cur string) bool {
	switch x := x.(type) {
	case orExpr:
		for _, t := range x.terms {
			if e.test(t, cur) {
				return true
			}
		}
		return false
	case andExpr:
		for _, t := range x.terms {
			if !e.test(t, cur) {
				return false
			}
		}
		return true
	case notExpr:
		return !e.test(x.e, cur)
	case existExpr:
		return e.exists(x.q, cur)
	case funcTest:
		return e.callLogical(x.f, cur)
	case cmpExpr:
		l := e.operandValue(&x.l, cur)
		r := e.operandValue(&x.r, cur)
		return e.compare(x.op, l, r)
	}
	return false
}

func (e *evaluator) start(q *query, cur string) string {
	if q.relative {
		return cur
	}
	return e.root
}

// exists reports whether q selects at least one node.
func (e *evaluator) exists(q *query, cur string) bool {
	if q.singular {
		_, ok := e.lookup(q.segs, e.start(q, cur), nil)
		return ok
	}
	return len(e.run(q.segs, node{raw: e.start(q, cur), path: -1})) > 0
}

// operandValue evaluates a comparable or a ValueType argument.
func (e *evaluator) operandValue(o *operand, cur string) value {
	switch o.kind {
	case opndLiteral:
		return o.lit
	case opndQuery:
		raw, ok := e.lookup(o.q.segs, e.start(o.q, cur), nil)
		if !ok {
			return value{}
		}
		return valueOf(raw)
	case opndFunc:
		return e.callValue(o.f, cur)
	}
	return value{}
}

// nodesOf evaluates a NodesType argument and returns the raw values.
func (e *evaluator) nodesOf(o *operand, cur string) []node {
	if o.kind != opndQuery {
		return nil
	}
	return e.run(o.q.segs, node{raw: e.start(o.q, cur), path: -1})
}

func (e *evaluator) callValue(f *funcCall, cur string) value {
	switch f.sig.id {
	case fnLength:
		return e.length(e.operandValue(&f.args[0], cur))
	case fnCount:
		if f.args[0].kind == opndQuery && f.args[0].q.singular {
			if _, ok := e.lookup(f.args[0].q.segs, e.start(f.args[0].q, cur), nil); ok {
				return value{kind: kNumber, num: 1}
			}
			return value{kind: kNumber, num: 0}
		}
		return value{kind: kNumber, num: float64(len(e.nodesOf(&f.args[0], cur)))}
	case fnValue:
		if f.args[0].kind == opndQuery && f.args[0].q.singular {
			return e.operandValue(&f.args[0], cur)
		}
		ns := e.nodesOf(&f.args[0], cur)
		if len(ns) == 1 {
			return valueOf(ns[0].raw)
		}
	}
	return value{}
}

func (e *evaluator) callLogical(f *funcCall, cur string) bool {
	switch f.sig.id {
	case fnMatch, fnSearch:
		if f.reBad {
			return false
		}
		s := e.operandValue(&f.args[0], cur)
		if s.kind != kString {
			return false
		}
		re, size := f.re, f.reSize
		if re == nil {
			// A pattern from the document: compiling it is charged too.
			p := e.operandValue(&f.args[1], cur)
			if p.kind != kString {
				return false
			}
			c, ok := cachedIRegexp(p.str, f.sig.id == fnMatch, e.spend)
			if !ok || c.err != nil {
				return false
			}
			re, size = c.re, c.size
		}
		// Matching is linear in the input times the size of the pattern.
		if !e.spend(matchCost(len(s.str), size)) {
			return false
		}
		if !utf8.ValidString(s.str) {
			return false
		}
		return re.MatchString(s.str)
	}
	return false
}
