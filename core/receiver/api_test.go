package receiver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
)

// TestEncodedPathParameters: ids and field names travel in the path
// percent-encoded (the admin page encodes them with encodeURIComponent,
// GET /v1/triggers hands out url.PathEscape'd alias URLs). Each route must
// decode them, or a trigger named OC_café and a field named a:b are
// unreachable.
func TestEncodedPathParameters(t *testing.T) {
	h := &captureHarness{t: t, dsn: t.TempDir() + "/c.db", cfg: captureConfig()}
	h.cfg.Limits.ManualFields = 10
	h.cfg.Triggers = append(h.cfg.Triggers, config.Trigger{ID: "OC_café", Account: "demo", Adapter: "generic"})
	h.start()
	const enc = "OC_caf%C3%A9"

	// The alias URL that GET /v1/triggers advertises accepts events.
	var tl TriggerList
	if st := h.do("GET", "/v1/triggers", "", &tl, withToken(demoToken)); st != 200 {
		t.Fatalf("GET /v1/triggers: %d", st)
	}
	alias := ""
	for _, tv := range tl.Triggers {
		if tv.ID == "OC_café" {
			alias = tv.AliasURL
		}
	}
	u, err := url.Parse(alias)
	if err != nil || !strings.Contains(alias, enc) {
		t.Fatalf("alias URL %q", alias)
	}
	var acc acceptedBody
	if st := h.do("POST", u.RequestURI(), `{"a":1}`, &acc, withToken(demoToken)); st != 202 || acc.TriggerID != "OC_café" {
		t.Fatalf("POST %s: %d %+v", u.RequestURI(), st, acc)
	}
	// The event, read and replayed through an encoded id too (an id
	// needs no encoding, but an encoded one is the same id).
	var ev EventJSON
	encID := "%65" + acc.EventID[1:] // %65 is 'e'
	if st := h.do("GET", "/v1/events/"+encID, "", &ev, withToken(demoToken)); st != 200 || ev.EventID != acc.EventID {
		t.Fatalf("GET /v1/events/%s: %d %+v", encID, st, ev)
	}

	// The capture routes of that trigger.
	var sv capture.SessionView
	if st := h.do("POST", "/v1/triggers/"+enc+"/capture", `{"count":1}`, &sv, withToken(demoToken)); st != 201 || sv.TriggerID != "OC_café" {
		t.Fatalf("POST capture: %d %+v", st, sv)
	}

	// Fields named with characters that encodeURIComponent encodes can be
	// deleted as the admin page asks for it.
	var fv capture.FieldsView
	if st := h.do("POST", "/v1/triggers/OC_fd/fields", `{"fields":{"a:b":"$.x","café":"$.y","50%":"$.z"}}`, &fv, withToken(demoToken)); st != 200 {
		t.Fatalf("adopt: %d", st)
	}
	for _, path := range []string{"a%3Ab", "caf%C3%A9", "50%25"} {
		var got apiError
		if st := h.do("DELETE", "/v1/triggers/OC_fd/fields/"+path, "", &got, withToken(demoToken)); st != 200 {
			t.Fatalf("DELETE field %s: %d %+v", path, st, got)
		}
	}
	if st := h.do("GET", "/v1/triggers/OC_fd/fields", "", &fv, withToken(demoToken)); st != 200 {
		t.Fatalf("GET fields: %d", st)
	}
	for _, f := range fv.Fields {
		if f.Name == "a:b" || f.Name == "café" || f.Name == "50%" {
			t.Errorf("field %q survived its DELETE", f.Name)
		}
	}
	// The admin page of that trigger names it decoded, for its script to
	// encode once.
	resp, err := h.srv.Test(httptest.NewRequest("GET", "/ui/triggers/"+enc, nil))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-trigger="OC_café"`) {
		t.Fatalf("admin page: %d, data-trigger not decoded:\n%.600s", resp.StatusCode, page)
	}
}

// TestUnknownMethodsSayWhatIsAllowed: a method fiber does not know gets
// what a known one gets: 405 with the Allow header listing the path's
// methods (RFC 9110 requires it), or 404 on a path that does not exist.
func TestUnknownMethodsSayWhatIsAllowed(t *testing.T) {
	h := newHarness(t, testConfig())
	tests := []struct {
		method, target string
		status         int
		allow          string
	}{
		{"PROPFIND", "/v1/events/evt_x", 405, "GET, HEAD"},
		{"BREW", "/v1/triggers/OC_demo/events", 405, "POST"},
		{"PROPFIND", "/inbound-event/v1/event/JSON/triggers", 405, "POST"},
		{"PROPFIND", "/nope", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := h.do(t, tc.method, tc.target, "", jsonHeaders())
			if r.status != tc.status || r.header.Get("Allow") != tc.allow {
				t.Fatalf("status %d, Allow %q; want %d, %q; body %s", r.status, r.header.Get("Allow"), tc.status, tc.allow, r.body)
			}
			msg, _ := r.json["message"].(string)
			switch tc.status {
			case 405:
				if r.json["error"] != "method_not_allowed" || !strings.Contains(msg, `method "`+tc.method+`" is not supported; use `+tc.allow) {
					t.Fatalf("body %s", r.body)
				}
			case 404:
				if r.json["error"] != "not_found" || !strings.Contains(msg, "no such endpoint") {
					t.Fatalf("body %s", r.body)
				}
			}
		})
	}
	if logs := h.logs.String(); !strings.Contains(logs, `"method":"PROPFIND"`) || strings.Contains(logs, "TRACE") {
		t.Fatalf("the log does not name the method as sent:\n%s", logs)
	}
}

// ticketHarness is a server with workflows whose trigger OC_t opens one
// ticket per event; it returns the harness and the ticket's id.
func ticketHarness(t *testing.T) (*wfHarness, string) {
	t.Helper()
	cfg := &config.Config{
		Accounts: []config.Account{
			{ID: "demo", Username: demoUser, Tokens: []config.Token{{SHA256: sha(demoToken)}}},
			{ID: "other", Username: "other@example.com", Tokens: []config.Token{{SHA256: sha(otherToken)}}},
		},
		Triggers: []config.Trigger{{ID: "OC_t", Account: "demo", Adapter: "generic", Workflows: []config.Workflow{
			{ID: "tk", Tasks: []config.Task{{ID: "open", Type: "ticket", Title: "hello"}}},
		}}},
	}
	h := newWFHarness(t, cfg)
	var acc acceptedBody
	if st := h.call(t, "POST", "/v1/triggers/OC_t/events", demoToken, `{"a":1}`, &acc); st != 202 {
		t.Fatalf("POST event: %d", st)
	}
	h.waitEvent(t, acc.EventID, 1)
	var tl TicketList
	if st := h.call(t, "GET", "/v1/tickets", demoToken, "", &tl); st != 200 || len(tl.Tickets) != 1 {
		t.Fatalf("GET /v1/tickets: %d, %d tickets", st, len(tl.Tickets))
	}
	return h, tl.Tickets[0].ID
}

// TestPatchTicketBodyIsOneObject: a ticket change is exactly one JSON
// object; anything after it is refused and changes nothing, as on every
// other API body (it was applied, the rest ignored).
func TestPatchTicketBodyIsOneObject(t *testing.T) {
	h, id := ticketHarness(t)
	var e apiError
	if st := h.call(t, "PATCH", "/v1/tickets/"+id, demoToken, `{"status":"solved"} {"status":"closed"}`, &e); st != 400 || e.Error != "invalid" || !strings.Contains(e.Message, "send one JSON object") {
		t.Fatalf("two objects: %d %+v", st, e)
	}
	if st := h.call(t, "PATCH", "/v1/tickets/"+id, demoToken, `{"status":"solved"}garbage`, &e); st != 400 || e.Error != "invalid" {
		t.Fatalf("trailing garbage: %d %+v", st, e)
	}
	var tk struct{ Status string }
	if st := h.call(t, "GET", "/v1/tickets/"+id, demoToken, "", &tk); st != 200 || tk.Status != "open" {
		t.Fatalf("a refused change was applied: %d, status %q", st, tk.Status)
	}
	// Empty, it says what to send; a well-formed change applies.
	if st := h.call(t, "PATCH", "/v1/tickets/"+id, demoToken, "", &e); st != 400 || !strings.Contains(e.Message, `{"status":"solved"}`) {
		t.Fatalf("empty body: %d %+v", st, e)
	}
	if st := h.call(t, "PATCH", "/v1/tickets/"+id, demoToken, `{"status":"solved"}`, &tk); st != 200 || tk.Status != "solved" {
		t.Fatalf("change: %d, status %q", st, tk.Status)
	}
	// Another account's token does not reach it.
	if st := h.call(t, "PATCH", "/v1/tickets/"+id, otherToken, `{"status":"closed"}`, &e); st != 404 {
		t.Fatalf("other account: %d %+v", st, e)
	}
}

// TestAPIBodiesRefuseContentEncoding: the API bodies, like events, are
// read as sent, so a Content-Encoding other than identity is a 415 that
// says to send them uncompressed, not a body taken as plain JSON (or
// refused as "not valid JSON at offset 0" when it really is gzip).
func TestAPIBodiesRefuseContentEncoding(t *testing.T) {
	h := newCaptureHarness(t, "")
	gz := func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") }
	for _, tc := range []struct{ method, target, body string }{
		{"POST", "/v1/triggers/OC_fd/capture", `{"count":2}`},
		{"POST", "/v1/triggers/OC_fd/fields", `{"fields":{"subject":"$.subject"}}`},
		{"POST", "/v1/triggers/OC_fd/preview", `{"path":"$.x","captureId":"cap_x"}`},
	} {
		var e apiError
		if st := h.do(tc.method, tc.target, tc.body, &e, withToken(demoToken), gz); st != 415 || e.Error != "unsupported_media_type" || !strings.Contains(e.Message, "uncompressed") {
			t.Errorf("%s %s: %d %+v", tc.method, tc.target, st, e)
		}
	}
	var st capture.State
	if code := h.do("GET", "/v1/triggers/OC_fd/capture", "", &st, withToken(demoToken)); code != 200 || st.Session != nil {
		t.Fatalf("a refused body opened a capture session: %d %+v", code, st.Session)
	}
	// identity is no encoding.
	id := func(r *http.Request) { r.Header.Set("Content-Encoding", "identity") }
	if code := h.do("POST", "/v1/triggers/OC_fd/capture", `{"count":2}`, nil, withToken(demoToken), id); code != 201 {
		t.Fatalf("identity: %d", code)
	}
}

// TestAPIBodyNotAnObject: a body that is JSON but not an object is told
// to be an object, not "member \"\" must be struct".
func TestAPIBodyNotAnObject(t *testing.T) {
	h := newCaptureHarness(t, "")
	for _, body := range []string{`[]`, `"x"`, `5`, `true`} {
		for _, target := range []string{"/v1/triggers/OC_fd/capture", "/v1/triggers/OC_fd/fields", "/v1/triggers/OC_fd/preview"} {
			var e apiError
			st := h.do("POST", target, body, &e, withToken(demoToken))
			if st != 400 || e.Error != "invalid" || !strings.HasPrefix(e.Message, "the body must be a JSON object, not a JSON ") {
				t.Errorf("POST %s %s: %d %+v", target, body, st, e)
			}
		}
	}
	var e apiError
	if st := h.do("POST", "/v1/triggers/OC_fd/fields", `{"fields":[]}`, &e, withToken(demoToken)); st != 400 || e.Message != `member "fields" must be an object, not a JSON array` {
		t.Errorf("fields as an array: %d %+v", st, e)
	}
}

// TestPreviewNamesMissingMembers: a preview without a path or a captureId
// is a 400 naming what is missing, not a 404 for capture "" (or a
// JSONPath syntax error about an empty selector).
func TestPreviewNamesMissingMembers(t *testing.T) {
	h := newCaptureHarness(t, "")
	for _, tc := range []struct{ body, missing string }{
		{`{"path":"$.x"}`, "captureId is missing"},
		{`{"path":"$.x","captureId":""}`, "captureId is missing"},
		{`{"captureId":"cap_x"}`, "path is missing"},
		{`{"path":"  ","captureId":"cap_x"}`, "path is missing"},
		{``, "path is missing"},
	} {
		var e apiError
		if st := h.do("POST", "/v1/triggers/OC_fd/preview", tc.body, &e, withToken(demoToken)); st != 400 || e.Error != "invalid" || !strings.HasPrefix(e.Message, tc.missing) {
			t.Errorf("%s: %d %+v", tc.body, st, e)
		}
	}
	// A capture that does not exist is still a 404.
	var e apiError
	if st := h.do("POST", "/v1/triggers/OC_fd/preview", `{"path":"$.x","captureId":"cap_x"}`, &e, withToken(demoToken)); st != 404 {
		t.Errorf("unknown capture: %d %+v", st, e)
	}
}

// TestCursorCaseDoesNotRepeatPages: ULIDs are case-insensitive and the
// cursor check accepts a lower-case one, so it must page like the cursor
// it spells; compared as given it sorted after every id and answered the
// first page again.
func TestCursorCaseDoesNotRepeatPages(t *testing.T) {
	h := newHarness(t, testConfig())
	var ids []string
	for range 3 {
		r := h.do(t, http.MethodPost, inbound+"OC_demo", goodBody, jsonHeaders())
		if r.status != 202 {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		ids = append(ids, r.json["eventId"].(string))
	}
	page := func(cursor string) EventList {
		t.Helper()
		r := h.do(t, http.MethodGet, "/v1/events?limit=1&cursor="+cursor, "", jsonHeaders())
		var l EventList
		if err := json.Unmarshal(r.body, &l); r.status != 200 || err != nil {
			t.Fatalf("GET /v1/events cursor %q: %d %s", cursor, r.status, r.body)
		}
		return l
	}
	first := page("")
	if len(first.Events) != 1 || first.Events[0].EventID != ids[2] || first.NextCursor == "" {
		t.Fatalf("first page %+v, want %s", first, ids[2])
	}
	lower := "evt_" + strings.ToLower(strings.TrimPrefix(first.NextCursor, "evt_"))
	second := page(lower)
	if len(second.Events) != 1 || second.Events[0].EventID != ids[1] {
		t.Fatalf("page after the lower-case cursor %s: %+v, want %s", lower, second.Events, ids[1])
	}
}

// TestCaptureTTLOutOfRange: ttl_seconds is checked as sent. Multiplied
// into nanoseconds first, 18446744174 wrapped around int64 to about 100 s
// and opened a session, and 9999999999999 was refused as "got 1864712048".
func TestCaptureTTLOutOfRange(t *testing.T) {
	h := newCaptureHarness(t, "")
	for _, ttl := range []string{"18446744174", "9999999999999", "-1", "86401", "-9223372036854775808"} {
		var e apiError
		st := h.do("POST", "/v1/triggers/OC_fd/capture", `{"ttl_seconds":`+ttl+`}`, &e, withToken(demoToken))
		if st != 422 || e.Error != "unprocessable" || !strings.HasSuffix(e.Message, "got "+ttl) {
			t.Errorf("ttl_seconds %s: %d %+v", ttl, st, e)
		}
	}
	var s capture.State
	if code := h.do("GET", "/v1/triggers/OC_fd/capture", "", &s, withToken(demoToken)); code != 200 || s.Session != nil {
		t.Fatalf("a refused ttl opened a session: %d %+v", code, s.Session)
	}
	var sv capture.SessionView
	if code := h.do("POST", "/v1/triggers/OC_fd/capture", `{"ttl_seconds":86400}`, &sv, withToken(demoToken)); code != 201 || sv.ExpiresAt.Sub(sv.CreatedAt) != 24*time.Hour {
		t.Fatalf("ttl_seconds 86400: %d %+v", code, sv)
	}
}

// TestUnreadBodyIsNotARequest: the part of a body past fiber's 8 KB
// pre-read that a handler does not read stays on the connection. It must
// be dropped, not parsed as the next request (request smuggling); the
// request really pipelined after it is answered, on the same connection.
func TestUnreadBodyIsNotARequest(t *testing.T) {
	h := newHarness(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.Serve(ln)
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })

	smuggled := "DELETE /v1/triggers/OC_demo/capture HTTP/1.1\r\nHost: x\r\nX-API-TOKEN: " + demoToken + "\r\n\r\n"
	for _, tc := range []struct {
		name, head string
		pad        int
		status     int
		chunked    bool
	}{
		{"GET with a body", "GET /v1/events/evt_x", maxStreamPrefetch + 1, 404, false},
		{"GET with a long body", "GET /healthz", 3 * maxStreamPrefetch, 200, false},
		{"POST replay with a body", "POST /v1/events/evt_x/replay", maxStreamPrefetch + 1, 404, false},
		{"an event, read to its end", "POST /v1/triggers/OC_demo/events", 0, 202, false},
		// A chunked stream read past its end parses the next request as a
		// chunk size: the drain after the handler waited for it (Genesys
		// sends chunked bodies) or ate it.
		{"a chunked event, read to its end", "POST /v1/triggers/OC_demo/events", 0, 202, true},
		{"a small chunked event", "POST /inbound-event/v1/event/JSON/triggers?triggerId=OC_demo", -1, 202, true},
		{"a chunked GET with a long body", "GET /healthz", 3 * maxStreamPrefetch, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var body string
			switch tc.pad {
			case 0:
				body = `{"a":"` + strings.Repeat("x", 2*maxStreamPrefetch) + `"}`
			case -1:
				body = `{"a":1}`
			default:
				body = `{"a":"` + strings.Repeat("x", tc.pad) + smuggled + `"}`
			}
			framing := "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			if tc.chunked {
				var b strings.Builder
				for rest := body; rest != ""; {
					n := min(len(rest), 3000)
					fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
					rest = rest[n:]
				}
				framing = "\r\nTransfer-Encoding: chunked\r\n\r\n" + b.String() + "0\r\n\r\n"
			}
			req := tc.head + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-TOKEN: " + demoToken +
				framing + "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
			if _, err := conn.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			var got []string
			for range 2 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("after %v: %v", got, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got = append(got, strconv.Itoa(resp.StatusCode)+" "+string(b))
			}
			if !strings.HasPrefix(got[0], strconv.Itoa(tc.status)+" ") || !strings.HasPrefix(got[1], `200 {"status":"ready"}`) {
				t.Fatalf("answers %q; want %d, then the pipelined GET /readyz", got, tc.status)
			}
		})
	}
}

// TestListLimitsNameTheValue: every list refuses a bad limit the same way,
// naming what was sent (GET /v1/events used to leave it out).
func TestListLimitsNameTheValue(t *testing.T) {
	h, _ := ticketHarness(t)
	for _, list := range []string{"/v1/events", "/v1/runs", "/v1/tickets"} {
		for _, limit := range []string{"0", "-1", "501", "abc", "99999999999999999999"} {
			var e apiError
			if st := h.call(t, "GET", list+"?limit="+limit, demoToken, "", &e); st != 400 || e.Error != "invalid" ||
				e.Message != `limit must be a number from 1 to 500, not "`+limit+`"` {
				t.Errorf("%s?limit=%s: %d %+v", list, limit, st, e)
			}
		}
	}
}

// TestListsRefuseUnknownQueryParameters: a misspelt filter or a second
// value for one is refused, not ignored: GET /v1/runs?state=failed
// answered every run as if it were the failed ones.
func TestListsRefuseUnknownQueryParameters(t *testing.T) {
	h, _ := ticketHarness(t)
	for _, tc := range []struct{ target, inMsg string }{
		{"/v1/runs?state=failed", `query parameter "state" is not known here; use trigger, status, since, limit, cursor`},
		{"/v1/runs?status=failed&status=succeeded", `query parameter "status" is given more than once; it takes one value`},
		{"/v1/tickets?trigger=OC_t&assignee=bob", `query parameter "assignee" is not known here; use trigger, status, limit, cursor`},
		{"/v1/events?since=1h", `query parameter "since" is not known here; use trigger, limit, cursor`},
		{"/v1/events?trigger=OC_x&trigger=OC_t", `query parameter "trigger" is given more than once; it takes one value`},
		{"/v1/triggers?account=other", `query parameter "account" is not known here; this list takes none`},
	} {
		var e apiError
		if st := h.call(t, "GET", tc.target, demoToken, "", &e); st != 400 || e.Error != "invalid" || e.Message != tc.inMsg {
			t.Errorf("%s: %d %+v", tc.target, st, e)
		}
	}
	// Every parameter each list documents is still taken.
	var runs RunList
	if st := h.call(t, "GET", "/v1/runs?trigger=OC_t&status=succeeded&since=1h&limit=5&cursor=", demoToken, "", &runs); st != 200 || len(runs.Runs) != 1 {
		t.Errorf("runs: %d %+v", st, runs)
	}
	var tickets TicketList
	if st := h.call(t, "GET", "/v1/tickets?trigger=OC_t&status=open&limit=5&cursor=", demoToken, "", &tickets); st != 200 || len(tickets.Tickets) != 1 {
		t.Errorf("tickets: %d %+v", st, tickets)
	}
	var events EventList
	if st := h.call(t, "GET", "/v1/events?trigger=OC_t&limit=5&cursor=", demoToken, "", &events); st != 200 || len(events.Events) != 1 {
		t.Errorf("events: %d %+v", st, events)
	}
	var triggers TriggerList
	if st := h.call(t, "GET", "/v1/triggers", demoToken, "", &triggers); st != 200 || len(triggers.Triggers) == 0 {
		t.Errorf("triggers: %d %+v", st, triggers)
	}
}

// TestAPIBodyEndsWithItsValue: nothing but white space may follow the JSON
// object of an API body. A stray ']' or '}' slipped past (json.Decoder's
// More reports the end of an array or object, not of the input), so
// {"count":2}] opened a session.
func TestAPIBodyEndsWithItsValue(t *testing.T) {
	h := newCaptureHarness(t, "")
	for _, body := range []string{`{"count":2}]`, `{"count":2}}`, `{"count":2} {}`, `{"count":2}x`} {
		var e apiError
		if st := h.do("POST", "/v1/triggers/OC_fd/capture", body, &e, withToken(demoToken)); st != 400 || e.Error != "invalid" ||
			e.Message != "the body goes on after its JSON value, at byte offset 11; send one JSON object" {
			t.Errorf("%s: %d %+v", body, st, e)
		}
	}
	var s capture.State
	if code := h.do("GET", "/v1/triggers/OC_fd/capture", "", &s, withToken(demoToken)); code != 200 || s.Session != nil {
		t.Fatalf("a refused body opened a session: %d %+v", code, s.Session)
	}
	if st := h.do("POST", "/v1/triggers/OC_fd/capture", "{\"count\":2}\r\n\t ", nil, withToken(demoToken)); st != 201 {
		t.Fatalf("trailing white space: %d", st)
	}
}

// TestLowerCaseIDsFindTheirRecords: ids end in a ULID, which is
// case-insensitive; a lower-case cursor already paged on, while the same
// id in lower case in a path answered 404.
func TestLowerCaseIDsFindTheirRecords(t *testing.T) {
	h, id := ticketHarness(t)
	lower := "tkt_" + strings.ToLower(strings.TrimPrefix(id, "tkt_"))
	var tk struct{ ID, Status string }
	if st := h.call(t, "GET", "/v1/tickets/"+lower, demoToken, "", &tk); st != 200 || tk.ID != id {
		t.Fatalf("GET %s: %d %+v", lower, st, tk)
	}
	if st := h.call(t, "PATCH", "/v1/tickets/"+lower, demoToken, `{"status":"solved"}`, &tk); st != 200 || tk.Status != "solved" {
		t.Fatalf("PATCH %s: %d %+v", lower, st, tk)
	}
}
