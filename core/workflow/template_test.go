package workflow

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testEvent() *Event {
	return &Event{
		ID:         "01EVENT",
		TriggerID:  "OC_demo",
		AccountID:  "demo",
		ReceivedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Query:      map[string]string{"triggerId": "OC_demo", "contextId": "ctx 1"},
		Body:       json.RawMessage(`{"a":{"b":"deep"},"n":null,"list":[1,2]}`),
		Fields: map[string]json.RawMessage{
			"subject":  json.RawMessage(`"Printer on fire"`),
			"email":    json.RawMessage(`"ann@example.com"`),
			"total":    json.RawMessage(`1500.50`),
			"priority": json.RawMessage(`"Urgent"`),
			"evil":     json.RawMessage(`"\",\"admin\":true,\"x\":\"\r\nX-Admin: yes"`),
			"path":     json.RawMessage(`"../a b/c?d=e&f#g"`),
			"none":     json.RawMessage(`null`),
			"obj":      json.RawMessage(`{"k":[1,"two"]}`),
		},
	}
}

func testRoot(t *testing.T) map[string]any {
	t.Helper()
	d := &Data{Event: testEvent(), Workflow: "wf", Tasks: map[string]map[string]any{"open": {"id": "T-1"}}}
	root, err := d.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	return root
}

