package receiver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
	"github.com/jsonevent/jsonevent/core/workflow"
)

// wfGeneric is the pass-through adapter for these tests.
type wfGeneric struct{}

func (wfGeneric) Name() string { return "generic" }
func (wfGeneric) Normalize(_ context.Context, r *core.Request) (*core.Normalized, error) {
	return &core.Normalized{Body: r.Body}, nil
}

// wfMail is an in-process SMTP server (emersion/go-smtp) keeping every
// message it accepts.
type wfMail struct {
	mu   sync.Mutex
	msgs []wfMsg
}

type wfMsg struct {
	to   []string
	data []byte
}

func (m *wfMail) NewSession(*smtp.Conn) (smtp.Session, error) { return &wfMailSession{m: m}, nil }

func (m *wfMail) all() []wfMsg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]wfMsg(nil), m.msgs...)
}

type wfMailSession struct {
	m  *wfMail
	to []string
}

func (s *wfMailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *wfMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *wfMailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, wfMsg{to: s.to, data: b})
	s.m.mu.Unlock()
	return nil
}
func (s *wfMailSession) Reset()        { s.to = nil }
func (s *wfMailSession) Logout() error { return nil }

// flakySink fails its first `failures` requests with 503, then answers 200
// with {"id":"R-n"}; it records every request.
type flakySink struct {
	mu       sync.Mutex
	failures int
	reqs     []*http.Request
	bodies   [][]byte
	ok       int
}

func (f *flakySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	f.bodies = append(f.bodies, b)
	if len(f.reqs) <= f.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	f.ok++
	io.WriteString(w, `{"id":"R-1"}`)
}

type wfHarness struct {
	base   string
	engine *workflow.Engine
	st     *store.Store
}

func newWFHarness(t testing.TB, cfg *config.Config) *wfHarness {
	t.Helper()
	ctx := context.Background()
	eng, err := workflow.NewEngine(cfg, workflow.EngineOptions{})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	rc, err := eng.RiverConfig(config.Queue{Workers: benchWorkers})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, config.Store{DSN: filepath.Join(t.TempDir(), "wf.db")}, nil, store.Options{River: rc})
	if err != nil {
		t.Fatal(err)
	}
	eng.Attach(st)
	if err := st.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{
		Store: st, Limiter: limit.NewMemory(), Adapters: AdapterMap{"generic": wfGeneric{}},
		Log: slog.New(slog.DiscardHandler), Jobs: eng.PlanJobs, Workflows: eng,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = st.Queue().Stop(sctx)
		eng.Close()
		_ = st.Close()
	})
	return &wfHarness{base: "http://" + ln.Addr().String(), engine: eng, st: st}
}

