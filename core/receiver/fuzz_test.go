package receiver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
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
