package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// maxJSONPathInput bounds the document the jsonpath command reads.
const maxJSONPathInput = 256 << 20

func init() {
	commands["jsonpath"] = command{
		summary: "run a JSONPath query on a JSON document (test a field mapping)",
		run:     runJSONPath,
	}
}

const jsonpathUsage = `usage: jsonevent jsonpath [--paths] EXPR [FILE]

Runs the JSONPath query EXPR (RFC 9535, plus the Goessner forms === and
[(@.length-1)]) on the JSON document in FILE, or on standard input, and
prints one JSON array: the selected values, or with --paths their
normalized paths. Quote EXPR for the shell, e.g. '$.stores[*].name'.

Exit status: 0 success, 2 invalid query or usage, 1 document not JSON,
unreadable or over 256 MiB, or the query over its work budget on it.
`

// runJSONPath implements "jsonevent jsonpath".
func runJSONPath(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	paths := false
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case a == "--paths" || a == "-paths":
			paths = true
		case a == "-h" || a == "--help" || a == "-help":
			fmt.Fprint(stdout, jsonpathUsage)
			return 0
		case strings.HasPrefix(a, "-") && len(a) > 1:
			fmt.Fprintf(stderr, "jsonevent jsonpath: unknown flag %s\n\n%s", a, jsonpathUsage)
			return 2
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprint(stderr, "jsonevent jsonpath: expected EXPR and an optional FILE\n\n"+jsonpathUsage)
		return 2
	}
	expr := pos[0]
	p, err := jsonpath.Compile(expr)
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent jsonpath: %v\n", err)
		var se *jsonpath.SyntaxError
		if errors.As(err, &se) && !strings.ContainsAny(expr, "\n\r") && utf8.ValidString(expr) {
			fmt.Fprintf(stderr, "  %s\n  %s^\n", expr, caretPad(expr, se.Column))
		}
		return 2
	}
	// Valid, but probably not what was meant (a Goessner-style .length
	// in a filter): said on stderr, so stdout stays the JSON answer.
	for _, h := range p.Hints() {
		fmt.Fprintf(stderr, "jsonevent jsonpath: note: %s\n", h)
	}
	name := "standard input"
	in := stdin
	if len(pos) == 2 && pos[1] != "-" {
		name = pos[1]
		f, err := os.Open(pos[1])
		if err != nil {
			fmt.Fprintf(stderr, "jsonevent jsonpath: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	doc, err := io.ReadAll(io.LimitReader(in, maxJSONPathInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent jsonpath: read %s: %v\n", name, err)
		return 1
	}
	if len(doc) > maxJSONPathInput {
		fmt.Fprintf(stderr, "jsonevent jsonpath: %s is larger than %d MiB\n", name, maxJSONPathInput>>20)
		return 1
	}
	if msg := checkJSON(doc); msg != "" {
		fmt.Fprintf(stderr, "jsonevent jsonpath: %s is not JSON: %s\n", name, msg)
		return 1
	}
	nodes, err := p.Query(doc)
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent jsonpath: %v\n", err)
		return 1
	}
	var out bytes.Buffer
	out.WriteByte('[')
	for i, n := range nodes {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString("\n  ")
		if paths {
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(n.Path) // a string always encodes
			out.Truncate(out.Len() - 1)
		} else if err := json.Compact(&out, n.Value); err != nil {
			out.Write(n.Value)
		}
	}
	if len(nodes) > 0 {
		out.WriteByte('\n')
	}
	out.WriteString("]\n")
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "jsonevent jsonpath: write: %v\n", err)
		return 1
	}
	return 0
}

// checkJSON returns why doc is not a single JSON value in UTF-8, or "".
func checkJSON(doc []byte) string {
	var raw json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(doc, int(se.Offset))
			return fmt.Sprintf("%v (line %d, column %d)", se, line, col)
		}
		return err.Error()
	}
	if !utf8.Valid(doc) {
		return "invalid UTF-8"
	}
	return ""
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(doc []byte, off int) (int, int) {
	off = min(max(off, 0), len(doc))
	before := doc[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])
	return line, max(col, 1)
}

// caretPad returns the blank space that puts a caret under column col of
// expr, keeping tabs so terminals line it up.
func caretPad(expr string, col int) string {
	var b strings.Builder
	i := 1
	for _, r := range expr {
		if i >= col {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		i++
	}
	return b.String()
}
