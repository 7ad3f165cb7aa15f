package workflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// Task types.
const (
	TypeHTTP   = "http"
	TypeTicket = "ticket"
	TypeEmail  = "email"
)

// Defaults applied by Compile to what the config leaves out.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultAttempts   = 8
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 15 * time.Minute
	DefaultPriority   = "normal"
)

// Outputs every task of a type has, besides an http task's configured ones.
var builtinOutputs = map[string][]string{
	TypeHTTP:   {"status"},
	TypeTicket: {"id", "status", "priority"},
	TypeEmail:  {"message_id"},
}

// Set is a compiled configuration: every trigger's workflows, ready to run.
// It is immutable; a config reload compiles a new Set.
type Set struct {
	SMTP      config.SMTP
	triggers  map[string][]*Workflow
	workflows map[string]*Workflow // by trigger id + "/" + workflow id
	notify    map[string]config.Notify
}

// Workflows returns the workflows of a trigger, in config order.
func (s *Set) Workflows(triggerID string) []*Workflow {
	if s == nil {
		return nil
	}
	return s.triggers[triggerID]
}

// Workflow returns one workflow of a trigger, or nil.
func (s *Set) Workflow(triggerID, workflowID string) *Workflow {
	if s == nil {
		return nil
	}
	return s.workflows[triggerID+"/"+workflowID]
}

// Notify returns where an account wants failed runs reported.
func (s *Set) Notify(accountID string) config.Notify {
	if s == nil {
		return config.Notify{}
	}
	return s.notify[accountID]
}

// Workflow is one compiled workflow of a trigger.
type Workflow struct {
	ID        string
	TriggerID string
	AccountID string
	// When is the source of the condition ("" = always); when its compiled
	// form (nil = always).
	When  string
	when  *jsonpath.Filter
	Retry Policy
	Tasks []*Task
}

// Match reports whether the event satisfies the workflow's condition; the
// error is jsonpath.ErrTooMuchWork when the condition could not be decided
// within its work budget.
func (w *Workflow) Match(ev *Event) (bool, error) {
	if w.when == nil {
		return true, nil
	}
	return w.when.Test(ev.Document())
}

// Task is one compiled task.
type Task struct {
	ID      string
	Type    string
	Timeout time.Duration

	// http
	Method  string
	url     *tmpl
	headers map[string]*tmpl
	body    *bodyTemplate
	Success []int
	outputs map[string]*jsonpath.Path

	// ticket
	title, description, priority *tmpl

	// email
	to, subject, text *tmpl
}

