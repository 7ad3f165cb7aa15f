package genesys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/jsonevent/jsonevent/adapters/genesys"
	"github.com/jsonevent/jsonevent/core"
)

func TestUnresolvedReferences(t *testing.T) {
	tests := []struct {
		value      string
		unresolved bool
	}{
		{`"${input.csat}"`, true},
		{`"$!{input.csat}"`, true},
		{`" ${input.x_1-a} "`, true},
		{`"$esc.jsonString(${input.comment})"`, true},
		{`"$esc.url(${input.q})"`, true},
		{`"$input.csat"`, true},
		{`"$!input.agent.name"`, true},
		{`"$esc.jsonString($input.comment)"`, true},
		{`"$esc.jsonString"`, false},
		{`"$price.total"`, false},
		{`"pay $input.x now"`, false},
		{`"price: ${input.x}"`, false},
		{`"$5"`, false},
		{`"${}"`, false},
		{`"{input.x}"`, false},
		{`5`, false},
	}
	for _, tt := range tests {
		n, err := genesys.New().Normalize(context.Background(), &core.Request{Body: []byte(`{"v":` + tt.value + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Input map[string]any `json:"input"`
		}
		if err := json.Unmarshal(n.Body, &doc); err != nil {
			t.Fatal(err)
		}
		if got := doc.Input["v"] == nil; got != tt.unresolved {
			t.Errorf("%s: null = %v, want %v", tt.value, got, tt.unresolved)
		}
		if (len(n.Warnings) == 1) != tt.unresolved {
			t.Errorf("%s: warnings %q", tt.value, n.Warnings)
		}
	}
}

func TestNothingCoerced(t *testing.T) {
	body := `{"csat":"5","ok":"false","n":5.10,"list":["${input.a}","x"],"ani":"tel:18005550100;ext=1"}`
	n, err := genesys.New().Normalize(context.Background(), &core.Request{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(n.Body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	in := doc["input"]
	if in["csat"] != "5" || in["ok"] != "false" || in["n"] != json.Number("5.10") {
		t.Errorf("values were coerced: %v", in)
	}
	if !reflect.DeepEqual(in["list"], []any{nil, "x"}) {
		t.Errorf("list item not resolved: %v", in["list"])
	}
	if doc["e164"]["ani"] != "+18005550100" {
		t.Errorf("e164 = %v", doc["e164"])
	}
}

func TestConfigure(t *testing.T) {
	for _, bad := range []map[string]any{{"echo": []any{"eventId"}}, {"echo": []any{"a", "a"}}, {"echo": 5}, {"dedup_inputs": []any{1}}, {"ech": []any{"a"}}} {
		if _, err := genesys.New().Configure(bad, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
			t.Errorf("Configure(%v) = %v, want invalid", bad, err)
		}
	}
}

func TestDedupInputs(t *testing.T) {
	a, err := genesys.New().Configure(map[string]any{"dedup_inputs": []any{"conversationId", "surveyId"}}, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Inin-Correlation-Id": {"corr-1"}}
	tests := []struct{ body, want string }{
		{`{"conversationId":"c1","surveyId":"s1"}`, "genesys:c1/s1"},
		{`{"conversationId":"c1","surveyId":7}`, "genesys:c1/7"},
		{`{"conversationId":"c1","surveyId":"${input.s}"}`, "corr-1"},
		{`{"conversationId":"c1"}`, "corr-1"},
	}
	for _, tt := range tests {
		n, err := a.Normalize(context.Background(), &core.Request{Header: h, Body: []byte(tt.body)})
		if err != nil {
			t.Fatal(err)
		}
		if n.DeliveryID != tt.want {
			t.Errorf("DeliveryID(%s) = %q, want %q", tt.body, n.DeliveryID, tt.want)
		}
	}
}

func TestResponder(t *testing.T) {
	a, err := genesys.New().Configure(map[string]any{"echo": []any{"csat", "tags", "rows", "obj", "missing", "bad"}}, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	r := a.(core.Responder)
	status, body := r.Accept(&core.Accepted{
		EventID: "evt_01", TriggerID: "trg_1", Duplicate: true,
		Fields: map[string][]byte{"csat": []byte("4"), "tags": []byte(`["a","b"]`), "rows": []byte(`[{"a":1}]`), "obj": []byte(`{"a":"<b>"}`), "bad": []byte(`{`)},
	})
	want := `{"status":"accepted","eventId":"evt_01","triggerId":"trg_1","accepted":true,"duplicate":true,"csat":4,"tags":["a","b"],"rows":"[{\"a\":1}]","obj":"{\"a\":\"<b>\"}","missing":null,"bad":null}`
	if status != 200 || string(body) != want {
		t.Errorf("Accept = %d %s\nwant 200 %s", status, body, want)
	}
	status, body = r.Refuse(401, core.CodeUnauthorized, `unknown token for user "cx"`)
	want = `{"status":"error","error":"unauthorized","code":"unauthorized","message":"unknown token for user \"cx\""}`
	if status != 401 || string(body) != want {
		t.Errorf("Refuse = %d %s\nwant 401 %s", status, body, want)
	}
	// The sample's expected reply: status, eventId and duplicate.
	status, body = genesys.New().Accept(&core.Accepted{EventID: "evt_01HXYZ8K2M3N4P5Q6R7S8T9V0W", TriggerID: "t"})
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || status != 200 || m["status"] != "accepted" || m["eventId"] != "evt_01HXYZ8K2M3N4P5Q6R7S8T9V0W" || m["duplicate"] != false {
		t.Errorf("reply %d %s does not match the shared sample's example body", status, body)
	}
}
