package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
)

// compileOne compiles a config with one trigger (fields subject, email,
// total, priority, evil) holding the given workflow.
func compileOne(t *testing.T, wf config.Workflow) (*Set, *Workflow) {
	t.Helper()
	set, err := Compile(testConfig(wf))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return set, set.Workflow("OC_demo", wf.ID)
}

func testConfig(wfs ...config.Workflow) *config.Config {
	return &config.Config{
		Accounts: []config.Account{{ID: "demo", Username: "demo@example.com"}},
		Triggers: []config.Trigger{{
			ID: "OC_demo", Account: "demo", Adapter: "generic",
			Fields: map[string]string{
				"subject": "$.subject", "email": "$.email", "total": "$.total",
				"priority": "$.priority", "evil": "$.evil", "path": "$.path",
				"none": "$.none", "obj": "$.obj",
			},
			Workflows: wfs,
		}},
	}
}

// hookRecorder is a test receiver that records every request.
type hookRecorder struct {
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

func (h *hookRecorder) record(r *http.Request) recordedRequest {
	b, _ := io.ReadAll(r.Body)
	rr := recordedRequest{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: b}
	h.mu.Lock()
	h.reqs = append(h.reqs, rr)
	h.mu.Unlock()
	return rr
}

func (h *hookRecorder) all() []recordedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recordedRequest(nil), h.reqs...)
}

func runOne(t *testing.T, set *Set, w *Workflow, taskIdx int, tasks map[string]map[string]any) (*Result, error) {
	t.Helper()
	r := NewRunner(nil)
	d := &Data{Event: testEvent(), Workflow: w.ID, Tasks: tasks}
	return r.RunTask(context.Background(), set, w, w.Tasks[taskIdx], d)
}

func TestHTTPTaskRequestIsEscapedByPlace(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "tok")
	rec := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.Header().Set("X-Remote", "yes")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"R-9","items":[{"n":1},{"n":2}]}`)
	}))
	defer srv.Close()
	set, w := compileOne(t, config.Workflow{ID: "notify", Tasks: []config.Task{{
		ID: "call", Type: "http", Method: "post",
		URL:     srv.URL + "/t/{{ .fields.path }}?subject={{ .fields.subject }}&evil={{ .fields.evil }}",
		Headers: map[string]string{"Authorization": `Bearer {{ env "HOOK_TOKEN" }}`, "X-Evil": "{{ .fields.evil }}"},
		Body:    map[string]any{"subject": "{{ .fields.subject }}", "evil": "{{ .fields.evil }}", "total": "{{ .fields.total }}"},
		Success: []int{201},
	}}})
	res, err := runOne(t, set, w, 0, nil)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != "POST" {
		t.Errorf("method = %s", got.Method)
	}
	if got.Path != "/t/..%2Fa%20b%2Fc%3Fd=e&f%23g" {
		t.Errorf("path = %s", got.Path)
	}
	q := got.RawQuery
	if strings.Count(q, "&") != 1 || !strings.Contains(q, "subject=Printer+on+fire") || strings.Contains(q, "admin") && !strings.Contains(q, "%22admin%22") {
		t.Errorf("query = %s", q)
	}
	if v := got.Header.Get("X-Evil"); strings.ContainsAny(v, "\r\n") || got.Header.Get("X-Admin") != "" {
		t.Errorf("header injection: X-Evil=%q X-Admin=%q", v, got.Header.Get("X-Admin"))
	}
	if got.Header.Get("Authorization") != "Bearer tok" {
		t.Errorf("Authorization = %q", got.Header.Get("Authorization"))
	}
	if got.Header.Get("Idempotency-Key") != "01EVENT.notify.call" {
		t.Errorf("Idempotency-Key = %q", got.Header.Get("Idempotency-Key"))
	}
	if got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", got.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body not JSON: %v: %s", err, got.Body)
	}
	if len(body) != 3 || body["evil"] != "\",\"admin\":true,\"x\":\"\r\nX-Admin: yes" || body["total"] != 1500.5 {
		t.Errorf("body = %s", got.Body)
	}
	if res.Response.Status != 201 || res.Response.Headers["X-Remote"][0] != "yes" || !strings.Contains(res.Response.Body, "R-9") {
		t.Errorf("recorded response = %+v", res.Response)
	}
	if res.Outputs["status"] != 201 {
		t.Errorf("outputs = %v", res.Outputs)
	}
}

func TestHTTPTaskOutputs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"R-9","items":[{"n":1},{"n":2}]}`)
	}))
	defer srv.Close()
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{
		{ID: "call", Type: "http", URL: srv.URL, Outputs: map[string]string{"remote_id": "$.id", "ns": "$.items[*].n", "nothing": "$.zzz"}},
		{ID: "next", Type: "http", URL: srv.URL + "/{{ .tasks.call.remote_id }}"},
	}})
	res, err := runOne(t, set, w, 0, nil)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if res.Outputs["remote_id"] != "R-9" || res.Outputs["nothing"] != nil {
		t.Errorf("outputs = %#v", res.Outputs)
	}
	// The output that selected nothing is null, and the task's recorded
	// result says so; the others are not mentioned.
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "output nothing: $.zzz selected nothing") {
		t.Errorf("warnings = %q, want one on output nothing", res.Warnings)
	}
	ns, _ := res.Outputs["ns"].([]any)
	if len(ns) != 2 || ns[0] != json.Number("1") || ns[1] != json.Number("2") {
		t.Errorf("ns = %#v", res.Outputs["ns"])
	}
	if w.Tasks[0].Method != "GET" {
		t.Errorf("method without body = %s, want GET", w.Tasks[0].Method)
	}
}

