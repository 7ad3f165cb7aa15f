package receiver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

// freshdeskBody is a Freshdesk "simple" webhook body
// (../shared/vendors/freshdesk/fd-01-simple-ticket-created.json).
const freshdeskBody = `{"freshdesk_webhook":{"ticket_id":1042,"ticket_subject":"Unable to download invoice PDF","ticket_status":"Open","ticket_tags":["billing","invoice"]}}`

const subjectPath = "$['freshdesk_webhook']['ticket_subject']"

// captureHarness is a server with capture enabled on a store file that a
// test can reopen (a restart).
type captureHarness struct {
	t   *testing.T
	dsn string
	cfg *config.Config
	srv *Server
	st  *store.Store
	cap *capture.Service
}

func captureConfig() *config.Config {
	cfg := testConfig()
	cfg.Limits.ManualFields = 4
	cfg.Triggers = append(cfg.Triggers, config.Trigger{
		ID: "OC_fd", Account: "demo", Adapter: "generic",
		Fields:       map[string]string{"ticket_id": "$.freshdesk_webhook.ticket_id", "status": "$.freshdesk_webhook.ticket_status"},
		PresetFields: map[string]string{"tags": "$.freshdesk_webhook.ticket_tags"},
	})
	return cfg
}

func newCaptureHarness(t *testing.T, dsn string) *captureHarness {
	t.Helper()
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "c.db")
	}
	h := &captureHarness{t: t, dsn: dsn, cfg: captureConfig()}
	h.start()
	return h
}

func (h *captureHarness) start() {
	t := h.t
	t.Helper()
	st, err := store.Open(context.Background(), config.Store{DSN: h.dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cs, err := capture.New(context.Background(), st, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(h.cfg, Options{Store: st, Limiter: limit.NewMemory(), Adapters: testAdapters, Capture: cs, Workflows: noRuns{}})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.cap, h.srv = st, cs, srv
}

// noRuns serves the replay route without a workflow engine: these
// triggers have no workflows, so an event has no runs. Any other method
// panics (the nil embedded interface), which fails the test that calls it.
type noRuns struct{ Workflows }

func (noRuns) EventRuns(context.Context, string, string) ([]*store.Run, error) { return nil, nil }

// restart closes the store and starts a new server on the same file.
func (h *captureHarness) restart() {
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.start()
}

type reqOpt func(*http.Request)

func withToken(tok string) reqOpt { return func(r *http.Request) { r.Header.Set("X-API-TOKEN", tok) } }
func withBasic(user, tok string) reqOpt {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+tok)))
	}
}
func withType(ct string) reqOpt { return func(r *http.Request) { r.Header.Set("Content-Type", ct) } }

