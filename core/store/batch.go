package store

import (
	"context"
	"time"

	"github.com/riverqueue/river"
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

// batchTimeout bounds one group commit; a database that hangs longer is
// reported as unavailable rather than holding callers forever.
const batchTimeout = 30 * time.Second

// writer is the group-commit loop: it takes the first queued request, then
// everything else already queued (up to maxBatch), commits them in one
// transaction, and answers each. While it commits, new requests queue up and
// form the next batch, so under load one fsync serves many events.
func (s *Store) writer() {
	batch := make([]*writeReq, 0, s.maxBatch)
	for {
		first, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

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
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err := s.b.write(ctx, func(tx Tx) error {
		for i, r := range live {
			id, dup, err := insertOne(ctx, tx, r.ev, r.jobs, s.window)
			if err != nil {
				return err
			}
			results[i] = writeRes{id: id, duplicate: dup}
		}
		return nil
	})
	if err == nil {
		s.commits.Add(1)
		for i, r := range live {
			if !results[i].duplicate {
				s.stored.Add(1)
			}
			r.done <- results[i]
		}
		return
	}
	if len(live) == 1 {
		s.log.Error("event store commit failed", "event_id", live[0].ev.id, "err", err)
		live[0].done <- writeRes{err: unavailable(err)}
		return
	}
	s.log.Warn("group commit failed, retrying events one by one", "events", len(live), "err", err)
	for _, r := range live {
		s.commit([]*writeReq{r})
	}
}