// TestHTTPTaskOutputPastTheBudget: an output whose JSONPath outgrows its
// work budget on the response fails the task for good, naming the output,
// instead of reading as "nothing there" (null).
func TestHTTPTaskOutputPastTheBudget(t *testing.T) {
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, deep)
	}))
	defer srv.Close()
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{
		{ID: "call", Type: "http", URL: srv.URL, Outputs: map[string]string{"costly": "$..[?@..*]"}},
	}})
	_, err := runOne(t, set, w, 0, nil)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "output costly") || !strings.Contains(err.Error(), "work") {
		t.Fatalf("error = %v, want a permanent one naming the output", err)
	}
}

func TestHTTPTaskErrorClasses(t *testing.T) {
	var status int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := status
		mu.Unlock()
		if s == 0 {
			// No answer until the task gives up (the server sees the
			// client go only once the body has been read).
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return
		}
		w.WriteHeader(s)
		io.WriteString(w, strings.Repeat("é", 3000)) // 6000 bytes, cut at 4 KB
	}))
	defer srv.Close()
	// The answers get a timeout no loaded machine reaches; the one that
	// never comes gets 100 ms. (One 100 ms timeout for all made an answer
	// late on a busy machine look like a retryable timeout.)
	task := func(timeout time.Duration) config.Task {
		return config.Task{ID: "call", Type: "http", URL: srv.URL, Body: map[string]any{"a": 1}, Timeout: timeout, Success: []int{200, 204}}
	}
	set, err := Compile(testConfig(
		config.Workflow{ID: "wf", Retry: config.Retry{RetryStatuses: []int{409}}, Tasks: []config.Task{task(30 * time.Second)}},
		config.Workflow{ID: "slow", Retry: config.Retry{RetryStatuses: []int{409}}, Tasks: []config.Task{task(100 * time.Millisecond)}},
	))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	tests := []struct {
		status    int
		permanent bool
	}{
		{400, true}, {401, true}, {404, true}, {422, true}, {201, true}, {302, true},
		{408, false}, {429, false}, {409, false}, {500, false}, {503, false},
		{0, false}, // the server answers after the task's timeout
	}
	for _, tt := range tests {
		mu.Lock()
		status = tt.status
		mu.Unlock()
		w := set.Workflow("OC_demo", "wf")
		if tt.status == 0 {
			w = set.Workflow("OC_demo", "slow")
		}
		res, err := runOne(t, set, w, 0, nil)
		var te *TaskError
		if !errors.As(err, &te) {
			t.Fatalf("status %d: error = %v, want a TaskError", tt.status, err)
		}
		if te.Permanent != tt.permanent || IsPermanent(err) != tt.permanent {
			t.Errorf("status %d: permanent = %v, want %v (%v)", tt.status, te.Permanent, tt.permanent, err)
		}
		if tt.status == 0 {
			if !strings.Contains(err.Error(), "no response within 100ms") {
				t.Errorf("timeout error = %v", err)
			}
			continue
		}
		if res == nil || res.Response == nil || res.Response.Status != tt.status || te.Response != res.Response {
			t.Fatalf("status %d: response not recorded: %+v", tt.status, res)
		}
		if len(res.Response.Body) > 4096 || len(res.Response.Body) < 4090 || !res.Response.Truncated || !strings.HasSuffix(res.Response.Body, "é") {
			t.Errorf("status %d: recorded body %d bytes, truncated=%v", tt.status, len(res.Response.Body), res.Response.Truncated)
		}
	}
}

func TestHTTPTaskConnectionRefusedIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: "http://" + addr + "/x?token=secret"}}})
	_, err = runOne(t, set, w, 0, nil)
	if err == nil || IsPermanent(err) {
		t.Fatalf("error = %v, want a retryable one", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the query: %v", err)
	}
}

func TestHTTPTaskMissingFieldIsPermanent(t *testing.T) {
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: "http://127.0.0.1:1/{{ .body.nosuch }}"}}})
	_, err := runOne(t, set, w, 0, nil)
	var mf *MissingFieldError
	if !IsPermanent(err) || !errors.As(err, &mf) || mf.Field != "body.nosuch" {
		t.Fatalf("error = %v, want a permanent one naming body.nosuch", err)
	}
	if !strings.Contains(err.Error(), "task call: url: template names body.nosuch") {
		t.Errorf("message = %q", err.Error())
	}
}

// TestHTTPTaskPathValueCannotClimb: a value is path-escaped, so it cannot
// add a "/", but on its own it can be a whole segment "." or "..", which
// the receiver (or any proxy before it) resolves against the segments the
// config wrote: /api/tickets/{{ .fields.id }}/close with id ".." would
// reach /api/close. Such a URL is refused, permanently, and never sent.
func TestHTTPTaskPathValueCannotClimb(t *testing.T) {
	rec := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		url, value string
		refused    bool
	}{
		{"/api/tickets/{{ .fields.subject }}/close", "..", true},
		{"/api/tickets/{{ .fields.subject }}/close", ".", true},
		{"/api/tickets/{{ .fields.subject }}", "..", true},
		{"/api/tickets/.{{ .fields.subject }}/close", ".", true},
		{"/api/tickets/{{ .fields.subject }}{{ .fields.subject }}/close", ".", true},
		{"/api/tickets/{{ .fields.subject }}/close", "...", false},
		{"/api/tickets/{{ .fields.subject }}/close", "v1.2", false},
		{"/api/tickets/x?next={{ .fields.subject }}", "..", false},
	} {
		t.Run(tc.url+" "+tc.value, func(t *testing.T) {
			set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: srv.URL + tc.url}}})
			ev := testEvent()
			raw, _ := json.Marshal(tc.value)
			ev.Fields["subject"] = raw
			before := len(rec.all())
			_, err := NewRunner(nil).RunTask(context.Background(), set, w, w.Tasks[0], &Data{Event: ev, Workflow: w.ID})
			sent := len(rec.all()) > before
			if !tc.refused {
				if err != nil || !sent {
					t.Fatalf("error %v, sent %v; want the request sent", err, sent)
				}
				return
			}
			if sent {
				t.Fatalf("sent %s", rec.all()[before].Path)
			}
			if !IsPermanent(err) || !strings.Contains(err.Error(), "segment") {
				t.Fatalf("error = %v, want a permanent one naming the segment", err)
			}
		})
	}
}

// TestHTTPTaskRedirectKeepsCredentialsHome: a receiver that redirects to
// another host (or from https to http) must not get the task's headers
// (an API key, a bearer token) nor its body handed on; a redirect within
// the same origin is still followed.
func TestHTTPTaskRedirectKeepsCredentialsHome(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "s3cret")
	other := &hookRecorder{}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.record(r)
		io.WriteString(w, `{"id":"stolen"}`)
	}))
	defer elsewhere.Close()
	// The same loopback server under another host name.
	elsewhereURL := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	home := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		home.record(r)
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhereURL+"/collect?code=1", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusTemporaryRedirect)
		default:
			io.WriteString(w, `{"id":"ok"}`)
		}
	}))
	defer srv.Close()
	headers := map[string]string{"Authorization": `Bearer {{ env "HOOK_TOKEN" }}`, "X-Api-Key": `{{ env "HOOK_TOKEN" }}`}
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{
		{ID: "away", Type: "http", URL: srv.URL + "/away", Headers: headers, Body: map[string]any{"s": "{{ .fields.subject }}"}},
		{ID: "moved", Type: "http", URL: srv.URL + "/moved", Headers: headers, Body: map[string]any{"s": "{{ .fields.subject }}"}},
	}})

	_, err := runOne(t, set, w, 0, nil)
	if len(other.all()) != 0 {
		r := other.all()[0]
		t.Errorf("redirect to another host followed: it got X-Api-Key=%q Authorization=%q body=%s",
			r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"), r.Body)
	}
	if !IsPermanent(err) || !strings.Contains(err.Error(), "answered 307") || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("error = %v, want a permanent failure naming the 307 and where it pointed", err)
	}
	if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "code=1")) {
		t.Errorf("error leaks a secret or the redirect's query: %v", err)
	}

	res, err := runOne(t, set, w, 1, nil)
	if err != nil || res.Response.Status != 200 {
		t.Fatalf("same-origin redirect: %+v, %v", res, err)
	}
	reqs := home.all()
	last := reqs[len(reqs)-1]
	if last.Path != "/here" || last.Header.Get("X-Api-Key") != "s3cret" {
		t.Errorf("same-origin redirect reached %s with X-Api-Key %q", last.Path, last.Header.Get("X-Api-Key"))
	}
}

