package jsonpath

import (
	"errors"
	"testing"
)

const ticketDoc = `{"id": 42, "fields": {"priority": "Urgent", "total": 1500, "tags": ["vip", "eu"], "owner": null}}`

// TestCompileFilter checks workflow conditions evaluated on a whole document.
func TestCompileFilter(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{`@.fields.priority == 'Urgent' && @.fields.total > 1000`, true},
		{`@.fields.priority === 'Urgent' && @.fields.total > 2000`, false},
		{`  @.fields.priority !== 'Low'  `, true},
		{`(@.fields.priority == 'Low' || @.fields.total >= 1500)`, true},
		{`?(@.fields.priority == 'Urgent')`, true},
		{`? @.fields.total < 10`, false},
		{`@.fields.owner == null`, true},
		{`@.fields.missing == null`, false},
		{`@.fields.tags[0] == 'vip'`, true},
		{`count(@.fields.tags[*]) == 2`, true},
		{`length(@.fields.priority) == 6`, true},
		{`match(@.fields.priority, 'Urg.*')`, true},
		{`search(@.fields.priority, 'gen')`, true},
		{`!@.fields.closed`, true},
		{`$.id == 42.0`, true},
		{`@.fields.tags == ['vip', 'eu']`, false}, // array literals are not JSONPath
	}
	for _, tt := range tests {
		f, err := CompileFilter(tt.expr)
		if tt.expr == `@.fields.tags == ['vip', 'eu']` {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("CompileFilter(%q) = %v; want a syntax error", tt.expr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", tt.expr, err)
			continue
		}
		if got := f.Match([]byte(ticketDoc)); got != tt.want {
			t.Errorf("CompileFilter(%q).Match = %v, want %v", tt.expr, got, tt.want)
		}
		if f.String() != tt.expr {
			t.Errorf("String() = %q, want %q", f.String(), tt.expr)
		}
	}
	if f, err := CompileFilter(`@.a`); err != nil || f.Match([]byte("  ")) {
		t.Errorf("a filter must not match an empty document (err %v)", err)
	}
	for _, bad := range []string{``, `   `, `?`, `??@.a`, `@.a ==`, `@.a == 1 extra`, `1`, `length(@.a)`} {
		if _, err := CompileFilter(bad); err == nil {
			t.Errorf("CompileFilter(%q) succeeded; want an error", bad)
		}
	}
}

// TestNodesPaths checks normalized paths, including §2.7 escaping.
func TestNodesPaths(t *testing.T) {
	doc := []byte(`{"a'b": {"c\\d": [10, 20, 30]}, "ctl\u0001\n": 1, "x": [{"y": 1}, {"y": 2}], "p": {"q": {"r": [5, 6]}}}`)
	tests := []struct {
		expr string
		want []string
	}{
		{`$["a'b"]['c\\d'][-1]`, []string{`$['a\'b']['c\\d'][2]`}},
		{`$["a'b"]['c\\d'][0:2]`, []string{`$['a\'b']['c\\d'][0]`, `$['a\'b']['c\\d'][1]`}},
		{`$['ctl\u0001\n']`, []string{`$['ctl\u0001\n']`}},
		{`$.x[*].y`, []string{`$['x'][0]['y']`, `$['x'][1]['y']`}},
		{`$..y`, []string{`$['x'][0]['y']`, `$['x'][1]['y']`}},
		{`$`, []string{`$`}},
		{`$.p.q.r[*]`, []string{`$['p']['q']['r'][0]`, `$['p']['q']['r'][1]`}},
		{`$.p.q.r[-1]`, []string{`$['p']['q']['r'][1]`}},
		{`$.p['q'].r[?@ > 5]`, []string{`$['p']['q']['r'][1]`}},
	}
	for _, tt := range tests {
		ns := MustCompile(tt.expr).Nodes(doc)
		var got []string
		for _, n := range ns {
			got = append(got, n.Path)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: paths %q, want %q", tt.expr, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: paths %q, want %q", tt.expr, got, tt.want)
				break
			}
		}
	}
}

