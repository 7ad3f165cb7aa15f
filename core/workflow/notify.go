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

	"github.com/jsonevent/jsonevent/core/store"
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
	sendCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	var err error
	switch a.Channel {
	case "webhook":
		if n.Webhook == "" {
			// Removed from the config since: nothing to send, but a try
			// recorded as retrying must not stay so.
			w.e.recordNotification(ctx, job, errors.New("notify.webhook is no longer configured"), true)
			return nil
		}
		err = w.e.sendWebhook(sendCtx, n.Webhook, msg)
	case "email":
		if n.Email == "" {
			w.e.recordNotification(ctx, job, errors.New("notify.email is no longer configured"), true)
			return nil
		}
		err = w.e.sendNotifyMail(sendCtx, set, n.Email, msg)
	default:
		err = fmt.Errorf("unknown notification channel %q", a.Channel)
		w.e.recordNotification(ctx, job, err, true)
		return river.JobCancel(err)
	}
	w.e.metrics.notification(a.Channel, err)
	if err != nil {
		w.e.log.Warn("failure notification not delivered", "channel", a.Channel, "run_id", a.RunID, "attempt", job.Attempt, "err", err)
	}
	w.e.recordNotification(ctx, job, err, false)
	return withoutNUL(err)
}

// withoutNUL is err with its text made store.Portable, as TaskError.Error
// is for a run's errors. A notification's error may quote the remote
// server (an SMTP reply is any bytes but CR LF), and river keeps each
// try's error in the job, in jsonb on PostgreSQL, which refuses a NUL:
// river could not record the try (nor the other jobs completed in the
// same batch), and the job stayed running until the rescuer.
func withoutNUL(err error) error {
	if err == nil {
		return nil
	}
	if msg := store.Portable(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// NextRetry spaces the tries of a notification: river's default policy,
// unless the engine was given its own (tests).
func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	if w.e.notifyRetry == nil {
		return time.Time{}
	}
	return time.Now().Add(w.e.notifyRetry(job.Attempt))
}

// recordTimeout bounds the write of a notification's outcome.
const recordTimeout = 5 * time.Second

// recordNotification writes the outcome of this try of a notification on
// its run: sent, retrying (river tries again) or failed (the last try, or
// final, given up). It is the notification's own transaction, apart from
// the run worker's group commits. A failed write is logged, never returned:
// retrying the job for it would send the notification again.
func (e *Engine) recordNotification(ctx context.Context, job *river.Job[NotifyArgs], err error, final bool) {
	rn := store.RunNotification{Channel: job.Args.Channel, RunAttempts: job.Args.Attempts, Attempts: job.Attempt,
		Status: store.NotifySent, At: e.now()}
	if err != nil {
		rn.Error = err.Error()
		rn.Status = store.NotifyRetrying
		if final || job.Attempt >= job.MaxAttempts {
			rn.Status = store.NotifyFailed
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if werr := e.st.RecordNotification(ctx, job.Args.RunID, rn); werr != nil {
		e.log.Warn("failure notification outcome not recorded on its run", "channel", rn.Channel, "run_id", job.Args.RunID,
			"status", rn.Status, "err", werr)
	}
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