// TestHTTPTaskErrorQuotesTheResponse: the run's error (what the run list,
// the failure webhook and the e-mail show) says what the receiver
// answered, not only its status: a short excerpt of the body, on one line.
func TestHTTPTaskErrorQuotesTheResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, "{\"error\":\"customer_id is required\",\n\"detail\":\""+strings.Repeat("x", 1000)+"\"}")
	}))
	defer srv.Close()
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: srv.URL + "/orders?token=abc"}}})
	_, err := runOne(t, set, w, 0, nil)
	if err == nil {
		t.Fatal("a 422 succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "task call: GET "+srv.URL+"/orders answered 422") || !strings.Contains(msg, `customer_id is required`) {
		t.Errorf("error = %q, want the task, URL, status and what the receiver said", msg)
	}
	if strings.ContainsAny(msg, "\r\n") || len(msg) > 500 || strings.Contains(msg, "token=abc") {
		t.Errorf("error is not one short line without the query: %q", msg)
	}
}

// TestHTTPTaskRedirectLoopIsPermanent: a receiver that keeps redirecting
// will do so on the next attempt too; retrying it for an hour only delays
// the failure the admin needs to see.
func TestHTTPTaskRedirectLoopIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	defer srv.Close()
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: srv.URL + "/start?token=abc"}}})
	_, err := runOne(t, set, w, 0, nil)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "redirects") || strings.Contains(err.Error(), "token=abc") {
		t.Fatalf("error = %v, want a permanent one about the redirects, without the query", err)
	}
}

// TestHTTPTaskErrorHidesSecretsInThePath: a webhook URL kept in the
// environment (Slack, Teams) carries its secret in the path, as may a token
// put into a path segment; a failed task's error (the run history, the
// failure webhook and e-mail, the log) names the variable instead.
func TestHTTPTaskErrorHidesSecretsInThePath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service")
	}))
	defer srv.Close()
	t.Setenv("SLACK_HOOK", srv.URL+"/services/T000/B000/s3cretXYZ")
	t.Setenv("PATH_TOKEN", "tok3nABC")
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{
		{ID: "slack", Type: "http", URL: `{{ env "SLACK_HOOK" }}`, Body: map[string]any{"text": "{{ .fields.subject }}"}},
		{ID: "bot", Type: "http", URL: srv.URL + `/bot{{ env "PATH_TOKEN" }}/send`},
	}})
	for i, want := range []string{"POST " + srv.URL + "/${SLACK_HOOK} answered 404", "GET " + srv.URL + "/bot${PATH_TOKEN}/send answered 404"} {
		_, err := runOne(t, set, w, i, nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tok3n") {
			t.Errorf("error = %v\nwant it to contain %q and no secret", err, want)
		}
	}
}

// TestHTTPTaskLostAnswerSaysWhatHappened: a receiver that hangs up without
// answering, or answers and then does not finish its body, must be told
// apart from a bare "EOF" or "context deadline exceeded": the request
// reached it (and may have been acted on), and a 2xx was answered.
func TestHTTPTaskLostAnswerSaysWhatHappened(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		c, buf, err := w.(http.Hijacker).Hijack()
		if err == nil {
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
			buf.Flush()
			c.Close()
		}
	})
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"id":`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		path string
		want []string
	}{
		{"/hangup", []string{"POST " + srv.URL + "/hangup: ", "closed the connection without an answer", "EOF"}},
		{"/cut", []string{"POST " + srv.URL + "/cut answered 200, but its body was cut short: ", "unexpected EOF"}},
		{"/drip", []string{"POST " + srv.URL + "/drip answered 200, but its body did not arrive within 50ms: "}},
	}
	for _, tt := range tests {
		set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", Method: "POST",
			URL: srv.URL + tt.path, Timeout: 50 * time.Millisecond, Outputs: map[string]string{"id": "$.id"}}}})
		_, err := runOne(t, set, w, 0, nil)
		if err == nil || IsPermanent(err) {
			t.Errorf("%s: error = %v, want a retryable one", tt.path, err)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error = %v, want it to say %q", tt.path, err, s)
			}
		}
	}
}
