package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jsonevent/jsonevent/adapters"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
)

// runCmd runs the CLI in-process with JSONEVENT_* cleared.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jsonevent.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const cmdConfig = `accounts:
  - id: demo
    username: demo@example.com
    tokens: [ { sha256: "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc" } ]
triggers:
  - id: OC_demo
    account: demo
`

func TestValidateCommand(t *testing.T) {
	good := writeFile(t, cmdConfig)
	code, out, errOut := runCmd(t, "validate", "--config", good)
	if code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("valid config: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A vendor trigger whose preset file is missing (no presets/ beside
	// this config) is valid, with a warning naming the file.
	fd := writeFile(t, cmdConfig+"  - { id: OC_fd, account: demo, adapter: freshdesk }\n")
	code, out, errOut = runCmd(t, "validate", "--config", fd)
	if want := filepath.Join(filepath.Dir(fd), "presets", "freshdesk.yaml") + " does not exist"; code != 0 || out != "ok\n" ||
		!strings.HasPrefix(errOut, "warning: "+want) {
		t.Fatalf("missing preset: code %d, stdout %q, stderr %q; want a warning on %s", code, out, errOut, want)
	}

	// A valid but suspicious JSONPath (Goessner's .length in a filter)
	// is a located warning; the config is still ok.
	lf := writeFile(t, cmdConfig+"    fields: { big: \"$.a[?(@.items.length > 2)]\" }\n")
	code, out, errOut = runCmd(t, "validate", "--config", lf)
	if want := "warning: " + lf + ":8: triggers[0].fields.big: JSONPath"; code != 0 || out != "ok\n" ||
		!strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "length()") {
		t.Fatalf(".length filter: code %d, stdout %q, stderr %q; want a warning starting %q", code, out, errOut, want)
	}

	bad := writeFile(t, cmdConfig+"    colour: red\nlimits: { body_bytes: 0 }\n")
	code, out, errOut = runCmd(t, "validate", "--config", bad)
	if code != 1 || out != "" {
		t.Fatalf("invalid config: code %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"config: 2 problems:",
		bad + ":8: triggers[0].colour: unknown key",
		bad + ":9: limits.body_bytes: 0 is out of range",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not contain %q", errOut, want)
		}
	}

	// Workflow problems (found by workflow.Validate) are located too.
	wf := cmdConfig + "    workflows:\n      - id: notify\n        tasks:\n          - id: call\n            type: http\n            url: \"https://example.com/{{ .fields.nope }}\"\n"
	bad = writeFile(t, wf)
	code, _, errOut = runCmd(t, "validate", "--config", bad)
	if code != 1 || !strings.Contains(errOut, bad+":13: triggers[0].workflows[0].tasks[0].url: template names .fields.nope") {
		t.Errorf("workflow problem: code %d, stderr %q", code, errOut)
	}

	// Adapter options are checked as serve configures the adapters: serve
	// refused this file at start-up while validate said ok.
	bad = writeFile(t, cmdConfig+"    adapter: freshdesk\n    options: { bogus: 1 }\n")
	code, _, errOut = runCmd(t, "validate", "--config", bad)
	if code != 1 || !strings.Contains(errOut, bad+":9: triggers[0].options: adapter \"freshdesk\" takes no options") {
		t.Errorf("adapter options: code %d, stderr %q", code, errOut)
	}

	if code, _, errOut := runCmd(t, "validate", "--config", filepath.Join(t.TempDir(), "nope.yaml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: code %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd(t, "validate", "extra"); code != 2 {
		t.Errorf("stray argument: code %d, want 2", code)
	}
}

// Ensure every shipped preset loads under the strict loader: one trigger
// per registered adapter, with the repository's presets, inherits fields.
func TestShippedPresets(t *testing.T) {
	var b strings.Builder
	b.WriteString(cmdConfig)
	names := adapters.Default().Names()
	for _, n := range names {
		fmt.Fprintf(&b, "  - id: t_%s\n    account: demo\n    adapter: %s\n", n, n)
	}
	// A name no vendor will take ("zendesk" was, until it became an adapter).
	const unknown = "  - id: t_unknown\n    account: demo\n    adapter: no-such-vendor\n"
	b.WriteString(unknown)
	path := writeFile(t, b.String())
	opt := configOptions("../../configs/presets")
	opt.Environ = func() []string { return nil }
	_, err := config.Load(path, opt)
	if err == nil || !strings.Contains(err.Error(), `triggers[`+strconv.Itoa(len(names)+1)+`].adapter: unknown adapter "no-such-vendor"`) {
		t.Fatalf("unknown adapter not refused: %v", err)
	}
	path = writeFile(t, strings.TrimSuffix(b.String(), unknown))
	cfg, err := config.Load(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range cfg.Triggers[1:] {
		if tr.Adapter != "generic" && len(tr.PresetFields) == 0 {
			t.Errorf("trigger %s (adapter %s) inherited no preset fields", tr.ID, tr.Adapter)
		}
	}
}

// Ensure the shipped sample config validates through the command.
func TestValidateSampleConfig(t *testing.T) {
	code, out, errOut := runCmd(t, "validate", "--config", "../../configs/jsonevent.yaml")
	if code != 0 || out != "ok\n" {
		t.Fatalf("sample config: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestTokenNewCommand(t *testing.T) {
	code, out, errOut := runCmd(t, "token", "new", "--account", "demo")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	tok := regexp.MustCompile(`(?m)^    (jse_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	hash := regexp.MustCompile(`tokens: \[ \{ sha256: "([0-9a-f]{64})" \} \]`).FindStringSubmatch(out)
	if tok == nil || hash == nil {
		t.Fatalf("output lacks the token or the hash line:\n%s", out)
	}
	if auth.HashToken(tok[1]) != hash[1] {
		t.Fatal("the printed hash is not the SHA-256 of the printed token")
	}
	if strings.Count(out, tok[1]) != 1 {
		t.Error("the token is printed more than once")
	}

	// The printed line, pasted into a config, authenticates the token.
	path := writeFile(t, strings.Replace(cmdConfig, `tokens: [ { sha256: "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc" } ]`, strings.TrimSpace(hash[0]), 1))
	cfg, err := config.Load(path, config.Options{Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.New(cfg.Accounts).Authenticate("", "Basic "+basic64("demo@example.com:"+tok[1]))
	if err != nil || p.AccountID != "demo" {
		t.Fatalf("pasted token does not authenticate: %+v %v", p, err)
	}

	// With --config the account must exist, and existing tokens are noted.
	code, out, _ = runCmd(t, "token", "new", "--account", "demo", "--config", path)
	if code != 0 || !strings.Contains(out, "already has 1 token(s)") {
		t.Errorf("existing account: code %d, out %q", code, out)
	}
	code, out, errOut = runCmd(t, "token", "new", "--account", "ghost", "--config", path)
	if code != 1 || out != "" || !strings.Contains(errOut, `account "ghost" is not in`) {
		t.Errorf("unknown account: code %d, out %q, err %q", code, out, errOut)
	}
	for _, args := range [][]string{{"token"}, {"token", "new"}, {"token", "old", "--account", "x"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
}

func basic64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Ensure the SMTP settings that e-mail needs (for an email task or an
// account's notify.email) are reported on their key, with the file (and
// the smtp section's line when there is one): they came out as
// "config: FILE: smtp (needed by …): host is required", naming no key.
func TestValidateSMTPNeededLocated(t *testing.T) {
	notify := writeFile(t, strings.Replace(cmdConfig, "    tokens:", "    notify: { email: ops@example.com }\n    tokens:", 1))
	code, _, errOut := runCmd(t, "validate", "--config", notify)
	if code != 1 || !strings.Contains(errOut, notify+": smtp.host: is empty, but accounts[0].notify.email sends e-mail") {
		t.Errorf("notify.email without smtp.host: code %d, stderr %q", code, errOut)
	}

	email := writeFile(t, "smtp:\n  host: smtp.example.com\n"+cmdConfig+
		"    workflows:\n      - id: w\n        tasks:\n          - { id: t, type: email, to: a@example.com, subject: hi, body: x }\n")
	code, _, errOut = runCmd(t, "validate", "--config", email)
	if code != 1 || !strings.Contains(errOut, email+":1: smtp.from: is empty, but triggers[0].workflows[0].tasks[0] sends e-mail") {
		t.Errorf("email task without smtp.from: code %d, stderr %q", code, errOut)
	}
}

// Ensure asking for help succeeds: `jsonevent serve --help` printed the
// usage and exited 2, as for a wrong flag, so a script or a packaging
// check running `--help` saw a failure. A wrong flag still exits 2.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"serve", "-h"}, {"validate", "--help"}, {"migrate", "-h"},
		{"token", "--help"}, {"token", "new", "--help"}, {"runs", "--help"}, {"runs", "list", "-h"},
		{"tickets", "-h"}, {"tickets", "show", "--help"}, {"capture", "--help"}, {"jsonpath", "--help"},
	} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 || !strings.Contains(out+errOut, "usage: jsonevent") {
			t.Errorf("%v: code %d, output %q", args, code, out+errOut)
		}
	}
	for _, args := range [][]string{{"serve", "--bogus"}, {"validate", "--bogus"}, {"token", "new", "--bogus"}, {"token", "old"}, {"runs", "nope"},
		{"runs"}, {"tickets"}, {"runs", "show"}, {"runs", "retry", "--json"}, {"tickets", "set"}, {"runs", "show", "run_1", "run_2"}, {"tickets", "show", "--json", "tkt_1", "tkt_2"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
}

// Ensure `tickets show ID --status solved` (set meant) is refused as a
// usage error before any request: show took set's flags and ignored them,
// printing the unchanged ticket with exit status 0.
func TestTicketsShowRefusesSetFlags(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"tkt_1","status":"open"}`))
	}))
	defer srv.Close()
	for _, flagArgs := range [][]string{{"--status", "solved"}, {"--assignee", "bob"}} {
		args := append([]string{"tickets", "show", "tkt_1", "--url", srv.URL, "--token", "t"}, flagArgs...)
		code, out, errOut := runCmd(t, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "not defined") {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runCmd(t, "tickets", "show", "tkt_1", "--url", srv.URL, "--token", "t"); code != 0 || !strings.Contains(out, "tkt_1") {
		t.Errorf("plain show: code %d, stdout %q", code, out)
	}
	// Flags may also come before the id.
	if code, out, _ := runCmd(t, "tickets", "show", "--url", srv.URL, "--json", "tkt_1", "--token", "t"); code != 0 || !strings.Contains(out, `"tkt_1"`) {
		t.Errorf("flags before the id: code %d, stdout %q", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Errorf("requests %v: want only the two plain shows' GETs", seen)
	}
}

// Ensure `tickets list` and `runs list` do not print an event's control
// characters raw: a ticket title is the sender's text (title: "{{
// .fields.subject }}"), a run's error quotes what a receiver answered, and
// an escape sequence in either would drive the admin's terminal, as
// capture's output would (termSafe).
func TestListsEscapeControls(t *testing.T) {
	const evil = "Printer \x1b]0;pwned\x07on \x1b[2Jfire\u009b\x7f"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		item, _ := json.Marshal(map[string]any{"id": "x_1", "status": "failed", "title": evil, "error": evil, "assignee": evil})
		key := "tickets"
		if r.URL.Path == "/v1/runs" {
			key = "runs"
		}
		_, _ = fmt.Fprintf(w, `{%q:[%s]}`, key, item)
	}))
	defer srv.Close()
	for _, what := range []string{"tickets", "runs"} {
		code, out, errOut := runCmd(t, what, "list", "--url", srv.URL, "--token", "t")
		if code != 0 {
			t.Fatalf("%s list: code %d, stderr %q", what, code, errOut)
		}
		if strings.ContainsAny(out, "\x1b\x07\u009b") || !strings.Contains(out, `\x1b]0;pwned\x07`) {
			t.Errorf("%s list printed %q", what, out)
		}
		// --json stays JSON, with the same escapes JSON has.
		code, out, _ = runCmd(t, what, "list", "--json", "--url", srv.URL, "--token", "t")
		var v map[string][]map[string]string
		if code != 0 || strings.ContainsAny(out, "\x1b\x07\u009b\x7f") || json.Unmarshal([]byte(out), &v) != nil || v[what][0]["title"] != evil {
			t.Errorf("%s list --json: code %d, printed %q", what, code, out)
		}
	}
}

// TestRunsShowForAPerson checks runs show's view of a failed run: its
// status with the attempts used, the failed task and error in full, one
// line per attempt (the permanent one marked), the finished tasks in the
// order they finished, and a sender's control characters escaped; --json
// stays the API's JSON.
func TestRunsShowForAPerson(t *testing.T) {
	const evil = "HTTP 500 from https://crm.example/api: \x1b]0;pwned\x07 boom"
	run := map[string]any{
		"id": "run_1", "eventId": "evt_1", "triggerId": "OC_t", "workflowId": "notify", "status": "failed",
		"error": evil, "failedTask": "post", "maxAttempts": 3,
		"tasks": map[string]any{
			"second": map[string]any{"result": map[string]any{"outputs": map[string]any{"status": 201}, "response": map[string]any{"body": "long"}}, "finishedAt": "2026-11-27T10:00:02Z", "durationMs": 20},
			"first":  map[string]any{"result": map[string]any{"status": 200}, "finishedAt": "2026-11-27T10:00:01Z", "durationMs": 1500},
		},
		"attempts": []map[string]any{
			{"number": 1, "startedAt": "2026-11-27T10:00:00Z", "finishedAt": "2026-11-27T10:00:03Z", "task": "post", "error": "HTTP 503 from https://crm.example/api"},
			{"number": 2, "startedAt": "2026-11-27T10:01:00Z", "finishedAt": "2026-11-27T10:01:00.250Z", "task": "post", "error": evil, "permanent": true},
		},
		"createdAt": "2026-11-27T10:00:00Z", "updatedAt": "2026-11-27T10:01:00Z", "finishedAt": "2026-11-27T10:01:00.250Z",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/runs/run_1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(run)
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "runs", "show", "run_1", "--url", srv.URL, "--token", "t")
	if code != 0 {
		t.Fatalf("runs show: code %d, stderr %q", code, errOut)
	}
	for _, re := range []string{
		`(?m)^Status +failed \(2 of at most 3 attempts\)$`,
		`(?m)^Workflow +notify$`,
		`(?m)^Error +task post: HTTP 500 from https://crm.example/api: \\x1b\]0;pwned\\x07 boom$`,
		`(?m)^  1 +\S+ \S+ +3s +post +HTTP 503 from https://crm.example/api$`,
		`(?m)^  2 +\S+ \S+ +250ms +post +\(permanent, not retried\) HTTP 500`,
		`(?s)first +\S+ \S+ +1.5s +\{"status":200\}.*second +\S+ \S+ +20ms +\{"status":201\}`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("runs show output does not match %s:\n%s", re, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("runs show printed control characters: %q", out)
	}
	code, out, _ = runCmd(t, "runs", "show", "run_1", "--json", "--url", srv.URL, "--token", "t")
	var back map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &back) != nil || back["error"] != evil {
		t.Errorf("runs show --json: code %d, printed %q", code, out)
	}
}

// TestRunsShowNotifications: runs show says what became of each failure
// notification of the run (channel, the failure it told of, its status,
// tries, and last error), and prints no such section for a run without.
func TestRunsShowNotifications(t *testing.T) {
	run := map[string]any{
		"id": "run_1", "eventId": "evt_1", "triggerId": "OC_t", "workflowId": "wf", "status": "failed",
		"error": "HTTP 400", "failedTask": "post", "maxAttempts": 3,
		"attempts":  []map[string]any{{"number": 1, "startedAt": "2026-11-27T10:00:00Z", "finishedAt": "2026-11-27T10:00:01Z", "task": "post", "error": "HTTP 400", "permanent": true}},
		"createdAt": "2026-11-27T10:00:00Z", "updatedAt": "2026-11-27T10:01:00Z", "finishedAt": "2026-11-27T10:00:01Z",
		"notifications": []map[string]any{
			{"channel": "webhook", "status": "failed", "runAttempts": 1, "attempts": 6, "error": "notify webhook answered 500\x1b[2J", "at": "2026-11-27T10:30:00Z"},
			{"channel": "email", "status": "sent", "runAttempts": 1, "attempts": 1, "at": "2026-11-27T10:00:02Z"},
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(run)
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "runs", "show", "run_1", "--url", srv.URL, "--token", "t")
	if code != 0 {
		t.Fatalf("runs show: code %d, stderr %q", code, errOut)
	}
	for _, re := range []string{
		`(?m)^Failure notifications:$`,
		`(?m)^  webhook +attempt 1 +failed, given up +6 +\S+ \S+ +notify webhook answered 500\\x1b\[2J$`,
		`(?m)^  email +attempt 1 +sent +1 +\S+ \S+ *$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("runs show output does not match %s:\n%s", re, out)
		}
	}
	if strings.ContainsAny(out, "\x1b") {
		t.Errorf("runs show printed control characters: %q", out)
	}
	delete(run, "notifications")
	if _, out, _ = runCmd(t, "runs", "show", "run_1", "--url", srv.URL, "--token", "t"); strings.Contains(out, "notifications") {
		t.Errorf("a run without notifications:\n%s", out)
	}
}

// Ensure `tickets show` prints a ticket's field values as the API sent
// them: decoded as float64, an integer past 2^53 (a 64-bit id) was shown
// rounded, a value the ticket does not hold.
func TestTicketsShowKeepsLargeNumbers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"tkt_1","status":"open","fields":{"order":9007199254740993,"price":12.50}}`))
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "tickets", "show", "tkt_1", "--url", srv.URL, "--token", "t")
	if code != 0 || !strings.Contains(out, "order = 9007199254740993") || !strings.Contains(out, "price = 12.50") {
		t.Errorf("tickets show: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}
