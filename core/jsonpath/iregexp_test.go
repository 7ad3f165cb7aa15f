package jsonpath

import "testing"

// TestIRegexp checks the RFC 9485 translation: semantics kept, features
// outside I-Regexp refused.
func TestIRegexp(t *testing.T) {
	tests := []struct {
		pattern, input string
		match, search  bool
	}{
		{`a.c`, "abc", true, true},
		{`a.c`, "a\nc", false, false},
		{`a.c`, "a\rc", false, false},
		{`a.c`, "a\u2028c", true, true},
		{`.`, "😀", true, true}, // one code point, not two UTF-16 units
		{`a`, "xay", false, true},
		{`a|b`, "b", true, true},
		{`ab|cd`, "abd", false, true},
		{`[^a]`, "\n", true, true},
		{`[a-c]+`, "abcabc", true, true},
		{`[\-a]`, "-", true, true},
		{`[a-]`, "-", true, true},
		{`\p{Lu}\p{Ll}*`, "Ärger", true, true},
		{`\P{L}`, "1", true, true},
		{`[\p{Nd}x]+`, "x12", true, true},
		{`\p{Cn}`, "\u0378", true, true},
		{`a{2,3}`, "aaaa", false, true},
		{`a{2,}`, "aaaa", true, true},
		{`(ab)+`, "abab", true, true},
		{`\.\*\\`, `.*\`, true, true},
		{`\n\t`, "\n\t", true, true},
		{`x^`, "x^", false, false}, // ^ anchors (as the compliance suite expects)
		{`^b`, "ab", false, false},
		{`a$`, "ba", false, true},
		{``, "", true, true},
		{`é+`, "éé", true, true},
		{`[😀-😂]`, "😁", true, true},
	}
	for _, tt := range tests {
		for _, anchored := range []bool{true, false} {
			re, err := compileIRegexp(tt.pattern, anchored)
			if err != nil {
				t.Errorf("%q: %v", tt.pattern, err)
				continue
			}
			want := tt.search
			if anchored {
				want = tt.match
			}
			if got := re.MatchString(tt.input); got != want {
				t.Errorf("%q (anchored %v) on %q = %v, want %v (Go %s)", tt.pattern, anchored, tt.input, got, want, re)
			}
		}
	}
	for _, bad := range []string{
		`\d`, `\w`, `\s`, `\b`, `(?:a)`, `(?i)a`, `a*?`, `a+?`, `a{2}?`, `\1`, `(a`, `a)`, `[a`, `[]`, `[b-a]`,
		`a{3,2}`, `a{`, `a{1,2`, `\p{IsBasicLatin}`, `\p{Xx}`, `\p{L`, `[a-b-c]`, `*a`, `a**`, `\`, `a{1001}`,
		`[\d]`, `\x41`, `\u0041`, `{1}`,
	} {
		if _, err := compileIRegexp(bad, true); err == nil {
			t.Errorf("%q compiled; want it refused as not I-Regexp", bad)
		}
	}
}

// TestRegexpCacheOwnsItsKeys: a pattern taken from the document is cached
// by its text, which must not alias the document. The caller owns doc once
// Select returns and may reuse its buffer; a key sharing that memory
// would change under the map (the entry is then found by neither its old
// nor its new text) and keep the whole document alive in a global.
func TestRegexpCacheOwnsItsKeys(t *testing.T) {
	p, err := Compile(`$[?match(@.s, @.p)]`)
	if err != nil {
		t.Fatal(err)
	}
	const pattern = "q[0-9]+zz-owned-key"
	doc := []byte(`[{"s":"q12zz-owned-key","p":"` + pattern + `"}]`)
	if vals, err := p.Select(doc); err != nil || len(vals) != 1 {
		t.Fatalf("Select = %q, %v; want the one element", vals, err)
	}
	for i := range doc { // the caller reuses its buffer
		doc[i] = 'x'
	}
	reMu.Lock()
	_, found := reCache[reKey{pattern, true}]
	reMu.Unlock()
	if !found {
		t.Fatalf("the cached pattern %q is no longer found once the document's buffer is reused: its key aliases the document", pattern)
	}
}
