package jsonpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductDocExamples runs every row of the product documentation's
// syntax table on its "stores" document.
func TestProductDocExamples(t *testing.T) {
	cases := loadCases(t, "../shared/seed-examples/jsonpath-examples.json")
	stores, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "seed-examples", "stores.json"))
	if err != nil {
		t.Fatalf("read stores.json: %v", err)
	}
	for _, c := range cases {
		if c.Document != nil && canon(t, c.Document) != canon(t, stores) {
			t.Fatalf("%s: its document is not stores.json", c.Name)
		}
		c.Document = stores // run on the file itself
		t.Run(c.Name, func(t *testing.T) { runCase(t, c) })
	}
}

const storesDoc = `{
  "eventDescription": "Monthly Revenue",
  "stores": [
    {"name": "Acme Store", "total": 1000000, "topItem": {"price": "50", "description": "Anvil"}},
    {"name": "The Banana Stand", "total": 250000, "topItem": {"price": "4", "description": "The Gob"}},
    {"name": "Pizza Planet", "total": 80000, "topItem": {"price": "15", "description": "Pepperoni"}}
  ]
}`

func valuesOf(t *testing.T, expr, doc string) []string {
	t.Helper()
	p, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	var out []string
	for _, v := range p.Values([]byte(doc)) {
		out = append(out, string(v))
	}
	return out
}

// TestGoessnerForms checks the forms users paste from older documentation.
func TestGoessnerForms(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`$.stores[?(@.name==='Acme Store')].total`, []string{`1000000`}},
		{`$.stores[?(@.name !== 'Acme Store')].total`, []string{`250000`, `80000`}},
		{`$.stores[?(@.total > 100000 && @.name !== 'Acme Store')].name`, []string{`"The Banana Stand"`}},
		{`$.stores[?(@.topItem.price === "4")].name`, []string{`"The Banana Stand"`}},
		{`$.stores[(@.length-1)].name`, []string{`"Pizza Planet"`}},
		{`$.stores[(@.length-3)].name`, []string{`"Acme Store"`}},
		{`$.stores[( @.length - 2 )].name`, []string{`"The Banana Stand"`}},
		{`$.stores[(@.length-4)].name`, nil},
		{`$.stores[(@.length-0)]`, nil},
		{`$.stores[(@.length-1),0].total`, []string{`80000`, `1000000`}},
		{`$..[(@.length-1)].name`, []string{`"Pizza Planet"`}},
		{`$.eventDescription[(@.length-1)]`, nil},
	}
	for _, tt := range tests {
		got := valuesOf(t, tt.expr, storesDoc)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: got %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestSyntaxErrors checks that errors name the column and what was expected.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		expr    string
		column  int
		contain string
	}{
		{`$.stores[?(@.name===”ACME Store”)]`, 21, "typographic quote ” (U+201D)"},
		{`$.stores[?(@.name==‘x’)]`, 20, "straight quotes"},
		{`$.“stores”`, 3, "typographic quote “"},
		{`$.stores[(process.exit())]`, 10, "script expressions are not supported"},
		{`$.stores[(@.length+1)]`, 10, "(@.length-N)"},
		{`stores`, 1, "expected '$'"},
		{` $.a`, 1, "leading blank space"},
		{`$.a `, 4, "trailing blank space"},
		{`$.a[0`, 6, "expected ',' or ']'"},
		{`$[01]`, 3, "leading zeros"},
		{`$[-0]`, 3, "-0 is not allowed"},
		{`$[9007199254740992]`, 3, "out of range"},
		{`$[?@.a = 1]`, 8, "'=' is not a comparison operator"},
		{`$[?length(@.a)]`, 4, "must be compared"},
		{`$[?foo(@.a)]`, 4, "unknown function foo()"},
		{`$[?count (@.a)==1]`, 9, "no blank space"},
		{`$[?@.* == 1]`, 4, "singular query"},
		{`$[?@[ 'a' ] == 1]`, 4, "singular query"},
		{`$[?match(@.a, 'x') == true]`, 4, "cannot be compared"},
		{`$.a.`, 5, "expected a member name or '*' after '.'"},
		{`$['a\q']`, 5, "invalid escape"},
		{`$['\uD800']`, 4, "surrogate"},
		{`$.é[`, 5, "expected a selector"},
		{`$[?@.a =~ /x/]`, 8, "use match(@.x, 'regexp')"},
		{`$[?(@.price > 10 and @.x)]`, 18, "write && for and"},
		{`$[?@.a.length() > 2]`, 14, "functions are called like length(@.x)"},
		{`$[?length(match(@.a, 'x')) > 1]`, 11, "match() returns a logical value"},
		{`$[?length(@.a == 1) > 1]`, 11, "not a logical expression"},
		{`$[?length(@..a) > 1]`, 11, "must be a single value"},
		{`$[?count(length(@.a)) > 1]`, 10, "must be a query"},
		{`$[?value('x') == 1]`, 10, "must be a query"},
		{`$[?search(@.a, 'x', 'y')]`, 21, "takes 2 arguments"},
		{`$[?match(@.a 'x')]`, 14, "expected ',' or ')' in the arguments of match()"},
		{`$[?!@.a == 1]`, 4, "write !(... == ...)"},
		{`$.ticket.custom-field`, 16, "use brackets, e.g. ['custom-field']"},
		{`$.stores[?(@.name=='Acme”)]`, 20, "unterminated string: missing closing '; it contains the typographic quote ”"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v; want a *SyntaxError", tt.expr, err)
			continue
		}
		if se.Column != tt.column || !strings.Contains(se.Error(), tt.contain) {
			t.Errorf("Compile(%q) = %q (column %d); want column %d containing %q", tt.expr, se.Error(), se.Column, tt.column, tt.contain)
		}
	}
}