func TestTemplatePlaces(t *testing.T) {
	t.Setenv("HOOK_BASE", "https://hooks.example.com/base")
	t.Setenv("HOOK_TOKEN", "s3cret")
	root := testRoot(t)
	tests := []struct {
		name  string
		place place
		src   string
		want  string
	}{
		{"text as is", placeText, "Re: {{ .fields.subject }} ({{ .fields.total }})", "Re: Printer on fire (1500.50)"},
		{"text null is empty", placeText, "[{{ .fields.none }}]", "[]"},
		{"text object is JSON", placeText, "{{ .fields.obj }}", `{"k":[1,"two"]}`},
		{"text tasks output", placeText, "{{ .tasks.open.id }}", "T-1"},
		{"text nested body", placeText, "{{ .body.a.b }}", "deep"},
		{"text event ids", placeText, "{{ .event_id }} {{ .trigger_id }} {{ .workflow_id }} {{ .query.contextId }}", "01EVENT OC_demo wf ctx 1"},
		{"header strips CR LF", placeHeader, "Bearer {{ .fields.evil }}", `Bearer ","admin":true,"x":"X-Admin: yes`},
		{"header env", placeHeader, `Bearer {{ env "HOOK_TOKEN" }}`, "Bearer s3cret"},
		{"url query escaped", placeURL, "https://h.example.com/x?ticket={{ .fields.path }}&n=1", "https://h.example.com/x?ticket=..%2Fa+b%2Fc%3Fd%3De%26f%23g&n=1"},
		{"url path escaped", placeURL, "https://h.example.com/items/{{ .fields.path }}/x", "https://h.example.com/items/..%2Fa%20b%2Fc%3Fd=e&f%23g/x"},
		{"url fragment escaped", placeURL, "https://h.example.com/#{{ .fields.path }}", "https://h.example.com/#..%2Fa%20b%2Fc%3Fd=e&f%23g"},
		{"url env base", placeURL, `{{ env "HOOK_BASE" }}/t/{{ .tasks.open.id }}?e={{ .fields.email }}`, "https://hooks.example.com/base/t/T-1?e=ann%40example.com"},
		{"if and range", placeText, "{{ if .fields.total }}big{{ end }}{{ range .body.list }}<{{ . }}>{{ end }}", "big<1><2>"},
		{"variables", placeText, "{{ $s := .fields.subject }}{{ $s }}/{{ $.fields.email }}", "Printer on fire/ann@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := parseTemplate("x", tt.src, tt.place)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := tp.execute(root)
			if err != nil {
				t.Fatalf("execute: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestURLHostMustComeFromConfig(t *testing.T) {
	for _, src := range []string{
		"{{ .fields.path }}/x",
		"https://{{ .fields.email }}/x",
		"https://api.{{ .fields.subject }}.example.com/",
	} {
		if _, err := parseTemplate("url", src, placeURL); err == nil || !strings.Contains(err.Error(), "must come from env") {
			t.Errorf("%q: error = %v, want one about env", src, err)
		}
	}
}

// Ensure no field value can add keys to or break the JSON body, whatever it
// holds (the injection string with CRLF included).
func TestBodyInjectionStaysData(t *testing.T) {
	root := testRoot(t)
	body := map[string]any{
		"whole":  "{{ .fields.evil }}",
		"mixed":  "x{{ .fields.evil }}y",
		"total":  "{{ .fields.total }}",
		"none":   "{{ .fields.none }}",
		"obj":    "{{ .fields.obj }}",
		"lit":    "plain",
		"num":    7,
		"nested": []any{map[string]any{"t": "{{ .tasks.open.id }}"}, true, nil},
	}
	bt, leaves, err := parseBody("body", body)
	if err != nil {
		t.Fatalf("parseBody: %v", err)
	}
	if len(leaves) != 6 {
		t.Errorf("template leaves = %d, want 6", len(leaves))
	}
	out, err := bt.render(root)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("rendered body is not JSON: %v\n%s", err, out)
	}
	if _, ok := got["admin"]; ok {
		t.Fatalf("injection added a key: %s", out)
	}
	if len(got) != len(body) {
		t.Fatalf("keys = %d, want %d: %s", len(got), len(body), out)
	}
	evil := "\",\"admin\":true,\"x\":\"\r\nX-Admin: yes"
	checks := map[string]any{
		"whole": evil,
		"mixed": "x" + evil + "y",
		"total": 1500.5,
		"none":  nil,
		"lit":   "plain",
		"num":   7.0,
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if obj, _ := got["obj"].(map[string]any); obj == nil || len(obj["k"].([]any)) != 2 {
		t.Errorf("obj = %#v, want the field's object", got["obj"])
	}
	nested, _ := got["nested"].([]any)
	if len(nested) != 3 || nested[0].(map[string]any)["t"] != "T-1" || nested[1] != true || nested[2] != nil {
		t.Errorf("nested = %#v", got["nested"])
	}
	if !strings.Contains(string(out), `"total":1500.50`) {
		t.Errorf("number lost its JSON text: %s", out)
	}
}

func TestMissingFieldAtRunTime(t *testing.T) {
	root := testRoot(t)
	tests := []struct{ src, field string }{
		{"{{ .fields.nosuch }}", "fields.nosuch"},
		{"x {{ .body.a.zz }}", "body.a.zz"},
		{"{{ .body.n.deeper }}", "body.n.deeper"},
		{"{{ .tasks.open.nope }}", "tasks.open.nope"},
		{"{{ $.fields.gone }}", "fields.gone"},
		// index reaches keys a dotted name cannot spell; a missing one is
		// missing too, not an empty string.
		{`{{ index .body "no-such" }}`, `index .body "no-such"`},
		{`{{ index .body.a "b" "c" }}`, `index .body.a "b" "c"`},
		{`{{ index .body.list 2 }}`, `index .body.list 2`},
		{`{{ index .body.n "x" }}`, `index .body.n "x"`},
	}
	for _, tt := range tests {
		tp, err := parseTemplate("x", tt.src, placeText)
		if err != nil {
			t.Fatalf("%s: parse: %v", tt.src, err)
		}
		_, err = tp.execute(root)
		var mf *MissingFieldError
		if !errors.As(err, &mf) {
			t.Fatalf("%s: error = %v, want a MissingFieldError", tt.src, err)
		}
		if mf.Field != tt.field || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: field = %q (%v), want %q", tt.src, mf.Field, err, tt.field)
		}
	}
}

func TestIndexFindsWhatIsThere(t *testing.T) {
	root := testRoot(t)
	for src, want := range map[string]string{
		`{{ index .body "a" "b" }}`:      "deep",
		`{{ index .body.list 1 }}`:       "2",
		`{{ index .fields.obj "k" 1 }}`:  "two",
		`{{ index .body "n" }}`:          "", // there, and null
		`{{ index .tasks "open" "id" }}`: "T-1",
	} {
		tp, err := parseTemplate("x", src, placeText)
		if err != nil {
			t.Fatalf("%s: parse: %v", src, err)
		}
		if got, err := tp.execute(root); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", src, got, err, want)
		}
	}
}

func TestTemplateParseErrors(t *testing.T) {
	for _, src := range []string{
		"{{ .fields.x ",
		`{{ define "y" }}y{{ end }}`,
		`{{ template "x" }}`,
		"{{ nosuchfunc }}",
	} {
		if _, err := parseTemplate("x", src, placeText); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}

func TestEventDocument(t *testing.T) {
	ev := testEvent()
	var doc map[string]any
	if err := json.Unmarshal(ev.Document(), &doc); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	if doc["received_at"] != "2026-11-27T10:00:00Z" {
		t.Errorf("received_at = %v", doc["received_at"])
	}
	if doc["fields"].(map[string]any)["priority"] != "Urgent" {
		t.Errorf("fields = %v", doc["fields"])
	}
	if doc["query"].(map[string]any)["contextId"] != "ctx 1" {
		t.Errorf("query = %v", doc["query"])
	}
	if doc["body"].(map[string]any)["a"].(map[string]any)["b"] != "deep" {
		t.Errorf("body = %v", doc["body"])
	}
	empty := (&Event{}).Document()
	if !json.Valid(empty) {
		t.Errorf("empty event document is not JSON: %s", empty)
	}
}
