package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/store"
)

// crashSink is the outside system of the crash test: /first answers at
// once; the first call of /slow hangs (until its connection dies), later
// ones answer at once. It counts every call.
type crashSink struct {
	mu          sync.Mutex
	calls       map[string]int
	slowStarted chan struct{}
}

func (s *crashSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.URL.Path]++
	n := s.calls[r.URL.Path]
	s.mu.Unlock()
	if r.URL.Path == "/slow" && n == 1 {
		close(s.slowStarted)
		<-r.Context().Done() // the server is killed meanwhile
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

// waitSlow waits until /slow has been called, while s runs.
func (s *crashSink) waitSlow(t *testing.T, srv *server) {
	t.Helper()
	select {
	case <-s.slowStarted:
	case <-time.After(20 * time.Second):
		t.Fatalf("the slow task never started:\n%s", srv.log())
	}
}

// waitRunSucceeded waits until the event's one run has succeeded on s (a
// restarted server) and returns it.
func waitRunSucceeded(t *testing.T, s *server, eventID string) *store.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ev struct{ Runs []*store.Run }
		getJSON(t, s.addr, "/v1/events/"+eventID, &ev)
		if len(ev.Runs) == 1 && ev.Runs[0].Status == store.RunSucceeded {
			return ev.Runs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not complete after the restart: %+v\n%s", ev.Runs, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *crashSink) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TestWorkflowSurvivesKill9 kills the server with SIGKILL while the second
// of three tasks is in flight, restarts it, and checks that the workflow
// completes without repeating the task that had finished; then it drives
// the runs and tickets commands against the live server.
func TestWorkflowSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: waits for river's leader election after a restart")
	}
	sink := &crashSink{calls: map[string]int{}, slowStarted: make(chan struct{})}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	cfg := fmt.Sprintf(`server: { listen: "127.0.0.1:0", shutdown_timeout: 10s }
store: { driver: sqlite, dsn: %q }
limits: { requests_per_minute: 100000 }
queue: { workers: 10, poll_interval: 20ms, rescue_after: 2s }
accounts:
  - id: demo
    username: demo@example.com
    tokens: [ { sha256: "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc" } ]
triggers:
  - id: OC_wf
    account: demo
    fields: { n: "$.n" }
    workflows:
      - id: three
        retry: { attempts: 5, min_backoff: 50ms, max_backoff: 200ms }
        tasks:
          - { id: first, type: http, url: "%s/first?n={{ .fields.n }}", timeout: 1s }
          - { id: slow, type: http, url: "%s/slow", timeout: 3s }
          - { id: last, type: ticket, title: "done {{ .fields.n }}", timeout: 1s }
`, filepath.Join(dir, "wf.db"), srv.URL, srv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	s1 := startServer(t, bin, cfgPath)
	eventID := postEvent(t, s1.addr, `{"n":7}`)
	sink.waitSlow(t, s1)
	// The attempt started before slowAt.
	slowAt := time.Now()
	if err := s1.cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no cleanup
		t.Fatal(err)
	}
	<-s1.done

	// river's rescuer takes a job only once its attempt is older than
	// rescue_after (2 s), and looks when its node becomes the leader, then
	// every 30 s. When the restarted node led at once (the killed one had
	// not yet been elected), its first look came too early and the run
	// waited 30 s more (32 s instead of 19 s, 1 run in 7): start it only
	// once the job is due.
	time.Sleep(time.Until(slowAt.Add(2 * time.Second)))
	s2 := startServer(t, bin, cfgPath)
	got := waitRunSucceeded(t, s2, eventID)
	if n := sink.count("/first"); n != 1 {
		t.Errorf("finished task repeated: /first called %d times", n)
	}
	if n := sink.count("/slow"); n != 2 {
		t.Errorf("/slow called %d times, want 2 (interrupted, then done)", n)
	}
	if len(got.Attempts) != 2 || !strings.Contains(got.Attempts[0].Error, "interrupted") || got.Attempts[1].Error != "" {
		b, _ := json.Marshal(got.Attempts)
		t.Errorf("attempts = %s", b)
	}
	for _, task := range []string{"first", "slow", "last"} {
		if got.Tasks[task] == nil {
			t.Errorf("task %s has no recorded result", task)
		}
	}

	// Metrics of the process that finished the run. The engine counts a
	// run once its state is saved, a moment after the API can show it
	// succeeded: the metrics are read until they have it (or 10 s pass).
	wants := []string{
		`jsonevent_workflow_runs_total{status="succeeded",trigger="OC_wf",workflow="three"} 1`,
		`jsonevent_workflow_retries_total{trigger="OC_wf",workflow="three"} 1`,
		`jsonevent_workflow_task_duration_seconds_count{outcome="ok",type="http"} 1`,
		`jsonevent_workflow_queue_depth 0`,
		`jsonevent_store_writable 1`,
		`jsonevent_store_fsync_seconds_count`,
		`jsonevent_store_group_commit_events_count`,
		`go_goroutines`,
	}
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + s2.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(metrics), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %s", want)
	}

	// The CLI against the live server.
	base := "http://" + s2.addr
	var out, errOut bytes.Buffer
	if rc := run([]string{"tickets", "list", "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 || !strings.Contains(out.String(), "done 7") {
		t.Errorf("tickets list: rc %d\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	if rc := run([]string{"tickets", "list", "--json", "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 {
		t.Fatalf("tickets list --json: rc %d: %s", rc, errOut.String())
	}
	var tl struct{ Tickets []store.Ticket }
	if err := json.Unmarshal(out.Bytes(), &tl); err != nil || len(tl.Tickets) != 1 {
		t.Fatalf("tickets list --json: %v: %s", err, out.String())
	}
	out.Reset()
	if rc := run([]string{"tickets", "set", tl.Tickets[0].ID, "--status", "solved", "--assignee", "bob", "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 ||
		!regexp.MustCompile(`(?m)^Status +solved$`).MatchString(out.String()) || !regexp.MustCompile(`(?m)^Assignee +bob$`).MatchString(out.String()) {
		t.Errorf("tickets set: rc %d\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	if rc := run([]string{"tickets", "show", tl.Tickets[0].ID, "--json", "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 ||
		!strings.Contains(out.String(), `"status": "solved"`) || !strings.Contains(out.String(), `"assignee": "bob"`) {
		t.Errorf("tickets show --json: rc %d\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	if rc := run([]string{"runs", "show", got.ID, "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 ||
		!regexp.MustCompile(`(?m)^Status +succeeded`).MatchString(out.String()) || !regexp.MustCompile(`(?m)^  \d+ .* succeeded$`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^  last .* \{"id":"tkt_`).MatchString(out.String()) {
		t.Errorf("runs show: rc %d\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	if rc := run([]string{"runs", "list", "--status", "succeeded", "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 0 || !strings.Contains(out.String(), got.ID) {
		t.Errorf("runs list: rc %d\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if rc := run([]string{"runs", "retry", got.ID, "--url", base, "--token", serveToken}, nil, &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "only a failed run can be retried") {
		t.Errorf("runs retry of a succeeded run: rc %d: %s", rc, errOut.String())
	}
	errOut.Reset()
	out.Reset()
	if rc := run([]string{"runs", "list", "--url", base, "--token", "wrong"}, nil, &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "401") || out.Len() != 0 {
		t.Errorf("runs list with a bad token: rc %d, stdout %q: %s", rc, out.String(), errOut.String())
	}
}

func postEvent(t *testing.T, addr, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/inbound-event/v1/event/JSON/triggers?triggerId=OC_wf", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-TOKEN", serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var acc struct{ EventID string }
	if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d %v", resp.StatusCode, err)
	}
	return acc.EventID
}

func getJSON(t *testing.T, addr, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("X-API-TOKEN", serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
}

// TestShutdownBoundsRunningWorkflows: SIGTERM's stop takes at most
// server.shutdown_timeout (plus the grace to record cancelled attempts),
// even while a workflow task waits on a receiver that never answers; the
// cancelled attempt is retried after the restart. Before, the queue alone
// waited 30 s more, and a supervisor's SIGKILL left the attempt to the
// rescuer (an hour by default).
func TestShutdownBoundsRunningWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the server")
	}
	sink := &crashSink{calls: map[string]int{}, slowStarted: make(chan struct{})}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	cfg := fmt.Sprintf(`server: { listen: "127.0.0.1:0", shutdown_timeout: 2s }
store: { driver: sqlite, dsn: %q }
queue: { workers: 10, poll_interval: 20ms }
accounts:
  - id: demo
    username: demo@example.com
    tokens: [ { sha256: "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc" } ]
triggers:
  - id: OC_wf
    account: demo
    workflows:
      - id: one
        retry: { attempts: 3, min_backoff: 50ms, max_backoff: 200ms }
        tasks:
          - { id: slow, type: http, url: "%s/slow", timeout: 60s }
`, filepath.Join(dir, "wf.db"), srv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	s1 := startServer(t, bin, cfgPath)
	eventID := postEvent(t, s1.addr, `{}`)
	sink.waitSlow(t, s1)
	start := time.Now()
	if err := s1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s1.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s1.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop within 60 s of SIGTERM:\n%s", s1.log())
	}
	// 2 s of shutdown_timeout and 5 s to record the cancellation; the
	// 20 s bound leaves room for a slow machine and is far below the 30 s
	// the queue waited before.
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("stop took %s with shutdown_timeout 2s", took.Round(time.Millisecond))
	}
	t.Logf("stop took %s", time.Since(start))
	if !strings.Contains(s1.log(), "cancelling running attempts") {
		t.Errorf("no cancellation logged:\n%s", s1.log())
	}

	s2 := startServer(t, bin, cfgPath)
	defer func() { _ = s2.cmd.Process.Signal(syscall.SIGTERM); <-s2.done }()
	waitRunSucceeded(t, s2, eventID)
	if n := sink.count("/slow"); n != 2 {
		t.Errorf("/slow called %d times, want 2 (cancelled at shutdown, then done)", n)
	}
}
