package workflow

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
	"github.com/jsonevent/jsonevent/core/store"
)

// engineEnv is a real engine on a real SQLite store with river working
// jobs in-process.
type engineEnv struct {
	e  *Engine
	st *store.Store
	sc config.Store // the database st opened
}

func startEngine(t *testing.T, cfg *config.Config) *engineEnv {
	return newEngineEnv(t, cfg, true)
}

// engineStore is the database the engine tests use: SQLite, or PostgreSQL
// for the tests that run on both (see TestEngineOnPostgres).
var engineStore = func(t *testing.T) config.Store {
	return config.Store{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "wf.db")}
}

func newEngineEnv(t *testing.T, cfg *config.Config, start bool) *engineEnv {
	t.Helper()
	e, err := NewEngine(cfg, EngineOptions{})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	rc, err := e.RiverConfig(config.Queue{Workers: 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sc := engineStore(t)
	st, err := store.Open(ctx, sc, nil, store.Options{River: rc})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	e.Attach(st)
	if start {
		if err := st.Queue().Start(ctx); err != nil {
			t.Fatalf("river start: %v", err)
		}
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = st.Queue().Stop(stopCtx)
		e.Close()
		_ = st.Close()
	})
	return &engineEnv{e: e, st: st, sc: sc}
}

// fire stores an event for trigger OC_demo with its workflow jobs, as the
// receiver does, and returns its id.
func (env *engineEnv) fire(t *testing.T, body string) string {
	t.Helper()
	ev := &store.Event{ID: store.NewEventID(), AccountID: "demo", TriggerID: "OC_demo",
		Query: map[string]string{"triggerId": "OC_demo"}, Body: []byte(body)}
	doc := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	ev.Fields = doc // the test trigger's fields are top-level keys
	jobs, err := env.e.PlanJobs(context.Background(), nil, ev)
	if err != nil {
		t.Fatalf("PlanJobs: %v", err)
	}
	if _, _, err := env.st.InsertEvent(context.Background(), ev, jobs...); err != nil {
		t.Fatalf("InsertEvent: %v", err)
	}
	return ev.ID
}

// waitRuns waits until the event has n runs, all in one of the given
// final statuses.
func (env *engineEnv) waitRuns(t *testing.T, eventID string, n int, final ...string) []*store.Run {
	t.Helper()
	if len(final) == 0 {
		final = []string{store.RunSucceeded, store.RunSkipped, store.RunFailed}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		runs, err := env.st.EventRuns(context.Background(), "demo", eventID)
		if err != nil {
			t.Fatalf("EventRuns: %v", err)
		}
		done := len(runs) == n
		for _, r := range runs {
			if !slices.Contains(final, r.Status) {
				done = false
			}
		}
		if done {
			return runs
		}
		if time.Now().After(deadline) {
			for _, r := range runs {
				t.Logf("run %s %s: %s (%d attempts) %s", r.ID, r.WorkflowID, r.Status, len(r.Attempts), r.Error)
			}
			t.Fatalf("event %s: runs did not finish", eventID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var fastRetry = config.Retry{Attempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

func TestEngineRetriesThenSucceedsOnce(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	delivered := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.Header.Get("Idempotency-Key"))
		if len(calls) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "down for maintenance")
			return
		}
		delivered++
		io.WriteString(w, `{"id":"R-1"}`)
	}))
	defer sink.Close()
	cfg := testConfig(
		config.Workflow{ID: "deliver", Retry: fastRetry, Tasks: []config.Task{
			{ID: "open", Type: "ticket", Title: "{{ .fields.subject }}"},
			{ID: "post", Type: "http", URL: sink.URL + "/hook?t={{ .tasks.open.id }}", Body: map[string]any{"s": "{{ .fields.subject }}"}, Outputs: map[string]string{"remote": "$.id"}},
		}},
		config.Workflow{ID: "never", When: "@.fields.priority == 'Low'", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "no"}}},
	)
	env := startEngine(t, cfg)
	id := env.fire(t, `{"subject":"Printer on fire","priority":"Urgent","total":5}`)
	runs := env.waitRuns(t, id, 2)
	byWF := map[string]*store.Run{}
	for _, r := range runs {
		byWF[r.WorkflowID] = r
	}
	run := byWF["deliver"]
	if run.Status != store.RunSucceeded || len(run.Attempts) != 3 {
		t.Fatalf("run = %s with %d attempts (%s)", run.Status, len(run.Attempts), run.Error)
	}
	for i, a := range run.Attempts[:2] {
		if a.Task != "post" || !strings.Contains(a.Error, "answered 503") || a.FinishedAt.IsZero() || !strings.Contains(string(a.Response), "down for maintenance") {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
	}
	if a := run.Attempts[2]; a.Error != "" || a.FinishedAt.IsZero() {
		t.Errorf("last attempt = %+v", a)
	}
	mu.Lock()
	if len(calls) != 3 || delivered != 1 {
		t.Errorf("sink calls = %d, delivered = %d; want 3 and 1", len(calls), delivered)
	}
	for _, k := range calls {
		if k != id+".deliver.post" {
			t.Errorf("Idempotency-Key = %q", k)
		}
	}
	mu.Unlock()
	// The ticket task finished in attempt 1 and was never repeated.
	tickets, _, err := env.st.ListTickets(context.Background(), store.TicketFilter{AccountID: "demo"})
	if err != nil || len(tickets) != 1 || tickets[0].Title != "Printer on fire" {
		t.Fatalf("tickets = %+v, %v", tickets, err)
	}
	var post Result
	if err := json.Unmarshal(run.Tasks["post"].Result, &post); err != nil || post.Outputs["remote"] != "R-1" || post.Response.Status != 200 {
		t.Errorf("post result = %+v, %v", post, err)
	}
	skipped := byWF["never"]
	if skipped.Status != store.RunSkipped || skipped.SkippedBy != "@.fields.priority == 'Low'" || len(skipped.Attempts) != 0 {
		t.Errorf("skipped run = %+v", skipped)
	}
}

