package jsonpath

import "testing"

// TestNumbersCompareExactly checks that numbers compare by their decimal
// value, not after rounding to float64: 64-bit IDs (beyond 2^53) that
// round to the same double are still different numbers, and 1e400 is not
// 1e401 although both overflow.
func TestNumbersCompareExactly(t *testing.T) {
	doc := []byte(`{"id": 1152921504606846977, "near": 1152921504606846976, "big": 9007199254740993,
		"huge": 1e400, "tiny": 1e-400, "zero": 0, "negz": -0, "one": 1, "onef": 1.000, "exp": 10e-1,
		"frac": 0.1, "long": 0.1000000000000000055511151231257827}`)
	tests := []struct {
		expr string
		want bool
	}{
		{`@.id == 1152921504606846977`, true},
		{`@.id == 1152921504606846976`, false},
		{`@.id != 1152921504606846976`, true},
		{`@.id == @.near`, false},
		{`@.id > @.near`, true},
		{`@.near < @.id`, true},
		{`@.near >= @.id`, false},
		{`@.id <= 1152921504606846977.0`, true},
		{`@.id < 1.152921504606846977e18`, false},
		{`@.id == 1.152921504606846977e18`, true},
		{`@.big == 9007199254740992`, false},
		{`@.big > 9007199254740992`, true},
		{`@.huge == 1e400`, true},
		{`@.huge == 1e401`, false},
		{`@.huge < 1e401`, true},
		{`@.tiny == 0`, false},
		{`@.tiny > 0`, true},
		{`@.tiny < 1e-399`, true},
		{`@.zero == @.negz`, true},
		{`@.negz == -0.0e5`, true},
		{`@.negz < 0`, false},
		{`@.one == @.onef`, true},
		{`@.one == @.exp`, true},
		{`@.one <= 100e-2`, true},
		{`@.frac == 0.1`, true},
		{`@.frac == @.long`, false},
		{`@.frac < @.long`, true},
		{`-1152921504606846977 < -1152921504606846976`, true},
		{`-1152921504606846977 > -1152921504606846976`, false},
		{`count(@.*) == 12.0`, true},
		{`length('ab') == 2e0`, true},
		// A computed count is exact too: not equal to a number that only
		// rounds to it.
		{`length('abc') == 3.0000000000000001`, false},
		{`length('abc') < 3.0000000000000001`, true},
		{`count(@.*) != 12.000000000000001`, true},
		{`count(@.*) > 11.999999999999999`, true},
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
	// Arrays and objects compared whole compare their numbers the same way.
	arrs := []byte(`[{"a": [1152921504606846977], "b": [1152921504606846976]}, {"a": {"x": 1e400}, "b": {"x": 1e401}}, {"a": [1.0], "b": [1]}]`)
	got := MustCompile(`$[?@.a == @.b]`).Values(arrs)
	if len(got) != 1 || string(got[0]) != `{"a": [1.0], "b": [1]}` {
		t.Errorf("$[?@.a == @.b] selects %q, want only the third element", got)
	}
}