// do sends a request and decodes the JSON answer into out (when not nil).
func (h *captureHarness) do(method, target, body string, out any, opts ...reqOpt) int {
	h.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := h.srv.Test(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %d %s: %v", method, target, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func TestCaptureSessionAPI(t *testing.T) {
	h := newCaptureHarness(t, "")
	const url = "/v1/triggers/OC_fd/capture"

	var sv capture.SessionView
	if st := h.do("POST", url, "", &sv, withToken(demoToken)); st != http.StatusCreated {
		t.Fatalf("POST capture = %d", st)
	}
	if sv.Count != 1 || sv.ExpiresAt.Sub(sv.CreatedAt).Seconds() != 900 || sv.State != "open" || sv.TriggerID != "OC_fd" {
		t.Fatalf("defaults: %+v", sv)
	}
	if st := h.do("POST", url, `{"count":5,"ttl_seconds":600}`, &sv, withBasic(demoUser, demoToken)); st != http.StatusCreated || sv.Count != 5 ||
		sv.ExpiresAt.Sub(sv.CreatedAt).Seconds() != 600 {
		t.Fatalf("POST capture count 5 = %d %+v", st, sv)
	}

	bad := []struct {
		body   string
		opts   []reqOpt
		status int
		code   string
		msg    string
	}{
		{`{"count":0}`, nil, 422, "unprocessable", "count must be between 1 and 20"},
		{`{"count":21}`, nil, 422, "unprocessable", "count must be between 1 and 20"},
		{`{"ttl_seconds":-5}`, nil, 422, "unprocessable", "ttl_seconds must be between 1 and 86400"},
		{`{"ttl_seconds":0}`, nil, 422, "unprocessable", "ttl_seconds must be between 1 and 86400"},
		{`{"count":"five"}`, nil, 400, "invalid", `member "count" must be an integer`},
		{`{"cuont":5}`, nil, 400, "invalid", `unknown field "cuont"`},
		{`{"count":5`, nil, 400, "invalid", "ends too early"},
		{`{"count":5}`, []reqOpt{withType("text/plain")}, 415, "unsupported_media_type", "application/json"},
	}
	for _, b := range bad {
		var e apiError
		st := h.do("POST", url, b.body, &e, append([]reqOpt{withToken(demoToken)}, b.opts...)...)
		if st != b.status || e.Error != b.code || !strings.Contains(e.Message, b.msg) {
			t.Errorf("POST %s = %d %+v, want %d %s containing %q", b.body, st, e, b.status, b.code, b.msg)
		}
	}

	// Auth and ownership, on every capture and field route.
	for _, route := range []string{"POST " + url, "GET " + url, "DELETE " + url, "GET /v1/triggers/OC_fd/fields", "POST /v1/triggers/OC_fd/fields"} {
		method, target, _ := strings.Cut(route, " ")
		var e apiError
		if st := h.do(method, target, "", &e); st != 401 || e.Error != "unauthorized" {
			t.Errorf("%s without credentials = %d %+v", route, st, e)
		}
		if st := h.do(method, target, "", &e, withToken(otherToken)); st != 404 || e.Error != "not_found" {
			t.Errorf("%s by another account = %d %+v", route, st, e)
		}
	}
	var e apiError
	if st := h.do("GET", "/v1/triggers/OC_nope/capture", "", &e, withToken(demoToken)); st != 404 || !strings.Contains(e.Message, "GET /v1/triggers") {
		t.Errorf("unknown trigger = %d %+v", st, e)
	}

	// DELETE closes it; GET shows it closed.
	if st := h.do("DELETE", url, "", &sv, withToken(demoToken)); st != 200 || sv.State != "closed" {
		t.Fatalf("DELETE = %d %+v", st, sv)
	}
	var state capture.State
	if st := h.do("GET", url, "", &state, withToken(demoToken)); st != 200 || state.Session == nil || state.Session.State != "closed" || len(state.Captures) != 0 {
		t.Fatalf("GET after DELETE = %d %+v", st, state)
	}
	// Nothing is recorded once closed.
	if st := h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, nil, withToken(demoToken)); st != 202 {
		t.Fatalf("event = %d", st)
	}
	h.do("GET", url, "", &state, withToken(demoToken))
	if len(state.Captures) != 0 {
		t.Fatalf("recorded after DELETE: %+v", state.Captures)
	}
}

