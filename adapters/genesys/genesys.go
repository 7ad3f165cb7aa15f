// Package genesys normalises the requests of Genesys Cloud Web Services Data
// Actions (the body is the action's requestTemplate, sent chunked) and
// shapes the synchronous reply, because Genesys maps our response onto the
// action's output contract.
//
// The normalised document is
//
//	{
//	  "input": {…the requestTemplate body; unresolved ${input.x} → null…},
//	  "e164":  {"ani": "+13175551234", …one entry per top-level "tel:" value…},
//	  "_meta": {"adapter": "genesys", "auth_username": …, "delivery_id": …,
//	            "correlation_id": …, "organization_id": …,
//	            "home_organization_id": …, "user_id": …, "unresolved": ["csat"]}
//	}
package genesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "genesys"

// Adapter normalises Genesys data-action bodies and answers in the flat
// JSON Genesys requires. Options (all optional):
//
//	echo:         [csat, survey_id]         # extracted fields copied into the 200 reply
//	dedup_inputs: [conversationId, surveyId] # de-duplicate on these inputs instead of ININ-Correlation-Id
type Adapter struct {
	echo        []string
	dedupInputs []string
}

var (
	_ core.Adapter           = (*Adapter)(nil)
	_ core.Configurable      = (*Adapter)(nil)
	_ core.Responder         = (*Adapter)(nil)
	_ core.InvalidJSONHinter = (*Adapter)(nil)
)

// reserved are the reply's own keys; echo fields may not use them.
var reserved = map[string]bool{"status": true, "eventId": true, "triggerId": true, "accepted": true, "duplicate": true, "error": true, "code": true, "message": true}

// New returns the Genesys adapter with no echo fields.
func New() *Adapter { return &Adapter{} }

// Name returns "genesys".
func (*Adapter) Name() string { return Name }