// OutputNames lists the outputs later tasks may use as .tasks.<id>.<name>.
func (t *Task) OutputNames() []string {
	names := slices.Clone(builtinOutputs[t.Type])
	for n := range t.outputs {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

var idRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// whenFieldRe finds the field names a condition reads: @.fields.name,
// @.fields['name'] and @.fields["name"].
var whenFieldRe = regexp.MustCompile(`@\.fields(?:\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]|\["([^"]*)"\])`)

// Validate checks every workflow of c: conditions compile, templates parse
// and name only fields that exist where that can be known, task keys fit
// their type, retry settings are sane. It suits config.Options.Validators.
func Validate(c *config.Config) error {
	_, err := Compile(c)
	return err
}

// Compile checks and compiles every workflow of c. Errors name the trigger,
// workflow, task and key, e.g.
// "triggers[OC_demo].workflows[urgent].tasks[notify].url: …".
func Compile(c *config.Config) (*Set, error) {
	s := &Set{
		SMTP:      c.SMTP,
		triggers:  map[string][]*Workflow{},
		workflows: map[string]*Workflow{},
		notify:    map[string]config.Notify{},
	}
	for _, a := range c.Accounts {
		s.notify[a.ID] = a.Notify
	}
	var errs []error
	needSMTP := ""
	for _, tr := range c.Triggers {
		seen := map[string]bool{}
		for i, wc := range tr.Workflows {
			where := fmt.Sprintf("triggers[%s].workflows[%d]", tr.ID, i)
			if wc.ID != "" {
				where = fmt.Sprintf("triggers[%s].workflows[%s]", tr.ID, wc.ID)
			}
			if seen[wc.ID] && wc.ID != "" {
				errs = append(errs, fmt.Errorf("%s.id: duplicate workflow id %q in trigger %s", where, wc.ID, tr.ID))
				continue
			}
			seen[wc.ID] = true
			w, err := compileWorkflow(where, tr, wc)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, t := range w.Tasks {
				if t.Type == TypeEmail && needSMTP == "" {
					needSMTP = fmt.Sprintf("%s.tasks[%s]", where, t.ID)
				}
			}
			s.triggers[tr.ID] = append(s.triggers[tr.ID], w)
			s.workflows[tr.ID+"/"+w.ID] = w
		}
	}
	for _, a := range c.Accounts {
		if a.Notify.Email != "" && needSMTP == "" {
			needSMTP = fmt.Sprintf("accounts[%s].notify.email", a.ID)
		}
		if a.Notify.Webhook != "" {
			if err := checkAbsoluteURL(a.Notify.Webhook); err != nil {
				errs = append(errs, fmt.Errorf("accounts[%s].notify.webhook: %w", a.ID, err))
			}
		}
	}
	if q := c.Queue; q.Workers < 0 || q.Workers > 10000 {
		errs = append(errs, fmt.Errorf("queue.workers: %d is out of range (1 to 10000, 0 for the default %d)", q.Workers, DefaultWorkers))
	}
	// river refuses a poll interval (and so FetchCooldown) below 1 ms.
	if q := c.Queue; q.PollInterval < 0 || (q.PollInterval > 0 && q.PollInterval < time.Millisecond) || q.PollInterval > time.Minute {
		errs = append(errs, fmt.Errorf("queue.poll_interval: %s is out of range (1ms to 1m, 0 for the default %s)", q.PollInterval, DefaultPollInterval))
	}
	if q := c.Queue; q.RescueAfter < 0 || (q.RescueAfter > 0 && q.RescueAfter < time.Second) {
		errs = append(errs, fmt.Errorf("queue.rescue_after: %s is too short (at least 1s; it must exceed the longest workflow)", q.RescueAfter))
	}
	if needSMTP != "" {
		if err := checkSMTP(c.SMTP); err != nil {
			errs = append(errs, fmt.Errorf("smtp (needed by %s): %w", needSMTP, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func checkSMTP(c config.SMTP) error {
	if c.Host == "" {
		return errors.New("host is required")
	}
	if c.From == "" {
		return errors.New("from is required")
	}
	switch c.TLS {
	case "", "none", "starttls", "tls":
	default:
		return fmt.Errorf("tls must be none, starttls or tls, not %q", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port %d is out of range", c.Port)
	}
	return nil
}

func checkAbsoluteURL(s string) error {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return fmt.Errorf("%q must be an http:// or https:// URL", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

func compileWorkflow(where string, tr config.Trigger, wc config.Workflow) (*Workflow, error) {
	if !idRe.MatchString(wc.ID) {
		return nil, fmt.Errorf("%s.id: %q must start with a letter or _ and hold only letters, digits, _ and -", where, wc.ID)
	}
	w := &Workflow{ID: wc.ID, TriggerID: tr.ID, AccountID: tr.Account, When: strings.TrimSpace(wc.When)}
	if w.When != "" {
		f, err := jsonpath.CompileFilter(w.When)
		if err != nil {
			return nil, fmt.Errorf("%s.when: %w", where, err)
		}
		w.when = f
		for _, m := range whenFieldRe.FindAllStringSubmatch(w.When, -1) {
			name := m[1] + m[2] + m[3]
			if _, ok := tr.Fields[name]; ok {
				continue
			}
			if _, ok := tr.PresetFields[name]; ok {
				continue
			}
			return nil, fmt.Errorf("%s.when: names @.fields.%s, but trigger %s has no field %q (fields: %s)", where, name, tr.ID, name, strings.Join(fieldNames(tr), ", "))
		}
	}
	p, err := compilePolicy(wc.Retry)
	if err != nil {
		return nil, fmt.Errorf("%s.retry: %w", where, err)
	}
	w.Retry = p
	if len(wc.Tasks) == 0 {
		return nil, fmt.Errorf("%s.tasks: a workflow needs at least one task", where)
	}
	sc := &scope{trigger: tr, tasks: map[string]*Task{}}
	var errs []error
	for i, tc := range wc.Tasks {
		tw := fmt.Sprintf("%s.tasks[%d]", where, i)
		if tc.ID != "" {
			tw = fmt.Sprintf("%s.tasks[%s]", where, tc.ID)
		}
		if !idRe.MatchString(tc.ID) {
			errs = append(errs, fmt.Errorf("%s.id: %q must start with a letter or _ and hold only letters, digits, _ and -", tw, tc.ID))
			continue
		}
		if sc.tasks[tc.ID] != nil {
			errs = append(errs, fmt.Errorf("%s.id: duplicate task id %q", tw, tc.ID))
			continue
		}
		t, err := compileTask(tw, tc, sc)
		if err != nil {
			errs = append(errs, err)
			// Keep its id and output names in scope so later tasks do not
			// report errors that are only echoes of this one.
			t = &Task{ID: tc.ID, Type: tc.Type, outputs: map[string]*jsonpath.Path{}}
			for name := range tc.Outputs {
				t.outputs[name] = nil
			}
			sc.tasks[t.ID] = t
			continue
		}
		sc.tasks[t.ID] = t
		w.Tasks = append(w.Tasks, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

func compilePolicy(r config.Retry) (Policy, error) {
	p := Policy{Attempts: r.Attempts, MinBackoff: r.MinBackoff, MaxBackoff: r.MaxBackoff, RetryStatuses: slices.Clone(r.RetryStatuses)}
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(DefaultMaxBackoff, p.MinBackoff)
	}
	switch {
	case p.Attempts < 1 || p.Attempts > 100:
		return p, fmt.Errorf("attempts must be between 1 and 100, not %d", p.Attempts)
	case p.MinBackoff < 0 || p.MaxBackoff < 0:
		return p, errors.New("backoffs must be positive")
	case p.MinBackoff > p.MaxBackoff:
		return p, fmt.Errorf("min_backoff %s is above max_backoff %s", p.MinBackoff, p.MaxBackoff)
	}
	for _, st := range p.RetryStatuses {
		if st < 400 || st > 499 {
			return p, fmt.Errorf("retry_statuses: %d is not a 4xx status (5xx are always retried)", st)
		}
	}
	return p, nil
}

// scope is what a task's templates can see: the trigger's fields and the
// tasks before it.
type scope struct {
	trigger config.Trigger
	tasks   map[string]*Task
}

func compileTask(where string, tc config.Task, sc *scope) (*Task, error) {
	t := &Task{ID: tc.ID, Type: tc.Type, Timeout: tc.Timeout, Success: slices.Clone(tc.Success)}
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	if t.Timeout < 0 {
		return nil, fmt.Errorf("%s.timeout: must be positive", where)
	}
	parse := func(key, src string, p place) (*tmpl, error) {
		tt, err := parseTemplate(where+"."+key, src, p)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, key, err)
		}
		if err := sc.check(tt); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, key, err)
		}
		return tt, nil
	}
	unused := func(keys map[string]bool) error {
		for k, set := range keys {
			if set {
				return fmt.Errorf("%s.%s: not a key of a %s task", where, k, tc.Type)
			}
		}
		return nil
	}
	var err error
	switch tc.Type {
	case TypeHTTP:
		if err := unused(map[string]bool{"title": tc.Title != "", "description": tc.Description != "", "priority": tc.Priority != "", "to": tc.To != "", "subject": tc.Subject != ""}); err != nil {
			return nil, err
		}
		if tc.URL == "" {
			return nil, fmt.Errorf("%s.url: an http task needs a url", where)
		}
		if t.url, err = parse("url", tc.URL, placeURL); err != nil {
			return nil, err
		}
		if !strings.Contains(tc.URL, "{{") {
			if err := checkAbsoluteURL(tc.URL); err != nil {
				return nil, fmt.Errorf("%s.url: %w", where, err)
			}
		}
		t.Method = strings.ToUpper(strings.TrimSpace(tc.Method))
		if t.Method == "" {
			t.Method = http.MethodPost
			if tc.Body == nil {
				t.Method = http.MethodGet
			}
		}
		switch t.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return nil, fmt.Errorf("%s.method: %q is not one of GET, POST, PUT, PATCH, DELETE", where, tc.Method)
		}
		t.headers = map[string]*tmpl{}
		for name, v := range tc.Headers {
			if !httpguts.ValidHeaderFieldName(name) { // what net/http refuses to send
				return nil, fmt.Errorf("%s.headers: %q is not a header name", where, name)
			}
			if t.headers[http.CanonicalHeaderKey(name)], err = parse("headers."+name, v, placeHeader); err != nil {
				return nil, err
			}
		}
		if tc.Body != nil {
			bt, leaves, err := parseBody(where+".body", tc.Body)
			if err != nil {
				return nil, err
			}
			for _, l := range leaves {
				if err := sc.check(l); err != nil {
					return nil, fmt.Errorf("%s.body: %w", where, err)
				}
			}
			t.body = bt
		}
		for _, st := range t.Success {
			if st < 100 || st > 599 {
				return nil, fmt.Errorf("%s.success: %d is not an HTTP status", where, st)
			}
		}
		t.outputs = map[string]*jsonpath.Path{}
		for name, expr := range tc.Outputs {
			if !idRe.MatchString(name) {
				return nil, fmt.Errorf("%s.outputs: %q must start with a letter or _ and hold only letters, digits, _ and -", where, name)
			}
			p, err := jsonpath.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("%s.outputs.%s: %w", where, name, err)
			}
			t.outputs[name] = p
		}
	case TypeTicket:
		if err := unused(map[string]bool{"method": tc.Method != "", "url": tc.URL != "", "headers": len(tc.Headers) > 0, "body": tc.Body != nil, "success": len(tc.Success) > 0, "outputs": len(tc.Outputs) > 0, "to": tc.To != "", "subject": tc.Subject != ""}); err != nil {
			return nil, err
		}
		if tc.Title == "" {
			return nil, fmt.Errorf("%s.title: a ticket task needs a title", where)
		}
		if t.title, err = parse("title", tc.Title, placeText); err != nil {
			return nil, err
		}
		if t.description, err = parse("description", tc.Description, placeText); err != nil {
			return nil, err
		}
		prio := tc.Priority
		if prio == "" {
			prio = DefaultPriority
		}
		if t.priority, err = parse("priority", prio, placeHeader); err != nil {
			return nil, err
		}
	case TypeEmail:
		if err := unused(map[string]bool{"method": tc.Method != "", "url": tc.URL != "", "headers": len(tc.Headers) > 0, "success": len(tc.Success) > 0, "outputs": len(tc.Outputs) > 0, "title": tc.Title != "", "description": tc.Description != "", "priority": tc.Priority != ""}); err != nil {
			return nil, err
		}
		if tc.To == "" {
			return nil, fmt.Errorf("%s.to: an email task needs a to address", where)
		}
		if t.to, err = parse("to", tc.To, placeHeader); err != nil {
			return nil, err
		}
		if !strings.Contains(tc.To, "{{") {
			if _, err := mail.ParseAddress(strings.TrimSpace(tc.To)); err != nil {
				return nil, fmt.Errorf("%s.to: %q is not an e-mail address: %w", where, tc.To, err)
			}
		}
		if t.subject, err = parse("subject", tc.Subject, placeHeader); err != nil {
			return nil, err
		}
		text, ok := tc.Body.(string)
		if tc.Body != nil && !ok {
			return nil, fmt.Errorf("%s.body: an email body is text, not %T", where, tc.Body)
		}
		if t.text, err = parse("body", text, placeText); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("%s.type: missing; use http, ticket or email", where)
	default:
		return nil, fmt.Errorf("%s.type: %q is not http, ticket or email", where, tc.Type)
	}
	return t, nil
}

// check reports a template reference that can be known to be wrong at load:
// an unknown root name, a field the trigger does not extract, a task that
// does not run before this one or an output it does not have, an unset
// environment variable.
func (sc *scope) check(t *tmpl) error {
	for _, ref := range t.refs {
		if len(ref) == 0 {
			continue
		}
		name := "." + strings.Join(ref, ".")
		if !rootKeys[ref[0]] {
			return fmt.Errorf("template names %s; a template can use .fields, .body, .query, .received_at, .event_id, .trigger_id, .workflow_id and .tasks", name)
		}
		switch ref[0] {
		case "fields":
			if len(ref) < 2 {
				continue
			}
			if _, ok := sc.trigger.Fields[ref[1]]; ok {
				continue
			}
			if _, ok := sc.trigger.PresetFields[ref[1]]; ok {
				continue
			}
			return fmt.Errorf("template names %s, but trigger %s has no field %q (fields: %s)", name, sc.trigger.ID, ref[1], strings.Join(fieldNames(sc.trigger), ", "))
		case "tasks":
			if len(ref) < 2 {
				continue
			}
			prev := sc.tasks[ref[1]]
			if prev == nil {
				return fmt.Errorf("template names %s, but no task %q runs before this one in the workflow", name, ref[1])
			}
			if len(ref) >= 3 && !slices.Contains(prev.OutputNames(), ref[2]) {
				return fmt.Errorf("template names %s, but task %s has no output %q (outputs: %s)", name, ref[1], ref[2], strings.Join(prev.OutputNames(), ", "))
			}
		case "received_at", "event_id", "trigger_id", "workflow_id":
			if len(ref) > 1 {
				return fmt.Errorf("template names %s, but .%s is a string", name, ref[0])
			}
		}
	}
	if t.dynamicEnv {
		return errors.New(`env takes one quoted name, {{ env "NAME" }}: an event must not choose which variable is read`)
	}
	for _, e := range t.envs {
		if strings.HasPrefix(strings.ToUpper(e), "JSONEVENT_") {
			return fmt.Errorf("template reads %s: JSONEVENT_ variables configure jsonevent itself (a DSN, the SMTP password) and are not handed to templates; use another name", e)
		}
		if _, ok := LookupEnv(e); !ok {
			return fmt.Errorf("template reads environment variable %s, which is not set", e)
		}
	}
	return nil
}

func fieldNames(tr config.Trigger) []string {
	var names []string
	for n := range tr.Fields {
		names = append(names, n)
	}
	for n := range tr.PresetFields {
		if _, ok := tr.Fields[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}
