package jsonpath

import (
	"sync"

	"github.com/tidwall/gjson"
)

// MaxWork bounds the work of one evaluation on a document of up to 1 MiB
// (larger documents get MaxWork per started MiB), counted in visited values,
// filter evaluations, compared values and 16-byte blocks of JSON scanned
// (nested containers are rescanned at each level, so scanning a document
// costs its size times its depth). An evaluation that exceeds it
// stops: Values and Nodes return nil and Query returns ErrTooMuchWork.
const MaxWork = 1 << 22

// workLimit is MaxWork; tests lower it to reach the limit quickly.
var workLimit = MaxWork

// MaxPathBytes bounds the total size of the normalized paths one call of
// Nodes or Query renders.
const MaxPathBytes = 64 << 20

// node is one node of a node list: its raw JSON (a substring of the
// document) and, when paths are tracked, the index of its location in
// evaluator.paths (-1 for the root or when not tracking).
type node struct {
	raw  string
	path int32
}

// pathElem is one step of a normalized path, linked to its parent.
type pathElem struct {
	parent int32
	isIdx  bool
	idx    int
	name   string
}

type kid struct {
	key string
	raw string
}

// evaluator holds the scratch state of one evaluation. Filters evaluate
// their queries in a sub-evaluator so buffers are never shared between
// nesting levels.
type evaluator struct {
	root  string
	track bool
	paths []pathElem
	cur   []node
	next  []node
	stack []node
	kids  []kid
	work  *int
	over  *bool
	sub   *evaluator
	// own holds the budget of a top-level evaluator.
	ownWork int
	limit   int
	ownOver bool
}

var evaluators = sync.Pool{New: func() any { return new(evaluator) }}

func getEvaluator(root string, track bool) *evaluator {
	e := evaluators.Get().(*evaluator)
	e.reset(root, track)
	e.ownWork, e.ownOver = 0, false
	e.work, e.over = &e.ownWork, &e.ownOver
	// Big documents (the command line reads files of any size) get
	// MaxWork per started MiB.
	e.limit = workLimit * (1 + len(root)>>20)
	return e
}

// maxPooledBuf is the largest buffer (in elements) a pooled evaluator
// keeps. Pooled buffers may still reference old documents until reused or
// collected with the pool.
const maxPooledBuf = 1 << 16

func putEvaluator(e *evaluator) {
	for s := e; s != nil; s = s.sub {
		if cap(s.cur) > maxPooledBuf || cap(s.next) > maxPooledBuf || cap(s.paths) > maxPooledBuf || cap(s.stack) > maxPooledBuf || cap(s.kids) > maxPooledBuf {
			return // don't keep big buffers alive
		}
	}
	e.root = ""
	evaluators.Put(e)
}

func (e *evaluator) reset(root string, track bool) {
	e.root = root
	e.track = track
	e.paths = e.paths[:0]
	e.cur = e.cur[:0]
	e.next = e.next[:0]
	e.stack = e.stack[:0]
	e.kids = e.kids[:0]
}

// subEvaluator returns the evaluator for queries nested one level deeper,
// sharing the budget.
func (e *evaluator) subEvaluator() *evaluator {
	if e.sub == nil {
		e.sub = new(evaluator)
	}
	s := e.sub
	s.reset(e.root, false)
	s.work, s.over, s.limit = e.work, e.over, e.limit
	return s
}

// spend charges n units of work and reports whether the budget allows
// going on.
func (e *evaluator) spend(n int) bool {
	if *e.over {
		return false
	}
	*e.work += n
	if *e.work > e.limit {
		*e.over = true
		return false
	}
	return true
}

func (e *evaluator) child(parent node, name string, idx int, isIdx bool, raw string) node {
	if !e.track {
		return node{raw: raw, path: -1}
	}
	e.paths = append(e.paths, pathElem{parent: parent.path, isIdx: isIdx, idx: idx, name: name})
	return node{raw: raw, path: int32(len(e.paths) - 1)}
}

// scanCost is the work of scanning raw once.
func scanCost(raw string) int { return 1 + len(raw)/16 }

func isContainer(raw string) bool { return raw != "" && (raw[0] == '{' || raw[0] == '[') }

// run evaluates the segments of q starting at start and returns the
// resulting node list (in e.cur, valid until e is used again).
func (e *evaluator) run(segs []segment, start node) []node {
	e.cur = append(e.cur[:0], start)
	for i := 0; i < len(segs); i++ {
		seg := &segs[i]
		e.next = e.next[:0]
		if seg.runLen > 1 {
			for _, n := range e.cur {
				if !isContainer(n.raw) || n.raw[0] != '{' || !e.spend(scanCost(n.raw)) {
					continue
				}
				r := gjson.Get(n.raw, seg.run)
				if !r.Exists() {
					continue
				}
				for k := i; k < i+seg.runLen-1; k++ {
					n = e.child(n, segs[k].sels[0].name, 0, false, "")
				}
				e.next = append(e.next, e.child(n, segs[i+seg.runLen-1].sels[0].name, 0, false, r.Raw))
			}
			i += seg.runLen - 1
			e.cur, e.next = e.next, e.cur
			if len(e.cur) == 0 {
				break
			}
			continue
		}
		for _, n := range e.cur {
			if *e.over {
				return nil
			}
			if seg.descendant {
				e.next = e.descend(seg, n, e.next)
			} else {
				e.next = e.apply(seg, n, e.next, nil)
			}
		}
		e.cur, e.next = e.next, e.cur
		if len(e.cur) == 0 {
			break
		}
	}
	if *e.over {
		return nil
	}
	return e.cur
}