// TestComparisons checks RFC 9535 §2.3.5.2.2 comparison semantics.
func TestComparisons(t *testing.T) {
	doc := []byte(`{"one": 1, "onef": 1.0, "exp": 1e2, "negz": -0, "big": 9007199254740993,
		"e": "\u00e9", "s": "abc", "arr": [1, {"x": [true, null]}], "arr2": [1.0, {"x": [true, null]}],
		"obj": {"a": 1, "b": [2]}, "obj2": {"b": [2.0], "a": 1}, "obj3": {"a": 1}, "t": true, "n": null}`)
	tests := []struct {
		expr string
		want bool
	}{
		{`@.one == @.onef`, true},
		{`@.one == 1.0`, true},
		{`@.exp == 100`, true},
		{`@.negz == 0`, true},
		{`@.negz == -0.0`, true},
		{`@.e == 'é'`, true},
		{`@.e == "\u00E9"`, true},
		{`@.s < 'abd'`, true},
		{`@.s < 'ab'`, false},
		{`'Z' < 'a'`, true},
		{`@.e > 'z'`, true}, // code point order
		{`@.arr == @.arr2`, true},
		{`@.obj == @.obj2`, true}, // member order does not matter
		{`@.obj == @.obj3`, false},
		{`@.arr != @.obj`, true},
		{`@.missing == @.other`, true}, // Nothing == Nothing
		{`@.missing == null`, false},
		{`@.n == null`, true},
		{`@.missing != 1`, true},
		{`@.missing < 1`, false},
		{`@.missing <= @.other`, true},
		{`@.t == true`, true},
		{`@.t > false`, false},
		{`@.t >= true`, true},
		{`@.one < 'a'`, false},
		{`@.one != 'a'`, true},
		{`@.obj <= @.obj2`, true},
		{`@.obj < @.obj2`, false},
		{`1 == 1`, true},
		{`@.big > 9007199254740991`, true},
		{`length(@.s) == 3 && length(@.e) == 1 && length(@.arr) == 2 && length(@.obj) == 2`, true},
		{`length(@.one) == @.missing`, true}, // length of a number is Nothing
		{`value(@.*) == 1`, false},           // many nodes: Nothing
		{`count(@.*) == 14`, true},
		{`count(@..*) > 20`, true},
	}
	for _, tt := range tests {
		f, err := CompileFilter(tt.expr)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", tt.expr, err)
			continue
		}
		if got := f.Match(doc); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// TestRFCComparisonTable checks the examples of RFC 9535 §2.3.5.3
// (Table 11).
func TestRFCComparisonTable(t *testing.T) {
	doc := []byte(`{"obj": {"x": "y"}, "arr": [2, 3]}`)
	tests := []struct {
		expr string
		want bool
	}{
		{`$.absent1 == $.absent2`, true},
		{`$.absent1 <= $.absent2`, true},
		{`$.absent == 'g'`, false},
		{`$.absent1 != $.absent2`, false},
		{`$.absent != 'g'`, true},
		{`1 <= 2`, true},
		{`1 > 2`, false},
		{`13 == '13'`, false},
		{`'a' <= 'b'`, true},
		{`'a' > 'b'`, false},
		{`$.obj == $.arr`, false},
		{`$.obj != $.arr`, true},
		{`$.obj == $.obj`, true},
		{`$.obj != $.obj`, false},
		{`$.arr == $.arr`, true},
		{`$.arr != $.arr`, false},
		{`$.obj == 17`, false},
		{`$.obj != 17`, true},
		{`$.obj <= $.arr`, false},
		{`$.obj < $.arr`, false},
		{`$.obj <= $.obj`, true},
		{`$.arr <= $.arr`, true},
		{`1 <= $.arr`, false},
		{`1 >= $.arr`, false},
		{`1 > $.arr`, false},
		{`1 < $.arr`, false},
		{`true <= true`, true},
		{`true > true`, false},
	}
	for _, tt := range tests {
		f, err := CompileFilter(tt.expr)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", tt.expr, err)
			continue
		}
		if got := f.Match(doc); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
