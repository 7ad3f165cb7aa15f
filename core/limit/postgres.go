package limit

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is an exact sliding-log Limiter shared by every node that uses
// the same PostgreSQL database, so that several nodes together admit a
// token's limit once, not once per node.
//
// Each admission is one row (key, seq, at) of an UNLOGGED table, where seq
// counts a key's admissions and at is the database's clock, so that nodes
// with skewed clocks still agree. One Allow is one round trip carrying two
// statements in one implicit transaction (a pgx batch): a transaction-level
// advisory lock on the key, which serialises the deciders of one key across
// nodes (and nothing else), then one statement that reads the window through
// index point look-ups on the primary key (the newest seq, the oldest seq
// still in the window), inserts the admission when the window holds fewer
// than limit, and deletes that key's expired rows. The work per request is
// therefore independent of the limit (O(log n), not O(limit)), writes one
// small row without WAL, and holds the key's lock for one statement. Once
// the database has refused a key, this instance refuses it locally, with no
// round trip, until the refusal's Retry-After has passed.
//
// Keys that stop sending keep their last window's rows until a sweep, which
// each instance runs at most once per window, piggybacked on an Allow.
//
// UNLOGGED means the table is emptied if PostgreSQL crashes: a crash of the
// database forgets the current window, which at worst admits one extra
// window's worth of requests; it never refuses wrongly.
type Postgres struct {
	pool      *pgxpool.Pool
	window    time.Duration
	lastSweep atomic.Int64 // unix nanoseconds of this instance's last sweep
	// readCommitted says the pool's sessions default to read committed,
	// so Allow's batch needs no BEGIN and COMMIT of its own.
	readCommitted bool

	// refused remembers, per key, until when the database said no request
	// can be admitted under a given limit, so that a sender hammering past
	// its limit costs no round trip (and takes no lock) until then. This is
	// exact: before the admission that blocks expires, the window cannot
	// hold fewer than limit admissions.
	mu      sync.Mutex
	refused map[string]refusal
}

// refusal is a remembered refusal of one key under one limit.
type refusal struct {
	limit int
	until time.Time // this node's clock
}

// postgresTable is the limiter's table. Keys are token ids, never secrets.
const postgresTable = "jsonevent_rate_admissions"

// lockClass is the first half of the two-int advisory lock key, the second
// being a hash of the limiter key. PostgreSQL keeps two-int advisory keys
// apart from the single-bigint keys that river uses.
const lockClass = 0x6a65 // "je"

const createSQL = `
CREATE UNLOGGED TABLE IF NOT EXISTS ` + postgresTable + ` (
	key text        NOT NULL,
	seq bigint      NOT NULL,
	at  timestamptz NOT NULL,
	PRIMARY KEY (key, seq)
)`

// allowSQL decides for one key while the caller holds the key's advisory
// lock. $1 key, $2 limit, $3 window. It returns whether the request was
// admitted, how many admissions the window held before it, the database's
// time, the oldest admission in the window and, when refused, the admission
// whose expiry frees a slot.
//
// It relies on at growing with seq for one key, which the advisory lock and
// clock_timestamp() (read after the lock is held) guarantee on one server
// as long as its clock does not step back. When it does (an NTP step, a
// virtual machine restored), the key's admissions stamped after now count
// as made now, and are stamped so (back): otherwise they would stay in the
// window for the length of the step, an hour's step refusing a busy token
// for an hour. The check is one comparison on the newest row, read anyway.
const allowSQL = `
WITH n AS (
	SELECT clock_timestamp() AS t
), newest AS (
	SELECT seq, at FROM ` + postgresTable + ` WHERE key = $1 ORDER BY seq DESC LIMIT 1
), last AS (
	SELECT coalesce((SELECT seq FROM newest), 0) AS seq
), first AS (
	SELECT a.seq, a.at FROM ` + postgresTable + ` a, n
	WHERE a.key = $1 AND a.at > n.t - $3::interval ORDER BY a.seq LIMIT 1
), st AS (
	SELECT n.t, last.seq AS last, first.seq AS first,
		CASE WHEN first.at > n.t THEN n.t ELSE first.at END AS oldest,
		CASE WHEN first.seq IS NULL THEN 0 ELSE last.seq - first.seq + 1 END AS used
	FROM n CROSS JOIN last LEFT JOIN first ON true
), ins AS (
	INSERT INTO ` + postgresTable + ` (key, seq, at)
	SELECT $1, st.last + 1, st.t FROM st WHERE st.used < $2
	RETURNING seq
), del AS (
	DELETE FROM ` + postgresTable + `
	WHERE key = $1 AND seq < (SELECT coalesce(st.first, st.last + 1) FROM st)
), back AS (
	UPDATE ` + postgresTable + ` SET at = (SELECT t FROM n)
	WHERE key = $1 AND at > (SELECT t FROM n) AND (SELECT at FROM newest) > (SELECT t FROM n)
)
SELECT EXISTS (SELECT 1 FROM ins), st.used, st.t, st.oldest,
	(SELECT least(at, st.t) FROM ` + postgresTable + ` WHERE key = $1 AND seq = st.last - $2 + 1)
FROM st`

