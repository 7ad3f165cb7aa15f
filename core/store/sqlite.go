package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqliteBackend keeps the SQLite database in WAL mode with synchronous=FULL,
// so a commit is on disk when it returns. All writes (ours and river's) go
// through one connection, as riversqlite recommends; reads use a separate
// read-only pool, which WAL lets run beside the writer.
type sqliteBackend struct {
	w      *sql.DB
	r      *sql.DB
	client *river.Client[*sql.Tx]
}

var _ Queue = (*river.Client[*sql.Tx])(nil)

// sqliteDSN turns a file path (or a file: URI) into a modernc DSN with the
// pragmas the store relies on.
func sqliteDSN(path string, readOnly bool) string {
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous(FULL)")
	params.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		params.Add("_pragma", "query_only(1)")
	} else {
		params.Set("_txlock", "immediate")
	}
	dsn := path
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + params.Encode()
}

func openSQLite(ctx context.Context, dsn string, riverConfig *river.Config) (*sqliteBackend, error) {
	if dsn == "" || strings.Contains(dsn, ":memory:") {
		return nil, fmt.Errorf("sqlite dsn %q: a file path is required (the store must survive a restart)", dsn)
	}
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create database directory %s: %w", dir, err)
		}
	}
	// Connections keep their prepared statements (stmtcache.go).
	w := sql.OpenDB(newStmtCacheConnector(sqliteDSN(dsn, false)))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	b := &sqliteBackend{w: w}
	if err := w.PingContext(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// WAL is a property of the file; check that it took.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		b.close()
		return nil, fmt.Errorf("sqlite %s: journal_mode is %q, want wal: %v", path, mode, err)
	}
	r := sql.OpenDB(newStmtCacheConnector(sqliteDSN(dsn, true)))
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	b.r = r

	driver := riversqlite.New(w)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.close()
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	cfg := &river.Config{}
	if riverConfig != nil {
		cfg = riverConfig
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("river client: %w", err)
	}
	b.client = client
	return b, nil
}

// RiverSQLite returns the river client of a SQLite store, for code that
// needs river's transaction-typed API (JobCompleteTx, InsertTx); nil on
// another driver.
func (s *Store) RiverSQLite() *river.Client[*sql.Tx] {
	if b, ok := s.b.(*sqliteBackend); ok {
		return b.client
	}
	return nil
}

func (b *sqliteBackend) write(ctx context.Context, fn func(Tx) error) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&sqlTx{tx: tx, client: b.client}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (b *sqliteBackend) reader() Querier { return sqlQuerier{b.r} }

func (b *sqliteBackend) ping(ctx context.Context) error {
	var one int
	if err := b.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	return nil
}

func (b *sqliteBackend) queue() Queue { return b.client }

func (b *sqliteBackend) close() error {
	var errs []error
	if b.r != nil {
		errs = append(errs, b.r.Close())
	}
	if b.w != nil {
		errs = append(errs, b.w.Close())
	}
	return errors.Join(errs...)
}

// sqlQuerier adapts database/sql to Querier.
type sqlQuerier struct {
	db interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
}

func (q sqlQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, nil // not every statement reports it; the exec itself succeeded
	}
	return n, nil
}

func (q sqlQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return sqlRow{q.db.QueryRowContext(ctx, query, args...)}
}

func (q sqlQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRow struct{ row *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoRows
	}
	return err
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlTx struct {
	tx     *sql.Tx
	client *river.Client[*sql.Tx]
}

func (t *sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqlQuerier{t.tx}.Exec(ctx, query, args...)
}

func (t *sqlTx) QueryRow(ctx context.Context, query string, args ...any) Row {
	return sqlQuerier{t.tx}.QueryRow(ctx, query, args...)
}

func (t *sqlTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return sqlQuerier{t.tx}.Query(ctx, query, args...)
}

func (t *sqlTx) InsertJobs(ctx context.Context, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := t.client.InsertManyTx(ctx, t.tx, jobs); err != nil {
		return fmt.Errorf("insert %d river jobs: %w", len(jobs), err)
	}
	return nil
}
