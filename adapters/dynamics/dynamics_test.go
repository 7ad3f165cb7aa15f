package dynamics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/jsonevent/jsonevent/adapters/dynamics"
	"github.com/jsonevent/jsonevent/core"
)

func normalize(t *testing.T, a core.Adapter, req *core.Request) map[string]any {
	t.Helper()
	n, err := a.Normalize(context.Background(), req)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(n.Body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// execContext builds a RemoteExecutionContext with Target attributes.
func execContext(message, opID string, attrs string) []byte {
	return []byte(fmt.Sprintf(`{"MessageName":%q,"PrimaryEntityName":"contact","PrimaryEntityId":"c-1","OperationId":%q,"Mode":0,"Stage":20,
		"InputParameters":[{"key":"Target","value":{"__type":"Entity:http://schemas.microsoft.com/xrm/2011/Contracts","LogicalName":"contact","Id":"c-1","Attributes":%s,"FormattedValues":[]}}]}`, message, opID, attrs))
}

func TestTypedValues(t *testing.T) {
	attrs := `[
		{"key":"money","value":{"__type":"Money:http://schemas.microsoft.com/xrm/2011/Contracts","Value":12.50}},
		{"key":"option","value":{"__type":"OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts","Value":3}},
		{"key":"options","value":[{"__type":"OptionSetValue:x","Value":1},{"__type":"OptionSetValue:x","Value":2}]},
		{"key":"owner","value":{"__type":"EntityReference:x","Id":"u-1","LogicalName":"systemuser","Name":"Ana"}},
		{"key":"parent","value":{"Id":"a-1","LogicalName":"account","Name":null,"KeyAttributes":[]}},
		{"key":"when","value":"/Date(1715703611000)/"},
		{"key":"when_offset","value":"/Date(1715703611000+0200)/"},
		{"key":"when_ms","value":"/Date(1715703611123)/"},
		{"key":"not_a_date","value":"/Date(abc)/"},
		{"key":"aliased","value":{"__type":"AliasedValue:x","AttributeLogicalName":"name","EntityLogicalName":"account","Value":"Contoso"}},
		{"key":"bool","value":{"__type":"BooleanManagedProperty:x","Value":true,"CanBeChanged":true}},
		{"key":"rows","value":{"__type":"EntityCollection:x","Entities":[{"__type":"Entity:x","LogicalName":"task","Id":"t-1","Attributes":[{"key":"subject","value":"Call"}]}]}},
		{"key":"unknown","value":{"__type":"Thing:x","A":1}}
	]`
	doc := normalize(t, dynamics.New(), &core.Request{Body: execContext("Create", "op-1", attrs)})
	want := map[string]any{
		"money": 12.5, "option": float64(3), "options": []any{float64(1), float64(2)},
		"owner": "u-1", "owner_entity": "systemuser", "owner_name": "Ana",
		"parent": "a-1", "parent_entity": "account", "parent_name": nil,
		"when": "2024-05-14T16:20:11Z", "when_offset": "2024-05-14T16:20:11Z", "when_ms": "2024-05-14T16:20:11.123Z",
		"not_a_date": "/Date(abc)/", "aliased": "Contoso", "bool": true,
		"rows": []any{map[string]any{"subject": "Call"}}, "unknown": map[string]any{"A": float64(1)},
	}
	if got := doc["record"]; !reflect.DeepEqual(got, want) {
		t.Errorf("record =\n%v\nwant\n%v", got, want)
	}
	if doc["mode"] != "sync" || doc["stage"] != float64(20) || doc["record_id"] != "c-1" {
		t.Errorf("context fields: %v %v %v", doc["mode"], doc["stage"], doc["record_id"])
	}
}

func TestMergeSnapshots(t *testing.T) {
	store := dynamics.NewMemorySnapshots()
	a, err := dynamics.New().Configure(map[string]any{"merge_snapshots": true}, core.AdapterDeps{Snapshots: store})
	if err != nil {
		t.Fatal(err)
	}
	req := func(trigger string, body []byte) *core.Request {
		return &core.Request{TriggerID: trigger, Body: body}
	}
	normalize(t, a, req("t1", execContext("Create", "op-1", `[{"key":"fullname","value":"James"},{"key":"emailaddress1","value":"j@example.com"},{"key":"telephone1","value":"1"}]`)))
	doc := normalize(t, a, req("t1", execContext("Update", "op-2", `[{"key":"telephone1","value":"2"}]`)))
	rec := doc["record"].(map[string]any)
	if rec["fullname"] != "James" || rec["emailaddress1"] != "j@example.com" || rec["telephone1"] != "2" {
		t.Errorf("merged record = %v", rec)
	}
	if !reflect.DeepEqual(doc["changed"], []any{"telephone1"}) || doc["_meta"].(map[string]any)["snapshot"] != "merged" {
		t.Errorf("changed %v snapshot %v", doc["changed"], doc["_meta"].(map[string]any)["snapshot"])
	}
	// Another trigger never sees t1's snapshot.
	doc = normalize(t, a, req("t2", execContext("Update", "op-3", `[{"key":"telephone1","value":"3"}]`)))
	if _, leaked := doc["record"].(map[string]any)["fullname"]; leaked {
		t.Errorf("snapshot leaked across triggers: %v", doc["record"])
	}
	// Delete uses the snapshot and removes it.
	del := []byte(`{"MessageName":"Delete","PrimaryEntityName":"contact","PrimaryEntityId":"c-1","OperationId":"op-4",
		"InputParameters":[{"key":"Target","value":{"__type":"EntityReference:x","Id":"c-1","LogicalName":"contact","Name":null}}],"PreEntityImages":[]}`)
	before := store.Len()
	doc = normalize(t, a, req("t1", del))
	if doc["record"].(map[string]any)["fullname"] != "James" || store.Len() != before-1 {
		t.Errorf("delete: record %v, %d snapshots left of %d", doc["record"], store.Len(), before)
	}
	if doc["target"].(map[string]any)["id"] != "c-1" {
		t.Errorf("delete target = %v", doc["target"])
	}
}

type failingStore struct{}

func (failingStore) UpdateSnapshot(context.Context, string, func([]byte) ([]byte, error)) error {
	return errors.New("database is locked")
}

func TestSnapshotStoreFailureIsRetryable(t *testing.T) {
	a, err := dynamics.New().Configure(map[string]any{"merge_snapshots": true}, core.AdapterDeps{Snapshots: failingStore{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Normalize(context.Background(), &core.Request{Body: execContext("Update", "op", `[]`)})
	if core.ErrorCode(err) != core.CodeUnavailable {
		t.Errorf("store failure gave %v, want unavailable (Dataverse retries 503 once)", err)
	}
}

func TestMergeSnapshotsConcurrent(t *testing.T) {
	a, err := dynamics.New().Configure(map[string]any{"merge_snapshots": "true"}, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := execContext("Update", fmt.Sprint("op-", i), fmt.Sprintf(`[{"key":"col%d","value":%d}]`, i, i))
			if _, err := a.Normalize(context.Background(), &core.Request{TriggerID: "t", Body: body}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	doc := normalize(t, a, &core.Request{TriggerID: "t", Body: execContext("Update", "op-last", `[]`)})
	if n := len(doc["record"].(map[string]any)); n != 16 {
		t.Errorf("after 16 concurrent updates the snapshot has %d columns, want 16 (an update was lost)", n)
	}
}

func TestMemorySnapshotsBounded(t *testing.T) {
	s := &dynamics.MemorySnapshots{Max: 3}
	for i := 0; i < 10; i++ {
		if err := s.UpdateSnapshot(context.Background(), fmt.Sprint(i), func([]byte) ([]byte, error) { return []byte("{}"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
}

func TestWebAPIIdentify(t *testing.T) {
	tests := []struct {
		name, body     string
		opts           map[string]any
		entity, record any
	}{
		{"context set", `{"@odata.context":"https://o/api/data/v9.2/$metadata#opportunities/$entity","opportunityid":"11111111-2222-3333-4444-555555555555","_parentaccountid_value":"22222222-2222-3333-4444-555555555555"}`, nil, "opportunity", "11111111-2222-3333-4444-555555555555"},
		{"only guid id", `{"contactid":"11111111-2222-3333-4444-555555555555","processid":"22222222-2222-3333-4444-555555555555","_ownerid_value":"33333333-2222-3333-4444-555555555555"}`, nil, "contact", "11111111-2222-3333-4444-555555555555"},
		{"ambiguous", `{"contactid":"11111111-2222-3333-4444-555555555555","accountid":"22222222-2222-3333-4444-555555555555"}`, nil, nil, nil},
		{"option", `{"contactid":"11111111-2222-3333-4444-555555555555","accountid":"22222222-2222-3333-4444-555555555555"}`, map[string]any{"entity": "Account"}, "account", "22222222-2222-3333-4444-555555555555"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := dynamics.New().Configure(tt.opts, core.AdapterDeps{})
			if err != nil {
				t.Fatal(err)
			}
			doc := normalize(t, a, &core.Request{Header: http.Header{}, Body: []byte(tt.body)})
			if doc["entity_name"] != tt.entity || doc["record_id"] != tt.record {
				t.Errorf("entity %v record %v, want %v %v", doc["entity_name"], doc["record_id"], tt.entity, tt.record)
			}
		})
	}
}

func TestWebAPIDeliveryID(t *testing.T) {
	h := http.Header{"X-Ms-Workflow-Run-Id": {"run-1"}}
	n1, _ := dynamics.New().Normalize(context.Background(), &core.Request{Header: h, Body: []byte(`{"a":1}`)})
	n2, _ := dynamics.New().Normalize(context.Background(), &core.Request{Header: h, Body: []byte(`{"a":1}`)})
	n3, _ := dynamics.New().Normalize(context.Background(), &core.Request{Header: h, Body: []byte(`{"a":2}`)})
	if n1.DeliveryID != n2.DeliveryID || n1.DeliveryID == n3.DeliveryID {
		t.Errorf("an engine retry must repeat the id and a loop's next item must not: %q %q %q", n1.DeliveryID, n2.DeliveryID, n3.DeliveryID)
	}
}

func TestPluginDeliveryIDAndTruncation(t *testing.T) {
	zeroOp := []byte(`{"MessageName":"Update","PrimaryEntityName":"contact","PrimaryEntityId":"c-1","OperationId":"00000000-0000-0000-0000-000000000000","CorrelationId":"corr-1","Stage":40,"InputParameters":[]}`)
	tests := []struct {
		name      string
		body      []byte
		header    http.Header
		id        string
		truncated bool
	}{
		{"operation id", execContext("Update", "op-9", `[]`), nil, "op-9", false},
		{"zero operation id", zeroOp, nil, "corr-1:Update:c-1:40:", false},
		{"size exceeded", execContext("Update", "op-9", `[]`), http.Header{"X-Ms-Dynamics-Msg-Size-Exceeded": {""}}, "op-9", true},
		{"size header false", execContext("Update", "op-9", `[]`), http.Header{"X-Ms-Dynamics-Msg-Size-Exceeded": {"false"}}, "op-9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := dynamics.New().Normalize(context.Background(), &core.Request{Header: tt.header, Body: tt.body})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Meta struct {
					Truncated bool `json:"payload_truncated"`
				} `json:"_meta"`
			}
			if err := json.Unmarshal(n.Body, &doc); err != nil {
				t.Fatal(err)
			}
			if n.DeliveryID != tt.id || doc.Meta.Truncated != tt.truncated || (len(n.Warnings) > 0) != tt.truncated {
				t.Errorf("id %q truncated %v warnings %q, want %q %v", n.DeliveryID, doc.Meta.Truncated, n.Warnings, tt.id, tt.truncated)
			}
		})
	}
}

// A maker who builds the HTTP action's body from the "value" of Dataverse
// "List rows" sends {"value":[rows]} (no @odata.context) or the bare list;
// both are collections of rows, not one row with a column named value.
func TestWebAPICollectionWithoutContext(t *testing.T) {
	rows := `[{"contactid":"11111111-2222-4333-8444-555555555555","fullname":"Ana"},{"contactid":"66666666-2222-4333-8444-555555555555","fullname":"Ben"}]`
	for _, body := range []string{`{"value":` + rows + `}`, rows} {
		doc := normalize(t, dynamics.New(), &core.Request{Body: []byte(body)})
		recs, _ := doc["records"].([]any)
		rec, _ := doc["record"].(map[string]any)
		if len(recs) != 2 || rec["fullname"] != "Ana" || doc["entity_name"] != "contact" || doc["record_id"] != "11111111-2222-4333-8444-555555555555" {
			t.Errorf("%s: records %d, record %v, entity %v, id %v; want 2 rows, Ana, contact", body, len(recs), rec, doc["entity_name"], doc["record_id"])
		}
	}
	// A bare key/value list is still refused (a relay that posts only InputParameters).
	if _, err := dynamics.New().Normalize(context.Background(), &core.Request{Body: []byte(`[{"key":"Target","value":null}]`)}); core.ErrorCode(err) != core.CodeInvalid {
		t.Errorf("key/value list: err %v, want invalid", err)
	}
}

// The Power Automate Dataverse connector (trigger "When a row is added,
// modified or deleted", "Get a row by ID", "List rows") gives a choice
// column's label as _x_label and a lookup's table as _x_type, often without
// the OData FormattedValue annotation.
func TestWebAPIConnectorLabels(t *testing.T) {
	body := `{"@odata.type":"#Microsoft.Dynamics.CRM.account","accountid":"78914942-34cb-ed11-b596-0022481d68cd","statecode":0,"_statecode_label":"Active",
		"industrycode":7,"_industrycode_label":"Consulting","prioritycode":1,"prioritycode@OData.Community.Display.V1.FormattedValue":"High","_prioritycode_label":"High",
		"_ownerid_value":"75c2dd85-e89e-e711-8122-000d3aa2331c","_ownerid_type":"systemusers"}`
	doc := normalize(t, dynamics.New(), &core.Request{Body: []byte(body)})
	rec := doc["record"].(map[string]any)
	for k, want := range map[string]any{"statecode_formatted": "Active", "industrycode_formatted": "Consulting", "prioritycode_formatted": "High", "ownerid": "75c2dd85-e89e-e711-8122-000d3aa2331c"} {
		if rec[k] != want {
			t.Errorf("record.%s = %v, want %v", k, rec[k], want)
		}
	}
	want := []any{"accountid", "industrycode", "ownerid", "prioritycode", "statecode"}
	if !reflect.DeepEqual(doc["changed"], want) {
		t.Errorf("changed = %v, want %v (connector helper keys are not columns)", doc["changed"], want)
	}
}