func TestCaptureRecordsEveryAuthenticatedRequest(t *testing.T) {
	h := newCaptureHarness(t, "")
	const url = "/v1/triggers/OC_fd/capture"
	if st := h.do("POST", url, `{"count":5}`, nil, withToken(demoToken)); st != 201 {
		t.Fatalf("open = %d", st)
	}
	inbound := "/inbound-event/v1/event/JSON/triggers?triggerId=OC_fd&contextId=c1"
	sends := []struct {
		body   string
		opts   []reqOpt
		status int
	}{
		{freshdeskBody, []reqOpt{withToken(demoToken), func(r *http.Request) { r.Header.Set("Cookie", "sid=secret"); r.Header.Set("X-Request-Id", "r1") }}, 202},
		// Freshdesk with Encoding set to a form (../shared/vendors/freshdesk/fd-bad-02-form-encoded.json).
		{"freshdesk_webhook%5Bticket_id%5D=1042&freshdesk_webhook%5Bticket_subject%5D=Unable+to+download", []reqOpt{withBasic(demoUser, demoToken), withType("application/x-www-form-urlencoded")}, 415},
		{`{"freshdesk_webhook":`, []reqOpt{withToken(demoToken)}, 400},
		{`{"big":"` + strings.Repeat("x", 102400) + `"}`, []reqOpt{withToken(demoToken)}, 413},
		// Not recorded: bad credentials, another account's token.
		{freshdeskBody, []reqOpt{withToken("jse_wrong")}, 401},
		{freshdeskBody, []reqOpt{withToken(otherToken)}, 404},
		{freshdeskBody, nil, 401},
	}
	for i, s := range sends {
		if st := h.do("POST", inbound, s.body, nil, s.opts...); st != s.status {
			t.Fatalf("send %d = %d, want %d", i, st, s.status)
		}
	}
	var state capture.State
	if st := h.do("GET", url, "", &state, withToken(demoToken)); st != 200 {
		t.Fatalf("GET = %d", st)
	}
	if len(state.Captures) != 4 || state.Session.Captured != 4 || state.Session.State != "open" {
		t.Fatalf("want 4 captures in an open session, got %d: %+v", len(state.Captures), state.Session)
	}
	// Newest first: 413, 400, 415, 202.
	big, broken, form, ok := state.Captures[0], state.Captures[1], state.Captures[2], state.Captures[3]

	if ok.Status != 202 || ok.EventID == "" || ok.Error != "" || ok.Method != "POST" || ok.Query["contextId"] != "c1" ||
		ok.Headers.Get("X-Api-Token") != "[redacted]" || ok.Headers.Get("Cookie") != "[redacted]" || ok.Headers.Get("X-Request-Id") != "r1" ||
		string(ok.Body) != freshdeskBody {
		t.Errorf("accepted capture = %+v", ok)
	}
	var subject *capture.Suggestion
	for i, sg := range ok.Suggestions {
		if sg.Path == subjectPath {
			subject = &ok.Suggestions[i]
		}
		if sg.Path == "$['freshdesk_webhook']['ticket_tags'][1]" && sg.Wildcard != "$['freshdesk_webhook']['ticket_tags'][*]" {
			t.Errorf("array leaf without [*] form: %+v", sg)
		}
	}
	if subject == nil || subject.Name != "ticket_subject" || subject.Type != "string" || string(subject.Sample) != `"Unable to download invoice PDF"` {
		t.Errorf("ticket_subject suggestion = %+v in %+v", subject, ok.Suggestions)
	}
	if len(ok.Suggestions) != 5 {
		t.Errorf("%d suggestions, want 5 leaves", len(ok.Suggestions))
	}

	if form.Status != 415 || form.Error != "unsupported_media_type" || !strings.Contains(form.Reason, "application/x-www-form-urlencoded") ||
		!strings.HasPrefix(form.BodyText, "freshdesk_webhook%5Bticket_id%5D=1042") || form.Body != nil ||
		form.Headers.Get("Authorization") != "[redacted]" || len(form.Suggestions) != 0 || form.EventID != "" {
		t.Errorf("form capture = %+v", form)
	}
	if broken.Status != 400 || broken.Error != "invalid" || !strings.Contains(broken.Reason, "byte offset") || broken.BodyText != `{"freshdesk_webhook":` {
		t.Errorf("invalid JSON capture = %+v", broken)
	}
	if big.Status != 413 || big.Error != "too_large" || !big.BodyTruncated || big.BodyBytes != 0 || !strings.Contains(big.Reason, "102400") {
		t.Errorf("too large capture = %+v", big)
	}

	// The fifth request fills the session; later ones are not recorded.
	h.do("POST", inbound, `{"n":5}`, nil, withToken(demoToken))
	h.do("POST", inbound, `{"n":6}`, nil, withToken(demoToken))
	h.do("GET", url, "", &state, withToken(demoToken))
	if len(state.Captures) != 5 || state.Session.State != "complete" || string(state.Captures[0].Body) != `{"n":5}` {
		t.Fatalf("after filling: %d captures, %+v", len(state.Captures), state.Session)
	}
}

func fieldOrigins(fv capture.FieldsView) map[string]string {
	m := map[string]string{}
	for _, f := range fv.Fields {
		m[f.Name] = f.Origin + " " + f.Path
	}
	return m
}