func (h *wfHarness) call(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-TOKEN", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// waitEvent polls GET /v1/events/{id} until it lists n runs, all final.
func (h *wfHarness) waitEvent(t *testing.T, id string, n int) EventJSON {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ev EventJSON
		if st := h.call(t, "GET", "/v1/events/"+id, demoToken, "", &ev); st != 200 {
			t.Fatalf("GET event: %d", st)
		}
		done := len(ev.Runs) == n
		for _, r := range ev.Runs {
			if r.Status != store.RunSucceeded && r.Status != store.RunSkipped && r.Status != store.RunFailed {
				done = false
			}
		}
		if done {
			return ev
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(ev.Runs, "", " ")
			t.Fatalf("event %s runs did not finish: %s", id, b)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

const evil = "\",\"admin\":true,\"x\":\"\r\nX-Admin: yes"

// TestWorkflowsEndToEnd drives the proof through HTTP: a flaky
// receiver (3 attempts, one delivery), a skipped condition, an injection
// attempt that stays data, a ticket listed and changed, a survey e-mail
// received, a run that exhausts its attempts and is reported, a manual
// retry, and a replay.
func TestWorkflowsEndToEnd(t *testing.T) {
	sink := &flakySink{failures: 2}
	sinkSrv := httptest.NewServer(sink)
	defer sinkSrv.Close()
	var downMu sync.Mutex
	downStatus := http.StatusInternalServerError
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downMu.Lock()
		defer downMu.Unlock()
		w.WriteHeader(downStatus)
	}))
	defer down.Close()
	var noteMu sync.Mutex
	var notes []workflow.Notification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n workflow.Notification
		_ = json.NewDecoder(r.Body).Decode(&n)
		noteMu.Lock()
		notes = append(notes, n)
		noteMu.Unlock()
	}))
	defer hook.Close()
	mailbox := &wfMail{}
	ms := smtp.NewServer(mailbox)
	ms.Domain = "localhost"
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ms.Serve(mln)
	defer ms.Close()

	fast := config.Retry{Attempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 60 * time.Millisecond}
	cfg := &config.Config{
		SMTP: config.SMTP{Host: "127.0.0.1", Port: mln.Addr().(*net.TCPAddr).Port, From: "surveys@example.com", TLS: "none"},
		Accounts: []config.Account{
			{ID: "demo", Username: demoUser, Tokens: []config.Token{{SHA256: sha(demoToken)}},
				Notify: config.Notify{Webhook: hook.URL, Email: "ops@example.com"}},
			{ID: "other", Username: "other@example.com", Tokens: []config.Token{{SHA256: sha(otherToken)}}},
		},
		Triggers: []config.Trigger{
			{ID: "OC_wf", Account: "demo", Adapter: "generic",
				Fields: map[string]string{"subject": "$.subject", "email": "$.email", "priority": "$.priority", "total": "$.total", "evil": "$.evil"},
				Workflows: []config.Workflow{
					{ID: "urgent-ticket", When: "@.fields.priority == 'Urgent' && @.fields.total > 1000", Retry: fast, Tasks: []config.Task{
						{ID: "open", Type: "ticket", Title: "{{ .fields.subject }}", Priority: "high"},
						{ID: "notify", Type: "http", Method: "POST", URL: sinkSrv.URL + "/x?ticket={{ .tasks.open.id }}&evil={{ .fields.evil }}",
							Headers: map[string]string{"X-Evil": "{{ .fields.evil }}"},
							Body:    map[string]any{"ticket": "{{ .tasks.open.id }}", "email": "{{ .fields.email }}", "note": "{{ .fields.evil }}"},
							Success: []int{200, 201, 202, 204}, Outputs: map[string]string{"remote_id": "$.id"}},
						{ID: "survey", Type: "email", To: "{{ .fields.email }}", Subject: "How did we do?",
							Body: "Tell us: https://survey.example.com/s/SV_1?ticket={{ .tasks.open.id }}&r={{ .tasks.notify.remote_id }}"},
					}},
					{ID: "low-only", When: "@.fields.priority == 'Low'", Tasks: []config.Task{{ID: "t", Type: "ticket", Title: "low"}}},
				}},
			{ID: "OC_doom", Account: "demo", Adapter: "generic", Workflows: []config.Workflow{
				{ID: "doomed", Retry: fast, Tasks: []config.Task{{ID: "call", Type: "http", URL: down.URL + "/fail"}}},
			}},
		},
	}
	h := newWFHarness(t, cfg)

	// 1. An urgent event: ticket, flaky HTTP (3 attempts), e-mail; the
	// low-only workflow is skipped.
	payload, _ := json.Marshal(map[string]any{"subject": "Printer on fire", "email": "ann@example.com", "priority": "Urgent", "total": 1500, "evil": evil})
	var acc struct{ EventID string }
	if st := h.call(t, "POST", "/inbound-event/v1/event/JSON/triggers?triggerId=OC_wf", demoToken, string(payload), &acc); st != 202 {
		t.Fatalf("POST event: %d", st)
	}
	ev := h.waitEvent(t, acc.EventID, 2)
	runs := map[string]*store.Run{}
	for _, r := range ev.Runs {
		runs[r.WorkflowID] = r
	}
	urgent := runs["urgent-ticket"]
	if urgent.Status != store.RunSucceeded || len(urgent.Attempts) != 3 {
		t.Fatalf("urgent run: %s, %d attempts, %s", urgent.Status, len(urgent.Attempts), urgent.Error)
	}
	for _, a := range urgent.Attempts[:2] {
		if a.Task != "notify" || !strings.Contains(a.Error, "answered 503") {
			t.Errorf("failed attempt = %+v", a)
		}
	}
	if low := runs["low-only"]; low.Status != store.RunSkipped || low.SkippedBy != "@.fields.priority == 'Low'" {
		t.Errorf("low-only run = %+v", low)
	}

	// One delivered side effect; every attempt carried the same key; the
	// injection stayed data in the body, the query and the header.
	sink.mu.Lock()
	if len(sink.reqs) != 3 || sink.ok != 1 {
		t.Errorf("sink: %d requests, %d delivered; want 3 and 1", len(sink.reqs), sink.ok)
	}
	for i, r := range sink.reqs {
		if r.Header.Get("Idempotency-Key") != acc.EventID+".urgent-ticket.notify" {
			t.Errorf("request %d Idempotency-Key = %q", i, r.Header.Get("Idempotency-Key"))
		}
		if r.Header.Get("X-Admin") != "" || strings.ContainsAny(r.Header.Get("X-Evil"), "\r\n") {
			t.Errorf("request %d: header injection: %v", i, r.Header)
		}
		if r.URL.Query().Get("evil") != evil || len(r.URL.Query()) != 2 {
			t.Errorf("request %d: query = %v", i, r.URL.Query())
		}
		var body map[string]any
		if err := json.Unmarshal(sink.bodies[i], &body); err != nil || len(body) != 3 || body["note"] != evil || body["admin"] != nil {
			t.Errorf("request %d: body = %s (%v)", i, sink.bodies[i], err)
		}
	}
	sink.mu.Unlock()

	// 2. The ticket: listed, read, changed; invisible to another account.
	var tl TicketList
	if st := h.call(t, "GET", "/v1/tickets", demoToken, "", &tl); st != 200 || len(tl.Tickets) != 1 {
		t.Fatalf("GET /v1/tickets: %d, %d tickets", st, len(tl.Tickets))
	}
	tk := tl.Tickets[0]
	if tk.Title != "Printer on fire" || tk.Priority != "high" || tk.Status != "open" || tk.EventID != acc.EventID {
		t.Errorf("ticket = %+v", tk)
	}
	var other TicketList
	if h.call(t, "GET", "/v1/tickets", otherToken, "", &other); len(other.Tickets) != 0 {
		t.Errorf("another account lists %d tickets", len(other.Tickets))
	}
	if st := h.call(t, "GET", "/v1/tickets/"+tk.ID, otherToken, "", nil); st != 404 {
		t.Errorf("another account's GET ticket: %d", st)
	}
	var patched store.Ticket
	if st := h.call(t, "PATCH", "/v1/tickets/"+tk.ID, demoToken, `{"status":"solved","assignee":"bob"}`, &patched); st != 200 || patched.Status != "solved" || patched.Assignee != "bob" {
		t.Errorf("PATCH ticket: %d %+v", st, patched)
	}
	var errBody struct{ Error, Message string }
	if st := h.call(t, "PATCH", "/v1/tickets/"+tk.ID, demoToken, `{"status":"done"}`, &errBody); st != 400 || errBody.Error != "invalid" {
		t.Errorf("PATCH bad status: %d %+v", st, errBody)
	}
	if st := h.call(t, "PATCH", "/v1/tickets/"+tk.ID, otherToken, `{"status":"closed"}`, nil); st != 404 {
		t.Errorf("PATCH from another account: %d", st)
	}

	// 3. The survey e-mail arrived with the ticket id and remote id.
	msgs := mailbox.all()
	if len(msgs) != 1 || msgs[0].to[0] != "ann@example.com" {
		t.Fatalf("mails = %+v", msgs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].data))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	if m.Header.Get("Subject") != "How did we do?" || !strings.Contains(string(text), "?ticket="+tk.ID+"&r=R-1") {
		t.Errorf("survey mail: %q\n%s", m.Header.Get("Subject"), text)
	}

	// 4. A run that exhausts its attempts: failed, notified by webhook and
	// e-mail, listed by GET /v1/runs?status=failed.
	if st := h.call(t, "POST", "/v1/triggers/OC_doom/events", demoToken, `{"a":1}`, &acc); st != 202 {
		t.Fatalf("POST doom: %d", st)
	}
	doomEvent := acc.EventID
	doomed := h.waitEvent(t, doomEvent, 1).Runs[0]
	if doomed.Status != store.RunFailed || len(doomed.Attempts) != 3 || doomed.FailedTask != "call" {
		t.Fatalf("doomed run = %s, %d attempts", doomed.Status, len(doomed.Attempts))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		noteMu.Lock()
		n := len(notes)
		noteMu.Unlock()
		if n >= 1 && len(mailbox.all()) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications: %d webhooks, %d mails", n, len(mailbox.all()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	noteMu.Lock()
	if n := notes[0]; n.EventID != doomEvent || n.WorkflowID != "doomed" || n.Task != "call" || !strings.Contains(n.Error, "answered 500") || n.Attempts != 3 {
		t.Errorf("notification = %+v", n)
	}
	noteMu.Unlock()
	if got := mailbox.all()[1]; got.to[0] != "ops@example.com" {
		t.Errorf("notification mail to %v", got.to)
	}
	var rl RunList
	if st := h.call(t, "GET", "/v1/runs?status=failed&since=1h", demoToken, "", &rl); st != 200 || len(rl.Runs) != 1 || rl.Runs[0].ID != doomed.ID {
		t.Errorf("GET /v1/runs?status=failed: %d %+v", st, rl)
	}
	if st := h.call(t, "GET", "/v1/runs?limit=1", demoToken, "", &rl); st != 200 || len(rl.Runs) != 1 || rl.NextCursor == "" {
		t.Errorf("paging: %d, %d runs, cursor %q", st, len(rl.Runs), rl.NextCursor)
	}
	var page2 RunList
	h.call(t, "GET", "/v1/runs?limit=10&cursor="+rl.NextCursor, demoToken, "", &page2)
	if len(page2.Runs) != 2 || page2.NextCursor != "" {
		t.Errorf("page 2: %d runs, cursor %q", len(page2.Runs), page2.NextCursor)
	}
	if st := h.call(t, "GET", "/v1/runs?status=bogus", demoToken, "", &errBody); st != 400 {
		t.Errorf("bad status filter: %d", st)
	}
	for _, path := range []string{"/v1/runs?cursor=zzz", "/v1/tickets?cursor=zzz", "/v1/runs?cursor=" + rl.Runs[0].EventID} {
		errBody.Error, errBody.Message = "", ""
		if st := h.call(t, "GET", path, demoToken, "", &errBody); st != 400 || errBody.Error != "invalid" || !strings.Contains(errBody.Message, "nextCursor") {
			t.Errorf("GET %s: %d %+v, want 400 naming nextCursor (not an empty page)", path, st, errBody)
		}
	}
	if st := h.call(t, "GET", "/v1/runs", "wrong-token", "", nil); st != 401 {
		t.Errorf("bad token: %d", st)
	}

	// 5. Retry the failed run once the receiver is back.
	downMu.Lock()
	downStatus = http.StatusOK
	downMu.Unlock()
	if st := h.call(t, "POST", "/v1/runs/"+doomed.ID+"/retry", otherToken, "", nil); st != 404 {
		t.Errorf("retry by another account: %d", st)
	}
	var retried store.Run
	if st := h.call(t, "POST", "/v1/runs/"+doomed.ID+"/retry", demoToken, "", &retried); st != 202 || retried.Status != store.RunPending {
		t.Fatalf("retry: %d %+v", st, retried)
	}
	if r := h.waitEvent(t, doomEvent, 1).Runs[0]; r.Status != store.RunSucceeded || len(r.Attempts) != 4 {
		t.Errorf("after retry: %s with %d attempts", r.Status, len(r.Attempts))
	}
	if st := h.call(t, "POST", "/v1/runs/"+doomed.ID+"/retry", demoToken, "", &errBody); st != 409 {
		t.Errorf("retrying a succeeded run: %d", st)
	}

	// 6. Replay: a new event marked as a replay, its own runs.
	var rep struct{ EventID, TriggerID, ReplayOf string }
	if st := h.call(t, "POST", "/v1/events/"+doomEvent+"/replay", demoToken, "", &rep); st != 202 || rep.ReplayOf != doomEvent || rep.EventID == doomEvent {
		t.Fatalf("replay: %d %+v", st, rep)
	}
	replayed := h.waitEvent(t, rep.EventID, 1)
	if replayed.ReplayOf != doomEvent || replayed.Runs[0].Status != store.RunSucceeded || string(replayed.Body) != `{"a":1}` {
		t.Errorf("replayed event = %+v", replayed)
	}
	if st := h.call(t, "POST", "/v1/events/"+doomEvent+"/replay", otherToken, "", nil); st != 404 {
		t.Errorf("replay by another account: %d", st)
	}
}

