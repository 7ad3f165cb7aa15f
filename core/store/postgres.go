package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// pgBackend keeps the store in PostgreSQL through one pgx pool shared by
// jsonevent's SQL and river (riverpgxv5). Several nodes may use one
// database: every write is a transaction, idempotency keys are a unique
// constraint, and river's jobs are locked with SKIP LOCKED and announced to
// every node with LISTEN/NOTIFY.
type pgBackend struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
}

var _ Queue = (*river.Client[pgx.Tx])(nil)

// pgConnectTimeout bounds connecting when the DSN does not set
// connect_timeout, so an unreachable server is reported promptly.
const pgConnectTimeout = 10 * time.Second

// pgDefaultMaxConns is a node's pool size unless the DSN sets
// pool_max_conns.
const pgDefaultMaxConns = 20

// pgMigrationLock is the session advisory lock (two-int key space, apart
// from river's bigint keys) that makes nodes starting together migrate one
// after the other.
const pgMigrationLockClass, pgMigrationLockID = 0x6a65, 1

// openPostgresStore opens the PostgreSQL store: connect, then river's and
// jsonevent's migrations under a cluster-wide lock, then the writer.
func openPostgresStore(ctx context.Context, dsn string, log *slog.Logger, opt Options) (*Store, error) {
	b, err := openPostgres(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := b.migrateLocked(ctx, log); err != nil {
		b.pool.Close()
		return nil, err
	}
	cfg := &river.Config{}
	if opt.River != nil {
		cfg = opt.River
	}
	client, err := river.NewClient(riverpgxv5.New(b.pool), cfg)
	if err != nil {
		b.pool.Close()
		return nil, fmt.Errorf("river client: %w", err)
	}
	b.client = client
	// newStore runs jsonevent's migrations again: a no-op now.
	return newStore(ctx, b, log, opt)
}

// migrateLocked applies river's and jsonevent's migrations while holding
// the cluster-wide migration lock, so nodes starting together do not race.
func (b *pgBackend) migrateLocked(ctx context.Context, log *slog.Logger) error {
	unlock, err := b.lockMigrations(ctx, log)
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.migrateRiver(ctx); err != nil {
		return err
	}
	return migrate(ctx, b, log)
}

// isLockNotAvailable reports whether err is PostgreSQL giving up on a lock
// after lock_timeout.
func isLockNotAvailable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// openPostgres connects and checks that the server answers.
func openPostgres(ctx context.Context, dsn string) (*pgBackend, error) {
	if dsn == "" {
		return nil, errors.New("store.dsn is empty: the postgres driver needs a DSN such as postgres://user@host:5432/jsonevent")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included; do not wrap it.
		return nil, errors.New("store.dsn is not a valid PostgreSQL connection string (postgres://user:password@host:port/database?sslmode=...)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (4 on 2 cores) would queue the receiver's rate
		// limiter, the group-commit writer and river's workers behind each
		// other; three nodes at 20 stay well under PostgreSQL's default 100.
		cfg.MaxConns = pgDefaultMaxConns
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store %s is unreachable (check store.dsn and that the server is running): %w", where, err)
	}
	return &pgBackend{pool: pool}, nil
}

// lockMigrations takes the migration lock on a connection of its own and
// returns its release. When another node holds it, it says so before
// waiting: a node that starts and prints nothing while another migrates
// (or hangs holding the lock) looks stuck.
func (b *pgBackend) lockMigrations(ctx context.Context, log *slog.Logger) (func(), error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres migration lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(pgMigrationLockClass), int32(pgMigrationLockID)).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("postgres migration lock: %w", err)
	}
	if !got {
		log.Info("waiting for another node to finish migrating the database (PostgreSQL advisory lock); this node starts once it has")
		start := time.Now()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", int32(pgMigrationLockClass), int32(pgMigrationLockID)); err != nil {
			conn.Release()
			return nil, fmt.Errorf("postgres migration lock: %w", err)
		}
		log.Info("the other node's migration is done", "waited", time.Since(start).Round(time.Millisecond).String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(pgMigrationLockClass), int32(pgMigrationLockID)); err != nil {
			// A connection in an unknown lock state must not go back to the pool.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

// migrateRiver applies river's own schema.
func (b *pgBackend) migrateRiver(ctx context.Context) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(b.pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// RiverPostgres returns the river client of a PostgreSQL store, for code
// that needs river's transaction-typed API (JobCompleteTx, InsertTx); nil on
// another driver.
func (s *Store) RiverPostgres() *river.Client[pgx.Tx] {
	if b, ok := s.b.(*pgBackend); ok {
		return b.client
	}
	return nil
}

// PgxPool returns the connection pool of a PostgreSQL store, for the
// shared rate limiter (limit.NewPostgres); nil on another driver.
func (s *Store) PgxPool() *pgxpool.Pool {
	if b, ok := s.b.(*pgBackend); ok {
		return b.pool
	}
	return nil
}

// SchemaVersion returns the newest jsonevent migration applied to the
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int64
	if err := s.b.reader().QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM jsonevent_migrations`).Scan(&v); err != nil {
		return 0, unavailable(fmt.Errorf("read schema version: %w", err))
	}
	return int(v), nil
}

// Driver names the database the store runs on: "sqlite" or "postgres".
func (s *Store) Driver() string {
	if _, ok := s.b.(*pgBackend); ok {
		return "postgres"
	}
	return "sqlite"
}

// pgRollbackWait bounds the rollback of a failed write transaction.
const pgRollbackWait = 10 * time.Second

func (b *pgBackend) write(ctx context.Context, fn func(Tx) error) error {
	// Read committed whatever default_transaction_isolation the server or
	// role sets: the idempotency upsert and the river inserts rely on it
	// (under repeatable read, batches claiming one key failed to serialize).
	// pgx sends it with BEGIN, in the same round trip.
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&pgTx{tx: tx, client: b.client}); err != nil {
		// The rollback runs even when ctx ended, but not for ever on a
		// connection that hangs (pgx then closes it).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgRollbackWait)
		_ = tx.Rollback(rctx)
		cancel()
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// pgWriters is how many group commits a PostgreSQL store runs at once.
// Each statement is a network round trip, so one writer would leave the
// server idle while it waits; several keep batching (about 30 events per
// commit under load) and let PostgreSQL overlap their commits.
const pgWriters = 4

// writers tells newStore how many group-commit writers to run.
func (b *pgBackend) writers() int { return pgWriters }

func (b *pgBackend) reader() Querier { return pgQuerier{b.pool} }

func (b *pgBackend) ping(ctx context.Context) error {
	if err := b.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

func (b *pgBackend) queue() Queue { return b.client }

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}

// pgQuerier adapts pgx (a pool or a transaction) to Querier.
type pgQuerier struct {
	db interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (q pgQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.db.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return pgRow{q.db.QueryRow(ctx, query, args...)}
}

func (q pgQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rows}, nil
}

type pgRow struct{ row pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoRows
	}
	return err
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() { r.Rows.Close() }

type pgTx struct {
	tx     pgx.Tx
	client *river.Client[pgx.Tx]
}

func (t *pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgQuerier{t.tx}.Exec(ctx, query, args...)
}

func (t *pgTx) QueryRow(ctx context.Context, query string, args ...any) Row {
	return pgQuerier{t.tx}.QueryRow(ctx, query, args...)
}

func (t *pgTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return pgQuerier{t.tx}.Query(ctx, query, args...)
}

func (t *pgTx) InsertJobs(ctx context.Context, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := t.client.InsertManyTx(ctx, t.tx, jobs); err != nil {
		return fmt.Errorf("insert %d river jobs: %w", len(jobs), err)
	}
	return nil
}
