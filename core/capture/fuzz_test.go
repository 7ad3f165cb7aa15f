package capture

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// FuzzSuggest checks, for any body, that Suggest never panics and that
// every suggestion is usable as is: its name is a valid field name, its
// path and [*] form compile, and the path selects exactly the sampled value.
func FuzzSuggest(f *testing.F) {
	for _, seed := range []string{
		freshdesk,
		`{"items":[{"sku":"a"},{"sku":"b"}],"tags":[],"e":{}}`,
		`{"o'k\\":{"\u0001 x":[1,[2,[3]]]},"":null}`,
		`[[[]],{"a b":true}]`,
		`"scalar"`,
		`a=1&b=2`,
		`{"a":{"x":1},"a":{"x":2,"y":[]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sugg := Suggest(body)
		// Duplicate member names included: Suggest leaves out the members
		// a path cannot reach.
		for _, s := range sugg {
			if err := checkName(s.Name); err != nil {
				t.Fatalf("name %q of %s: %v", s.Name, s.Path, err)
			}
			p, err := jsonpath.Compile(s.Path)
			if err != nil {
				t.Fatalf("path %q does not compile: %v", s.Path, err)
			}
			if s.Wildcard != "" {
				if _, err := jsonpath.Compile(s.Wildcard); err != nil {
					t.Fatalf("wildcard %q does not compile: %v", s.Wildcard, err)
				}
			}
			vals := p.Values(body)
			if len(vals) != 1 {
				t.Fatalf("path %q selects %d values", s.Path, len(vals))
			}
			if !json.Valid(s.Sample) {
				t.Fatalf("sample of %q is not JSON: %s", s.Path, s.Sample)
			}
			if !bytes.Equal(vals[0], s.Sample) && !bytes.HasSuffix(s.Sample, []byte(`…"`)) {
				t.Fatalf("path %q selects %s, sample is %s", s.Path, vals[0], s.Sample)
			}
		}
	})
}
