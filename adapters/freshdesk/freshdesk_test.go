package freshdesk

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		in                  any
		name, from, to, val any
		changes             int
	}{
		{"{ticket_action:created}", "created", nil, nil, "created", 1},
		{"{status:{from:4,to:6}}", "status", "4", "6", nil, 1},
		{" { status : { from : Open , to : 'Pending' } } ", "status", "Open", "Pending", nil, 1},
		{`{"priority":{"from":"1","to":"4"}}`, "priority", "1", "4", nil, 1},
		{"{priority:{from:1,to:4},status:{from:2,to:3}}", "priority", "1", "4", nil, 2},
		{"note_type:public", "note_type", nil, nil, "public", 1},
		{map[string]any{"status": map[string]any{"from": json.Number("2"), "to": json.Number("5")}}, "status", "2", "5", nil, 1},
	}
	for _, tt := range tests {
		ev, err := parseEvent(tt.in)
		if err != nil {
			t.Errorf("parseEvent(%v): %v", tt.in, err)
			continue
		}
		got := []any{ev["name"], ev["from"], ev["to"], ev["value"]}
		want := []any{tt.name, tt.from, tt.to, tt.val}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("parseEvent(%v) = %v, want %v", tt.in, got, want)
		}
		if n := len(ev["changes"].([]any)); n != tt.changes {
			t.Errorf("parseEvent(%v): %d changes, want %d", tt.in, n, tt.changes)
		}
	}
	for _, bad := range []any{"{}", "{status:{from:4}", "{:x}", "{a:b}}", strings.Repeat("{a:", 20) + strings.Repeat("}", 20), json.Number("3")} {
		if ev, err := parseEvent(bad); err == nil {
			t.Errorf("parseEvent(%v) = %v, want an error", bad, ev)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<div>Hi <b>team</b>,</div><div>line two</div>", "Hi team,\nline two"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<p>x &amp; y &lt;z&gt; &nbsp;&#39;q&#39;</p>", "x & y <z> 'q'"},
		{"<p>one</p><p><br></p><p>two</p>", "one\n\ntwo"},
		{"<style>p{}</style><script>alert(1)</script>visible<!-- hidden -->", "visible"},
		{"<a href='x>y'>link</a> text", "link text"},
		{"plain   text\n\n\n\nend", "plain text\n\nend"},
		{"<div>unclosed", "unclosed"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitTags(t *testing.T) {
	tests := []struct {
		in   any
		want []any
	}{
		{"billing,invoice", []any{"billing", "invoice"}},
		{" a , ,b,", []any{"a", "b"}},
		{nil, []any{}},
		{[]any{"x", json.Number("7"), " ", map[string]any{}}, []any{"x", "7"}},
	}
	for _, tt := range tests {
		if got := splitTags(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTags(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestInvalidJSONHint(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"ticket_id": , "s": "x"}`, `the value of "ticket_id" is empty`},
		{`{"ticket_id": 1, "group": }`, `the value of "group" is empty`},
		{`{"subject": Printer on fire}`, `the value of "subject" is unquoted text`},
		{`{"subject": "He said "hi""}`, `the value of "subject" probably contains a double quote`},
		{"{\"subject\": \"line\nbreak\"}", `the value of "subject" probably contains`},
		{`{"id": {{ticket.idd}}, "x": 1}`, `placeholder {{ticket.idd}}`},
		// A quoted placeholder left as text is valid JSON: the hint is about
		// the value that broke the JSON, not about the placeholder.
		{`{"id": "{{ticket.idd}}", "x": }`, `the value of "x" is empty`},
		{`{"ticket_id": "{{ticket.id}}", "subject": "Printer "on fire""}`, `the value of "subject" probably contains a double quote`},
		{`ticket_id=1`, `not JSON at all`},
		{`{"subject": "x"`, `ends early`},
	}
	for _, tt := range tests {
		got := New().InvalidJSONHint([]byte(tt.body), -1)
		if !strings.Contains(got, tt.want) {
			t.Errorf("hint(%q) = %q, want it to contain %q", tt.body, got, tt.want)
		}
	}
	if got := New().InvalidJSONHint([]byte(`{"a":1}`), -1); got != "" {
		t.Errorf("hint for valid JSON = %q", got)
	}
}

func normalize(t *testing.T, body string, user string) (map[string]any, *core.Normalized) {
	t.Helper()
	n, err := New().Normalize(context.Background(), &core.Request{Body: []byte(body), AuthUsername: user})
	if err != nil {
		t.Fatalf("Normalize(%s): %v", body, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(n.Body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, n
}

func TestNormalizeRules(t *testing.T) {
	doc, n := normalize(t, `{"freshdesk_webhook":{"ticket_id":12,"ticket_group_id":3.0,"ticket_contact_email":"a@b","ticket_requester_email":"","ticket_cf_x":"","ticket_subject":""}}`, "")
	ticket := doc["ticket"].(map[string]any)
	if ticket["id"] != "12" || ticket["group_id"] != "3.0" {
		t.Errorf("ids not strings as sent: %v %v", ticket["id"], ticket["group_id"])
	}
	if ticket["requester_email"] != "a@b" {
		t.Errorf("contact_email alias lost to an empty requester_email: %v", ticket["requester_email"])
	}
	if ticket["subject"] != nil || ticket["custom_fields"].(map[string]any)["cf_x"] != nil {
		t.Errorf(`"" not mapped to null: %v`, ticket)
	}
	if doc["_meta"].(map[string]any)["auth_username"] != nil {
		t.Errorf("empty auth username must be null")
	}
	if ev := doc["event"].(map[string]any); ev["name"] != nil || len(ev["changes"].([]any)) != 0 {
		t.Errorf("no triggered_event must give a null event, got %v", ev)
	}

	// A template without the wrapper: keys are used as they are.
	doc, _ = normalize(t, `{"id":"5","ticket.subject":"S","triggered_event":"{ticket_action:updated}"}`, "u")
	if tk := doc["ticket"].(map[string]any); tk["id"] != "5" || tk["subject"] != "S" {
		t.Errorf("template keys: %v", tk)
	}
	if doc["event"].(map[string]any)["name"] != "updated" || doc["_meta"].(map[string]any)["shape"] != "template" {
		t.Errorf("template event/shape: %v", doc)
	}

	// Freshdesk's own plain-text placeholder is kept.
	doc, _ = normalize(t, `{"ticket_id":"1","ticket_description":"<b>x</b>","ticket_description_text":"from freshdesk"}`, "")
	if tk := doc["ticket"].(map[string]any); tk["description_text"] != "from freshdesk" {
		t.Errorf("description_text overwritten: %v", tk["description_text"])
	}

	// Delivery id: same body → same id; another body of the same ticket → another id.
	_, n2 := normalize(t, `{"freshdesk_webhook":{"ticket_id":12,"ticket_group_id":3.0,"ticket_contact_email":"a@b","ticket_requester_email":"","ticket_cf_x":"","ticket_subject":""}}`, "")
	_, n3 := normalize(t, `{"freshdesk_webhook":{"ticket_id":12,"ticket_status":"Closed"}}`, "")
	if n.DeliveryID != n2.DeliveryID || n.DeliveryID == n3.DeliveryID || !strings.HasPrefix(n3.DeliveryID, "freshdesk:12:") {
		t.Errorf("delivery ids %q %q %q", n.DeliveryID, n2.DeliveryID, n3.DeliveryID)
	}

	// A triggered_event that cannot be parsed is kept raw with a warning.
	doc, n = normalize(t, `{"ticket_id":"1","triggered_event":"{status:{from:4"}`, "")
	if doc["event"].(map[string]any)["raw"] != "{status:{from:4" || len(n.Warnings) != 1 {
		t.Errorf("unparsable event: %v %v", doc["event"], n.Warnings)
	}
}

func TestNormalizeInvalidJSONCarriesHint(t *testing.T) {
	_, err := New().Normalize(context.Background(), &core.Request{Body: []byte(`{"ticket_id": , "x": 1}`)})
	if core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(core.ErrorMessage(err), "unquoted placeholder") {
		t.Fatalf("got %v, want an invalid error with the placeholder hint", err)
	}
}
