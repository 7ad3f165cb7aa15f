package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// ctsCase is one case of the JSONPath Compliance Test Suite.
type ctsCase struct {
	Name         string              `json:"name"`
	Selector     string              `json:"selector"`
	Document     json.RawMessage     `json:"document"`
	Result       []json.RawMessage   `json:"result"`
	Results      [][]json.RawMessage `json:"results"`
	ResultPaths  []string            `json:"result_paths"`
	ResultsPaths [][]string          `json:"results_paths"`
	Invalid      bool                `json:"invalid_selector"`
}

// loadCases reads a file of the compliance-suite shape relative to the
// repository root; a missing file fails the test.
func loadCases(t *testing.T, rel string) []ctsCase {
	t.Helper()
	path := filepath.Join("..", "..", rel)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Not a skip: the compliance suite is the proof the README cites.
		t.Fatalf("%s is absent: the shared test material must lie beside the repository (ln -s /work/shared ../shared)", path)
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var suite struct {
		Tests []ctsCase `json:"tests"`
	}
	if err := json.Unmarshal(data, &suite); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(suite.Tests) == 0 {
		t.Fatalf("%s holds no tests", path)
	}
	return suite.Tests
}

// canon re-encodes a JSON value so values compare independently of layout
// and member order.
func canon(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("result %q is not JSON: %v", raw, err)
	}
	b, err := json.Marshal(normNumbers(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// normNumbers makes 1 and 1.0 the same.
func normNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return f
	case []any:
		for i := range v {
			v[i] = normNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normNumbers(v[k])
		}
	}
	return v
}

func canonAll[T []byte | json.RawMessage](t *testing.T, vs []T) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, canon(t, []byte(v)))
	}
	return out
}

func runCase(t *testing.T, c ctsCase) {
	t.Helper()
	p, err := Compile(c.Selector)
	if c.Invalid {
		if err == nil {
			t.Fatalf("Compile(%q) succeeded; want a syntax error", c.Selector)
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Column < 1 || se.Msg == "" {
			t.Fatalf("Compile(%q) error %v is not a *SyntaxError with a column and message", c.Selector, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Compile(%q): %v", c.Selector, err)
	}
	got := canonAll(t, p.Values(c.Document))
	nodes := p.Nodes(c.Document)
	gotPaths := make([]string, 0, len(nodes))
	var nodeVals [][]byte
	for _, n := range nodes {
		gotPaths = append(gotPaths, n.Path)
		nodeVals = append(nodeVals, n.Value)
	}
	if nv := canonAll(t, nodeVals); !reflect.DeepEqual(nv, got) {
		t.Fatalf("%q: Nodes values %v differ from Values %v", c.Selector, nv, got)
	}
	if c.Results != nil {
		for i, want := range c.Results {
			if reflect.DeepEqual(got, canonAll(t, want)) {
				if c.ResultsPaths != nil && !reflect.DeepEqual(gotPaths, c.ResultsPaths[i]) && len(gotPaths)+len(c.ResultsPaths[i]) > 0 {
					t.Fatalf("%q: paths %q, want %q", c.Selector, gotPaths, c.ResultsPaths[i])
				}
				return
			}
		}
		t.Fatalf("%q on %s: got %v, want one of %s", c.Selector, c.Document, got, c.Results)
	}
	if want := canonAll(t, c.Result); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q on %s: got %v, want %v", c.Selector, c.Document, got, want)
	}
	if c.ResultPaths != nil && !reflect.DeepEqual(gotPaths, c.ResultPaths) && len(gotPaths)+len(c.ResultPaths) > 0 {
		t.Fatalf("%q: paths %q, want %q", c.Selector, gotPaths, c.ResultPaths)
	}
}

// TestCompliance runs every case of the RFC 9535 compliance test suite.
func TestCompliance(t *testing.T) {
	cases := loadCases(t, "../shared/jsonpath-cts/cts.json")
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { runCase(t, c) })
	}
}
