package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/jsonevent/jsonevent/core"
)

// Run statuses.
const (
	RunPending   = "pending"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunSkipped   = "skipped"
	RunRetrying  = "retrying"
	RunFailed    = "failed"
)

// RunStatuses lists every run status, in lifecycle order.
var RunStatuses = []string{RunPending, RunRunning, RunRetrying, RunSucceeded, RunSkipped, RunFailed}

// RunIDPrefix starts every run id.
const RunIDPrefix = "run_"

// NewRunID returns a fresh, time-ordered run id ("run_" + ULID).
func NewRunID() string { return RunIDPrefix + ulid.Make().String() }

// Run is one workflow run: an event going through one workflow.
type Run struct {
	ID         string `json:"id"`
	EventID    string `json:"eventId"`
	AccountID  string `json:"-"`
	TriggerID  string `json:"triggerId"`
	WorkflowID string `json:"workflowId"`
	JobID      int64  `json:"jobId,omitempty"`
	Status     string `json:"status"`
	// SkippedBy is the `when` condition that did not match (status skipped).
	SkippedBy string `json:"skippedBy,omitempty"`
	// Error and FailedTask describe the last failed attempt.
	Error       string `json:"error,omitempty"`
	FailedTask  string `json:"failedTask,omitempty"`
	MaxAttempts int    `json:"maxAttempts,omitempty"`
	// Tasks holds every finished task by id; a retry skips them.
	Tasks    map[string]*TaskRecord `json:"tasks"`
	Attempts []*Attempt             `json:"attempts"`
	// NextAt is when the next attempt is due (status retrying).
	NextAt     time.Time `json:"nextAttemptAt,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Notifications tells what became of the failure notifications of a
	// failed run, one entry per channel and failure (RecordNotification).
	Notifications []*RunNotification `json:"notifications,omitempty"`
}

// TaskRecord is a finished task: its outputs and what was recorded (an
// HTTP response, a ticket id…), as the workflow encoded it.
type TaskRecord struct {
	Result     json.RawMessage `json:"result"`
	FinishedAt time.Time       `json:"finishedAt"`
	DurationMS float64         `json:"durationMs"`
}

// Attempt is one try of a run.
type Attempt struct {
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Task is the task that failed it; Error what happened.
	Task      string `json:"task,omitempty"`
	Error     string `json:"error,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	// Response is the HTTP response that failed it, as recorded.
	Response json.RawMessage `json:"response,omitempty"`
}

// LastAttempt returns the latest attempt, or nil.
func (r *Run) LastAttempt() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return r.Attempts[len(r.Attempts)-1]
}

const upsertRunSQL = `INSERT INTO workflow_runs (id, event_id, account_id, trigger_id, workflow_id, job_id,
    status, skipped_by, error, failed_task, attempt_count, max_attempts, tasks_json, attempts_json,
    next_at, created_at, updated_at, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (id) DO UPDATE SET
    job_id = excluded.job_id, status = excluded.status, skipped_by = excluded.skipped_by,
    error = excluded.error, failed_task = excluded.failed_task,
    attempt_count = excluded.attempt_count, max_attempts = excluded.max_attempts,
    tasks_json = excluded.tasks_json, attempts_json = excluded.attempts_json,
    next_at = excluded.next_at, updated_at = excluded.updated_at, finished_at = excluded.finished_at`