// enumerate lists the children of a container into dst.
func enumerate(raw string, dst []kid) []kid { return enumerateN(raw, dst, -1) }

// enumerateN lists at most limit children (all when limit < 0).
func enumerateN(raw string, dst []kid, limit int) []kid {
	if limit == 0 {
		return dst
	}
	n := 0
	gjson.Parse(raw).ForEach(func(k, v gjson.Result) bool {
		dst = append(dst, kid{k.Str, v.Raw})
		n++
		return n != limit
	})
	return dst
}

// kidsNeeded returns how many leading elements of an array the selectors
// of seg that need enumeration can select, or -1 for all. Slices with a
// non-negative start and end stop early.
func kidsNeeded(seg *segment) int {
	need := 0
	for i := range seg.sels {
		s := &seg.sels[i]
		switch s.kind {
		case selName, selNever:
		case selIndex:
			if s.idx < 0 {
				return -1
			}
			need = max(need, int(s.idx)+1)
		case selSlice:
			if (s.hasS && s.step < 0) || !s.hasEnd || s.end < 0 || (s.hasStart && s.start < 0) {
				return -1
			}
			need = max(need, int(s.end))
		default:
			return -1
		}
	}
	return need
}

// apply applies the selectors of seg to n, appending to out. kids, when not
// nil, are the already enumerated children of n.
func (e *evaluator) apply(seg *segment, n node, out []node, kids []kid) []node {
	if !isContainer(n.raw) {
		return out
	}
	isObj := n.raw[0] == '{'
	kidsBase := -1
	for si := range seg.sels {
		s := &seg.sels[si]
		switch s.kind {
		case selName:
			if !isObj {
				continue
			}
			if kids == nil && s.key != "" {
				if !e.spend(scanCost(n.raw)) {
					return out
				}
				r := gjson.Get(n.raw, s.key)
				if r.Exists() {
					out = append(out, e.child(n, s.name, 0, false, r.Raw))
				}
				continue
			}
		case selIndex:
			if isObj {
				continue
			}
			if kids == nil && s.idx >= 0 {
				if raw, ok := e.elementAt(n.raw, int(s.idx)); ok {
					out = append(out, e.child(n, "", int(s.idx), true, raw))
				}
				continue
			}
		case selNever:
			continue
		}
		if kids == nil {
			kidsBase = len(e.kids)
			limit := -1
			if !isObj {
				limit = kidsNeeded(seg)
			}
			e.kids = enumerateN(n.raw, e.kids, limit)
			kids = e.kids[kidsBase:]
			if !e.spend(len(kids) + scanCost(n.raw)) {
				return out
			}
		}
		out = e.selectFrom(s, n, isObj, kids, out)
	}
	if kidsBase >= 0 {
		clear(e.kids[kidsBase:])
		e.kids = e.kids[:kidsBase]
	}
	return out
}

// selectFrom applies one selector to the enumerated children of n.
func (e *evaluator) selectFrom(s *selector, n node, isObj bool, kids []kid, out []node) []node {
	switch s.kind {
	case selName:
		if !isObj {
			return out
		}
		for _, k := range kids {
			if k.key == s.name {
				return append(out, e.child(n, k.key, 0, false, k.raw))
			}
		}
	case selWildcard:
		for i, k := range kids {
			out = append(out, e.child(n, k.key, i, !isObj, k.raw))
		}
	case selIndex:
		if isObj {
			return out
		}
		i := s.idx
		if i < 0 {
			i += int64(len(kids))
		}
		if i >= 0 && i < int64(len(kids)) {
			out = append(out, e.child(n, "", int(i), true, kids[i].raw))
		}
	case selSlice:
		if isObj {
			return out
		}
		lo, hi, step := sliceBounds(s, int64(len(kids)))
		if step > 0 {
			for i := lo; i < hi; i += step {
				out = append(out, e.child(n, "", int(i), true, kids[i].raw))
			}
		} else if step < 0 {
			for i := hi; lo < i; i += step {
				out = append(out, e.child(n, "", int(i), true, kids[i].raw))
			}
		}
	case selFilter:
		sub := e.subEvaluator()
		for i, k := range kids {
			if !e.spend(1) {
				return out
			}
			if sub.test(s.filter, k.raw) {
				out = append(out, e.child(n, k.key, i, !isObj, k.raw))
			}
		}
	}
	return out
}

