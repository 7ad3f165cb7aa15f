package servicenow_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/adapters/servicenow"
	"github.com/jsonevent/jsonevent/core"
)

func normalize(t *testing.T, a core.Adapter, body string) (map[string]any, *core.Normalized) {
	t.Helper()
	n, err := a.Normalize(context.Background(), &core.Request{Body: []byte(body)})
	if err != nil {
		t.Fatalf("Normalize(%s): %v", body, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(n.Body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, n
}

func configure(t *testing.T, opts map[string]any) core.Adapter {
	t.Helper()
	a, err := servicenow.New().Configure(opts, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRecordRules(t *testing.T) {
	tests := []struct {
		name  string
		value string // JSON of one field value
		want  map[string]any
	}{
		{"link+value", `{"link":"https://i/api/now/table/sys_user/abc","value":"abc"}`, map[string]any{"f": "abc", "f_link": "https://i/api/now/table/sys_user/abc"}},
		{"display+link", `{"display_value":"Fred","link":"https://i/api/now/table/sys_user/f5a3?x=1"}`, map[string]any{"f": "f5a3", "f_display": "Fred", "f_link": "https://i/api/now/table/sys_user/f5a3?x=1"}},
		{"display+value", `{"display_value":"High","value":"2"}`, map[string]any{"f": "2", "f_display": "High"}},
		{"empty reference string", `""`, map[string]any{"f": nil}},
		{"empty reference object", `{"link":"","value":""}`, map[string]any{"f": nil}},
		{"glide date", `"2024-05-14 09:12:44"`, map[string]any{"f": "2024-05-14T09:12:44Z"}},
		{"not a date", `"2024-05-14 25:12:44"`, map[string]any{"f": "2024-05-14 25:12:44"}},
		{"date only stays", `"2024-05-14"`, map[string]any{"f": "2024-05-14"}},
		{"xml escapes stay", `"a &amp; b"`, map[string]any{"f": "a &amp; b"}},
		{"true stays a string", `"true"`, map[string]any{"f": "true"}},
		{"other object kept", `{"a":"","b":{"value":"x","extra":1}}`, map[string]any{"f": map[string]any{"a": nil, "b": map[string]any{"value": "x", "extra": float64(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := normalize(t, servicenow.New(), `{"f":`+tt.value+`}`)
			if got := doc["record"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("record = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	a := configure(t, map[string]any{"bool_fields": []any{"u_vip"}, "xml_unescape": "short_description", "table": "change_request"})
	doc, _ := normalize(t, a, `{"u_vip":"true","active":"false","short_description":"a &amp; &lt;b&gt;","comments":"c &amp; d"}`)
	rec := doc["record"].(map[string]any)
	if rec["u_vip"] != true || rec["active"] != "false" {
		t.Errorf("bool_fields replaces the defaults: %v", rec)
	}
	if rec["short_description"] != "a & <b>" || rec["comments"] != "c &amp; d" {
		t.Errorf("xml_unescape only on listed fields: %v", rec)
	}
	if doc["table"] != "change_request" {
		t.Errorf("table option: %v", doc["table"])
	}
	for _, bad := range []map[string]any{{"bool_fields": 3}, {"xml_unescape": []any{""}}, {"table": []any{}}, {"tabel": "x"}} {
		if _, err := servicenow.New().Configure(bad, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
			t.Errorf("Configure(%v) = %v, want invalid", bad, err)
		}
	}
	_, err := servicenow.New().Configure(map[string]any{"tabel": "x"}, core.AdapterDeps{})
	if !strings.Contains(core.ErrorMessage(err), `"tabel"`) || !strings.Contains(core.ErrorMessage(err), "table") {
		t.Errorf("unknown option message should name it and the known ones: %v", err)
	}
}

func TestDisplayModeLeavesDates(t *testing.T) {
	doc, n := normalize(t, servicenow.New(), `{"result":[{"opened_at":"2024-05-14 09:12:44","user":{"display_value":"Fred","link":"https://i/x/sys_user/f5"}}]}`)
	rec := doc["record"].(map[string]any)
	if rec["opened_at"] != "2024-05-14 09:12:44" || len(n.Warnings) != 1 {
		t.Errorf("display-mode date converted or not warned: %v %v", rec, n.Warnings)
	}
	if doc["_meta"].(map[string]any)["display_values"] != true {
		t.Errorf("display_values not flagged")
	}
}

func TestDeliveryID(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"sys_id":"abc","sys_mod_count":"4","sys_updated_on":"2015-11-01 22:37:27"}`, "abc:4:"},
		{`{"result":{"sys_id":"abc","sys_updated_on":"2015-11-01 22:37:27"}}`, "abc:2015-11-01T22:37:27Z:"},
		{`{"sys_id":{"value":"abc","display_value":"abc"},"sys_mod_count":{"value":"7","display_value":"7"}}`, "abc:7:"},
		{`{"result":[{"sys_id":"a"},{"sys_id":"b"}]}`, ""},
		{`{"number":"INC1"}`, ""},
	}
	for _, tt := range tests {
		_, n := normalize(t, servicenow.New(), tt.body)
		if tt.want == "" && n.DeliveryID != "" || !strings.HasPrefix(n.DeliveryID, tt.want) {
			t.Errorf("DeliveryID(%s) = %q, want %q…", tt.body, n.DeliveryID, tt.want)
		}
	}
	// The record version alone does not tell events apart: an update made
	// with GlideRecord.autoSysFields(false) changes neither sys_mod_count nor
	// sys_updated_on, and an "after delete" business rule sends the version
	// of the last insert or update. Those are new events, not retries.
	for _, pair := range [][2]string{
		{`{"sys_id":"abc","sys_mod_count":"4","state":"1"}`, `{"sys_id":"abc","sys_mod_count":"4","state":"2"}`},
		{`{"operation":"insert","sys_id":"abc","sys_mod_count":"0"}`, `{"operation":"delete","sys_id":"abc","sys_mod_count":"0"}`},
	} {
		_, a := normalize(t, servicenow.New(), pair[0])
		_, b := normalize(t, servicenow.New(), pair[1])
		_, retry := normalize(t, servicenow.New(), pair[0])
		if a.DeliveryID == b.DeliveryID || a.DeliveryID != retry.DeliveryID {
			t.Errorf("same version, other body: ids %q and %q (retry %q), want distinct and the retry equal", a.DeliveryID, b.DeliveryID, retry.DeliveryID)
		}
	}
	// Without a version the id still tells two different bodies apart and
	// keeps a retry of the same body.
	_, n1 := normalize(t, servicenow.New(), `{"sys_id":"abc","state":"1"}`)
	_, n2 := normalize(t, servicenow.New(), `{"sys_id":"abc","state":"2"}`)
	_, n3 := normalize(t, servicenow.New(), `{"sys_id":"abc","state":"1"}`)
	if n1.DeliveryID == n2.DeliveryID || n1.DeliveryID != n3.DeliveryID || !strings.HasPrefix(n1.DeliveryID, "abc:") {
		t.Errorf("hash ids %q %q %q", n1.DeliveryID, n2.DeliveryID, n3.DeliveryID)
	}
}

func TestDerivedKeyNeverOverwrites(t *testing.T) {
	doc, n := normalize(t, servicenow.New(), `{"caller_id":{"display_value":"Fred","value":"f5"},"caller_id_display":"mine"}`)
	if doc["record"].(map[string]any)["caller_id_display"] != "mine" || len(n.Warnings) != 1 {
		t.Errorf("derived key overwrote the record's own: %v %v", doc["record"], n.Warnings)
	}
}

func TestShapes(t *testing.T) {
	tests := []struct {
		body, shape string
		count       float64
		table       any
	}{
		{`{"records":[{"number":"INC1"},{"number":"INC2"}]}`, "records", 2, nil},
		{`{"incident":{"sys_id":"abc","number":"INC1"}}`, "wrapped", 1, "incident"},
		{`{"incident":{"sys_id":"abc"},"extra":1}`, "flat", 1, nil},
		{`{"caller_id":{"link":"https://i/x/sys_user/a","value":"a"}}`, "flat", 1, nil},
		{`{"meta":{"owner":"me"}}`, "flat", 1, nil},
		{`[{"number":"INC1"}]`, "list", 1, nil},
	}
	for _, tt := range tests {
		doc, _ := normalize(t, servicenow.New(), tt.body)
		meta := doc["_meta"].(map[string]any)
		if meta["shape"] != tt.shape || doc["record_count"] != tt.count || doc["table"] != tt.table {
			t.Errorf("%s: shape %v count %v table %v, want %s %v %v", tt.body, meta["shape"], doc["record_count"], doc["table"], tt.shape, tt.count, tt.table)
		}
	}
}
