package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core/config"
)

func TestCompileErrorsNameTheKey(t *testing.T) {
	t.Setenv("SET_VAR", "x")
	http := func(tc config.Task) config.Workflow {
		if tc.ID == "" {
			tc.ID = "t1"
		}
		if tc.Type == "" {
			tc.Type = "http"
		}
		return config.Workflow{ID: "wf", Tasks: []config.Task{tc}}
	}
	tests := []struct {
		name string
		wf   config.Workflow
		want string
	}{
		{"unknown field", http(config.Task{URL: "https://h/{{ .fields.emial }}"}),
			`triggers[OC_demo].workflows[wf].tasks[t1].url: template names .fields.emial, but trigger OC_demo has no field "emial" (fields: email, evil, none, obj, path, priority, subject, total)`},
		{"later task", config.Workflow{ID: "wf", Tasks: []config.Task{
			{ID: "a", Type: "http", URL: "https://h/{{ .tasks.b.status }}"},
			{ID: "b", Type: "ticket", Title: "x"},
		}}, `tasks[a].url: template names .tasks.b.status, but no task "b" runs before this one`},
		{"unknown output", config.Workflow{ID: "wf", Tasks: []config.Task{
			{ID: "open", Type: "ticket", Title: "x"},
			{ID: "b", Type: "http", URL: "https://h/", Body: map[string]any{"t": "{{ .tasks.open.number }}"}},
		}}, `tasks[b].body: template names .tasks.open.number, but task open has no output "number" (outputs: id, priority, status)`},
		{"unknown root", http(config.Task{URL: "https://h/{{ .feilds.x }}"}), "template names .feilds.x; a template can use .fields"},
		{"unset env", http(config.Task{URL: "https://h/", Headers: map[string]string{"A": `{{ env "UNSET_VAR_JSONEVENT" }}`}}),
			"tasks[t1].headers.A: template reads environment variable UNSET_VAR_JSONEVENT, which is not set"},
		{"service secret", http(config.Task{URL: "https://h/", Headers: map[string]string{"A": `{{ env "JSONEVENT_SMTP__PASSWORD" }}`}}),
			"tasks[t1].headers.A: template reads JSONEVENT_SMTP__PASSWORD: JSONEVENT_ variables configure jsonevent itself"},
		{"env chosen by the event", http(config.Task{URL: "https://h/", Body: map[string]any{"a": "{{ env .fields.subject }}"}}),
			"tasks[t1].body: env takes one quoted name"},
		{"bad template", http(config.Task{URL: "https://h/{{ .fields.email "}), "tasks[t1].url: invalid template"},
		{"host from event", http(config.Task{URL: "https://{{ .fields.email }}/"}), "must come from env"},
		{"no url", http(config.Task{}), "tasks[t1].url: an http task needs a url"},
		{"relative url", http(config.Task{URL: "/x"}), "must be an http:// or https:// URL"},
		{"bad method", http(config.Task{URL: "https://h/", Method: "TRACE"}), `tasks[t1].method: "TRACE" is not one of`},
		{"bad success", http(config.Task{URL: "https://h/", Success: []int{2000}}), "tasks[t1].success: 2000 is not an HTTP status"},
		{"key of another type", http(config.Task{URL: "https://h/", Title: "x"}), "tasks[t1].title: not a key of a http task"},
		{"no type", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x"}}}, "tasks[x].type: missing; use http, ticket or email"},
		{"bad type", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "sms"}}}, `tasks[x].type: "sms" is not http, ticket or email`},
		{"duplicate task", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}, {ID: "x", Type: "ticket", Title: "a"}}}, `duplicate task id "x"`},
		{"no tasks", config.Workflow{ID: "wf"}, "workflows[wf].tasks: a workflow needs at least one task"},
		{"bad workflow id", config.Workflow{ID: "", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}, "workflows[0].id"},
		{"ticket without title", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "ticket"}}}, "tasks[x].title: a ticket task needs a title"},
		{"email without to", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "email"}}}, "tasks[x].to: an email task needs a to address"},
		{"email needs smtp", config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "email", To: "a@b.c"}}}, "smtp (needed by triggers[OC_demo].workflows[wf].tasks[x]): host is required"},
		{"retry min above max", config.Workflow{ID: "wf", Retry: config.Retry{MinBackoff: time.Hour, MaxBackoff: time.Minute}, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}, "workflows[wf].retry: min_backoff 1h0m0s is above max_backoff 1m0s"},
		{"retry status not 4xx", config.Workflow{ID: "wf", Retry: config.Retry{RetryStatuses: []int{500}}, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}, "retry_statuses: 500 is not a 4xx status"},
		{"retry attempts", config.Workflow{ID: "wf", Retry: config.Retry{Attempts: -1}, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}, "attempts must be between 1 and 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(testConfig(tt.wf))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileDefaultsAndLookups(t *testing.T) {
	t.Setenv("SET_VAR", "x")
	cfg := testConfig(
		config.Workflow{ID: "a", Tasks: []config.Task{{ID: "open", Type: "ticket", Title: "{{ .fields.subject }}"}}},
		config.Workflow{ID: "b", Retry: config.Retry{Attempts: 3, MinBackoff: time.Millisecond}, Tasks: []config.Task{
			{ID: "call", Type: "http", URL: `https://h/{{ env "SET_VAR" }}`, Body: map[string]any{"x": 1}},
		}},
	)
	cfg.Triggers[0].PresetFields = map[string]string{"ticket_id": "$.id"}
	cfg.Triggers[0].Workflows[0].Tasks[0].Description = "{{ .fields.ticket_id }}"
	cfg.Accounts[0].Notify = config.Notify{Webhook: "https://alerts.example.com/x"}
	set, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if n := len(set.Workflows("OC_demo")); n != 2 {
		t.Fatalf("workflows = %d, want 2", n)
	}
	if set.Workflows("nope") != nil || set.Workflow("OC_demo", "zz") != nil {
		t.Error("lookups of unknown ids should be empty")
	}
	a, b := set.Workflow("OC_demo", "a"), set.Workflow("OC_demo", "b")
	if a.Retry.Attempts != 8 || a.Retry.MinBackoff != time.Second || a.Retry.MaxBackoff != 15*time.Minute {
		t.Errorf("default retry = %+v", a.Retry)
	}
	if b.Retry.Attempts != 3 || b.Retry.MinBackoff != time.Millisecond || b.Retry.MaxBackoff != 15*time.Minute {
		t.Errorf("retry = %+v", b.Retry)
	}
	if a.AccountID != "demo" || a.TriggerID != "OC_demo" {
		t.Errorf("workflow a = %+v", a)
	}
	if task := b.Tasks[0]; task.Method != "POST" || task.Timeout != 10*time.Second {
		t.Errorf("http defaults: method %s timeout %s", task.Method, task.Timeout)
	}
	if set.Notify("demo").Webhook != "https://alerts.example.com/x" {
		t.Errorf("notify = %+v", set.Notify("demo"))
	}
	if m, err := a.Match(testEvent()); !m || err != nil {
		t.Errorf("a workflow without when must match every event: %v, %v", m, err)
	}
}

