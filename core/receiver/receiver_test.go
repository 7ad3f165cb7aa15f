package receiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

const (
	demoToken  = "jse_test_demo_token"
	otherToken = "jse_test_other_token"
	demoUser   = "demo@example.com"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// passThrough is the trivial generic adapter: the body is the document.
type passThrough struct{ name string }

func (a passThrough) Name() string { return a.name }
func (a passThrough) Normalize(_ context.Context, r *core.Request) (*core.Normalized, error) {
	return &core.Normalized{Body: r.Body}, nil
}

// whoami puts the Basic auth username in its document, as every vendor
// adapter does (auth_username).
type whoami struct{}

func (whoami) Name() string { return "whoami" }
func (whoami) Normalize(_ context.Context, r *core.Request) (*core.Normalized, error) {
	user, _ := json.Marshal(r.AuthUsername)
	return &core.Normalized{Body: fmt.Appendf(nil, `{"user":%s,"body":%s}`, user, r.Body)}, nil
}

// panicky is an adapter with a bug.
type panicky struct{}

func (panicky) Name() string { return "panicky" }
func (panicky) Normalize(context.Context, *core.Request) (*core.Normalized, error) {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return nil, nil
}

// deliveryAdapter takes the delivery id from a header and refuses bodies
// without "ok", like a vendor adapter would.
type deliveryAdapter struct{}

func (deliveryAdapter) Name() string { return "delivery" }
func (deliveryAdapter) Normalize(_ context.Context, r *core.Request) (*core.Normalized, error) {
	if !bytes.Contains(r.Body, []byte(`"ok"`)) {
		return nil, core.Errorf(core.CodeInvalid, "the vendor body has no \"ok\" member; check the webhook template")
	}
	return &core.Normalized{Body: r.Body, DeliveryID: r.Header.Get("X-Delivery-Id"), Warnings: []string{"guessed"}}, nil
}

func (deliveryAdapter) InvalidJSONHint(body []byte, offset int64) string {
	return fmt.Sprintf("a placeholder near byte %d was probably left empty", offset)
}

// echoAdapter shapes replies like a Genesys data action needs.
type echoAdapter struct{ passThrough }

func (echoAdapter) Accept(a *core.Accepted) (int, []byte) {
	return http.StatusOK, fmt.Appendf(nil, `{"id":%q,"store":%s}`, a.EventID, a.Fields["store"])
}
func (echoAdapter) Refuse(status int, code core.Code, msg string) (int, []byte) {
	return status, fmt.Appendf(nil, `{"failed":%q}`, code)
}

var testAdapters = AdapterMap{
	"panicky":  panicky{},
	"whoami":   whoami{},
	"generic":  passThrough{"generic"},
	"delivery": deliveryAdapter{},
	"echo":     echoAdapter{passThrough{"echo"}},
}

func testConfig() *config.Config {
	return &config.Config{
		Store:  config.Store{Driver: "sqlite"},
		Limits: config.Limits{BodyBytes: 102400, RequestsPerMinute: 3000, ManualFields: 10},
		Accounts: []config.Account{
			{ID: "demo", Username: demoUser, Tokens: []config.Token{{SHA256: sha(demoToken)}}},
			{ID: "other", Username: "other@example.com", Tokens: []config.Token{{SHA256: sha(otherToken)}}},
		},
		Triggers: []config.Trigger{
			{ID: "OC_demo", Account: "demo", Adapter: "generic", Fields: map[string]string{
				"store":   "$.stores[0].name",
				"names":   "$.stores[*].name",
				"missing": "$.nothing",
			}},
			{ID: "OC_big", Account: "demo", Adapter: "generic", BodyBytes: 256000},
			{ID: "OC_other", Account: "other", Adapter: "generic"},
			{ID: "OC_delivery", Account: "demo", Adapter: "delivery"},
			{ID: "OC_echo", Account: "demo", Adapter: "echo", Fields: map[string]string{"store": "$.stores[0].name"}},
		},
	}
}

type harness struct {
	srv     *Server
	store   *store.Store
	limiter *limit.Memory
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newHarness(t testing.TB, cfg *config.Config) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), config.Store{DSN: filepath.Join(t.TempDir(), "r.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &syncBuffer{}
	h := &harness{store: st, limiter: limit.NewMemory(), logs: logs}
	h.srv, err = New(cfg, Options{
		Store:    st,
		Limiter:  h.limiter,
		Adapters: testAdapters,
		Log:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const goodBody = `{"stores":[{"name":"Oslo"},{"name":"Bergen"}],"total":12}`

func basic(user, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))
}

type reply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (h *harness) do(t *testing.T, method, target, body string, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	return readReply(t, resp)
}

func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &r.json)
	return r
}

func jsonHeaders(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json", "X-API-TOKEN": demoToken}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(h, extra[i])
			continue
		}
		h[extra[i]] = extra[i+1]
	}
	return h
}

