package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
)

// writeReq is one InsertEvent waiting for the writer.
type writeReq struct {
	ctx  context.Context
	ev   *eventRow
	jobs []river.InsertManyParams
	done chan writeRes // buffered (1): the writer never blocks on it
}

type writeRes struct {
	id        string
	duplicate bool
	err       error
}

// batchTimeout bounds one group commit on PostgreSQL; a database that hangs
// longer is reported as unavailable rather than holding callers forever.
// SQLite commits run without a deadline (see commit); callers bound their
// own wait with their context (the receiver gives up after 30 s, with a 503).
const batchTimeout = 30 * time.Second

// committed is a batch whose transaction committed and that waits for the
// fsync that makes it durable.
type committed struct {
	reqs    []*writeReq
	results []writeRes
}

func (s *Store) answer(reqs []*writeReq, results []writeRes) {
	for i, r := range reqs {
		if !results[i].duplicate {
			s.stored.Add(1)
		}
		r.done <- results[i]
	}
}

// syncer makes committed batches durable: it takes every batch committed
// so far, fsyncs once (which covers all of them) and answers their callers.
// It runs beside the writer, so one batch's fsync overlaps the next batch's
// inserts: the rate is no longer one batch per fsync.
func (s *Store) syncer() {
	defer close(s.syncDone)
	var group []committed
	for first := range s.toSync {
		s.syncBusy.Store(true)
		group = append(group[:0], first)
	fill:
		for {
			select {
			case c, ok := <-s.toSync:
				if !ok {
					break fill
				}
				group = append(group, c)
			default:
				break fill
			}
		}
		start := time.Now()
		err := s.async.sync()
		s.m.observeFsync(start)
		for _, c := range group {
			if err != nil {
				for _, r := range c.reqs {
					r.done <- writeRes{err: &core.Error{Code: core.CodeUnavailable,
						Message: "the event store could not flush to disk; the event may or may not be stored, retry with the same Idempotency-Key", Err: err}}
				}
				continue
			}
			s.answer(c.reqs, c.results)
		}
		if err != nil {
			s.log.Error("event store fsync failed", "err", err)
		}
		clear(group)
		s.syncBusy.Store(false)
		select {
		case s.syncIdle <- struct{}{}:
		default:
		}
	}
}

// writer is the group-commit loop: it takes the first queued request, then
// everything else already queued (up to maxBatch), commits them in one
// transaction, and answers each. While it commits, new requests queue up and
// form the next batch, so under load one fsync serves many events.
func (s *Store) writer() {
	// While an fsync is under way, a commit made now waits for the next
	// fsync anyway: keep gathering until the syncer is free (or enough has
	// queued to be worth committing beside the fsync), so commits stay large
	// and cheap per event.
	busy := func() bool { return s.async != nil && (s.syncBusy.Load() || len(s.toSync) > 0) }
	batch := make([]*writeReq, 0, s.maxBatch)
	for {
		var ok bool
		if batch, ok = nextBatch(s.queue, batch[:0], s.maxBatch, pipelineMin, busy, s.syncIdle); !ok {
			return
		}
		s.commit(batch)
		clear(batch)
	}
}

// nextBatch is the gathering half of a group-commit loop: it waits for the
// first request on queue, takes everything else already queued (up to max),
// then, while busy says a commit made now would only wait for the fsync
// under way and fewer than min are gathered, keeps taking requests until
// idle signals. ok is false once queue is closed and drained.
func nextBatch[T any](queue <-chan T, batch []T, max, min int, busy func() bool, idle <-chan struct{}) ([]T, bool) {
	first, ok := <-queue
	if !ok {
		return batch, false
	}
	batch = append(batch, first)
fill:
	for len(batch) < max {
		select {
		case r, ok := <-queue:
			if !ok {
				break fill
			}
			batch = append(batch, r)
		default:
			break fill
		}
	}
gather:
	for len(batch) < min && busy() {
		select {
		case r, ok := <-queue:
			if !ok {
				break gather
			}
			batch = append(batch, r)
		case <-idle:
		}
	}
	return batch, true
}

// pipelineMin is the batch size worth committing while the previous batch
// is still being fsynced.
const pipelineMin = 32

