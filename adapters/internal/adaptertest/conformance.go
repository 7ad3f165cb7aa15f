package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core"
)

// Garbage returns the hostile bodies every adapter must survive: not JSON,
// wrong top-level types, very deep nesting, very large documents, odd
// strings and numbers.
func Garbage() map[string][]byte {
	deepArr := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	deepObj := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	tooDeep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	var wide bytes.Buffer
	wide.WriteString("{")
	for i := 0; i < 10000; i++ {
		if i > 0 {
			wide.WriteByte(',')
		}
		fmt.Fprintf(&wide, `"k%d":"%d"`, i, i)
	}
	wide.WriteString("}")
	return map[string][]byte{
		"empty":           {},
		"space":           []byte("  \n"),
		"open brace":      []byte("{"),
		"not json":        []byte("ticket_id=1&subject=x"),
		"xml":             []byte(`<?xml version="1.0"?><a>1</a>`),
		"null":            []byte("null"),
		"number":          []byte("1e999"),
		"string":          []byte(`"${input.x}"`),
		"true":            []byte("true"),
		"empty list":      []byte("[]"),
		"list of junk":    []byte(`[1,"a",null,{"result":3}]`),
		"empty object":    []byte("{}"),
		"two values":      []byte(`{} {}`),
		"dup keys":        []byte(`{"a":1,"a":2,"MessageName":"x","MessageName":null}`),
		"bad utf8":        []byte("{\"a\":\"\xff\xfe\",\"\xc3\":1}"),
		"nul":             []byte("{\"a\":\"\\u0000\"}"),
		"unquoted":        []byte(`{"id": , "subject": Printer on fire}`),
		"placeholder":     []byte(`{"id": {{ticket.id}}}`),
		"velocity":        []byte(`{"csat": ${input.csat}}`),
		"deep array":      []byte(deepArr),
		"deep object":     []byte(deepObj),
		"too deep":        []byte(tooDeep),
		"wide object":     wide.Bytes(),
		"huge string":     []byte(`{"freshdesk_webhook":{"ticket_description":"` + strings.Repeat("<p>x</p>", 40000) + `"}}`),
		"result junk":     []byte(`{"result":[1,2]}`),
		"result object":   []byte(`{"result":{"a":{"link":5,"value":{}}, "b":{"display_value":[],"link":"/"}}}`),
		"context junk":    []byte(`{"MessageName":1,"InputParameters":{"key":"Target"},"PreEntityImages":[{"key":1}],"Mode":"x"}`),
		"target junk":     []byte(`{"MessageName":"Update","InputParameters":[{"key":"Target","value":{"__type":"Entity:x","Attributes":[{"key":"a","value":{"__type":"Money:y"}}],"LogicalName":7}}]}`),
		"odata junk":      []byte(`{"@odata.context":3,"value":[1,{"_x_value@":1,"@":2,"_a_value":null,"_a_value@OData.Community.Display.V1.FormattedValue":[]}]}`),
		"fd junk":         []byte(`{"freshdesk_webhook":{"ticket_tags":[1,{"a":1}],"triggered_event":"{{{{:}}}}","ticket_id":[],"ticket_cf_x":{}}}`),
		"fd event":        []byte(`{"triggered_event":{"status":{"from":{"x":1},"to":null}}}`),
		"wcf dates":       []byte(`{"MessageName":"Create","PrimaryEntityName":"a","OperationCreatedOn":"/Date(99999999999999999)/","Stage":"1e3"}`),
		"big numbers":     []byte(`{"ticket_id":123456789012345678901234567890,"csat":-0.0e-0}`),
		"controls in key": []byte("{\"\\n\\t\":\"\\\"\"}"),
	}
}

