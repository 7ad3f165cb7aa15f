package jsonpath

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

type kind uint8

const (
	kNothing kind = iota // the special result Nothing (no value)
	kNull
	kTrue
	kFalse
	kNumber
	kString
	kArray
	kObject
)

// value is a JSON value as filter expressions see it. Scalars are decoded;
// arrays and objects keep their raw JSON, and numbers from the document or
// a literal keep their text in raw too (numbers computed by length() and
// count() have none), so they compare exactly.
type value struct {
	kind kind
	num  float64
	str  string
	raw  string
}

func stringValue(s string) value { return value{kind: kString, str: s} }

// valueOf decodes the raw JSON of one value (no surrounding blank space).
func valueOf(raw string) value {
	if raw == "" {
		return value{}
	}
	switch raw[0] {
	case '"':
		return stringValue(decodeString(raw))
	case '{':
		return value{kind: kObject, raw: raw}
	case '[':
		return value{kind: kArray, raw: raw}
	case 't':
		return value{kind: kTrue}
	case 'f':
		return value{kind: kFalse}
	case 'n':
		return value{kind: kNull}
	}
	f, _ := strconv.ParseFloat(raw, 64)
	return value{kind: kNumber, num: f, raw: raw}
}

// decodeString returns the value of a raw JSON string.
func decodeString(raw string) string {
	if len(raw) < 2 {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if strings.IndexByte(inner, '\\') < 0 {
		return inner
	}
	return gjson.Parse(raw).Str
}

// maxCompareDepth bounds the recursion of comparing arrays and objects by
// value; deeper structures compare equal only if their raw JSON is
// identical.
const maxCompareDepth = 256

func (e *evaluator) equal(a, b value) bool {
	if a.kind == kNothing || b.kind == kNothing {
		return a.kind == b.kind
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kNumber:
		return cmpNumbers(a, b) == 0
	case kString:
		return a.str == b.str
	case kArray, kObject:
		return e.deepEqual(a.raw, b.raw, 0)
	}
	return true // null, true, false
}

func less(a, b value) bool {
	switch {
	case a.kind == kNumber && b.kind == kNumber:
		return cmpNumbers(a, b) < 0
	case a.kind == kString && b.kind == kString:
		return a.str < b.str // UTF-8 byte order is code point order
	}
	return false
}

func (e *evaluator) compare(op cmpOp, a, b value) bool {
	switch op {
	case opEq:
		return e.equal(a, b)
	case opNe:
		return !e.equal(a, b)
	case opLt:
		return less(a, b)
	case opLe:
		return less(a, b) || e.equal(a, b)
	case opGt:
		return less(b, a)
	case opGe:
		return less(b, a) || e.equal(a, b)
	}
	return false
}

type member struct {
	key string
	raw string
}

func members(raw string, dst []member) []member {
	gjson.Parse(raw).ForEach(func(k, v gjson.Result) bool {
		dst = append(dst, member{k.Str, v.Raw})
		return true
	})
	return dst
}

// deepEqual compares two arrays or objects (or scalars) by value.
func (e *evaluator) deepEqual(a, b string, depth int) bool {
	if !e.spend(scanCost(a) + scanCost(b)) {
		return false
	}
	if a == b {
		return true
	}
	if depth > maxCompareDepth {
		return false
	}
	if a == "" || b == "" {
		return false
	}
	ca, cb := a[0], b[0]
	if ca != '[' && ca != '{' || cb != '[' && cb != '{' {
		va, vb := valueOf(a), valueOf(b)
		if va.kind == kArray || va.kind == kObject || vb.kind == kArray || vb.kind == kObject {
			return false
		}
		return e.equal(va, vb)
	}
	if ca != cb {
		return false
	}
	ma := members(a, nil)
	mb := members(b, nil)
	if len(ma) != len(mb) {
		return false
	}
	if ca == '[' {
		for i := range ma {
			if !e.deepEqual(ma[i].raw, mb[i].raw, depth+1) {
				return false
			}
		}
		return true
	}
	if len(ma) > 16 {
		idx := make(map[string]string, len(mb))
		for _, m := range mb {
			idx[m.key] = m.raw
		}
		if len(idx) != len(mb) {
			return false // duplicate member names: not comparable by value
		}
		for _, m := range ma {
			r, ok := idx[m.key]
			if !ok || !e.deepEqual(m.raw, r, depth+1) {
				return false
			}
		}
		return true
	}
	for _, m := range ma {
		found := false
		for _, n := range mb {
			if n.key == m.key {
				if !e.deepEqual(m.raw, n.raw, depth+1) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// length implements the length() function extension.
func (e *evaluator) length(v value) value {
	switch v.kind {
	case kString:
		return value{kind: kNumber, num: float64(utf8.RuneCountInString(v.str))}
	case kArray, kObject:
		if !e.spend(scanCost(v.raw)) {
			return value{}
		}
		n := 0
		gjson.Parse(v.raw).ForEach(func(_, _ gjson.Result) bool {
			n++
			return true
		})
		return value{kind: kNumber, num: float64(n)}
	}
	return value{}
}

// cmpNumbers compares two numbers by value: -1, 0 or 1. float64 decides
// when the doubles differ (rounding keeps order); doubles that are equal
// may still stand for different numbers (integers beyond 2^53 such as
// 64-bit IDs, 1e400 and 1e401, which both overflow), so then the decimal
// texts decide.
func cmpNumbers(a, b value) int {
	switch {
	case a.num < b.num:
		return -1
	case a.num > b.num:
		return 1
	case a.raw == b.raw:
		return 0
	}
	return cmpDecimal(numberText(a), numberText(b))
}

// numberText is the decimal text of a number: its own, or for one computed
// by length() or count() (an integer, exact in a double) the integer's.
func numberText(v value) string {
	if v.raw == "" {
		return strconv.FormatInt(int64(v.num), 10)
	}
	return v.raw
}

// maxDecimalExp bounds the exponents cmpDecimal tells apart; larger ones
// saturate, so 1e(10^16) equals 1e(10^16+1).
const maxDecimalExp = 1 << 53

// cmpDecimal compares two JSON number texts exactly by their decimal value.
func cmpDecimal(a, b string) int {
	na, da, ea := decimalOf(a)
	nb, db, eb := decimalOf(b)
	sa, sb := decimalSign(na, da), decimalSign(nb, db)
	if sa != sb || sa == 0 {
		return cmpInt(sa, sb)
	}
	// Same sign, both non-zero: compare magnitudes 0.d × 10^e.
	m := cmpInt(int(min(max(ea-eb, -1), 1)), 0)
	if m == 0 {
		m = strings.Compare(da, db) // no trailing zeros: lexical order is numeric
	}
	return sa * m
}

func decimalSign(neg bool, digits string) int {
	switch {
	case digits == "":
		return 0
	case neg:
		return -1
	}
	return 1
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decimalOf splits a JSON number text into its sign and significant
// digits d (no leading or trailing zeros, "" for zero) with exponent e,
// the value being 0.d × 10^e.
func decimalOf(s string) (neg bool, digits string, exp int64) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[start:i]
	}
	var e int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if e < maxDecimalExp {
				e = e*10 + int64(s[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	all := intPart + frac
	trimmed := strings.TrimLeft(all, "0")
	exp = int64(len(intPart)) - int64(len(all)-len(trimmed)) + e
	return neg, strings.TrimRight(trimmed, "0"), exp
}
