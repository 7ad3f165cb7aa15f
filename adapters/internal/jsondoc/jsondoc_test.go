package jsondoc_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	_ "github.com/jsonevent/jsonevent/adapters/internal/adaptertest" // defines -update
	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

func TestDecodeKeepsNumbers(t *testing.T) {
	v, err := jsondoc.Decode([]byte(`{"a":1500000.0,"b":1e999}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsondoc.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"a":1500000.0,"b":1e999}` {
		t.Errorf("round trip = %s", out)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"a":`, "ends early"},
		{`{"a":1} x`, "after the top-level value"},
		{`{"a" 1}`, "at byte"},
		{``, "ends early"},
	}
	for _, tt := range tests {
		_, err := jsondoc.Decode([]byte(tt.body))
		if core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(core.ErrorMessage(err), tt.want) {
			t.Errorf("Decode(%q) = %v, want invalid containing %q", tt.body, err, tt.want)
		}
	}
}

func TestEncodeNoHTMLEscape(t *testing.T) {
	out, err := jsondoc.Encode(map[string]any{"h": "<div>&</div>"})
	if err != nil || string(out) != `{"h":"<div>&</div>"}` {
		t.Errorf("Encode = %s, %v", out, err)
	}
}

func TestSyntaxOffset(t *testing.T) {
	if got := jsondoc.SyntaxOffset([]byte(`{"a":1}`)); got != -1 {
		t.Errorf("valid: %d", got)
	}
	if got := jsondoc.SyntaxOffset([]byte(`{"a": ,}`)); got != 7 {
		t.Errorf("offset = %d, want 7", got)
	}
}

func TestOptions(t *testing.T) {
	o := jsondoc.NewOptions("x", map[string]any{"b": "true", "s": "v", "l": []any{"a", "b"}, "one": "a", "bad": 3, "zzz": 1})
	if !o.Bool("b", false) || o.String("s", "") != "v" || len(o.Strings("l", nil)) != 2 || len(o.Strings("one", nil)) != 1 {
		t.Errorf("getters")
	}
	_ = o.Bool("bad", false)
	err := o.Err()
	msg := core.ErrorMessage(err)
	if core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(msg, `option "bad"`) || !strings.Contains(msg, `zzz`) {
		t.Errorf("Err = %v", err)
	}
	if err := jsondoc.NewOptions("x", nil).Err(); err != nil {
		t.Errorf("no options: %v", err)
	}
	var _ = json.Number("1")
}

func TestBoundKey(t *testing.T) {
	short := "run-1:abc"
	if jsondoc.BoundKey(short) != short {
		t.Errorf("short key changed")
	}
	long := strings.Repeat("é", 200)
	a, b := jsondoc.BoundKey(long), jsondoc.BoundKey(long+"x")
	if len(a) > jsondoc.MaxKey || a == b || !utf8.ValidString(a) || jsondoc.BoundKey(long) != a {
		t.Errorf("BoundKey: %q %q", a, b)
	}
}

func TestBoundKeyInvalidUTF8(t *testing.T) {
	a, b := jsondoc.BoundKey("\xf1"), jsondoc.BoundKey("\xf2")
	if !utf8.ValidString(a) || a == b || len(a) > jsondoc.MaxKey {
		t.Errorf("BoundKey of invalid UTF-8: %q %q", a, b)
	}
}

func TestSmallHelpers(t *testing.T) {
	kinds := []struct {
		v    any
		want string
	}{
		{map[string]any{}, "an object"},
		{[]any{}, "a list"},
		{"s", "a string"},
		{json.Number("1"), "a number"},
		{true, "a boolean"},
		{nil, "null"},
		{1.5, "float64"},
	}
	for _, k := range kinds {
		if got := jsondoc.Kind(k.v); got != k.want {
			t.Errorf("Kind(%#v) = %q, want %q", k.v, got, k.want)
		}
	}
	if got := jsondoc.NullIfEmpty(""); got != nil {
		t.Errorf("NullIfEmpty(\"\") = %#v, want nil", got)
	}
	if got := jsondoc.NullIfEmpty("x"); got != "x" {
		t.Errorf("NullIfEmpty(\"x\") = %#v, want \"x\"", got)
	}
	if got := strings.Join(jsondoc.SortedKeys(map[string]int{"b": 1, "a": 2, "c": 3}), ","); got != "a,b,c" {
		t.Errorf("SortedKeys = %q, want a,b,c", got)
	}
}

func TestStringList(t *testing.T) {
	comma := func(s string) []string { return strings.Split(s, ",") }
	for _, tc := range []struct {
		in   any
		want string
	}{
		{"billing, invoice,, ", `["billing","invoice"]`},
		{[]any{" a ", "", json.Number("7"), nil, map[string]any{}}, `["a","7"]`},
		{json.Number("42"), `["42"]`},
		{nil, `[]`},
		{true, `[]`},
	} {
		got, _ := json.Marshal(jsondoc.StringList(tc.in, comma))
		if string(got) != tc.want {
			t.Errorf("StringList(%#v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