// Check normalises req with a, recovering a panic, and reports any broken
// promise of the adapter contract: an error must be an *core.Error with a
// code and a message, a result must have a JSON body. It returns the result.
func Check(t testing.TB, a core.Adapter, req *core.Request) (n *core.Normalized, err error) {
	t.Helper()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s panicked on %.200q: %v", a.Name(), req.Body, r)
			}
		}()
		n, err = a.Normalize(context.Background(), req)
	}()
	if err != nil {
		var ce *core.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: error is not a *core.Error: %v", a.Name(), err)
		}
		if ce.Code != core.CodeInvalid && ce.Code != core.CodeUnavailable {
			t.Errorf("%s: error code %q, want invalid (or unavailable for a store failure)", a.Name(), ce.Code)
		}
		if strings.TrimSpace(ce.Message) == "" {
			t.Errorf("%s: error without a message", a.Name())
		}
		if n != nil {
			t.Errorf("%s: result and error both returned", a.Name())
		}
		return nil, err
	}
	if n == nil {
		t.Fatalf("%s: nil result without an error", a.Name())
	}
	if !json.Valid(n.Body) {
		t.Fatalf("%s: Normalized.Body is not valid JSON: %.300q", a.Name(), n.Body)
	}
	if len(n.DeliveryID) > 255 || !utf8.ValidString(n.DeliveryID) {
		t.Errorf("%s: DeliveryID %.300q is over 255 bytes or not UTF-8 (the receiver refuses such keys)", a.Name(), n.DeliveryID)
	}
	return n, nil
}

