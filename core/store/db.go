package store

import (
	"context"
	"errors"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ErrNoRows is returned by Row.Scan when a query selected nothing, whatever
// the driver.
var ErrNoRows = errors.New("store: no rows")

// Row is one result row. Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Rows iterates over a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs SQL. All SQL in this package (and in packages building on the
// store) is portable: $1, $2… placeholders, types TEXT, BIGINT, BYTEA, and
// nothing that PostgreSQL or SQLite does not both run.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Tx is a database transaction. InsertJobs inserts river jobs in it, so
// they commit or vanish together with the rest of the transaction.
type Tx interface {
	Querier
	InsertJobs(ctx context.Context, jobs []river.InsertManyParams) error
}

// Queue is the part of the river client that does not depend on the
// driver's transaction type; *river.Client[*sql.Tx] and
// *river.Client[pgx.Tx] both satisfy it.
type Queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
}

// backend is the driver-specific part of the store, kept thin: a SQLite
// implementation here, a PostgreSQL one (riverpgxv5) beside it later.
type backend interface {
	// write runs fn in a write transaction and commits it.
	write(ctx context.Context, fn func(Tx) error) error
	// reader runs read-only queries outside the write path.
	reader() Querier
	ping(ctx context.Context) error
	queue() Queue
	close() error
}

// asyncCommitter is implemented by backends whose commit and fsync can be
// split (SQLite in WAL mode): writeNoSync commits (visible, survives a
// process crash) and sync makes every commit so far survive a power loss.
// The group-commit writer pipelines the two; a backend without it (where
// every commit is durable, PostgreSQL) uses write.
type asyncCommitter interface {
	writeNoSync(ctx context.Context, fn func(Tx) error) error
	sync() error
}