// TestEngineUndecidableConditionFails: a `when` that outgrows JSONPath's
// work budget on an event fails the run, saying so, rather than skipping
// it as if the condition were false.
func TestEngineUndecidableConditionFails(t *testing.T) {
	const when = "@..[?@..*]"
	env := startEngine(t, testConfig(
		config.Workflow{ID: "costly", When: when, Retry: fastRetry, Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "no"}}},
	))
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	id := env.fire(t, `{"subject":"s","deep":`+deep+`}`)
	runs := env.waitRuns(t, id, 1)
	run := runs[0]
	if run.Status != store.RunFailed || !strings.Contains(run.Error, "condition \""+when+"\" could not be decided") ||
		len(run.Attempts) != 1 || !run.Attempts[0].Permanent {
		t.Fatalf("run = %s, error %q, attempts %+v", run.Status, run.Error, run.Attempts)
	}
}

func TestEngineExhaustedRunNotifies(t *testing.T) {
	var mu sync.Mutex
	var notes []Notification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("notification body: %v", err)
		}
		mu.Lock()
		notes = append(notes, n)
		mu.Unlock()
	}))
	defer hook.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer down.Close()
	ms, smtpConf := startMailServer(t, "none")
	cfg := testConfig(
		config.Workflow{ID: "doomed", Retry: fastRetry, Tasks: []config.Task{{ID: "call", Type: "http", URL: down.URL}}},
		config.Workflow{ID: "refused", Retry: fastRetry, Tasks: []config.Task{{ID: "call", Type: "http", URL: down.URL + "/{{ .body.nosuch }}"}}},
	)
	cfg.SMTP = smtpConf
	cfg.Accounts[0].Notify = config.Notify{Webhook: hook.URL, Email: "ops@example.com"}
	env := startEngine(t, cfg)
	id := env.fire(t, `{"subject":"x"}`)
	runs := env.waitRuns(t, id, 2, store.RunFailed)
	for _, r := range runs {
		want := 3
		if r.WorkflowID == "refused" {
			want = 1 // a missing field is permanent: no retries
		}
		if len(r.Attempts) != want || r.FailedTask != "call" || r.FinishedAt.IsZero() {
			t.Errorf("%s: %d attempts, failed task %q; want %d", r.WorkflowID, len(r.Attempts), r.FailedTask, want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(notes)
		mu.Unlock()
		if n >= 2 && len(ms.messages()) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications: %d webhooks, %d mails", n, len(ms.messages()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range notes {
		if n.Type != "workflow.failed" || n.EventID != id || n.Task != "call" || n.TriggerID != "OC_demo" || n.Error == "" {
			t.Errorf("notification = %+v", n)
		}
		if n.WorkflowID == "doomed" && (n.Attempts != 3 || !strings.Contains(n.Error, "answered 502")) {
			t.Errorf("doomed notification = %+v", n)
		}
		if n.WorkflowID == "refused" && !strings.Contains(n.Error, "body.nosuch") {
			t.Errorf("refused notification = %+v", n)
		}
	}
	m := ms.messages()[0]
	_, subject, body := parseMail(t, m.Data)
	if m.To[0] != "ops@example.com" || !strings.Contains(subject, "failed") || !strings.Contains(body, id) {
		t.Errorf("notification mail to %v: %q\n%s", m.To, subject, body)
	}
}

func TestEngineRetryRunResumes(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusBadRequest
	calls := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.WriteHeader(status)
	}))
	defer sink.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "t"},
		{ID: "post", Type: "http", URL: sink.URL},
	}})
	env := startEngine(t, cfg)
	ctx := context.Background()
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	if len(run.Attempts) != 1 || !run.Attempts[0].Permanent {
		t.Fatalf("a 400 should fail at once: %+v", run.Attempts)
	}
	if _, err := env.e.RetryRun(ctx, "other", run.ID); err == nil {
		t.Error("another account retried the run")
	}
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	retried, err := env.e.RetryRun(ctx, "demo", run.ID)
	if err != nil || retried.Status != store.RunPending {
		t.Fatalf("RetryRun = %+v, %v", retried, err)
	}
	if _, err := env.e.RetryRun(ctx, "demo", run.ID); err == nil || !strings.Contains(err.Error(), "only a failed run") {
		t.Errorf("second retry: %v", err)
	}
	run = env.waitRuns(t, id, 1, store.RunSucceeded)[0]
	if len(run.Attempts) != 2 || run.Attempts[1].Number != 2 || run.Attempts[1].Error != "" {
		t.Errorf("attempts after retry = %+v", run.Attempts)
	}
	tickets, _, _ := env.st.ListTickets(ctx, store.TicketFilter{AccountID: "demo"})
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || len(tickets) != 1 {
		t.Errorf("sink calls = %d, tickets = %d; want 2 and 1", calls, len(tickets))
	}
}

