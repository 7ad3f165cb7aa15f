package workflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/jsonevent/jsonevent/core/store"
)

// Result is what a finished task leaves behind: outputs later tasks can use
// and a record of what happened, kept with the run.
type Result struct {
	Outputs map[string]any `json:"outputs"`
	// Response is an http task's response (also set on a failed attempt
	// that got one).
	Response *Response `json:"response,omitempty"`
	// TicketID, MessageID identify what a ticket or email task made.
	TicketID  string `json:"ticketId,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	// Warnings note what succeeded but may not be what was meant: an
	// output whose JSONPath selected nothing (it is null, and a later
	// template renders it empty).
	Warnings []string `json:"warnings,omitempty"`
}

// Response records an HTTP response: status, headers and the first 4 KB of
// the body.
type Response struct {
	Status    int                 `json:"status"`
	Headers   map[string][]string `json:"headers,omitempty"`
	Body      string              `json:"body,omitempty"`
	Truncated bool                `json:"truncated,omitempty"`
}

// TaskError is a failed task attempt. Permanent errors are not retried
// (a 4xx, a missing template field, a bad address); others are.
type TaskError struct {
	Task      string
	Permanent bool
	// Response is the HTTP response that failed the attempt, if any.
	Response *Response
	Err      error
}

func (e *TaskError) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	msg := fmt.Sprintf("task %s: %v (%s)", e.Task, e.Err, kind)
	if e.Task == "" { // the run failed before any task (its condition)
		msg = fmt.Sprintf("%v (%s)", e.Err, kind)
	}
	// An error may quote a remote server (an SMTP reply is any bytes but
	// CR LF). PostgreSQL's jsonb refuses a NUL character, and this text
	// goes into the failure notification's job and river's record of the
	// attempt: with one, the run's failure could not be committed at all.
	return store.Portable(msg)
}

func (e *TaskError) Unwrap() error { return e.Err }

// IsPermanent reports whether err must not be retried.
func IsPermanent(err error) bool {
	var te *TaskError
	return errors.As(err, &te) && te.Permanent
}

func permanent(task string, err error) *TaskError {
	return &TaskError{Task: task, Permanent: true, Err: err}
}

func retryable(task string, err error) *TaskError {
	return &TaskError{Task: task, Err: err}
}

// Ticket is a ticket a ticket task opens in our store.
type Ticket = store.Ticket

// TicketStore keeps tickets. CreateTicket must be idempotent on (EventID,
// WorkflowID, TaskID): a second call returns the ticket the first one made,
// so a retried task never opens two tickets.
type TicketStore interface {
	CreateTicket(ctx context.Context, t *Ticket) (*Ticket, error)
}

// Runner executes tasks. It is safe for concurrent use.
type Runner struct {
	HTTP    *resty.Client
	Tickets TicketStore
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// NewRunner returns a Runner with its own HTTP client (no automatic
// retries: retries are the workflow's, with backoff and a record).
func NewRunner(tickets TicketStore) *Runner {
	c := resty.New().
		SetRetryCount(0).
		SetHeader("User-Agent", "jsonevent/1").
		SetRedirectPolicy(sameOriginRedirects(5))
	return &Runner{HTTP: c, Tickets: tickets}
}

// errTooManyRedirects ends a redirect loop; the next attempt would loop
// too, so it is not retried.
var errTooManyRedirects = errors.New("stopped following redirects")

// sameOriginRedirects follows up to n redirects that stay at the origin
// (scheme, host and port) of the first request. Another origin gets
// nothing: net/http would hand it every header but Authorization and
// Cookie (an API key in X-Api-Key, the body of a 307), resty's own policies
// every header to another port or to http:// of the same host name. Such a
// redirect is the answer instead, a 3xx that fails the task naming where it
// pointed.
func sameOriginRedirects(n int) resty.RedirectPolicy {
	return resty.RedirectPolicyFunc(func(req *http.Request, via []*http.Request) error {
		if len(via) >= n {
			return fmt.Errorf("%w after %d", errTooManyRedirects, n)
		}
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
			return http.ErrUseLastResponse
		}
		return nil
	})
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// IdempotencyKey is the key sent with every attempt of an http task:
// <eventId>.<workflow>.<task>.
func IdempotencyKey(eventID, workflowID, taskID string) string {
	return eventID + "." + workflowID + "." + taskID
}

// RunTask runs one attempt of task t of workflow w for the event in d,
// whose Tasks hold the outputs of the tasks before t. The error is a
// *TaskError saying whether a retry may help.
func (r *Runner) RunTask(ctx context.Context, set *Set, w *Workflow, t *Task, d *Data) (*Result, error) {
	root, err := d.Root()
	if err != nil {
		return nil, permanent(t.ID, err)
	}
	switch t.Type {
	case TypeHTTP:
		return r.runHTTP(ctx, w, t, d, root)
	case TypeTicket:
		return r.runTicket(ctx, w, t, d, root)
	case TypeEmail:
		return r.runEmail(ctx, set, w, t, d, root)
	}
	return nil, permanent(t.ID, fmt.Errorf("unknown task type %q", t.Type))
}

// render executes a template for key, failing the task permanently (with
// the field named) when it cannot be rendered.
func render(t *Task, key string, tt *tmpl, root map[string]any) (string, error) {
	if tt == nil {
		return "", nil
	}
	s, err := tt.execute(root)
	if err != nil {
		return "", permanent(t.ID, fmt.Errorf("%s: %w", key, err))
	}
	return s, nil
}
