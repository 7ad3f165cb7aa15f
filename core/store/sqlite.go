package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jsonevent/jsonevent/core/config"
)

// sqliteBackend keeps the SQLite database in WAL mode. The writer
// connection runs synchronous=NORMAL: a commit reaches the WAL without an
// fsync, and sync fsyncs the WAL before any caller is told its write is
// stored (write does both). All writes (ours and river's) go through that
// one connection, as riversqlite recommends; reads use a separate read-only
// pool, which WAL lets run beside the writer.
//
// Checkpoints (copying the WAL back into the database file) run on a
// connection of their own every checkpointEvery, never inside a commit;
// only the last few frames, committed while a checkpoint ran, are copied by
// the writer itself, so that the WAL can start over (see checkpointer).
type sqliteBackend struct {
	w      *sql.DB
	r      *sql.DB
	ck     *sql.DB
	client *river.Client[*sql.Tx]

	stopCk chan struct{}
	ckDone chan struct{}
	tail   atomic.Bool // the checkpointer asks the writer to copy the WAL's tail

	dbPath  string
	db      os.FileInfo // the database file SQLite opened; see sameDatabase
	walPath string
	walMu   sync.Mutex
	wal     *os.File // kept open for fsync; see sync
	// fsync is (*os.File).Sync, or a fault injected by a test.
	fsync func(*os.File) error

	// failed holds the first failed fsync (ours of the WAL, or SQLite's in
	// a checkpoint). Linux reports a failed writeback once per open file
	// and may drop the pages it could not write: a later fsync succeeds
	// although the file on disk has a hole, and after a crash SQLite's
	// recovery drops every WAL frame past it (or lays older pages over
	// newer ones already checkpointed). From then on nothing is committed,
	// checkpointed or reported durable; a restart recovers from what the
	// disk holds. See fail.
	failed atomic.Pointer[error]
}

// migrateAttempts bounds how often river's migrations are read again after
// another process applied a step first.
const migrateAttempts = 5

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file. The WAL holds about two intervals of writes.
const checkpointEvery = 100 * time.Millisecond

var _ Queue = (*river.Client[*sql.Tx])(nil)

