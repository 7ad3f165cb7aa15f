package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// Notification is the JSON body POSTed to an account's notify webhook when
// a run fails for good.
type Notification struct {
	Type       string    `json:"type"` // "workflow.failed"
	AccountID  string    `json:"accountId"`
	EventID    string    `json:"eventId"`
	TriggerID  string    `json:"triggerId"`
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
	Task       string    `json:"task"`
	Error      string    `json:"error"`
	Attempts   int       `json:"attempts"`
	FailedAt   time.Time `json:"failedAt"`
}

// notifyTimeout bounds one notification attempt.
const notifyTimeout = 10 * time.Second

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	e *Engine
}

func (w *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return 2 * notifyTimeout }

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	a := job.Args
	set := w.e.set.Load()
	n := set.Notify(a.AccountID)
	msg := Notification{Type: "workflow.failed", AccountID: a.AccountID, EventID: a.EventID, TriggerID: a.TriggerID,
		WorkflowID: a.WorkflowID, RunID: a.RunID, Task: a.Task, Error: a.Error, Attempts: a.Attempts, FailedAt: a.FailedAt}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	var err error
	switch a.Channel {
	case "webhook":
		if n.Webhook == "" {
			return nil // removed from the config since
		}
		err = w.e.sendWebhook(ctx, n.Webhook, msg)
	case "email":
		if n.Email == "" {
			return nil
		}
		err = w.e.sendNotifyMail(ctx, set, n.Email, msg)
	default:
		return river.JobCancel(fmt.Errorf("unknown notification channel %q", a.Channel))
	}
	w.e.metrics.notification(a.Channel, err)
	if err != nil {
		w.e.log.Warn("failure notification not delivered", "channel", a.Channel, "run_id", a.RunID, "attempt", job.Attempt, "err", err)
	}
	return err
}

// notifyKey identifies one failure of a run, the same on every try of its
// notification: a run retried by hand that fails again has more attempts,
// so its notification is a new one, not a repeat a receiver drops.
func notifyKey(msg Notification) string {
	return "notify." + msg.RunID + "." + strconv.Itoa(msg.Attempts)
}

func (e *Engine) sendWebhook(ctx context.Context, target string, msg Notification) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	// Only the status matters: the body is not parsed (resty would read it
	// all, however large), just drained a little so the connection is kept.
	resp, err := e.runner.HTTP.R().SetContext(ctx).SetDoNotParseResponse(true).
		SetHeader("Content-Type", "application/json").
		SetHeader("Idempotency-Key", notifyKey(msg)).
		SetBody(body).Post(target)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify webhook: %w", err)
	}
	raw := resp.RawBody()
	_, _ = io.Copy(io.Discard, io.LimitReader(raw, recordedBodyBytes))
	raw.Close()
	if resp.StatusCode() < 200 || resp.StatusCode() > 299 {
		return fmt.Errorf("notify webhook answered %d", resp.StatusCode())
	}
	return nil
}

func (e *Engine) sendNotifyMail(ctx context.Context, set *Set, to string, msg Notification) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A workflow run failed after %d attempt(s).\n\n", msg.Attempts)
	fmt.Fprintf(&b, "Trigger:  %s\nWorkflow: %s\nTask:     %s\nEvent:    %s\nRun:      %s\nFailed:   %s\n\nError:\n%s\n\n",
		msg.TriggerID, msg.WorkflowID, msg.Task, msg.EventID, msg.RunID, msg.FailedAt.Format(time.RFC3339), msg.Error)
	fmt.Fprintf(&b, "Retry it with: jsonevent runs retry %s\n", msg.RunID)
	return SendMail(ctx, set.SMTP, &Message{
		To:      to,
		Subject: fmt.Sprintf("jsonevent: workflow %s failed (trigger %s)", msg.WorkflowID, msg.TriggerID),
		Text:    b.String(),
		ID:      notifyKey(msg) + "@jsonevent",
	}, e.now())
}