// SaveRun inserts or replaces r in tx.
func SaveRun(ctx context.Context, tx Querier, r *Run) error {
	tasks := r.Tasks
	if tasks == nil {
		tasks = map[string]*TaskRecord{}
	}
	tj, err := json.Marshal(tasks)
	if err != nil {
		return fmt.Errorf("encode run %s tasks: %w", r.ID, err)
	}
	attempts := r.Attempts
	if attempts == nil {
		attempts = []*Attempt{}
	}
	aj, err := json.Marshal(attempts)
	if err != nil {
		return fmt.Errorf("encode run %s attempts: %w", r.ID, err)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	_, err = tx.Exec(ctx, upsertRunSQL, r.ID, r.EventID, r.AccountID, r.TriggerID, r.WorkflowID, r.JobID,
		r.Status, Portable(r.SkippedBy), Portable(r.Error), Portable(r.FailedTask), int64(len(r.Attempts)), int64(r.MaxAttempts), string(tj), string(aj),
		micros(r.NextAt), micros(r.CreatedAt), micros(r.UpdatedAt), micros(r.FinishedAt))
	if err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	return nil
}

const runColumns = `id, event_id, account_id, trigger_id, workflow_id, job_id, status, skipped_by, error,
    failed_task, max_attempts, tasks_json, attempts_json, next_at, created_at, updated_at, finished_at,
    notifications_json`

func scanRun(row Row) (*Run, error) {
	var (
		r                                     Run
		maxAttempts, next, created, upd, done int64
		tj, aj, nj                            string
	)
	err := row.Scan(&r.ID, &r.EventID, &r.AccountID, &r.TriggerID, &r.WorkflowID, &r.JobID, &r.Status,
		&r.SkippedBy, &r.Error, &r.FailedTask, &maxAttempts, &tj, &aj, &next, &created, &upd, &done, &nj)
	if err != nil {
		return nil, err
	}
	r.MaxAttempts = int(maxAttempts)
	r.NextAt, r.CreatedAt, r.UpdatedAt, r.FinishedAt = fromMicros(next), fromMicros(created), fromMicros(upd), fromMicros(done)
	if err := json.Unmarshal([]byte(tj), &r.Tasks); err != nil {
		return nil, fmt.Errorf("decode run %s tasks: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(aj), &r.Attempts); err != nil {
		return nil, fmt.Errorf("decode run %s attempts: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(nj), &r.Notifications); err != nil {
		return nil, fmt.Errorf("decode run %s notifications: %w", r.ID, err)
	}
	if len(r.Notifications) == 0 {
		r.Notifications = nil
	}
	if r.Tasks == nil {
		r.Tasks = map[string]*TaskRecord{}
	}
	return &r, nil
}

// GetRun returns run id of account accountID ("" = any account, for the
// worker). A missing run, like another account's, is a *core.Error with
// core.CodeNotFound.
func (s *Store) GetRun(ctx context.Context, accountID, id string) (*Run, error) {
	q := `SELECT ` + runColumns + ` FROM workflow_runs WHERE id = $1`
	args := []any{id}
	if accountID != "" {
		q += ` AND account_id = $2`
		args = append(args, accountID)
	}
	r, err := scanRun(s.b.reader().QueryRow(ctx, q, args...))
	if errors.Is(err, ErrNoRows) {
		return nil, core.Errorf(core.CodeNotFound, "no run %q for this account", id)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("get run %s: %w", id, err))
	}
	return r, nil
}

// EventRuns returns the runs of an event, oldest first.
func (s *Store) EventRuns(ctx context.Context, accountID, eventID string) ([]*Run, error) {
	rows, err := s.b.reader().Query(ctx, `SELECT `+runColumns+` FROM workflow_runs
WHERE event_id = $1 AND account_id = $2 ORDER BY id`, eventID, accountID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list runs of event %s: %w", eventID, err))
	}
	return collectRuns(rows)
}

func collectRuns(rows Rows) ([]*Run, error) {
	defer rows.Close()
	out := []*Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("read runs: %w", err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read runs: %w", err))
	}
	return out, nil
}

// RunFilter selects runs for ListRuns. AccountID is required.
type RunFilter struct {
	AccountID string
	TriggerID string // "" = every trigger
	Status    string // "" = every status
	// Since keeps runs created at or after it (zero = no bound).
	Since time.Time
	// Before is a paging cursor: only runs with a smaller id (older).
	Before string
	Limit  int // default 50, at most 500
}

// ListRuns returns the newest runs matching f, newest first, and the cursor
// for the next page ("" when this is the last).
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]*Run, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list runs: account is required")
	}
	pg, q, args := runListQuery(f)
	rows, err := s.b.reader().Query(ctx, q, args...)
	if err != nil {
		return nil, "", unavailable(fmt.Errorf("list runs: %w", err))
	}
	runs, err := collectRuns(rows)
	if err != nil {
		return nil, "", err
	}
	runs, next := cut(pg, runs, func(r *Run) string { return r.ID })
	return runs, next, nil
}

// runListQuery returns ListRuns' page and query. A trigger's runs are read
// in order from workflow_runs_account_trigger_id (0008), a status's from
// workflow_runs_account_status.
func runListQuery(f RunFilter) (*page, string, []any) {
	pg := newPage(f.AccountID, f.Limit, f.Before)
	if f.TriggerID != "" {
		pg.and("trigger_id = $%d", f.TriggerID)
	}
	if f.Status != "" {
		pg.and("status = $%d", f.Status)
	}
	if !f.Since.IsZero() {
		pg.and("created_at >= $%d", micros(f.Since))
	}
	q, args := pg.query(runColumns, "workflow_runs")
	return pg, q, args
}

// CountRuns returns how many runs of every status exist (for metrics and
// the CLI).
func (s *Store) CountRuns(ctx context.Context) (map[string]int64, error) {
	rows, err := s.b.reader().Query(ctx, `SELECT status, COUNT(*) FROM workflow_runs GROUP BY status`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("count runs: %w", err))
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, unavailable(fmt.Errorf("count runs: %w", err))
		}
		out[st] = n
	}
	return out, rows.Err()
}

