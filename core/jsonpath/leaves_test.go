package jsonpath

import (
	"strings"
	"testing"
)

// TestLeaves checks every leaf, in document order, with both paths.
func TestLeaves(t *testing.T) {
	doc := []byte(`{"id": 7, "items": [{"sku": "A-1", "qty": 2}, {"sku": "B'2", "tags": []}], "meta": {}, "ok": true, "none": null}`)
	want := []Leaf{
		{`$['id']`, `$['id']`, "number", []byte(`7`)},
		{`$['items'][0]['sku']`, `$['items'][*]['sku']`, "string", []byte(`"A-1"`)},
		{`$['items'][0]['qty']`, `$['items'][*]['qty']`, "number", []byte(`2`)},
		{`$['items'][1]['sku']`, `$['items'][*]['sku']`, "string", []byte(`"B'2"`)},
		{`$['items'][1]['tags']`, `$['items'][*]['tags']`, "array", []byte(`[]`)},
		{`$['meta']`, `$['meta']`, "object", []byte(`{}`)},
		{`$['ok']`, `$['ok']`, "boolean", []byte(`true`)},
		{`$['none']`, `$['none']`, "null", []byte(`null`)},
	}
	got := Leaves(doc)
	if len(got) != len(want) {
		t.Fatalf("got %d leaves %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Path != w.Path || g.Wildcard != w.Wildcard || g.Type != w.Type || string(g.Sample) != string(w.Sample) {
			t.Errorf("leaf %d = {%s %s %s %s}, want {%s %s %s %s}", i, g.Path, g.Wildcard, g.Type, g.Sample, w.Path, w.Wildcard, w.Type, w.Sample)
		}
		// Every leaf path selects exactly its sample.
		vs := MustCompile(g.Path).Values(doc)
		if len(vs) != 1 || string(vs[0]) != string(g.Sample) {
			t.Errorf("%s selects %q, want %s", g.Path, vs, g.Sample)
		}
	}
	if got := Leaves([]byte(` "x" `)); len(got) != 1 || got[0].Path != "$" || got[0].Type != "string" {
		t.Errorf("scalar document leaves = %+v", got)
	}
	if got := Leaves([]byte(`  `)); got != nil {
		t.Errorf("empty document leaves = %+v", got)
	}
}

// TestLeavesBounded checks that hostile documents give bounded results.
func TestLeavesBounded(t *testing.T) {
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	got := Leaves([]byte(deep))
	if len(got) != 1 || got[0].Type != "array" || len(got[0].Path) != 1+3*1999 {
		t.Fatalf("deep document: %d leaves", len(got))
	}
	// Nesting 5,000 deep costs more than a (lowered) scan budget: truncated.
	defer func(old int) { leafScanLimit = old }(leafScanLimit)
	leafScanLimit = 4 << 20
	deep = strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	if got := Leaves([]byte(deep)); len(got) != 0 {
		t.Fatalf("very deep document: %d leaves, want none within the budget", len(got))
	}
	wide := "[" + strings.Repeat("1,", MaxLeaves+10) + "1]"
	if n := len(Leaves([]byte(wide))); n != MaxLeaves {
		t.Fatalf("wide document: %d leaves, want the cap %d", n, MaxLeaves)
	}
	// Deep nesting with many leaves at the bottom hits the path budget.
	deepWide := strings.Repeat(`{"a":`, 500) + wide + strings.Repeat("}", 500)
	total := 0
	for _, l := range Leaves([]byte(deepWide)) {
		total += len(l.Path) + len(l.Wildcard)
	}
	if total > 2*MaxLeafPathBytes {
		t.Fatalf("paths total %d bytes, over the %d budget", total, MaxLeafPathBytes)
	}
}

// TestCanonical checks the normalized form of simple paths, and that every
// path Leaves suggests is its own canonical form (so that a typed path can
// be recognised as a suggestion).
func TestCanonical(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"$", "$"},
		{"$.a.b", "$['a']['b']"},
		{`$['a'].b`, "$['a']['b']"},
		{`$["a"]['b']`, "$['a']['b']"},
		{"$.items[*].sku", "$['items'][*]['sku']"},
		{"$.items.*", "$['items'][*]"},
		{"$.a[0][12]", "$['a'][0][12]"},
		{`$["it's"]`, `$['it\'s']`},
		{`$["\u00e9\n"]`, "$['é\\n']"},
		{"$..a", ""},
		{"$.a[-1]", ""},
		{"$.a[0:2]", ""},
		{"$.a[?@.b]", ""},
		{"$['a','b']", ""},
		{"$.a[(@.length-1)]", ""},
	}
	for _, tt := range tests {
		got, ok := MustCompile(tt.expr).Canonical()
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Canonical(%s) = %q, %v; want %q", tt.expr, got, ok, tt.want)
		}
	}
	doc := []byte(`{"a":{"b c":[1,{"d'e":true}],"\u0001":null},"items":[{"sku":"x"}]}`)
	leaves := Leaves(doc)
	if len(leaves) != 4 {
		t.Fatalf("%d leaves, want 4", len(leaves))
	}
	for _, l := range leaves {
		for _, s := range []string{l.Path, l.Wildcard} {
			if s == "" {
				continue
			}
			if got, ok := MustCompile(s).Canonical(); !ok || got != s {
				t.Errorf("suggested %s: Canonical = %q, %v", s, got, ok)
			}
		}
	}
}