// benchWorkers is how many jobs the harness's river client works at once.
var benchWorkers = 20

// TestReplayCountsAgainstTheLimit: a replay stores an event and runs its
// workflows like a live request, so it takes a slot of the token's
// requests_per_minute: past the limit it is a 429 with Retry-After and the
// RateLimit-* headers, and stores nothing (replays used to bypass the limit).
func TestReplayCountsAgainstTheLimit(t *testing.T) {
	h := demoTriggerHarness(t, config.Limits{BodyBytes: 102400, RequestsPerMinute: 3, ManualFields: 10})
	var acc acceptedBody
	if st := h.call(t, "POST", "/v1/triggers/OC_t/events", demoToken, `{"a":1}`, &acc); st != 202 {
		t.Fatalf("POST event: %d", st)
	}
	replay := func() (*http.Response, apiError) {
		return h.send(t, "POST", "/v1/events/"+acc.EventID+"/replay", map[string]string{"X-API-TOKEN": demoToken}, "")
	}
	for i := range 2 {
		if resp, e := replay(); resp.StatusCode != 202 || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("replay %d: %d %+v, RateLimit-Remaining %q", i+1, resp.StatusCode, e, resp.Header.Get("RateLimit-Remaining"))
		}
	}
	resp, e := replay()
	if resp.StatusCode != 429 || e.Error != "rate_limited" || resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("replay past the limit: %d %+v, headers %v", resp.StatusCode, e, resp.Header)
	}
	// The live endpoint shares the token's window.
	if st := h.call(t, "POST", "/v1/triggers/OC_t/events", demoToken, `{"a":2}`, nil); st != 429 {
		t.Fatalf("POST event after three replays and events: %d, want 429", st)
	}
	var list EventList
	if st := h.call(t, "GET", "/v1/events?trigger=OC_t", demoToken, "", &list); st != 200 || len(list.Events) != 3 {
		t.Fatalf("events stored: %d, %d events, want 3", st, len(list.Events))
	}
}

