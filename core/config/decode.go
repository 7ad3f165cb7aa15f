package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// locator maps key paths (triggers[0].fields.store) to where they were
// set: a line of a YAML file or an environment variable.
type locator struct {
	file  string
	lines map[string]int
	env   map[string]string // key path -> JSONEVENT_… variable name
}

// locate returns the file and line of key, or of its nearest ancestor in
// the file, or the environment variable that set key or one of its
// ancestors or descendants.
func (l *locator) locate(key string) (file string, line int, env string) {
	if l == nil {
		return "", 0, ""
	}
	for k := key; k != ""; k = parentKey(k) {
		if v, ok := l.env[k]; ok {
			return "", 0, v
		}
	}
	if len(l.env) > 0 {
		var under []string
		for k, v := range l.env {
			if strings.HasPrefix(k, key+".") {
				under = append(under, v)
			}
		}
		if len(under) > 0 {
			sort.Strings(under)
			return "", 0, strings.Join(under, ", ")
		}
	}
	for k := key; k != ""; k = parentKey(k) {
		if n, ok := l.lines[k]; ok {
			return l.file, n, ""
		}
	}
	return l.file, 0, ""
}

// parentKey drops the last segment: a.b[2].c -> a.b[2] -> a.b -> a -> "".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// indexLines records the line of every mapping key and sequence item
// under n, by key path.
func indexLines(n *yaml.Node, path string, out map[string]int, depth int) {
	if n == nil || depth > 100 {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, out, depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				if v.Kind == yaml.MappingNode {
					indexLines(v, path, out, depth+1)
				}
				continue
			}
			p := joinKey(path, k.Value)
			if _, seen := out[p]; !seen {
				out[p] = k.Line
			}
			indexLines(v, p, out, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			if _, seen := out[p]; !seen {
				out[p] = c.Line
			}
			indexLines(c, p, out, depth+1)
		}
	case yaml.AliasNode:
		// Not followed: keys reached through an alias take the alias's
		// line, and a document of nested aliases (a "billion laughs")
		// costs no more here than its size.
	}
}

// parseYAML parses a YAML document into a map and indexes its lines.
func parseYAML(file string, data []byte) (map[string]any, map[string]int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	lines := map[string]int{}
	indexLines(&doc, "", lines, 0)
	if len(doc.Content) == 0 {
		return map[string]any{}, lines, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return map[string]any{}, lines, nil
		}
		return nil, nil, fmt.Errorf("%s:%d: the file must be a YAML mapping of keys (server:, limits:, …)", file, root.Line)
	}
	var m map[string]any
	if err := doc.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, lines, nil
}

// checkKeys reports every key in v that the type t does not have, with
// the full key path. Maps and interface values (fields, headers, options,
// body) are free-form and not descended into; values of the wrong shape are
// left to the decoder, which reports them.
func checkKeys(v any, t reflect.Type, path string, ps *problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := structKeys(t)
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			ft, ok := fields[k]
			if !ok {
				msg := "unknown key"
				if s := suggest(k, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += fmt.Sprintf(" (known keys here: %s)", strings.Join(sortedKeys(fields), ", "))
				}
				ps.add(joinKey(path, k), "%s", msg)
				continue
			}
			checkKeys(m[k], ft, joinKey(path, k), ps)
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range s {
			checkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", ps)
		}
	}
}

// structKeys returns the koanf keys of t's fields and their types.
func structKeys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns the known key closest to k, if it is close enough to be
// a likely typo or a case or separator slip.
func suggest(k string, known map[string]reflect.Type) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for name := range known {
		if norm(name) == norm(k) {
			return name
		}
		if d := levenshtein(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if bestD > len(k)/3 {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var durationType = reflect.TypeOf(time.Duration(0))

// ParseDuration is time.ParseDuration, also taking whole days before the
// rest ("30d", "1d12h"), as retention periods are written. The API's
// since= takes the same.
func ParseDuration(v string) (time.Duration, error) {
	days, rest, ok := strings.Cut(v, "d")
	if !ok {
		return time.ParseDuration(v)
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 100*365 || strings.HasPrefix(days, "+") {
		return 0, fmt.Errorf("invalid number of days %q", days)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || r > math.MaxInt64-d { // past the largest duration, the sum wraps negative
			return 0, fmt.Errorf("invalid duration after the days: %q", rest)
		}
		d += r
	}
	return d, nil
}

// durationHook decodes durations only from Go duration strings ("1s",
// "15m"): a bare number would silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		d, err := ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q: write a Go duration such as \"10s\", \"1m30s\" or \"15m\", or days as \"30d\"", v)
		}
		return d, nil
	case time.Duration:
		return v, nil
	case int, int64, uint64, float64:
		return nil, fmt.Errorf("duration %v has no unit: write a Go duration string such as \"%vs\"", v, v)
	}
	return data, nil
}

// decode decodes m into out with mapstructure: no weak typing, except that
// strings (environment values) convert to numbers and booleans.
func decode(m map[string]any, out any, ps *problems) {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.DecodeHookFuncType(durationHook),
			mapstructure.StringToBasicTypeHookFunc(),
		),
		TagName: "koanf",
		Result:  out,
	})
	if err != nil {
		ps.add("", "internal: %v", err)
		return
	}
	if err := dec.Decode(m); err != nil {
		addDecodeErrors(err, ps)
	}
}

// mapIndex matches mapstructure's map-key form name[key] with a key that is
// not a list index, to turn it into our name.key form.
var mapIndex = regexp.MustCompile(`\[([^\]]*[^0-9\]][^\]]*)\]`)

func addDecodeErrors(err error, ps *problems) {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			addDecodeErrors(inner, ps)
		}
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			addDecodeErrors(inner, ps)
			return
		}
		if _, ok := inner.(*mapstructure.DecodeError); ok {
			addDecodeErrors(inner, ps)
			return
		}
		key := mapIndex.ReplaceAllString(e.Name(), ".$1")
		if secretKeys[key] {
			// The value is a secret: the message goes to logs and terminals.
			ps.add(key, "expected a string: quote the value (not shown here), or better set it from the environment, %s", EnvPrefix+strings.ToUpper(strings.ReplaceAll(key, ".", "__")))
			return
		}
		ps.add(key, "%s", decodeMessage(inner))
	default:
		if inner := errors.Unwrap(err); inner != nil {
			addDecodeErrors(inner, ps)
			return
		}
		ps.add("", "%v", err)
	}
}

// secretKeys are the keys whose values a message must never show.
var secretKeys = map[string]bool{"smtp.password": true}

// decodeMessage rewrites mapstructure's messages in the config's terms.
func decodeMessage(err error) string {
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Sprintf("expected %s, got %s", kindName(ue.Expected.Type()), valueName(ue.Value))
	}
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("expected %s, got %s", kindName(pe.Expected.Type()), valueName(pe.Value))
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		what := "a number"
		switch ne.Func {
		case "ParseInt", "ParseUint":
			what = "an integer"
		case "ParseBool":
			what = "true or false"
		}
		return fmt.Sprintf("expected %s, got %q", what, ne.Num)
	}
	msg := err.Error()
	if strings.Contains(msg, "source data must be an array or slice") {
		return "expected a list (note: list items cannot be set from the environment)"
	}
	return msg
}

func kindName(t reflect.Type) string {
	if t == durationType {
		return "a duration string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func valueName(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%v (%T)", v, v)
	}
}
