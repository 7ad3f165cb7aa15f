package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
)

// noEnv is an empty environment, so the machine's JSONEVENT_* variables
// never leak into a test.
func noEnv() []string { return nil }

func env(kv ...string) func() []string { return func() []string { return kv } }

// writeConfig writes body to a fresh directory and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "jsonevent.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineOf returns the 1-based line of the first line of body containing s,
// or of the last one when s starts with "LAST:".
func lineOf(t *testing.T, body, s string) int {
	t.Helper()
	last := strings.HasPrefix(s, "LAST:")
	s = strings.TrimPrefix(s, "LAST:")
	found := 0
	for i, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			found = i + 1
			if !last {
				return found
			}
		}
	}
	if found > 0 {
		return found
	}
	t.Fatalf("%q not in config", s)
	return 0
}

const demoHash = "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc"

// base is a valid config without JSONPath fields, so it loads without the
// engine; tests append to it.
const base = `
accounts:
  - id: demo
    username: demo@example.com
    tokens: [ { sha256: "` + demoHash + `" } ]
triggers:
  - id: OC_demo
    account: demo
`

func TestDefaults(t *testing.T) {
	path := writeConfig(t, base+`    workflows:
      - id: notify
        tasks:
          - id: call
            type: http
            url: "https://example.com/hook"
`)
	cfg, err := config.Load(path, config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Server: config.Server{Listen: "127.0.0.1:8080", ShutdownTimeout: 30 * time.Second},
		Store:  config.Store{Driver: "sqlite", DSN: "data/jsonevent.db"},
		Limits: config.Limits{BodyBytes: 102400, RequestsPerMinute: 3000, ManualFields: 10},
		SMTP:   config.SMTP{Port: 587, TLS: "starttls"},
		Accounts: []config.Account{{ID: "demo", Username: "demo@example.com",
			Tokens: []config.Token{{SHA256: demoHash}}}},
		Triggers: []config.Trigger{{ID: "OC_demo", Account: "demo", Adapter: "generic",
			Workflows: []config.Workflow{{ID: "notify",
				Retry: config.Retry{Attempts: 8, MinBackoff: time.Second, MaxBackoff: 15 * time.Minute},
				Tasks: []config.Task{{ID: "call", Type: "http", Timeout: 10 * time.Second,
					URL: "https://example.com/hook"}},
			}},
		}},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", *cfg, want)
	}
}

