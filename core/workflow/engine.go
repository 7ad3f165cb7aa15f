package workflow

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

// Job kinds.
const (
	RunKind    = "workflow_run"
	NotifyKind = "workflow_notify"
)

// RunArgs are the arguments of the one river job per (event, workflow).
type RunArgs struct {
	EventID    string `json:"eventId"`
	AccountID  string `json:"accountId"`
	TriggerID  string `json:"triggerId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Retry is set on the job of a manual retry (POST /v1/runs/{id}/retry):
	// the number of its first attempt (the run's stored attempts plus one),
	// by which that job knows it owns the run (see work). 0 on a run's
	// first job, whose first attempt has no stored state to load.
	Retry int `json:"retry,omitempty"`
	// Attempts is the workflow's retry.attempts. The job has one more river
	// attempt, kept for the rescuer: after a kill -9 in the last attempt it
	// hands the job back, and that spare attempt records the run failed
	// instead of river discarding a job whose run still says "running".
	Attempts int `json:"attempts,omitempty"`
}

// attemptLimit is how many attempts the run may make: Attempts, or for a
// job queued before the spare attempt existed, all of river's.
func (a RunArgs) attemptLimit(maxAttempts int) int {
	if a.Attempts > 0 {
		return a.Attempts
	}
	return maxAttempts
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return RunKind }

// NotifyArgs are the arguments of a failure notification job (one per
// channel, so a failing webhook never re-sends the e-mail).
type NotifyArgs struct {
	Channel    string    `json:"channel"` // webhook or email
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

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return NotifyKind }

// notifyAttempts bounds how often a notification is tried (river's own
// backoff between tries: about 1s, 16s, 81s, 4m, 10m).
const notifyAttempts = 6

// Engine runs workflows: it plans the jobs of an accepted event, works
// them, records every run and attempt, and reports failed runs. Build it
// with NewEngine, give its workers to the river config (AddWorkers), open
// the store with that config, then Attach the store.
type Engine struct {
	set     atomic.Pointer[Set]
	runner  *Runner
	st      *store.Store
	batch   *store.Batcher
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	// nextAt hands the retry time an attempt chose (a Retry-After honoured)
	// from Work to NextRetry, which river calls right after, by job id.
	nextAt sync.Map
	// notifyRetry, when set, is the pause after a notification's try n
	// failed (tests); nil keeps river's policy.
	notifyRetry func(attempt int) time.Duration
}

// EngineOptions tunes NewEngine.
type EngineOptions struct {
	Log *slog.Logger
	// Metrics receives the engine's series; nil keeps them unregistered.
	Metrics *Metrics
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
}

// NewEngine compiles cfg and returns an engine not yet attached to a store.
func NewEngine(cfg *config.Config, opt EngineOptions) (*Engine, error) {
	set, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{log: opt.Log, metrics: opt.Metrics, now: opt.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.metrics == nil {
		e.metrics = NewMetrics(nil)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.set.Store(set)
	e.runner = NewRunner(engineTickets{e})
	return e, nil
}

// Apply compiles cfg and swaps it in for jobs that start after it (the
// apply function for config.Watch). A config that does not compile keeps
// the running one and is logged at Error.
func (e *Engine) Apply(cfg *config.Config) {
	set, err := Compile(cfg)
	if err != nil {
		e.log.Error("workflow config reload refused; the previous workflows keep running", "err", err)
		return
	}
	e.set.Store(set)
}

// Set returns the compiled config in force.
func (e *Engine) Set() *Set { return e.set.Load() }

// Runner returns the task runner (tests and tools).
func (e *Engine) Runner() *Runner { return e.runner }

// AddWorkers registers the run and notification workers.
func (e *Engine) AddWorkers(w *river.Workers) error {
	if err := river.AddWorkerSafely(w, &runWorker{e: e}); err != nil {
		return fmt.Errorf("add workflow worker: %w", err)
	}
	if err := river.AddWorkerSafely(w, &notifyWorker{e: e}); err != nil {
		return fmt.Errorf("add notification worker: %w", err)
	}
	return nil
}

// Queue defaults.
const (
	DefaultWorkers      = 250
	DefaultPollInterval = 100 * time.Millisecond
	DefaultRescueAfter  = 5 * time.Minute
)

// RiverConfig returns a river config with the engine's workers and the
// queue settings q (zero values take the defaults): how many runs execute
// at once, how often idle workers poll (SQLite has no LISTEN/NOTIFY, and
// every fetch is a write transaction, so not too often), and after how long
// a run left "running" by a killed process is rescued and retried.
func (e *Engine) RiverConfig(q config.Queue) (*river.Config, error) {
	workers := river.NewWorkers()
	if err := e.AddWorkers(workers); err != nil {
		return nil, err
	}
	return &river.Config{
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmp.Or(q.Workers, DefaultWorkers)}},
		FetchCooldown:        min(20*time.Millisecond, cmp.Or(q.PollInterval, DefaultPollInterval)),
		FetchPollInterval:    cmp.Or(q.PollInterval, DefaultPollInterval),
		JobTimeout:           -1, // each worker bounds its own jobs (Timeout)
		RescueStuckJobsAfter: cmp.Or(q.RescueAfter, DefaultRescueAfter),
		ErrorHandler:         &errorHandler{log: e.log},
	}, nil
}

// Attach gives the engine its store; call it after store.Open and before
// the river client starts working.
func (e *Engine) Attach(st *store.Store) {
	e.st = st
	e.batch = st.NewBatcher()
}

// Close stops the engine's writer; call it after the river client stopped
// and before the store closes.
func (e *Engine) Close() {
	if e.batch != nil {
		e.batch.Close()
	}
}

// PlanJobs returns one river job per workflow of the event's trigger, to be
// inserted in the event's own transaction (receiver.JobPlanner). Conditions
// are evaluated by the worker, so a skipped run is recorded too. ev.ID must
// be set; it and the run id become the job's tags, which let a run waiting
// in the queue be shown with its event and by its id.
func (e *Engine) PlanJobs(_ context.Context, trigger *config.Trigger, ev *store.Event) ([]river.InsertManyParams, error) {
	wfs := e.set.Load().Workflows(ev.TriggerID)
	if trigger != nil && !sameWorkflows(trigger.Workflows, wfs) {
		// A reload reaches the receiver before the engine (serve applies
		// them one after the other): planning from the engine's set would
		// answer 202 for workflows the config in force lists and never
		// start them. The sender retries after the 503's Retry-After.
		return nil, core.Errorf(core.CodeUnavailable,
			"the workflows of trigger %s are being reloaded; nothing was stored, retry in a few seconds", ev.TriggerID)
	}
	if len(wfs) == 0 {
		return nil, nil
	}
	if ev.ID == "" {
		return nil, errors.New("plan workflow jobs: event id is not set")
	}
	jobs := make([]river.InsertManyParams, 0, len(wfs))
	for _, wf := range wfs {
		runID := store.NewRunID()
		jobs = append(jobs, river.InsertManyParams{
			Args: RunArgs{EventID: ev.ID, AccountID: ev.AccountID, TriggerID: ev.TriggerID, WorkflowID: wf.ID, RunID: runID,
				Attempts: wf.Retry.Attempts},
			InsertOpts: &river.InsertOpts{
				MaxAttempts: wf.Retry.Attempts + 1, // the spare is the rescuer's (RunArgs.Attempts)
				Tags:        []string{ev.ID, runID},
			},
		})
	}
	return jobs, nil
}

// sameWorkflows reports whether the compiled wfs are the trigger's
// configured workflows, by id and in order.
func sameWorkflows(cfg []config.Workflow, wfs []*Workflow) bool {
	if len(cfg) != len(wfs) {
		return false
	}
	for i := range cfg {
		if cfg[i].ID != wfs[i].ID {
			return false
		}
	}
	return true
}

// jitter is a deterministic random number in [0, 1) for a run's attempt,
// so the delay the run records is the one river waits.
func jitter(runID string, attempt int) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", runID, attempt)
	return float64(h.Sum64()>>11) / (1 << 53)
}

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	e *Engine
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.e.work(ctx, job)
}

// NextRetry follows the workflow's own policy.
func (w *runWorker) NextRetry(job *river.Job[RunArgs]) time.Time {
	if v, ok := w.e.nextAt.LoadAndDelete(job.ID); ok {
		// The time was fixed when the attempt failed; a slow run write
		// (seen: 146 ms under -race) can leave it in the past, which river
		// rejects in favour of its own policy (~16 s for a second retry).
		// River read its clock before calling us, so now is never early.
		at := v.(time.Time)
		if now := w.e.now(); at.Before(now) {
			at = now
		}
		return at
	}
	if job.Attempt >= job.Args.attemptLimit(job.MaxAttempts) {
		// The next, spare attempt only records the run failed: at once.
		return w.e.now()
	}
	p := DefaultPolicy
	if wf := w.e.set.Load().Workflow(job.Args.TriggerID, job.Args.WorkflowID); wf != nil {
		p = wf.Retry
	}
	return w.e.now().Add(p.delay(job.Attempt, jitter(job.Args.RunID, job.Attempt)))
}

// Timeout bounds one attempt: every task's own timeout plus a margin for
// the store (run writes outlive it anyway). River's rescuer also waits this
// long, and queue.rescue_after, before it retries a run a killed process
// left running.
func (w *runWorker) Timeout(job *river.Job[RunArgs]) time.Duration {
	d := 5 * time.Second
	if wf := w.e.set.Load().Workflow(job.Args.TriggerID, job.Args.WorkflowID); wf != nil {
		for _, t := range wf.Tasks {
			d += t.Timeout
		}
	}
	return d
}

// saveTimeout bounds a run write that must happen even when the job's own
// context has ended (a timeout, a shutdown).
const saveTimeout = 30 * time.Second

func (e *Engine) save(ctx context.Context, run *store.Run, jobs ...river.InsertManyParams) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	run.UpdatedAt = e.now().UTC()
	snapshot := *run
	return e.batch.Do(ctx, func(tx store.Tx) error {
		if err := store.SaveRun(ctx, tx, &snapshot); err != nil {
			return err
		}
		return tx.InsertJobs(ctx, jobs)
	})
}

// unknownWorkflowGrace is how long a job whose workflow is not in this
// node's config waits for a node that has it, on a store several nodes
// share: a config reload reaches the nodes one by one, and a job planned
// by a node that has a new workflow may be fetched by one that has not yet
// reloaded. Such a job is snoozed (river counts no attempt) and tried
// again after unknownWorkflowSnooze, by whichever node fetches it. After
// the grace, or on SQLite (one node), the run fails: the workflow was
// removed.
const (
	unknownWorkflowGrace  = 10 * time.Minute
	unknownWorkflowSnooze = 2 * time.Second
)

// work runs one attempt of a workflow run.
func (e *Engine) work(ctx context.Context, job *river.Job[RunArgs]) error {
	a := job.Args
	if e.st == nil {
		return errors.New("workflow engine has no store attached")
	}
	var (
		run *store.Run
		err error = core.Errorf(core.CodeNotFound, "new run")
	)
	if job.Attempt > 1 || a.Retry > 0 || snoozed(job.JobRow) {
		run, err = e.st.GetRun(ctx, "", a.RunID)
	}
	switch {
	case core.ErrorCode(err) == core.CodeNotFound:
		run = &store.Run{ID: a.RunID, EventID: a.EventID, AccountID: a.AccountID, TriggerID: a.TriggerID,
			WorkflowID: a.WorkflowID, CreatedAt: e.now().UTC(), Tasks: map[string]*store.TaskRecord{}}
	case err != nil:
		return e.keepJob(job, fmt.Errorf("load run %s: %w", a.RunID, err))
	}
	if err == nil && a.Retry != len(run.Attempts)+1 && (run.JobID != job.ID || run.Status == store.RunPending) {
		// Another job owns the run: this one is the job of a run since
		// retried by hand (MarkRunPending cleared the run's job; the
		// retry's job is known by its Retry, the number of its first
		// attempt, until it saves the run), handed back by river's
		// rescuer after a crash kept river from hearing it had ended.
		// Running it beside the retry's job would run every task twice.
		// A stored run is pending only once retried by hand: an earlier
		// version's retry left the old job's id on it, so that job is
		// known by the status alone.
		e.log.Info("workflow job no longer owns its run, which was retried; nothing to do",
			"job_id", job.ID, "run_id", a.RunID, "run_job_id", run.JobID)
		return nil
	}
	switch run.Status {
	case store.RunSucceeded, store.RunSkipped, store.RunFailed:
		// Finished before a crash kept river from hearing of it; a failed
		// run was notified already. (A manual retry sets the run pending
		// in the transaction that queues its job.)
		return nil
	}
	now := e.now().UTC()
	var interrupted *store.Attempt
	if last := run.LastAttempt(); last != nil && last.FinishedAt.IsZero() {
		last.FinishedAt = now
		last.Error = "interrupted: the worker stopped during this attempt"
		// The attempt left open is the job's previous one (every other
		// way out closes it): what river kept of how it ended (a panic,
		// a store failure, the rescuer) is what the history says.
		for _, je := range job.Errors {
			if je.Attempt == job.Attempt-1 {
				last.FinishedAt, last.Error = je.At.UTC(), "interrupted: "+je.Error
			}
		}
		interrupted = last
	}
	// Attempts river made that left no trace in the run (killed before a
	// first task finished, the store failing, a panic) are recorded too, so
	// that the history and the notification count every attempt.
	first := max(a.Retry, 1) // the number of this job's first attempt
	for n := len(run.Attempts) + 1; n < first+job.Attempt-1; n++ {
		att := &store.Attempt{Number: n, Error: "interrupted: the attempt ended before its first task finished"}
		for _, je := range job.Errors {
			if je.Attempt == n-first+1 {
				att.StartedAt, att.FinishedAt = je.At.UTC(), je.At.UTC()
				att.Error = "interrupted: " + je.Error
			}
		}
		run.Attempts = append(run.Attempts, att)
	}
	limit := a.attemptLimit(job.MaxAttempts)
	run.JobID = job.ID
	run.MaxAttempts = limit
	run.NextAt = time.Time{}

	set := e.set.Load()
	wf := set.Workflow(a.TriggerID, a.WorkflowID)
	if job.Attempt > limit {
		// Only river's rescuer (or a store failure at the end of the last
		// attempt) gets here: the last attempt never finished, and no
		// attempt is left to run the tasks again.
		taskID := ""
		if wf != nil {
			for _, t := range wf.Tasks {
				if _, done := run.Tasks[t.ID]; !done {
					taskID = t.ID
					break
				}
			}
		}
		attempt := interrupted
		if attempt == nil {
			attempt = run.LastAttempt() // recorded just above
		}
		if attempt == nil {
			attempt = &store.Attempt{Number: len(run.Attempts) + 1, StartedAt: now}
		}
		err := fmt.Errorf("interrupted: the last of %d attempts did not finish (the worker stopped or the store failed)", limit)
		if cause, ok := strings.CutPrefix(attempt.Error, "interrupted: "); ok {
			// What river kept of how it ended (a panic, the rescuer).
			err = fmt.Errorf("interrupted: the last of %d attempts did not finish: %s", limit, cause)
		}
		return e.finishFailed(ctx, job, set, run, attempt, taskID, err)
	}
	if wf == nil {
		if e.st.Driver() == "postgres" && now.Sub(job.CreatedAt) < unknownWorkflowGrace {
			// Planned by a node whose config has it: leave it to that
			// node, or to this one once the reload reaches it.
			e.log.Debug("workflow not in this node's config; the job waits for a node that has it",
				"workflow_id", a.WorkflowID, "trigger_id", a.TriggerID, "run_id", a.RunID)
			return river.JobSnooze(unknownWorkflowSnooze)
		}
		err := fmt.Errorf("workflow %s is no longer in trigger %s's config", a.WorkflowID, a.TriggerID)
		return e.finishFailed(ctx, job, set, run, &store.Attempt{Number: len(run.Attempts) + 1, StartedAt: now}, "", err)
	}
	stored, err := e.st.GetEvent(ctx, a.AccountID, a.EventID)
	if core.ErrorCode(err) == core.CodeNotFound {
		return e.finishFailed(ctx, job, set, run, &store.Attempt{Number: len(run.Attempts) + 1, StartedAt: now}, "", fmt.Errorf("event %s is not in the store", a.EventID))
	}
	if err != nil {
		return e.keepJob(job, fmt.Errorf("load event %s: %w", a.EventID, err))
	}
	ev := EventFromStore(stored)
	match, err := wf.Match(ev)
	if err != nil { // the same event would outgrow it again: fail, and say so
		return e.finishFailed(ctx, job, set, run, &store.Attempt{Number: len(run.Attempts) + 1, StartedAt: now}, "",
			permanent("", fmt.Errorf("condition %q could not be decided on this event: %w", wf.When, err)))
	}
	if !match {
		run.Status = store.RunSkipped
		run.SkippedBy = wf.When
		run.FinishedAt = now
		if err := e.save(ctx, run); err != nil {
			return err
		}
		e.metrics.run(wf, store.RunSkipped)
		return nil
	}

	attempt := &store.Attempt{Number: len(run.Attempts) + 1, StartedAt: now}
	run.Attempts = append(run.Attempts, attempt)
	run.Status = store.RunRunning
	// The run is not written before its first task finishes: while it runs,
	// river's job says so (EventRuns shows it running), and one write per
	// run instead of two doubles what a SQLite store sustains. Each task
	// that finishes is written before the next one starts.
	if attempt.Number > 1 {
		e.metrics.retry(wf)
	}

	d := &Data{Event: ev, Workflow: wf.ID}
	for id, rec := range run.Tasks {
		// Numbers stay json.Number, as the task produced them: a float64
		// would print 12345678 as 1.2345678e+07 and round past 2^53.
		var res Result
		dec := json.NewDecoder(bytes.NewReader(rec.Result))
		dec.UseNumber()
		if err := dec.Decode(&res); err != nil {
			return e.finishFailed(ctx, job, set, run, attempt, id, fmt.Errorf("decode stored result of task %s: %w", id, err))
		}
		d.SetOutputs(id, res.Outputs)
	}
	for i, t := range wf.Tasks {
		if _, done := run.Tasks[t.ID]; done {
			continue // finished in an earlier attempt: never repeated
		}
		start := time.Now()
		res, err := e.runner.RunTask(ctx, set, wf, t, d)
		elapsed := time.Since(start)
		e.metrics.task(t.Type, err, elapsed)
		if err != nil {
			if res != nil && res.Response != nil {
				attempt.Response, _ = json.Marshal(res.Response)
			}
			if stopping(ctx) && !IsPermanent(err) {
				return e.interruptAttempt(ctx, wf, run, attempt, t.ID, err)
			}
			return e.failAttempt(ctx, job, set, wf, run, attempt, t.ID, err)
		}
		enc, err := json.Marshal(res)
		if err != nil {
			return e.failAttempt(ctx, job, set, wf, run, attempt, t.ID, permanent(t.ID, fmt.Errorf("encode result: %w", err)))
		}
		run.Tasks[t.ID] = &store.TaskRecord{Result: enc, FinishedAt: e.now().UTC(), DurationMS: float64(elapsed.Microseconds()) / 1000}
		d.SetOutputs(t.ID, res.Outputs)
		if i < len(wf.Tasks)-1 {
			// Durable before the next task starts: a crash from here on
			// resumes after this task.
			if err := e.save(ctx, run); err != nil {
				return err
			}
		}
	}
	attempt.FinishedAt = e.now().UTC()
	run.Status = store.RunSucceeded
	run.Error, run.FailedTask = "", ""
	run.FinishedAt = attempt.FinishedAt
	if err := e.save(ctx, run); err != nil {
		return err
	}
	e.metrics.run(wf, store.RunSucceeded)
	return nil
}

// failAttempt records a failed attempt: retrying with the time of the next
// one, or failed (and notified) when the error is permanent or this was the
// last attempt.
func (e *Engine) failAttempt(ctx context.Context, job *river.Job[RunArgs], set *Set, wf *Workflow, run *store.Run, attempt *store.Attempt, taskID string, err error) error {
	if IsPermanent(err) || job.Attempt >= job.Args.attemptLimit(job.MaxAttempts) {
		return e.finishFailed(ctx, job, set, run, attempt, taskID, err)
	}
	now := e.now().UTC()
	attempt.FinishedAt = now
	attempt.Task = taskID
	attempt.Error = err.Error()
	run.Status = store.RunRetrying
	run.Error, run.FailedTask = err.Error(), taskID
	delay := wf.Retry.delay(job.Attempt, jitter(run.ID, job.Attempt))
	var te *TaskError
	if errors.As(err, &te) && te.Response != nil {
		// A receiver that says when to come back (429, 503) is believed,
		// within the workflow's backoff bounds.
		if ra, ok := retryAfter(te.Response.Headers, now); ok {
			delay = min(max(ra, wf.Retry.MinBackoff), wf.Retry.MaxBackoff)
		}
	}
	run.NextAt = now.Add(delay)
	e.nextAt.Store(job.ID, run.NextAt)
	if serr := e.save(ctx, run); serr != nil {
		return errors.Join(err, serr)
	}
	e.metrics.run(wf, store.RunRetrying)
	return err
}

// stopping reports whether the attempt's context was cancelled by the
// service stopping (not by its time limit, nor a job cancelled by hand).
func stopping(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	cause := context.Cause(ctx)
	return !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, river.ErrJobCancelledRemotely)
}

// storeWaitSnooze is how long a job in its last river attempt waits
// before trying again to read or write its run after the store failed.
const storeWaitSnooze = 2 * time.Second

// keepJob returns err, unless this is the job's last river attempt (the
// spare one, which records a run whose last attempt never finished as
// failed): river discards such a job when it errs, and its run would stay
// running or retrying for ever, neither failed nor notified. The job is
// snoozed instead (river counts no attempt) until the store answers.
func (e *Engine) keepJob(job *river.Job[RunArgs], err error) error {
	if job.Attempt < job.MaxAttempts {
		return err
	}
	e.log.Error("workflow run could not be read or recorded in its job's last attempt; the job waits for the store",
		"run_id", job.Args.RunID, "event_id", job.Args.EventID, "err", err)
	return river.JobSnooze(storeWaitSnooze)
}

// snoozed reports whether river ran the job before without counting the
// attempt (interruptAttempt): its run may have finished tasks already.
func snoozed(job *rivertype.JobRow) bool {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	return job != nil && json.Unmarshal(job.Metadata, &md) == nil && md.Snoozes > 0
}

// interruptAttempt records an attempt the service's stop cancelled and
// hands the job back to river without counting it: the stop is not the
// receiver's failure, so it neither uses one of the workflow's attempts
// nor, in the last one, fails the run. The run resumes at this task once
// a worker runs it again (after the restart, or on another node).
func (e *Engine) interruptAttempt(ctx context.Context, wf *Workflow, run *store.Run, attempt *store.Attempt, taskID string, err error) error {
	now := e.now().UTC()
	attempt.FinishedAt = now
	attempt.Task = taskID
	attempt.Error = "interrupted: the service stopped during this attempt, which is not counted and runs again when a worker is back (" + err.Error() + ")"
	run.Status = store.RunRetrying
	run.Error, run.FailedTask = attempt.Error, taskID
	run.NextAt = now
	if serr := e.save(ctx, run); serr != nil {
		return errors.Join(err, serr)
	}
	e.metrics.run(wf, store.RunRetrying)
	return river.JobSnooze(0)
}

// finishFailed marks the run failed and, in the same transaction, queues
// the account's notifications; river is told not to retry.
func (e *Engine) finishFailed(ctx context.Context, job *river.Job[RunArgs], set *Set, run *store.Run, attempt *store.Attempt, taskID string, err error) error {
	now := e.now().UTC()
	attempt.FinishedAt = now
	attempt.Task = taskID
	attempt.Error = err.Error()
	attempt.Permanent = IsPermanent(err)
	if run.LastAttempt() != attempt {
		run.Attempts = append(run.Attempts, attempt)
	}
	run.Status = store.RunFailed
	run.Error, run.FailedTask = err.Error(), taskID
	run.FinishedAt = now
	var jobs []river.InsertManyParams
	n := set.Notify(run.AccountID)
	base := NotifyArgs{AccountID: run.AccountID, EventID: run.EventID, TriggerID: run.TriggerID, WorkflowID: run.WorkflowID,
		RunID: run.ID, Task: taskID, Error: err.Error(), Attempts: len(run.Attempts), FailedAt: now}
	for _, ch := range []struct{ name, to string }{{"webhook", n.Webhook}, {"email", n.Email}} {
		if ch.to == "" {
			continue
		}
		args := base
		args.Channel = ch.name
		jobs = append(jobs, river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{MaxAttempts: notifyAttempts, Tags: []string{run.EventID}}})
	}
	if serr := e.save(ctx, run, jobs...); serr != nil {
		return e.keepJob(job, errors.Join(err, serr))
	}
	if wf := set.Workflow(run.TriggerID, run.WorkflowID); wf != nil {
		e.metrics.run(wf, store.RunFailed)
	}
	e.log.Warn("workflow run failed", "run_id", run.ID, "event_id", run.EventID, "trigger", run.TriggerID,
		"workflow", run.WorkflowID, "task", taskID, "attempts", len(run.Attempts), "err", err)
	return river.JobCancel(err)
}

// EventFromStore converts a stored event to what workflows see: the
// normalised body as .body.
func EventFromStore(ev *store.Event) *Event {
	body := ev.NormalizedBody
	if len(body) == 0 {
		body = ev.Body
	}
	return &Event{
		ID: ev.ID, TriggerID: ev.TriggerID, AccountID: ev.AccountID,
		ReceivedAt: ev.ReceivedAt, Query: ev.Query, Body: body, Fields: ev.Fields,
	}
}

// engineTickets creates tickets through the engine's group-committed writer.
type engineTickets struct{ e *Engine }

func (t engineTickets) CreateTicket(ctx context.Context, tk *Ticket) (*Ticket, error) {
	if t.e.batch == nil {
		return nil, errors.New("workflow engine has no store attached")
	}
	var out *Ticket
	err := t.e.batch.Do(ctx, func(tx store.Tx) error {
		got, err := store.CreateTicketTx(ctx, tx, tk)
		out = got
		return err
	})
	if err != nil {
		// Do may have given up (ctx) while the Batcher still runs the
		// function, which sets out: it is only read once Do has answered.
		return nil, err
	}
	return out, nil
}

// errorHandler logs job failures river reports (a panic in a worker
// becomes a failed attempt, never a crash).
type errorHandler struct{ log *slog.Logger }

func (h *errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.Debug("job attempt failed", "job_id", job.ID, "kind", job.Kind, "attempt", job.Attempt, "err", err)
	return nil
}

func (h *errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.Error("job panicked", "job_id", job.ID, "kind", job.Kind, "attempt", job.Attempt, "panic", fmt.Sprint(panicVal))
	return nil
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// Seconds past what a Duration holds (292 years; a timestamp sent by
// mistake) are the longest Duration, not a product that wrapped negative.
func retryAfter(h map[string][]string, now time.Time) (time.Duration, bool) {
	v := http.Header(h).Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); (err == nil && secs >= 0) || errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		if err != nil || secs > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
