package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const jpStores = `{"eventDescription": "Monthly Revenue", "stores": [
  {"name": "Acme Store", "total": 1000000},
  {"name": "The Banana Stand", "total": 250000},
  {"name": "Pizza Planet", "total": 80000}]}`

// TestJSONPathCommand runs "jsonevent jsonpath" through run.
func TestJSONPathCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stores.json")
	if err := os.WriteFile(file, []byte(jpStores), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		stdout    string
		stderrHas []string
	}{
		{"values from stdin", []string{"jsonpath", "$.stores[?(@.total > 100000)].name"}, jpStores, 0,
			"[\n  \"Acme Store\",\n  \"The Banana Stand\"\n]\n", nil},
		{"values from a file", []string{"jsonpath", "$.stores[(@.length-1)]", file}, "", 0,
			"[\n  {\"name\":\"Pizza Planet\",\"total\":80000}\n]\n", nil},
		{"paths", []string{"jsonpath", "--paths", "$..name", file}, "", 0,
			"[\n  \"$['stores'][0]['name']\",\n  \"$['stores'][1]['name']\",\n  \"$['stores'][2]['name']\"\n]\n", nil},
		{"paths flag after the query", []string{"jsonpath", "$.eventDescription", "--paths", "-"}, jpStores, 0,
			"[\n  \"$['eventDescription']\"\n]\n", nil},
		{"nothing selected", []string{"jsonpath", "$.stores[?(@.name==='ACME Store')]"}, jpStores, 0, "[]\n", nil},
		{"Goessner .length noted", []string{"jsonpath", "$.stores[?(@.name.length > 3)]"}, jpStores, 0, "[]\n",
			[]string{"note: \".length\" in a filter", "length(@.items)"}},
		{"typographic quotes", []string{"jsonpath", "$.stores[?(@.name===”ACME Store”)]"}, jpStores, 2, "",
			[]string{"column 21", "typographic quote ”", "straight quotes", "\n                      ^\n"}},
		{"script refused", []string{"jsonpath", "$.stores[(process.exit())]"}, jpStores, 2, "",
			[]string{"column 10", "script expressions are not supported"}},
		{"document not JSON", []string{"jsonpath", "$.a"}, "{\"a\": 1,\n \"b\": }", 1, "",
			[]string{"standard input is not JSON", "line 2, column 7"}},
		{"invalid UTF-8", []string{"jsonpath", "$.a"}, "{\"a\": \"\xff\"}", 1, "", []string{"invalid UTF-8"}},
		{"missing file", []string{"jsonpath", "$.a", filepath.Join(dir, "absent.json")}, "", 1, "", []string{"absent.json"}},
		{"no query", []string{"jsonpath"}, "", 2, "", []string{"usage: jsonevent jsonpath"}},
		{"unknown flag", []string{"jsonpath", "--pretty", "$"}, "", 2, "", []string{"unknown flag --pretty"}},
		{"budget exceeded", []string{"jsonpath", "$..*"}, strings.Repeat("[", 9500) + strings.Repeat("]", 9500), 1, "",
			[]string{"work budget"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Fatalf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Fatalf("stderr %q does not contain %q", stderr.String(), s)
				}
			}
			if tt.stderrHas == nil && stderr.Len() > 0 {
				t.Fatalf("stderr %q, want nothing", stderr.String())
			}
		})
	}
}

// TestJSONPathHelp checks that help goes to stdout with status 0.
func TestJSONPathHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"jsonpath", "--help"}, strings.NewReader(""), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--paths") {
		t.Fatalf("exit %d, stdout %q", code, stdout.String())
	}
}