// TestPreviewPastTheBudget previews a query that outgrows JSONPath's work
// budget on a captured body (a refused one: it nests too deep): a 422 that
// says so, not a null that reads like "not in the document".
func TestPreviewPastTheBudget(t *testing.T) {
	h := newCaptureHarness(t, "")
	h.do("POST", "/v1/triggers/OC_fd/capture", "", nil, withToken(demoToken))
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	if st := h.do("POST", "/v1/triggers/OC_fd/events", deep, nil, withToken(demoToken)); st != 400 {
		t.Fatalf("deep body = %d, want 400", st)
	}
	var state capture.State
	h.do("GET", "/v1/triggers/OC_fd/capture", "", &state, withToken(demoToken))
	if len(state.Captures) != 1 || state.Captures[0].Status != 400 {
		t.Fatalf("captures = %+v", state.Captures)
	}
	var e struct{ Error, Message string }
	st := h.do("POST", "/v1/triggers/OC_fd/preview", `{"path":"$..[?@..*]","captureId":"`+state.Captures[0].ID+`"}`, &e, withToken(demoToken))
	if st != 422 || e.Error != "unprocessable" || !strings.Contains(e.Message, "more work") || !strings.Contains(e.Message, "$..[?@..*]") {
		t.Fatalf("preview = %d %+v", st, e)
	}
}