// TestCrossSiteBasicIsRefusedOnTheAPI: Basic credentials a browser
// remembered (it answered the event endpoint's challenge) are not accepted
// on API requests the browser marks as sent by another site, so a page
// elsewhere cannot replay events or retry runs with them. X-API-TOKEN,
// same-origin requests and the event endpoints are unchanged.
func TestCrossSiteBasicIsRefusedOnTheAPI(t *testing.T) {
	h := demoTriggerHarness(t, config.Limits{})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(demoUser+":"+demoToken))
	do := func(method, path, site string, hdr map[string]string, body string) (int, apiError) {
		t.Helper()
		if site != "" {
			hdr = maps.Clone(hdr)
			hdr["Sec-Fetch-Site"] = site
		}
		resp, e := h.send(t, method, path, hdr, body)
		return resp.StatusCode, e
	}
	post := map[string]string{"Authorization": basic, "Content-Type": "application/json"}
	// The event endpoints keep the wire contract: Basic works whatever the site.
	if st, e := do("POST", "/inbound-event/v1/event/JSON/triggers?triggerId=OC_t", "cross-site", post, `{"a":1}`); st != 202 {
		t.Fatalf("event endpoint, Basic, cross-site: %d %+v", st, e)
	}
	var acc acceptedBody
	if st := h.call(t, "POST", "/v1/triggers/OC_t/events", demoToken, `{"a":1}`, &acc); st != 202 {
		t.Fatalf("POST event: %d", st)
	}
	replay := "/v1/events/" + acc.EventID + "/replay"
	for _, site := range []string{"cross-site", "same-site"} {
		if st, e := do("POST", replay, site, map[string]string{"Authorization": basic}, ""); st != 401 || e.Error != "unauthorized" || !strings.Contains(e.Message, "X-API-TOKEN") {
			t.Fatalf("replay with Basic, %s: %d %+v", site, st, e)
		}
		if st, _ := do("GET", "/v1/events/"+acc.EventID, site, map[string]string{"Authorization": basic}, ""); st != 401 {
			t.Fatalf("GET event with Basic, %s: %d", site, st)
		}
	}
	for _, site := range []string{"", "same-origin", "none"} {
		if st, e := do("GET", "/v1/events/"+acc.EventID, site, map[string]string{"Authorization": basic}, ""); st != 200 {
			t.Fatalf("GET event with Basic, Sec-Fetch-Site %q: %d %+v", site, st, e)
		}
	}
	if st, e := do("POST", replay, "cross-site", map[string]string{"X-API-TOKEN": demoToken}, ""); st != 202 {
		t.Fatalf("replay with X-API-TOKEN, cross-site: %d %+v", st, e)
	}
	var list EventList
	if st := h.call(t, "GET", "/v1/events?trigger=OC_t", demoToken, "", &list); st != 200 || len(list.Events) != 3 {
		t.Fatalf("events stored: %d, %d, want 3 (two posted, one replay)", st, len(list.Events))
	}
}