// sqliteDSN turns a file path (or a file: URI) into a modernc DSN with the
// pragmas the store relies on.
func sqliteDSN(path string, role string) string {
	sync := "FULL"
	if role == "write" {
		// Commits go to the WAL without fsync; the store fsyncs the WAL
		// itself (sqliteBackend.sync) before any caller is told its write
		// is stored, so one batch's fsync overlaps the next batch's inserts.
		sync = "NORMAL"
	}
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous("+sync+")")
	params.Add("_pragma", "foreign_keys(ON)")
	switch role {
	case "read":
		params.Add("_pragma", "query_only(1)")
	case "write":
		params.Set("_txlock", "immediate")
		// The background checkpointer does this work off the commit path.
		params.Add("_pragma", "wal_autocheckpoint(0)")
		params.Add("_pragma", "journal_size_limit("+strconv.Itoa(walSizeLimit)+")")
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

// openBusyWait bounds how long opening waits for another process that is
// opening the same new file.
const openBusyWait = 10 * time.Second

// pingSQLite opens w's connection, which sets its pragmas. Switching a new
// file to WAL needs it alone, and when another process opens it at the
// same moment SQLite answers SQLITE_BUSY at once instead of waiting (its
// busy handler could deadlock there): try again until openBusyWait.
func pingSQLite(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(openBusyWait)
	for {
		err := w.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

func openSQLite(ctx context.Context, dsn string, riverConfig *river.Config, ckEvery time.Duration) (*sqliteBackend, error) {
	if dsn == "" {
		return nil, errors.New("store.dsn is empty: the sqlite driver needs a file path")
	}
	if msg := config.SQLitePathProblem(dsn); msg != "" {
		return nil, errors.New("store.dsn " + msg)
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
	w := sql.OpenDB(newStmtCacheConnector(sqliteDSN(dsn, "write")))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	b := &sqliteBackend{w: w, dbPath: path, walPath: path + "-wal"}
	if err := pingSQLite(ctx, w); err != nil {
		b.close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db, err := os.Stat(path)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	b.db = db
	// WAL is a property of the file; check that it took.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		b.close()
		return nil, fmt.Errorf("sqlite %s: journal_mode is %q, want wal: %v", path, mode, err)
	}
	r := sql.OpenDB(newStmtCacheConnector(sqliteDSN(dsn, "read")))
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	b.r = r
	ck, err := sql.Open("sqlite", sqliteDSN(dsn, "checkpoint"))
	if err != nil {
		b.close()
		return nil, fmt.Errorf("open sqlite checkpointer %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	b.ck = ck

	driver := riversqlite.New(w)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	// Another process opening the same file at once (`jsonevent migrate`
	// beside a starting `serve`) may apply a step between river's reading
	// of its migrations table and its applying that step, which then fails
	// ("already exists", "no such index"). Each step is a transaction of
	// its own, so the failed one left nothing behind: read the table again
	// and go on. A failure of another kind repeats and is returned.
	for attempt := 1; ; attempt++ {
		_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err == nil || attempt == migrateAttempts || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
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
	b.stopCk, b.ckDone = make(chan struct{}), make(chan struct{})
	if ckEvery <= 0 {
		ckEvery = checkpointEvery
	}
	go b.checkpointer(ckEvery)
	return b, nil
}

// checkpointer copies committed WAL frames into the database file in the
// background; PASSIVE never blocks the writer or readers.
//
// SQLite starts the WAL over from its beginning only when a write
// transaction begins with every frame already copied. Under steady load a
// background pass never gets there, because commits keep arriving while it
// copies: the WAL grew without bound (450 MB after 8 s of the load test),
// and every fsync had to extend the file. So a pass repeats while it is
// catching up, and once the frames committed during it are few
// (tailFrames), it asks the writer to copy that tail itself before its next
// transaction (checkpointTail), which then starts the WAL over.
func (b *sqliteBackend) checkpointer(every time.Duration) {
	defer close(b.ckDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stopCk:
			return
		case <-t.C:
		}
		if b.failed.Load() != nil {
			continue
		}
		last := 0
		for range maxCatchUpPasses {
			// A busy or failed checkpoint is retried on the next tick; the
			// data is safe in the WAL either way, unless an fsync failed.
			frames, err := checkpointPassive(b.ck)
			if err != nil || frames <= 0 {
				b.failIfFsync("checkpoint", err)
				break
			}
			// The frames this pass found beyond the previous one were
			// committed while that one copied: when they are few, so is
			// what was committed during this pass.
			fresh := frames - last
			if fresh < 0 { // the WAL started over in between
				fresh = frames
			}
			last = frames
			if fresh <= tailFrames {
				b.tail.Store(true)
				break
			}
		}
	}
}

const (
	// tailFrames bounds, as estimated from the previous pass, the WAL
	// frames (pages) the writer copies itself before a transaction: about
	// 2 MB, plus an fsync of the WAL and one of the database file.
	tailFrames = 512
	// maxCatchUpPasses bounds the passes made in one tick while the
	// writer outpaces them; the next tick carries on.
	maxCatchUpPasses = 8
	// walSizeLimit is what the WAL file is cut back to when it starts over
	// after a burst made it larger.
	walSizeLimit = 64 << 20
)

// checkpointPassive copies what it can of the WAL into the database file
// (a PASSIVE checkpoint waits for nobody) and returns the number of frames
// the WAL held when it began.
func checkpointPassive(db interface {
	QueryRow(string, ...any) *sql.Row
}) (frames int, err error) {
	var busy, copied int
	if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, err
	}
	return frames, nil
}

// checkpointTail copies the WAL's last frames when the checkpointer asked
// for it; called by the writer before it begins a transaction, which the
// copy lets start the WAL over. A failure leaves the WAL as it was.
func (b *sqliteBackend) checkpointTail() {
	if b.tail.Swap(false) {
		_, err := checkpointPassive(b.w)
		b.failIfFsync("checkpoint", err)
	}
}

// errWritesStopped is wrapped by every error of a store that has stopped
// taking writes until a restart (see failed).
var errWritesStopped = errors.New("the event store accepts nothing more")

// fail records err as the store's failure, unless one is recorded already.
func (b *sqliteBackend) fail(err error) {
	err = fmt.Errorf("%w: a write to disk may have been lost, so %w; restart jsonevent to recover from what is on disk", err, errWritesStopped)
	b.failed.CompareAndSwap(nil, &err)
}

// failIfFsync records err when it is SQLite's report of a failed fsync.
func (b *sqliteBackend) failIfFsync(what string, err error) {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_IOERR_FSYNC || se.Code() == sqlite3.SQLITE_IOERR_DIR_FSYNC) {
		b.fail(fmt.Errorf("%s: %w", what, err))
	}
}

// stoppedErr is the reason the store refuses every write until a restart
// (a failed fsync, see failed; the database file gone, see sameDatabase),
// or nil. sync, ping and the writable metric ask it.
func (b *sqliteBackend) stoppedErr() error {
	if err := b.failure(); err != nil {
		return err
	}
	return b.sameDatabase()
}

// failure returns the recorded failure, or nil.
func (b *sqliteBackend) failure() error {
	if p := b.failed.Load(); p != nil {
		return *p
	}
	return nil
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

// write commits fn's transaction and returns once it is on disk.
func (b *sqliteBackend) write(ctx context.Context, fn func(Tx) error) error {
	if err := b.writeNoSync(ctx, fn); err != nil {
		return err
	}
	return b.sync()
}

// writeNoSync commits fn's transaction into the WAL without waiting for the
// disk (the writer connection runs synchronous=NORMAL); sync makes it
// durable.
func (b *sqliteBackend) writeNoSync(ctx context.Context, fn func(Tx) error) error {
	if err := b.failure(); err != nil {
		return err
	}
	b.checkpointTail()
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&sqlTx{tx: tx, client: b.client}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		// SQLite fsyncs the WAL itself when it starts the file over (its
		// header): a failure there is one this store must not forget.
		b.failIfFsync("commit", err)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sync fsyncs the WAL file, making every transaction committed before the
// call durable, as synchronous=FULL would have at each commit. fsync
// flushes the file whichever descriptor wrote it; the descriptor is
// reopened if the WAL file was ever replaced. Once an fsync has failed, so
// does every later call (see failed).
func (b *sqliteBackend) sync() error {
	b.walMu.Lock()
	defer b.walMu.Unlock()
	if err := b.stoppedErr(); err != nil {
		return err
	}
	fi, err := os.Stat(b.walPath)
	if err != nil {
		return fmt.Errorf("stat wal: %w", err)
	}
	if b.wal != nil {
		if cur, err := b.wal.Stat(); err != nil || !os.SameFile(cur, fi) {
			_ = b.wal.Close()
			b.wal = nil
		}
	}
	if b.wal == nil {
		f, err := os.Open(b.walPath)
		if err != nil {
			return fmt.Errorf("open wal: %w", err)
		}
		b.wal = f
	}
	fsync := (*os.File).Sync
	if b.fsync != nil {
		fsync = b.fsync
	}
	if err := fsync(b.wal); err != nil {
		b.fail(fmt.Errorf("fsync wal: %w", err))
	}
	// Also when the fsync succeeded: a writeback error may have been
	// reported to SQLite's own descriptor instead (a checkpoint's fsync).
	return b.failure()
}

// sameDatabase checks that the database file is still the one SQLite
// opened. Removed or replaced (an rm in the data directory, a backup moved
// over it), SQLite goes on writing into the old file, which nothing will
// open again: every commit since, and every page checkpointed into it,
// would be gone at the next start.
func (b *sqliteBackend) sameDatabase() error {
	fi, err := os.Stat(b.dbPath)
	if err == nil && os.SameFile(fi, b.db) {
		return nil
	}
	if err == nil {
		err = errors.New("another file is in its place")
	}
	return fmt.Errorf("the database file %s was removed or replaced while jsonevent ran (%w): what is committed now would be lost; restart jsonevent", b.dbPath, err)
}

func (b *sqliteBackend) reader() Querier { return sqlQuerier{b.r} }

func (b *sqliteBackend) ping(ctx context.Context) error {
	if err := b.stoppedErr(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	var one int
	if err := b.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	return nil
}

func (b *sqliteBackend) queue() Queue { return b.client }

func (b *sqliteBackend) close() error {
	if b.stopCk != nil {
		close(b.stopCk)
		<-b.ckDone
		b.stopCk = nil
		// Fold the WAL into the database file so a stopped store is one file.
		_, _ = b.ck.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	var errs []error
	if b.ck != nil {
		errs = append(errs, b.ck.Close())
	}
	if b.r != nil {
		errs = append(errs, b.r.Close())
	}
	if b.w != nil {
		errs = append(errs, b.w.Close())
	}
	b.walMu.Lock()
	if b.wal != nil {
		_ = b.wal.Close()
		b.wal = nil
	}
	b.walMu.Unlock()
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
