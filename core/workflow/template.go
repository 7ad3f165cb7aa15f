package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// place says where a template's output goes, and so how every value the
// template prints is escaped. The escaping is inserted into the parsed
// template itself (as html/template does): each printing action gets one
// more pipeline stage, so no value can leave its place whatever it holds.
type place int

const (
	placeText   place = iota // plain text (ticket title, e-mail body): as is
	placeHeader              // a header value: CR, LF and other controls removed
	placeURL                 // a URL: path-escaped in the path, query-escaped after '?'
	placeJSON                // a JSON string leaf: the value becomes JSON
)

// Escaper function names; the leading underscore keeps them out of the way
// of user-visible functions.
const (
	fnText   = "_text"
	fnHeader = "_header"
	fnPath   = "_path"
	fnQuery  = "_query"
	fnJSON   = "_json"
	fnRaw    = "_raw"
)

// LookupEnv is how the env template function reads the environment; tests
// may replace it.
var LookupEnv = os.LookupEnv

var funcs = template.FuncMap{
	fnText:   textValue,
	fnHeader: headerValue,
	fnPath:   func(v any) string { return url.PathEscape(textValue(v)) },
	fnQuery:  func(v any) string { return url.QueryEscape(textValue(v)) },
	fnJSON:   jsonValue,
	fnRaw:    textValue,
	"index":  strictIndex,
	"env": func(name string) (string, error) {
		if strings.HasPrefix(strings.ToUpper(name), "JSONEVENT_") {
			return "", fmt.Errorf("environment variable %s configures jsonevent and is not available to templates", name)
		}
		v, ok := LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	},
}

// tmpl is one parsed template with its place escaping inserted.
type tmpl struct {
	src string
	t   *template.Template
	// whole is true when the source is exactly one printing action
	// ("{{ .fields.total }}"): in a JSON body its value keeps its JSON type.
	whole bool
	refs  [][]string // field references from the root, e.g. [fields subject]
	envs  []string   // names passed to env as literals
	// dynamicEnv is set when env gets anything but one literal name (an
	// event must not choose which variable is read).
	dynamicEnv bool
}

// parseTemplate parses src for place p. name is used in error messages.
func parseTemplate(name, src string, p place) (*tmpl, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	for _, x := range t.Templates() {
		if x.Name() != name {
			return nil, errors.New("invalid template: define and block are not supported")
		}
	}
	out := &tmpl{src: src, t: t}
	if t.Tree == nil || t.Tree.Root == nil {
		return out, nil
	}
	root := t.Tree.Root
	if p == placeJSON && len(root.Nodes) == 1 {
		if a, ok := root.Nodes[0].(*parse.ActionNode); ok && len(a.Pipe.Decl) == 0 {
			out.whole = true
		}
	}
	w := &escWalker{tree: t.Tree, place: p, whole: out.whole, out: out}
	if p == placeURL {
		w.url = urlPrefix
	}
	if err := w.list(root, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// urlState tracks where in a URL the template text has got to.
type urlState int

const (
	urlPrefix urlState = iota // scheme and authority
	urlPath
	urlQuery
	urlFragment
)

type escWalker struct {
	tree  *parse.Tree
	place place
	whole bool
	url   urlState
	out   *tmpl
}

// list walks a node list; depth counts enclosing range/with blocks, inside
// which the dot is no longer the root.
func (w *escWalker) list(l *parse.ListNode, depth int) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := w.node(n, depth); err != nil {
			return err
		}
	}
	return nil
}

func (w *escWalker) node(n parse.Node, depth int) error {
	switch n := n.(type) {
	case *parse.TextNode:
		if w.place == placeURL {
			w.advanceURL(n.Text)
		}
	case *parse.ActionNode:
		w.collect(n.Pipe, depth)
		if len(n.Pipe.Decl) > 0 {
			return nil // an assignment prints nothing
		}
		fn, err := w.escaper(n.Pipe)
		if err != nil {
			return err
		}
		id := parse.NewIdentifier(fn).SetTree(w.tree).SetPos(n.Pos)
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
	case *parse.IfNode:
		w.collect(n.Pipe, depth)
		if err := w.list(n.List, depth); err != nil {
			return err
		}
		return w.list(n.ElseList, depth)
	case *parse.RangeNode:
		w.collect(n.Pipe, depth)
		if err := w.list(n.List, depth+1); err != nil {
			return err
		}
		return w.list(n.ElseList, depth)
	case *parse.WithNode:
		w.collect(n.Pipe, depth)
		if err := w.list(n.List, depth+1); err != nil {
			return err
		}
		return w.list(n.ElseList, depth)
	case *parse.TemplateNode:
		return errors.New("invalid template: {{template}} is not supported")
	}
	return nil
}