// Configure returns an adapter with one trigger's options.
func (*Adapter) Configure(options map[string]any, _ core.AdapterDeps) (core.Adapter, error) {
	o := jsondoc.NewOptions(Name, options)
	a := &Adapter{echo: o.Strings("echo", nil), dedupInputs: o.Strings("dedup_inputs", nil)}
	seen := map[string]bool{}
	for _, e := range a.echo {
		if reserved[e] {
			o.Fail("echo", "%q is a key of the reply itself; rename the field", e)
		}
		if seen[e] {
			o.Fail("echo", "%q is listed twice", e)
		}
		seen[e] = true
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

var (
	// unresolvedRe matches a value that is only a Velocity reference Genesys
	// left as text because the input was null: ${input.x}, $!{input.x},
	// the short forms $input.x and $!input.x (Velocity's own; Genesys's docs
	// use braces, templates pasted from elsewhere may not), or one of them
	// inside $esc.jsonString(...).
	unresolvedRe = regexp.MustCompile(`^\s*(` + velocityRef + `|\$[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\(\s*` + velocityRef + `\s*\))\s*$`)
	telRe        = regexp.MustCompile(`^tel:(\+?[0-9]{3,20})(;.*)?$`)
)

// Normalize converts one Genesys request.
func (a *Adapter) Normalize(_ context.Context, req *core.Request) (*core.Normalized, error) {
	v, err := jsondoc.Decode(req.Body)
	if err != nil {
		if hint := a.InvalidJSONHint(req.Body, -1); hint != "" {
			return nil, &core.Error{Code: core.CodeInvalid, Message: core.ErrorMessage(err) + "; " + hint, Err: errors.Unwrap(err)}
		}
		return nil, err
	}
	var unresolved []string
	v = resolve(v, "", &unresolved)
	var warnings []string
	for _, p := range unresolved {
		warnings = append(warnings, fmt.Sprintf("%s was an unresolved Velocity reference (the Architect input was not set); stored as null", p))
	}
	e164 := map[string]any{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if s, ok := x.(string); ok {
				if sm := telRe.FindStringSubmatch(s); sm != nil {
					n := sm[1]
					if !strings.HasPrefix(n, "+") {
						n = "+" + n
					}
					e164[k] = n
				}
			}
		}
	}
	correlation := req.Header.Get("ININ-Correlation-Id")
	deliveryID := correlation
	if len(a.dedupInputs) > 0 {
		deliveryID = a.dedupKey(v)
		if deliveryID == "" {
			warnings = append(warnings, fmt.Sprintf("dedup_inputs %v are not all set in the body; de-duplicating on ININ-Correlation-Id", a.dedupInputs))
			deliveryID = correlation
		}
	}
	deliveryID = jsondoc.BoundKey(deliveryID)
	if unresolved == nil {
		unresolved = []string{}
	}
	meta := map[string]any{
		"adapter":              Name,
		"auth_username":        jsondoc.NullIfEmpty(req.AuthUsername),
		"delivery_id":          jsondoc.NullIfEmpty(deliveryID),
		"correlation_id":       jsondoc.NullIfEmpty(correlation),
		"organization_id":      jsondoc.NullIfEmpty(req.Header.Get("ININ-Organization-Id")),
		"home_organization_id": jsondoc.NullIfEmpty(req.Header.Get("ININ-Home-Organization-Id")),
		"user_id":              jsondoc.NullIfEmpty(req.Header.Get("ININ-User-Id")),
		"unresolved":           unresolved,
	}
	body, err := jsondoc.Encode(map[string]any{"input": v, "e164": e164, "_meta": meta})
	if err != nil {
		return nil, err
	}
	return &core.Normalized{Body: body, DeliveryID: deliveryID, Warnings: warnings}, nil
}

// dedupKey joins the configured inputs' values, "" when one is missing.
func (a *Adapter) dedupKey(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	parts := make([]string, 0, len(a.dedupInputs))
	for _, k := range a.dedupInputs {
		switch x := m[k].(type) {
		case string:
			if x == "" {
				return ""
			}
			parts = append(parts, x)
		case json.Number:
			parts = append(parts, x.String())
		case bool:
			parts = append(parts, fmt.Sprint(x))
		default:
			return ""
		}
	}
	return "genesys:" + strings.Join(parts, "/")
}

// resolve replaces unresolved references with null and records their paths.
// velocityRef is one reference: braced (any name), or short and under
// input (a short $name.x elsewhere could be real text).
const velocityRef = `(\$!?\{[A-Za-z_][A-Za-z0-9_.\-]*\}|\$!?input(\.[A-Za-z_][A-Za-z0-9_\-]*)+)`

func resolve(v any, path string, found *[]string) any {
	switch x := v.(type) {
	case string:
		if unresolvedRe.MatchString(x) {
			p := path
			if p == "" {
				p = "$"
			}
			*found = append(*found, p)
			return nil
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			x[k] = resolve(x[k], p, found)
		}
	case []any:
		for i, e := range x {
			x[i] = resolve(e, fmt.Sprintf("%s[%d]", path, i), found)
		}
	}
	return v
}

// Accept answers 200 with the flat object the data action's output
// contract maps: status, eventId, triggerId, accepted, duplicate, then the
// configured echo fields in order (a missing field is null; an object or a
// list of non-scalars is sent as its JSON text, because output contracts
// cannot hold nested structures).
func (a *Adapter) Accept(acc *core.Accepted) (int, []byte) {
	var b bytes.Buffer
	b.WriteString(`{"status":"accepted","eventId":`)
	writeString(&b, acc.EventID)
	b.WriteString(`,"triggerId":`)
	writeString(&b, acc.TriggerID)
	b.WriteString(`,"accepted":true,"duplicate":`)
	if acc.Duplicate {
		b.WriteString("true")
	} else {
		b.WriteString("false")
	}
	for _, name := range a.echo {
		b.WriteByte(',')
		writeString(&b, name)
		b.WriteByte(':')
		b.Write(flatValue(acc.Fields[name]))
	}
	b.WriteByte('}')
	return 200, b.Bytes()
}

// Refuse answers with the receiver's status and a flat JSON error that the
// data action's test mode and the Architect failure output show.
func (a *Adapter) Refuse(status int, code core.Code, message string) (int, []byte) {
	var b bytes.Buffer
	b.WriteString(`{"status":"error","error":`)
	writeString(&b, string(code))
	b.WriteString(`,"code":`)
	writeString(&b, string(code))
	b.WriteString(`,"message":`)
	writeString(&b, message)
	b.WriteByte('}')
	return status, b.Bytes()
}

// flatValue returns raw when it is a JSON scalar or a list of scalars, its
// JSON text as a string when it is anything else, null when absent.
func flatValue(raw []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !json.Valid(raw) {
		return []byte("null")
	}
	switch raw[0] {
	case '{':
		return quoted(raw)
	case '[':
		var l []any
		if err := json.Unmarshal(raw, &l); err != nil {
			return quoted(raw)
		}
		for _, e := range l {
			if !jsondoc.Scalar(e) {
				return quoted(raw)
			}
		}
	}
	return raw
}

func quoted(raw []byte) []byte {
	var b bytes.Buffer
	writeString(&b, string(raw))
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := jsondoc.Encode(s) // encoding a string cannot fail
	b.Write(enc)
}

// InvalidJSONHint explains the usual requestTemplate mistakes: a reference
// to an input that was not set is sent as its literal text (${input.csat}),
// which is not JSON outside quotes, and text inputs not wrapped in
// $esc.jsonString break the JSON when they contain a quote.
func (*Adapter) InvalidJSONHint(body []byte, offset int64) string {
	hint, offset := jsondoc.HintStart(body, offset,
		"the body is empty: the action's requestTemplate must build a JSON object",
		"the body is not JSON at all (form data?): the action's requestTemplate must build a JSON object and its Content-Type header must be application/json")
	if hint != "" || offset < 0 {
		return hint
	}
	if bytes.Contains(body, []byte("${")) || bytes.Contains(body, []byte("$!{")) {
		return "the body contains a Velocity reference such as ${input.x} outside quotes: Genesys sends a reference to an input that was not set as its literal text; in the action's requestTemplate write numbers and booleans as #if(${input.x})${input.x}#{else}null#end and text as \"$esc.jsonString(${input.x})\""
	}
	return "check the data action's requestTemplate: wrap every text input as \"$esc.jsonString(${input.x})\" so quotes and line breaks are escaped, and test it with the action's Test tab"
}