func TestAdoptFieldsAPI(t *testing.T) {
	h := newCaptureHarness(t, "")
	h.do("POST", "/v1/triggers/OC_fd/capture", "", nil, withToken(demoToken))
	var acc acceptedBody
	if st := h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, &acc, withToken(demoToken)); st != 202 {
		t.Fatalf("event = %d", st)
	}

	// Preview: what a path extracts from a captured body.
	var state capture.State
	h.do("GET", "/v1/triggers/OC_fd/capture", "", &state, withToken(demoToken))
	if len(state.Captures) != 1 {
		t.Fatalf("captures = %+v", state.Captures)
	}
	capID := state.Captures[0].ID
	previews := []struct {
		body   string
		status int
		want   string
	}{
		{`{"path":"$.freshdesk_webhook.ticket_tags[*]","captureId":"` + capID + `"}`, 200, `{"path":"$.freshdesk_webhook.ticket_tags[*]","value":["billing","invoice"],"nodes":2}`},
		{`{"path":" ` + subjectPath + `","captureId":"` + capID + `"}`, 200, `{"path":"` + subjectPath + `","value":"Unable to download invoice PDF","nodes":1}`},
		{`{"path":"$.nothing","captureId":"` + capID + `"}`, 200, `{"path":"$.nothing","value":null,"nodes":0}`},
		{`{"path":"$.freshdesk_webhook.ticket_tags[?@.length > 2]","captureId":"` + capID + `"}`, 200, `"nodes":0,"hints":["\".length\" in a filter selects a member named \"length\"`},
		{`{"path":"$.a[","captureId":"` + capID + `"}`, 400, `column 5`},
		{`{"path":"$.a","captureId":"cap_gone"}`, 404, `has no capture`},
	}
	for _, p := range previews {
		var raw json.RawMessage
		st := h.do("POST", "/v1/triggers/OC_fd/preview", p.body, &raw, withToken(demoToken))
		if st != p.status || !strings.Contains(string(raw), p.want) {
			t.Errorf("preview %s = %d %s, want %d containing %s", p.body, st, raw, p.status, p.want)
		}
	}

	var fv capture.FieldsView
	if st := h.do("GET", "/v1/triggers/OC_fd/fields", "", &fv, withToken(demoToken)); st != 200 || fv.Manual != 2 || fv.ManualLimit != 4 {
		t.Fatalf("GET fields = %d %+v", st, fv)
	}
	want := map[string]string{"ticket_id": "config $.freshdesk_webhook.ticket_id", "status": "config $.freshdesk_webhook.ticket_status", "tags": "preset $.freshdesk_webhook.ticket_tags"}
	if got := fieldOrigins(fv); len(got) != 3 || got["ticket_id"] != want["ticket_id"] || got["status"] != want["status"] || got["tags"] != want["tags"] {
		t.Fatalf("fields = %v", got)
	}

	// A suggested path is captured and free, also when written in another
	// form of the same path (dotted, "first_tag"); any other path (the last
	// tag, by a negative index) is manual.
	st := h.do("POST", "/v1/triggers/OC_fd/fields", `{"fields":{"ticket_subject":"`+subjectPath+`","all_tags":"$['freshdesk_webhook']['ticket_tags'][*]","first_tag":"$.freshdesk_webhook.ticket_tags[0]","last_tag":"$.freshdesk_webhook.ticket_tags[-1]"}}`, &fv, withToken(demoToken))
	if st != 200 {
		t.Fatalf("adopt = %d %+v", st, fv)
	}
	got := fieldOrigins(fv)
	if got["ticket_subject"] != "captured "+subjectPath || !strings.HasPrefix(got["all_tags"], "captured ") || got["first_tag"] != "captured $.freshdesk_webhook.ticket_tags[0]" ||
		!strings.HasPrefix(got["last_tag"], "manual ") || fv.Manual != 3 {
		t.Fatalf("after adopt: %v (manual %d)", got, fv.Manual)
	}

	// The next event carries the adopted fields.
	if st := h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, &acc, withToken(demoToken)); st != 202 {
		t.Fatalf("event = %d", st)
	}
	var ev EventJSON
	if st := h.do("GET", "/v1/events/"+acc.EventID, "", &ev, withToken(demoToken)); st != 200 {
		t.Fatalf("GET event = %d", st)
	}
	if string(ev.Fields["ticket_subject"]) != `"Unable to download invoice PDF"` || string(ev.Fields["all_tags"]) != `["billing","invoice"]` ||
		string(ev.Fields["first_tag"]) != `"billing"` || string(ev.Fields["last_tag"]) != `"invoice"` || string(ev.Fields["ticket_id"]) != `1042` {
		t.Fatalf("event fields = %v", ev.Fields)
	}
	// A replay extracts what a live event would now: adopted fields too
	// (it used the config's fields only).
	var rep struct {
		EventID string `json:"eventId"`
	}
	if st := h.do("POST", "/v1/events/"+acc.EventID+"/replay", "", &rep, withToken(demoToken)); st != 202 || rep.EventID == "" {
		t.Fatalf("replay = %d %+v", st, rep)
	}
	var replayed EventJSON
	if st := h.do("GET", "/v1/events/"+rep.EventID, "", &replayed, withToken(demoToken)); st != 200 {
		t.Fatalf("GET replayed event = %d", st)
	}
	if string(replayed.Fields["ticket_subject"]) != `"Unable to download invoice PDF"` || string(replayed.Fields["first_tag"]) != `"billing"` ||
		string(replayed.Fields["ticket_id"]) != `1042` {
		t.Fatalf("replayed event fields = %v", replayed.Fields)
	}

	bad := []struct {
		body   string
		status int
		code   string
		msg    []string
	}{
		// 2 config + last_tag + 2 more manual = 5 > 4.
		{`{"fields":{"m1":"$.a","m2":"$.b"}}`, 422, "unprocessable", []string{"limits.manual_fields", "limit of 4", "5 hand-written"}},
		{`{"fields":{"ok":"$.a","broken":"$.a[?(@.b=="}}`, 400, "invalid", []string{`field "broken"`, "column"}},
		{`{"fields":{"status":"$.x"}}`, 409, "conflict", []string{"config file"}},
		{`{"fields":{}}`, 400, "invalid", []string{"no fields given"}},
		{`{"fields":{"a":1}}`, 400, "invalid", []string{"must be a string"}},
		{`{"field":{"a":"$.a"}}`, 400, "invalid", []string{`unknown field "field"`}},
	}
	for _, b := range bad {
		var e apiError
		st := h.do("POST", "/v1/triggers/OC_fd/fields", b.body, &e, withToken(demoToken))
		if st != b.status || e.Error != b.code {
			t.Errorf("adopt %s = %d %+v, want %d %s", b.body, st, e, b.status, b.code)
		}
		for _, m := range b.msg {
			if !strings.Contains(e.Message, m) {
				t.Errorf("adopt %s: message %q lacks %q", b.body, e.Message, m)
			}
		}
	}
	// One more manual field fits exactly at the limit.
	if st := h.do("POST", "/v1/triggers/OC_fd/fields", `{"fields":{"m1":"$.a"}}`, &fv, withToken(demoToken)); st != 200 || fv.Manual != 4 {
		t.Fatalf("adopt at the limit = %d %+v", st, fv)
	}
	// Deleting a field frees its slot.
	if st := h.do("DELETE", "/v1/triggers/OC_fd/fields/m1", "", &fv, withToken(demoToken)); st != 200 || fv.Manual != 3 {
		t.Fatalf("delete = %d %+v", st, fv)
	}

	// Adopted fields survive a restart and still apply.
	h.restart()
	h.do("GET", "/v1/triggers/OC_fd/fields", "", &fv, withToken(demoToken))
	if got := fieldOrigins(fv); got["ticket_subject"] != "captured "+subjectPath || !strings.HasPrefix(got["last_tag"], "manual ") || got["ticket_id"] == "" {
		t.Fatalf("after restart: %v", got)
	}
	h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, &acc, withToken(demoToken))
	h.do("GET", "/v1/events/"+acc.EventID, "", &ev, withToken(demoToken))
	if string(ev.Fields["ticket_subject"]) != `"Unable to download invoice PDF"` {
		t.Fatalf("after restart, event fields = %v", ev.Fields)
	}
}