// escaper picks the escaping stage for a printing action at the current
// position.
func (w *escWalker) escaper(pipe *parse.PipeNode) (string, error) {
	switch w.place {
	case placeHeader:
		return fnHeader, nil
	case placeJSON:
		if w.whole {
			return fnJSON, nil
		}
		return fnText, nil
	case placeURL:
		switch w.url {
		case urlPrefix:
			// The scheme and host come from config, never from the event:
			// only env may fill them (a base URL per environment).
			if !isEnvCall(pipe) {
				return "", fmt.Errorf("a template value before the URL path must come from env, not %s: an event must not choose the host", pipe)
			}
			return fnRaw, nil
		case urlPath, urlFragment:
			// A fragment is not form-encoded: "+" would stay "+", so it
			// is escaped like a path segment (space as %20).
			return fnPath, nil
		default:
			return fnQuery, nil
		}
	}
	return fnText, nil
}

func isEnvCall(pipe *parse.PipeNode) bool {
	if len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 2 {
		return false
	}
	id, ok := pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
	if !ok || id.Ident != "env" {
		return false
	}
	_, ok = pipe.Cmds[0].Args[1].(*parse.StringNode)
	return ok
}

// advanceURL moves the URL state over literal text.
func (w *escWalker) advanceURL(text []byte) {
	s := string(text)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch w.url {
		case urlPrefix:
			switch {
			case c == ':' && strings.HasPrefix(s[i:], "://"):
				i += 2 // still in the authority
			case c == '/':
				w.url = urlPath
			case c == '?':
				w.url = urlQuery
			case c == '#':
				w.url = urlFragment
			}
		case urlPath:
			switch c {
			case '?':
				w.url = urlQuery
			case '#':
				w.url = urlFragment
			}
		case urlQuery:
			if c == '#' {
				w.url = urlFragment
			}
		}
	}
}

// collect records field references and env names used at the root dot.
func (w *escWalker) collect(pipe *parse.PipeNode, depth int) {
	if pipe == nil {
		return
	}
	for _, cmd := range pipe.Cmds {
		for i, arg := range cmd.Args {
			w.collectArg(arg, depth)
			if id, ok := arg.(*parse.IdentifierNode); ok && id.Ident == "env" && i == 0 {
				if len(cmd.Args) == 2 {
					if s, ok := cmd.Args[1].(*parse.StringNode); ok {
						w.out.envs = append(w.out.envs, s.Text)
						continue
					}
				}
				w.out.dynamicEnv = true
			}
		}
	}
}

func (w *escWalker) collectArg(arg parse.Node, depth int) {
	switch a := arg.(type) {
	case *parse.FieldNode:
		if depth == 0 {
			w.out.refs = append(w.out.refs, slices.Clone(a.Ident))
		}
	case *parse.VariableNode:
		if len(a.Ident) > 1 && a.Ident[0] == "$" {
			w.out.refs = append(w.out.refs, slices.Clone(a.Ident[1:]))
		}
	case *parse.PipeNode:
		w.collect(a, depth)
	}
}

// execute renders t with data root.
func (t *tmpl) execute(root map[string]any) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, root); err != nil {
		return "", explainExecError(err)
	}
	return b.String(), nil
}

// MissingFieldError reports a template that names a value the event or an
// earlier task does not have.
type MissingFieldError struct {
	Field string // dotted, e.g. fields.email or tasks.open.id
	Err   error
}

func (e *MissingFieldError) Error() string {
	return fmt.Sprintf("template names %s, which this event does not have", e.Field)
}

func (e *MissingFieldError) Unwrap() error { return e.Err }

// strictIndex replaces text/template's index, which answers a missing map
// key with nothing (printed as ""), for templates over event data: a key or
// position the value does not have is a MissingFieldError, as a missing
// .fields.x is.
func strictIndex(v any, keys ...any) (any, error) {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			name, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("index of an object takes a string key, not %v", k)
			}
			if v, ok = c[name]; !ok {
				return nil, &MissingFieldError{}
			}
		case []any:
			i, ok := indexInt(k)
			if !ok {
				return nil, fmt.Errorf("index of an array takes a number, not %v", k)
			}
			if i < 0 || i >= len(c) {
				return nil, &MissingFieldError{}
			}
			v = c[i]
		default: // null or a scalar, as .a.b on them
			return nil, &MissingFieldError{}
		}
	}
	return v, nil
}

func indexInt(k any) (int, bool) {
	switch k := k.(type) {
	case int:
		return k, true
	case int64:
		return int(k), k == int64(int(k))
	case json.Number:
		n, err := k.Int64()
		return int(n), err == nil && n == int64(int(n))
	}
	return 0, false
}

