package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/store"
)

// EventRuns returns the runs of an event: those the worker has recorded,
// plus a pending (or running) entry for each job still waiting in the queue
// before its first attempt.
func (e *Engine) EventRuns(ctx context.Context, accountID, eventID string) ([]*store.Run, error) {
	if e.st == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	runs, err := e.st.EventRuns(ctx, accountID, eventID)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]*store.Run, len(runs))
	for _, r := range runs {
		seen[r.ID] = r
	}
	queued, err := e.queuedRuns(ctx, accountID, eventID)
	if err != nil {
		return nil, err
	}
	for _, q := range queued {
		if r := seen[q.ID]; r != nil {
			// A retry under way is written when a task finishes; meanwhile
			// river's job knows it is running.
			if q.Status == store.RunRunning && (r.Status == store.RunRetrying || r.Status == store.RunPending) {
				r.Status = store.RunRunning
			}
			continue
		}
		runs = append(runs, q)
	}
	slices.SortFunc(runs, func(a, b *store.Run) int { return strings.Compare(a.ID, b.ID) })
	return runs, nil
}

// RetryRun starts a failed run again with a fresh set of attempts; it
// resumes at the first task that did not finish. Only a failed run can be
// retried (anything else is a *core.Error conflict).
func (e *Engine) RetryRun(ctx context.Context, accountID, runID string) (*store.Run, error) {
	if e.st == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	run, err := e.st.GetRun(ctx, accountID, runID)
	if err != nil {
		return nil, err
	}
	if run.Status != store.RunFailed {
		return nil, core.Errorf(core.CodeConflict, "run %s is %s; only a failed run can be retried", runID, run.Status)
	}
	wf := e.set.Load().Workflow(run.TriggerID, run.WorkflowID)
	if wf == nil {
		return nil, core.Errorf(core.CodeConflict, "workflow %s is no longer in trigger %s's config, so run %s cannot be retried", run.WorkflowID, run.TriggerID, runID)
	}
	job := river.InsertManyParams{
		Args: RunArgs{EventID: run.EventID, AccountID: run.AccountID, TriggerID: run.TriggerID, WorkflowID: run.WorkflowID,
			RunID: run.ID, Retry: len(run.Attempts) + 1, Attempts: wf.Retry.Attempts},
		InsertOpts: &river.InsertOpts{MaxAttempts: wf.Retry.Attempts + 1, Tags: []string{run.EventID, run.ID}},
	}
	err = e.st.Write(ctx, func(tx store.Tx) error {
		ok, err := store.MarkRunPending(ctx, tx, run.ID)
		if err != nil {
			return err
		}
		if !ok {
			return core.Errorf(core.CodeConflict, "run %s is no longer failed (retried already?)", runID)
		}
		return tx.InsertJobs(ctx, []river.InsertManyParams{job})
	})
	if err != nil {
		return nil, err
	}
	// The run as the retry left it (reading it back could already show the
	// new job's progress).
	run.Status = store.RunPending
	run.NextAt, run.FinishedAt = time.Time{}, time.Time{}
	return run, nil
}

// GetRun returns one run of an account, a run still waiting in the queue
// included (as pending or running).
func (e *Engine) GetRun(ctx context.Context, accountID, runID string) (*store.Run, error) {
	if e.st == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	run, err := e.st.GetRun(ctx, accountID, runID)
	if core.ErrorCode(err) != core.CodeNotFound {
		return run, err
	}
	queued, qerr := e.queuedRuns(ctx, accountID, runID)
	if qerr != nil {
		return nil, qerr
	}
	for _, r := range queued {
		if r.ID == runID {
			return r, nil
		}
	}
	return nil, err
}

// queuedRuns lists the runs whose jobs carry tag (an event or run id) and
// are not finished, as river sees them.
func (e *Engine) queuedRuns(ctx context.Context, accountID, tag string) ([]*store.Run, error) {
	res, err := e.st.Queue().JobList(ctx, river.NewJobListParams().Kinds(RunKind).TagsAny(tag).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStatePending).First(100))
	if err != nil {
		return nil, &core.Error{Code: core.CodeUnavailable, Message: "the job queue cannot be read right now", Err: err}
	}
	var out []*store.Run
	for _, j := range res.Jobs {
		var a RunArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil || a.AccountID != accountID {
			continue
		}
		status := store.RunPending
		if j.State == rivertype.JobStateRunning {
			status = store.RunRunning
		}
		out = append(out, &store.Run{ID: a.RunID, EventID: a.EventID, AccountID: a.AccountID, TriggerID: a.TriggerID,
			WorkflowID: a.WorkflowID, JobID: j.ID, Status: status, MaxAttempts: a.attemptLimit(j.MaxAttempts),
			Tasks: map[string]*store.TaskRecord{}, Attempts: []*store.Attempt{}, CreatedAt: j.CreatedAt, UpdatedAt: j.CreatedAt})
	}
	return out, nil
}

// ListRuns pages through an account's runs, newest first.
func (e *Engine) ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, string, error) {
	if e.st == nil {
		return nil, "", errors.New("workflow engine has no store attached")
	}
	return e.st.ListRuns(ctx, f)
}

// ListTickets pages through an account's tickets, newest first.
func (e *Engine) ListTickets(ctx context.Context, f store.TicketFilter) ([]*store.Ticket, string, error) {
	if e.st == nil {
		return nil, "", errors.New("workflow engine has no store attached")
	}
	return e.st.ListTickets(ctx, f)
}

// GetTicket returns one ticket of an account.
func (e *Engine) GetTicket(ctx context.Context, accountID, id string) (*store.Ticket, error) {
	if e.st == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	return e.st.GetTicket(ctx, accountID, id)
}

// UpdateTicket changes a ticket's status or assignee.
func (e *Engine) UpdateTicket(ctx context.Context, accountID, id string, p store.TicketPatch) (*store.Ticket, error) {
	if e.st == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	return e.st.UpdateTicket(ctx, accountID, id, p)
}