// QueueDepth returns how many river jobs wait to be worked (available,
// scheduled or retryable).
func (s *Store) QueueDepth(ctx context.Context) (int64, error) {
	var n int64
	err := s.b.reader().QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&n)
	if err != nil {
		return 0, unavailable(fmt.Errorf("queue depth: %w", err))
	}
	return n, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Batcher group-commits small writes from many goroutines (workflow run
// updates, tickets): whatever is queued while one transaction commits goes
// into the next, so many writes share one commit. Each Do returns once its
// write is durably committed. On SQLite the fsync runs beside the next
// batch's commit (as the event writer does), so the single writer
// connection is held only for the SQL.
type Batcher struct {
	s      *Store
	mu     sync.RWMutex
	stop   bool
	queue  chan *batchReq
	toSync chan []*batchReq
	done   chan struct{}
	max    int
	// syncBusy is true while the syncer fsyncs; syncIdle wakes a gathering
	// loop when it is done.
	syncBusy atomic.Bool
	syncIdle chan struct{}
}

type batchReq struct {
	ctx  context.Context
	fn   func(Tx) error
	done chan error
}

// NewBatcher starts a Batcher on s. Close it before closing s.
func (s *Store) NewBatcher() *Batcher {
	b := &Batcher{s: s, queue: make(chan *batchReq, 4096), toSync: make(chan []*batchReq, 64), done: make(chan struct{}), max: 256,
		syncIdle: make(chan struct{}, 1)}
	go b.loop()
	go b.syncer()
	return b
}

// Do runs fn in a shared write transaction and returns when it committed.
// fn may run twice (alone, after a shared transaction failed), so it must
// only write through tx. A database failure is a *core.Error unavailable.
func (b *Batcher) Do(ctx context.Context, fn func(Tx) error) error {
	req := &batchReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b.mu.RLock()
	if b.stop {
		b.mu.RUnlock()
		return core.Errorf(core.CodeUnavailable, "the store is shutting down")
	}
	select {
	case b.queue <- req:
	default:
		// The queue is full: wait for room only as long as the caller waits.
		select {
		case b.queue <- req:
		case <-ctx.Done():
			b.mu.RUnlock()
			return unavailable(fmt.Errorf("waiting for the store: %w", ctx.Err()))
		}
	}
	b.mu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return unavailable(fmt.Errorf("waiting for the store: %w", ctx.Err()))
	}
}

// Close commits what is queued and stops the Batcher.
func (b *Batcher) Close() {
	b.mu.Lock()
	if b.stop {
		b.mu.Unlock()
		return
	}
	b.stop = true
	close(b.queue)
	b.mu.Unlock()
	<-b.done
}

func (b *Batcher) loop() {
	defer close(b.toSync)
	// While an fsync is under way, a commit made now waits for the next
	// fsync anyway: keep gathering until the syncer is free or enough has
	// queued, so transactions stay few and large (each costs the single
	// SQLite writer a fixed share).
	busy := func() bool { return b.s.async != nil && b.syncBusy.Load() }
	batch := make([]*batchReq, 0, b.max)
	for {
		var ok bool
		if batch, ok = nextBatch(b.queue, batch[:0], b.max, batcherPipelineMin, busy, b.syncIdle); !ok {
			return
		}
		b.commit(batch)
		clear(batch)
	}
}

// batcherPipelineMin is the batch worth committing beside a running fsync.
const batcherPipelineMin = 32

// syncer answers committed batches once an fsync covers them; one fsync
// serves every batch committed meanwhile.
func (b *Batcher) syncer() {
	defer close(b.done)
	var group [][]*batchReq
	for first := range b.toSync {
		b.syncBusy.Store(true)
		group = append(group[:0], first)
	fill:
		for {
			select {
			case c, ok := <-b.toSync:
				if !ok {
					break fill
				}
				group = append(group, c)
			default:
				break fill
			}
		}
		var err error
		if serr := b.s.async.sync(); serr != nil {
			err = unavailable(fmt.Errorf("flush to disk: %w", serr))
		}
		for _, c := range group {
			for _, r := range c {
				r.done <- err
			}
		}
		clear(group)
		b.syncBusy.Store(false)
		select {
		case b.syncIdle <- struct{}{}:
		default:
		}
	}
}

func (b *Batcher) commit(batch []*batchReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- unavailable(err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	fn := func(tx Tx) error {
		for _, r := range live {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if b.s.async != nil {
		if err = b.s.async.writeNoSync(ctx, fn); err == nil {
			b.toSync <- slices.Clone(live)
			return
		}
		err = unavailable(err)
	} else {
		err = b.s.Write(ctx, fn)
	}
	if err == nil || len(live) == 1 {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	// One write failed the shared transaction: give each its own.
	for _, r := range live {
		b.commit([]*batchReq{r})
	}
}

// MarkRunPending sets a failed run back to pending in tx (for a manual
// retry) and reports whether it was failed; a run in any other state is
// left alone, so two retries racing start one job. Its job id is cleared:
// the retry's job takes the run over, and the run's earlier job, should
// river hand it back, knows it no longer owns it.
func MarkRunPending(ctx context.Context, tx Querier, id string) (bool, error) {
	n, err := tx.Exec(ctx, `UPDATE workflow_runs SET status = $1, job_id = 0, next_at = 0, finished_at = 0, updated_at = $2
WHERE id = $3 AND status = $4`, RunPending, time.Now().UnixMicro(), id, RunFailed)
	if err != nil {
		return false, fmt.Errorf("mark run %s pending: %w", id, err)
	}
	return n == 1, nil
}