// Ensure an empty path loads the built-in defaults and the environment.
func TestNoFile(t *testing.T) {
	cfg, err := config.Load("", config.Options{Environ: env("JSONEVENT_SERVER__LISTEN=:9000")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != ":9000" || cfg.Limits.BodyBytes != 102400 || len(cfg.Triggers) != 0 {
		t.Fatalf("got %+v", cfg)
	}
}

// Ensure the file overrides defaults and the environment overrides the
// file, with __ between nesting levels and values typed like the key.
func TestFileThenEnvironment(t *testing.T) {
	path := writeConfig(t, base+`
server:
  listen: "0.0.0.0:8081"
  shutdown_timeout: "1m30s"
store: { driver: postgres, dsn: "postgres://file" }
limits: { requests_per_minute: 60 }
smtp: { host: smtp.example.com, password: "from-file", tls: tls, port: 465 }
`)
	cfg, err := config.Load(path, config.Options{Environ: env(
		"JSONEVENT_SERVER__LISTEN=127.0.0.1:9999",
		"JSONEVENT_STORE__DSN=postgres://env",
		"JSONEVENT_SMTP__PASSWORD=s3cret",
		"JSONEVENT_LIMITS__BODY_BYTES=262144",
		"JSONEVENT_SERVER__SHUTDOWN_TIMEOUT=5s",
		"OTHER_SERVER__LISTEN=ignored",
	)})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.listen", cfg.Server.Listen, "127.0.0.1:9999"},
		{"server.shutdown_timeout", cfg.Server.ShutdownTimeout, 5 * time.Second},
		{"store.driver", cfg.Store.Driver, "postgres"},
		{"store.dsn", cfg.Store.DSN, "postgres://env"},
		{"limits.body_bytes", cfg.Limits.BodyBytes, 262144},
		{"limits.requests_per_minute", cfg.Limits.RequestsPerMinute, 60},
		{"limits.manual_fields", cfg.Limits.ManualFields, 10},
		{"smtp.password", cfg.SMTP.Password, "s3cret"},
		{"smtp.port", cfg.SMTP.Port, 465},
		{"smtp.tls", cfg.SMTP.TLS, "tls"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// requireProblem fails unless err has a line starting with prefix (the
// location and key) that also contains msg.
func requireProblem(t *testing.T, err error, prefix, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s ... %s", prefix, msg)
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "config: ")
		if strings.HasPrefix(l, prefix) && strings.Contains(l, msg) {
			return
		}
	}
	t.Fatalf("error\n%v\nhas no line starting %q containing %q", err, prefix, msg)
}

// Ensure an unknown key anywhere is an error naming the full key and its
// line.
func TestUnknownKeys(t *testing.T) {
	deep := base + `    workflows: [ { id: w0, tasks: [ { id: t0, type: ticket, title: x } ] } ]
  - id: t1
    account: demo
  - id: t2
    account: demo
  - id: t3
    account: demo
    workflows:
      - id: w
        tasks:
          - id: a
            type: ticket
            title: first
          - id: b
            type: ticket
            title: second
            priorty: high
`
	tests := []struct {
		name, body, marker, key, msg string
	}{
		{"top level", base + "servers:\n  listen: x\n", "servers:", "servers", `did you mean "server"?`},
		{"nested", base + "server:\n  listn: \":80\"\n", "listn", "server.listn", `did you mean "listen"?`},
		{"case slip", base + "limits:\n  Body_Bytes: 5\n", "Body_Bytes", "limits.Body_Bytes", `did you mean "body_bytes"?`},
		{"account", base + "    colour: red\n", "colour", "triggers[0].colour", "unknown key (known keys here: account, adapter, body_bytes, fields, id, options, workflows)"},
		{"deep task", deep, "priorty", "triggers[3].workflows[0].tasks[1].priorty", `did you mean "priority"?`},
		{"token", strings.Replace(base, `sha256: "`, `sha: "x", sha256: "`, 1), "sha:", "accounts[0].tokens[0].sha", "unknown key"},
		{"preset-only key", base + "    preset_fields: {a: b}\n", "preset_fields", "triggers[0].preset_fields", "unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			_, err := config.Load(path, config.Options{Environ: noEnv})
			if err == nil {
				t.Fatal("loaded a config with an unknown key")
			}
			requireProblem(t, err, fmt.Sprintf("%s:%d: %s: ", path, lineOf(t, tc.body, tc.marker), tc.key), tc.msg)
		})
	}
}

// Ensure each validation rule reports its key and line.
func TestValidationProblems(t *testing.T) {
	task := func(extra string) string {
		return base + "    workflows:\n      - id: w\n        tasks:\n          - id: t\n" + extra
	}
	tests := []struct {
		name, body, marker, key, msg string
		opt                          config.Options
	}{
		{"token not a hash", strings.Replace(base, demoHash, "jse_demo_token_change_me", 1), "sha256", "accounts[0].tokens[0].sha256", "must be the 64 hex characters", config.Options{}},
		{"token too short", strings.Replace(base, demoHash, demoHash[:63], 1), "sha256", "accounts[0].tokens[0].sha256", "must be the 64 hex characters", config.Options{}},
		{"duplicate account", strings.Replace(base, "triggers:", "  - id: demo\ntriggers:", 1), "LAST:  - id: demo", "accounts[1].id", `duplicate account id "demo" (first at line 3)`, config.Options{}},
		{"duplicate trigger", base + "  - id: OC_demo\n    account: demo\n", "LAST:  - id: OC_demo", "triggers[1].id", `duplicate trigger id "OC_demo" (first at line 7)`, config.Options{}},
		{"duplicate workflow", base + "    workflows:\n      - { id: w, tasks: [ { id: a, type: ticket, title: x } ] }\n      - { id: w, tasks: [ { id: a, type: ticket, title: x } ] }\n", "LAST:      - { id: w,", "triggers[0].workflows[1].id", `duplicate workflow id "w"`, config.Options{}},
		{"duplicate task", task("            type: ticket\n            title: a\n          - id: t\n            type: ticket\n            title: b\n"), "LAST:- id: t", "triggers[0].workflows[0].tasks[1].id", `duplicate task id "t"`, config.Options{}},
		{"trigger id with a slash", strings.Replace(base, "- id: OC_demo", "- id: OC/demo", 1), "OC/demo", "triggers[0].id", `"OC/demo" must not contain "/" (ids appear in URLs)`, config.Options{}},
		{"account id with a percent", strings.Replace(strings.Replace(base, "- id: demo", "- id: de%mo", 1), "account: demo", "account: de%mo", 1), "de%mo", "accounts[0].id", `must not contain "%"`, config.Options{}},
		{"unknown account", strings.Replace(base, "    account: demo", "    account: nobody", 1), "account: nobody", "triggers[0].account", `unknown account "nobody"`, config.Options{}},
		{"missing account", strings.Replace(base, "    account: demo\n", "    adapter: generic\n", 1), "OC_demo", "triggers[0].account", "is missing", config.Options{}},
		{"unknown adapter", base + "    adapter: no-such-vendor\n", "no-such-vendor", "triggers[0].adapter", `unknown adapter "no-such-vendor": use one of generic, freshdesk`, config.Options{Adapters: []string{"generic", "freshdesk"}}},
		{"body_bytes zero", base + "limits: { body_bytes: 0 }\n", "limits:", "limits.body_bytes", "0 is out of range 1..10485760", config.Options{}},
		{"body_bytes huge", base + "limits:\n  body_bytes: 10485761\n", "10485761", "limits.body_bytes", "out of range 1..10485760", config.Options{}},
		{"trigger body_bytes", base + "    body_bytes: -1\n", "body_bytes", "triggers[0].body_bytes", "out of range", config.Options{}},
		{"requests_per_minute", base + "limits:\n  requests_per_minute: 0\n", "requests_per_minute", "limits.requests_per_minute", "out of range", config.Options{}},
		{"smtp tls", base + "smtp:\n  tls: ssl\n", "tls:", "smtp.tls", `"ssl" is not one of none, starttls, tls`, config.Options{}},
		{"smtp password in clear", base + "smtp:\n  host: mail.example.com\n  username: mailer\n  tls: none\n", "tls:", "smtp.tls", `is none, so smtp.username's password would cross the network to "mail.example.com" unencrypted`, config.Options{}},
		{"task type", task("            type: sms\n"), "type: sms", "triggers[0].workflows[0].tasks[0].type", `"sms" is not a task type: use http, ticket or email`, config.Options{}},
		{"task key of another type", task("            type: ticket\n            title: x\n            url: https://x\n"), "url:", "triggers[0].workflows[0].tasks[0].url", "does not apply to ticket tasks", config.Options{}},
		{"http without url", task("            type: http\n"), "- id: t", "triggers[0].workflows[0].tasks[0].url", "is missing", config.Options{}},
		{"email without smtp", task("            type: email\n            to: a@example.com\n            subject: hi\n"), "", "smtp.host", "is empty, but triggers[0].workflows[0].tasks[0] sends e-mail", config.Options{}},
		{"bare duration", task("            type: ticket\n            title: x\n            timeout: 10\n"), "timeout", "triggers[0].workflows[0].tasks[0].timeout", `has no unit: write a Go duration string such as "10s"`, config.Options{}},
		{"bad duration", base + "server:\n  shutdown_timeout: soon\n", "shutdown_timeout", "server.shutdown_timeout", `invalid duration "soon"`, config.Options{}},
		{"retention too short", base + "store:\n  retention: 12h\n", "retention", "store.retention", "12h0m0s is too short: use 0 to keep every event, or at least 24h0m0s", config.Options{}},
		{"retention past the largest duration", base + "store:\n  retention: 36500d2562047h\n", "retention", "store.retention", `invalid duration "36500d2562047h"`, config.Options{}},
		{"retention not a duration", base + "store:\n  retention: 30 days\n", "retention", "store.retention", `invalid duration "30 days": write a Go duration such as "10s", "1m30s" or "15m", or days as "30d"`, config.Options{}},
		{"wrong type", base + "limits:\n  manual_fields: ten\n", "manual_fields", "limits.manual_fields", `expected an integer, got "ten"`, config.Options{}},
		{"retry", task("            type: ticket\n            title: x\n        retry: { attempts: 0, min_backoff: 1m, max_backoff: 1s }\n"), "retry:", "triggers[0].workflows[0].retry.max_backoff", "less than min_backoff", config.Options{}},
		{"listen", base + "server: { listen: localhost }\n", "server:", "server.listen", "is not host:port", config.Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			opt := tc.opt
			opt.Environ = noEnv
			_, err := config.Load(path, opt)
			if err == nil {
				t.Fatal("loaded an invalid config")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			prefix := fmt.Sprintf("%s: %s: ", path, tc.key)
			if tc.marker != "" {
				prefix = fmt.Sprintf("%s:%d: %s: ", path, lineOf(t, tc.body, tc.marker), tc.key)
			}
			requireProblem(t, err, prefix, tc.msg)
		})
	}
}

// Ensure every problem is reported at once, in line order, each located.
func TestAllProblemsCollected(t *testing.T) {
	body := `
server:
  listen: "127.0.0.1:8080"
  shutdown_timeout: 30s
limits:
  body_bytes: 0
accounts:
  - id: demo
    tokens: [ { sha256: "nope" } ]
triggers:
  - id: OC_demo
    account: ghost
    colour: red
`
	path := writeConfig(t, body)
	_, err := config.Load(path, config.Options{Environ: noEnv})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	wantKeys := []string{"limits.body_bytes", "accounts[0].tokens[0].sha256", "triggers[0].account", "triggers[0].colour"}
	if len(ce.Problems) != len(wantKeys) {
		t.Fatalf("%d problems, want %d:\n%v", len(ce.Problems), len(wantKeys), err)
	}
	for i, p := range ce.Problems {
		if p.Key != wantKeys[i] {
			t.Errorf("problem %d key = %q, want %q", i, p.Key, wantKeys[i])
		}
		if p.File != path || p.Line == 0 {
			t.Errorf("problem %d not located: %+v", i, p)
		}
	}
	if !strings.HasPrefix(err.Error(), "config: 4 problems:\n  "+path+":6: limits.body_bytes:") {
		t.Errorf("message starts %q", err.Error())
	}
}

// Ensure problems that come from the environment name the variable.
func TestEnvironmentProblems(t *testing.T) {
	path := writeConfig(t, base)
	_, err := config.Load(path, config.Options{Environ: env(
		"JSONEVENT_LIMITS__MANUAL_FIELDS=many",
		"JSONEVENT_SERVR__LISTEN=:80",
		"JSONEVENT_LIMITS__BODY_BYTES=0",
		"JSONEVENT_TEST_PG_DSN=postgres://tooling", // not a config key: ignored
		"JSONEVENT_SERVER__=x",
	)})
	if err == nil {
		t.Fatal("loaded")
	}
	if strings.Contains(err.Error(), "TEST_PG_DSN") {
		t.Errorf("a non-config JSONEVENT_ variable was reported: %v", err)
	}
	for _, want := range []string{
		`environment variable JSONEVENT_LIMITS__MANUAL_FIELDS: limits.manual_fields: expected an integer, got "many"`,
		`environment variable JSONEVENT_SERVR__LISTEN: servr: unknown key (did you mean "server"?)`,
		`environment variable JSONEVENT_SERVER__: malformed override name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
		}
	}
	_, err = config.Load(path, config.Options{Environ: env("JSONEVENT_LIMITS__BODY_BYTES=0")})
	want := "environment variable JSONEVENT_LIMITS__BODY_BYTES: limits.body_bytes: 0 is out of range"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not contain %s", err, want)
	}
}

func TestSyntaxAndFileErrors(t *testing.T) {
	path := writeConfig(t, "server:\n  listen: [unclosed\n")
	_, err := config.Load(path, config.Options{Environ: noEnv})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error not located: %v", err)
	}
	path = writeConfig(t, "- just\n- a list\n")
	_, err = config.Load(path, config.Options{Environ: noEnv})
	if err == nil || !strings.Contains(err.Error(), path+":1: the file must be a YAML mapping") {
		t.Errorf("list document: %v", err)
	}
	path = writeConfig(t, "server:\n  listen: a\nserver:\n  listen: b\n")
	_, err = config.Load(path, config.Options{Environ: noEnv})
	if err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("duplicate key: %v", err)
	}
	_, err = config.Load(filepath.Join(t.TempDir(), "missing.yaml"), config.Options{Environ: noEnv})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// Ensure Options.Validators run, and a *Problem they return is located.
func TestValidators(t *testing.T) {
	path := writeConfig(t, base)
	called := 0
	_, err := config.Load(path, config.Options{Environ: noEnv, Validators: []func(*config.Config) error{
		func(c *config.Config) error {
			called++
			return errors.Join(
				config.Problemf("triggers[0].account", "account %q may not have triggers today", c.Triggers[0].Account),
				errors.New("plain failure"),
			)
		},
	}})
	if called != 1 {
		t.Fatalf("validator called %d times", called)
	}
	want := fmt.Sprintf(`%s:%d: triggers[0].account: account "demo" may not have triggers today`, path, lineOf(t, base, "account: demo"))
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "plain failure") {
		t.Fatalf("error\n%v\nwant %s and the plain failure", err, want)
	}
}

// Ensure presets are inherited into PresetFields, hand-written fields of
// the same name win, and preset fields do not count against the limit.
func TestPresets(t *testing.T) {
	dir := t.TempDir()
	presets := filepath.Join(dir, "presets")
	if err := os.MkdirAll(presets, 0o755); err != nil {
		t.Fatal(err)
	}
	preset := "fields:\n  ticket_id: \"$.ticket.id\"\n  subject: \"$.ticket.subject\"\n  priority: \"$.ticket.priority\"\n"
	if err := os.WriteFile(filepath.Join(presets, "freshdesk.yaml"), []byte(preset), 0o600); err != nil {
		t.Fatal(err)
	}
	body := base + `    adapter: freshdesk
    fields:
      subject: "$.ticket.title"
  - id: other
    account: demo
`
	path := filepath.Join(dir, "jsonevent.yaml")
	if err := os.WriteFile(path, []byte(body+"limits: { manual_fields: 1 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Triggers[0]
	if want := map[string]string{"subject": "$.ticket.title"}; !reflect.DeepEqual(tr.Fields, want) {
		t.Errorf("Fields = %v, want %v", tr.Fields, want)
	}
	if want := map[string]string{"ticket_id": "$.ticket.id", "priority": "$.ticket.priority"}; !reflect.DeepEqual(tr.PresetFields, want) {
		t.Errorf("PresetFields = %v, want %v", tr.PresetFields, want)
	}
	if cfg.Triggers[1].Adapter != "generic" || cfg.Triggers[1].PresetFields != nil {
		t.Errorf("generic trigger without a preset file: %+v", cfg.Triggers[1])
	}
}

// Ensure a bad preset is reported at its own file and line.
func TestBadPreset(t *testing.T) {
	dir := t.TempDir()
	presetsDir := filepath.Join(dir, "p")
	if err := os.MkdirAll(presetsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	preset := "## preset\nfeilds:\n  a: \"$.a\"\n"
	presetPath := filepath.Join(presetsDir, "generic.yaml")
	if err := os.WriteFile(presetPath, []byte(preset), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, base)
	_, err := config.Load(path, config.Options{Environ: noEnv, PresetsDir: presetsDir})
	want := presetPath + `:2: feilds: unknown key (did you mean "fields"?)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v does not contain %s", err, want)
	}
}

// Ensure JSONPath errors and the field limit name the key and line.
func TestFieldProblems(t *testing.T) {
	body := base + `    fields:
      good: "$.stores[0].name"
      bad: "$.stores[?(@.total >"
      empty: ""
limits: { manual_fields: 2 }
`
	path := writeConfig(t, body)
	_, err := config.Load(path, config.Options{Environ: noEnv})
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		fmt.Sprintf(`%s:%d: triggers[0].fields.bad: bad JSONPath "$.stores[?(@.total >": invalid JSONPath at column`, path, lineOf(t, body, "bad:")),
		fmt.Sprintf(`%s:%d: triggers[0].fields.empty: has no JSONPath`, path, lineOf(t, body, "empty:")),
		fmt.Sprintf(`%s:%d: triggers[0].fields: has 3 hand-written fields; the limit is limits.manual_fields = 2`, path, lineOf(t, body, "fields:")),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
		}
	}
	body = base + "    workflows:\n      - id: w\n        when: \"@.fields.total >\"\n        tasks: [ { id: t, type: ticket, title: x } ]\n"
	path = writeConfig(t, body)
	_, err = config.Load(path, config.Options{Environ: noEnv})
	want := fmt.Sprintf(`%s:%d: triggers[0].workflows[0].when: bad filter`, path, lineOf(t, body, "when:"))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not contain %s", err, want)
	}
}