func TestTriggerAndEventLists(t *testing.T) {
	h := newCaptureHarness(t, "")
	var tl TriggerList
	if st := h.do("GET", "/v1/triggers", "", &tl, withToken(demoToken)); st != 200 {
		t.Fatalf("GET /v1/triggers = %d", st)
	}
	ids := []string{}
	for _, tr := range tl.Triggers {
		ids = append(ids, tr.ID)
	}
	if strings.Join(ids, ",") != "OC_big,OC_delivery,OC_demo,OC_echo,OC_fd" || tl.AccountID != "demo" {
		t.Fatalf("triggers = %v", ids)
	}
	fd := tl.Triggers[4]
	if fd.URL != "http://example.com/inbound-event/v1/event/JSON/triggers?triggerId=OC_fd" || fd.AliasURL != "http://example.com/v1/triggers/OC_fd/events" ||
		fd.Username != demoUser || fd.Fields != 3 || fd.BodyBytes != 102400 || fd.Capturing {
		t.Fatalf("OC_fd = %+v", fd)
	}
	h.do("GET", "/v1/triggers", "", &tl, withToken(otherToken))
	if len(tl.Triggers) != 1 || tl.Triggers[0].ID != "OC_other" {
		t.Fatalf("other account's triggers = %+v", tl.Triggers)
	}
	var e apiError
	if st := h.do("GET", "/v1/triggers", "", &e); st != 401 {
		t.Fatalf("GET /v1/triggers without token = %d", st)
	}

	var ids2 []string
	for i := 0; i < 3; i++ {
		var acc acceptedBody
		h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, &acc, withToken(demoToken))
		ids2 = append(ids2, acc.EventID)
	}
	h.do("POST", "/v1/triggers/OC_other/events", `{}`, nil, withToken(otherToken))
	var el EventList
	if st := h.do("GET", "/v1/events?limit=2", "", &el, withToken(demoToken)); st != 200 || len(el.Events) != 2 || el.NextCursor == "" {
		t.Fatalf("GET /v1/events = %d %+v", st, el)
	}
	if el.Events[0].EventID != ids2[2] || string(el.Events[0].Fields["ticket_id"]) != "1042" {
		t.Fatalf("newest event = %+v", el.Events[0])
	}
	h.do("GET", "/v1/events?cursor="+el.NextCursor, "", &el, withToken(demoToken))
	if len(el.Events) != 1 || el.Events[0].EventID != ids2[0] {
		t.Fatalf("second page = %+v", el)
	}
	if st := h.do("GET", "/v1/events?limit=0", "", &e, withToken(demoToken)); st != 400 {
		t.Fatalf("limit=0 = %d", st)
	}
	if st := h.do("GET", "/v1/events?cursor=%25garbage", "", &e, withToken(demoToken)); st != 400 || e.Error != "invalid" || !strings.Contains(e.Message, "nextCursor") {
		t.Fatalf("a cursor that is not an event id = %d %+v, want 400 naming nextCursor", st, e)
	}
}

