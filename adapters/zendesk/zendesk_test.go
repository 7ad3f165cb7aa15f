package zendesk

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core"
)

func normalize(t *testing.T, body string, h http.Header) (map[string]any, *core.Normalized) {
	t.Helper()
	n, err := New().Normalize(context.Background(), &core.Request{Body: []byte(body), Header: h})
	if err != nil {
		t.Fatalf("Normalize(%s): %v", body, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(n.Body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, n
}

func headers(webhook, invocation string) http.Header {
	h := http.Header{}
	if webhook != "" {
		h.Set(headerWebhookID, webhook)
	}
	if invocation != "" {
		h.Set(headerInvocationID, invocation)
	}
	return h
}

// Ensure a retry (the same invocation) is a duplicate and a new firing of
// the trigger (a new invocation) is not; an event is keyed on its own id.
func TestDeliveryID(t *testing.T) {
	template := `{"ticket":{"id":"1"}}`
	event := `{"type":"zen:event-type:user.created","id":"e-1","detail":{}}`
	tests := []struct {
		name, body string
		h          http.Header
		want       string
		warned     bool
	}{
		{"trigger", template, headers("W", "I1"), "zendesk:W:I1", false},
		{"trigger retried", template, headers("W", "I1"), "zendesk:W:I1", false},
		{"trigger fired again", template, headers("W", "I2"), "zendesk:W:I2", false},
		{"no webhook id", template, headers("", "I1"), "zendesk::I1", false},
		{"not from zendesk", template, nil, "", true},
		{"event", event, headers("W", "I9"), "zendesk:event:e-1", false},
		{"event without id", `{"type":"zen:event-type:user.created","detail":{}}`, headers("W", "I9"), "zendesk:W:I9", false},
		{"event without anything", `{"type":"zen:event-type:user.created"}`, nil, "", true},
		{"long invocation", template, headers("W", strings.Repeat("x", 300)), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, n := normalize(t, tt.body, tt.h)
			if tt.want != "" && n.DeliveryID != tt.want {
				t.Errorf("delivery id %q, want %q", n.DeliveryID, tt.want)
			}
			if len(n.DeliveryID) > 255 {
				t.Errorf("delivery id of %d bytes", len(n.DeliveryID))
			}
			meta := doc["_meta"].(map[string]any)
			if want := any(n.DeliveryID); n.DeliveryID == "" && meta["delivery_id"] != nil || n.DeliveryID != "" && meta["delivery_id"] != want {
				t.Errorf("_meta.delivery_id = %v, want %q", meta["delivery_id"], n.DeliveryID)
			}
			warned := false
			for _, w := range n.Warnings {
				warned = warned || strings.Contains(w, headerInvocationID)
			}
			if warned != tt.warned {
				t.Errorf("warnings %q, want a missing-invocation warning: %v", n.Warnings, tt.warned)
			}
		})
	}
}

// Ensure the event envelope is read, also with the slash Zendesk's own
// tables use in a few types, and a subject that is not zen:type:id.
func TestEvent(t *testing.T) {
	tests := []struct {
		body                           string
		name, domain, subjType, subjID any
		shape                          string
		ticket                         bool
	}{
		{`{"type":"zen:event-type:user.merged","subject":"zen:user:42","account_id":7}`, "user.merged", "user", "user", "42", "event", false},
		{`{"type":"zen:event-type/user.identity_changed","subject":"zen:user:42"}`, "user.identity_changed", "user", "user", "42", "event", false},
		{`{"type":"zen:event-type:ticket.status_changed","subject":"zen:ticket:9","detail":{"id":9,"tags":["a"]}}`, "ticket.status_changed", "ticket", "ticket", "9", "event", true},
		{`{"type":"zen:event-type:organization.created","subject":"odd"}`, "organization.created", "organization", nil, nil, "event", false},
		{`{"type":"zen:event-type:ticket.created","subject":42,"detail":"x"}`, "ticket.created", "ticket", nil, nil, "event", false},
	}
	for _, tt := range tests {
		doc, _ := normalize(t, tt.body, nil)
		ev := doc["event"].(map[string]any)
		got := []any{ev["name"], ev["domain"], ev["subject_type"], ev["subject_id"], doc["shape"]}
		want := []any{tt.name, tt.domain, tt.subjType, tt.subjID, tt.shape}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", tt.body, got, want)
		}
		if (doc["ticket"] != nil) != tt.ticket {
			t.Errorf("%s: ticket = %v", tt.body, doc["ticket"])
		}
	}
	doc, _ := normalize(t, `{"type":"zen:event-type:user.merged","account_id":7}`, nil)
	if doc["_meta"].(map[string]any)["account_id"] != "7" {
		t.Errorf("account id from the body: %v", doc["_meta"])
	}
	doc, _ = normalize(t, `{"type":"zen:event-type:user.merged","account_id":7}`, http.Header{headerAccountID: {"8"}})
	if doc["_meta"].(map[string]any)["account_id"] != "8" {
		t.Errorf("account id from the header: %v", doc["_meta"])
	}
}

// Ensure the ticket rules: "" is null, id numbers are strings, tags a list;
// the template itself stays as sent.
func TestTicket(t *testing.T) {
	doc, n := normalize(t, `{"ticket":{"id":1042,"group_id":"","org_id":7.0,"count":3,"tags":"a  b,c","subject":""},"x":""}`, headers("W", "I"))
	want := map[string]any{"id": "1042", "group_id": nil, "org_id": "7.0", "count": 3.0, "tags": []any{"a", "b", "c"}, "subject": nil}
	if !reflect.DeepEqual(doc["ticket"], want) {
		t.Errorf("ticket = %v, want %v", doc["ticket"], want)
	}
	tmpl := doc["template"].(map[string]any)
	if tmpl["x"] != "" || tmpl["ticket"].(map[string]any)["tags"] != "a  b,c" {
		t.Errorf("template changed: %v", tmpl)
	}
	if len(n.Warnings) != 0 || doc["shape"] != "template" {
		t.Errorf("warnings %q, shape %v", n.Warnings, doc["shape"])
	}
	for in, want := range map[string][]any{`["x", 1, null, {"a":1}, " "]`: {"x", "1"}, `null`: {}, `5`: {"5"}, `""`: {}, `true`: {}} {
		doc, _ := normalize(t, `{"ticket":{"tags":`+in+`}}`, nil)
		if got := doc["ticket"].(map[string]any)["tags"]; !reflect.DeepEqual(got, want) {
			t.Errorf("tags %s = %v, want %v", in, got, want)
		}
	}
	doc, n = normalize(t, `{"ticketId":"1"}`, headers("W", "I"))
	if doc["ticket"] != nil || len(n.Warnings) != 1 || !strings.Contains(n.Warnings[0], `"ticket"`) {
		t.Errorf("flat body: ticket %v, warnings %q", doc["ticket"], n.Warnings)
	}
}

// Ensure what is not an object is refused with a message for the admin, and
// a body that is not JSON carries the hint.
func TestRefusals(t *testing.T) {
	for body, want := range map[string]string{
		`[1]`:                  "must be a JSON object, not a list",
		`"x"`:                  "not a string",
		`{"id": , "a": 1}`:     "put every placeholder in double quotes",
		`ticket_id=1`:          "set the webhook's request format to JSON",
		``:                     "the body is empty",
		`{"ticket": {"id": 1}`: "put every placeholder in double quotes",
	} {
		_, err := New().Normalize(context.Background(), &core.Request{Body: []byte(body)})
		if core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(core.ErrorMessage(err), want) {
			t.Errorf("%q: %v, want invalid with %q", body, err, want)
		}
	}
	if h := New().InvalidJSONHint([]byte(`{"a":1}`), -1); h != "" {
		t.Errorf("hint for valid JSON: %q", h)
	}
}