// commit writes batch in one transaction. If that fails, it retries each
// request in a transaction of its own, so one bad request cannot sink the
// others; each caller then gets its own outcome.
func (s *Store) commit(batch []*writeReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- writeRes{err: unavailable(err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	results := make([]writeRes, len(live))
	// SQLite gets no deadline: modernc starts a goroutine and installs a
	// progress handler for every statement run under a cancellable
	// context, and an interrupt could not stop a stuck disk write anyway;
	// lock waits end after busy_timeout. PostgreSQL keeps batchTimeout.
	ctx := context.Background()
	write := s.b.write
	if s.async != nil {
		write = s.async.writeNoSync
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, batchTimeout)
		defer cancel()
	}
	err := write(ctx, func(tx Tx) error {
		// The batch's events go in with multi-row inserts and its river jobs
		// with one insert: SQLite's per-statement cost (database/sql,
		// binding, a VDBE run) was a large part of an event's CPU. Keys are
		// claimed first, in key order (batch order among equal keys, so a
		// key repeated within the batch is a duplicate of its first event):
		// a claimed key stays locked until commit, and concurrent batches
		// on PostgreSQL that claimed shared keys in arrival order waited
		// for each other until the server aborted one as a deadlock.
		var (
			jobs []river.InsertManyParams
			rows = make([]*eventRow, 0, len(live))
		)
		for _, i := range claimOrder(live) {
			id, dup, err := claimKey(ctx, tx, live[i].ev, s.window)
			if err != nil {
				return err
			}
			results[i] = writeRes{id: id, duplicate: dup}
		}
		for i, r := range live {
			if !results[i].duplicate {
				rows = append(rows, r.ev)
				jobs = append(jobs, r.jobs...)
			}
		}
		if err := insertEvents(ctx, tx, rows); err != nil {
			return err
		}
		return tx.InsertJobs(ctx, jobs)
	})
	if errors.Is(err, errWritesStopped) {
		// Nothing was written, nor will be until a restart: neither a
		// retry one by one nor asking whether an event landed can change
		// that, and a line per event would flood the log. Said once.
		if !s.stopLogged.Swap(true) {
			s.log.Error("event store stopped taking writes; every event is refused until a restart", "err", err)
		}
		for _, r := range live {
			r.done <- writeRes{err: unavailable(err)}
		}
		return
	}
	stored, known := false, true
	if err != nil && len(live) == 1 {
		stored, known = s.landed(live[0].ev.id)
	}
	if stored {
		// The commit reported an error but took effect: its answer was
		// lost (PostgreSQL's connection dropped during COMMIT), or this is
		// the one-by-one retry of such a batch, whose insert then meets the
		// row it already wrote. Event ids are never reused, so the row is
		// this request's: answering 503 would make the sender store it twice.
		s.log.Warn("event store commit reported an error, but the event is stored", "event_id", live[0].ev.id, "err", err)
		results[0], err = writeRes{id: live[0].ev.id}, nil
	}
	if err == nil {
		s.commits.Add(1)
		s.m.group.Observe(float64(len(live)))
		if s.async != nil {
			// Committed but not yet on disk: the syncer answers once an
			// fsync covers it, while this goroutine commits the next batch.
			s.toSync <- committed{reqs: live, results: results}
			return
		}
		s.answer(live, results)
		return
	}
	if len(live) == 1 {
		s.log.Error("event store commit failed", "event_id", live[0].ev.id, "err", err)
		if !known {
			// The database answered neither the commit nor the look-up: a
			// commit whose answer was lost may have taken effect.
			err = &core.Error{Code: core.CodeUnavailable, Err: err,
				Message: "the event store did not confirm the commit; the event may or may not be stored, retry with the same Idempotency-Key"}
		}
		live[0].done <- writeRes{err: unavailable(err)}
		return
	}
	s.log.Warn("group commit failed, retrying events one by one", "events", len(live), "err", err)
	for _, r := range live {
		s.commit([]*writeReq{r})
	}
}

// landedWait bounds the look-up of an event whose commit reported an
// error. It is short: the writer waits for it, with every request queued
// behind, and a database that does not answer a primary-key read in that
// time has not answered the commit either.
const landedWait = time.Second

// landed reports whether the event id is stored. It is asked only after a
// failed commit; known is false when the database cannot answer, and the
// caller is then told the event may or may not be stored.
func (s *Store) landed(id string) (stored, known bool) {
	ctx, cancel := context.WithTimeout(context.Background(), landedWait)
	defer cancel()
	var n int64
	if err := s.b.reader().QueryRow(ctx, `SELECT count(*) FROM events WHERE id = $1`, id).Scan(&n); err != nil {
		return false, false
	}
	return n > 0, true
}

// claimOrder returns the indexes of reqs in the order their idempotency
// keys are claimed: by account, trigger and key, ties in batch order. Every
// batch taking its row locks in one global order cannot deadlock another.
func claimOrder(reqs []*writeReq) []int {
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := reqs[a].ev, reqs[b].ev
		return cmp.Or(strings.Compare(x.accountID, y.accountID), strings.Compare(x.triggerID, y.triggerID),
			strings.Compare(x.idemKey, y.idemKey))
	})
	return order
}