const inbound = "/inbound-event/v1/event/JSON/triggers?triggerId="

// TestStatuses drives every answer of the endpoint through the real fiber
// app, in the order of the contract: each case fails exactly one check.
func TestStatuses(t *testing.T) {
	h := newHarness(t, testConfig())
	tests := []struct {
		name    string
		target  string
		body    string
		headers map[string]string
		status  int
		code    string
		inMsg   string
	}{
		{"accepted with X-API-TOKEN", inbound + "OC_demo&contextId=c1&userId=u1&brandId=b1&unknown=x", goodBody, jsonHeaders(), 202, "", ""},
		{"accepted with Basic", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", "", "Authorization", basic(demoUser, demoToken)), 202, "", ""},
		{"accepted on the alias route", "/v1/triggers/OC_demo/events", goodBody, jsonHeaders(), 202, "", ""},
		{"charset allowed", inbound + "OC_demo", goodBody, jsonHeaders("Content-Type", "application/json; charset=UTF-8"), 202, "", ""},
		{"too large beats everything", inbound + "OC_nope", `{"a":"` + strings.Repeat("x", 102400) + `"}`, map[string]string{}, 413, "too_large", "102400"},
		{"xml refused", inbound + "OC_demo", `<a/>`, jsonHeaders("Content-Type", "application/xml"), 415, "unsupported_media_type", "application/json"},
		{"form refused", inbound + "OC_demo", `a=1`, jsonHeaders("Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type", ""},
		{"no content type", inbound + "OC_demo", goodBody, jsonHeaders("Content-Type", ""), 415, "unsupported_media_type", "missing"},
		{"latin1 charset", inbound + "OC_demo", goodBody, jsonHeaders("Content-Type", "application/json; charset=iso-8859-1"), 415, "unsupported_media_type", "UTF-8"},
		{"415 before 401", inbound + "OC_demo", `<a/>`, map[string]string{"Content-Type": "text/xml"}, 415, "unsupported_media_type", ""},
		{"gzip refused", inbound + "OC_demo", goodBody, jsonHeaders("Content-Encoding", "gzip"), 415, "unsupported_media_type", "Content-Encoding \"gzip\""},
		{"identity encoding allowed", inbound + "OC_demo", goodBody, jsonHeaders("Content-Encoding", "identity"), 202, "", ""},
		{"no credentials", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", ""), 401, "unauthorized", ""},
		{"wrong token", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", "jse_wrong"), 401, "unauthorized", ""},
		{"basic with wrong username", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", "", "Authorization", basic("mallory@example.com", demoToken)), 401, "unauthorized", ""},
		{"bearer is not accepted", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", "", "Authorization", "Bearer "+demoToken), 401, "unauthorized", ""},
		{"401 before 404", inbound + "OC_nope", goodBody, jsonHeaders("X-API-TOKEN", "jse_wrong"), 401, "unauthorized", ""},
		{"unknown trigger", inbound + "OC_nope", goodBody, jsonHeaders(), 404, "not_found", "OC_nope"},
		{"other account's trigger", inbound + "OC_other", goodBody, jsonHeaders(), 404, "not_found", "OC_other"},
		{"other account's token", inbound + "OC_demo", goodBody, jsonHeaders("X-API-TOKEN", otherToken), 404, "not_found", ""},
		{"missing triggerId", "/inbound-event/v1/event/JSON/triggers", goodBody, jsonHeaders(), 400, "invalid", "triggerId"},
		{"404 before 400", inbound + "OC_nope", `{bad`, jsonHeaders(), 404, "not_found", ""},
		{"invalid JSON names the offset", inbound + "OC_demo", `{"a":1,}`, jsonHeaders(), 400, "invalid", "offset 8"},
		{"truncated JSON", inbound + "OC_demo", `{"a":[1,2`, jsonHeaders(), 400, "invalid", "offset"},
		{"empty body", inbound + "OC_demo", ``, jsonHeaders(), 400, "invalid", "empty"},
		{"invalid UTF-8 in a string", inbound + "OC_demo", "{\"a\":\"ok\xff\"}", jsonHeaders(), 400, "invalid", "UTF-8 at byte offset 8"},
		{"nested at the limit", inbound + "OC_demo", strings.Repeat(`{"a":`, maxNesting) + "1" + strings.Repeat("}", maxNesting), jsonHeaders(), 202, "", ""},
		{"nested one level too deep", inbound + "OC_demo", strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1), jsonHeaders(), 400, "invalid", fmt.Sprintf("byte offset %d opens level %d", maxNesting, maxNesting+1)},
		{"brackets in strings do not nest", inbound + "OC_demo", `{"a":"` + strings.Repeat(`[{\"`, 3*maxNesting) + `"}`, jsonHeaders(), 202, "", ""},
		{"adapter hint on invalid JSON", inbound + "OC_delivery", `{"ok":}`, jsonHeaders(), 400, "invalid", "offset 7: invalid character '}' looking for beginning of value; a placeholder near byte 7"},
		{"adapter refusal", inbound + "OC_delivery", `{"x":1}`, jsonHeaders(), 400, "invalid", "ok"},
		{"unknown route", "/nope", ``, nil, 404, "not_found", "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, http.MethodPost, tc.target, tc.body, tc.headers)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			// A 401 challenges for Basic: clients that send credentials
			// only when asked (.NET's CredentialCache, curl --anyauth)
			// send nothing without it.
			if wa := r.header.Get("WWW-Authenticate"); (tc.status == 401) != (wa == `Basic realm="jsonevent", charset="UTF-8"`) {
				t.Errorf("WWW-Authenticate %q on a %d", wa, tc.status)
			}
			if tc.status == 202 {
				id, _ := r.json["eventId"].(string)
				if !strings.HasPrefix(id, "evt_") || r.json["triggerId"] != "OC_demo" {
					t.Fatalf("202 body %s", r.body)
				}
				if _, err := h.store.GetEvent(context.Background(), "demo", id); err != nil {
					t.Fatalf("202 for an event that is not stored: %v", err)
				}
				return
			}
			if r.json["error"] != tc.code {
				t.Fatalf("error %v, want %q; body %s", r.json["error"], tc.code, r.body)
			}
			msg, _ := r.json["message"].(string)
			if msg == "" || !strings.Contains(msg, tc.inMsg) {
				t.Fatalf("message %q does not mention %q", msg, tc.inMsg)
			}
		})
	}
	logs := h.logs.String()
	if strings.Contains(logs, demoToken) || strings.Contains(logs, basic(demoUser, demoToken)[6:]) || strings.Contains(logs, "Oslo") || strings.Contains(logs, "mallory") {
		t.Fatalf("a token, an Authorization header or a body reached the log:\n%s", h.logs.String())
	}
}

// TestFiberRefusalsAreJSON covers the answers fiber produces before a
// handler runs: each is a JSON error whose code and message say what to do.
func TestFiberRefusalsAreJSON(t *testing.T) {
	h := newHarness(t, testConfig())
	tests := []struct {
		name, method, target string
		headers              map[string]string
		status               int
		code, inMsg          string
	}{
		{"GET on the event endpoint", http.MethodGet, inbound + "OC_demo", jsonHeaders(), 405, "method_not_allowed", "method GET is not allowed here; use POST"},
		{"POST on an event read", http.MethodPost, "/v1/events/evt_x", jsonHeaders(), 405, "method_not_allowed", "use GET"},
		{"unknown route", http.MethodDelete, "/nope", nil, 404, "not_found", "no such endpoint"},
		{"a method fiber does not know", "PROPFIND", "/v1/events/evt_x", jsonHeaders(), 405, "method_not_allowed", `method "PROPFIND" is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, tc.method, tc.target, goodBody, tc.headers)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if r.json["error"] != tc.code {
				t.Fatalf("error %v, want %q; body %s", r.json["error"], tc.code, r.body)
			}
			if msg, _ := r.json["message"].(string); !strings.Contains(msg, tc.inMsg) {
				t.Fatalf("message %q does not mention %q", msg, tc.inMsg)
			}
		})
	}
}

// TestMalformedRequestKeepsSecrets: a request fasthttp cannot parse (a
// header name with a space, a Content-Length that is not a number) is
// refused by fiber's error handler with fasthttp's own error text. That
// text quoted the first and last 200 bytes of the raw request, so the
// X-API-TOKEN or Authorization header (and the start of the body) went
// into the "request refused" log line and back in the reply.
func TestMalformedRequestKeepsSecrets(t *testing.T) {
	h := newHarness(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })

	const body = `{"secret":"Oslo"}`
	start := "POST " + inbound + "OC_demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	for _, raw := range []string{
		start + "X-API-TOKEN: " + demoToken + "\r\nBad Header: y\r\nContent-Length: 17\r\n\r\n" + body,
		start + "Authorization: " + basic(demoUser, demoToken) + "\r\nContent-Length: zz\r\n\r\n" + body,
		"X-API-TOKEN:" + demoToken + "\r\n\r\n", // pasted where the request line goes
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		reply, _ := io.ReadAll(conn)
		conn.Close()
		if !bytes.HasPrefix(reply, []byte("HTTP/1.1 400")) {
			t.Fatalf("reply %q, want a 400", reply)
		}
		if bytes.Contains(reply, []byte(demoToken)) || bytes.Contains(reply, []byte(basic(demoUser, demoToken)[6:])) || bytes.Contains(reply, []byte("Oslo")) {
			t.Errorf("the reply quotes the request: %s", reply)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"status":400`) {
		t.Fatalf("the refusals were not logged: %s", logs)
	}
	if strings.Contains(logs, demoToken) || strings.Contains(logs, basic(demoUser, demoToken)[6:]) || strings.Contains(logs, "Oslo") {
		t.Fatalf("a token, an Authorization header or a body reached the log:\n%s", logs)
	}
}

func TestStoredEventAndGet(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(t, http.MethodPost, inbound+"OC_demo&contextId=c1&userId=u1&brandId=b1&extra=e", goodBody,
		jsonHeaders("X-API-TOKEN", "", "Authorization", basic(demoUser, demoToken), "Cookie", "s=1", "X-Trace", "t1"))
	if r.status != 202 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	id := r.json["eventId"].(string)

	g := h.do(t, http.MethodGet, "/v1/events/"+id, "", map[string]string{"X-API-TOKEN": demoToken})
	if g.status != 200 {
		t.Fatalf("GET status %d %s", g.status, g.body)
	}
	var ev EventJSON
	if err := json.Unmarshal(g.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.EventID != id || ev.TriggerID != "OC_demo" || ev.AccountID != "demo" || ev.ContextID != "c1" || ev.UserID != "u1" || ev.BrandID != "b1" {
		t.Fatalf("ids: %+v", ev)
	}
	if ev.Query["extra"] != "e" || ev.Query["triggerId"] != "OC_demo" {
		t.Fatalf("query %v", ev.Query)
	}
	if string(ev.Body) != goodBody {
		t.Fatalf("body %s", ev.Body)
	}
	wantFields := map[string]string{"store": `"Oslo"`, "names": `["Oslo","Bergen"]`, "missing": `null`}
	for k, want := range wantFields {
		if string(ev.Fields[k]) != want {
			t.Errorf("field %s = %s, want %s", k, ev.Fields[k], want)
		}
	}
	if ev.Headers.Get("Authorization") != "" || ev.Headers.Get("Cookie") != "" || ev.Headers.Get("X-Api-Token") != "" {
		t.Fatalf("secret headers stored: %v", ev.Headers)
	}
	if ev.Headers.Get("X-Trace") != "t1" {
		t.Fatalf("headers lost: %v", ev.Headers)
	}

	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		path   string
		status int
	}{
		{"basic auth works", map[string]string{"Authorization": basic(demoUser, demoToken)}, "/v1/events/" + id, 200},
		{"other account", map[string]string{"X-API-TOKEN": otherToken}, "/v1/events/" + id, 404},
		{"no auth", nil, "/v1/events/" + id, 401},
		{"missing", map[string]string{"X-API-TOKEN": demoToken}, "/v1/events/evt_missing", 404},
		// A ULID is case-insensitive: an id pasted in lower case finds it.
		{"lower case", map[string]string{"X-API-TOKEN": demoToken}, "/v1/events/evt_" + strings.ToLower(strings.TrimPrefix(id, "evt_")), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := h.do(t, http.MethodGet, tc.path, "", tc.hdr)
			if g.status != tc.status {
				t.Fatalf("status %d, want %d: %s", g.status, tc.status, g.body)
			}
			// The API (and the admin page's fetch calls) get no challenge:
			// a browser would answer it with its own login dialog.
			if wa := g.header.Get("WWW-Authenticate"); wa != "" {
				t.Errorf("WWW-Authenticate %q on GET %s", wa, tc.path)
			}
		})
	}
}

func TestBodyLimits(t *testing.T) {
	h := newHarness(t, testConfig())
	// A JSON document of exactly n bytes.
	doc := func(n int) string {
		return `{"p":"` + strings.Repeat("x", n-8) + `"}`
	}
	if len(doc(102400)) != 102400 {
		t.Fatal("doc size")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })
	base := "http://" + ln.Addr().String()

	tests := []struct {
		name    string
		trigger string
		size    int
		chunked bool
		status  int
	}{
		{"exactly 100 KB", "OC_demo", 102400, false, 202},
		{"one byte over", "OC_demo", 102401, false, 413},
		{"exactly 100 KB chunked", "OC_demo", 102400, true, 202},
		{"one byte over chunked", "OC_demo", 102401, true, 413},
		{"far over chunked", "OC_demo", 3 << 20, true, 413},
		{"trigger's own limit", "OC_big", 256000, false, 202},
		{"trigger's own limit chunked", "OC_big", 256000, true, 202},
		{"over the trigger's own limit", "OC_big", 256001, true, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(doc(tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: net/http sends it chunked
			}
			req, err := http.NewRequest(http.MethodPost, base+inbound+tc.trigger, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-TOKEN", demoToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readReply(t, resp)
			if tc.chunked != (req.ContentLength <= 0) {
				t.Fatalf("request was not sent as intended (ContentLength %d)", req.ContentLength)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, tc.status, r.body)
			}
			if tc.status == 202 {
				ev, err := h.store.GetEvent(context.Background(), "demo", r.json["eventId"].(string))
				if err != nil || len(ev.Body) != tc.size {
					t.Fatalf("stored body %d bytes (%v), want %d", len(ev.Body), err, tc.size)
				}
			} else if r.json["error"] != "too_large" {
				t.Fatalf("body %s", r.body)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("the 3,001st request in a minute", func(t *testing.T) {
		h := newHarness(t, testConfig())
		// 3,000 requests for this token in this minute, counted by the
		// very limiter the server uses (keyed by the token's hash).
		for i := range 2999 {
			d, err := h.limiter.Allow(context.Background(), sha(demoToken), 3000)
			if err != nil || !d.Allowed {
				t.Fatalf("prefill %d refused: %+v %v", i, d, err)
			}
		}
		r := h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
		if r.status != 202 || r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Limit") != "3000" {
			t.Fatalf("3,000th: %d %v", r.status, r.header)
		}
		r = h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
		if r.status != 429 || r.json["error"] != "rate_limited" {
			t.Fatalf("3,001st: %d %s", r.status, r.body)
		}
		for _, hd := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if r.header.Get(hd) == "" {
				t.Errorf("429 without %s", hd)
			}
		}
		// The window's oldest admission was made moments ago (the
		// prefill), so room comes back about a minute from now: a client
		// told to come back sooner would only be refused again.
		if r.header.Get("RateLimit-Limit") != "3000" || r.header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("429 RateLimit-Limit %q, RateLimit-Remaining %q; want 3000 and 0",
				r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		for _, hd := range []string{"Retry-After", "RateLimit-Reset"} {
			if s, err := strconv.Atoi(r.header.Get(hd)); err != nil || s < 50 || s > 60 {
				t.Errorf("429 %s %q, want the seconds until the oldest admission leaves the window (50-60)", hd, r.header.Get(hd))
			}
		}
		// Another token is not affected.
		r = h.do(t, http.MethodPost, inbound+"OC_other", goodBody, jsonHeaders("X-API-TOKEN", otherToken))
		if r.status != 202 {
			t.Fatalf("other token: %d %s", r.status, r.body)
		}
	})
	t.Run("small limit over HTTP", func(t *testing.T) {
		cfg := testConfig()
		cfg.Limits.RequestsPerMinute = 3
		h := newHarness(t, cfg)
		var got []int
		for range 4 {
			got = append(got, h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders()).status)
		}
		if fmt.Sprint(got) != "[202 202 202 429]" {
			t.Fatalf("statuses %v", got)
		}
	})
}

func TestDuplicates(t *testing.T) {
	h := newHarness(t, testConfig())
	post := func(trigger, body string, extra ...string) reply {
		return h.do(t, http.MethodPost, inbound+trigger, body, jsonHeaders(extra...))
	}
	first := post("OC_demo", goodBody, "Idempotency-Key", "k-1")
	again := post("OC_demo", goodBody, "Idempotency-Key", "k-1")
	if first.status != 202 || again.status != 202 || again.json["eventId"] != first.json["eventId"] || again.json["duplicate"] != true || first.json["duplicate"] != nil {
		t.Fatalf("first %s, again %s", first.body, again.body)
	}
	other := post("OC_demo", goodBody, "Idempotency-Key", "k-2")
	if other.json["eventId"] == first.json["eventId"] || other.json["duplicate"] != nil {
		t.Fatalf("different key: %s", other.body)
	}
	d1 := post("OC_delivery", `{"ok":1}`, "X-Delivery-Id", "d-9")
	d2 := post("OC_delivery", `{"ok":1}`, "X-Delivery-Id", "d-9")
	if d1.status != 202 || d2.json["eventId"] != d1.json["eventId"] || d2.json["duplicate"] != true {
		t.Fatalf("delivery id: %s / %s", d1.body, d2.body)
	}
	long := post("OC_demo", goodBody, "Idempotency-Key", strings.Repeat("k", 256))
	if long.status != 400 {
		t.Fatalf("256-char key: %d", long.status)
	}
	// 255 is the longest key taken: adapters bound their delivery ids to
	// it (jsondoc.BoundKey), so a key of that length must be accepted and
	// deduplicated, from a header or from the adapter.
	for _, c := range []struct{ trigger, header, body string }{
		{"OC_demo", "Idempotency-Key", goodBody},
		{"OC_delivery", "X-Delivery-Id", `{"ok":1}`},
	} {
		key := strings.Repeat("k", 254) + c.header[:1]
		a, b := post(c.trigger, c.body, c.header, key), post(c.trigger, c.body, c.header, key)
		if a.status != 202 || b.status != 202 || b.json["eventId"] != a.json["eventId"] || b.json["duplicate"] != true {
			t.Fatalf("255-char %s: %d %s / %d %s", c.header, a.status, a.body, b.status, b.body)
		}
	}
}

func TestResponderShapesReplies(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(t, http.MethodPost, inbound+"OC_echo", goodBody, jsonHeaders())
	if r.status != 200 || r.json["store"] != "Oslo" || !strings.HasPrefix(fmt.Sprint(r.json["id"]), "evt_") {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	r = h.do(t, http.MethodPost, inbound+"OC_echo", `{bad`, jsonHeaders())
	if r.status != 400 || r.json["failed"] != "invalid" {
		t.Fatalf("refuse: %d %s", r.status, r.body)
	}
}

func TestStoreFailureIs503(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := h.do(t, http.MethodGet, "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz %d", r.status)
	}
	_ = h.store.Close()
	r := h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
	if r.status != 503 || r.json["error"] != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("closed store: %d %v %s", r.status, r.header, r.body)
	}
	if r := h.do(t, http.MethodGet, "/readyz", "", nil); r.status != 503 {
		t.Fatalf("readyz on a closed store: %d", r.status)
	}
	// The API's reads say when to come back too.
	if r := h.do(t, http.MethodGet, "/v1/events/evt_01M8E87SCFC9Z261ZV4NETHAEB", "", map[string]string{"X-API-TOKEN": demoToken}); r.status != 503 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("GET event on a closed store: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if !strings.Contains(h.logs.String(), `"status":503`) {
		t.Fatalf("the 503 was not logged: %s", h.logs.String())
	}
}

// stuckStore never commits: InsertEvent waits for its context, as the real
// store does for a writer that cannot get to the disk.
type stuckStore struct{ EventStore }

func (stuckStore) InsertEvent(ctx context.Context, _ *store.Event, _ ...river.InsertManyParams) (string, bool, error) {
	<-ctx.Done()
	return "", false, &core.Error{Code: core.CodeUnavailable, Message: "gave up waiting for the event store", Err: ctx.Err()}
}

// TestStuckStoreIs503 checks that a request whose commit never comes gets
// a 503 with Retry-After once StoreWait has passed, not a hung connection
// (fiber's request context has no deadline of its own).
func TestStuckStoreIs503(t *testing.T) {
	h := newHarness(t, testConfig())
	srv, err := New(testConfig(), Options{Store: stuckStore{h.store}, Adapters: testAdapters, StoreWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	r := h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
	if r.status != 503 || r.json["error"] != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("stuck store: %d %v %s", r.status, r.header, r.body)
	}
}

// stuckLimiter never decides: Allow waits for its context, as the
// PostgreSQL limiter does for a database that stopped answering (a lost
// network, a pool with no free connection, a key's lock held by a stuck
// session). It gives up after a while so that a failing test ends.
type stuckLimiter struct{}

func (stuckLimiter) Allow(ctx context.Context, _ string, _ int) (limit.Decision, error) {
	select {
	case <-ctx.Done():
		return limit.Decision{}, ctx.Err()
	case <-time.After(3 * time.Second):
		return limit.Decision{}, fmt.Errorf("stuckLimiter: the request's context had no deadline")
	}
}

// TestStuckLimiterIs503 checks that a request whose rate-limit decision
// never comes gets a 503 with Retry-After within StoreWait: the limiter
// was called with fiber's context, which has no deadline, so a sender
// waited as long as the database did, with its connection and a pool
// connection held.
func TestStuckLimiterIs503(t *testing.T) {
	h := newHarness(t, testConfig())
	srv, err := New(testConfig(), Options{Store: h.store, Limiter: stuckLimiter{}, Adapters: testAdapters, StoreWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	// Without a bound the request never ends, and app.Test gives up on it
	// after its own second: an error, not this 503.
	r := h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
	if r.status != 503 || r.json["error"] != "unavailable" || r.header.Get("Retry-After") != "5" {
		t.Fatalf("stuck limiter: %d %v %s", r.status, r.header, r.body)
	}
}

func TestHotReload(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := h.do(t, http.MethodPost, inbound+"OC_new", goodBody, jsonHeaders()); r.status != 404 {
		t.Fatalf("before reload: %d", r.status)
	}
	cfg := testConfig()
	cfg.Triggers = append(cfg.Triggers, config.Trigger{ID: "OC_new", Account: "demo", Adapter: "generic", Fields: map[string]string{"t": "$.total"}})
	cfg.Accounts[0].Tokens = []config.Token{{SHA256: sha("jse_rotated")}}
	if err := h.srv.Apply(cfg); err != nil {
		t.Fatalf("a good config was refused: %v", err)
	}
	if r := h.do(t, http.MethodPost, inbound+"OC_new", goodBody, jsonHeaders()); r.status != 401 {
		t.Fatalf("old token after rotation: %d", r.status)
	}
	r := h.do(t, http.MethodPost, inbound+"OC_new", goodBody, jsonHeaders("X-API-TOKEN", "jse_rotated"))
	if r.status != 202 {
		t.Fatalf("new trigger after reload: %d %s", r.status, r.body)
	}
	ev, err := h.store.GetEvent(context.Background(), "demo", r.json["eventId"].(string))
	if err != nil || string(ev.Fields["t"]) != "12" {
		t.Fatalf("fields after reload: %v %v", ev, err)
	}
	bad := testConfig()
	bad.Triggers[0].Adapter = "no-such-adapter"
	if err := h.srv.Apply(bad); err == nil {
		t.Fatal("a config with an unknown adapter was applied")
	}
	if r := h.do(t, http.MethodPost, inbound+"OC_new", goodBody, jsonHeaders("X-API-TOKEN", "jse_rotated")); r.status != 202 {
		t.Fatalf("a bad reload replaced the running config: %d", r.status)
	}
	if !strings.Contains(h.logs.String(), "config reload refused") {
		t.Fatal("a bad reload was not logged")
	}
}

func TestHealthMetricsAndLogs(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := h.do(t, http.MethodGet, "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
	h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders("X-API-TOKEN", "jse_wrong"))
	h.do(t, http.MethodPost, inbound+"OC_spam1", goodBody, jsonHeaders())
	m := h.do(t, http.MethodGet, "/metrics", "", nil)
	if m.status != 200 {
		t.Fatalf("metrics %d", m.status)
	}
	for _, want := range []string{
		`jsonevent_http_requests_total{status="202",trigger="OC_demo"} 1`,
		`jsonevent_http_requests_total{status="401",trigger="OC_demo"} 1`,
		`jsonevent_http_requests_total{status="404",trigger="unknown"} 1`,
		`jsonevent_events_stored_total 1`,
		`jsonevent_rejections_total{reason="unauthorized"} 1`,
		`jsonevent_rejections_total{reason="not_found"} 1`,
		`jsonevent_http_request_duration_seconds_count{route="inbound"} 3`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(m.body), "OC_spam1") {
		t.Error("an unknown trigger id became a label")
	}
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one log line per refused request and none for the accepted one, got %d:\n%s", len(lines), h.logs.String())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] != "request refused" {
			t.Fatalf("log line %s", l)
		}
	}
}

// TestConcurrentAccepted checks that concurrent requests all get 202 and
// are all stored (they share commits).
func TestConcurrentAccepted(t *testing.T) {
	h := newHarness(t, testConfig())
	const n = 64
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, inbound+"OC_demo", strings.NewReader(goodBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-TOKEN", demoToken)
			resp, err := h.srv.Test(req)
			if err != nil {
				t.Error(err)
				return
			}
			r := readReply(t, resp)
			if r.status != 202 {
				t.Errorf("status %d %s", r.status, r.body)
				return
			}
			ids <- r.json["eventId"].(string)
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if _, err := h.store.GetEvent(context.Background(), "demo", id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct stored ids, want %d", len(seen), n)
	}
}

// TestPanicIsA500: a bug that panics in an adapter or a handler answers
// that request 500 in the JSON error shape and is logged with its stack;
// the process (every other request in flight) goes on. Without a
// recover, fiber's panic ended the process.
func TestPanicIsA500(t *testing.T) {
	cfg := testConfig()
	cfg.Triggers = append(cfg.Triggers, config.Trigger{ID: "OC_panic", Account: "demo", Adapter: "panicky"})
	h := newHarness(t, cfg)
	r := h.do(t, "POST", "/inbound-event/v1/event/JSON/triggers?triggerId=OC_panic", goodBody,
		map[string]string{"Content-Type": "application/json", "X-API-TOKEN": demoToken})
	if r.status != http.StatusInternalServerError || r.json["error"] != "internal" ||
		!strings.Contains(fmt.Sprint(r.json["message"]), "retry later") {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "a request handler panicked") || !strings.Contains(logs, "assignment to entry in nil map") ||
		!strings.Contains(logs, "panicky.Normalize") {
		t.Errorf("panic not logged with its stack:\n%s", logs)
	}
	if strings.Contains(logs, demoToken) {
		t.Errorf("the log holds the token")
	}
	if strings.Contains(logs, `"msg":"request failed"`) {
		t.Errorf("the panic was logged twice:\n%s", logs)
	}
	r = h.do(t, "POST", "/inbound-event/v1/event/JSON/triggers?triggerId=OC_demo", goodBody,
		map[string]string{"Content-Type": "application/json", "X-API-TOKEN": demoToken})
	if r.status != http.StatusAccepted {
		t.Fatalf("after the panic: %d %s", r.status, r.body)
	}
}

// TestErrorsAreReadableRaw: refusals are read raw (curl, a vendor's
// delivery log), so "<token>" is not written as "\u003ctoken\u003e".
func TestErrorsAreReadableRaw(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(t, http.MethodPost, "/inbound-event/v1/event/JSON/triggers?triggerId=OC_demo", goodBody, jsonHeaders("X-API-TOKEN", ""))
	if r.status != 401 || !bytes.Contains(r.body, []byte("X-API-TOKEN: <token>")) || bytes.HasSuffix(r.body, []byte("\n")) {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if !json.Valid(r.body) || r.json["error"] != "unauthorized" {
		t.Fatalf("not the JSON error: %s", r.body)
	}
}

// TestRepeatedQueryParameterKeepsTheFirst: the trigger is chosen by the
// first triggerId; the stored query and the event's contextId keep the
// first value of a repeated parameter too (the stored query named the last
// triggerId, another trigger than the event's).
func TestRepeatedQueryParameterKeepsTheFirst(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(t, http.MethodPost, inbound+"OC_demo&triggerId=OC_other&contextId=c1&contextId=c2", goodBody, jsonHeaders())
	if r.status != 202 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	g := h.do(t, http.MethodGet, "/v1/events/"+r.json["eventId"].(string), "", map[string]string{"X-API-TOKEN": demoToken})
	var ev EventJSON
	if err := json.Unmarshal(g.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.TriggerID != "OC_demo" || ev.Query["triggerId"] != "OC_demo" || ev.ContextID != "c1" || ev.Query["contextId"] != "c1" {
		t.Fatalf("trigger %s, contextId %s, query %v; want OC_demo and c1 throughout", ev.TriggerID, ev.ContextID, ev.Query)
	}
}

// clockStore is a store whose clock (the database's, store.Store.Now) is
// not this process's.
type clockStore struct {
	*store.Store
	now time.Time
}

func (s clockStore) Now() time.Time { return s.now }

// TestEventTimesFollowTheStoreClock: an event's id and received time come
// from the store's clock, on PostgreSQL the database server's, which every
// node shares. They came from the node's own clock: retention deletes by
// the id's time on the server's clock, so a node whose clock ran days slow
// had its events deleted days early.
func TestEventTimesFollowTheStoreClock(t *testing.T) {
	h := newHarness(t, testConfig())
	dbNow := time.Now().Add(-72 * time.Hour).Truncate(time.Millisecond)
	srv, err := New(testConfig(), Options{Store: clockStore{h.store, dbNow}, Limiter: h.limiter, Adapters: testAdapters})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	r := h.do(t, "POST", inbound+"OC_demo", goodBody, jsonHeaders())
	if r.status != 202 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	id, _ := r.json["eventId"].(string)
	ev, err := h.store.GetEvent(context.Background(), "demo", id)
	if err != nil {
		t.Fatal(err)
	}
	if at := ulid.Time(ulid.MustParse(strings.TrimPrefix(id, store.EventIDPrefix)).Time()); !at.Equal(dbNow) || !ev.ReceivedAt.Equal(dbNow) {
		t.Errorf("event %s made at %s, received at %s; want both at the store's %s", id, at, ev.ReceivedAt, dbNow)
	}
}