// Ensure the shipped sample config is valid, its demo token is the one the
// README documents, and the demo trigger extracts the documented field.
func TestSampleConfig(t *testing.T) {
	cfg, err := config.Load("../../configs/jsonevent.yaml", config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	// What the README's quick start promises, read from the README itself.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("the demo account `([^`]+)`\\s+\\(username `([^`]+)`, token `([^`]+)`\\) and the demo trigger `([^`]+)`,\\s+" +
		"which extracts the field `([^`]+)` with `([^`]+)`").FindStringSubmatch(string(readme))
	if m == nil {
		t.Fatal("README.md no longer documents the demo account, token and trigger where this test reads them")
	}
	account, username, token, trigger, field, path := m[1], m[2], m[3], m[4], m[5], m[6]
	if a := cfg.Accounts[0]; a.ID != account || a.Username != username {
		t.Errorf("demo account %q with username %q, the README documents %q with %q", a.ID, a.Username, account, username)
	}
	if got := cfg.Accounts[0].Tokens[0].SHA256; got != auth.HashToken(token) {
		t.Errorf("demo token hash %s is not the hash of the documented demo token %s", got, token)
	}
	tr := cfg.Triggers[0]
	if tr.ID != trigger || tr.Account != account || tr.Adapter != "generic" || tr.Fields[field] != path {
		t.Errorf("demo trigger = %+v, the README documents %s extracting %s with %s", tr, trigger, field, path)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Store.DSN != "data/jsonevent.db" {
		t.Errorf("server/store = %+v %+v", cfg.Server, cfg.Store)
	}
}

// Ensure plain validator errors that start with a key, in index or id form
// (as the workflow compiler writes them), are located at that key's line.
func TestValidatorKeysLocated(t *testing.T) {
	body := base + `    workflows:
      - id: urgent
        tasks:
          - id: first
            type: ticket
            title: a
          - id: notify
            type: http
            url: "https://example.com/"
`
	path := writeConfig(t, body)
	_, err := config.Load(path, config.Options{Environ: noEnv, Validators: []func(*config.Config) error{
		func(*config.Config) error {
			return errors.Join(
				errors.New("triggers[OC_demo].workflows[urgent].tasks[notify].url: not reachable"),
				errors.New("accounts[demo].username: taken"),
				errors.New("triggers[OC_demo].workflows[urgent].tasks[notify].body.a.b: nested"),
				errors.New("triggers[ghost].id: unresolvable stays as written"),
				errors.New("smtp (needed by x): host is required"),
			)
		},
	}})
	requireProblem(t, err, fmt.Sprintf("%s:%d: triggers[0].workflows[0].tasks[1].url: ", path, lineOf(t, body, "url:")), "not reachable")
	requireProblem(t, err, fmt.Sprintf("%s:%d: accounts[0].username: ", path, lineOf(t, body, "username:")), "taken")
	requireProblem(t, err, fmt.Sprintf("%s:%d: triggers[0].workflows[0].tasks[1].body.a.b: ", path, lineOf(t, body, "- id: notify")), "nested")
	requireProblem(t, err, path+": triggers[ghost].id: unresolvable stays as written", "")
	requireProblem(t, err, path+": smtp (needed by x): host is required", "")
}

// Ensure a document of nested aliases is refused quickly instead of being
// expanded.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	path := writeConfig(t, b.String())
	start := time.Now()
	_, err := config.Load(path, config.Options{Environ: noEnv})
	if err == nil {
		t.Fatal("loaded an alias bomb")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// Ensure a section whose keys are all commented out keeps its defaults.
func TestEmptySectionsKeepDefaults(t *testing.T) {
	path := writeConfig(t, base+"server:\n  # listen: \"0.0.0.0:80\"\nlimits:\n  body_bytes:\nsmtp:\n")
	cfg, err := config.Load(path, config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.ShutdownTimeout != 30*time.Second ||
		cfg.Limits.BodyBytes != 102400 || cfg.Limits.RequestsPerMinute != 3000 || cfg.SMTP.TLS != "starttls" {
		t.Fatalf("defaults lost: %+v %+v %+v", cfg.Server, cfg.Limits, cfg.SMTP)
	}
}

// Ensure an override written with a single underscore between section and
// key (JSONEVENT_SERVER_LISTEN) is refused with the right spelling instead
// of being silently ignored, while other JSONEVENT_ variables that are not
// config keys (the CLI's JSONEVENT_URL, the tests' JSONEVENT_TEST_PG_DSN)
// still are.
func TestEnvironmentSingleUnderscore(t *testing.T) {
	path := writeConfig(t, base)
	_, err := config.Load(path, config.Options{Environ: env(
		"JSONEVENT_SERVER_LISTEN=0.0.0.0:8080",
		"JSONEVENT_SMTP_PASSWORD=s3cret",
		"JSONEVENT_LIMITS_REQUESTS_PER_MINUTE=600",
	)})
	requireProblem(t, err, "environment variable JSONEVENT_SERVER_LISTEN:", "JSONEVENT_SERVER__LISTEN")
	requireProblem(t, err, "environment variable JSONEVENT_SMTP_PASSWORD:", "JSONEVENT_SMTP__PASSWORD")
	requireProblem(t, err, "environment variable JSONEVENT_LIMITS_REQUESTS_PER_MINUTE:", "JSONEVENT_LIMITS__REQUESTS_PER_MINUTE")

	if _, err := config.Load(path, config.Options{Environ: env(
		"JSONEVENT_URL=http://127.0.0.1:8080",
		"JSONEVENT_TOKEN=jse_x",
		"JSONEVENT_TEST_PG_DSN=postgres://tooling",
		"JSONEVENT_SERVER_SOMETHING=x", // not a key of server
	)}); err != nil {
		t.Fatalf("variables that are not config keys must be ignored: %v", err)
	}
}

// Ensure a store.dsn that the driver cannot use is refused at load, naming
// the key, instead of at start-up or, worse, working the wrong way: with
// driver sqlite a postgres URL became a local SQLite file under a
// directory named "postgres:" (each node its own database).
func TestStoreDriverDSNMismatch(t *testing.T) {
	cases := []struct {
		name, store string
		env         []string
		prefix, msg string
	}{
		{"postgres URL, sqlite driver", `store: { dsn: "postgres://jsonevent@db/jsonevent" }`, nil,
			"store.dsn:", "store.driver is sqlite"},
		{"URL only from the environment", ``, []string{"JSONEVENT_STORE__DSN=postgresql://db/jsonevent"},
			"environment variable JSONEVENT_STORE__DSN: store.dsn:", "store.driver is sqlite"},
		{"key=value connection string, sqlite driver", ``, []string{"JSONEVENT_STORE__DSN=host=db dbname=jsonevent"},
			"environment variable JSONEVENT_STORE__DSN: store.dsn:", "store.driver is sqlite"},
		{"in-memory sqlite", `store: { dsn: ":memory:" }`, nil,
			"store.dsn:", "survive a restart"},
		{"postgres driver, default file dsn", ``, []string{"JSONEVENT_STORE__DRIVER=postgres"},
			"store.dsn:", "not a PostgreSQL connection"},
		{"postgres driver, file dsn", `store: { driver: postgres, dsn: "data/x.db" }`, nil,
			"store.dsn:", "not a PostgreSQL connection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, base+c.store+"\n")
			_, err := config.Load(path, config.Options{Environ: env(c.env...)})
			prefix := c.prefix
			if !strings.HasPrefix(prefix, "environment") {
				prefix = path + ":"
				if c.store != "" {
					prefix += fmt.Sprint(lineOf(t, base+c.store, "store:")) + ":"
				}
				prefix += " " + c.prefix
			}
			requireProblem(t, err, prefix, c.msg)
		})
	}
	_, err := config.Load(writeConfig(t, base), config.Options{Environ: env("JSONEVENT_STORE__DSN=postgres://u:s3cret@db/x")})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("want an error without the DSN's password, got %v", err)
	}
	_, err = config.Load(writeConfig(t, base), config.Options{Environ: env("JSONEVENT_STORE__DSN=host=db password=s3cret")})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("want an error without the key=value DSN's password, got %v", err)
	}
	for _, ok := range []string{
		`store: { dsn: "data/jsonevent.db" }`,
		`store: { dsn: "file:data/jsonevent.db?_pragma=busy_timeout(5000)" }`,
		`store: { dsn: "file:///var/lib/jsonevent/events.db" }`,
		`store: { driver: postgres, dsn: "postgres://u@db:5432/jsonevent?sslmode=disable" }`,
		`store: { driver: postgres, dsn: "host=db user=jsonevent dbname=jsonevent" }`,
	} {
		if _, err := config.Load(writeConfig(t, base+ok+"\n"), config.Options{Environ: noEnv}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// Ensure a validator's problem is located also when an id holds a dot or
// a bracket, which ids may (acme.orders, OC]x): the key was split at the
// id's dot, so the problem came out with neither key nor line.
func TestValidatorKeysLocatedOddIDs(t *testing.T) {
	body := `
accounts:
  - id: acme.support
    tokens: [ { sha256: "` + demoHash + `" } ]
triggers:
  - id: acme.orders
    account: acme.support
    workflows:
      - id: v1.notify
        tasks:
          - { id: open.ticket, type: ticket, title: a }
  - id: "OC]x[0]"
    account: acme.support
    workflows:
      - id: w
        tasks:
          - id: call
            type: http
            url: "https://example.com/"
`
	path := writeConfig(t, body)
	_, err := config.Load(path, config.Options{Environ: noEnv, Validators: []func(*config.Config) error{
		func(*config.Config) error {
			return errors.Join(
				errors.New("triggers[acme.orders].workflows[v1.notify].tasks[open.ticket].title: too short"),
				errors.New("accounts[acme.support].notify.webhook: unreachable"),
				errors.New("triggers[OC]x[0]].workflows[w].tasks[call].url: not reachable"),
			)
		},
	}})
	requireProblem(t, err, fmt.Sprintf("%s:%d: triggers[0].workflows[0].tasks[0].title: ", path, lineOf(t, body, "open.ticket")), "too short")
	requireProblem(t, err, fmt.Sprintf("%s:%d: accounts[0].notify.webhook: ", path, lineOf(t, body, "- id: acme.support")), "unreachable")
	requireProblem(t, err, fmt.Sprintf("%s:%d: triggers[1].workflows[0].tasks[0].url: ", path, lineOf(t, body, "url:")), "not reachable")
}

// Ensure a presets directory given explicitly (serve --presets DIR) that
// does not exist is an error: every preset file then read as missing, so
// a typo silently stripped the preset fields off every vendor trigger.
// Without --presets, presets/ beside the file may be absent.
func TestExplicitPresetsDirMissing(t *testing.T) {
	path := writeConfig(t, base)
	missing := filepath.Join(t.TempDir(), "presetz")
	_, err := config.Load(path, config.Options{Environ: noEnv, PresetsDir: missing})
	requireProblem(t, err, missing+":", "does not exist")

	notDir := writeConfig(t, "fields: {}\n")
	_, err = config.Load(path, config.Options{Environ: noEnv, PresetsDir: notDir})
	requireProblem(t, err, notDir+":", "not a directory")

	if _, err := config.Load(path, config.Options{Environ: noEnv}); err != nil {
		t.Errorf("no presets/ beside the file must stay fine: %v", err)
	}
}

// Ensure a server.listen whose host cannot be bound is refused by
// validate, as serve would at start-up: a mistyped IP (10.0.0.300), a
// space, a bare number.
func TestListenHost(t *testing.T) {
	for _, bad := range []string{"10.0.0.300:8080", "127.0.0.1 :8080", "0:8080", "local host:8080", "bad..name:80"} {
		_, err := config.Load("", config.Options{Environ: env("JSONEVENT_SERVER__LISTEN=" + bad)})
		requireProblem(t, err, "environment variable JSONEVENT_SERVER__LISTEN: server.listen:", "host")
	}
	for _, good := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "[::1]:0", "[fe80::1%eth0]:8080", "localhost:8080", "jsonevent-1.internal.example.com:80"} {
		if _, err := config.Load("", config.Options{Environ: env("JSONEVENT_SERVER__LISTEN=" + good)}); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
}

// Ensure a secret of the wrong YAML type (an unquoted all-digit SMTP
// password reads as a number) is reported without its value: the message
// goes to validate's output and serve's logs.
func TestSecretNotEchoed(t *testing.T) {
	body := base + "smtp: { host: smtp.example.com, password: 8675309123 }\n"
	path := writeConfig(t, body)
	_, err := config.Load(path, config.Options{Environ: noEnv})
	requireProblem(t, err, fmt.Sprintf("%s:%d: smtp.password:", path, lineOf(t, body, "password")), "quote")
	if strings.Contains(err.Error(), "8675309123") {
		t.Errorf("the password is in the error: %v", err)
	}
}

// TestSMTPPlaintextAuthAllowed: tls none with a username is fine to this
// machine, or when the operator says the network is trusted.
func TestSMTPPlaintextAuthAllowed(t *testing.T) {
	for _, smtp := range []string{
		"smtp: { host: localhost, username: mailer, tls: none }\n",
		"smtp: { host: 127.0.0.1, username: mailer, tls: none }\n",
		"smtp: { host: \"::1\", username: mailer, tls: none }\n",
		"smtp: { host: relay.lan, username: mailer, tls: none, insecure_auth: true }\n",
		"smtp: { host: relay.lan, tls: none }\n", // no password to protect
	} {
		cfg, err := config.Load(writeConfig(t, base+smtp), config.Options{Environ: noEnv})
		if err != nil {
			t.Errorf("%s: %v", smtp, err)
			continue
		}
		if cfg.SMTP.TLS != "none" {
			t.Errorf("%s: tls = %q", smtp, cfg.SMTP.TLS)
		}
	}
}

// TestErrorLogValue: a start-up or reload refusal logged as JSON lists its
// problems, instead of one string with "\n" escapes in it.
func TestErrorLogValue(t *testing.T) {
	path := writeConfig(t, base+"limits: { body_bytes: 0 }\nfoo: 1\n")
	_, err := config.Load(path, config.Options{Environ: noEnv})
	if err == nil {
		t.Fatal("loaded an invalid config")
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("refused", "err", err)
	var rec struct{ Err []string }
	if jerr := json.Unmarshal(buf.Bytes(), &rec); jerr != nil {
		t.Fatalf("%v: %s", jerr, buf.String())
	}
	if len(rec.Err) != 2 || !strings.Contains(rec.Err[0], "limits.body_bytes") || !strings.Contains(rec.Err[1], "foo: unknown key") {
		t.Errorf("logged %q", rec.Err)
	}
	for _, p := range rec.Err {
		if !strings.HasPrefix(p, path+":") {
			t.Errorf("problem %q is not located in %s", p, path)
		}
	}
}

// TestMissingPresetsListed: a trigger's adapter without a preset file (a
// config outside configs/, with no presets/ beside it) loads, and the file
// is listed once so that serve and validate can warn: before, its preset
// fields were silently missing from every event.
func TestMissingPresetsListed(t *testing.T) {
	body := base + "    adapter: freshdesk\n  - { id: OC_two, account: demo, adapter: freshdesk }\n  - { id: OC_gen, account: demo, adapter: generic }\n"
	path := writeConfig(t, body)
	cfg, err := config.Load(path, config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(path), "presets")
	want := []string{filepath.Join(dir, "freshdesk.yaml")} // generic's preset has no fields
	if !reflect.DeepEqual(cfg.MissingPresets, want) {
		t.Errorf("MissingPresets = %q, want %q", cfg.MissingPresets, want)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(want, filepath.Join(dir, "generic.yaml")) {
		if err := os.WriteFile(f, []byte("fields:\n  x: \"$.x\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = config.Load(path, config.Options{Environ: noEnv})
	if err != nil || len(cfg.MissingPresets) != 0 || cfg.Triggers[0].PresetFields["x"] != "$.x" {
		t.Errorf("with the files: %q, %v, %v", cfg.MissingPresets, cfg.Triggers[0].PresetFields, err)
	}
}

// TestLengthFilterWarns: a filter testing ".length", the Goessner way of
// asking an array's length pasted from old docs, is valid RFC 9535 (the
// member named "length") but selects nothing on arrays: the config loads,
// with a warning at the field's or the condition's line that suggests
// length(); the RFC form has none.
func TestLengthFilterWarns(t *testing.T) {
	path := writeConfig(t, base+`    fields:
      big: "$.orders[?(@.items.length > 2)].id"
      fine: "$.orders[?length(@.items) > 2].id"
    workflows:
      - id: w
        when: "@.fields.tags.length > 0"
        tasks: [ { id: t, type: ticket, title: x } ]
`)
	cfg, err := config.Load(path, config.Options{Environ: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 2 {
		t.Fatalf("warnings = %v, want the field's and the condition's", cfg.Warnings)
	}
	for i, want := range []string{path + ":10: triggers[0].fields.big: JSONPath", path + ":14: triggers[0].workflows[0].when: filter"} {
		if got := cfg.Warnings[i].Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, "length()") {
			t.Errorf("warning %d = %q, want it to start %q and suggest length()", i, got, want)
		}
	}
}

// TestRetentionInDays: store.retention takes days ("30d", "1d12h") as well
// as Go durations, and defaults to 0 (keep every event).
func TestRetentionInDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "720h": 720 * time.Hour} {
		body := base
		if in != "" {
			body += "store:\n  retention: " + in + "\n"
		}
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Options{Environ: noEnv})
		if err != nil || cfg.Store.Retention != want {
			t.Errorf("retention %q: %v, %v; want %s", in, cfg.Store.Retention, err, want)
		}
	}
}
