package jsonpath

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// Leaf is one leaf of a document: a scalar, or an empty array or object.
type Leaf struct {
	Path     string // normalized path, e.g. $['items'][0]['sku']
	Wildcard string // Path with every array index replaced by [*], e.g. $['items'][*]['sku']
	Type     string // string, number, boolean, null, object or array
	Sample   []byte // raw JSON of the value, a sub-slice of the document
}

// MaxLeaves bounds the number of leaves Leaves returns.
const MaxLeaves = 100_000

// MaxLeafPathBytes bounds the total size of the paths Leaves renders.
const MaxLeafPathBytes = 16 << 20

// leafScanLimit is MaxLeafScanBytes; tests lower it.
var leafScanLimit = MaxLeafScanBytes

// MaxLeafScanBytes bounds the bytes of JSON Leaves scans. Each nested
// container is scanned once per level above it, so a document costs its
// size times its nesting depth.
const MaxLeafScanBytes = 64 << 20

// Leaves returns every leaf of doc in document order. The walk uses an
// explicit stack, so deep nesting cannot exhaust the goroutine stack; it
// stops after MaxLeaves leaves, MaxLeafPathBytes bytes of paths or
// MaxLeafScanBytes bytes scanned, so the result of a hostile document is
// truncated rather than unbounded. A
// scalar document is one leaf with path $.
func Leaves(doc []byte) []Leaf {
	root, ok := rootOf(doc)
	if !ok {
		return nil
	}
	type frame struct {
		kids     []kid
		next     int
		isArr    bool
		pathLen  int
		wildLen  int
		kidsBase int
	}
	var (
		out    []Leaf
		path   = []byte{'$'}
		wild   = []byte{'$'}
		kids   []kid
		stack  []frame
		budget = MaxLeafPathBytes
		scan   = leafScanLimit
	)
	emit := func(raw string) bool {
		if len(out) >= MaxLeaves || budget < 2*len(path) {
			return false
		}
		budget -= 2 * len(path)
		out = append(out, Leaf{Path: string(path), Wildcard: string(wild), Type: typeName(raw), Sample: sub(doc, raw)})
		return true
	}
	push := func(raw string) bool {
		if scan -= len(raw); scan < 0 {
			return false
		}
		base := len(kids)
		kids = enumerate(raw, kids)
		if len(kids) == base {
			return emit(raw) // an empty container is a leaf
		}
		stack = append(stack, frame{kids: kids[base:], isArr: raw[0] == '[', pathLen: len(path), wildLen: len(wild), kidsBase: base})
		return true
	}
	if !isContainer(root) {
		emit(root)
		return out
	}
	if !push(root) {
		return out
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next >= len(f.kids) {
			kids = kids[:f.kidsBase]
			stack = stack[:len(stack)-1]
			continue
		}
		k := f.kids[f.next]
		i := f.next
		f.next++
		path, wild = path[:f.pathLen], wild[:f.wildLen]
		if f.isArr {
			path = append(path, '[')
			path = strconv.AppendInt(path, int64(i), 10)
			path = append(path, ']')
			wild = append(wild, "[*]"...)
		} else {
			path = appendName(path, k.key)
			wild = appendName(wild, k.key)
		}
		var ok bool
		if isContainer(k.raw) {
			ok = push(k.raw)
		} else {
			ok = emit(k.raw)
		}
		if !ok {
			break
		}
	}
	return out
}

func typeName(raw string) string {
	switch gjson.Parse(raw).Type {
	case gjson.String:
		return "string"
	case gjson.Number:
		return "number"
	case gjson.True, gjson.False:
		return "boolean"
	case gjson.Null:
		return "null"
	}
	if raw[0] == '[' {
		return "array"
	}
	return "object"
}
