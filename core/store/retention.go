package store

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// pruneBatch is how many events one retention transaction deletes: small
// enough that the group-commit writer (SQLite has one writer) waits a few
// milliseconds for it at most (a variable for tests).
var pruneBatch = 500

// pruneBudget bounds one janitor round of retention; the next goes on.
const pruneBudget = time.Minute

// unfinishedJobMargin is how far before the oldest unfinished job's
// creation events are kept too (see PruneEvents).
const unfinishedJobMargin = time.Hour

// unfinishedJobStates are the river job states whose job may still load its
// event (a run not yet started, waiting for a retry, or running).
var unfinishedJobStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// PruneEvents deletes the events received before before, with the
// workflow runs each started, a transaction of pruneBatch events at a
// time, until none is left or ctx ends, and returns how many it deleted.
// Events are never deleted from the creation of the oldest workflow job
// that has not finished onwards (a run waiting in the queue or for a retry
// loads its event), whatever their age, nor an event one of whose runs has
// not finished (a failed run retried by hand is a new job for an old
// event). Tickets stay: they are work for people, and name their event's
// id.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	oldest, err := s.oldestUnfinishedJob(ctx)
	if err != nil {
		return 0, err
	}
	// An event's id is made when its request arrives, before the
	// transaction that creates its job, and on PostgreSQL river's clock
	// may not be this node's: the margin keeps the job's own event.
	if !oldest.IsZero() && oldest.Add(-unfinishedJobMargin).Before(before) {
		before = oldest.Add(-unfinishedJobMargin)
	}
	if before.UnixMilli() <= 0 {
		return 0, nil // no event is that old (and a ULID has no time for it)
	}
	// Event ids are ULIDs of the time they were received: every id below
	// the cutoff's is older, and the primary key finds them in order.
	var cut ulid.ULID
	if err := cut.SetTime(ulid.Timestamp(before)); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	cutoff := EventIDPrefix + cut.String()
	var total int64
	for ctx.Err() == nil {
		var n, found int64
		err := s.Write(ctx, func(tx Tx) error {
			// The batch is the ids up to last: both deletes name that
			// range rather than selecting the batch again, which on
			// PostgreSQL (READ COMMITTED: each statement sees what
			// committed before it) could be another batch once another
			// node deleted part of this one, leaving runs of deleted
			// events behind.
			var last string
			if err := tx.QueryRow(ctx, pruneBatchSQL, cutoff, int64(pruneBatch)).Scan(&found, &last); err != nil {
				return err
			}
			if found == 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, pruneRunsSQL, last); err != nil {
				return err
			}
			var err error
			n, err = tx.Exec(ctx, pruneEventsSQL, last)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		s.m.pruned.Add(float64(n))
		if found < int64(pruneBatch) {
			break
		}
	}
	return total, ctx.Err()
}

// unfinishedRunOf selects the unfinished runs of the event whose id is
// the column it is given; such an event is kept.
func unfinishedRunOf(eventID string) string {
	return `SELECT 1 FROM workflow_runs u WHERE u.event_id = ` + eventID +
		` AND u.status IN ('` + RunPending + `', '` + RunRunning + `', '` + RunRetrying + `')`
}

// pruneBatchSQL counts the next batch of events to delete and gives its
// last id; pruneRunsSQL and pruneEventsSQL delete up to that id, each
// checking again that no run of the event is unfinished (on PostgreSQL a
// run may be retried meanwhile).
var (
	pruneBatchSQL = `SELECT count(*), COALESCE(max(id), '') FROM (SELECT id FROM events
WHERE id < $1 AND NOT EXISTS (` + unfinishedRunOf("events.id") + `) ORDER BY id LIMIT $2) b`
	pruneRunsSQL = `DELETE FROM workflow_runs WHERE event_id <= $1
AND NOT EXISTS (` + unfinishedRunOf("workflow_runs.event_id") + `)`
	pruneEventsSQL = `DELETE FROM events WHERE id <= $1 AND NOT EXISTS (` + unfinishedRunOf("events.id") + `)`
)

// oldestUnfinishedJob returns when the oldest workflow job that has not
// finished was created, or the zero time when there is none.
func (s *Store) oldestUnfinishedJob(ctx context.Context) (time.Time, error) {
	res, err := s.b.queue().JobList(ctx, river.NewJobListParams().
		States(unfinishedJobStates...).OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(1))
	if err != nil {
		return time.Time{}, unavailable(fmt.Errorf("prune events: oldest unfinished job: %w", err))
	}
	if len(res.Jobs) == 0 {
		return time.Time{}, nil
	}
	return res.Jobs[0].CreatedAt, nil
}

// pruneEvents is the janitor's round of store.retention, now being the
// database's clock.
func (s *Store) pruneEvents(now time.Time) {
	ctx, cancel := context.WithTimeout(s.janitorCtx, pruneBudget) // Close ends it too
	defer cancel()
	n, err := s.PruneEvents(ctx, now.Add(-s.retention))
	if n > 0 {
		s.log.Info("deleted events past store.retention, with their workflow runs", "events", n, "retention", s.retention.String())
	}
	if err != nil && ctx.Err() == nil { // past the budget (or closing), the next round goes on
		s.log.Warn("deleting events past store.retention failed; the next round tries again", "err", err)
	}
}