func TestEngineShowsQueuedRunsAsPending(t *testing.T) {
	cfg := testConfig(
		config.Workflow{ID: "a", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "t"}}},
		config.Workflow{ID: "b", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "t"}}},
	)
	env := newEngineEnv(t, cfg, false) // nothing works the queue
	id := env.fire(t, `{"subject":"x"}`)
	runs, err := env.e.EventRuns(context.Background(), "demo", id)
	if err != nil || len(runs) != 2 {
		t.Fatalf("EventRuns = %d, %v", len(runs), err)
	}
	for _, r := range runs {
		if r.Status != store.RunPending || r.EventID != id || r.JobID == 0 || r.MaxAttempts != 8 {
			t.Errorf("queued run = %+v", r)
		}
	}
	if other, _ := env.e.EventRuns(context.Background(), "other", id); len(other) != 0 {
		t.Errorf("another account sees %d runs", len(other))
	}
	one, err := env.e.GetRun(context.Background(), "demo", runs[0].ID)
	if err != nil || one.Status != store.RunPending || one.ID != runs[0].ID || one.WorkflowID != runs[0].WorkflowID {
		t.Errorf("GetRun of a queued run = %+v, %v", one, err)
	}
	if _, err := env.e.GetRun(context.Background(), "other", runs[0].ID); err == nil {
		t.Error("another account reads a queued run")
	}
	if _, err := env.e.GetRun(context.Background(), "demo", "run_nosuch"); err == nil {
		t.Error("an unknown run was found")
	}
}