// sliceBounds implements RFC 9535 §2.3.4.2.2. For a positive step it
// returns [lo, hi); for a negative step it returns (lo, hi].
func sliceBounds(s *selector, n int64) (lo, hi, step int64) {
	step = 1
	if s.hasS {
		step = s.step
	}
	if step == 0 {
		return 0, 0, 0
	}
	norm := func(i int64) int64 {
		if i >= 0 {
			return i
		}
		return n + i
	}
	if step > 0 {
		start, end := int64(0), n
		if s.hasStart {
			start = norm(s.start)
		}
		if s.hasEnd {
			end = norm(s.end)
		}
		lo = min(max(start, 0), n)
		hi = min(max(end, 0), n)
		return lo, hi, step
	}
	start, end := n-1, -n-1
	if s.hasStart {
		start = norm(s.start)
	}
	if s.hasEnd {
		end = norm(s.end)
	}
	hi = min(max(start, -1), n-1)
	lo = min(max(end, -1), n-1)
	return lo, hi, step
}

// elementAt returns element i (i >= 0) of the array raw.
func (e *evaluator) elementAt(raw string, i int) (string, bool) {
	var out string
	found := false
	j := 0
	gjson.Parse(raw).ForEach(func(_, v gjson.Result) bool {
		if j == i {
			out = v.Raw
			found = true
			return false
		}
		j++
		return true
	})
	e.spend(j + scanCost(raw))
	return out, found
}

// descend applies a descendant segment to n: its selectors are applied to
// n and to every descendant of n, in document order (pre-order). The walk
// uses an explicit stack, so nesting depth cannot exhaust the goroutine
// stack.
func (e *evaluator) descend(seg *segment, n node, out []node) []node {
	base := len(e.stack)
	e.stack = append(e.stack, n)
	for len(e.stack) > base {
		t := e.stack[len(e.stack)-1]
		e.stack = e.stack[:len(e.stack)-1]
		if !isContainer(t.raw) {
			continue
		}
		if !seg.mayHold(t.raw) {
			e.spend(1 + len(t.raw)/256) // a vectorized search, far cheaper than a scan
			continue
		}
		kb := len(e.kids)
		e.kids = enumerate(t.raw, e.kids)
		kids := e.kids[kb:]
		if !e.spend(len(kids) + scanCost(t.raw)) {
			break
		}
		out = e.apply(seg, t, out, kids)
		isArr := t.raw[0] == '['
		for i := len(kids) - 1; i >= 0; i-- {
			if isContainer(kids[i].raw) {
				e.stack = append(e.stack, e.child(t, kids[i].key, i, isArr, kids[i].raw))
			}
		}
		clear(e.kids[kb:])
		e.kids = e.kids[:kb]
	}
	e.stack = e.stack[:base]
	return out
}

// lookup evaluates a singular query from start without allocating. It
// returns the raw value and, for paths, the resolved index of each index
// step is written to idxs when idxs is not nil.
func (e *evaluator) lookup(segs []segment, start string, idxs []int) (string, bool) {
	cur := start
	for i := 0; i < len(segs); i++ {
		s := &segs[i].sels[0]
		if !isContainer(cur) {
			return "", false
		}
		if !e.spend(scanCost(cur)) {
			return "", false
		}
		if segs[i].runLen > 1 {
			if cur[0] != '{' {
				return "", false
			}
			r := gjson.Get(cur, segs[i].run)
			if !r.Exists() {
				return "", false
			}
			cur = r.Raw
			i += segs[i].runLen - 1
			continue
		}
		if s.kind == selName {
			if cur[0] != '{' {
				return "", false
			}
			if s.key != "" {
				r := gjson.Get(cur, s.key)
				if !r.Exists() {
					return "", false
				}
				cur = r.Raw
				continue
			}
			found := false
			gjson.Parse(cur).ForEach(func(k, v gjson.Result) bool {
				if k.Str == s.name {
					cur = v.Raw
					found = true
					return false
				}
				return true
			})
			if !found {
				return "", false
			}
			continue
		}
		if cur[0] != '[' {
			return "", false
		}
		idx := int(s.idx)
		if idx < 0 {
			// One pass: list the elements, then count from the end.
			kb := len(e.kids)
			e.kids = enumerate(cur, e.kids)
			n := len(e.kids) - kb
			e.spend(n)
			idx += n
			if idx < 0 {
				e.kids = e.kids[:kb]
				return "", false
			}
			cur = e.kids[kb+idx].raw
			e.kids = e.kids[:kb]
			if idxs != nil {
				idxs[i] = idx
			}
			continue
		}
		raw, ok := e.elementAt(cur, idx)
		if !ok {
			return "", false
		}
		if idxs != nil {
			idxs[i] = idx
		}
		cur = raw
	}
	return cur, true
}