// indexErrRe finds the index call a strictIndex error came from.
var indexErrRe = regexp.MustCompile(`at <(index [^>]*)>: error calling index`)

var execErrRe = regexp.MustCompile(`at <([^>]*)>: (map has no entry for key|nil pointer evaluating|can't evaluate field)`)

// explainExecError turns text/template's "map has no entry" style errors
// into a MissingFieldError naming the field.
func explainExecError(err error) error {
	var mf *MissingFieldError
	if errors.As(err, &mf) {
		field := "index"
		if m := indexErrRe.FindStringSubmatch(err.Error()); m != nil {
			field = m[1]
		}
		return &MissingFieldError{Field: field, Err: err}
	}
	m := execErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("template: %w", err)
	}
	field := strings.TrimPrefix(strings.TrimPrefix(m[1], "$"), ".")
	if i := strings.IndexAny(field, " |"); i >= 0 {
		field = field[:i]
	}
	return &MissingFieldError{Field: field, Err: err}
}

// textValue prints a template value as text: strings as they are, null as
// nothing, numbers and booleans as in JSON, objects and arrays as JSON.
func textValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case fmt.Stringer:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// headerValue prints v for an HTTP or mail header: CR, LF and every other
// control character except tab are removed, so a value cannot start a new
// header.
func headerValue(v any) string {
	return stripControls(textValue(v))
}

func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// jsonValue prints v as a JSON value (for a body leaf that is a whole
// action); the result is inserted verbatim into the body, so it must be
// valid JSON, which json.Marshal guarantees.
func jsonValue(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value cannot be written as JSON: %w", err)
	}
	return string(b), nil
}

// bodyTemplate is a JSON body whose string leaves are templates.
type bodyTemplate struct {
	lit   json.RawMessage // a leaf without template actions, or a non-string
	leaf  *tmpl           // a string leaf with actions
	keys  []string        // object keys, sorted; nil for non-objects
	obj   map[string]*bodyTemplate
	arr   []*bodyTemplate
	isArr bool
}

// parseBody walks a body from the config (maps, lists, scalars) and parses
// each string leaf as a JSON-place template.
func parseBody(path string, v any) (*bodyTemplate, []*tmpl, error) {
	var all []*tmpl
	var walk func(path string, v any) (*bodyTemplate, error)
	walk = func(path string, v any) (*bodyTemplate, error) {
		switch v := v.(type) {
		case map[string]any:
			bt := &bodyTemplate{obj: make(map[string]*bodyTemplate, len(v)), keys: slices.Sorted(maps.Keys(v))}
			for _, k := range bt.keys {
				c, err := walk(path+"."+k, v[k])
				if err != nil {
					return nil, err
				}
				bt.obj[k] = c
			}
			return bt, nil
		case map[any]any:
			m := make(map[string]any, len(v))
			for k, x := range v {
				m[fmt.Sprint(k)] = x
			}
			return walk(path, m)
		case []any:
			bt := &bodyTemplate{isArr: true, arr: make([]*bodyTemplate, 0, len(v))}
			for i, x := range v {
				c, err := walk(fmt.Sprintf("%s[%d]", path, i), x)
				if err != nil {
					return nil, err
				}
				bt.arr = append(bt.arr, c)
			}
			return bt, nil
		case string:
			if !strings.Contains(v, "{{") {
				b, _ := json.Marshal(v)
				return &bodyTemplate{lit: b}, nil
			}
			t, err := parseTemplate(path, v, placeJSON)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			all = append(all, t)
			return &bodyTemplate{leaf: t}, nil
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: value cannot be written as JSON: %w", path, err)
			}
			return &bodyTemplate{lit: b}, nil
		}
	}
	bt, err := walk(path, v)
	return bt, all, err
}

// render writes the body as JSON. Every template value is inserted as JSON
// (a string leaf mixing text and values becomes one JSON string), so no
// value can add keys or close the document.
func (bt *bodyTemplate) render(root map[string]any) ([]byte, error) {
	var b bytes.Buffer
	if err := bt.write(&b, root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (bt *bodyTemplate) write(b *bytes.Buffer, root map[string]any) error {
	switch {
	case bt.lit != nil:
		b.Write(bt.lit)
	case bt.leaf != nil:
		s, err := bt.leaf.execute(root)
		if err != nil {
			return err
		}
		if bt.leaf.whole {
			if !json.Valid([]byte(s)) { // cannot happen: _json marshals
				return errors.New("template produced invalid JSON")
			}
			b.WriteString(s)
		} else {
			writeJSONString(b, s)
		}
	case bt.isArr:
		b.WriteByte('[')
		for i, c := range bt.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := c.write(b, root); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case bt.obj != nil:
		b.WriteByte('{')
		for i, k := range bt.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			if err := bt.obj[k].write(b, root); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