// TestCaptureKeepsOversizeChunkedBodyUpToLimit checks that a chunked body
// over the limit is refused and captured with its first limit bytes.
func TestCaptureKeepsOversizeChunkedBodyUpToLimit(t *testing.T) {
	h := newCaptureHarness(t, "")
	h.do("POST", "/v1/triggers/OC_fd/capture", `{"count":2}`, nil, withToken(demoToken))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })
	body := `{"big":"` + strings.Repeat("x", 110000) + `"}`
	// Unknown length: net/http sends it chunked, without Content-Length.
	req, err := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/triggers/OC_fd/events", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-TOKEN", demoToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength > 0 {
		t.Fatalf("chunked oversize = %d (Content-Length %d)", resp.StatusCode, req.ContentLength)
	}
	var state capture.State
	h.do("GET", "/v1/triggers/OC_fd/capture", "", &state, withToken(demoToken))
	if len(state.Captures) != 1 {
		t.Fatalf("captures = %d", len(state.Captures))
	}
	c := state.Captures[0]
	if c.Status != 413 || !c.BodyTruncated || c.BodyBytes != 102400 || c.BodyText != body[:102400] {
		t.Fatalf("capture: status %d truncated %v bytes %d", c.Status, c.BodyTruncated, c.BodyBytes)
	}
}

// TestCaptureRecordsRateLimited checks that a request refused for the rate
// limit is captured with its reason.
func TestCaptureRecordsRateLimited(t *testing.T) {
	h := &captureHarness{t: t, dsn: filepath.Join(t.TempDir(), "c.db"), cfg: captureConfig()}
	h.cfg.Limits.RequestsPerMinute = 2
	h.start()
	if st := h.do("POST", "/v1/triggers/OC_fd/capture", `{"count":3}`, nil, withToken(demoToken)); st != 201 {
		t.Fatalf("open = %d", st)
	}
	for i, want := range []int{202, 202, 429} {
		if st := h.do("POST", "/v1/triggers/OC_fd/events", freshdeskBody, nil, withToken(demoToken)); st != want {
			t.Fatalf("event %d = %d, want %d", i, st, want)
		}
	}
	var state capture.State
	h.do("GET", "/v1/triggers/OC_fd/capture", "", &state, withToken(demoToken))
	if len(state.Captures) != 3 {
		t.Fatalf("captures = %d", len(state.Captures))
	}
	c := state.Captures[0]
	if c.Status != 429 || c.Error != "rate_limited" || !strings.Contains(c.Reason, "more than 2 requests") || c.EventID != "" {
		t.Fatalf("rate-limited capture = %+v", c)
	}
}

// TestReplayKeepsTheBasicUsername: adapters put the Basic auth username in
// their document; the Authorization header is never stored, so a replay
// normalised the event with no username (null where the original had one).
func TestReplayKeepsTheBasicUsername(t *testing.T) {
	h := &captureHarness{t: t, dsn: filepath.Join(t.TempDir(), "c.db"), cfg: captureConfig()}
	h.cfg.Triggers = append(h.cfg.Triggers, config.Trigger{ID: "OC_who", Account: "demo", Adapter: "whoami",
		Fields: map[string]string{"user": "$.user"}})
	h.start()
	var acc struct{ EventID string }
	if st := h.do("POST", "/v1/triggers/OC_who/events", `{"a":1}`, &acc, withBasic(demoUser, demoToken)); st != 202 {
		t.Fatalf("post: %d", st)
	}
	var rep struct{ EventID, ReplayOf string }
	if st := h.do("POST", "/v1/events/"+acc.EventID+"/replay", "", &rep, withToken(demoToken)); st != 202 || rep.ReplayOf != acc.EventID {
		t.Fatalf("replay: %d %+v", st, rep)
	}
	for _, id := range []string{acc.EventID, rep.EventID} {
		var ev EventJSON
		if st := h.do("GET", "/v1/events/"+id, "", &ev, withToken(demoToken)); st != 200 {
			t.Fatalf("get %s: %d", id, st)
		}
		if got := string(ev.Fields["user"]); got != `"`+demoUser+`"` || ev.AuthUsername != demoUser {
			t.Errorf("event %s: field user = %s, authUsername %q; want %q", id, got, ev.AuthUsername, demoUser)
		}
	}
}

