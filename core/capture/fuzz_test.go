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
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sugg := Suggest(body)
		// With duplicate member names (undefined by RFC 8259) a path may
		// select the other duplicate; values are compared only without them.
		compare := !hasDuplicateNames(body)
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
			if !compare {
				continue
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

// hasDuplicateNames reports whether some object of body repeats a member
// name (or body is not JSON).
func hasDuplicateNames(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		obj   bool
		names map[string]bool
		key   bool // the next string token is a member name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return err.Error() != "EOF"
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: v == '{', names: map[string]bool{}, key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.obj {
				if top.key {
					name, _ := v.(string)
					if top.names[name] {
						return true
					}
					top.names[name] = true
					top.key = false
				} else {
					top.key = true
				}
			}
		}
	}
}