// sweepSQL deletes every key's expired admissions, skipping rows a request
// holds: a request deletes its own key's expired rows in seq order, the
// sweep would scan them in table order, and the two waiting on each other's
// row locks would be a deadlock PostgreSQL ends by aborting one (a 503 from
// the limiter when it is the request). A skipped row goes with its request
// or the next sweep.
const sweepSQL = `DELETE FROM ` + postgresTable + ` WHERE (key, seq) IN (
	SELECT key, seq FROM ` + postgresTable + ` WHERE at <= clock_timestamp() - $1::interval FOR UPDATE SKIP LOCKED)`

// NewPostgres returns a shared limiter on pool, creating its table when
// missing. Several nodes may call it at once.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool) (*Postgres, error) {
	p := &Postgres{pool: pool, window: Window, refused: map[string]refusal{}}
	p.lastSweep.Store(time.Now().UnixNano())
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Concurrent CREATE TABLE IF NOT EXISTS can still collide in the
		// catalog; one creator at a time.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(lockClass)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, createSQL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create rate limit table %s: %w", postgresTable, err)
	}
	// Every session of a pool starts alike (the server's, database's and
	// role's defaults, then the pool's runtime parameters): ask one.
	var iso string
	if err := pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&iso); err != nil {
		return nil, fmt.Errorf("rate limiter: read default_transaction_isolation: %w", err)
	}
	p.readCommitted = iso == "read committed"
	return p, nil
}

// Allow implements Limiter. It costs one round trip to the database; an
// error means the database could not be reached or refused the statement.
func (p *Postgres) Allow(ctx context.Context, key string, limit int) (Decision, error) {
	if limit <= 0 {
		return Decision{Allowed: false, Limit: limit, Reset: p.window, RetryAfter: p.window}, nil
	}
	if d, ok := p.cachedRefusal(key, limit); ok {
		return d, nil
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	var b pgx.Batch
	// The batch is one implicit transaction. allowSQL must see what was
	// committed while it waited for the lock: read committed (under
	// repeatable read two senders took the same seq). When the pool's
	// sessions default to another level, the batch is an explicit
	// transaction at read committed: "SET TRANSACTION" in an implicit one
	// works, but the server sends and logs a WARNING for every request.
	if !p.readCommitted {
		b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	}
	b.Queue("SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass), int32(h.Sum32()))
	b.Queue(allowSQL, key, int64(limit), p.window)
	if !p.readCommitted {
		b.Queue("COMMIT")
	}

	var (
		admitted bool
		used     int64
		now      time.Time
		oldest   *time.Time
		blocker  *time.Time
	)
	br := p.pool.SendBatch(ctx, &b)
	var err error
	if !p.readCommitted {
		_, err = br.Exec() // BEGIN
	}
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&admitted, &used, &now, &oldest, &blocker)
	}
	if err == nil && !p.readCommitted {
		_, err = br.Exec() // COMMIT
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %q: %w", key, err)
	}

	d := Decision{Allowed: admitted, Limit: limit}
	if admitted {
		d.Remaining = limit - int(used) - 1
		if oldest != nil {
			d.Reset = oldest.Add(p.window).Sub(now)
		} else {
			d.Reset = p.window
		}
	} else {
		d.Remaining = 0
		free := now.Add(time.Millisecond) // the slot frees as we speak
		if blocker != nil {
			free = blocker.Add(p.window)
		} else if oldest != nil {
			free = oldest.Add(p.window)
		}
		d.RetryAfter = max(free.Sub(now), time.Millisecond)
		d.Reset = d.RetryAfter
		p.mu.Lock()
		if p.refused == nil {
			p.refused = map[string]refusal{}
		}
		p.refused[key] = refusal{limit: limit, until: time.Now().Add(d.RetryAfter)}
		p.mu.Unlock()
	}

	if last := p.lastSweep.Load(); time.Since(time.Unix(0, last)) > p.window &&
		p.lastSweep.CompareAndSwap(last, time.Now().UnixNano()) {
		// A failed sweep costs nothing but space; the next window retries.
		_, _ = p.Sweep(ctx)
	}
	return d, nil
}

// cachedRefusal answers from a remembered refusal of key under limit that
// has not run out.
func (p *Postgres) cachedRefusal(key string, limit int) (Decision, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.refused[key]
	if !ok {
		return Decision{}, false
	}
	wait := time.Until(r.until)
	if wait <= 0 || r.limit != limit {
		delete(p.refused, key)
		return Decision{}, false
	}
	return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: wait, RetryAfter: wait}, true
}

// Sweep deletes the expired admissions of every key and returns how many
// rows it removed. Allow calls it about once per window per instance.
func (p *Postgres) Sweep(ctx context.Context) (int64, error) {
	p.mu.Lock()
	for k, r := range p.refused {
		if time.Until(r.until) <= 0 {
			delete(p.refused, k)
		}
	}
	p.mu.Unlock()
	tag, err := p.pool.Exec(ctx, sweepSQL, p.window)
	if err != nil {
		return 0, fmt.Errorf("sweep rate limit table: %w", err)
	}
	return tag.RowsAffected(), nil
}

var _ Limiter = (*Postgres)(nil)
