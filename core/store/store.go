// Package store keeps events durably: river's schema and jobs plus
// jsonevent's own tables, on SQLite (riversqlite on modernc.org/sqlite, WAL,
// synchronous=FULL) or PostgreSQL (riverpgxv5 on a pgx pool), with the same
// portable SQL.
//
// Writes from concurrent callers are group-committed: one writer goroutine
// takes everything queued, commits it in one transaction (one fsync), and
// only then answers each caller. An event and the river jobs it starts
// commit in the same transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
)

// Options tunes Open.
type Options struct {
	// River is the base configuration of the river client (Workers, Queues,
	// ErrorHandler…). Nil means an insert-only client.
	River *river.Config
	// MaxBatch caps how many writes share one commit; default 512.
	MaxBatch int
	// IdempotencyWindow overrides the de-duplication window (tests).
	IdempotencyWindow time.Duration
	// CheckpointEvery overrides how often SQLite's WAL is copied into the
	// database file; default 100 ms (tests).
	CheckpointEvery time.Duration
	// Retention is store.retention (Open takes it from the config unless
	// set here): the janitor deletes events older than that. 0 keeps them.
	Retention time.Duration
}

// Store is the durable event store. It is safe for concurrent use.
type Store struct {
	b   backend
	log *slog.Logger

	maxBatch  int
	window    time.Duration
	retention time.Duration    // events older are deleted by the janitor; 0 keeps them
	nodeNow   func() time.Time // this process's clock: time.Now (tests set another)
	offset    atomic.Int64     // the database's clock less nodeNow, in ns (PostgreSQL; see Now)
	mu        sync.RWMutex     // guards closed against sends on queue
	closed    bool
	queue     chan *writeReq
	done      chan struct{} // closed when the writers have drained and exited

	// async is set when the backend can commit without fsync and fsync
	// later (SQLite): the writer commits, the syncer makes durable.
	async    asyncCommitter
	toSync   chan committed
	syncDone chan struct{}
	syncBusy atomic.Bool   // the syncer is fsyncing
	syncIdle chan struct{} // (1) the syncer finished an fsync

	janitorCtx  context.Context    // ends when Close stops the janitor, its rounds included
	stopJanitor context.CancelFunc // ends janitorCtx
	janitorDone chan struct{}

	stopLogged atomic.Bool // the backend's refusal of all writes was logged

	commits atomic.Uint64 // group commits that succeeded
	stored  atomic.Uint64 // events they stored (duplicates excluded)
	m       *storeMetrics
}

// Stats reports how many group commits succeeded and how many events they
// stored since Open; stored/commits is the mean batch size.
func (s *Store) Stats() (commits, stored uint64) {
	return s.commits.Load(), s.stored.Load()
}

