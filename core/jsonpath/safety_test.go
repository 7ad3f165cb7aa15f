package jsonpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestHostileDocuments checks that hostile documents neither panic nor
// run unbounded: work past the budget is reported, not done.
func TestHostileDocuments(t *testing.T) {
	deepArr := strings.Repeat("[", 50000) + strings.Repeat("]", 50000)
	deepObj := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	wide := "[" + strings.Repeat(`{"a":[1,2,{"b":"x"}]},`, 4500) + "1]"
	tests := []struct {
		name, expr, doc string
		want            int  // number of nodes, when within budget
		over            bool // the budget is exceeded
	}{
		{"descendant wildcard on 100 KB", "$..*", wide, 27001, false},
		{"descendant name on 100 KB", "$..b", wide, 4500, false},
		{"nested descendant filters on 100 KB", "$..[?@..*]", wide, 13500, false},
		{"huge slice, tiny step", "$[0:9007199254740991:1]", wide, 4501, false},
		{"huge negative slice", "$[9007199254740991:-9007199254740991:-1]", wide, 4501, false},
		{"descendant slices", "$..[::1]", wide, 18001, false},
		{"count of descendants per node", "$..[?count(@..*) > 1]", wide, 9000, false},
		{"compare every element with the root", "$[?@ == $]", wide, 0, false},
		{"deeply nested arrays", "$..*", deepArr, 0, true},
		{"deeply nested objects", "$..a", deepObj, 0, true},
		{"nested filters on deep nesting", "$..[?@..*]", deepArr, 0, true},
		{"singular path into deep nesting", "$" + strings.Repeat("[0]", 20), deepArr, 1, false},
	}
	if vs := MustCompile("$..*").Values([]byte(deepArr)); vs != nil {
		t.Fatalf("Values past the budget = %d values, want nil", len(vs))
	}
	// The other cases reach a lower limit sooner (the real one takes about
	// 0.2 s per query, much more under the race detector).
	defer func(old int) { workLimit = old }(workLimit)
	workLimit = MaxWork / 16
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustCompile(tt.expr)
			ns, err := p.Query([]byte(tt.doc))
			sel, selErr := p.Select([]byte(tt.doc))
			if tt.over {
				if !errors.Is(err, ErrTooMuchWork) || ns != nil {
					t.Fatalf("got %d nodes, err %v; want ErrTooMuchWork and no nodes", len(ns), err)
				}
				if !errors.Is(selErr, ErrTooMuchWork) || sel != nil {
					t.Fatalf("Select: %d values, err %v; want ErrTooMuchWork and no values", len(sel), selErr)
				}
				return
			}
			vs := p.Values([]byte(tt.doc))
			if err != nil || selErr != nil || len(ns) != tt.want || len(vs) != tt.want || len(sel) != tt.want {
				t.Fatalf("got %d nodes, %d values, %d selected, errs %v %v; want %d", len(ns), len(vs), len(sel), err, selErr, tt.want)
			}
		})
	}
}

// TestHostileSelectors checks limits on selectors.
func TestHostileSelectors(t *testing.T) {
	tests := []struct{ name, expr, contain string }{
		{"deeply nested parentheses", "$[?" + strings.Repeat("(", 200) + "@.a" + strings.Repeat(")", 200) + "]", "nests too deeply"},
		{"deeply nested filters", "$" + strings.Repeat("[?@", 100) + strings.Repeat("]", 100), "nests too deeply"},
		{"deeply nested calls", "$[?" + strings.Repeat("length(value(", 50) + "@" + strings.Repeat("))", 50) + " > 1]", "nests too deeply"},
		{"nested calls in comparisons (once exponential to parse)", "$[?" + strings.Repeat("count(", 40) + "@.a" + strings.Repeat(")==1", 40) + "]", "must be a query"},
		{"huge selector", "$" + strings.Repeat(".a", 40000), "longer than"},
		{"invalid UTF-8", "$['\xff']", "invalid UTF-8"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		if err == nil || !strings.Contains(err.Error(), tt.contain) {
			t.Errorf("%s: err %v; want one containing %q", tt.name, err, tt.contain)
		}
	}
	// Regular expressions: nesting and size are bounded, never fatal.
	doc := []byte(`[{"a":"aaaa"}]`)
	for _, re := range []string{strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100), "a{1000}{1000}", strings.Repeat("a", 5000), "(a*)*b"} {
		p := MustCompile(`$[?match(@.a, '` + re + `')]`)
		if vs := p.Values(doc); vs != nil {
			t.Errorf("pattern %.20q matched %q", re, vs)
		}
	}
}

