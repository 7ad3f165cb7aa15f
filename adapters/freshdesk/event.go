package freshdesk

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"strings"
)

// parseEvent reads Freshdesk's {{triggered_event}}, which is not JSON:
// "{ticket_action:created}", "{status:{from:4,to:6}}",
// "{priority:{from:1,to:4},status:{from:2,to:3}}", "{note_type:public}".
// It tolerates spaces, quotes and missing outer braces, and also accepts a
// real JSON object (an advanced template that happened to quote it right).
// The result has name, from, to, value and changes (one per property).
func parseEvent(raw any) (map[string]any, error) {
	var pairs []pair
	switch x := raw.(type) {
	case string:
		p := &eventParser{s: strings.TrimSpace(x)}
		if !strings.HasPrefix(p.s, "{") {
			p.s = "{" + p.s + "}"
		}
		v, err := p.object(0)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i != len(p.s) {
			return nil, fmt.Errorf("unexpected %q after the closing brace", p.s[p.i:])
		}
		pairs = v
	case map[string]any:
		for _, k := range jsondoc.SortedKeys(x) {
			pairs = append(pairs, pair{key: k, val: fromJSON(x[k])})
		}
	default:
		return nil, fmt.Errorf("want text like {status:{from:4,to:6}}, got %v", raw)
	}
	if len(pairs) == 0 {
		return nil, errors.New("no property in it")
	}
	changes := make([]any, 0, len(pairs))
	for _, p := range pairs {
		c := map[string]any{"property": p.key, "from": nil, "to": nil, "value": nil}
		switch v := p.val.(type) {
		case []pair:
			for _, q := range v {
				switch q.key {
				case "from", "to":
					if s, ok := q.val.(string); ok {
						c[q.key] = s
					}
				}
			}
		case string:
			c["value"] = v
		}
		changes = append(changes, c)
	}
	first := changes[0].(map[string]any)
	ev := map[string]any{"name": first["property"], "from": first["from"], "to": first["to"], "value": first["value"], "changes": changes}
	if first["property"] == "ticket_action" && first["value"] != nil {
		ev["name"] = first["value"]
	}
	return ev, nil
}

// fromJSON converts a decoded JSON value into the parser's shape.
func fromJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		var ps []pair
		for _, k := range jsondoc.SortedKeys(x) {
			ps = append(ps, pair{key: k, val: fromJSON(x[k])})
		}
		return ps
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	}
	return nil
}

type pair struct {
	key string
	val any // string or []pair
}

type eventParser struct {
	s string
	i int
}

const maxEventDepth = 8

func (p *eventParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *eventParser) object(depth int) ([]pair, error) {
	if depth > maxEventDepth {
		return nil, errors.New("nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, fmt.Errorf("want { at character %d", p.i+1)
	}
	p.i++
	var out []pair
	for {
		p.space()
		if p.i >= len(p.s) {
			return nil, errors.New("missing closing brace")
		}
		if p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		key := p.atom(":")
		if key == "" || p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, fmt.Errorf("want name: at character %d", p.i+1)
		}
		p.i++
		p.space()
		var val any
		if p.i < len(p.s) && p.s[p.i] == '{' {
			v, err := p.object(depth + 1)
			if err != nil {
				return nil, err
			}
			val = v
		} else {
			val = p.atom(",}")
		}
		out = append(out, pair{key: key, val: val})
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
}

// atom reads up to one of stop (or a brace), trimmed and unquoted.
func (p *eventParser) atom(stop string) string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(stop, rune(p.s[p.i])) && p.s[p.i] != '{' && p.s[p.i] != '}' {
		p.i++
	}
	s := strings.TrimSpace(p.s[start:p.i])
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	return s
}