// TestEngineOnPostgres runs the engine tests against PostgreSQL (skipped
// when no server is available, see core/pgtest).
func TestEngineOnPostgres(t *testing.T) {
	pgtest.DSN(t) // skips early without a server
	old := engineStore
	engineStore = func(t *testing.T) config.Store { return config.Store{Driver: "postgres", DSN: pgtest.DSN(t)} }
	defer func() { engineStore = old }()
	t.Run("RetriesThenSucceedsOnce", TestEngineRetriesThenSucceedsOnce)
	t.Run("ExhaustedRunNotifies", TestEngineExhaustedRunNotifies)
	t.Run("RetryRunResumes", TestEngineRetryRunResumes)
	t.Run("ShowsQueuedRunsAsPending", TestEngineShowsQueuedRunsAsPending)
	t.Run("ShutdownDoesNotUseAnAttempt", TestEngineShutdownDoesNotUseAnAttempt)
	t.Run("ErrorWithANULFailsTheRun", TestEngineErrorWithANULFailsTheRun)
	t.Run("NotifyRetriedThenSentIsRecorded", TestNotifyRetriedThenSentIsRecorded)
	t.Run("NotifyGivenUpIsRecorded", TestNotifyGivenUpIsRecorded)
	t.Run("NotifyErrorWithANULIsRetried", TestNotifyErrorWithANULIsRetried)
}

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestEngineShowsRunningRun(t *testing.T) {
	release := make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer sink.Close()
	defer close(release)
	env := startEngine(t, testConfig(config.Workflow{ID: "wf", Tasks: []config.Task{{ID: "call", Type: "http", URL: sink.URL}}}))
	id := env.fire(t, `{"subject":"x"}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := env.e.EventRuns(context.Background(), "demo", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].Status == store.RunRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never shown running: %+v", runs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEngineHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer sink.Close()
	env := startEngine(t, testConfig(config.Workflow{ID: "wf",
		Retry: config.Retry{Attempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Second},
		Tasks: []config.Task{{ID: "call", Type: "http", URL: sink.URL}}}))
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunSucceeded)[0]
	if len(run.Attempts) != 2 {
		t.Fatalf("attempts = %d", len(run.Attempts))
	}
	gap := run.Attempts[1].StartedAt.Sub(run.Attempts[0].FinishedAt)
	if gap < 900*time.Millisecond || gap > 4*time.Second {
		t.Errorf("second attempt %s after the 429 with Retry-After: 1, want about 1s (min_backoff is 10ms)", gap)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"7", 7 * time.Second, true}, {"0", 0, true}, {"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		// Past what a Duration holds (a timestamp in milliseconds sent by
		// mistake): as long as can be, which max_backoff then caps; it
		// wrapped negative, and the retry came at min_backoff.
		{"10000000000", math.MaxInt64, true}, {"1767225600000", math.MaxInt64, true},
		{"99999999999999999999", math.MaxInt64, true}, {"9223372036", 9223372036 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(map[string][]string{"Retry-After": {tt.v}}, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Retry-After %q = %s, %v; want %s, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEngineApply(t *testing.T) {
	cfg := testConfig(config.Workflow{ID: "a", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "t"}}})
	e, err := NewEngine(cfg, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := testConfig(config.Workflow{ID: "b", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "{{ .fields.nosuch }}"}}})
	e.Apply(bad)
	if e.Set().Workflow("OC_demo", "a") == nil || e.Set().Workflow("OC_demo", "b") != nil {
		t.Fatal("a config that does not compile replaced the running one")
	}
	good := testConfig(config.Workflow{ID: "b", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "t"}}})
	e.Apply(good)
	if e.Set().Workflow("OC_demo", "a") != nil || e.Set().Workflow("OC_demo", "b") == nil {
		t.Fatal("a good config was not applied")
	}
	jobs, err := e.PlanJobs(context.Background(), nil, &store.Event{ID: "evt_1", AccountID: "demo", TriggerID: "OC_demo"})
	if err != nil || len(jobs) != 1 || jobs[0].Args.(RunArgs).WorkflowID != "b" ||
		jobs[0].Args.(RunArgs).Attempts != DefaultAttempts || jobs[0].InsertOpts.MaxAttempts != DefaultAttempts+1 {
		t.Fatalf("PlanJobs after reload = %+v, %v", jobs, err)
	}
	if jobs, _ := e.PlanJobs(context.Background(), nil, &store.Event{ID: "evt_2", AccountID: "demo", TriggerID: "OC_none"}); len(jobs) != 0 {
		t.Errorf("a trigger without workflows planned %d jobs", len(jobs))
	}
	if _, err := e.PlanJobs(context.Background(), nil, &store.Event{AccountID: "demo", TriggerID: "OC_demo"}); err == nil {
		t.Error("planning without an event id should fail")
	}
}

// TestEngineRescuedLastAttemptFails: a process killed during a run's last
// attempt leaves its job "running"; river's rescuer hands it back, and the
// run must end failed (and notified), not stay "running" for ever while
// its job is discarded. The kill is simulated as the store shows it after
// a kill -9: the first task's result committed, the attempt open, the job
// running since long ago on a node that is gone.
func TestEngineRescuedLastAttemptFails(t *testing.T) {
	var mu sync.Mutex
	calls, notes := 0, 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	defer sink.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		notes++
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: config.Retry{Attempts: 1}, Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "t"},
		{ID: "post", Type: "http", URL: sink.URL},
	}})
	cfg.Accounts[0].Notify = config.Notify{Webhook: hook.URL}
	env := newEngineEnv(t, cfg, false)
	id := env.fire(t, `{"subject":"x"}`)
	started := time.Now().Add(-time.Hour).UTC()
	env.killedDuring(t, id, 0, func(run *store.Run) {
		run.Status = store.RunRunning
		run.Tasks = map[string]*store.TaskRecord{"open": {Result: json.RawMessage(`{"outputs":{"id":"tkt_1"}}`), FinishedAt: started}}
		run.Attempts = []*store.Attempt{{Number: 1, StartedAt: started}}
	})
	got := env.waitRuns(t, id, 1, store.RunFailed)[0]
	if got.FailedTask != "post" || !strings.Contains(got.Error, "interrupted") || len(got.Attempts) != 1 || got.FinishedAt.IsZero() {
		t.Errorf("run = %s, failed task %q, error %q, attempts %+v", got.Status, got.FailedTask, got.Error, got.Attempts)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n, c := notes, calls
		mu.Unlock()
		if c != 0 {
			t.Fatalf("the sink was called %d times after the last attempt", c)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications = %d, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNotifyWebhookReadsABoundedAnswer: the failure webhook's answer is
// not needed beyond its status; an endless (or huge) body must neither be
// buffered whole nor turn a delivered notification into a timeout that
// sends it again.
func TestNotifyWebhookReadsABoundedAnswer(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up
			}
		}
	}))
	defer hook.Close()
	e, err := NewEngine(testConfig(), EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.sendWebhook(ctx, hook.URL, Notification{Type: "workflow.failed", RunID: "run_1"}); err != nil {
		t.Fatalf("a 200 with an endless body: %v", err)
	}
}

// killedDuring leaves the store as a kill -9 of the process working the
// event's one run job would: the run as edit makes it, and the job
// "running" in attempt n (0 = the workflow's last) since an hour ago on a
// node that is gone; then it starts the queue, whose rescuer hands the job
// back.
func (env *engineEnv) killedDuring(t *testing.T, eventID string, n int, edit func(*store.Run)) {
	t.Helper()
	ctx := context.Background()
	res, err := env.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(RunKind).TagsAny(eventID))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs = %v, %v", res, err)
	}
	job := res.Jobs[0]
	var args RunArgs
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		n = args.attemptLimit(job.MaxAttempts)
	}
	run := &store.Run{ID: args.RunID, EventID: eventID, AccountID: args.AccountID, TriggerID: args.TriggerID,
		WorkflowID: args.WorkflowID, JobID: job.ID, MaxAttempts: args.attemptLimit(job.MaxAttempts),
		CreatedAt: time.Now().Add(-time.Hour).UTC()}
	err = env.st.Write(ctx, func(tx store.Tx) error {
		if edit != nil { // nil: killed before the run was first written
			edit(run)
			if err := store.SaveRun(ctx, tx, run); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = $1,
    attempted_at = datetime('now', '-1 hour', 'subsec'), attempted_by = '["dead-node"]' WHERE id = $2`, n, job.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEngineRescuedFinishedRunStaysFailed: a process killed after a run's
// failure was committed (notifications queued) but before river heard of
// it leaves the job running with attempts to spare; the rescuer hands it
// back, and that attempt must not run the workflow again (a second
// delivery, a second notification, a failed run turned succeeded).
func TestEngineRescuedFinishedRunStaysFailed(t *testing.T) {
	var mu sync.Mutex
	calls, notes := 0, 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	defer sink.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		notes++
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{{ID: "post", Type: "http", URL: sink.URL}}})
	cfg.Accounts[0].Notify = config.Notify{Webhook: hook.URL}
	env := newEngineEnv(t, cfg, false)
	id := env.fire(t, `{"subject":"x"}`)
	failedAt := time.Now().Add(-time.Hour).UTC()
	env.killedDuring(t, id, 1, func(run *store.Run) {
		run.Status, run.FailedTask, run.Error, run.FinishedAt = store.RunFailed, "post", "task post: answered 400 (permanent)", failedAt
		run.Attempts = []*store.Attempt{{Number: 1, StartedAt: failedAt, FinishedAt: failedAt, Task: "post", Error: run.Error, Permanent: true}}
	})
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := env.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(RunKind).TagsAny(id).
			States(rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rescued job never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	run, err := env.st.GetRun(ctx, "demo", env.waitRuns(t, id, 1)[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// A notification would be queued in the transaction that saved the
	// run: look for the job, not only for a call that may not have run yet.
	if res, err := env.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(NotifyKind).TagsAny(id)); err != nil || len(res.Jobs) != 0 {
		t.Errorf("notification jobs after the rescue: %v, %v; want none", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if run.Status != store.RunFailed || len(run.Attempts) != 1 || calls != 0 || notes != 0 {
		t.Errorf("after the rescue: run %s with %d attempts, %d deliveries, %d notifications; want failed, 1, 0, 0",
			run.Status, len(run.Attempts), calls, notes)
	}
}

// TestEngineRetryKeepsNumericOutputs: a retry resumes after the tasks that
// finished, reading their outputs back from the run; a numeric output must
// render as it did in the first attempt (an order id 12345678 in a URL),
// not as 1.2345678e+07, nor lose digits past 2^53.
func TestEngineRetryKeepsNumericOutputs(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var bodies []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/create" {
			io.WriteString(w, `{"id":12345678,"big":12345678901234567890}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		bodies = append(bodies, string(b))
		if len(paths) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer sink.Close()
	env := startEngine(t, testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{
		{ID: "create", Type: "http", URL: sink.URL + "/create", Outputs: map[string]string{"id": "$.id", "big": "$.big"}},
		{ID: "next", Type: "http", URL: sink.URL + "/orders/{{ .tasks.create.id }}", Body: map[string]any{"big": "{{ .tasks.create.big }}"}},
	}}))
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1)[0]
	mu.Lock()
	defer mu.Unlock()
	if run.Status != store.RunSucceeded || len(paths) != 2 {
		t.Fatalf("run %s (%s), calls %v", run.Status, run.Error, paths)
	}
	for i := range paths {
		if paths[i] != "/orders/12345678" || bodies[i] != `{"big":12345678901234567890}` {
			t.Errorf("attempt %d called %s with %s; want /orders/12345678 with the big number intact", i+1, paths[i], bodies[i])
		}
	}
}

// TestEngineRetriedRunFailingAgainIsNotifiedAgain: a failed run the admin
// retries, which fails again, is a new failure: its notifications must not
// carry the first one's Idempotency-Key and Message-ID, or the receiving
// webhook drops it as a repeat and mail systems treat it as a duplicate.
func TestEngineRetriedRunFailingAgainIsNotifiedAgain(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	}))
	defer hook.Close()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer sink.Close()
	ms, smtpConf := startMailServer(t, "none")
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{{ID: "post", Type: "http", URL: sink.URL}}})
	cfg.SMTP = smtpConf
	cfg.Accounts[0].Notify = config.Notify{Webhook: hook.URL, Email: "ops@example.com"}
	env := startEngine(t, cfg)
	id := env.fire(t, `{"subject":"x"}`)
	waitNotes := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := len(keys)
			mu.Unlock()
			if got >= n && len(ms.messages()) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("notifications: %d webhooks, %d mails; want %d of each", got, len(ms.messages()), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	waitNotes(1)
	if _, err := env.e.RetryRun(context.Background(), "demo", run.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := env.st.GetRun(context.Background(), "demo", run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == store.RunFailed && len(r.Attempts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retried run = %s with %d attempts", r.Status, len(r.Attempts))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitNotes(2)
	mu.Lock()
	defer mu.Unlock()
	if keys[0] == keys[1] {
		t.Errorf("both failures notified with Idempotency-Key %q", keys[0])
	}
	m := ms.messages()
	id0, _ := mail.ReadMessage(strings.NewReader(string(m[0].Data)))
	id1, _ := mail.ReadMessage(strings.NewReader(string(m[1].Data)))
	if id0 == nil || id1 == nil || id0.Header.Get("Message-ID") == id1.Header.Get("Message-ID") {
		t.Errorf("both failure mails have Message-ID %q", id0.Header.Get("Message-ID"))
	}
}

// TestEngineRecordsAttemptsThatLeftNoTrace: an attempt killed before its
// first task finished never wrote the run; the next attempt must still
// show it in the history (and count it), not start over at attempt 1.
func TestEngineRecordsAttemptsThatLeftNoTrace(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer sink.Close()
	env := newEngineEnv(t, testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{{ID: "post", Type: "http", URL: sink.URL}}}), false)
	id := env.fire(t, `{"subject":"x"}`)
	env.killedDuring(t, id, 2, nil)
	run := env.waitRuns(t, id, 1)[0]
	if run.Status != store.RunSucceeded || len(run.Attempts) != 3 {
		t.Fatalf("run = %s with attempts %+v; want succeeded in the 3rd", run.Status, run.Attempts)
	}
	for i, a := range run.Attempts {
		if a.Number != i+1 {
			t.Errorf("attempt %d numbered %d", i+1, a.Number)
		}
	}
	if a := run.Attempts[1]; !strings.Contains(a.Error, "interrupted") || !strings.Contains(a.Error, "rescued") || a.FinishedAt.IsZero() {
		t.Errorf("the killed attempt = %+v", a)
	}
	if a := run.Attempts[2]; a.Error != "" || a.FinishedAt.IsZero() {
		t.Errorf("the last attempt = %+v", a)
	}
}

// TestEngineShutdownDoesNotUseAnAttempt: a stop that cancels a running
// attempt (SIGTERM past server.shutdown_timeout) is not the receiver's
// failure. In the workflow's only attempt it must not fail the run (nor
// notify); the run is handed back to river and, once a worker runs again,
// resumes at the interrupted task without repeating the finished one.
func TestEngineShutdownDoesNotUseAnAttempt(t *testing.T) {
	var mu sync.Mutex
	calls, notes := 0, 0
	inFlight := make(chan struct{}, 1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			inFlight <- struct{}{}
			<-r.Context().Done() // answers only once the client gives up
		}
	}))
	defer sink.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		notes++
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: config.Retry{Attempts: 1}, Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "t"},
		{ID: "post", Type: "http", URL: sink.URL},
	}})
	cfg.Accounts[0].Notify = config.Notify{Webhook: hook.URL}
	env := startEngine(t, cfg)
	id := env.fire(t, `{"subject":"x"}`)
	<-inFlight
	ctx := context.Background()
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := env.st.Queue().StopAndCancel(stopCtx); err != nil {
		t.Fatalf("StopAndCancel: %v", err)
	}
	runs, err := env.st.EventRuns(ctx, "demo", id)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	run := runs[0]
	if run.Status != store.RunRetrying || run.FailedTask != "post" || !strings.Contains(run.Error, "the service stopped") ||
		len(run.Attempts) != 1 || !strings.Contains(run.Attempts[0].Error, "not counted") {
		t.Errorf("after the stop: run %s, failed task %q, error %q, %d attempts; want retrying at post, saying the service stopped",
			run.Status, run.FailedTask, run.Error, len(run.Attempts))
	}
	if res, err := env.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(NotifyKind).TagsAny(id)); err != nil || len(res.Jobs) != 0 {
		t.Errorf("notification jobs after the stop: %v, %v; want none", res, err)
	}

	// The restart: the same store, a new engine and river client.
	e2, err := NewEngine(cfg, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e2.RiverConfig(config.Queue{Workers: 5})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(ctx, env.sc, nil, store.Options{River: rc})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	e2.Attach(st2)
	if err := st2.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = st2.Queue().Stop(stopCtx)
		e2.Close()
		_ = st2.Close()
	})
	env2 := &engineEnv{e: e2, st: st2}
	run = env2.waitRuns(t, id, 1)[0]
	tickets, _, err := st2.ListTickets(ctx, store.TicketFilter{AccountID: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if run.Status != store.RunSucceeded || len(run.Attempts) != 2 || calls != 2 || len(tickets) != 1 || notes != 0 {
		t.Errorf("after the restart: run %s (%s) with %d attempts, %d calls, %d tickets, %d notifications; want succeeded, 2, 2, 1, 0",
			run.Status, run.Error, len(run.Attempts), calls, len(tickets), notes)
	}
}

// TestPlanJobsRefusesATriggerItHasNotCompiled: serve applies a reloaded
// config to the receiver, then to the engine. An event accepted in
// between carries the receiver's trigger, whose workflows the engine has
// not compiled yet: planning from the engine's older set would store the
// event, answer 202 and start none of the workflows the config in force
// lists, with nothing saying so. Planning must refuse instead (a 503 the
// sender retries), never plan a different list of workflows.
func TestPlanJobsRefusesATriggerItHasNotCompiled(t *testing.T) {
	old := testConfig()
	e, err := NewEngine(old, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := testConfig(config.Workflow{ID: "added", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "t"}}})
	ev := &store.Event{ID: "evt_1", AccountID: "demo", TriggerID: "OC_demo"}
	jobs, err := e.PlanJobs(context.Background(), &next.Triggers[0], ev)
	if err == nil || core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("PlanJobs with a trigger the engine has not compiled = %d jobs, %v; want an unavailable error", len(jobs), err)
	}
	// The other way round (a workflow removed, not yet from the engine).
	e.Apply(next)
	if jobs, err := e.PlanJobs(context.Background(), &old.Triggers[0], ev); err == nil {
		t.Fatalf("PlanJobs with a trigger whose workflow was removed = %d jobs, nil error", len(jobs))
	}
	// Matching configs plan as before.
	if jobs, err := e.PlanJobs(context.Background(), &next.Triggers[0], ev); err != nil || len(jobs) != 1 {
		t.Fatalf("PlanJobs = %d jobs, %v", len(jobs), err)
	}
}

// TestEngineSpareAttemptOutlastsAStoreFailure: the spare attempt only
// records a run whose last attempt never finished as failed. When the
// store fails that write, river must not discard the job (it was its last
// attempt): the run would stay "running" for ever, never failed nor
// notified, and the job would be gone from the queue. The attempt waits
// for the store instead, and the run ends failed once the store is back.
func TestEngineSpareAttemptOutlastsAStoreFailure(t *testing.T) {
	cfg := testConfig(config.Workflow{ID: "wf", Retry: config.Retry{Attempts: 1}, Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "t"},
	}})
	env := newEngineEnv(t, cfg, false)
	id := env.fire(t, `{"subject":"x"}`)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if err := env.st.Write(ctx, func(tx store.Tx) error { _, err := tx.Exec(ctx, q); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// Updates of a run fail (the run's first write, below, is an insert).
	exec(`CREATE TRIGGER runs_fail BEFORE UPDATE ON workflow_runs BEGIN SELECT RAISE(ABORT, 'simulated store failure'); END`)
	started := time.Now().Add(-time.Hour).UTC()
	env.killedDuring(t, id, 0, func(run *store.Run) {
		run.Status = store.RunRunning
		run.Attempts = []*store.Attempt{{Number: 1, StartedAt: started}}
	})
	res, err := env.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(RunKind).TagsAny(id))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs = %v, %v", res, err)
	}
	jobID := res.Jobs[0].ID
	deadline := time.Now().Add(15 * time.Second)
	for {
		job, err := env.st.Queue().JobGet(ctx, jobID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State == rivertype.JobStateDiscarded || job.State == rivertype.JobStateCancelled {
			run, _ := env.st.GetRun(ctx, "demo", res.Jobs[0].Tags[1])
			t.Fatalf("the job was %s after the store failed its spare attempt; the run stays %s", job.State, run.Status)
		}
		if snoozed(job) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spare attempt did not run: job %s, attempt %d", job.State, job.Attempt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	exec(`DROP TRIGGER runs_fail`)
	got := env.waitRuns(t, id, 1, store.RunFailed)[0]
	if !strings.Contains(got.Error, "interrupted") || got.FinishedAt.IsZero() {
		t.Errorf("run = %s, error %q", got.Status, got.Error)
	}
}

// panicOnce is an HTTP transport whose first request panics, as a bug in
// an executor would.
type panicOnce struct {
	mu  sync.Mutex
	hit bool
}

func (p *panicOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	first := !p.hit
	p.hit = true
	p.mu.Unlock()
	if first {
		panic("executor bug: nil map in the http task")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestEnginePanicIsInTheHistory: a panic in a task after an earlier task
// of the attempt was committed leaves that attempt open in the run. River
// keeps the panic as the attempt's error; the next attempt must record it
// there, not claim the worker stopped, so the history says what failed.
func TestEnginePanicIsInTheHistory(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer sink.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{
		{ID: "open", Type: "ticket", Title: "t"},
		{ID: "post", Type: "http", URL: sink.URL},
	}})
	env := newEngineEnv(t, cfg, false)
	env.e.Runner().HTTP.SetTransport(&panicOnce{})
	if err := env.st.Queue().Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1)[0]
	if run.Status != store.RunSucceeded || len(run.Attempts) != 2 {
		t.Fatalf("run = %s with attempts %+v; want succeeded in the 2nd", run.Status, run.Attempts)
	}
	if a := run.Attempts[0]; !strings.Contains(a.Error, "executor bug: nil map in the http task") || a.FinishedAt.IsZero() {
		t.Errorf("the attempt that panicked = %+v; want the panic as its error", a)
	}
}

// TestEngineErrorWithANULFailsTheRun: an error quoting what a remote
// server said may hold a NUL character (an SMTP reply is any bytes but
// CR LF). PostgreSQL's jsonb refuses it, and the error goes into the
// failure notification's job arguments and river's record of the
// attempt: the run's failure was never committed, and the run stayed
// "running" for ever, neither failed nor notified.
func TestEngineErrorWithANULFailsTheRun(t *testing.T) {
	m, smtpCfg := startMailServer(t, "none")
	m.rejectTo, m.rejectMsg = "gone@example.com", "no such user \x00 here"
	var mu sync.Mutex
	notes := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		notes++
		mu.Unlock()
	}))
	defer hs.Close()
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{
		{ID: "mail", Type: "email", To: "gone@example.com", Subject: "s", Body: "b"},
	}})
	cfg.SMTP = smtpCfg
	cfg.Accounts[0].Notify = config.Notify{Webhook: hs.URL}
	env := startEngine(t, cfg)
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1)[0]
	if run.Status != store.RunFailed || run.FailedTask != "mail" || !strings.Contains(run.Error, "no such user") {
		t.Fatalf("run = %s, task %q, error %q", run.Status, run.FailedTask, run.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := notes
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications = %d, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failedRun is a run of one http task whose first job failed it for good
// an hour ago (what finishFailed commits; not yet saved), for the tests of
// runs retried by hand. calls counts what the task sent.
type failedRun struct {
	env    *engineEnv
	event  string
	old    *rivertype.JobRow // the run's first job
	args   RunArgs
	failed *store.Run
	calls  *atomic.Int32
}

func newFailedRun(t *testing.T) *failedRun {
	t.Helper()
	f := &failedRun{calls: new(atomic.Int32)}
	sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { f.calls.Add(1) }))
	t.Cleanup(sink.Close)
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{{ID: "post", Type: "http", URL: sink.URL}}})
	f.env = newEngineEnv(t, cfg, false)
	f.event = f.env.fire(t, `{"subject":"x"}`)
	res, err := f.env.st.Queue().JobList(context.Background(), river.NewJobListParams().Kinds(RunKind).TagsAny(f.event))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs = %v, %v", res, err)
	}
	f.old = res.Jobs[0]
	if err := json.Unmarshal(f.old.EncodedArgs, &f.args); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC()
	f.failed = &store.Run{ID: f.args.RunID, EventID: f.event, AccountID: "demo", TriggerID: "OC_demo", WorkflowID: "wf",
		JobID: f.old.ID, Status: store.RunFailed, Error: "task post: answered 400 (permanent)", FailedTask: "post",
		MaxAttempts: 3, Tasks: map[string]*store.TaskRecord{}, CreatedAt: at, FinishedAt: at,
		Attempts: []*store.Attempt{{Number: 1, StartedAt: at, FinishedAt: at, Task: "post", Error: "answered 400", Permanent: true}}}
	return f
}

// TestEngineStaleJobOfARetriedRunDoesNothing: a process killed after a
// run's failure was committed but before river heard of it leaves the
// job "running" with attempts to spare. If the admin retries the failed
// run before the rescuer hands that job back, the run has two jobs: the
// retry's and the old one. The old one must not run the workflow a second
// time beside the retry (every task twice, the history interleaved).
func TestEngineStaleJobOfARetriedRunDoesNothing(t *testing.T) {
	f := newFailedRun(t)
	env, id, old, args, failed := f.env, f.event, f.old, f.args, f.failed
	ctx := context.Background()
	err := env.st.Write(ctx, func(tx store.Tx) error {
		if err := store.SaveRun(ctx, tx, failed); err != nil {
			return err
		}
		// The crash kept river from hearing of it: the job is running on
		// a node that is gone.
		_, err := tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
    attempted_at = datetime('now', '-1 hour', 'subsec'), attempted_by = '["dead-node"]' WHERE id = $1`, old.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.e.RetryRun(ctx, "demo", args.RunID); err != nil {
		t.Fatal(err)
	}
	// The old job, handed back by the rescuer, runs its second attempt.
	row := *old
	row.Attempt, row.State = 2, rivertype.JobStateRunning
	if err := env.e.work(ctx, &river.Job[RunArgs]{JobRow: &row, Args: args}); err != nil {
		t.Fatalf("the old job's attempt = %v", err)
	}
	n := f.calls.Load()
	run, err := env.st.GetRun(ctx, "demo", args.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || run.Status != store.RunPending || len(run.Attempts) != 1 {
		t.Fatalf("the old job ran the retried run: sink calls %d, run %s with %d attempts", n, run.Status, len(run.Attempts))
	}
	// The retry's job runs it, once; the rescuer hands the old job back,
	// which ends without running anything.
	if err := env.st.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	run = env.waitRuns(t, id, 1, store.RunSucceeded)[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := env.st.Queue().JobGet(ctx, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == rivertype.JobStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old job is %s, attempt %d", j.State, j.Attempt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if calls := f.calls.Load(); calls != 1 || len(run.Attempts) != 2 {
		t.Errorf("sink calls = %d, attempts %+v; want 1 call, 2 attempts", calls, run.Attempts)
	}
}

// panicAlways is an HTTP transport that panics on every request.
type panicAlways struct{}

func (panicAlways) RoundTrip(*http.Request) (*http.Response, error) {
	panic("executor bug: index out of range in the http task")
}

// TestEnginePanicInTheLastAttemptNamesIt: a panic in the run's last
// attempt leaves the run to the spare attempt, which fails it. The run's
// error (and so the notification) must say what ended that attempt, not
// that "the worker stopped or the store failed".
func TestEnginePanicInTheLastAttemptNamesIt(t *testing.T) {
	cfg := testConfig(config.Workflow{ID: "wf", Retry: config.Retry{Attempts: 1}, Tasks: []config.Task{
		{ID: "post", Type: "http", URL: "http://127.0.0.1:1/"},
	}})
	env := newEngineEnv(t, cfg, false)
	env.e.Runner().HTTP.SetTransport(panicAlways{})
	if err := env.st.Queue().Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	if !strings.Contains(run.Error, "index out of range in the http task") || len(run.Attempts) != 1 ||
		!strings.Contains(run.Attempts[0].Error, "index out of range in the http task") {
		t.Fatalf("run error %q, attempts %+v; want the panic named", run.Error, run.Attempts)
	}
}

// TestEngineRetryQueuedBeforeAnUpgradeRuns: a run retried by hand with an
// earlier version kept its old job's id until the retry's job saved it.
// That retry's job must still run it after an upgrade.
func TestEngineRetryQueuedBeforeAnUpgradeRuns(t *testing.T) {
	f := newFailedRun(t)
	env, id, old, args, failed := f.env, f.event, f.old, f.args, f.failed
	ctx := context.Background()
	err := env.st.Write(ctx, func(tx store.Tx) error {
		if err := store.SaveRun(ctx, tx, failed); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE river_job SET state = 'cancelled', attempt = 1, finalized_at = datetime('now', 'subsec') WHERE id = $1`, old.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.e.RetryRun(ctx, "demo", args.RunID); err != nil {
		t.Fatal(err)
	}
	// What the earlier version's retry left: the old job's id.
	err = env.st.Write(ctx, func(tx store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE workflow_runs SET job_id = $1 WHERE id = $2`, old.ID, args.RunID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	run := env.waitRuns(t, id, 1, store.RunSucceeded)[0]
	if calls := f.calls.Load(); calls != 1 || len(run.Attempts) != 2 {
		t.Errorf("sink calls = %d, attempts %d; want 1 and 2", calls, len(run.Attempts))
	}
}

// TestEngineStaleJobOfARunRetriedBeforeAnUpgradeDoesNothing: an earlier
// version's manual retry left the old job's id on the pending run. During
// a rolling upgrade that old job, handed back by the rescuer to a new
// node, found the run still naming it and ran it beside the retry's job
// (every task twice). A run is pending only when retried by hand, and then
// only the retry's job (known by its Retry) may run it.
func TestEngineStaleJobOfARunRetriedBeforeAnUpgradeDoesNothing(t *testing.T) {
	f := newFailedRun(t)
	env, old, args, failed, calls := f.env, f.old, f.args, f.failed, f.calls
	ctx := context.Background()
	if err := env.st.Write(ctx, func(tx store.Tx) error { return store.SaveRun(ctx, tx, failed) }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.e.RetryRun(ctx, "demo", args.RunID); err != nil {
		t.Fatal(err)
	}
	// What the earlier version's retry left: the old job's id.
	err := env.st.Write(ctx, func(tx store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE workflow_runs SET job_id = $1 WHERE id = $2`, old.ID, args.RunID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The old job, handed back by the rescuer, runs its second attempt.
	row := *old
	row.Attempt, row.State = 2, rivertype.JobStateRunning
	if err := env.e.work(ctx, &river.Job[RunArgs]{JobRow: &row, Args: args}); err != nil {
		t.Fatalf("the old job's attempt = %v", err)
	}
	run, err := env.st.GetRun(ctx, "demo", args.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 || run.Status != store.RunPending || len(run.Attempts) != 1 {
		t.Fatalf("the old job ran the retried run: sink calls %d, run %s with %d attempts", n, run.Status, len(run.Attempts))
	}
}