// Open opens (creating if needed) the database cfg names, applies river's
// and jsonevent's migrations and starts the group-commit writer.
func Open(ctx context.Context, cfg config.Store, log *slog.Logger, opts ...Options) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var opt Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	if opt.Retention == 0 {
		opt.Retention = cfg.Retention
	}
	var (
		b   backend
		err error
	)
	switch cfg.Driver {
	case "", "sqlite":
		dsn := cfg.DSN
		if dsn == "" {
			dsn = "data/jsonevent.db"
		}
		b, err = openSQLite(ctx, dsn, opt.River, opt.CheckpointEvery)
	case "postgres":
		return openPostgresStore(ctx, cfg.DSN, log, opt)
	default:
		return nil, fmt.Errorf("store driver %q is not supported (use sqlite or postgres)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	return newStore(ctx, b, log, opt)
}

// newStore migrates b and starts the writer; it is the driver-neutral half
// of Open.
func newStore(ctx context.Context, b backend, log *slog.Logger, opt Options) (*Store, error) {
	if err := migrate(ctx, b, log); err != nil {
		_ = b.close()
		return nil, err
	}
	s := &Store{
		b:         b,
		m:         newStoreMetrics(),
		log:       log,
		maxBatch:  opt.MaxBatch,
		window:    opt.IdempotencyWindow,
		retention: opt.Retention,
		nodeNow:   time.Now,
		queue:     make(chan *writeReq, 4096),
		done:      make(chan struct{}),
	}
	if s.window <= 0 {
		s.window = IdempotencyWindow
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 512
	}
	if a, ok := b.(asyncCommitter); ok {
		s.async = a
		s.toSync = make(chan committed, 1024)
		s.syncDone = make(chan struct{})
		s.syncIdle = make(chan struct{}, 1)
		go s.syncer()
	}
	// One group-commit writer per backend connection it can use at once:
	// SQLite has one writer; PostgreSQL commits several batches in parallel
	// (see pgBackend.writers).
	writers := 1
	if w, ok := b.(interface{ writers() int }); ok {
		writers = max(1, w.writers())
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(s.writer)
	}
	if _, err := s.dbNow(ctx); err != nil { // Now's offset, before the first event
		log.Warn("could not read the database's clock; this node's is used until the janitor's next round", "err", err)
	}
	s.janitorCtx, s.stopJanitor = context.WithCancel(context.Background())
	s.janitorDone = make(chan struct{})
	go s.janitor()
	go func() {
		wg.Wait()
		if s.async != nil { // the syncer answers what the writers committed
			close(s.toSync)
			<-s.syncDone
		}
		close(s.done)
	}()
	return s, nil
}

// Queue returns the river client (start it to work jobs; the workers come
// from Options.River).
func (s *Store) Queue() Queue { return s.b.queue() }

// Reader returns a querier for reads outside the write path.
func (s *Store) Reader() Querier { return s.b.reader() }

// Write runs fn in its own write transaction (not group-committed) and
// commits it. Errors the database raises are *core.Error unavailable.
func (s *Store) Write(ctx context.Context, fn func(Tx) error) error {
	if err := s.b.write(ctx, fn); err != nil {
		return unavailable(err)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return core.Errorf(core.CodeUnavailable, "the event store is closed")
	}
	if err := s.b.ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close stops accepting writes, commits everything already queued, then
// closes the database. The river client must be stopped first by whoever
// started it.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	s.stopJanitor()
	<-s.janitorDone
	<-s.done
	return s.b.close()
}

// janitorEvery is how often expired idempotency keys and captures (and,
// with store.retention, old events) are deleted, and janitorFirst how soon
// after start the first round comes (variables for tests).
var (
	janitorEvery = 10 * time.Minute
	janitorFirst = time.Minute
)

// janitor deletes idempotency keys past the window now and then, so the
// table holds about one window of keys (an expired key still in the table
// is harmless: the next insert takes it over), and the expired captures
// and ended capture sessions (PruneCaptures), which a node otherwise
// pruned only when it started.
func (s *Store) janitor() {
	defer close(s.janitorDone)
	// The first round comes soon after start, not a whole janitorEvery
	// later: a node restarted more often than that would never prune.
	every := janitorEvery
	t := time.NewTimer(min(janitorFirst, every))
	defer t.Stop()
	for {
		select {
		case <-s.janitorCtx.Done():
			return
		case <-t.C:
			t.Reset(every)
			s.janitorRound()
		}
	}
}

// janitorRound is one round of the janitor. Its cutoffs come from the
// database's clock (see dbNow): on PostgreSQL every node's janitor deletes
// what one shared clock says is expired.
func (s *Store) janitorRound() {
	ctx, cancel := context.WithTimeout(s.janitorCtx, time.Minute)
	now, err := s.dbNow(ctx)
	if err != nil {
		cancel()
		s.log.Warn("the janitor could not read the database's clock; it deletes nothing this round", "err", err)
		return
	}
	if n, err := s.PruneIdempotencyKeys(ctx, now.Add(-s.window)); err != nil {
		s.log.Warn("pruning expired idempotency keys failed", "err", err)
	} else if n > 0 {
		s.log.Debug("pruned expired idempotency keys", "keys", n)
	}
	if n, err := s.PruneCaptures(ctx, now); err != nil {
		s.log.Warn("pruning expired captures failed", "err", err)
	} else if n > 0 {
		s.log.Debug("pruned expired captures", "captures", n)
	}
	cancel()
	if s.retention > 0 {
		s.pruneEvents(now)
	}
}

// dbNow is the time by the database's clock: on PostgreSQL the server's,
// which every node shares (a node whose own clock ran days fast would
// otherwise delete every node's events days early); on SQLite, which has
// one node, this process's clock (nodeNow). On PostgreSQL it also measures
// how far this node's clock is off the server's, for Now.
func (s *Store) dbNow(ctx context.Context) (time.Time, error) {
	if _, ok := s.b.(*pgBackend); !ok {
		return s.nodeNow(), nil
	}
	var now time.Time
	t0 := s.nodeNow()
	if err := s.b.reader().QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, unavailable(fmt.Errorf("read the database's clock: %w", err))
	}
	t1 := s.nodeNow()
	off := now.Sub(t0.Add(t1.Sub(t0) / 2)) // the server read its clock about halfway
	s.offset.Store(int64(off))
	if off.Abs() >= clockWarnOffset {
		s.log.Warn("this node's clock is off the database server's; event ids, received times and capture sessions follow the server's",
			"offset", off.Round(time.Millisecond).String(), "round_trip", t1.Sub(t0).Round(time.Millisecond).String())
	}
	return now, nil
}

// clockWarnOffset is how far a node's clock may be off the PostgreSQL
// server's before each measurement logs it.
const clockWarnOffset = 2 * time.Second

// Now is the time by the database's clock as this node best knows it: on
// PostgreSQL this node's clock corrected by its offset from the server's,
// measured at Open and at each janitor round (every 10 minutes), to within
// half a round trip; on SQLite this node's clock. Event ids (retention
// deletes by their time), received times and capture sessions (their
// expiry is compared on every node) take it, so that a node whose clock is
// off by minutes or days does not stamp them off by as much: with one
// clock, none deletes another's events early or misses its sessions.
func (s *Store) Now() time.Time {
	return s.nodeNow().Add(time.Duration(s.offset.Load()))
}

// PruneIdempotencyKeys deletes the idempotency keys first used before
// before and returns how many it deleted.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, before.UnixMicro())
		return err
	})
	return n, err
}

// unavailable wraps a database failure as the error the receiver answers
// 503 with: the sender should retry, nothing was stored.
func unavailable(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return &core.Error{
		Code:    core.CodeUnavailable,
		Message: "the event store cannot commit right now; nothing was stored, retry later",
		Err:     err,
	}
}