// TestInvalidDocuments checks that documents that are not JSON do not
// panic (callers validate, but the engine must stay safe).
func TestInvalidDocuments(t *testing.T) {
	docs := []string{``, `{`, `[`, `{"a":`, `[1,`, `"abc`, `{"a" 1}`, `]]]`, `{{{{`, `[1,2]]`, `nul`, `-`, `{"a":[}`, "\x00", `{"\u12`}
	exprs := []string{"$", "$.a", "$..*", "$[*]", "$[-1]", "$[?@.a]", "$..[?@ == 1]", "$[0:2]", "$['a'].b[0]"}
	for _, d := range docs {
		doc := []byte(d)
		for _, e := range exprs {
			// Garbage in gives best-effort results, never a panic; what
			// comes back still keeps the documented contract: values are
			// sub-slices of doc and paths are normalized paths.
			p := MustCompile(e)
			for _, v := range p.Values(doc) {
				if !within(doc, v) {
					t.Errorf("%s on %q: value %q is not a sub-slice of the document", e, d, v)
				}
			}
			for _, n := range p.Nodes(doc) {
				if !strings.HasPrefix(n.Path, "$") {
					t.Errorf("%s on %q: path %q is not a normalized path", e, d, n.Path)
				}
			}
		}
		for _, l := range Leaves(doc) {
			if !strings.HasPrefix(l.Path, "$") || !within(doc, l.Sample) {
				t.Errorf("leaf of %q: %+v breaks the Leaf contract", d, l)
			}
		}
	}
}

// within reports whether sub is empty or lies inside doc's memory.
func within(doc, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(doc) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(doc)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(doc))
}

// TestConcurrentUse checks that compiled paths and filters are safe to
// share between goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	doc := []byte(`{"a": [{"b": "x1"}, {"b": "y2"}, {"b": "x3"}], "re": "x.*"}`)
	p := MustCompile(`$.a[?match(@.b, $.re)].b`)
	f, err := CompileFilter(`count(@.a[?search(@.b, '[0-9]')]) == 3`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				ns := p.Nodes(doc)
				if len(ns) != 2 || ns[1].Path != "$['a'][2]['b']" || !f.Match(doc) {
					done <- "wrong result under concurrency"
					return
				}
			}
			done <- ""
		}()
	}
	for g := 0; g < 8; g++ {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
}

// TestHostileRegexps checks that regular expressions count towards the
// work budget by their size: compiling patterns taken from the document
// and running large patterns over long strings. Each case took 5 to 15 s
// of CPU per MiB of document when only the input length was counted.
func TestHostileRegexps(t *testing.T) {
	// About 250 distinct 4 KB patterns, each slow to compile.
	var els []string
	for i := 0; i < 250; i++ {
		pat := fmt.Sprintf(`x{%d}`, i) + strings.Repeat(`\\p{L}`, 790)
		els = append(els, `{"a": "x", "p": "`+pat+`"}`)
	}
	patterns := []byte("[" + strings.Join(els, ",") + "]")
	// 1 MiB of long strings for a large pattern from the selector.
	long := []byte("[" + strings.Repeat(`"`+strings.Repeat("a", 1000)+`",`, 1000) + `"a"]`)
	tests := []struct {
		name, expr string
		doc        []byte
	}{
		{"document patterns compiled", `$[?match(@.a, @.p)]`, patterns},
		{"document patterns searched", `$[?search(@.p, @.p)]`, patterns},
		{"large literal pattern on long strings", `$[?search(@, '` + strings.Repeat(`\\p{L}`, 600) + `b')]`, long},
		{"repeated pattern on long strings", `$[?search(@, '(.{30}){30}b')]`, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ns, err := MustCompile(tt.expr).Query(tt.doc)
			if !errors.Is(err, ErrTooMuchWork) || ns != nil {
				t.Errorf("got %d nodes, err %v after %v; want ErrTooMuchWork", len(ns), err, time.Since(start))
			}
		})
	}
	// Ordinary patterns on the same documents stay within the budget.
	if ns, err := MustCompile(`$[?search(@, '(refund|chargeback|dispute)s?')]`).Query(long); err != nil || ns != nil {
		t.Errorf("ordinary search on 1 MiB: %d nodes, err %v", len(ns), err)
	}
	if ns, err := MustCompile(`$[?match(@.a, 'x+')]`).Query(patterns); err != nil || len(ns) != 250 {
		t.Errorf("ordinary match: %d nodes, err %v", len(ns), err)
	}
}