// demoTriggerHarness is a server with workflows whose only trigger, OC_t of
// account demo, has none; limits as given (zero: the defaults).
func demoTriggerHarness(t *testing.T, limits config.Limits) *wfHarness {
	t.Helper()
	return newWFHarness(t, &config.Config{
		Limits: limits,
		Accounts: []config.Account{
			{ID: "demo", Username: demoUser, Tokens: []config.Token{{SHA256: sha(demoToken)}}},
		},
		Triggers: []config.Trigger{{ID: "OC_t", Account: "demo", Adapter: "generic"}},
	})
}

// send makes a request with the given headers and returns the response
// (its body already read) and the JSON error it carries, if any.
func (h *wfHarness) send(t *testing.T, method, path string, hdr map[string]string, body string) (*http.Response, apiError) {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp, e
}

// TestParseSince: since= takes an RFC 3339 time, or a positive duration
// back from now written as config durations are, days included ("7d" was
// refused although store.retention takes it); anything else is a 400.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"24h", now.Add(-24 * time.Hour)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"1d12h", now.Add(-36 * time.Hour)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"yesterday", "-1h", "0s", "0d", "7", "d", "1.5d", "2026-11-01"} {
		if _, err := parseSince(in, now); core.ErrorCode(err) != core.CodeInvalid {
			t.Errorf("parseSince(%q): error %v, want invalid", in, err)
		}
	}
}