// TestCaptureSuggestsWhatFieldsExtract: fields are extracted from the
// adapter's normalised document, so a vendor adapter's capture must suggest
// (and preview) paths in that document, not in the body as sent: adopting
// a suggestion must give the field the value the capture showed. The
// whoami adapter nests the body under "body", as vendor adapters reshape
// theirs (Freshdesk's freshdesk_webhook.ticket_subject is ticket.subject).
func TestCaptureSuggestsWhatFieldsExtract(t *testing.T) {
	cfg := captureConfig()
	cfg.Triggers = append(cfg.Triggers, config.Trigger{ID: "OC_who", Account: "demo", Adapter: "whoami"})
	h := &captureHarness{t: t, dsn: filepath.Join(t.TempDir(), "c.db"), cfg: cfg}
	h.start()
	const base = "/v1/triggers/OC_who"
	if st := h.do("POST", base+"/capture", `{"count":2}`, nil, withToken(demoToken)); st != http.StatusCreated {
		t.Fatalf("POST capture = %d", st)
	}
	if st := h.do("POST", base+"/events", `{"ticket":{"subject":"Broken"}}`, nil, withToken(demoToken)); st != http.StatusAccepted {
		t.Fatalf("event = %d", st)
	}
	// Refused before the adapter ran: its body's paths are not the fields'.
	if st := h.do("POST", base+"/events", `{"ticket":{"subject":"Refused"}}`, nil, withToken(demoToken), withType("text/plain")); st != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain event = %d", st)
	}
	var state capture.State
	if st := h.do("GET", base+"/capture", "", &state, withToken(demoToken)); st != http.StatusOK || len(state.Captures) != 2 {
		t.Fatalf("GET capture = %d, %d captures", st, len(state.Captures))
	}
	refused, accepted := state.Captures[0], state.Captures[1]
	if len(refused.Suggestions) != 0 {
		t.Errorf("a request refused before normalisation suggests %+v; those paths extract nothing", refused.Suggestions)
	}
	if refused.NormalizedBody != nil {
		t.Errorf("refused capture has a normalised document: %s", refused.NormalizedBody)
	}
	if got, want := string(accepted.NormalizedBody), `{"user":"","body":{"ticket":{"subject":"Broken"}}}`; got != want {
		t.Errorf("normalizedBody = %s, want %s", got, want)
	}
	var subject *capture.Suggestion
	for i, s := range accepted.Suggestions {
		if s.Name == "subject" {
			subject = &accepted.Suggestions[i]
		}
	}
	if subject == nil || subject.Path != "$['body']['ticket']['subject']" {
		t.Fatalf("suggestion subject = %+v, want the path in the normalised document", subject)
	}
	var pv PreviewView
	if st := h.do("POST", base+"/preview", `{"path":"`+subject.Path+`","captureId":"`+accepted.ID+`"}`, &pv, withToken(demoToken)); st != http.StatusOK || string(pv.Value) != `"Broken"` {
		t.Errorf("preview of the suggestion = %d %s, want \"Broken\"", st, pv.Value)
	}
	var perr apiError
	if st := h.do("POST", base+"/preview", `{"path":"$.ticket.subject","captureId":"`+refused.ID+`"}`, &perr, withToken(demoToken)); st != http.StatusUnprocessableEntity {
		t.Errorf("preview on a capture refused before normalisation = %d %+v, want 422", st, perr)
	}
	var fv capture.FieldsView
	if st := h.do("POST", base+"/fields", `{"fields":{"subject":"`+subject.Path+`"}}`, &fv, withToken(demoToken)); st != http.StatusOK {
		t.Fatalf("adopt = %d", st)
	}
	var ack struct {
		EventID string `json:"eventId"`
	}
	if st := h.do("POST", base+"/events", `{"ticket":{"subject":"Again"}}`, &ack, withToken(demoToken)); st != http.StatusAccepted {
		t.Fatalf("event after adopting = %d", st)
	}
	var ev struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if st := h.do("GET", "/v1/events/"+ack.EventID, "", &ev, withToken(demoToken)); st != http.StatusOK || string(ev.Fields["subject"]) != `"Again"` {
		t.Errorf("adopted suggestion extracts %s (status %d), want \"Again\"", ev.Fields["subject"], st)
	}
}
