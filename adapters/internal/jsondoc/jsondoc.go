// Package jsondoc holds the JSON helpers the vendor adapters share: decoding
// with numbers kept exactly as written, encoding without HTML escaping, and
// reading a trigger's adapter options with errors that name the option.
package jsondoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core"
)

// MaxKey is the longest delivery id an adapter returns; the receiver
// refuses de-duplication keys over 255 bytes.
const MaxKey = 200

// BoundKey returns key unchanged when it is valid UTF-8 of at most MaxKey
// bytes. Otherwise (vendor headers may carry any bytes) it returns the
// key's first valid characters, at most 96 bytes, plus a hash of the whole,
// so that the key stays stable, unique, printable and short.
func BoundKey(key string) string {
	if len(key) <= MaxKey && utf8.ValidString(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	cut := min(96, len(key))
	for cut > 0 && cut < len(key) && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return strings.ToValidUTF8(key[:cut], "?") + ":sha256:" + hex.EncodeToString(sum[:16])
}

// Decode parses body into maps, slices, strings, bools, nil and json.Number
// (so 1500000.0 stays 1500000.0). A body that is not exactly one JSON value
// is an *core.Error with CodeInvalid that says where it broke.
func Decode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf("body is not valid JSON: unexpected data after the top-level value at byte %d", dec.InputOffset()), Err: err}
	}
	return v, nil
}

func syntaxError(body []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf("body is not valid JSON: %s at byte %d", se.Error(), se.Offset), Err: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf("body is not valid JSON: it ends early, at byte %d", len(body)), Err: err}
	}
	return &core.Error{Code: core.CodeInvalid, Message: "body is not valid JSON: " + err.Error(), Err: err}
}

// SyntaxOffset returns the byte offset at which body stops being valid JSON,
// as encoding/json reports it, or -1 when body is valid.
func SyntaxOffset(body []byte) int64 {
	var raw json.RawMessage
	err := json.Unmarshal(body, &raw)
	if err == nil {
		return -1
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return int64(len(body))
}

// NotJSONAtAll reports whether body does not even start like a JSON object
// or list (form data, XML, plain text), so that hints about details inside
// the JSON would mislead.
func NotJSONAtAll(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n\ufeff")
	return len(b) == 0 || (b[0] != '{' && b[0] != '[')
}

// Encode returns the compact JSON of v without HTML escaping, so that an
// HTML description stays readable in the stored event.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode normalised body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Invalid returns an *core.Error with CodeInvalid and a formatted message.
func Invalid(format string, args ...any) error {
	return &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// Scalar reports whether v is a JSON scalar (string, number, bool or null).
func Scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// Options reads one trigger's adapter options. Each getter records the key
// as known; Err then reports unknown keys and wrong types, naming them.
type Options struct {
	adapter string
	m       map[string]any
	known   map[string]bool
	errs    []string
}

// NewOptions wraps a trigger's options map for adapter name.
func NewOptions(adapter string, m map[string]any) *Options {
	return &Options{adapter: adapter, m: m, known: map[string]bool{}}
}

// Bool returns the boolean option key, or def when it is absent. The strings
// "true" and "false" (from environment variables) are accepted too.
func (o *Options) Bool(key string, def bool) bool {
	o.known[key] = true
	v, ok := o.m[key]
	if !ok || v == nil {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	o.errs = append(o.errs, fmt.Sprintf("option %q: want true or false, got %v", key, v))
	return def
}

// String returns the string option key, or def when it is absent.
func (o *Options) String(key, def string) string {
	o.known[key] = true
	v, ok := o.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		o.errs = append(o.errs, fmt.Sprintf("option %q: want a string, got %v", key, v))
		return def
	}
	return s
}

// Strings returns the list-of-strings option key (a single string counts as
// a one-element list), def when it is absent.
func (o *Options) Strings(key string, def []string) []string {
	o.known[key] = true
	v, ok := o.m[key]
	if !ok || v == nil {
		return def
	}
	switch l := v.(type) {
	case string:
		return []string{l}
	case []string:
		return append([]string(nil), l...)
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok || s == "" {
				o.errs = append(o.errs, fmt.Sprintf("option %q: item %d: want a non-empty string, got %v", key, i, e))
				return def
			}
			out = append(out, s)
		}
		return out
	}
	o.errs = append(o.errs, fmt.Sprintf("option %q: want a list of strings, got %v", key, v))
	return def
}

// Fail records a problem with option key found by the adapter itself.
func (o *Options) Fail(key, format string, args ...any) {
	o.errs = append(o.errs, fmt.Sprintf("option %q: ", key)+fmt.Sprintf(format, args...))
}

// Err returns nil, or an *core.Error with CodeInvalid listing unknown
// options (with the known ones) and wrong values.
func (o *Options) Err() error {
	var unknown []string
	for k := range o.m {
		if !o.known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	errs := append([]string(nil), o.errs...)
	if len(unknown) > 0 {
		known := make([]string, 0, len(o.known))
		for k := range o.known {
			known = append(known, k)
		}
		sort.Strings(known)
		errs = append(errs, fmt.Sprintf("unknown option %q (known: %s)", unknown, strings.Join(known, ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf("adapter %s: %s", o.adapter, strings.Join(errs, "; "))}
}

// NullIfEmpty returns s, or nil (JSON null) when s is empty.
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SortedKeys returns the keys of m in ascending order, so that documents
// and messages built from a map come out the same every time.
func SortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Kind names the JSON type of a decoded value for error messages, with its
// article: "an object", "a list", "a string", "a number", "a boolean", "null".
func Kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// StringList turns a vendor's list of tags (or the like) into a list of
// strings: a string is cut into the parts split gives (blank parts
// dropped), a list keeps its non-blank strings and its numbers (as
// strings), a number is a list of one, and anything else (null) is [].
func StringList(v any, split func(string) []string) []any {
	out := []any{}
	switch x := v.(type) {
	case string:
		for _, t := range split(x) {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	case []any:
		for _, e := range x {
			switch t := e.(type) {
			case string:
				if t = strings.TrimSpace(t); t != "" {
					out = append(out, t)
				}
			case json.Number:
				out = append(out, t.String())
			}
		}
	case json.Number:
		out = append(out, x.String())
	}
	return out
}

// HintStart is the beginning every vendor's InvalidJSONHint shares. offset
// is encoding/json's error offset, or -1 to compute it; the offset it
// returns is -1 when body is valid JSON (no hint). A body that is empty
// gets the vendor's empty advice, one that is not JSON at all (form data,
// XML) its notJSON advice; otherwise hint is "" and the vendor looks at
// the offset itself.
func HintStart(body []byte, offset int64, empty, notJSON string) (hint string, at int64) {
	if offset < 0 {
		offset = SyntaxOffset(body)
	}
	switch {
	case offset < 0:
		return "", -1
	case len(bytes.TrimSpace(body)) == 0:
		return empty, offset
	case NotJSONAtAll(body):
		return notJSON, offset
	}
	return "", offset
}