// Conformance is the suite every adapter passes (as every River driver
// passes riverdrivertest): garbage never panics and gives a coded error or a
// JSON body, results are deterministic under concurrent use, optional
// interfaces behave. seeds are good request bodies for the adapter.
func Conformance(t *testing.T, a core.Adapter, seeds [][]byte) {
	t.Run("name", func(t *testing.T) {
		if a.Name() == "" || strings.ToLower(a.Name()) != a.Name() {
			t.Errorf("name %q must be lowercase and non-empty", a.Name())
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for name, body := range Garbage() {
			t.Run(name, func(t *testing.T) {
				req := request(body)
				_, err := Check(t, a, req)
				if err == nil && !json.Valid(body) {
					t.Errorf("invalid JSON was accepted")
				}
				if err != nil && !json.Valid(body) && core.ErrorCode(err) != core.CodeInvalid {
					t.Errorf("invalid JSON gave %v, want invalid", err)
				}
			})
		}
	})
	t.Run("nil header and empty request", func(t *testing.T) {
		Check(t, a, &core.Request{Body: []byte(`{}`)})
		Check(t, a, &core.Request{})
	})
	t.Run("seeds", func(t *testing.T) {
		for i, s := range seeds {
			if _, err := Check(t, a, request(s)); err != nil {
				t.Errorf("seed %d: %v", i, err)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		want := make([][]byte, len(seeds))
		for i, s := range seeds {
			n, err := Check(t, a, request(s))
			if err == nil {
				want[i] = n.Body
			}
		}
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rep := 0; rep < 5; rep++ {
					for i, s := range seeds {
						n, err := a.Normalize(context.Background(), request(s))
						if (err == nil) != (want[i] != nil) || (err == nil && !bytes.Equal(n.Body, want[i])) {
							select {
							case errs <- fmt.Sprintf("seed %d gave a different result concurrently", i):
							default:
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
	t.Run("body not aliased", func(t *testing.T) {
		for i, s := range seeds {
			body := append([]byte(nil), s...)
			if _, err := Check(t, a, request(body)); err != nil {
				continue
			}
			if !bytes.Equal(body, s) {
				t.Errorf("seed %d: Normalize modified the request body", i)
			}
		}
	})
	if c, ok := a.(core.Configurable); ok {
		t.Run("configurable", func(t *testing.T) {
			if _, err := c.Configure(nil, core.AdapterDeps{}); err != nil {
				t.Errorf("no options: %v", err)
			}
			_, err := c.Configure(map[string]any{"no_such_option": true}, core.AdapterDeps{})
			if core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(core.ErrorMessage(err), "no_such_option") {
				t.Errorf("unknown option: got %v, want an invalid error naming it", err)
			}
		})
	} else {
		t.Run("not configurable", func(t *testing.T) {
			if _, err := core.ConfigureAdapter(a, map[string]any{"x": 1}, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
				t.Errorf("options on an adapter without options: got %v, want invalid", err)
			}
		})
	}
	if h, ok := a.(core.InvalidJSONHinter); ok {
		t.Run("hints", func(t *testing.T) {
			for name, body := range Garbage() {
				for _, off := range []int64{-1, 0, int64(len(body)) + 10} {
					hint := h.InvalidJSONHint(body, off)
					if json.Valid(body) && off == -1 && hint != "" {
						t.Errorf("%s: hint for valid JSON: %q", name, hint)
					}
					if len(hint) > 600 {
						t.Errorf("%s: hint of %d bytes is too long", name, len(hint))
					}
				}
			}
		})
	}
	if r, ok := a.(core.Responder); ok {
		t.Run("responder", func(t *testing.T) {
			status, body := r.Accept(&core.Accepted{EventID: "evt_1", TriggerID: "trg_\"1", Fields: map[string][]byte{"x": []byte(`{"a":[1]}`)}})
			if status < 200 || status > 299 || !isObject(body) {
				t.Errorf("Accept = %d %s, want 2xx and a JSON object", status, body)
			}
			status, body = r.Refuse(http.StatusUnsupportedMediaType, core.CodeUnsupportedMediaType, "expected \"application/json\"")
			if status != http.StatusUnsupportedMediaType || !isObject(body) {
				t.Errorf("Refuse = %d %s, want 415 and a JSON object", status, body)
			}
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			if m["error"] != string(core.CodeUnsupportedMediaType) || m["message"] == nil {
				t.Errorf("Refuse body %s lacks the wire contract's error and message", body)
			}
		})
	}
}

func isObject(b []byte) bool {
	var m map[string]any
	return json.Unmarshal(b, &m) == nil
}

func request(body []byte) *core.Request {
	return &core.Request{
		TriggerID: "trg_conformance",
		Method:    http.MethodPost,
		Header:    http.Header{"Content-Type": {"application/json"}, "Inin-Correlation-Id": {"c-1"}, "X-Ms-Workflow-Run-Id": {"run-1"}},
		Body:      body,
	}
}

// Fuzz checks the contract on one fuzzed input; headerSeed picks which
// vendor headers are present so header-driven paths are fuzzed too: its
// low four bits a fixed set (Genesys, Dynamics, Power Automate), its high
// four the headers of the adapter's own fixtures (see FuzzSeeds).
func Fuzz(t *testing.T, a core.Adapter, body []byte, headerSeed uint8, user string) {
	h := http.Header{"Content-Type": {"application/json"}}
	if headerSeed&1 != 0 {
		h.Set("ININ-Correlation-Id", user)
	}
	if headerSeed&2 != 0 {
		h.Set("x-ms-dynamics-msg-size-exceeded", "true")
	}
	if headerSeed&4 != 0 {
		h.Set("x-ms-workflow-run-id", user)
	}
	if headerSeed&8 != 0 {
		h.Set("x-ms-dynamics-organization", user)
	}
	// The high bits set the headers the adapter's fixtures send (recorded by
	// FuzzSeeds), the first four of them alone, then all together.
	if names, ok := fuzzHeaders.Load(a.Name()); ok {
		for i, name := range names.([]string) {
			if headerSeed&(16<<min(i, 3)) != 0 {
				h.Set(name, user)
			}
		}
	}
	req := &core.Request{TriggerID: "trg_fuzz", Method: http.MethodPost, Header: h, Body: body, AuthUsername: user}
	n, err := Check(t, a, req)
	if err == nil && !json.Valid(body) {
		t.Fatalf("invalid JSON accepted: %q", body)
	}
	if h, ok := a.(core.InvalidJSONHinter); ok {
		_ = h.InvalidJSONHint(body, int64(headerSeed)-1)
	}
	_ = n
}
