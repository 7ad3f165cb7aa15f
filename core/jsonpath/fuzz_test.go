package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"unicode/utf8"
)

var fuzzSelectors = []string{
	`$`, `$.a`, `$['a']["b"]`, `$.*`, `$[*]`, `$..*`, `$..a`, `$[0]`, `$[-1]`, `$[1:3]`, `$[::-1]`, `$[0,1,'a']`,
	`$[?@.a]`, `$[?@.a == 1]`, `$[?@.a === 'x']`, `$[?(@.a !== null)]`, `$[?@.a < 2 && @.b >= 'x' || !@.c]`,
	`$[?length(@.a) > 1]`, `$[?count(@.*) == 2]`, `$[?match(@.a, 'a.*')]`, `$[?search(@.a, '[0-9]+')]`,
	`$[?value(@..a) == 1]`, `$[(@.length-1)]`, `$..[?@ == $]`, `$['\u00e9\ud83d\ude00']`, `$.a[?@.b[?@.c]]`,
	`$["a\"b"]`, `$[ 0 , 1 ]`, `$ .a`, `$[?@[ 'a' ] == 1]`, `$[?(@.price > 10)].name`, `$.‘a’`,
}

var fuzzDocs = []string{
	`{"a": 1, "b": [1, 2, {"a": "x"}], "c": {"a": [true, null, 1.5e3]}}`,
	`[{"a": "abc"}, {"a": 2, "b": "x"}, {"c": []}, [], {}]`,
	`{"é😀": "u", "a\"b": 1, "a": {"b": {"c": {"a": -0}}}}`,
	`[1, [2, [3, [4, [5]]]]]`,
	`"scalar"`,
}

// FuzzCompile checks that any selector either compiles or fails with a
// *SyntaxError at a column inside the selector, and never panics.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSelectors {
		f.Add(s)
	}
	doc := []byte(fuzzDocs[0])
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q) error %T is not a *SyntaxError", expr, err)
			}
			if se.Column < 1 || se.Column > utf8.RuneCountInString(expr)+1 || se.Msg == "" {
				t.Fatalf("Compile(%q): column %d outside the selector or empty message %q", expr, se.Column, se.Msg)
			}
		} else {
			if p.String() != expr {
				t.Fatalf("String() = %q, want %q", p.String(), expr)
			}
			p.Values(doc)
			p.Nodes(doc)
			// A canonical form is a fixed point that selects the same nodes.
			if c, ok := p.Canonical(); ok {
				q, err := Compile(c)
				if err != nil {
					t.Fatalf("Canonical(%q) = %q does not compile: %v", expr, c, err)
				}
				if c2, ok := q.Canonical(); !ok || c2 != c {
					t.Fatalf("Canonical(%q) = %q, whose own canonical form is %q, %v", expr, c, c2, ok)
				}
				if a, b := fmt.Sprint(p.Nodes(doc)), fmt.Sprint(q.Nodes(doc)); a != b {
					t.Fatalf("%q selects %s, its canonical form %q selects %s", expr, a, c, b)
				}
			}
		}
		if fl, err := CompileFilter(expr); err == nil {
			fl.Match(doc)
		}
	})
}

// FuzzQuery checks, on valid documents, that Values and Nodes agree, that
// every value is JSON, and that every normalized path selects exactly its
// value again.
func FuzzQuery(f *testing.F) {
	for i, s := range fuzzSelectors {
		f.Add(s, []byte(fuzzDocs[i%len(fuzzDocs)]))
	}
	f.Fuzz(func(t *testing.T, expr string, doc []byte) {
		p, err := Compile(expr)
		if err != nil {
			return
		}
		vs := p.Values(doc)
		ns, qerr := p.Query(doc)
		Leaves(doc)
		if !json.Valid(doc) {
			return
		}
		if qerr != nil {
			return // over the work budget: nothing to compare
		}
		if len(vs) != len(ns) {
			t.Fatalf("%q: %d values but %d nodes", expr, len(vs), len(ns))
		}
		// Round trips need member names a path can spell: unique and UTF-8
		// (encoding/json accepts invalid UTF-8 in strings).
		unique := utf8.Valid(doc) && !hasDuplicateKeys(doc)
		for i := range vs {
			if !bytes.Equal(vs[i], ns[i].Value) {
				t.Fatalf("%q: value %d %q differs from node value %q", expr, i, vs[i], ns[i].Value)
			}
			if !json.Valid(vs[i]) {
				t.Fatalf("%q: value %q is not JSON", expr, vs[i])
			}
			if !unique {
				continue
			}
			back, err := Compile(ns[i].Path)
			if err != nil {
				t.Fatalf("%q: normalized path %q does not compile: %v", expr, ns[i].Path, err)
			}
			got := back.Values(doc)
			if len(got) != 1 || !bytes.Equal(got[0], vs[i]) {
				t.Fatalf("%q: normalized path %q selects %q, want %q", expr, ns[i].Path, got, vs[i])
			}
		}
		if unique {
			for _, l := range Leaves(doc) {
				got := MustCompile(l.Path).Values(doc)
				if len(got) != 1 || !bytes.Equal(got[0], l.Sample) {
					t.Fatalf("leaf path %q selects %q, want %q", l.Path, got, l.Sample)
				}
			}
		}
	})
}

// hasDuplicateKeys reports whether some object of doc repeats a member
// name (normalized paths cannot tell such members apart).
func hasDuplicateKeys(doc []byte) bool {
	d := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true // treat undecodable input as unsafe for round trips
		}
		if len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey {
			top := &stack[len(stack)-1]
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
