package capture

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// Suggestion is one leaf of a captured JSON body offered as a field.
type Suggestion struct {
	// Name is a proposed field name: the leaf's member name (with the
	// indexes that follow it), made unique within the body.
	Name string `json:"name"`
	// Path is the leaf's normalized JSONPath, e.g. $['items'][0]['sku'].
	Path string `json:"path"`
	// Wildcard is Path with every array index as [*], set only for leaves
	// inside arrays: it selects that member of every element.
	Wildcard string `json:"wildcard,omitempty"`
	// Type is string, number, boolean, null, object or array (the last two
	// for empty containers).
	Type string `json:"type"`
	// Sample is the leaf's value in this body (long strings shortened).
	Sample json.RawMessage `json:"sample"`
}

// maxSample bounds a sample string, in runes.
const maxSample = 120

// Suggest lists every leaf of body (at most MaxSuggestions) as a field
// suggestion, in document order. A body that is not JSON has none.
func Suggest(body []byte) []Suggestion {
	if len(body) == 0 || !json.Valid(body) {
		return []Suggestion{}
	}
	leaves := jsonpath.Leaves(body)
	if len(leaves) > MaxSuggestions {
		leaves = leaves[:MaxSuggestions]
	}
	out := make([]Suggestion, 0, len(leaves))
	used := map[string]int{}
	shadow := shadowed(body, len(leaves))
	for i, l := range leaves {
		if i < len(shadow) && shadow[i] {
			continue // its path selects an earlier member of the same name
		}
		if !utf8.ValidString(l.Path) {
			continue // a member name that is not UTF-8 cannot be written as a JSONPath
		}
		s := Suggestion{Path: l.Path, Type: l.Type, Sample: shorten(l.Sample)}
		if l.Wildcard != l.Path {
			s.Wildcard = l.Wildcard
		}
		s.Name = uniqueName(nameOf(l.Path), used)
		out = append(out, s)
	}
	return out
}

// shorten copies a sample, cutting a long string to maxSample runes.
func shorten(raw []byte) json.RawMessage {
	if len(raw) <= maxSample+2 || raw[0] != '"' {
		return json.RawMessage(append([]byte(nil), raw...))
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || utf8.RuneCountInString(s) <= maxSample {
		return json.RawMessage(append([]byte(nil), raw...))
	}
	r := []rune(s)
	b, _ := json.Marshal(string(r[:maxSample]) + "…")
	return b
}

// nameOf proposes a field name for a normalized path: the last member name
// followed by the indexes after it ("tags_0"), "value" for the root.
func nameOf(path string) string {
	p, err := jsonpath.Compile(path)
	if err != nil {
		return "value"
	}
	steps, _ := p.Steps()
	if len(steps) == 0 {
		return "value"
	}
	k := len(steps) - 1
	for k >= 0 && (steps[k].IsIndex || steps[k].Wildcard) {
		k--
	}
	var parts []string
	if k >= 0 {
		parts = append(parts, steps[k].Name)
	} else {
		parts = append(parts, "item")
	}
	for _, st := range steps[k+1:] {
		parts = append(parts, strconv.FormatInt(st.Index, 10))
	}
	return clean(strings.Join(parts, "_"))
}

// clean makes s a valid field name, one checkName accepts: no spaces or
// control characters (Unicode's, such as U+2028 or U+3000, as well as
// ASCII's), at most 64 bytes, not empty.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	for len(s) > 60 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	if s == "" || s == "$" {
		return "value"
	}
	return s
}

func uniqueName(name string, used map[string]int) string {
	used[name]++
	if used[name] == 1 {
		return name
	}
	for {
		cand := name + "_" + strconv.Itoa(used[name])
		if used[cand] == 0 {
			used[cand] = 1
			return cand
		}
		used[name]++
	}
}

// shadowed reports, for the first n leaves of body in document order (the
// order of jsonpath.Leaves), whether the leaf sits in or under a member
// whose name an earlier member of the same object already has. JSON allows
// such duplicates; a path names the member, and selects the first one, so
// a later member's leaves cannot be suggested: the path shown would select
// another value than the sample. It stops after n leaves, so its cost is
// bounded by the part of the body that the suggestions cover.
func shadowed(body []byte, n int) []bool {
	type frame struct {
		obj, shadow, empty, wantKey bool
		cur                         bool // the shadow of the member being read
		keys                        map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var (
		out   = make([]bool, 0, n)
		stack []frame
	)
	for len(out) < n {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			if len(stack) == 0 {
				break
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.empty {
				out = append(out, f.shadow) // an empty container is a leaf
			}
			continue
		}
		sh := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.obj && top.wantKey {
				key, _ := tok.(string)
				_, dup := top.keys[key]
				top.keys[key] = struct{}{}
				top.cur, top.wantKey, top.empty = top.shadow || dup, false, false
				continue
			}
			if top.obj {
				sh, top.wantKey = top.cur, true
			} else {
				sh, top.empty = top.shadow, false
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, shadow: sh, empty: true, wantKey: true, keys: map[string]struct{}{}})
		case json.Delim('['):
			stack = append(stack, frame{shadow: sh, empty: true})
		default:
			out = append(out, sh)
		}
	}
	return out
}