func TestWhenCondition(t *testing.T) {
	tests := []struct {
		when string
		want bool
	}{
		{"@.fields.priority == 'Urgent' && @.fields.total > 1000", true},
		{"@.fields.priority == 'Urgent' && @.fields.total > 2000", false},
		{"@.fields.priority == 'Low' || @.query.contextId == 'ctx 1'", true},
		{"@.body.a.b == 'deep'", true},
		{"@.fields.none == null", true},
	}
	for _, tt := range tests {
		set, w := compileOne(t, config.Workflow{ID: "wf", When: tt.when, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}})
		_ = set
		if got, err := w.Match(testEvent()); got != tt.want || err != nil {
			t.Errorf("when %q = %v, %v; want %v", tt.when, got, err, tt.want)
		}
	}
	for _, typo := range []string{"@.fields.prioirty == 'Urgent'", "@.fields['tota l'] > 3", `@.fields.total > 1 && @.fields["x"] == 1`} {
		err := Validate(testConfig(config.Workflow{ID: "wf", When: typo, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}))
		if err == nil || !strings.Contains(err.Error(), "workflows[wf].when: names @.fields.") || !strings.Contains(err.Error(), "has no field") {
			t.Errorf("when %q: error = %v", typo, err)
		}
	}
	err := Validate(testConfig(config.Workflow{ID: "wf", When: "@.fields.total >", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}}))
	if err == nil || !strings.Contains(err.Error(), "triggers[OC_demo].workflows[wf].when:") {
		t.Errorf("bad when: error = %v", err)
	}
}

