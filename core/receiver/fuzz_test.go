package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// FuzzPostEvent sends arbitrary bodies, content types and idempotency keys
// through the real endpoint: it must never panic, every answer must be one
// of the contract's statuses with a JSON body, and a 202 only ever comes
// for a body that is JSON.
func FuzzPostEvent(f *testing.F) {
	f.Add(goodBody, "application/json", "")
	f.Add(`{"a":1,}`, "application/json; charset=utf-8", "k1")
	f.Add(`<a/>`, "application/xml", "")
	f.Add(``, "application/json", "")
	f.Add(`[1,2,3]`, "application/json;charset=UTF-8;x=y", "k\x00")
	f.Add("\"\xff\xfe\"", "application/json", "")
	f.Add(`{"stores":[{"name":"x"}]} trailing`, "Application/JSON", "")
	cfg := testConfig()
	cfg.Limits.RequestsPerMinute = 1 << 30 // the fuzzer sends far more than 3,000 a minute
	h := newHarness(f, cfg)
	f.Fuzz(func(t *testing.T, body, contentType, key string) {
		req, err := http.NewRequest(http.MethodPost, inbound+"OC_demo", strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.Header.Set("X-API-TOKEN", demoToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := h.srv.Test(req)
		if err != nil {
			t.Skip() // a header net/http itself refuses to send
		}
		r := readReply(t, resp)
		switch r.status {
		case 202:
			if !json.Valid([]byte(body)) || !utf8.ValidString(body) {
				t.Fatalf("202 for a body that is not UTF-8 JSON: %q", body)
			}
		case 400, 413, 415:
			if r.json["error"] == nil || r.json["message"] == "" {
				t.Fatalf("%d without a JSON error: %s", r.status, r.body)
			}
		default:
			t.Fatalf("unexpected status %d: %s", r.status, r.body)
		}
	})
}

// FuzzValidJSON checks that validJSON accepts exactly what json.Valid
// accepts, the guarantee the endpoint's 400s rely on.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		goodBody, ``, ` `, `{}`, `[]`, `{"a":1,}`, `[1,2,]`, `01`, `-0`, `-`, `1.`, `1.e5`, `1e`, `1e+`, `1E-7`,
		`"\u00e9"`, `"\u00g9"`, `"\x"`, "\"\x01\"", "\"\xff\"", `tru`, `true `, ` null`, `nul`, `{"a" 1}`,
		`{1:2}`, `[1 2]`, `{"a":{"b":[{"c":null}]}}`, `"a" "b"`, "\t[\r\n]", "\v[]", `+1`, `.5`, `0x1`, `1_000`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// TestValidJSONDepth checks validJSON at encoding/json's nesting limit,
// which gjson's validator does not have: documents too large for the
// fuzzer to reach quickly.
func TestValidJSONDepth(t *testing.T) {
	nest := func(open, close string, depth int, inner string) []byte {
		return []byte(strings.Repeat(open, depth) + inner + strings.Repeat(close, depth))
	}
	tests := []struct {
		name string
		doc  []byte
		want bool
	}{
		{"arrays at the limit", nest("[", "]", maxJSONDepth, ""), true},
		{"arrays over the limit", nest("[", "]", maxJSONDepth+1, ""), false},
		{"objects over the limit", nest(`{"a":`, "}", maxJSONDepth+1, "1"), false},
		{"many shallow arrays", []byte("[" + strings.Repeat("[],", maxJSONDepth) + "[]]"), true},
		{"many shallow arrays, one bad", []byte("[" + strings.Repeat("[],", maxJSONDepth) + "[]"), false},
		{"brackets in strings", []byte(`"` + strings.Repeat("[", 2*maxJSONDepth) + `"`), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if json.Valid(tc.doc) != tc.want {
				t.Fatalf("json.Valid = %v, the test expects %v", !tc.want, tc.want)
			}
			if got := validJSON(tc.doc); got != tc.want {
				t.Fatalf("validJSON = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzTooDeep checks tooDeep against encoding/json's tokenizer on valid
// documents: the same answer (too deep or not) and the same byte offset.
func FuzzTooDeep(f *testing.F) {
	for _, s := range []string{
		goodBody, `[]`, `"[[["`, `{"a":"\"[{"}`, `[[],[[]],{"a":[{}]}]`,
		strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
		strings.Repeat(`{"a":`, maxNesting) + `"\\"` + strings.Repeat("}", maxNesting),
		`[` + strings.Repeat(`[],`, maxNesting) + `{"b":[[[]]]}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if got, want := tooDeep(b, countBrackets(b)), deepReference(t, b); got != want {
			t.Fatalf("tooDeep(%q) = %d, encoding/json says %d", b, got, want)
		}
	})
}

// deepReference is tooDeep computed with encoding/json's tokenizer.
func deepReference(t *testing.T, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // 1e700 is valid JSON that a float64 cannot hold
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return -1
		}
		if err != nil {
			t.Fatalf("a valid document did not tokenize: %v", err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			if depth > maxNesting {
				return int(dec.InputOffset()) - 1 // the offset just after the delimiter
			}
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// TestExtractWarnsPastTheBudget checks that a field whose query outgrows
// JSONPath's work budget is stored as null with a warning naming it,
// rather than as a silent null that reads like "not in the document".
// (The endpoint refuses nesting this deep; extract also serves replays of
// events stored before it did.)
func TestExtractWarnsPastTheBudget(t *testing.T) {
	doc := []byte(strings.Repeat("[", 2000) + strings.Repeat("]", 2000))
	fields := []field{
		{name: "costly", path: jsonpath.MustCompile("$..[?@..*]")},
		{name: "first", path: jsonpath.MustCompile("$[0]")},
	}
	got, warnings := extract(fields, doc)
	if string(got["costly"]) != "null" || len(warnings) != 1 ||
		!strings.Contains(warnings[0], `field "costly" is null`) || !strings.Contains(warnings[0], "$..[?@..*]") {
		t.Fatalf("costly = %s, warnings %q", got["costly"], warnings)
	}
	if first := string(got["first"]); !strings.HasPrefix(first, "[[") {
		t.Fatalf("first = %.20s…", first)
	}

	// Stored so: a live request whose body the endpoint accepts (wide,
	// nested within maxNesting) gets the null and the warning in the event.
	cfg := testConfig()
	cfg.Triggers = append(cfg.Triggers, config.Trigger{ID: "OC_costly", Account: "demo", Adapter: "generic",
		Fields: map[string]string{"costly": "$..[?@..*]", "first": "$[0]"}})
	h := newHarness(t, cfg)
	body := strings.Repeat("[", 100) + strings.Repeat("[1,2,3,4,5,6,7,8,9,10],", 3000) + "[]" + strings.Repeat("]", 100)
	r := h.do(t, http.MethodPost, inbound+"OC_costly", body, jsonHeaders())
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	ev, err := h.store.GetEvent(context.Background(), "demo", r.json["eventId"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Fields["costly"]) != "null" || len(ev.Warnings) != 1 ||
		!strings.Contains(ev.Warnings[0], `field "costly" is null`) || !strings.Contains(ev.Warnings[0], "$..[?@..*]") {
		t.Fatalf("stored costly = %s, warnings %q", ev.Fields["costly"], ev.Warnings)
	}
}
