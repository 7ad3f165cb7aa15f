package jsonpath

import "testing"

func TestHints(t *testing.T) {
	for _, tc := range []struct {
		expr string
		hint bool
	}{
		{`$.items[?(@.length > 2)]`, true},
		{`$.items[?@.tags.length > 2]`, true},
		{`$.items[?@.tags.length]`, true},
		{`$.a[?!(@.b.length == 0)]`, true},
		{`$.a[?@.x == 1 || @['length'] > 3]`, true},
		{`$..[?@.a[?@.length > 1]]`, true},
		{`$.items[?length(@.tags) > 2]`, false},
		{`$.items[?count(@.tags[*]) > 2]`, false},
		{`$.items.length`, false},    // no filter: an explicit member lookup
		{`$.a[(@.length-1)]`, false}, // the Goessner script form means the array's length
		{`$.items[?@.name == 'length']`, false},
		{`$.items[?@.length_cm > 2]`, false},
		{`$.store.book[*].author`, false},
	} {
		got := len(MustCompile(tc.expr).Hints()) > 0
		if got != tc.hint {
			t.Errorf("%s: hint %v, want %v", tc.expr, got, tc.hint)
		}
	}
	for _, tc := range []struct {
		expr string
		hint bool
	}{
		{`@.fields.tags.length > 2`, true},
		{`length(@.fields.tags) > 2`, false},
		{`@.fields.priority == 'Urgent'`, false},
	} {
		f, err := CompileFilter(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(f.Hints()) > 0; got != tc.hint {
			t.Errorf("filter %s: hint %v, want %v", tc.expr, got, tc.hint)
		}
	}
}
