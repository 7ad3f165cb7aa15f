package jsonpath

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	theory "github.com/theory/jsonpath"
)

// FuzzDifferential compares this engine with theory/jsonpath, an
// independent RFC 9535 implementation: what we accept (outside the
// Goessner extensions) it must accept too, and both must select the same
// values (as multisets: theory/jsonpath walks objects in map order).
func FuzzDifferential(f *testing.F) {
	for i, s := range fuzzSelectors {
		f.Add(s, []byte(fuzzDocs[i%len(fuzzDocs)]))
	}
	f.Fuzz(func(t *testing.T, expr string, doc []byte) {
		if !utf8.ValidString(expr) || strings.Contains(expr, "===") || strings.Contains(expr, "!==") ||
			strings.Contains(expr, "(@") || strings.ContainsAny(expr, "“”‘’") {
			return // Goessner forms and deliberate deviations
		}
		ours, err := Compile(expr)
		theirs, terr := theory.Parse(expr)
		// Only selectors we accept and theory/jsonpath refuses fail: it is
		// laxer than the grammar in places ($[:0 0], $[?!0], @[ 'a' ] as a
		// singular query), and those are pinned by TestSyntaxErrors and the
		// compliance suite instead.
		if err == nil && terr != nil {
			t.Fatalf("%q: we accept it, theory/jsonpath says %v", expr, terr)
		}
		if err != nil {
			return
		}
		if strings.Contains(expr, "match") || strings.Contains(expr, "search") ||
			strings.Contains(expr, "<=") || strings.Contains(expr, ">=") {
			return // regexp dialects differ; theory/jsonpath's Nothing <= Nothing is false
		}
		for _, d := range append([][]byte{doc}, fuzzDocBytes...) {
			if !json.Valid(d) || !utf8.Valid(d) || hasDuplicateKeys(d) {
				continue
			}
			if beyondDouble.MatchString(expr) || beyondDouble.Match(d) {
				continue // we compare such numbers exactly, theory/jsonpath as float64
			}
			var v any
			if json.Unmarshal(d, &v) != nil {
				continue
			}
			ns, qerr := ours.Query(d)
			if qerr != nil {
				continue
			}
			var got, want []string
			for _, n := range ns {
				got = append(got, canonJSON(t, n.Value))
			}
			for _, x := range theirs.Select(v) {
				b, err := json.Marshal(x)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, canonJSON(t, b))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%q on %s:\n ours   %q\n theirs %q", expr, d, got, want)
			}
		}
	})
}

// beyondDouble finds numbers a float64 may not tell apart: 16 or more
// digits, or an exponent of three digits (overflow, underflow).
var beyondDouble = regexp.MustCompile(`[0-9][0-9.]{15}|[eE][-+]?[0-9]{3}`)

var fuzzDocBytes = func() [][]byte {
	var out [][]byte
	for _, d := range append([]string{storesDoc, ticketDoc}, fuzzDocs...) {
		out = append(out, []byte(d))
	}
	return out
}()

func canonJSON(t *testing.T, raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDifferentialCTS runs every valid compliance-suite selector on other
// documents too and compares the values with theory/jsonpath's.
func TestDifferentialCTS(t *testing.T) {
	cases := loadCases(t, "../shared/jsonpath-cts/cts.json")
	docs := append([]string{storesDoc, ticketDoc}, fuzzDocs...)
	var checked int
	for _, c := range cases {
		if c.Invalid || strings.Contains(c.Selector, "match") || strings.Contains(c.Selector, "search") {
			continue
		}
		// theory/jsonpath makes Nothing <= Nothing false; RFC 9535 Table 11
		// says true (TestRFCComparisonTable).
		if strings.Contains(c.Selector, "<=") || strings.Contains(c.Selector, ">=") {
			continue
		}
		ours := MustCompile(c.Selector)
		theirs, err := theory.Parse(c.Selector)
		if err != nil {
			t.Errorf("theory/jsonpath refuses %q: %v", c.Selector, err)
			continue
		}
		for _, d := range append(docs, string(c.Document)) {
			var v any
			if err := json.Unmarshal([]byte(d), &v); err != nil {
				t.Fatal(err)
			}
			if hasDuplicateKeys([]byte(d)) {
				continue
			}
			var got, want []string
			for _, b := range ours.Values([]byte(d)) {
				got = append(got, canonJSON(t, b))
			}
			for _, x := range theirs.Select(v) {
				b, _ := json.Marshal(x)
				want = append(want, canonJSON(t, b))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%q on %s:\n ours   %q\n theirs %q", c.Selector, d, got, want)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d comparisons", checked)
	}
}