// memTickets is an in-memory TicketStore, idempotent on (event, workflow,
// task) as the contract requires.
type memTickets struct {
	mu      sync.Mutex
	byKey   map[string]*Ticket
	creates int
}

func (m *memTickets) CreateTicket(_ context.Context, t *Ticket) (*Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates++
	key := IdempotencyKey(t.EventID, t.WorkflowID, t.TaskID)
	if old, ok := m.byKey[key]; ok {
		return old, nil
	}
	c := *t
	c.ID = fmt.Sprintf("TK-%d", len(m.byKey)+1)
	if m.byKey == nil {
		m.byKey = map[string]*Ticket{}
	}
	m.byKey[key] = &c
	return &c, nil
}

func TestTicketTask(t *testing.T) {
	set, w := compileOne(t, config.Workflow{ID: "urgent", Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "{{ .fields.subject }}\r\n", Description: "From {{ .fields.email }}: {{ .body.a.b }}", Priority: "{{ .fields.priority }}"},
		{ID: "empty", Type: "ticket", Title: "{{ .fields.none }}"},
	}})
	store := &memTickets{}
	r := NewRunner(store)
	d := &Data{Event: testEvent(), Workflow: w.ID}
	res, err := r.RunTask(context.Background(), set, w, w.Tasks[0], d)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	again, err := r.RunTask(context.Background(), set, w, w.Tasks[0], d)
	if err != nil {
		t.Fatalf("RunTask again: %v", err)
	}
	if res.TicketID != "TK-1" || again.TicketID != "TK-1" || len(store.byKey) != 1 {
		t.Fatalf("tickets = %v / %v, store %d", res.TicketID, again.TicketID, len(store.byKey))
	}
	tk := store.byKey["01EVENT.urgent.open"]
	if tk.Title != "Printer on fire" || tk.Description != "From ann@example.com: deep" || tk.Priority != "urgent" || tk.Status != "open" {
		t.Errorf("ticket = %+v", tk)
	}
	if tk.AccountID != "demo" || tk.TriggerID != "OC_demo" || tk.EventID != "01EVENT" || tk.Fields["email"] != "ann@example.com" {
		t.Errorf("ticket scope = %+v", tk)
	}
	if res.Outputs["id"] != "TK-1" || res.Outputs["status"] != "open" || res.Outputs["priority"] != "urgent" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if _, err := r.RunTask(context.Background(), set, w, w.Tasks[1], d); !IsPermanent(err) || !strings.Contains(err.Error(), "title: rendered empty") {
		t.Errorf("empty title: error = %v", err)
	}
	if _, err := NewRunner(nil).RunTask(context.Background(), set, w, w.Tasks[0], d); err == nil {
		t.Error("no ticket store: want an error")
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"ticketId":"TK-1"`) {
		t.Errorf("result JSON = %s", b)
	}
}

// TestCompileRefusesALiteralToThatIsNoAddress: an email task whose to is
// spelled out in the config, without a template, and is not one address
// would fail every run, and only at run time; it is a load error naming
// the key (smtp.from and notify.email are checked by config.Load).
func TestCompileRefusesALiteralToThatIsNoAddress(t *testing.T) {
	tests := []struct {
		to   string
		want string // "" = valid
	}{
		{"a@example.com", ""},
		{"Ops <ops@example.com>", ""},
		{"{{ .fields.email }}", ""},
		{"support team", `triggers[OC_demo].workflows[wf].tasks[survey].to: "support team" is not an e-mail address`},
		{"a@example.com, b@example.com", `tasks[survey].to: "a@example.com, b@example.com" is not an e-mail address`},
	}
	for _, tt := range tests {
		cfg := testConfig(config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "survey", Type: "email", To: tt.to, Subject: "s", Body: "b"}}})
		cfg.SMTP = config.SMTP{Host: "smtp.example.com", From: "Surveys <surveys@example.com>"}
		err := Validate(cfg)
		if tt.want == "" {
			if err != nil {
				t.Errorf("to %q refused: %v", tt.to, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("to %q: error = %v\nwant it to contain %q", tt.to, err, tt.want)
		}
	}
}

// TestCompileRefusesRequestsThatCannotBeSent: an http task whose literal
// URL has no host or does not parse, or whose header name is not an HTTP
// token, loaded fine and then failed every run (the header one retried for
// the best part of an hour as if the receiver were down); it is a load
// error naming the key.
func TestCompileRefusesRequestsThatCannotBeSent(t *testing.T) {
	tests := []struct {
		task config.Task
		want string // "" = valid
	}{
		{config.Task{URL: "https://hooks.example.com/x?a=1", Headers: map[string]string{"X-Api-Key": "k", "X_Custom.v2": "v"}}, ""},
		{config.Task{URL: "https://"}, `tasks[t1].url: "https://" has no host`},
		{config.Task{URL: "https:///path"}, `tasks[t1].url: "https:///path" has no host`},
		{config.Task{URL: "https://hooks.example.com:port/"}, `tasks[t1].url: "https://hooks.example.com:port/" is not a URL`},
		{config.Task{URL: "https://h/", Headers: map[string]string{"X-Api/Key": "k"}}, `tasks[t1].headers: "X-Api/Key" is not a header name`},
		{config.Task{URL: "https://h/", Headers: map[string]string{"Clé": "k"}}, `tasks[t1].headers: "Clé" is not a header name`},
	}
	for _, tt := range tests {
		tt.task.ID, tt.task.Type = "t1", "http"
		err := Validate(testConfig(config.Workflow{ID: "wf", Tasks: []config.Task{tt.task}}))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v refused: %v", tt.task, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error = %v\nwant it to contain %q", tt.task, err, tt.want)
		}
	}
	// What the header one did at run time: every attempt failed, retryable.
	set, w := compileOne(t, config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "t1", Type: "http", URL: "http://127.0.0.1:1/"}}})
	w.Tasks[0].headers["X-Api/Key"] = w.Tasks[0].url
	if _, err := runOne(t, set, w, 0, nil); IsPermanent(err) || err == nil || !strings.Contains(err.Error(), "invalid header field name") {
		t.Errorf("run-time error = %v", err)
	}
}

// TestQueueDurationsRiverRefuses: a queue.poll_interval below river's 1 ms
// passed validation, then river refused to start with "FetchCooldown must
// be at least 1ms", naming no key of the config. Every value Validate
// accepts, river accepts.
func TestQueueDurationsRiverRefuses(t *testing.T) {
	for _, q := range []config.Queue{
		{PollInterval: 500 * time.Microsecond}, {PollInterval: time.Nanosecond}, {PollInterval: -time.Second},
		{PollInterval: 2 * time.Minute}, {RescueAfter: -time.Second}, {RescueAfter: time.Millisecond},
	} {
		cfg := testConfig(config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}})
		cfg.Queue = q
		err := Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), "queue.") {
			t.Errorf("queue %+v: Validate = %v, want an error naming the key", q, err)
		}
	}
	for _, q := range []config.Queue{{}, {PollInterval: time.Millisecond, RescueAfter: time.Second}, {PollInterval: time.Minute}} {
		cfg := testConfig(config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "a"}}})
		cfg.Queue = q
		if err := Validate(cfg); err != nil {
			t.Errorf("queue %+v: Validate = %v", q, err)
			continue
		}
		e, err := NewEngine(cfg, EngineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.RiverConfig(q)
		if err != nil {
			t.Fatal(err)
		}
		if rc.FetchCooldown < river.FetchCooldownMin || rc.FetchPollInterval < river.FetchPollIntervalMin {
			t.Errorf("queue %+v: river refuses FetchCooldown %s, FetchPollInterval %s, which Validate accepted", q, rc.FetchCooldown, rc.FetchPollInterval)
		}
	}
}
